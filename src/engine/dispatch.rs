//! Per-cluster operations on member objects: make one present and matching, or
//! absent. Each returns what happened as a `ClusterResult`; none panics or
//! touches an object kfed does not manage.

use crate::cluster::member_object::MemberObject;
use crate::cluster::registry::RateLimiter;
use crate::engine::fields;
use crate::engine::intent::Removal;
use crate::engine::outcome::{Change, ClusterResult, ClusterState, Outcome};
use crate::kinds::Kind;
use crate::wellknown::FIELD_MANAGER;
use crate::wellknown::HASH_ANNOTATION;
use crate::wellknown::MANAGED_LABEL;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::Store;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One member object: where it lives and how to reach it.
pub struct Target<'a> {
    pub cluster: &'a str,
    pub client: Client,
    pub kind: &'a Kind,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    /// The synced cache of managed objects of this kind in this cluster, if any.
    pub cache: Option<Store<MemberObject>>,
    /// The member's client-side rate limit; every request waits for it.
    pub limiter: Arc<RateLimiter>,
}

impl Target<'_> {
    /// The API for this object's kind and namespace, once the rate limit allows a request.
    async fn api(&self) -> Api<DynamicObject> {
        self.limiter.until_ready().await;
        self.api_now()
    }

    fn api_now(&self) -> Api<DynamicObject> {
        match self.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &self.kind.target_resource),
            None => Api::all_with(self.client.clone(), &self.kind.target_resource),
        }
    }

    /// Server-side applies `desired` as kfed; `force` takes over fields others own.
    /// Also returns when the request was sent (after the rate limit).
    async fn apply(&self, desired: &Value, force: bool) -> (Result<(), kube::Error>, Instant) {
        let params = PatchParams {
            force,
            ..PatchParams::apply(FIELD_MANAGER)
        };
        let api = self.api().await;
        let started = Instant::now();
        let result = bounded(api.patch(self.name, &params, &Patch::Apply(desired))).await;
        (result.map(drop), started)
    }

    /// The outcome of a failed write. API servers quote ill-typed values back in
    /// their errors: never a Secret's (status, Events, logs).
    fn write_failed(&self, state: ClusterState, desired: &Value, e: &kube::Error) -> Outcome {
        let message = crate::engine::render::redact(self.kind, desired, &describe(e));
        Outcome::failed(self.cluster, state, message)
    }

    /// True when the synced cache of managed objects does not hold the object.
    fn absent_from_cache(&self) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.get(&self.cache_key()).is_none())
    }

    fn cache_key(&self) -> ObjectRef<MemberObject> {
        let key = ObjectRef::new_with(self.name, ());
        match self.namespace {
            Some(ns) => key.within(ns),
            None => key,
        }
    }

    /// The member object, from the cache when it holds it, else from the API server
    /// (the cache only holds managed objects; unmanaged ones need a read).
    async fn live(&self, trust_cache_absence: bool) -> Result<Option<Arc<MemberObject>>, kube::Error> {
        if let Some(cache) = &self.cache {
            if let Some(obj) = cache.get(&self.cache_key()) {
                return Ok(Some(obj));
            }
            if trust_cache_absence {
                return Ok(None);
            }
        }
        let api = self.api().await;
        let obj = bounded(api.get_opt(self.name)).await?;
        Ok(obj.map(|o| Arc::new(MemberObject::from(o))))
    }
}

/// A member request that does not answer within this is abandoned, so one hung
/// member cannot hold the workers that other clusters need.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn bounded<T>(call: impl std::future::Future<Output = Result<T, kube::Error>>) -> Result<T, kube::Error> {
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(
            format!("no answer within {REQUEST_TIMEOUT:?}").into(),
        )),
    }
}

/// Settings that shape how objects are written.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    /// Take over pre-existing objects that lack the managed label (KubeFed's `adoptResources`).
    pub adopt: bool,
    /// Leave `spec.replicas` to the member once the object exists.
    pub retain_replicas: bool,
    /// The last attempt in this cluster met no object kfed does not manage (or one
    /// being deleted), so an object missing from the cache can be created without
    /// reading first.
    pub create_unread: bool,
}

