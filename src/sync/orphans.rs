//! Member objects that carry the managed label while no federated object exists for
//! them (its federated object was removed while the operator was down, or someone
//! labelled an object by hand). As KubeFed does, the label is removed, so no object
//! looks managed that nothing manages; the object itself stays.
//!
//! The controller learns of them when a member watch event names a federated object
//! its host cache does not hold (the controller only runs once that cache is filled).
//! Only members whose cache of the kind is filled are looked at, so this never reads
//! from a member: an object the cache does not hold is not managed.

use crate::sync::KindContext;
use crate::sync::dispatch::{self, Change, Removal};
use crate::sync::reconcile::target;
use kube::core::DynamicObject;
use kube::runtime::reflector::ObjectRef;
use tracing::{info, warn};

/// Strips the managed label from the member objects of `federated`, which the host
/// does not hold (any more).
pub async fn unlabel(ctx: &KindContext, federated: &ObjectRef<DynamicObject>) {
    let members = ctx.shared.registry.members();
    let work = members.iter().filter(|m| m.ready).filter_map(|member| {
        let client = member.client.clone()?;
        let target = target(
            ctx,
            &member.name,
            client,
            member.limiter.clone(),
            &federated.name,
            federated.namespace.as_deref(),
        );
        // Without a filled cache there is nothing to go by but a read: skip it.
        target.cache.as_ref()?;
        Some(async move {
            let outcome = dispatch::ensure_absent(&target, &Removal::Orphan, false).await;
            if outcome.change == Change::Unlabeled {
                info!(
                    cluster = %member.name, kind = %ctx.kind.target_kind(), name = %target.name, namespace = ?target.namespace,
                    "no federated object manages this member object; managed label removed"
                );
            } else if let Some(message) = outcome.result.message.as_deref() {
                warn!(
                    cluster = %member.name, kind = %ctx.kind.target_kind(), name = %target.name, namespace = ?target.namespace,
                    error = %message, "removing the managed label of an unmanaged member object failed"
                );
            }
            if outcome.change != Change::None || outcome.result.message.is_some() {
                ctx.shared
                    .metrics
                    .observe_member_op(ctx.kind.label(), &member.name, outcome.metric());
            }
        })
    });
    futures::future::join_all(work).await;
}
