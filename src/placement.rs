//! Placement: which registered member clusters a federated object goes to.
//!
//! Pure functions with KubeFed's rules (`reference/kubefed.md` §1.5):
//! a present `clusters` list decides alone (empty selects none); otherwise the
//! `clusterSelector` decides (absent selects none, `{}` selects all); the result
//! is intersected with the registered clusters; namespaced objects are further
//! intersected with their namespace's FederatedNamespace placement.

use crate::api::Placement;
use kube::core::{Selector, SelectorExt};
use std::collections::{BTreeMap, BTreeSet};

/// A registered member cluster, as placement sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Member {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The placement of the FederatedNamespace that contains a namespaced object.
#[derive(Clone, Copy, Debug)]
pub enum NamespacePlacement<'a> {
    /// Cluster-scoped objects and FederatedNamespaces themselves: no namespace constraint.
    NotApplicable,
    /// The object's namespace has no FederatedNamespace.
    NotFederated,
    /// The FederatedNamespace's own placement.
    Federated(Option<&'a Placement>),
}

/// Where an object goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// These clusters, by name (possibly none).
    Clusters(BTreeSet<String>),
    /// The object's namespace is not federated, so it goes nowhere (KubeFed's `NamespaceNotFederated`).
    NamespaceNotFederated,
}

/// A placement that cannot be evaluated (KubeFed's `ComputePlacementFailed`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid clusterSelector: {0}")]
pub struct PlacementError(pub String);

/// Decides the clusters for an object with placement `own` in a namespace placed by `namespace`.
pub fn decide(
    own: Option<&Placement>,
    namespace: NamespacePlacement<'_>,
    members: &[Member],
) -> Result<Decision, PlacementError> {
    let own_selected = selected(own, members)?;
    match namespace {
        NamespacePlacement::NotApplicable => Ok(Decision::Clusters(own_selected)),
        NamespacePlacement::NotFederated => Ok(Decision::NamespaceNotFederated),
        NamespacePlacement::Federated(ns) => {
            let ns_selected = selected(ns, members)?;
            Ok(Decision::Clusters(
                own_selected.intersection(&ns_selected).cloned().collect(),
            ))
        }
    }
}

/// The registered members that `placement` selects.
pub fn selected(placement: Option<&Placement>, members: &[Member]) -> Result<BTreeSet<String>, PlacementError> {
    let Some(placement) = placement else {
        return Ok(BTreeSet::new());
    };
    if let Some(clusters) = &placement.clusters {
        let wanted: BTreeSet<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        return Ok(members
            .iter()
            .filter(|m| wanted.contains(m.name.as_str()))
            .map(|m| m.name.clone())
            .collect());
    }
    let Some(selector) = &placement.cluster_selector else {
        return Ok(BTreeSet::new());
    };
    let selector = Selector::try_from(selector.clone()).map_err(|e| PlacementError(e.to_string()))?;
    Ok(members
        .iter()
        .filter(|m| selector.matches(&m.labels))
        .map(|m| m.name.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn members() -> Vec<Member> {
        let member = |name: &str, labels: &[(&str, &str)]| Member {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        vec![
            member("cluster1", &[("region", "eu"), ("env", "prod")]),
            member("cluster2", &[("region", "us"), ("env", "prod")]),
            member("cluster3", &[("region", "us")]),
        ]
    }

    fn placement(value: serde_json::Value) -> Placement {
        serde_json::from_value(value).expect("valid placement")
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table() {
        let cases = [
            ("no placement selects nothing", None, Ok(names(&[]))),
            ("empty placement selects nothing", Some(json!({})), Ok(names(&[]))),
            (
                "clusters list decides",
                Some(json!({"clusters": [{"name": "cluster1"}, {"name": "cluster3"}]})),
                Ok(names(&["cluster1", "cluster3"])),
            ),
            (
                "empty clusters list selects none even with a selector",
                Some(json!({"clusters": [], "clusterSelector": {}})),
                Ok(names(&[])),
            ),
            (
                "clusters list wins over selector",
                Some(json!({"clusters": [{"name": "cluster2"}], "clusterSelector": {"matchLabels": {"region": "eu"}}})),
                Ok(names(&["cluster2"])),
            ),
            (
                "unknown cluster names drop out",
                Some(json!({"clusters": [{"name": "cluster1"}, {"name": "gone"}]})),
                Ok(names(&["cluster1"])),
            ),
            (
                "empty selector selects all",
                Some(json!({"clusterSelector": {}})),
                Ok(names(&["cluster1", "cluster2", "cluster3"])),
            ),
            (
                "matchLabels",
                Some(json!({"clusterSelector": {"matchLabels": {"region": "us"}}})),
                Ok(names(&["cluster2", "cluster3"])),
            ),
            (
                "matchLabels are ANDed",
                Some(json!({"clusterSelector": {"matchLabels": {"region": "us", "env": "prod"}}})),
                Ok(names(&["cluster2"])),
            ),
            (
                "matchExpressions In",
                Some(
                    json!({"clusterSelector": {"matchExpressions": [{"key": "region", "operator": "In", "values": ["eu", "us"]}]}}),
                ),
                Ok(names(&["cluster1", "cluster2", "cluster3"])),
            ),
            (
                "matchExpressions NotIn",
                Some(
                    json!({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}}),
                ),
                Ok(names(&["cluster3"])),
            ),
            (
                "matchExpressions Exists",
                Some(json!({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "Exists"}]}})),
                Ok(names(&["cluster1", "cluster2"])),
            ),
            (
                "matchExpressions DoesNotExist",
                Some(json!({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}})),
                Ok(names(&["cluster3"])),
            ),
            (
                "selector matching nothing",
                Some(json!({"clusterSelector": {"matchLabels": {"region": "mars"}}})),
                Ok(names(&[])),
            ),
            (
                "bad operator fails",
                Some(json!({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "Near"}]}})),
                Err(()),
            ),
            (
                "In without values fails",
                Some(json!({"clusterSelector": {"matchExpressions": [{"key": "env", "operator": "In"}]}})),
                Err(()),
            ),
        ];
        for (name, input, expected) in cases {
            let input = input.map(placement);
            let got = selected(input.as_ref(), &members()).map_err(|_| ());
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn namespaced_objects_intersect_with_their_namespace() {
        let own = placement(json!({"clusters": [{"name": "cluster1"}, {"name": "cluster2"}]}));
        let ns = placement(json!({"clusters": [{"name": "cluster2"}, {"name": "cluster3"}]}));
        let got = decide(Some(&own), NamespacePlacement::Federated(Some(&ns)), &members());
        assert_eq!(got, Ok(Decision::Clusters(names(&["cluster2"]))));

        let got = decide(Some(&own), NamespacePlacement::Federated(None), &members());
        assert_eq!(
            got,
            Ok(Decision::Clusters(names(&[]))),
            "a FederatedNamespace without placement places nothing"
        );

        let got = decide(Some(&own), NamespacePlacement::NotFederated, &members());
        assert_eq!(got, Ok(Decision::NamespaceNotFederated));

        let got = decide(Some(&own), NamespacePlacement::NotApplicable, &members());
        assert_eq!(got, Ok(Decision::Clusters(names(&["cluster1", "cluster2"]))));
    }
}