/// Makes the member object match `desired`, writing only when it does not already.
pub async fn ensure_present(target: &Target<'_>, desired: Value, options: WriteOptions) -> Outcome {
    let cluster = target.cluster;
    // Absent from a synced cache: almost always a new object. A plain (not forced)
    // apply creates it, saving a read per new member object; it also adopts an
    // object nobody else owns. An object whose fields others own, a `managed=false`
    // label among them, makes it conflict, and is then read and judged below (and
    // read first next time, as the cluster's status then names the conflict).
    if options.adopt && options.create_unread && target.absent_from_cache() {
        let mut fresh = desired.clone();
        stamp_hash(&mut fresh, content_hash(&comparable(&desired, options.retain_replicas)));
        let (result, started) = target.apply(&fresh, false).await;
        match result {
            Ok(()) => return Outcome::ok(cluster, Change::Created).took(started),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                return target
                    .write_failed(ClusterState::CreationFailed, &fresh, &e)
                    .took(started);
            }
        }
    }
    let live = match target.live(false).await {
        Ok(live) => live,
        Err(e) => return Outcome::failed(cluster, ClusterState::RetrievalFailed, describe(&e)),
    };
    if let Some(obj) = &live {
        if obj.deleting {
            return Outcome::failed(
                cluster,
                ClusterState::WaitingForRemoval,
                "the member object is being deleted; it is recreated once gone",
            );
        }
        match obj.managed.as_deref() {
            Some("true") => {}
            Some("false") => {
                return Outcome::failed(
                    cluster,
                    ClusterState::ManagedLabelFalse,
                    format!("{MANAGED_LABEL}=false: left alone"),
                );
            }
            _ if !options.adopt => {
                return Outcome::failed(
                    cluster,
                    ClusterState::AlreadyExists,
                    "an unmanaged object exists and adoption is disabled",
                );
            }
            _ => {}
        }
    }

    let mut desired = desired;
    let retained = options.retain_replicas && live.is_some();
    if retained {
        retain_replicas(&mut desired, live.as_deref());
    }
    // Under retainReplicas the hash never covers replicas, also not the one stamped
    // at creation: otherwise the first reconcile after it would apply again, and
    // could put back a scale-down the member's cache has not shown yet.
    let comparable = comparable(&desired, options.retain_replicas);
    let hash = content_hash(&comparable);
    if let Some(obj) = &live
        && obj.is_managed()
        && obj.hash.as_deref() == Some(hash.as_str())
        && fields::covers(&obj.owned_fields(), &comparable)
    {
        return Outcome::ok(cluster, Change::None);
    }
    stamp_hash(&mut desired, hash);
    let (result, started) = target.apply(&desired, true).await;
    let outcome = match result {
        Ok(()) if live.is_none() => Outcome::ok(cluster, Change::Created),
        Ok(()) => Outcome::ok(cluster, Change::Updated),
        Err(e) if live.is_none() => target.write_failed(ClusterState::CreationFailed, &desired, &e),
        Err(e) => target.write_failed(ClusterState::UpdateFailed, &desired, &e),
    };
    outcome.took(started)
}

/// Records the hash of what is applied in the object's annotations.
fn stamp_hash(desired: &mut Value, hash: String) {
    if let Some(annotations) = desired
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .map(|m| m.entry("annotations").or_insert_with(|| Value::Object(Map::new())))
    {
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Some(map) = annotations.as_object_mut() {
            map.insert(HASH_ANNOTATION.into(), Value::String(hash));
        }
    }
}

