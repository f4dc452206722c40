//! Client certificates as credentials: those that chain to one CA and carry an allowed common
//! name are one kind of caller. Request-header authentication trusts front proxies this way
//! (`--requestheader-client-ca-file`), and the admission webhook its caller
//! (`--admission-client-ca-file`). Each use checks against its own pool: the handshake accepts
//! a certificate from any of them (`tls::client_auth`), so a front-proxy certificate is no
//! webhook caller and a webhook caller's is no front proxy.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;

use super::x509_name::subject_common_name;

/// Whether a certificate with `common_name` is allowed by `allowed` (empty: any name).
pub fn is_allowed_name(allowed: &[String], common_name: Option<&str>) -> bool {
    allowed.is_empty() || common_name.is_some_and(|name| allowed.iter().any(|a| a == name))
}

/// Why a request's client certificate does not belong to a [`ClientCertPool`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolRefusal {
    /// The connection presented no client certificate.
    #[error("no client certificate was presented")]
    NoCertificate,
    /// The certificate does not chain to the pool's CA (or has expired).
    #[error("the client certificate is not signed by the trusted ca: {0}")]
    Untrusted(String),
    /// The certificate chains to the CA, but its common name is not allowed.
    #[error("the client certificate's common name {0:?} is not among the allowed names")]
    NameNotAllowed(String),
}

/// Client certificates that chain to one CA and carry an allowed common name: the credentials
/// of one kind of caller, checked per request.
#[derive(Clone, Debug)]
pub struct ClientCertPool {
    verifier: Arc<dyn ClientCertVerifier>,
    allowed_names: Vec<String>,
}

impl ClientCertPool {
    /// `verifier` checks chains against the CA (see `tls::client_ca_verifier`); empty
    /// `allowed_names` allow any common name.
    pub fn new(verifier: Arc<dyn ClientCertVerifier>, allowed_names: Vec<String>) -> Self {
        Self {
            verifier,
            allowed_names,
        }
    }

    /// The CA's verifier, for the listener to ask clients for certificates it signed.
    pub fn verifier(&self) -> &Arc<dyn ClientCertVerifier> {
        &self.verifier
    }

    /// Whether `chain` (leaf first), presented by the connection, is this pool's at `now`.
    pub fn check(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
        now: UnixTime,
    ) -> Result<(), PoolRefusal> {
        let Some((leaf, intermediates)) = chain.and_then(<[_]>::split_first) else {
            return Err(PoolRefusal::NoCertificate);
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, now)
            .map_err(|error| PoolRefusal::Untrusted(error.to_string()))?;
        let common_name = subject_common_name(leaf);
        if !is_allowed_name(&self.allowed_names, common_name.as_deref()) {
            return Err(PoolRefusal::NameNotAllowed(common_name.unwrap_or_default()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA named `name`: its PEM and its issuer.
    fn ca(name: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        (pem, rcgen::Issuer::new(params, key))
    }

    fn client_cert(
        issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
        name: &str,
    ) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        params.signed_by(&key, issuer).unwrap().der().clone()
    }

    #[test]
    fn a_pool_takes_only_its_own_ca_s_certificates_with_an_allowed_name() {
        let ((ours_pem, ours), (_, theirs)) = (ca("admission-ca"), ca("front-proxy-ca"));
        let verifier = crate::tls::client_ca_verifier(ours_pem.as_bytes()).unwrap();
        let pool = ClientCertPool::new(verifier, vec!["kube-apiserver".into()]);
        let check = |chain: Option<CertificateDer<'static>>, expected: &str| {
            let found = match pool.check(chain.as_ref().map(std::slice::from_ref), UnixTime::now())
            {
                Ok(()) => "ok".to_string(),
                Err(PoolRefusal::Untrusted(_)) => "untrusted".to_string(),
                Err(refusal) => refusal.to_string(),
            };
            assert_eq!(found, expected);
        };
        check(Some(client_cert(&ours, "kube-apiserver")), "ok");
        check(None, "no client certificate was presented");
        check(Some(client_cert(&theirs, "kube-apiserver")), "untrusted");
        check(
            Some(client_cert(&ours, "mallory")),
            "the client certificate's common name \"mallory\" is not among the allowed names",
        );
    }

    #[test]
    fn allowed_names_limit_the_common_name_unless_empty() {
        let allowed = ["front-proxy-client".to_string(), "aggregator".to_string()];
        for (allowed, name, expected) in [
            (&allowed[..], Some("front-proxy-client"), true),
            (&allowed[..], Some("aggregator"), true),
            (&allowed[..], Some("mallory"), false),
            (&allowed[..], None, false),
            (&[][..], Some("anyone"), true),
            (&[][..], None, true),
        ] {
            assert_eq!(is_allowed_name(allowed, name), expected, "{name:?}");
        }
    }
}
