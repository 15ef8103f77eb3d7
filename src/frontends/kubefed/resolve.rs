//! From FederatedTypeConfigs to kinds: pure, table-tested. Which FTCs name a type
//! the host serves, with a federated CRD that matches, and which of them run.

use crate::api::typeconfig::{FederatedTypeConfig, PropagationMode, ResourceScope};
use crate::kinds::{self, Behaviour, Kind};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kfed_codegen::Scope;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What kfed keeps of a CRD: enough to check an FTC against it.
#[derive(Clone, Debug, PartialEq)]
pub struct CrdInfo {
    pub group: String,
    pub kind: String,
    pub plural: String,
    pub scope: Scope,
    /// Served versions, with the JSON pointer of the scale subresource's replicas, if any.
    pub versions: BTreeMap<String, Option<String>>,
    pub established: bool,
}

impl CrdInfo {
    pub fn from_crd(crd: &CustomResourceDefinition) -> Self {
        let spec = &crd.spec;
        let versions = spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| {
                let replicas = v
                    .subresources
                    .as_ref()
                    .and_then(|s| s.scale.as_ref())
                    .map(|scale| json_pointer(&scale.spec_replicas_path));
                (v.name.clone(), replicas)
            })
            .collect();
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"));
        Self {
            group: spec.group.clone(),
            kind: spec.names.kind.clone(),
            plural: spec.names.plural.clone(),
            scope: if spec.scope == "Cluster" {
                Scope::Cluster
            } else {
                Scope::Namespaced
            },
            versions,
            established,
        }
    }
}

/// `.spec.replicas` (a CRD's scale path) as `/spec/replicas`.
fn json_pointer(path: &str) -> String {
    let path = path.trim_start_matches('.');
    format!("/{}", path.replace('.', "/"))
}

/// CRDs by name (`<plural>.<group>`).
pub type CrdIndex = BTreeMap<String, CrdInfo>;

/// Why an FTC's type does not run. `reason()` is its status reason and Event reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{} (expected {expected:?})", crate::api::typeconfig::FTC_NAME_RULE)]
    InvalidName { expected: String },
    #[error("{0}")]
    TargetTypeNotFound(String),
    #[error("{0}")]
    FederatedTypeNotFound(String),
    #[error("{0}")]
    FederatedTypeMismatch(String),
    #[error(
        "the target type is namespaced, and the FederatedTypeConfig \"namespaces\" is missing, disabled or invalid; KubeFed requires it"
    )]
    NamespacesNotFederated,
}

impl Problem {
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::InvalidName { .. } => "InvalidName",
            Problem::TargetTypeNotFound(_) => "TargetTypeNotFound",
            Problem::FederatedTypeNotFound(_) => "FederatedTypeNotFound",
            Problem::FederatedTypeMismatch(_) => "FederatedTypeMismatch",
            Problem::NamespacesNotFederated => "NamespacesNotFederated",
        }
    }
}

/// What becomes of one FTC.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Run(Arc<Kind>),
    Disabled,
    Deleting,
    Invalid(Problem),
}

