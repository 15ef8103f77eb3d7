//! The sync controller on the real testbed, driven with kubectl: the behaviours
//! users rely on (KubeFed's) and the defects kfed fixes.

mod common;

use common::{Controller, Testbed, eventually, propagation};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn configmap(ns: &str, name: &str, clusters: &[&str], data: Value, extra_spec: &str) -> String {
    let clusters: Vec<String> = clusters.iter().map(|c| format!("{{name: {c}}}")).collect();
    format!(
        "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  template:\n    metadata: {{labels: {{app: test}}}}\n    data: {data}\n  placement:\n    clusters: [{}]\n{extra_spec}",
        clusters.join(", ")
    )
}

fn wait_data(tb: &Testbed, cluster: &str, ns: &str, name: &str, key: &str, value: &str) {
    eventually(
        &format!("{cluster}: configmap {ns}/{name} data.{key}={value}"),
        WAIT,
        || {
            let cm = tb.get(cluster, "configmap", Some(ns), name)?;
            (cm["data"][key] == value).then_some(())
        },
    );
}

fn wait_gone(tb: &Testbed, cluster: &str, resource: &str, ns: Option<&str>, name: &str) {
    eventually(&format!("{cluster}: {resource} {name} to be gone"), WAIT, || {
        tb.get(cluster, resource, ns, name).is_none().then_some(())
    });
}

fn wait_propagated(tb: &Testbed, resource: &str, ns: &str, name: &str, expect: &[(&str, &str)]) -> Value {
    eventually(&format!("{resource} {ns}/{name} status {expect:?}"), WAIT, || {
        let obj = tb.get("host", resource, Some(ns), name)?;
        let (condition, clusters) = propagation(&obj);
        let want: Vec<(String, String)> = expect.iter().map(|(c, s)| (c.to_string(), s.to_string())).collect();
        let ok = want.iter().all(|w| clusters.contains(w))
            && condition.as_deref()
                == Some(if expect.iter().all(|(_, s)| s.is_empty()) {
                    "True"
                } else {
                    "False"
                });
        ok.then_some(obj)
    })
}

#[test]
fn the_kubefed_sample_converges() {
    let tb = Testbed::connect();
    let members = tb.federate();
    for (member, region) in members.iter().zip(["eu", "us"]) {
        tb.kubectl_ok(
            "host",
            &[
                "label",
                "kubefedcluster",
                member,
                "-n",
                "kube-federation-system",
                &format!("region={region}"),
                "kfed.io/environment=demo",
                "--overwrite",
            ],
        );
    }
    let controller = Controller::start(&tb, "sample", &[]);
    tb.kubectl_ok(
        "host",
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-k",
            common::repo_root().join("config/samples").to_str().expect("utf-8"),
        ],
    );

    // The seed document's FederatedDeployment: member1 gets the overrides, member2 the template.
    let m1 = eventually("nginx with member1's overrides", WAIT, || {
        let d = tb.get("member1", "deployment", Some("kfed-demo"), "nginx")?;
        (d["spec"]["replicas"] == 5).then_some(d)
    });
    let container = &m1["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.17.0-alpine");
    assert_eq!(container["args"][0], "-q", "args/0 add inserts at the front");
    assert!(
        m1["metadata"]["annotations"].get("foo").is_none(),
        "add then remove of annotations/foo leaves it absent"
    );
    assert_eq!(m1["metadata"]["labels"]["kubefed.io/managed"], "true");
    let m2 = eventually("nginx in member2", WAIT, || {
        tb.get("member2", "deployment", Some("kfed-demo"), "nginx")
    });
    assert_ne!(
        m2["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.17.0-alpine",
        "member2 has no overrides"
    );
    wait_propagated(
        &tb,
        "federateddeployment",
        "kfed-demo",
        "nginx",
        &[("member1", ""), ("member2", "")],
    );

    for (resource, name) in [
        ("service", "nginx"),
        ("secret", "demo-credentials"),
        ("serviceaccount", "demo-reader"),
    ] {
        for member in &members {
            eventually(&format!("{member}: {resource} {name}"), WAIT, || {
                tb.get(member, resource, Some("kfed-demo"), name)
            });
        }
    }
    // The FederatedConfigMap selects clusters by the labels set above.
    eventually("the selector-placed ConfigMap in every member", WAIT, || {
        members
            .iter()
            .all(|m| tb.get(m, "configmap", Some("kfed-demo"), "nginx-settings").is_some())
            .then_some(())
    });
    controller.stop();
}

