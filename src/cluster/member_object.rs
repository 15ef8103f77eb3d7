//! What the sync controller knows of one object in a member cluster.
//!
//! Member caches hold one entry per managed object in every member, so at
//! 10,000 federated objects and two members that is 20,000 entries. A whole
//! `DynamicObject` costs about 2 KB even when pruned (`ObjectMeta` alone is
//! ~600 bytes, plus a B-tree node per label or annotation map and the
//! `ApiResource` cloned into every store key); this keeps only the handful of
//! fields `dispatch` compares, in a few hundred bytes.

use crate::wellknown::FIELD_MANAGER;
use crate::wellknown::HASH_ANNOTATION;
use crate::wellknown::MANAGED_LABEL;
use kube::core::DynamicObject;
use kube::runtime::reflector::Lookup;
use serde_json::Value;
use std::borrow::Cow;

/// The fields of a member object that decide whether kfed writes it.
#[derive(Clone, Debug)]
pub struct MemberObject {
    pub name: String,
    pub namespace: Option<String>,
    /// The value of the `kubefed.io/managed` label, if any.
    pub managed: Option<Box<str>>,
    /// kfed's hash annotation: what it last applied.
    pub hash: Option<Box<str>>,
    /// The object is being deleted.
    pub deleting: bool,
    /// `spec.replicas`, for `retainReplicas`.
    pub replicas: Option<Value>,
    /// kfed's applied `fieldsV1`, as JSON text (a tree of small maps costs ~20
    /// times its text in memory).
    owned: Option<Box<str>>,
}

impl MemberObject {
    /// True when the object carries `kubefed.io/managed=true`.
    pub fn is_managed(&self) -> bool {
        self.managed.as_deref() == Some("true")
    }

    /// The fields kfed owns by its last apply (`Null` when none).
    pub fn owned_fields(&self) -> Value {
        self.owned
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null)
    }
}

impl From<DynamicObject> for MemberObject {
    fn from(obj: DynamicObject) -> Self {
        let meta = obj.metadata;
        let owned = meta
            .managed_fields
            .iter()
            .flatten()
            .find(|f| f.manager.as_deref() == Some(FIELD_MANAGER) && f.operation.as_deref() == Some("Apply"))
            .and_then(|f| f.fields_v1.as_ref())
            .map(|f| f.0.to_string().into_boxed_str());
        let mut labels = meta.labels.unwrap_or_default();
        let mut annotations = meta.annotations.unwrap_or_default();
        Self {
            name: meta.name.unwrap_or_default(),
            namespace: meta.namespace,
            managed: labels.remove(MANAGED_LABEL).map(String::into_boxed_str),
            hash: annotations.remove(HASH_ANNOTATION).map(String::into_boxed_str),
            deleting: meta.deletion_timestamp.is_some(),
            replicas: obj.data.pointer("/spec/replicas").cloned(),
            owned,
        }
    }
}

/// Lets the kube-runtime reflector store these. The cache of one kind in one
/// cluster needs no type information in its keys, and no resourceVersion or
/// uid either (nothing looks them up).
impl Lookup for MemberObject {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        "MemberObject".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "memberobjects".into()
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.name))
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.namespace.as_deref().map(Cow::Borrowed)
    }

    fn resource_version(&self) -> Option<Cow<'_, str>> {
        None
    }

    fn uid(&self) -> Option<Cow<'_, str>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "a", "resourceVersion": "7",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "labels": {MANAGED_LABEL: "true", "app": "web"},
                "annotations": {HASH_ANNOTATION: "h1", "note": "x"},
                "managedFields": [
                    {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:paused": {}}}},
                    {"manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": "apps/v1", "time": "2026-01-01T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {}}}}}
                ]
            },
            "spec": {"replicas": 3, "paused": true, "template": {"spec": {"containers": []}}}
        }))
        .expect("a valid object")
    }

    #[test]
    fn keeps_what_dispatch_compares() {
        let obj = MemberObject::from(deployment());
        assert_eq!((obj.name.as_str(), obj.namespace.as_deref()), ("web", Some("a")));
        assert!(obj.is_managed());
        assert_eq!(obj.hash.as_deref(), Some("h1"));
        assert!(obj.deleting);
        assert_eq!(obj.replicas, Some(json!(3)));
        assert_eq!(
            obj.owned_fields(),
            json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {}}}})
        );
    }

    #[test]
    fn an_object_kfed_never_applied_owns_nothing() {
        let mut raw = deployment();
        raw.metadata.managed_fields = None;
        raw.metadata.labels = None;
        let obj = MemberObject::from(raw);
        assert_eq!(obj.owned_fields(), Value::Null);
        assert!(!obj.is_managed());
    }
}
