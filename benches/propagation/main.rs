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

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

mod cpu;

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
// The report

#[derive(Default)]
struct Report {
    json: serde_json::Map<String, Value>,
    /// measurement, result, notes
    rows: Vec<(String, String, String)>,
    /// Operator metrics per phase: phase, member creates, updates, deletes, skips, errors, reconciles, host writes
    metric_rows: Vec<Vec<String>>,
    /// CPU milliseconds per federated object: phase, one column per part, total
    cpu_rows: Vec<Vec<String>>,
    /// name, passed, detail
    checks: Vec<(String, bool, String)>,
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Report {
    fn set(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_string(), value);
    }

    fn row(&mut self, what: &str, result: String, notes: String) {
        progress(format!("RESULT {what}: {result} {notes}"));
        self.rows.push((what.to_string(), result, notes));
    }

    fn check(&mut self, name: &str, passed: bool, detail: String) {
        progress(format!(
            "CHECK {name}: {} ({detail})",
            if passed { "PASS" } else { "FAIL" }
        ));
        self.checks.push((name.to_string(), passed, detail));
    }

    fn markdown(&self, machine: &[(String, String)]) -> String {
        let mut md = String::from("# kfed propagation benchmark\n\n");
        md.push_str("Produced by `make bench` (`bench/run.sh`, `benches/propagation/main.rs`).\n\n");
        md.push_str("| setting | value |\n|---|---|\n");
        for (k, v) in machine {
            md.push_str(&format!("| {k} | {v} |\n"));
        }
        md.push_str("\n| measurement | result | notes |\n|---|---|---|\n");
        for (what, result, notes) in &self.rows {
            md.push_str(&format!("| {what} | {result} | {notes} |\n"));
        }
        if !self.metric_rows.is_empty() {
            md.push_str("\nOperator metrics per phase (deltas of `kfed_*` counters; API-server writes from `apiserver_request_total`):\n\n");
            md.push_str("| phase | member creates | member updates | member deletes | skipped | member op errors | reconciles (errors) | mean reconcile | kfed host writes (status/finalizer/event) | API writes host / member1 / member2 | machine CPU busy |\n");
            md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|\n");
            for r in &self.metric_rows {
                md.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        if !self.cpu_rows.is_empty() {
            md.push_str("\nCPU per federated object in ms, by process (from /proc; the ceiling's object is its 2 member objects), which shows what bounds the ratio to the ceiling on a machine all of them share:\n\n");
            md.push_str(&format!("| phase | {} | total |\n", cpu::PARTS.join(" | ")));
            md.push_str(&format!("|---|{}---:|\n", "---:|".repeat(cpu::PARTS.len())));
            for r in &self.cpu_rows {
                md.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        md.push_str("\n| correctness check | result | detail |\n|---|---|---|\n");
        for (name, passed, detail) in &self.checks {
            md.push_str(&format!(
                "| {name} | {} | {detail} |\n",
                if *passed { "PASS" } else { "**FAIL**" }
            ));
        }
        if !self.failures.is_empty() {
            md.push_str("\n## Failures\n\n");
            for f in &self.failures {
                md.push_str(&format!("- {}\n", f.replace('\n', " ")));
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for n in &self.notes {
                md.push_str(&format!("- {n}\n"));
            }
        }
        md
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn rate(objects: usize, d: Duration) -> f64 {
    objects as f64 / d.as_secs_f64().max(1e-9)
}

// ---------------------------------------------------------------------------
// Entry point: every step, the report, the exit status

struct Env {
    args: Args,
    kubeconfig: PathBuf,
    kfed: PathBuf,
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

fn write_results(out_dir: &Path, report: &Report, machine: &[(String, String)]) -> Result<()> {
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join("results.md"), report.markdown(machine))?;
    let json = serde_json::to_string_pretty(&Value::Object(report.json.clone()))?;
    std::fs::write(out_dir.join("results.json"), json + "\n")?;
    Ok(())
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
    let host = client(&kubeconfig, "host").await?;
    let mut members = Vec::new();
    for m in MEMBERS {
        members.push(client(&kubeconfig, m).await?);
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
        kubeconfig,
        kfed,
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
    let mut operator = Operator::start(&env, "operator-1").await?;
    let ready = operator.wait_ready(Duration::from_secs(120)).await?;
    progress(format!("operator (pid {}) ready after {}", operator.pid, secs(ready)));
    env.wait_federated_namespace().await?;
    env.remove_leftovers(&views).await?;

    env.create_wave(report, &views, &operator).await?;
    let hwm = proc_status_kb(operator.pid, "VmHWM")?;
    report.set("rss_after_create_kib", json!(hwm));
    env.latency(report, &views).await?;
    env.update_wave(report, &views, &operator).await?;
    env.deployment_wave(report, &views, &operator).await?;
    env.steady_state(report, &views, &operator).await?;
    let hwm_first = proc_status_kb(operator.pid, "VmHWM")?;
    let operator = env.restart(report, operator).await?;
    env.delete_wave(report, &views, &operator).await?;
    let operator = env.backlog(report, &views, operator).await?;
    let hwm_end = proc_status_kb(operator.pid, "VmHWM")?;
    let rss_end = proc_status_kb(operator.pid, "VmRSS")?;
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
    operator.stop(Duration::from_secs(30)).await?;
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

// ---------------------------------------------------------------------------
// Clients, commands, /proc

async fn client(kubeconfig: &Path, context: &str) -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kc, &options)
        .await
        .with_context(|| format!("context {context} in {}", kubeconfig.display()))?;
    Client::try_from(config).with_context(|| format!("client for {context}"))
}

async fn command_output(program: &str, args: &[&str]) -> Result<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .with_context(|| format!("{program} did not finish"))??;
    if !out.status.success() {
        bail!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn git_commit() -> String {
    let dir = repo();
    let dir = dir.to_string_lossy();
    let head = command_output("git", &["-C", &dir, "rev-parse", "--short=12", "HEAD"])
        .await
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let dirty = command_output("git", &["-C", &dir, "status", "--porcelain", "--untracked-files=no"])
        .await
        .map(|s| !s.trim().is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{head} (+ uncommitted changes)")
    } else {
        head
    }
}

impl Env {
    /// kubectl against one context, with a limit; returns stdout.
    async fn kubectl(&self, context: &str, args: &[&str], limit: Duration) -> Result<String> {
        let out = tokio::time::timeout(
            limit,
            tokio::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(["--context", context])
                .args(args)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .with_context(|| {
            format!(
                "kubectl --context {context} {} timed out after {limit:?}",
                args.join(" ")
            )
        })?
        .context("running kubectl")?;
        if !out.status.success() {
            bail!(
                "kubectl --context {context} {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn member(&self, i: usize) -> &Client {
        &self.members[i]
    }
}

fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

// ---------------------------------------------------------------------------
// Prometheus text: the operator's metrics and the API servers' request counters

struct Prom(Vec<(String, String, f64)>);

impl Prom {
    fn parse(text: &str) -> Prom {
        Prom(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    let value: f64 = value.parse().ok()?;
                    let (name, labels) = match series.split_once('{') {
                        Some((n, rest)) => (n, rest.trim_end_matches('}')),
                        None => (series, ""),
                    };
                    Some((name.to_string(), labels.to_string(), value))
                })
                .collect(),
        )
    }

    /// Sum of a metric's series whose labels include every `(name, value)`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
            .map(|(_, _, v)| v)
            .sum()
    }
}

/// Writes served by an API server so far, by "VERB resource[/subresource]" (as in
/// tests/common: create, update, patch, apply, delete; without leases, which every
/// API server renews by itself).
async fn api_writes(client: &Client) -> Result<BTreeMap<String, u64>> {
    api_requests(client, &["POST", "PUT", "PATCH", "APPLY", "DELETE"]).await
}

/// Requests with one of `verbs` served by an API server so far, by "VERB resource[/subresource]".
async fn api_requests(client: &Client, verbs: &[&str]) -> Result<BTreeMap<String, u64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = tokio::time::timeout(REQUEST_TIMEOUT, client.request_text(request))
        .await
        .context("GET /metrics timed out")??;
    let label = |labels: &str, name: &str| -> String {
        labels
            .split_once(&format!("{name}=\""))
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(value, _)| value.to_string())
            .unwrap_or_default()
    };
    let mut writes = BTreeMap::new();
    for (name, labels, value) in Prom::parse(&text).0 {
        let verb = label(&labels, "verb");
        let resource = label(&labels, "resource");
        if name != "apiserver_request_total" || !verbs.contains(&verb.as_str()) || resource == "leases" {
            continue;
        }
        let subresource = label(&labels, "subresource");
        let key = if subresource.is_empty() {
            format!("{verb} {resource}")
        } else {
            format!("{verb} {resource}/{subresource}")
        };
        *writes.entry(key).or_insert(0) += value as u64;
    }
    Ok(writes)
}

/// API-server writes of host, member1 and member2, by verb and resource.
#[derive(Clone, Default)]
struct Writes([BTreeMap<String, u64>; 3]);

const CLUSTERS: [&str; 3] = ["host", "member1", "member2"];

impl Writes {
    /// The writes served since `before` (non-zero entries only).
    fn since(&self, before: &Writes) -> Writes {
        Writes(std::array::from_fn(|i| {
            self.0[i]
                .iter()
                .filter_map(|(k, v)| {
                    let d = v.saturating_sub(before.0[i].get(k).copied().unwrap_or(0));
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        }))
    }

    fn totals(&self) -> [u64; 3] {
        std::array::from_fn(|i| self.0[i].values().sum())
    }

    fn json(&self) -> Value {
        Value::Object(
            CLUSTERS
                .iter()
                .zip(&self.0)
                .map(|(c, w)| (c.to_string(), json!(w)))
                .collect(),
        )
    }

    /// "host: PATCH configmaps 2; member1: ..." for the clusters that saw writes.
    fn describe(&self) -> String {
        let parts: Vec<String> = CLUSTERS
            .iter()
            .zip(&self.0)
            .filter(|(_, w)| !w.is_empty())
            .map(|(c, w)| {
                let items: Vec<String> = w.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!("{c}: {}", items.join(", "))
            })
            .collect();
        parts.join("; ")
    }
}

/// Single-object reads (GET, not LIST or WATCH) served by the members, as `Writes` with an empty host.
async fn member_gets(env: &Env) -> Result<Writes> {
    let (m1, m2) = tokio::try_join!(
        api_requests(env.member(0), &["GET"]),
        api_requests(env.member(1), &["GET"])
    )?;
    Ok(Writes([BTreeMap::new(), m1, m2]))
}

async fn all_writes(env: &Env) -> Result<Writes> {
    let (h, m1, m2) = tokio::try_join!(
        api_writes(&env.host),
        api_writes(env.member(0)),
        api_writes(env.member(1))
    )?;
    Ok(Writes([h, m1, m2]))
}

/// One plain HTTP/1.1 GET (the operator's endpoint is local and tiny; no client library needed).
async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let exchange = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let limit = Duration::from_secs(10);
        let mut stream = std::net::TcpStream::connect_timeout(&addr, limit)?;
        stream.set_read_timeout(Some(limit))?;
        stream.set_write_timeout(Some(limit))?;
        stream.write_all(request.as_bytes())?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf)?;
        Ok(buf)
    });
    let buf = exchange
        .await
        .context("the HTTP task failed")?
        .with_context(|| format!("GET http://{addr}{path}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("GET http://{addr}{path}: no HTTP status"))?;
    Ok((code, body.to_string()))
}

// ---------------------------------------------------------------------------
// The operator process

struct Operator {
    child: tokio::process::Child,
    pid: u32,
    metrics: SocketAddr,
    log: PathBuf,
    spawned: Instant,
}

impl Operator {
    async fn start(env: &Env, name: &str) -> Result<Operator> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let metrics = SocketAddr::from(([127, 0, 0, 1], port));
        let log = env.log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).with_context(|| format!("{}", log.display()))?;
        let qps = env.args.qps.get();
        let child = tokio::process::Command::new(&env.kfed)
            .arg("controller")
            .arg("--kubeconfig")
            .arg(&env.kubeconfig)
            .args(["--context", "host", "--metrics-bind-address", &metrics.to_string()])
            .args(["--workers", &env.args.workers.to_string()])
            .args(["--member-qps", &qps.to_string()])
            .args(["--member-burst", &qps.saturating_mul(2).to_string()])
            .env("RUST_LOG", "info,kube=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", env.kfed.display()))?;
        let pid = child.id().context("the operator exited at once")?;
        if let Some(pidfile) = std::env::var_os("KFED_BENCH_PIDFILE") {
            let _ = std::fs::write(pidfile, format!("{pid}\n"));
        }
        progress(format!(
            "started kfed controller pid {pid}, metrics {metrics}, log {}",
            log.display()
        ));
        Ok(Operator {
            child,
            pid,
            metrics,
            log,
            spawned: Instant::now(),
        })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the operator exited ({status}); its log ends with:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// Waits until /readyz answers 200; returns the time since the process started.
    async fn wait_ready(&mut self, limit: Duration) -> Result<Duration> {
        let deadline = Instant::now() + limit;
        loop {
            self.check_alive()?;
            if let Ok((200, _)) = http_get(self.metrics, "/readyz").await {
                return Ok(self.spawned.elapsed());
            }
            if Instant::now() > deadline {
                bail!(
                    "the operator's /readyz did not answer 200 within {limit:?}; its log ends with:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn metrics(&self) -> Result<Prom> {
        let (code, body) = http_get(self.metrics, "/metrics").await?;
        if code != 200 {
            bail!("operator /metrics answered {code}");
        }
        Ok(Prom::parse(&body))
    }

    fn cpu(&self, env: &Env) -> Result<f64> {
        cpu::process_cpu(self.pid, env.clk_tck)
    }

    /// SIGTERM, then wait for a clean exit; returns how long the shutdown took.
    async fn stop(mut self, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(started.elapsed()),
            Ok(Ok(status)) => bail!(
                "the operator exited badly after SIGTERM ({status}); its log ends with:\n{}",
                self.log_tail()
            ),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the operator did not exit within {limit:?} of SIGTERM (killed)")
            }
        }
    }
}

/// Counters of the operator at one moment, for per-phase deltas.
struct OpSnapshot {
    prom: Prom,
    writes: Writes,
    cpu: f64,
    /// CPU seconds of every part of the testbed, the operator and the bench.
    parts: cpu::Sample,
    /// Busy and total jiffies of the whole machine (/proc/stat).
    machine: (u64, u64),
    at: Instant,
}

/// Busy and total jiffies of all CPUs since boot.
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Share of the machine's CPU time that was busy between two readings.
fn busy_share(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0.0;
    }
    after.0.saturating_sub(before.0) as f64 / total as f64
}

async fn snapshot(env: &Env, operator: &Operator) -> Result<OpSnapshot> {
    let (prom, writes) = tokio::try_join!(operator.metrics(), all_writes(env))?;
    let cpu = operator.cpu(env)?;
    Ok(OpSnapshot {
        prom,
        writes,
        cpu,
        parts: env.testbed.sample(cpu, env.clk_tck),
        machine: machine_jiffies(),
        at: Instant::now(),
    })
}

/// "API writes per object: host 5.8, members 2.0" from a phase's metrics.
fn per_object(metrics: &Value, objects: usize) -> String {
    let get = |k: &str| metrics[k].as_f64().unwrap_or(0.0) / objects.max(1) as f64;
    format!(
        "API writes per federated object: host {:.1} (incl. the bench's own), members {:.1}",
        get("api_writes_host"),
        get("api_writes_member1") + get("api_writes_member2")
    )
}

/// The phase's row of the metrics table and of the CPU table (per federated
/// object, when `objects` is not 0), and its figures for the JSON.
fn phase_metrics(report: &mut Report, phase: &str, objects: usize, before: &OpSnapshot, after: &OpSnapshot) -> Value {
    let d = |name: &str, labels: &[(&str, &str)]| after.prom.sum(name, labels) - before.prom.sum(name, labels);
    let ops = "kfed_member_operations_total";
    let creates = d(ops, &[("operation", "create"), ("result", "success")]);
    let updates = d(ops, &[("operation", "update"), ("result", "success")]);
    let deletes = d(ops, &[("operation", "delete"), ("result", "success")]);
    let op_errors = d(ops, &[("result", "error")]);
    let skipped = d("kfed_member_writes_skipped_total", &[]);
    let reconciles = d("kfed_reconciles_total", &[]);
    let reconcile_errors = d("kfed_reconciles_total", &[("result", "error")]);
    let hw = "kfed_host_writes_total";
    let (status, finalizer, event) = (
        d(hw, &[("type", "status")]),
        d(hw, &[("type", "finalizer")]),
        d(hw, &[("type", "event")]),
    );
    let writes = after.writes.since(&before.writes);
    let api = writes.totals();
    let reconcile_seconds = d("kfed_reconcile_duration_seconds_sum", &[]);
    let mean_reconcile_ms = if reconciles > 0.0 {
        reconcile_seconds / reconciles * 1e3
    } else {
        0.0
    };
    let cpu = after.cpu - before.cpu;
    let wall = after.at.duration_since(before.at);
    let busy = busy_share(before.machine, after.machine);
    let parts = after.parts.since(&before.parts);
    if objects > 0 {
        report.cpu_rows.push(cpu_row(phase, objects, &parts));
    }
    report.metric_rows.push(vec![
        phase.to_string(),
        format!("{creates}"),
        format!("{updates}"),
        format!("{deletes}"),
        format!("{skipped}"),
        format!("{op_errors}"),
        format!("{reconciles} ({reconcile_errors})"),
        format!("{mean_reconcile_ms:.0} ms"),
        format!("{status} / {finalizer} / {event}"),
        format!("{} / {} / {}", api[0], api[1], api[2]),
        format!("{:.0} %", busy * 100.0),
    ]);
    json!({
        "member_creates": creates, "member_updates": updates, "member_deletes": deletes,
        "member_op_errors": op_errors, "member_writes_skipped": skipped,
        "reconciles": reconciles, "reconcile_errors": reconcile_errors,
        "host_writes_status": status, "host_writes_finalizer": finalizer, "host_writes_event": event,
        "api_writes_host": api[0], "api_writes_member1": api[1], "api_writes_member2": api[2],
        "api_writes_by_resource": writes.json(), "mean_reconcile_ms": mean_reconcile_ms,
        "operator_cpu_seconds": cpu, "wall_seconds": wall.as_secs_f64(), "machine_cpu_busy": busy,
        "cpu_seconds_by_part": parts.json(),
    })
}

fn cpu_row(phase: &str, objects: usize, parts: &cpu::Sample) -> Vec<String> {
    let mut row = vec![phase.to_string()];
    row.extend(parts.row_per_object(objects));
    row
}

// ---------------------------------------------------------------------------
// Watches: what the members (and the host) hold, and what the bench waits for

#[derive(Default)]
struct ViewState {
    /// name -> signature of the object (e.g. its data.v)
    objects: HashMap<String, String>,
    /// What the bench waits for: name -> signature, or None for "absent".
    want: HashMap<String, Option<String>>,
    met: usize,
    /// When `met` last reached `want.len()`.
    met_at: Option<Instant>,
    synced: bool,
    relist: Option<HashSet<String>>,
    errors: u64,
}

impl ViewState {
    fn set(&mut self, name: &str, sig: Option<String>) {
        let old = match &sig {
            Some(s) => self.objects.insert(name.to_string(), s.clone()),
            None => self.objects.remove(name),
        };
        if let Some(want) = self.want.get(name) {
            let was = old.as_ref() == want.as_ref();
            let is = sig.as_ref() == want.as_ref();
            if was != is {
                if is {
                    self.met += 1;
                    if self.met == self.want.len() {
                        self.met_at = Some(Instant::now());
                    }
                } else {
                    self.met -= 1;
                }
            }
        }
    }

    fn expect(&mut self, want: HashMap<String, Option<String>>) {
        self.met = want.iter().filter(|(n, w)| self.objects.get(*n) == w.as_ref()).count();
        self.met_at = (self.met == want.len()).then(Instant::now);
        self.want = want;
    }

    fn missing(&self, limit: usize) -> Vec<String> {
        let mut names: Vec<String> = self
            .want
            .iter()
            .filter(|(n, w)| self.objects.get(*n) != w.as_ref())
            .map(|(n, w)| {
                format!(
                    "{n} (want {}, has {})",
                    w.as_deref().unwrap_or("absent"),
                    self.objects.get(n).map(String::as_str).unwrap_or("absent")
                )
            })
            .collect();
        names.sort();
        names.truncate(limit);
        names
    }
}

struct View {
    label: String,
    state: Arc<Mutex<ViewState>>,
    task: JoinHandle<()>,
}

impl Drop for View {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl View {
    fn start<K>(label: String, api: Api<K>, config: watcher::Config, sig: fn(&K) -> String) -> View
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    {
        let state = Arc::new(Mutex::new(ViewState::default()));
        let task = {
            let state = state.clone();
            let label = label.clone();
            tokio::spawn(async move {
                let mut events = watcher(api, config).default_backoff().boxed();
                while let Some(event) = events.next().await {
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    match event {
                        Ok(watcher::Event::Apply(o)) => s.set(&o.name_any(), Some(sig(&o))),
                        Ok(watcher::Event::Delete(o)) => s.set(&o.name_any(), None),
                        Ok(watcher::Event::Init) => s.relist = Some(HashSet::new()),
                        Ok(watcher::Event::InitApply(o)) => {
                            let name = o.name_any();
                            if let Some(seen) = s.relist.as_mut() {
                                seen.insert(name.clone());
                            }
                            s.set(&name, Some(sig(&o)));
                        }
                        Ok(watcher::Event::InitDone) => {
                            let seen = s.relist.take().unwrap_or_default();
                            let gone: Vec<String> = s.objects.keys().filter(|k| !seen.contains(*k)).cloned().collect();
                            for name in gone {
                                s.set(&name, None);
                            }
                            s.synced = true;
                        }
                        Err(e) => {
                            s.errors += 1;
                            drop(s);
                            progress(format!("watch {label}: {e} (retrying)"));
                        }
                    }
                }
            })
        };
        View { label, state, task }
    }

    fn lock(&self) -> MutexGuard<'_, ViewState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expect(&self, want: HashMap<String, Option<String>>) {
        self.lock().expect(want);
    }

    fn len(&self) -> usize {
        self.lock().objects.len()
    }
}

struct Views {
    /// ConfigMaps with the managed label in `bench`, per member: name -> data.v
    cms: Vec<View>,
    /// Deployments with the managed label in `bench`, per member: name -> "replicas|image"
    deploys: Vec<View>,
    /// FederatedConfigMaps in `bench` on the host: name -> "generation|observedGeneration|Propagation"
    fcms: View,
    fdeploys: View,
}

fn federated(kind: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", kind),
        &format!("{}s", kind.to_ascii_lowercase()),
    )
}

fn cm_sig(cm: &ConfigMap) -> String {
    cm.data.as_ref().and_then(|d| d.get("v")).cloned().unwrap_or_default()
}

fn deploy_sig(d: &Deployment) -> String {
    let replicas = d.spec.replicas.unwrap_or(-1);
    let image = d
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    format!("{replicas}|{image}")
}

fn federated_sig(o: &DynamicObject) -> String {
    let status = o.data.get("status");
    let observed = status
        .and_then(|s| s.get("observedGeneration"))
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let propagation = status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Propagation"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("-");
    let deleting = if o.metadata.deletion_timestamp.is_some() {
        "|deleting"
    } else {
        ""
    };
    format!(
        "{}|{observed}|{propagation}{deleting}",
        o.metadata.generation.unwrap_or(0)
    )
}

/// True when a federated object's status reflects its current generation and says propagated.
fn settled(sig: &str) -> bool {
    let mut parts = sig.split('|');
    let (Some(generation), Some(observed), Some(propagation), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    generation == observed && propagation == "True"
}

impl Views {
    async fn start(env: &Env) -> Result<Views> {
        let managed = || watcher::Config::default().labels(MANAGED);
        let cms = MEMBERS
            .iter()
            .enumerate()
            .map(|(i, m)| {
                View::start(
                    format!("{m} configmaps"),
                    Api::<ConfigMap>::namespaced(env.member(i).clone(), NS),
                    managed(),
                    cm_sig,
                )
            })
            .collect();
        let deploys = MEMBERS
            .iter()
            .enumerate()
            .map(|(i, m)| {
                View::start(
                    format!("{m} deployments"),
                    Api::<Deployment>::namespaced(env.member(i).clone(), NS),
                    managed(),
                    deploy_sig,
                )
            })
            .collect();
        let fed = |kind: &str| {
            View::start(
                format!("host {kind}s"),
                Api::<DynamicObject>::namespaced_with(env.host.clone(), NS, &federated(kind)),
                watcher::Config::default(),
                federated_sig,
            )
        };
        let views = Views {
            cms,
            deploys,
            fcms: fed("FederatedConfigMap"),
            fdeploys: fed("FederatedDeployment"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        for view in views.all() {
            loop {
                if view.lock().synced {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the watch of {} did not list within 60 s", view.label);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(views)
    }

    fn all(&self) -> Vec<&View> {
        self.cms
            .iter()
            .chain(&self.deploys)
            .chain([&self.fcms, &self.fdeploys])
            .collect()
    }
}

/// Waits until every view holds what it was told to expect; returns the moment
/// the last of them got there (recorded by the watch, not by this poll).
async fn wait_met(views: &[&View], deadline: Instant, what: &str) -> Result<Instant> {
    Ok(wait_met_traced(views, deadline, what).await?.0)
}

/// `wait_met`, plus a timeline: every second, the seconds since the call and how many
/// expectations (summed over the views) are met.
async fn wait_met_traced(views: &[&View], deadline: Instant, what: &str) -> Result<(Instant, Value)> {
    let started = Instant::now();
    let mut next_progress = started + Duration::from_secs(10);
    let mut next_sample = started;
    let mut timeline = Vec::new();
    loop {
        let states: Vec<(usize, usize, Option<Instant>)> = views
            .iter()
            .map(|v| {
                let s = v.lock();
                (s.met, s.want.len(), s.met_at)
            })
            .collect();
        if Instant::now() >= next_sample {
            let met: usize = states.iter().map(|s| s.0).sum();
            timeline.push(json!([started.elapsed().as_secs(), met]));
            next_sample += Duration::from_secs(1);
        }
        if states.iter().all(|(met, want, _)| met == want) {
            let done = states.iter().filter_map(|s| s.2).max().unwrap_or_else(Instant::now);
            let met: usize = states.iter().map(|s| s.0).sum();
            timeline.push(json!([done.saturating_duration_since(started).as_secs_f64(), met]));
            return Ok((done, Value::Array(timeline)));
        }
        let summary = || {
            views
                .iter()
                .zip(&states)
                .map(|(v, (met, want, _))| format!("{} {met}/{want}", v.label))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let now = Instant::now();
        if now >= deadline {
            let missing: Vec<String> = views
                .iter()
                .flat_map(|v| {
                    let s = v.lock();
                    s.missing(3)
                        .into_iter()
                        .map(|m| format!("{}: {m}", v.label))
                        .collect::<Vec<_>>()
                })
                .take(6)
                .collect();
            bail!(
                "timed out after {} waiting for {what}: {}; e.g. {}",
                secs(deadline.saturating_duration_since(started)),
                summary(),
                missing.join("; ")
            );
        }
        if now >= next_progress {
            progress(format!("  {what}: {} after {}", summary(), secs(now - started)));
            next_progress += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn expect_all(view: &View, names: impl Iterator<Item = String>, want: Option<&str>) {
    view.expect(names.map(|n| (n, want.map(str::to_string))).collect());
}

// ---------------------------------------------------------------------------
// Writers

fn limiter(qps: NonZeroU32) -> DefaultDirectRateLimiter {
    let burst = NonZeroU32::new(qps.get().saturating_mul(2)).unwrap_or(qps);
    DefaultDirectRateLimiter::direct(Quota::per_second(qps).allow_burst(burst))
}

struct Written {
    elapsed: Duration,
    retries: u64,
}

/// Runs `op(i)` for i in 0..n with `writers` in flight, each request limited and retried
/// up to 5 times; fails when a write keeps failing or the deadline passes.
async fn write_all<F, Fut>(
    what: &str,
    n: usize,
    writers: usize,
    limiter: Option<&DefaultDirectRateLimiter>,
    deadline: Instant,
    op: F,
) -> Result<Written>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let started = Instant::now();
    let retries = AtomicU64::new(0);
    let (op, retries_ref) = (&op, &retries);
    let work = futures::stream::iter(0..n)
        .map(|i| async move {
            let mut attempt = 0u32;
            loop {
                if let Some(l) = limiter {
                    l.until_ready().await;
                }
                let result = match tokio::time::timeout(REQUEST_TIMEOUT, op(i)).await {
                    Ok(r) => r.map_err(anyhow::Error::from),
                    Err(_) => Err(anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
                };
                match result {
                    Ok(()) => return Ok(()),
                    Err(e) if attempt < 5 => {
                        attempt += 1;
                        if retries_ref.fetch_add(1, Ordering::Relaxed) < 5 {
                            progress(format!("  {what} #{i}: {e:#} (retrying)"));
                        }
                        tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                    }
                    Err(e) => return Err(e.context(format!("{what} #{i} failed 6 times"))),
                }
            }
        })
        .buffer_unordered(writers.max(1))
        .try_for_each(|()| futures::future::ready(Ok(())));
    match tokio::time::timeout_at(deadline.into(), work).await {
        Err(_) => bail!("{what}: the writes did not finish before the deadline"),
        Ok(result) => result?,
    }
    Ok(Written {
        elapsed: started.elapsed(),
        retries: retries.load(Ordering::Relaxed),
    })
}

fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

fn cm_name(i: usize) -> String {
    format!("bench-{i}")
}

fn deploy_name(i: usize) -> String {
    format!("bench-d-{i}")
}

fn placement() -> Value {
    json!({"clusters": [{"name": "member1"}, {"name": "member2"}]})
}

fn federated_configmap(i: usize, v: &str) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
        "metadata": {"name": cm_name(i), "namespace": NS},
        "spec": {"template": {"data": {"v": v}}, "placement": placement()},
    })
}

fn federated_deployment(i: usize) -> Value {
    let name = deploy_name(i);
    json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "app", "image": IMAGE}]},
                    },
                },
            },
            "placement": placement(),
            "overrides": [
                {"clusterName": "member1", "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]},
                {"clusterName": "member2", "clusterOverrides": [{"path": "/spec/template/spec/containers/0/image", "value": IMAGE_MEMBER2}]},
            ],
        },
    })
}

async fn apply_fcm(api: &Api<DynamicObject>, i: usize, v: &str) -> Result<(), kube::Error> {
    api.patch(&cm_name(i), &apply_params(), &Patch::Apply(federated_configmap(i, v)))
        .await
        .map(|_| ())
}

async fn delete_ignoring_absent(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------
// The steps

impl Env {
    fn deadline(&self) -> Instant {
        Instant::now() + self.wave_timeout
    }

    fn fcm_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.host.clone(), NS, &federated("FederatedConfigMap"))
    }

    fn fdeploy_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.host.clone(), NS, &federated("FederatedDeployment"))
    }

    /// The API in the host, members joined, the namespace `bench` federated.
    async fn setup(&self) -> Result<()> {
        let long = Duration::from_secs(180);
        progress("installing the CRDs and the admission policy into the host");
        let crds = repo().join("config/crd/bases");
        let crds = crds.to_string_lossy();
        self.kubectl(
            "host",
            &["apply", "--server-side", "--force-conflicts", "-f", &crds],
            long,
        )
        .await?;
        self.kubectl(
            "host",
            &["wait", "--for=condition=Established", "--timeout=120s", "-f", &crds],
            long,
        )
        .await?;
        let admission = repo().join("config/admission");
        self.kubectl(
            "host",
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-k",
                &admission.to_string_lossy(),
            ],
            long,
        )
        .await?;
        for m in MEMBERS {
            progress(format!("kfed join {m}"));
            let out = tokio::time::timeout(
                long,
                tokio::process::Command::new(&self.kfed)
                    .args([
                        "join",
                        m,
                        "--cluster-context",
                        m,
                        "--host-cluster-context",
                        "host",
                        "--kubeconfig",
                    ])
                    .arg(&self.kubeconfig)
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .with_context(|| format!("kfed join {m} timed out"))??;
            if !out.status.success() {
                bail!("kfed join {m} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
        }
        progress(format!("namespace {NS} and its FederatedNamespace"));
        let namespaces: Api<Namespace> = Api::all(self.host.clone());
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
        namespaces.patch(NS, &apply_params(), &Patch::Apply(ns)).await?;
        let fed_ns: Api<DynamicObject> = Api::namespaced_with(self.host.clone(), NS, &federated("FederatedNamespace"));
        let body = json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
            "metadata": {"name": NS, "namespace": NS},
            "spec": {"placement": placement()},
        });
        fed_ns.patch(NS, &apply_params(), &Patch::Apply(body)).await?;
        Ok(())
    }

    /// Waits until the operator has created the namespace `bench` in both members.
    async fn wait_federated_namespace(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        for (i, m) in MEMBERS.iter().enumerate() {
            let api: Api<Namespace> = Api::all(self.member(i).clone());
            loop {
                let ns = tokio::time::timeout(REQUEST_TIMEOUT, api.get_opt(NS)).await;
                if let Ok(Ok(Some(ns))) = ns
                    && ns.metadata.deletion_timestamp.is_none()
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("namespace {NS} did not appear in {m} within 120 s (is the FederatedNamespace propagated?)");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        progress(format!("namespace {NS} exists in both members"));
        Ok(())
    }

    /// Federated objects left in `bench` by an earlier run are deleted first.
    async fn remove_leftovers(&self, views: &Views) -> Result<()> {
        let fcms: Vec<String> = views.fcms.lock().objects.keys().cloned().collect();
        let fdeploys: Vec<String> = views.fdeploys.lock().objects.keys().cloned().collect();
        let stray = views.cms.iter().chain(&views.deploys).map(View::len).sum::<usize>();
        if fcms.is_empty() && fdeploys.is_empty() && stray == 0 {
            return Ok(());
        }
        progress(format!(
            "removing leftovers of an earlier run: {} FederatedConfigMaps, {} FederatedDeployments",
            fcms.len(),
            fdeploys.len()
        ));
        let deadline = self.deadline();
        for (api, names, view) in [
            (self.fcm_api(), &fcms, &views.fcms),
            (self.fdeploy_api(), &fdeploys, &views.fdeploys),
        ] {
            expect_all(view, names.iter().cloned(), None);
            write_all("delete leftover", names.len(), self.args.writers, None, deadline, |i| {
                let api = api.clone();
                let name = names[i].clone();
                async move { delete_ignoring_absent(&api, &name).await }
            })
            .await?;
        }
        wait_met(&[&views.fcms, &views.fdeploys], deadline, "leftovers to go").await?;
        for view in views.cms.iter().chain(&views.deploys) {
            let names: Vec<String> = view.lock().objects.keys().cloned().collect();
            expect_all(view, names.into_iter(), None);
        }
        let members: Vec<&View> = views.cms.iter().chain(&views.deploys).collect();
        wait_met(&members, deadline, "leftover member objects to go").await?;
        Ok(())
    }

    /// 1. The ceiling: N ConfigMaps server-side applied straight into each member.
    async fn ceiling(&self, report: &mut Report) -> Result<()> {
        let n = self.args.objects;
        progress(format!("ceiling: recreating namespace {CEILING_NS} in both members"));
        for m in MEMBERS {
            self.kubectl(
                m,
                &[
                    "delete",
                    "namespace",
                    CEILING_NS,
                    "--ignore-not-found",
                    "--wait=true",
                    "--timeout=300s",
                ],
                Duration::from_secs(320),
            )
            .await?;
            self.kubectl(m, &["create", "namespace", CEILING_NS], Duration::from_secs(60))
                .await?;
        }
        progress(format!(
            "ceiling: {n} ConfigMaps into each member, {} writers and {} QPS per member",
            self.args.writers, self.args.qps
        ));
        let deadline = self.deadline();
        let before = all_writes(self).await?;
        let started = Instant::now();
        let machine_before = machine_jiffies();
        let parts_before = self.testbed.sample(0.0, self.clk_tck);
        let per_member = MEMBERS.iter().enumerate().map(|(m, name)| {
            let api: Api<ConfigMap> = Api::namespaced(self.member(m).clone(), CEILING_NS);
            async move {
                let limit = limiter(self.args.qps);
                write_all(&format!("ceiling write to {name}"), n, self.args.writers, Some(&limit), deadline, |i| {
                    let api = api.clone();
                    async move {
                        // What kfed writes: the managed-style label, the hash annotation and the data.
                        let cm = json!({
                            "apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {
                                "name": format!("ceiling-{i}"), "namespace": CEILING_NS,
                                "labels": {"kfed-bench/ceiling": "true"},
                                "annotations": {"kfed.io/desired-hash": format!("{:032x}", i as u128 * 0x9e3779b97f4a7c15)},
                            },
                            "data": {"v": "0"},
                        });
                        api.patch(&format!("ceiling-{i}"), &apply_params(), &Patch::Apply(cm))
                            .await
                            .map(|_| ())
                    }
                })
                .await
            }
        });
        let results = futures::future::try_join_all(per_member).await?;
        let elapsed = started.elapsed();
        let busy = busy_share(machine_before, machine_jiffies());
        let parts = self.testbed.sample(0.0, self.clk_tck).since(&parts_before);
        report.cpu_rows.push(cpu_row("ceiling", n, &parts));
        let after = all_writes(self).await?;
        let objects_per_s = rate(2 * n, elapsed);
        let per: Vec<String> = MEMBERS
            .iter()
            .zip(&results)
            .map(|(m, w)| format!("{m} {:.0}/s", rate(n, w.elapsed)))
            .collect();
        let retries: u64 = results.iter().map(|w| w.retries).sum();
        report.set(
            "ceiling",
            json!({
                "objects": 2 * n, "seconds": elapsed.as_secs_f64(), "objects_per_second": objects_per_s,
                "per_member_seconds": results.iter().map(|w| w.elapsed.as_secs_f64()).collect::<Vec<_>>(),
                "retries": retries, "machine_cpu_busy": busy, "cpu_seconds_by_part": parts.json(),
                "api_writes_by_resource": after.since(&before).json(),
            }),
        );
        report.row(
            "1. ceiling: direct SSA of ConfigMaps into the members",
            format!(
                "{} objects in {} = **{objects_per_s:.0} objects/s**",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "{} writers and {} QPS (burst {}) per member, both members in parallel ({}); {retries} retries; machine CPU {:.0} % busy",
                self.args.writers,
                self.args.qps,
                self.args.qps.get().saturating_mul(2),
                per.join(", "),
                busy * 100.0
            ),
        );
        report.json.insert("ceiling_rate".into(), json!(objects_per_s));
        progress(format!("ceiling: deleting namespace {CEILING_NS}"));
        for m in MEMBERS {
            if let Err(e) = self
                .kubectl(
                    m,
                    &["delete", "namespace", CEILING_NS, "--wait=true", "--timeout=300s"],
                    Duration::from_secs(320),
                )
                .await
            {
                report.notes.push(format!("deleting {CEILING_NS} in {m} failed: {e:#}"));
            }
        }
        Ok(())
    }

    fn ceiling_rate(report: &Report) -> f64 {
        report.json.get("ceiling_rate").and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// 2. The create wave: N FederatedConfigMaps applied to the host as fast as it takes them.
    async fn create_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let n = self.args.objects;
        progress(format!(
            "create wave: {n} FederatedConfigMaps, {} writers",
            self.args.writers
        ));
        for view in &views.cms {
            expect_all(view, (0..n).map(cm_name), Some("0"));
        }
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fcm_api();
        let started = Instant::now();
        let cms: Vec<&View> = views.cms.iter().collect();
        // The watch is followed while the writes go on, for the timeline.
        let (written, (done, timeline)) = tokio::try_join!(
            write_all("create FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
                let api = api.clone();
                async move { apply_fcm(&api, i, "0").await }
            }),
            wait_met_traced(&cms, deadline, "create wave member objects"),
        )?;
        let elapsed = done.saturating_duration_since(started);
        // Status writes trail the member writes; the metrics cover both.
        self.wait_settled(views, operator, deadline).await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "create wave", n, &before, &after);
        let objects_per_s = rate(2 * n, elapsed);
        let ratio = objects_per_s / Self::ceiling_rate(report).max(1e-9);
        report.set(
            "create_wave",
            json!({
                "objects": n, "member_objects": 2 * n, "seconds": elapsed.as_secs_f64(),
                "member_objects_per_second": objects_per_s, "ratio_to_ceiling": ratio,
                "host_accept_seconds": written.elapsed.as_secs_f64(), "host_write_retries": written.retries,
                "all_status_settled_seconds": after.at.duration_since(started).as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
                "timeline_seconds_vs_member_objects": timeline,
            }),
        );
        report.row(
            "2. create wave (FederatedConfigMap)",
            format!(
                "{} member objects in {} = **{objects_per_s:.0} objects/s**, **{ratio:.2} × ceiling**",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "host accepted {n} in {} ({:.0}/s); every status settled after {}; operator CPU {:.1} s; {}",
                secs(written.elapsed),
                rate(n, written.elapsed),
                secs(after.at.duration_since(started)),
                after.cpu - before.cpu,
                per_object(&report.json.get("create_wave").unwrap_or(&Value::Null)["metrics"], n)
            ),
        );
        Ok(())
    }

    /// Waits until every federated object's status reflects its generation and the
    /// operator runs no reconcile (polls the watch caches and the operator's metrics).
    async fn wait_settled(&self, views: &Views, operator: &Operator, deadline: Instant) -> Result<()> {
        loop {
            let unsettled: usize = [&views.fcms, &views.fdeploys]
                .iter()
                .map(|v| v.lock().objects.values().filter(|s| !settled(s)).count())
                .sum();
            let in_flight = operator.metrics().await?.sum("kfed_reconciles_in_flight", &[]);
            if unsettled == 0 && in_flight == 0.0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{unsettled} federated objects without a current Propagation=True status, {in_flight} reconciles in flight at the deadline"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// 3. Latency of single edits, one after another.
    async fn latency(&self, report: &mut Report, views: &Views) -> Result<()> {
        let (n, edits) = (self.args.objects, self.args.latency_edits);
        if n == 0 || edits == 0 {
            return Ok(());
        }
        progress(format!("latency: {edits} single edits"));
        let api = self.fcm_api();
        let mut latencies = Vec::with_capacity(edits);
        let phase_start = Instant::now();
        for k in 0..edits {
            let i = rand::random_range(0..n);
            let value = format!("l{k}");
            for view in &views.cms {
                view.expect(HashMap::from([(cm_name(i), Some(value.clone()))]));
            }
            let started = Instant::now();
            tokio::time::timeout(REQUEST_TIMEOUT, apply_fcm(&api, i, &value))
                .await
                .with_context(|| format!("latency edit {k}: the host did not answer"))?
                .with_context(|| format!("latency edit {k}"))?;
            let cms: Vec<&View> = views.cms.iter().collect();
            let done = wait_met(
                &cms,
                started + Duration::from_secs(30),
                &format!("edit {k} of {}", cm_name(i)),
            )
            .await?;
            latencies.push(done.saturating_duration_since(started));
            if (k + 1) % 50 == 0 {
                progress(format!("  {} edits done", k + 1));
            }
        }
        latencies.sort();
        let pick = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
        let (p50, p99, max) = (pick(0.50), pick(0.99), latencies[latencies.len() - 1]);
        let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
        report.set(
            "latency",
            json!({
                "edits": edits, "p50_ms": p50.as_secs_f64() * 1e3, "p99_ms": p99.as_secs_f64() * 1e3,
                "max_ms": max.as_secs_f64() * 1e3, "mean_ms": mean.as_secs_f64() * 1e3,
                "min_ms": latencies[0].as_secs_f64() * 1e3,
            }),
        );
        report.row(
            "3. latency: one template edit until both members show it",
            format!("p50 **{}**, p99 **{}**, max {}", ms(p50), ms(p99), ms(max)),
            format!(
                "{edits} edits of random objects, sequential (min {}, mean {}, {} in total)",
                ms(latencies[0]),
                ms(mean),
                secs(phase_start.elapsed())
            ),
        );
        Ok(())
    }

    /// 4. The update wave: every template changed at once.
    async fn update_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let n = self.args.objects;
        progress(format!(
            "update wave: {n} template edits, {} writers",
            self.args.writers
        ));
        for view in &views.cms {
            expect_all(view, (0..n).map(cm_name), Some("u1"));
        }
        self.wait_settled(views, operator, self.deadline()).await?;
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fcm_api();
        let started = Instant::now();
        let cms: Vec<&View> = views.cms.iter().collect();
        // The watch is followed while the writes go on, for the timeline.
        let (written, (done, timeline)) = tokio::try_join!(
            write_all("update FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
                let api = api.clone();
                async move { apply_fcm(&api, i, "u1").await }
            }),
            wait_met_traced(&cms, deadline, "update wave member objects"),
        )?;
        let elapsed = done.saturating_duration_since(started);
        self.wait_settled(views, operator, deadline).await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "update wave", n, &before, &after);
        let objects_per_s = rate(2 * n, elapsed);
        let ratio = objects_per_s / Self::ceiling_rate(report).max(1e-9);
        report.set(
            "update_wave",
            json!({
                "objects": n, "seconds": elapsed.as_secs_f64(), "member_objects_per_second": objects_per_s,
                "ratio_to_ceiling": ratio, "host_accept_seconds": written.elapsed.as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
                "timeline_seconds_vs_member_objects": timeline,
            }),
        );
        report.row(
            "4. update wave (every template at once)",
            format!(
                "{} member objects in {} = **{objects_per_s:.0} objects/s**, {ratio:.2} × ceiling",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "host accepted {n} edits in {}; operator CPU {:.1} s; {}",
                secs(written.elapsed),
                after.cpu - before.cpu,
                per_object(&report.json.get("update_wave").unwrap_or(&Value::Null)["metrics"], n)
            ),
        );
        Ok(())
    }

    /// The FederatedDeployment wave: D objects with one override per cluster.
    async fn deployment_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let d = self.args.deployments;
        if d == 0 {
            return Ok(());
        }
        progress(format!(
            "deployment wave: {d} FederatedDeployments with per-cluster overrides"
        ));
        let wants = [format!("2|{IMAGE}"), format!("1|{IMAGE_MEMBER2}")];
        for (view, want) in views.deploys.iter().zip(&wants) {
            expect_all(view, (0..d).map(deploy_name), Some(want));
        }
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fdeploy_api();
        let started = Instant::now();
        let written = write_all(
            "create FederatedDeployment",
            d,
            self.args.writers,
            None,
            deadline,
            |i| {
                let api = api.clone();
                async move {
                    api.patch(&deploy_name(i), &apply_params(), &Patch::Apply(federated_deployment(i)))
                        .await
                        .map(|_| ())
                }
            },
        )
        .await?;
        let deploys: Vec<&View> = views.deploys.iter().collect();
        let done = wait_met(&deploys, deadline, "deployment wave member objects").await?;
        let elapsed = done.saturating_duration_since(started);
        self.wait_settled(views, operator, deadline).await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "deployment wave", d, &before, &after);
        let objects_per_s = rate(2 * d, elapsed);
        report.set(
            "deployment_wave",
            json!({
                "objects": d, "seconds": elapsed.as_secs_f64(), "member_objects_per_second": objects_per_s,
                "host_accept_seconds": written.elapsed.as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
            }),
        );
        report.row(
            "FederatedDeployment wave (override per cluster)",
            format!(
                "{} member Deployments in {} = **{objects_per_s:.0} objects/s**",
                2 * d,
                secs(elapsed)
            ),
            format!(
                "member1 replicas 2, member2 image tag; host accepted {d} in {}; operator CPU {:.1} s",
                secs(written.elapsed),
                after.cpu - before.cpu
            ),
        );
        Ok(())
    }

    /// 5. A converged federation writes nothing.
    async fn steady_state(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let window = Duration::from_secs(self.args.steady_seconds);
        self.wait_settled(views, operator, self.deadline()).await?;
        progress(format!("steady state: counting writes for {}", secs(window)));
        let before = snapshot(self, operator).await?;
        tokio::time::sleep(window).await;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "steady state", 0, &before, &after);
        let delta = after.writes.since(&before.writes);
        let writes = delta.totals();
        let cpu = after.cpu - before.cpu;
        let total: u64 = writes.iter().sum();
        report.set(
            "steady_state",
            json!({
                "seconds": window.as_secs_f64(), "writes_host": writes[0], "writes_member1": writes[1],
                "writes_member2": writes[2], "writes_by_resource": delta.json(), "operator_cpu_seconds": cpu,
                "metrics": metrics,
            }),
        );
        report.row(
            &format!("5. steady state ({})", secs(window)),
            format!(
                "**{total} writes** (host {}, member1 {}, member2 {}); operator CPU **{cpu:.2} s**",
                writes[0], writes[1], writes[2]
            ),
            format!(
                "{} FederatedConfigMaps + {} FederatedDeployments converged",
                self.args.objects, self.args.deployments
            ),
        );
        report.check(
            "steady state: zero writes",
            total == 0,
            if total == 0 {
                "host 0, member1 0, member2 0".into()
            } else {
                delta.describe()
            },
        );
        Ok(())
    }

    /// 6. Restart: SIGTERM, start again, ready, and no writes.
    async fn restart(&self, report: &mut Report, operator: Operator) -> Result<Operator> {
        progress("restart: SIGTERM to the operator");
        let shutdown = operator.stop(Duration::from_secs(30)).await?;
        let before = all_writes(self).await?;
        let gets_before = member_gets(self).await?;
        let mut operator = Operator::start(self, "operator-2").await?;
        let ready = operator.wait_ready(Duration::from_secs(120)).await?;
        progress(format!("  ready after {}", secs(ready)));
        // Every object is reconciled once after the start (and found in sync).
        let objects = (self.args.objects + self.args.deployments + 1) as f64;
        let window = Duration::from_secs(self.args.restart_seconds);
        let mut verified = None;
        while operator.spawned.elapsed() < window {
            operator.check_alive()?;
            if verified.is_none() {
                let m = operator.metrics().await?;
                if m.sum("kfed_reconciles_total", &[]) >= objects && m.sum("kfed_reconciles_in_flight", &[]) == 0.0 {
                    verified = Some(operator.spawned.elapsed());
                    progress(format!(
                        "  every object reconciled after {}",
                        secs(operator.spawned.elapsed())
                    ));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = all_writes(self).await?;
        let gets = member_gets(self).await?.since(&gets_before);
        // Only the objects kfed federates; the probes' /healthz is not a resource.
        let object_gets: u64 = gets
            .0
            .iter()
            .flat_map(|m| m.iter())
            .filter(|(k, _)| k.ends_with(" configmaps") || k.ends_with(" deployments"))
            .map(|(_, v)| v)
            .sum();
        let delta = after.since(&before);
        let writes = delta.totals();
        let total: u64 = writes.iter().sum();
        let cpu = operator.cpu(self)?;
        report.set(
            "restart",
            json!({
                "shutdown_seconds": shutdown.as_secs_f64(), "ready_seconds": ready.as_secs_f64(),
                "all_reconciled_seconds": verified.map(|d| d.as_secs_f64()),
                "window_seconds": window.as_secs_f64(), "writes_host": writes[0], "writes_member1": writes[1],
                "writes_member2": writes[2], "writes_by_resource": delta.json(), "operator_cpu_seconds": cpu,
                "member_object_gets": object_gets, "member_gets_by_resource": gets.json(),
            }),
        );
        report.row(
            "6. restart (SIGTERM, start again)",
            format!(
                "/readyz 200 after **{}**; **{total} writes** in the {} after the start",
                secs(ready),
                secs(window)
            ),
            format!(
                "shutdown took {}; all {} objects reconciled after {}; operator CPU {cpu:.2} s in the window; {object_gets} single-object GETs of ConfigMaps/Deployments in the members (0 when the caches are used)",
                secs(shutdown),
                objects,
                verified.map(secs).unwrap_or_else(|| "(not within the window)".into())
            ),
        );
        report.check(
            "restart: zero writes",
            total == 0,
            if total == 0 {
                "host 0, member1 0, member2 0".into()
            } else {
                delta.describe()
            },
        );
        Ok(operator)
    }

    /// Phase 8, the backlog: N FederatedConfigMaps created while the operator is stopped
    /// (after an outage, or when kfed takes over KubeFed's objects), then the operator
    /// starts. The host is idle meanwhile, so this is kfed's own propagation rate,
    /// comparable with the ceiling: both are limited by the members alone.
    async fn backlog(&self, report: &mut Report, views: &Views, operator: Operator) -> Result<Operator> {
        let n = self.args.objects;
        progress(format!(
            "backlog: {n} FederatedConfigMaps created while the operator is stopped"
        ));
        operator.stop(Duration::from_secs(30)).await?;
        let api = self.fcm_api();
        let written = write_all(
            "create FederatedConfigMap",
            n,
            self.args.writers,
            None,
            self.deadline(),
            |i| {
                let api = api.clone();
                async move { apply_fcm(&api, i, "b").await }
            },
        )
        .await?;
        for view in &views.cms {
            expect_all(view, (0..n).map(cm_name), Some("b"));
        }
        // A fresh process: its counters and CPU start from zero.
        let before = OpSnapshot {
            prom: Prom::parse(""),
            writes: all_writes(self).await?,
            cpu: 0.0,
            parts: self.testbed.sample(0.0, self.clk_tck),
            machine: machine_jiffies(),
            at: Instant::now(),
        };
        let mut operator = Operator::start(self, "operator-3").await?;
        let deadline = self.deadline();
        let cms: Vec<&View> = views.cms.iter().collect();
        let ready = operator.wait_ready(Duration::from_secs(60)).await?;
        let (done, timeline) = wait_met_traced(&cms, deadline, "backlog member objects").await?;
        let elapsed = done.saturating_duration_since(operator.spawned);
        self.wait_settled(views, &operator, deadline).await?;
        let after = snapshot(self, &operator).await?;
        let metrics = phase_metrics(report, "backlog", n, &before, &after);
        let objects_per_s = rate(2 * n, elapsed);
        let ratio = objects_per_s / Self::ceiling_rate(report).max(1e-9);
        report.set(
            "backlog",
            json!({
                "objects": n, "member_objects": 2 * n, "seconds_from_start": elapsed.as_secs_f64(),
                "ready_seconds": ready.as_secs_f64(), "member_objects_per_second": objects_per_s,
                "ratio_to_ceiling": ratio, "host_create_seconds": written.elapsed.as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
                "timeline_seconds_vs_member_objects": timeline,
            }),
        );
        report.row(
            "8. backlog (operator started over N new objects)",
            format!(
                "{} member objects in {} = **{objects_per_s:.0} objects/s**, **{ratio:.2} × ceiling**",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "timed from the operator's start (ready after {}); the host took the {n} creates in {} before; operator CPU {:.1} s; {}",
                secs(ready),
                secs(written.elapsed),
                after.cpu - before.cpu,
                per_object(&report.json.get("backlog").unwrap_or(&Value::Null)["metrics"], n)
            ),
        );
        progress("backlog: deleting the objects again");
        for view in views.cms.iter() {
            expect_all(view, (0..n).map(cm_name), None);
        }
        expect_all(&views.fcms, (0..n).map(cm_name), None);
        let deadline = self.deadline();
        write_all("delete FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
            let api = api.clone();
            async move { delete_ignoring_absent(&api, &cm_name(i)).await }
        })
        .await?;
        let mut all: Vec<&View> = views.cms.iter().collect();
        all.push(&views.fcms);
        wait_met(&all, deadline, "backlog objects to be deleted").await?;
        operator.check_alive()?;
        Ok(operator)
    }

    /// 7. The delete wave: every FederatedConfigMap deleted; then the FederatedDeployments.
    async fn delete_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let n = self.args.objects;
        progress(format!("delete wave: {n} FederatedConfigMaps"));
        for view in views.cms.iter() {
            expect_all(view, (0..n).map(cm_name), None);
        }
        expect_all(&views.fcms, (0..n).map(cm_name), None);
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fcm_api();
        let started = Instant::now();
        let written = write_all("delete FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
            let api = api.clone();
            async move { delete_ignoring_absent(&api, &cm_name(i)).await }
        })
        .await?;
        let cms: Vec<&View> = views.cms.iter().collect();
        let members_done = wait_met(&cms, deadline, "member objects to be deleted").await?;
        let host_done = wait_met(&[&views.fcms], deadline, "federated objects to be gone from the host").await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "delete wave", n, &before, &after);
        let (members_s, host_s) = (
            members_done.saturating_duration_since(started),
            host_done.saturating_duration_since(started),
        );
        report.set(
            "delete_wave",
            json!({
                "objects": n, "members_empty_seconds": members_s.as_secs_f64(), "host_empty_seconds": host_s.as_secs_f64(),
                "host_accept_seconds": written.elapsed.as_secs_f64(),
                "member_objects_per_second": rate(2 * n, members_s),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
            }),
        );
        report.row(
            "7. delete wave",
            format!(
                "members empty after **{}** ({:.0} objects/s), host empty after **{}**",
                secs(members_s),
                rate(2 * n, members_s),
                secs(host_s)
            ),
            format!(
                "host accepted {n} deletes in {}; finalizers released; operator CPU {:.1} s",
                secs(written.elapsed),
                after.cpu - before.cpu
            ),
        );

        let d = self.args.deployments;
        if d > 0 {
            progress(format!("deleting the {d} FederatedDeployments"));
            for view in views.deploys.iter() {
                expect_all(view, (0..d).map(deploy_name), None);
            }
            expect_all(&views.fdeploys, (0..d).map(deploy_name), None);
            let deadline = self.deadline();
            let api = self.fdeploy_api();
            let started = Instant::now();
            write_all(
                "delete FederatedDeployment",
                d,
                self.args.writers,
                None,
                deadline,
                |i| {
                    let api = api.clone();
                    async move { delete_ignoring_absent(&api, &deploy_name(i)).await }
                },
            )
            .await?;
            let mut all: Vec<&View> = views.deploys.iter().collect();
            all.push(&views.fdeploys);
            let done = wait_met(&all, deadline, "FederatedDeployments to be deleted").await?;
            report.row(
                "FederatedDeployment delete",
                format!(
                    "members and host empty after {}",
                    secs(done.saturating_duration_since(started))
                ),
                String::new(),
            );
        }
        Ok(())
    }
}