#[test]
fn drift_is_reverted_and_deleted_objects_come_back() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-drift";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "drift", &[]);
    tb.apply(
        "host",
        &configmap(ns, "cfg", &["member1", "member2"], json!({"k": "v"}), ""),
    );
    wait_data(&tb, "member1", ns, "cfg", "k", "v");

    tb.kubectl_ok(
        "member1",
        &[
            "patch",
            "configmap",
            "cfg",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"data":{"k":"edited"}}"#,
        ],
    );
    wait_data(&tb, "member1", ns, "cfg", "k", "v");

    tb.kubectl_ok(
        "member1",
        &["label", "configmap", "cfg", "-n", ns, "kubefed.io/managed-"],
    );
    eventually("the managed label to come back", WAIT, || {
        let cm = tb.get("member1", "configmap", Some(ns), "cfg")?;
        (cm["metadata"]["labels"]["kubefed.io/managed"] == "true").then_some(())
    });

    tb.kubectl_ok("member2", &["delete", "configmap", "cfg", "-n", ns]);
    wait_data(&tb, "member2", ns, "cfg", "k", "v");
    controller.stop();
}

#[test]
fn placement_overrides_and_deletion() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-placement";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "placement", &[]);
    let overrides =
        "  overrides:\n  - clusterName: member2\n    clusterOverrides:\n    - {path: /data/k, value: for-member2}\n";
    tb.apply(
        "host",
        &configmap(ns, "cfg", &["member1", "member2"], json!({"k": "v"}), overrides),
    );
    wait_data(&tb, "member1", ns, "cfg", "k", "v");
    wait_data(&tb, "member2", ns, "cfg", "k", "for-member2");
    let obj = wait_propagated(
        &tb,
        "federatedconfigmap",
        ns,
        "cfg",
        &[("member1", ""), ("member2", "")],
    );
    assert_eq!(obj["status"]["observedGeneration"], obj["metadata"]["generation"]);

    // A bad override fails only its cluster, with KubeFed's reason and a message naming it.
    let bad =
        "  overrides:\n  - clusterName: member2\n    clusterOverrides:\n    - {path: /data/missing/deeper, value: x}\n";
    tb.apply(
        "host",
        &configmap(ns, "cfg", &["member1", "member2"], json!({"k": "v2"}), bad),
    );
    wait_data(&tb, "member1", ns, "cfg", "k", "v2");
    let obj = wait_propagated(
        &tb,
        "federatedconfigmap",
        ns,
        "cfg",
        &[("member1", ""), ("member2", "ApplyOverridesFailed")],
    );
    let message = obj["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("cluster member2: override 0 (/data/missing/deeper)"),
        "{message}"
    );
    let events = tb.kubectl_ok("host", &["get", "events", "-n", ns, "-o", "json"]);
    assert!(
        events.contains("ApplyOverridesFailed"),
        "a Warning event reports the failed override"
    );

    // Leaving the placement removes the object there.
    tb.apply("host", &configmap(ns, "cfg", &["member1"], json!({"k": "v3"}), ""));
    wait_gone(&tb, "member2", "configmap", Some(ns), "cfg");
    wait_data(&tb, "member1", ns, "cfg", "k", "v3");

    // Deletion removes member objects before the federated object goes.
    tb.kubectl_ok(
        "host",
        &[
            "delete",
            "federatedconfigmap",
            "cfg",
            "-n",
            ns,
            "--wait=true",
            "--timeout=60s",
        ],
    );
    assert!(
        tb.get("member1", "configmap", Some(ns), "cfg").is_none(),
        "gone from member1 once the federated object is gone"
    );
    controller.stop();
}

