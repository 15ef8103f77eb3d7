//! `kfed enable` / `kfed disable`: turn the propagation of an API type on and off, as
//! `kubefedctl enable` / `kubefedctl disable` do.
//!
//! `enable` resolves the target (a catalog kind, or anything the host serves), builds its
//! `Federated<Kind>` CRD and `FederatedTypeConfig` (see `schema`), and server-side applies
//! both, so re-running it after the target changed updates them. `disable` sets the FTC's
//! propagation to `Disabled` and, with `--delete-federated-type`, deletes the federated CRD
//! and the FTC.

mod disable;
mod file;
mod schema;
mod target;

pub use disable::{DisableArgs, disable};

use crate::api::typeconfig::ResourceScope;
use crate::api::{FederatedTypeConfig, GROUP, VERSION};
use crate::cli::clients::ConnectionArgs;
use crate::cli::output::{Output, print_objects};
use crate::engine::dispatch::describe;
use anyhow::{Context, Result, anyhow, bail};
use file::*;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use schema::{FederatedApi, Target};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use target::*;

const MANAGER: &str = "kfed";
const DEFAULT_NAMESPACE: &str = "kube-federation-system";
/// How long `enable` waits for the API server to serve a new CRD.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);
const FTC_CRD: &str = "federatedtypeconfigs.core.kubefed.io";

/// The host-cluster flags of `enable` and `disable`, with KubeFed's names.
#[derive(clap::Args)]
struct HostFlags {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Kubeconfig context of the host cluster (default: current context).
    #[arg(long, visible_alias = "context")]
    host_cluster_context: Option<String>,
    /// Namespace of the federation control plane in the host; the FederatedTypeConfig lives there.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    kubefed_namespace: String,
}

impl HostFlags {
    async fn client(&self) -> Result<Client> {
        self.connection
            .client(self.host_cluster_context.as_deref())
            .await
            .context("host cluster")
    }
}

#[derive(clap::Args)]
pub struct EnableArgs {
    /// The type to federate: a kind, plural, singular or short name, `<plural>.<group>` or
    /// `<kind>.<group>` (deployments.apps, widgets.example.com). With -f: which CRD of the file.
    target: Option<String>,
    #[command(flatten)]
    host: HostFlags,
    /// Version of the target type (default: the version its API group prefers).
    #[arg(long)]
    version: Option<String>,
    /// API group of the federated type; a domain with at least one dot.
    #[arg(long, default_value = GROUP)]
    federated_group: String,
    /// API version of the federated type.
    #[arg(long, default_value = VERSION)]
    federated_version: String,
    /// Take the target's CustomResourceDefinition from this file (`-` for stdin) instead of the
    /// host; a KubeFed EnableTypeDirective is read too.
    #[arg(short = 'f', long)]
    filename: Option<PathBuf>,
    /// Print the CRD and the FederatedTypeConfig (yaml or json) instead of creating them.
    #[arg(short, long)]
    output: Option<Output>,
    /// Only validate: with `server`, the host API server checks the objects without storing them.
    #[arg(long, value_parser = ["none", "server"], default_value = "none")]
    dry_run: String,
}

/// A host client, made on first use: `-o` with a catalog kind or a file needs none.
struct Host<'a> {
    flags: &'a HostFlags,
    client: Option<Client>,
}

impl Host<'_> {
    async fn client(&mut self) -> Result<Client> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let client = self.flags.client().await?;
        self.client = Some(client.clone());
        Ok(client)
    }
}

fn api_error(e: kube::Error) -> anyhow::Error {
    anyhow!(describe(&e))
}

