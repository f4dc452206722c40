//! The reloadable TLS configuration of the listener.
//!
//! ```text
//! tls.crt + tls.key ──poll──> ReloadingTls::apply_pem ──valid pair──> CertResolver ──> every new handshake
//!                                              └─invalid─> warn, keep the last good pair
//! ```
//!
//! Choices:
//! - **Polling, not inotify.** Kubernetes updates a mounted Secret by writing a new timestamped
//!   directory and swapping the `..data` symlink, so an inotify watch on `tls.crt` keeps watching
//!   the old inode. Polling re-resolves both paths on every tick, works on every platform and
//!   filesystem, and costs two small reads every [`DEFAULT_POLL_INTERVAL`] (cert-manager's
//!   `FileCertificateSource` polls the same way). Changes are detected by a SHA-256 of both files'
//!   contents rather than their mtimes: copies that preserve mtimes and coarse timestamps would
//!   hide a change, and hashing a few kilobytes is cheap.
//! - **Both files, or nothing.** A rotation writes two files, so a poll can observe a new
//!   certificate with the old key. A new pair is installed only if the key matches the
//!   certificate; otherwise the last good pair keeps serving and the watcher logs why, once per
//!   distinct broken state (a missing file too, not at every poll), picks the pair up when the
//!   second file lands, and says so once when the files hold a valid pair again.
//! - **A per-handshake resolver, not a new `ServerConfig`.** The one `ServerConfig` holds a
//!   [`rustls::server::ResolvesServerCert`] that hands each handshake the current
//!   `Arc<CertifiedKey>`. A rotation swaps that `Arc`, so the next handshake presents the new
//!   certificate while established connections keep theirs and are never interrupted; nothing is
//!   restarted. Go's `tls.Config.GetCertificate` (controller-runtime's certwatcher) works alike;
//!   kubert goes further and re-reads the files per connection.
//! - **The ring provider, explicitly.** The server config names its provider, so it works
//!   whether or not a process default is installed; [`install_crypto_provider`] sets the process
//!   default for clients (kube, reqwest) that look it up.
//! - **Client certificates asked for, never required.** With a request-header CA or an
//!   admission client CA ([`ReloadingTls::from_files_with_client_cas`]) handshakes request a
//!   client certificate naming every CA, and accept any (see `client_auth`); requests carry
//!   it for each use to judge against its own CA.

mod client_auth;
mod reload;

pub use client_auth::client_ca_verifier;
pub use reload::CertificateWatcher;
use reload::Seen;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::{Digest as _, Sha256};
use tokio_rustls::TlsAcceptor;

/// How often the watcher looks at the files unless told otherwise (cert-manager's period).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Result type of this module.
pub type Result<T, E = TlsError> = std::result::Result<T, E>;

/// Why a certificate and key could not be loaded. Each message carries its cause and no
/// variant has a `source()`, so every cause prints once, in a log line or an error chain.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error(
        "no certificate found in the file: it must hold PEM certificates (-----BEGIN \
         CERTIFICATE-----)"
    )]
    NoCertificate,
    /// The certificate file is not valid PEM.
    #[error("invalid certificate pem: {0}")]
    CertificatePem(rustls::pki_types::pem::Error),
    /// The key file holds no usable private key.
    #[error("invalid private key pem: {0}")]
    KeyPem(rustls::pki_types::pem::Error),
    /// The certificate and the key do not belong together.
    #[error("private key does not match the certificate: give the key it was issued for")]
    KeyMismatch,
    /// The client CA cannot verify client certificates.
    #[error("the client CA cannot verify client certificates: {0}")]
    ClientCa(String),
    /// rustls refused the certificate, the key or the configuration.
    #[error("rejected by rustls: {0}")]
    Rustls(rustls::Error),
}

/// The certificate and key files the listener serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What one look at the files did.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The files hold the pair already seen (served, or rejected before).
    Unchanged,
    /// A new valid pair now serves new handshakes.
    Reloaded,
    /// The files changed but do not form a valid pair, or cannot be read (a failure other than
    /// the last one seen); the last good pair keeps serving.
    Rejected(TlsError),
    /// After a failure, the files hold the pair already serving again.
    Restored,
}

/// Counters for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReloadStats {
    /// Pairs installed since start, not counting the first.
    pub reloads: u64,
    /// Changed files that did not form a valid pair, and distinct read failures.
    pub rejections: u64,
}

/// Installs ring as the process-wide rustls provider; later calls (and other providers
/// installed first) are left alone.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The ring provider every server config and verifier here uses, whatever the process default.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Parses a PEM certificate chain and private key, and checks that they belong together.
pub fn certified_key_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::CertificatePem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(TlsError::KeyPem)?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|err| match err {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
        other => TlsError::Rustls(other),
    })
}

fn pair_digest(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    // Length-prefixed so moving bytes from one file to the other changes the digest.
    hasher.update((cert_pem.len() as u64).to_be_bytes());
    hasher.update(cert_pem);
    hasher.update(key_pem);
    hasher.finalize().into()
}

// === CertResolver ===

