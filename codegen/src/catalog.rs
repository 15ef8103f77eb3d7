//! The catalog of native Kubernetes kinds that kfed federates.
//!
//! Everything kind-specific lives here as data: the sync controller, the CRD
//! emitter and the CLI read this table and contain no per-kind branches.

/// Whether objects of a kind live in a namespace or at cluster scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// One native kind that gets a `Federated<Kind>` CRD.
#[derive(Clone, Copy, Debug)]
pub struct TargetKind {
    /// API group of the target; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Plural resource name of the target, as served by the API server.
    pub plural: &'static str,
    pub scope: Scope,
    /// Has an integer `spec.replicas`, so `retainReplicas` applies.
    pub scalable: bool,
    /// Holds confidential values (Secrets): messages about it never quote them.
    pub confidential: bool,
    /// The target's own short names; the federated kind gets each prefixed with `f`.
    pub short_names: &'static [&'static str],
    /// Path of the k8s-openapi type whose schema types the template.
    pub rust_type: &'static str,
}

impl TargetKind {
    /// `apiVersion` of the target, e.g. `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Kind of the federated type, e.g. `FederatedDeployment`.
    pub fn federated_kind(&self) -> String {
        format!("Federated{}", self.kind)
    }

    /// Plural of the federated type, e.g. `federateddeployments`.
    pub fn federated_plural(&self) -> String {
        format!("federated{}", self.plural)
    }

    /// Scope of the federated type. `FederatedNamespace` is namespaced (it lives
    /// in the namespace it describes), as in KubeFed; every other kind keeps the
    /// scope of its target.
    pub fn federated_scope(&self) -> Scope {
        if self.is_namespace() {
            Scope::Namespaced
        } else {
            self.scope
        }
    }

    /// Short names of the federated type: `f` + each of the target's.
    pub fn federated_short_names(&self) -> Vec<String> {
        self.short_names.iter().map(|s| format!("f{s}")).collect()
    }

    /// True for the core `Namespace` kind, which placement treats specially.
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    scope: Scope,
    short_names: &'static [&'static str],
    rust_type: &'static str,
) -> TargetKind {
    TargetKind {
        group,
        version,
        kind,
        plural,
        scope,
        scalable: false,
        confidential: false,
        short_names,
        rust_type,
    }
}

const fn scalable(mut k: TargetKind) -> TargetKind {
    k.scalable = true;
    k
}

const fn confidential(mut k: TargetKind) -> TargetKind {
    k.confidential = true;
    k
}

use Scope::{Cluster, Namespaced};

/// Every kind kfed federates, in a stable order (the CRD files and the docs follow it).
#[rustfmt::skip]
pub const CATALOG: &[TargetKind] = &[
    kind("", "v1", "ConfigMap", "configmaps", Namespaced, &["cm"], "k8s_openapi::api::core::v1::ConfigMap"),
    confidential(kind("", "v1", "Secret", "secrets", Namespaced, &[], "k8s_openapi::api::core::v1::Secret")),
    kind("", "v1", "Service", "services", Namespaced, &["svc"], "k8s_openapi::api::core::v1::Service"),
    kind("", "v1", "ServiceAccount", "serviceaccounts", Namespaced, &["sa"], "k8s_openapi::api::core::v1::ServiceAccount"),
    kind("", "v1", "Namespace", "namespaces", Cluster, &["ns"], "k8s_openapi::api::core::v1::Namespace"),
    kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", Namespaced, &["pvc"], "k8s_openapi::api::core::v1::PersistentVolumeClaim"),
    kind("", "v1", "PersistentVolume", "persistentvolumes", Cluster, &["pv"], "k8s_openapi::api::core::v1::PersistentVolume"),
    kind("", "v1", "LimitRange", "limitranges", Namespaced, &["limits"], "k8s_openapi::api::core::v1::LimitRange"),
    kind("", "v1", "ResourceQuota", "resourcequotas", Namespaced, &["quota"], "k8s_openapi::api::core::v1::ResourceQuota"),
    scalable(kind("", "v1", "ReplicationController", "replicationcontrollers", Namespaced, &["rc"], "k8s_openapi::api::core::v1::ReplicationController")),
    scalable(kind("apps", "v1", "Deployment", "deployments", Namespaced, &["deploy"], "k8s_openapi::api::apps::v1::Deployment")),
    scalable(kind("apps", "v1", "StatefulSet", "statefulsets", Namespaced, &["sts"], "k8s_openapi::api::apps::v1::StatefulSet")),
    kind("apps", "v1", "DaemonSet", "daemonsets", Namespaced, &["ds"], "k8s_openapi::api::apps::v1::DaemonSet"),
    scalable(kind("apps", "v1", "ReplicaSet", "replicasets", Namespaced, &["rs"], "k8s_openapi::api::apps::v1::ReplicaSet")),
    kind("batch", "v1", "Job", "jobs", Namespaced, &[], "k8s_openapi::api::batch::v1::Job"),
    kind("batch", "v1", "CronJob", "cronjobs", Namespaced, &["cj"], "k8s_openapi::api::batch::v1::CronJob"),
    kind("networking.k8s.io", "v1", "Ingress", "ingresses", Namespaced, &["ing"], "k8s_openapi::api::networking::v1::Ingress"),
    kind("networking.k8s.io", "v1", "IngressClass", "ingressclasses", Cluster, &[], "k8s_openapi::api::networking::v1::IngressClass"),
    kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", Namespaced, &["netpol"], "k8s_openapi::api::networking::v1::NetworkPolicy"),
    kind("rbac.authorization.k8s.io", "v1", "Role", "roles", Namespaced, &[], "k8s_openapi::api::rbac::v1::Role"),
    kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", Namespaced, &[], "k8s_openapi::api::rbac::v1::RoleBinding"),
    kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", Cluster, &[], "k8s_openapi::api::rbac::v1::ClusterRole"),
    kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", Cluster, &[], "k8s_openapi::api::rbac::v1::ClusterRoleBinding"),
    kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", Namespaced, &["pdb"], "k8s_openapi::api::policy::v1::PodDisruptionBudget"),
    kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", Namespaced, &["hpa"], "k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler"),
    kind("storage.k8s.io", "v1", "StorageClass", "storageclasses", Cluster, &["sc"], "k8s_openapi::api::storage::v1::StorageClass"),
    kind("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", Cluster, &["pc"], "k8s_openapi::api::scheduling::v1::PriorityClass"),
    kind("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", Cluster, &[], "k8s_openapi::api::node::v1::RuntimeClass"),
    kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", Cluster, &["crd", "crds"], "k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition"),
    kind("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", Cluster, &[], "k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration"),
    kind("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", Cluster, &[], "k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration"),
];