#[test]
fn orphaning_keeps_member_objects() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-orphan";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "orphan", &[]);
    tb.apply(
        "host",
        &configmap(ns, "kept", &["member1", "member2"], json!({"k": "v"}), ""),
    );
    wait_data(&tb, "member2", ns, "kept", "k", "v");
    tb.kubectl_ok(
        "host",
        &[
            "annotate",
            "federatedconfigmap",
            "kept",
            "-n",
            ns,
            "kubefed.io/orphan=true",
        ],
    );
    tb.kubectl_ok(
        "host",
        &[
            "delete",
            "federatedconfigmap",
            "kept",
            "-n",
            ns,
            "--wait=true",
            "--timeout=60s",
        ],
    );
    for member in &members {
        let cm = tb
            .get(member, "configmap", Some(ns), "kept")
            .expect("orphaned object stays");
        assert!(
            cm["metadata"]["labels"].get("kubefed.io/managed").is_none(),
            "the managed label is stripped: {cm}"
        );
        assert_eq!(cm["data"]["k"], "v");
    }
    controller.stop();
}

#[test]
fn adoption_and_managed_false() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-adopt";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "adopt", &[]);
    eventually("the namespace in member1", WAIT, || {
        tb.get("member1", "namespace", None, ns)
    });
    eventually("the namespace in member2", WAIT, || {
        tb.get("member2", "namespace", None, ns)
    });
    tb.kubectl_ok(
        "member1",
        &["create", "configmap", "pre", "-n", ns, "--from-literal=k=old"],
    );
    tb.kubectl_ok(
        "member2",
        &["create", "configmap", "pre", "-n", ns, "--from-literal=k=theirs"],
    );
    tb.kubectl_ok(
        "member2",
        &["label", "configmap", "pre", "-n", ns, "kubefed.io/managed=false"],
    );
    tb.apply(
        "host",
        &configmap(ns, "pre", &["member1", "member2"], json!({"k": "new"}), ""),
    );
    wait_data(&tb, "member1", ns, "pre", "k", "new");
    wait_propagated(
        &tb,
        "federatedconfigmap",
        ns,
        "pre",
        &[("member1", ""), ("member2", "ManagedLabelFalse")],
    );
    assert_eq!(
        tb.get("member2", "configmap", Some(ns), "pre").expect("exists")["data"]["k"],
        "theirs",
        "managed=false is never touched"
    );
    controller.stop();

    // With adoption off, a pre-existing object is reported, not taken.
    let controller = Controller::start(&tb, "no-adopt", &["--adopt-resources=false"]);
    tb.kubectl_ok(
        "member1",
        &["create", "configmap", "pre2", "-n", ns, "--from-literal=k=old"],
    );
    tb.apply("host", &configmap(ns, "pre2", &["member1"], json!({"k": "new"}), ""));
    wait_propagated(&tb, "federatedconfigmap", ns, "pre2", &[("member1", "AlreadyExists")]);
    assert_eq!(
        tb.get("member1", "configmap", Some(ns), "pre2").expect("exists")["data"]["k"],
        "old"
    );
    controller.stop();
}

#[test]
fn retain_replicas_keeps_member_scaling() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-retain";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "retain", &[]);
    let deployment = |retain: bool, replicas: u32, image: &str| {
        format!(
            "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedDeployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  retainReplicas: {retain}\n  placement: {{clusters: [{{name: member1}}]}}\n  template:\n    spec:\n      replicas: {replicas}\n      selector: {{matchLabels: {{app: web}}}}\n      template:\n        metadata: {{labels: {{app: web}}}}\n        spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n"
        )
    };
    let before = tb.writes("member1");
    tb.apply("host", &deployment(true, 2, "nginx:1"));
    eventually("web with 2 replicas", WAIT, || {
        (tb.get("member1", "deployment", Some(ns), "web")?["spec"]["replicas"] == 2).then_some(())
    });
    // One write creates it; a second one right after (a hash that covered replicas
    // at creation but not afterwards) could undo a scale made in between.
    std::thread::sleep(Duration::from_secs(2));
    let deployment_writes: u64 = tb
        .writes("member1")
        .iter()
        .filter(|(series, _)| series.contains("resource=\"deployments\""))
        .map(|(series, n)| n - before.get(series).copied().unwrap_or(0))
        .sum();
    assert_eq!(deployment_writes, 1, "member1 got exactly one Deployment write");
    tb.kubectl_ok("member1", &["scale", "deployment", "web", "-n", ns, "--replicas=7"]);
    tb.apply("host", &deployment(true, 2, "nginx:2"));
    let d = eventually("the new image", WAIT, || {
        let d = tb.get("member1", "deployment", Some(ns), "web")?;
        (d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2").then_some(d)
    });
    assert_eq!(d["spec"]["replicas"], 7, "retainReplicas keeps the member's replicas");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        tb.get("member1", "deployment", Some(ns), "web").expect("exists")["spec"]["replicas"],
        7
    );

    tb.apply("host", &deployment(false, 2, "nginx:2"));
    eventually("replicas back to the template", WAIT, || {
        (tb.get("member1", "deployment", Some(ns), "web")?["spec"]["replicas"] == 2).then_some(())
    });
    controller.stop();
}

