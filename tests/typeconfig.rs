//! Kinds added and removed while kfed runs: `kfed enable` of a CRD of the test's own
//! (typed template, propagation within seconds, `Disabled` and deletion of its
//! FederatedTypeConfig stop it, member objects stay), KubeFed's own `kubefedctl enable`
//! and `kubefedctl federate` against kfed, and malformed FTCs reported in status and an
//! Event (or refused at `kubectl apply`), never a crash.

mod common;

use common::{Controller, Testbed, eventually, kfed_bin, kubefedctl, ok};
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const FED_NS: &str = "kube-federation-system";
const GROUP: &str = "kfedtest.example.com";

fn kfed(tb: &Testbed, args: &[&str]) -> Output {
    Command::new(kfed_bin())
        .args(args)
        .arg("--kubeconfig")
        .arg(&tb.kubeconfig)
        .args(["--host-cluster-context", "host"])
        .output()
        .expect("kfed runs")
}

/// A namespaced CRD `<plural>.kfedtest.example.com` with a typed spec and a scale subresource.
fn target_crd(kind: &str, plural: &str) -> String {
    target_crd_versions(kind, plural, &[("v1", true, true)])
}

/// The same CRD with `versions` (name, served, storage), all of the same schema.
fn target_crd_versions(kind: &str, plural: &str, versions: &[(&str, bool, bool)]) -> String {
    let versions: String = versions
        .iter()
        .map(|(name, served, storage)| {
            format!(
                r#"  - name: {name}
    served: {served}
    storage: {storage}
    subresources:
      scale: {{specReplicasPath: .spec.size, statusReplicasPath: .status.size}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
              color: {{type: string}}
          status:
            type: object
            properties:
              size: {{type: integer}}
"#
            )
        })
        .collect();
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{GROUP}}}
spec:
  group: {GROUP}
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  scope: Namespaced
  versions:
{versions}"#,
        singular = kind.to_lowercase()
    )
}

/// The target CRD in the host and every member, and the right to manage its objects for
/// kfed in the members: `kfed join`'s member role grants the built-in kinds and aggregates
/// every ClusterRole labelled `kfed.io/aggregate-to-member=true`, so one labelled role
/// per member and kind is all it takes (no binding).
fn install_target(tb: &Testbed, members: &[String], kind: &str, plural: &str) {
    let rbac = format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kfed-test-{plural}
  labels: {{kfed.io/aggregate-to-member: "true"}}
rules:
- apiGroups: [{GROUP}]
  resources: [{plural}]
  verbs: [get, list, watch, create, update, patch, delete]
"#
    );
    let crd = format!("{plural}.{GROUP}");
    for context in std::iter::once("host").chain(members.iter().map(String::as_str)) {
        tb.apply(context, &target_crd(kind, plural));
        tb.kubectl_ok(
            context,
            &["wait", "--for=condition=Established", "--timeout=60s", "crd", &crd],
        );
        tb.apply(context, &rbac);
    }
}

fn ftc(tb: &Testbed, name: &str) -> Option<Value> {
    tb.get("host", "federatedtypeconfigs.core.kubefed.io", Some(FED_NS), name)
}

/// Waits until the FTC reports `controller` (Running / NotRunning) for its current
/// generation, and returns its Ready condition.
fn wait_ftc(tb: &Testbed, name: &str, controller: &str) -> Value {
    eventually(&format!("FTC {name} {controller}"), WAIT, || {
        let ftc = ftc(tb, name)?;
        let status = &ftc["status"];
        (status["propagationController"] == controller && status["observedGeneration"] == ftc["metadata"]["generation"])
            .then(|| status["conditions"][0].clone())
    })
}

fn member_spec(tb: &Testbed, member: &str, resource: &str, ns: &str, name: &str) -> Option<Value> {
    tb.get(member, resource, Some(ns), name).map(|o| o["spec"].clone())
}

/// Makes a change to a FederatedConfigMap and waits until every member has it: the
/// operator is alive and has caught up with what was written before.
fn barrier(tb: &Testbed, members: &[String], ns: &str, round: u32) {
    let clusters: Vec<Value> = members.iter().map(|m| json!({"name": m})).collect();
    let fcm = json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
        "metadata": {"name": "barrier", "namespace": ns},
        "spec": {"template": {"data": {"round": round.to_string()}}, "placement": {"clusters": clusters}},
    });
    tb.apply("host", &fcm.to_string());
    for member in members {
        eventually(&format!("barrier round {round} in {member}"), WAIT, || {
            let cm = tb.get(member, "configmaps", Some(ns), "barrier")?;
            (cm["data"]["round"] == round.to_string().as_str()).then_some(())
        });
    }
}

