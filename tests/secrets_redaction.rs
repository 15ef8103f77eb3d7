//! No Secret value and no credential ever appears in what kfed writes or serves:
//! its log (at debug level, kube's too), the Events of every namespace in every
//! cluster, its `/metrics`, and the status of the federated objects and clusters.
//! FederatedSecrets with distinctive random values propagate, and fail in every way
//! that makes an API server quote what it was sent (overrides of the wrong type,
//! invalid base64, a type the member validates, an update the member refuses),
//! next to a cluster whose token the member rejects.

mod common;

use common::{Controller, Testbed, eventually, free_port, message, propagation};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const NS: &str = "kfed-t-secrets";
const FED_NS: &str = "kube-federation-system";

/// 16 random bytes from the kernel, hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("base64")
}

fn unbase64(s: &str) -> Vec<u8> {
    serde_json::from_value::<k8s_openapi::ByteString>(Value::String(s.into()))
        .expect("base64")
        .0
}

fn secret(name: &str, template: &str, overrides: &str) -> String {
    format!(
        "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedSecret\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  placement:\n    clusters: [{{name: member1}}, {{name: member2}}]\n  template: {template}\n{overrides}"
    )
}

fn member1_overrides(ops: &str) -> String {
    format!("  overrides:\n  - clusterName: member1\n    clusterOverrides: {ops}\n")
}

fn wait_status(tb: &Testbed, name: &str, member1: &str, member2: &str) -> Value {
    eventually(
        &format!("federatedsecret {name}: member1 {member1:?}, member2 {member2:?}"),
        WAIT,
        || {
            let obj = tb.get("host", "federatedsecret", Some(NS), name)?;
            let (_, clusters) = propagation(&obj);
            (clusters == [("member1".into(), member1.into()), ("member2".into(), member2.into())]).then_some(obj)
        },
    )
}

/// GET of a path on the controller's metrics endpoint; the body.
fn http_get(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "GET {path}: {response}");
    response
}

