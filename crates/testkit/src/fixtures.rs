//! Fixtures: federated API resources, namespaces (plain and federated), objects applied
//! and read, and what a federated object's status says.

use crate::Testbed;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// The API resource of a federated kind (`FederatedConfigMap`, ...) in
/// `types.kubefed.io/v1beta1`, with its plural from kfed's catalog.
pub fn federated(kind: &str) -> ApiResource {
    let (kind, plural) = match kfed_codegen::lookup(kind) {
        Some(k) => (k.federated_kind(), k.federated_plural()),
        None => (kind.to_string(), format!("{}s", kind.to_ascii_lowercase())),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("types.kubefed.io", "v1beta1", &kind), &plural)
}

/// The FederatedNamespace `name` (in the namespace it describes) placing it on `clusters`.
pub fn federated_namespace_object<S: AsRef<str>>(name: &str, clusters: &[S]) -> Value {
    let clusters: Vec<Value> = clusters.iter().map(|c| json!({"name": c.as_ref()})).collect();
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedNamespace",
        "metadata": {"name": name, "namespace": name},
        "spec": {"placement": {"clusters": clusters}},
    })
}

impl Testbed {
    /// Deletes a namespace if it exists and waits until it is gone.
    pub fn delete_namespace(&self, context: &str, name: &str) {
        let _ = self.kubectl(
            context,
            &[
                "delete",
                "namespace",
                name,
                "--ignore-not-found",
                "--wait=true",
                "--timeout=120s",
            ],
        );
    }

    /// Creates a namespace (deleting a leftover one from an earlier run first).
    pub fn fresh_namespace(&self, context: &str, name: &str) {
        if context == "host" {
            self.release_leftovers(name);
        }
        self.delete_namespace(context, name);
        self.kubectl_ok(context, &["create", "namespace", name]);
    }

    /// Deletes the federated objects an earlier run left in a host namespace: without a
    /// running controller their finalizers would keep the namespace terminating forever,
    /// so they are released here. (`get federated -n` also lists cluster-scoped kinds;
    /// only this namespace's are touched.)
    fn release_leftovers(&self, name: &str) {
        let leftovers = self.kubectl("host", &["get", "federated", "-n", name, "-o", "json"]);
        let leftovers: Value = serde_json::from_slice(&leftovers.stdout).unwrap_or_default();
        for item in leftovers["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["metadata"]["namespace"] == name)
        {
            let object = format!(
                "{}/{}",
                item["kind"].as_str().unwrap_or_default(),
                item["metadata"]["name"].as_str().unwrap_or_default()
            );
            // Delete first: kfed's admission policy gives every live object the finalizer back.
            let object = object.to_lowercase();
            let _ = self.kubectl("host", &["delete", &object, "-n", name, "--wait=false"]);
            let patch = r#"{"metadata":{"finalizers":null}}"#;
            let _ = self.kubectl("host", &["patch", &object, "-n", name, "--type=merge", "-p", patch]);
        }
    }

    /// An object as JSON, or `None` when it does not exist.
    pub fn get(&self, context: &str, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let mut args = vec!["get", resource, name, "-o", "json", "--ignore-not-found"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let out = self.kubectl_ok(context, &args);
        (!out.trim().is_empty()).then(|| serde_json::from_str(&out).expect("kubectl prints JSON"))
    }

    /// Applies YAML (or JSON) with `kubectl apply --server-side`.
    pub fn apply(&self, context: &str, yaml: &str) {
        let out = self.kubectl_stdin(
            context,
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(yaml),
        );
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{yaml}",
            crate::stderr(&out)
        );
    }

    /// A fresh namespace on the host with a FederatedNamespace placing it on `clusters`.
    pub fn federated_namespace(&self, name: &str, clusters: &[String]) {
        self.release_leftovers(name);
        for context in std::iter::once("host".to_string()).chain(self.members()) {
            self.delete_namespace(&context, name);
        }
        self.kubectl_ok("host", &["create", "namespace", name]);
        let object = federated_namespace_object(name, clusters);
        self.apply("host", &serde_json::to_string(&object).expect("JSON"));
    }
}

/// The `Propagation` condition status and per-cluster statuses of a federated object.
pub fn propagation(obj: &Value) -> (Option<String>, Vec<(String, String)>) {
    let condition = obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Propagation"))
        .and_then(|c| c["status"].as_str())
        .map(str::to_string);
    let clusters = obj["status"]["clusters"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (condition, clusters)
}

/// The message of a federated object's `Propagation` condition ("" when none).
pub fn message(obj: &Value) -> String {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Propagation"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// True when every field of `expected` is present and equal in `actual` (lists element-wise).
pub fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        (Value::Array(a), Value::Array(e)) => a.len() == e.len() && a.iter().zip(e).all(|(av, ev)| contains(av, ev)),
        (a, e) => a == e,
    }
}
