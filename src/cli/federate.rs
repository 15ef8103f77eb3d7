//! `kfed federate`: turn existing resources (or manifests) into federated ones.

use crate::cli::clients::HostArgs;
use crate::cli::output::{Output, print_objects};
use crate::kinds::{self, Kind};
use anyhow::{Context, Result, anyhow, bail};
use kfed_codegen::{CATALOG, Scope};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Map, Value, json};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Kind of the resource (Deployment, deployments.apps, deploy, ...). Not used with -f.
    kind: Option<String>,
    /// Name of the resource. Not used with -f.
    name: Option<String>,
    #[command(flatten)]
    host: HostArgs,
    /// For a namespace: also federate every supported resource in it.
    #[arg(long)]
    contents: bool,
    /// Read manifests from this file (`-` for stdin) instead of the cluster.
    #[arg(short = 'f', long)]
    filename: Option<PathBuf>,
    /// Place on these clusters (comma-separated); default: every cluster (`clusterSelector: {}`).
    #[arg(long, value_delimiter = ',')]
    clusters: Vec<String>,
    /// Print the federated objects (yaml or json) instead of creating them.
    #[arg(short, long)]
    output: Option<Output>,
    /// Only validate: with `server`, the host API server checks the objects without storing them.
    #[arg(long, value_parser = ["none", "server"], default_value = "none")]
    dry_run: String,
}

pub async fn run(args: Args) -> Result<()> {
    let host = args.host.client().await?;
    let namespace = args.host.namespace_or_default(&host);
    let placement = if args.clusters.is_empty() {
        json!({ "clusterSelector": {} })
    } else {
        json!({ "clusters": args.clusters.iter().map(|c| json!({ "name": c })).collect::<Vec<_>>() })
    };
    let sources = match (&args.filename, &args.kind, &args.name) {
        (Some(file), None, None) => crate::cli::manifests::read(file)?,
        (Some(_), _, _) => bail!("give either -f FILE or KIND NAME, not both"),
        (None, Some(kind), Some(name)) => {
            let kind = kinds::lookup(kind)
                .ok_or_else(|| anyhow!("kind {kind:?} is not federated by kfed (see `kfed crds`)"))?;
            from_cluster(&host, &kind, name, &namespace, args.contents).await?
        }
        _ => bail!("give KIND and NAME, or -f FILE"),
    };
    let federated: Vec<Value> = sources
        .iter()
        .map(|obj| federate(obj, &placement, &namespace))
        .collect::<Result<_>>()?;
    if let Some(output) = args.output {
        return print_objects(&federated, output);
    }
    for obj in &federated {
        create(&host, obj, args.dry_run == "server").await?;
    }
    Ok(())
}

/// The resource itself, plus with `--contents` every supported resource in a namespace.
async fn from_cluster(host: &Client, kind: &Kind, name: &str, namespace: &str, contents: bool) -> Result<Vec<Value>> {
    let ns = kind.target_namespaced().then_some(namespace);
    let in_namespace = ns.map(|n| format!(" in namespace {n}")).unwrap_or_default();
    let obj = kind
        .target_api(host, ns)
        .get(name)
        .await
        .with_context(|| format!("reading {} {name}{in_namespace}", kind.target_kind()))?;
    let mut objects = vec![serde_json::to_value(&obj)?];
    if contents {
        if !kind.behaviour.namespace {
            bail!("--contents only applies to a Namespace");
        }
        for member_kind in kinds::builtin().iter().filter(|k| k.target_namespaced()) {
            let list = match member_kind
                .target_api(host, Some(name))
                .list(&ListParams::default())
                .await
            {
                Ok(list) => list,
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 403 => continue, // kind not served or not readable
                Err(e) => {
                    return Err(anyhow!(e).context(format!(
                        "listing {} in namespace {name}",
                        member_kind.target_resource.plural
                    )));
                }
            };
            for mut item in list
                .items
                .into_iter()
                .filter(|o| !generated_by_the_cluster(member_kind, o))
            {
                // Items of a list carry no apiVersion/kind of their own.
                item.types = Some(kube::api::TypeMeta {
                    api_version: member_kind.target_resource.api_version.clone(),
                    kind: member_kind.target_kind().into(),
                });
                objects.push(serde_json::to_value(&item)?);
            }
        }
    }
    Ok(objects)
}