/// Hands every handshake the newest certified key.
#[derive(Debug)]
struct CertResolver {
    /// A std lock: handshakes only clone the `Arc` and the watcher only replaces it, neither
    /// awaits while holding it, so contention is a few nanoseconds.
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A certificate's `notAfter`, in seconds since the Unix epoch.
pub fn not_after(certificate: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

// === ReloadingTls ===

/// A TLS server configuration whose certificate follows the files on disk; cheap to clone.
#[derive(Clone, Debug)]
pub struct ReloadingTls {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    files: TlsFiles,
    resolver: Arc<CertResolver>,
    config: Arc<ServerConfig>,
    /// What the files held at the last look, good or bad, so an unchanged broken pair or the
    /// same read failure is not re-parsed and re-logged every tick. Only the watcher locks
    /// it, never across an await.
    seen: Mutex<Seen>,
    reloads: AtomicU64,
    rejections: AtomicU64,
}

impl ReloadingTls {
    /// Loads the pair from `files`; fails if it is not a valid pair, since there is nothing
    /// to fall back on yet.
    pub fn from_files(files: TlsFiles) -> Result<Self> {
        Self::build(files, None)
    }

    /// [`Self::from_files`], and handshakes ask for a client certificate issued by one of the
    /// CAs `client_cas` verify (see [`client_ca_verifier`]) without requiring one; none asks
    /// for no certificate.
    pub fn from_files_with_client_cas(
        files: TlsFiles,
        client_cas: &[Arc<dyn ClientCertVerifier>],
    ) -> Result<Self> {
        Self::build(
            files,
            client_auth::RequestClientCertificates::new(client_cas),
        )
    }

    fn build(
        files: TlsFiles,
        client_certificates: Option<client_auth::RequestClientCertificates>,
    ) -> Result<Self> {
        let cert_pem = read(&files.cert)?;
        let key_pem = read(&files.key)?;
        let key = certified_key_from_pem(&cert_pem, &key_pem)?;
        let resolver = Arc::new(CertResolver {
            current: RwLock::new(Arc::new(key)),
        });
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?;
        let builder = match client_certificates {
            Some(asking) => builder.with_client_cert_verifier(Arc::new(asking)),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let inner = Inner {
            files,
            resolver,
            config: Arc::new(config),
            seen: Mutex::new(Seen::serving(pair_digest(&cert_pem, &key_pem))),
            reloads: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The files this configuration follows.
    pub fn files(&self) -> &TlsFiles {
        &self.inner.files
    }

    /// The rustls configuration; built once, its resolver always presents the newest pair.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.inner.config.clone()
    }

    /// A tokio-rustls acceptor over [`Self::server_config`].
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config())
    }

    /// The leaf certificate new handshakes present.
    pub fn current_certificate(&self) -> CertificateDer<'static> {
        self.inner.resolver.current().cert[0].clone()
    }

    /// When the certificate new handshakes present expires, in seconds since the Unix epoch;
    /// `None` if it cannot be parsed (rustls accepted it, so that is not expected).
    pub fn current_not_after(&self) -> Option<i64> {
        not_after(&self.current_certificate())
    }

    /// Reload and rejection counts since start.
    pub fn stats(&self) -> ReloadStats {
        ReloadStats {
            reloads: self.inner.reloads.load(Ordering::Relaxed),
            rejections: self.inner.rejections.load(Ordering::Relaxed),
        }
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::certs::{self, CertBundle};

    pub(super) fn bundle(name: &str) -> CertBundle {
        certs::generate(&[name.to_string()], SystemTime::now()).unwrap()
    }

    pub(super) fn serving(bundle: &CertBundle) -> (ReloadingTls, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let paths = certs::write_bundle(bundle, dir.path()).unwrap();
        let files = TlsFiles {
            cert: paths.cert,
            key: paths.key,
        };
        (ReloadingTls::from_files(files).unwrap(), dir)
    }

    pub(super) fn der(bundle: &CertBundle) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(bundle.cert_pem.as_bytes()).unwrap()
    }

    #[test]
    fn the_serving_certificate_s_expiry_is_read_from_the_certificate() {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let bundle = certs::generate(&["a.test".to_string()], issued).unwrap();
        let (tls, _dir) = serving(&bundle);
        let expected = 1_800_000_000 + certs::VALIDITY.as_secs() as i64;
        assert_eq!(tls.current_not_after(), Some(expected));
        assert_eq!(not_after(&CertificateDer::from(vec![0x30, 0x03])), None);
    }

    #[test]
    fn key_mismatch_is_reported_as_such() {
        let (first, second) = (bundle("a.test"), bundle("b.test"));
        let err = certified_key_from_pem(first.cert_pem.as_bytes(), second.key_pem.as_bytes())
            .unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch), "{err}");
        let missing = certified_key_from_pem(b"", first.key_pem.as_bytes()).unwrap_err();
        assert!(matches!(missing, TlsError::NoCertificate), "{missing}");
    }

    #[test]
    fn invalid_initial_pair_fails_to_load() {
        let (first, second) = (bundle("a.test"), bundle("b.test"));
        let (_tls, dir) = serving(&first);
        std::fs::write(dir.path().join(certs::KEY_FILE), &second.key_pem).unwrap();
        let files = TlsFiles {
            cert: dir.path().join(certs::CERT_FILE),
            key: dir.path().join(certs::KEY_FILE),
        };
        let err = ReloadingTls::from_files(files).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch), "{err}");
    }

    #[test]
    fn server_config_offers_h2_then_http1() {
        let (tls, _dir) = serving(&bundle("a.test"));
        let alpn = &tls.server_config().alpn_protocols;
        assert_eq!(alpn, &vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    }

    #[test]
    fn read_failures_print_their_cause_once() {
        let missing = read(std::path::Path::new("/nonexistent/tls.crt")).unwrap_err();
        let message = missing.to_string();
        assert!(
            message.starts_with("cannot read /nonexistent/tls.crt: "),
            "{message}"
        );
        assert!(std::error::Error::source(&missing).is_none(), "{message}");
    }
}
