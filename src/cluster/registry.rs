//! The registry of member clusters, fed by watches of `KubeFedCluster` objects
//! and their Secrets in the federation namespace.
//!
//! It keeps one client per member, rebuilt exactly when the cluster's endpoint,
//! CA, token, proxy or TLS settings change; probes every member in parallel;
//! writes `KubeFedCluster` status only when it changes; and bumps a generation
//! counter whenever the set of ready members or their clients change, so the
//! sync controller can react.

use crate::api::KubeFedCluster;
use crate::cluster::config::{Timeouts, member_config};
use crate::cluster::health::{self, Health, HealthSettings, Probe, Tracker};
use crate::cluster::now_rfc3339;
use crate::host::events::{EventType, Publisher};
use crate::metrics::Metrics;
use futures::{StreamExt, future};
use governor::Quota;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

/// What the rest of kfed sees of one member cluster.
#[derive(Clone)]
pub struct Member {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Present when the configuration is usable (the cluster may still be unready).
    pub client: Option<Client>,
    /// Changes each time the client is rebuilt, so users of the client can tell.
    pub client_id: u64,
    /// Client-side rate limit of requests to this member (QPS with a burst).
    pub limiter: Arc<RateLimiter>,
    pub ready: bool,
    /// Why the cluster is not ready, for status messages.
    pub not_ready_reason: Option<String>,
}

struct Entry {
    member: Member,
    fingerprint: Option<String>,
    tracker: Tracker,
    version: Option<String>,
    /// The `Ready` condition last announced with an Event.
    announced: Option<ReadyCondition>,
}

/// A `Ready` condition's status, reason and message.
type ReadyCondition = (crate::api::ConditionStatus, String, String);

/// Shared, always-current view of the member clusters.
pub struct Registry {
    entries: RwLock<BTreeMap<String, Entry>>,
    quota: Quota,
    generation: watch::Sender<u64>,
    probe_now: Notify,
    /// True once the KubeFedClusters have been listed and every member probed once.
    initialized: watch::Sender<bool>,
    listed: std::sync::atomic::AtomicBool,
}

/// A member's request rate limiter.
pub type RateLimiter = governor::DefaultDirectRateLimiter;

