//! KubeFed compatibility, driven by KubeFed's own client where there is one: the real
//! `kubefedctl` v0.10.0 (built from its Go module by tests/testbed/build.sh) joins and
//! unjoins a member while kfed runs; KubeFed's override semantics for an empty `op`;
//! KubeFed's removal of the managed label from member objects no federated object manages.

mod common;

use common::{Controller, Testbed, eventually, kubefedctl, ok, propagation};
use serde_json::json;
use std::process::{Command, Output};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const FED_NS: &str = "kube-federation-system";

fn kubefedctl_cluster(tb: &Testbed, verb: &str, name: &str) -> Output {
    kubefedctl(
        tb,
        &[
            verb,
            name,
            "--cluster-context",
            name,
            "--host-cluster-context",
            "host",
            "--kubefed-namespace",
            FED_NS,
            "--v=2",
        ],
    )
}

/// member2 joined by kubefedctl instead of by kfed for the length of a test: handed back
/// to `kfed join` when dropped, also when the test fails half-way, so later tests find
/// the testbed as they expect it.
struct JoinedByKubefedctl<'a> {
    tb: &'a Testbed,
    name: &'a str,
}

impl<'a> JoinedByKubefedctl<'a> {
    fn join(tb: &'a Testbed, name: &'a str) -> Self {
        let unjoin = Command::new(common::kfed_bin())
            .args([
                "unjoin",
                name,
                "--cluster-context",
                name,
                "--host-cluster-context",
                "host",
                "--kubeconfig",
            ])
            .arg(&tb.kubeconfig)
            .output()
            .expect("kfed runs");
        ok(unjoin, "kfed unjoin");
        let joined = JoinedByKubefedctl { tb, name };
        ok(kubefedctl_cluster(tb, "join", name), "kubefedctl join");
        joined
    }
}

impl Drop for JoinedByKubefedctl<'_> {
    fn drop(&mut self) {
        let _ = kubefedctl_cluster(self.tb, "unjoin", self.name);
        let _ = self.tb.kubectl(
            "host",
            &[
                "delete",
                "kubefedcluster",
                self.name,
                "-n",
                FED_NS,
                "--ignore-not-found",
            ],
        );
        self.tb.federate();
    }
}

#[test]
fn kubefedctl_joins_and_unjoins_a_member_while_kfed_runs() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-kubefedctl";
    let name = members[1].as_str();
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "kubefedctl", &[]);
    // kubefedctl reads the control plane's scope from the KubeFedConfig kfed creates.
    eventually("the KubeFedConfig kubefed", WAIT, || {
        tb.get("host", "kubefedconfig", Some(FED_NS), "kubefed")
    });

    // member2 changes hands while kfed runs: kfed's registration goes, kubefedctl's comes.
    let joined = JoinedByKubefedctl::join(&tb, name);
    let cluster = tb
        .get("host", "kubefedcluster", Some(FED_NS), name)
        .expect("kubefedctl created the KubeFedCluster");
    assert_eq!(cluster["spec"]["proxyURL"], "", "kubefedctl writes an empty proxyURL");
    let secret = cluster["spec"]["secretRef"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        secret.starts_with(&format!("{name}-")),
        "kubefedctl's host Secret ({secret}), not kfed's"
    );
    eventually("the kubefedctl-joined cluster to be Ready", WAIT, || {
        let cluster = tb.get("host", "kubefedcluster", Some(FED_NS), name)?;
        let ready = cluster["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready.then_some(())
    });

    // Propagation through the ServiceAccount, token and CA kubefedctl set up.
    tb.apply(
        "host",
        &json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "via-kubefedctl", "namespace": ns},
            "spec": {
                "placement": {"clusters": [{"name": name}]},
                "template": {"data": {"joined": "by kubefedctl"}},
            },
        })
        .to_string(),
    );
    let member_object = eventually("the ConfigMap in member2", WAIT, || {
        tb.get(name, "configmap", Some(ns), "via-kubefedctl")
    });
    assert_eq!(member_object["data"]["joined"], "by kubefedctl");
    eventually("Propagation=True on the federated object", WAIT, || {
        let obj = tb.get("host", "federatedconfigmap", Some(ns), "via-kubefedctl")?;
        let (condition, clusters) = propagation(&obj);
        (condition.as_deref() == Some("True") && clusters == vec![(name.to_string(), String::new())]).then_some(())
    });
    let member_identity = format!("{name}-host");
    let accounts = tb.kubectl_ok(name, &["get", "serviceaccounts", "-n", FED_NS, "-o", "name"]);
    assert!(
        accounts.contains(&member_identity),
        "kubefedctl's ServiceAccount {member_identity} in member2: {accounts}"
    );

    // kubefedctl unjoin removes the registration, its Secret and the member's identity.
    ok(kubefedctl_cluster(&tb, "unjoin", name), "kubefedctl unjoin");
    assert!(tb.get("host", "kubefedcluster", Some(FED_NS), name).is_none());
    assert!(tb.get("host", "secret", Some(FED_NS), &secret).is_none());
    let accounts = tb.kubectl_ok(name, &["get", "serviceaccounts", "-n", FED_NS, "-o", "name"]);
    assert!(
        !accounts.contains(&member_identity),
        "kubefedctl unjoin leaves no ServiceAccount behind: {accounts}"
    );
    // kfed notices: the object's status no longer lists the unjoined cluster.
    eventually("the federated object to drop the unjoined cluster", WAIT, || {
        let obj = tb.get("host", "federatedconfigmap", Some(ns), "via-kubefedctl")?;
        let (_, clusters) = propagation(&obj);
        clusters.iter().all(|(c, _)| c != name).then_some(())
    });
    let log = std::fs::read_to_string(&controller.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "the controller panicked:\n{log}");
    // kfed's own registration again, then the namespace goes through the operator.
    drop(joined);
    tb.kubectl_ok("host", &["delete", "federatednamespace", ns, "-n", ns]);
    controller.stop();
}

