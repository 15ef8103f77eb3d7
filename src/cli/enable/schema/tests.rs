use super::*;
use crate::api::crds;
use pretty_assertions::assert_eq;
use serde::Deserialize;

fn fed() -> FederatedApi {
    FederatedApi::default()
}

fn widget_crd() -> CustomResourceDefinition {
    serde_yaml_ng::from_str(WIDGET_CRD).expect("valid CRD")
}

/// A namespaced CRD with two versions (v1beta1 preferred over v1alpha1), a scale
/// subresource, nested objects, arrays, maps, int-or-string and CEL rules.
const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd, wdg]}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1beta1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        x-kubernetes-validations:
        - rule: self.metadata.name.size() < 20
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size]
            oneOf:
            - required: [size]
            - required: [port]
            properties:
              size: {type: integer, format: int32}
              port:
                x-kubernetes-int-or-string: true
                anyOf: [{type: integer}, {type: string}]
              labels:
                type: object
                additionalProperties: {type: string}
              limits:
                type: object
                additionalProperties:
                  type: object
                  properties:
                    max: {type: integer}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    target:
                      x-kubernetes-int-or-string: true
                      anyOf: [{type: integer}, {type: string}]
              raw: {type: object, x-kubernetes-preserve-unknown-fields: true}
              deep:
                type: object
                x-kubernetes-validations:
                - rule: has(self.deeper)
                properties:
                  deeper:
                    type: object
                    properties:
                      x: {type: string}
          status:
            type: object
            properties:
              replicas: {type: integer}
"#;

fn gadget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.org"},
        "spec": {
            "group": "example.org",
            "names": {"kind": "Gadget", "plural": "gadgets"},
            "scope": "Cluster",
            "versions": [{"name": "v1", "served": true, "storage": true}]
        }
    }))
    .expect("valid CRD")
}

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    serde_json::to_value(crd).expect("serializes")["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// The structural-schema rules that this module could break: every node in the
/// structural part has a type (or is int-or-string or open), and the
/// preserve-unknown-fields flag is never next to `additionalProperties` or
/// `x-kubernetes-int-or-string`, nor inside value validations.
fn assert_structural(node: &Value, path: &str) {
    let Some(map) = node.as_object() else { return };
    let flag = |k: &str| map.get(k) == Some(&json!(true));
    let preserve = flag("x-kubernetes-preserve-unknown-fields");
    assert!(
        map.contains_key("type") || flag("x-kubernetes-int-or-string") || preserve,
        "{path} has no type"
    );
    assert!(
        !(preserve && (map.contains_key("additionalProperties") || flag("x-kubernetes-int-or-string"))),
        "{path}: preserve-unknown-fields with additionalProperties or int-or-string"
    );
    for key in ["anyOf", "oneOf", "allOf"] {
        for (i, v) in map.get(key).and_then(Value::as_array).into_iter().flatten().enumerate() {
            assert!(
                v.get("x-kubernetes-preserve-unknown-fields").is_none(),
                "{path}.{key}[{i}] carries preserve-unknown-fields"
            );
        }
    }
    for (name, child) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
        assert_structural(child, &format!("{path}.{name}"));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get(key) {
            assert_structural(child, &format!("{path}.{key}"));
        }
    }
}

