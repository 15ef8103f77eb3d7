//! `core.kubefed.io/v1beta1` `FederatedTypeConfig`: binds a target type to its federated
//! type and turns that type's propagation on or off while the operator runs.
//!
//! The schema is KubeFed v0.10.0's (`pkg/apis/core/v1beta1/federatedtypeconfig_types.go`),
//! so `kubefedctl enable` and `kubefedctl disable` work against kfed unchanged. What
//! KubeFed's admission webhook checked (the name rule, the enums, a dotted federated
//! group) is CEL here, so `kubectl apply` refuses it with the same message.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// KubeFed's message for an FTC named unlike its target type.
pub const FTC_NAME_RULE: &str = "name must be 'TARGET_PLURAL_NAME(.TARGET_GROUP_NAME)'";

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "FederatedTypeConfig",
    doc = "FederatedTypeConfig tells the federation control plane about one target type (its `Federated<Kind>` and whether it propagates).",
    plural = "federatedtypeconfigs",
    shortname = "ftc",
    namespaced,
    status = "FederatedTypeConfigStatus",
    printcolumn = r#"{"name":"Propagation","type":"string","jsonPath":".spec.propagation"}"#,
    printcolumn = r#"{"name":"Controller","type":"string","jsonPath":".status.propagationController"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new(
        r#"self.metadata.name == (has(self.spec.targetType.group) && self.spec.targetType.group != '' ? self.spec.targetType.pluralName + '.' + self.spec.targetType.group : self.spec.targetType.pluralName)"#
    ).message("name must be 'TARGET_PLURAL_NAME(.TARGET_GROUP_NAME)'")
)]
#[serde(rename_all = "camelCase")]
pub struct FederatedTypeConfigSpec {
    /// The type whose objects are created in member clusters.
    pub target_type: ApiResource,
    /// `Enabled` runs this type's propagation; `Disabled` stops it (member objects stay).
    pub propagation: PropagationMode,
    /// The `Federated<Kind>` type on the host (template, placement, overrides).
    #[schemars(schema_with = "federated_type_schema")]
    pub federated_type: ApiResource,
    /// Where status would be collected (KubeFed's; kept, not used by kfed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_type: Option<ApiResource>,
    /// KubeFed's status collection switch (kept, not used by kfed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_collection: Option<StatusCollectionMode>,
}

/// An API type, as KubeFed names it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// Group of the resource; empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Version of the resource.
    pub version: String,
    /// Camel-cased singular name of the resource (e.g. ConfigMap).
    pub kind: String,
    /// Lower-cased plural name of the resource (e.g. configmaps).
    pub plural_name: String,
    /// `Namespaced` or `Cluster`.
    pub scope: ResourceScope,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ResourceScope {
    #[default]
    Namespaced,
    Cluster,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PropagationMode {
    #[default]
    Enabled,
    Disabled,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StatusCollectionMode {
    Enabled,
    Disabled,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ControllerStatus {
    Running,
    #[default]
    NotRunning,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedTypeConfigStatus {
    /// The generation of the spec the controller acted on.
    #[serde(default)]
    pub observed_generation: i64,
    /// Whether this type's propagation runs.
    #[serde(default)]
    pub propagation_controller: ControllerStatus,
    /// KubeFed's status controller state (kfed runs none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_controller: Option<ControllerStatus>,
    /// kfed's addition: why propagation runs or not (`Ready`, with a reason and message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<TypeConfigCondition>,
}

/// One condition of an FTC.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeConfigCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: crate::api::ConditionStatus,
    pub reason: String,
    pub message: String,
    pub last_transition_time: String,
}

/// The federated type's group must be a domain with a dot, as KubeFed's webhook requires.
fn federated_type_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<ApiResource>();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "x-kubernetes-validations".into(),
            serde_json::json!([{
                "rule": "has(self.group) && self.group.contains('.')",
                "message": "federatedType.group should be a domain with at least one dot"
            }]),
        );
    }
    schema
}

