//! Cluster overrides: KubeFed's subset of RFC 6902 JSON Patch, applied per cluster.
//!
//! Semantics follow KubeFed v0.10.0 and the json-patch library it applies them
//! with (evanphx/json-patch v4.12): operations apply in list order; an empty or
//! absent `op` means `replace`; `replace` and `add` of a missing member of an
//! existing object create it, `remove` of one fails; every parent on the path must
//! exist; `add` inserts at array indexes and appends with `-`, `replace` and
//! `remove` need an index in range; negative array indexes count from the end. Every failure names
//! the cluster, the operation's index and its path; no input panics.

use crate::api::{ClusterOverride, OverrideOp};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt;

/// Paths that would change an object's identity; KubeFed refuses them too.
pub const FORBIDDEN_PATHS: &[&str] = &[
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/generateName",
    "/metadata",
    "/kind",
];

/// The three operations KubeFed supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

impl Op {
    fn parse(op: Option<&str>) -> Option<Op> {
        match op.unwrap_or("") {
            "" | "replace" => Some(Op::Replace),
            "add" => Some(Op::Add),
            "remove" => Some(Op::Remove),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        }
    }
}

/// Why the overrides of an object could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("overrides list cluster {cluster:?} more than once")]
    DuplicateCluster { cluster: String },
    #[error("cluster {cluster}: override {index} ({path}): {reason}")]
    Operation {
        cluster: String,
        index: usize,
        path: String,
        reason: String,
    },
}

/// Checks the whole `overrides` list the way KubeFed's sync controller did, for
/// objects that bypassed admission validation (e.g. stored under KubeFed's CRDs).
pub fn validate(overrides: &[ClusterOverride]) -> Result<(), OverrideError> {
    let mut clusters = BTreeSet::new();
    for cluster in overrides {
        if !clusters.insert(cluster.cluster_name.as_str()) {
            return Err(OverrideError::DuplicateCluster {
                cluster: cluster.cluster_name.clone(),
            });
        }
        let mut paths = BTreeSet::new();
        for (index, op) in cluster.cluster_overrides.iter().enumerate() {
            let fail = |reason: String| OverrideError::Operation {
                cluster: cluster.cluster_name.clone(),
                index,
                path: op.path.clone(),
                reason,
            };
            if Op::parse(op.op.as_deref()).is_none() {
                return Err(fail(format!(
                    "unsupported op {:?}; use add, remove or replace",
                    op.op.as_deref().unwrap_or("")
                )));
            }
            if FORBIDDEN_PATHS.contains(&op.path.as_str()) {
                return Err(fail("this path may not be overridden".into()));
            }
            if !paths.insert(op.path.as_str()) {
                return Err(fail("the same path appears more than once for this cluster".into()));
            }
            parse_pointer(&op.path).map_err(fail)?;
        }
    }
    Ok(())
}

/// The overrides for `cluster`, if any.
pub fn for_cluster<'a>(overrides: &'a [ClusterOverride], cluster: &str) -> &'a [OverrideOp] {
    overrides
        .iter()
        .find(|o| o.cluster_name == cluster)
        .map(|o| o.cluster_overrides.as_slice())
        .unwrap_or(&[])
}

