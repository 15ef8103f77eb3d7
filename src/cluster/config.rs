//! Turning a `KubeFedCluster` and its Secret into a client configuration.
//!
//! Pure: every way the inputs can be malformed becomes a `ConfigError` whose
//! message ends up in the cluster's `ConfigMalformed` condition.

use crate::api::KubeFedCluster;
use crate::api::cluster::TlsValidation;
use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Why a member cluster's configuration cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("apiEndpoint {endpoint:?} is not a valid URL: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("caBundle holds no PEM certificate: {0}")]
    CaBundle(String),
    #[error("caBundle certificate {index} is not a valid X.509 certificate: {reason}")]
    CaCertificate { index: usize, reason: String },
    #[error("secret {0:?} not found in the federation namespace")]
    SecretMissing(String),
    #[error("secret {0:?} has no non-empty `token` key")]
    TokenMissing(String),
    #[error("secret {0:?}: `token` holds characters that cannot be sent in an HTTP header (control characters)")]
    TokenInvalid(String),
    #[error("proxyURL {url:?} is not usable: {reason}")]
    Proxy { url: String, reason: String },
    #[error("disabledTLSValidations: {0}")]
    PartialTlsValidation(&'static str),
}

/// Timeouts for member clients; reads of watches are governed by the watcher.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

/// A member client configuration plus a fingerprint of everything it was built
/// from, so the client is rebuilt exactly when the cluster or its Secret changes.
pub struct MemberConfig {
    pub config: kube::Config,
    /// Checks to skip while still verifying the chain (`SubjectName`, `ValidityPeriod`).
    pub lenient: Option<Lenient>,
    pub fingerprint: String,
}

/// Partial TLS checks, for `disabledTLSValidations` without `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lenient {
    pub skip_name: bool,
    pub skip_validity: bool,
}

/// Builds the client configuration of `cluster` from its `secret` (if found).
pub fn member_config(
    cluster: &KubeFedCluster,
    secret: Option<&Secret>,
    timeouts: Timeouts,
) -> Result<MemberConfig, ConfigError> {
    let spec = &cluster.spec;
    let url = endpoint_url(&spec.api_endpoint)?;
    let secret_name = spec.secret_ref.name.clone();
    let secret = secret.ok_or_else(|| ConfigError::SecretMissing(secret_name.clone()))?;
    let token = secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|t| String::from_utf8_lossy(&t.0).trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ConfigError::TokenMissing(secret_name.clone()))?;
    // The client puts the token into a header and panics if it cannot.
    if http::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        return Err(ConfigError::TokenInvalid(secret_name));
    }

    let mut config = kube::Config::new(url);
    config.connect_timeout = Some(timeouts.connect);
    // Watches idle for minutes (they ask the server for 290 s streams), so the read
    // timeout stays long; single requests are bounded by the sync controller instead.
    config.read_timeout = Some(Duration::from_secs(295));
    config.write_timeout = Some(timeouts.request);
    config.auth_info.token = Some(SecretString::from(token.clone()));
    if let Some(ca) = &spec.ca_bundle {
        config.root_cert = Some(der_certificates(&ca.0)?);
    }
    let skip_all = spec.disabled_tls_validations.contains(&TlsValidation::All);
    let lenient = (!skip_all && !spec.disabled_tls_validations.is_empty()).then(|| Lenient {
        skip_name: spec.disabled_tls_validations.contains(&TlsValidation::SubjectName),
        skip_validity: spec.disabled_tls_validations.contains(&TlsValidation::ValidityPeriod),
    });
    if lenient.is_some() && spec.ca_bundle.is_none() {
        return Err(ConfigError::PartialTlsValidation(
            "SubjectName or ValidityPeriod need a caBundle to verify the chain against",
        ));
    }
    if lenient.is_some() && spec.proxy_url.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(ConfigError::PartialTlsValidation(
            "SubjectName or ValidityPeriod cannot be combined with proxyURL yet",
        ));
    }
    config.accept_invalid_certs = skip_all;
    if let Some(proxy) = spec.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        let uri: http::Uri = proxy.parse().map_err(|e: http::uri::InvalidUri| ConfigError::Proxy {
            url: proxy.into(),
            reason: e.to_string(),
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https" | "socks5")) {
            return Err(ConfigError::Proxy {
                url: proxy.into(),
                reason: "scheme must be http, https or socks5".into(),
            });
        }
        config.proxy_url = Some(uri);
    }

    let mut hash = Sha256::new();
    for part in [
        spec.api_endpoint.as_bytes(),
        spec.ca_bundle.as_ref().map(|c| c.0.as_slice()).unwrap_or_default(),
        token.as_bytes(),
        spec.proxy_url.as_deref().unwrap_or_default().as_bytes(),
        format!("{skip_all}/{lenient:?}").as_bytes(),
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    Ok(MemberConfig {
        config,
        lenient,
        fingerprint: format!("{:x}", hash.finalize()),
    })
}

/// KubeFed accepts `host`, `host:port`, an IP or a URL; kfed requires https for all but URLs.
fn endpoint_url(endpoint: &str) -> Result<http::Uri, ConfigError> {
    let fail = |reason: &str| ConfigError::Endpoint {
        endpoint: endpoint.into(),
        reason: reason.into(),
    };
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(fail("it is empty"));
    }
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    };
    let uri: http::Uri = with_scheme
        .parse()
        .map_err(|e: http::uri::InvalidUri| fail(&e.to_string()))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err(fail("the scheme must be https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(fail("it has no host"));
    }
    Ok(uri)
}