#[test]
fn an_override_without_op_adds_what_the_template_lacks() {
    // KubeFed's e2e update step: `{path: /metadata/labels, value: ...}` on a template
    // without labels. KubeFed's json-patch adds the missing member for an empty op.
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-emptyop";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "emptyop", &[]);
    tb.apply(
        "host",
        &json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "unlabelled", "namespace": ns},
            "spec": {
                "placement": {"clusters": [{"name": "member1"}, {"name": "member2"}]},
                "template": {"data": {"k": "v"}},
                "overrides": [{"clusterName": "member1", "clusterOverrides": [
                    {"path": "/metadata/labels", "value": {"tier": "web"}},
                    {"op": "replace", "path": "/metadata/annotations", "value": {"note": "set by replace"}},
                ]}],
            },
        })
        .to_string(),
    );
    let cm = eventually("the labelled ConfigMap in member1", WAIT, || {
        let cm = tb.get("member1", "configmap", Some(ns), "unlabelled")?;
        (cm["metadata"]["labels"]["tier"] == "web").then_some(cm)
    });
    assert_eq!(cm["metadata"]["annotations"]["note"], "set by replace");
    assert_eq!(cm["metadata"]["labels"]["kubefed.io/managed"], "true");
    let plain = eventually("the ConfigMap in member2", WAIT, || {
        tb.get("member2", "configmap", Some(ns), "unlabelled")
    });
    assert!(plain["metadata"]["labels"].get("tier").is_none());
    eventually("Propagation=True", WAIT, || {
        let obj = tb.get("host", "federatedconfigmap", Some(ns), "unlabelled")?;
        (propagation(&obj).0.as_deref() == Some("True")).then_some(())
    });
    tb.kubectl_ok("host", &["delete", "federatednamespace", ns, "-n", ns]);
    controller.stop();
}

#[test]
fn member_objects_no_federated_object_manages_lose_the_managed_label() {
    // KubeFed's e2e "should have the managed label removed if not managed".
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-unmanaged";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "unmanaged", &[]);
    eventually("the namespace in member1", WAIT, || {
        tb.get("member1", "namespace", None, ns)
    });
    // A ConfigMap with kfed's label but no FederatedConfigMap, and a managed one beside it.
    tb.apply(
        "member1",
        &json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "stray", "namespace": ns, "labels": {"kubefed.io/managed": "true", "app": "x"}},
            "data": {"keep": "me"},
        })
        .to_string(),
    );
    tb.apply(
        "host",
        &json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "owned", "namespace": ns},
            "spec": {"placement": {"clusters": [{"name": "member1"}]}, "template": {"data": {"k": "v"}}},
        })
        .to_string(),
    );
    let stray = eventually("the managed label to be removed from the stray ConfigMap", WAIT, || {
        let cm = tb.get("member1", "configmap", Some(ns), "stray")?;
        cm["metadata"]["labels"]
            .get("kubefed.io/managed")
            .is_none()
            .then_some(cm)
    });
    assert_eq!(stray["data"]["keep"], "me", "the object itself is left alone");
    assert_eq!(stray["metadata"]["labels"]["app"], "x", "other labels stay");
    let owned = eventually("the managed ConfigMap", WAIT, || {
        tb.get("member1", "configmap", Some(ns), "owned")
    });
    assert_eq!(owned["metadata"]["labels"]["kubefed.io/managed"], "true");
    tb.kubectl_ok("host", &["delete", "federatednamespace", ns, "-n", ns]);
    controller.stop();
}

