//! Client certificates for request-header authentication: asked for, never required, and
//! judged per request rather than per handshake.
//!
//! Like Go's `tls.RequestClientCert` in kube's aggregated servers, the handshake accepts any
//! client certificate whose key the client proves it holds, and the authenticator checks the
//! chain against the request-header CA later. A certificate from another CA (a client that
//! sends one unasked) then only means "not a front proxy" instead of a failed handshake, and
//! clients without a certificate are unaffected.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::{provider, Result, TlsError};

/// A verifier of client certificate chains against the CA certificates in `ca_pem`, for
/// request-header authentication; clients without a certificate pass it.
pub fn client_ca_verifier(ca_pem: &[u8]) -> Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.map_err(TlsError::CertificatePem)?)
            .map_err(TlsError::Rustls)?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|err| TlsError::ClientCa(err.to_string()))
}

/// Asks clients for a certificate issued by `chains`' CA (the hint lets Go clients pick
/// their front-proxy certificate), accepts any certificate or none, and still checks the
/// handshake signature so a client cannot present a certificate it has no key for.
#[derive(Debug)]
pub(super) struct RequestClientCertificates {
    /// The CA verifier; here only for its hints and signature checks.
    pub(super) chains: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for RequestClientCertificates {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chains.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The chain is judged per request by the request-header authenticator.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chains.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chains.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chains.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };

    use super::*;

    /// A CA (PEM) and its issuer.
    fn ca() -> (String, Issuer<'static, KeyPair>) {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        (pem, Issuer::new(params, key))
    }

    fn client_cert(issuer: &Issuer<'static, KeyPair>) -> CertificateDer<'static> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "front-proxy-client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, issuer).unwrap().der().clone()
    }

    #[test]
    fn verifier_accepts_chains_to_its_ca_only() {
        let ((ours_pem, ours), (_, theirs)) = (ca(), ca());
        let verifier = client_ca_verifier(ours_pem.as_bytes()).unwrap();
        for (issuer, expected) in [(&ours, true), (&theirs, false)] {
            let verified = verifier.verify_client_cert(&client_cert(issuer), &[], UnixTime::now());
            assert_eq!(verified.is_ok(), expected, "{verified:?}");
        }
        assert!(!verifier.client_auth_mandatory());
    }

    #[test]
    fn pem_without_a_certificate_is_refused() {
        let error = client_ca_verifier(b"").unwrap_err().to_string();
        assert_eq!(error, "no certificate found in the certificate file");
    }
}
