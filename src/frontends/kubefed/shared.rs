//! What the workers of every federated kind share: the host client, the member
//! registry and caches, the running kinds, and per-object memory (backoff,
//! propagation progress, written status, released finalizers).

use crate::api::FederatedStatus;
use crate::cluster::caches::Trigger;
use crate::cluster::{MemberCaches, Registry};
use crate::kinds::Kind;
use crate::metrics::Metrics;
use kube::Client;
use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::runtime::reflector::Store;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Errors of a reconcile that are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] crate::host::Error),
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

/// A kind whose controller runs.
pub struct Running {
    pub kind: Arc<Kind>,
    pub store: Store<DynamicObject>,
    pub trigger: Trigger,
    pub(super) stop: tokio::sync::watch::Sender<bool>,
    pub(super) task: Option<tokio::task::JoinHandle<()>>,
}

/// State shared by the controllers of every kind.
pub struct Shared {
    pub host: Client,
    pub registry: Arc<Registry>,
    pub members: Arc<MemberCaches>,
    /// The kinds whose controllers run now, by kind name.
    pub(super) running: RwLock<HashMap<String, Running>>,
    /// Bumped once the member watches have followed a registry change.
    pub(super) members_refreshed: tokio::sync::watch::Receiver<u64>,
    pub events: crate::host::events::Publisher,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub(super) backoff: Mutex<HashMap<ObjectKey, u32>>,
    pub(super) namespace_placements: Mutex<HashMap<String, BTreeSet<String>>>,
    pub(super) propagation: Mutex<HashMap<ObjectKey, Progress>>,
    /// Per object: when kfed wrote a status, the status it carried and the status
    /// written over it, until the host cache shows the write (at most a minute).
    pub(super) written_status: Mutex<HashMap<ObjectKey, WrittenStatus>>,
    /// Objects whose finalizer kfed released (by key, with their uid), until the host
    /// cache shows them gone (at most a minute): a reconcile that runs before that, on a
    /// member's delete event, has nothing left to do and writes nothing.
    pub(super) released: Mutex<HashMap<ObjectKey, (Instant, String)>>,
}

/// What one kind's reconciles see.
pub struct KindContext {
    pub kind: Arc<Kind>,
    pub shared: Arc<Shared>,
}

impl Shared {
    /// The next retry delay for `key`: 1 s doubling to 5 min, with jitter.
    pub fn backoff(&self, key: &ObjectKey) -> Duration {
        let mut map = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        let failures = map.entry(key.clone()).or_insert(0);
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
        key: &ObjectKey,
        generation: Option<i64>,
        wrote: bool,
        converged: bool,
    ) -> Option<Duration> {
        let mut map = self.propagation.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry(key.clone())
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
    pub fn forget(&self, key: &ObjectKey) {
        self.reset_backoff(key);
        self.propagation.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        self.written_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Remembers a status written over `before`.
    pub fn status_written(&self, key: &ObjectKey, before: Option<FederatedStatus>, written: FederatedStatus) {
        let mut map = self.written_status.lock().unwrap_or_else(|p| p.into_inner());
        // Status events do not start reconciles, so entries are also dropped by age.
        if map.len() % 1024 == 1023 {
            map.retain(|_, (at, _, _)| at.elapsed() < WRITTEN_STATUS_TTL);
        }
        map.insert(key.clone(), (Instant::now(), before, written));
    }

    /// The object's current status given the `cached` one: what kfed wrote last while
    /// the cache still shows the status from before that write; else the cached one.
    /// A status changed by anyone else after kfed's write shows as neither, and wins.
    pub fn status_seen(&self, key: &ObjectKey, cached: Option<FederatedStatus>) -> Option<FederatedStatus> {
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
    pub fn finalizer_released(&self, key: &ObjectKey, uid: &str) {
        let mut map = self.released.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() % 1024 == 1023 {
            map.retain(|_, (at, _)| at.elapsed() < WRITTEN_STATUS_TTL);
        }
        map.insert(key.clone(), (Instant::now(), uid.to_string()));
    }

    /// Whether kfed already released the finalizer of this object (`uid`) and the host
    /// cache has not caught up yet.
    pub fn was_released(&self, key: &ObjectKey, uid: &str) -> bool {
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

    pub fn reset_backoff(&self, key: &ObjectKey) {
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
        let running = self.running.read().unwrap_or_else(|p| p.into_inner());
        for kind in running.values().filter(|r| r.kind.target_namespaced()) {
            for obj in kind
                .store
                .state()
                .iter()
                .filter(|o| o.metadata.namespace.as_deref() == Some(namespace))
            {
                let name = obj.metadata.name.clone().unwrap_or_default();
                let _ = kind
                    .trigger
                    .unbounded_send(kind.kind.federated_ref(&name, Some(namespace)));
            }
        }
    }

    /// The running Namespace kind and its host cache (FederatedNamespaces), if any.
    pub fn namespace_kind(&self) -> Option<(Arc<Kind>, Store<DynamicObject>)> {
        let running = self.running.read().unwrap_or_else(|p| p.into_inner());
        running
            .values()
            .find(|r| r.kind.behaviour.namespace)
            .map(|r| (r.kind.clone(), r.store.clone()))
    }
}

/// One federated object, as the workers' own maps (backoff, progress, written status,
/// released finalizers) key it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let namespace = self.namespace.as_deref().unwrap_or_default();
        write!(f, "{} {namespace}/{}", self.kind, self.name)
    }
}

/// The key of `obj`, a federated object of `ctx`'s kind.
pub fn key_of(obj: &DynamicObject, ctx: &KindContext) -> ObjectKey {
    ObjectKey {
        kind: ctx.kind.target_kind().to_string(),
        namespace: obj.namespace(),
        name: obj.name_any(),
    }
}
