//! The install manifests: every kustomization under `config/` renders; `deploy/kfed.yaml` is
//! `config/default` rendered now; `config/crd` lists every CRD; the controller's RBAC grants
//! exactly what the operator calls (no wildcards, Secrets only in the federation namespace),
//! checked both in the YAML and by the host's authorizer; and the host's kube-apiserver
//! accepts the default, production and Prometheus installs (server-side dry run).

mod common;

use common::{Testbed, contains, eventually, repo_root, stderr, yaml_files};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

const NS: &str = "kube-federation-system";
const SA: &str = "system:serviceaccount:kube-federation-system:kfed-controller";

/// Every kustomization under config/, relative to the repository.
const KUSTOMIZATIONS: &[&str] = &[
    "config/default",
    "config/overlays/production",
    "config/overlays/production/apps",
    "config/prometheus",
    "config/samples",
    "config/crd",
    "config/admission",
    "config/rbac",
    "config/flowcontrol",
    "config/manager",
    "config/typeconfigs",
];

#[test]
fn install_manifests_render_and_are_least_privilege() {
    // Each kustomization renders once; the CRDs' schemas are left out of parsing (see `parse`).
    let rendered: BTreeMap<&str, String> = KUSTOMIZATIONS.iter().map(|dir| (*dir, kustomize(dir))).collect();
    let objects: BTreeMap<&str, Vec<Value>> = rendered.iter().map(|(dir, yaml)| (*dir, parse(yaml))).collect();
    for (dir, objects) in &objects {
        assert!(!objects.is_empty(), "{dir} renders no object");
    }

    crd_kustomization_lists_every_crd(&objects["config/crd"]);
    deploy_manifest_is_current(&rendered["config/default"]);

    let default = &objects["config/default"];
    // Every built-in kind propagates out of the box: its FederatedTypeConfig is installed.
    let ftcs: Vec<&Value> = default.iter().filter(|o| o["kind"] == "FederatedTypeConfig").collect();
    assert_eq!(ftcs.len(), kfed_codegen::CATALOG.len());
    assert!(
        ftcs.iter()
            .all(|f| f["metadata"]["namespace"] == NS && f["spec"]["propagation"] == "Enabled")
    );
    namespaces_are_right(default);
    cluster_role_is_exact(default);
    role_is_exact(default);
    controller_deployment(default);

    prometheus_overlay(&objects["config/prometheus"]);
    let deployment = find(&objects["config/overlays/production"], "Deployment", "kfed-controller");
    assert_eq!(
        deployment["spec"]["replicas"], 3,
        "the production overlay sets 3 replicas"
    );
    let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"].as_str();
    assert_eq!(image, Some("registry.example.com/platform/kfed:0.1.0"));
    let nginx = find(
        &objects["config/overlays/production/apps"],
        "FederatedDeployment",
        "nginx",
    );
    assert_eq!(nginx["spec"]["overrides"][0]["clusterName"], "member1");
    assert_eq!(
        nginx["spec"]["overrides"][0]["clusterOverrides"][0],
        serde_json::json!({"path": "/spec/replicas", "value": 10}),
        "the production apps overlay patches member1's replica override"
    );
}

