//! The harness of the chaos suite (`tests/chaos.rs`): scale, seeded randomness, waves of
//! FederatedConfigMaps written with kube-rs, and the exact comparison of what the members
//! hold with what the host's federated objects say they should hold.

use crate::common::progress::Stall;
use crate::common::{ClientOptions, Controller, Testbed, eventually, federated};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// kfed's finalizer on federated objects (`FINALIZER` in src/wellknown.rs).
pub const FINALIZER: &str = "kubefed.io/sync-controller";
/// The label kfed puts on every member object it manages.
pub const MANAGED_LABEL: &str = "kubefed.io/managed";
/// Namespace of the KubeFedClusters and of the leader Lease.
pub const FEDERATION_NAMESPACE: &str = "kube-federation-system";
/// The leader Lease of `kfed controller --leader-elect`, and its duration (src/cli/controller.rs).
pub const LEASE_NAME: &str = "kfed-controller";
pub const LEASE_DURATION: Duration = Duration::from_secs(15);

const FIELD_MANAGER: &str = "kfed-chaos";
/// Concurrent writers of a wave (the host accepts them as fast as it can).
const WRITERS: usize = 16;
const POLL: Duration = Duration::from_millis(250);

/// How a list is served: polls read the API server's watch cache (`resourceVersion=0`,
/// no etcd read, so watching a wave costs the loaded machine little); the exact checks
/// read consistently from etcd.
#[derive(Clone, Copy, PartialEq)]
pub enum Read {
    Cached,
    Consistent,
}

impl Read {
    fn params(self) -> ListParams {
        match self {
            Read::Cached => ListParams::default().match_any(),
            Read::Consistent => ListParams::default(),
        }
    }
}
/// ConfigMap every namespace gets from the cluster itself; never kfed's.
const ROOT_CA: &str = "kube-root-ca.crt";

// ---------------------------------------------------------------------------
// Scale and randomness

/// How big the scenarios are: `KFED_CHAOS=full` is the scale (`make chaos`), the
/// default is the short variant that runs in `make test`.
pub struct Scale {
    pub variant: &'static str,
    pub outage_objects: usize,
    pub outage_down: Duration,
    pub crash_objects: usize,
    pub crash_kills: usize,
    pub failover_objects: usize,
}

impl Scale {
    pub fn from_env() -> Scale {
        match std::env::var("KFED_CHAOS").as_deref() {
            Ok("full") => Scale {
                variant: "full",
                outage_objects: 2000,
                outage_down: Duration::from_secs(60),
                crash_objects: 1000,
                crash_kills: 10,
                failover_objects: 1000,
            },
            Err(_) | Ok("") | Ok("short") => Scale {
                variant: "short",
                outage_objects: 200,
                outage_down: Duration::from_secs(15),
                crash_objects: 200,
                crash_kills: 4,
                failover_objects: 200,
            },
            Ok(other) => panic!("KFED_CHAOS={other:?}: set it to `full`, or leave it unset for the short variant"),
        }
    }
}

/// SplitMix64: a tiny seeded generator, so a failing run can be replayed with its seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `KFED_CHAOS_SEED`, else from the clock; prints the seed. Each scenario
    /// mixes its name into the seed, so one seed replays every scenario of a run.
    pub fn for_scenario(scenario: &str) -> Rng {
        let seed = match std::env::var("KFED_CHAOS_SEED") {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("KFED_CHAOS_SEED={s:?}: {e}")),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        };
        println!("chaos: {scenario} seed={seed} (replay with KFED_CHAOS_SEED={seed})");
        let mixed = scenario.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Rng(mixed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `count` sorted fractions of a wave in `[lo, hi)`: the moments to inject faults at.
    pub fn moments(&mut self, count: usize, lo: f64, hi: f64) -> Vec<f64> {
        let mut m: Vec<f64> = (0..count).map(|_| self.between(lo, hi)).collect();
        m.sort_by(f64::total_cmp);
        m
    }
}

// ---------------------------------------------------------------------------
// The objects: what the test writes and what each member should then hold