impl ApiResource {
    /// `<plural>[.<group>]`, the name KubeFed requires of the FTC.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural_name.clone()
        } else {
            format!("{}.{}", self.plural_name, self.group)
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// KubeFed's English plural of a kind (`PluralName`): s, x, ch, sh, z and o take
/// "es", a final y becomes "ies", everything else takes "s".
pub fn plural_name(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if ["s", "x", "ch", "sh", "z", "o"].iter().any(|s| lower.ends_with(s)) {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

impl FederatedTypeConfig {
    /// KubeFed's defaults: the target's plural and group from the name, the federated
    /// plural from its kind.
    pub fn defaulted(mut self) -> Self {
        let name = self.metadata.name.clone().unwrap_or_default();
        let (plural, group) = match name.split_once('.') {
            Some((p, g)) => (p.to_string(), Some(g.to_string())),
            None => (name, None),
        };
        let target = &mut self.spec.target_type;
        if target.plural_name.is_empty() {
            target.plural_name = plural;
        }
        if let Some(group) = group
            && target.group.is_empty()
        {
            target.group = group;
        }
        let federated = &mut self.spec.federated_type;
        if federated.plural_name.is_empty() {
            federated.plural_name = plural_name(&federated.kind);
        }
        self
    }
}

/// The namespace KubeFed keeps its FTCs in, and where kfed installs the built-in ones.
pub const FEDERATION_NAMESPACE: &str = "kube-federation-system";

/// The FTC of a built-in kind, as installed with the CRDs (`config/typeconfigs/`).
pub fn builtin(target: &kfed_codegen::TargetKind) -> FederatedTypeConfig {
    let scope = |s: kfed_codegen::Scope| match s {
        kfed_codegen::Scope::Namespaced => ResourceScope::Namespaced,
        kfed_codegen::Scope::Cluster => ResourceScope::Cluster,
    };
    let target_type = ApiResource {
        group: target.group.into(),
        version: target.version.into(),
        kind: target.kind.into(),
        plural_name: target.plural.into(),
        scope: scope(target.scope),
    };
    let federated_type = ApiResource {
        group: crate::api::GROUP.into(),
        version: crate::api::VERSION.into(),
        kind: target.federated_kind(),
        plural_name: target.federated_plural(),
        scope: scope(target.federated_scope()),
    };
    let mut ftc = FederatedTypeConfig::new(
        &target_type.qualified_name(),
        FederatedTypeConfigSpec {
            target_type,
            propagation: PropagationMode::Enabled,
            federated_type,
            status_type: None,
            status_collection: None,
        },
    );
    ftc.metadata.namespace = Some(FEDERATION_NAMESPACE.into());
    ftc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_follow_kubefed() {
        for (kind, plural) in [
            ("Widget", "widgets"),
            ("Ingress", "ingresses"),
            ("Box", "boxes"),
            ("Batch", "batches"),
            ("Mesh", "meshes"),
            ("Quiz", "quizes"),
            ("Potato", "potatoes"),
            ("Policy", "policies"),
            ("FederatedWidget", "federatedwidgets"),
        ] {
            assert_eq!(plural_name(kind), plural, "{kind}");
        }
    }

    #[test]
    fn names_are_plural_dot_group() {
        let mut r = ApiResource {
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural_name: "configmaps".into(),
            ..Default::default()
        };
        assert_eq!(r.qualified_name(), "configmaps");
        r.group = "apps".into();
        assert_eq!(r.qualified_name(), "configmaps.apps");
    }

    #[test]
    fn defaults_come_from_the_name() {
        let mut ftc = FederatedTypeConfig::new("widgets.example.com", FederatedTypeConfigSpec::default());
        ftc.spec.federated_type.kind = "FederatedWidget".into();
        let ftc = ftc.defaulted();
        assert_eq!(ftc.spec.target_type.plural_name, "widgets");
        assert_eq!(ftc.spec.target_type.group, "example.com");
        assert_eq!(ftc.spec.federated_type.plural_name, "federatedwidgets");
    }
}
