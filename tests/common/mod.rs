//! Shared helpers for integration tests against the real testbed.
//!
//! Tests never skip: without a running testbed they fail with a message that
//! says how to start one (`make testbed-up`, or `make test` which does it).

#![allow(dead_code)] // each test binary uses a different subset

pub mod progress;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's directory for files of integration tests (`<target dir>/tmp`, wherever
/// CARGO_TARGET_DIR puts it): controller logs and the operator's token kubeconfig.
pub fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// The running testbed, found through `KFED_TESTBED_KUBECONFIG` or `<repo>/.testbed/kubeconfig`.
pub struct Testbed {
    pub kubeconfig: PathBuf,
}

impl Testbed {
    pub fn connect() -> Testbed {
        let kubeconfig = std::env::var_os("KFED_TESTBED_KUBECONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".testbed/kubeconfig"));
        assert!(
            kubeconfig.is_file(),
            "the testbed is not running ({} is missing): start it with `make testbed-up`, or run `make test`",
            kubeconfig.display()
        );
        let testbed = Testbed { kubeconfig };
        let out = testbed.kubectl("host", &["get", "--raw", "/readyz"]);
        assert!(out.status.success(), "the testbed host is not ready: {}", stderr(&out));
        testbed
    }

    /// Runs kubectl against one cluster of the testbed.
    pub fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        self.kubectl_stdin(context, args, None)
    }

