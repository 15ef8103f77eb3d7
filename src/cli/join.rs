//! `kfed join` / `kfed unjoin`: register a member cluster with the host.
//!
//! In the member: a namespace, a ServiceAccount, a ClusterRole bound to it that
//! aggregates every ClusterRole labelled `kfed.io/aggregate-to-member=true`, one
//! such role granting exactly what the sync controller does to the catalog kinds,
//! and a token Secret filled by the member's token controller. Kinds added later
//! (`kfed enable`) are granted with one more labelled ClusterRole in the member. In the host: a Secret with
//! that token and the `KubeFedCluster`. Everything is server-side applied, so
//! re-running is safe.

use crate::api::{KubeFedCluster, KubeFedClusterSpec, cluster::LocalSecretReference};
use crate::cli::clients::ConnectionArgs;
use crate::engine::dispatch::describe;
use crate::wellknown::AGGREGATE_TO_MEMBER_LABEL;
use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Resource;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use std::collections::BTreeMap;
use std::time::Duration;

const MANAGER: &str = "kfed-join";

#[derive(clap::Args)]
pub struct JoinArgs {
    /// Name of the member cluster in the federation (the KubeFedCluster's name).
    name: String,
    #[command(flatten)]
    common: Common,
    /// API endpoint the host should use for the member (default: the server of --cluster-context).
    #[arg(long)]
    api_endpoint: Option<String>,
}

#[derive(clap::Args)]
pub struct UnjoinArgs {
    /// Name of the member cluster to remove.
    name: String,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct Common {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Kubeconfig context of the member cluster.
    #[arg(long)]
    cluster_context: String,
    /// Kubeconfig context of the host cluster (default: current context).
    #[arg(long)]
    host_cluster_context: Option<String>,
    /// Federation namespace, in the host and in the member.
    #[arg(long, default_value = "kube-federation-system")]
    federation_namespace: String,
}

/// What join creates for member `cluster`.
struct Names {
    /// ServiceAccount in the member.
    service_account: String,
    /// The aggregated ClusterRole and its ClusterRoleBinding in the member.
    role: String,
    /// The labelled ClusterRole for the catalog kinds in the member.
    builtin_role: String,
    /// The ServiceAccount's token Secret in the member.
    member_token: String,
    /// The Secret holding that token in the host. Named apart from the member's so
    /// that the host can also be joined as a member of itself (same namespace).
    host_secret: String,
}

fn names(cluster: &str) -> Names {
    Names {
        service_account: format!("kfed-{cluster}"),
        role: format!("kfed:member:{cluster}"),
        builtin_role: format!("kfed:member:{cluster}:builtin"),
        member_token: format!("kfed-{cluster}-token"),
        host_secret: format!("kfed-{cluster}-credentials"),
    }
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "kfed".to_string(),
        )])),
        ..Default::default()
    }
}

async fn apply<K>(api: &Api<K>, obj: &K, what: &str) -> Result<K>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(obj))
        .await
        .map_err(|e| anyhow!(describe(&e)))
        .with_context(|| format!("applying {what} {name}"))
}

async fn ensure_namespace(client: &kube::Client, ns: &str) -> Result<Namespace> {
    let namespace = Namespace {
        metadata: meta(ns, None),
        ..Default::default()
    };
    apply(&Api::<Namespace>::all(client.clone()), &namespace, "namespace").await
}