/// Finds a catalog entry by target kind (`Deployment`), federated kind
/// (`FederatedDeployment`), plural (`deployments`, `federateddeployments`),
/// `plural.group` (`deployments.apps`) or short name (`deploy`, `fdeploy`),
/// case-insensitively, the way kubectl resolves resource names.
pub fn lookup(name: &str) -> Option<&'static TargetKind> {
    let name = name.to_ascii_lowercase();
    CATALOG.iter().find(|k| {
        let qualified = if k.group.is_empty() {
            k.plural.to_string()
        } else {
            format!("{}.{}", k.plural, k.group)
        };
        name == k.kind.to_ascii_lowercase()
            || name == k.federated_kind().to_ascii_lowercase()
            || name == k.plural
            || name == k.federated_plural()
            || name == qualified
            || k.short_names.contains(&name.as_str())
            || k.federated_short_names().contains(&name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for k in CATALOG {
            for name in [
                k.kind.to_string(),
                k.plural.to_string(),
                k.federated_kind(),
                k.federated_plural(),
            ]
            .into_iter()
            .chain(k.federated_short_names())
            {
                assert!(
                    seen.insert(name.to_ascii_lowercase()),
                    "{name} appears twice in the catalog"
                );
            }
        }
    }

    #[test]
    fn covers_the_required_kinds() {
        let required = [
            "ConfigMap",
            "Secret",
            "Service",
            "ServiceAccount",
            "Namespace",
            "PersistentVolumeClaim",
            "PersistentVolume",
            "LimitRange",
            "ResourceQuota",
            "ReplicationController",
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "Job",
            "CronJob",
            "Ingress",
            "IngressClass",
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "StorageClass",
            "PriorityClass",
            "RuntimeClass",
            "CustomResourceDefinition",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
        ];
        for kind in required {
            assert!(
                CATALOG.iter().any(|k| k.kind == kind),
                "{kind} missing from the catalog"
            );
        }
    }

    #[test]
    fn lookup_resolves_kubectl_style_names() {
        for name in [
            "Deployment",
            "deployments",
            "deployments.apps",
            "deploy",
            "fdeploy",
            "FederatedDeployment",
            "federateddeployments",
        ] {
            assert_eq!(lookup(name).map(|k| k.kind), Some("Deployment"), "{name}");
        }
        assert_eq!(lookup("cm").map(|k| k.kind), Some("ConfigMap"));
        assert!(lookup("pods").is_none());
    }

    #[test]
    fn namespace_federated_type_is_namespaced() {
        let ns = lookup("Namespace").expect("Namespace is in the catalog");
        assert_eq!(ns.scope, Scope::Cluster);
        assert_eq!(ns.federated_scope(), Scope::Namespaced);
    }
}
