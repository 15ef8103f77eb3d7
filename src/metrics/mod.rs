//! Prometheus metrics (names follow Prometheus conventions: `kfed_` prefix,
//! `_total` counters, `_seconds` durations) and the HTTP endpoint that serves
//! them with `/healthz` and `/readyz`. Each part defines and registers its own
//! families (`engine::metrics`, `cluster::metrics`, `frontends::kubefed::metrics`);
//! this module holds the registry they share.

pub mod families;

use crate::cluster::metrics::ClusterMetrics;
use crate::engine::metrics::EngineMetrics;
use crate::frontends::kubefed::metrics::SyncMetrics;
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Metrics {
    pub registry: Registry,
    /// Member writes (the engine).
    pub engine: EngineMetrics,
    /// Member health (the registry).
    pub clusters: ClusterMetrics,
    /// Reconciles, host writes and propagation latency (KubeFed's front end).
    pub sync: SyncMetrics,
    /// Set once the controller has a complete view and serves (for `/readyz`).
    pub ready: AtomicBool,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
            engine: EngineMetrics::register(&registry)?,
            clusters: ClusterMetrics::register(&registry)?,
            sync: SyncMetrics::register(&registry)?,
            ready: AtomicBool::new(false),
            registry,
        })
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
