//! Every kind in the catalog through the whole life cycle, on the real testbed:
//! create on both members (template + overrides, status OK), update the template,
//! change one cluster's override (only that cluster changes), drop a cluster from
//! the placement, delete. All kinds move through each phase together.

mod common;

use common::{Controller, Testbed, contains, eventually, propagation, repo_root};
use kfed_codegen::{CATALOG, Scope, TargetKind};
use serde_json::{Value, json};
use std::time::Duration;

const NS: &str = "kfed-t-kinds";
const WAIT: Duration = Duration::from_secs(120);

struct Case {
    target: &'static TargetKind,
    name: String,
    /// Namespace of the federated object (`None` for cluster-scoped federated kinds).
    namespace: Option<String>,
    template: Value,
}

impl Case {
    fn member_namespace(&self) -> Option<&str> {
        if self.target.scope == Scope::Namespaced {
            self.namespace.as_deref()
        } else {
            None
        }
    }

    fn member_resource(&self) -> String {
        if self.target.group.is_empty() {
            self.target.plural.to_string()
        } else {
            format!("{}.{}", self.target.plural, self.target.group)
        }
    }

    fn federated_resource(&self) -> String {
        format!("{}.types.kubefed.io", self.target.federated_plural())
    }

    fn federated(&self, template: &Value, clusters: &[&str], member2_annotation: &str) -> Value {
        let mut metadata = json!({ "name": self.name });
        if let Some(ns) = &self.namespace {
            metadata["namespace"] = json!(ns);
        }
        json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": self.target.federated_kind(),
            "metadata": metadata,
            "spec": {
                "template": template,
                "placement": { "clusters": clusters.iter().map(|c| json!({"name": c})).collect::<Vec<_>>() },
                "overrides": [{
                    "clusterName": "member2",
                    "clusterOverrides": [{"op": "add", "path": "/metadata/annotations", "value": {"kfed-test": member2_annotation}}]
                }]
            }
        })
    }

    fn member(&self, tb: &Testbed, cluster: &str) -> Option<Value> {
        tb.get(cluster, &self.member_resource(), self.member_namespace(), &self.name)
    }
}

fn cases() -> Vec<Case> {
    CATALOG
        .iter()
        .map(|target| {
            let path = repo_root().join(format!("tests/fixtures/templates/{}.yaml", target.kind));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let template: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let fixed_name = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# name: "))
                .map(str::to_string);
            let name = fixed_name.unwrap_or_else(|| format!("kinds-{}", target.kind.to_ascii_lowercase()));
            let namespace = if target.is_namespace() {
                Some(name.clone()) // a FederatedNamespace lives in the namespace it describes
            } else {
                (target.federated_scope() == Scope::Namespaced).then(|| NS.to_string())
            };
            Case {
                target,
                name,
                namespace,
                template,
            }
        })
        .collect()
}

fn apply_all(tb: &Testbed, cases: &[Case], build: impl Fn(&Case) -> Value) {
    let items: Vec<Value> = cases.iter().map(build).collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    tb.apply("host", &list.to_string());
}

fn wait_all(what: &str, cases: &[Case], check: impl Fn(&Case) -> bool) {
    eventually(what, WAIT, || {
        let pending: Vec<&str> = cases.iter().filter(|c| !check(c)).map(|c| c.target.kind).collect();
        if !pending.is_empty() {
            eprintln!("{what}: waiting for {pending:?}");
        }
        pending.is_empty().then_some(())
    });
}

