//! Rendering: the seed's FederatedDeployment, identity, replicas, the managed label, redaction.

use super::*;
use kfed_codegen::lookup;
use serde_json::json;

fn source(kind: &str, name: &'static str, namespace: Option<&'static str>) -> Source<'static> {
    Source {
        kind: Box::leak(Box::new(Kind::builtin(lookup(kind).expect("kind in catalog")))),
        name,
        namespace,
    }
}

/// Operations written as JSON; an absent `op` is `replace`.
fn ops(value: Value) -> Vec<Operation> {
    let list = value.as_array().expect("a list of operations");
    list.iter()
        .map(|o| Operation {
            op: match o.get("op").and_then(Value::as_str) {
                Some("add") => patch::Op::Add,
                Some("remove") => patch::Op::Remove,
                _ => patch::Op::Replace,
            },
            path: o["path"].as_str().expect("a path").to_string(),
            value: o.get("value").cloned(),
        })
        .collect()
}

fn template(value: Value) -> Map<String, Value> {
    value.as_object().expect("object").clone()
}

#[test]
fn seed_federated_deployment_renders_per_cluster() {
    let tpl = template(json!({
        "metadata": {"labels": {"app": "nginx"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "args": ["-g"]}]}
            }
        }
    }));
    let seed_ops = ops(json!([
        {"path": "/spec/replicas", "value": 5},
        {"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.17.0-alpine"},
        {"path": "/metadata/annotations", "op": "add", "value": {"foo": "bar"}},
        {"path": "/metadata/annotations/foo", "op": "remove"},
        {"path": "/spec/template/spec/containers/0/args/0", "op": "add", "value": "-q"}
    ]));
    let src = source("Deployment", "test-deployment", Some("test-namespace"));

    let cluster1 = render(src, Some(&tpl), None, "cluster1", &seed_ops).expect("renders");
    assert_eq!(
        cluster1,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "test-deployment",
                "namespace": "test-namespace",
                "labels": {"app": "nginx", "kubefed.io/managed": "true"},
                "annotations": {}
            },
            "spec": {
                "replicas": 5,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.17.0-alpine", "args": ["-q", "-g"]}]}
                }
            }
        })
    );

    let cluster2 = render(src, Some(&tpl), None, "cluster2", &[]).expect("renders");
    assert_eq!(cluster2["spec"]["replicas"], 3);
    assert_eq!(cluster2["spec"]["template"]["spec"]["containers"][0]["image"], "nginx");
}

#[test]
fn identity_comes_from_the_federated_object() {
    let tpl = template(json!({
        "apiVersion": "v0", "kind": "Wrong",
        "metadata": {"name": "other", "namespace": "other", "uid": "u", "resourceVersion": "1",
                     "finalizers": ["x"], "annotations": {"a": "b"}, "ownerReferences": []},
        "data": {"k": "v"},
        "status": {"phase": "x"}
    }));
    let got = render(source("ConfigMap", "cfg", Some("ns1")), Some(&tpl), None, "c", &[]).expect("renders");
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "ns1", "annotations": {"a": "b"}, "labels": {"kubefed.io/managed": "true"}},
            "data": {"k": "v"}
        })
    );
}

#[test]
fn cluster_scoped_and_namespace_objects_have_no_namespace() {
    let got = render(source("ClusterRole", "reader", None), None, None, "c", &[]).expect("renders");
    assert_eq!(
        got["metadata"],
        json!({"name": "reader", "labels": {"kubefed.io/managed": "true"}})
    );
    // A FederatedNamespace named after its namespace renders the Namespace itself.
    let got = render(source("Namespace", "team-a", Some("team-a")), None, None, "c", &[]).expect("renders");
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"kubefed.io/managed": "true"}}})
    );
}

#[test]
fn managed_label_survives_overrides() {
    let src = source("ConfigMap", "cfg", Some("ns1"));
    let tpl = template(json!({"metadata": {"labels": {"a": "b"}}}));
    let got = render(
        src,
        Some(&tpl),
        None,
        "c",
        &ops(json!([{"op": "remove", "path": "/metadata/labels"}])),
    )
    .expect("renders");
    assert_eq!(got["metadata"]["labels"], json!({"kubefed.io/managed": "true"}));
    let got = render(
        src,
        Some(&tpl),
        None,
        "c",
        &ops(json!([{"path": "/metadata/labels/kubefed.io~1managed", "op": "add", "value": "false"}])),
    )
    .expect("renders");
    assert_eq!(got["metadata"]["labels"]["kubefed.io/managed"], "true");
    let got = render(
        src,
        Some(&tpl),
        None,
        "c",
        &ops(json!([{"path": "/metadata/labels", "value": {"x": "y"}}])),
    )
    .expect("renders");
    assert_eq!(
        got["metadata"]["labels"],
        json!({"x": "y", "kubefed.io/managed": "true"})
    );
}

