//! Certificates for the TLS listener: a private CA and a serving certificate it signs.
//!
//! Two callers need them:
//! - `imagelookup certs --service NAME --namespace NS --out DIR` writes a CA and a certificate
//!   for the Service DNS names, plus the base64 CA for a webhook's `clientConfig.caBundle`
//!   ([`write_webhook_certs`]);
//! - `imagelookup serve` without `--tls-cert`/`--tls-key` creates a CA and a certificate for
//!   localhost in its data directory on first start and reuses them afterwards
//!   ([`ensure_serving_certs`]).
//!
//! Generation takes `now` and touches no files ([`generate`]); only the `write_*`/`ensure_*`
//! functions do I/O. Keys are ECDSA P-256, which every TLS client and the ring provider accept.
//!
//! `imagelookup certs` never writes the CA key, which keeps a signing key out of the Secret
//! that holds the serving pair: to issue a new certificate there, generate a new CA and
//! distribute the new `caBundle`. The data directory keeps `ca.key` (mode 0600) beside
//! `ca.crt`, so that a serving certificate that is lost, broken, expiring or missing a name is
//! issued again from the same CA, and clients that trust it keep working
//! ([`CertificateAuthority::from_pem`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

mod authority;
mod data_dir;
mod files;
mod verify;

pub use authority::{generate, service_dns_names, CertificateAuthority};
pub use data_dir::{ensure_serving_certs, Unusable};
pub use files::{write_bundle, write_webhook_certs};
pub use verify::verify_serving_cert;

/// File name of the CA certificate (PEM).
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the serving certificate (PEM), as in a `kubernetes.io/tls` Secret.
pub const CERT_FILE: &str = "tls.crt";
/// File name of the serving private key (PKCS#8 PEM), as in a `kubernetes.io/tls` Secret.
pub const KEY_FILE: &str = "tls.key";
/// File name of the CA's private key (PKCS#8 PEM), kept only in the data directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the base64-encoded CA PEM, ready for `clientConfig.caBundle`.
pub const CA_BUNDLE_FILE: &str = "ca-bundle.b64";
/// Subdirectory of the data directory holding the self-managed certificates.
pub const DATA_DIR_SUBDIR: &str = "tls";

/// Validity of both the CA and the serving certificate: ten years.
pub const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// A reused certificate must stay valid for at least this long, or it is replaced.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Result type of this module.
pub type Result<T, E = CertError> = std::result::Result<T, E>;

/// Why certificates could not be generated, checked or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The certificate would carry no subject alternative name.
    #[error("no subject alternative names given")]
    NoSubjectAltNames,
    /// A SAN is neither an IP address nor a valid DNS name.
    #[error("invalid subject alternative name {name:?}: {error}")]
    InvalidSubjectAltName {
        /// The offending name.
        name: String,
        /// What rcgen objected to.
        error: rcgen::Error,
    },
    /// Key generation or signing failed.
    #[error("cannot generate certificate: {0}")]
    Generate(rcgen::Error),
    /// A PEM file holds no usable certificate.
    #[error("invalid certificate pem: {0}")]
    Pem(rustls::pki_types::pem::Error),
    /// The serving certificate is not valid for a name under the CA.
    #[error("certificate is not valid for {name:?}: {error}")]
    NotValidFor {
        /// The name (or IP address) checked.
        name: String,
        /// Why rustls rejected it.
        error: rustls::Error,
    },
    /// A file or directory could not be read or written.
    #[error("cannot access {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
}

// Conversions for `?`, written out because thiserror's `#[from]` would also make the cause
// the `source()`, and each message already carries it: a chain printer would print it twice.

impl From<rcgen::Error> for CertError {
    fn from(error: rcgen::Error) -> Self {
        Self::Generate(error)
    }
}

impl From<rustls::pki_types::pem::Error> for CertError {
    fn from(error: rustls::pki_types::pem::Error) -> Self {
        Self::Pem(error)
    }
}

/// PEM text of a private CA, and of a serving certificate and key it signed.
#[derive(Clone)]
pub struct CertBundle {
    /// The self-signed CA certificate.
    pub ca_cert_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

/// Where a [`CertBundle`] lives on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertPaths {
    /// `ca.crt`.
    pub ca_cert: PathBuf,
    /// `tls.crt`.
    pub cert: PathBuf,
    /// `tls.key`, mode 0600.
    pub key: PathBuf,
    /// `ca-bundle.b64`.
    pub ca_bundle: PathBuf,
}

// === impl CertBundle ===

impl CertBundle {
    /// The CA PEM in base64, the form a webhook's `clientConfig.caBundle` takes.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_cert_pem)
    }
}

impl std::fmt::Debug for CertBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key must not end up in logs.
        f.debug_struct("CertBundle").finish_non_exhaustive()
    }
}

// === impl CertPaths ===

impl CertPaths {
    /// The standard file names inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join(CA_CERT_FILE),
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
            ca_bundle: dir.join(CA_BUNDLE_FILE),
        }
    }
}

#[cfg(test)]
mod tests;
