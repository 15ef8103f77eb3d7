//! Propagation benchmark: how fast kfed pushes federated objects into two member
//! clusters, compared with the ceiling of writing the same number of objects
//! straight into the members.
//!
//! Run through `bench/run.sh` (`make bench`), which builds the release binary and
//! brings up a dedicated testbed; or by hand against a running testbed:
//!
//! ```sh
//! cargo bench --bench propagation -- --kubeconfig .testbed-bench/kubeconfig --objects 1000
//! ```
//!
//! Steps (each with a timeout): install the API, join member1 and member2, federate
//! the namespace `bench`; the ceiling (direct server-side apply into the members);
//! start `kfed controller`; then the create wave, single-edit latency, update wave,
//! FederatedDeployment wave, steady state (zero writes), restart (zero writes) and
//! the delete wave. Convergence is observed through watches of the member objects.
//! Results: `<out-dir>/results.md` and `<out-dir>/results.json`. Exit status is
//! non-zero when a step fails or a converged/restarted operator writes anything.

use anyhow::{Context, Result, bail};
use clap::Parser;
use kube::Client;
use kube::api::Api;
use kube::core::DynamicObject;
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use commands::{command_output, git_commit};
use kfed_testkit::{Testbed, federated};
use operator::proc_status_kb;
use report::{Report, secs, write_results};
use views::Views;

mod api_counts;
mod commands;
mod cpu;
mod metrics;
mod objects;
mod operator;
mod phases;
mod report;
mod setup;
mod views;
mod writers;

const NS: &str = "bench";
const CEILING_NS: &str = "bench-ceiling";
const MEMBERS: [&str; 2] = ["member1", "member2"];
const MANAGER: &str = "kfed-bench";
const MANAGED: &str = "kubefed.io/managed=true";
/// Limit of one request of the bench itself (writes are retried up to 5 times).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const IMAGE: &str = "registry.k8s.io/pause:3.10";
const IMAGE_MEMBER2: &str = "registry.k8s.io/pause:3.9";

#[derive(Parser, Debug)]
#[command(
    name = "propagation",
    about = "kfed propagation benchmark against a running testbed (normally started by bench/run.sh)",
    args_override_self = true
)]
struct Args {
    /// FederatedConfigMaps in the create/update/delete waves (N).
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// FederatedDeployments in the deployment wave (D).
    #[arg(long, default_value_t = 200)]
    deployments: usize,
    /// Requests per second per member: the operator's --member-qps (burst 2×) and the ceiling writers' limit.
    #[arg(long, default_value_t = NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN))]
    qps: NonZeroU32,
    /// Single edits timed one after another.
    #[arg(long, default_value_t = 200)]
    latency_edits: usize,
    /// Length of the steady-state window in which no writes may happen.
    #[arg(long, default_value_t = 60)]
    steady_seconds: u64,
    /// Length of the window after a restart in which no writes may happen.
    #[arg(long, default_value_t = 30)]
    restart_seconds: u64,
    /// Operator workers per kind (--workers).
    #[arg(long, default_value_t = 64)]
    workers: u16,
    /// Concurrent writers of the bench per cluster; as many as the operator has
    /// workers, so the ceiling has the operator's concurrency.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Limit of each wave (default: 120 s + 50 ms per object).
    #[arg(long, value_parser = humantime::parse_duration)]
    wave_timeout: Option<Duration>,
    /// Kubeconfig of the testbed, with contexts host, member1 and member2
    /// (default: $KFED_TESTBED_DIR/kubeconfig, else <repo>/.testbed-bench/kubeconfig).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kfed binary (default: the release binary cargo built for this bench).
    #[arg(long)]
    kfed: Option<PathBuf>,
    /// Where results.md and results.json go.
    #[arg(long, default_value = "bench")]
    out_dir: PathBuf,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn progress(msg: impl AsRef<str>) {
    eprintln!(
        "[bench {}] {}",
        jiff::Timestamp::now().strftime("%H:%M:%S"),
        msg.as_ref()
    );
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: cannot start the tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            code = run(args) => code,
            _ = interrupted() => {
                // Dropping `run` kills the operator child (kill_on_drop).
                eprintln!("bench: interrupted; the operator is stopped");
                130
            }
        }
    });
    drop(runtime);
    std::process::exit(code);
}

async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

// ---------------------------------------------------------------------------
// Entry point: every step, the report, the exit status

