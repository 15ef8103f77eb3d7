//! Namespace isolation: a federated object in namespace A can never create or change
//! anything outside A in a member. Attempts that the host's API server refuses are
//! asserted refused with their message; the ones it accepts are propagated (or fail in
//! the member) while, in every member and in the host, namespace B stays exactly as it
//! was (every object compared whole), the cluster-scoped catalog objects stay exactly
//! as they were, and no object outside A gains or changes kfed's managed label.

mod common;

use common::{Controller, Testbed, eventually, message, propagation};
use kfed_codegen::{CATALOG, Scope};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const A: &str = "kfed-t-iso-a";
const B: &str = "kfed-t-iso-b";
const IDENTITY: &str =
    "overrides may not change /metadata/name, /metadata/namespace, /metadata/generateName, /metadata or /kind";
const BAD_NAME: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters";

/// Every object of every listable namespaced type in `ns`, plus the namespace itself, by
/// apiVersion, kind and name.
fn namespace_contents(tb: &Testbed, context: &str, ns: &str) -> BTreeMap<String, Value> {
    let types = tb.kubectl_ok(
        context,
        &["api-resources", "--namespaced=true", "--verbs=list", "-o", "name"],
    );
    let types: Vec<&str> = types.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(types.len() > 20, "{context}: only {types:?} are listable");
    let mut objects = list(tb, context, &["get", &types.join(","), "-n", ns, "-o", "json"]);
    let namespace = tb.get(context, "namespace", None, ns).expect("namespace B exists");
    objects.insert(key(&namespace), namespace);
    objects
}

/// Every cluster-scoped object of the catalog's kinds (what a member's kfed identity may
/// write), namespaces apart (other tests create and delete theirs): only their names.
fn cluster_scoped(tb: &Testbed, context: &str) -> (BTreeMap<String, Value>, BTreeSet<String>) {
    let types: Vec<String> = CATALOG
        .iter()
        .filter(|k| k.scope == Scope::Cluster && !k.is_namespace())
        .map(resource)
        .collect();
    let objects = list(tb, context, &["get", &types.join(","), "-o", "json"]);
    let namespaces = list(tb, context, &["get", "namespaces", "-o", "json"])
        .into_values()
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    (objects, namespaces)
}

/// Objects of the catalog's kinds carrying kfed's managed label, anywhere but in A
/// (and the Namespace A itself, which the FederatedNamespace legitimately manages).
fn managed_outside_a(tb: &Testbed, context: &str) -> BTreeMap<String, Value> {
    let types: Vec<String> = CATALOG.iter().map(resource).collect();
    list(
        tb,
        context,
        &["get", &types.join(","), "-A", "-l", "kubefed.io/managed", "-o", "json"],
    )
    .into_iter()
    .filter(|(_, o)| o["metadata"]["namespace"] != A && !(o["kind"] == "Namespace" && o["metadata"]["name"] == A))
    .collect()
}

fn resource(kind: &kfed_codegen::TargetKind) -> String {
    if kind.group.is_empty() {
        kind.plural.to_string()
    } else {
        format!("{}.{}", kind.plural, kind.group)
    }
}

fn list(tb: &Testbed, context: &str, args: &[&str]) -> BTreeMap<String, Value> {
    let out = tb.kubectl_ok(context, args);
    let list: Value = serde_json::from_str(&out).expect("kubectl prints JSON");
    list["items"]
        .as_array()
        .expect("a List")
        .iter()
        .map(|o| (key(o), o.clone()))
        .collect()
}