#[test]
fn the_kubefedconfig_is_read_at_start_up_and_a_bad_field_is_reported() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-kubefedconfig";
    tb.federated_namespace(ns, &members);
    // A KubeFedConfig that disables adoption and carries a health period kfed cannot read.
    tb.apply(
        "host",
        &json!({
            "apiVersion": "core.kubefed.io/v1beta1",
            "kind": "KubeFedConfig",
            "metadata": {"name": "kubefed", "namespace": FED_NS},
            "spec": {
                "scope": "Cluster",
                "syncController": {"adoptResources": "Disabled"},
                "clusterHealthCheck": {"period": "ten seconds"},
            },
        })
        .to_string(),
    );
    let restore = KubeFedConfigDefaults(&tb);
    let controller = Controller::start(&tb, "kubefedconfig", &[]);
    eventually("the namespace in member1", WAIT, || {
        tb.get("member1", "namespace", None, ns)
    });
    // A ConfigMap that exists in member1 before its federated object: not adopted.
    tb.apply(
        "member1",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pre", "namespace": ns}, "data": {"mine": "yes"}})
            .to_string(),
    );
    tb.apply(
        "host",
        &json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "pre", "namespace": ns},
            "spec": {"placement": {"clusters": [{"name": "member1"}]}, "template": {"data": {"k": "v"}}},
        })
        .to_string(),
    );
    eventually("AlreadyExists for member1 (adoptResources: Disabled)", WAIT, || {
        let obj = tb.get("host", "federatedconfigmap", Some(ns), "pre")?;
        propagation(&obj)
            .1
            .contains(&("member1".to_string(), "AlreadyExists".to_string()))
            .then_some(())
    });
    let cm = tb
        .get("member1", "configmap", Some(ns), "pre")
        .expect("the ConfigMap stays");
    assert_eq!(
        cm["data"],
        json!({"mine": "yes"}),
        "a pre-existing object is left alone"
    );
    let event = eventually("a ConfigIgnored Event on the KubeFedConfig", WAIT, || {
        let events = tb.kubectl_ok(
            "host",
            &[
                "get",
                "events.events.k8s.io",
                "-n",
                FED_NS,
                "-o",
                "json",
                "--field-selector",
                "reason=ConfigIgnored",
            ],
        );
        let events: serde_json::Value = serde_json::from_str(&events).ok()?;
        events["items"]
            .as_array()?
            .iter()
            .find(|e| e["regarding"]["kind"] == "KubeFedConfig")
            .cloned()
    });
    assert_eq!(event["type"], "Warning");
    let note = event["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("spec.clusterHealthCheck.period") && note.contains("ten seconds"),
        "the Event names the field and the value: {note}"
    );
    tb.kubectl_ok("host", &["delete", "federatednamespace", ns, "-n", ns]);
    controller.stop();
    drop(restore);
}

/// Puts the KubeFedConfig back to KubeFed's defaults when dropped.
struct KubeFedConfigDefaults<'a>(&'a Testbed);

impl Drop for KubeFedConfigDefaults<'_> {
    fn drop(&mut self) {
        let _ = self.0.kubectl(
            "host",
            &["delete", "kubefedconfig", "kubefed", "-n", FED_NS, "--ignore-not-found"],
        );
    }
}

#[test]
fn deleting_a_federated_namespace_on_a_host_that_is_also_a_member_finishes() {
    // KubeFed's own CI joins the host as a member; `kubectl delete namespace` must finish:
    // the host's namespace waits for the FederatedNamespace's finalizer, so kfed must not
    // wait for that namespace to go first.
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-hostdelete";
    tb.federated_namespace(ns, &members);
    let kfed = |args: &[&str]| {
        let out = Command::new(common::kfed_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(&tb.kubeconfig)
            .output()
            .expect("kfed runs");
        ok(out, &format!("kfed {}", args.join(" ")));
    };
    kfed(&[
        "join",
        "self",
        "--cluster-context",
        "host",
        "--host-cluster-context",
        "host",
    ]);
    let _unjoin = HostUnjoined(&tb);
    let controller = Controller::start(&tb, "hostdelete", &[]);
    tb.apply(
        "host",
        &format!(
            "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedNamespace\nmetadata: {{name: {ns}, namespace: {ns}}}\nspec:\n  placement:\n    clusters: [{{name: member1}}, {{name: self}}]\n"
        ),
    );
    tb.apply(
        "host",
        &json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "inside", "namespace": ns},
            "spec": {"placement": {"clusters": [{"name": "member1"}]}, "template": {"data": {"k": "v"}}},
        })
        .to_string(),
    );
    eventually("the ConfigMap in member1", WAIT, || {
        tb.get("member1", "configmap", Some(ns), "inside")
    });
    eventually("the host namespace labelled as managed", WAIT, || {
        (tb.get("host", "namespace", None, ns)?["metadata"]["labels"]["kubefed.io/managed"] == "true").then_some(())
    });

    tb.kubectl_ok("host", &["delete", "namespace", ns, "--wait=false"]);
    eventually("the host namespace to be gone", WAIT, || {
        tb.get("host", "namespace", None, ns).is_none().then_some(())
    });
    eventually("the namespace to be gone from member1", WAIT, || {
        tb.get("member1", "namespace", None, ns).is_none().then_some(())
    });
    controller.stop();
}

/// Unjoins the host from itself when dropped, also when the test fails half-way.
struct HostUnjoined<'a>(&'a Testbed);

impl Drop for HostUnjoined<'_> {
    fn drop(&mut self) {
        let out = Command::new(common::kfed_bin())
            .args([
                "unjoin",
                "self",
                "--cluster-context",
                "host",
                "--host-cluster-context",
                "host",
                "--kubeconfig",
            ])
            .arg(&self.0.kubeconfig)
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("kfed unjoin self failed: {out:?}");
        }
    }
}