/// An Enabled FTC named `name` for the namespaced `kind`/`plural` in `group`, federated
/// as `types.kubefed.io/v1beta1` `Federated<kind>`.
fn ftc_object(name: &str, group: &str, kind: &str, plural: &str) -> String {
    json!({
        "apiVersion": "core.kubefed.io/v1beta1", "kind": "FederatedTypeConfig",
        "metadata": {"name": name, "namespace": FED_NS},
        "spec": {
            "targetType": {"group": group, "version": "v1", "kind": kind, "pluralName": plural, "scope": "Namespaced"},
            "propagation": "Enabled",
            "federatedType": {
                "group": "types.kubefed.io", "version": "v1beta1", "kind": format!("Federated{kind}"),
                "pluralName": format!("federated{plural}"), "scope": "Namespaced",
            },
        },
    })
    .to_string()
}

/// Sets an FTC's `spec.propagation` (`Enabled` or `Disabled`) with kubectl.
fn set_propagation(tb: &Testbed, name: &str, mode: &str) {
    let patch = json!({"spec": {"propagation": mode}}).to_string();
    tb.kubectl_ok(
        "host",
        &["patch", "ftc", name, "-n", FED_NS, "--type=merge", "-p", &patch],
    );
}

fn warning_event(tb: &Testbed, name: &str, reason: &str) -> Option<String> {
    let out = tb.kubectl_ok("host", &["get", "events.events.k8s.io", "-n", FED_NS, "-o", "json"]);
    let events: Value = serde_json::from_str(&out).ok()?;
    events["items"].as_array()?.iter().find_map(|e| {
        (e["regarding"]["kind"] == "FederatedTypeConfig"
            && e["regarding"]["name"] == name
            && e["reason"] == reason
            && e["type"] == "Warning")
            .then(|| e["note"].as_str().unwrap_or_default().to_string())
    })
}

/// Puts an FTC back the way the install has it, also when a test fails half-way.
struct Restore<'a> {
    tb: &'a Testbed,
    delete: Vec<String>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        for name in &self.delete {
            let _ = self.tb.kubectl(
                "host",
                &[
                    "delete",
                    "ftc",
                    name,
                    "-n",
                    FED_NS,
                    "--ignore-not-found",
                    "--wait=false",
                ],
            );
        }
        self.tb.install_crds("host");
    }
}

