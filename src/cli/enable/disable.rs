//! `kfed disable`: stop propagating an API type, as `kubefedctl disable` does.
//!
//! The FederatedTypeConfig's propagation is set to `Disabled` (a merge patch), which the
//! controller acts on; the FTC stays, so the type can be turned on again with `kfed enable`.
//! With `--delete-federated-type` (KubeFed's `--delete-crd`), once no object of the
//! federated type is left and the controller reports the type stopped, the `Federated<Kind>`
//! CRD and the FTC are deleted. Unlike `kubefedctl disable`, which deleted the FTC every
//! time, a plain `kfed disable` keeps it, saying `Disabled`.

use super::schema::{FederatedApi, Target};
use super::{HostFlags, api_error, discover, list_type_configs};
use crate::api::typeconfig::{ApiResource, ControllerStatus, PropagationMode};
use crate::api::{FederatedTypeConfig, GROUP, VERSION};
use crate::engine::dispatch::describe;
use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;

/// How long `disable` waits for the controller to report a type's propagation stopped (KubeFed's).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct DisableArgs {
    /// The type: its FederatedTypeConfig's name (deployments.apps), any name `kfed enable`
    /// accepts, or the name of its federated type.
    target: String,
    #[command(flatten)]
    host: HostFlags,
    /// Also delete the Federated<Kind> CRD and the FederatedTypeConfig; refused while objects
    /// of the federated type exist.
    #[arg(long, visible_alias = "delete-crd")]
    delete_federated_type: bool,
    /// With --delete-federated-type and no FederatedTypeConfig: the group of the federated CRD
    /// to delete [default: types.kubefed.io].
    #[arg(long)]
    federated_group: Option<String>,
    /// Only validate: with `server`, the host API server checks the changes without making them.
    #[arg(long, value_parser = ["none", "server"], default_value = "none")]
    dry_run: String,
}

