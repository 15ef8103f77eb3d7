//! The one test kit of kfed's integration tests (`tests/*.rs`), its chaos suite
//! (`tests/chaos.rs`) and its propagation benchmark (`benches/propagation`).
//!
//! - [`Testbed`]: the running testbed (kubectl and a `kube::Client` per context, the
//!   launcher), kfed's API installed ([`Testbed::install_crds`]), the members joined
//!   ([`Testbed::join`], [`Testbed::federate`]), fixtures (a federated namespace, apply, get);
//! - [`Controller`]: a `kfed controller` process, its health wait, stopped or killed;
//! - [`metrics`]: Prometheus text parsed, and the API servers' `apiserver_request_total`
//!   counters ([`Testbed::writes`], [`Testbed::requests`]);
//! - [`progress::Stall`]: time bounds from measured progress; [`eventually`].
//!
//! Nothing here skips: without a running testbed the kit fails loudly, with a message
//! that says how to start one (`make testbed-up`, or `make test` which does it).
//!
//! Every operation the bench runs from async code has an async, fallible form (with an
//! optional time limit); tests use the blocking forms, which fail the test with the error.

mod controller;
mod fixtures;
mod install;
pub mod metrics;
pub mod progress;
mod testbed;

pub use controller::{Controller, ControllerSpec, http_get};
pub use fixtures::{contains, federated, federated_namespace_object, message, propagation};
pub use install::{OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT};
pub use metrics::Metrics;
pub use testbed::{ClientOptions, Testbed};

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository this kit belongs to (it lives in `<repo>/crates/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the kit lives in <repo>/crates/testkit")
        .to_path_buf()
}

/// The directory cargo put the running test or bench executable's binaries in
/// (`<target dir>/<profile>`; the executable itself is in its `deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test executable");
    let dir = exe.parent().expect("the test executable is in a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The kfed binary cargo built for this test run (next to the test executable's `deps`,
/// as `CARGO_BIN_EXE_kfed` names it for an integration test of the kfed package).
pub fn kfed_bin() -> PathBuf {
    profile_dir().join("kfed")
}

/// Cargo's directory for files of integration tests (`<target dir>/tmp`, as
/// `CARGO_TARGET_TMPDIR` names it, wherever CARGO_TARGET_DIR puts it): controller logs
/// and the operator's token kubeconfig.
pub fn scratch_dir() -> PathBuf {
    let profile = profile_dir();
    // The target dir is marked with CACHEDIR.TAG (`<target>/<profile>`, or
    // `<target>/<triple>/<profile>` when cross-compiling).
    let target = profile
        .ancestors()
        .skip(1)
        .take(2)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .or_else(|| profile.parent())
        .unwrap_or(&profile)
        .to_path_buf();
    let dir = target.join("tmp");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
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

/// The `.yaml` files of a directory, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs one of the kit's async operations to completion for a blocking caller (a test).
/// Not for code already running on a tokio runtime: that awaits the async form.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("kfed-testkit")
                .enable_all()
                .build()
                .expect("the test kit's tokio runtime")
        })
        .block_on(future)
}

/// Fails the test with an error of the kit's fallible form.
pub(crate) fn or_fail<T>(result: anyhow::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("{e:#}"))
}
