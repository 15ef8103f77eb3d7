//! What `kfed enable` creates, computed without a cluster: the `Federated<Kind>` CRD of a
//! target type and its `FederatedTypeConfig`.
//!
//! A built-in target (one of the catalog kinds) gets its generated CRD unchanged. Any other
//! target gets a CRD built on a generated one (so `placement`, `overrides` with their CEL
//! rules, `status`, the printer columns and the status subresource are exactly the
//! built-in ones) whose `spec.template` is typed by the target CRD's own schema.

use crate::api::crds::CrdFile;
use crate::api::typeconfig::{ApiResource, PropagationMode, ResourceScope};
use crate::api::{FederatedTypeConfig, FederatedTypeConfigSpec, GROUP, VERSION};
use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kfed_codegen::{Scope, TargetKind};
use serde_json::{Map, Value, json};

/// The generated federated CRD a new federated type is built on.
const BASE_CRD: &str = "federatedconfigmaps.types.kubefed.io";
/// A generated scalable federated CRD, for its `retainReplicas` field.
const SCALABLE_CRD: &str = "federateddeployments.types.kubefed.io";
/// Description of a template whose base CRD carries none.
const TEMPLATE_DESCRIPTION: &str =
    "The object to create in each placed cluster. Fields unknown to this version of kfed are kept.";

/// The type to federate.
#[derive(Clone, Debug)]
pub struct Target {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub scope: ResourceScope,
    pub short_names: Vec<String>,
    /// Has a `scale` subresource (a CRD) or an integer `spec.replicas` (a catalog kind).
    pub scalable: bool,
    /// The `openAPIV3Schema` of the chosen version, for a CRD that has one.
    pub schema: Option<Value>,
    /// The catalog entry of a built-in target.
    pub builtin: Option<&'static TargetKind>,
}

/// Group and version of the federated type (`--federated-group`, `--federated-version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedApi {
    pub group: String,
    pub version: String,
}

impl Default for FederatedApi {
    fn default() -> Self {
        Self {
            group: GROUP.into(),
            version: VERSION.into(),
        }
    }
}

impl FederatedApi {
    /// Refuses what the API server or KubeFed would: a group without a dot, or a group
    /// or version that is not a DNS name.
    pub fn validated(group: &str, version: &str) -> Result<Self> {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !group.contains('.') || group.len() > 253 || !group.split('.').all(label_ok) {
            bail!(
                "--federated-group {group:?} must be a domain name with at least one dot (e.g. {GROUP}), as KubeFed requires"
            );
        }
        if !label_ok(version) || !version.starts_with(|c: char| c.is_ascii_lowercase()) {
            bail!(
                "--federated-version {version:?} must be a lower-case DNS label starting with a letter (e.g. {VERSION})"
            );
        }
        Ok(Self {
            group: group.into(),
            version: version.into(),
        })
    }
}

fn resource_scope(scope: Scope) -> ResourceScope {
    match scope {
        Scope::Namespaced => ResourceScope::Namespaced,
        Scope::Cluster => ResourceScope::Cluster,
    }
}

fn scope_name(scope: ResourceScope) -> &'static str {
    match scope {
        ResourceScope::Namespaced => "Namespaced",
        ResourceScope::Cluster => "Cluster",
    }
}

impl Target {
    /// A catalog kind, federated by kfed's generated CRD.
    pub fn builtin(kind: &'static TargetKind) -> Self {
        Self {
            group: kind.group.into(),
            version: kind.version.into(),
            kind: kind.kind.into(),
            plural: kind.plural.into(),
            scope: resource_scope(kind.scope),
            short_names: kind.short_names.iter().map(|s| s.to_string()).collect(),
            scalable: kind.scalable,
            schema: None,
            builtin: Some(kind),
        }
    }