impl Registry {
    /// A registry whose member clients may send `qps` requests per second, in bursts of `burst`.
    pub fn new(qps: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            quota: Quota::per_second(qps).allow_burst(burst),
            entries: RwLock::new(BTreeMap::new()),
            generation: watch::channel(0).0,
            probe_now: Notify::new(),
            initialized: watch::channel(false).0,
            listed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Every registered member, ready or not, by name.
    pub fn members(&self) -> Vec<Member> {
        self.read().values().map(|e| e.member.clone()).collect()
    }

    pub fn member(&self, name: &str) -> Option<Member> {
        self.read().get(name).map(|e| e.member.clone())
    }

    /// Resolves once every registered member has been probed once, so that the
    /// sync controller does not act on a half-known federation after a restart.
    pub async fn wait_initialized(&self) {
        let mut rx = self.initialized.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Changes whenever a member joins, leaves, changes client or readiness.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bump(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Reconciles the entries with the KubeFedClusters and Secrets seen on the host.
    fn sync(&self, clusters: &[Arc<KubeFedCluster>], secrets: &HashMap<String, Arc<Secret>>, timeouts: Timeouts) {
        let mut changed = false;
        let mut entries = self.write();
        let names: Vec<String> = clusters.iter().map(|c| c.name_any()).collect();
        entries.retain(|name, _| {
            let keep = names.contains(name);
            if !keep {
                info!(cluster = %name, "member cluster unjoined");
                changed = true;
            }
            keep
        });
        for cluster in clusters {
            let name = cluster.name_any();
            let secret = secrets.get(&cluster.spec.secret_ref.name).map(Arc::as_ref);
            let entry = entries.entry(name.clone()).or_insert_with(|| {
                changed = true;
                Entry {
                    member: Member {
                        name: name.clone(),
                        labels: BTreeMap::new(),
                        client: None,
                        client_id: 0,
                        limiter: Arc::new(RateLimiter::direct(self.quota)),
                        ready: false,
                        not_ready_reason: None,
                    },
                    fingerprint: None,
                    tracker: Tracker::default(),
                    version: None,
                    announced: None,
                }
            });
            if entry.member.labels != *cluster.labels() {
                entry.member.labels = cluster.labels().clone();
                changed = true;
            }
            match member_config(cluster, secret, timeouts) {
                Ok(config) if entry.fingerprint.as_ref() == Some(&config.fingerprint) => {}
                Ok(config) => match build_client(config.config, config.lenient) {
                    Ok(client) => {
                        info!(cluster = %name, "member cluster client (re)built");
                        entry.member.client = Some(client);
                        entry.member.client_id = NEXT_CLIENT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        entry.fingerprint = Some(config.fingerprint);
                        entry.tracker = Tracker::default();
                        changed = true;
                    }
                    Err(e) => changed |= set_malformed(entry, format!("the client cannot be built: {e}")),
                },
                Err(e) => changed |= set_malformed(entry, e.to_string()),
            }
            changed |= refresh(entry);
        }
        drop(entries);
        let first = !self.listed.swap(true, std::sync::atomic::Ordering::SeqCst);
        if changed {
            self.bump();
        }
        if changed || first {
            self.probe_now.notify_one();
        }
    }
}

fn build_client(config: kube::Config, lenient: Option<crate::cluster::config::Lenient>) -> Result<Client, String> {
    match lenient {
        None => Client::try_from(config).map_err(|e| e.to_string()),
        Some(l) => {
            let roots = config.root_cert.clone().unwrap_or_default();
            let verifier = crate::cluster::tls::Lenient::new(&roots, l.skip_name, l.skip_validity)?;
            crate::cluster::tls::client_with_verifier(&config, verifier)
        }
    }
}

static NEXT_CLIENT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn set_malformed(entry: &mut Entry, reason: String) -> bool {
    if entry.tracker.health() == &Health::ConfigMalformed(reason.clone()) {
        return false;
    }
    warn!(cluster = %entry.member.name, %reason, "member cluster configuration is malformed");
    entry.member.client = None;
    entry.fingerprint = None;
    entry.tracker.malformed(reason);
    true
}

/// Updates the public readiness from the tracker; true when it changed.
fn refresh(entry: &mut Entry) -> bool {
    let ready = entry.tracker.is_ready();
    let reason = match entry.tracker.health() {
        Health::Ready => None,
        Health::Unknown => Some("not probed yet".to_string()),
        Health::NotReady(answer) => Some(format!("/healthz responded without ok: {answer}")),
        Health::Offline(r) => Some(format!("cluster is not reachable: {r}")),
        Health::ConfigMalformed(r) => Some(r.clone()),
    };
    let changed = entry.member.ready != ready;
    entry.member.ready = ready;
    entry.member.not_ready_reason = reason;
    changed
}

/// Runs the registry until the process stops: watches, client rebuilds, probes, status
/// writes and Events (through `events`) when a cluster's readiness changes.
pub async fn run(
    registry: Arc<Registry>,
    host: Client,
    namespace: String,
    settings: HealthSettings,
    metrics: Arc<Metrics>,
    events: Publisher,
) {
    let timeouts = Timeouts {
        connect: settings.timeout,
        request: settings.timeout.max(std::time::Duration::from_secs(30)),
    };
    let clusters_api: Api<KubeFedCluster> = Api::namespaced(host.clone(), &namespace);
    let secrets_api: Api<Secret> = Api::namespaced(host.clone(), &namespace);
    let (clusters, clusters_writer) = reflector::store();
    let (secrets, secrets_writer) = reflector::store();

    let changes = futures::stream::select(
        watcher(clusters_api.clone(), watcher::Config::default())
            .default_backoff()
            .reflect(clusters_writer)
            .map(|e| e.map(|_| ()).map_err(|e| e.to_string())),
        watcher(secrets_api, watcher::Config::default())
            .default_backoff()
            .reflect(secrets_writer)
            .map(|e| e.map(|_| ()).map_err(|e| e.to_string())),
    );
    let sync_loop = {
        let registry = registry.clone();
        let (clusters, secrets) = (clusters.clone(), secrets.clone());
        changes.for_each(move |event| {
            if let Err(e) = event {
                warn!(error = %e, "watching KubeFedClusters or their Secrets failed; retrying");
            } else if clusters.wait_until_ready().now_or_never_ready()
                && secrets.wait_until_ready().now_or_never_ready()
            {
                let by_name: HashMap<String, Arc<Secret>> =
                    secrets.state().into_iter().map(|s| (s.name_any(), s)).collect();
                registry.sync(&clusters.state(), &by_name, timeouts);
            }
            future::ready(())
        })
    };
    let events = Events { publisher: events };
    let probe_loop = probe_forever(registry, clusters, clusters_api, settings, metrics, events);
    futures::join!(sync_loop, probe_loop);
}

trait NowOrNever {
    fn now_or_never_ready(self) -> bool;
}

impl<F: std::future::Future<Output = Result<(), E>>, E> NowOrNever for F {
    fn now_or_never_ready(self) -> bool {
        futures::FutureExt::now_or_never(self).is_some_and(|r| r.is_ok())
    }
}

async fn probe_forever(
    registry: Arc<Registry>,
    clusters: reflector::Store<KubeFedCluster>,
    api: Api<KubeFedCluster>,
    settings: HealthSettings,
    metrics: Arc<Metrics>,
    events: Events,
) {
    let mut tick = tokio::time::interval(settings.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = registry.probe_now.notified() => {}
        }
        let listed = registry.listed.load(std::sync::atomic::Ordering::SeqCst);
        probe_all(&registry, &settings, &metrics).await;
        let readiness: Vec<(String, bool)> = registry.members().into_iter().map(|m| (m.name, m.ready)).collect();
        metrics.clusters.set_clusters(&readiness);
        write_statuses(&registry, &clusters, &api, &events).await;
        if listed {
            registry
                .initialized
                .send_if_modified(|done| !std::mem::replace(done, true));
        }
    }
}

async fn probe_all(registry: &Registry, settings: &HealthSettings, metrics: &Metrics) {
    let targets: Vec<(String, Client)> = registry
        .read()
        .values()
        .filter_map(|e| Some((e.member.name.clone(), e.member.client.clone()?)))
        .collect();
    let results = future::join_all(targets.into_iter().map(|(name, client)| async move {
        let started = std::time::Instant::now();
        let probe = probe(&client, settings).await;
        metrics.clusters.observe_probe(&name, started.elapsed());
        let version = if probe == Probe::Healthy {
            tokio::time::timeout(settings.timeout, client.apiserver_version())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|v| v.git_version)
        } else {
            None
        };
        (name, probe, version)
    }))
    .await;
    let mut changed = false;
    {
        let mut entries = registry.write();
        for (name, probe, version) in results {
            let Some(entry) = entries.get_mut(&name) else { continue };
            if entry.member.client.is_none() {
                continue; // became malformed while probing
            }
            let before = entry.tracker.health().clone();
            entry.tracker.observe(probe, settings);
            if &before != entry.tracker.health() {
                info!(cluster = %name, health = ?entry.tracker.health(), "member cluster health changed");
            }
            if version.is_some() {
                entry.version = version;
            }
            changed |= refresh(entry);
        }
    }
    if changed {
        registry.bump();
    }
}

async fn probe(client: &Client, settings: &HealthSettings) -> Probe {
    let request = match http::Request::get("/healthz").body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return Probe::Unreachable(e.to_string()),
    };
    match tokio::time::timeout(settings.timeout, client.request_text(request)).await {
        Err(_) => Probe::Unreachable(format!("no answer within {:?}", settings.timeout)),
        Ok(Err(kube::Error::Api(status))) => {
            if status.code == 401 || status.code == 403 {
                Probe::Unreachable(format!("credentials refused: {}", status.message))
            } else {
                Probe::Unhealthy(format!("HTTP {}: {}", status.code, short(&status.message)))
            }
        }
        Ok(Err(e)) => Probe::Unreachable(describe(&e)),
        Ok(Ok(body)) if body.trim() == "ok" => Probe::Healthy,
        Ok(Ok(body)) => Probe::Unhealthy(format!("answered {:?}", short(body.trim()))),
    }
}

