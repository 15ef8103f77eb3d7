//! The `types.kubefed.io/v1beta1` API: the building blocks shared by every
//! `Federated<Kind>`, and the generated types themselves.
//!
//! Field names, optionality and meaning follow KubeFed v1beta1, so KubeFed
//! manifests deserialize unchanged.

use crate::api::template::Template;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

include!(concat!(env!("OUT_DIR"), "/federated_types.rs"));

/// Builds the CRD of one generated federated type.
pub type CrdConstructor =
    fn() -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// API group of every federated type.
pub const GROUP: &str = "types.kubefed.io";
/// API version of every federated type.
pub const VERSION: &str = "v1beta1";

/// Upper bounds that keep the CEL rules within the API server's cost budget.
/// (The budget grows with clusters × ops² × path length; install every CRD on a
/// real API server after changing them.)
pub const MAX_CLUSTER_OVERRIDES: u32 = 64;
pub const MAX_OPS_PER_CLUSTER: u32 = 32;
pub const MAX_PATH_LENGTH: u32 = 256;

/// Which member clusters receive a federated object.
///
/// A present `clusters` list decides alone (an empty list selects none);
/// otherwise `clusterSelector` decides (absent selects none, `{}` selects all).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Names of the member clusters. When present, `clusterSelector` is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<PlacementCluster>>,
    /// Selects member clusters by the labels of their KubeFedCluster objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
}

/// One member cluster named in a placement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PlacementCluster {
    /// Name of a KubeFedCluster.
    #[schemars(length(max = 253))]
    pub name: String,
}

/// The per-cluster overrides of a federated object; each cluster at most once.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(transparent)]
pub struct Overrides(pub Vec<ClusterOverride>);

impl JsonSchema for Overrides {
    fn schema_name() -> Cow<'static, str> {
        "Overrides".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<ClusterOverride>();
        json_schema!({
            "type": "array",
            "items": item,
            "maxItems": MAX_CLUSTER_OVERRIDES,
            "x-kubernetes-validations": [{
                "rule": "self.all(o, self.exists_one(p, p.clusterName == o.clusterName))",
                "message": "each clusterName may appear only once in overrides",
            }],
        })
    }
}

impl std::ops::Deref for Overrides {
    type Target = Vec<ClusterOverride>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The JSON patch for one member cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOverride {
    /// Name of the KubeFedCluster the patch applies to.
    #[schemars(length(min = 1, max = 253))]
    pub cluster_name: String,
    /// RFC 6902 operations, applied in order to the template for this cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_OPS_PER_CLUSTER), extend("x-kubernetes-validations" = [{
        "rule": "self.all(o, self.exists_one(p, p.path == o.path))",
        "message": "each path may appear only once in a cluster's clusterOverrides",
    }]))]
    pub cluster_overrides: Vec<OverrideOp>,
}

/// One RFC 6902 operation (the subset KubeFed supports).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(self.path in ['/metadata/name', '/metadata/namespace', '/metadata/generateName', '/metadata', '/kind'])",
        "message": "overrides may not change /metadata/name, /metadata/namespace, /metadata/generateName, /metadata or /kind",
    },
]))]
pub struct OverrideOp {
    /// `add`, `remove` or `replace`; empty or absent means `replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["add", "remove", "replace", ""]))]
    pub op: Option<String>,
    /// JSON pointer (RFC 6901) to the field, e.g. `/spec/replicas`.
    #[schemars(length(max = MAX_PATH_LENGTH), extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(/([^/~]|~[01])*)+$')",
        "message": "path must be a JSON pointer such as /spec/replicas (RFC 6901: starts with /, ~ only as ~0 or ~1)",
    }]))]
    pub path: String,
    /// The value to add or replace with; required unless `op` is `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub value: Option<serde_json::Value>,
}

/// Schema of a field that holds any JSON value.
pub(crate) fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Schema of a field that holds any JSON object.
pub(crate) fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// Propagation status of a federated object, in KubeFed's shape.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The `Propagation` condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PropagationCondition>,
    /// One entry per selected or touched cluster; an empty `status` means in sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterPropagationStatus>,
}

/// A condition on a federated object (KubeFed's `GenericCondition`, plus `message`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropagationCondition {
    /// Condition type; kfed sets `Propagation`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: crate::api::ConditionStatus,
    /// Machine-readable reason, e.g. `CheckClusters` or `NamespaceNotFederated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail (a kfed addition; KubeFed had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// Propagation state of a federated object in one member cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPropagationStatus {
    /// Name of the KubeFedCluster.
    pub name: String,
    /// Empty when the cluster is in sync, otherwise a KubeFed reason such as `ClusterNotReady`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The `status` of the object in that cluster, when collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub remote_status: Option<serde_json::Value>,
}