    /// Runs kubectl with `input` on stdin.
    pub fn kubectl_stdin(&self, context: &str, args: &[&str], input: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .arg("--context")
            .arg(context)
            .args(args);
        cmd.stdin(if input.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl is on PATH");
        if let Some(input) = input {
            child
                .stdin
                .take()
                .expect("stdin is piped")
                .write_all(input.as_bytes())
                .expect("writing to kubectl");
        }
        child.wait_with_output().expect("kubectl runs")
    }

    /// Runs kubectl and fails the test unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, context: &str, args: &[&str]) -> String {
        let out = self.kubectl(context, args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Installs every kfed CRD, the admission policy and the built-in FederatedTypeConfigs
    /// into `context` and waits until the CRDs serve.
    pub fn install_crds(&self, context: &str) {
        let crds = repo_root().join("config/crd/bases");
        let crds = crds.to_str().expect("utf-8 path");
        self.kubectl_ok(context, &["apply", "--server-side", "--force-conflicts", "-f", crds]);
        self.kubectl_ok(
            context,
            &["wait", "--for=condition=Established", "--timeout=120s", "-f", crds],
        );
        let admission = repo_root().join("config/admission");
        self.kubectl_ok(
            context,
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-k",
                admission.to_str().expect("utf-8 path"),
            ],
        );
        // The FederatedTypeConfig of every built-in kind: without them nothing propagates.
        let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {OPERATOR_NAMESPACE}}}\n");
        self.apply(context, &namespace);
        let typeconfigs = repo_root().join("config/typeconfigs");
        self.kubectl_ok(
            context,
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-k",
                typeconfigs.to_str().expect("utf-8 path"),
            ],
        );
    }

    /// Deletes a namespace if it exists and waits until it is gone.
    pub fn delete_namespace(&self, context: &str, name: &str) {
        let _ = self.kubectl(
            context,
            &[
                "delete",
                "namespace",
                name,
                "--ignore-not-found",
                "--wait=true",
                "--timeout=120s",
            ],
        );
    }

    /// Creates a namespace (deleting a leftover one from an earlier run first).
    pub fn fresh_namespace(&self, context: &str, name: &str) {
        if context == "host" {
            self.release_leftovers(name);
        }
        self.delete_namespace(context, name);
        self.kubectl_ok(context, &["create", "namespace", name]);
    }

    /// Deletes the federated objects an earlier run left in a host namespace: without a
    /// running controller their finalizers would keep the namespace terminating forever,
    /// so they are released here. (`get federated -n` also lists cluster-scoped kinds;
    /// only this namespace's are touched.)
    fn release_leftovers(&self, name: &str) {
        let leftovers = self.kubectl("host", &["get", "federated", "-n", name, "-o", "json"]);
        let leftovers: serde_json::Value = serde_json::from_slice(&leftovers.stdout).unwrap_or_default();
        for item in leftovers["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["metadata"]["namespace"] == name)
        {
            let object = format!(
                "{}/{}",
                item["kind"].as_str().unwrap_or_default(),
                item["metadata"]["name"].as_str().unwrap_or_default()
            );
            // Delete first: kfed's admission policy gives every live object the finalizer back.
            let object = object.to_lowercase();
            let _ = self.kubectl("host", &["delete", &object, "-n", name, "--wait=false"]);
            let patch = r#"{"metadata":{"finalizers":null}}"#;
            let _ = self.kubectl("host", &["patch", &object, "-n", name, "--type=merge", "-p", patch]);
        }
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `f` until it returns `Some`, or fails the test after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// The kfed binary built for this test run.
pub fn kfed_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kfed"))
}

impl Testbed {
    /// Contexts of the member clusters (`member1`, `member2`, ...).
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

    /// Runs the testbed launcher (stop/start of a member's API server).
    pub fn launcher(&self, args: &[&str]) {
        let bin = std::env::var_os("KFED_TESTBED_BIN").map(PathBuf::from).expect(
            "KFED_TESTBED_BIN is not set: run the integration tests through `make test` or tests/run-integration.sh",
        );
        let out = Command::new(bin.join("testbed"))
            .args(args)
            .output()
            .expect("the testbed launcher runs");
        assert!(
            out.status.success(),
            "testbed {} failed: {}",
            args.join(" "),
            stderr(&out)
        );
    }

    /// Installs the API and joins every member with `kfed join` (idempotent).
    pub fn federate(&self) -> Vec<String> {
        self.install_crds("host");
        let members = self.members();
        for member in &members {
            let out = Command::new(kfed_bin())
                .args([
                    "join",
                    member,
                    "--cluster-context",
                    member,
                    "--host-cluster-context",
                    "host",
                    "--kubeconfig",
                ])
                .arg(&self.kubeconfig)
                .output()
                .expect("kfed runs");
            assert!(out.status.success(), "kfed join {member} failed: {}", stderr(&out));
        }
        members
    }

    /// An object as JSON, or `None` when it does not exist.
    pub fn get(&self, context: &str, resource: &str, namespace: Option<&str>, name: &str) -> Option<serde_json::Value> {
        let mut args = vec!["get", resource, name, "-o", "json", "--ignore-not-found"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let out = self.kubectl_ok(context, &args);
        (!out.trim().is_empty()).then(|| serde_json::from_str(&out).expect("kubectl prints JSON"))
    }

    /// Applies YAML with `kubectl apply --server-side`.
    pub fn apply(&self, context: &str, yaml: &str) {
        let out = self.kubectl_stdin(
            context,
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(yaml),
        );
        assert!(out.status.success(), "kubectl apply failed: {}\n{yaml}", stderr(&out));
    }

    /// A fresh namespace on the host with a FederatedNamespace placing it on `clusters`.
    pub fn federated_namespace(&self, name: &str, clusters: &[String]) {
        self.release_leftovers(name);
        for context in std::iter::once("host".to_string()).chain(self.members()) {
            self.delete_namespace(&context, name);
        }
        self.kubectl_ok("host", &["create", "namespace", name]);
        let clusters: Vec<String> = clusters.iter().map(|c| format!("{{name: {c}}}")).collect();
        self.apply(
            "host",
            &format!(
                "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedNamespace\nmetadata: {{name: {name}, namespace: {name}}}\nspec:\n  placement:\n    clusters: [{}]\n",
                clusters.join(", ")
            ),
        );
    }

    /// Writes (create, update, patch, apply, delete) served by a cluster's API server so
    /// far, per series of `apiserver_request_total`, from its own metrics. Leases are
    /// left out: every kube-apiserver renews its own.
    pub fn writes(&self, context: &str) -> BTreeMap<String, u64> {
        let metrics = self.kubectl_ok(context, &["get", "--raw", "/metrics"]);
        metrics
            .lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
            .filter(|l| {
                ["POST", "PUT", "PATCH", "APPLY", "DELETE"]
                    .iter()
                    .any(|v| l.contains(&format!("verb=\"{v}\"")))
            })
            .filter(|l| !l.contains("resource=\"leases\""))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((format!("{context} {series}"), value.parse::<f64>().ok()? as u64))
            })
            .collect()
    }

    /// Requests for `resource` with `verb` (`GET`, `APPLY`, ...) a cluster's API server
    /// has served since it started, optionally only those answered 2xx.
    pub fn requests(&self, context: &str, verb: &str, resource: &str, succeeded_only: bool) -> u64 {
        let metrics = self.kubectl_ok(context, &["get", "--raw", "/metrics"]);
        metrics
            .lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
            .filter(|l| l.contains(&format!("verb=\"{verb}\"")) && l.contains(&format!("resource=\"{resource}\"")))
            .filter(|l| !succeeded_only || l.contains("code=\"2"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .map(|n| n as u64)
            .sum()
    }

    /// Write series of every cluster that changed between two snapshots, with the increase.
    pub fn writes_between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<String> {
        after
            .iter()
            .filter_map(|(series, n)| {
                let was = before.get(series).copied().unwrap_or(0);
                (*n != was).then(|| format!("+{} {series}", n.saturating_sub(was)))
            })
            .collect()
    }
}

/// The ServiceAccount `config/rbac` binds, which `kfed controller` runs as in every test.
pub const OPERATOR_NAMESPACE: &str = "kube-federation-system";
pub const OPERATOR_SERVICE_ACCOUNT: &str = "kfed-controller";

impl Testbed {
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
                &[
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "-k",
                    dir.to_str().expect("utf-8 path"),
                ],
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

/// A `kfed controller` process against the testbed host, stopped when dropped.
pub struct Controller {
    child: std::process::Child,
    pub log: PathBuf,
}

impl Controller {
    /// Starts the controller with fast health checks plus `extra` flags.
    pub fn start(tb: &Testbed, name: &str, extra: &[&str]) -> Controller {
        let log = scratch_dir().join(format!("{name}-controller.log"));
        // As in a real install: the operator's own least-privilege identity, never admin.
        let kubeconfig = tb.operator_kubeconfig();
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(kfed_bin())
            .args(["controller", "--context", "host", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(extra)
            // Fast health checks and a free metrics port, unless `extra` sets them.
            .args(
                [
                    ["--cluster-health-period", "1s"],
                    ["--cluster-failure-threshold", "2"],
                    // A stopped member refuses at once; a loaded one may take a while.
                    ["--cluster-health-timeout", "5s"],
                    ["--metrics-bind-address", "127.0.0.1:0"],
                ]
                .into_iter()
                .filter(|[flag, _]| !extra.contains(flag))
                .flatten(),
            )
            .env("RUST_LOG", "info,kube=warn")
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("kfed controller starts");
        Controller { child, log }
    }

    /// Stops the controller with SIGTERM and fails the test if it panicked or exited badly.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.wait_exit(Duration::from_secs(60));
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(!log.contains("panicked"), "the controller panicked:\n{log}");
        assert!(
            status.is_some_and(|s| s.success()),
            "the controller did not shut down cleanly ({status:?}):\n{log}"
        );
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Whether the process has ended (on its own: a leader that lost its Lease exits).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the controller with SIGKILL, as a crash or an OOM kill would: no graceful
    /// shutdown, no Lease release. Returns once the process is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `Propagation` condition status and per-cluster statuses of a federated object.
pub fn propagation(obj: &serde_json::Value) -> (Option<String>, Vec<(String, String)>) {
    let condition = obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Propagation"))
        .and_then(|c| c["status"].as_str())
        .map(str::to_string);
    let clusters = obj["status"]["clusters"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (condition, clusters)
}

/// The message of a federated object's `Propagation` condition ("" when none).
pub fn message(obj: &serde_json::Value) -> String {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Propagation"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// True when every field of `expected` is present and equal in `actual` (lists element-wise).
pub fn contains(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        (Value::Array(a), Value::Array(e)) => a.len() == e.len() && a.iter().zip(e).all(|(av, ev)| contains(av, ev)),
        (a, e) => a == e,
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
