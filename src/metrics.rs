//! Prometheus metrics of the sync controller (names follow Prometheus
//! conventions: `kfed_` prefix, `_total` counters, `_seconds` durations).

use crate::sync::dispatch::{Change, Outcome};
use crate::sync::status::ClusterState;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::time::Duration;

pub struct Metrics {
    pub registry: Registry,
    reconciles: IntCounterVec,
    reconcile_duration: HistogramVec,
    member_operations: IntCounterVec,
    writes_skipped: IntCounterVec,
    host_writes: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "kfed_reconciles_total",
                "Reconciles of federated objects by kind and result",
            ),
            &["kind", "result"],
        )?;
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new("kfed_reconcile_duration_seconds", "Duration of one reconcile by kind").buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["kind"],
        )?;
        let member_operations = IntCounterVec::new(
            Opts::new(
                "kfed_member_operations_total",
                "Writes to member clusters by kind, cluster, operation and result",
            ),
            &["kind", "cluster", "operation", "result"],
        )?;
        let writes_skipped = IntCounterVec::new(
            Opts::new(
                "kfed_member_writes_skipped_total",
                "Member objects found already in the desired state, so not written",
            ),
            &["kind", "cluster"],
        )?;
        let host_writes = IntCounterVec::new(
            Opts::new(
                "kfed_host_writes_total",
                "Writes to the host cluster by kind and type (status, finalizer, event)",
            ),
            &["kind", "type"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        registry.register(Box::new(member_operations.clone()))?;
        registry.register(Box::new(writes_skipped.clone()))?;
        registry.register(Box::new(host_writes.clone()))?;
        Ok(Self {
            registry,
            reconciles,
            reconcile_duration,
            member_operations,
            writes_skipped,
            host_writes,
        })
    }

    pub fn observe_reconcile(&self, kind: &str, ok: bool, elapsed: Duration) {
        self.reconciles
            .with_label_values(&[kind, if ok { "success" } else { "error" }])
            .inc();
        self.reconcile_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_member_op(&self, kind: &str, cluster: &str, outcome: &Outcome) {
        let result = if outcome.result.state == ClusterState::Ok {
            "success"
        } else {
            "error"
        };
        let operation = match (outcome.change, outcome.result.state) {
            (Change::Created, _) => "create",
            (Change::Updated, _) => "update",
            (Change::Deleted, _) => "delete",
            (Change::Unlabeled, _) => "unlabel",
            (Change::None, ClusterState::Ok) => {
                self.writes_skipped.with_label_values(&[kind, cluster]).inc();
                return;
            }
            (Change::None, ClusterState::CreationFailed) => "create",
            (Change::None, ClusterState::UpdateFailed) => "update",
            (Change::None, ClusterState::DeletionFailed) => "delete",
            (Change::None, ClusterState::LabelRemovalFailed) => "unlabel",
            (Change::None, _) => return, // nothing was attempted
        };
        self.member_operations
            .with_label_values(&[kind, cluster, operation, result])
            .inc();
    }

    pub fn host_write(&self, kind: &str, what: &str) {
        self.host_writes.with_label_values(&[kind, what]).inc();
    }

    /// Sum of member writes (all kinds, clusters, operations); used by tests and the benchmark.
    pub fn member_writes(&self) -> u64 {
        sum(&self.member_operations)
    }

    pub fn host_writes(&self) -> u64 {
        sum(&self.host_writes)
    }
}

fn sum(counter: &IntCounterVec) -> u64 {
    use prometheus::core::Collector;
    counter
        .collect()
        .iter()
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_counter().value() as u64)
        .sum()
}