fn der_certificates(pem_bytes: &[u8]) -> Result<Vec<Vec<u8>>, ConfigError> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| ConfigError::CaBundle(e.to_string()))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err(ConfigError::CaBundle("no CERTIFICATE block".into()));
    }
    for (index, der) in certs.iter().enumerate() {
        x509_parser::parse_x509_certificate(der).map_err(|e| ConfigError::CaCertificate {
            index: index + 1,
            reason: e.to_string(),
        })?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use serde_json::json;

    const TIMEOUTS: Timeouts = Timeouts {
        connect: Duration::from_secs(3),
        request: Duration::from_secs(3),
    };
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIUbrJqWPK0i6X28ssz6SV5PpZATagwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJa2ZlZC10ZXN0MB4XDTI2MTEyNjA5MTUyOFoXDTM2MTEyMzA5
MTUyOFowFDESMBAGA1UEAwwJa2ZlZC10ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAE5LccER3hqKNUzQCkcuzMT6c8PywKTDR5H1AMw3QCzeZhHDWr2DC7Tv4o
TTQB6KBfuZ1hvXYOiX+vMK2X2Dny6KNTMFEwHQYDVR0OBBYEFB5MVyOr3FBJhnMC
hlCrQDJpEQ1cMB8GA1UdIwQYMBaAFB5MVyOr3FBJhnMChlCrQDJpEQ1cMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAMhhvy41dhduekhDta43FnAo
PlZSp7f0EgteiQ3bhwnTAiAsyWOuXD8MiyWoHJ1N7PAdyqxqF4+iPXpnRDH0x8NV
yQ==
-----END CERTIFICATE-----
";

    fn cluster(spec: serde_json::Value) -> KubeFedCluster {
        serde_json::from_value(json!({
            "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
            "metadata": {"name": "member1", "namespace": "kube-federation-system"},
            "spec": spec
        }))
        .expect("valid KubeFedCluster")
    }

    fn secret(token: &str) -> Secret {
        Secret {
            data: Some([("token".to_string(), ByteString(token.as_bytes().to_vec()))].into()),
            ..Default::default()
        }
    }

    #[test]
    fn builds_a_verified_token_client() {
        let mut c = cluster(json!({"apiEndpoint": "https://127.0.0.1:6443", "secretRef": {"name": "s"}}));
        c.spec.ca_bundle = Some(ByteString(CA.as_bytes().to_vec()));
        let cfg = member_config(&c, Some(&secret("abc\n")), TIMEOUTS).expect("valid config");
        assert_eq!(cfg.config.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert!(!cfg.config.accept_invalid_certs);
        assert_eq!(cfg.config.root_cert.as_ref().map(Vec::len), Some(1));
        let again = member_config(&c, Some(&secret("abc")), TIMEOUTS).expect("valid config");
        assert_eq!(
            cfg.fingerprint, again.fingerprint,
            "whitespace around the token does not matter"
        );
        let rotated = member_config(&c, Some(&secret("xyz")), TIMEOUTS).expect("valid config");
        assert_ne!(cfg.fingerprint, rotated.fingerprint, "a new token rebuilds the client");
    }

    #[test]
    fn host_port_endpoints_mean_https() {
        let c = cluster(json!({"apiEndpoint": "10.0.0.1:6443", "secretRef": {"name": "s"}}));
        let cfg = member_config(&c, Some(&secret("t")), TIMEOUTS).expect("valid config");
        assert_eq!(cfg.config.cluster_url.to_string(), "https://10.0.0.1:6443/");
    }

    #[test]
    fn malformed_inputs_are_reported() {
        let cases = [
            (
                json!({"apiEndpoint": "https://", "secretRef": {"name": "s"}}),
                Some(secret("t")),
                "apiEndpoint \"https://\" is not a valid URL",
            ),
            (
                json!({"apiEndpoint": "ftp://x", "secretRef": {"name": "s"}}),
                Some(secret("t")),
                "the scheme must be https",
            ),
            (
                json!({"apiEndpoint": "https://a b", "secretRef": {"name": "s"}}),
                Some(secret("t")),
                "is not a valid URL",
            ),
            (
                json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}}),
                None,
                "secret \"s\" not found",
            ),
            (
                json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}}),
                Some(secret(" ")),
                "has no non-empty `token`",
            ),
            (
                json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}}),
                Some(secret("abc\u{1}def")),
                "cannot be sent in an HTTP header",
            ),
            (
                json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}, "caBundle": "bm90IHBlbQ=="}),
                Some(secret("t")),
                "caBundle holds no PEM certificate",
            ),
            (
                // A CERTIFICATE block whose contents are not DER ("not a certificate").
                json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"},
                       "caBundle": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmJtOTBJR0VnWTJWeWRHbG1hV05oZEdVPQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="}),
                Some(secret("t")),
                "caBundle certificate 1 is not a valid X.509 certificate",
            ),
            (
                json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}, "proxyURL": "ftp://p"}),
                Some(secret("t")),
                "scheme must be http, https or socks5",
            ),
            (
                json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}, "disabledTLSValidations": ["SubjectName"]}),
                Some(secret("t")),
                "need a caBundle",
            ),
        ];
        for (spec, secret, expected) in cases {
            let err = member_config(&cluster(spec.clone()), secret.as_ref(), TIMEOUTS)
                .err()
                .unwrap_or_else(|| panic!("{spec} should fail"));
            assert!(err.to_string().contains(expected), "{spec}: {err}");
        }
    }

    #[test]
    fn star_disables_verification() {
        let c =
            cluster(json!({"apiEndpoint": "https://x", "secretRef": {"name": "s"}, "disabledTLSValidations": ["*"]}));
        assert!(
            member_config(&c, Some(&secret("t")), TIMEOUTS)
                .expect("valid")
                .config
                .accept_invalid_certs
        );
    }
}
