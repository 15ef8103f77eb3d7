//! Rendering: the object a federated object should produce in one member cluster.
//!
//! Order (KubeFed's, `reference/kubefed.md` §1.5): copy the template; set
//! identity (name, namespace, apiVersion, kind); apply the cluster's overrides;
//! add the `kubefed.io/managed=true` label, which overrides cannot remove.
//! Unlike KubeFed, template annotations are propagated; finalizers are not
//! (no controller in the member would ever remove them).

use crate::api::OverrideOp;
use crate::kinds::Kind;
use crate::overrides::{self, OverrideError};
use crate::wellknown::MANAGED_LABEL;
use serde_json::{Map, Value};

/// Metadata fields of the template that are propagated; the rest (uid,
/// resourceVersion, ownerReferences, finalizers, ...) belongs to one cluster.
const PROPAGATED_METADATA: &[&str] = &["labels", "annotations"];

/// Identity of the federated object being rendered.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub kind: &'a Kind,
    pub name: &'a str,
    /// Namespace of the federated object (`None` when cluster-scoped).
    pub namespace: Option<&'a str>,
}

/// Why no object could be rendered for a cluster.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// KubeFed's `ApplyOverridesFailed`.
    #[error(transparent)]
    Overrides(#[from] OverrideError),
    /// KubeFed's `ComputeResourceFailed`.
    #[error("{0}")]
    Invalid(String),
}

/// The desired member object for `cluster`: template + identity + overrides + managed label.
pub fn render(
    source: Source<'_>,
    template: Option<&Map<String, Value>>,
    cluster: &str,
    ops: &[OverrideOp],
) -> Result<Value, RenderError> {
    let mut object = template.cloned().unwrap_or_default();
    object.remove("status");
    let metadata = match object.remove("metadata") {
        None => Map::new(),
        Some(Value::Object(m)) => m
            .into_iter()
            .filter(|(k, _)| PROPAGATED_METADATA.contains(&k.as_str()))
            .collect(),
        Some(_) => return Err(RenderError::Invalid("template.metadata must be an object".into())),
    };
    object.insert("metadata".into(), Value::Object(metadata));
    let mut object = Value::Object(object);
    set_identity(&mut object, source);

    overrides::apply(&mut object, cluster, ops)?;

    // Overrides may touch apiVersion (KubeFed allows it) but never identity.
    let identity_changed = object.pointer("/metadata/name").and_then(Value::as_str) != Some(member_name(source))
        || object.pointer("/metadata/namespace").and_then(Value::as_str) != member_namespace(source)
        || object.get("kind").and_then(Value::as_str) != Some(source.kind.target_kind());
    if identity_changed {
        return Err(RenderError::Invalid(format!(
            "cluster {cluster}: overrides may not change the name, namespace or kind of the object"
        )));
    }
    let labels = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| RenderError::Invalid(format!("cluster {cluster}: overrides removed metadata")))?
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    let labels = labels
        .as_object_mut()
        .ok_or_else(|| RenderError::Invalid(format!("cluster {cluster}: metadata.labels must be an object")))?;
    labels.insert(MANAGED_LABEL.into(), Value::String("true".into()));
    Ok(object)
}

/// Name of the member object: the federated object's name.
pub fn member_name<'a>(source: Source<'a>) -> &'a str {
    source.name
}

/// Namespace of the member object: the federated object's, for namespaced targets.
pub fn member_namespace<'a>(source: Source<'a>) -> Option<&'a str> {
    if source.kind.target_namespaced() {
        source.namespace
    } else {
        None
    }
}

fn set_identity(object: &mut Value, source: Source<'_>) {
    object["apiVersion"] = Value::String(source.kind.target_resource.api_version.clone());
    object["kind"] = Value::String(source.kind.target_kind().to_string());
    object["metadata"]["name"] = Value::String(member_name(source).to_string());
    if let (Some(ns), Some(metadata)) = (member_namespace(source), object["metadata"].as_object_mut()) {
        metadata.insert("namespace".into(), Value::String(ns.to_string()));
    }
}

/// Replaces values that must never be shown.
pub const REDACTED: &str = "<redacted>";

/// An error message about the rendered member `object` that is safe to show in status,
/// Events and logs. For a confidential kind, every value of its `data` and `stringData`
/// (as written, JSON-escaped, base64-encoded and base64-decoded) is replaced by
/// `<redacted>`, and so is whatever the API server quotes after `got` in a typed-patch
/// error (`.data.k: expected string, got &value.valueUnstructured{Value:...}`), whatever
/// its length. Other kinds' messages are returned unchanged.
pub fn redact(kind: &Kind, object: &Value, message: &str) -> String {
    if !kind.behaviour.confidential {
        return message.to_string();
    }
    let mut message = redact_quoted_values(message);
    let mut secrets = Vec::new();
    for field in ["data", "stringData"] {
        if let Some(value) = object.get(field) {
            confidential_strings(value, field == "data", &mut secrets);
        }
    }
    // Longest first, so a value containing another is replaced whole. Very short strings
    // are left: replacing every "a" would make the message unreadable and protect nothing.
    secrets.retain(|s| s.chars().count() >= MIN_REDACTED_CHARS);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    for secret in secrets {
        message = message.replace(&secret, REDACTED);
    }
    message
}

const MIN_REDACTED_CHARS: usize = 4;

