//! Scheduling: how many of an intent's replicas each cluster runs. Pure functions,
//! table-tested against the anchors' own vectors (`reference/scheduling.md`).
//!
//! `plan` is KubeFed's ReplicaSchedulingPreference planner (v0.10.0,
//! `pkg/controller/util/planner`), reproduced exactly, including its order (weight
//! descending, then the FNV-1 32-bit hash of cluster name and object key ascending, so
//! single replicas spread instead of favouring the alphabetically first cluster), its
//! rounding (every pass divides what remains in proportion to the weights, rounding up)
//! and its quirks (a cluster whose minimum exceeds its maximum keeps the maximum; the
//! 10:40 case its own tests call suboptimal).

use std::collections::BTreeMap;

/// One cluster's preference (KubeFed's `ClusterPreferences`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preference {
    pub min_replicas: i64,
    /// `None`: unbounded.
    pub max_replicas: Option<i64>,
    pub weight: i64,
}

/// What to divide and how (KubeFed's ReplicaSchedulingPreference spec).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    pub total_replicas: i64,
    /// Running replicas may move (`false`: clusters keep what runs there, up to their maximum and capacity).
    pub rebalance: bool,
    /// By cluster name, or `"*"` for every cluster without its own entry. A cluster with
    /// neither gets no replicas.
    pub clusters: BTreeMap<String, Preference>,
}

/// Replicas per cluster, and per cluster how many more would be placed there if it had
/// the capacity (KubeFed's overflow: the scheduler adds them to the plan, so they
/// run wherever capacity appears).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub replicas: BTreeMap<String, i64>,
    pub overflow: BTreeMap<String, i64>,
}

struct Ranked<'a> {
    cluster: &'a str,
    hash: u32,
    preference: &'a Preference,
}

/// Divides `preferences.total_replicas` over `available` clusters. `current` holds the
/// replicas running per cluster (used when rebalance is off), `capacity` the replicas a
/// cluster can run at most (when known), `key` the object's `namespace/name`.
pub fn plan(
    preferences: &Preferences,
    available: &[String],
    current: &BTreeMap<String, i64>,
    capacity: &BTreeMap<String, i64>,
    key: &str,
) -> Plan {
    let mut replicas: BTreeMap<String, i64> = BTreeMap::new();
    let mut overflow: BTreeMap<String, i64> = BTreeMap::new();
    let mut ranked: Vec<Ranked> = Vec::with_capacity(available.len());
    for cluster in available {
        match preferences
            .clusters
            .get(cluster)
            .or_else(|| preferences.clusters.get("*"))
        {
            Some(preference) => ranked.push(Ranked {
                cluster,
                hash: fnv1_32(&[cluster.as_bytes(), key.as_bytes()]),
                preference,
            }),
            None => {
                replicas.insert(cluster.clone(), 0);
            }
        }
    }
    ranked.sort_by(|a, b| b.preference.weight.cmp(&a.preference.weight).then(a.hash.cmp(&b.hash)));
    let capacity_of = |cluster: &str| capacity.get(cluster).copied();

    let mut remaining = preferences.total_replicas;
    for r in &ranked {
        let mut min = r.preference.min_replicas.min(remaining);
        if let Some(c) = capacity_of(r.cluster) {
            min = min.min(c);
        }
        remaining -= min;
        replicas.insert(r.cluster.to_string(), min);
    }

    // Replicas kept where they run (rebalance off), handed out first in the passes below.
    let mut preallocated: BTreeMap<&str, i64> = BTreeMap::new();
    if !preferences.rebalance {
        for r in &ranked {
            let planned = replicas[r.cluster];
            let Some(&count) = current.get(r.cluster) else { continue };
            if count <= planned {
                continue;
            }
            let mut target = count;
            if let Some(max) = r.preference.max_replicas {
                target = target.min(max);
            }
            if let Some(c) = capacity_of(r.cluster) {
                target = target.min(c);
            }
            let extra = (target - planned).min(remaining).max(0);
            remaining -= extra;
            preallocated.insert(r.cluster, extra);
            replicas.insert(r.cluster.to_string(), planned + extra);
        }
    }

    let mut open: Vec<&Ranked> = ranked.iter().collect();
    let mut modified = true;
    while modified && remaining > 0 {
        modified = false;
        let weight_sum: i64 = open.iter().map(|r| r.preference.weight).sum();
        if weight_sum <= 0 {
            break;
        }
        let distribute = remaining;
        let mut still_open = Vec::with_capacity(open.len());
        for r in open {
            let start = replicas[r.cluster];
            // Rounding fractions up.
            let mut extra = ((distribute * r.preference.weight + weight_sum - 1) / weight_sum).min(remaining);
            let prealloc = preallocated.get(r.cluster).copied().unwrap_or(0);
            let used = extra.min(prealloc);
            preallocated.insert(r.cluster, prealloc - used);
            extra -= used;
            if used > 0 {
                modified = true;
            }
            let mut total = start + extra;
            let mut full = false;
            if let Some(max) = r.preference.max_replicas
                && total > max
            {
                total = max;
                full = true;
            }
            if let Some(c) = capacity_of(r.cluster)
                && total > c
            {
                overflow.insert(r.cluster.to_string(), total - c);
                total = c;
                full = true;
            }
            if !full {
                still_open.push(r);
            }
            remaining -= total - start;
            replicas.insert(r.cluster.to_string(), total);
            if total > start {
                modified = true;
            }
        }
        open = still_open;
    }

    if !preferences.rebalance {
        // Overflow is trimmed to the replicas that found no place at all.
        overflow = overflow
            .into_iter()
            .map(|(cluster, extra)| (cluster, extra.min(remaining)))
            .filter(|(_, extra)| *extra > 0)
            .collect();
    }
    Plan { replicas, overflow }
}

/// FNV-1 (not 1a), 32 bits, over the concatenation of `parts` (Go's `hash/fnv.New32`).
fn fnv1_32(parts: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash = hash.wrapping_mul(0x0100_0193);
        hash ^= u32::from(*byte);
    }
    hash
}

#[cfg(test)]
mod tests;
