//! The engine: an `Intent` in, every member cluster brought to it, a per-cluster
//! `Outcome` out. It knows no front end: nothing here reads a front end's CRD.
//!
//! place (which clusters) → render (the object per cluster, pure) → dispatch
//! (server-side apply or delete in one cluster, skipped when in sync); `fanout`
//! runs render and dispatch over the clusters in parallel.

pub mod dispatch;
pub mod fanout;
pub mod fields;
pub mod intent;
pub mod metrics;
pub mod outcome;
pub mod patch;
pub mod place;
pub mod render;
pub mod schedule;

pub use intent::{Intent, Owner, Removal, Selection};
pub use outcome::{Change, ClusterResult, ClusterState, Outcome};
