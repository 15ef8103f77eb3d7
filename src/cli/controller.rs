//! `kfed controller`: the operator process.

use crate::cli::clients::ConnectionArgs;
use crate::cli::kubefedconfig;
use crate::cli::settings::{self, Flags};
use crate::cluster::health::HealthSettings;
use crate::cluster::{Registry, registry};
use crate::frontends::kubefed::typeconfig;
use crate::frontends::kubefed::{self, Settings};
use crate::leader::{Elector, Fence};
use crate::metrics::Metrics;
use anyhow::{Context, Result};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The leader Lease in the federation namespace.
const LEASE_NAME: &str = "kfed-controller";

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Kubeconfig context of the host cluster (default: current context).
    #[arg(long)]
    context: Option<String>,
    /// Namespace holding KubeFedClusters, their Secrets and the leader Lease.
    #[arg(long, default_value = "kube-federation-system")]
    federation_namespace: String,
    /// Concurrent reconciles per federated kind.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: u16,
    /// Requests per second kfed may send to each member cluster (client-side limit).
    #[arg(long, default_value_t = NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN))]
    member_qps: NonZeroU32,
    /// Burst above --member-qps allowed for each member cluster.
    #[arg(long, default_value_t = NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN))]
    member_burst: NonZeroU32,
    /// Take over pre-existing member objects that lack the managed label (KubeFed's
    /// adoptResources) [default: true, or the KubeFedConfig's syncController.adoptResources].
    #[arg(long, action = clap::ArgAction::Set)]
    adopt_resources: Option<bool>,
    /// How often every member's /healthz is probed [default: 10s, or the KubeFedConfig's].
    #[arg(long, value_parser = humantime::parse_duration)]
    cluster_health_period: Option<Duration>,
    /// Consecutive failed probes before a ready member is marked not ready [default: 3, or the KubeFedConfig's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    cluster_failure_threshold: Option<u32>,
    /// Consecutive successful probes before a member is marked ready [default: 1, or the KubeFedConfig's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    cluster_success_threshold: Option<u32>,
    /// Timeout of one health probe, also the connect timeout of member clients [default: 3s, or the KubeFedConfig's].
    #[arg(long, value_parser = humantime::parse_duration)]
    cluster_health_timeout: Option<Duration>,
    /// Only act while holding the `kfed-controller` Lease, so several replicas are safe.
    #[arg(long)]
    leader_elect: bool,
    /// Identity in the leader Lease and in Events (default: $POD_NAME, else hostname and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Address of the HTTP endpoint serving /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:9090")]
    metrics_bind_address: std::net::SocketAddr,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

impl Args {
    fn flags(&self) -> Flags {
        Flags {
            adopt_resources: self.adopt_resources,
            cluster_health_period: self.cluster_health_period,
            cluster_failure_threshold: self.cluster_failure_threshold,
            cluster_success_threshold: self.cluster_success_threshold,
            cluster_health_timeout: self.cluster_health_timeout,
        }
    }
}