/// Objects that controllers create by themselves in every namespace or for
/// another object: federating them would fight those controllers.
fn generated_by_the_cluster(kind: &Kind, obj: &DynamicObject) -> bool {
    let owned = obj.owner_references().iter().any(|o| o.controller == Some(true));
    let name = obj.name_any();
    let default_object = match kind.target_kind() {
        "ServiceAccount" => name == "default",
        "ConfigMap" => name == "kube-root-ca.crt",
        "Secret" => obj.data.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token"),
        _ => false,
    };
    owned || default_object
}

/// The `Federated<Kind>` equivalent of one object: its content becomes the
/// template (identity, status and server-managed metadata left out).
pub fn federate(obj: &Value, placement: &Value, default_namespace: &str) -> Result<Value> {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("a manifest has no kind"))?;
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let target = CATALOG
        .iter()
        .find(|k| k.kind == kind && k.api_version() == api_version)
        .ok_or_else(|| anyhow!("{api_version} {kind} is not federated by kfed"))?;
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("a {kind} has no metadata.name"))?;
    let mut template: Map<String, Value> = obj.as_object().cloned().unwrap_or_default();
    for key in ["apiVersion", "kind", "status"] {
        template.remove(key);
    }
    let mut metadata = Map::new();
    if let Some(labels) = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
    {
        let mut labels = labels.clone();
        labels.remove(crate::wellknown::MANAGED_LABEL);
        metadata.insert("labels".into(), Value::Object(labels));
    }
    if let Some(annotations) = obj.pointer("/metadata/annotations").and_then(Value::as_object) {
        let kept: Map<String, Value> = annotations
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("kubectl.kubernetes.io/")
                    && !k.starts_with("deployment.kubernetes.io/")
                    && k.as_str() != crate::wellknown::HASH_ANNOTATION
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            metadata.insert("annotations".into(), Value::Object(kept));
        }
    }
    template.insert("metadata".into(), Value::Object(metadata));
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace);
    let mut federated_meta = json!({ "name": name });
    if target.is_namespace() {
        federated_meta["namespace"] = json!(name);
    } else if target.scope == Scope::Namespaced {
        federated_meta["namespace"] = json!(namespace);
    }
    Ok(json!({
        "apiVersion": format!("{}/{}", crate::api::GROUP, crate::api::VERSION),
        "kind": target.federated_kind(),
        "metadata": federated_meta,
        "spec": { "template": template, "placement": placement },
    }))
}

async fn create(host: &Client, obj: &Value, dry_run: bool) -> Result<()> {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let federated = kinds::lookup(kind).ok_or_else(|| anyhow!("unknown kind {kind}"))?;
    let api = federated.federated_api(host, obj["metadata"]["namespace"].as_str());
    let mut params = PatchParams::apply("kfed-federate");
    params.dry_run = dry_run;
    api.patch(name, &params, &Patch::Apply(obj))
        .await
        .with_context(|| format!("creating {kind} {name}"))?;
    println!(
        "{}.{}/{name} {}",
        federated.federated_resource.plural,
        crate::api::GROUP,
        if dry_run {
            "validated (server dry run)"
        } else {
            "applied"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_becomes_a_federated_deployment() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "7",
                         "labels": {"app": "web"}, "annotations": {crate::wellknown::LAST_APPLIED_ANNOTATION: "{}", "team": "a"}},
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2}
        });
        let fed = federate(&deployment, &json!({"clusterSelector": {}}), "default").expect("federates");
        assert_eq!(fed["kind"], "FederatedDeployment");
        assert_eq!(fed["metadata"], json!({"name": "web", "namespace": "shop"}));
        assert_eq!(
            fed["spec"]["template"],
            json!({"metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}}, "spec": {"replicas": 2}})
        );
        assert_eq!(fed["spec"]["placement"], json!({"clusterSelector": {}}));
    }

    #[test]
    fn namespaces_and_unknown_kinds() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let fed = federate(&ns, &json!({}), "default").expect("federates");
        assert_eq!(fed["metadata"], json!({"name": "shop", "namespace": "shop"}));
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert!(federate(&pod, &json!({}), "default").is_err());
        let cluster_role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}, "rules": []});
        assert_eq!(
            federate(&cluster_role, &json!({}), "default").expect("federates")["metadata"],
            json!({"name": "r"})
        );
    }
}
