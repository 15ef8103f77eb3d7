//! The members' metrics: readiness, probe durations, how many are joined.

use crate::metrics::families::{gauge, histogram, single_gauge};
use prometheus::{HistogramVec, IntGauge, IntGaugeVec, Registry};
use std::time::Duration;

pub struct ClusterMetrics {
    cluster_ready: IntGaugeVec,
    probe_duration: HistogramVec,
    joined_clusters: IntGauge,
}

impl ClusterMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            cluster_ready: gauge(
                registry,
                "kfed_cluster_ready",
                "1 when the member cluster is ready",
                &["cluster"],
            )?,
            probe_duration: histogram(
                registry,
                "kfed_cluster_health_probe_duration_seconds",
                "Duration of member health probes",
                &["cluster"],
            )?,
            joined_clusters: single_gauge(
                registry,
                "kfed_joined_clusters",
                "Member clusters registered with a KubeFedCluster",
            )?,
        })
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
}