pub async fn enable(mut args: EnableArgs) -> Result<()> {
    let mut host = Host {
        flags: &args.host,
        client: None,
    };
    let target = match &args.filename {
        Some(file) => {
            let docs = crate::cli::manifests::read(file)?;
            match directive(&docs)? {
                // KubeFed's `kubefedctl enable -f`: the file names the type and the federated API.
                Some(d) => {
                    args.federated_group = d.spec.federated_group.unwrap_or(args.federated_group);
                    args.federated_version = d.spec.federated_version.unwrap_or(args.federated_version);
                    let version = d.spec.target_version.or(args.version);
                    resolve(&d.metadata.name, version.as_deref(), &mut host).await?
                }
                None => {
                    let crd = crd_from_file(file, &docs, args.target.as_deref())?;
                    let target = Target::from_crd(&crd, args.version.as_deref())?;
                    promote_builtin(target, args.version.as_deref())?
                }
            }
        }
        None => {
            let name = args
                .target
                .as_deref()
                .ok_or_else(|| anyhow!("give the type to federate (e.g. kfed enable deployments.apps), or -f FILE"))?;
            resolve(name, args.version.as_deref(), &mut host).await?
        }
    };
    let federated = FederatedApi::validated(&args.federated_group, &args.federated_version)?;
    target.check(&federated)?;
    let namespace = args.host.kubefed_namespace.as_str();
    let crd = schema::federated_crd(&target, &federated, &crate::api::crds::all())?;
    let ftc = schema::type_config(&target, &federated, namespace);
    if let Some(output) = args.output {
        return print_objects(&schema::documents(&crd, &ftc)?, output);
    }
    let client = host.client().await?;
    let dry_run = args.dry_run == "server";
    if Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await
        .map_err(api_error)
        .with_context(|| format!("reading namespace {namespace}"))?
        .is_none()
    {
        bail!(
            "namespace {namespace} does not exist in the host cluster (is the federation control plane installed? see --kubefed-namespace)"
        );
    }
    check_existing(&client, namespace, &ftc).await?;

    let crd_name = crd.metadata.name.clone().unwrap_or_default();
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let mut params = PatchParams::apply(MANAGER).force();
    params.dry_run = dry_run;
    let installed = target.builtin.is_some()
        && crds
            .get_opt(&crd_name)
            .await
            .map_err(api_error)
            .with_context(|| format!("reading CustomResourceDefinition {crd_name}"))?
            .is_some();
    if installed {
        // A built-in CRD belongs to kfed's installation (`kfed crds`); applying it here too
        // would make this command a co-owner that conflicts with the next upgrade.
        println!("customresourcedefinition.apiextensions.k8s.io/{crd_name} unchanged (installed with kfed's CRDs)");
    } else {
        crds.patch(&crd_name, &params, &Patch::Apply(&crd))
            .await
            .map_err(api_error)
            .with_context(|| format!("applying CustomResourceDefinition {crd_name}"))?;
        println!(
            "customresourcedefinition.apiextensions.k8s.io/{crd_name} {}",
            done(dry_run)
        );
    }
    if !dry_run {
        wait_established(&crds, &crd_name).await?;
    }
    let ftc_name = target.qualified_name();
    Api::<FederatedTypeConfig>::namespaced(client, namespace)
        .patch(&ftc_name, &params, &Patch::Apply(&ftc))
        .await
        .map_err(api_error)
        .with_context(|| format!("applying FederatedTypeConfig {namespace}/{ftc_name}"))?;
    println!(
        "federatedtypeconfig.core.kubefed.io/{ftc_name} {} in namespace {namespace}",
        done(dry_run)
    );
    Ok(())
}

fn done(dry_run: bool) -> &'static str {
    if dry_run {
        "validated (server dry run)"
    } else {
        "applied"
    }
}

/// Refuses what KubeFed refuses: changing an enabled type's federated type, and a federated
/// CRD that another FederatedTypeConfig already uses.
async fn check_existing(client: &Client, namespace: &str, ftc: &FederatedTypeConfig) -> Result<()> {
    let existing = list_type_configs(client, namespace).await?;
    let name = ftc.metadata.name.as_deref().unwrap_or_default();
    let ours = &ftc.spec.federated_type;
    for other in &existing {
        let other_name = other.metadata.name.as_deref().unwrap_or_default();
        let theirs = &other.spec.federated_type;
        if other_name == name {
            if (&theirs.group, &theirs.version, &theirs.plural_name) != (&ours.group, &ours.version, &ours.plural_name)
            {
                bail!(
                    "federation of {name} is already enabled with federated type {}/{}; changing it to {}/{} is not supported (kfed disable {name} --delete-federated-type first)",
                    theirs.qualified_name(),
                    theirs.version,
                    ours.qualified_name(),
                    ours.version
                );
            }
        } else if theirs.qualified_name() == ours.qualified_name() {
            bail!(
                "FederatedTypeConfig {namespace}/{other_name} already uses the federated type {}; if {name} is a different type with the same kind, enable it with another --federated-group",
                ours.qualified_name()
            );
        }
    }
    Ok(())
}

async fn list_type_configs(client: &Client, namespace: &str) -> Result<Vec<FederatedTypeConfig>> {
    match Api::<FederatedTypeConfig>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(s)) if s.code == 404 => bail!(
            "the host cluster has no FederatedTypeConfig API (CRD {FTC_CRD}); install kfed's CRDs first: kfed crds | kubectl apply --server-side -f -"
        ),
        Err(e) => Err(api_error(e)).with_context(|| format!("listing FederatedTypeConfigs in namespace {namespace}")),
    }
}

/// Waits (bounded) until the API server serves the CRD.
async fn wait_established(crds: &Api<CustomResourceDefinition>, name: &str) -> Result<()> {
    let start = tokio::time::Instant::now();
    loop {
        let crd = crds
            .get(name)
            .await
            .map_err(api_error)
            .with_context(|| format!("reading CustomResourceDefinition {name}"))?;
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        if conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
        {
            return Ok(());
        }
        if let Some(c) = conditions
            .iter()
            .find(|c| c.type_ == "NamesAccepted" && c.status == "False")
        {
            bail!(
                "the API server refused the names of CustomResourceDefinition {name}: {}",
                c.message.as_deref().unwrap_or("no message")
            );
        }
        if start.elapsed() >= ESTABLISH_TIMEOUT {
            let seen: Vec<String> = conditions
                .iter()
                .map(|c| format!("{}={} {}", c.type_, c.status, c.message.as_deref().unwrap_or_default()))
                .collect();
            bail!(
                "CustomResourceDefinition {name} was not Established within {}s (conditions: {})",
                ESTABLISH_TIMEOUT.as_secs(),
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join("; ")
                }
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests;
