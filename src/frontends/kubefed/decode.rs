//! A Federated<Kind> object decoded into the engine's `Intent`: its template,
//! KubeFed's placement rules as selections (the object's own, then its namespace's
//! FederatedNamespace's), its overrides as patches, and its removal options.

use crate::api::{ClusterOverride, Placement};
use crate::engine::intent::{Intent, Owner, Removal, Selection};
use crate::frontends::kubefed::overrides;
use crate::kinds::Kind;
use crate::wellknown::{DELETE_OPTION_ANNOTATION, ORPHAN_ANNOTATION};
use kube::ResourceExt;
use kube::api::{DeleteParams, PropagationPolicy};
use kube::core::DynamicObject;
use kube::runtime::reflector::{ObjectRef, Store};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The parts of a federated object's spec kfed reads; lenient, so objects stored
/// under other CRDs (e.g. KubeFed's) still parse.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    template: Option<Map<String, Value>>,
    #[serde(default)]
    placement: Option<Placement>,
    #[serde(default)]
    overrides: Option<Vec<ClusterOverride>>,
    #[serde(default)]
    retain_replicas: Option<bool>,
}

/// Why a federated object yields no intent.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("spec cannot be read: {0}")]
    Spec(serde_json::Error),
    #[error("a FederatedNamespace must be named after the namespace it lives in ({0})")]
    NamespaceName(String),
    #[error("FederatedNamespace {namespace}: spec cannot be read: {source}")]
    NamespaceSpec {
        namespace: String,
        source: serde_json::Error,
    },
    #[error("annotation {DELETE_OPTION_ANNOTATION} is not valid delete options: {0}")]
    DeleteOptions(String),
    /// Not an error of the object: nothing is decided before the FederatedNamespace
    /// cache is complete (deciding "not federated" from it would delete member objects).
    #[error("waiting for the FederatedNamespace cache")]
    NamespacesNotSynced,
}

/// A decoded federated object.
pub struct Decoded {
    pub intent: Intent,
    /// False when the object's namespace has no FederatedNamespace (KubeFed's
    /// `NamespaceNotFederated`); the intent then selects nothing.
    pub namespace_federated: bool,
}

/// The running Namespace kind and its cache of FederatedNamespaces, if it runs.
pub type Namespaces = Option<(Arc<Kind>, Store<DynamicObject>)>;

/// Decodes `obj` of `kind`; `namespaces` places namespaced objects.
pub fn decode(obj: &DynamicObject, kind: &Kind, namespaces: Namespaces) -> Result<Decoded, DecodeError> {
    let spec = spec_of(obj).map_err(DecodeError::Spec)?;
    let mut selection = vec![selection(spec.placement.as_ref())];
    let namespace_federated = match namespace_placement(obj, kind, namespaces)? {
        Scope::Unconstrained => true,
        Scope::NotFederated => {
            selection.push(Selection::Nothing);
            false
        }
        Scope::Federated(placement) => {
            selection.push(self::selection(placement.as_ref()));
            true
        }
    };
    let intent = Intent {
        owner: owner(obj),
        template: spec.template,
        selection,
        replicas: None,
        patches: overrides::compile(spec.overrides.as_deref().unwrap_or_default()),
        // Outside deletion an unreadable annotation is not worth stopping for: it is
        // reported when the object is deleted.
        removal: removal(obj).unwrap_or_default(),
        retain_replicas: spec.retain_replicas == Some(true),
    };
    Ok(Decoded {
        intent,
        namespace_federated,
    })
}

/// The owner of `obj`'s member objects.
pub fn owner(obj: &DynamicObject) -> Owner {
    Owner {
        name: obj.name_any(),
        namespace: obj.namespace(),
    }
}

/// KubeFed's placement rules: a present `clusters` list decides alone (empty selects
/// none); otherwise the `clusterSelector` decides (absent selects none, `{}` all).
fn selection(placement: Option<&Placement>) -> Selection {
    match placement {
        Some(Placement {
            clusters: Some(clusters),
            ..
        }) => Selection::Clusters(clusters.iter().map(|c| c.name.clone()).collect()),
        Some(Placement {
            cluster_selector: Some(selector),
            ..
        }) => Selection::Selector(selector.clone()),
        _ => Selection::Nothing,
    }
}