#[test]
fn an_unreachable_member_does_not_hold_up_the_other() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-outage";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "outage", &[]);
    eventually("the namespace in member2", WAIT, || {
        tb.get("member2", "namespace", None, ns)
    });
    tb.launcher(&["stop", "member2"]);
    let restart = scopeguard(|| tb.launcher(&["start", "member2"]));
    eventually("member2 reported not ready", WAIT, || {
        let c = tb.get("host", "kubefedcluster", Some("kube-federation-system"), "member2")?;
        let ready = c["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?["status"]
            .clone();
        (ready == "False").then_some(())
    });
    tb.apply(
        "host",
        &configmap(ns, "during", &["member1", "member2"], json!({"k": "v"}), ""),
    );
    wait_data(&tb, "member1", ns, "during", "k", "v");
    wait_propagated(
        &tb,
        "federatedconfigmap",
        ns,
        "during",
        &[("member1", ""), ("member2", "ClusterNotReady")],
    );
    drop(restart);
    wait_data(&tb, "member2", ns, "during", "k", "v");
    wait_propagated(
        &tb,
        "federatedconfigmap",
        ns,
        "during",
        &[("member1", ""), ("member2", "")],
    );
    controller.stop();
}

#[test]
fn converged_federation_sends_no_writes_even_after_a_restart() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-quiet";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "quiet", &[]);
    for i in 0..20 {
        tb.apply(
            "host",
            &configmap(
                ns,
                &format!("cfg-{i}"),
                &["member1", "member2"],
                json!({"i": i.to_string()}),
                "",
            ),
        );
    }
    let deployment = format!(
        "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedDeployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  placement: {{clusters: [{{name: member1}}, {{name: member2}}]}}\n  template:\n    spec:\n      replicas: 1\n      selector: {{matchLabels: {{app: web}}}}\n      template:\n        metadata: {{labels: {{app: web}}}}\n        spec: {{containers: [{{name: web, image: nginx, ports: [{{containerPort: 80}}], resources: {{limits: {{cpu: 500m, memory: 64Mi}}}}}}]}}\n"
    );
    tb.apply("host", &deployment);
    let service = format!(
        "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedService\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  placement: {{clusters: [{{name: member1}}, {{name: member2}}]}}\n  template:\n    spec: {{selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
    );
    tb.apply("host", &service);
    for i in 0..20 {
        wait_propagated(
            &tb,
            "federatedconfigmap",
            ns,
            &format!("cfg-{i}"),
            &[("member1", ""), ("member2", "")],
        );
    }
    wait_propagated(
        &tb,
        "federateddeployment",
        ns,
        "web",
        &[("member1", ""), ("member2", "")],
    );
    wait_propagated(&tb, "federatedservice", ns, "web", &[("member1", ""), ("member2", "")]);
    std::thread::sleep(Duration::from_secs(3)); // let in-flight events settle

    let clusters: Vec<String> = std::iter::once("host".to_string())
        .chain(members.iter().cloned())
        .collect();
    let snapshot =
        || -> std::collections::BTreeMap<String, u64> { clusters.iter().flat_map(|c| tb.writes(c)).collect() };
    let before = snapshot();
    std::thread::sleep(Duration::from_secs(10));
    let idle = snapshot();
    let written = Testbed::writes_between(&before, &idle);
    assert!(written.is_empty(), "writes while converged:\n{}", written.join("\n"));

    controller.stop();
    let controller = Controller::start(&tb, "quiet-restart", &[]);
    std::thread::sleep(Duration::from_secs(10));
    let written = Testbed::writes_between(&idle, &snapshot());
    assert!(
        written.is_empty(),
        "writes after restarting over a converged federation:\n{}",
        written.join("\n")
    );
    let log = std::fs::read_to_string(&controller.log).unwrap_or_default();
    assert!(
        log.contains("sync controllers starting"),
        "the restarted controller really ran:\n{log}"
    );
    controller.stop();
}

