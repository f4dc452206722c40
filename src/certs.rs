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
//! The CA key is never written: to issue a new certificate from files, generate a new CA and
//! distribute the new `caBundle`. That keeps a signing key out of the Secret that holds the
//! serving pair. In memory, a [`CertificateAuthority`] issues any number of certificates.

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

/// File name of the CA certificate (PEM).
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the serving certificate (PEM), as in a `kubernetes.io/tls` Secret.
pub const CERT_FILE: &str = "tls.crt";
/// File name of the serving private key (PKCS#8 PEM), as in a `kubernetes.io/tls` Secret.
pub const KEY_FILE: &str = "tls.key";
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

/// Whether `bundle` serves every name in `sans` until at least `now + RENEW_BEFORE`.
fn covers(bundle: &CertBundle, sans: &[String], now: SystemTime) -> bool {
    let key_matches =
        crate::tls::certified_key_from_pem(bundle.cert_pem.as_bytes(), bundle.key_pem.as_bytes())
            .is_ok();
    key_matches
        && sans.iter().all(|name| {
            verify_serving_cert(
                &bundle.ca_cert_pem,
                &bundle.cert_pem,
                name,
                now + RENEW_BEFORE,
            )
            .is_ok()
        })
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

/// The self-managed certificates in `data_dir/tls`: reused when they still cover localhost and
/// `sans`, otherwise a new CA and certificate replace them.
pub fn ensure_serving_certs(data_dir: &Path, sans: &[String]) -> Result<CertPaths> {
    let dir = data_dir.join(DATA_DIR_SUBDIR);
    let mut wanted: Vec<String> = LOCAL_SANS.iter().map(|name| name.to_string()).collect();
    extend_unique(&mut wanted, sans);
    let now = SystemTime::now();
    let paths = CertPaths::in_dir(&dir);
    if read_bundle(&paths).is_some_and(|bundle| covers(&bundle, &wanted, now)) {
        return Ok(paths);
    }
    tracing::info!(dir = %dir.display(), "generating a self-signed CA and serving certificate");
    write_bundle(&generate(&wanted, now)?, &dir)
}

fn extend_unique(names: &mut Vec<String>, more: &[String]) {
    for name in more {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
}

fn read_bundle(paths: &CertPaths) -> Option<CertBundle> {
    Some(CertBundle {
        ca_cert_pem: fs::read_to_string(&paths.ca_cert).ok()?,
        cert_pem: fs::read_to_string(&paths.cert).ok()?,
        key_pem: fs::read_to_string(&paths.key).ok()?,
    })
}

/// Writes `bundle` into `dir` (created if missing), each file replaced atomically.
pub fn write_bundle(bundle: &CertBundle, dir: &Path) -> Result<CertPaths> {
    fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    let paths = CertPaths::in_dir(dir);
    // Key first: a watcher polling this directory sees the new pair complete only after
    // the certificate lands, and rejects the half-written state in between.
    write_file(&paths.key, bundle.key_pem.as_bytes(), 0o600)?;
    write_file(&paths.cert, bundle.cert_pem.as_bytes(), 0o644)?;
    write_file(&paths.ca_cert, bundle.ca_cert_pem.as_bytes(), 0o644)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    fn check_verifies(bundle: &CertBundle, name: &str, expected: bool) {
        let verified = verify_serving_cert(
            &bundle.ca_cert_pem,
            &bundle.cert_pem,
            name,
            SystemTime::now(),
        );
        assert_eq!(verified.is_ok(), expected, "{name}: {verified:?}");
    }

    #[test]
    fn service_dns_names_cover_every_in_cluster_form() {
        assert_eq!(
            service_dns_names("imagelookup", "infra"),
            names(&[
                "imagelookup",
                "imagelookup.infra",
                "imagelookup.infra.svc",
                "imagelookup.infra.svc.cluster.local",
            ])
        );
    }

    #[test]
    fn ca_verifies_serving_cert_for_each_san_and_no_other_name() {
        let sans = names(&["svc.ns.svc", "*.apps.example.com", "10.0.0.1", "::1"]);
        let bundle = generate(&sans, SystemTime::now()).unwrap();
        for (name, expected) in [
            ("svc.ns.svc", true),
            ("route.apps.example.com", true),
            ("10.0.0.1", true),
            ("::1", true),
            ("svc.other.svc", false),
            ("10.0.0.2", false),
            ("127.0.0.1", false),
        ] {
            check_verifies(&bundle, name, expected);
        }
    }

    #[test]
    fn one_ca_issues_certificates_that_all_verify_under_it() {
        let ca = CertificateAuthority::new(SystemTime::now()).unwrap();
        let first = ca.issue(&names(&["one.test"]), SystemTime::now()).unwrap();
        let second = ca.issue(&names(&["two.test"]), SystemTime::now()).unwrap();
        assert_eq!(first.ca_cert_pem, ca.cert_pem());
        assert_ne!(first.cert_pem, second.cert_pem);
        assert_ne!(first.key_pem, second.key_pem);
        check_verifies(&first, "one.test", true);
        check_verifies(&second, "two.test", true);
        check_verifies(&second, "one.test", false);
    }

    #[test]
    fn another_ca_does_not_verify_the_serving_cert() {
        let first = generate(&names(&["localhost"]), SystemTime::now()).unwrap();
        let second = generate(&names(&["localhost"]), SystemTime::now()).unwrap();
        let mixed = CertBundle {
            ca_cert_pem: second.ca_cert_pem,
            ..first
        };
        check_verifies(&mixed, "localhost", false);
    }

    #[test]
    fn serving_cert_expires_after_the_validity_period() {
        let now = SystemTime::now();
        let bundle = generate(&names(&["localhost"]), now).unwrap();
        let verify_at =
            |at| verify_serving_cert(&bundle.ca_cert_pem, &bundle.cert_pem, "localhost", at);
        assert!(verify_at(now + VALIDITY - Duration::from_secs(60)).is_ok());
        assert!(verify_at(now + VALIDITY + Duration::from_secs(60)).is_err());
        assert!(verify_at(now - BACKDATE - Duration::from_secs(60)).is_err());
    }

    #[test]
    fn certificates_issued_later_end_with_their_ca() {
        let start = SystemTime::now();
        let ca = CertificateAuthority::new(start).unwrap();
        let later = start + Duration::from_secs(5 * 365 * 24 * 60 * 60);
        let bundle = ca.issue(&names(&["localhost"]), later).unwrap();
        let verify_at = |at| verify_serving_cert(ca.cert_pem(), &bundle.cert_pem, "localhost", at);
        assert!(verify_at(start + VALIDITY - Duration::from_secs(60)).is_ok());
        assert!(verify_at(start + VALIDITY + Duration::from_secs(60)).is_err());
    }

    #[test]
    fn invalid_or_missing_sans_are_rejected() {
        let rejected = generate(&names(&["bad name\u{e9}"]), SystemTime::now()).unwrap_err();
        assert!(
            matches!(rejected, CertError::InvalidSubjectAltName { .. }),
            "{rejected}"
        );
        let empty = generate(&[], SystemTime::now()).unwrap_err();
        assert!(matches!(empty, CertError::NoSubjectAltNames), "{empty}");
    }

    #[test]
    fn webhook_certs_are_written_with_a_matching_ca_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_webhook_certs("hook", "ns", &names(&["10.1.2.3"]), dir.path()).unwrap();
        let ca_pem = fs::read_to_string(&paths.ca_cert).unwrap();
        let encoded = fs::read_to_string(&paths.ca_bundle).unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, ca_pem.as_bytes());
        let bundle = read_bundle(&paths).unwrap();
        check_verifies(&bundle, "hook.ns.svc.cluster.local", true);
        check_verifies(&bundle, "10.1.2.3", true);
        check_verifies(&bundle, "localhost", false);
    }

    #[cfg(unix)]
    #[test]
    fn private_key_file_is_readable_by_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let paths = write_webhook_certs("hook", "ns", &[], dir.path()).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&paths.key), 0o600);
    }

    #[test]
    fn ensure_serving_certs_reuses_certs_that_still_cover_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
        let written = fs::read(&first.cert).unwrap();
        let second = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
        assert_eq!(first, second);
        assert_eq!(fs::read(&second.cert).unwrap(), written);
        check_verifies(&read_bundle(&second).unwrap(), "::1", true);
    }

    #[test]
    fn ensure_serving_certs_replaces_certs_missing_a_name_or_broken() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_serving_certs(dir.path(), &[]).unwrap();
        let original = fs::read(&first.cert).unwrap();
        let widened = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
        let replaced = fs::read(&widened.cert).unwrap();
        assert_ne!(replaced, original);
        check_verifies(&read_bundle(&widened).unwrap(), "api.local", true);
        fs::write(&widened.key, "not a key").unwrap();
        let repaired = ensure_serving_certs(dir.path(), &names(&["api.local"])).unwrap();
        assert_ne!(fs::read(&repaired.cert).unwrap(), replaced);
        assert!(covers(
            &read_bundle(&repaired).unwrap(),
            &names(&["api.local"]),
            SystemTime::now()
        ));
    }
}
