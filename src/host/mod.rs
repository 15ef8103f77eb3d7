//! Writes to the host cluster's own objects on behalf of a front end: finalizers,
//! status and Events. Each returns whether it wrote, so callers count host writes.

pub mod events;
pub mod finalizer;
pub mod status;

use kube::api::{Api, ApiResource};
use kube::core::DynamicObject;
use kube::{Client, ResourceExt};

/// A host write that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("host API: {0}")]
    Kube(#[from] kube::Error),
    #[error("building a patch: {0}")]
    Patch(#[from] serde_json::Error),
}

/// The API of `obj` (of `resource`) in the host.
pub fn api_of(host: &Client, resource: &ApiResource, obj: &DynamicObject) -> Api<DynamicObject> {
    match obj.namespace() {
        Some(ns) => Api::namespaced_with(host.clone(), &ns, resource),
        None => Api::all_with(host.clone(), resource),
    }
}
