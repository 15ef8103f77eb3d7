//! The operator process: `kfed controller` started, probed (/readyz, /metrics),
//! measured (CPU, memory) and stopped.

use crate::prom::Prom;
use crate::{Env, cpu, progress};
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

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

pub(crate) struct Operator {
    child: tokio::process::Child,
    pub(crate) pid: u32,
    metrics: SocketAddr,
    log: PathBuf,
    pub(crate) spawned: Instant,
}

impl Operator {
    pub(crate) async fn start(env: &Env, name: &str) -> Result<Operator> {
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

    pub(crate) fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the operator exited ({status}); its log ends with:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// Waits until /readyz answers 200; returns the time since the process started.
    pub(crate) async fn wait_ready(&mut self, limit: Duration) -> Result<Duration> {
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

    pub(crate) async fn metrics(&self) -> Result<Prom> {
        let (code, body) = http_get(self.metrics, "/metrics").await?;
        if code != 200 {
            bail!("operator /metrics answered {code}");
        }
        Ok(Prom::parse(&body))
    }

    pub(crate) fn cpu(&self, env: &Env) -> Result<f64> {
        cpu::process_cpu(self.pid, env.clk_tck)
    }

    /// SIGTERM, then wait for a clean exit; returns how long the shutdown took.
    pub(crate) async fn stop(mut self, limit: Duration) -> Result<Duration> {
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
