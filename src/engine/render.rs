//! Rendering: the object a federated object should produce in one member cluster.
//!
//! Order (KubeFed's, `reference/kubefed.md` §1.5): copy the template; set
//! identity (name, namespace, apiVersion, kind); set the cluster's replicas, when
//! the intent divides them (Karmada's order: before the overriders); apply the
//! cluster's patches; add the `kubefed.io/managed=true` label, which patches
//! cannot remove.
//! Unlike KubeFed, template annotations are propagated; finalizers are not
//! (no controller in the member would ever remove them).

use crate::engine::patch::{self, Operation, PatchError};
use crate::kinds::Kind;
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
    Patch(#[from] PatchError),
    /// KubeFed's `ComputeResourceFailed`.
    #[error("{0}")]
    Invalid(String),
}

/// The desired member object for `cluster`: template + identity + replicas + patches + managed label.
pub fn render(
    source: Source<'_>,
    template: Option<&Map<String, Value>>,
    replicas: Option<i64>,
    cluster: &str,
    ops: &[Operation],
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
    if let (Some(replicas), Some(path)) = (replicas, source.kind.behaviour.replicas_path.as_deref()) {
        set_replicas(&mut object, path, replicas)
            .map_err(|why| RenderError::Invalid(format!("cluster {cluster}: replicas at {path}: {why}")))?;
    }

    patch::apply(&mut object, cluster, ops)?;

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

/// Sets the integer at `path` (a JSON pointer), creating missing parent objects.
fn set_replicas(object: &mut Value, path: &str, replicas: i64) -> Result<(), String> {
    let mut node = object;
    let tokens: Vec<String> = patch::parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err("empty path".into());
    };
    for token in parents {
        let map = node.as_object_mut().ok_or("a parent is not an object")?;
        node = map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    node.as_object_mut()
        .ok_or("the parent is not an object")?
        .insert(last.clone(), Value::from(replicas));
    Ok(())
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
mod tests;