/// Makes sure the member holds no managed object; `wait` reports objects still
/// terminating as `WaitingForRemoval` (deletion of the federated object waits for them).
pub async fn ensure_absent(target: &Target<'_>, removal: &Removal, wait: bool) -> Outcome {
    let cluster = target.cluster;
    let live = match target.live(true).await {
        Ok(live) => live,
        Err(e) => return Outcome::failed(cluster, ClusterState::RetrievalFailed, describe(&e)),
    };
    let Some(obj) = live else {
        return Outcome::ok(cluster, Change::None);
    };
    if !obj.is_managed() {
        return Outcome::ok(cluster, Change::None); // not ours
    }
    if obj.deleting {
        // An object kept in place (orphaned) is never waited for: deleting it is someone
        // else's business. Above all the host's own namespace when the host is a member:
        // it is being deleted because the user deletes it, and it cannot go before the
        // FederatedNamespace inside it releases its finalizer.
        return if wait && !matches!(removal, Removal::Orphan) {
            Outcome::failed(
                cluster,
                ClusterState::WaitingForRemoval,
                "waiting for the member to finish deleting the object",
            )
        } else {
            Outcome::ok(cluster, Change::None)
        };
    }
    match removal {
        Removal::Orphan => {
            let patch = serde_json::json!({ "metadata": { "labels": { MANAGED_LABEL: null } } });
            let api = target.api().await;
            let started = Instant::now();
            match bounded(api.patch(target.name, &PatchParams::default(), &Patch::Merge(&patch))).await {
                Ok(_) => Outcome::ok(cluster, Change::Unlabeled),
                Err(e) => Outcome::failed(cluster, ClusterState::LabelRemovalFailed, describe(&e)),
            }
            .took(started)
        }
        Removal::Delete(params) => {
            let api = target.api().await;
            let started = Instant::now();
            delete_outcome(cluster, bounded(api.delete(target.name, params)).await, wait).took(started)
        }
    }
}

fn delete_outcome(
    cluster: &str,
    result: Result<either::Either<DynamicObject, kube::core::Status>, kube::Error>,
    wait: bool,
) -> Outcome {
    match result {
        Ok(either) => {
            let gone = either.is_right();
            let mut outcome = Outcome::ok(cluster, Change::Deleted);
            if wait && !gone {
                outcome.result = ClusterResult::failed(
                    cluster,
                    ClusterState::WaitingForRemoval,
                    "deletion requested; waiting until it is gone",
                );
            }
            outcome
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Outcome::ok(cluster, Change::None),
        Err(e) => Outcome::failed(cluster, ClusterState::DeletionFailed, describe(&e)),
    }
}

/// Under `retainReplicas`, the member's replicas win: keep the live value while
/// kfed still owns the field (so applying does not drop it), otherwise leave the
/// field out so whoever scaled it keeps it.
fn retain_replicas(desired: &mut Value, live: Option<&MemberObject>) {
    let Some(spec) = desired.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let live_replicas = live.and_then(|l| l.replicas.clone());
    let kfed_owns = live.is_some_and(|l| l.owned_fields().pointer("/f:spec/f:replicas").is_some());
    match live_replicas {
        Some(replicas) if kfed_owns => {
            spec.insert("replicas".into(), replicas);
        }
        _ => {
            spec.remove("replicas");
        }
    }
}

/// The part of `desired` that kfed's hash and ownership check cover.
fn comparable(desired: &Value, retained: bool) -> Value {
    let mut v = desired.clone();
    if retained && let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("replicas");
    }
    if let Some(annotations) = v.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(HASH_ANNOTATION);
    }
    v
}

/// A stable hash of a JSON value (keys sorted), hex, 16 bytes.
pub fn content_hash(value: &Value) -> String {
    fn write(value: &Value, hasher: &mut Sha256) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                hasher.update(b"{");
                for key in keys {
                    hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                    hasher.update(b":");
                    write(&map[key], hasher);
                    hasher.update(b",");
                }
                hasher.update(b"}");
            }
            Value::Array(items) => {
                hasher.update(b"[");
                for item in items {
                    write(item, hasher);
                    hasher.update(b",");
                }
                hasher.update(b"]");
            }
            scalar => hasher.update(scalar.to_string().as_bytes()),
        }
    }
    let mut hasher = Sha256::new();
    write(value, &mut hasher);
    hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A short, readable description of an API error (the API server's message, not Debug noise).
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(
            content_hash(&a),
            content_hash(&json!({"b": 1, "a": {"y": [2, 1], "x": "s"}}))
        );
        assert_ne!(content_hash(&json!({"a": "1"})), content_hash(&json!({"a": 1})));
    }

    #[test]
    fn retained_replicas_leave_the_hash_alone() {
        let d = json!({"metadata": {"annotations": {HASH_ANNOTATION: "x"}}, "spec": {"replicas": 3, "paused": false}});
        let mut e = d.clone();
        e["spec"]["replicas"] = json!(7);
        assert_eq!(content_hash(&comparable(&d, true)), content_hash(&comparable(&e, true)));
        assert_ne!(
            content_hash(&comparable(&d, false)),
            content_hash(&comparable(&e, false))
        );
    }
}