pub async fn disable(args: DisableArgs) -> Result<()> {
    if args.federated_group.is_some() && !args.delete_federated_type {
        bail!("--federated-group applies only with --delete-federated-type");
    }
    let federated_group = args.federated_group.as_deref().unwrap_or(GROUP);
    FederatedApi::validated(federated_group, VERSION)?;
    let client = args.host.client().await?;
    let namespace = args.host.kubefed_namespace.as_str();
    let dry_run = args.dry_run == "server";
    let name = args.target.as_str();
    let existing = list_type_configs(&client, namespace).await?;
    // The FTC's name of the target, when it can be worked out (a catalog kind, or served).
    let mut qualified = kfed_codegen::lookup(name).map(|k| Target::builtin(k).qualified_name());
    let mut ftc = find_type_config(name, qualified.as_deref(), &existing)?;
    if ftc.is_none() && qualified.is_none() && !name.contains('.') {
        // A short name of a custom resource, say: only discovery knows it.
        if let Ok(served) = discover(&client, name, None).await {
            let q = ApiResource {
                group: served.group,
                plural_name: served.resource.name,
                ..Default::default()
            }
            .qualified_name();
            ftc = find_type_config(&q, None, &existing)?;
            qualified = Some(q);
        }
    }
    let Some(ftc) = ftc else {
        if !args.delete_federated_type {
            let enabled: Vec<&str> = existing.iter().filter_map(|f| f.metadata.name.as_deref()).collect();
            bail!(
                "no FederatedTypeConfig for {name} in namespace {namespace} (enabled there: {}); `kfed enable {name}` creates one",
                if enabled.is_empty() {
                    "none".to_string()
                } else {
                    enabled.join(", ")
                }
            );
        }
        // KubeFed deletes the federated CRD even without a FederatedTypeConfig.
        let ftc_name = qualified.unwrap_or_else(|| name.to_ascii_lowercase());
        let plural = ftc_name.split('.').next().unwrap_or_default();
        let crd_name = format!("federated{plural}.{federated_group}");
        let crds = Api::<CustomResourceDefinition>::all(client.clone());
        let Some(crd) = crds
            .get_opt(&crd_name)
            .await
            .map_err(api_error)
            .with_context(|| format!("reading CustomResourceDefinition {crd_name}"))?
        else {
            bail!(
                "neither a FederatedTypeConfig for {name} in namespace {namespace} nor a CustomResourceDefinition {crd_name} exists"
            );
        };
        let version = crd
            .spec
            .versions
            .iter()
            .find(|v| v.storage)
            .or_else(|| crd.spec.versions.first())
            .map(|v| v.name.clone())
            .unwrap_or_default();
        let federated = ApiResource {
            group: crd.spec.group.clone(),
            version,
            kind: crd.spec.names.kind.clone(),
            plural_name: crd.spec.names.plural.clone(),
            ..Default::default()
        };
        refuse_if_in_use(&client, &federated).await?;
        return delete_crd(&crds, &crd_name, dry_run).await;
    };

    let ftc_name = ftc.metadata.name.clone().unwrap_or_default();
    let qualified_ftc = format!("{namespace}/{ftc_name}");
    let federated = ftc.spec.federated_type.clone();
    if args.delete_federated_type {
        refuse_if_in_use(&client, &federated).await?;
    }
    let ftcs = Api::<FederatedTypeConfig>::namespaced(client.clone(), namespace);
    let mut generation = ftc.metadata.generation;
    if ftc.spec.propagation == PropagationMode::Enabled {
        let patch = json!({ "spec": { "propagation": PropagationMode::Disabled } });
        let params = PatchParams {
            dry_run,
            ..Default::default()
        };
        let patched = ftcs
            .patch(&ftc_name, &params, &Patch::Merge(&patch))
            .await
            .map_err(api_error)
            .with_context(|| format!("disabling propagation for FederatedTypeConfig {qualified_ftc}"))?;
        generation = patched.metadata.generation;
        println!(
            "federatedtypeconfig.core.kubefed.io/{ftc_name} propagation disabled in namespace {namespace}{}",
            dry_run_note(dry_run)
        );
    } else {
        println!(
            "federatedtypeconfig.core.kubefed.io/{ftc_name} propagation already disabled in namespace {namespace}"
        );
    }
    // A controller that reports on FederatedTypeConfigs says when the type's propagation
    // stopped; KubeFed waits for it before deleting the CRD its watches use.
    if !dry_run && ftc.status.is_some() {
        let stopped = wait_stopped(&ftcs, &ftc_name, generation.unwrap_or_default()).await?;
        if !stopped {
            let message = format!(
                "the controller did not report propagation stopped for FederatedTypeConfig {qualified_ftc} within {}s",
                STOP_TIMEOUT.as_secs()
            );
            if args.delete_federated_type {
                bail!("{message}; not deleting its federated type (run kfed disable again once it has)");
            }
            eprintln!("kfed: warning: {message}");
        }
    }
    if args.delete_federated_type {
        let crds = Api::<CustomResourceDefinition>::all(client);
        delete_crd(&crds, &federated.qualified_name(), dry_run).await?;
        let params = DeleteParams {
            dry_run,
            ..Default::default()
        };
        match ftcs.delete(&ftc_name, &params).await {
            Ok(_) => println!(
                "federatedtypeconfig.core.kubefed.io/{ftc_name} deleted from namespace {namespace}{}",
                dry_run_note(dry_run)
            ),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(api_error(e)).with_context(|| format!("deleting FederatedTypeConfig {qualified_ftc}"));
            }
        }
    }
    Ok(())
}

fn dry_run_note(dry_run: bool) -> &'static str {
    if dry_run { " (server dry run)" } else { "" }
}

