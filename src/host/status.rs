//! A front end's status on its host objects.

use super::{Error, api_of};
use kube::api::{ApiResource, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::{Client, ResourceExt};
use serde_json::Value;

/// Merge-patches the status subresource of `obj` with `patch` (`{"status": ...}`).
/// True when it wrote; false when the object is gone meanwhile.
pub async fn merge(host: &Client, resource: &ApiResource, obj: &DynamicObject, patch: &Value) -> Result<bool, Error> {
    match api_of(host, resource, obj)
        .patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}
