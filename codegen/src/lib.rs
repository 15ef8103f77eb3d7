//! Build-time code generation for kfed: the catalog of native kinds and the
//! emitter of the typed `Federated<Kind>` API.

pub mod catalog;
pub mod emit;

pub use catalog::{CATALOG, Scope, TargetKind, lookup};
