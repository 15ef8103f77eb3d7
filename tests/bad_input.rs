//! The runtime half of the bad-input corpus: every manifest in `tests/bad-input/` is
//! accepted by `kubectl apply` but wrong in a way only the operator can judge (the
//! other half, refused at apply, is `tests/admission/invalid/`, run by `api_admission`).
//! All of them are applied at once; each must be reported as its header says, the
//! operator must not panic, and healthy objects applied before and after them must
//! converge on both members.
//!
//! Corpus format: a manifest (one or more YAML documents) starting with lines
//! `# expect-<what>: <value>` about its subject, the one `Federated*` or
//! `KubeFedCluster` document (other documents, such as Secrets, support it):
//!
//! | header | meaning |
//! |---|---|
//! | `expect-propagation: True` or `False/<Reason>` | the federated object's `Propagation` condition |
//! | `expect-cluster: <cluster>=<Reason>`, `=ok` or `=absent` | its `status.clusters[]` entry (`ok`: in sync; `absent`: not listed) |
//! | `expect-condition: <Type>=<Status>/<Reason>` | a condition of the KubeFedCluster |
//! | `expect-message: <text>` | in the `Propagation` message, or in the message of each expected condition |
//! | `expect-event: <Type>/<Reason>: <text>` | an Event about the subject whose note contains `<text>` |
//! | `expect-member: <cluster>=present` or `=absent` | the member object in that cluster |
//!
//! All expectations of a file must hold at the same time, after the operator has
//! reconciled the current generation. Placeholders: `NAMESPACE` (the test namespace;
//! other namespaces named in the corpus are created on the host, not federated),
//! `MEMBER1_ENDPOINT`, `MEMBER1_ENDPOINT_HTTP` and `MEMBER1_CA` (from member1's
//! KubeFedCluster), `FILLER_<n>` (`n` times `x`). KubeFedClusters must be named
//! `badinput-*` in `kube-federation-system`, so they never touch the real members.

mod common;

use common::{Controller, Testbed, contains, eventually, repo_root, stderr, yaml_files};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const NS: &str = "kfed-t-badinput";
const FED_NS: &str = "kube-federation-system";
const MANAGED: &str = "kubefed.io/managed=true";
const CORPUS_WAIT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Propagation {
        status: String,
        reason: Option<String>,
    },
    Cluster {
        cluster: String,
        state: String,
    },
    Condition {
        type_: String,
        status: String,
        reason: String,
    },
    Message(String),
    Event {
        type_: String,
        reason: String,
        text: String,
    },
    Member {
        cluster: String,
        present: bool,
    },
}