fn key(o: &Value) -> String {
    format!(
        "{} {} {}/{}",
        o["apiVersion"].as_str().unwrap_or_default(),
        o["kind"].as_str().unwrap_or_default(),
        o["metadata"]["namespace"].as_str().unwrap_or_default(),
        o["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The keys whose objects differ between two listings (added, removed or changed).
fn differences(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<String> {
    before
        .keys()
        .chain(after.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| match (before.get(k), after.get(k)) {
            (None, _) => format!("added: {k}"),
            (_, None) => format!("removed: {k}"),
            _ => format!("changed: {k}"),
        })
        .collect()
}

/// What the test compares at the start and at the end, per cluster.
struct Snapshot {
    b: BTreeMap<String, BTreeMap<String, Value>>,
    cluster_scoped: BTreeMap<String, BTreeMap<String, Value>>,
    namespaces: BTreeMap<String, BTreeSet<String>>,
    managed_outside_a: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Snapshot {
    fn take(tb: &Testbed, members: &[String]) -> Snapshot {
        let mut s = Snapshot {
            b: BTreeMap::new(),
            cluster_scoped: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            managed_outside_a: BTreeMap::new(),
        };
        s.b.insert("host".into(), namespace_contents(tb, "host", B));
        for m in members {
            s.b.insert(m.clone(), namespace_contents(tb, m, B));
            let (objects, namespaces) = cluster_scoped(tb, m);
            s.cluster_scoped.insert(m.clone(), objects);
            s.namespaces.insert(m.clone(), namespaces);
            s.managed_outside_a.insert(m.clone(), managed_outside_a(tb, m));
        }
        s
    }

    /// Taken again until two in a row agree, so the member's own controllers (default
    /// ServiceAccount, root CA ConfigMap) have settled before the test starts.
    fn settled(tb: &Testbed, members: &[String]) -> Snapshot {
        let mut last = Snapshot::take(tb, members);
        eventually("namespace B and the cluster scope to settle", WAIT, || {
            std::thread::sleep(Duration::from_secs(2));
            let next = Snapshot::take(tb, members);
            let same = next.b == last.b && next.cluster_scoped == last.cluster_scoped;
            last = next;
            same.then_some(())
        });
        last
    }

    fn objects_compared(&self) -> usize {
        self.b.values().map(BTreeMap::len).sum::<usize>()
            + self.cluster_scoped.values().map(BTreeMap::len).sum::<usize>()
    }
}

fn federated(kind: &str, name: &str, ns: &str, template: &str, overrides: &str) -> String {
    format!(
        "apiVersion: types.kubefed.io/v1beta1\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  placement:\n    clusters: [{{name: member1}}, {{name: member2}}]\n  template: {template}\n{overrides}"
    )
}

/// Overrides for member1 only.
fn member1_overrides(ops: &str) -> String {
    format!("  overrides:\n  - clusterName: member1\n    clusterOverrides: {ops}\n")
}

fn refused(tb: &Testbed, what: &str, yaml: &str, message: &str) {
    let out = tb.kubectl_stdin(
        "host",
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(yaml),
    );
    let err = common::stderr(&out);
    assert!(!out.status.success(), "{what}: the host accepted\n{yaml}");
    assert!(
        err.contains(message),
        "{what}: refused with {err:?}, expected {message:?}"
    );
}

/// POSTs a FederatedConfigMap straight to the API (kubectl's own name checks bypassed).
fn refused_name(tb: &Testbed, name: &str, message: &str) {
    let body = json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": A},
        "spec": {"template": {"data": {"k": "v"}}, "placement": {"clusters": [{"name": "member1"}]}},
    });
    let path = format!("/apis/types.kubefed.io/v1beta1/namespaces/{A}/federatedconfigmaps");
    let out = tb.kubectl_stdin("host", &["create", "--raw", &path, "-f", "-"], Some(&body.to_string()));
    let err = common::stderr(&out);
    assert!(!out.status.success(), "name {name:?}: the host accepted it");
    assert!(
        err.contains(message),
        "name {name:?}: refused with {err:?}, expected {message:?}"
    );
}

/// Waits until the object's per-cluster statuses are `expect` ("" = in sync); returns it.
fn wait_status(tb: &Testbed, resource: &str, name: &str, expect: &[(&str, &str)]) -> Value {
    eventually(&format!("{resource} {A}/{name}: {expect:?}"), WAIT, || {
        let obj = tb.get("host", resource, Some(A), name)?;
        let (condition, clusters) = propagation(&obj);
        let want: Vec<(String, String)> = expect.iter().map(|(c, s)| (c.to_string(), s.to_string())).collect();
        let all_ok = expect.iter().all(|(_, s)| s.is_empty());
        (clusters == want && condition.as_deref() == Some(if all_ok { "True" } else { "False" })).then_some(obj)
    })
}

#[test]
fn a_federated_object_never_reaches_outside_its_namespace() {
    let tb = Testbed::connect();
    let members = tb.federate();
    assert_eq!(members[..2], ["member1", "member2"]);
    tb.federated_namespace(A, &members);

    // Namespace B everywhere, not federated, with unmanaged objects named like A's.
    for context in std::iter::once("host").chain(members.iter().map(String::as_str)) {
        tb.fresh_namespace(context, B);
        tb.apply(
            context,
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: shared, namespace: {B}}}\ndata: {{owner: namespace-b}}\n---\n\
                 apiVersion: v1\nkind: Secret\nmetadata: {{name: shared, namespace: {B}}}\nstringData: {{owner: namespace-b}}\n---\n\
                 apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: sa, namespace: {B}}}\n---\n\
                 apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: reader, namespace: {B}}}\nrules: []\n"
            ),
        );
    }
    let before = Snapshot::settled(&tb, &members);
    let controller = Controller::start(&tb, "isolation", &[]);

    // Refused by the host at admission: nothing of these is ever stored.
    let cm_data = "{data: {k: v}}";
    refused(
        &tb,
        "template namespace B",
        &federated(
            "FederatedConfigMap",
            "template-ns",
            A,
            &format!("{{metadata: {{namespace: {B}}}, data: {{k: v}}}}"),
            "",
        ),
        &format!(
            "spec.template.metadata.namespace {B} must be empty or equal to the namespace of the FederatedConfigMap ({A})"
        ),
    );
    refused(
        &tb,
        "RoleBinding template namespace B",
        &federated(
            "FederatedRoleBinding",
            "template-ns",
            A,
            &format!(
                "{{metadata: {{namespace: {B}}}, roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}}}"
            ),
            "",
        ),
        &format!(
            "spec.template.metadata.namespace {B} must be empty or equal to the namespace of the FederatedRoleBinding ({A})"
        ),
    );
    for (path, value) in [
        ("/metadata/namespace", B.to_string()),
        ("/metadata/name", "shared".to_string()),
        ("/metadata/generateName", "x-".to_string()),
        ("/metadata", format!("{{name: shared, namespace: {B}}}")),
        ("/kind", "ClusterRole".to_string()),
    ] {
        for op in ["replace", "add", "remove"] {
            let value = if op == "remove" {
                String::new()
            } else {
                format!(", value: {value}")
            };
            refused(
                &tb,
                &format!("override {op} {path}"),
                &federated(
                    "FederatedConfigMap",
                    "override-identity",
                    A,
                    cm_data,
                    &member1_overrides(&format!("[{{op: {op}, path: {path}{value}}}]")),
                ),
                IDENTITY,
            );
        }
    }
    refused(
        &tb,
        "FederatedNamespace named B in A",
        &format!(
            "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedNamespace\nmetadata: {{name: {B}, namespace: {A}}}\nspec: {{placement: {{clusters: [{{name: member1}}]}}}}\n"
        ),
        &format!("a FederatedNamespace must be named after the namespace it lives in: name it {A}"),
    );
    refused(
        &tb,
        "FederatedNamespace named A in B",
        &format!(
            "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedNamespace\nmetadata: {{name: {A}, namespace: {B}}}\nspec: {{placement: {{clusters: [{{name: member1}}]}}}}\n"
        ),
        &format!("a FederatedNamespace must be named after the namespace it lives in: name it {B}"),
    );
    for name in [
        "..",
        "a..b",
        "a/b",
        &format!("../{B}"),
        &format!("{B}/shared"),
        "Shared",
        "shared ",
    ] {
        refused_name(&tb, name, BAD_NAME);
    }
    refused_name(&tb, &"x".repeat(254), "must be no more than 253 characters");
    for kind in ["federatedconfigmap", "federatedrolebinding", "federatednamespace"] {
        let names = tb.kubectl_ok("host", &["get", kind, "-n", A, "-o", "name"]);
        let stored: Vec<&str> = names.lines().filter(|n| !n.ends_with(&format!("/{A}"))).collect();
        assert!(stored.is_empty(), "refused objects were stored: {stored:?}");
    }
    assert!(tb.get("host", "federatednamespace", Some(B), A).is_none());

    // Accepted by the host: they land in A (or fail in the member), never anywhere else.
    let long_name = format!("long-{}", "n".repeat(248));
    let service_name = format!("svc-{}", "s".repeat(96));
    let service_template = "{spec: {ports: [{port: 80}]}}";
    let accepted = [
        // Same name as the unmanaged objects of B.
        federated("FederatedConfigMap", "shared", A, "{data: {owner: namespace-a}}", ""),
        federated("FederatedSecret", "shared", A, "{stringData: {owner: namespace-a}}", ""),
        // Identity in the template is ignored: the member object is ConfigMap A/template-identity.
        federated(
            "FederatedConfigMap",
            "template-identity",
            A,
            &format!(
                "{{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {{name: shared, generateName: x-, namespace: {A}, uid: 00000000-0000-0000-0000-000000000000, resourceVersion: '1', labels: {{from: template}}}}, data: {{k: v}}}}"
            ),
            "",
        ),
        // A cluster-scoped apiVersion, case variants of identity keys, pointers that only look like them.
        federated(
            "FederatedConfigMap",
            "api-version-override",
            A,
            cm_data,
            &member1_overrides("[{path: /apiVersion, value: rbac.authorization.k8s.io/v1}]"),
        ),
        federated(
            "FederatedConfigMap",
            "case-variant-kind",
            A,
            cm_data,
            &member1_overrides("[{op: add, path: /Kind, value: ClusterRole}]"),
        ),
        federated(
            "FederatedConfigMap",
            "case-variant-namespace",
            A,
            cm_data,
            &member1_overrides(&format!("[{{op: add, path: /metadata/Namespace, value: {B}}}]")),
        ),
        federated(
            "FederatedConfigMap",
            "namespace-below",
            A,
            cm_data,
            &member1_overrides(&format!("[{{op: add, path: /metadata/namespace/, value: {B}}}]")),
        ),
        federated(
            "FederatedConfigMap",
            "escaped-slash",
            A,
            cm_data,
            &member1_overrides(&format!(
                "[{{op: add, path: '/metadata/name~1..~1..~1{B}', value: shared}}]"
            )),
        ),
        // Very long names: valid for a ConfigMap (253), too long for a Service (63), dots refused there.
        federated("FederatedConfigMap", &long_name, A, cm_data, ""),
        federated("FederatedService", &service_name, A, service_template, ""),
        federated("FederatedService", "dotted.name", A, service_template, ""),
        // Subjects in another namespace are legitimate content; the binding lands in A only.
        federated(
            "FederatedRole",
            "reader",
            A,
            "{rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]}",
            "",
        ),
        federated(
            "FederatedRoleBinding",
            "cross-ns",
            A,
            &format!(
                "{{roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}, subjects: [{{kind: ServiceAccount, name: sa, namespace: {B}}}, {{kind: ServiceAccount, name: default, namespace: kube-system}}]}}"
            ),
            "",
        ),
    ];
    for yaml in &accepted {
        tb.apply("host", yaml);
    }

    let ok: &[(&str, &str)] = &[("member1", ""), ("member2", "")];
    for (resource, name) in [
        ("federatedconfigmap", "shared"),
        ("federatedsecret", "shared"),
        ("federatedconfigmap", "template-identity"),
        ("federatedconfigmap", long_name.as_str()),
        ("federatedrole", "reader"),
        ("federatedrolebinding", "cross-ns"),
    ] {
        wait_status(&tb, resource, name, ok);
    }
    let member1_fails = |name: &str, state: &str, fragment: &str| {
        let obj = wait_status(&tb, "federatedconfigmap", name, &[("member1", state), ("member2", "")]);
        assert!(message(&obj).contains(fragment), "{name}: {}", message(&obj));
    };
    member1_fails(
        "api-version-override",
        "CreationFailed",
        "invalid object type: rbac.authorization.k8s.io/v1, Kind=ConfigMap",
    );
    member1_fails(
        "case-variant-kind",
        "CreationFailed",
        ".Kind: field not declared in schema",
    );
    member1_fails(
        "case-variant-namespace",
        "CreationFailed",
        ".metadata.Namespace: field not declared in schema",
    );
    member1_fails(
        "namespace-below",
        "ApplyOverridesFailed",
        "/metadata/namespace is a string",
    );
    member1_fails(
        "escaped-slash",
        "CreationFailed",
        &format!(".metadata.name/../../{B}: field not declared in schema"),
    );
    let both_fail = [("member1", "CreationFailed"), ("member2", "CreationFailed")];
    let svc = wait_status(&tb, "federatedservice", &service_name, &both_fail);
    assert!(
        message(&svc).contains("must be no more than 63 characters"),
        "{}",
        message(&svc)
    );
    let svc = wait_status(&tb, "federatedservice", "dotted.name", &both_fail);
    assert!(message(&svc).contains("must not contain dots"), "{}", message(&svc));

    // In A: exactly the expected objects, with the federated names and A's content.
    for m in &members {
        let mut expected: BTreeSet<String> = [
            "ConfigMap/shared",
            "Secret/shared",
            "ConfigMap/template-identity",
            "Role/reader",
            "RoleBinding/cross-ns",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        expected.insert(format!("ConfigMap/{long_name}"));
        if m == "member2" {
            for name in [
                "api-version-override",
                "case-variant-kind",
                "case-variant-namespace",
                "namespace-below",
                "escaped-slash",
            ] {
                expected.insert(format!("ConfigMap/{name}"));
            }
        }
        let types: Vec<String> = CATALOG
            .iter()
            .filter(|k| k.scope == Scope::Namespaced)
            .map(resource)
            .collect();
        let managed: BTreeSet<String> = list(
            &tb,
            m,
            &[
                "get",
                &types.join(","),
                "-n",
                A,
                "-l",
                "kubefed.io/managed",
                "-o",
                "json",
            ],
        )
        .into_values()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
        assert_eq!(managed, expected, "{m}: managed objects in {A}");
        let cm = tb.get(m, "configmap", Some(A), "shared").expect("shared in A");
        assert_eq!(cm["data"], json!({"owner": "namespace-a"}), "{m}");
        let from_template = tb
            .get(m, "configmap", Some(A), "template-identity")
            .expect("template-identity in A");
        assert_eq!(from_template["apiVersion"], "v1", "{m}");
        assert_eq!(from_template["metadata"]["labels"]["from"], "template", "{m}");
        assert_ne!(
            from_template["metadata"]["uid"], "00000000-0000-0000-0000-000000000000",
            "{m}"
        );
        let binding = tb.get(m, "rolebinding", Some(A), "cross-ns").expect("cross-ns in A");
        assert_eq!(binding["subjects"][0]["namespace"], B, "{m}: subjects are content");
        for name in [
            "shared",
            "template-identity",
            "api-version-override",
            "case-variant-kind",
            "cross-ns",
        ] {
            assert!(
                tb.get(m, "clusterrole", None, name).is_none(),
                "{m}: a ClusterRole {name} was created"
            );
        }
    }

    // Let any stray write land, then: B, the cluster scope and the managed label elsewhere unchanged.
    std::thread::sleep(Duration::from_secs(3));
    let after = Snapshot::take(&tb, &members);
    for (context, b) in &before.b {
        let diff = differences(b, &after.b[context]);
        assert!(diff.is_empty(), "{context}: namespace {B} changed: {diff:#?}");
    }
    for m in &members {
        let diff = differences(&before.cluster_scoped[m], &after.cluster_scoped[m]);
        assert!(diff.is_empty(), "{m}: cluster-scoped objects changed: {diff:#?}");
        let new: Vec<&String> = after.namespaces[m]
            .difference(&before.namespaces[m])
            .filter(|n| n.as_str() != A)
            .collect();
        assert!(new.is_empty(), "{m}: namespaces appeared: {new:?}");
        let diff = differences(&before.managed_outside_a[m], &after.managed_outside_a[m]);
        assert!(diff.is_empty(), "{m}: managed objects outside {A} changed: {diff:#?}");
    }
    eprintln!(
        "isolation: {} objects compared whole (namespace {B} in {} clusters, cluster scope in {} members), {} managed objects outside {A}",
        before.objects_compared(),
        before.b.len(),
        members.len(),
        before.managed_outside_a.values().map(BTreeMap::len).sum::<usize>()
    );

    // Clean up with the controller running, so finalizers are released and members emptied.
    tb.delete_namespace("host", A);
    for m in &members {
        eventually(&format!("{m}: namespace {A} removed by kfed"), WAIT, || {
            tb.get(m, "namespace", None, A).is_none().then_some(())
        });
    }
    controller.stop();
    for context in std::iter::once("host").chain(members.iter().map(String::as_str)) {
        tb.delete_namespace(context, B);
    }
}
