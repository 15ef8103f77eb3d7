//! Kinds as runtime data: what the engine needs to know about one federated type
//! (its target and federated API resources, scopes and per-kind behaviour).
//!
//! The compile-time catalog (`codegen/`) seeds the built-in kinds; a
//! FederatedTypeConfig adds or removes kinds while the operator runs. The engine
//! reads only this struct, never a kind's name.

use kfed_codegen::{CATALOG, Scope, TargetKind};
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;

/// One federated type, resolved for API calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Kind {
    /// `<target plural>[.<target group>]`, the name of its FederatedTypeConfig.
    pub name: String,
    pub target_resource: ApiResource,
    pub target_scope: Scope,
    pub federated_resource: ApiResource,
    pub federated_scope: Scope,
    pub behaviour: Behaviour,
    /// Lower-case federated kind: the metrics label and the name in logs.
    label: String,
}

/// Per-kind behaviour, as data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// The integer replicas field (`retainReplicas` applies), as a JSON pointer.
    pub replicas_path: Option<String>,
    /// Values are never quoted in status, Events or logs (Secrets).
    pub confidential: bool,
    /// The kind is the core Namespace: its federated object lives in the namespace it
    /// describes, and it scopes where namespaced kinds may go.
    pub namespace: bool,
}

impl Kind {
    /// A kind from its parts; the federated scope follows the target's except for
    /// the Namespace kind, whose federated object is namespaced.
    pub fn new(target: ApiResource, target_scope: Scope, federated: ApiResource, behaviour: Behaviour) -> Self {
        let name = if target.group.is_empty() {
            target.plural.clone()
        } else {
            format!("{}.{}", target.plural, target.group)
        };
        let federated_scope = if behaviour.namespace {
            Scope::Namespaced
        } else {
            target_scope
        };
        Self {
            name,
            label: federated.kind.to_ascii_lowercase(),
            target_resource: target,
            target_scope,
            federated_resource: federated,
            federated_scope,
            behaviour,
        }
    }

    /// The built-in kind of a catalog entry, federated as `types.kubefed.io/v1beta1`.
    pub fn builtin(target: &TargetKind) -> Self {
        let target_resource = api_resource(target.group, target.version, target.kind, target.plural);
        let federated_resource = api_resource(
            crate::api::GROUP,
            crate::api::VERSION,
            &target.federated_kind(),
            &target.federated_plural(),
        );
        Self::new(
            target_resource,
            target.scope,
            federated_resource,
            builtin_behaviour(target),
        )
    }

    /// Lower-case federated kind, used as a metrics label and in logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The target kind's name (`Deployment`).
    pub fn target_kind(&self) -> &str {
        &self.target_resource.kind
    }

    pub fn federated_namespaced(&self) -> bool {
        self.federated_scope == Scope::Namespaced
    }

    pub fn target_namespaced(&self) -> bool {
        self.target_scope == Scope::Namespaced
    }

    pub fn scalable(&self) -> bool {
        self.behaviour.replicas_path.is_some()
    }

    /// The federated object that owns a member object named `name` in `namespace`.
    pub fn federated_ref(&self, name: &str, namespace: Option<&str>) -> ObjectRef<DynamicObject> {
        let reference = ObjectRef::new_with(name, self.federated_resource.clone());
        match (self.behaviour.namespace, namespace) {
            // A Namespace `x` belongs to the FederatedNamespace `x/x`.
            (true, _) => reference.within(name),
            (false, Some(ns)) if self.federated_namespaced() => reference.within(ns),
            _ => reference,
        }
    }

    /// The API of the target kind in a cluster (`namespace` ignored for cluster-scoped kinds).
    pub fn target_api(&self, client: &kube::Client, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        match namespace.filter(|_| self.target_namespaced()) {
            Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &self.target_resource),
            None => kube::Api::all_with(client.clone(), &self.target_resource),
        }
    }

    /// The API of the federated kind on the host (`namespace` ignored for cluster-scoped kinds).
    pub fn federated_api(&self, client: &kube::Client, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        match namespace.filter(|_| self.federated_namespaced()) {
            Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &self.federated_resource),
            None => kube::Api::all_with(client.clone(), &self.federated_resource),
        }
    }
}

/// An `ApiResource` from its parts.
pub fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// What the catalog says about a built-in kind's behaviour.
pub fn builtin_behaviour(target: &TargetKind) -> Behaviour {
    Behaviour {
        replicas_path: target.scalable.then(|| "/spec/replicas".to_string()),
        confidential: target.confidential,
        namespace: target.is_namespace(),
    }
}

/// The catalog entry with this target group and plural, if built in.
pub fn builtin_target(group: &str, plural: &str) -> Option<&'static TargetKind> {
    CATALOG.iter().find(|t| t.group == group && t.plural == plural)
}

/// Every built-in kind, in catalog order.
pub fn builtin() -> Vec<Arc<Kind>> {
    CATALOG.iter().map(|t| Arc::new(Kind::builtin(t))).collect()
}

/// The built-in kind a kubectl-style name refers to (`Deployment`, `deploy`, `fdeploy`, ...).
pub fn lookup(name: &str) -> Option<Arc<Kind>> {
    kfed_codegen::lookup(name).map(|t| Arc::new(Kind::builtin(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_carry_their_behaviour_as_data() {
        let kinds = builtin();
        let by_name = |n: &str| kinds.iter().find(|k| k.name == n).cloned().expect("built in");
        let deploy = by_name("deployments.apps");
        assert_eq!(deploy.behaviour.replicas_path.as_deref(), Some("/spec/replicas"));
        assert_eq!(deploy.federated_resource.plural, "federateddeployments");
        assert_eq!(deploy.label(), "federateddeployment");
        assert!(by_name("secrets").behaviour.confidential);
        assert!(!by_name("configmaps").behaviour.confidential);
        let ns = by_name("namespaces");
        assert!(ns.behaviour.namespace && ns.federated_namespaced() && !ns.target_namespaced());
        assert_eq!(
            ns.federated_ref("team", None),
            ObjectRef::new_with("team", ns.federated_resource.clone()).within("team")
        );
        let pv = by_name("persistentvolumes");
        assert!(!pv.federated_namespaced());
        assert_eq!(
            kinds.iter().filter(|k| k.scalable()).count(),
            CATALOG.iter().filter(|t| t.scalable).count()
        );
    }
}
