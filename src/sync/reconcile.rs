//! One reconcile of one federated object: placement, rendering, dispatch to
//! every member in parallel, status, Events.

use crate::api::{ClusterOverride, FederatedStatus, Placement};
use crate::cluster::{Member, now_rfc3339};
use crate::events::EventType;
use crate::metrics::HostWrite;
use crate::overrides;
use crate::placement::{self, Decision, NamespacePlacement};
use crate::render::{self, Source};
use crate::sync::dispatch::{self, Change, Outcome, Removal, Target, WriteOptions};
use crate::sync::status::{self, Aggregate, ClusterResult, ClusterState};
use crate::sync::{Error, KindContext};
use crate::wellknown::{DELETE_OPTION_ANNOTATION, FIELD_MANAGER, FINALIZER, ORPHAN_ANNOTATION};
use futures::future::join_all;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::core::DynamicObject;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Periodic safety-net resync of converged objects (reads caches only).
const RESYNC: Duration = Duration::from_secs(30 * 60);

/// The parts of a federated object's spec the controller reads; lenient, so
/// objects stored under other CRDs (e.g. KubeFed's) still parse.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    template: Option<Map<String, Value>>,
    #[serde(default)]
    placement: Option<Placement>,
    #[serde(default)]
    overrides: Option<Vec<ClusterOverride>>,
    #[serde(default)]
    retain_replicas: Option<bool>,
}

pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<KindContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let _running = ctx.shared.metrics.in_flight(ctx.kind.label());
    let result = if obj.metadata.deletion_timestamp.is_some() {
        cleanup(&obj, &ctx).await
    } else {
        apply(&obj, &ctx).await
    };
    ctx.shared
        .metrics
        .observe_reconcile(ctx.kind.label(), result.is_ok(), started.elapsed());
    result
}

async fn apply(obj: &DynamicObject, ctx: &KindContext) -> Result<Action, Error> {
    let shared = &ctx.shared;
    let kind = &ctx.kind;
    let name = obj.name_any();
    let namespace = obj.namespace();
    ensure_finalizer(obj, ctx).await?;
    let previous = previous_status(obj, ctx);

    let members = shared.registry.members();
    let spec = spec_of(obj);
    let (aggregate, selected, outcomes) = match spec {
        Err(why) => (Aggregate::ComputePlacementFailed(why), BTreeSet::new(), vec![]),
        Ok(spec) => {
            let placement_members: Vec<placement::Member> = members
                .iter()
                .map(|m| placement::Member {
                    name: m.name.clone(),
                    labels: m.labels.clone(),
                })
                .collect();
            let decision = namespace_scope(obj, ctx).and_then(|scope| {
                let ns = match &scope {
                    NamespaceScope::NotApplicable => NamespacePlacement::NotApplicable,
                    NamespaceScope::NotFederated => NamespacePlacement::NotFederated,
                    NamespaceScope::Federated(p) => NamespacePlacement::Federated(p.as_ref()),
                };
                placement::decide(spec.placement.as_ref(), ns, &placement_members).map_err(|e| e.to_string())
            });
            match decision {
                Err(why) if why == NOT_SYNCED => return Ok(Action::requeue(Duration::from_millis(200))),
                Err(why) => (Aggregate::ComputePlacementFailed(why), BTreeSet::new(), vec![]),
                Ok(Decision::NamespaceNotFederated) => {
                    let outcomes = remove_everywhere_except(obj, ctx, &members, &BTreeSet::new()).await;
                    (Aggregate::NamespaceNotFederated, BTreeSet::new(), outcomes)
                }
                Ok(Decision::Clusters(selected)) => {
                    if members.iter().any(|m| {
                        m.ready && selected.contains(&m.name) && shared.members.warming_up(&m.name, &kind.name)
                    }) {
                        return Ok(Action::requeue(Duration::from_secs(1)));
                    }
                    let mut outcomes = propagate(obj, ctx, &spec, &members, &selected, previous.as_ref()).await;
                    outcomes.extend(remove_everywhere_except(obj, ctx, &members, &selected).await);
                    (Aggregate::Propagated, selected, outcomes)
                }
            }
        }
    };
    if kind.behaviour.namespace {
        shared.namespace_placement_changed(&name, &selected);
    }
    // Selected clusters always show; others only while something is wrong there.
    let results: Vec<ClusterResult> = outcomes
        .iter()
        .map(|o| &o.result)
        .filter(|r| selected.contains(&r.cluster) || r.state != ClusterState::Ok)
        .cloned()
        .collect();
    let converged = aggregate == Aggregate::Propagated && results.iter().all(|r| r.state == ClusterState::Ok);
    let wrote = outcomes.iter().any(|o| o.change != Change::None);
    let (_, written) = futures::join!(
        publish_events(obj, ctx, previous.as_ref(), &outcomes),
        write_status(obj, ctx, previous.as_ref(), aggregate, &results)
    );
    written?;
    let key = key_of(obj, ctx);
    if let Some(latency) = shared.propagation_progress(&key, obj.metadata.generation, wrote, converged) {
        shared.metrics.observe_propagation(kind.label(), latency);
    }
    if results.iter().any(|r| r.state.retry()) {
        Ok(Action::requeue(shared.backoff(&key)))
    } else {
        shared.reset_backoff(&key);
        debug!(kind = %kind.target_kind(), %name, ?namespace, "reconciled");
        Ok(Action::requeue(RESYNC))
    }
}

