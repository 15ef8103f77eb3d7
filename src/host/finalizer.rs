//! A front end's finalizer on its host objects.

use super::{Error, api_of};
use kube::api::{ApiResource, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::{Client, ResourceExt};

/// Adds `finalizer` with server-side apply as `manager`: finalizers are a set, so
/// this never clobbers other finalizers and needs no precondition that a stale cached
/// object could fail (a JSON patch `test` did, in large waves). True when it wrote.
pub async fn ensure(
    host: &Client,
    resource: &ApiResource,
    obj: &DynamicObject,
    finalizer: &str,
    manager: &str,
) -> Result<bool, Error> {
    if obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(false);
    }
    let mut metadata = serde_json::json!({ "name": obj.name_any(), "finalizers": [finalizer] });
    if let Some(ns) = obj.namespace() {
        metadata["namespace"] = ns.into();
    }
    let apply = serde_json::json!({
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
    });
    api_of(host, resource, obj)
        .patch(
            &obj.name_any(),
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&apply),
        )
        .await?;
    Ok(true)
}

/// Removes `finalizer` by index, guarded by a `test` so a concurrent change of the
/// list is never clobbered. The index comes from the cached object, and from a
/// fresh read when the cache was stale (the `test` failed). True when it wrote.
pub async fn remove(
    host: &Client,
    resource: &ApiResource,
    obj: &DynamicObject,
    finalizer: &str,
) -> Result<bool, Error> {
    let Some(index) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(false);
    };
    match remove_at(host, resource, obj, finalizer, index).await {
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 422 => {}
        result => return result,
    }
    let Some(fresh) = api_of(host, resource, obj).get_opt(&obj.name_any()).await? else {
        return Ok(false);
    };
    match fresh.finalizers().iter().position(|f| f == finalizer) {
        Some(index) => remove_at(host, resource, obj, finalizer, index).await,
        None => Ok(false),
    }
}

async fn remove_at(
    host: &Client,
    resource: &ApiResource,
    obj: &DynamicObject,
    finalizer: &str,
    index: usize,
) -> Result<bool, Error> {
    let path = format!("/metadata/finalizers/{index}");
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "test", "path": path, "value": finalizer},
        {"op": "remove", "path": path},
    ]))?;
    match api_of(host, resource, obj)
        .patch(&obj.name_any(), &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}
