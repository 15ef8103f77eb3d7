//! Watches of managed objects in the member clusters.
//!
//! For every ready member and every catalog kind, one watch of the objects
//! labelled `kubefed.io/managed=true` feeds a small cache (just what the sync
//! controller compares) and maps each change back to its federated object, so
//! drift and deletions in a member are corrected within seconds. Watches start
//! when a member becomes ready and stop when it is not, so one unreachable
//! member or one member missing a kind never holds up the others.

use crate::cluster::Registry;
use crate::render::MANAGED_LABEL;
use crate::sync::FIELD_MANAGER;
use crate::sync::dispatch::HASH_ANNOTATION;
use crate::sync::kinds::Kind;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Sender of reconcile requests for one kind's controller.
pub type Trigger = UnboundedSender<ObjectRef<DynamicObject>>;

struct ClusterWatches {
    client_id: u64,
    stores: Vec<Store<DynamicObject>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ClusterWatches {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Caches of managed member objects, per member and kind.
pub struct MemberCaches {
    kinds: Vec<Arc<Kind>>,
    triggers: Vec<Trigger>,
    clusters: RwLock<HashMap<String, ClusterWatches>>,
}

impl MemberCaches {
    pub fn new(kinds: Vec<Arc<Kind>>, triggers: Vec<Trigger>) -> Self {
        Self {
            kinds,
            triggers,
            clusters: RwLock::new(HashMap::new()),
        }
    }

    /// The cache of `kind` in `cluster`, once it has been filled by a complete list.
    pub fn synced_store(&self, cluster: &str, kind: usize) -> Option<Store<DynamicObject>> {
        let clusters = self.clusters.read().unwrap_or_else(|p| p.into_inner());
        let store = clusters.get(cluster)?.stores.get(kind)?.clone();
        futures::FutureExt::now_or_never(store.wait_until_ready())
            .and_then(Result::ok)
            .map(|_| store)
    }

    /// Waits (at most `limit`) until every ready member's caches are filled, so a
    /// restarted operator compares against caches instead of reading every object.
    pub async fn wait_synced(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let pending = {
                let clusters = self.clusters.read().unwrap_or_else(|p| p.into_inner());
                clusters
                    .values()
                    .flat_map(|w| &w.stores)
                    .any(|s| futures::FutureExt::now_or_never(s.wait_until_ready()).is_none())
            };
            if !pending || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Keeps one set of watches per ready member until the process stops.
    pub async fn run(self: Arc<Self>, registry: Arc<Registry>) {
        let mut changes = registry.subscribe();
        loop {
            self.refresh(&registry);
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Starts watches for newly ready members and stops those of members that left or are unready.
    pub fn refresh(&self, registry: &Registry) {
        let members = registry.members();
        let mut clusters = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        clusters.retain(|name, watches| {
            members
                .iter()
                .any(|m| &m.name == name && m.ready && m.client_id == watches.client_id && m.client.is_some())
        });
        for member in members.iter().filter(|m| m.ready) {
            let Some(client) = &member.client else { continue };
            if clusters.contains_key(&member.name) {
                continue;
            }
            debug!(cluster = %member.name, "starting member watches");
            let (stores, tasks) = self
                .kinds
                .iter()
                .map(|kind| self.watch(&member.name, client.clone(), kind))
                .unzip();
            clusters.insert(
                member.name.clone(),
                ClusterWatches {
                    client_id: member.client_id,
                    stores,
                    tasks,
                },
            );
        }
    }

    fn watch(&self, cluster: &str, client: Client, kind: &Arc<Kind>) -> (Store<DynamicObject>, JoinHandle<()>) {
        let api: Api<DynamicObject> = Api::all_with(client, &kind.target_resource);
        let writer = reflector::store::Writer::new(kind.target_resource.clone());
        let store = writer.as_reader();
        let trigger = self.triggers[kind.index].clone();
        let kind = kind.clone();
        let cluster = cluster.to_string();
        let config = watcher::Config::default().labels(&format!("{MANAGED_LABEL}=true"));
        let task = tokio::spawn(async move {
            watcher(api, config)
                .default_backoff()
                .modify(prune)
                .reflect(writer)
                .touched_objects()
                .for_each(|event| {
                    match event {
                        Ok(obj) => {
                            let _ = trigger.unbounded_send(kind.federated_ref(&obj.name_any(), obj.namespace().as_deref()));
                        }
                        Err(e) => warn!(cluster = %cluster, kind = %kind.target.kind, error = %e, "member watch failed; retrying"),
                    }
                    futures::future::ready(())
                })
                .await;
        });
        (store, task)
    }
}

/// Keeps only what the sync controller reads, to bound memory: identity, the
/// managed label, kfed's hash annotation, kfed's managed fields and `spec.replicas`.
fn prune(obj: &mut DynamicObject) {
    let meta = &mut obj.metadata;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|k, _| k == HASH_ANNOTATION);
    }
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| k == MANAGED_LABEL);
    }
    if let Some(fields) = meta.managed_fields.as_mut() {
        fields.retain(|f| f.manager.as_deref() == Some(FIELD_MANAGER) && f.operation.as_deref() == Some("Apply"));
        // As one JSON string: a tree of small maps costs ~20 times its text in memory.
        for entry in fields.iter_mut() {
            entry.time = None;
            if let Some(FieldsV1(tree)) = entry.fields_v1.as_mut()
                && !tree.is_string()
            {
                *tree = serde_json::Value::String(tree.to_string());
            }
        }
    }
    meta.owner_references = None;
    let replicas = obj.data.pointer("/spec/replicas").cloned();
    obj.data = match replicas {
        Some(r) => serde_json::json!({ "spec": { "replicas": r } }),
        None => serde_json::json!({}),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::dispatch::owned_fields;
    use serde_json::json;

    #[test]
    fn pruning_keeps_what_dispatch_compares() {
        let mut obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "a", "resourceVersion": "7",
                "labels": {MANAGED_LABEL: "true", "app": "web"},
                "annotations": {HASH_ANNOTATION: "h1", "note": "x"},
                "managedFields": [
                    {"manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": "apps/v1", "time": "2026-01-01T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {}}}}},
                    {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}}}}
                ]
            },
            "spec": {"replicas": 3, "paused": true, "template": {"spec": {"containers": []}}}
        }))
        .expect("a valid object");
        let owned = owned_fields(&obj);
        prune(&mut obj);
        assert_eq!(owned_fields(&obj), owned);
        assert_eq!(owned["f:spec"]["f:replicas"], json!({}));
        assert_eq!(obj.data, json!({"spec": {"replicas": 3}}));
        assert_eq!(obj.labels().len(), 1);
        assert_eq!(obj.annotations().get(HASH_ANNOTATION).map(String::as_str), Some("h1"));
        assert_eq!(obj.metadata.managed_fields.as_ref().map(Vec::len), Some(1));
    }
}