struct Env {
    args: Args,
    /// The testbed's kubeconfig and the kfed binary under test.
    tb: Testbed,
    host: Client,
    members: Vec<Client>,
    wave_timeout: Duration,
    log_dir: PathBuf,
    clk_tck: f64,
    /// The testbed's processes, for CPU time per part.
    testbed: cpu::Testbed,
}

async fn run(args: Args) -> i32 {
    let started = Instant::now();
    let out_dir = if args.out_dir.is_absolute() {
        args.out_dir.clone()
    } else {
        repo().join(&args.out_dir)
    };
    let mut report = Report::default();
    let mut machine = Vec::new();
    let result = bench(args, &mut report, &mut machine).await;
    if let Err(e) = result {
        let msg = format!("{e:#}");
        progress(format!("FAILED: {msg}"));
        report.failures.push(msg);
    }
    let total = started.elapsed();
    machine.push(("bench duration".into(), secs(total)));
    report.set("total_seconds", json!(total.as_secs_f64()));
    report.set(
        "machine",
        Value::Object(machine.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
    );
    report.set(
        "checks",
        json!(
            report
                .checks
                .iter()
                .map(|(n, p, d)| json!({"name": n, "passed": p, "detail": d}))
                .collect::<Vec<_>>()
        ),
    );
    report.set("failures", json!(report.failures));
    let failed = !report.failures.is_empty() || report.checks.iter().any(|c| !c.1);
    if let Err(e) = write_results(&out_dir, &report, &machine) {
        eprintln!("bench: writing results to {}: {e:#}", out_dir.display());
        return 1;
    }
    progress(format!(
        "results in {} and {} ({} in total)",
        out_dir.join("results.md").display(),
        out_dir.join("results.json").display(),
        secs(total)
    ));
    if failed {
        progress("the bench FAILED (see Failures / correctness checks above)");
        1
    } else {
        0
    }
}

async fn bench(args: Args, report: &mut Report, machine: &mut Vec<(String, String)>) -> Result<()> {
    let kubeconfig = match &args.kubeconfig {
        Some(k) => k.clone(),
        None => std::env::var_os("KFED_TESTBED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".testbed-bench"))
            .join("kubeconfig"),
    };
    if !kubeconfig.is_file() {
        bail!(
            "no testbed kubeconfig at {} (run bench/run.sh, or pass --kubeconfig)",
            kubeconfig.display()
        );
    }
    let kfed = args
        .kfed
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kfed")));
    if !kfed.is_file() {
        bail!("no kfed binary at {} (cargo build --release)", kfed.display());
    }
    let tb = Testbed::open(&kubeconfig, kfed);
    let host = tb.client("host").await?;
    let mut members = Vec::new();
    for m in MEMBERS {
        members.push(tb.client(m).await?);
    }
    let n = args.objects;
    let wave_timeout = args
        .wave_timeout
        .unwrap_or(Duration::from_secs(120) + Duration::from_millis(50) * n.max(args.deployments) as u32);
    let log_dir = repo().join("target/bench");
    std::fs::create_dir_all(&log_dir)?;
    let clk_tck = command_output("getconf", &["CLK_TCK"])
        .await
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);

    // Machine info.
    let version = tokio::time::timeout(REQUEST_TIMEOUT, host.apiserver_version())
        .await
        .context("the host API server does not answer")?
        .context("the host API server does not answer")?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = command_output("nproc", &[])
        .await
        .unwrap_or_default()
        .trim()
        .to_string();
    let commit = git_commit().await;
    let kfed_commit = commit.clone();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    machine.extend([
        (
            "date (UTC)".into(),
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M").to_string(),
        ),
        ("CPU".into(), format!("{nproc} × {cpu} (nproc {nproc})")),
        (
            "load average at start".into(),
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        ),
        ("kube-apiserver".into(), version.git_version.clone()),
        ("kfed commit".into(), commit),
        ("N (FederatedConfigMaps)".into(), n.to_string()),
        ("D (FederatedDeployments)".into(), args.deployments.to_string()),
        (
            "operator flags".into(),
            format!(
                "--workers {} --member-qps {} --member-burst {}",
                args.workers,
                args.qps,
                args.qps.get().saturating_mul(2)
            ),
        ),
        (
            "bench writers".into(),
            format!("{} concurrent per cluster, server-side apply", args.writers),
        ),
        ("wave timeout".into(), secs(wave_timeout)),
    ]);
    report.set(
        "params",
        json!({
            "objects": n, "deployments": args.deployments, "qps": args.qps.get(), "burst": args.qps.get().saturating_mul(2),
            "workers": args.workers, "writers": args.writers, "latency_edits": args.latency_edits,
            "steady_seconds": args.steady_seconds, "restart_seconds": args.restart_seconds,
            "nproc": nproc, "cpu": cpu, "kube_apiserver": version.git_version, "kfed_commit": kfed_commit,
        }),
    );
    progress(format!(
        "N={n} D={} qps={} workers={} on {nproc} × {cpu}; kube-apiserver {}",
        args.deployments, args.qps, args.workers, version.git_version
    ));

    let testbed = cpu::Testbed::load(&kubeconfig);
    if testbed.is_empty() {
        machine.push((
            "CPU per part".into(),
            "no testbed state.json next to the kubeconfig: only the operator and the bench are accounted".into(),
        ));
    }
    let env = Env {
        testbed,
        args,
        tb,
        host,
        members,
        wave_timeout,
        log_dir,
        clk_tck,
    };
    env.setup().await?;
    env.ceiling(report).await?;

    // Watches of what the bench waits for, filled before the operator starts.
    let views = Views::start(&env).await?;
    let mut operator = operator::start(&env, "operator-1").await?;
    let ready = operator.wait_ready(Duration::from_secs(120)).await?;
    progress(format!("operator (pid {}) ready after {}", operator.pid(), secs(ready)));
    env.wait_federated_namespace().await?;
    env.remove_leftovers(&views).await?;

    env.create_wave(report, &views, &operator).await?;
    let hwm = proc_status_kb(operator.pid(), "VmHWM")?;
    report.set("rss_after_create_kib", json!(hwm));
    env.latency(report, &views).await?;
    env.update_wave(report, &views, &operator).await?;
    env.deployment_wave(report, &views, &operator).await?;
    env.steady_state(report, &views, &operator).await?;
    let hwm_first = proc_status_kb(operator.pid(), "VmHWM")?;
    let operator = env.restart(report, operator).await?;
    env.delete_wave(report, &views, &operator).await?;
    let operator = env.backlog(report, &views, operator).await?;
    let hwm_end = proc_status_kb(operator.pid(), "VmHWM")?;
    let rss_end = proc_status_kb(operator.pid(), "VmRSS")?;
    report.set(
        "memory_kib",
        json!({"after_create_wave_peak": hwm, "first_process_peak": hwm_first, "restarted_process_peak": hwm_end, "restarted_process_rss_end": rss_end}),
    );
    report.row(
        "operator peak RSS (VmHWM)",
        format!(
            "{:.1} MiB after the create wave; {:.1} MiB at the end",
            hwm as f64 / 1024.0,
            hwm_end as f64 / 1024.0
        ),
        format!(
            "first process peak {:.1} MiB over all waves; the end value is the last started process (RSS now {:.1} MiB)",
            hwm_first as f64 / 1024.0,
            rss_end as f64 / 1024.0
        ),
    );
    operator.stop_within(Duration::from_secs(30)).await?;
    for (name, log) in [
        ("operator-1", "operator-1.log"),
        ("operator-2", "operator-2.log"),
        ("operator-3", "operator-3.log"),
    ] {
        let text = std::fs::read_to_string(env.log_dir.join(log)).unwrap_or_default();
        let warns: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
        let errors = text.lines().filter(|l| l.contains(" ERROR ")).count();
        let panics = text.lines().filter(|l| l.contains("panicked")).count();
        report.notes.push(format!(
            "{name} log (`target/bench/{log}`): {} WARN, {errors} ERROR, {panics} panics{}",
            warns.len(),
            warns
                .first()
                .map(|w| format!("; first WARN: `{}`", w.chars().take(300).collect::<String>()))
                .unwrap_or_default()
        ));
        if panics > 0 {
            report.check(
                &format!("{name} did not panic"),
                false,
                format!("{panics} panics in its log"),
            );
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    machine.push((
        "load average at end".into(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    ));
    Ok(())
}

impl Env {
    fn member(&self, i: usize) -> &Client {
        &self.members[i]
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.wave_timeout
    }

    fn fcm_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.host.clone(), NS, &federated("FederatedConfigMap"))
    }

    fn fdeploy_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.host.clone(), NS, &federated("FederatedDeployment"))
    }
}