/// The forms in which the values of `data` (base64) or `stringData` (plain) may appear.
fn confidential_strings(value: &Value, base64: bool, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.values().for_each(|v| confidential_strings(v, base64, out)),
        Value::Array(items) => items.iter().for_each(|v| confidential_strings(v, base64, out)),
        Value::String(s) => {
            let mut forms = vec![s.clone(), encode_base64(s.as_bytes())];
            if base64 && let Some(decoded) = decode_base64(s) {
                forms.push(encode_base64(&decoded));
                forms.push(String::from_utf8_lossy(&decoded).into_owned());
            }
            for form in forms {
                // JSON- (and, for ordinary characters, Go-) escaped, as error messages quote them.
                if let Ok(quoted) = serde_json::to_string(&form) {
                    out.push(quoted[1..quoted.len() - 1].to_string());
                }
                out.push(form);
            }
        }
        Value::Null => {}
        scalar => out.push(scalar.to_string()),
    }
}

fn encode_base64(bytes: &[u8]) -> String {
    match serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    serde_json::from_value::<k8s_openapi::ByteString>(Value::String(s.to_string()))
        .ok()
        .map(|b| b.0)
}

/// Cuts what the API server's structured-merge errors quote after `got `: a Go
/// `&value.valueUnstructured{Value:...}` (balanced braces, quoted strings skipped), or
/// else the rest of that line up to `; ` or the end.
fn redact_quoted_values(message: &str) -> String {
    const MARK: &str = "got ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at + MARK.len());
        out.push_str(before);
        let end = quoted_value_end(after);
        if end == 0 {
            rest = after;
            continue;
        }
        out.push_str(REDACTED);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Length of the value quoted at the start of `s` (0 when nothing follows): a Go
/// composite literal whose first word opens a brace ends at the balancing brace; any other
/// value at the next `;`, `,` or line end (over-redacting is the safe side).
fn quoted_value_end(s: &str) -> usize {
    let first_word = s.find(char::is_whitespace).unwrap_or(s.len());
    let Some(open) = s[..first_word].find('{') else {
        return s.find(['\n', ';', ',']).unwrap_or(s.len());
    };
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len() // unbalanced (e.g. a truncated message): everything that follows
}

#[cfg(test)]
mod tests {
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

    fn ops(value: Value) -> Vec<OverrideOp> {
        serde_json::from_value(value).expect("valid ops")
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

        let cluster1 = render(src, Some(&tpl), "cluster1", &seed_ops).expect("renders");
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

        let cluster2 = render(src, Some(&tpl), "cluster2", &[]).expect("renders");
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
        let got = render(source("ConfigMap", "cfg", Some("ns1")), Some(&tpl), "c", &[]).expect("renders");
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
        let got = render(source("ClusterRole", "reader", None), None, "c", &[]).expect("renders");
        assert_eq!(
            got["metadata"],
            json!({"name": "reader", "labels": {"kubefed.io/managed": "true"}})
        );
        // A FederatedNamespace named after its namespace renders the Namespace itself.
        let got = render(source("Namespace", "team-a", Some("team-a")), None, "c", &[]).expect("renders");
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
            "c",
            &ops(json!([{"op": "remove", "path": "/metadata/labels"}])),
        )
        .expect("renders");
        assert_eq!(got["metadata"]["labels"], json!({"kubefed.io/managed": "true"}));
        let got = render(
            src,
            Some(&tpl),
            "c",
            &ops(json!([{"path": "/metadata/labels/kubefed.io~1managed", "op": "add", "value": "false"}])),
        )
        .expect("renders");
        assert_eq!(got["metadata"]["labels"]["kubefed.io/managed"], "true");
        let got = render(
            src,
            Some(&tpl),
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
            let err = render(src, None, "c", &ops(json!([{"path": path, "value": "kube-system"}]))).expect_err(path);
            assert!(
                err.to_string().contains("may not change the name, namespace or kind"),
                "{path}: {err}"
            );
        }
        let err = render(
            src,
            None,
            "c",
            &ops(json!([{"path": "/metadata", "value": {"name": "x"}}])),
        )
        .expect_err("metadata");
        assert!(matches!(err, RenderError::Invalid(_)), "{err}");
        let err =
            render(src, None, "c", &ops(json!([{"path": "/metadata", "value": "x"}]))).expect_err("metadata scalar");
        assert!(matches!(err, RenderError::Invalid(_)), "{err}");
        // apiVersion may be overridden, as in KubeFed.
        let got = render(src, None, "c", &ops(json!([{"path": "/apiVersion", "value": "v1"}]))).expect("renders");
        assert_eq!(got["apiVersion"], "v1");
    }

    #[test]
    fn override_failures_name_cluster_index_and_path() {
        let err = render(
            source("ConfigMap", "cfg", Some("ns1")),
            None,
            "member2",
            &ops(json!([{"path": "/data/missing", "value": "x"}])),
        )
        .expect_err("missing path");
        assert_eq!(
            err,
            RenderError::Overrides(OverrideError::Operation {
                cluster: "member2".into(),
                index: 0,
                path: "/data/missing".into(),
                reason: "/data does not exist".into(),
            })
        );
    }

    #[test]
    fn bad_template_metadata_is_reported() {
        let tpl = template(json!({"metadata": "nope"}));
        let err = render(source("ConfigMap", "cfg", Some("ns1")), Some(&tpl), "c", &[]).expect_err("bad metadata");
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
}
