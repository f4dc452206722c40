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

use std::fs;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::RootCertStore;

pub use data_dir::{ensure_serving_certs, Unusable};

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
/// Certificates start this far in the past so a client with a slow clock still accepts them.
const BACKDATE: Duration = Duration::from_secs(60 * 60);
/// Names every self-managed certificate carries, so local clients can connect.
const LOCAL_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

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

// === generation ===

/// The DNS names a client inside the cluster may use for a Service.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// A new CA and a serving certificate for `sans` (DNS names or IP addresses), valid from `now`.
pub fn generate(sans: &[String], now: SystemTime) -> Result<CertBundle> {
    CertificateAuthority::new(now)?.issue(sans, now)
}

/// A private CA held in memory, to issue serving certificates (and rotate them) under one root.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
    /// Issued certificates end by this time at the latest: some clients (Go's crypto/x509)
    /// reject a chain whose root has expired.
    not_after: SystemTime,
}

impl CertificateAuthority {
    /// A new self-signed CA valid from `now`.
    pub fn new(now: SystemTime) -> Result<Self> {
        let key = KeyPair::generate()?;
        let not_after = now + VALIDITY;
        let params = ca_params(now, not_after);
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(Self {
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
            cert_pem,
            not_after,
        })
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A serving certificate and new key for `sans` (DNS names or IP addresses), valid from
    /// `now` for [`VALIDITY`] or until the CA expires, whichever comes first.
    pub fn issue(&self, sans: &[String], now: SystemTime) -> Result<CertBundle> {
        let params = serving_params(sans, now, self.not_after.min(now + VALIDITY))?;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertBundle {
            ca_cert_pem: self.cert_pem.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing key must not end up in logs.
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

fn ca_params(now: SystemTime, not_after: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "imagelookup CA");
    // Path length 0: this CA signs serving certificates only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, now, not_after);
    params
}

fn serving_params(
    sans: &[String],
    now: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.subject_alt_names = subject_alt_names(sans)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    // Clients check the SANs; the CN is only for humans reading the certificate.
    params
        .distinguished_name
        .push(DnType::CommonName, "imagelookup");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, not_after);
    Ok(params)
}

fn subject_alt_names(sans: &[String]) -> Result<Vec<SanType>> {
    if sans.is_empty() {
        return Err(CertError::NoSubjectAltNames);
    }
    sans.iter().map(|name| subject_alt_name(name)).collect()
}

fn subject_alt_name(name: &str) -> Result<SanType> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let dns = name
        .try_into()
        .map_err(|error| CertError::InvalidSubjectAltName {
            name: name.to_string(),
            error,
        })?;
    Ok(SanType::DnsName(dns))
}

fn set_validity(params: &mut CertificateParams, now: SystemTime, not_after: SystemTime) {
    params.not_before = (now - BACKDATE).into();
    params.not_after = not_after.into();
}

// === verification ===

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

// === files ===

/// Writes a new CA and a certificate for the Service's DNS names plus `extra_sans` to `out_dir`.
pub fn write_webhook_certs(
    service: &str,
    namespace: &str,
    extra_sans: &[String],
    out_dir: &Path,
) -> Result<CertPaths> {
    let mut sans = service_dns_names(service, namespace);
    extend_unique(&mut sans, extra_sans);
    write_bundle(&generate(&sans, SystemTime::now())?, out_dir)
}

fn extend_unique(names: &mut Vec<String>, more: &[String]) {
    for name in more {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
}

/// Writes `bundle` into `dir` (created if missing), each file replaced atomically.
pub fn write_bundle(bundle: &CertBundle, dir: &Path) -> Result<CertPaths> {
    let paths = write_serving(bundle, dir)?;
    write_file(&paths.ca_cert, bundle.ca_cert_pem.as_bytes(), 0o644)?;
    Ok(paths)
}

/// Writes `bundle`'s serving pair and `caBundle` into `dir` (created if missing), leaving
/// `ca.crt` as it is.
fn write_serving(bundle: &CertBundle, dir: &Path) -> Result<CertPaths> {
    fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    let paths = CertPaths::in_dir(dir);
    // Key first: a watcher polling this directory sees the new pair complete only after
    // the certificate lands, and rejects the half-written state in between.
    write_file(&paths.key, bundle.key_pem.as_bytes(), 0o600)?;
    write_file(&paths.cert, bundle.cert_pem.as_bytes(), 0o644)?;
    write_file(&paths.ca_bundle, bundle.ca_bundle().as_bytes(), 0o644)?;
    Ok(paths)
}

/// Writes through a temporary file and a rename, so readers see the old or the new content.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(&tmp)
        .map_err(|source| io_error(&tmp, source))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error(&tmp, source))?;
    fs::rename(&tmp, path).map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, error: io::Error) -> CertError {
    CertError::Io {
        path: path.to_path_buf(),
        error,
    }
}

mod data_dir;
#[cfg(test)]
mod tests;