/// Renders and applies the object in every selected cluster, in parallel.
async fn propagate(
    obj: &DynamicObject,
    ctx: &KindContext,
    spec: &Spec,
    members: &[Member],
    selected: &BTreeSet<String>,
    previous: Option<&FederatedStatus>,
) -> Vec<Outcome> {
    let name = obj.name_any();
    let namespace = obj.namespace();
    // Reading before writing only pays where the last attempt met an object kfed
    // does not manage (or one going away); after an outage the read-free create
    // stays safe, as a conflict still falls back to reading.
    let met_foreign_object = |cluster: &str| {
        let foreign = [
            ClusterState::AlreadyExists,
            ClusterState::ManagedLabelFalse,
            ClusterState::WaitingForRemoval,
        ]
        .map(ClusterState::reason);
        previous.is_some_and(|p| {
            p.clusters
                .iter()
                .any(|c| c.name == cluster && foreign.contains(&c.status.as_deref()))
        })
    };
    let source = Source {
        kind: &ctx.kind,
        name: &name,
        namespace: namespace.as_deref(),
    };
    let all_overrides = spec.overrides.as_deref().unwrap_or_default();
    let invalid_overrides = overrides::validate(all_overrides).err();
    let options = WriteOptions {
        adopt: ctx.shared.settings.adopt,
        retain_replicas: ctx.kind.scalable() && spec.retain_replicas == Some(true),
        create_unread: true,
    };
    let (name, namespace) = (&name, &namespace);
    let work = members.iter().filter(|m| selected.contains(&m.name)).map(|member| {
        let invalid_overrides = invalid_overrides.clone();
        async move {
            let cluster = member.name.as_str();
            let Some(client) = member.client.clone().filter(|_| member.ready) else {
                let why = member.not_ready_reason.clone().unwrap_or_else(|| "not ready".into());
                return Outcome::not_attempted(ClusterResult::failed(cluster, ClusterState::ClusterNotReady, why));
            };
            if let Some(e) = invalid_overrides {
                return Outcome::not_attempted(ClusterResult::failed(
                    cluster,
                    ClusterState::ApplyOverridesFailed,
                    e.to_string(),
                ));
            }
            let ops = overrides::for_cluster(all_overrides, cluster);
            let desired = match render::render(source, spec.template.as_ref(), cluster, ops) {
                Ok(d) => d,
                Err(render::RenderError::Overrides(e)) => {
                    return Outcome::not_attempted(ClusterResult::failed(
                        cluster,
                        ClusterState::ApplyOverridesFailed,
                        e.to_string(),
                    ));
                }
                Err(e) => {
                    return Outcome::not_attempted(ClusterResult::failed(
                        cluster,
                        ClusterState::ComputeResourceFailed,
                        e.to_string(),
                    ));
                }
            };
            let target = target(ctx, cluster, client, member.limiter.clone(), name, namespace.as_deref());
            let options = WriteOptions {
                create_unread: !met_foreign_object(cluster),
                ..options
            };
            let outcome = dispatch::ensure_present(&target, desired, options).await;
            ctx.shared
                .metrics
                .observe_member_op(ctx.kind.label(), cluster, outcome.metric());
            outcome
        }
    });
    join_all(work).await
}

