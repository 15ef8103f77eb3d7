//! `core.kubefed.io/v1beta1` `KubeFedCluster`: the registration of one member cluster.

use k8s_openapi::ByteString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A member cluster: where its API server is and which Secret holds the credentials.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "KubeFedCluster",
    doc = "KubeFedCluster registers a member cluster: its API endpoint, CA and the Secret with its token.",
    plural = "kubefedclusters",
    namespaced,
    status = "KubeFedClusterStatus",
    shortname = "kfc",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Kubernetes-Version","type":"string","jsonPath":".status.kubernetesVersion"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.disabledTLSValidations) || !('*' in self.disabledTLSValidations) || self.disabledTLSValidations.size() == 1",
        "message": "disabledTLSValidations: '*' must appear alone",
    },
    {
        // kubefedctl join always writes the field; "" means no proxy there, as here.
        "rule": "!has(self.proxyURL) || self.proxyURL == '' || self.proxyURL.matches('^(http|https|socks5)://[^/]+')",
        "message": "proxyURL must be an http://, https:// or socks5:// URL (or empty for none)",
    },
]))]
pub struct KubeFedClusterSpec {
    /// Address of the member's API server: host, host:port, IP or https URL.
    #[schemars(length(min = 1, max = 2048))]
    pub api_endpoint: String,
    /// PEM CA certificates (base64 in YAML) that sign the member API server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bytes")]
    pub ca_bundle: Option<ByteString>,
    /// Secret in the federation namespace whose `token` key holds a bearer token for the member.
    pub secret_ref: LocalSecretReference,
    /// TLS checks to skip: `*` (all, alone), `SubjectName` or `ValidityPeriod`.
    #[serde(default, rename = "disabledTLSValidations", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub disabled_tls_validations: Vec<TlsValidation>,
    /// Proxy to reach the member through (`http`, `https` or `socks5` URL; empty: none).
    #[serde(default, rename = "proxyURL", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub proxy_url: Option<String>,
}

fn bytes(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "format": "byte" })
}

/// A TLS check that a KubeFedCluster may disable.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TlsValidation {
    #[serde(rename = "*")]
    All,
    SubjectName,
    ValidityPeriod,
}

/// Names a Secret in the KubeFedCluster's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LocalSecretReference {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Observed health of a member cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeFedClusterStatus {
    /// `Ready`, `Offline` and `ConfigMalformed` conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterCondition>,
    /// `gitVersion` reported by the member's API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Kept for KubeFed compatibility; neither KubeFed nor kfed fills it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Kept for KubeFed compatibility; neither KubeFed nor kfed fills it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A condition of a member cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: crate::api::ConditionStatus,
    pub last_probe_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
