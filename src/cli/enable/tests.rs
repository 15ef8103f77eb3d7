//! `kfed enable`: discovery like kubefedctl's, built-in and federated names, files, flags.

use super::*;
use clap::{Args, FromArgMatches};
use serde_json::json;

fn resources(group_version: &str, resources: Value) -> APIResourceList {
    serde_json::from_value(json!({"groupVersion": group_version, "resources": resources})).expect("valid list")
}

fn lists() -> Vec<(String, String, APIResourceList)> {
    let r = |name: &str, singular: &str, kind: &str, namespaced: bool, short: Value| {
        json!({"name": name, "singularName": singular, "kind": kind, "namespaced": namespaced,
               "verbs": ["get", "list"], "shortNames": short})
    };
    vec![
        (
            String::new(),
            "v1".into(),
            resources(
                "v1",
                json!([
                    r("pods", "pod", "Pod", true, json!(["po"])),
                    r("pods/status", "", "Pod", true, json!([]))
                ]),
            ),
        ),
        (
            "example.com".into(),
            "v1beta1".into(),
            resources(
                "example.com/v1beta1",
                json!([
                    r("widgets", "widget", "Widget", true, json!(["wd"])),
                    r("widgets/scale", "", "Scale", true, json!([])),
                    r("pods", "pod", "Pod", true, json!([]))
                ]),
            ),
        ),
        (
            "example.org".into(),
            "v1".into(),
            resources(
                "example.org/v1",
                json!([r("widgets", "widget", "Widget", false, json!([]))]),
            ),
        ),
    ]
}

#[test]
fn discovery_matches_like_kubefedctl() {
    let lists = lists();
    let found = |name: &str| find_resource(name, &lists);
    let widget = found("widgets.example.com").expect("unambiguous").expect("found");
    assert_eq!(
        (widget.group.as_str(), widget.version.as_str()),
        ("example.com", "v1beta1")
    );
    assert!(widget.scalable);
    for name in ["wd", "widget.example.com", "WD"] {
        assert_eq!(
            found(name).expect("unambiguous").expect("found").group,
            "example.com",
            "{name}"
        );
    }
    let cluster = found("widgets.example.org").expect("unambiguous").expect("found");
    assert!(!cluster.resource.namespaced && !cluster.scalable);
    // The core group wins over a CRD of the same name, as in KubeFed.
    assert_eq!(found("pods").expect("unambiguous").expect("found").group, "");
    assert_eq!(found("po").expect("unambiguous").expect("found").group, "");
    let ambiguous = found("widget").expect_err("ambiguous");
    assert_eq!(ambiguous, ["widgets.example.com", "widgets.example.org"]);
    assert!(found("gadgets").expect("unambiguous").is_none());
    assert!(
        found("pods/status").expect("unambiguous").is_none(),
        "subresources are not targets"
    );
}

#[test]
fn a_resource_only_an_older_version_serves_is_found_there() {
    let r = |name: &str| json!({"name": name, "singularName": "", "kind": "K", "namespaced": true, "verbs": ["get"]});
    let g = |v: &str, names: &[&str]| {
        let list = resources(&format!("g.example.com/{v}"), names.iter().map(|n| r(n)).collect());
        ("g.example.com".to_string(), v.to_string(), list)
    };
    let lists = preferred(vec![
        g("v2", &["gears", "gears/scale"]),
        g("v1", &["gears", "gears/scale", "gadgets", "gadgets/scale"]),
    ]);
    let names = |i: usize| lists[i].2.resources.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(0), ["gears", "gears/scale"]);
    assert_eq!(names(1), ["gadgets", "gadgets/scale"]);
    let gadget = find_resource("gadgets.g.example.com", &lists)
        .expect("unambiguous")
        .expect("found at v1");
    assert_eq!((gadget.version.as_str(), gadget.scalable), ("v1", true));
    let gear = find_resource("gears.g.example.com", &lists)
        .expect("unambiguous, though two versions serve it")
        .expect("found at v2");
    assert_eq!(gear.version, "v2");
}

