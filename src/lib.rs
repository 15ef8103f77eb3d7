//! kfed: a Kubernetes cluster-federation operator, wire-compatible with KubeFed v1beta1.

pub mod api;
pub mod cli;
pub mod cluster;
pub mod engine;
pub mod frontends;
pub mod host;
pub mod kinds;
pub mod leader;
pub mod metrics;
pub mod wellknown;