/// Orphan or delete, from the object's annotations (KubeFed's `kubefed.io/orphan`
/// and kfed's delete options).
pub fn removal(obj: &DynamicObject) -> Result<Removal, DecodeError> {
    if obj.annotations().get(ORPHAN_ANNOTATION).map(String::as_str) == Some("true") {
        return Ok(Removal::Orphan);
    }
    let Some(raw) = obj.annotations().get(DELETE_OPTION_ANNOTATION) else {
        return Ok(Removal::default());
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Options {
        propagation_policy: Option<String>,
        grace_period_seconds: Option<u32>,
    }
    let options: Options = serde_json::from_str(raw).map_err(|e| DecodeError::DeleteOptions(e.to_string()))?;
    let propagation_policy = match options.propagation_policy.as_deref() {
        None => None,
        Some("Orphan") => Some(PropagationPolicy::Orphan),
        Some("Background") => Some(PropagationPolicy::Background),
        Some("Foreground") => Some(PropagationPolicy::Foreground),
        Some(other) => {
            return Err(DecodeError::DeleteOptions(format!(
                "unknown propagationPolicy {other:?}"
            )));
        }
    };
    Ok(Removal::Delete(DeleteParams {
        propagation_policy,
        grace_period_seconds: options.grace_period_seconds,
        ..Default::default()
    }))
}

fn spec_of(obj: &DynamicObject) -> Result<Spec, serde_json::Error> {
    cached_field(obj, "spec").unwrap_or_else(|| Ok(Spec::default()))
}

/// A top-level field of a federated object. The host cache keeps `spec` and
/// `status` as JSON text (see `controllers::prune_host_object`); objects read from
/// the API server have them as JSON.
pub fn cached_field<T: serde::de::DeserializeOwned>(obj: &DynamicObject, field: &str) -> Option<serde_json::Result<T>> {
    match obj.data.get(field)? {
        Value::Null => None,
        Value::String(text) => Some(serde_json::from_str(text)),
        value => Some(T::deserialize(value)),
    }
}

/// How the object's namespace constrains its placement.
enum Scope {
    /// Cluster-scoped objects and FederatedNamespaces themselves.
    Unconstrained,
    NotFederated,
    /// The placement of the namespace's FederatedNamespace.
    Federated(Option<Placement>),
}

fn namespace_placement(obj: &DynamicObject, kind: &Kind, namespaces: Namespaces) -> Result<Scope, DecodeError> {
    if kind.behaviour.namespace {
        return match obj.namespace() {
            Some(ns) if ns == obj.name_any() => Ok(Scope::Unconstrained),
            ns => Err(DecodeError::NamespaceName(ns.unwrap_or_default())),
        };
    }
    if !kind.target_namespaced() {
        return Ok(Scope::Unconstrained);
    }
    let Some(ns) = obj.namespace() else {
        return Ok(Scope::NotFederated);
    };
    // Without the Namespace kind running (it is being restarted, or its FTC went away and
    // this kind is about to stop too) nothing is known: wait rather than delete.
    let Some((namespace_kind, store)) = namespaces else {
        return Err(DecodeError::NamespacesNotSynced);
    };
    if futures::FutureExt::now_or_never(store.wait_until_ready()).is_none() {
        return Err(DecodeError::NamespacesNotSynced);
    }
    let key = ObjectRef::new_with(&ns, namespace_kind.federated_resource.clone()).within(&ns);
    match store.get(&key) {
        Some(fed_ns) if fed_ns.metadata.deletion_timestamp.is_none() => {
            let spec = spec_of(&fed_ns).map_err(|source| DecodeError::NamespaceSpec { namespace: ns, source })?;
            Ok(Scope::Federated(spec.placement))
        }
        _ => Ok(Scope::NotFederated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FederatedStatus;
    use crate::engine::place::fixtures::{members, names};
    use crate::engine::place::place;
    use serde_json::json;

    fn placement(value: serde_json::Value) -> Placement {
        serde_json::from_value(value).expect("valid placement")
    }

    #[test]
    fn kubefed_placement_rules() {
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
            let got = place(&[selection(input.as_ref())], &members()).map_err(|_| ());
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn pruned_host_objects_read_the_same() {
        let mut obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
            "metadata": {"name": "a", "namespace": "n", "generation": 2,
                         "annotations": {crate::wellknown::LAST_APPLIED_ANNOTATION: "{}", ORPHAN_ANNOTATION: "true"},
                         "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {}}]},
            "spec": {"placement": {"clusters": [{"name": "m1"}]}, "template": {"data": {"k": "v"}},
                     "overrides": [{"clusterName": "m1", "clusterOverrides": [{"path": "/data/k", "value": "w"}]}]},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Propagation", "status": "True"}], "clusters": [{"name": "m1"}]}
        }))
        .expect("a valid object");
        let spec = spec_of(&obj).map(|s| (s.template, s.placement, s.overrides)).ok();
        let status: Option<FederatedStatus> = cached_field(&obj, "status").and_then(Result::ok);
        crate::frontends::kubefed::controllers::prune_host_object(&mut obj);
        assert!(obj.data["spec"].is_string() && obj.data["status"].is_string());
        assert!(obj.metadata.managed_fields.is_none());
        assert_eq!(obj.annotations().len(), 1);
        assert_eq!(spec_of(&obj).map(|s| (s.template, s.placement, s.overrides)).ok(), spec);
        assert_eq!(cached_field(&obj, "status").and_then(Result::ok), status);
        assert!(status.is_some_and(|s| s.clusters.len() == 1));
    }
}
