//! What the engine reports per cluster: the state the member object is in after
//! one pass (KubeFed's per-cluster states, which every front end maps to its own
//! status shape) and what the pass changed.

use crate::engine::metrics::{MemberOp, Operation};
use std::time::{Duration, Instant};

/// KubeFed's per-cluster propagation states (`reference/kubefed.md` §1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusterState {
    Ok,
    WaitingForRemoval,
    ClusterNotReady,
    CachedRetrievalFailed,
    ComputeResourceFailed,
    ApplyOverridesFailed,
    CreationFailed,
    UpdateFailed,
    DeletionFailed,
    LabelRemovalFailed,
    RetrievalFailed,
    AlreadyExists,
    ManagedLabelFalse,
}

impl ClusterState {
    /// The string KubeFed writes in `status.clusters[].status` (empty when OK).
    pub fn reason(self) -> Option<&'static str> {
        Some(match self {
            ClusterState::Ok => return None,
            ClusterState::WaitingForRemoval => "WaitingForRemoval",
            ClusterState::ClusterNotReady => "ClusterNotReady",
            ClusterState::CachedRetrievalFailed => "CachedRetrievalFailed",
            ClusterState::ComputeResourceFailed => "ComputeResourceFailed",
            ClusterState::ApplyOverridesFailed => "ApplyOverridesFailed",
            ClusterState::CreationFailed => "CreationFailed",
            ClusterState::UpdateFailed => "UpdateFailed",
            ClusterState::DeletionFailed => "DeletionFailed",
            ClusterState::LabelRemovalFailed => "LabelRemovalFailed",
            ClusterState::RetrievalFailed => "RetrievalFailed",
            ClusterState::AlreadyExists => "AlreadyExists",
            ClusterState::ManagedLabelFalse => "ManagedLabelFalse",
        })
    }

    /// Worth retrying with backoff (KubeFed's "recoverable" column); the others
    /// wait for a change of the object, the member or the cluster's health.
    pub fn retry(self) -> bool {
        matches!(
            self,
            ClusterState::CreationFailed
                | ClusterState::UpdateFailed
                | ClusterState::DeletionFailed
                | ClusterState::LabelRemovalFailed
                | ClusterState::RetrievalFailed
                | ClusterState::WaitingForRemoval
                | ClusterState::CachedRetrievalFailed
        )
    }
}

/// What happened in one cluster during a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterResult {
    pub cluster: String,
    pub state: ClusterState,
    /// Human-readable detail for failures (goes into the condition message and Events).
    pub message: Option<String>,
}

impl ClusterResult {
    pub fn ok(cluster: &str) -> Self {
        Self {
            cluster: cluster.into(),
            state: ClusterState::Ok,
            message: None,
        }
    }

    pub fn failed(cluster: &str, state: ClusterState, message: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            state,
            message: Some(message.into()),
        }
    }
}

/// What a cluster operation changed, for Events and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    None,
    Created,
    Updated,
    Deleted,
    Unlabeled,
}

/// Result of one operation in one cluster.
#[derive(Debug)]
pub struct Outcome {
    pub result: ClusterResult,
    pub change: Change,
    /// How long the write took, when one was sent.
    pub write_duration: Option<Duration>,
}

impl Outcome {
    pub(crate) fn ok(cluster: &str, change: Change) -> Self {
        Self::not_attempted(ClusterResult::ok(cluster)).with_change(change)
    }

    pub(crate) fn failed(cluster: &str, state: ClusterState, message: impl Into<String>) -> Self {
        Self::not_attempted(ClusterResult::failed(cluster, state, message))
    }

    /// An outcome decided before any write (not ready, bad overrides, ...).
    pub fn not_attempted(result: ClusterResult) -> Self {
        Self {
            result,
            change: Change::None,
            write_duration: None,
        }
    }

    fn with_change(mut self, change: Change) -> Self {
        self.change = change;
        self
    }

    /// What this outcome counts as in the metrics.
    pub fn metric(&self) -> MemberOp {
        let ok = self.result.state == ClusterState::Ok;
        let operation = match (self.change, self.result.state) {
            (Change::Created, _) | (Change::None, ClusterState::CreationFailed) => Operation::Create,
            (Change::Updated, _) | (Change::None, ClusterState::UpdateFailed) => Operation::Update,
            (Change::Deleted, _) | (Change::None, ClusterState::DeletionFailed) => Operation::Delete,
            (Change::Unlabeled, _) | (Change::None, ClusterState::LabelRemovalFailed) => Operation::Unlabel,
            (Change::None, ClusterState::Ok) => return MemberOp::Skipped,
            (Change::None, _) => return MemberOp::NotAttempted,
        };
        MemberOp::Sent {
            operation,
            ok,
            took: self.write_duration,
        }
    }

    pub(crate) fn took(mut self, started: Instant) -> Self {
        self.write_duration = Some(started.elapsed());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_follows_kubefed_recoverability() {
        assert!(ClusterState::CreationFailed.retry());
        assert!(ClusterState::WaitingForRemoval.retry());
        assert!(!ClusterState::ApplyOverridesFailed.retry());
        assert!(!ClusterState::ManagedLabelFalse.retry());
        assert!(!ClusterState::Ok.retry());
    }
}
