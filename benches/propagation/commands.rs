//! The outside commands the bench runs besides kubectl and kfed (git, getconf, nproc);
//! kubectl, kfed join and the clusters' clients are the test kit's (`Env::tb`).

use crate::repo;
use anyhow::{Context, Result, bail};
use std::time::Duration;

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
