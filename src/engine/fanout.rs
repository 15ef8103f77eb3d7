//! One intent across the member clusters, in parallel: render and apply it where it
//! is placed, remove it everywhere else, or withdraw it from every cluster. Each
//! cluster's result is an `Outcome`; one cluster never holds up another.

use crate::cluster::MemberCaches;
use crate::cluster::registry::{Member, RateLimiter};
use crate::engine::dispatch::{self, Target, WriteOptions};
use crate::engine::intent::{Intent, Owner, Removal};
use crate::engine::metrics::EngineMetrics;
use crate::engine::outcome::{Change, ClusterResult, ClusterState, Outcome};
use crate::engine::render::{self, RenderError, Source};
use crate::kinds::Kind;
use futures::future::join_all;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::Api;
use std::collections::BTreeSet;
use std::sync::Arc;
use tracing::info;

/// What the engine needs to reach the members for one kind.
pub struct Fanout<'a> {
    pub kind: &'a Kind,
    pub host: &'a Client,
    pub caches: &'a MemberCaches,
    pub metrics: &'a EngineMetrics,
    /// Take over pre-existing objects that lack the managed label (KubeFed's `adoptResources`).
    pub adopt: bool,
}

impl Fanout<'_> {
    /// True while a ready, selected member's cache of this kind is still filling:
    /// judging from it would read every object from the member.
    pub fn warming_up(&self, members: &[Member], selected: &BTreeSet<String>) -> bool {
        members
            .iter()
            .any(|m| m.ready && selected.contains(&m.name) && self.caches.warming_up(&m.name, &self.kind.name))
    }

    /// Renders and applies `intent` in every cluster of `selected`. `read_first` names
    /// the clusters where the last attempt met an object kfed does not manage (or one
    /// going away): only there does reading before a create pay.
    pub async fn apply(
        &self,
        intent: &Intent,
        members: &[Member],
        selected: &BTreeSet<String>,
        read_first: &BTreeSet<String>,
    ) -> Vec<Outcome> {
        let source = self.source(&intent.owner);
        let work = members
            .iter()
            .filter(|m| selected.contains(&m.name))
            .map(|member| async move {
                let cluster = member.name.as_str();
                let Some(client) = member.client.clone().filter(|_| member.ready) else {
                    return not_ready(member);
                };
                let desired = match intent.patches.for_cluster(cluster) {
                    Err(e) => Err(RenderError::Patch(e.clone())),
                    Ok(ops) => {
                        let replicas = intent.replicas.as_ref().and_then(|r| r.get(cluster).copied());
                        render::render(source, intent.template.as_ref(), replicas, cluster, ops)
                    }
                };
                let desired = match desired {
                    Ok(d) => d,
                    Err(e) => {
                        let state = match e {
                            RenderError::Patch(_) => ClusterState::ApplyOverridesFailed,
                            RenderError::Invalid(_) => ClusterState::ComputeResourceFailed,
                        };
                        return Outcome::not_attempted(ClusterResult::failed(cluster, state, e.to_string()));
                    }
                };
                let options = WriteOptions {
                    adopt: self.adopt,
                    retain_replicas: self.kind.scalable() && intent.retain_replicas,
                    create_unread: !read_first.contains(cluster),
                };
                let target = self.target(member, client, &intent.owner);
                let outcome = dispatch::ensure_present(&target, desired, options).await;
                self.metrics
                    .observe_member_op(self.kind.label(), cluster, outcome.metric());
                outcome
            });
        join_all(work).await
    }

    /// Removes the owner's object from every ready cluster outside `keep`; returns
    /// only what changed or failed.
    pub async fn remove_except(
        &self,
        owner: &Owner,
        removal: &Removal,
        members: &[Member],
        keep: &BTreeSet<String>,
    ) -> Vec<Outcome> {
        let work = members
            .iter()
            .filter(|m| m.ready && !keep.contains(&m.name))
            .filter_map(|member| {
                let client = member.client.clone()?;
                Some(async move {
                    let target = self.target(member, client, owner);
                    let removal = self.protect_host_namespace(&target, removal).await;
                    let outcome = dispatch::ensure_absent(&target, &removal, false).await;
                    if outcome.change != Change::None {
                        info!(kind = %self.kind.target_kind(), name = %owner.name, namespace = ?owner.namespace, cluster = %member.name, change = ?outcome.change, "removed from a cluster outside the placement");
                    }
                    self.metrics
                        .observe_member_op(self.kind.label(), &member.name, outcome.metric());
                    outcome
                })
            });
        join_all(work)
            .await
            .into_iter()
            .filter(|o| o.change != Change::None || o.result.state != ClusterState::Ok)
            .collect()
    }

    /// Removes (or orphans) the owner's object in every member and reports those
    /// still terminating as `WaitingForRemoval`. A joined but unready member is not
    /// skipped: it is reported `ClusterNotReady` (its object would otherwise leak).
    pub async fn withdraw(&self, owner: &Owner, removal: &Removal, members: &[Member]) -> Vec<Outcome> {
        let work = members.iter().map(|member| async move {
            let Some(client) = member.client.clone().filter(|_| member.ready) else {
                return not_ready(member);
            };
            let target = self.target(member, client, owner);
            let removal = self.protect_host_namespace(&target, removal).await;
            let outcome = dispatch::ensure_absent(&target, &removal, true).await;
            self.metrics
                .observe_member_op(self.kind.label(), &member.name, outcome.metric());
            outcome
        });
        join_all(work).await
    }

    /// Strips the managed label from the owner's objects in the ready members whose
    /// cache of the kind is filled (without one there is nothing to go by but a read).
    pub async fn unlabel(&self, owner: &Owner, members: &[Member]) -> Vec<Outcome> {
        let work = members.iter().filter(|m| m.ready).filter_map(|member| {
            let target = self.target(member, member.client.clone()?, owner);
            target.cache.as_ref()?;
            Some(async move { dispatch::ensure_absent(&target, &Removal::Orphan, false).await })
        });
        join_all(work).await
    }

    fn source<'o>(&'o self, owner: &'o Owner) -> Source<'o> {
        Source {
            kind: self.kind,
            name: &owner.name,
            namespace: owner.namespace.as_deref(),
        }
    }

    fn target<'o>(&'o self, member: &'o Member, client: Client, owner: &'o Owner) -> Target<'o> {
        let source = self.source(owner);
        Target {
            cluster: &member.name,
            client,
            kind: self.kind,
            name: render::member_name(source),
            namespace: render::member_namespace(source),
            cache: self.caches.synced_store(&member.name, &self.kind.name),
            limiter: Arc::<RateLimiter>::clone(&member.limiter),
        }
    }

    /// A Namespace is never deleted in a member that is the host cluster itself (same
    /// namespace UID): it holds the host's own objects. It is only unlabeled.
    async fn protect_host_namespace(&self, target: &Target<'_>, removal: &Removal) -> Removal {
        if !self.kind.behaviour.namespace || matches!(removal, Removal::Orphan) {
            return removal.clone();
        }
        let host: Api<Namespace> = Api::all(self.host.clone());
        let member: Api<Namespace> = Api::all(target.client.clone());
        let (host, member) = futures::join!(host.get_opt(target.name), member.get_opt(target.name));
        match (host, member) {
            (Ok(Some(h)), Ok(Some(m))) if h.metadata.uid.is_some() && h.metadata.uid == m.metadata.uid => {
                Removal::Orphan
            }
            _ => removal.clone(),
        }
    }
}

fn not_ready(member: &Member) -> Outcome {
    let why = member.not_ready_reason.clone().unwrap_or_else(|| "not ready".into());
    Outcome::not_attempted(ClusterResult::failed(&member.name, ClusterState::ClusterNotReady, why))
}
