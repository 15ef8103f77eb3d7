//! `kfed orphaning-deletion enable|disable|status KIND NAME`.

use crate::cli::clients::HostArgs;
use crate::kinds;
use crate::wellknown::ORPHAN_ANNOTATION;
use anyhow::{Context, Result, anyhow};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};

#[derive(clap::Args)]
pub struct Args {
    /// enable: deleting the federated object keeps the member objects; disable: deletes them; status: shows which.
    #[arg(value_parser = ["enable", "disable", "status"])]
    action: String,
    /// Kind (Deployment, FederatedDeployment, fdeploy, ...).
    kind: String,
    /// Name of the federated object.
    name: String,
    #[command(flatten)]
    host: HostArgs,
}

pub async fn run(args: Args) -> Result<()> {
    let host = args.host.client().await?;
    let kind = kinds::lookup(&args.kind).ok_or_else(|| anyhow!("kind {:?} is not federated by kfed", args.kind))?;
    let namespace = args.host.namespace_or_default(&host);
    let api = kind.federated_api(&host, Some(&namespace));
    let what = format!("{} {}", kind.federated_resource.kind, args.name);
    let value = match args.action.as_str() {
        "status" => {
            let obj = api.get(&args.name).await.with_context(|| format!("reading {what}"))?;
            let enabled = obj.annotations().get(ORPHAN_ANNOTATION).map(String::as_str) == Some("true");
            println!(
                "{what}: orphaning deletion {}",
                if enabled {
                    "enabled (member objects are kept on deletion)"
                } else {
                    "disabled"
                }
            );
            return Ok(());
        }
        "enable" => serde_json::json!("true"),
        _ => serde_json::Value::Null,
    };
    let patch = serde_json::json!({ "metadata": { "annotations": { ORPHAN_ANNOTATION: value } } });
    api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("annotating {what}"))?;
    println!("{what}: orphaning deletion {}d", args.action);
    Ok(())
}