/// The kind an FTC describes, checked against the host's CRDs.
pub fn resolve(ftc: &FederatedTypeConfig, crds: &CrdIndex) -> Result<Kind, Problem> {
    let ftc = ftc.clone().defaulted();
    let target = &ftc.spec.target_type;
    let expected = target.qualified_name();
    if ftc.metadata.name.as_deref() != Some(expected.as_str()) {
        return Err(Problem::InvalidName { expected });
    }
    let target_scope = scope(target.scope);
    let behaviour = match kinds::builtin_target(&target.group, &target.plural_name) {
        Some(builtin) => {
            if builtin.kind != target.kind || builtin.scope != target_scope {
                return Err(Problem::TargetTypeNotFound(format!(
                    "{expected} is the built-in {} ({:?}), not {} ({:?})",
                    builtin.kind, builtin.scope, target.kind, target_scope
                )));
            }
            kinds::builtin_behaviour(builtin)
        }
        None => {
            let crd = crds
                .get(&expected)
                .filter(|_| !target.group.is_empty())
                .ok_or_else(|| {
                    Problem::TargetTypeNotFound(format!(
                        "the host serves no type {expected}: it is not a built-in kind and no CRD has that name"
                    ))
                })?;
            let replicas = check_crd(crd, &target.kind, target_scope, &target.version)
                .map_err(|why| Problem::TargetTypeNotFound(format!("target type {expected}: {why}")))?;
            Behaviour {
                replicas_path: replicas,
                ..Behaviour::default()
            }
        }
    };
    let federated = &ftc.spec.federated_type;
    let federated_name = federated.qualified_name();
    let federated_scope = if behaviour.namespace {
        Scope::Namespaced
    } else {
        target_scope
    };
    let crd = crds.get(&federated_name).ok_or_else(|| {
        Problem::FederatedTypeNotFound(format!(
            "no CRD {federated_name} on the host; create it with `kfed enable {expected}` or `kubefedctl enable`"
        ))
    })?;
    if scope(federated.scope) != federated_scope {
        return Err(Problem::FederatedTypeMismatch(format!(
            "federatedType.scope is {:?}; a {expected} federated type must be {federated_scope:?}",
            federated.scope
        )));
    }
    check_crd(crd, &federated.kind, federated_scope, &federated.version)
        .map_err(|why| Problem::FederatedTypeMismatch(format!("federated type {federated_name}: {why}")))?;
    Ok(Kind::new(
        kinds::api_resource(&target.group, &target.version, &target.kind, &target.plural_name),
        target_scope,
        kinds::api_resource(
            &federated.group,
            &federated.version,
            &federated.kind,
            &federated.plural_name,
        ),
        behaviour,
    ))
}

/// That `crd` is established and serves `kind` at `version` with `scope`; returns the
/// replicas path of that version's scale subresource.
fn check_crd(crd: &CrdInfo, kind: &str, scope: Scope, version: &str) -> Result<Option<String>, String> {
    if crd.kind != kind {
        return Err(format!("the CRD's kind is {}, not {kind}", crd.kind));
    }
    if crd.scope != scope {
        return Err(format!("the CRD is {:?}-scoped, not {scope:?}", crd.scope));
    }
    if !crd.established {
        return Err("the CRD is not established yet".into());
    }
    match crd.versions.get(version) {
        Some(replicas) => Ok(replicas.clone()),
        None => Err(format!(
            "version {version} is not served (served: {})",
            crd.versions.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
    }
}

fn scope(scope: ResourceScope) -> Scope {
    match scope {
        ResourceScope::Namespaced => Scope::Namespaced,
        ResourceScope::Cluster => Scope::Cluster,
    }
}

/// The verdict of every FTC, by name. A namespaced target runs only while the
/// `namespaces` FTC does, as in KubeFed.
pub fn verdicts(ftcs: &[Arc<FederatedTypeConfig>], crds: &CrdIndex) -> BTreeMap<String, Verdict> {
    let mut out: BTreeMap<String, Verdict> = ftcs
        .iter()
        .map(|ftc| {
            let verdict = if ftc.metadata.deletion_timestamp.is_some() {
                Verdict::Deleting
            } else {
                match resolve(ftc, crds) {
                    Err(problem) => Verdict::Invalid(problem),
                    Ok(_) if ftc.spec.propagation == PropagationMode::Disabled => Verdict::Disabled,
                    Ok(kind) => Verdict::Run(Arc::new(kind)),
                }
            };
            (ftc.metadata.name.clone().unwrap_or_default(), verdict)
        })
        .collect();
    let namespaces_run = out
        .values()
        .any(|v| matches!(v, Verdict::Run(k) if k.behaviour.namespace));
    for verdict in out.values_mut() {
        if let Verdict::Run(kind) = verdict
            && kind.target_namespaced()
            && !namespaces_run
        {
            *verdict = Verdict::Invalid(Problem::NamespacesNotFederated);
        }
    }
    out
}

/// The kinds that run, in name order.
pub fn running(verdicts: &BTreeMap<String, Verdict>) -> Vec<Arc<Kind>> {
    verdicts
        .values()
        .filter_map(|v| match v {
            Verdict::Run(kind) => Some(kind.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