/// Labels and data of a member ConfigMap: what the comparison looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    pub labels: BTreeMap<String, String>,
    pub data: BTreeMap<String, String>,
}

/// member -> name -> content.
pub type State = BTreeMap<String, BTreeMap<String, Content>>;

pub fn object_name(i: usize) -> String {
    format!("chaos-{i:05}")
}

/// FederatedConfigMap number `i` at `version` of the templates, placed on member1 and
/// member2. Every 5th has an override for member2 (a changed value), every 7th one for
/// member1 (an added key and label), so overrides are part of what must converge.
pub fn federated_configmap(ns: &str, i: usize, version: u32) -> Value {
    let mut overrides = Vec::new();
    if i.is_multiple_of(5) {
        overrides.push(json!({"clusterName": "member2", "clusterOverrides": [
            {"path": "/data/v", "value": format!("v{version}-for-member2")},
        ]}));
    }
    if i.is_multiple_of(7) {
        overrides.push(json!({"clusterName": "member1", "clusterOverrides": [
            {"op": "add", "path": "/data/only-member1", "value": format!("v{version}")},
            {"op": "add", "path": "/metadata/labels/placed", "value": "member1"},
        ]}));
    }
    let mut spec = json!({
        "template": {
            "metadata": {"labels": {"app": "kfed-chaos", "version": format!("v{version}")}},
            "data": {"i": i.to_string(), "v": format!("v{version}")},
        },
        "placement": {"clusters": [{"name": "member1"}, {"name": "member2"}]},
    });
    if !overrides.is_empty() {
        spec["overrides"] = Value::Array(overrides);
    }
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": object_name(i), "namespace": ns},
        "spec": spec,
    })
}

/// What a FederatedConfigMap should produce in each member it is placed on (KubeFed's
/// rendering: template labels and data, then the cluster's RFC 6902 overrides, then the
/// managed label). Only the explicit `placement.clusters` form is used by this suite.
pub fn rendered(fcm: &Value) -> BTreeMap<String, Content> {
    let name = fcm["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &fcm["spec"];
    let clusters = spec["placement"]["clusters"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: the chaos objects place by cluster list"));
    let mut out = BTreeMap::new();
    for cluster in clusters {
        let cluster = cluster["name"].as_str().expect("placement cluster name");
        let labels = spec["template"]["metadata"]["labels"].clone();
        let data = spec["template"]["data"].clone();
        let mut doc = json!({
            "metadata": {"labels": if labels.is_null() { json!({}) } else { labels }},
            "data": if data.is_null() { json!({}) } else { data },
        });
        let ops: Vec<Value> = spec["overrides"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["clusterName"] == cluster)
            .flat_map(|o| o["clusterOverrides"].as_array().cloned().unwrap_or_default())
            .map(|op| {
                let kind = op["op"].as_str().filter(|s| !s.is_empty()).unwrap_or("replace");
                let mut patch = json!({"op": kind, "path": op["path"]});
                if kind != "remove" {
                    patch["value"] = op["value"].clone();
                }
                patch
            })
            .collect();
        let ops: json_patch::Patch =
            serde_json::from_value(Value::Array(ops)).unwrap_or_else(|e| panic!("{name}: overrides: {e}"));
        json_patch::patch(&mut doc, &ops).unwrap_or_else(|e| panic!("{name}: overrides for {cluster}: {e}"));
        doc["metadata"]["labels"][MANAGED_LABEL] = json!("true");
        out.insert(cluster.to_string(), content_of(&doc));
    }
    out
}

fn content_of(doc: &Value) -> Content {
    let strings = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                )
            })
            .collect()
    };
    Content {
        labels: strings(&doc["metadata"]["labels"]),
        data: strings(&doc["data"]),
    }
}

/// The state the members should reach for these federated objects.
pub fn expected_state(fcms: &[Value]) -> State {
    let mut state = State::new();
    for fcm in fcms {
        let name = fcm["metadata"]["name"].as_str().expect("name").to_string();
        for (member, content) in rendered(fcm) {
            state.entry(member).or_default().insert(name.clone(), content);
        }
    }
    state
}

