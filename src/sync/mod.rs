//! The generic sync controller: one kube-runtime controller per catalog kind,
//! all running the same reconcile over `DynamicObject`s.

pub mod dispatch;
pub mod fields;
pub mod kinds;
pub mod member_object;
pub mod members;
pub mod orphans;
pub mod reconcile;
pub mod status;

use crate::api::FederatedStatus;
use crate::cluster::Registry;
use crate::metrics::Metrics;
use futures::StreamExt;
use kinds::Kind;
use kube::Client;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::PredicateConfig;
use kube::runtime::{WatchStreamExt, watcher};
use members::{MemberCaches, Trigger};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Field manager of every server-side apply kfed sends.
pub const FIELD_MANAGER: &str = "kfed";
/// Finalizer on federated objects, KubeFed's name.
pub const FINALIZER: &str = "kubefed.io/sync-controller";

/// Errors of a reconcile that are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("host API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Internal(String),
}

/// Operator settings that shape propagation.
#[derive(Clone, Debug)]
pub struct Settings {
    pub workers: u16,
    pub adopt: bool,
    pub instance: Option<String>,
}

/// Per object: generation, when it was first seen (until measured), whether it needed a write.
type Progress = (Option<i64>, Option<Instant>, bool);

type WrittenStatus = (Instant, Option<FederatedStatus>, FederatedStatus);

/// How long a written status is remembered; the host cache shows it long before.
const WRITTEN_STATUS_TTL: Duration = Duration::from_secs(60);

/// State shared by the controllers of every kind.
pub struct Shared {
    pub host: Client,
    pub registry: Arc<Registry>,
    pub members: Arc<MemberCaches>,
    pub kinds: Vec<Arc<Kind>>,
    pub host_stores: Vec<Store<DynamicObject>>,
    pub triggers: Vec<Trigger>,
    pub events: crate::events::Publisher,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    backoff: Mutex<HashMap<String, u32>>,
    namespace_placements: Mutex<HashMap<String, BTreeSet<String>>>,
    propagation: Mutex<HashMap<String, Progress>>,
    /// Per object: when kfed wrote a status, the status it carried and the status
    /// written over it, until the host cache shows the write (at most a minute).
    written_status: Mutex<HashMap<String, WrittenStatus>>,
    /// Objects whose finalizer kfed released (by key, with their uid), until the host
    /// cache shows them gone (at most a minute): a reconcile that runs before that, on a
    /// member's delete event, has nothing left to do and writes nothing.
    released: Mutex<HashMap<String, (Instant, String)>>,
}

/// What one kind's reconciles see.
pub struct KindContext {
    pub kind: Arc<Kind>,
    pub shared: Arc<Shared>,
}

impl Shared {
    /// The next retry delay for `key`: 1 s doubling to 5 min, with jitter.
    pub fn backoff(&self, key: &str) -> Duration {
        let mut map = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        let failures = map.entry(key.to_string()).or_insert(0);
        *failures = failures.saturating_add(1);
        let base = Duration::from_secs(1)
            .saturating_mul(1u32 << (*failures - 1).min(9))
            .min(Duration::from_secs(300));
        base + Duration::from_millis(rand::random_range(0..=base.as_millis().min(1000) as u64 / 4))
    }

    /// Tracks one object's generation from its first reconcile until every placed
    /// cluster is in sync, and returns that latency once. Generations that needed
    /// no write (e.g. seen again after a restart) are not measured.
    pub fn propagation_progress(
        &self,
        key: &str,
        generation: Option<i64>,
        wrote: bool,
        converged: bool,
    ) -> Option<Duration> {
        let mut map = self.propagation.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry(key.to_string())
            .or_insert((generation, Some(Instant::now()), false));
        if entry.0 != generation {
            *entry = (generation, Some(Instant::now()), false);
        }
        entry.2 |= wrote;
        if converged {
            let started = entry.1.take()?;
            return entry.2.then(|| started.elapsed());
        }
        None
    }

