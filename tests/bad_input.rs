//! Input that only the operator can judge (the API server accepted it): each
//! case is reported in the object's status and a Warning Event, the operator
//! does not panic, and a healthy object applied afterwards still converges.

mod common;

use common::{Controller, Testbed, eventually, propagation};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

struct Case {
    name: &'static str,
    /// YAML of the federated object (namespace filled in).
    manifest: String,
    /// Expected per-cluster status, or "" for OK.
    member1: &'static str,
    /// A fragment of the Propagation condition's message.
    message: &'static str,
}

fn deployment(ns: &str, name: &str, selector: &str, overrides: &str) -> String {
    format!(
        "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedDeployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  placement: {{clusters: [{{name: member1}}, {{name: no-such-cluster}}]}}\n  template:\n    spec:\n      selector: {{matchLabels: {{app: {selector}}}}}\n      template:\n        metadata: {{labels: {{app: web}}}}\n        spec: {{containers: [{{name: web, image: nginx}}]}}\n{overrides}"
    )
}

#[test]
fn runtime_errors_are_reported_per_cluster_and_isolated() {
    let tb = Testbed::connect();
    let members = tb.federate();
    let ns = "kfed-t-badinput";
    tb.federated_namespace(ns, &members);
    let controller = Controller::start(&tb, "bad-input", &[]);
    let big = "x".repeat(1_100_000);
    let cases = vec![
        Case {
            name: "index-out-of-range",
            manifest: deployment(
                ns,
                "index-out-of-range",
                "web",
                "  overrides:\n  - clusterName: member1\n    clusterOverrides:\n    - {path: /spec/template/spec/containers/5/image, value: busybox}\n",
            ),
            member1: "ApplyOverridesFailed",
            message: "index 5 is out of range for an array of length 1",
        },
        Case {
            name: "member-rejects-template",
            manifest: deployment(ns, "member-rejects-template", "not-web", ""),
            member1: "CreationFailed",
            message: "`selector` does not match template `labels`",
        },
        Case {
            name: "bad-api-version-override",
            manifest: deployment(
                ns,
                "bad-api-version-override",
                "web",
                "  overrides:\n  - clusterName: member1\n    clusterOverrides:\n    - {path: /apiVersion, value: apps/v9}\n",
            ),
            member1: "CreationFailed",
            message: "member1",
        },
        Case {
            name: "too-big-for-the-member",
            manifest: format!(
                "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedConfigMap\nmetadata: {{name: too-big-for-the-member, namespace: {ns}}}\nspec:\n  placement: {{clusters: [{{name: member1}}]}}\n  template: {{data: {{big: {big}}}}}\n"
            ),
            member1: "CreationFailed",
            message: "member1",
        },
    ];
    for case in &cases {
        tb.apply("host", &case.manifest);
    }
    for case in &cases {
        let resource = if case.manifest.contains("FederatedConfigMap") {
            "federatedconfigmap"
        } else {
            "federateddeployment"
        };
        let obj = eventually(&format!("{}: member1 {}", case.name, case.member1), WAIT, || {
            let obj = tb.get("host", resource, Some(ns), case.name)?;
            let (condition, clusters) = propagation(&obj);
            (condition.as_deref() == Some("False") && clusters.contains(&("member1".into(), case.member1.into())))
                .then_some(obj)
        });
        let message = obj["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(case.message),
            "{}: {message:?} lacks {:?}",
            case.name,
            case.message
        );
        let (_, clusters) = propagation(&obj);
        assert!(
            clusters.iter().all(|(c, _)| c != "no-such-cluster"),
            "unknown clusters drop out of the placement: {clusters:?}"
        );
        let events = tb.kubectl_ok(
            "host",
            &[
                "get",
                "events",
                "-n",
                ns,
                "--field-selector",
                &format!("involvedObject.name={}", case.name),
                "-o",
                "json",
            ],
        );
        assert!(
            events.contains("Warning") && events.contains(case.member1),
            "{}: a Warning event with the reason: {events}",
            case.name
        );
    }

    // Objects in a namespace without a FederatedNamespace go nowhere, with a reason.
    let unfederated = "kfed-t-unfederated";
    let _ = tb.kubectl("host", &["create", "namespace", unfederated]);
    tb.apply(
        "host",
        &format!("apiVersion: types.kubefed.io/v1beta1\nkind: FederatedConfigMap\nmetadata: {{name: lonely, namespace: {unfederated}}}\nspec:\n  placement: {{clusters: [{{name: member1}}]}}\n  template: {{data: {{k: v}}}}\n"),
    );
    eventually("NamespaceNotFederated", WAIT, || {
        let obj = tb.get("host", "federatedconfigmap", Some(unfederated), "lonely")?;
        (obj["status"]["conditions"][0]["reason"] == "NamespaceNotFederated").then_some(())
    });
    assert!(tb.get("member1", "configmap", Some(unfederated), "lonely").is_none());

    // Everything else keeps converging.
    tb.apply("host", &deployment(ns, "healthy", "web", ""));
    eventually("the healthy object in member1", WAIT, || {
        tb.get("member1", "deployment", Some(ns), "healthy")
    });
    // Failing objects are retried with backoff forever; remove them so that later
    // tests on this testbed see a converged federation.
    tb.kubectl_ok(
        "host",
        &[
            "delete",
            "federateddeployments,federatedconfigmaps",
            "--all",
            "-n",
            ns,
            "--wait=true",
            "--timeout=60s",
        ],
    );
    controller.stop(); // fails on a panic or an unclean exit
    let _ = tb.kubectl(
        "host",
        &[
            "delete",
            "federatedconfigmap",
            "lonely",
            "-n",
            unfederated,
            "--wait=false",
        ],
    );
    let _ = tb.kubectl(
        "host",
        &[
            "patch",
            "federatedconfigmap",
            "lonely",
            "-n",
            unfederated,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
}
