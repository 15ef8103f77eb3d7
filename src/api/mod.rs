//! kfed's Kubernetes API types and their CRDs.

pub mod cluster;
pub mod condition;
pub mod crds;
pub mod federated;
pub mod kubefedconfig;
pub mod template;
pub mod typeconfig;

pub use cluster::{KubeFedCluster, KubeFedClusterSpec, KubeFedClusterStatus};
pub use condition::ConditionStatus;
pub use federated::*;
pub use kubefedconfig::{KUBEFEDCONFIG_NAME, KubeFedConfig, KubeFedConfigSpec};
pub use template::Template;
pub use typeconfig::{FederatedTypeConfig, FederatedTypeConfigSpec, FederatedTypeConfigStatus};