/// Removes the member object from every ready cluster outside `keep`.
async fn remove_everywhere_except(
    obj: &DynamicObject,
    ctx: &KindContext,
    members: &[Member],
    keep: &BTreeSet<String>,
) -> Vec<Outcome> {
    let name = obj.name_any();
    let namespace = obj.namespace();
    let removal = removal_for(obj, ctx).unwrap_or(Removal::Delete(DeleteParams::default()));
    let work = members
        .iter()
        .filter(|m| m.ready && !keep.contains(&m.name))
        .filter_map(|member| {
            let client = member.client.clone()?;
            let removal = removal.clone();
            let name = name.clone();
            let namespace = namespace.clone();
            Some(async move {
                let target = target(ctx, &member.name, client, member.limiter.clone(), &name, namespace.as_deref());
                let removal = protect_host_namespace(ctx, &target, removal).await;
                let outcome = dispatch::ensure_absent(&target, &removal, false).await;
                if outcome.change != Change::None {
                    info!(kind = %ctx.kind.target_kind(), %name, ?namespace, cluster = %member.name, change = ?outcome.change, "removed from a cluster outside the placement");
                }
                ctx.shared
                    .metrics
                    .observe_member_op(ctx.kind.label(), &member.name, outcome.metric());
                outcome
            })
        });
    join_all(work)
        .await
        .into_iter()
        .filter(|o| o.change != Change::None || o.result.state != ClusterState::Ok)
        .collect()
}

/// Deletion of the federated object: remove (or orphan) it in every member, wait
/// until gone, then release the finalizer. An unjoined cluster is not waited for;
/// a joined but unready one is (its objects would otherwise leak).
async fn cleanup(obj: &DynamicObject, ctx: &KindContext) -> Result<Action, Error> {
    let uid = obj.uid().unwrap_or_default();
    if !obj.finalizers().iter().any(|f| f == FINALIZER) || ctx.shared.was_released(&key_of(obj, ctx), &uid) {
        return Ok(Action::await_change());
    }
    let name = obj.name_any();
    let namespace = obj.namespace();
    let members = ctx.shared.registry.members();
    let removal = match removal_for(obj, ctx) {
        Ok(r) => r,
        Err(why) => {
            let results: Vec<ClusterResult> = members
                .iter()
                .map(|m| ClusterResult::failed(&m.name, ClusterState::DeletionFailed, why.clone()))
                .collect();
            write_status(
                obj,
                ctx,
                previous_status(obj, ctx).as_ref(),
                Aggregate::Propagated,
                &results,
            )
            .await?;
            return Ok(Action::requeue(ctx.shared.backoff(&key_of(obj, ctx))));
        }
    };
    let work = members.iter().map(|member| {
        let removal = removal.clone();
        let name = name.clone();
        let namespace = namespace.clone();
        async move {
            let Some(client) = member.client.clone().filter(|_| member.ready) else {
                let why = member.not_ready_reason.clone().unwrap_or_else(|| "not ready".into());
                return Outcome::not_attempted(ClusterResult::failed(&member.name, ClusterState::ClusterNotReady, why));
            };
            let target = target(
                ctx,
                &member.name,
                client,
                member.limiter.clone(),
                &name,
                namespace.as_deref(),
            );
            let removal = protect_host_namespace(ctx, &target, removal).await;
            let outcome = dispatch::ensure_absent(&target, &removal, true).await;
            ctx.shared
                .metrics
                .observe_member_op(ctx.kind.label(), &member.name, outcome.metric());
            outcome
        }
    });
    let outcomes = join_all(work).await;
    let previous = previous_status(obj, ctx);
    publish_events(obj, ctx, previous.as_ref(), &outcomes).await;
    let pending: Vec<ClusterResult> = outcomes
        .iter()
        .map(|o| o.result.clone())
        .filter(|r| r.state != ClusterState::Ok)
        .collect();
    if !pending.is_empty() {
        write_status(obj, ctx, previous.as_ref(), Aggregate::Propagated, &pending).await?;
        let waiting_only = pending.iter().all(|r| r.state == ClusterState::WaitingForRemoval);
        let delay = if waiting_only {
            Duration::from_secs(2)
        } else {
            ctx.shared.backoff(&key_of(obj, ctx))
        };
        return Ok(Action::requeue(delay));
    }
    remove_finalizer(obj, ctx).await?;
    ctx.shared.forget(&key_of(obj, ctx));
    ctx.shared.finalizer_released(&key_of(obj, ctx), &uid);
    info!(kind = %ctx.kind.target_kind(), %name, ?namespace, "deleted from every member; finalizer released");
    Ok(Action::await_change())
}

