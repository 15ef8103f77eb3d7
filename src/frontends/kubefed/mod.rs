//! KubeFed's API (`core.kubefed.io`): FederatedTypeConfigs decide which federated
//! types propagate.

pub mod resolve;
pub mod typeconfig;
