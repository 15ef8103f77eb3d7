//! One reconcile of one Federated<Kind> object, as the data path:
//! decode (KubeFed's spec → `Intent`) → place → render and dispatch in every
//! cluster (the engine) → report (KubeFed's status and Events).

use crate::api::FederatedStatus;
use crate::cluster::Member;
use crate::engine::fanout::Fanout;
use crate::engine::outcome::{Change, ClusterResult, ClusterState, Outcome};
use crate::engine::place::{self, place};
use crate::frontends::kubefed::decode::{self, DecodeError, Decoded};
use crate::frontends::kubefed::metrics::HostWrite;
use crate::frontends::kubefed::report;
use crate::frontends::kubefed::shared::{Error, KindContext, key_of};
use crate::frontends::kubefed::status::Aggregate;
use crate::host;
use crate::wellknown::{FIELD_MANAGER, FINALIZER};
use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::runtime::controller::Action;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// Periodic safety-net resync of converged objects (reads caches only).
const RESYNC: Duration = Duration::from_secs(30 * 60);

pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<KindContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let _running = ctx.shared.metrics.sync.in_flight(ctx.kind.label());
    let result = if obj.metadata.deletion_timestamp.is_some() {
        withdraw(&obj, &ctx).await
    } else {
        propagate(&obj, &ctx).await
    };
    let took = started.elapsed();
    ctx.shared
        .metrics
        .sync
        .observe_reconcile(ctx.kind.label(), result.is_ok(), took);
    result
}

/// What one pass did, for the report.
struct Pass {
    aggregate: Aggregate,
    selected: BTreeSet<String>,
    outcomes: Vec<Outcome>,
}

