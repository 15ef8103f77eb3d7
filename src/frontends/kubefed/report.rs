//! KubeFed's report on a federated object: its status (written only when it
//! changes) and one Event per change or failure in a cluster.

use crate::api::FederatedStatus;
use crate::cluster::now_rfc3339;
use crate::engine::outcome::{Change, ClusterResult, ClusterState, Outcome};
use crate::frontends::kubefed::decode;
use crate::frontends::kubefed::metrics::HostWrite;
use crate::frontends::kubefed::shared::{KindContext, key_of};
use crate::frontends::kubefed::status::{self, Aggregate};
use crate::host::{self, events::EventType};
use kube::Resource;
use kube::core::DynamicObject;
use tracing::warn;

/// The status the object carries: the cached one, or what kfed wrote last while
/// the cache has not caught up with that write (else every reconcile that follows
/// closely, e.g. on a member event, would write the same status again).
pub fn previous(obj: &DynamicObject, ctx: &KindContext) -> Option<FederatedStatus> {
    let cached: Option<FederatedStatus> = decode::cached_field(obj, "status").and_then(Result::ok);
    ctx.shared.status_seen(&key_of(obj, ctx), cached)
}

/// Writes the status when it differs from `previous`.
pub async fn write_status(
    obj: &DynamicObject,
    ctx: &KindContext,
    previous: Option<&FederatedStatus>,
    aggregate: Aggregate,
    results: &[ClusterResult],
) -> Result<(), host::Error> {
    let next = status::compute(previous, obj.metadata.generation, aggregate, results, &now_rfc3339());
    if !status::changed(previous, &next) {
        return Ok(());
    }
    // A merge patch keeps what it leaves out: name every list, even when empty.
    let mut patch = serde_json::json!({ "status": next });
    patch["status"]["clusters"] = serde_json::json!(next.clusters);
    if host::status::merge(&ctx.shared.host, &ctx.kind.federated_resource, obj, &patch).await? {
        ctx.shared.status_written(&key_of(obj, ctx), previous.cloned(), next);
        ctx.shared.metrics.sync.host_write(ctx.kind.label(), HostWrite::Status);
    }
    Ok(())
}

/// One Event per change or failure in a cluster.
/// Failures are reported when a cluster enters the failing state, not on every
/// retry, so an object stuck in a steady state causes no writes.
pub async fn publish_events(
    obj: &DynamicObject,
    ctx: &KindContext,
    previous: Option<&FederatedStatus>,
    outcomes: &[Outcome],
) {
    let reference = obj.object_ref(&ctx.kind.federated_resource);
    let reported = |cluster: &str, state: ClusterState| {
        previous.is_some_and(|p| {
            p.clusters
                .iter()
                .any(|c| c.name == cluster && c.status.as_deref() == state.reason())
        })
    };
    // Changes are reported once per reconcile and kind of change, naming the clusters
    // (one Event instead of one per cluster keeps host writes down in large waves).
    let mut changes: std::collections::BTreeMap<(&str, &str), Vec<&str>> = std::collections::BTreeMap::new();
    let mut events = Vec::new();
    for outcome in outcomes {
        let cluster = outcome.result.cluster.as_str();
        if outcome.change == Change::None && reported(cluster, outcome.result.state) {
            continue;
        }
        let change = match (outcome.change, outcome.result.state) {
            (Change::Created, ClusterState::Ok) => Some(("CreateInCluster", "created in")),
            (Change::Updated, ClusterState::Ok) => Some(("UpdateInCluster", "updated in")),
            (Change::Deleted, _) => Some(("DeleteInCluster", "deleted in")),
            (Change::Unlabeled, _) => Some(("LabelRemovedInCluster", "managed label removed in")),
            (_, ClusterState::Ok | ClusterState::WaitingForRemoval | ClusterState::ClusterNotReady) => continue,
            _ => None,
        };
        match change {
            Some(key) => changes.entry(key).or_default().push(cluster),
            None => {
                let state = outcome.result.state;
                let message = outcome.result.message.as_deref().unwrap_or_default();
                let note = if message.starts_with(&format!("cluster {cluster}")) {
                    message.to_string()
                } else {
                    format!("cluster {cluster}: {message}")
                };
                events.push((EventType::Warning, state.reason().unwrap_or("Failed").to_string(), note));
            }
        }
    }
    for ((reason, verb), clusters) in changes {
        let noun = if clusters.len() == 1 { "cluster" } else { "clusters" };
        events.push((
            EventType::Normal,
            reason.to_string(),
            format!("{verb} {noun} {}", clusters.join(", ")),
        ));
    }
    for (type_, reason, note) in events {
        let note = truncate(note, 1000);
        match ctx
            .shared
            .events
            .publish(&reference, type_, &reason, "Propagate", note)
            .await
        {
            Ok(()) => ctx.shared.metrics.sync.host_write(ctx.kind.label(), HostWrite::Event),
            Err(e) => warn!(error = %e, "publishing an Event failed"),
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
