//! Watches of managed objects in the member clusters.
//!
//! For every ready member and every followed kind, one watch of the objects
//! labelled `kubefed.io/managed=true` feeds a small cache (just what the sync
//! controller compares) and maps each change back to its federated object, so
//! drift and deletions in a member are corrected within seconds. Watches start
//! when a member becomes ready and stop when it is not, so one unreachable
//! member or one member missing a kind never holds up the others.

use crate::cluster::Registry;
use crate::cluster::member_object::MemberObject;
use crate::kinds::Kind;
use crate::wellknown::MANAGED_LABEL;
use futures::channel::mpsc::UnboundedSender;
use futures::{StreamExt, TryStreamExt};
use kube::Client;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Sender of reconcile requests for one kind's controller.
pub type Trigger = UnboundedSender<ObjectRef<DynamicObject>>;

/// How long after a member becomes ready its caches may take to fill before
/// the sync controller stops waiting for them (at start and on a member's return).
pub const CACHE_WARMUP: std::time::Duration = std::time::Duration::from_secs(15);

/// One kind's watch in one member.
struct KindWatch {
    store: Store<MemberObject>,
    task: JoinHandle<()>,
    started: std::time::Instant,
}

impl Drop for KindWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The watches of one member, by kind name.
struct ClusterWatches {
    client_id: u64,
    client: Client,
    kinds: HashMap<String, KindWatch>,
}

/// A kind the caches follow, with the trigger of its controller.
struct Followed {
    kind: Arc<Kind>,
    trigger: Trigger,
}

/// Caches of managed member objects, per member and kind. Kinds are added and
/// removed while the operator runs; members come and go with the registry.
pub struct MemberCaches {
    kinds: RwLock<HashMap<String, Followed>>,
    clusters: RwLock<HashMap<String, ClusterWatches>>,
    /// Bumped after each refresh that follows a registry change.
    refreshed: tokio::sync::watch::Sender<u64>,
}

impl MemberCaches {
    pub fn new(refreshed: tokio::sync::watch::Sender<u64>) -> Self {
        Self {
            kinds: RwLock::new(HashMap::new()),
            clusters: RwLock::new(HashMap::new()),
            refreshed,
        }
    }

    /// Follows `kind` in every ready member, sending member changes to `trigger`.
    pub fn add_kind(&self, kind: Arc<Kind>, trigger: Trigger) {
        // Lock order everywhere: kinds, then clusters.
        let mut kinds = self.kinds.write().unwrap_or_else(|p| p.into_inner());
        let mut clusters = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        for (cluster, watches) in clusters.iter_mut() {
            let watch = start_watch(cluster, watches.client.clone(), &kind, trigger.clone());
            watches.kinds.insert(kind.name.clone(), watch);
        }
        kinds.insert(kind.name.clone(), Followed { kind, trigger });
    }

    /// Stops following the kind named `name` (its member objects stay).
    pub fn remove_kind(&self, name: &str) {
        let mut kinds = self.kinds.write().unwrap_or_else(|p| p.into_inner());
        kinds.remove(name);
        let mut clusters = self.clusters.write().unwrap_or_else(|p| p.into_inner());
        for watches in clusters.values_mut() {
            watches.kinds.remove(name);
        }
    }

    /// The cache of `kind` in `cluster`, once it has been filled by a complete list.
    pub fn synced_store(&self, cluster: &str, kind: &str) -> Option<Store<MemberObject>> {
        let clusters = self.clusters.read().unwrap_or_else(|p| p.into_inner());
        let store = clusters.get(cluster)?.kinds.get(kind)?.store.clone();
        futures::FutureExt::now_or_never(store.wait_until_ready())
            .and_then(Result::ok)
            .map(|_| store)
    }

    /// True while the cache of `kind` in `cluster` is still filling, for at most
    /// `CACHE_WARMUP` after its watch started: objects that wait for it are then
    /// compared against the cache instead of being read one by one (after an
    /// outage, a returning member would otherwise get a read per missing object).
    pub fn warming_up(&self, cluster: &str, kind: &str) -> bool {
        let clusters = self.clusters.read().unwrap_or_else(|p| p.into_inner());
        let Some(watch) = clusters.get(cluster).and_then(|w| w.kinds.get(kind)) else {
            return false;
        };
        watch.started.elapsed() < CACHE_WARMUP && still_filling(&watch.store)
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
                    .flat_map(|w| w.kinds.values())
                    .any(|k| still_filling(&k.store))
            };
            if !pending || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Keeps one set of watches per ready member until the process stops, and
    /// tells the controllers after each change of the registry has been followed.
    pub async fn run(self: Arc<Self>, registry: Arc<Registry>) {
        let mut changes = registry.subscribe();
        loop {
            self.refresh(&registry);
            self.refreshed.send_modify(|n| *n = n.wrapping_add(1));
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Starts watches for newly ready members and stops those of members that left or are unready.
    pub fn refresh(&self, registry: &Registry) {
        let members = registry.members();
        let kinds = self.kinds.read().unwrap_or_else(|p| p.into_inner());
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
            let watches = kinds
                .values()
                .map(|f| {
                    let watch = start_watch(&member.name, client.clone(), &f.kind, f.trigger.clone());
                    (f.kind.name.clone(), watch)
                })
                .collect();
            clusters.insert(
                member.name.clone(),
                ClusterWatches {
                    client_id: member.client_id,
                    client: client.clone(),
                    kinds: watches,
                },
            );
        }
    }
}

/// Watches the managed objects of `kind` in `cluster`.
fn start_watch(cluster: &str, client: Client, kind: &Arc<Kind>, trigger: Trigger) -> KindWatch {
    let api: Api<DynamicObject> = Api::all_with(client, &kind.target_resource);
    let writer = reflector::store::Writer::new(());
    let store = writer.as_reader();
    let kind = kind.clone();
    let cluster = cluster.to_string();
    let config = watcher::Config::default().labels(&format!("{MANAGED_LABEL}=true"));
    let task = tokio::spawn(async move {
        let events = watcher(api, config).default_backoff().map_ok(compact);
        reflector::reflector(writer, events)
            .touched_objects()
            .for_each(|event| {
                match event {
                    Ok(obj) => {
                        let _ = trigger.unbounded_send(kind.federated_ref(&obj.name, obj.namespace.as_deref()));
                    }
                    Err(e) => warn!(cluster = %cluster, kind = %kind.target_kind(), error = %e, "member watch failed; retrying"),
                }
                futures::future::ready(())
            })
            .await;
    });
    KindWatch {
        store,
        task,
        started: std::time::Instant::now(),
    }
}

/// True until the store's first list is complete (false once its writer is gone).
fn still_filling(store: &Store<MemberObject>) -> bool {
    futures::FutureExt::now_or_never(store.wait_until_ready()).is_none()
}

/// The watch event with its object reduced to what the sync controller compares.
fn compact(event: Event<DynamicObject>) -> Event<MemberObject> {
    match event {
        Event::Apply(obj) => Event::Apply(obj.into()),
        Event::Delete(obj) => Event::Delete(obj.into()),
        Event::Init => Event::Init,
        Event::InitApply(obj) => Event::InitApply(obj.into()),
        Event::InitDone => Event::InitDone,
    }
}
