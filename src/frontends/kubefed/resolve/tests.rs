use super::*;
use crate::api::typeconfig::{self, ApiResource, FederatedTypeConfig, FederatedTypeConfigSpec};
use kfed_codegen::CATALOG;

fn crd(group: &str, kind: &str, plural: &str, scope: Scope, versions: &[&str]) -> (String, CrdInfo) {
    (
        format!("{plural}.{group}"),
        CrdInfo {
            group: group.into(),
            kind: kind.into(),
            plural: plural.into(),
            scope,
            versions: versions.iter().map(|v| (v.to_string(), None)).collect(),
            established: true,
        },
    )
}

/// The host's CRDs after installing kfed: every built-in federated CRD.
fn installed() -> CrdIndex {
    CATALOG
        .iter()
        .map(|t| {
            crd(
                "types.kubefed.io",
                &t.federated_kind(),
                &t.federated_plural(),
                t.federated_scope(),
                &["v1beta1"],
            )
        })
        .collect()
}

fn widget_ftc(name: &str) -> FederatedTypeConfig {
    let spec = FederatedTypeConfigSpec {
        target_type: ApiResource {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural_name: "widgets".into(),
            scope: ResourceScope::Namespaced,
        },
        propagation: PropagationMode::Enabled,
        federated_type: ApiResource {
            group: "types.kubefed.io".into(),
            version: "v1beta1".into(),
            kind: "FederatedWidget".into(),
            plural_name: "federatedwidgets".into(),
            scope: ResourceScope::Namespaced,
        },
        status_type: None,
        status_collection: None,
    };
    FederatedTypeConfig::new(name, spec)
}

fn with_widgets(mut crds: CrdIndex) -> CrdIndex {
    crds.extend([
        crd("example.com", "Widget", "widgets", Scope::Namespaced, &["v1"]),
        crd(
            "types.kubefed.io",
            "FederatedWidget",
            "federatedwidgets",
            Scope::Namespaced,
            &["v1beta1"],
        ),
    ]);
    crds
}

fn builtin_ftcs() -> Vec<Arc<FederatedTypeConfig>> {
    CATALOG.iter().map(|t| Arc::new(typeconfig::builtin(t))).collect()
}

#[test]
fn every_builtin_ftc_runs_the_builtin_kind() {
    let verdicts = verdicts(&builtin_ftcs(), &installed());
    let running = running(&verdicts);
    assert_eq!(running.len(), CATALOG.len());
    for kind in crate::kinds::builtin() {
        assert!(running.iter().any(|k| **k == *kind), "{} runs as built in", kind.name);
    }
}

#[test]
fn a_crd_target_runs_with_its_scale_path() {
    let mut crds = with_widgets(installed());
    if let Some(widgets) = crds.get_mut("widgets.example.com") {
        widgets.versions.insert("v1".into(), Some("/spec/size".into()));
    }
    let kind = resolve(&widget_ftc("widgets.example.com"), &crds).expect("resolves");
    assert_eq!(kind.name, "widgets.example.com");
    assert_eq!(kind.target_resource.api_version, "example.com/v1");
    assert_eq!(kind.federated_resource.plural, "federatedwidgets");
    assert_eq!(kind.behaviour.replicas_path.as_deref(), Some("/spec/size"));
    assert!(!kind.behaviour.confidential && !kind.behaviour.namespace);
}