#[test]
fn host_accepts_the_install_and_authorizes_exactly_the_operator() {
    let tb = Testbed::connect();
    // The federation namespace exists for real (as after a real install), so the namespaced
    // objects can be dry-run into it; the CRDs too, so the samples can be dry-run.
    let default = kustomize("config/default");
    let namespace = documents(&default)
        .into_iter()
        .find(|d| kind_of(d) == Some("Namespace"))
        .expect("config/default has the Namespace");
    apply(&tb, &namespace, false);
    tb.install_crds("host");

    for dir in ["config/default", "config/overlays/production"] {
        let path = repo_root().join(dir);
        let out = tb.kubectl(
            "host",
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--dry-run=server",
                "-k",
                path.to_str().expect("utf-8 path"),
            ],
        );
        assert!(
            out.status.success(),
            "server dry run of {dir} failed:\n{}",
            stderr(&out)
        );
    }

    // The ServiceMonitor needs the Prometheus Operator's CRD, absent here: dry-run the rest.
    let prometheus = kustomize("config/prometheus");
    let (monitors, rest): (Vec<String>, Vec<String>) = documents(&prometheus)
        .into_iter()
        .partition(|d| kind_of(d) == Some("ServiceMonitor"));
    assert_eq!(monitors.len(), 1, "config/prometheus has one ServiceMonitor");
    apply(&tb, &rest.join("---\n"), true);

    // Federated workloads of the production overlay, with the sample namespace made real.
    let apps = kustomize("config/overlays/production/apps");
    let (namespaces, objects): (Vec<String>, Vec<String>) = documents(&apps)
        .into_iter()
        .partition(|d| kind_of(d) == Some("Namespace"));
    apply(&tb, &namespaces.join("---\n"), false);
    apply(&tb, &objects.join("---\n"), true);

    // The RBAC for real, then the host's authorizer answers for the ServiceAccount.
    apply(&tb, &kustomize("config/rbac"), false);
    let allowed: &[&[&str]] = &[
        &["list", "federateddeployments.types.kubefed.io", "-A"],
        &["watch", "federatedclusterroles.types.kubefed.io"],
        &["patch", "federatedconfigmaps.types.kubefed.io", "-n", "any-namespace"],
        &[
            "patch",
            "federateddeployments.types.kubefed.io",
            "--subresource=status",
            "-n",
            "x",
        ],
        &["watch", "kubefedclusters.core.kubefed.io", "-n", NS],
        &[
            "patch",
            "kubefedclusters.core.kubefed.io",
            "--subresource=status",
            "-n",
            NS,
        ],
        &["watch", "secrets", "-n", NS],
        &["update", "leases.coordination.k8s.io", "-n", NS],
        &["get", "kubefedconfigs.core.kubefed.io", "-n", NS],
        &["create", "kubefedconfigs.core.kubefed.io", "-n", NS],
        &["create", "leases.coordination.k8s.io", "-n", NS],
        &["create", "events.events.k8s.io", "-n", "any-namespace"],
        &["patch", "events.events.k8s.io", "-n", "any-namespace"],
        &["get", "namespaces"],
    ];
    let denied: &[&[&str]] = &[
        &["get", "secrets", "-A"],
        &["get", "secrets", "-n", "default"],
        &["create", "secrets", "-n", NS],
        &["update", "federateddeployments.types.kubefed.io", "-n", "x"],
        &["delete", "federateddeployments.types.kubefed.io", "-n", "x"],
        &["create", "federateddeployments.types.kubefed.io", "-n", "x"],
        &["list", "kubefedclusters.core.kubefed.io", "-A"],
        &["update", "kubefedclusters.core.kubefed.io", "-n", NS],
        &["get", "leases.coordination.k8s.io", "-n", "default"],
        &["patch", "leases.coordination.k8s.io", "-n", NS],
        &["watch", "leases.coordination.k8s.io", "-n", NS],
        &["update", "kubefedconfigs.core.kubefed.io", "-n", NS],
        &["get", "kubefedconfigs.core.kubefed.io", "-n", "default"],
        &["list", "namespaces"],
        &["create", "events", "-n", "default"],
        &["create", "deployments.apps", "-n", "default"],
        &["get", "configmaps", "-n", NS],
    ];
    let can_i = |check: &[&str]| -> bool {
        let mut args = vec!["auth", "can-i", "--as", SA];
        args.extend_from_slice(check);
        let out = tb.kubectl("host", &args);
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            answer == "yes" || answer == "no",
            "kubectl {} answered {answer:?}: {}",
            args.join(" "),
            stderr(&out)
        );
        answer == "yes"
    };
    // The authorizer sees new bindings a moment after they are created.
    eventually(
        "the kfed-controller RBAC to take effect",
        Duration::from_secs(30),
        || can_i(allowed[0]).then_some(()),
    );
    for check in allowed {
        assert!(can_i(check), "kfed-controller must be allowed to {}", check.join(" "));
    }
    for check in denied {
        assert!(
            !can_i(check),
            "kfed-controller must not be allowed to {}",
            check.join(" ")
        );
    }
}