    /// Drops everything kept about a deleted object.
    pub fn forget(&self, key: &str) {
        self.reset_backoff(key);
        self.propagation.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        self.written_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Remembers a status written over `before`.
    pub fn status_written(&self, key: &str, before: Option<FederatedStatus>, written: FederatedStatus) {
        let mut map = self.written_status.lock().unwrap_or_else(|p| p.into_inner());
        // Status events do not start reconciles, so entries are also dropped by age.
        if map.len() % 1024 == 1023 {
            map.retain(|_, (at, _, _)| at.elapsed() < WRITTEN_STATUS_TTL);
        }
        map.insert(key.to_string(), (Instant::now(), before, written));
    }

    /// The object's current status given the `cached` one: what kfed wrote last while
    /// the cache still shows the status from before that write; else the cached one.
    /// A status changed by anyone else after kfed's write shows as neither, and wins.
    pub fn status_seen(&self, key: &str, cached: Option<FederatedStatus>) -> Option<FederatedStatus> {
        let mut map = self.written_status.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((at, before, written)) if *before == cached && at.elapsed() < WRITTEN_STATUS_TTL => {
                Some(written.clone())
            }
            Some(_) => {
                map.remove(key);
                cached
            }
            None => cached,
        }
    }

    /// Remembers that the finalizer of `key` (object `uid`) was released.
    pub fn finalizer_released(&self, key: &str, uid: &str) {
        let mut map = self.released.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() % 1024 == 1023 {
            map.retain(|_, (at, _)| at.elapsed() < WRITTEN_STATUS_TTL);
        }
        map.insert(key.to_string(), (Instant::now(), uid.to_string()));
    }

    /// Whether kfed already released the finalizer of this object (`uid`) and the host
    /// cache has not caught up yet.
    pub fn was_released(&self, key: &str, uid: &str) -> bool {
        let mut map = self.released.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((at, released)) if released == uid && at.elapsed() < WRITTEN_STATUS_TTL => true,
            Some(_) => {
                map.remove(key);
                false
            }
            None => false,
        }
    }

    pub fn reset_backoff(&self, key: &str) {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Records the clusters of a FederatedNamespace; when they change, every
    /// federated object in that namespace is reconciled again.
    pub fn namespace_placement_changed(&self, namespace: &str, clusters: &BTreeSet<String>) {
        let mut map = self.namespace_placements.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(namespace) == Some(clusters) {
            return;
        }
        map.insert(namespace.to_string(), clusters.clone());
        drop(map);
        for kind in self
            .kinds
            .iter()
            .filter(|k| k.target.scope == kfed_codegen::Scope::Namespaced)
        {
            let Some(store) = self.host_stores.get(kind.index) else {
                continue;
            };
            for obj in store
                .state()
                .iter()
                .filter(|o| o.metadata.namespace.as_deref() == Some(namespace))
            {
                let name = obj.metadata.name.clone().unwrap_or_default();
                let _ = self.triggers[kind.index].unbounded_send(kind.federated_ref(&name, Some(namespace)));
            }
        }
    }
}

/// Bounds the memory of cached host objects: drops what reconciles never read
/// (managed fields, kubectl's last-applied copy of the whole object) and keeps
/// `spec` and `status` as JSON text, parsed when reconciled. A tree of small JSON
/// maps takes about ten times the memory of its text.
pub(crate) fn prune_host_object(obj: &mut DynamicObject) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    for field in ["spec", "status"] {
        if let Some(value) = obj.data.get_mut(field)
            && !value.is_string()
            && !value.is_null()
        {
            *value = serde_json::Value::String(value.to_string());
        }
    }
}

/// What a reconcile depends on in the federated object itself. Changes elsewhere,
/// above all kfed's own status writes, do not start a reconcile.
fn sync_relevant(obj: &DynamicObject) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    obj.metadata.generation.hash(&mut hasher);
    obj.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    obj.finalizers().iter().any(|f| f == FINALIZER).hash(&mut hasher);
    for annotation in [reconcile::ORPHAN_ANNOTATION, reconcile::DELETE_OPTION_ANNOTATION] {
        obj.annotations().get(annotation).hash(&mut hasher);
    }
    Some(hasher.finish())
}

