//! Does kfed still own every field it wants to set in a member object?
//!
//! Server-side apply records, per field manager, the set of fields it owns
//! (`metadata.managedFields[].fieldsV1`). When someone else changes or removes
//! a field kfed applied, that field leaves kfed's set. So "the desired object's
//! fields are all in kfed's set" plus "the desired content hash is unchanged"
//! means the member already matches, without comparing values (which the API
//! server may have normalised, e.g. quantities) and without a write.

use serde_json::{Map, Value};

/// True when `owned` (a `fieldsV1` tree) covers every field of `desired`.
/// `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` identify the
/// object and are never listed, so they are skipped.
pub fn covers(owned: &Value, desired: &Value) -> bool {
    let (Some(owned), Some(desired)) = (owned.as_object(), desired.as_object()) else {
        return false;
    };
    desired.iter().all(|(key, value)| match key.as_str() {
        "apiVersion" | "kind" => true,
        "metadata" => {
            let Some(meta) = value.as_object() else { return false };
            let identity_free: Map<String, Value> = meta
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "name" | "namespace"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            identity_free.is_empty()
                || owned
                    .get("f:metadata")
                    .is_some_and(|o| covers_object(o, &identity_free))
        }
        _ => covers_field(owned, key, value),
    })
}

fn covers_object(owned: &Value, desired: &Map<String, Value>) -> bool {
    let Some(owned) = owned.as_object() else { return false };
    desired.iter().all(|(key, value)| covers_field(owned, key, value))
}

/// Checks one member `key: value` of an object against the owned set of that object.
fn covers_field(owned: &Map<String, Value>, key: &str, value: &Value) -> bool {
    // Empty maps and lists own nothing that could drift, and the API server may
    // drop them from the record; null asks for absence.
    if is_empty(value) {
        return true;
    }
    let Some(child) = owned.get(&format!("f:{key}")) else {
        return false;
    };
    match value {
        // An atomic map or struct (`x-kubernetes-map-type: atomic`, e.g. a label
        // selector) is recorded as one leaf `{}` and owned whole.
        Value::Object(_) if child.as_object().is_some_and(Map::is_empty) => true,
        Value::Object(map) => covers_object(child, map),
        Value::Array(items) => covers_list(child, items),
        _ => true,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A list is atomic (owned whole, recorded as `{}`), a set of scalars (`v:<json>`
/// entries), or a map keyed by some fields of its items (`k:{"name":"x"}` entries).
fn covers_list(owned: &Value, items: &[Value]) -> bool {
    let Some(owned) = owned.as_object() else { return false };
    if !owned
        .keys()
        .any(|k| k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:"))
    {
        return true; // atomic: the whole list is owned
    }
    items.iter().enumerate().all(|(index, item)| match item {
        Value::Object(fields) => owned
            .iter()
            .find(|(k, _)| {
                k.strip_prefix("k:")
                    .and_then(|key| serde_json::from_str::<Value>(key).ok())
                    .is_some_and(|key| key_matches(&key, fields))
            })
            .or_else(|| owned.get_key_value(&format!("i:{index}")))
            .is_some_and(|(_, entry)| covers_object(entry, &without_empty(fields))),
        scalar => owned.contains_key(&format!("v:{scalar}")),
    })
}

/// A `k:` key matches an item when every key field the item sets is equal; key
/// fields the item leaves out were defaulted by the server (e.g. `protocol: TCP`).
fn key_matches(key: &Value, item: &Map<String, Value>) -> bool {
    let Some(key) = key.as_object() else { return false };
    key.iter().all(|(k, v)| item.get(k).is_none_or(|mine| mine == v))
}

fn without_empty(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !is_empty(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web", "kubefed.io/managed": "true"}, "annotations": {}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "nginx", "image": "nginx", "args": ["-a"], "ports": [{"containerPort": 80}]}
                ]}}
            }
        })
    }

    /// What kube-apiserver records for kfed after applying `deployment()`.
    fn owned() -> Value {
        json!({
            "f:metadata": {"f:labels": {"f:app": {}, "f:kubefed.io/managed": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:name": {}, "f:image": {}, "f:args": {}, "f:ports": {
                        "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
                    }}
                }}}
            }
        })
    }

    #[test]
    fn fully_owned_object_is_covered() {
        assert!(covers(&owned(), &deployment()));
    }

    #[test]
    fn a_field_taken_by_someone_else_is_not_covered() {
        let mut o = owned();
        o["f:spec"].as_object_mut().expect("object").remove("f:replicas");
        assert!(!covers(&o, &deployment()), "kubectl scale took replicas");

        let mut o = owned();
        o["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]
            .as_object_mut()
            .expect("object")
            .remove("f:image");
        assert!(!covers(&o, &deployment()), "kubectl set image took the image");

        let mut o = owned();
        o["f:metadata"]["f:labels"]
            .as_object_mut()
            .expect("object")
            .remove("f:kubefed.io/managed");
        assert!(!covers(&o, &deployment()), "the managed label was removed");
    }

    #[test]
    fn new_desired_fields_are_not_covered() {
        let mut d = deployment();
        d["spec"]["paused"] = json!(true);
        assert!(!covers(&owned(), &d));
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("array")
            .push(json!({"name": "sidecar", "image": "busybox"}));
        assert!(!covers(&owned(), &d));
    }

    #[test]
    fn sets_of_scalars_and_index_keyed_lists() {
        let owned = json!({"f:spec": {"f:finalizers": {"v:\"kubernetes\"": {}}}});
        assert!(covers(&owned, &json!({"spec": {"finalizers": ["kubernetes"]}})));
        assert!(!covers(&owned, &json!({"spec": {"finalizers": ["other"]}})));
        let owned = json!({"f:rules": {}});
        assert!(
            covers(&owned, &json!({"rules": [{"verbs": ["get"]}]})),
            "atomic lists are owned whole"
        );
    }

    #[test]
    fn atomic_maps_are_owned_whole() {
        let owned = json!({"f:spec": {"f:selector": {}, "f:type": {}}});
        assert!(covers(
            &owned,
            &json!({"spec": {"selector": {"app": "nginx"}, "type": "ClusterIP"}})
        ));
        assert!(!covers(
            &json!({"f:spec": {"f:type": {}}}),
            &json!({"spec": {"selector": {"app": "nginx"}}})
        ));
    }

    #[test]
    fn nothing_owned_covers_nothing() {
        assert!(!covers(&json!({}), &deployment()));
        assert!(!covers(&Value::Null, &deployment()));
    }
}