/// `kubectl kustomize <dir>` (the kustomize built into kubectl, as users run it).
fn kustomize(dir: &str) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(repo_root().join(dir))
        .stdin(Stdio::null())
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed:\n{}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).expect("kustomize prints UTF-8")
}

/// The YAML documents of a rendered stream, each with its own text.
fn documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.lines() {
        if line == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}

/// The top-level `kind:` of one rendered document, without parsing all of it.
fn kind_of(doc: &str) -> Option<&str> {
    doc.lines().find_map(|l| l.strip_prefix("kind: ")).map(str::trim)
}

/// The objects of a rendered stream. A CRD's `spec` (hundreds of KiB of schema) is not
/// parsed: only its kind and metadata are checked here, and the API server checks the rest.
fn parse(stream: &str) -> Vec<Value> {
    documents(stream)
        .iter()
        .map(|doc| {
            let doc = if kind_of(doc) == Some("CustomResourceDefinition") {
                without_spec(doc)
            } else {
                doc.clone()
            };
            serde_yaml_ng::from_str::<Value>(&doc)
                .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{doc}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// A document without its top-level `spec:` block.
fn without_spec(doc: &str) -> String {
    let mut in_spec = false;
    let mut kept = String::new();
    for line in doc.lines() {
        if !line.starts_with([' ', '-', '#']) && !line.is_empty() {
            in_spec = line.starts_with("spec:");
        }
        if !in_spec {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// Server-side apply on the host; `dry_run` asks the API server to validate and admit only.
fn apply(tb: &Testbed, yaml: &str, dry_run: bool) {
    let mut args = vec!["apply", "--server-side", "--force-conflicts", "-f", "-"];
    if dry_run {
        args.push("--dry-run=server");
    }
    let out = tb.kubectl_stdin("host", &args, Some(yaml));
    assert!(
        out.status.success(),
        "kubectl {} failed:\n{}",
        args.join(" "),
        stderr(&out)
    );
}

/// deploy/kfed.yaml is its header comment followed by `kubectl kustomize config/default`.
fn deploy_manifest_is_current(rendered: &str) {
    let path = repo_root().join("deploy/kfed.yaml");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let body: String = checked_in
        .split_inclusive('\n')
        .skip_while(|l| l.starts_with('#'))
        .collect();
    if body != rendered {
        let line = body
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "its length".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "deploy/kfed.yaml is stale (differs from `kubectl kustomize config/default` at {line} after the header): \
             run make deploy (deploy/render.sh)"
        );
    }
}

/// config/crd/kustomization.yaml lists exactly the files in config/crd/bases, and renders each.
fn crd_kustomization_lists_every_crd(crds: &[Value]) {
    let path = repo_root().join("config/crd/kustomization.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let kustomization: Value = serde_yaml_ng::from_str(&text).expect("config/crd/kustomization.yaml parses");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("config/crd/kustomization.yaml has resources")
        .iter()
        .map(|r| r.as_str().expect("resources are paths").to_string())
        .collect();
    let files: BTreeSet<String> = yaml_files(&repo_root().join("config/crd/bases"))
        .iter()
        .map(|p| format!("bases/{}", p.file_name().expect("file name").to_string_lossy()))
        .collect();
    let missing: Vec<_> = files.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&files).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "config/crd/kustomization.yaml must list every file in config/crd/bases: missing {missing:?}, not in bases {extra:?}"
    );
    // 31 federated kinds, KubeFedCluster, KubeFedConfig and FederatedTypeConfig, each file
    // named after its CRD.
    assert_eq!(files.len(), kfed_codegen::CATALOG.len() + 3);
    let rendered: BTreeSet<String> = crds
        .iter()
        .map(|o| {
            assert_eq!(o["kind"], "CustomResourceDefinition");
            format!("bases/{}.yaml", o["metadata"]["name"].as_str().expect("CRD name"))
        })
        .collect();
    assert_eq!(rendered, files, "each CRD file holds the CRD it is named after");
}

/// Namespaced objects are in kube-federation-system; cluster-scoped ones carry no namespace.
fn namespaces_are_right(objects: &[Value]) {
    const CLUSTER_SCOPED: &[&str] = &[
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "FlowSchema",
    ];
    for o in objects {
        let kind = o["kind"].as_str().expect("kind");
        let namespace = o["metadata"]["namespace"].as_str();
        if CLUSTER_SCOPED.contains(&kind) {
            assert_eq!(
                namespace, None,
                "cluster-scoped {kind} {} has a namespace",
                o["metadata"]["name"]
            );
        } else {
            assert_eq!(namespace, Some(NS), "{kind} {} is not in {NS}", o["metadata"]["name"]);
        }
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/part-of"], "kfed",
            "{kind} {} lacks the part-of label",
            o["metadata"]["name"]
        );
    }
}

/// (apiGroup, resource, verb) triples of a rule list; fails on any wildcard.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut triples = BTreeSet::new();
    let strings = |v: &Value, field: &str| -> Vec<String> {
        v[field]
            .as_array()
            .unwrap_or_else(|| panic!("rule without {field}: {v}"))
            .iter()
            .map(|s| s.as_str().expect("strings").to_string())
            .collect()
    };
    for rule in role["rules"].as_array().expect("rules") {
        assert!(rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none());
        for group in strings(rule, "apiGroups") {
            for resource in strings(rule, "resources") {
                for verb in strings(rule, "verbs") {
                    // The one wildcard: every resource of kfed's own federated group, as its
                    // kinds are runtime data (FederatedTypeConfigs add them while kfed runs).
                    let federated_types = group == "types.kubefed.io" && resource == "*";
                    assert!(
                        !group.contains('*') && (!resource.contains('*') || federated_types) && !verb.contains('*'),
                        "{} {} grants a wildcard: {group}/{resource} {verb}",
                        role["kind"],
                        role["metadata"]["name"]
                    );
                    triples.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    triples
}

fn triples(group: &str, resources: &[String], verbs: &[&str]) -> BTreeSet<(String, String, String)> {
    resources
        .iter()
        .flat_map(|r| verbs.iter().map(move |v| (group.to_string(), r.clone(), v.to_string())))
        .collect()
}

/// The ClusterRole grants exactly the operator's cluster-wide calls on the host.
fn cluster_role_is_exact(objects: &[Value]) {
    let role = find(objects, "ClusterRole", "kfed-controller");
    let actual = grants(role);
    assert!(
        !actual.iter().any(|(g, r, _)| g.is_empty() && r.starts_with("secrets")),
        "the ClusterRole grants something on Secrets cluster-wide"
    );
    // Kinds are runtime data (FederatedTypeConfigs), so every federated type and its status.
    let mut expected = triples("types.kubefed.io", &["*".into()], &["get", "list", "watch", "patch"]);
    expected.extend(triples(
        "apiextensions.k8s.io",
        &["customresourcedefinitions".into()],
        &["get", "list", "watch"],
    ));
    expected.extend(triples("events.k8s.io", &["events".into()], &["create", "patch"]));
    expected.extend(triples("", &["namespaces".into()], &["get"]));
    let missing: Vec<_> = expected.difference(&actual).collect();
    let extra: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "ClusterRole kfed-controller: missing {missing:?}, beyond the operator's needs {extra:?}"
    );

    let binding = find(objects, "ClusterRoleBinding", "kfed-controller");
    assert_eq!(binding["roleRef"]["name"], "kfed-controller");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "kfed-controller", "namespace": NS}])
    );
}

/// The Role in the federation namespace: KubeFedClusters, their Secrets, the leader Lease.
fn role_is_exact(objects: &[Value]) {
    let role = find(objects, "Role", "kfed-controller");
    assert_eq!(role["metadata"]["namespace"], NS);
    let mut expected = triples(
        "core.kubefed.io",
        &["kubefedclusters".into()],
        &["get", "list", "watch"],
    );
    expected.extend(triples(
        "core.kubefed.io",
        &["kubefedclusters/status".into()],
        &["patch"],
    ));
    expected.extend(triples(
        "core.kubefed.io",
        &["kubefedconfigs".into()],
        &["get", "create"],
    ));
    expected.extend(triples(
        "core.kubefed.io",
        &["federatedtypeconfigs".into()],
        &["get", "list", "watch", "patch"],
    ));
    expected.extend(triples(
        "core.kubefed.io",
        &["federatedtypeconfigs/status".into()],
        &["patch"],
    ));
    expected.extend(triples("", &["secrets".into()], &["get", "list", "watch"]));
    expected.extend(triples(
        "coordination.k8s.io",
        &["leases".into()],
        &["get", "create", "update"],
    ));
    let actual = grants(role);
    assert_eq!(
        actual, expected,
        "Role kfed-controller grants exactly the namespaced calls"
    );

    let binding = find(objects, "RoleBinding", "kfed-controller");
    assert_eq!(binding["metadata"]["namespace"], NS);
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["roleRef"]["name"], "kfed-controller");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "kfed-controller", "namespace": NS}])
    );
    find(objects, "ServiceAccount", "kfed-controller");
}

