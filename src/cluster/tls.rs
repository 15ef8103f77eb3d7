//! TLS for members whose KubeFedCluster disables some certificate checks
//! (`disabledTLSValidations: [SubjectName]` and/or `[ValidityPeriod]`): the chain
//! is still verified against the CA; only the named check is skipped.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// A verifier that checks everything but the disabled validations.
#[derive(Debug)]
pub struct Lenient {
    inner: Arc<WebPkiServerVerifier>,
    skip_name: bool,
    skip_validity: bool,
}

impl Lenient {
    pub fn new(roots: &[Vec<u8>], skip_name: bool, skip_validity: bool) -> Result<Self, String> {
        let mut store = RootCertStore::empty();
        for der in roots {
            store
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| format!("caBundle: {e}"))?;
        }
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| format!("caBundle: {e}"))?;
        Ok(Self {
            inner,
            skip_name,
            skip_validity,
        })
    }
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // Skipping the validity period means checking the chain at a moment inside
        // the leaf's own validity window instead of now.
        let at = if self.skip_validity {
            inside_validity(end_entity).unwrap_or(now)
        } else {
            now
        };
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, at)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.skip_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The middle of the certificate's validity period.
fn inside_validity(cert: &CertificateDer<'_>) -> Option<UnixTime> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let from = parsed.validity().not_before.timestamp();
    let to = parsed.validity().not_after.timestamp();
    let middle = from + (to - from) / 2;
    Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(middle).ok()?,
    )))
}

/// A member client whose TLS uses `verifier`; otherwise the same stack kube builds.
pub fn client_with_verifier(config: &kube::Config, verifier: Lenient) -> Result<kube::Client, String> {
    use kube::client::ConfigExt;
    use tower::ServiceBuilder;
    let mut tls = config.rustls_client_config().map_err(|e| e.to_string())?;
    tls.dangerous().set_certificate_verifier(Arc::new(verifier));
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().map_err(|e| e.to_string())?)
        .map_err(tower::BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};

    struct Ca {
        der: Vec<u8>,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca");
        Ca {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(ca: &Ca, name: &str, expired: bool) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        params.signed_by(&key, &ca.issuer).expect("leaf").der().clone()
    }

    fn verify(verifier: &Lenient, cert: &CertificateDer<'_>, name: &str) -> bool {
        let name = ServerName::try_from(name.to_string()).expect("server name");
        verifier
            .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn only_the_disabled_check_is_skipped() {
        let ca = ca();
        let strict = Lenient::new(std::slice::from_ref(&ca.der), false, false).expect("verifier");
        let no_name = Lenient::new(std::slice::from_ref(&ca.der), true, false).expect("verifier");
        let no_time = Lenient::new(std::slice::from_ref(&ca.der), false, true).expect("verifier");

        let good = leaf(&ca, "member.example", false);
        assert!(verify(&strict, &good, "member.example"));

        let wrong_name = leaf(&ca, "other.example", false);
        assert!(!verify(&strict, &wrong_name, "member.example"));
        assert!(
            verify(&no_name, &wrong_name, "member.example"),
            "SubjectName skips the name check"
        );
        assert!(
            !verify(&no_time, &wrong_name, "member.example"),
            "ValidityPeriod alone keeps the name check"
        );

        let expired = leaf(&ca, "member.example", true);
        assert!(!verify(&strict, &expired, "member.example"));
        assert!(
            verify(&no_time, &expired, "member.example"),
            "ValidityPeriod skips the time check"
        );
        assert!(
            !verify(&no_name, &expired, "member.example"),
            "SubjectName alone keeps the time check"
        );

        let stranger = leaf(&self::ca(), "member.example", false);
        let both = Lenient::new(std::slice::from_ref(&ca.der), true, true).expect("verifier");
        assert!(
            !verify(&both, &stranger, "member.example"),
            "the chain is always verified"
        );
    }
}
