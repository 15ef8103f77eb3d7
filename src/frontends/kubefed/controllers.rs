//! One controller per federated kind, started and stopped while the operator runs:
//! the set of kinds comes from the front end (FederatedTypeConfigs) as a watch
//! channel, and this module follows it. A stopped kind leaves its member objects
//! in place; a kind whose definition changed is restarted.

use crate::cluster::Registry;
use crate::cluster::caches::{CACHE_WARMUP, MemberCaches};
use crate::frontends::kubefed::shared::{Error, KindContext, Running, Settings, Shared, key_of};
use crate::frontends::kubefed::{orphans, worker};
use crate::kinds::Kind;
use crate::metrics::Metrics;
use crate::wellknown::FINALIZER;
use futures::StreamExt;
use kube::Client;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector;
use kube::runtime::utils::PredicateConfig;
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use tracing::{info, warn};

/// The kinds to run, as the front end sees them; `None` until it knows.
pub type KindSet = Option<Vec<Arc<Kind>>>;

/// A controller built but not yet running.
struct Prepared {
    running: Running,
    controller: Controller<DynamicObject>,
}

/// Runs the controllers of the kinds in `kinds`, following its changes, until `shutdown`.
pub async fn run(
    host: Client,
    registry: Arc<Registry>,
    settings: Settings,
    metrics: Arc<Metrics>,
    mut kinds: watch::Receiver<KindSet>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every registry change reconciles all objects, but only once the member
    // watches have followed it, so objects placed on a returning member find its
    // cache started (and wait for it to fill) instead of reading from the member.
    let (members_refreshed, refreshes) = watch::channel(0u64);
    let members = Arc::new(MemberCaches::new(members_refreshed));
    let shared = Arc::new(Shared {
        events: crate::host::events::Publisher::new(host.clone(), "kfed", settings.instance.clone()),
        host,
        registry: registry.clone(),
        members: members.clone(),
        running: RwLock::new(HashMap::new()),
        members_refreshed: refreshes,
        settings,
        metrics,
        backoff: Mutex::new(HashMap::new()),
        namespace_placements: Mutex::new(HashMap::new()),
        propagation: Mutex::new(HashMap::new()),
        written_status: Mutex::new(HashMap::new()),
        released: Mutex::new(HashMap::new()),
    });
    registry.wait_initialized().await;
    let first = tokio::select! {
        set = kinds.wait_for(Option::is_some) => set.ok().and_then(|s| s.clone()).unwrap_or_default(),
        _ = shutdown.wait_for(|stopping| *stopping) => return,
    };
    let prepared: Vec<Prepared> = first.iter().map(|k| prepare(&shared, k.clone())).collect();
    // Start the watches of every ready member now, so that waiting for them below
    // really waits (the task that keeps them current may not have run yet).
    members.refresh(&registry);
    let member_watches = tokio::spawn(members.clone().run(registry));
    members.wait_synced(CACHE_WARMUP).await;
    shared.metrics.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    info!(kinds = prepared.len(), "sync controllers starting");
    for p in prepared {
        launch(&shared, p);
    }
    loop {
        tokio::select! {
            changed = kinds.changed() => {
                if changed.is_err() {
                    break;
                }
                let set = kinds.borrow_and_update().clone().unwrap_or_default();
                follow(&shared, &set).await;
            }
            _ = shutdown.wait_for(|stopping| *stopping) => break,
        }
    }
    follow(&shared, &[]).await;
    member_watches.abort();
}

/// Starts the kinds of `set` that do not run, stops those not in it, and restarts
/// those whose definition changed.
async fn follow(shared: &Arc<Shared>, set: &[Arc<Kind>]) {
    let stale: Vec<String> = {
        let running = shared.running.read().unwrap_or_else(|p| p.into_inner());
        running
            .values()
            .filter(|r| !set.iter().any(|k| **k == *r.kind))
            .map(|r| r.kind.name.clone())
            .collect()
    };
    for name in stale {
        stop(shared, &name).await;
    }
    for kind in set {
        let runs = shared
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&kind.name);
        if !runs {
            let prepared = prepare(shared, kind.clone());
            launch(shared, prepared);
        }
    }
}