    /// A custom resource, at `version` or else at the version the API server prefers
    /// (the most stable served one, as discovery orders them).
    pub fn from_crd(crd: &CustomResourceDefinition, version: Option<&str>) -> Result<Self> {
        let name = crd.metadata.name.as_deref().unwrap_or_default();
        let served = || crd.spec.versions.iter().filter(|v| v.served);
        let chosen = match version {
            Some(wanted) => served().find(|v| v.name == wanted).ok_or_else(|| {
                let names: Vec<&str> = served().map(|v| v.name.as_str()).collect();
                anyhow!(
                    "CustomResourceDefinition {name} does not serve version {wanted} (it serves {})",
                    names.join(", ")
                )
            })?,
            None => served()
                .max_by_key(|v| kube::core::Version::parse(&v.name).priority())
                .ok_or_else(|| anyhow!("CustomResourceDefinition {name} serves no version"))?,
        };
        let schema = chosen
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .map(serde_json::to_value)
            .transpose()
            .with_context(|| format!("reading the schema of CustomResourceDefinition {name}"))?;
        let names = &crd.spec.names;
        Ok(Self {
            group: crd.spec.group.clone(),
            version: chosen.name.clone(),
            kind: names.kind.clone(),
            plural: names.plural.clone(),
            scope: if crd.spec.scope == "Cluster" {
                ResourceScope::Cluster
            } else {
                ResourceScope::Namespaced
            },
            short_names: names.short_names.clone().unwrap_or_default(),
            scalable: chosen.subresources.as_ref().is_some_and(|s| s.scale.is_some()),
            schema,
            builtin: None,
        })
    }

    /// `<plural>[.<group>]`: the FTC's name.
    pub fn qualified_name(&self) -> String {
        self.target_type().qualified_name()
    }

    /// True for the core `Namespace` type, whose federated type is namespaced.
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }

    pub fn federated_kind(&self) -> String {
        format!("Federated{}", self.kind)
    }

    pub fn federated_plural(&self) -> String {
        format!("federated{}", self.plural)
    }

    /// The target's scope, except that a `FederatedNamespace` lives in its namespace.
    pub fn federated_scope(&self) -> ResourceScope {
        if self.is_namespace() {
            ResourceScope::Namespaced
        } else {
            self.scope
        }
    }

    pub fn target_type(&self) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural_name: self.plural.clone(),
            scope: self.scope,
        }
    }

    pub fn federated_type(&self, federated: &FederatedApi) -> ApiResource {
        ApiResource {
            group: federated.group.clone(),
            version: federated.version.clone(),
            kind: self.federated_kind(),
            plural_name: self.federated_plural(),
            scope: self.federated_scope(),
        }
    }

    /// Refuses a target that is itself federated or part of the control plane's API,
    /// and names the API server would refuse.
    pub fn check(&self, federated: &FederatedApi) -> Result<()> {
        let name = self.qualified_name();
        if self.group == federated.group || self.group == GROUP {
            let hint = self
                .kind
                .strip_prefix("Federated")
                .map(|k| format!("; enable its target type instead (kfed enable {})", k.to_lowercase()))
                .unwrap_or_default();
            bail!("{name} is a federated type already{hint}");
        }
        if self.group == "kubefed.io" || self.group.ends_with(".kubefed.io") {
            bail!("{name} is part of the federation control plane's API and cannot be federated");
        }
        let plural = self.federated_plural();
        if plural.len() > 63 {
            bail!("the federated type's plural {plural} is longer than 63 characters, which the API server refuses");
        }
        Ok(())
    }
}

/// The generated CRD named `name` (post-processed as `kfed crds` prints it).
fn generated<'a>(crds: &'a [CrdFile], name: &str) -> Result<&'a CustomResourceDefinition> {
    crds.iter()
        .map(|f| &f.crd)
        .find(|crd| crd.metadata.name.as_deref() == Some(name))
        .ok_or_else(|| anyhow!("kfed's generated CRDs lack {name} (a bug in this build)"))
}

fn object_mut<'a>(value: &'a mut Value, what: &str) -> Result<&'a mut Map<String, Value>> {
    value
        .as_object_mut()
        .ok_or_else(|| anyhow!("the generated base CRD has no {what} object (a bug in this build)"))
}

