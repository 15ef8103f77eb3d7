//! Prometheus metrics (names follow Prometheus conventions: `kfed_` prefix,
//! `_total` counters, `_seconds` durations) and the HTTP endpoint that serves
//! them with `/healthz` and `/readyz`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

pub struct Metrics {
    pub registry: Registry,
    reconciles: IntCounterVec,
    reconcile_duration: HistogramVec,
    in_flight: IntGaugeVec,
    member_operations: IntCounterVec,
    member_operation_duration: HistogramVec,
    writes_skipped: IntCounterVec,
    host_writes: IntCounterVec,
    propagation_latency: HistogramVec,
    cluster_ready: IntGaugeVec,
    probe_duration: HistogramVec,
    joined_clusters: IntGauge,
    /// Set once the controller has a complete view and serves (for `/readyz`).
    pub ready: AtomicBool,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| -> Result<HistogramVec, prometheus::Error> {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let metrics = Self {
            reconciles: counter(
                "kfed_reconciles_total",
                "Reconciles of federated objects by kind and result",
                &["kind", "result"],
            )?,
            reconcile_duration: histogram(
                "kfed_reconcile_duration_seconds",
                "Duration of one reconcile by kind",
                &["kind"],
            )?,
            in_flight: gauge("kfed_reconciles_in_flight", "Reconciles running now by kind", &["kind"])?,
            member_operations: counter(
                "kfed_member_operations_total",
                "Writes to member clusters by kind, cluster, operation (create, update, delete, unlabel) and result",
                &["kind", "cluster", "operation", "result"],
            )?,
            member_operation_duration: histogram(
                "kfed_member_operation_duration_seconds",
                "Duration of writes to member clusters",
                &["kind", "cluster", "operation"],
            )?,
            writes_skipped: counter(
                "kfed_member_writes_skipped_total",
                "Member objects found already in the desired state, so not written",
                &["kind", "cluster"],
            )?,
            host_writes: counter(
                "kfed_host_writes_total",
                "Writes to the host cluster by kind and type (status, finalizer, event)",
                &["kind", "type"],
            )?,
            propagation_latency: histogram(
                "kfed_propagation_latency_seconds",
                "From the first reconcile of a new generation to every placed cluster in sync",
                &["kind"],
            )?,
            cluster_ready: gauge("kfed_cluster_ready", "1 when the member cluster is ready", &["cluster"])?,
            probe_duration: histogram(
                "kfed_cluster_health_probe_duration_seconds",
                "Duration of member health probes",
                &["cluster"],
            )?,
            joined_clusters: IntGauge::new(
                "kfed_joined_clusters",
                "Member clusters registered with a KubeFedCluster",
            )?,
            ready: AtomicBool::new(false),
            registry,
        };
        metrics.registry.register(Box::new(metrics.joined_clusters.clone()))?;
        metrics
            .registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(metrics)
    }

    pub fn observe_reconcile(&self, kind: &str, ok: bool, elapsed: Duration) {
        self.reconciles
            .with_label_values(&[kind, if ok { "success" } else { "error" }])
            .inc();
        self.reconcile_duration
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a reconcile as running until the guard is dropped.
    pub fn in_flight(&self, kind: &str) -> impl Drop + use<> {
        let gauge = self.in_flight.with_label_values(&[kind]);
        gauge.inc();
        InFlight(gauge)
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

    pub fn host_write(&self, kind: &str, what: HostWrite) {
        self.host_writes.with_label_values(&[kind, what.as_str()]).inc();
    }

    pub fn observe_propagation(&self, kind: &str, latency: Duration) {
        self.propagation_latency
            .with_label_values(&[kind])
            .observe(latency.as_secs_f64());
    }

    pub fn observe_probe(&self, cluster: &str, took: Duration) {
        self.probe_duration
            .with_label_values(&[cluster])
            .observe(took.as_secs_f64());
    }

    /// Publishes the members' readiness; clusters no longer joined disappear.
    pub fn set_clusters(&self, clusters: &[(String, bool)]) {
        self.cluster_ready.reset();
        for (name, ready) in clusters {
            self.cluster_ready.with_label_values(&[name]).set(i64::from(*ready));
        }
        self.joined_clusters.set(clusters.len() as i64);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            return format!("# encoding failed: {e}\n");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `/metrics`, `/healthz` (the process answers) and `/readyz` (the
/// controller has a complete view, or is a standby waiting for leadership).
pub async fn serve(metrics: Arc<Metrics>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/metrics", {
            let metrics = metrics.clone();
            get(move || {
                let metrics = metrics.clone();
                async move { ([("content-type", "text/plain; version=0.0.4")], metrics.render()) }
            })
        })
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = metrics.ready.load(Ordering::Relaxed);
                async move {
                    if ready {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        );
    axum::serve(listener, app).await
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

/// The kinds of write kfed sends to the host, as the metrics count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostWrite {
    Status,
    Finalizer,
    Event,
}

impl HostWrite {
    pub fn as_str(self) -> &'static str {
        match self {
            HostWrite::Status => "status",
            HostWrite::Finalizer => "finalizer",
            HostWrite::Event => "event",
        }
    }
}
