//! The operator process: `kfed controller` (the kit's [`Controller`]) started with the
//! bench's flags, and its memory read from /proc (its CPU: `cpu::process_cpu`).

use crate::{Env, progress};
use anyhow::{Context, Result};
pub(crate) use kfed_testkit::Controller as Operator;
use kfed_testkit::{ControllerSpec, free_port};
use std::net::SocketAddr;

/// Starts `kfed controller` as the testbed's admin with the bench's workers and member
/// rate limit, metrics on a free port, the log in `target/bench/<name>.log`.
pub(crate) async fn start(env: &Env, name: &str) -> Result<Operator> {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let qps = env.args.qps.get();
    let spec = ControllerSpec {
        kfed: env.tb.kfed.clone(),
        kubeconfig: env.tb.kubeconfig.clone(),
        context: "host".into(),
        args: [
            "--metrics-bind-address".to_string(),
            metrics.to_string(),
            "--workers".into(),
            env.args.workers.to_string(),
            "--member-qps".into(),
            qps.to_string(),
            "--member-burst".into(),
            qps.saturating_mul(2).to_string(),
        ]
        .into(),
        env: vec![
            ("RUST_LOG".into(), "info,kube=warn".into()),
            ("NO_COLOR".into(), "1".into()),
        ],
        log: env.log_dir.join(format!("{name}.log")),
        metrics: Some(metrics),
    };
    let operator = Operator::spawn(&spec)?;
    let pid = operator.pid();
    if let Some(pidfile) = std::env::var_os("KFED_BENCH_PIDFILE") {
        let _ = std::fs::write(pidfile, format!("{pid}\n"));
    }
    progress(format!(
        "started kfed controller pid {pid}, metrics {metrics}, log {}",
        spec.log.display()
    ));
    Ok(operator)
}

pub(crate) fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