pub async fn join(args: JoinArgs) -> Result<()> {
    let c = &args.common;
    let member = c
        .connection
        .client(Some(&c.cluster_context))
        .await
        .with_context(|| format!("member cluster {}", args.name))?;
    let host = c
        .connection
        .client(c.host_cluster_context.as_deref())
        .await
        .context("host cluster")?;
    let (endpoint, ca) = endpoint_of(c, args.api_endpoint.as_deref())?;
    let ns = c.federation_namespace.as_str();
    let Names {
        service_account: sa_name,
        role: role_name,
        builtin_role,
        member_token: token_name,
        host_secret,
    } = names(&args.name);

    // Member side: identity and its permissions.
    let ctx = |what: &str| format!("{what} in member cluster {}", args.name);
    ensure_namespace(&member, ns).await.with_context(|| ctx("namespace"))?;
    let sa = ServiceAccount {
        metadata: meta(&sa_name, Some(ns)),
        ..Default::default()
    };
    apply(
        &Api::<ServiceAccount>::namespaced(member.clone(), ns),
        &sa,
        "ServiceAccount",
    )
    .await
    .with_context(|| ctx("ServiceAccount"))?;
    let roles = Api::<ClusterRole>::all(member.clone());
    let mut builtin_meta = meta(&builtin_role, None);
    builtin_meta
        .labels
        .get_or_insert_default()
        .insert(AGGREGATE_TO_MEMBER_LABEL.into(), "true".into());
    let builtin = ClusterRole {
        metadata: builtin_meta,
        rules: Some(member_rules()),
        ..Default::default()
    };
    apply(&roles, &builtin, "ClusterRole")
        .await
        .with_context(|| ctx("ClusterRole"))?;
    let role = ClusterRole {
        metadata: meta(&role_name, None),
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(BTreeMap::from([(AGGREGATE_TO_MEMBER_LABEL.into(), "true".into())])),
                ..Default::default()
            }]),
        }),
        ..Default::default()
    };
    apply(&roles, &role, "ClusterRole")
        .await
        .with_context(|| ctx("ClusterRole"))?;
    wait_for_aggregation(&roles, &role_name)
        .await
        .with_context(|| ctx("ClusterRole"))?;
    let binding = ClusterRoleBinding {
        metadata: meta(&role_name, None),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: role_name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: sa_name.clone(),
            namespace: Some(ns.into()),
            ..Default::default()
        }]),
    };
    apply(
        &Api::<ClusterRoleBinding>::all(member.clone()),
        &binding,
        "ClusterRoleBinding",
    )
    .await
    .with_context(|| ctx("ClusterRoleBinding"))?;
    let mut token_meta = meta(&token_name, Some(ns));
    token_meta.annotations = Some(BTreeMap::from([(
        "kubernetes.io/service-account.name".to_string(),
        sa_name.clone(),
    )]));
    let token_secret = Secret {
        metadata: token_meta,
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    };
    let secrets = Api::<Secret>::namespaced(member.clone(), ns);
    apply(&secrets, &token_secret, "token Secret")
        .await
        .with_context(|| ctx("token Secret"))?;
    let token = wait_for_token(&secrets, &token_name)
        .await
        .with_context(|| ctx("ServiceAccount token"))?;

    // Host side: the credentials and the registration.
    ensure_namespace(&host, ns)
        .await
        .context("namespace in the host cluster")?;
    let mut data = BTreeMap::from([("token".to_string(), ByteString(token))]);
    if let Some(ca) = &ca {
        data.insert("ca.crt".into(), ByteString(ca.clone()));
    }
    let credentials = Secret {
        metadata: meta(&host_secret, Some(ns)),
        data: Some(data),
        ..Default::default()
    };
    apply(&Api::<Secret>::namespaced(host.clone(), ns), &credentials, "Secret")
        .await
        .context("Secret in the host cluster")?;
    let mut cluster = KubeFedCluster::new(
        &args.name,
        KubeFedClusterSpec {
            api_endpoint: endpoint.clone(),
            ca_bundle: ca.map(ByteString),
            secret_ref: LocalSecretReference { name: host_secret },
            ..Default::default()
        },
    );
    cluster.metadata.namespace = Some(ns.into());
    apply(&Api::<KubeFedCluster>::namespaced(host, ns), &cluster, "KubeFedCluster")
        .await
        .context("KubeFedCluster in the host cluster")?;
    println!(
        "joined {} ({endpoint}) with ServiceAccount {ns}/{sa_name} in the member",
        args.name
    );
    Ok(())
}

pub async fn unjoin(args: UnjoinArgs) -> Result<()> {
    let c = &args.common;
    let ns = c.federation_namespace.as_str();
    let Names {
        service_account: sa_name,
        role: role_name,
        builtin_role,
        member_token: token_name,
        host_secret,
    } = names(&args.name);
    let host = c
        .connection
        .client(c.host_cluster_context.as_deref())
        .await
        .context("host cluster")?;
    delete(
        &Api::<KubeFedCluster>::namespaced(host.clone(), ns),
        &args.name,
        "KubeFedCluster in the host",
    )
    .await?;
    delete(&Api::<Secret>::namespaced(host, ns), &host_secret, "Secret in the host").await?;
    // The member may be gone for good; unjoining must still work, so member cleanup only warns.
    match c.connection.client(Some(&c.cluster_context)).await {
        Ok(member) => {
            let results = [
                delete(
                    &Api::<ClusterRoleBinding>::all(member.clone()),
                    &role_name,
                    "ClusterRoleBinding in the member",
                )
                .await,
                delete(
                    &Api::<ClusterRole>::all(member.clone()),
                    &role_name,
                    "ClusterRole in the member",
                )
                .await,
                delete(
                    &Api::<ClusterRole>::all(member.clone()),
                    &builtin_role,
                    "ClusterRole in the member",
                )
                .await,
                delete(
                    &Api::<Secret>::namespaced(member.clone(), ns),
                    &token_name,
                    "token Secret in the member",
                )
                .await,
                delete(
                    &Api::<ServiceAccount>::namespaced(member, ns),
                    &sa_name,
                    "ServiceAccount in the member",
                )
                .await,
            ];
            for e in results.into_iter().filter_map(Result::err) {
                eprintln!("kfed: warning: {e:#}");
            }
        }
        Err(e) => eprintln!(
            "kfed: warning: member cluster {} not reachable, its ServiceAccount stays: {e:#}",
            args.name
        ),
    }
    println!("unjoined {}", args.name);
    Ok(())
}

