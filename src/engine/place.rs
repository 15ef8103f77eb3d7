//! Placement: which registered member clusters an intent goes to. Pure: the
//! clusters every one of the intent's selections admits, among the registered ones.
//! (Scheduling of replicas across them comes with the scheduling front end.)

use crate::engine::intent::Selection;
use kube::core::{Selector, SelectorExt};
use std::collections::{BTreeMap, BTreeSet};

/// A registered member cluster, as placement sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Member {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A selection that cannot be evaluated (KubeFed's `ComputePlacementFailed`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid clusterSelector: {0}")]
pub struct PlacementError(pub String);

/// The registered members that every one of `selection` admits; evaluated in order,
/// so the first invalid selector is the one reported.
pub fn place(selection: &[Selection], members: &[Member]) -> Result<BTreeSet<String>, PlacementError> {
    let mut placed: Option<BTreeSet<String>> = None;
    for s in selection {
        let admitted = selected(s, members)?;
        placed = Some(match placed {
            None => admitted,
            Some(so_far) => so_far.intersection(&admitted).cloned().collect(),
        });
    }
    Ok(placed.unwrap_or_default())
}

/// The registered members that `selection` admits.
fn selected(selection: &Selection, members: &[Member]) -> Result<BTreeSet<String>, PlacementError> {
    match selection {
        Selection::Nothing => Ok(BTreeSet::new()),
        Selection::Clusters(wanted) => Ok(members
            .iter()
            .filter(|m| wanted.contains(&m.name))
            .map(|m| m.name.clone())
            .collect()),
        Selection::Selector(selector) => {
            let selector = Selector::try_from(selector.clone()).map_err(|e| PlacementError(e.to_string()))?;
            Ok(members
                .iter()
                .filter(|m| selector.matches(&m.labels))
                .map(|m| m.name.clone())
                .collect())
        }
    }
}

/// Members and cluster sets for placement tables, here and in the front ends.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// cluster1 (eu, prod), cluster2 (us, prod), cluster3 (us).
    pub fn members() -> Vec<Member> {
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

    pub fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{members, names};
    use super::*;

    fn clusters(list: &[&str]) -> Selection {
        Selection::Clusters(names(list))
    }

    fn selector(value: serde_json::Value) -> Selection {
        Selection::Selector(serde_json::from_value(value).expect("a valid label selector"))
    }

    #[test]
    fn every_selection_must_admit_a_cluster() {
        let own = clusters(&["cluster1", "cluster2", "gone"]);
        assert_eq!(
            place(std::slice::from_ref(&own), &members()),
            Ok(names(&["cluster1", "cluster2"]))
        );
        let within = clusters(&["cluster2", "cluster3"]);
        assert_eq!(place(&[own.clone(), within], &members()), Ok(names(&["cluster2"])));
        assert_eq!(place(&[own.clone(), Selection::Nothing], &members()), Ok(names(&[])));
        let us = selector(serde_json::json!({"matchLabels": {"region": "us"}}));
        assert_eq!(place(&[us, own], &members()), Ok(names(&["cluster2"])));
        assert_eq!(place(&[], &members()), Ok(names(&[])), "no selection places nothing");
    }

    #[test]
    fn the_first_invalid_selector_fails() {
        let bad = selector(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "Near"}]}));
        assert!(place(std::slice::from_ref(&bad), &members()).is_err());
        assert!(
            place(&[Selection::Nothing, bad], &members()).is_err(),
            "an invalid selector fails even when another admits nothing"
        );
    }
}
