//! Shared helpers for integration tests against the real testbed: the test kit
//! (`crates/testkit`, which the chaos suite and the propagation bench use too), and
//! the helpers only tests need.
//!
//! Tests never skip: without a running testbed they fail with a message that
//! says how to start one (`make testbed-up`, or `make test` which does it).

#[allow(unused_imports)] // each test binary uses a different subset
pub use kfed_testkit::*;

use std::path::PathBuf;
use std::process::Output;

/// Runs KubeFed's own `kubefedctl` (v0.10.0, built by tests/testbed/build.sh) against the testbed.
#[allow(dead_code)]
pub fn kubefedctl(tb: &Testbed, args: &[&str]) -> Output {
    let bin = std::env::var_os("KFED_TESTBED_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("KFED_TESTBED_BIN is not set: run the tests through `make test` (tests/run-integration.sh)")
        });
    let kubefedctl = bin.join("kubefedctl");
    assert!(
        kubefedctl.is_file(),
        "{} is missing: tests/testbed/build.sh builds it",
        kubefedctl.display()
    );
    std::process::Command::new(kubefedctl)
        .args(args)
        .arg("--kubeconfig")
        .arg(&tb.kubeconfig)
        .output()
        .expect("kubefedctl runs")
}

/// The stdout of a command that must succeed; its output in the failure otherwise.
#[allow(dead_code)]
pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