async fn delete<K>(api: &Api<K>, name: &str, what: &str) -> Result<()>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(anyhow!(describe(&e)).context(format!("deleting {what} {name}"))),
    }
}

/// The member's API server URL and CA, from its kubeconfig context.
fn endpoint_of(c: &Common, override_endpoint: Option<&str>) -> Result<(String, Option<Vec<u8>>)> {
    let kubeconfig = c
        .connection
        .kubeconfig()?
        .ok_or_else(|| anyhow!("kfed join needs a kubeconfig with the member's context"))?;
    let context = kubeconfig
        .contexts
        .iter()
        .find(|n| n.name == c.cluster_context)
        .and_then(|n| n.context.as_ref())
        .ok_or_else(|| anyhow!("context {:?} not found in the kubeconfig", c.cluster_context))?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|n| n.name == context.cluster)
        .and_then(|n| n.cluster.as_ref())
        .ok_or_else(|| {
            anyhow!(
                "cluster {:?} of context {:?} not found in the kubeconfig",
                context.cluster,
                c.cluster_context
            )
        })?;
    let server = override_endpoint
        .map(str::to_string)
        .or_else(|| cluster.server.clone())
        .ok_or_else(|| anyhow!("context {:?} has no server", c.cluster_context))?;
    let ca = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(data), _) => Some(decode_base64(data).context("certificate-authority-data")?),
        (None, Some(path)) => Some(std::fs::read(path).with_context(|| format!("reading {path}"))?),
        (None, None) => None,
    };
    Ok((server, ca))
}

fn decode_base64(data: &str) -> Result<Vec<u8>> {
    // ByteString's serde form is base64, so decode through it rather than by hand.
    let bytes: ByteString = serde_json::from_value(serde_json::Value::String(data.trim().to_string()))?;
    Ok(bytes.0)
}

async fn wait_for_token(secrets: &Api<Secret>, name: &str) -> Result<Vec<u8>> {
    for _ in 0..120 {
        if let Some(token) = secrets
            .get(name)
            .await?
            .data
            .and_then(|mut d| d.remove("token"))
            .filter(|t| !t.0.is_empty())
        {
            return Ok(token.0);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("the token controller did not fill Secret {name} within 60s (is kube-controller-manager running?)")
}

/// Waits until the member's ClusterRole aggregation controller has filled the
/// aggregated role, so the identity works when `join` returns.
async fn wait_for_aggregation(roles: &Api<ClusterRole>, name: &str) -> Result<()> {
    for _ in 0..300 {
        let role = roles.get(name).await.map_err(|e| anyhow!(describe(&e)))?;
        if role.rules.is_some_and(|r| !r.is_empty()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "ClusterRole {name} got no rules within 30 s: the member's kube-controller-manager does not aggregate ClusterRoles (clusterrole-aggregation-controller)"
    )
}

/// Exactly what the sync controller does in a member: read, watch and write the
/// catalog kinds. `escalate` and `bind` are needed to propagate RBAC objects
/// that grant permissions; /healthz and /version serve the health probes.
fn member_rules() -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for kind in kfed_codegen::CATALOG {
        by_group.entry(kind.group).or_default().push(kind.plural.to_string());
    }
    let verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
        .map(String::from)
        .to_vec();
    let mut rules: Vec<PolicyRule> = by_group
        .into_iter()
        .map(|(group, resources)| PolicyRule {
            api_groups: Some(vec![group.to_string()]),
            resources: Some(resources),
            verbs: verbs.clone(),
            ..Default::default()
        })
        .collect();
    rules.push(PolicyRule {
        api_groups: Some(vec!["rbac.authorization.k8s.io".into()]),
        resources: Some(vec!["roles".into(), "clusterroles".into()]),
        verbs: vec!["escalate".into(), "bind".into()],
        ..Default::default()
    });
    rules.push(PolicyRule {
        non_resource_urls: Some(vec!["/healthz".into(), "/readyz".into(), "/version".into()]),
        verbs: vec!["get".into()],
        ..Default::default()
    });
    rules
}
