//! The generated API on a real kube-apiserver: every CRD installs within the CEL
//! cost budget, the samples apply with kubectl, templates are typed (kubectl
//! explain, type errors refused, unknown fields kept) and every manifest of the
//! invalid corpus is refused with its expected message.

mod common;

use common::{Testbed, eventually, repo_root, stderr, yaml_files};
use std::time::Duration;

#[test]
fn generated_api_on_a_real_apiserver() {
    let tb = Testbed::connect();
    tb.install_crds("host");

    // Every catalog kind is served, with the federated category and short names.
    let resources = tb.kubectl_ok("host", &["api-resources", "--api-group=types.kubefed.io", "-o", "name"]);
    for kind in kfed_codegen::CATALOG {
        let expected = format!("{}.types.kubefed.io", kind.federated_plural());
        assert!(resources.lines().any(|l| l == expected), "{expected} is not served");
    }

    samples_apply(&tb);
    templates_are_typed(&tb);
    invalid_manifests_are_refused(&tb);
}

fn samples_apply(tb: &Testbed) {
    let samples = repo_root().join("config/samples");
    let samples = samples.to_str().expect("utf-8 path");
    tb.kubectl_ok("host", &["apply", "--server-side", "--force-conflicts", "-k", samples]);
    let listed = tb.kubectl_ok("host", &["get", "federated", "-A", "-o", "name"]);
    assert!(
        listed.contains("federateddeployment.types.kubefed.io/"),
        "kubectl get federated lists the samples:\n{listed}"
    );
    let short = tb.kubectl_ok("host", &["get", "fdeploy", "-A", "-o", "name"]);
    assert!(!short.trim().is_empty(), "the fdeploy short name resolves");
}

fn templates_are_typed(tb: &Testbed) {
    let explained = tb.kubectl_ok(
        "host",
        &[
            "explain",
            "federateddeployment.spec.template.spec.template.spec.containers",
        ],
    );
    assert!(
        explained.contains("image"),
        "kubectl explain shows container fields:\n{explained}"
    );

    tb.fresh_namespace("host", "kfed-typed");
    let manifest = r#"
apiVersion: types.kubefed.io/v1beta1
kind: FederatedDeployment
metadata: {name: future}
spec:
  template:
    spec:
      replicas: 2
      fieldFromTheFuture: {kept: true}
      selector: {matchLabels: {app: f}}
      template:
        metadata: {labels: {app: f}}
        spec: {containers: [{name: c, image: nginx, containerFieldFromTheFuture: 7}]}
"#;
    let out = tb.kubectl_stdin(
        "host",
        &["apply", "--server-side", "-n", "kfed-typed", "-f", "-"],
        Some(manifest),
    );
    assert!(
        out.status.success(),
        "unknown template fields are accepted: {}",
        stderr(&out)
    );
    let stored = tb.kubectl_ok("host", &["get", "fdeploy", "future", "-n", "kfed-typed", "-o", "json"]);
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("kubectl prints JSON");
    let spec = &stored["spec"]["template"]["spec"];
    assert_eq!(
        spec["fieldFromTheFuture"]["kept"], true,
        "unknown fields are preserved: {spec}"
    );
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["containerFieldFromTheFuture"], 7,
        "nested unknown fields are preserved"
    );
}

/// Each file in `tests/admission/invalid/` starts with `# expect: <text>`; applying it must fail with that text.
fn invalid_manifests_are_refused(tb: &Testbed) {
    tb.fresh_namespace("host", "kfed-admission");
    let files = yaml_files(&repo_root().join("tests/admission/invalid"));
    assert!(
        files.len() >= 30,
        "the invalid corpus has {} manifests, expected at least 30",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable manifest");
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} must start with `# expect: <message>`", file.display()))
            .trim()
            .to_string();
        let path = file.to_str().expect("utf-8 path");
        // Admission policies take effect a moment after they are created, so retry briefly.
        eventually(
            &format!("{} to be refused with {expect:?}", file.display()),
            Duration::from_secs(30),
            || {
                let out = tb.kubectl("host", &["apply", "--server-side", "-n", "kfed-admission", "-f", path]);
                let message = stderr(&out);
                if out.status.success() {
                    // Accepted (possibly before the policy was active): remove it and try again.
                    let _ = tb.kubectl(
                        "host",
                        &["delete", "--ignore-not-found", "-n", "kfed-admission", "-f", path],
                    );
                    return None;
                }
                assert!(
                    message.contains(&expect),
                    "{}: refused, but without {expect:?}:\n{message}",
                    file.display()
                );
                Some(())
            },
        );
    }
}
