//! The KubeFed front end's metrics: reconciles, writes to the host, propagation latency.

use crate::metrics::families::{counter, gauge, histogram};
use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec, Registry};
use std::time::Duration;

pub struct SyncMetrics {
    reconciles: IntCounterVec,
    reconcile_duration: HistogramVec,
    in_flight: IntGaugeVec,
    host_writes: IntCounterVec,
    propagation_latency: HistogramVec,
}

impl SyncMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            reconciles: counter(
                registry,
                "kfed_reconciles_total",
                "Reconciles of federated objects by kind and result",
                &["kind", "result"],
            )?,
            reconcile_duration: histogram(
                registry,
                "kfed_reconcile_duration_seconds",
                "Duration of one reconcile by kind",
                &["kind"],
            )?,
            in_flight: gauge(
                registry,
                "kfed_reconciles_in_flight",
                "Reconciles running now by kind",
                &["kind"],
            )?,
            host_writes: counter(
                registry,
                "kfed_host_writes_total",
                "Writes to the host cluster by kind and type (status, finalizer, event)",
                &["kind", "type"],
            )?,
            propagation_latency: histogram(
                registry,
                "kfed_propagation_latency_seconds",
                "From the first reconcile of a new generation to every placed cluster in sync",
                &["kind"],
            )?,
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

    /// Counts a reconcile as running until the guard is dropped.
    pub fn in_flight(&self, kind: &str) -> impl Drop + use<> {
        let gauge = self.in_flight.with_label_values(&[kind]);
        gauge.inc();
        InFlight(gauge)
    }

    pub fn host_write(&self, kind: &str, what: HostWrite) {
        self.host_writes.with_label_values(&[kind, what.as_str()]).inc();
    }

    pub fn observe_propagation(&self, kind: &str, latency: Duration) {
        self.propagation_latency
            .with_label_values(&[kind])
            .observe(latency.as_secs_f64());
    }
}

struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
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
