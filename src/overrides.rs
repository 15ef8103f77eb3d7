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
mod tests;