impl Expect {
    fn parse(key: &str, value: &str) -> Result<Expect, String> {
        let pair = |v: &str| {
            v.split_once('=')
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                .ok_or_else(|| format!("{key}: {v:?} is not <name>=<value>"))
        };
        let slash = |v: &str| {
            v.split_once('/')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("{key}: {v:?} is not <Status>/<Reason>"))
        };
        Ok(match key {
            "propagation" => match value.split_once('/') {
                Some((status, reason)) => Expect::Propagation {
                    status: status.into(),
                    reason: Some(reason.into()),
                },
                None => Expect::Propagation {
                    status: value.into(),
                    reason: None,
                },
            },
            "cluster" => {
                let (cluster, state) = pair(value)?;
                Expect::Cluster { cluster, state }
            }
            "condition" => {
                let (type_, rest) = pair(value)?;
                let (status, reason) = slash(&rest)?;
                Expect::Condition { type_, status, reason }
            }
            "message" => Expect::Message(value.into()),
            "event" => {
                let (kind, text) = value
                    .split_once(": ")
                    .ok_or_else(|| format!("{key}: {value:?} is not <Type>/<Reason>: <text>"))?;
                let (type_, reason) = slash(kind)?;
                Expect::Event {
                    type_,
                    reason,
                    text: text.into(),
                }
            }
            "member" => {
                let (cluster, presence) = pair(value)?;
                let present = match presence.as_str() {
                    "present" => true,
                    "absent" => false,
                    other => return Err(format!("{key}: {other:?} is neither present nor absent")),
                };
                Expect::Member { cluster, present }
            }
            other => return Err(format!("unknown header expect-{other}")),
        })
    }

    /// Says something about the subject's status (so that the rest is judged after a reconcile).
    fn is_status(&self) -> bool {
        matches!(
            self,
            Expect::Propagation { .. } | Expect::Cluster { .. } | Expect::Condition { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Subject {
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl Subject {
    fn is_cluster(&self) -> bool {
        self.kind == "KubeFedCluster"
    }

    /// The member kind of a federated subject (`FederatedDeployment` -> `Deployment`).
    fn target_kind(&self) -> Option<&str> {
        self.kind.strip_prefix("Federated")
    }
}

struct Case {
    file: String,
    yaml: String,
    subject: Subject,
    expects: Vec<Expect>,
}

struct Placeholders {
    endpoint: String,
    ca: String,
}

fn substitute(text: &str, p: &Placeholders) -> String {
    let mut out = text
        .replace("MEMBER1_ENDPOINT_HTTP", &p.endpoint.replacen("https://", "http://", 1))
        .replace("MEMBER1_ENDPOINT", &p.endpoint)
        .replace("MEMBER1_CA", &p.ca)
        .replace("NAMESPACE", NS);
    while let Some(at) = out.find("FILLER_") {
        let digits: String = out[at + 7..].chars().take_while(char::is_ascii_digit).collect();
        let n: usize = digits.parse().expect("FILLER_<n> has a number");
        out.replace_range(at..at + 7 + digits.len(), &"x".repeat(n));
    }
    out
}

fn load(file: &std::path::Path, p: &Placeholders) -> Case {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
    let text = std::fs::read_to_string(file).expect("readable manifest");
    let mut expects = Vec::new();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let Some(rest) = line.strip_prefix("# expect-") else {
            continue;
        };
        let (key, value) = rest
            .split_once(':')
            .unwrap_or_else(|| panic!("{name}: {line:?} is not `# expect-<what>: <value>`"));
        expects.push(Expect::parse(key, value.trim()).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    assert!(
        expects.iter().any(Expect::is_status),
        "{name}: needs an expect-propagation, expect-cluster or expect-condition header"
    );
    let yaml = substitute(&text, p);
    let subjects: Vec<Subject> = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: {e}")))
        .filter(|doc| {
            let kind = doc["kind"].as_str().unwrap_or_default();
            kind.starts_with("Federated") || kind == "KubeFedCluster"
        })
        .map(|doc| Subject {
            kind: doc["kind"].as_str().unwrap_or_default().into(),
            namespace: doc["metadata"]["namespace"].as_str().map(str::to_string),
            name: doc["metadata"]["name"].as_str().unwrap_or_default().into(),
        })
        .collect();
    assert_eq!(
        subjects.len(),
        1,
        "{name}: exactly one Federated* or KubeFedCluster document"
    );
    let subject = subjects.into_iter().next().expect("one subject");
    if subject.is_cluster() {
        assert!(
            subject.name.starts_with("badinput-") && subject.namespace.as_deref() == Some(FED_NS),
            "{name}: KubeFedClusters of the corpus are named badinput-* in {FED_NS}"
        );
    }
    Case {
        file: name,
        yaml,
        subject,
        expects,
    }
}

/// What the test sees in one round of polling.
#[derive(Default)]
struct Snapshot {
    /// Federated objects and KubeFedClusters on the host.
    host: BTreeMap<Subject, Value>,
    events: Vec<Value>,
    /// Managed objects in each member: (kind, namespace, name) -> object.
    members: BTreeMap<String, BTreeMap<(String, String, String), Value>>,
}

fn items(out: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(out)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

fn subject_of(obj: &Value) -> Subject {
    Subject {
        kind: obj["kind"].as_str().unwrap_or_default().into(),
        namespace: obj["metadata"]["namespace"].as_str().map(str::to_string),
        name: obj["metadata"]["name"].as_str().unwrap_or_default().into(),
    }
}

/// Reads everything the expectations look at, with the kubectl calls in parallel.
fn snapshot(tb: &Testbed, federated: &str, namespaces: &[String], targets: &str, members: &[String]) -> Snapshot {
    std::thread::scope(|s| {
        let hosts: Vec<_> = namespaces
            .iter()
            .map(|ns| s.spawn(move || tb.kubectl_ok("host", &["get", federated, "-n", ns, "-o", "json"])))
            .collect();
        let clusters = s.spawn(|| tb.kubectl_ok("host", &["get", "kubefedclusters", "-n", FED_NS, "-o", "json"]));
        let events = s.spawn(|| tb.kubectl_ok("host", &["get", "events.events.k8s.io", "-A", "-o", "json"]));
        let in_members: Vec<_> = members
            .iter()
            .map(|m| {
                (
                    m.clone(),
                    s.spawn(move || tb.kubectl_ok(m, &["get", targets, "-A", "-l", MANAGED, "-o", "json"])),
                )
            })
            .collect();
        let mut snap = Snapshot::default();
        for out in hosts.into_iter().chain([clusters]) {
            for obj in items(&out.join().expect("kubectl thread")) {
                snap.host.insert(subject_of(&obj), obj);
            }
        }
        snap.events = items(&events.join().expect("kubectl thread"));
        for (member, out) in in_members {
            let objects = items(&out.join().expect("kubectl thread"))
                .into_iter()
                .map(|o| {
                    let s = subject_of(&o);
                    ((s.kind, s.namespace.unwrap_or_default(), s.name), o)
                })
                .collect();
            snap.members.insert(member, objects);
        }
        snap
    })
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Ok when every expectation of `case` holds in `snap`; otherwise the first that does not.
fn check(case: &Case, snap: &Snapshot) -> Result<(), String> {
    let subject = &case.subject;
    let obj = snap.host.get(subject).ok_or("not found on the host")?;
    if !subject.is_cluster() && obj["status"]["observedGeneration"] != obj["metadata"]["generation"] {
        return Err("the current generation is not reconciled yet".into());
    }
    let expected_conditions: Vec<&str> = case
        .expects
        .iter()
        .filter_map(|e| match e {
            Expect::Condition { type_, .. } => Some(type_.as_str()),
            _ => None,
        })
        .collect();
    for expect in &case.expects {
        let fail = |actual: String| Err(format!("{expect:?}, found {actual}"));
        match expect {
            Expect::Propagation { status, reason } => {
                let c = condition(obj, "Propagation").cloned().unwrap_or_default();
                if c["status"] != status.as_str() || reason.as_deref().is_some_and(|r| c["reason"] != r) {
                    return fail(format!("{}/{}", c["status"], c["reason"]));
                }
            }
            Expect::Cluster { cluster, state } => {
                let entry = obj["status"]["clusters"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["name"] == cluster.as_str()));
                let actual = match entry {
                    None => "absent".to_string(),
                    Some(c) => c["status"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .unwrap_or("ok")
                        .to_string(),
                };
                if &actual != state {
                    return fail(actual);
                }
            }
            Expect::Condition { type_, status, reason } => {
                let c = condition(obj, type_).cloned().unwrap_or_default();
                if c["status"] != status.as_str() || c["reason"] != reason.as_str() {
                    return fail(format!("{}/{} ({})", c["status"], c["reason"], c["message"]));
                }
            }
            Expect::Message(text) => {
                let types = if subject.is_cluster() {
                    if expected_conditions.is_empty() {
                        vec!["Ready"]
                    } else {
                        expected_conditions.clone()
                    }
                } else {
                    vec!["Propagation"]
                };
                for type_ in types {
                    let message = condition(obj, type_)
                        .and_then(|c| c["message"].as_str())
                        .unwrap_or_default();
                    if !message.contains(text.as_str()) {
                        return fail(format!("{type_} message {message:?}"));
                    }
                }
            }
            Expect::Event { type_, reason, text } => {
                let about: Vec<&Value> = snap
                    .events
                    .iter()
                    .filter(|e| {
                        e["regarding"]["kind"] == subject.kind.as_str()
                            && e["regarding"]["name"] == subject.name.as_str()
                            && e["regarding"]["namespace"].as_str() == subject.namespace.as_deref()
                    })
                    .collect();
                let found = about.iter().any(|e| {
                    e["type"] == type_.as_str()
                        && e["reason"] == reason.as_str()
                        && e["note"].as_str().is_some_and(|n| n.contains(text.as_str()))
                });
                if !found {
                    let seen: Vec<String> = about
                        .iter()
                        .map(|e| format!("{}/{}: {}", e["type"], e["reason"], e["note"]))
                        .collect();
                    return fail(format!("events {seen:?}"));
                }
            }
            Expect::Member { cluster, present } => {
                let key = (
                    subject.target_kind().unwrap_or_default().to_string(),
                    subject.namespace.clone().unwrap_or_default(),
                    subject.name.clone(),
                );
                let exists = snap.members.get(cluster).is_some_and(|m| m.contains_key(&key));
                if exists != *present {
                    return fail(format!("present={exists}"));
                }
            }
        }
    }
    Ok(())
}

/// Objects that must converge while the corpus is being reported; `version` changes them.
fn healthy(phase: &str, version: u32) -> Vec<(Subject, String, BTreeMap<&'static str, Value>)> {
    let placement = "  placement:\n    clusters: [{name: member1}, {name: member2}]\n";
    let subject = |kind: &str, name: String| Subject {
        kind: kind.into(),
        namespace: Some(NS.into()),
        name,
    };
    let cm = format!("healthy-{phase}-cm");
    let deploy = format!("healthy-{phase}-deploy");
    let svc = format!("healthy-{phase}-svc");
    let both = |v: Value| BTreeMap::from([("member1", v.clone()), ("member2", v)]);
    vec![
        (
            subject("FederatedConfigMap", cm.clone()),
            format!(
                "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedConfigMap\nmetadata: {{name: {cm}, namespace: {NS}}}\nspec:\n{placement}  template:\n    data: {{version: v{version}}}\n"
            ),
            both(json!({"data": {"version": format!("v{version}")}})),
        ),
        (
            subject("FederatedDeployment", deploy.clone()),
            format!(
                "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedDeployment\nmetadata: {{name: {deploy}, namespace: {NS}}}\nspec:\n{placement}  template:\n    spec:\n      replicas: {version}\n      selector: {{matchLabels: {{app: {deploy}}}}}\n      template:\n        metadata: {{labels: {{app: {deploy}}}}}\n        spec: {{containers: [{{name: web, image: nginx}}]}}\n  overrides:\n  - clusterName: member1\n    clusterOverrides:\n    - {{path: /spec/replicas, value: {}}}\n",
                version + 10
            ),
            BTreeMap::from([
                ("member1", json!({"spec": {"replicas": version + 10}})),
                ("member2", json!({"spec": {"replicas": version}})),
            ]),
        ),
        (
            subject("FederatedService", svc.clone()),
            format!(
                "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedService\nmetadata: {{name: {svc}, namespace: {NS}}}\nspec:\n{placement}  template:\n    metadata: {{labels: {{version: v{version}}}}}\n    spec:\n      selector: {{app: web}}\n      ports: [{{port: 80}}]\n"
            ),
            both(json!({"metadata": {"labels": {"version": format!("v{version}")}}})),
        ),
    ]
}

/// True when the federated object reports both members in sync and both hold what it wants.
fn converged(snap: &Snapshot, subject: &Subject, wanted: &BTreeMap<&'static str, Value>) -> bool {
    let Some(obj) = snap.host.get(subject) else {
        return false;
    };
    let (condition, clusters) = common::propagation(obj);
    obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        && condition.as_deref() == Some("True")
        && clusters.iter().filter(|(_, s)| s.is_empty()).count() == wanted.len()
        && wanted.iter().all(|(member, want)| {
            let key = (
                subject.target_kind().unwrap_or_default().to_string(),
                NS.to_string(),
                subject.name.clone(),
            );
            snap.members
                .get(*member)
                .and_then(|m| m.get(&key))
                .is_some_and(|live| contains(live, want))
        })
}

/// Deletes the corpus's KubeFedClusters and their Secrets (also after a failure: a
/// joined unready cluster would block every deletion of a federated object).
fn delete_bad_clusters(tb: &Testbed) {
    for resource in ["kubefedclusters", "secrets"] {
        let names = tb.kubectl("host", &["get", resource, "-n", FED_NS, "-o", "name"]);
        let names: Vec<String> = String::from_utf8_lossy(&names.stdout)
            .lines()
            .filter(|l| l.split('/').nth(1).is_some_and(|n| n.starts_with("badinput-")))
            .map(str::to_string)
            .collect();
        if !names.is_empty() {
            let mut args = vec!["delete", "-n", FED_NS, "--ignore-not-found", "--wait=true"];
            args.extend(names.iter().map(String::as_str));
            let _ = tb.kubectl("host", &args);
        }
    }
}

/// Removes what the test created, with the controller still running so that it can
/// release the finalizers: the bad clusters first (a joined unready cluster blocks
/// every deletion), then the federated objects. Also runs when the test fails.
struct Cleanup<'a> {
    tb: &'a Testbed,
    kinds: String,
    namespaces: Vec<String>,
    done: bool,
}

impl Cleanup<'_> {
    fn run(&mut self, strict: bool) {
        self.done = true;
        delete_bad_clusters(self.tb);
        for ns in &self.namespaces {
            let args = ["delete", &self.kinds, "--all", "-n", ns, "--wait=true", "--timeout=60s"];
            let out = self.tb.kubectl("host", &args);
            assert!(
                !strict || out.status.success(),
                "deleting the objects in {ns} failed: {}",
                stderr(&out)
            );
            let _ = self.tb.kubectl(
                "host",
                &["delete", "namespace", ns, "--ignore-not-found", "--wait=false"],
            );
        }
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.run(false);
        }
    }
}

#[test]
fn bad_input_corpus_is_reported_while_everything_else_converges() {
    let started = Instant::now();
    let tb = Testbed::connect();
    let members = tb.federate();
    delete_bad_clusters(&tb);
    let member1 = tb
        .get("host", "kubefedcluster", Some(FED_NS), "member1")
        .expect("member1 joined");
    let placeholders = Placeholders {
        endpoint: member1["spec"]["apiEndpoint"].as_str().expect("apiEndpoint").into(),
        ca: member1["spec"]["caBundle"].as_str().expect("caBundle").into(),
    };
    let cases: Vec<Case> = yaml_files(&repo_root().join("tests/bad-input"))
        .iter()
        .map(|f| load(f, &placeholders))
        .collect();
    let admission = yaml_files(&repo_root().join("tests/admission/invalid")).len();
    assert!(
        cases.len() >= 25,
        "the runtime corpus has only {} manifests",
        cases.len()
    );
    let subjects: BTreeSet<&Subject> = cases.iter().map(|c| &c.subject).collect();
    assert_eq!(subjects.len(), cases.len(), "every manifest has its own subject");

    // Kinds and namespaces the polling has to read.
    let mut federated: BTreeSet<String> = cases
        .iter()
        .filter(|c| !c.subject.is_cluster())
        .map(|c| c.subject.kind.to_lowercase())
        .collect();
    federated.extend(["federatedconfigmap", "federateddeployment", "federatedservice"].map(String::from));
    let targets: Vec<String> = federated
        .iter()
        .map(|k| k.trim_start_matches("federated").to_string())
        .collect();
    let (federated, targets) = (federated.into_iter().collect::<Vec<_>>().join(","), targets.join(","));
    let mut namespaces: BTreeSet<String> = cases
        .iter()
        .filter(|c| !c.subject.is_cluster())
        .filter_map(|c| c.subject.namespace.clone())
        .collect();
    namespaces.insert(NS.into());
    let namespaces: Vec<String> = namespaces.into_iter().collect();

    let controller = Controller::start(&tb, "bad-input", &[]);
    // Declared after the controller, so dropped (run) before it is killed.
    let mut cleanup = Cleanup {
        tb: &tb,
        kinds: format!("{federated},federatednamespace"),
        namespaces: namespaces.clone(),
        done: false,
    };
    // Leftovers of a failed run go first, while the controller can release their finalizers.
    cleanup.run(false);
    cleanup.done = false;
    tb.federated_namespace(NS, &members);
    for ns in namespaces.iter().filter(|n| *n != NS) {
        tb.fresh_namespace("host", ns); // not federated
    }
    let poll = || snapshot(&tb, &federated, &namespaces, &targets, &members);

    let before = healthy("before", 1);
    for (_, yaml, _) in &before {
        tb.apply("host", yaml);
    }
    eventually(
        "the healthy objects applied before the corpus to converge",
        WAIT,
        || {
            let snap = poll();
            before
                .iter()
                .all(|(s, _, want)| converged(&snap, s, want))
                .then_some(())
        },
    );

    // One kubectl for the whole corpus (each call costs about a second here); if something
    // is refused, apply file by file to name it.
    let apply = ["apply", "--server-side", "--force-conflicts", "-f", "-"];
    let corpus: Vec<&str> = cases.iter().map(|c| c.yaml.as_str()).collect();
    if !tb
        .kubectl_stdin("host", &apply, Some(&corpus.join("\n---\n")))
        .status
        .success()
    {
        for case in &cases {
            let out = tb.kubectl_stdin("host", &apply, Some(&case.yaml));
            assert!(
                out.status.success(),
                "{}: kubectl apply refused it (it belongs in tests/admission/invalid): {}",
                case.file,
                stderr(&out)
            );
        }
    }
    let applied = Instant::now();

    // Every case is judged in each round; a case passes once all its expectations hold together.
    let mut passed: BTreeMap<&str, Duration> = BTreeMap::new();
    let mut last_errors: BTreeMap<&str, String> = BTreeMap::new();
    while passed.len() < cases.len() && applied.elapsed() < CORPUS_WAIT {
        let snap = poll();
        for case in &cases {
            if passed.contains_key(case.file.as_str()) {
                continue;
            }
            match check(case, &snap) {
                Ok(()) => {
                    passed.insert(&case.file, applied.elapsed());
                }
                Err(e) => {
                    last_errors.insert(&case.file, e);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| !passed.contains_key(c.file.as_str()))
        .map(|c| {
            format!(
                "{}: {}",
                c.file,
                last_errors.get(c.file.as_str()).map_or("", String::as_str)
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus manifests were not reported as expected within {CORPUS_WAIT:?}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    for (file, took) in &passed {
        println!("reported  {file}  after {:.1} s", took.as_secs_f64());
    }

    // Everything else keeps converging: new objects, and changes to the earlier ones.
    let after = healthy("after", 1);
    let before_changed = healthy("before", 2);
    for (_, yaml, _) in after.iter().chain(&before_changed) {
        tb.apply("host", yaml);
    }
    let all: Vec<_> = before_changed.iter().chain(&after).collect();
    let mut converged_count = 0;
    eventually("the healthy objects to converge next to the corpus", WAIT, || {
        let snap = poll();
        converged_count = all.iter().filter(|(s, _, want)| converged(&snap, s, want)).count();
        (converged_count == all.len()).then_some(())
    });
    for name in &members {
        let cluster = tb
            .get("host", "kubefedcluster", Some(FED_NS), name)
            .expect("still joined");
        assert_eq!(
            condition(&cluster, "Ready").map(|c| c["status"].clone()),
            Some(json!("True")),
            "{name} is still ready"
        );
    }
    let log = std::fs::read_to_string(&controller.log).unwrap_or_default();
    let panics = log.matches("panicked").count();
    assert_eq!(panics, 0, "the controller panicked:\n{log}");

    cleanup.run(true);
    controller.stop(); // fails on a panic or an unclean exit
    let runtime = cases.len();
    println!(
        "bad-input: {} manifests ({admission} refused at apply in tests/admission/invalid, {runtime} reported at runtime), panics={panics}, healthy objects converged={converged_count}/{} ({:.0} s)",
        admission + runtime,
        all.len(),
        started.elapsed().as_secs_f64()
    );
}
