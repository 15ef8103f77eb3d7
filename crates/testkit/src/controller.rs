//! A `kfed controller` process: started, probed (/readyz, /metrics), stopped or killed.

use crate::{Metrics, Testbed, block_on, scratch_dir};
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How a [`Controller`] is run: `<kfed> controller --context <context> --kubeconfig
/// <kubeconfig> <args...>`, stdout and stderr to `log`.
#[derive(Clone, Debug)]
pub struct ControllerSpec {
    pub kfed: PathBuf,
    pub kubeconfig: PathBuf,
    pub context: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    /// Where it serves /readyz and /metrics, when known (a fixed `--metrics-bind-address`).
    pub metrics: Option<SocketAddr>,
}

/// A `kfed controller` process, killed when dropped.
pub struct Controller {
    child: Child,
    pid: u32,
    pub log: PathBuf,
    metrics: Option<SocketAddr>,
    spawned: Instant,
}

/// Flags the tests' controllers get unless `extra` sets them: fast health checks and a
/// free metrics port.
const TEST_DEFAULTS: [[&str; 2]; 4] = [
    ["--cluster-health-period", "1s"],
    ["--cluster-failure-threshold", "2"],
    // A stopped member refuses at once; a loaded one may take a while.
    ["--cluster-health-timeout", "5s"],
    ["--metrics-bind-address", "127.0.0.1:0"],
];

impl Controller {
    /// Starts a test's controller against the testbed host, as the operator's own
    /// least-privilege identity (never admin, as in a real install), with fast health
    /// checks plus `extra` flags; its log is `<scratch>/<name>-controller.log`.
    pub fn start(tb: &Testbed, name: &str, extra: &[&str]) -> Controller {
        let args: Vec<String> = extra
            .iter()
            .copied()
            .chain(
                TEST_DEFAULTS
                    .into_iter()
                    .filter(|[flag, _]| !extra.contains(flag))
                    .flatten(),
            )
            .map(str::to_string)
            .collect();
        let metrics = args
            .iter()
            .position(|a| a == "--metrics-bind-address")
            .and_then(|i| args.get(i + 1)?.parse::<SocketAddr>().ok())
            .filter(|a| a.port() != 0);
        let spec = ControllerSpec {
            kfed: tb.kfed.clone(),
            kubeconfig: tb.operator_kubeconfig(),
            context: "host".into(),
            args,
            env: vec![("RUST_LOG".into(), "info,kube=warn".into())],
            log: scratch_dir().join(format!("{name}-controller.log")),
            metrics,
        };
        Controller::spawn(&spec).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts a controller as `spec` says.
    pub fn spawn(spec: &ControllerSpec) -> Result<Controller> {
        let file = std::fs::File::create(&spec.log).with_context(|| format!("{}", spec.log.display()))?;
        let child = Command::new(&spec.kfed)
            .args(["controller", "--context", &spec.context, "--kubeconfig"])
            .arg(&spec.kubeconfig)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {} controller", spec.kfed.display()))?;
        Ok(Controller {
            pid: child.id(),
            child,
            log: spec.log.clone(),
            metrics: spec.metrics,
            spawned: Instant::now(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// When the process was started.
    pub fn spawned(&self) -> Instant {
        self.spawned
    }

    /// Whether the process has ended (on its own: a leader that lost its Lease exits).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Fails when the process has ended.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "kfed controller (pid {}) exited ({status}); its log ends with:\n{}",
                self.pid,
                self.log_tail(15)
            );
        }
        Ok(())
    }

    fn metrics_addr(&self) -> Result<SocketAddr> {
        self.metrics
            .context("the controller's metrics address is not known (started without a fixed --metrics-bind-address)")
    }

    /// Waits until /readyz answers 200; returns the time since the process started.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<Duration> {
        let addr = self.metrics_addr()?;
        let deadline = Instant::now() + limit;
        loop {
            self.check_alive()?;
            if let Ok((200, _)) = http_get(addr, "/readyz").await {
                return Ok(self.spawned.elapsed());
            }
            if Instant::now() > deadline {
                bail!(
                    "the controller's /readyz did not answer 200 within {limit:?}; its log ends with:\n{}",
                    self.log_tail(15)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its own /metrics.
    pub async fn metrics(&self) -> Result<Metrics> {
        let (code, body) = http_get(self.metrics_addr()?, "/metrics").await?;
        if code != 200 {
            bail!("the controller's /metrics answered {code}");
        }
        Ok(Metrics::parse(&body))
    }

    /// SIGTERM (unless it has ended already), then waits up to `limit` for its exit, which
    /// must be a success; returns how long that took. Killed when the limit passes.
    pub async fn stop_within(mut self, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        if self.child.try_wait()?.is_none() {
            // Not reaped yet, so the pid is still this process's (if only as a zombie).
            let status = tokio::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status()
                .await?;
            if !status.success() && self.child.try_wait()?.is_none() {
                bail!("kill -TERM {} failed", self.pid);
            }
        }
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if started.elapsed() >= limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "the controller did not exit within {limit:?} of SIGTERM (killed); its log ends with:\n{}",
                    self.log_tail(15)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        check_exit(status, || self.log_tail(15))?;
        Ok(started.elapsed())
    }

    /// Stops the controller with SIGTERM and fails the test if it panicked or exited badly
    /// (or did not exit within 60 s).
    pub fn stop(self) {
        let log = self.log.clone();
        let stopped = block_on(self.stop_within(Duration::from_secs(60)));
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!log.contains("panicked"), "the controller panicked:\n{log}");
        if let Err(e) = stopped {
            panic!("the controller did not shut down cleanly ({e:#}):\n{log}");
        }
    }

    /// Kills the controller with SIGKILL, as a crash or an OOM kill would: no graceful
    /// shutdown, no Lease release. Returns once the process is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }
}

fn check_exit(status: ExitStatus, log_tail: impl FnOnce() -> String) -> Result<()> {
    if !status.success() {
        bail!(
            "the controller exited badly after SIGTERM ({status}); its log ends with:\n{}",
            log_tail()
        );
    }
    Ok(())
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 GET (an operator's endpoint is local and tiny; no client library
/// needed), with 10 s limits; returns the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
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