#[test]
fn secret_values_and_tokens_never_reach_logs_events_metrics_or_status() {
    let tb = Testbed::connect();
    let members = tb.federate();
    assert_eq!(members[..2], ["member1", "member2"]);
    tb.federated_namespace(NS, &members);

    // Distinctive values, one per way of failing; the numeric one is all digits.
    let values: Vec<String> = (0..7).map(|i| format!("kfedsecret{i}{}", random_hex())).collect();
    let number: String = random_hex()
        .bytes()
        .map(|b| char::from(b'1' + b % 9))
        .take(15)
        .collect();
    let [data, string_data, nested, listed, not_base64, docker, update] = [0, 1, 2, 3, 4, 5, 6].map(|i| &values[i]);

    // A cluster whose token the member rejects, pointing at member1.
    let member1 = tb
        .get("host", "kubefedcluster", Some(FED_NS), "member1")
        .expect("member1 joined");
    let bad_token = format!("kfedtoken{}", random_hex());
    tb.apply(
        "host",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: kfed-t-secrets-badtoken, namespace: {FED_NS}}}\nstringData: {{token: {bad_token}}}\n---\n\
             apiVersion: core.kubefed.io/v1beta1\nkind: KubeFedCluster\nmetadata: {{name: kfed-t-secrets-badtoken, namespace: {FED_NS}}}\n\
             spec: {{apiEndpoint: '{}', caBundle: '{}', secretRef: {{name: kfed-t-secrets-badtoken}}}}\n",
            member1["spec"]["apiEndpoint"].as_str().expect("apiEndpoint"),
            member1["spec"]["caBundle"].as_str().expect("caBundle"),
        ),
    );

    // Unjoined however the test ends: a joined, unready cluster would block later deletions.
    let _unjoin = Unjoin(&tb);

    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let controller = Controller::start(
        &tb,
        "secrets",
        &["--log", "debug,kube=debug", "--metrics-bind-address", &address],
    );

    let data_b64 = base64(data.as_bytes());
    tb.apply(
        "host",
        &secret(
            "plain",
            &format!("{{data: {{d: {data_b64}}}, stringData: {{s: {string_data}}}}}"),
            "",
        ),
    );
    let failing = [
        // The API server quotes a value of the wrong type it was sent.
        (
            "nested-value",
            secret(
                "nested-value",
                "{data: {k: YQ==}}",
                &member1_overrides(&format!("[{{path: /data/k, value: {{nested: {nested}}}}}]")),
            ),
            "CreationFailed",
        ),
        (
            "number-value",
            secret(
                "number-value",
                "{data: {k: YQ==}}",
                &member1_overrides(&format!("[{{op: add, path: /data/n, value: {number}}}]")),
            ),
            "CreationFailed",
        ),
        (
            "list-value",
            secret(
                "list-value",
                "{stringData: {k: a}}",
                &member1_overrides(&format!("[{{path: /stringData/k, value: [{listed}]}}]")),
            ),
            "CreationFailed",
        ),
        (
            "not-base64",
            secret(
                "not-base64",
                "{data: {k: YQ==}}",
                &member1_overrides(&format!("[{{path: /data/k, value: '{not_base64}!!'}}]")),
            ),
            "CreationFailed",
        ),
        // A Secret type the member validates: both members reject it.
        (
            "docker",
            secret(
                "docker",
                &format!("{{type: kubernetes.io/dockerconfigjson, stringData: {{.dockerconfigjson: {docker}}}}}"),
                "",
            ),
            "CreationFailed",
        ),
    ];
    for (_, yaml, _) in &failing {
        tb.apply("host", yaml);
    }
    wait_status(&tb, "plain", "", "");
    for m in &members[..2] {
        let s = tb.get(m, "secret", Some(NS), "plain").expect("plain propagated");
        assert_eq!(s["data"]["d"], data_b64.as_str(), "{m}");
        assert_eq!(s["data"]["s"], base64(string_data.as_bytes()).as_str(), "{m}");
    }
    let mut statuses = Vec::new();
    for (name, _, state) in &failing {
        let member2 = if *name == "docker" { *state } else { "" };
        statuses.push(wait_status(&tb, name, state, member2));
    }
    // An update the member refuses: `plain` gets a value of the wrong type in member1.
    tb.apply(
        "host",
        &secret(
            "plain",
            &format!("{{data: {{d: {data_b64}}}, stringData: {{s: {string_data}}}}}"),
            &member1_overrides(&format!("[{{path: /data/d, value: {{v: {update}}}}}]")),
        ),
    );
    statuses.push(wait_status(&tb, "plain", "UpdateFailed", ""));
    // The messages still say what is wrong, without the value.
    let nested_message = message(&statuses[0]);
    assert!(nested_message.contains(".data.k: expected string"), "{nested_message}");
    eventually("the bad-token cluster to be reported not ready", WAIT, || {
        let c = tb.get("host", "kubefedcluster", Some(FED_NS), "kfed-t-secrets-badtoken")?;
        c["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "False")
            .then_some(())
    });
    // A few more reconciles and probes (retries back off from 1 s) before reading everything.
    std::thread::sleep(Duration::from_secs(5));

    // What must never appear: every value as written and base64-encoded, the member
    // tokens of `kfed join`, the bad token, and the operator's own host token.
    let mut needles: Vec<(String, String)> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        needles.push((format!("value {i}"), v.clone()));
        needles.push((format!("value {i} in base64"), base64(v.as_bytes())));
    }
    needles.push(("number".into(), number.clone()));
    needles.push(("number in base64".into(), base64(number.as_bytes())));
    for m in &members {
        let credentials = tb
            .get("host", "secret", Some(FED_NS), &format!("kfed-{m}-credentials"))
            .expect("joined member's credentials");
        let encoded = credentials["data"]["token"].as_str().expect("token").to_string();
        let token = String::from_utf8(unbase64(&encoded)).expect("utf-8 token");
        let signature = token.rsplit('.').next().expect("JWT").to_string();
        assert!(signature.len() > 40, "{m}: the token is a JWT");
        needles.push((format!("{m} token"), token));
        needles.push((format!("{m} token in base64"), encoded));
        needles.push((format!("{m} token signature"), signature));
    }
    needles.push(("bad token".into(), bad_token.clone()));
    needles.push(("bad token in base64".into(), base64(bad_token.as_bytes())));
    let operator: Value =
        serde_json::from_str(&std::fs::read_to_string(tb.operator_kubeconfig()).expect("operator kubeconfig"))
            .expect("JSON kubeconfig");
    let operator_token = operator["users"][0]["user"]["token"].as_str().expect("token");
    needles.push(("operator token".into(), operator_token.to_string()));
    needles.push((
        "operator token signature".into(),
        operator_token.rsplit('.').next().expect("JWT").to_string(),
    ));

    // Where they must not appear.
    let mut haystacks: Vec<(String, String)> = Vec::new();
    let metrics = http_get(port, "/metrics");
    assert!(metrics.contains("kfed_member_operations_total"), "{metrics}");
    haystacks.push(("/metrics".into(), metrics));
    for context in std::iter::once("host").chain(members.iter().map(String::as_str)) {
        for resource in ["events", "events.events.k8s.io"] {
            let events = tb.kubectl_ok(context, &["get", resource, "-A", "-o", "json"]);
            haystacks.push((format!("{context} {resource}"), events));
        }
    }
    let host_events: Value = serde_json::from_str(&haystacks[1].1).expect("JSON");
    for (name, _, state) in &failing {
        assert!(
            host_events["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|e| { e["involvedObject"]["name"] == *name && e["reason"] == *state && e["type"] == "Warning" }),
            "a Warning Event {state} for {name} was published (so its message is scanned)"
        );
    }
    let secrets = tb.kubectl_ok("host", &["get", "federatedsecrets", "-n", NS, "-o", "json"]);
    let secrets: Value = serde_json::from_str(&secrets).expect("JSON");
    for s in secrets["items"].as_array().expect("items") {
        haystacks.push((format!("status of {}", s["metadata"]["name"]), s["status"].to_string()));
    }
    let clusters = tb.kubectl_ok("host", &["get", "kubefedclusters", "-n", FED_NS, "-o", "json"]);
    let clusters: Value = serde_json::from_str(&clusters).expect("JSON");
    for c in clusters["items"].as_array().expect("items") {
        haystacks.push((
            format!("status of KubeFedCluster {}", c["metadata"]["name"]),
            c["status"].to_string(),
        ));
    }
    let log_path = controller.log.clone();
    controller.stop();
    let log = std::fs::read_to_string(&log_path).expect("controller log");
    assert!(
        log.contains("DEBUG") && log.contains("kube_client"),
        "the controller logged at debug level, kube's client included"
    );
    haystacks.push(("controller log".into(), log));

    let mut leaks = Vec::new();
    for (where_, text) in &haystacks {
        for (what, needle) in &needles {
            if let Some(at) = text.find(needle.as_str()) {
                let start = text[..at].char_indices().rev().nth(150).map_or(0, |(i, _)| i);
                let context: String = text[start..].chars().take(300 + needle.len()).collect();
                leaks.push(format!("{what} in {where_}: ...{context}..."));
            }
        }
    }
    let bytes: usize = haystacks.iter().map(|(_, t)| t.len()).sum();
    eprintln!(
        "secrets: {} strings searched in {} texts, {bytes} bytes ({} of log, {} of Events, {} of metrics)",
        needles.len(),
        haystacks.len(),
        haystacks.last().map_or(0, |(_, t)| t.len()),
        haystacks
            .iter()
            .filter(|(w, _)| w.contains("events"))
            .map(|(_, t)| t.len())
            .sum::<usize>(),
        haystacks[0].1.len(),
    );
    assert!(leaks.is_empty(), "secret material leaked:\n{}", leaks.join("\n\n"));

    // Clean up: the objects first (their finalizers need a running controller), then the rest.
    let cleanup = Controller::start(&tb, "secrets-cleanup", &[]);
    drop(_unjoin);
    tb.delete_namespace("host", NS);
    for m in &members {
        eventually(&format!("{m}: namespace {NS} removed by kfed"), WAIT, || {
            tb.get(m, "namespace", None, NS).is_none().then_some(())
        });
    }
    cleanup.stop();
}

struct Unjoin<'a>(&'a Testbed);

impl Drop for Unjoin<'_> {
    fn drop(&mut self) {
        let _ = self.0.kubectl(
            "host",
            &[
                "delete",
                "kubefedcluster,secret",
                "kfed-t-secrets-badtoken",
                "-n",
                FED_NS,
                "--ignore-not-found",
            ],
        );
    }
}