/// How far `actual` is from `expected`, over some members.
#[derive(Debug, Default)]
pub struct Diff {
    /// Expected (member, object) pairs looked at.
    pub checked: usize,
    pub lost: Vec<String>,
    pub extra: Vec<String>,
    /// Present but with other labels or data (or without the managed label).
    pub stale: Vec<String>,
    /// Objects present, wanted or not.
    pub present: usize,
}

impl Diff {
    pub fn between(expected: &State, actual: &State, members: &[&str]) -> Diff {
        let empty = BTreeMap::new();
        let mut d = Diff::default();
        for member in members {
            let want = expected.get(*member).unwrap_or(&empty);
            let have = actual.get(*member).unwrap_or(&empty);
            d.present += have.len();
            for (name, content) in want {
                d.checked += 1;
                match have.get(name) {
                    None => d.lost.push(format!("{member}/{name}")),
                    Some(got) if got != content => {
                        d.stale.push(format!("{member}/{name}: want {content:?}, have {got:?}"))
                    }
                    Some(_) => {}
                }
            }
            d.extra.extend(
                have.keys()
                    .filter(|n| !want.contains_key(*n))
                    .map(|n| format!("{member}/{n}")),
            );
        }
        d
    }

    pub fn clean(&self) -> bool {
        self.lost.is_empty() && self.extra.is_empty() && self.stale.is_empty()
    }

    /// How many member objects are still not as expected.
    pub fn distance(&self) -> usize {
        self.lost.len() + self.extra.len() + self.stale.len()
    }

    /// Share of the expected objects already in their expected state.
    pub fn matched(&self) -> f64 {
        if self.checked == 0 {
            return 1.0;
        }
        (self.checked - self.lost.len() - self.stale.len()) as f64 / self.checked as f64
    }

    pub fn describe(&self) -> String {
        let few = |v: &[String]| {
            let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
            if v.len() > 5 {
                s.push_str(&format!("; ... {} more", v.len() - 5));
            }
            s
        };
        format!(
            "checked {}, lost {} [{}], extra {} [{}], stale {} [{}]",
            self.checked,
            self.lost.len(),
            few(&self.lost),
            self.extra.len(),
            few(&self.extra),
            self.stale.len(),
            few(&self.stale)
        )
    }
}

/// Counts of one or more exact checks, for the summary line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub checked: usize,
    pub lost: usize,
    pub extra: usize,
    pub stale: usize,
    pub finalizers_left: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.checked += o.checked;
        self.lost += o.lost;
        self.extra += o.extra;
        self.stale += o.stale;
        self.finalizers_left += o.finalizers_left;
    }
}

impl Tally {
    pub fn fields(&self) -> String {
        format!(
            "checked={} lost={} extra={} stale={} finalizers-left={}",
            self.checked, self.lost, self.extra, self.stale, self.finalizers_left
        )
    }

    pub fn assert_clean(&self, scenario: &str) {
        assert!(
            self.lost == 0 && self.extra == 0 && self.stale == 0 && self.finalizers_left == 0,
            "chaos {scenario}: {}",
            self.fields()
        );
    }
}