#[test]
fn builtins_and_federated_names() {
    let t = builtin("deploy", None).expect("ok").expect("catalog");
    assert_eq!(t.qualified_name(), "deployments.apps");
    assert!(builtin("deployments.apps", Some("v1")).expect("ok").is_some());
    let err = builtin("deployments.apps", Some("v1beta1")).expect_err("other version");
    assert!(err.to_string().contains("at version v1 only"), "{err}");
    for federated in ["fdeploy", "FederatedDeployment", "federateddeployments"] {
        let err = builtin(federated, None).expect_err(federated);
        assert!(err.to_string().contains("kfed enable deployments.apps"), "{err}");
    }
    assert!(builtin("widgets.example.com", None).expect("ok").is_none());
    // `deployment.apps` is not a catalog spelling; discovery finds it, and it is still the built-in.
    let discovered = Target {
        builtin: None,
        ..Target::builtin(kfed_codegen::lookup("deployments.apps").expect("catalog"))
    };
    assert!(
        promote_builtin(discovered, None)
            .expect("same version")
            .builtin
            .is_some()
    );
}

#[test]
fn files_hold_crds_or_directives() {
    let crd = |name: &str, kind: &str| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": format!("{name}.example.com")},
               "spec": {"group": "example.com", "scope": "Namespaced",
                        "names": {"kind": kind, "plural": name, "shortNames": ["x"]},
                        "versions": [{"name": "v1", "served": true, "storage": true}]}})
    };
    let docs = [crd("widgets", "Widget"), crd("gadgets", "Gadget")];
    let file = Path::new("crds.yaml");
    let pick = |name: Option<&str>| crd_from_file(file, &docs, name).map(|c| c.spec.names.kind);
    assert_eq!(pick(Some("gadget")).expect("one").as_str(), "Gadget");
    assert_eq!(pick(Some("widgets.example.com")).expect("one").as_str(), "Widget");
    assert!(pick(None).expect_err("two").to_string().contains("several"));
    assert!(pick(Some("x")).is_err(), "a short name both share is ambiguous");
    assert!(
        pick(Some("nothing"))
            .expect_err("none")
            .to_string()
            .contains("no apiextensions")
    );
    assert_eq!(
        crd_from_file(file, &docs[..1], None)
            .expect("the only one")
            .spec
            .names
            .plural,
        "widgets"
    );

    let directive = directive(&[
        json!({"apiVersion": "core.kubefed.io/v1beta1", "kind": "EnableTypeDirective",
                                       "metadata": {"name": "widgets.example.com"},
                                       "spec": {"targetVersion": "v2", "federatedGroup": "f.example.com"}}),
    ])
    .expect("valid")
    .expect("present");
    assert_eq!(directive.metadata.name, "widgets.example.com");
    assert_eq!(directive.spec.target_version.as_deref(), Some("v2"));
    assert_eq!(directive.spec.federated_group.as_deref(), Some("f.example.com"));
    assert_eq!(directive.spec.federated_version, None);
}

#[test]
fn flags_have_kubefeds_names() {
    let parse = |args: &[&str]| {
        let matches = EnableArgs::augment_args(clap::Command::new("enable"))
            .try_get_matches_from(args)
            .expect("parses");
        EnableArgs::from_arg_matches(&matches).expect("valid")
    };
    let args = parse(&["enable", "widgets.example.com"]);
    assert_eq!(args.federated_group, "types.kubefed.io");
    assert_eq!(args.federated_version, "v1beta1");
    assert_eq!(args.host.kubefed_namespace, "kube-federation-system");
    let args = parse(&[
        "enable",
        "widgets",
        "--version=v2",
        "--federated-group=f.example.com",
        "--federated-version=v1",
        "--host-cluster-context=host",
        "--kubefed-namespace=fed",
        "-o",
        "yaml",
    ]);
    assert_eq!(args.version.as_deref(), Some("v2"));
    assert_eq!(args.host.host_cluster_context.as_deref(), Some("host"));
    assert!(matches!(args.output, Some(Output::Yaml)));
    let args = parse(&["enable", "-f", "crd.yaml", "--context", "host"]);
    assert_eq!(args.host.host_cluster_context.as_deref(), Some("host"));
}

#[test]
fn the_subcommands_are_registered() {
    use clap::{CommandFactory, Parser};
    crate::cli::Cli::command().debug_assert();
    let cli =
        crate::cli::Cli::try_parse_from(["kfed", "enable", "widgets.example.com", "--version", "v2"]).expect("parses");
    assert!(matches!(cli.command, crate::cli::Command::Enable(a) if a.version.as_deref() == Some("v2")));
    let cli = crate::cli::Cli::try_parse_from(["kfed", "disable", "widgets.example.com", "--delete-federated-type"])
        .expect("parses");
    assert!(matches!(cli.command, crate::cli::Command::Disable(_)));
}
