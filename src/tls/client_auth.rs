//! Client certificates for request-header authentication and for the webhook's callers:
//! asked for, never required, and judged per request rather than per handshake.
//!
//! Like Go's `tls.RequestClientCert` in kube's aggregated servers, the handshake accepts any
//! client certificate whose key the client proves it holds, and each use checks the chain
//! against its own CA later (`auth::client_certs::ClientCertPool`): the front-proxy CA for
//! `X-Remote-*` headers, the admission client CA for `/mutate`. A certificate from another CA
//! (a client that sends one unasked, or one meant for the other use) then only means "not this
//! caller" instead of a failed handshake, and clients without a certificate are unaffected.
//! The handshake names every CA's subject, so a Go client (the kube-apiserver) offers the
//! certificate one of them signed: Go sends none that matches no name it was given.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::{provider, Result, TlsError};

/// A verifier of client certificate chains against the CA certificates in `ca_pem`, for
/// request-header authentication or the webhook's callers; clients without a certificate
/// pass it.
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

/// Asks clients for a certificate issued by any of the CAs (their subjects as hints),
/// accepts any certificate or none, and still checks the handshake signature so a client
/// cannot present a certificate it has no key for.
#[derive(Debug)]
pub(super) struct RequestClientCertificates {
    /// A CA verifier, here only for its signature checks, which do not depend on its CA.
    signatures: Arc<dyn ClientCertVerifier>,
    /// Every CA's subject, in the order of the verifiers given.
    hints: Vec<DistinguishedName>,
}

impl RequestClientCertificates {
    /// Asks for certificates of the CAs `pools` verify; `None` when there is none.
    pub(super) fn new(pools: &[Arc<dyn ClientCertVerifier>]) -> Option<Self> {
        let signatures = pools.first()?.clone();
        let hints = pools
            .iter()
            .flat_map(|pool| pool.root_hint_subjects().iter().cloned())
            .collect();
        Some(Self { signatures, hints })
    }
}

impl ClientCertVerifier for RequestClientCertificates {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The chain is judged per request, against the CA of the use.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };

    use super::*;

    /// A CA (PEM) named `name`, and its issuer.
    fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
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
        let ((ours_pem, ours), (_, theirs)) = (ca("ours"), ca("theirs"));
        let verifier = client_ca_verifier(ours_pem.as_bytes()).unwrap();
        for (issuer, expected) in [(&ours, true), (&theirs, false)] {
            let verified = verifier.verify_client_cert(&client_cert(issuer), &[], UnixTime::now());
            assert_eq!(verified.is_ok(), expected, "{verified:?}");
        }
        assert!(!verifier.client_auth_mandatory());
    }

    #[test]
    fn the_handshake_names_every_ca_and_requires_no_certificate() {
        let ((first_pem, _), (second_pem, _)) = (ca("front-proxy-ca"), ca("admission-ca"));
        let pools = [first_pem, second_pem]
            .map(|pem| client_ca_verifier(pem.as_bytes()).unwrap())
            .to_vec();
        let asking = RequestClientCertificates::new(&pools).unwrap();
        let bytes = |names: &[DistinguishedName]| -> Vec<Vec<u8>> {
            names.iter().map(|name| name.as_ref().to_vec()).collect()
        };
        let expected: Vec<_> = pools
            .iter()
            .flat_map(|pool| bytes(pool.root_hint_subjects()))
            .collect();
        assert_eq!(expected.len(), 2);
        assert_ne!(expected[0], expected[1]);
        assert_eq!(bytes(asking.root_hint_subjects()), expected);
        assert!(asking.offer_client_auth() && !asking.client_auth_mandatory());
        assert!(RequestClientCertificates::new(&[]).is_none());
    }

    #[test]
    fn pem_without_a_certificate_is_refused() {
        let error = client_ca_verifier(b"").unwrap_err().to_string();
        assert_eq!(
            error,
            "no certificate found in the file: it must hold PEM certificates (-----BEGIN \
             CERTIFICATE-----)"
        );
    }
}
