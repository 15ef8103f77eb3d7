//! The FederatedTypeConfig controller: watches the FTCs in the federation namespace
//! and the host's CRDs, publishes the kinds that run (the engine follows that set),
//! and reports each FTC in its status (and an Event when that changes). It owns the
//! FTC finalizer; a deleted FTC stops its kind and leaves the member objects.

use super::resolve::{self, CrdIndex, CrdInfo, Verdict};
use crate::api::ConditionStatus;
use crate::api::typeconfig::{ControllerStatus, FederatedTypeConfig, FederatedTypeConfigStatus, TypeConfigCondition};
use crate::cluster::now_rfc3339;
use crate::frontends::kubefed::KindSet;
use crate::host::events::{EventType, Publisher};
use crate::wellknown::FTC_FINALIZER;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Errors of one pass; the pass is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("host API: {0}")]
    Kube(#[from] kube::Error),
}

/// Runs until `shutdown`, publishing the kinds to run on `kinds`.
pub async fn run(
    host: Client,
    namespace: String,
    events: Publisher,
    kinds: watch::Sender<KindSet>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ftc_api: Api<FederatedTypeConfig> = Api::namespaced(host.clone(), &namespace);
    let (ftcs, ftc_writer) = reflector::store();
    let ftc_changes = watcher(ftc_api.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(ftc_writer)
        .map(|r| log_watch_error(r.map(drop), "FederatedTypeConfigs"));
    // CRDs carry large schemas; kfed keeps what checking an FTC needs.
    let crd_api: Api<CustomResourceDefinition> = Api::all(host.clone());
    let crd_writer = reflector::store::Writer::<CrdSummary>::new(());
    let crds = crd_writer.as_reader();
    let crd_events = watcher(crd_api, watcher::Config::default())
        .default_backoff()
        .map_ok(summary_event);
    // Every event wakes the loop, the end of the first list too (no FTC at all is a set).
    let crd_changes =
        reflector::reflector(crd_writer, crd_events).map(|r| log_watch_error(r.map(drop), "CustomResourceDefinitions"));
    let mut changes = futures::stream::select(ftc_changes, crd_changes).boxed();
    let mut state = State::default();
    let controller = Controller { api: ftc_api, events };
    loop {
        // The stores fill as `changes` is polled below: a pass runs once both are complete.
        let ready = |ready: Option<Result<(), _>>| ready.is_some_and(|r| r.is_ok());
        if ready(futures::FutureExt::now_or_never(ftcs.wait_until_ready()))
            && ready(futures::FutureExt::now_or_never(crds.wait_until_ready()))
        {
            let index: CrdIndex = crds.state().iter().map(|s| (s.name.clone(), s.info.clone())).collect();
            if let Err(e) = controller.pass(&ftcs.state(), &index, &kinds, &mut state).await {
                warn!(error = %e, "FederatedTypeConfig pass failed; retrying");
                state.retry = true;
            }
        }
        let retry = std::mem::take(&mut state.retry);
        tokio::select! {
            next = changes.next() => if next.is_none() { return },
            _ = tokio::time::sleep(Duration::from_secs(5)), if retry => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        // A burst of changes (kubectl apply of many CRDs) is one pass.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while futures::FutureExt::now_or_never(changes.next()).flatten().is_some() {}
    }
}

fn log_watch_error(result: Result<(), watcher::Error>, what: &str) {
    if let Err(e) = result {
        warn!(error = %e, "watching {what} failed; retrying");
    }
}

/// What the controller remembers between passes.
#[derive(Default)]
struct State {
    /// Per FTC, the status kfed wrote last and the one it wrote over: while the cache
    /// still shows the latter, the FTC carries the former.
    written: HashMap<String, (FederatedTypeConfigStatus, FederatedTypeConfigStatus)>,
    /// Per FTC, the resourceVersion its finalizer patch was sent against, until the
    /// cache shows a newer one: passes that run before (on the events of other
    /// FTCs) send no patch bound to fail.
    finalizing: HashMap<String, String>,
    retry: bool,
}

struct Controller {
    api: Api<FederatedTypeConfig>,
    events: Publisher,
}

impl Controller {
    async fn pass(
        &self,
        ftcs: &[Arc<FederatedTypeConfig>],
        crds: &CrdIndex,
        kinds: &watch::Sender<KindSet>,
        state: &mut State,
    ) -> Result<(), Error> {
        let verdicts = resolve::verdicts(ftcs, crds);
        let running = resolve::running(&verdicts);
        let published = kinds.send_if_modified(|set| {
            if set.as_ref() == Some(&running) {
                return false;
            }
            *set = Some(running.clone());
            true
        });
        if published {
            let names: Vec<&str> = running.iter().map(|k| k.name.as_str()).collect();
            info!(kinds = ?names, "federated types to propagate");
        }
        for ftc in ftcs {
            let name = ftc.name_any();
            match verdicts.get(&name) {
                Some(Verdict::Deleting) => self.release(ftc).await?,
                Some(verdict) => {
                    self.ensure_finalizer(ftc, state).await?;
                    self.report(ftc, verdict, state).await?;
                }
                None => {}
            }
        }
        state.written.retain(|name, _| verdicts.contains_key(name));
        state.finalizing.retain(|name, _| verdicts.contains_key(name));
        Ok(())
    }

    /// Adds the finalizer with a JSON patch guarded by the cached resourceVersion (server-side
    /// apply would validate a partial FTC against the schema, which requires `spec`).
    async fn ensure_finalizer(&self, ftc: &FederatedTypeConfig, state: &mut State) -> Result<(), Error> {
        let name = ftc.name_any();
        if ftc.finalizers().iter().any(|f| f == FTC_FINALIZER) {
            state.finalizing.remove(&name);
            return Ok(());
        }
        if state.finalizing.get(&name) == ftc.resource_version().as_ref() {
            return Ok(()); // sent; the cache has not caught up
        }
        state
            .finalizing
            .insert(name, ftc.resource_version().unwrap_or_default());
        let mut finalizers = ftc.finalizers().to_vec();
        finalizers.push(FTC_FINALIZER.into());
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": ftc.resource_version()},
            {"op": "add", "path": "/metadata/finalizers", "value": finalizers},
        ]))
        .unwrap_or_default();
        match self
            .api
            .patch(&ftc.name_any(), &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
        {
            Ok(_) => Ok(()),
            // Changed meanwhile (the cache was stale) or gone: the next pass sees it.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 || s.code == 422 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The kind is out of the published set already: drop the finalizer.
    async fn release(&self, ftc: &FederatedTypeConfig) -> Result<(), Error> {
        let Some(index) = ftc.finalizers().iter().position(|f| f == FTC_FINALIZER) else {
            return Ok(());
        };
        let path = format!("/metadata/finalizers/{index}");
        let patch = json_patch::Patch(vec![
            json_patch::PatchOperation::Test(json_patch::TestOperation {
                path: path.parse().unwrap_or_default(),
                value: FTC_FINALIZER.into(),
            }),
            json_patch::PatchOperation::Remove(json_patch::RemoveOperation {
                path: path.parse().unwrap_or_default(),
            }),
        ]);
        match self
            .api
            .patch(&ftc.name_any(), &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
        {
            Ok(_) => {
                info!(ftc = %ftc.name_any(), "FederatedTypeConfig deleted; its propagation stopped");
                Ok(())
            }
            // Gone, or the list changed under a stale cache: the next pass sees it.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 422 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the FTC's status when it changed, with an Event saying what changed.
    async fn report(&self, ftc: &FederatedTypeConfig, verdict: &Verdict, state: &mut State) -> Result<(), Error> {
        let name = ftc.name_any();
        let cached = ftc.status.clone().unwrap_or_default();
        let Some((next, before)) = status_to_write(ftc, verdict, &cached, state.written.get(&name), now_rfc3339) else {
            return Ok(());
        };
        state.written.remove(&name);
        let patch = serde_json::json!({ "status": next });
        match self
            .api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        state.written.insert(name.clone(), (before.clone(), next.clone()));
        let changed_state = before.conditions.first().map(|c| (&c.status, &c.reason))
            != next.conditions.first().map(|c| (&c.status, &c.reason));
        if changed_state && let Some(condition) = next.conditions.first() {
            let type_ = if condition.status == ConditionStatus::True {
                EventType::Normal
            } else {
                EventType::Warning
            };
            let reference = ftc.object_ref(&());
            if let Err(e) = self
                .events
                .publish(
                    &reference,
                    type_,
                    &condition.reason,
                    "Reconcile",
                    condition.message.clone(),
                )
                .await
            {
                warn!(error = %e, ftc = %name, "publishing an Event failed");
            }
        }
        Ok(())
    }
}

/// The status to write for `verdict`, and the status it replaces, or `None` when the FTC
/// has it already. `written` is what kfed wrote last over what: while the cache still
/// shows what it wrote over, the FTC carries what it wrote (its transition time
/// included, so a pass a second later does not write the same status again with a new
/// time). A status someone else wrote shows as neither, and is corrected.
fn status_to_write(
    ftc: &FederatedTypeConfig,
    verdict: &Verdict,
    cached: &FederatedTypeConfigStatus,
    written: Option<&(FederatedTypeConfigStatus, FederatedTypeConfigStatus)>,
    now: impl FnOnce() -> String,
) -> Option<(FederatedTypeConfigStatus, FederatedTypeConfigStatus)> {
    let current = match written {
        Some((over, wrote)) if over == cached => wrote,
        _ => cached,
    };
    let next = status_for(ftc, verdict, current, now);
    (next != *current).then(|| (next, current.clone()))
}

/// The status an FTC gets for its verdict (transition time kept while unchanged).
fn status_for(
    ftc: &FederatedTypeConfig,
    verdict: &Verdict,
    cached: &FederatedTypeConfigStatus,
    now: impl FnOnce() -> String,
) -> FederatedTypeConfigStatus {
    let (running, reason, message) = match verdict {
        Verdict::Run(kind) => (
            true,
            "PropagationRunning",
            format!(
                "propagating {} objects as {}",
                kind.target_kind(),
                kind.federated_resource.kind
            ),
        ),
        Verdict::Disabled => (
            false,
            "PropagationDisabled",
            "spec.propagation is Disabled; member objects are left as they are".to_string(),
        ),
        Verdict::Deleting => (false, "Deleting", "being deleted".to_string()),
        Verdict::Invalid(problem) => (false, problem.reason(), problem.to_string()),
    };
    let status = ConditionStatus::from_bool(running);
    let last_transition_time = cached
        .conditions
        .first()
        .filter(|c| c.status == status && c.reason == reason)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(now);
    FederatedTypeConfigStatus {
        observed_generation: ftc.metadata.generation.unwrap_or_default(),
        propagation_controller: if running {
            ControllerStatus::Running
        } else {
            ControllerStatus::NotRunning
        },
        status_controller: cached.status_controller,
        conditions: vec![TypeConfigCondition {
            type_: "Ready".into(),
            status,
            reason: reason.into(),
            message,
            last_transition_time,
        }],
    }
}

/// A CRD reduced to its name and `CrdInfo`.
#[derive(Clone, Debug)]
struct CrdSummary {
    name: String,
    info: CrdInfo,
}

fn summary_event(event: watcher::Event<CustomResourceDefinition>) -> watcher::Event<CrdSummary> {
    let convert = |crd: CustomResourceDefinition| CrdSummary {
        name: crd.name_any(),
        info: CrdInfo::from_crd(&crd),
    };
    match event {
        watcher::Event::Apply(crd) => watcher::Event::Apply(convert(crd)),
        watcher::Event::Delete(crd) => watcher::Event::Delete(convert(crd)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(crd) => watcher::Event::InitApply(convert(crd)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

impl kube::runtime::reflector::Lookup for CrdSummary {
    type DynamicType = ();

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "CustomResourceDefinition".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "apiextensions.k8s.io".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "customresourcedefinitions".into()
    }
    fn name(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.name.as_str().into())
    }
    fn namespace(&self) -> Option<std::borrow::Cow<'_, str>> {
        None
    }
    fn resource_version(&self) -> Option<std::borrow::Cow<'_, str>> {
        None
    }
    fn uid(&self) -> Option<std::borrow::Cow<'_, str>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftc() -> FederatedTypeConfig {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "core.kubefed.io/v1beta1", "kind": "FederatedTypeConfig",
            "metadata": {"name": "configmaps", "namespace": "kube-federation-system", "generation": 1},
            "spec": {
                "targetType": {"version": "v1", "kind": "ConfigMap", "pluralName": "configmaps", "scope": "Namespaced"},
                "propagation": "Disabled",
                "federatedType": {"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedConfigMap",
                                  "pluralName": "federatedconfigmaps", "scope": "Namespaced"}
            }
        }))
        .expect("a valid FTC")
    }

    #[test]
    fn a_status_written_but_not_yet_cached_is_not_written_again() {
        let ftc = ftc();
        let empty = FederatedTypeConfigStatus::default();
        let (first, before) =
            status_to_write(&ftc, &Verdict::Disabled, &empty, None, || "t0".into()).expect("a first status");
        assert_eq!(before, empty);
        assert_eq!(first.conditions[0].last_transition_time, "t0");
        let written = (empty.clone(), first.clone());
        // A pass a second later, before the cache shows the write: nothing to write.
        assert_eq!(
            status_to_write(&ftc, &Verdict::Disabled, &empty, Some(&written), || "t1".into()),
            None
        );
        // The cache caught up: nothing either.
        assert_eq!(
            status_to_write(&ftc, &Verdict::Disabled, &first, Some(&written), || "t2".into()),
            None
        );
        // A new verdict while the cache still lags: written once, replacing what kfed wrote.
        let (next, before) = status_to_write(&ftc, &Verdict::Deleting, &empty, Some(&written), || "t3".into())
            .expect("a changed status");
        assert_eq!(before, first);
        assert_eq!(next.conditions[0].reason, "Deleting");
        assert_eq!(next.conditions[0].last_transition_time, "t3");
        // Someone else's status is corrected.
        let mut foreign = first.clone();
        foreign.conditions[0].reason = "Whatever".into();
        let (fixed, _) =
            status_to_write(&ftc, &Verdict::Disabled, &foreign, Some(&written), || "t4".into()).expect("a correction");
        assert_eq!(fixed.conditions[0].reason, "PropagationDisabled");
    }
}
