//! The engine's metrics: writes to member clusters, and those skipped as in sync.

use crate::metrics::families::{counter, histogram};
use prometheus::{HistogramVec, IntCounterVec, Registry};
use std::time::Duration;

pub struct EngineMetrics {
    member_operations: IntCounterVec,
    member_operation_duration: HistogramVec,
    writes_skipped: IntCounterVec,
}

impl EngineMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            member_operations: counter(
                registry,
                "kfed_member_operations_total",
                "Writes to member clusters by kind, cluster, operation (create, update, delete, unlabel) and result",
                &["kind", "cluster", "operation", "result"],
            )?,
            member_operation_duration: histogram(
                registry,
                "kfed_member_operation_duration_seconds",
                "Duration of writes to member clusters",
                &["kind", "cluster", "operation"],
            )?,
            writes_skipped: counter(
                registry,
                "kfed_member_writes_skipped_total",
                "Member objects found already in the desired state, so not written",
                &["kind", "cluster"],
            )?,
        })
    }

    pub fn observe_member_op(&self, kind: &str, cluster: &str, op: MemberOp) {
        let (operation, ok, took) = match op {
            MemberOp::NotAttempted => return,
            MemberOp::Skipped => {
                self.writes_skipped.with_label_values(&[kind, cluster]).inc();
                return;
            }
            MemberOp::Sent { operation, ok, took } => (operation, ok, took),
        };
        let result = if ok { "success" } else { "error" };
        self.member_operations
            .with_label_values(&[kind, cluster, operation.as_str(), result])
            .inc();
        if let Some(took) = took {
            self.member_operation_duration
                .with_label_values(&[kind, cluster, operation.as_str()])
                .observe(took.as_secs_f64());
        }
    }
}

/// A write kfed sent to a member, as the metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Unlabel,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Unlabel => "unlabel",
        }
    }
}

/// What one member operation did, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberOp {
    /// Already in sync: no write.
    Skipped,
    /// Decided before any write (cluster not ready, bad overrides, ...).
    NotAttempted,
    Sent {
        operation: Operation,
        ok: bool,
        took: Option<Duration>,
    },
}
