//! kfed: a Kubernetes cluster-federation operator, wire-compatible with KubeFed v1beta1.

pub mod api;
pub mod cli;
pub mod cluster;
pub mod events;
pub mod frontends;
pub mod kinds;
pub mod leader;
pub mod metrics;
pub mod overrides;
pub mod placement;
pub mod render;
pub mod sync;
pub mod wellknown;
