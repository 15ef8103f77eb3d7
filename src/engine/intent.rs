//! The seam between the front ends and the engine: what one owner wants in the
//! member clusters. A front end decodes its own API into an `Intent`; the engine
//! places, renders, dispatches and reports on it without knowing where it came from.

use crate::engine::patch::Patches;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::DeleteParams;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The object an intent comes from: the member objects carry its name and, for
/// namespaced kinds, its namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct Owner {
    pub name: String,
    pub namespace: Option<String>,
}

/// One constraint on the clusters an intent goes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    /// No cluster.
    Nothing,
    /// These registered clusters, by name.
    Clusters(BTreeSet<String>),
    /// The registered clusters whose labels match (`{}` matches all).
    Selector(LabelSelector),
}

/// How an object leaves a member.
#[derive(Clone, Debug)]
pub enum Removal {
    /// Delete it with these options.
    Delete(DeleteParams),
    /// Keep it and strip the managed label (KubeFed's `kubefed.io/orphan: "true"`,
    /// or the host's own namespace).
    Orphan,
}

impl Default for Removal {
    fn default() -> Self {
        Removal::Delete(DeleteParams::default())
    }
}

/// What one owner wants in the member clusters.
#[derive(Clone, Debug)]
pub struct Intent {
    pub owner: Owner,
    /// The member object's content before identity, replicas and patches.
    pub template: Option<Map<String, Value>>,
    /// The clusters every one of these admits (KubeFed: the object's placement,
    /// then its namespace's).
    pub selection: Vec<Selection>,
    /// Replicas per cluster, set at the kind's replicas path before the patches
    /// apply; `None` leaves the template's. No front end divides replicas yet.
    pub replicas: Option<BTreeMap<String, i64>>,
    /// RFC 6902 operations per cluster.
    pub patches: Patches,
    /// What happens to member objects outside the selection.
    pub removal: Removal,
    /// Leave `spec.replicas` to the members once the object exists (scalable kinds).
    pub retain_replicas: bool,
}
