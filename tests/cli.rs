//! The `kfed` command line against the testbed: join/unjoin with a least-privilege
//! identity, federate round trips, orphaning-deletion, status, and error messages.

mod common;

use common::{Controller, Testbed, eventually, kfed_bin, stderr};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn kfed(tb: &Testbed, args: &[&str]) -> Output {
    Command::new(kfed_bin())
        .args(args)
        .arg("--kubeconfig")
        .arg(&tb.kubeconfig)
        .output()
        .expect("kfed runs")
}

fn kfed_ok(tb: &Testbed, args: &[&str]) -> String {
    let out = kfed(tb, args);
    assert!(out.status.success(), "kfed {} failed: {}", args.join(" "), stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kfed_fails(tb: &Testbed, args: &[&str], expect: &str) {
    let out = kfed(tb, args);
    assert!(!out.status.success(), "kfed {} should fail", args.join(" "));
    let message = stderr(&out);
    assert!(
        message.contains(expect),
        "kfed {}: {message:?} lacks {expect:?}",
        args.join(" ")
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn join_gives_members_a_least_privilege_identity_and_unjoin_removes_it() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let fed_ns = "kube-federation-system";
    let sa = format!("system:serviceaccount:{fed_ns}:kfed-{}", members[0]);
    let can = |verb: &str, resource: &str| {
        tb.kubectl(&members[0], &["auth", "can-i", verb, resource, "-A", "--as", &sa])
            .status
            .success()
    };
    assert!(
        can("create", "deployments.apps")
            && can("patch", "configmaps")
            && can("watch", "clusterroles.rbac.authorization.k8s.io")
    );
    assert!(!can("get", "pods"), "no access to pods");
    assert!(!can("create", "pods"));
    assert!(!can("get", "nodes"));
    assert!(!can("*", "*"), "not an admin");
    let role = tb
        .get(&members[0], "clusterrole", None, &format!("kfed:member:{}", members[0]))
        .expect("ClusterRole");
    assert!(!role.to_string().contains("\"*\""), "no wildcard in {role}");
    // The bound role aggregates labelled roles: the built-in kinds' one, and any a user adds.
    assert_eq!(
        role["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["kfed.io/aggregate-to-member"], "true",
        "{role}"
    );
    let builtin = tb
        .get(
            &members[0],
            "clusterrole",
            None,
            &format!("kfed:member:{}:builtin", members[0]),
        )
        .expect("the built-in kinds' ClusterRole");
    assert_eq!(builtin["metadata"]["labels"]["kfed.io/aggregate-to-member"], "true");

    // Re-running join is safe and changes nothing.
    let before = tb
        .get("host", "kubefedcluster", Some(fed_ns), &members[0])
        .expect("joined");
    kfed_ok(
        &tb,
        &[
            "join",
            &members[0],
            "--cluster-context",
            &members[0],
            "--host-cluster-context",
            "host",
        ],
    );
    let after = tb
        .get("host", "kubefedcluster", Some(fed_ns), &members[0])
        .expect("joined");
    assert_eq!(before["spec"], after["spec"]);

    // Join under another name, over the fixed role an older kfed wrote (field manager kfed):
    // the role becomes the aggregated one. Then unjoin: everything join created goes.
    let extra = "extra";
    let old_role = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "kfed:member:extra"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}"#;
    let out = tb.kubectl_stdin(
        &members[0],
        &["apply", "--server-side", "--field-manager", "kfed", "-f", "-"],
        Some(old_role),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    kfed_ok(
        &tb,
        &[
            "join",
            extra,
            "--cluster-context",
            &members[0],
            "--host-cluster-context",
            "host",
        ],
    );
    assert!(tb.get("host", "kubefedcluster", Some(fed_ns), extra).is_some());
    let role = tb
        .get(&members[0], "clusterrole", None, "kfed:member:extra")
        .expect("the member role");
    assert!(role["aggregationRule"].is_object(), "{role}");
    assert!(
        !role["rules"].to_string().contains("pods"),
        "the older role's rules stayed: {role}"
    );
    assert!(role["rules"].to_string().contains("configmaps"), "{role}");
    assert!(
        tb.get(&members[0], "serviceaccount", Some(fed_ns), "kfed-extra")
            .is_some()
    );
    kfed_ok(
        &tb,
        &[
            "unjoin",
            extra,
            "--cluster-context",
            &members[0],
            "--host-cluster-context",
            "host",
        ],
    );
    assert!(tb.get("host", "kubefedcluster", Some(fed_ns), extra).is_none());
    assert!(
        tb.get("host", "secret", Some(fed_ns), "kfed-extra-credentials")
            .is_none()
    );
    for (resource, ns, name) in [
        ("serviceaccount", Some(fed_ns), "kfed-extra"),
        ("secret", Some(fed_ns), "kfed-extra-token"),
        ("clusterrole", None, "kfed:member:extra"),
        ("clusterrole", None, "kfed:member:extra:builtin"),
        ("clusterrolebinding", None, "kfed:member:extra"),
    ] {
        assert!(
            tb.get(&members[0], resource, ns, name).is_none(),
            "{resource} {name} left in the member"
        );
    }
    kfed_fails(
        &tb,
        &[
            "join",
            "x",
            "--cluster-context",
            "no-such-context",
            "--host-cluster-context",
            "host",
        ],
        "no-such-context",
    );
}

#[test]
fn federate_orphaning_and_status() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-cli";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "cli", &[]);
    tb.kubectl_ok(
        "host",
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "-n",
            ns,
        ],
    );
    tb.kubectl_ok(
        "host",
        &["create", "configmap", "settings", "--from-literal=mode=blue", "-n", ns],
    );

    // -o prints without creating.
    let printed: Value = serde_json::from_str(&kfed_ok(
        &tb,
        &[
            "federate",
            "deployment",
            "web",
            "-n",
            ns,
            "--context",
            "host",
            "-o",
            "json",
        ],
    ))
    .expect("JSON");
    let fed = &printed["items"][0];
    assert_eq!(fed["kind"], "FederatedDeployment");
    assert_eq!(fed["spec"]["template"]["spec"]["replicas"], 2);
    assert!(fed["spec"]["template"]["metadata"].get("uid").is_none() && fed.get("status").is_none());
    assert!(
        tb.get("host", "federateddeployment", Some(ns), "web").is_none(),
        "-o does not create"
    );

    // --contents federates what a user created, not what the cluster created by itself.
    let contents = kfed_ok(
        &tb,
        &[
            "federate",
            "namespace",
            ns,
            "--contents",
            "--context",
            "host",
            "-o",
            "json",
        ],
    );
    let kinds: Vec<String> = serde_json::from_str::<Value>(&contents).expect("JSON")["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["kind"].as_str().unwrap_or(""),
                i["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    for expected in [
        "FederatedNamespace/kfed-t-cli",
        "FederatedDeployment/web",
        "FederatedConfigMap/settings",
    ] {
        assert!(kinds.iter().any(|k| k == expected), "{expected} missing from {kinds:?}");
    }
    assert!(
        !kinds
            .iter()
            .any(|k| k.ends_with("/kube-root-ca.crt") || k == "FederatedServiceAccount/default"),
        "{kinds:?}"
    );

    // Round trip: federate the Deployment, delete a member copy, see it recreated.
    kfed_ok(
        &tb,
        &[
            "federate",
            "deployment",
            "web",
            "-n",
            ns,
            "--context",
            "host",
            "--clusters",
            "member1,member2",
            "--dry-run",
            "server",
        ],
    );
    assert!(
        tb.get("host", "federateddeployment", Some(ns), "web").is_none(),
        "--dry-run creates nothing"
    );
    kfed_ok(
        &tb,
        &[
            "federate",
            "deployment",
            "web",
            "-n",
            ns,
            "--context",
            "host",
            "--clusters",
            "member1,member2",
        ],
    );
    for member in &members[..2] {
        eventually(&format!("web in {member}"), WAIT, || {
            (tb.get(member, "deployment", Some(ns), "web")?["spec"]["replicas"] == 2).then_some(())
        });
    }
    tb.kubectl_ok("member1", &["delete", "deployment", "web", "-n", ns]);
    eventually("web recreated in member1", WAIT, || {
        tb.get("member1", "deployment", Some(ns), "web")
    });

    // From manifests on stdin.
    let manifest =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: from-file, namespace: {ns}}}\ndata: {{a: b}}\n");
    let mut child = Command::new(kfed_bin())
        .args([
            "federate",
            "-f",
            "-",
            "--context",
            "host",
            "--clusters",
            "member2",
            "--kubeconfig",
        ])
        .arg(&tb.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kfed runs");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), manifest.as_bytes()).expect("write");
    drop(child.stdin.take());
    assert!(child.wait_with_output().expect("kfed").status.success());
    eventually("from-file in member2", WAIT, || {
        tb.get("member2", "configmap", Some(ns), "from-file")
    });

    // Status: one row per object, one column per cluster.
    let status = eventually("status to show web in sync", WAIT, || {
        let out = kfed_ok(&tb, &["status", "deployment", "-n", ns, "--context", "host"]);
        out.lines()
            .any(|l| {
                l.contains(" web ") && l.contains("True") && l.split_whitespace().filter(|c| *c == "ok").count() == 2
            })
            .then_some(out)
    });
    assert!(
        status
            .lines()
            .next()
            .is_some_and(|h| h.contains("MEMBER1") && h.contains("MEMBER2")),
        "{status}"
    );

    // Orphaning: deleting the federated object keeps the member objects.
    kfed_ok(
        &tb,
        &[
            "orphaning-deletion",
            "enable",
            "fdeploy",
            "web",
            "-n",
            ns,
            "--context",
            "host",
        ],
    );
    assert!(
        kfed_ok(
            &tb,
            &[
                "orphaning-deletion",
                "status",
                "deployment",
                "web",
                "-n",
                ns,
                "--context",
                "host"
            ]
        )
        .contains("enabled")
    );
    tb.kubectl_ok(
        "host",
        &[
            "delete",
            "federateddeployment",
            "web",
            "-n",
            ns,
            "--wait=true",
            "--timeout=60s",
        ],
    );
    for member in &members[..2] {
        let kept = tb
            .get(member, "deployment", Some(ns), "web")
            .expect("orphaned Deployment stays");
        assert!(kept["metadata"]["labels"].get("kubefed.io/managed").is_none(), "{kept}");
    }

    // Errors name what they are about and exit non-zero.
    kfed_fails(
        &tb,
        &["federate", "pod", "x", "-n", ns, "--context", "host"],
        "\"pod\" is not federated",
    );
    kfed_fails(
        &tb,
        &["federate", "deployment", "missing", "-n", ns, "--context", "host"],
        "Deployment missing in namespace kfed-t-cli",
    );
    kfed_fails(
        &tb,
        &[
            "orphaning-deletion",
            "status",
            "fdeploy",
            "missing",
            "-n",
            ns,
            "--context",
            "host",
        ],
        "FederatedDeployment missing",
    );
    controller.stop();
}
