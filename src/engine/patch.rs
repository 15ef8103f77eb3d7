//! Per-cluster patches: RFC 6902 operations (add, remove, replace) applied to a
//! rendered object. Every front end compiles its own per-cluster changes to these
//! (KubeFed's `clusterOverrides`; later Karmada's overriders).
//!
//! Semantics are those of the json-patch library KubeFed v0.10.0 applies its
//! overrides with (evanphx/json-patch v4.12): operations apply in list order;
//! `replace` and `add` of a missing member of an existing object create it,
//! `remove` of one fails; every parent on the path must exist; `add` inserts at
//! array indexes and appends with `-`, `replace` and `remove` need an index in
//! range; negative array indexes count from the end. Every failure names the
//! cluster, the operation's index and its path; no input panics.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;

/// An RFC 6902 operation the engine applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        }
    }
}

/// One operation: `value` is required for `add` and `replace`.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: String,
    pub value: Option<Value>,
}

/// Why patches could not be had or applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
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

/// The patches of one intent, by cluster; or why the front end could not produce them
/// (then no cluster gets the object, as KubeFed refused the whole list).
#[derive(Clone, Debug, PartialEq)]
pub enum Patches {
    ByCluster(BTreeMap<String, Vec<Operation>>),
    Invalid(PatchError),
}

impl Default for Patches {
    fn default() -> Self {
        Patches::ByCluster(BTreeMap::new())
    }
}

impl Patches {
    /// The operations for `cluster` (none when it has no entry).
    pub fn for_cluster(&self, cluster: &str) -> Result<&[Operation], &PatchError> {
        match self {
            Patches::ByCluster(map) => Ok(map.get(cluster).map(Vec::as_slice).unwrap_or(&[])),
            Patches::Invalid(e) => Err(e),
        }
    }
}

/// Applies `ops` to `doc` in order. On error `doc` may be partly patched; callers patch a copy.
pub fn apply(doc: &mut Value, cluster: &str, ops: &[Operation]) -> Result<(), PatchError> {
    for (index, op) in ops.iter().enumerate() {
        apply_one(doc, op).map_err(|reason| PatchError::Operation {
            cluster: cluster.to_string(),
            index,
            path: op.path.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn apply_one(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let tokens = parse_pointer(&op.path)?;
    let (path, creates) = resolve(doc, &tokens, op.op)?;
    let value = match op.op {
        Op::Remove => None,
        Op::Add | Op::Replace => Some(
            op.value
                .clone()
                .ok_or_else(|| format!("{} needs a value", op.op.name()))?,
        ),
    };
    // A replace that creates an object member is, to RFC 6902, an add.
    let wire = if creates { Op::Add } else { op.op };
    let mut operation = json!({ "op": wire.name(), "path": path });
    if let Some(value) = value {
        operation["value"] = value;
    }
    let patch: json_patch::Patch = serde_json::from_value(json!([operation])).map_err(|e| e.to_string())?;
    json_patch::patch(doc, &patch).map_err(|e| e.kind.to_string())
}

/// Splits an RFC 6901 pointer into unescaped tokens.
pub fn parse_pointer(path: &str) -> Result<Vec<String>, String> {
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