pub(crate) fn target<'a>(
    ctx: &'a KindContext,
    cluster: &'a str,
    client: kube::Client,
    limiter: std::sync::Arc<crate::cluster::registry::RateLimiter>,
    name: &'a str,
    namespace: Option<&'a str>,
) -> Target<'a> {
    let source = Source {
        kind: &ctx.kind,
        name,
        namespace,
    };
    Target {
        cluster,
        client,
        kind: &ctx.kind,
        name: render::member_name(source),
        namespace: render::member_namespace(source),
        cache: ctx.shared.members.synced_store(cluster, &ctx.kind.name),
        limiter,
    }
}

/// A FederatedNamespace never deletes the namespace that holds it, in a member
/// that is the host cluster itself (same namespace UID): it only unlabels it.
async fn protect_host_namespace(ctx: &KindContext, target: &Target<'_>, removal: Removal) -> Removal {
    if !ctx.kind.behaviour.namespace || matches!(removal, Removal::Orphan) {
        return removal;
    }
    let host_ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.shared.host.clone());
    let member_ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(target.client.clone());
    let (host, member) = futures::join!(host_ns.get_opt(target.name), member_ns.get_opt(target.name));
    match (host, member) {
        (Ok(Some(h)), Ok(Some(m))) if h.metadata.uid.is_some() && h.metadata.uid == m.metadata.uid => Removal::Orphan,
        _ => removal,
    }
}

