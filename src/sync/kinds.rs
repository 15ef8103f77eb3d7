//! The catalog kinds as the sync controller uses them: API resources of the
//! target kind (in members) and of its federated kind (on the host).

use kfed_codegen::{CATALOG, Scope, TargetKind};
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;

/// One catalog entry, resolved for API calls.
pub struct Kind {
    pub index: usize,
    pub target: &'static TargetKind,
    pub target_resource: ApiResource,
    pub federated_resource: ApiResource,
}

impl Kind {
    /// Lower-case federated kind, used as a metrics label and in logs.
    pub fn label(&self) -> String {
        self.target.federated_kind().to_ascii_lowercase()
    }

    pub fn federated_namespaced(&self) -> bool {
        self.target.federated_scope() == Scope::Namespaced
    }

    /// The federated object that owns a member object named `name` in `namespace`.
    pub fn federated_ref(&self, name: &str, namespace: Option<&str>) -> ObjectRef<DynamicObject> {
        let reference = ObjectRef::new_with(name, self.federated_resource.clone());
        match (self.target.is_namespace(), namespace) {
            // A Namespace `x` belongs to the FederatedNamespace `x/x`.
            (true, _) => reference.within(name),
            (false, Some(ns)) if self.federated_namespaced() => reference.within(ns),
            _ => reference,
        }
    }
}

/// Every catalog kind, in catalog order (`index` is the position).
pub fn all() -> Vec<Arc<Kind>> {
    CATALOG
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let target_resource = ApiResource {
                group: target.group.into(),
                version: target.version.into(),
                api_version: target.api_version(),
                kind: target.kind.into(),
                plural: target.plural.into(),
            };
            let federated_resource = ApiResource {
                group: crate::api::GROUP.into(),
                version: crate::api::VERSION.into(),
                api_version: format!("{}/{}", crate::api::GROUP, crate::api::VERSION),
                kind: target.federated_kind(),
                plural: target.federated_plural(),
            };
            Arc::new(Kind {
                index,
                target,
                target_resource,
                federated_resource,
            })
        })
        .collect()
}

/// The kind a kubectl-style name refers to (`Deployment`, `deploy`, `fdeploy`, ...).
pub fn lookup(name: &str) -> Option<Arc<Kind>> {
    let target = kfed_codegen::lookup(name)?;
    all()
        .into_iter()
        .find(|k| k.target.kind == target.kind && k.target.group == target.group)
}

impl Kind {
    /// The API of the target kind in a cluster (`namespace` ignored for cluster-scoped kinds).
    pub fn target_api(&self, client: &kube::Client, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        match namespace.filter(|_| self.target.scope == Scope::Namespaced) {
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