#[test]
fn malformed_ftcs_are_typed_problems() {
    let crds = with_widgets(installed());
    let problem = |ftc: &FederatedTypeConfig, crds: &CrdIndex| resolve(ftc, crds).err().map(|p| p.reason());
    assert_eq!(problem(&widget_ftc("widgets"), &crds), Some("InvalidName"));
    assert_eq!(problem(&widget_ftc("gadgets.example.com"), &crds), Some("InvalidName"));
    // Unknown group: no such CRD.
    let mut unknown = widget_ftc("widgets.nowhere.example");
    unknown.spec.target_type.group = "nowhere.example".into();
    assert_eq!(problem(&unknown, &crds), Some("TargetTypeNotFound"));
    // A version the CRD does not serve.
    let mut v2 = widget_ftc("widgets.example.com");
    v2.spec.target_type.version = "v2".into();
    let why = resolve(&v2, &crds).err().map(|p| p.to_string()).unwrap_or_default();
    assert!(why.contains("version v2 is not served (served: v1)"), "{why}");
    // No federated CRD yet.
    assert_eq!(
        problem(
            &widget_ftc("widgets.example.com"),
            &with_widgets(CrdIndex::new())
                .into_iter()
                .filter(|(n, _)| n.starts_with("widgets"))
                .collect()
        ),
        Some("FederatedTypeNotFound")
    );
    // The federated CRD's scope differs from the target's.
    let mut cluster_scoped = widget_ftc("widgets.example.com");
    cluster_scoped.spec.federated_type.scope = ResourceScope::Cluster;
    assert_eq!(problem(&cluster_scoped, &crds), Some("FederatedTypeMismatch"));
    // A built-in named with the wrong kind.
    let mut wrong = typeconfig::builtin(&CATALOG[0]);
    wrong.spec.target_type.kind = "Widget".into();
    assert_eq!(problem(&wrong, &crds), Some("TargetTypeNotFound"));
}

#[test]
fn namespaced_kinds_need_the_namespaces_ftc() {
    let crds = with_widgets(installed());
    let without_namespaces: Vec<Arc<FederatedTypeConfig>> = builtin_ftcs()
        .into_iter()
        .filter(|f| f.metadata.name.as_deref() != Some("namespaces"))
        .chain([Arc::new(widget_ftc("widgets.example.com"))])
        .collect();
    let first = verdicts(&without_namespaces, &crds);
    assert_eq!(
        first.get("widgets.example.com"),
        Some(&Verdict::Invalid(Problem::NamespacesNotFederated))
    );
    assert_eq!(
        first.get("configmaps"),
        Some(&Verdict::Invalid(Problem::NamespacesNotFederated))
    );
    // Cluster-scoped kinds still run.
    assert!(matches!(
        first.get("clusterroles.rbac.authorization.k8s.io"),
        Some(Verdict::Run(_))
    ));

    let mut disabled = builtin_ftcs();
    for ftc in &mut disabled {
        if ftc.metadata.name.as_deref() == Some("namespaces") {
            Arc::make_mut(ftc).spec.propagation = PropagationMode::Disabled;
        }
    }
    let second = verdicts(&disabled, &crds);
    assert_eq!(second.get("namespaces"), Some(&Verdict::Disabled));
    assert_eq!(
        second.get("deployments.apps"),
        Some(&Verdict::Invalid(Problem::NamespacesNotFederated))
    );
}

#[test]
fn disabled_and_deleting_ftcs_do_not_run() {
    let crds = with_widgets(installed());
    let mut ftcs = builtin_ftcs();
    let mut widget = widget_ftc("widgets.example.com");
    widget.spec.propagation = PropagationMode::Disabled;
    ftcs.push(Arc::new(widget));
    let mut deleting = typeconfig::builtin(&CATALOG[0]);
    deleting.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::UNIX_EPOCH,
    ));
    ftcs[0] = Arc::new(deleting);
    let all = verdicts(&ftcs, &crds);
    assert_eq!(all.get("widgets.example.com"), Some(&Verdict::Disabled));
    assert_eq!(all.get(CATALOG[0].plural), Some(&Verdict::Deleting));
    assert_eq!(running(&all).len(), CATALOG.len() - 1);
}

#[test]
fn crd_scale_paths_become_json_pointers() {
    assert_eq!(json_pointer(".spec.replicas"), "/spec/replicas");
    assert_eq!(json_pointer(".spec.size"), "/spec/size");
}