/// Orphan or delete, from the object's annotations.
fn removal_for(obj: &DynamicObject, _ctx: &KindContext) -> Result<Removal, String> {
    if obj.annotations().get(ORPHAN_ANNOTATION).map(String::as_str) == Some("true") {
        return Ok(Removal::Orphan);
    }
    let Some(raw) = obj.annotations().get(DELETE_OPTION_ANNOTATION) else {
        return Ok(Removal::Delete(DeleteParams::default()));
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Options {
        propagation_policy: Option<String>,
        grace_period_seconds: Option<u32>,
    }
    let options: Options = serde_json::from_str(raw)
        .map_err(|e| format!("annotation {DELETE_OPTION_ANNOTATION} is not valid delete options: {e}"))?;
    let propagation_policy = match options.propagation_policy.as_deref() {
        None => None,
        Some("Orphan") => Some(PropagationPolicy::Orphan),
        Some("Background") => Some(PropagationPolicy::Background),
        Some("Foreground") => Some(PropagationPolicy::Foreground),
        Some(other) => {
            return Err(format!(
                "annotation {DELETE_OPTION_ANNOTATION}: unknown propagationPolicy {other:?}"
            ));
        }
    };
    Ok(Removal::Delete(DeleteParams {
        propagation_policy,
        grace_period_seconds: options.grace_period_seconds,
        ..Default::default()
    }))
}

fn spec_of(obj: &DynamicObject) -> Result<Spec, String> {
    match cached_field(obj, "spec") {
        None => Ok(Spec::default()),
        Some(spec) => spec.map_err(|e| format!("spec cannot be read: {e}")),
    }
}

/// A top-level field of a federated object. The host cache keeps `spec` and
/// `status` as JSON text (see `sync::prune_host_object`); objects read from the
/// API server have them as JSON.
fn cached_field<T: serde::de::DeserializeOwned>(obj: &DynamicObject, field: &str) -> Option<serde_json::Result<T>> {
    match obj.data.get(field)? {
        Value::Null => None,
        Value::String(text) => Some(serde_json::from_str(text)),
        value => Some(T::deserialize(value)),
    }
}

/// Placement is not computed before the FederatedNamespace cache is complete.
const NOT_SYNCED: &str = "waiting for the FederatedNamespace cache";

/// How the object's namespace constrains its placement.
enum NamespaceScope {
    /// Cluster-scoped objects and FederatedNamespaces themselves.
    NotApplicable,
    NotFederated,
    /// The placement of the namespace's FederatedNamespace.
    Federated(Option<Placement>),
}

fn namespace_scope(obj: &DynamicObject, ctx: &KindContext) -> Result<NamespaceScope, String> {
    let kind = &ctx.kind;
    if kind.behaviour.namespace {
        return match obj.namespace() {
            Some(ns) if ns == obj.name_any() => Ok(NamespaceScope::NotApplicable),
            _ => Err(format!(
                "a FederatedNamespace must be named after the namespace it lives in ({})",
                obj.namespace().unwrap_or_default()
            )),
        };
    }
    if !kind.target_namespaced() {
        return Ok(NamespaceScope::NotApplicable);
    }
    let Some(ns) = obj.namespace() else {
        return Ok(NamespaceScope::NotFederated);
    };
    // Without the Namespace kind running (it is being restarted, or its FTC went away and
    // this kind is about to stop too) nothing is known: wait rather than delete.
    let Some((namespace_kind, store)) = ctx.shared.namespace_kind() else {
        return Err(NOT_SYNCED.into());
    };
    // Never judge "not federated" from a cache that is still filling: that would delete member objects.
    if futures::FutureExt::now_or_never(store.wait_until_ready()).is_none() {
        return Err(NOT_SYNCED.into());
    }
    let key = ObjectRef::new_with(&ns, namespace_kind.federated_resource.clone()).within(&ns);
    match store.get(&key) {
        Some(fed_ns) if fed_ns.metadata.deletion_timestamp.is_none() => {
            let placement = spec_of(&fed_ns)
                .map_err(|e| format!("FederatedNamespace {ns}: {e}"))?
                .placement;
            Ok(NamespaceScope::Federated(placement))
        }
        _ => Ok(NamespaceScope::NotFederated),
    }
}

/// Adds kfed's finalizer with server-side apply: finalizers are a set, so this
/// never clobbers other finalizers and needs no precondition that a stale cached
/// object could fail (a JSON patch `test` did, in large waves).
async fn ensure_finalizer(obj: &DynamicObject, ctx: &KindContext) -> Result<(), Error> {
    if obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut metadata = serde_json::json!({ "name": obj.name_any(), "finalizers": [FINALIZER] });
    if let Some(ns) = obj.namespace() {
        metadata["namespace"] = ns.into();
    }
    let apply = serde_json::json!({
        "apiVersion": ctx.kind.federated_resource.api_version,
        "kind": ctx.kind.federated_resource.kind,
        "metadata": metadata,
    });
    host_api(obj, ctx)
        .patch(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&apply),
        )
        .await?;
    ctx.shared.metrics.host_write(ctx.kind.label(), HostWrite::Finalizer);
    Ok(())
}

/// Removes kfed's finalizer by index, guarded by a `test` so a concurrent change
/// of the list is never clobbered. The index comes from the cached object, and
/// from a fresh read when the cache was stale (the `test` failed).
async fn remove_finalizer(obj: &DynamicObject, ctx: &KindContext) -> Result<(), Error> {
    let Some(index) = obj.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    match remove_finalizer_at(obj, ctx, index).await {
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 422 => {}
        result => return result,
    }
    let Some(fresh) = host_api(obj, ctx).get_opt(&obj.name_any()).await? else {
        return Ok(());
    };
    match fresh.finalizers().iter().position(|f| f == FINALIZER) {
        Some(index) => remove_finalizer_at(obj, ctx, index).await,
        None => Ok(()),
    }
}