/// The `Federated<Kind>` CRD of `target`; `crds` is `crate::api::crds::all()`.
pub fn federated_crd(target: &Target, federated: &FederatedApi, crds: &[CrdFile]) -> Result<CustomResourceDefinition> {
    let crd_name = format!("{}.{}", target.federated_plural(), federated.group);
    if let Some(kind) = target.builtin {
        let mut crd = generated(crds, &format!("{}.{GROUP}", kind.federated_plural()))?.clone();
        crd.metadata.name = Some(crd_name);
        crd.spec.group = federated.group.clone();
        for version in &mut crd.spec.versions {
            version.name = federated.version.clone();
        }
        return Ok(crd);
    }
    let base = serde_json::to_value(generated(crds, BASE_CRD)?)?;
    let mut version = base
        .pointer("/spec/versions/0")
        .cloned()
        .ok_or_else(|| anyhow!("{BASE_CRD} has no version (a bug in this build)"))?;
    let mut root = version
        .pointer("/schema/openAPIV3Schema")
        .cloned()
        .ok_or_else(|| anyhow!("{BASE_CRD} has no schema (a bug in this build)"))?;
    let description = format!(
        "`{}` places a `{}` `{}` in member clusters: `template` is the object, `placement` picks the clusters and `overrides` patch it per cluster.",
        target.federated_kind(),
        target.target_type().api_version(),
        target.kind
    );
    let root_map = object_mut(&mut root, "schema")?;
    root_map.insert("title".into(), target.federated_kind().into());
    root_map.insert("description".into(), description.clone().into());
    let spec = object_mut(
        root_map
            .get_mut("properties")
            .and_then(|p| p.get_mut("spec"))
            .ok_or_else(|| anyhow!("{BASE_CRD} has no spec (a bug in this build)"))?,
        "spec",
    )?;
    spec.insert("description".into(), description.into());
    let fields = object_mut(
        spec.get_mut("properties")
            .ok_or_else(|| anyhow!("{BASE_CRD} has no spec fields (a bug in this build)"))?,
        "spec fields",
    )?;
    let base_template = fields.get("template").cloned().unwrap_or_else(|| json!({}));
    fields.insert(
        "template".into(),
        template_schema(target.schema.as_ref(), &base_template),
    );
    fields.remove("retainReplicas");
    if target.scalable {
        let retain = serde_json::to_value(generated(crds, SCALABLE_CRD)?)?
            .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/retainReplicas")
            .cloned()
            .unwrap_or_else(|| json!({"type": "boolean", "nullable": true}));
        fields.insert("retainReplicas".into(), retain);
    }
    let version_map = object_mut(&mut version, "version")?;
    version_map.insert("name".into(), federated.version.clone().into());
    version_map.insert("schema".into(), json!({ "openAPIV3Schema": root }));
    let mut names = json!({
        "kind": target.federated_kind(),
        "plural": target.federated_plural(),
        "singular": target.federated_kind().to_lowercase(),
        "categories": ["federated"],
    });
    if !target.short_names.is_empty() {
        names["shortNames"] = target
            .short_names
            .iter()
            .map(|s| format!("f{}", s.to_lowercase()))
            .collect();
    }
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": crd_name },
        "spec": {
            "group": federated.group,
            "names": names,
            "scope": scope_name(target.federated_scope()),
            "versions": [version],
        },
    });
    serde_json::from_value(crd).with_context(|| format!("building CustomResourceDefinition {crd_name}"))
}