/// Stops one kind's controller (in-flight reconciles finish) and its member watches.
async fn stop(shared: &Shared, name: &str) {
    let removed = shared.running.write().unwrap_or_else(|p| p.into_inner()).remove(name);
    shared.members.remove_kind(name);
    let Some(mut running) = removed else { return };
    let _ = running.stop.send(true);
    if let Some(task) = running.task.take() {
        let _ = task.await;
    }
    info!(kind = %running.kind.name, "sync controller stopped");
}

/// Builds the controller of `kind` and starts its member watches.
fn prepare(shared: &Shared, kind: Arc<Kind>) -> Prepared {
    let (trigger, requests) = futures::channel::mpsc::unbounded();
    let api: Api<DynamicObject> = Api::all_with(shared.host.clone(), &kind.federated_resource);
    let writer = reflector::store::Writer::new(kind.federated_resource.clone());
    let store = writer.as_reader();
    let changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(prune_host_object)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(sync_relevant, PredicateConfig::default());
    let cluster_changed = futures::stream::unfold(shared.members_refreshed.clone(), |mut changes| async move {
        changes.changed().await.ok()?;
        Some(((), changes))
    });
    let (stop, mut stopping) = watch::channel(false);
    let controller = Controller::for_stream_with(changes, store, kind.federated_resource.clone())
        .with_config(ControllerConfig::default().concurrency(shared.settings.workers))
        .reconcile_on(requests)
        .reconcile_all_on(cluster_changed)
        .graceful_shutdown_on(async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        });
    shared.members.add_kind(kind.clone(), trigger.clone());
    Prepared {
        running: Running {
            kind,
            store: controller.store(),
            trigger,
            stop,
            task: None,
        },
        controller,
    }
}

/// Runs a prepared controller.
fn launch(shared: &Arc<Shared>, prepared: Prepared) {
    let Prepared {
        mut running,
        controller,
    } = prepared;
    let ctx = Arc::new(KindContext {
        kind: running.kind.clone(),
        shared: shared.clone(),
    });
    let task = controller
        .run(worker::reconcile, error_policy, ctx.clone())
        .for_each(move |result| {
            // A member event named a federated object the host does not hold.
            if let Err(kube::runtime::controller::Error::ObjectNotFound(federated)) = result {
                let ctx = ctx.clone();
                tokio::spawn(async move { orphans::unlabel(&ctx, &federated).await });
            }
            futures::future::ready(())
        });
    running.task = Some(tokio::spawn(task));
    info!(kind = %running.kind.name, "sync controller running");
    shared
        .running
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(running.kind.name.clone(), running);
}

fn error_policy(obj: Arc<DynamicObject>, error: &Error, ctx: Arc<KindContext>) -> Action {
    let key = key_of(&obj, &ctx);
    warn!(kind = %ctx.kind.target_kind(), object = %key, %error, "reconcile failed; retrying");
    Action::requeue(ctx.shared.backoff(&key))
}

/// Bounds the memory of cached host objects: drops what reconciles never read
/// (managed fields, kubectl's last-applied copy of the whole object) and keeps
/// `spec` and `status` as JSON text, parsed when reconciled. A tree of small JSON
/// maps takes about ten times the memory of its text.
pub(crate) fn prune_host_object(obj: &mut DynamicObject) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.remove(crate::wellknown::LAST_APPLIED_ANNOTATION);
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
    for annotation in [
        crate::wellknown::ORPHAN_ANNOTATION,
        crate::wellknown::DELETE_OPTION_ANNOTATION,
    ] {
        obj.annotations().get(annotation).hash(&mut hasher);
    }
    Some(hasher.finish())
}
