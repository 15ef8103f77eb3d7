//! The running testbed: kubectl and a `kube::Client` per context, the launcher, the
//! member contexts and their join.

use crate::{block_on, kfed_bin, or_fail, repo_root};
use anyhow::{Context, Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

/// A testbed (host and members, each a context of one kubeconfig) and the kfed binary
/// run against it.
pub struct Testbed {
    pub kubeconfig: PathBuf,
    /// `kfed` as `kfed join` and `kfed controller` run it.
    pub kfed: PathBuf,
}

/// Timeouts of a [`Testbed::client_with`] client; `None` keeps kube's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientOptions {
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
}

impl Testbed {
    /// The running testbed, found through `KFED_TESTBED_KUBECONFIG`, else
    /// `$KFED_TESTBED_DIR/kubeconfig` (the launcher's state dir), else
    /// `<repo>/.testbed/kubeconfig`, with the kfed binary of this test run. Fails the
    /// test when the testbed is not running or its host is not ready.
    pub fn connect() -> Testbed {
        let kubeconfig = std::env::var_os("KFED_TESTBED_KUBECONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("KFED_TESTBED_DIR").map(|d| PathBuf::from(d).join("kubeconfig")))
            .unwrap_or_else(|| repo_root().join(".testbed/kubeconfig"));
        assert!(
            kubeconfig.is_file(),
            "the testbed is not running ({} is missing): start it with `make testbed-up`, or run `make test`",
            kubeconfig.display()
        );
        let testbed = Testbed::open(kubeconfig, kfed_bin());
        let out = testbed.kubectl("host", &["get", "--raw", "/readyz"]);
        assert!(
            out.status.success(),
            "the testbed host is not ready: {}",
            crate::stderr(&out)
        );
        testbed
    }

    /// The testbed of `kubeconfig`, run by `kfed`, without looking at it (the bench checks
    /// for itself, with its own messages).
    pub fn open(kubeconfig: impl Into<PathBuf>, kfed: impl Into<PathBuf>) -> Testbed {
        Testbed {
            kubeconfig: kubeconfig.into(),
            kfed: kfed.into(),
        }
    }

    /// Runs kubectl against one cluster of the testbed, with `input` on stdin, within
    /// `limit` if given (then killed); fails only when kubectl cannot be run at all.
    pub async fn run_kubectl(
        &self,
        context: &str,
        args: &[&str],
        input: Option<&str>,
        limit: Option<Duration>,
    ) -> Result<Output> {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .arg("--context")
            .arg(context)
            .args(args);
        let what = format!("kubectl --context {context} {}", args.join(" "));
        run(cmd, &what, input, limit).await
    }

    /// Runs kubectl within `limit` (if given) and returns stdout; fails unless it succeeds.
    pub async fn kubectl_within(&self, context: &str, args: &[&str], limit: Option<Duration>) -> Result<String> {
        let out = self.run_kubectl(context, args, None, limit).await?;
        if !out.status.success() {
            bail!(
                "kubectl --context {context} {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs kubectl against one cluster of the testbed.
    pub fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        self.kubectl_stdin(context, args, None)
    }

    /// Runs kubectl with `input` on stdin.
    pub fn kubectl_stdin(&self, context: &str, args: &[&str], input: Option<&str>) -> Output {
        or_fail(block_on(self.run_kubectl(context, args, input, None)))
    }

    /// Runs kubectl and fails the test unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, context: &str, args: &[&str]) -> String {
        or_fail(block_on(self.kubectl_within(context, args, None)))
    }

    /// A client of one context, with kube's default timeouts. Call it on the runtime the
    /// client will be used on.
    pub async fn client(&self, context: &str) -> Result<Client> {
        self.client_with(context, ClientOptions::default()).await
    }

    /// A client of one context with other timeouts (a stopped member must fail fast).
    pub async fn client_with(&self, context: &str, options: ClientOptions) -> Result<Client> {
        let path = &self.kubeconfig;
        let kc = Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
        let kc_options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let mut config = Config::from_custom_kubeconfig(kc, &kc_options)
            .await
            .with_context(|| format!("context {context} in {}", path.display()))?;
        if let Some(t) = options.connect_timeout {
            config.connect_timeout = Some(t);
        }
        if let Some(t) = options.read_timeout {
            config.read_timeout = Some(t);
        }
        Client::try_from(config).with_context(|| format!("client for {context}"))
    }

    /// Contexts of the member clusters (`member1`, `member2`, ...); fails the test with
    /// fewer than 2.
    pub fn members(&self) -> Vec<String> {
        let out = self.kubectl_ok("host", &["config", "get-contexts", "-o", "name"]);
        let mut members: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with("member"))
            .map(str::to_string)
            .collect();
        members.sort();
        assert!(
            members.len() >= 2,
            "these tests need a testbed with at least 2 members, found {members:?}"
        );
        members
    }

    /// Runs the testbed launcher (`KFED_TESTBED_BIN/testbed`: stop/start of a member's
    /// API server); fails unless it succeeds. Never panics (also for use while unwinding).
    pub fn try_launcher(&self, args: &[&str]) -> Result<()> {
        let bin = std::env::var_os("KFED_TESTBED_BIN").map(PathBuf::from).context(
            "KFED_TESTBED_BIN is not set: run the integration tests through `make test` or tests/run-integration.sh",
        )?;
        let out = std::process::Command::new(bin.join("testbed"))
            .args(args)
            .output()
            .with_context(|| format!("running {}", bin.join("testbed").display()))?;
        if !out.status.success() {
            bail!("testbed {} failed: {}", args.join(" "), crate::stderr(&out));
        }
        Ok(())
    }

    /// Runs the testbed launcher and fails the test unless it succeeds.
    pub fn launcher(&self, args: &[&str]) {
        or_fail(self.try_launcher(args));
    }

    /// Joins each of `members` with `kfed join` (idempotent), each within `limit` if given.
    pub async fn join<S: AsRef<str>>(&self, members: &[S], limit: Option<Duration>) -> Result<()> {
        for member in members {
            let member = member.as_ref();
            let mut cmd = tokio::process::Command::new(&self.kfed);
            cmd.args([
                "join",
                member,
                "--cluster-context",
                member,
                "--host-cluster-context",
                "host",
                "--kubeconfig",
            ])
            .arg(&self.kubeconfig);
            let out = run(cmd, &format!("kfed join {member}"), None, limit).await?;
            if !out.status.success() {
                bail!(
                    "kfed join {member} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        Ok(())
    }

    /// Installs the API and joins every member with `kfed join` (idempotent).
    pub fn federate(&self) -> Vec<String> {
        self.install_crds("host");
        let members = self.members();
        or_fail(block_on(self.join(&members, None)));
        members
    }
}

/// Runs `cmd` with stdout and stderr captured and `input` (or nothing) on stdin, within
/// `limit` if given; the process is killed when the limit passes or the caller gives up.
async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    input: Option<&str>,
    limit: Option<Duration>,
) -> Result<Output> {
    use tokio::io::AsyncWriteExt;
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("{what}: cannot start it (is it on PATH?)"))?;
    let stdin = child.stdin.take();
    let write = async move {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            stdin.write_all(input.as_bytes()).await?;
            // Dropped here: the end of the input.
        }
        Ok::<(), std::io::Error>(())
    };
    // Written while the output is read, so neither side waits for the other.
    let exchange = async { tokio::join!(write, child.wait_with_output()) };
    let (written, out) = match limit {
        Some(limit) => tokio::time::timeout(limit, exchange)
            .await
            .with_context(|| format!("{what} timed out after {limit:?}"))?,
        None => exchange.await,
    };
    let out = out.with_context(|| format!("{what}: waiting for it"))?;
    written.with_context(|| format!("{what}: writing its input"))?;
    Ok(out)
}