#[test]
fn kfed_enable_adds_a_kind_that_ftcs_start_and_stop_while_kfed_runs() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-enable";
    tb.federated_namespace(ns, &members);
    install_target(&tb, &members, "Gadget", "gadgets");
    let ftc_name = format!("gadgets.{GROUP}");
    let _restore = Restore {
        tb: &tb,
        delete: vec![ftc_name.clone(), "sprockets.nowhere.example.com".into()],
    };
    let mut controller = Controller::start(&tb, "enable", &[]);
    barrier(&tb, &members, ns, 1);

    // Enabled while the operator runs: the federated CRD is typed by the target's schema.
    ok(kfed(&tb, &["enable", &ftc_name]), "kfed enable");
    let crd = tb
        .get("host", "crd", None, "federatedgadgets.types.kubefed.io")
        .expect("kfed enable created the federated CRD");
    let template =
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["template"];
    assert_eq!(template["properties"]["spec"]["properties"]["size"]["type"], "integer");
    let condition = wait_ftc(&tb, &ftc_name, "Running");
    assert_eq!(condition["reason"], "PropagationRunning", "{condition}");

    // The typed template refuses an ill-typed value at `kubectl apply`.
    let bad = json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedGadget",
        "metadata": {"name": "bad", "namespace": ns},
        "spec": {"template": {"spec": {"size": "many"}}},
    });
    let out = tb.kubectl_stdin("host", &["apply", "-f", "-"], Some(&bad.to_string()));
    assert!(!out.status.success(), "an ill-typed template was accepted");
    assert!(
        common::stderr(&out).contains("spec.template.spec.size"),
        "{}",
        common::stderr(&out)
    );

    let gadget = |color: &str| {
        json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedGadget",
            "metadata": {"name": "g1", "namespace": ns},
            "spec": {
                "template": {"spec": {"size": 3, "color": color}},
                "placement": {"clusters": members.iter().map(|m| json!({"name": m})).collect::<Vec<_>>()},
                "overrides": [{"clusterName": members[1], "clusterOverrides": [{"path": "/spec/size", "value": 5}]}],
            },
        })
        .to_string()
    };
    let started = Instant::now();
    tb.apply("host", &gadget("blue"));
    for (member, size) in [(&members[0], 3), (&members[1], 5)] {
        eventually(&format!("gadget g1 in {member}"), WAIT, || {
            let spec = member_spec(&tb, member, "gadgets.kfedtest.example.com", ns, "g1")?;
            (spec == json!({"size": size, "color": "blue"})).then_some(())
        });
    }
    println!("FederatedGadget propagated to both members in {:?}", started.elapsed());

    // Disabled: the kind stops; member objects stay as they are.
    ok(kfed(&tb, &["disable", &ftc_name]), "kfed disable");
    let condition = wait_ftc(&tb, &ftc_name, "NotRunning");
    assert_eq!(condition["reason"], "PropagationDisabled", "{condition}");
    tb.apply("host", &gadget("green"));
    barrier(&tb, &members, ns, 2);
    for member in &members {
        let spec = member_spec(&tb, member, "gadgets.kfedtest.example.com", ns, "g1").expect("the gadget stays");
        assert_eq!(
            spec["color"], "blue",
            "{member} got a change while propagation was disabled"
        );
    }

    // Enabled again: the change made meanwhile arrives.
    set_propagation(&tb, &ftc_name, "Enabled");
    wait_ftc(&tb, &ftc_name, "Running");
    for member in &members {
        eventually(&format!("green gadget in {member}"), WAIT, || {
            let spec = member_spec(&tb, member, "gadgets.kfedtest.example.com", ns, "g1")?;
            (spec["color"] == "green").then_some(())
        });
    }

    // Deleted: the FTC's finalizer is released, its controller stops, member objects stay.
    tb.kubectl_ok("host", &["delete", "ftc", &ftc_name, "-n", FED_NS, "--timeout=60s"]);
    tb.apply("host", &gadget("yellow"));
    barrier(&tb, &members, ns, 3);
    for member in &members {
        let spec = member_spec(&tb, member, "gadgets.kfedtest.example.com", ns, "g1").expect("the gadget stays");
        assert_eq!(
            spec["color"], "green",
            "{member} got a change after the FTC was deleted"
        );
    }

    // A name that breaks KubeFed's rule is refused at `kubectl apply`.
    let misnamed = ftc_object("gizmos.kfedtest.example.com", GROUP, "Gadget", "gadgets");
    let out = tb.kubectl_stdin("host", &["apply", "-f", "-"], Some(&misnamed));
    assert!(!out.status.success(), "a misnamed FTC was accepted");
    assert!(
        common::stderr(&out).contains("name must be 'TARGET_PLURAL_NAME(.TARGET_GROUP_NAME)'"),
        "{}",
        common::stderr(&out)
    );

    // An unknown group: reported in its status and a Warning Event.
    let unknown = ftc_object(
        "sprockets.nowhere.example.com",
        "nowhere.example.com",
        "Sprocket",
        "sprockets",
    );
    tb.apply("host", &unknown);
    let condition = wait_ftc(&tb, "sprockets.nowhere.example.com", "NotRunning");
    assert_eq!(condition["reason"], "TargetTypeNotFound", "{condition}");
    let note = eventually("a TargetTypeNotFound Event", WAIT, || {
        warning_event(&tb, "sprockets.nowhere.example.com", "TargetTypeNotFound")
    });
    assert!(note.contains("sprockets.nowhere.example.com"), "{note}");

    // Without the namespaces FTC, namespaced kinds stop (KubeFed's rule), and come back.
    set_propagation(&tb, "namespaces", "Disabled");
    let condition = wait_ftc(&tb, "configmaps", "NotRunning");
    assert_eq!(condition["reason"], "NamespacesNotFederated", "{condition}");
    set_propagation(&tb, "namespaces", "Enabled");
    wait_ftc(&tb, "configmaps", "Running");
    barrier(&tb, &members, ns, 4);
    controller.check_alive().expect("the operator kept running");
    controller.stop();
}