/// Runs `f` when dropped, so a stopped member is started again even if an assertion fails.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

#[test]
fn cluster_conditions_follow_health_and_configuration() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let controller = Controller::start(&tb, "clusters", &[]);
    let fed_ns = "kube-federation-system";
    let member1 = tb
        .get("host", "kubefedcluster", Some(fed_ns), &members[0])
        .expect("joined");
    let endpoint = member1["spec"]["apiEndpoint"].as_str().expect("endpoint").to_string();
    let ca = member1["spec"]["caBundle"].as_str().expect("caBundle").to_string();
    let secret = member1["spec"]["secretRef"]["name"]
        .as_str()
        .expect("secret")
        .to_string();
    let cluster = |name: &str, secret: &str, spec: &str| {
        format!(
            "apiVersion: core.kubefed.io/v1beta1\nkind: KubeFedCluster\nmetadata: {{name: {name}, namespace: {fed_ns}}}\nspec:\n  secretRef: {{name: {secret}}}\n{spec}"
        )
    };
    let condition = |name: &str, type_: &str| -> Option<(String, String, String)> {
        let c = tb.get("host", "kubefedcluster", Some(fed_ns), name)?;
        let cond = c["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)?
            .clone();
        Some((
            cond["status"].as_str()?.into(),
            cond["reason"].as_str()?.into(),
            cond["message"].as_str().unwrap_or("").into(),
        ))
    };
    let cases = [
        // Skipping only the subject-name check still verifies the chain, and connects.
        (
            "tls-subject-name",
            secret.as_str(),
            format!("  apiEndpoint: {endpoint}\n  caBundle: {ca}\n  disabledTLSValidations: [SubjectName]\n"),
            "Ready",
            "True",
            "ClusterReady",
        ),
        (
            "unreachable",
            secret.as_str(),
            format!("  apiEndpoint: https://127.0.0.1:1\n  caBundle: {ca}\n"),
            "Offline",
            "True",
            "ClusterNotReachable",
        ),
        (
            "bad-endpoint",
            secret.as_str(),
            "  apiEndpoint: \"https://exa mple\"\n".to_string(),
            "ConfigMalformed",
            "True",
            "ClusterConfigMalformed",
        ),
        (
            "no-secret",
            "missing",
            format!("  apiEndpoint: {endpoint}\n"),
            "ConfigMalformed",
            "True",
            "ClusterConfigMalformed",
        ),
    ];
    for (name, secret_name, spec, type_, status, reason) in &cases {
        tb.apply("host", &cluster(name, secret_name, spec));
        let got = eventually(&format!("{name}: {type_}={status} ({reason})"), WAIT, || {
            condition(name, type_).filter(|(s, r, _)| s == status && r == reason)
        });
        assert!(!got.2.contains(&ca), "no secret material in messages");
    }
    for (name, ..) in &cases {
        tb.kubectl_ok("host", &["delete", "kubefedcluster", name, "-n", fed_ns]);
    }
    controller.stop();
}