/// The schema of `spec.template`, typed by the target's schema the way `Template<T>`
/// types a built-in's: no `required` at the top (templates omit fields such as
/// `metadata`), no `status`, `apiVersion` or `kind` (the member cluster and the
/// federated object own them), `metadata` as in the built-in templates, and every
/// object keeping unknown fields. Top-level rules (`x-kubernetes-validations`,
/// `anyOf`, ...) are dropped with the fields they might name. Without a target schema,
/// any object.
pub fn template_schema(target_schema: Option<&Value>, base_template: &Value) -> Value {
    let mut template = match target_schema.and_then(Value::as_object) {
        None => Map::from_iter([
            ("type".to_string(), json!("object")),
            ("x-kubernetes-preserve-unknown-fields".to_string(), json!(true)),
        ]),
        Some(schema) => {
            let mut schema = schema.clone();
            for top_level_only in ["required", "x-kubernetes-validations", "anyOf", "oneOf", "allOf", "not"] {
                schema.remove(top_level_only);
            }
            schema.insert("type".into(), json!("object"));
            let metadata = base_template
                .pointer("/properties/metadata")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            let properties = schema.entry("properties").or_insert_with(|| json!({})).as_object_mut();
            if let Some(properties) = properties {
                for owned_elsewhere in ["status", "apiVersion", "kind"] {
                    properties.remove(owned_elsewhere);
                }
                properties.insert("metadata".into(), metadata);
            }
            let mut value = Value::Object(schema);
            preserve_unknown_fields(&mut value);
            match value {
                Value::Object(map) => map,
                _ => Map::new(),
            }
        }
    };
    let description = base_template
        .get("description")
        .cloned()
        .unwrap_or_else(|| TEMPLATE_DESCRIPTION.into());
    template.insert("description".into(), description);
    if let Some(nullable) = base_template.get("nullable") {
        template.insert("nullable".into(), nullable.clone());
    }
    Value::Object(template)
}

/// Marks every object node of a structural schema (a CRD's) with
/// `x-kubernetes-preserve-unknown-fields`, which is not inherited by nested nodes.
///
/// `crate::api::template::preserve_unknown_fields` is written for the schemas that
/// schemars emits and replaces every node carrying `anyOf`/`oneOf`/`allOf` with an open
/// one; in a CRD those are value validations of a structural node (an
/// `x-kubernetes-int-or-string` field, an object requiring one of two fields, the items
/// of an `x-kubernetes-list-type: map` list), and opening them would drop their typing or
/// make the schema invalid. So this walk only adds the flag, to object nodes that are not
/// maps (the API server refuses it next to `additionalProperties`), and never looks
/// inside value validations, where the flag is not allowed.
pub fn preserve_unknown_fields(schema: &mut Value) {
    let Some(node) = schema.as_object_mut() else { return };
    let typed_object = match node.get("type").and_then(Value::as_str) {
        Some(t) => t == "object",
        None => node.contains_key("properties"),
    };
    if typed_object && !node.contains_key("additionalProperties") {
        node.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
    }
    if let Some(properties) = node.get_mut("properties").and_then(Value::as_object_mut) {
        properties.values_mut().for_each(preserve_unknown_fields);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = node.get_mut(key) {
            preserve_unknown_fields(child);
        }
    }
}

/// The FederatedTypeConfig that binds `target` to its federated type, propagation on.
pub fn type_config(target: &Target, federated: &FederatedApi, namespace: &str) -> FederatedTypeConfig {
    let mut ftc = FederatedTypeConfig::new(
        &target.qualified_name(),
        FederatedTypeConfigSpec {
            target_type: target.target_type(),
            propagation: PropagationMode::Enabled,
            federated_type: target.federated_type(federated),
            status_type: None,
            status_collection: None,
        },
    );
    ftc.metadata.namespace = Some(namespace.into());
    ftc
}

/// The objects `kfed enable -o` prints, CRD first so that the stream applies in order.
pub fn documents(crd: &CustomResourceDefinition, ftc: &FederatedTypeConfig) -> Result<Vec<Value>> {
    let mut ftc = serde_json::to_value(ftc)?;
    if let Some(map) = ftc.as_object_mut() {
        map.remove("status");
    }
    Ok(vec![serde_json::to_value(crd)?, ftc])
}

#[cfg(test)]
mod tests;