/// KubeFed's e2e "FTC controller should be refreshed if the target CRD version changed":
/// the target CRD moves from v1 to v2 (v1 no longer served) while kfed runs; the FTC at
/// v1 reports it, `kfed enable` again picks v2, and the kind restarts at v2.
#[test]
fn a_new_target_version_restarts_the_kind() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-version";
    tb.federated_namespace(ns, &members);
    // A run before this one left the CRD at v2; start from v1.
    for context in std::iter::once("host").chain(members.iter().map(String::as_str)) {
        let crd = format!("gears.{GROUP}");
        tb.kubectl_ok(context, &["delete", "crd", &crd, "--ignore-not-found", "--timeout=60s"]);
    }
    install_target(&tb, &members, "Gear", "gears");
    let ftc_name = format!("gears.{GROUP}");
    let _restore = Restore {
        tb: &tb,
        delete: vec![ftc_name.clone()],
    };
    let mut controller = Controller::start(&tb, "version", &[]);
    ok(kfed(&tb, &["enable", &ftc_name]), "kfed enable at v1");
    wait_ftc(&tb, &ftc_name, "Running");
    let gear = |size: i64| {
        json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedGear",
            "metadata": {"name": "g1", "namespace": ns},
            "spec": {
                "template": {"spec": {"size": size}},
                "placement": {"clusters": members.iter().map(|m| json!({"name": m})).collect::<Vec<_>>()},
            },
        })
        .to_string()
    };
    let in_members = |size: i64, api_version: &str| {
        for member in &members {
            eventually(
                &format!("gear of size {size} at {api_version} in {member}"),
                WAIT,
                || {
                    let gear = tb.get(member, "gears.kfedtest.example.com", Some(ns), "g1")?;
                    (gear["spec"]["size"] == size && gear["apiVersion"] == api_version).then_some(())
                },
            );
        }
    };
    tb.apply("host", &gear(1));
    in_members(1, "kfedtest.example.com/v1");

    let v2 = target_crd_versions("Gear", "gears", &[("v2", true, true), ("v1", false, false)]);
    for context in std::iter::once("host").chain(members.iter().map(String::as_str)) {
        tb.apply(context, &v2);
    }
    let condition = wait_ftc(&tb, &ftc_name, "NotRunning");
    assert_eq!(condition["reason"], "TargetTypeNotFound", "{condition}");
    assert!(
        condition["message"].as_str().is_some_and(|m| m.contains("v1")),
        "{condition}"
    );

    // The group's preferred version is now v2, which serves no gadgets: they are still
    // found, at v1 (client-go's ServerPreferredResources, as kubefedctl does).
    install_target(&tb, &members, "Gadget", "gadgets");
    let printed = ok(
        kfed(&tb, &["enable", &format!("gadgets.{GROUP}"), "-o", "json"]),
        "kfed enable of a kind only v1 serves",
    );
    assert!(
        printed.contains(r#""version": "v1""#),
        "gadgets not found at v1: {printed}"
    );

    ok(
        kfed(&tb, &["enable", &ftc_name]),
        "kfed enable at the preferred version",
    );
    let ftc = ftc(&tb, &ftc_name).expect("the FTC");
    assert_eq!(ftc["spec"]["targetType"]["version"], "v2", "{ftc}");
    let condition = wait_ftc(&tb, &ftc_name, "Running");
    assert_eq!(condition["reason"], "PropagationRunning", "{condition}");
    tb.apply("host", &gear(2));
    in_members(2, "kfedtest.example.com/v2");
    controller.check_alive().expect("the operator kept running");
    controller.stop();
}

#[test]
fn kubefedctl_enable_and_federate_work_against_kfed() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-kubefedctl-enable";
    tb.federated_namespace(ns, &members);
    install_target(&tb, &members, "Bolt", "bolts");
    let ftc_name = format!("bolts.{GROUP}");
    let _restore = Restore {
        tb: &tb,
        delete: vec![ftc_name.clone()],
    };
    let controller = Controller::start(&tb, "kubefedctl-enable", &[]);
    let ctl = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--host-cluster-context", "host", "--kubefed-namespace", FED_NS]);
        kubefedctl(&tb, &all)
    };
    ok(ctl(&["enable", &ftc_name]), "kubefedctl enable");
    wait_ftc(&tb, &ftc_name, "Running");

    let bolt = json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Bolt",
        "metadata": {"name": "b1", "namespace": ns},
        "spec": {"size": 2, "color": "steel"},
    });
    tb.apply("host", &bolt.to_string());
    ok(ctl(&["federate", &ftc_name, "b1", "-n", ns]), "kubefedctl federate");
    // kubefedctl federate places on every cluster (an empty clusterSelector).
    for member in &members {
        eventually(&format!("bolt b1 in {member}"), WAIT, || {
            let spec = member_spec(&tb, member, "bolts.kfedtest.example.com", ns, "b1")?;
            (spec == json!({"size": 2, "color": "steel"})).then_some(())
        });
    }
    let federated = tb
        .get("host", "federatedbolts.types.kubefed.io", Some(ns), "b1")
        .expect("kubefedctl federate created the FederatedBolt");
    let (ready, _) = common::propagation(&federated);
    assert_eq!(ready.as_deref(), Some("True"), "{federated}");
    controller.stop();
}