#[test]
fn delete_options_reach_the_members() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-deleteoption";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "deleteoption", &[]);
    // A dependent object in member1, owned by the member ConfigMap: the member's garbage
    // collector deletes it unless the delete options say Orphan.
    for (name, option, dependent_survives) in [
        ("orphan-deps", r#"{"propagationPolicy":"Orphan"}"#, true),
        ("cascade", r#"{"propagationPolicy":"Background"}"#, false),
    ] {
        tb.apply("host", &configmap(ns, name, &["member1"], json!({"k": "v"}), ""));
        tb.kubectl_ok(
            "host",
            &[
                "annotate",
                "federatedconfigmap",
                name,
                "-n",
                ns,
                &format!("kubefed.io/deleteoption={option}"),
            ],
        );
        let owner = eventually(&format!("{name} in member1"), WAIT, || {
            tb.get("member1", "configmap", Some(ns), name)
        });
        let uid = owner["metadata"]["uid"].as_str().expect("uid").to_string();
        tb.apply(
            "member1",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-dependent\n  namespace: {ns}\n  ownerReferences: [{{apiVersion: v1, kind: ConfigMap, name: {name}, uid: {uid}}}]\n"),
        );
        tb.kubectl_ok(
            "host",
            &[
                "delete",
                "federatedconfigmap",
                name,
                "-n",
                ns,
                "--wait=true",
                "--timeout=60s",
            ],
        );
        assert!(tb.get("member1", "configmap", Some(ns), name).is_none());
        if dependent_survives {
            std::thread::sleep(Duration::from_secs(3));
            let dependent = tb
                .get("member1", "configmap", Some(ns), &format!("{name}-dependent"))
                .expect("orphaned dependent stays");
            assert!(
                dependent["metadata"]["ownerReferences"]
                    .as_array()
                    .is_none_or(|r| r.is_empty()),
                "{dependent}"
            );
        } else {
            wait_gone(&tb, "member1", "configmap", Some(ns), &format!("{name}-dependent"));
        }
    }
    // Malformed options are reported, and block nothing else.
    tb.apply(
        "host",
        &configmap(ns, "bad-option", &["member1"], json!({"k": "v"}), ""),
    );
    tb.kubectl_ok(
        "host",
        &[
            "annotate",
            "federatedconfigmap",
            "bad-option",
            "-n",
            ns,
            "kubefed.io/deleteoption={not json",
        ],
    );
    eventually("bad-option in member1", WAIT, || {
        tb.get("member1", "configmap", Some(ns), "bad-option")
    });
    tb.kubectl_ok(
        "host",
        &["delete", "federatedconfigmap", "bad-option", "-n", ns, "--wait=false"],
    );
    let obj = wait_propagated(
        &tb,
        "federatedconfigmap",
        ns,
        "bad-option",
        &[("member1", "DeletionFailed")],
    );
    assert!(
        obj["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("kubefed.io/deleteoption"),
        "{obj}"
    );
    tb.kubectl_ok(
        "host",
        &[
            "annotate",
            "federatedconfigmap",
            "bad-option",
            "-n",
            ns,
            "kubefed.io/deleteoption-",
        ],
    );
    wait_gone(&tb, "host", "federatedconfigmap", Some(ns), "bad-option");
    controller.stop();
}

#[test]
fn the_host_as_a_member_never_loses_its_own_namespace() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-hostmember";
    tb.federated_namespace(ns, &members);
    let join = |args: &[&str]| {
        let out = std::process::Command::new(common::kfed_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(&tb.kubeconfig)
            .output()
            .expect("kfed");
        assert!(out.status.success(), "kfed {args:?}: {}", common::stderr(&out));
    };
    join(&[
        "join",
        "self",
        "--cluster-context",
        "host",
        "--host-cluster-context",
        "host",
    ]);
    let controller = Controller::start(&tb, "hostmember", &[]);
    let placed = |clusters: &str| {
        format!(
            "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedNamespace\nmetadata: {{name: {ns}, namespace: {ns}}}\nspec:\n  placement:\n    clusters: [{clusters}]\n"
        )
    };
    tb.apply("host", &placed("{name: member1}, {name: self}"));
    eventually("the host namespace labelled as managed", WAIT, || {
        (tb.get("host", "namespace", None, ns)?["metadata"]["labels"]["kubefed.io/managed"] == "true").then_some(())
    });
    // Leaving the host: the namespace holding the federated objects must stay.
    tb.apply("host", &placed("{name: member1}"));
    eventually("the managed label removed, namespace kept", WAIT, || {
        let n = tb.get("host", "namespace", None, ns)?;
        (n["metadata"]["labels"].get("kubefed.io/managed").is_none()
            && n["metadata"].get("deletionTimestamp").is_none())
        .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        tb.get("host", "federatednamespace", Some(ns), ns).is_some(),
        "the FederatedNamespace survives"
    );
    controller.stop();
    join(&[
        "unjoin",
        "self",
        "--cluster-context",
        "host",
        "--host-cluster-context",
        "host",
    ]);
}

#[test]
fn two_replicas_with_leader_election_one_acts_and_the_other_takes_over() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-leader";
    tb.federated_namespace(ns, &members);
    let first = Controller::start(&tb, "leader-a", &["--leader-elect", "--identity", "replica-a"]);
    // A Lease left by a replica an earlier test killed expires first.
    eventually("replica-a to hold the Lease", Duration::from_secs(60), || {
        (lease_holder(&tb).as_deref() == Some("replica-a")).then_some(())
    });
    // The renewals are served in the leader-election priority level (config/flowcontrol),
    // not behind kfed's own status writes in workload-low.
    let dispatched = tb
        .kubectl_ok("host", &["get", "--raw", "/metrics"])
        .lines()
        .filter(|l| l.starts_with("apiserver_flowcontrol_dispatched_requests_total{"))
        .filter(|l| {
            l.contains("flow_schema=\"kfed-leader-election\"") && l.contains("priority_level=\"leader-election\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>();
    assert!(
        dispatched > 0.0,
        "no Lease request was classified by the FlowSchema kfed-leader-election"
    );
    let second = Controller::start(&tb, "leader-b", &["--leader-elect", "--identity", "replica-b"]);
    tb.apply("host", &configmap(ns, "before", &["member1"], json!({"k": "v"}), ""));
    wait_data(&tb, "member1", ns, "before", "k", "v");
    let lease = tb
        .get("host", "lease", Some("kube-federation-system"), "kfed-controller")
        .expect("the Lease exists");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a", "the first replica leads");
    let log_b = std::fs::read_to_string(&second.log).unwrap_or_default();
    assert!(
        !log_b.contains("sync controllers starting"),
        "the standby does not reconcile:\n{log_b}"
    );

    // Kill the leader (no graceful release): the standby takes over within the lease duration.
    drop(first);
    let started = std::time::Instant::now();
    tb.apply("host", &configmap(ns, "after", &["member1"], json!({"k": "v"}), ""));
    wait_data(&tb, "member1", ns, "after", "k", "v");
    // 15 s of lease duration, up to 2.4 s to have seen the last renewal, the standby's
    // start: a minute catches a standby that never takes over.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "takeover took {:?}",
        started.elapsed()
    );
    let lease = tb
        .get("host", "lease", Some("kube-federation-system"), "kfed-controller")
        .expect("the Lease exists");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");

    // A graceful stop (SIGTERM, as in a rollout) releases the Lease.
    let third = Controller::start(&tb, "leader-c", &["--leader-elect", "--identity", "replica-c"]);
    eventually("replica-c to wait for the Lease", WAIT, || {
        let log = std::fs::read_to_string(&third.log).unwrap_or_default();
        log.contains("waiting to become the leader").then_some(())
    });
    second.stop();
    let started = std::time::Instant::now();
    eventually("replica-c to take the released Lease", WAIT, || {
        (lease_holder(&tb).as_deref() == Some("replica-c")).then_some(())
    });
    let handover = started.elapsed();
    tb.apply(
        "host",
        &configmap(ns, "after-rollout", &["member1"], json!({"k": "v"}), ""),
    );
    wait_data(&tb, "member1", ns, "after-rollout", "k", "v");
    // Without the release the standby waits for the 15 s lease to expire; released, it
    // takes over at its next attempt (every 2-2.4 s).
    assert!(
        handover < Duration::from_secs(15),
        "handover after a graceful stop took {handover:?}"
    );
    third.stop();
}

fn lease_holder(tb: &Testbed) -> Option<String> {
    let lease = tb.get("host", "lease", Some("kube-federation-system"), "kfed-controller")?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}
