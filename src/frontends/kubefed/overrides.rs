//! KubeFed's `overrides` (`clusterOverrides` per cluster) compiled to the engine's
//! patches, checked the way KubeFed's sync controller checked them, for objects
//! that bypassed admission validation (e.g. stored under KubeFed's own CRDs).
//!
//! An empty or absent `op` means `replace` (KubeFed v0.10.0); only `add`, `remove`
//! and `replace` are supported; identity paths and a path given twice for one
//! cluster are refused; one bad entry refuses the whole list, as in KubeFed.

use crate::api::{ClusterOverride, OverrideOp};
use crate::engine::patch::{Op, Operation, PatchError, Patches, parse_pointer};
use std::collections::{BTreeMap, BTreeSet};

/// Paths that would change an object's identity; KubeFed refuses them too.
pub const FORBIDDEN_PATHS: &[&str] = &[
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/generateName",
    "/metadata",
    "/kind",
];

/// The engine's patches for `overrides`, or why there are none.
pub fn compile(overrides: &[ClusterOverride]) -> Patches {
    match compiled(overrides) {
        Ok(map) => Patches::ByCluster(map),
        Err(e) => Patches::Invalid(e),
    }
}

fn compiled(overrides: &[ClusterOverride]) -> Result<BTreeMap<String, Vec<Operation>>, PatchError> {
    let mut by_cluster = BTreeMap::new();
    for cluster in overrides {
        if by_cluster.contains_key(&cluster.cluster_name) {
            return Err(PatchError::DuplicateCluster {
                cluster: cluster.cluster_name.clone(),
            });
        }
        let mut paths = BTreeSet::new();
        let mut ops = Vec::with_capacity(cluster.cluster_overrides.len());
        for (index, op) in cluster.cluster_overrides.iter().enumerate() {
            let fail = |reason: String| PatchError::Operation {
                cluster: cluster.cluster_name.clone(),
                index,
                path: op.path.clone(),
                reason,
            };
            let kind = parse_op(op).map_err(fail)?;
            if FORBIDDEN_PATHS.contains(&op.path.as_str()) {
                return Err(fail("this path may not be overridden".into()));
            }
            if !paths.insert(op.path.as_str()) {
                return Err(fail("the same path appears more than once for this cluster".into()));
            }
            parse_pointer(&op.path).map_err(fail)?;
            ops.push(Operation {
                op: kind,
                path: op.path.clone(),
                value: op.value.clone(),
            });
        }
        by_cluster.insert(cluster.cluster_name.clone(), ops);
    }
    Ok(by_cluster)
}

fn parse_op(op: &OverrideOp) -> Result<Op, String> {
    match op.op.as_deref().unwrap_or("") {
        "" | "replace" => Ok(Op::Replace),
        "add" => Ok(Op::Add),
        "remove" => Ok(Op::Remove),
        other => Err(format!("unsupported op {other:?}; use add, remove or replace")),
    }
}

#[cfg(test)]
mod tests;