#[test]
fn overrides_cannot_escape_the_object_identity() {
    let src = source("ConfigMap", "cfg", Some("ns1"));
    for path in ["/metadata/name", "/metadata/namespace", "/kind"] {
        let err = render(
            src,
            None,
            None,
            "c",
            &ops(json!([{"path": path, "value": "kube-system"}])),
        )
        .expect_err(path);
        assert!(
            err.to_string().contains("may not change the name, namespace or kind"),
            "{path}: {err}"
        );
    }
    let err = render(
        src,
        None,
        None,
        "c",
        &ops(json!([{"path": "/metadata", "value": {"name": "x"}}])),
    )
    .expect_err("metadata");
    assert!(matches!(err, RenderError::Invalid(_)), "{err}");
    let err =
        render(src, None, None, "c", &ops(json!([{"path": "/metadata", "value": "x"}]))).expect_err("metadata scalar");
    assert!(matches!(err, RenderError::Invalid(_)), "{err}");
    // apiVersion may be overridden, as in KubeFed.
    let got = render(
        src,
        None,
        None,
        "c",
        &ops(json!([{"path": "/apiVersion", "value": "v1"}])),
    )
    .expect("renders");
    assert_eq!(got["apiVersion"], "v1");
}

#[test]
fn override_failures_name_cluster_index_and_path() {
    let err = render(
        source("ConfigMap", "cfg", Some("ns1")),
        None,
        None,
        "member2",
        &ops(json!([{"path": "/data/missing", "value": "x"}])),
    )
    .expect_err("missing path");
    assert_eq!(
        err,
        RenderError::Patch(PatchError::Operation {
            cluster: "member2".into(),
            index: 0,
            path: "/data/missing".into(),
            reason: "/data does not exist".into(),
        })
    );
}

#[test]
fn replicas_are_set_before_the_patches() {
    let tpl = template(json!({"spec": {"replicas": 3}}));
    let deploy = source("Deployment", "web", Some("ns1"));
    let got = render(deploy, Some(&tpl), Some(7), "c", &[]).expect("renders");
    assert_eq!(got["spec"]["replicas"], 7);
    let got = render(deploy, None, Some(2), "c", &[]).expect("renders without a spec");
    assert_eq!(got["spec"]["replicas"], 2);
    let patched = ops(json!([{"path": "/spec/replicas", "value": 9}]));
    let got = render(deploy, Some(&tpl), Some(7), "c", &patched).expect("renders");
    assert_eq!(got["spec"]["replicas"], 9, "a patch wins over the divided replicas");
    let config = source("ConfigMap", "cfg", Some("ns1"));
    let got = render(config, None, Some(7), "c", &[]).expect("renders");
    assert!(got.get("spec").is_none(), "a kind without replicas path ignores them");
    let bad = template(json!({"spec": "nope"}));
    let err = render(deploy, Some(&bad), Some(1), "c", &[]).expect_err("spec is a string");
    assert!(matches!(err, RenderError::Invalid(_)), "{err}");
}

#[test]
fn bad_template_metadata_is_reported() {
    let tpl = template(json!({"metadata": "nope"}));
    let err = render(source("ConfigMap", "cfg", Some("ns1")), Some(&tpl), None, "c", &[]).expect_err("bad metadata");
    assert_eq!(err, RenderError::Invalid("template.metadata must be an object".into()));
}

#[test]
fn secret_values_are_redacted_from_messages() {
    let secret = &Kind::builtin(lookup("Secret").expect("Secret in catalog"));
    // dmFsdWUtaW4tZGF0YQ== is "value-in-data"; cGxhaW4gInF1b3RlZCIgdmFsdWU= is `plain "quoted" value`.
    let object = json!({
        "kind": "Secret",
        "data": {"a": "dmFsdWUtaW4tZGF0YQ==", "n": {"nested": "nested-value"}, "num": 987654321},
        "stringData": {"s": r#"plain "quoted" value"#, "short": "xyz"}
    });
    let message = concat!(
        r#"failed to create typed patch object (ns/s; /v1, Kind=Secret): .data.n: expected string, "#,
        r#"got &value.valueUnstructured{Value:map[string]interface {}{"nested":"a}b\"{"}}; "#,
        r#"also value-in-data, dmFsdWUtaW4tZGF0YQ==, 987654321, plain \"quoted\" value, "#,
        r#"plain "quoted" value, cGxhaW4gInF1b3RlZCIgdmFsdWU= and xyz"#
    );
    assert_eq!(
        redact(secret, &object, message),
        concat!(
            r#"failed to create typed patch object (ns/s; /v1, Kind=Secret): .data.n: expected string, "#,
            "got <redacted>; also <redacted>, <redacted>, <redacted>, <redacted>, <redacted>, <redacted> and xyz"
        )
    );
    // A truncated message loses everything after `got`.
    assert_eq!(
        redact(
            secret,
            &object,
            r#"x: expected string, got &value.valueUnstructured{Value:["ab"#
        ),
        "x: expected string, got <redacted>"
    );
    // Other kinds keep their messages.
    let cm = &Kind::builtin(lookup("ConfigMap").expect("ConfigMap in catalog"));
    assert_eq!(redact(cm, &object, message), message);
}
