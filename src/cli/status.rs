//! `kfed status [KIND [NAME]]`: federated objects × clusters at a glance.

use crate::api::{ConditionStatus, FederatedStatus};
use crate::cli::clients::HostArgs;
use crate::kinds::{self, Kind};
use anyhow::{Result, anyhow};
use kube::ResourceExt;
use kube::api::{DynamicObject, ListParams};
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Only this kind (Deployment, fdeploy, ...).
    kind: Option<String>,
    /// Only this object.
    name: Option<String>,
    #[command(flatten)]
    host: HostArgs,
}

struct Row {
    kind: String,
    namespace: String,
    name: String,
    ready: String,
    clusters: Vec<(String, String)>,
}

pub async fn run(args: Args) -> Result<()> {
    let host = args.host.client().await?;
    let kinds: Vec<Arc<Kind>> = match &args.kind {
        Some(k) => vec![kinds::lookup(k).ok_or_else(|| anyhow!("kind {k:?} is not federated by kfed"))?],
        None => kinds::builtin(),
    };
    let mut rows = Vec::new();
    for kind in &kinds {
        let api = kind.federated_api(&host, args.host.namespace.as_deref());
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(kube::Error::Api(s)) if s.code == 404 => continue, // CRD not installed
            Err(e) => return Err(anyhow!(e).context(format!("listing {}", kind.federated_resource.plural))),
        };
        for obj in list
            .items
            .into_iter()
            .filter(|o| args.name.as_ref().is_none_or(|n| *n == o.name_any()))
        {
            rows.push(row(kind, &obj));
        }
    }
    print!("{}", table(&rows));
    Ok(())
}

fn row(kind: &Kind, obj: &DynamicObject) -> Row {
    let status: FederatedStatus = obj
        .data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    let condition = status.conditions.iter().find(|c| c.type_ == "Propagation");
    let ready = match (condition, obj.metadata.deletion_timestamp.is_some()) {
        (_, true) => "Deleting".to_string(),
        (None, _) => "Pending".to_string(),
        (Some(c), _) if c.status == ConditionStatus::True => c.status.as_str().to_string(),
        (Some(c), _) => format!("False ({})", c.reason.as_deref().unwrap_or("?")),
    };
    Row {
        kind: kind.federated_resource.kind.clone(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        ready,
        clusters: status
            .clusters
            .into_iter()
            .map(|c| (c.name, c.status.unwrap_or_else(|| "ok".into())))
            .collect(),
    }
}

/// One line per object, one column per cluster; `-` where an object is not placed.
fn table(rows: &[Row]) -> String {
    let clusters: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.clusters.iter().map(|(c, _)| c.as_str()))
        .collect();
    let mut lines: Vec<Vec<String>> = vec![
        ["KIND", "NAMESPACE", "NAME", "PROPAGATED"]
            .iter()
            .map(|s| s.to_string())
            .chain(clusters.iter().map(|c| c.to_uppercase()))
            .collect(),
    ];
    for r in rows {
        let mut line = vec![r.kind.clone(), r.namespace.clone(), r.name.clone(), r.ready.clone()];
        for c in &clusters {
            line.push(
                r.clusters
                    .iter()
                    .find(|(name, _)| name == c)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_else(|| "-".into()),
            );
        }
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_column_per_cluster() {
        let rows = vec![
            Row {
                kind: "FederatedConfigMap".into(),
                namespace: "a".into(),
                name: "x".into(),
                ready: "True".into(),
                clusters: vec![("member1".into(), "ok".into())],
            },
            Row {
                kind: "FederatedDeployment".into(),
                namespace: "a".into(),
                name: "web".into(),
                ready: "False (CheckClusters)".into(),
                clusters: vec![
                    ("member1".into(), "ok".into()),
                    ("member2".into(), "ClusterNotReady".into()),
                ],
            },
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("KIND") && lines[0].ends_with("MEMBER2"), "{t}");
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cells[cells.len() - 2..], ["ok", "-"], "{t}");
        assert!(
            lines[2].contains("False (CheckClusters)") && lines[2].ends_with("ClusterNotReady"),
            "{t}"
        );
    }
}