/// A client error with its causes, which say what really happened ("client error
/// (Connect): tcp connect error: Connection refused (os error 111)" rather than
/// "ServiceError: client error (Connect)"); each text once, as wrappers often repeat it.
fn describe(e: &kube::Error) -> String {
    let top: &(dyn std::error::Error + 'static) = match e {
        kube::Error::Service(inner) => inner.as_ref(),
        other => other,
    };
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(top);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// At most 200 characters of what a server answered.
fn short(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Where Events about clusters go.
struct Events {
    publisher: Publisher,
}

impl Events {
    /// Publishes one Event about `cluster` for its new `Ready` condition.
    async fn announce(&self, cluster: &KubeFedCluster, (status, reason, message): &ReadyCondition) {
        let type_ = if *status == crate::api::ConditionStatus::True {
            EventType::Normal
        } else {
            EventType::Warning
        };
        let note = message.chars().take(1000).collect();
        let reference = cluster.object_ref(&());
        if let Err(e) = self.publisher.publish(&reference, type_, reason, "Probe", note).await {
            warn!(cluster = %cluster.name_any(), error = %e, "publishing an Event failed");
        }
    }
}

fn ready_condition(status: &crate::api::KubeFedClusterStatus) -> Option<ReadyCondition> {
    let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((
        c.status,
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

/// Writes the status of every cluster whose conditions or version changed, and
/// publishes an Event when its `Ready` condition changes (a Warning when not ready).
async fn write_statuses(
    registry: &Registry,
    clusters: &reflector::Store<KubeFedCluster>,
    api: &Api<KubeFedCluster>,
    events: &Events,
) {
    let now = now_rfc3339();
    let wanted: Vec<(String, crate::api::KubeFedClusterStatus, Option<ReadyCondition>)> = registry
        .read()
        .values()
        .filter(|e| e.tracker.health() != &Health::Unknown)
        .map(|e| {
            (
                e.member.name.clone(),
                health::status_for(e.tracker.health(), e.version.as_deref(), &now),
                e.announced.clone(),
            )
        })
        .collect();
    for (name, mut status, announced) in wanted {
        let current = clusters.state().into_iter().find(|c| c.name_any() == name);
        let current_status = current.as_ref().and_then(|c| c.status.as_ref());
        let ready = ready_condition(&status);
        // Not on a restart over an unchanged status, nor twice while the cache lags behind.
        let announce = ready.is_some() && ready != current_status.and_then(ready_condition) && ready != announced;
        if health::status_changed(current_status, &status) {
            health::carry_transition_times(current_status, &mut status);
            let patch = Patch::Merge(serde_json::json!({ "status": status }));
            if let Err(e) = api.patch_status(&name, &PatchParams::default(), &patch).await {
                warn!(cluster = %name, error = %e, "writing KubeFedCluster status failed");
                continue;
            }
        }
        if let (true, Some(cluster), Some(ready)) = (announce, current.as_deref(), ready) {
            events.announce(cluster, &ready).await;
            if let Some(entry) = registry.write().get_mut(&name) {
                entry.announced = Some(ready);
            }
        }
    }
}
