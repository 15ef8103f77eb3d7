//! kfed's API installed into a cluster, and the operator's own identity on the host.

use crate::{Testbed, block_on, eventually, or_fail, repo_root, scratch_dir};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The ServiceAccount `config/rbac` binds, which `kfed controller` runs as in every test;
/// its namespace is the federation's (KubeFedClusters, the leader Lease, FederatedTypeConfigs).
pub const OPERATOR_NAMESPACE: &str = "kube-federation-system";
pub const OPERATOR_SERVICE_ACCOUNT: &str = "kfed-controller";

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// True when `dir` holds a manifest `kubectl apply -f` would read.
fn has_manifests(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
    })
}

impl Testbed {
    /// Installs every kfed CRD (`config/crd/bases`, waited for until Established) and the
    /// admission policy (`config/admission`) into `context`, then creates the namespace
    /// `kube-federation-system` if it is missing and applies the FederatedTypeConfigs of
    /// `config/typeconfigs/` when that directory exists (as a kustomization when it is one;
    /// not waited for). Every kubectl
    /// call runs within `limit` if given.
    pub async fn install_crds_within(&self, context: &str, limit: Option<Duration>) -> Result<()> {
        let apply = ["apply", "--server-side", "--force-conflicts"];
        let crds = repo_root().join("config/crd/bases");
        let crds = utf8(&crds);
        self.kubectl_within(context, &[&apply[..], &["-f", crds]].concat(), limit)
            .await?;
        self.kubectl_within(
            context,
            &["wait", "--for=condition=Established", "--timeout=120s", "-f", crds],
            limit,
        )
        .await?;
        let admission = repo_root().join("config/admission");
        self.kubectl_within(context, &[&apply[..], &["-k", utf8(&admission)]].concat(), limit)
            .await?;
        self.create_namespace_within(context, OPERATOR_NAMESPACE, limit).await?;
        let typeconfigs = repo_root().join("config/typeconfigs");
        // A kustomization lists the files (`-k`: `-f` would apply the kustomization itself).
        let flag = if typeconfigs.join("kustomization.yaml").is_file() {
            Some("-k")
        } else {
            (typeconfigs.is_dir() && has_manifests(&typeconfigs)).then_some("-f")
        };
        if let Some(flag) = flag {
            self.kubectl_within(context, &[&apply[..], &[flag, utf8(&typeconfigs)]].concat(), limit)
                .await?;
        }
        Ok(())
    }

    /// [`Testbed::install_crds_within`] without a limit; fails the test on an error.
    pub fn install_crds(&self, context: &str) {
        or_fail(block_on(self.install_crds_within(context, None)));
    }

    /// Creates a namespace unless it exists (also when another test creates it meanwhile).
    pub async fn create_namespace_within(&self, context: &str, name: &str, limit: Option<Duration>) -> Result<()> {
        let out = self
            .run_kubectl(context, &["create", "namespace", name], None, limit)
            .await?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !err.contains("AlreadyExists") {
            bail!(
                "kubectl --context {context} create namespace {name} failed: {}",
                err.trim()
            );
        }
        Ok(())
    }

    /// A kubeconfig (context `host`) that authenticates to the host as the operator's
    /// ServiceAccount with a short-lived token, after applying `config/rbac` (idempotent).
    /// Made once per test process; the file is only readable by its owner.
    pub fn operator_kubeconfig(&self) -> PathBuf {
        static KUBECONFIG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        KUBECONFIG.get_or_init(|| self.write_operator_kubeconfig()).clone()
    }

    fn write_operator_kubeconfig(&self) -> PathBuf {
        let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {OPERATOR_NAMESPACE}}}\n");
        self.apply("host", &namespace);
        // Its RBAC, and its API Priority and Fairness schema (Lease renewals first).
        for dir in ["config/rbac", "config/flowcontrol"] {
            let dir = repo_root().join(dir);
            self.kubectl_ok(
                "host",
                &["apply", "--server-side", "--force-conflicts", "-k", utf8(&dir)],
            );
        }
        // The authorizer sees new bindings a moment after they are written.
        let subject = format!("system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}");
        eventually("config/rbac to take effect", Duration::from_secs(30), || {
            let out = self.kubectl(
                "host",
                &[
                    "auth",
                    "can-i",
                    "--as",
                    &subject,
                    "watch",
                    "secrets",
                    "-n",
                    OPERATOR_NAMESPACE,
                ],
            );
            (String::from_utf8_lossy(&out.stdout).trim() == "yes").then_some(())
        });
        let token = self.kubectl_ok(
            "host",
            &[
                "create",
                "token",
                OPERATOR_SERVICE_ACCOUNT,
                "-n",
                OPERATOR_NAMESPACE,
                "--duration=2h",
            ],
        );
        let token = token.trim();
        assert!(!token.is_empty(), "kubectl create token printed nothing");

        // Server and CA of the host, exactly as the testbed's kubeconfig has them.
        let view = self.kubectl_ok("host", &["config", "view", "--raw", "--minify", "-o", "json"]);
        let view: serde_json::Value = serde_json::from_str(&view).expect("kubectl config view prints JSON");
        let cluster = &view["clusters"][0]["cluster"];
        let server = cluster["server"].as_str().expect("the host context has a server");
        let mut host = serde_json::json!({ "server": server });
        match (
            cluster["certificate-authority-data"].as_str(),
            cluster["certificate-authority"].as_str(),
        ) {
            (Some(data), _) => host["certificate-authority-data"] = data.into(),
            (None, Some(path)) => host["certificate-authority"] = path.into(),
            (None, None) => panic!("the testbed's host context has no CA"),
        }
        let kubeconfig = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": "host", "cluster": host }],
            "users": [{ "name": OPERATOR_SERVICE_ACCOUNT, "user": { "token": token } }],
            "contexts": [{ "name": "host", "context": { "cluster": "host", "user": OPERATOR_SERVICE_ACCOUNT } }],
            "current-context": "host",
        });
        let path = scratch_dir().join(format!("operator-{}.kubeconfig", std::process::id()));
        write_private(&path, &serde_json::to_string_pretty(&kubeconfig).expect("JSON"));
        path
    }
}

/// Writes a file only its owner can read (it holds a token).
fn write_private(path: &Path, content: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.write_all(content.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