#[test]
fn templates_are_typed_by_the_crd_schema() {
    let crds = crds::all();
    let target = Target::from_crd(&widget_crd(), None).expect("target");
    let crd = federated_crd(&target, &fed(), &crds).expect("crd");
    let root = schema_of(&crd);
    assert_structural(&root, "root");
    let template = &root["properties"]["spec"]["properties"]["template"];
    assert_eq!(template["type"], "object");
    assert_eq!(template["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(template["nullable"], true);
    assert!(template["description"].as_str().is_some_and(|d| d.contains("kept")));
    for dropped in ["required", "x-kubernetes-validations"] {
        assert!(template.get(dropped).is_none(), "template keeps {dropped}");
    }
    let props = template["properties"].as_object().expect("properties");
    let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["metadata", "spec"]);
    let metadata = &props["metadata"];
    assert_eq!(metadata["type"], "object");
    assert_eq!(metadata["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(
        metadata["properties"]["labels"]["additionalProperties"]["type"],
        "string"
    );

    let spec = &props["spec"];
    assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(spec["required"], json!(["size"]), "nested required stays");
    assert_eq!(spec["oneOf"], json!([{"required": ["size"]}, {"required": ["port"]}]));
    let fields = &spec["properties"];
    assert_eq!(fields["size"], json!({"type": "integer", "format": "int32"}));
    assert_eq!(
        fields["port"],
        json!({"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
        "int-or-string untouched"
    );
    assert_eq!(
        fields["labels"],
        json!({"type": "object", "additionalProperties": {"type": "string"}}),
        "maps get no flag"
    );
    assert_eq!(
        fields["limits"]["additionalProperties"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    let items = &fields["ports"]["items"];
    assert_eq!(items["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(items["required"], json!(["name"]));
    assert_eq!(items["properties"]["target"]["x-kubernetes-int-or-string"], true);
    assert!(
        items["properties"]["target"]
            .get("x-kubernetes-preserve-unknown-fields")
            .is_none()
    );
    assert_eq!(fields["raw"]["x-kubernetes-preserve-unknown-fields"], true);
    let deep = &fields["deep"];
    assert_eq!(deep["x-kubernetes-validations"], json!([{"rule": "has(self.deeper)"}]));
    assert_eq!(
        deep["properties"]["deeper"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
}

#[test]
fn a_schemaless_target_gets_an_open_template() {
    let crds = crds::all();
    let base = schema_of(generated(&crds, BASE_CRD).expect("base"));
    let base_template = &base["properties"]["spec"]["properties"]["template"];
    for schema in [None, Some(json!("not a schema"))] {
        let template = template_schema(schema.as_ref(), base_template);
        assert_eq!(
            template,
            json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "description": base_template["description"],
                "nullable": true,
            })
        );
    }
    let target = Target::from_crd(&gadget_crd(), None).expect("target");
    assert_eq!(target.schema, None);
    let crd = federated_crd(&target, &fed(), &crds).expect("crd");
    let root = schema_of(&crd);
    assert_structural(&root, "root");
    assert_eq!(
        root["properties"]["spec"]["properties"]["template"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    // A schema that is only `preserve-unknown-fields` still gets metadata typed.
    let open = Target::from_crd(&widget_crd(), Some("v1alpha1")).expect("v1alpha1");
    let template = template_schema(open.schema.as_ref(), base_template);
    assert_eq!(template["properties"]["metadata"]["type"], "object");
    assert_eq!(template["x-kubernetes-preserve-unknown-fields"], true);
}

#[test]
fn a_namespaced_crd_gets_kubefed_names() {
    let crds = crds::all();
    let target = Target::from_crd(&widget_crd(), None).expect("target");
    assert_eq!(target.version, "v1beta1", "the preferred version");
    assert!(target.scalable);
    assert_eq!(target.qualified_name(), "widgets.example.com");
    let crd = federated_crd(&target, &fed(), &crds).expect("crd");
    assert_eq!(crd.metadata.name.as_deref(), Some("federatedwidgets.types.kubefed.io"));
    assert_eq!(crd.spec.group, "types.kubefed.io");
    assert_eq!(crd.spec.scope, "Namespaced");
    let names = &crd.spec.names;
    assert_eq!(names.kind, "FederatedWidget");
    assert_eq!(names.plural, "federatedwidgets");
    assert_eq!(names.singular.as_deref(), Some("federatedwidget"));
    assert_eq!(names.short_names, Some(vec!["fwd".to_string(), "fwdg".to_string()]));
    assert_eq!(names.categories, Some(vec!["federated".to_string()]));

    // Everything but the names and the template is the built-in federated CRDs'.
    let base = generated(&crds, BASE_CRD).expect("base");
    let (ours, theirs) = (&crd.spec.versions[0], &base.spec.versions[0]);
    assert_eq!(ours.name, "v1beta1");
    assert_eq!(ours.additional_printer_columns, theirs.additional_printer_columns);
    assert_eq!(ours.subresources, theirs.subresources);
    assert!(ours.served && ours.storage);
    let (root, base_root) = (schema_of(&crd), schema_of(base));
    for field in ["placement", "overrides"] {
        assert_eq!(
            root["properties"]["spec"]["properties"][field], base_root["properties"]["spec"]["properties"][field],
            "{field}"
        );
    }
    assert!(
        root.pointer("/properties/spec/properties/overrides/items/properties/clusterOverrides/items/anyOf")
            .is_some(),
        "overrides keep the anyOf that requires a value"
    );
    assert_eq!(root["properties"]["status"], base_root["properties"]["status"]);
    assert_eq!(root["title"], "FederatedWidget");
    assert!(
        root["description"]
            .as_str()
            .is_some_and(|d| d.contains("`example.com/v1beta1` `Widget`"))
    );
    assert_eq!(
        root["properties"]["spec"]["properties"]["retainReplicas"]["type"],
        "boolean"
    );

    let older = Target::from_crd(&widget_crd(), Some("v1alpha1")).expect("v1alpha1");
    assert!(!older.scalable);
    let err = Target::from_crd(&widget_crd(), Some("v2")).expect_err("not served");
    assert!(err.to_string().contains("serves v1alpha1, v1beta1"), "{err}");
}

#[test]
fn a_cluster_scoped_crd_stays_cluster_scoped() {
    let crds = crds::all();
    let target = Target::from_crd(&gadget_crd(), None).expect("target");
    assert_eq!(target.scope, ResourceScope::Cluster);
    assert!(!target.scalable);
    let custom = FederatedApi::validated("fed.example.net", "v1").expect("valid");
    let crd = federated_crd(&target, &custom, &crds).expect("crd");
    assert_eq!(crd.metadata.name.as_deref(), Some("federatedgadgets.fed.example.net"));
    assert_eq!(crd.spec.group, "fed.example.net");
    assert_eq!(crd.spec.versions[0].name, "v1");
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.short_names, None);
    assert!(
        schema_of(&crd)["properties"]["spec"]["properties"]
            .get("retainReplicas")
            .is_none()
    );
}

#[test]
fn a_builtin_gets_its_generated_crd() {
    let crds = crds::all();
    let deployment = kfed_codegen::lookup("deployments.apps").expect("catalog");
    let target = Target::builtin(deployment);
    let crd = federated_crd(&target, &fed(), &crds).expect("crd");
    assert_eq!(
        &crd,
        generated(&crds, "federateddeployments.types.kubefed.io").expect("generated")
    );
    assert_eq!(target.qualified_name(), "deployments.apps");
    assert!(target.scalable);

    let namespace = Target::builtin(kfed_codegen::lookup("ns").expect("catalog"));
    assert_eq!(namespace.scope, ResourceScope::Cluster);
    assert_eq!(namespace.federated_scope(), ResourceScope::Namespaced);
    let crd = federated_crd(&namespace, &fed(), &crds).expect("crd");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(namespace.qualified_name(), "namespaces");
    // The same rule for a Namespace that is not taken from the catalog.
    let generic = Target {
        builtin: None,
        ..namespace.clone()
    };
    assert_eq!(
        federated_crd(&generic, &fed(), &crds).expect("crd").spec.scope,
        "Namespaced"
    );

    let renamed = FederatedApi::validated("types.example.com", "v1").expect("valid");
    let crd = federated_crd(&target, &renamed, &crds).expect("crd");
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("federateddeployments.types.example.com")
    );
    assert_eq!(crd.spec.group, "types.example.com");
    assert_eq!(crd.spec.versions[0].name, "v1");
}

#[test]
fn the_type_config_names_both_types() {
    let target = Target::from_crd(&widget_crd(), None).expect("target");
    let ftc = type_config(&target, &fed(), "kube-federation-system");
    let value = serde_json::to_value(&ftc).expect("serializes");
    assert_eq!(
        value,
        json!({
            "apiVersion": "core.kubefed.io/v1beta1",
            "kind": "FederatedTypeConfig",
            "metadata": {"name": "widgets.example.com", "namespace": "kube-federation-system"},
            "spec": {
                "targetType": {"group": "example.com", "version": "v1beta1", "kind": "Widget",
                               "pluralName": "widgets", "scope": "Namespaced"},
                "propagation": "Enabled",
                "federatedType": {"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedWidget",
                                  "pluralName": "federatedwidgets", "scope": "Namespaced"},
            }
        })
    );
    // KubeFed's defaulting (plural and group from the name) changes nothing.
    assert_eq!(ftc.clone().defaulted().spec, ftc.spec);

    let ns = type_config(
        &Target::builtin(kfed_codegen::lookup("Namespace").expect("catalog")),
        &fed(),
        "fed",
    );
    assert_eq!(ns.metadata.name.as_deref(), Some("namespaces"));
    assert_eq!(ns.spec.target_type.group, "");
    assert_eq!(ns.spec.target_type.scope, ResourceScope::Cluster);
    assert_eq!(ns.spec.federated_type.scope, ResourceScope::Namespaced);
    assert_eq!(ns.spec.federated_type.kind, "FederatedNamespace");
}

#[test]
fn the_output_parses_back() {
    let crds = crds::all();
    let target = Target::from_crd(&widget_crd(), None).expect("target");
    let crd = federated_crd(&target, &fed(), &crds).expect("crd");
    let ftc = type_config(&target, &fed(), "kube-federation-system");
    let docs = documents(&crd, &ftc).expect("documents");
    // The stream exactly as `print_objects(.., Output::Yaml)` writes it.
    let stream: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).expect("yaml")))
        .collect();
    let parsed: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&stream)
        .map(|d| Value::deserialize(d).expect("a YAML document"))
        .collect();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0]["kind"], "CustomResourceDefinition");
    let crd_back: CustomResourceDefinition = serde_json::from_value(parsed[0].clone()).expect("a CRD");
    assert_eq!(crd_back, crd);
    assert!(parsed[1].get("status").is_none());
    let ftc_back: FederatedTypeConfig = serde_json::from_value(parsed[1].clone()).expect("an FTC");
    assert_eq!(ftc_back.spec, ftc.spec);
    assert_eq!(ftc_back.metadata, ftc.metadata);
}

#[test]
fn federated_groups_and_targets_are_checked() {
    assert!(FederatedApi::validated("types.kubefed.io", "v1beta1").is_ok());
    for bad in ["kubefed", "", "Types.Example.com", "types..io", "-a.io"] {
        let err = FederatedApi::validated(bad, "v1beta1").expect_err(bad);
        assert!(err.to_string().contains("at least one dot"), "{err}");
    }
    for bad in ["", "V1", "1beta1", "v1.0"] {
        assert!(FederatedApi::validated("types.kubefed.io", bad).is_err(), "{bad}");
    }
    let mut target = Target::from_crd(&widget_crd(), None).expect("target");
    assert!(target.check(&fed()).is_ok());
    target.group = "types.kubefed.io".into();
    target.kind = "FederatedDeployment".into();
    let err = target.check(&fed()).expect_err("federated");
    assert!(err.to_string().contains("federated type already"), "{err}");
    assert!(err.to_string().contains("kfed enable deployment"), "{err}");
    target.group = "core.kubefed.io".into();
    assert!(target.check(&fed()).is_err());
    target.group = "example.com".into();
    target.plural = "x".repeat(60);
    assert!(target.check(&fed()).is_err());
}