async fn remove_finalizer_at(obj: &DynamicObject, ctx: &KindContext, index: usize) -> Result<(), Error> {
    let path = format!("/metadata/finalizers/{index}");
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ]))
    .map_err(|e| Error::Internal(e.to_string()))?;
    match host_api(obj, ctx)
        .patch(&obj.name_any(), &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    ctx.shared.metrics.host_write(ctx.kind.label(), HostWrite::Finalizer);
    Ok(())
}

fn host_api(obj: &DynamicObject, ctx: &KindContext) -> Api<DynamicObject> {
    match obj.namespace() {
        Some(ns) => Api::namespaced_with(ctx.shared.host.clone(), &ns, &ctx.kind.federated_resource),
        None => Api::all_with(ctx.shared.host.clone(), &ctx.kind.federated_resource),
    }
}

/// The status the object carries: the cached one, or what kfed wrote last while
/// the cache has not caught up with that write (else every reconcile that follows
/// closely, e.g. on a member event, would write the same status again).
fn previous_status(obj: &DynamicObject, ctx: &KindContext) -> Option<FederatedStatus> {
    let cached: Option<FederatedStatus> = cached_field(obj, "status").and_then(Result::ok);
    ctx.shared.status_seen(&key_of(obj, ctx), cached)
}

/// Writes the status when it differs from `previous`.
async fn write_status(
    obj: &DynamicObject,
    ctx: &KindContext,
    previous: Option<&FederatedStatus>,
    aggregate: Aggregate,
    results: &[ClusterResult],
) -> Result<(), Error> {
    let next = status::compute(previous, obj.metadata.generation, aggregate, results, &now_rfc3339());
    if !status::changed(previous, &next) {
        return Ok(());
    }
    // A merge patch keeps what it leaves out: name every list, even when empty.
    let mut patch = serde_json::json!({ "status": next });
    patch["status"]["clusters"] = serde_json::json!(next.clusters);
    match host_api(obj, ctx)
        .patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => ctx.shared.status_written(&key_of(obj, ctx), previous.cloned(), next),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()), // deleted meanwhile
        Err(e) => return Err(e.into()),
    }
    ctx.shared.metrics.host_write(ctx.kind.label(), HostWrite::Status);
    Ok(())
}

/// One Event per change or failure in a cluster.
/// Failures are reported when a cluster enters the failing state, not on every
/// retry, so an object stuck in a steady state causes no writes.
async fn publish_events(
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
            Ok(()) => ctx.shared.metrics.host_write(ctx.kind.label(), HostWrite::Event),
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

/// The object's key in the controller's own maps (backoff, progress, written status).
pub fn key_of(obj: &DynamicObject, ctx: &KindContext) -> String {
    format!(
        "{} {}/{}",
        ctx.kind.target_kind(),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pruned_host_objects_read_the_same() {
        let mut obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
            "metadata": {"name": "a", "namespace": "n", "generation": 2,
                         "annotations": {crate::wellknown::LAST_APPLIED_ANNOTATION: "{}", ORPHAN_ANNOTATION: "true"},
                         "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {}}]},
            "spec": {"placement": {"clusters": [{"name": "m1"}]}, "template": {"data": {"k": "v"}},
                     "overrides": [{"clusterName": "m1", "clusterOverrides": [{"path": "/data/k", "value": "w"}]}]},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Propagation", "status": "True"}], "clusters": [{"name": "m1"}]}
        }))
        .expect("a valid object");
        let spec = spec_of(&obj).map(|s| (s.template, s.placement, s.overrides));
        let status: Option<FederatedStatus> = cached_field(&obj, "status").and_then(Result::ok);
        crate::sync::prune_host_object(&mut obj);
        assert!(obj.data["spec"].is_string() && obj.data["status"].is_string());
        assert!(obj.metadata.managed_fields.is_none());
        assert_eq!(obj.annotations().len(), 1);
        assert_eq!(spec_of(&obj).map(|s| (s.template, s.placement, s.overrides)), spec);
        assert_eq!(cached_field(&obj, "status").and_then(Result::ok), status);
        assert!(status.is_some_and(|s| s.clusters.len() == 1));
    }
}
