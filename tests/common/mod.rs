//! Shared helpers for integration tests against the real testbed.
//!
//! Tests never skip: without a running testbed they fail with a message that
//! says how to start one (`make testbed-up`, or `make test` which does it).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The running testbed, found through `KFED_TESTBED_KUBECONFIG` or `<repo>/.testbed/kubeconfig`.
pub struct Testbed {
    pub kubeconfig: PathBuf,
}

impl Testbed {
    pub fn get() -> Testbed {
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

    /// Installs every kfed CRD and the admission policy into `context` and waits until they serve.
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
    }

    /// Creates a namespace (deleting a leftover one from an earlier run first).
    pub fn fresh_namespace(&self, context: &str, name: &str) {
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
        self.kubectl_ok(context, &["create", "namespace", name]);
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