fn error_policy(obj: Arc<DynamicObject>, error: &Error, ctx: Arc<KindContext>) -> Action {
    let key = reconcile::key_of(&obj, &ctx);
    warn!(kind = %ctx.kind.target.kind, object = %key, %error, "reconcile failed; retrying");
    Action::requeue(ctx.shared.backoff(&key))
}

/// Runs every kind's controller until `shutdown` resolves.
pub async fn run(
    host: Client,
    registry: Arc<Registry>,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let kinds = kinds::all();
    let mut controllers = Vec::new();
    let mut triggers = Vec::new();
    let mut host_stores = Vec::new();
    // Every registry change reconciles all objects, but only once the member
    // watches have followed it, so objects placed on a returning member find its
    // cache started (and wait for it to fill) instead of reading from the member.
    let (members_refreshed, refreshes) = tokio::sync::watch::channel(0u64);
    for kind in &kinds {
        let (trigger, requests) = futures::channel::mpsc::unbounded();
        let api: Api<DynamicObject> = Api::all_with(host.clone(), &kind.federated_resource);
        let writer = reflector::store::Writer::new(kind.federated_resource.clone());
        let store = writer.as_reader();
        let changes = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(prune_host_object)
            .reflect(writer)
            .applied_objects()
            .predicate_filter(sync_relevant, PredicateConfig::default());
        let cluster_changed = futures::stream::unfold(refreshes.clone(), |mut changes| async move {
            changes.changed().await.ok()?;
            Some(((), changes))
        });
        let mut stop = shutdown.clone();
        let controller = Controller::for_stream_with(changes, store, kind.federated_resource.clone())
            .with_config(ControllerConfig::default().concurrency(settings.workers))
            .reconcile_on(requests)
            .reconcile_all_on(cluster_changed)
            .graceful_shutdown_on(async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            });
        host_stores.push(controller.store());
        triggers.push(trigger);
        controllers.push(controller);
    }
    let members = Arc::new(MemberCaches::new(kinds.clone(), triggers.clone(), members_refreshed));
    let shared = Arc::new(Shared {
        events: crate::events::Publisher::new(host.clone(), "kfed", settings.instance.clone()),
        host,
        registry: registry.clone(),
        members: members.clone(),
        kinds: kinds.clone(),
        host_stores,
        triggers,
        settings,
        metrics,
        backoff: Mutex::new(HashMap::new()),
        namespace_placements: Mutex::new(HashMap::new()),
        propagation: Mutex::new(HashMap::new()),
        written_status: Mutex::new(HashMap::new()),
        released: Mutex::new(HashMap::new()),
    });
    registry.wait_initialized().await;
    // Start the watches of every ready member now, so that waiting for them below
    // really waits (the task that keeps them current may not have run yet).
    members.refresh(&registry);
    let member_watches = tokio::spawn(members.clone().run(registry));
    members.wait_synced(members::CACHE_WARMUP).await;
    shared.metrics.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    info!(kinds = kinds.len(), "sync controllers starting");
    let runs = controllers.into_iter().zip(kinds).map(|(controller, kind)| {
        let ctx = Arc::new(KindContext {
            kind,
            shared: shared.clone(),
        });
        controller
            .run(reconcile::reconcile, error_policy, ctx.clone())
            .for_each(move |result| {
                // A member event named a federated object the host does not hold.
                if let Err(kube::runtime::controller::Error::ObjectNotFound(federated)) = result {
                    let ctx = ctx.clone();
                    tokio::spawn(async move { orphans::unlabel(&ctx, &federated).await });
                }
                futures::future::ready(())
            })
    });
    futures::future::join_all(runs).await;
    member_watches.abort();
}
