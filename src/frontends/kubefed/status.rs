//! The status of a federated object: KubeFed's shape and reasons, computed
//! purely from what happened in each cluster, and written only when it changes.

use crate::api::{ClusterPropagationStatus, ConditionStatus, FederatedStatus, PropagationCondition};
use crate::engine::outcome::{ClusterResult, ClusterState};

/// Why the object as a whole is not propagated (KubeFed's aggregate reasons).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// Every cluster is OK (or none is selected).
    Propagated,
    /// Some cluster is not OK: `CheckClusters`.
    CheckClusters,
    /// The namespace has no FederatedNamespace: `NamespaceNotFederated`.
    NamespaceNotFederated,
    /// Placement could not be computed: `ComputePlacementFailed`, with the reason.
    ComputePlacementFailed(String),
}

/// The status for `results` at `generation`, keeping timestamps of `previous` where nothing changed.
pub fn compute(
    previous: Option<&FederatedStatus>,
    generation: Option<i64>,
    aggregate: Aggregate,
    results: &[ClusterResult],
    now: &str,
) -> FederatedStatus {
    let mut results: Vec<&ClusterResult> = results.iter().collect();
    results.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let aggregate = match aggregate {
        Aggregate::Propagated if results.iter().any(|r| r.state != ClusterState::Ok) => Aggregate::CheckClusters,
        other => other,
    };
    let (status, reason, message) = match &aggregate {
        Aggregate::Propagated => (ConditionStatus::True, None, None),
        Aggregate::CheckClusters => {
            let failing: Vec<String> = results
                .iter()
                .filter(|r| r.state != ClusterState::Ok)
                .map(|r| match &r.message {
                    Some(m) => format!("{}: {} ({m})", r.cluster, r.state.reason().unwrap_or_default()),
                    None => format!("{}: {}", r.cluster, r.state.reason().unwrap_or_default()),
                })
                .collect();
            (ConditionStatus::False, Some("CheckClusters"), Some(failing.join("; ")))
        }
        Aggregate::NamespaceNotFederated => (
            ConditionStatus::False,
            Some("NamespaceNotFederated"),
            Some("the namespace has no FederatedNamespace, so the object is placed nowhere".to_string()),
        ),
        Aggregate::ComputePlacementFailed(why) => (
            ConditionStatus::False,
            Some("ComputePlacementFailed"),
            Some(why.clone()),
        ),
    };
    let mut condition = PropagationCondition {
        type_: "Propagation".into(),
        status,
        reason: reason.map(str::to_string),
        message,
        last_update_time: Some(now.into()),
        last_transition_time: Some(now.into()),
    };
    let clusters: Vec<ClusterPropagationStatus> = results
        .iter()
        .map(|r| ClusterPropagationStatus {
            name: r.cluster.clone(),
            status: r.state.reason().map(str::to_string),
            remote_status: None,
        })
        .collect();
    if let Some(old) = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == "Propagation")) {
        if old.status == condition.status && old.reason == condition.reason {
            condition.last_transition_time = old.last_transition_time.clone();
        }
        let unchanged = old.status == condition.status
            && old.reason == condition.reason
            && old.message == condition.message
            && previous.is_some_and(|p| p.clusters == clusters);
        if unchanged {
            condition.last_update_time = old.last_update_time.clone();
        }
    }
    FederatedStatus {
        observed_generation: generation,
        conditions: vec![condition],
        clusters,
    }
}

/// True when writing `next` over `previous` would change anything.
pub fn changed(previous: Option<&FederatedStatus>, next: &FederatedStatus) -> bool {
    previous != Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ok_is_propagated() {
        let s = compute(
            None,
            Some(3),
            Aggregate::Propagated,
            &[ClusterResult::ok("b"), ClusterResult::ok("a")],
            "t0",
        );
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.conditions[0].status, ConditionStatus::True);
        assert_eq!(s.conditions[0].reason, None);
        assert_eq!(
            s.clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"],
            "sorted by name"
        );
        assert!(
            s.clusters.iter().all(|c| c.status.is_none()),
            "OK is an empty status, as in KubeFed"
        );
    }

    #[test]
    fn a_failing_cluster_means_check_clusters() {
        let results = [
            ClusterResult::ok("a"),
            ClusterResult::failed("b", ClusterState::ClusterNotReady, "cluster is not reachable"),
        ];
        let s = compute(None, Some(1), Aggregate::Propagated, &results, "t0");
        assert_eq!(s.conditions[0].status, ConditionStatus::False);
        assert_eq!(s.conditions[0].reason.as_deref(), Some("CheckClusters"));
        assert_eq!(
            s.conditions[0].message.as_deref(),
            Some("b: ClusterNotReady (cluster is not reachable)")
        );
        assert_eq!(s.clusters[1].status.as_deref(), Some("ClusterNotReady"));
    }

    #[test]
    fn namespace_not_federated() {
        let s = compute(None, Some(1), Aggregate::NamespaceNotFederated, &[], "t0");
        assert_eq!(s.conditions[0].reason.as_deref(), Some("NamespaceNotFederated"));
    }

    #[test]
    fn unchanged_status_keeps_its_timestamps_and_is_not_rewritten() {
        let first = compute(None, Some(1), Aggregate::Propagated, &[ClusterResult::ok("a")], "t0");
        let again = compute(
            Some(&first),
            Some(1),
            Aggregate::Propagated,
            &[ClusterResult::ok("a")],
            "t1",
        );
        assert!(
            !changed(Some(&first), &again),
            "a converged object needs no status write"
        );

        let failing = compute(
            Some(&first),
            Some(1),
            Aggregate::Propagated,
            &[ClusterResult::failed("a", ClusterState::UpdateFailed, "x")],
            "t2",
        );
        assert!(changed(Some(&first), &failing));
        assert_eq!(failing.conditions[0].last_transition_time.as_deref(), Some("t2"));

        let new_generation = compute(
            Some(&first),
            Some(2),
            Aggregate::Propagated,
            &[ClusterResult::ok("a")],
            "t3",
        );
        assert!(changed(Some(&first), &new_generation), "observedGeneration moves");
        assert_eq!(new_generation.conditions[0].last_transition_time.as_deref(), Some("t0"));
    }
}
