//! Checking a serving certificate against its CA.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::RootCertStore;

use super::{CertError, Result};

/// Checks that `cert_pem` chains to `ca_cert_pem` and is valid for `name` at `at`.
pub fn verify_serving_cert(
    ca_cert_pem: &str,
    cert_pem: &str,
    name: &str,
    at: SystemTime,
) -> Result<()> {
    let not_valid = |error| CertError::NotValidFor {
        name: name.to_string(),
        error,
    };
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_cert_pem.as_bytes())?)
        .map_err(not_valid)?;
    let verifier =
        WebPkiServerVerifier::builder_with_provider(roots.into(), crate::tls::provider())
            .build()
            .map_err(|err| not_valid(rustls::Error::General(err.to_string())))?;
    let server_name = ServerName::try_from(probe_name(name))
        .map_err(|err| not_valid(rustls::Error::General(err.to_string())))?;
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes())?;
    let at = UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap_or_default());
    verifier
        .verify_server_cert(&leaf, &[], &server_name, &[], at)
        .map_err(not_valid)?;
    Ok(())
}

/// A concrete name a wildcard SAN must cover (`*.example.com` → `wildcard.example.com`).
fn probe_name(name: &str) -> String {
    match name.strip_prefix("*.") {
        Some(rest) => format!("wildcard.{rest}"),
        None => name.to_string(),
    }
}