/// Applies `ops` to `doc` in order. On error `doc` may be partly patched; callers patch a copy.
pub fn apply(doc: &mut Value, cluster: &str, ops: &[OverrideOp]) -> Result<(), OverrideError> {
    for (index, op) in ops.iter().enumerate() {
        apply_one(doc, op).map_err(|reason| OverrideError::Operation {
            cluster: cluster.to_string(),
            index,
            path: op.path.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn apply_one(doc: &mut Value, op: &OverrideOp) -> Result<(), String> {
    let kind = Op::parse(op.op.as_deref()).ok_or_else(|| {
        format!(
            "unsupported op {:?}; use add, remove or replace",
            op.op.as_deref().unwrap_or("")
        )
    })?;
    let tokens = parse_pointer(&op.path)?;
    let (path, creates) = resolve(doc, &tokens, kind)?;
    let value = match kind {
        Op::Remove => None,
        Op::Add | Op::Replace => Some(
            op.value
                .clone()
                .ok_or_else(|| format!("{} needs a value", kind.name()))?,
        ),
    };
    // A replace that creates an object member is, to RFC 6902, an add.
    let wire = if creates { Op::Add } else { kind };
    let mut operation = json!({ "op": wire.name(), "path": path });
    if let Some(value) = value {
        operation["value"] = value;
    }
    let patch: json_patch::Patch = serde_json::from_value(json!([operation])).map_err(|e| e.to_string())?;
    json_patch::patch(doc, &patch).map_err(|e| e.kind.to_string())
}

/// Splits an RFC 6901 pointer into unescaped tokens.
fn parse_pointer(path: &str) -> Result<Vec<String>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("path must be a JSON pointer starting with /".into());
    };
    rest.split('/')
        .map(|token| {
            if token.replace("~0", "").replace("~1", "").contains('~') {
                return Err(format!("bad escape in {token:?}: ~ must be written ~0 and / as ~1"));
            }
            Ok(token.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Walks `tokens` through `doc`, checking that the path can take `op`, and returns
/// the pointer with array indexes made canonical (negative ones resolved from the end),
/// and whether the operation creates an object member that is not there yet.
///
/// As in KubeFed's json-patch (evanphx/json-patch v4.12, whose object lookup never
/// reports a missing key), `replace` of a missing member of an existing object adds it,
/// while every parent must exist, an array index must be in range and `remove` needs
/// the member.
fn resolve(doc: &Value, tokens: &[String], op: Op) -> Result<(String, bool), String> {
    let mut node = doc;
    let mut resolved = String::new();
    for (depth, token) in tokens.iter().enumerate() {
        let last = depth + 1 == tokens.len();
        let here = if resolved.is_empty() {
            "/".to_string()
        } else {
            resolved.clone()
        };
        match node {
            Value::Object(map) => {
                resolved.push('/');
                resolved.push_str(&escape(token));
                match map.get(token) {
                    Some(child) => node = child,
                    None if last && op != Op::Remove => return Ok((resolved, true)),
                    None => return Err(format!("{resolved} does not exist")),
                }
            }
            Value::Array(items) => {
                let len = items.len();
                let index = if last && op == Op::Add && token == "-" {
                    len
                } else {
                    array_index(token, len, last && op == Op::Add).map_err(|e| format!("{e} (at {here})"))?
                };
                resolved.push('/');
                resolved.push_str(&index.to_string());
                if !last {
                    node = &items[index];
                }
            }
            other => {
                return Err(format!("{here} is a {}, not an object or array", type_name(other)));
            }
        }
    }
    Ok((resolved, false))
}

/// Resolves an array index token; `insert` allows the position just past the end.
/// Only canonical decimals are indexes (RFC 6901: no leading zeros or `+`), so
/// `00` or `+1` is refused instead of silently meaning `0` or `1`.
fn array_index(token: &str, len: usize, insert: bool) -> Result<usize, String> {
    let not_an_index = || format!("{token:?} is not an array index");
    let digits = token.strip_prefix('-').unwrap_or(token);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && token != "-0";
    if !canonical {
        return Err(not_an_index());
    }
    let parsed: i64 = token.parse().map_err(|_| not_an_index())?;
    let slots = if insert { len + 1 } else { len } as i64;
    let index = if parsed < 0 { parsed + slots } else { parsed };
    if index < 0 || index >= slots {
        return Err(format!("index {parsed} is out of range for an array of length {len}"));
    }
    Ok(index as usize)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn patched(ops_json: Value) -> Result<Value, OverrideError> {
        let mut doc = deployment();
        apply(&mut doc, "cluster1", &ops(ops_json))?;
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
                "empty op sets labels on a template without them (KubeFed's e2e update step)",
                json!([
                    {"op": "remove", "path": "/metadata/labels"},
                    {"path": "/metadata/labels", "value": {"tier": "web"}},
                    {"path": "/spec/replicas", "value": 4}
                ]),
                Ok(json!({"replicas": 4})),
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
    fn validate_refuses_what_kubefed_refused() {
        let list = |v: Value| -> Vec<ClusterOverride> { serde_json::from_value(v).expect("valid overrides") };
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
        assert_eq!(for_cluster(&list, "b")[0].path, "/y");
        assert!(for_cluster(&list, "c").is_empty());
    }
}
