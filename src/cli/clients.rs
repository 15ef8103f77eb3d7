//! Building clients from kubectl-style `--kubeconfig` / `--context` flags.

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::{Path, PathBuf};

/// kubectl-style connection flags.
#[derive(clap::Args, Clone, Debug)]
pub struct ConnectionArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

impl ConnectionArgs {
    /// The parsed kubeconfig, if a file is given or found.
    pub fn kubeconfig(&self) -> Result<Option<Kubeconfig>> {
        match &self.kubeconfig {
            Some(path) => {
                // $KUBECONFIG may list several files; kubectl merges them, and so do we.
                let mut merged: Option<Kubeconfig> = None;
                for part in std::env::split_paths(path.as_os_str()).filter(|p| !p.as_os_str().is_empty()) {
                    let next = read(&part)?;
                    merged = Some(match merged {
                        None => next,
                        Some(m) => m
                            .merge(next)
                            .with_context(|| format!("merging kubeconfig {}", part.display()))?,
                    });
                }
                Ok(merged)
            }
            None => Ok(Kubeconfig::read().ok()),
        }
    }

    /// A client for `context` (or the current context; in-cluster when no kubeconfig exists).
    pub async fn client(&self, context: Option<&str>) -> Result<Client> {
        let config = match self.kubeconfig()? {
            Some(kubeconfig) => {
                let options = KubeConfigOptions {
                    context: context.map(str::to_string),
                    ..Default::default()
                };
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .with_context(|| format!("kubeconfig context {:?}", context.unwrap_or("(current)")))?
            }
            None if context.is_some() => {
                anyhow::bail!("--context given but no kubeconfig found (set --kubeconfig or KUBECONFIG)")
            }
            None => Config::incluster().context("no kubeconfig found and not running in a cluster")?,
        };
        Client::try_from(config).context("building the Kubernetes client")
    }
}

fn read(path: &Path) -> Result<Kubeconfig> {
    Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))
}

/// The host-cluster flags shared by the day-to-day commands.
#[derive(clap::Args, Clone, Debug)]
pub struct HostArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Kubeconfig context of the host cluster (default: current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace; `kfed status`: all namespaces).
    #[arg(short, long)]
    pub namespace: Option<String>,
}

impl HostArgs {
    pub async fn client(&self) -> Result<Client> {
        self.connection
            .client(self.context.as_deref())
            .await
            .context("host cluster")
    }

    /// `-n`, or the namespace of the kubeconfig context.
    pub fn namespace_or_default(&self, client: &Client) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string())
    }
}