/// The controller Deployment: the agreed command line, identity, probes and a hardened pod.
fn controller_deployment(objects: &[Value]) {
    let deployment = find(objects, "Deployment", "kfed-controller");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["serviceAccountName"], "kfed-controller");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["image"], "kfed:0.1.0");
    assert_eq!(
        c["args"],
        serde_json::json!(["controller", "--leader-elect", "--metrics-bind-address=0.0.0.0:9090"])
    );
    let pod_name = c["env"]
        .as_array()
        .and_then(|env| env.iter().find(|e| e["name"] == "POD_NAME"))
        .expect("POD_NAME is set");
    assert_eq!(pod_name["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(c["ports"][0]["containerPort"], 9090);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe} uses the metrics port");
    }
    for resource in ["cpu", "memory"] {
        assert!(c["resources"]["requests"][resource].is_string(), "a {resource} request");
        assert!(c["resources"]["limits"][resource].is_string(), "a {resource} limit");
    }
    let security = &c["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert!(
        security["runAsUser"].as_u64().is_some_and(|u| u > 0),
        "a numeric non-root user"
    );
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");

    let service = find(objects, "Service", "kfed-metrics");
    assert_eq!(
        service["spec"]["ports"],
        serde_json::json!([{"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": "metrics"}])
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

/// The Prometheus overlay: scrape annotations on the pods and the Service, and a ServiceMonitor.
fn prometheus_overlay(objects: &[Value]) {
    let expected = serde_json::json!({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "prometheus.io/path": "/metrics",
    });
    let deployment = find(objects, "Deployment", "kfed-controller");
    assert_eq!(deployment["spec"]["template"]["metadata"]["annotations"], expected);
    let service = find(objects, "Service", "kfed-metrics");
    assert_eq!(service["metadata"]["annotations"], expected);
    let monitor = find(objects, "ServiceMonitor", "kfed-controller");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["namespace"], NS);
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert!(
        contains(
            &service["metadata"]["labels"],
            &monitor["spec"]["selector"]["matchLabels"]
        ),
        "the ServiceMonitor selects the kfed-metrics Service"
    );
}
