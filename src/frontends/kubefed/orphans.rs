//! Member objects that carry the managed label while no federated object exists for
//! them (its federated object was removed while the operator was down, or someone
//! labelled an object by hand). As KubeFed does, the label is removed, so no object
//! looks managed that nothing manages; the object itself stays.
//!
//! The controller learns of them when a member watch event names a federated object
//! its host cache does not hold (the controller only runs once that cache is filled).
//! Only members whose cache of the kind is filled are looked at, so this never reads
//! from a member: an object the cache does not hold is not managed.

use crate::engine::{Change, Owner};
use crate::frontends::kubefed::shared::KindContext;
use crate::frontends::kubefed::worker::fanout;
use kube::core::DynamicObject;
use kube::runtime::reflector::ObjectRef;
use tracing::{info, warn};

/// Strips the managed label from the member objects of `federated`, which the host
/// does not hold (any more).
pub async fn unlabel(ctx: &KindContext, federated: &ObjectRef<DynamicObject>) {
    let owner = Owner {
        name: federated.name.clone(),
        namespace: federated.namespace.clone(),
    };
    let members = ctx.shared.registry.members();
    for outcome in fanout(ctx).unlabel(&owner, &members).await {
        let cluster = &outcome.result.cluster;
        if outcome.change == Change::Unlabeled {
            info!(
                %cluster, kind = %ctx.kind.target_kind(), name = %owner.name, namespace = ?owner.namespace,
                "no federated object manages this member object; managed label removed"
            );
        } else if let Some(message) = outcome.result.message.as_deref() {
            warn!(
                %cluster, kind = %ctx.kind.target_kind(), name = %owner.name, namespace = ?owner.namespace,
                error = %message, "removing the managed label of an unmanaged member object failed"
            );
        }
        if outcome.change != Change::None || outcome.result.message.is_some() {
            ctx.shared
                .metrics
                .engine
                .observe_member_op(ctx.kind.label(), cluster, outcome.metric());
        }
    }
}