/// Prints the summary line of a scenario, and appends it to `$KFED_CHAOS_SUMMARY` when set
/// (tests/chaos.sh prints that file at the end of `make chaos`).
pub fn summary(test_started: Instant, line: &str) {
    let line = format!("chaos: {line} wall={}", secs(test_started.elapsed()));
    println!("{line}");
    if let Some(path) = std::env::var_os("KFED_CHAOS_SUMMARY") {
        use std::io::Write;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            eprintln!("chaos: cannot append to {}: {e}", path.to_string_lossy());
        }
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------
// A scenario's world: the testbed, clients, and its own federated namespace

pub struct World {
    pub tb: Testbed,
    pub rt: tokio::runtime::Runtime,
    pub ns: String,
    pub members: Vec<String>,
    host: Client,
    clients: BTreeMap<String, Client>,
    /// Set once the namespace was deleted through the operator: nothing left to force.
    cleaned: std::cell::Cell<bool>,
}

/// Host writes of a wave, running in the background.
pub struct Wave {
    handle: tokio::task::JoinHandle<Result<Duration, String>>,
    done: Arc<AtomicUsize>,
}

impl Wave {
    /// Objects written (or deleted) so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// True once every write was made (or failed).
    pub fn finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the last write and fails the test if one could not be made; returns
    /// how long the host took to accept the whole wave.
    pub fn finish(self, world: &World) -> Duration {
        match world.rt.block_on(self.handle) {
            Ok(Ok(elapsed)) => elapsed,
            Ok(Err(e)) => panic!("the wave's host writes failed: {e}"),
            Err(e) => panic!("the wave's writer task failed: {e}"),
        }
    }
}

/// A stopped member must fail fast, not hang a poll.
const CLIENT: ClientOptions = ClientOptions {
    connect_timeout: Some(Duration::from_secs(2)),
    read_timeout: Some(Duration::from_secs(20)),
};

fn client(world_rt: &tokio::runtime::Runtime, tb: &Testbed, context: &str) -> Client {
    world_rt
        .block_on(tb.client_with(context, CLIENT))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Retries a write a few times (the host is never faulted, but it is a loaded 2-core machine).
async fn with_retries<F, Fut>(what: &str, op: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    let mut attempt = 0u32;
    loop {
        let result = match tokio::time::timeout(Duration::from_secs(30), op()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("no answer within 30 s".to_string()),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 8 => {
                attempt += 1;
                eprintln!("chaos: {what}: {e} (retry {attempt})");
                tokio::time::sleep(Duration::from_millis(250) * attempt).await;
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

impl World {
    /// Connects, joins the members, and makes `ns` a fresh federated namespace on every member.
    pub fn new(ns: &str) -> World {
        let started = Instant::now();
        let tb = Testbed::connect();
        // Installing the API and joining is idempotent: once per test process is enough.
        static MEMBERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let members = MEMBERS.get_or_init(|| tb.federate()).clone();
        for m in ["member1", "member2"] {
            assert!(members.iter().any(|x| x == m), "the chaos suite needs {m}: {members:?}");
        }
        tb.federated_namespace(ns, &members);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let host = client(&rt, &tb, "host");
        let clients = members.iter().map(|m| (m.clone(), client(&rt, &tb, m))).collect();
        println!(
            "chaos: {ns}: testbed joined and namespace federated in {}",
            secs(started.elapsed())
        );
        World {
            tb,
            rt,
            ns: ns.to_string(),
            members,
            host,
            clients,
            cleaned: std::cell::Cell::new(false),
        }
    }

    fn fcm_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.host.clone(), &self.ns, &federated("FederatedConfigMap"))
    }

    /// Waits until the federated namespace exists in every member (a controller must run).
    pub fn wait_namespace_in_members(&self) {
        for m in &self.members {
            eventually(
                &format!("namespace {} in {m}", self.ns),
                Duration::from_secs(60),
                || self.tb.get(m, "namespace", None, &self.ns),
            );
        }
    }

    /// Server-side applies `docs` to the host with 16 concurrent writers, in the background.
    pub fn spawn_apply(&self, docs: Vec<Value>) -> Wave {
        let api = self.fcm_api();
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let handle = self.rt.spawn(async move {
            let started = Instant::now();
            let results: Vec<Result<(), String>> = futures::stream::iter(docs)
                .map(|doc| {
                    let (api, counter) = (api.clone(), counter.clone());
                    async move {
                        let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
                        let params = PatchParams::apply(FIELD_MANAGER).force();
                        let r = with_retries(&format!("apply {name}"), || async {
                            api.patch(&name, &params, &Patch::Apply(&doc)).await.map(|_| ())
                        })
                        .await;
                        counter.fetch_add(1, Ordering::Relaxed);
                        r
                    }
                })
                .buffer_unordered(WRITERS)
                .collect()
                .await;
            results.into_iter().collect::<Result<Vec<()>, String>>()?;
            Ok(started.elapsed())
        });
        Wave { handle, done }
    }

    /// Deletes the named federated objects from the host with 16 concurrent writers, in the background.
    pub fn spawn_delete(&self, names: Vec<String>) -> Wave {
        let api = self.fcm_api();
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let handle = self.rt.spawn(async move {
            let started = Instant::now();
            let results: Vec<Result<(), String>> = futures::stream::iter(names)
                .map(|name| {
                    let (api, counter) = (api.clone(), counter.clone());
                    async move {
                        let r = with_retries(&format!("delete {name}"), || async {
                            match api.delete(&name, &DeleteParams::default()).await {
                                Ok(_) => Ok(()),
                                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                                Err(e) => Err(e),
                            }
                        })
                        .await;
                        counter.fetch_add(1, Ordering::Relaxed);
                        r
                    }
                })
                .buffer_unordered(WRITERS)
                .collect()
                .await;
            results.into_iter().collect::<Result<Vec<()>, String>>()?;
            Ok(started.elapsed())
        });
        Wave { handle, done }
    }

    /// Every ConfigMap in the namespace of each of `members` (managed or not; only the
    /// cluster's own `kube-root-ca.crt` is left out). Fails when a member does not answer.
    pub fn member_state(&self, members: &[&str], read: Read) -> Result<State, String> {
        self.rt.block_on(async {
            let lists = futures::future::join_all(members.iter().map(|m| async move {
                let client = self.clients.get(*m).ok_or_else(|| format!("no member {m}"))?.clone();
                let api: Api<ConfigMap> = Api::namespaced(client, &self.ns);
                let list = tokio::time::timeout(Duration::from_secs(20), api.list(&read.params()))
                    .await
                    .map_err(|_| format!("{m}: list timed out"))?
                    .map_err(|e| format!("{m}: {e}"))?;
                let objects: BTreeMap<String, Content> = list
                    .items
                    .into_iter()
                    .filter_map(|cm| {
                        let name = cm.metadata.name.clone()?;
                        (name != ROOT_CA).then(|| {
                            let content = Content {
                                labels: cm.metadata.labels.clone().unwrap_or_default(),
                                data: cm.data.clone().unwrap_or_default(),
                            };
                            (name, content)
                        })
                    })
                    .collect();
                Ok::<_, String>((m.to_string(), objects))
            }))
            .await;
            lists.into_iter().collect()
        })
    }

    /// How many ConfigMaps of the namespace `member` created at or after `since` (its API
    /// server's clock, whole seconds), by a consistent read.
    pub fn created_since(&self, member: &str, since: std::time::SystemTime) -> usize {
        let since = since
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.rt.block_on(async {
            let client = self.clients.get(member).expect("a member of the world").clone();
            let api: Api<ConfigMap> = Api::namespaced(client, &self.ns);
            let list = api
                .list(&Read::Consistent.params())
                .await
                .expect("listing the member's ConfigMaps");
            list.items
                .iter()
                .filter(|cm| cm.metadata.name.as_deref() != Some(ROOT_CA))
                .filter_map(|cm| cm.metadata.creation_timestamp.as_ref())
                .filter(|t| t.0.as_second() >= since)
                .count()
        })
    }

    /// [`World::member_state`], retried a few times: for checks of members that are up.
    pub fn member_state_retrying(&self, members: &[&str], read: Read, what: &str) -> State {
        let mut attempt = 0;
        loop {
            match self.member_state(members, read) {
                Ok(state) => return state,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    eprintln!("chaos: {what}: listing the members: {e} (retry {attempt})");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("{what}: listing the members: {e}"),
            }
        }
    }

    /// The federated objects in the host's namespace, as JSON.
    /// The host is never faulted, but a request can still fail on a loaded machine (a
    /// pooled connection the server closed): retried a few times.
    pub fn host_objects(&self, read: Read) -> Vec<Value> {
        let api = self.fcm_api();
        let mut attempt = 0;
        let list = loop {
            match self.rt.block_on(api.list(&read.params())) {
                Ok(list) => break list,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    eprintln!(
                        "chaos: listing FederatedConfigMaps in {}: {e} (retry {attempt})",
                        self.ns
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("listing FederatedConfigMaps in {}: {e}", self.ns),
            }
        };
        list.items
            .into_iter()
            .map(|o| serde_json::to_value(o).expect("JSON"))
            .collect()
    }

    /// Polls the members until they hold exactly `expected` (and `busy` says no fault is
    /// pending). `on_poll` sees every successful observation, and may inject a fault; it
    /// returns true while it still has faults to inject. Fails when the members stop
    /// getting closer to `expected` (see [`Stall`]).
    pub fn converge(
        &self,
        members: &[&str],
        expected: &State,
        what: &str,
        mut on_poll: impl FnMut(&Diff) -> bool,
    ) -> Duration {
        let started = Instant::now();
        let mut stall = Stall::new(format!("{what}: {members:?} converging"));
        loop {
            match self.member_state(members, Read::Cached) {
                Ok(actual) => {
                    let diff = Diff::between(expected, &actual, members);
                    let busy = on_poll(&diff);
                    if diff.clean() && !busy {
                        return started.elapsed();
                    }
                    stall.observe(diff.distance(), || diff.describe());
                }
                Err(e) => stall.check(|| e),
            }
            std::thread::sleep(POLL);
        }
    }

    /// The exact full-set comparison: the host holds exactly the federated objects the test
    /// wrote (`model`), and every member holds exactly what the host's objects render to:
    /// nothing lost, nothing extra, nothing stale.
    pub fn check_exact(&self, model: &[Value], what: &str) -> Tally {
        let host = self.host_objects(Read::Consistent);
        let live: Vec<Value> = host
            .iter()
            .filter(|o| o["metadata"]["deletionTimestamp"].is_null())
            .cloned()
            .collect();
        let members: Vec<&str> = self.members.iter().map(String::as_str).collect();
        // The host itself: every object the test wrote, with the spec it wrote.
        let host_diff = Diff::between(&expected_state(model), &expected_state(&live), &members);
        let from_host = expected_state(&live);
        let actual = self.member_state_retrying(&members, Read::Consistent, what);
        let d = Diff::between(&from_host, &actual, &members);
        let tally = Tally {
            checked: d.checked,
            lost: d.lost.len() + host_diff.lost.len(),
            extra: d.extra.len() + host_diff.extra.len(),
            stale: d.stale.len() + host_diff.stale.len(),
            finalizers_left: 0,
        };
        println!(
            "chaos: {what}: exact check of {} host objects and {} member objects: {}",
            live.len(),
            d.present,
            tally.fields()
        );
        assert!(
            host_diff.clean(),
            "{what}: the host's federated objects differ from what was written: {}",
            host_diff.describe()
        );
        assert!(d.clean(), "{what}: members differ from the host: {}", d.describe());
        tally
    }

    /// Waits until every federated object reports `Propagation=True` for its current
    /// generation, for as long as the number of those behind keeps shrinking.
    pub fn wait_statuses(&self, what: &str) -> Duration {
        let started = Instant::now();
        let mut stall = Stall::new(format!("{what}: statuses"));
        loop {
            let host = self.host_objects(Read::Cached);
            let behind: Vec<String> = host
                .iter()
                .filter(|o| {
                    let (condition, _) = crate::common::propagation(o);
                    condition.as_deref() != Some("True")
                        || o["status"]["observedGeneration"] != o["metadata"]["generation"]
                })
                .map(|o| {
                    format!(
                        "{} (generation {}, observed {}, {})",
                        o["metadata"]["name"].as_str().unwrap_or_default(),
                        o["metadata"]["generation"],
                        o["status"]["observedGeneration"],
                        o["status"]["conditions"]
                    )
                })
                .collect();
            if behind.is_empty() {
                return started.elapsed();
            }
            stall.observe(behind.len(), || {
                format!(
                    "{} federated objects without Propagation=True for their generation, e.g. {}",
                    behind.len(),
                    behind.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
                )
            });
            std::thread::sleep(POLL);
        }
    }

    /// After a delete wave: waits until the members hold no object of the namespace and the
    /// host no federated object, which means every finalizer was released. Counts what is left.
    pub fn wait_deleted(&self, member_objects: usize, what: &str) -> (Duration, Tally) {
        let members: Vec<&str> = self.members.iter().map(String::as_str).collect();
        let started = Instant::now();
        let mut stall = Stall::new(format!("{what}: deleting"));
        loop {
            let state = self.member_state(&members, Read::Cached);
            let host = self.host_objects(Read::Cached);
            let empty = |s: &State| s.values().all(BTreeMap::is_empty);
            if state.as_ref().is_ok_and(empty) && host.is_empty() {
                // Confirmed with consistent reads before it counts.
                let confirmed = self.member_state(&members, Read::Consistent).is_ok_and(|s| empty(&s))
                    && self.host_objects(Read::Consistent).is_empty();
                if confirmed {
                    let elapsed = started.elapsed();
                    println!("chaos: {what}: members and host empty after {}", secs(elapsed));
                    let tally = Tally {
                        checked: member_objects,
                        ..Tally::default()
                    };
                    return (elapsed, tally);
                }
            }
            let left_count = state
                .as_ref()
                .map_or(usize::MAX, |s| s.values().map(BTreeMap::len).sum::<usize>());
            let distance = left_count.saturating_add(host.len());
            if stall.stalled(distance) {
                let finalized: Vec<String> = host
                    .iter()
                    .filter(|o| {
                        o["metadata"]["finalizers"]
                            .as_array()
                            .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
                    })
                    .map(|o| o["metadata"]["name"].as_str().unwrap_or_default().to_string())
                    .collect();
                let left = state
                    .map(|s| {
                        s.iter()
                            .flat_map(|(m, objs)| objs.keys().map(move |n| format!("{m}/{n}")))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                let tally = Tally {
                    checked: member_objects,
                    extra: left.len(),
                    finalizers_left: finalized.len(),
                    ..Tally::default()
                };
                println!(
                    "chaos: {what}: NOT deleted, no progress for {:?}: {}",
                    stall.stalled_for(),
                    tally.fields()
                );
                panic!(
                    "{what}: no progress for {:?}; {} member objects are left ({:?}) and {} federated objects keep the finalizer {FINALIZER} ({:?})",
                    stall.stalled_for(),
                    left.len(),
                    left.iter().take(5).collect::<Vec<_>>(),
                    finalized.len(),
                    finalized.iter().take(5).collect::<Vec<_>>()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Deletes the FederatedNamespace while a controller still runs, so the operator removes
    /// the namespace from the members and releases its finalizer the normal way, then the
    /// host's namespace, which holds nothing with a finalizer any more: the host's namespace
    /// controller finishes that without waiting here. (The FederatedNamespace first: deleting
    /// the host namespace alone leaves its namespace controller backing off meanwhile.)
    pub fn delete_namespace_through_the_operator(&self) {
        let started = Instant::now();
        self.tb.kubectl_ok(
            "host",
            &[
                "delete",
                "federatednamespace",
                &self.ns,
                "-n",
                &self.ns,
                "--wait=true",
                "--timeout=120s",
            ],
        );
        let federated = started.elapsed();
        for m in &self.members {
            eventually(
                &format!("namespace {} gone from {m}", self.ns),
                Duration::from_secs(120),
                || self.tb.get(m, "namespace", None, &self.ns).is_none().then_some(()),
            );
        }
        self.tb
            .kubectl_ok("host", &["delete", "namespace", &self.ns, "--wait=false"]);
        self.cleaned.set(true);
        println!(
            "chaos: {}: FederatedNamespace gone after {}, the namespace from the members after {}",
            self.ns,
            secs(federated),
            secs(started.elapsed())
        );
    }

    /// The leader Lease: holder, and last renewal in milliseconds since the epoch.
    pub fn lease(&self) -> Option<(Option<String>, Option<i64>)> {
        let api: Api<Lease> = Api::namespaced(self.host.clone(), FEDERATION_NAMESPACE);
        let lease = self.rt.block_on(api.get_opt(LEASE_NAME)).ok()??;
        let spec = lease.spec?;
        Some((spec.holder_identity, spec.renew_time.map(|t| t.0.as_millisecond())))
    }

    /// The acquire time (ms since the epoch) of the current leader.
    pub fn lease_acquired(&self) -> Option<i64> {
        let api: Api<Lease> = Api::namespaced(self.host.clone(), FEDERATION_NAMESPACE);
        let lease = self.rt.block_on(api.get_opt(LEASE_NAME)).ok()??;
        lease.spec?.acquire_time.map(|t| t.0.as_millisecond())
    }
}

impl Drop for World {
    /// Leaves nothing behind, also when the scenario failed half-way (no controller runs any
    /// more): deletes what is left, then releases its finalizers (in that order: kfed's
    /// admission policy gives every live federated object its finalizer back), and deletes
    /// the namespace everywhere.
    fn drop(&mut self) {
        if self.cleaned.get() {
            return;
        }
        let fcms = self.fcm_api();
        let fns: Api<DynamicObject> =
            Api::namespaced_with(self.host.clone(), &self.ns, &federated("FederatedNamespace"));
        for api in [fcms, fns] {
            let released = self.rt.block_on(async {
                api.delete_collection(&DeleteParams::default(), &ListParams::default())
                    .await
                    .ok()?;
                let list = api.list(&ListParams::default()).await.ok()?;
                let patch = json!({"metadata": {"finalizers": null}});
                let params = PatchParams::default();
                futures::stream::iter(list.items)
                    .map(|o| {
                        let (api, patch, params) = (&api, &patch, &params);
                        async move {
                            let name = o.metadata.name.unwrap_or_default();
                            let _ = api.patch(&name, params, &Patch::Merge(patch)).await;
                        }
                    })
                    .buffer_unordered(WRITERS)
                    .collect::<Vec<()>>()
                    .await;
                Some(())
            });
            if released.is_none() {
                eprintln!("chaos: cleanup could not delete what is left in {}", self.ns);
            }
        }
        for context in std::iter::once("host".to_string()).chain(self.members.clone()) {
            self.tb.delete_namespace(&context, &self.ns);
        }
    }
}

/// A member whose API server is stopped; started again when dropped (also when the test
/// fails half-way), or explicitly with [`MemberDown::start`].
pub struct MemberDown<'a> {
    tb: &'a Testbed,
    member: String,
    up: bool,
}

impl<'a> MemberDown<'a> {
    pub fn stop(tb: &'a Testbed, member: &str) -> MemberDown<'a> {
        tb.launcher(&["stop", member]);
        MemberDown {
            tb,
            member: member.to_string(),
            up: false,
        }
    }

    /// Starts the member's API server again; returns once it is ready.
    pub fn start(mut self) {
        self.tb.launcher(&["start", &self.member]);
        self.up = true;
    }
}

impl Drop for MemberDown<'_> {
    fn drop(&mut self) {
        if self.up {
            return;
        }
        // No panic here: this may run while a failed test unwinds.
        if let Err(e) = self.tb.try_launcher(&["start", &self.member]) {
            eprintln!("chaos: could not start {} again: {e:#}", self.member);
        }
    }
}

/// Kills a controller with SIGKILL after checking that it has not panicked so far.
pub fn kill(controller: Controller) {
    let log = std::fs::read_to_string(&controller.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "the controller panicked:\n{log}");
    controller.kill();
}

/// Waits until a controller's log contains `line`.
pub fn wait_log(controller: &Controller, line: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    eventually(&format!("{:?} in {}", line, controller.log.display()), limit, || {
        std::fs::read_to_string(&controller.log)
            .ok()
            .filter(|l| l.contains(line))
            .map(|_| ())
    });
    started.elapsed()
}
