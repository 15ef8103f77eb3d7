//! Table tests of KubeFed's overrides, compiled and applied by the engine
//! (KubeFed v0.10.0 and evanphx/json-patch v4.12 semantics).

use super::*;
use crate::engine::patch::apply;
use serde_json::{Value, json};

fn ops(value: Value) -> Vec<OverrideOp> {
    serde_json::from_value(value).expect("valid override ops")
}

fn deployment() -> Value {
    json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "args": ["-a", "-b"]}]}}
        }
    })
}

fn patched(ops_json: Value) -> Result<Value, PatchError> {
    let mut doc = deployment();
    let list = [ClusterOverride {
        cluster_name: "cluster1".into(),
        cluster_overrides: ops(ops_json),
    }];
    let patches = compile(&list);
    apply(
        &mut doc,
        "cluster1",
        patches.for_cluster("cluster1").map_err(Clone::clone)?,
    )?;
    Ok(doc)
}

#[test]
fn seed_document_overrides() {
    // The FederatedDeployment of the seed document and KubeFed's user guide.
    let doc = patched(json!([
        {"path": "/spec/replicas", "value": 5},
        {"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.17.0-alpine"},
        {"path": "/metadata/annotations", "op": "add", "value": {"foo": "bar"}},
        {"path": "/metadata/annotations/foo", "op": "remove"},
        {"path": "/spec/template/spec/containers/0/args/0", "op": "add", "value": "-q"}
    ]))
    .expect("seed overrides apply");
    assert_eq!(doc["spec"]["replicas"], 5);
    assert_eq!(
        doc["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.17.0-alpine"
    );
    assert_eq!(doc["metadata"]["annotations"], json!({}));
    assert_eq!(
        doc["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["-q", "-a", "-b"])
    );
}

#[test]
fn table() {
    let args = "/spec/template/spec/containers/0/args";
    let cases: Vec<(&str, Value, Result<Value, &str>)> = vec![
        (
            "empty op is replace",
            json!([{"path": "/spec/replicas", "value": 1}]),
            Ok(json!({"replicas": 1})),
        ),
        (
            "replace op",
            json!([{"op": "replace", "path": "/spec/replicas", "value": 2}]),
            Ok(json!({"replicas": 2})),
        ),
        (
            "add creates a member",
            json!([{"op": "add", "path": "/spec/paused", "value": true}]),
            Ok(json!({"paused": true})),
        ),
        (
            "add replaces an existing member",
            json!([{"op": "add", "path": "/spec/replicas", "value": 9}]),
            Ok(json!({"replicas": 9})),
        ),
        (
            "add of an array replaces it",
            json!([{"op": "add", "path": args, "value": ["-z"]}]),
            Ok(json!({"args": ["-z"]})),
        ),
        (
            "add inserts at an index",
            json!([{"op": "add", "path": format!("{args}/1"), "value": "-q"}]),
            Ok(json!({"args": ["-a", "-q", "-b"]})),
        ),
        (
            "add at the length appends",
            json!([{"op": "add", "path": format!("{args}/2"), "value": "-q"}]),
            Ok(json!({"args": ["-a", "-b", "-q"]})),
        ),
        (
            "dash appends",
            json!([{"op": "add", "path": format!("{args}/-"), "value": "-q"}]),
            Ok(json!({"args": ["-a", "-b", "-q"]})),
        ),
        (
            "add at -1 appends",
            json!([{"op": "add", "path": format!("{args}/-1"), "value": "-q"}]),
            Ok(json!({"args": ["-a", "-b", "-q"]})),
        ),
        (
            "add at -3 prepends",
            json!([{"op": "add", "path": format!("{args}/-3"), "value": "-q"}]),
            Ok(json!({"args": ["-q", "-a", "-b"]})),
        ),
        (
            "replace at -1 is the last",
            json!([{"path": format!("{args}/-1"), "value": "-z"}]),
            Ok(json!({"args": ["-a", "-z"]})),
        ),
        (
            "remove at -2 is the first",
            json!([{"op": "remove", "path": format!("{args}/-2")}]),
            Ok(json!({"args": ["-b"]})),
        ),
        (
            "remove a member",
            json!([{"op": "remove", "path": "/spec/replicas"}]),
            Ok(json!({})),
        ),
        (
            "ops apply in order",
            json!([{"op": "add", "path": "/spec/x", "value": {}}, {"op": "add", "path": "/spec/x/y", "value": 1}]),
            Ok(json!({"x": {"y": 1}})),
        ),
        (
            "escaped tokens",
            json!([{"op": "add", "path": "/metadata/labels/a~1b~0c", "value": "v"}]),
            Ok(json!({})),
        ),
        (
            "empty op on a missing member adds it (KubeFed's json-patch)",
            json!([{"path": "/spec/missing", "value": 1}]),
            Ok(json!({"missing": 1, "replicas": 3})),
        ),
        (
            "replace of a missing member adds it",
            json!([{"op": "replace", "path": "/spec/missing", "value": {"a": 1}}]),
            Ok(json!({"missing": {"a": 1}, "replicas": 3})),
        ),
        (
            "replace under a missing parent fails",
            json!([{"path": "/spec/missing/deeper", "value": 1}]),
            Err("cluster cluster1: override 0 (/spec/missing/deeper): /spec/missing does not exist"),
        ),
        (
            "replace under a missing parent two levels up fails",
            json!([{"op": "replace", "path": "/spec/a/b/c", "value": 1}]),
            Err("/spec/a does not exist"),
        ),
        (
            "remove under a missing parent fails",
            json!([{"op": "remove", "path": "/spec/a/b"}]),
            Err("/spec/a does not exist"),
        ),
        (
            "remove of a missing path fails",
            json!([{"op": "remove", "path": "/spec/missing"}]),
            Err("/spec/missing does not exist"),
        ),
        (
            "add under a missing parent fails",
            json!([{"op": "add", "path": "/spec/a/b", "value": 1}]),
            Err("/spec/a does not exist"),
        ),
        (
            "index past the end fails",
            json!([{"path": format!("{args}/5"), "value": "x"}]),
            Err("index 5 is out of range for an array of length 2"),
        ),
        (
            "add past the end fails",
            json!([{"op": "add", "path": format!("{args}/3"), "value": "x"}]),
            Err("index 3 is out of range"),
        ),
        (
            "negative index past the start fails",
            json!([{"path": format!("{args}/-3"), "value": "x"}]),
            Err("index -3 is out of range"),
        ),
        (
            "very negative add fails",
            json!([{"op": "add", "path": format!("{args}/-99999999999"), "value": "x"}]),
            Err("out of range"),
        ),
        (
            "huge index fails",
            json!([{"path": format!("{args}/99999999999999999999999"), "value": "x"}]),
            Err("is not an array index"),
        ),
        (
            "dash for replace fails",
            json!([{"path": format!("{args}/-"), "value": "x"}]),
            Err("\"-\" is not an array index"),
        ),
        (
            "leading zero is not an index",
            json!([{"path": format!("{args}/00"), "value": "x"}]),
            Err("\"00\" is not an array index"),
        ),
        (
            "plus sign is not an index",
            json!([{"path": format!("{args}/+1"), "value": "x"}]),
            Err("\"+1\" is not an array index"),
        ),
        (
            "minus zero is not an index",
            json!([{"path": format!("{args}/-0"), "value": "x"}]),
            Err("\"-0\" is not an array index"),
        ),
        (
            "non-numeric index fails",
            json!([{"path": format!("{args}/first"), "value": "x"}]),
            Err("\"first\" is not an array index"),
        ),
        (
            "descending into a scalar fails",
            json!([{"path": "/spec/replicas/x", "value": 1}]),
            Err("/spec/replicas is a number"),
        ),
        (
            "unknown op fails",
            json!([{"op": "move", "path": "/spec/replicas", "value": 1}]),
            Err("unsupported op \"move\""),
        ),
        (
            "missing value fails",
            json!([{"op": "add", "path": "/spec/x"}]),
            Err("add needs a value"),
        ),
        (
            "relative path fails",
            json!([{"path": "spec/replicas", "value": 1}]),
            Err("starting with /"),
        ),
        (
            "bad escape fails",
            json!([{"path": "/spec/a~2", "value": 1}]),
            Err("bad escape"),
        ),
        (
            "second op failing names index 1",
            json!([{"path": "/spec/replicas", "value": 1}, {"path": "/nope/x", "value": 1}]),
            Err("override 1 (/nope/x)"),
        ),
    ];
    for (name, input, expected) in cases {
        let got = patched(input);
        match (got, expected) {
            (Ok(doc), Ok(spec_subset)) => {
                for (key, value) in spec_subset.as_object().expect("object") {
                    let actual = if key == "args" {
                        &doc["spec"]["template"]["spec"]["containers"][0]["args"]
                    } else {
                        &doc["spec"][key]
                    };
                    assert_eq!(actual, value, "{name}");
                }
                if name == "remove a member" {
                    assert!(doc["spec"].get("replicas").is_none(), "{name}");
                }
                if name.starts_with("empty op sets labels") {
                    assert_eq!(doc["metadata"]["labels"], json!({"tier": "web"}), "{name}");
                }
                if name == "escaped tokens" {
                    assert_eq!(doc["metadata"]["labels"]["a/b~c"], "v", "{name}");
                }
            }
            (Err(err), Err(fragment)) => {
                let message = err.to_string();
                assert!(message.contains(fragment), "{name}: {message:?} lacks {fragment:?}");
                assert!(message.starts_with("cluster cluster1: override "), "{name}: {message}");
            }
            (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn empty_op_sets_labels_on_a_template_without_them() {
    // KubeFed's e2e update step: a template without labels, an override without `op`.
    let mut doc = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let list = [ClusterOverride {
        cluster_name: "cluster1".into(),
        cluster_overrides: ops(json!([
            {"path": "/metadata/labels", "value": {"tier": "web"}},
            {"path": "/spec/replicas", "value": 4}
        ])),
    }];
    let patches = compile(&list);
    let ops = patches.for_cluster("cluster1").expect("valid overrides");
    apply(&mut doc, "cluster1", ops).expect("applies");
    assert_eq!(doc["metadata"]["labels"], json!({"tier": "web"}));
    assert_eq!(doc["spec"]["replicas"], 4);
}

#[test]
fn validate_refuses_what_kubefed_refused() {
    let list = |v: Value| -> Vec<ClusterOverride> { serde_json::from_value(v).expect("valid overrides") };
    let validate = |list: &[ClusterOverride]| match compile(list) {
        Patches::ByCluster(_) => Ok(()),
        Patches::Invalid(e) => Err(e),
    };
    assert!(
        validate(&list(
            json!([{"clusterName": "a", "clusterOverrides": [{"path": "/spec/x", "value": 1}]}])
        ))
        .is_ok()
    );
    let err = validate(&list(json!([{"clusterName": "a"}, {"clusterName": "a"}]))).expect_err("duplicate cluster");
    assert_eq!(err.to_string(), "overrides list cluster \"a\" more than once");
    for path in FORBIDDEN_PATHS {
        let err = validate(&list(
            json!([{"clusterName": "a", "clusterOverrides": [{"path": path, "value": "x"}]}]),
        ))
        .expect_err(path);
        assert!(err.to_string().contains("may not be overridden"), "{path}: {err}");
    }
    let err = validate(&list(
        json!([{"clusterName": "a", "clusterOverrides": [{"path": "/x", "value": 1}, {"path": "/x", "value": 2}]}]),
    ))
    .expect_err("duplicate path");
    assert!(
        err.to_string().contains("cluster a: override 1 (/x): the same path"),
        "{err}"
    );
    let err = validate(&list(
        json!([{"clusterName": "a", "clusterOverrides": [{"op": "copy", "path": "/x", "value": 1}]}]),
    ))
    .expect_err("bad op");
    assert!(err.to_string().contains("unsupported op \"copy\""), "{err}");
}

#[test]
fn for_cluster_picks_the_named_cluster() {
    let list: Vec<ClusterOverride> = serde_json::from_value(json!([
        {"clusterName": "a", "clusterOverrides": [{"path": "/x", "value": 1}]},
        {"clusterName": "b", "clusterOverrides": [{"path": "/y", "value": 2}]}
    ]))
    .expect("valid overrides");
    let patches = compile(&list);
    assert_eq!(patches.for_cluster("b").map(|ops| ops[0].path.as_str()), Ok("/y"));
    assert_eq!(patches.for_cluster("c").map(<[Operation]>::len), Ok(0));
}