#[test]
fn every_kind_through_its_life_cycle() {
    let tb = Testbed::connect();
    let members = tb.federate();
    tb.federated_namespace(NS, &members);
    let cases = cases();
    for case in cases.iter().filter(|c| c.target.is_namespace()) {
        let ns = case.namespace.as_deref().expect("a FederatedNamespace has a namespace");
        let _ = tb.kubectl("host", &["create", "namespace", ns]);
    }
    for case in cases.iter().filter(|c| c.target.scope == Scope::Cluster) {
        for member in &members {
            let _ = tb.kubectl(
                member,
                &[
                    "delete",
                    &case.member_resource(),
                    &case.name,
                    "--ignore-not-found",
                    "--wait=true",
                ],
            );
        }
    }
    let controller = Controller::start(&tb, "kinds", &[]);

    // Create on both members.
    apply_all(&tb, &cases, |c| {
        c.federated(&c.template, &["member1", "member2"], "member2")
    });
    wait_all(
        "every kind in both members, equal to template + overrides",
        &cases,
        |c| {
            let (Some(m1), Some(m2)) = (c.member(&tb, "member1"), c.member(&tb, "member2")) else {
                return false;
            };
            contains(&m1, &c.template)
                && contains(&m2, &c.template)
                && m2["metadata"]["annotations"]["kfed-test"] == "member2"
                && m1["metadata"]["annotations"].get("kfed-test").is_none()
                && m1["metadata"]["labels"]["kubefed.io/managed"] == "true"
        },
    );
    wait_all("every kind Propagation=True with both clusters OK", &cases, |c| {
        let Some(obj) = tb.get("host", &c.federated_resource(), c.namespace.as_deref(), &c.name) else {
            return false;
        };
        let (condition, clusters) = propagation(&obj);
        condition.as_deref() == Some("True")
            && clusters == vec![("member1".into(), String::new()), ("member2".into(), String::new())]
    });

    // Update the template: both members follow.
    let updated = |c: &Case| {
        let mut t = c.template.clone();
        t["metadata"]["labels"]["round"] = json!("2");
        t
    };
    apply_all(&tb, &cases, |c| {
        c.federated(&updated(c), &["member1", "member2"], "member2")
    });
    wait_all("the template update in both members", &cases, |c| {
        ["member1", "member2"].iter().all(|m| {
            c.member(&tb, m)
                .is_some_and(|o| o["metadata"]["labels"]["round"] == "2")
        })
    });

    // Change member2's override: only member2 changes.
    let before: Vec<Value> = cases
        .iter()
        .map(|c| c.member(&tb, "member1").expect("exists")["metadata"]["resourceVersion"].clone())
        .collect();
    apply_all(&tb, &cases, |c| {
        c.federated(&updated(c), &["member1", "member2"], "member2-v2")
    });
    wait_all("the new override in member2", &cases, |c| {
        c.member(&tb, "member2")
            .is_some_and(|o| o["metadata"]["annotations"]["kfed-test"] == "member2-v2")
    });
    for (case, rv) in cases.iter().zip(&before) {
        let now = case.member(&tb, "member1").expect("exists")["metadata"]["resourceVersion"].clone();
        assert_eq!(
            &now, rv,
            "{}: member1 must not be written when only member2's override changes",
            case.target.kind
        );
    }

    // Drop member2 from the placement: removed there, kept in member1.
    apply_all(&tb, &cases, |c| c.federated(&updated(c), &["member1"], "member2-v2"));
    wait_all("removal from member2", &cases, |c| c.member(&tb, "member2").is_none());
    for case in &cases {
        assert!(
            case.member(&tb, "member1").is_some(),
            "{} stays in member1",
            case.target.kind
        );
    }

    // Delete: the federated object goes only after the member objects are gone.
    for case in &cases {
        let mut args = vec!["delete", "--wait=false"];
        let resource = case.federated_resource();
        args.extend([resource.as_str(), case.name.as_str()]);
        if let Some(ns) = &case.namespace {
            args.extend(["-n", ns.as_str()]);
        }
        tb.kubectl_ok("host", &args);
    }
    wait_all("federated objects to be deleted", &cases, |c| {
        let gone = tb
            .get("host", &c.federated_resource(), c.namespace.as_deref(), &c.name)
            .is_none();
        if gone {
            assert!(
                c.member(&tb, "member1").is_none(),
                "{}: the federated object went before its member object",
                c.target.kind
            );
        }
        gone
    });
    controller.stop();
}