/// The FederatedTypeConfig `name` designates: by its own name, the target's FTC name
/// (`qualified`, when known), or the target's or federated type's plural, kind or
/// qualified name.
fn find_type_config(
    name: &str,
    qualified: Option<&str>,
    existing: &[FederatedTypeConfig],
) -> Result<Option<FederatedTypeConfig>> {
    let key = name.to_ascii_lowercase();
    let named = |n: &str| existing.iter().find(|f| f.metadata.name.as_deref() == Some(n)).cloned();
    if let Some(ftc) = named(&key).or_else(|| qualified.and_then(named)) {
        return Ok(Some(ftc));
    }
    let matching: Vec<&FederatedTypeConfig> = existing
        .iter()
        .filter(|f| {
            let (t, fed) = (&f.spec.target_type, &f.spec.federated_type);
            let names = [
                t.plural_name.clone(),
                t.kind.to_ascii_lowercase(),
                format!("{}.{}", t.kind.to_ascii_lowercase(), t.group),
                fed.plural_name.clone(),
                fed.kind.to_ascii_lowercase(),
                fed.qualified_name(),
            ];
            names.contains(&key)
        })
        .collect();
    match matching.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => bail!(
            "{name} matches several FederatedTypeConfigs: {}; give the name of one",
            many.iter()
                .filter_map(|f| f.metadata.name.as_deref())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Whether the controller reports the type's propagation stopped within `STOP_TIMEOUT`.
async fn wait_stopped(ftcs: &Api<FederatedTypeConfig>, name: &str, generation: i64) -> Result<bool> {
    let start = tokio::time::Instant::now();
    while start.elapsed() < STOP_TIMEOUT {
        match ftcs.get_opt(name).await {
            Ok(None) => return Ok(true),
            Ok(Some(ftc)) => {
                if ftc.status.is_some_and(|s| {
                    s.observed_generation >= generation && s.propagation_controller == ControllerStatus::NotRunning
                }) {
                    return Ok(true);
                }
            }
            Err(e) => eprintln!("kfed: warning: reading FederatedTypeConfig {name}: {}", describe(&e)),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

/// Refuses to delete a federated type that still has objects (their member objects would
/// be left without an owner).
async fn refuse_if_in_use(client: &Client, federated: &ApiResource) -> Result<()> {
    let resource = kube::core::ApiResource {
        group: federated.group.clone(),
        version: federated.version.clone(),
        api_version: federated.api_version(),
        kind: federated.kind.clone(),
        plural: federated.plural_name.clone(),
    };
    let crd_name = federated.qualified_name();
    match Api::<DynamicObject>::all_with(client.clone(), &resource)
        .list(&ListParams::default().limit(1))
        .await
    {
        Ok(list) if list.items.is_empty() => Ok(()),
        Ok(_) => bail!(
            "cannot delete CRD {crd_name} while {} objects exist; delete them first, or run kfed disable without --delete-federated-type",
            federated.kind
        ),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(api_error(e)).with_context(|| format!("listing {crd_name}")),
    }
}

async fn delete_crd(crds: &Api<CustomResourceDefinition>, name: &str, dry_run: bool) -> Result<()> {
    let params = DeleteParams {
        dry_run,
        ..Default::default()
    };
    match crds.delete(name, &params).await {
        Ok(_) => println!(
            "customresourcedefinition.apiextensions.k8s.io/{name} deleted{}",
            dry_run_note(dry_run)
        ),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            println!("customresourcedefinition.apiextensions.k8s.io/{name} does not exist")
        }
        Err(e) => return Err(api_error(e)).with_context(|| format!("deleting CustomResourceDefinition {name}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::typeconfig::ResourceScope;
    use clap::{Args, FromArgMatches};

    fn ftc(name: &str, group: &str, kind: &str, plural: &str) -> FederatedTypeConfig {
        let target = Target {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
            scope: ResourceScope::Namespaced,
            short_names: vec![],
            scalable: false,
            schema: None,
            builtin: None,
        };
        let ftc = super::super::schema::type_config(&target, &FederatedApi::default(), "fed");
        assert_eq!(ftc.metadata.name.as_deref(), Some(name));
        ftc
    }

    #[test]
    fn disable_finds_the_type_config() {
        let existing = [
            ftc("widgets.example.com", "example.com", "Widget", "widgets"),
            ftc("deployments.apps", "apps", "Deployment", "deployments"),
            ftc("gizmos.a.io", "a.io", "Gizmo", "gizmos"),
            ftc("gizmos.b.io", "b.io", "Gizmo", "gizmos"),
        ];
        let name_of = |n: &str, q: Option<&str>| {
            find_type_config(n, q, &existing)
                .expect("unambiguous")
                .and_then(|f| f.metadata.name)
        };
        for n in [
            "widgets.example.com",
            "Widget",
            "widgets",
            "widget.example.com",
            "FederatedWidget",
            "federatedwidgets",
        ] {
            assert_eq!(name_of(n, None).as_deref(), Some("widgets.example.com"), "{n}");
        }
        assert_eq!(
            name_of("deploy", Some("deployments.apps")).as_deref(),
            Some("deployments.apps")
        );
        assert_eq!(name_of("gizmos.b.io", None).as_deref(), Some("gizmos.b.io"));
        let err = find_type_config("gizmo", None, &existing).expect_err("ambiguous");
        assert!(err.to_string().contains("gizmos.a.io, gizmos.b.io"), "{err}");
        assert_eq!(name_of("configmaps", None), None);
    }

    #[test]
    fn flags_have_kubefeds_names() {
        let matches = DisableArgs::augment_args(clap::Command::new("disable"))
            .try_get_matches_from([
                "disable",
                "deployments.apps",
                "--delete-crd",
                "--host-cluster-context",
                "host",
            ])
            .expect("parses");
        let args = DisableArgs::from_arg_matches(&matches).expect("valid");
        assert!(args.delete_federated_type);
        assert_eq!(args.federated_group, None);
        assert_eq!(args.host.host_cluster_context.as_deref(), Some("host"));
        assert_eq!(args.host.kubefed_namespace, "kube-federation-system");
        assert_eq!(args.dry_run, "none");
    }
}