pub async fn run(args: Args) -> Result<()> {
    init_logging(&args.log)?;
    let host = args.connection.client(args.context.as_deref()).await?;
    host.apiserver_version()
        .await
        .context("the host cluster's API server does not answer")?;
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let events = crate::host::events::Publisher::new(host.clone(), "kfed", Some(identity.clone()));
    let config = kubefedconfig::load(&host, &args.federation_namespace).await;
    let resolved = settings::resolve(&args.flags(), config.as_ref().map(|c| &c.spec));
    if let Some(config) = &config {
        kubefedconfig::report(&events, config, &resolved.ignored).await;
    }
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let listener = tokio::net::TcpListener::bind(args.metrics_bind_address)
        .await
        .with_context(|| format!("--metrics-bind-address {}", args.metrics_bind_address))?;
    tokio::spawn(crate::metrics::serve(metrics.clone(), listener));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutdown signal received; finishing in-flight reconciles");
        let _ = stop_tx.send(true);
    });

    let lease = if args.leader_elect {
        let mut elector = Elector::new(
            host.clone(),
            &args.federation_namespace,
            LEASE_NAME,
            &identity,
            resolved.leader,
        )
        .context("setting up leader election")?;
        info!(%identity, "waiting to become the leader");
        // A standby is healthy and ready; it takes over when the leader goes.
        metrics.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut stop = stop_rx.clone();
        let acquired = tokio::select! {
            acquired = elector.acquire() => acquired,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        info!(%identity, "became the leader");
        metrics.ready.store(false, std::sync::atomic::Ordering::Relaxed);
        // A leader that cannot renew in time stops acting (this process ends) before a
        // standby may take over: from the renew loop, or from the fence's own thread
        // when the async runtime itself is starved. A new process starts as a follower.
        let fence = Fence::start(acquired, resolved.leader.renew_deadline);
        let keeper_fence = fence.clone();
        let releaser = elector.clone();
        let keeper = tokio::spawn(async move {
            let lost = elector.keep(acquired, &keeper_fence).await;
            warn!(reason = %lost, "lost leadership; exiting");
            std::process::exit(1);
        });
        Some((keeper, fence, releaser))
    } else {
        None
    };

    let health = HealthSettings {
        period: resolved.cluster_health_period,
        failure_threshold: resolved.cluster_failure_threshold,
        success_threshold: resolved.cluster_success_threshold,
        timeout: resolved.cluster_health_timeout,
    };
    let registry = Arc::new(Registry::new(args.member_qps, args.member_burst));
    let cluster_task = tokio::spawn(registry::run(
        registry.clone(),
        host.clone(),
        args.federation_namespace.clone(),
        health,
        metrics.clone(),
        events,
    ));
    let settings = Settings {
        workers: args.workers,
        adopt: resolved.adopt_resources,
        instance: Some(identity.clone()),
    };
    info!(namespace = %args.federation_namespace, workers = args.workers, adopt = resolved.adopt_resources, "kfed controller running");
    // The FederatedTypeConfigs decide which kinds run; the engine follows their set.
    let (kinds_tx, kinds_rx) = tokio::sync::watch::channel(None);
    let typeconfigs = tokio::spawn(typeconfig::run(
        host.clone(),
        args.federation_namespace.clone(),
        crate::host::events::Publisher::new(host.clone(), "kfed", Some(identity.clone())),
        kinds_tx,
        stop_rx.clone(),
    ));
    kubefed::run(host.clone(), registry, settings, metrics, kinds_rx, stop_rx).await;
    typeconfigs.abort();
    cluster_task.abort();
    if let Some((keeper, fence, releaser)) = lease {
        // Every reconcile has finished: stop renewing and give the Lease up, so a
        // standby takes over at its next attempt instead of after the lease expires.
        keeper.abort();
        fence.disarm();
        match releaser.release().await {
            Ok(()) => info!("leadership released"),
            Err(e) => warn!(error = %e, "releasing the leader Lease failed"),
        }
    }
    info!("kfed controller stopped");
    Ok(())
}

/// The log, filtered by `--log`, without the events that quote API responses.
fn init_logging(filter: &str) -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, filter::filter_fn};
    let filter = EnvFilter::try_new(filter).context("--log / RUST_LOG")?;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_filter(filter)
                .with_filter(filter_fn(|meta| !quotes_api_responses(meta))),
        )
        .try_init()
        .context("setting up the log")
}

/// kube's client logs what the API server answered to a failed request (`Unsuccessful:
/// Status { message: ... }` at debug, whole responses at trace, unparseable ones at warn).
/// API servers quote the values they were sent in those messages, a Secret's included,
/// so these events are never written, at any level; kfed logs and reports the same
/// failures itself, redacted, naming the object and the cluster. kube's request spans
/// (`kube_client::client::builder`) stay.
fn quotes_api_responses(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_event() && meta.target() == "kube_client::client"
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "kfed".into());
    format!("{host}-{}", std::process::id())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
