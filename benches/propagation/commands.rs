//! Clients of the testbed's clusters, and the outside commands the bench runs
//! (kubectl, git, getconf, nproc).

use crate::{Env, repo};
use anyhow::{Context, Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

pub(crate) async fn client(kubeconfig: &Path, context: &str) -> Result<Client> {
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

pub(crate) async fn command_output(program: &str, args: &[&str]) -> Result<String> {
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

pub(crate) async fn git_commit() -> String {
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
    pub(crate) async fn kubectl(&self, context: &str, args: &[&str], limit: Duration) -> Result<String> {
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
}