async fn propagate(obj: &DynamicObject, ctx: &KindContext) -> Result<Action, Error> {
    if host::finalizer::ensure(
        &ctx.shared.host,
        &ctx.kind.federated_resource,
        obj,
        FINALIZER,
        FIELD_MANAGER,
    )
    .await?
    {
        ctx.shared
            .metrics
            .sync
            .host_write(ctx.kind.label(), HostWrite::Finalizer);
    }
    let previous = report::previous(obj, ctx);
    let members = ctx.shared.registry.members();
    let fanout = fanout(ctx);
    let pass = match plan(obj, ctx, &members) {
        Err(DecodeOrPlace::Decode(DecodeError::NamespacesNotSynced)) => {
            return Ok(Action::requeue(Duration::from_millis(200)));
        }
        Err(e) => Pass {
            aggregate: Aggregate::ComputePlacementFailed(e.to_string()),
            selected: BTreeSet::new(),
            outcomes: vec![],
        },
        Ok((
            Decoded {
                intent,
                namespace_federated,
            },
            selected,
        )) => {
            if fanout.warming_up(&members, &selected) {
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            let read_first = met_foreign_object(previous.as_ref());
            let mut outcomes = fanout.apply(&intent, &members, &selected, &read_first).await;
            outcomes.extend(
                fanout
                    .remove_except(&intent.owner, &intent.removal, &members, &selected)
                    .await,
            );
            let aggregate = match namespace_federated {
                true => Aggregate::Propagated,
                false => Aggregate::NamespaceNotFederated,
            };
            Pass {
                aggregate,
                selected,
                outcomes,
            }
        }
    };
    finish(obj, ctx, previous, pass).await
}

/// A decode or placement failure: the object's `ComputePlacementFailed`.
#[derive(Debug, thiserror::Error)]
enum DecodeOrPlace {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Place(#[from] place::PlacementError),
}

/// The object's intent and the clusters it goes to.
fn plan(
    obj: &DynamicObject,
    ctx: &KindContext,
    members: &[Member],
) -> Result<(Decoded, BTreeSet<String>), DecodeOrPlace> {
    let decoded = decode::decode(obj, &ctx.kind, ctx.shared.namespace_kind())?;
    let placement_members: Vec<place::Member> = members
        .iter()
        .map(|m| place::Member {
            name: m.name.clone(),
            labels: m.labels.clone(),
        })
        .collect();
    let selected = place(&decoded.intent.selection, &placement_members)?;
    Ok((decoded, selected))
}

/// Reports the pass and decides when to look again.
async fn finish(
    obj: &DynamicObject,
    ctx: &KindContext,
    previous: Option<FederatedStatus>,
    pass: Pass,
) -> Result<Action, Error> {
    let shared = &ctx.shared;
    if ctx.kind.behaviour.namespace {
        shared.namespace_placement_changed(&obj.name_any(), &pass.selected);
    }
    // Selected clusters always show; others only while something is wrong there.
    let results: Vec<ClusterResult> = pass
        .outcomes
        .iter()
        .map(|o| &o.result)
        .filter(|r| pass.selected.contains(&r.cluster) || r.state != ClusterState::Ok)
        .cloned()
        .collect();
    let converged = pass.aggregate == Aggregate::Propagated && results.iter().all(|r| r.state == ClusterState::Ok);
    let wrote = pass.outcomes.iter().any(|o| o.change != Change::None);
    let (_, written) = futures::join!(
        report::publish_events(obj, ctx, previous.as_ref(), &pass.outcomes),
        report::write_status(obj, ctx, previous.as_ref(), pass.aggregate, &results)
    );
    written?;
    let key = key_of(obj, ctx);
    if let Some(latency) = shared.propagation_progress(&key, obj.metadata.generation, wrote, converged) {
        shared.metrics.sync.observe_propagation(ctx.kind.label(), latency);
    }
    if results.iter().any(|r| r.state.retry()) {
        return Ok(Action::requeue(shared.backoff(&key)));
    }
    shared.reset_backoff(&key);
    debug!(kind = %ctx.kind.target_kind(), name = %obj.name_any(), namespace = ?obj.namespace(), "reconciled");
    Ok(Action::requeue(RESYNC))
}

/// Deletion of the federated object: remove (or orphan) it in every member, wait
/// until gone, then release the finalizer. An unjoined cluster is not waited for;
/// a joined but unready one is (its objects would otherwise leak).
async fn withdraw(obj: &DynamicObject, ctx: &KindContext) -> Result<Action, Error> {
    let key = key_of(obj, ctx);
    let uid = obj.uid().unwrap_or_default();
    if !obj.finalizers().iter().any(|f| f == FINALIZER) || ctx.shared.was_released(&key, &uid) {
        return Ok(Action::await_change());
    }
    let members = ctx.shared.registry.members();
    let previous = report::previous(obj, ctx);
    let removal = match decode::removal(obj) {
        Ok(removal) => removal,
        Err(why) => {
            let failed = |m: &Member| ClusterResult::failed(&m.name, ClusterState::DeletionFailed, why.to_string());
            let results: Vec<ClusterResult> = members.iter().map(failed).collect();
            report::write_status(obj, ctx, previous.as_ref(), Aggregate::Propagated, &results).await?;
            return Ok(Action::requeue(ctx.shared.backoff(&key)));
        }
    };
    let outcomes = fanout(ctx).withdraw(&decode::owner(obj), &removal, &members).await;
    report::publish_events(obj, ctx, previous.as_ref(), &outcomes).await;
    let pending: Vec<ClusterResult> = outcomes
        .iter()
        .map(|o| o.result.clone())
        .filter(|r| r.state != ClusterState::Ok)
        .collect();
    if !pending.is_empty() {
        report::write_status(obj, ctx, previous.as_ref(), Aggregate::Propagated, &pending).await?;
        let waiting_only = pending.iter().all(|r| r.state == ClusterState::WaitingForRemoval);
        let delay = if waiting_only {
            Duration::from_secs(2)
        } else {
            ctx.shared.backoff(&key)
        };
        return Ok(Action::requeue(delay));
    }
    if host::finalizer::remove(&ctx.shared.host, &ctx.kind.federated_resource, obj, FINALIZER).await? {
        ctx.shared
            .metrics
            .sync
            .host_write(ctx.kind.label(), HostWrite::Finalizer);
    }
    ctx.shared.forget(&key);
    ctx.shared.finalizer_released(&key, &uid);
    info!(kind = %ctx.kind.target_kind(), name = %obj.name_any(), namespace = ?obj.namespace(), "deleted from every member; finalizer released");
    Ok(Action::await_change())
}

/// The engine for this kind's members.
pub fn fanout(ctx: &KindContext) -> Fanout<'_> {
    Fanout {
        kind: &ctx.kind,
        host: &ctx.shared.host,
        caches: &ctx.shared.members,
        metrics: &ctx.shared.metrics.engine,
        adopt: ctx.shared.settings.adopt,
    }
}

/// Clusters where the last attempt met an object kfed does not manage (or one going
/// away): there, reading before a create pays; elsewhere the read-free create stays
/// safe, as a conflict still falls back to reading.
fn met_foreign_object(previous: Option<&FederatedStatus>) -> BTreeSet<String> {
    let foreign = [
        ClusterState::AlreadyExists,
        ClusterState::ManagedLabelFalse,
        ClusterState::WaitingForRemoval,
    ]
    .map(ClusterState::reason);
    previous
        .map(|p| {
            p.clusters
                .iter()
                .filter(|c| foreign.contains(&c.status.as_deref()))
                .map(|c| c.name.clone())
                .collect()
        })
        .unwrap_or_default()
}
