//! The CA, client certificate and key that `https://` endpoints use, read again whenever a
//! connection opens, so certificates that cert-manager, Vault or kubeadm renew in a mounted
//! Secret are used from the next connection on, without a restart. Read once at start-up, every
//! replica would lose etcd together once the first certificate expired (pooled connections
//! outlive it; the next handshake does not), and readiness would not say so. The TLS
//! configuration is rebuilt only when the files' content changed; files that make none (a
//! rotation half written, a key that is not the certificate's) are reported once and the last
//! good configuration stays in use.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::EtcdConfig;

/// The connector's error type, as hyper-util's client takes it.
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The configured files, and the connector built from their content.
pub(super) struct TlsFiles {
    /// The endpoints' options: only the file paths are read.
    config: EtcdConfig,
    state: Mutex<State>,
}

/// The files' content at one look.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Contents {
    ca: Vec<u8>,
    /// The client certificate and key, when both are configured.
    client: Option<(Vec<u8>, Vec<u8>)>,
}

/// What the last look at the files found, so each new state is reported once.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// The content the connector in use was built from.
    InUse,
    /// A file could not be read: why.
    Unreadable(String),
    /// Content that makes no TLS configuration.
    Refused(Contents),
}

struct State {
    built_from: Contents,
    connector: TlsConnector,
    last: Look,
}

impl TlsFiles {
    /// Reads the files and builds the first connector; an error names the file at fault.
    pub(super) fn load(config: &EtcdConfig) -> Result<Self, BoxError> {
        let contents = read_contents(config)?;
        let connector = connector_from(config, &contents)?;
        let state = State {
            built_from: contents,
            connector,
            last: Look::InUse,
        };
        Ok(Self {
            config: config.clone(),
            state: Mutex::new(state),
        })
    }

    /// The connector for a connection opening now: rebuilt first if the files changed into
    /// something usable.
    pub(super) async fn connector(&self) -> TlsConnector {
        let config = self.config.clone();
        let read = tokio::task::spawn_blocking(move || read_contents(&config))
            .await
            .unwrap_or_else(|e| Err(format!("reading the etcd TLS files failed: {e}").into()))
            .map_err(|e| e.to_string());
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let look = match read {
            Ok(contents) if contents == state.built_from => Look::InUse,
            Ok(contents) => self.rebuild(&mut state, contents),
            Err(error) => {
                if state.last != Look::Unreadable(error.clone()) {
                    tracing::warn!(%error, "cannot read the etcd TLS files; new connections keep using the ones read before: check the mounted files");
                }
                Look::Unreadable(error)
            }
        };
        state.last = look;
        state.connector.clone()
    }

    /// Installs a connector built from `contents`, or reports (once) why it cannot be built.
    fn rebuild(&self, state: &mut State, contents: Contents) -> Look {
        if state.last == Look::Refused(contents.clone()) {
            return Look::Refused(contents);
        }
        match connector_from(&self.config, &contents) {
            Ok(connector) => {
                tracing::info!("the etcd TLS files changed: new connections use them");
                state.connector = connector;
                state.built_from = contents;
                Look::InUse
            }
            Err(error) => {
                tracing::warn!(%error, "the etcd TLS files changed into ones that cannot be used; new connections keep using the ones read before: fix the files");
                Look::Refused(contents)
            }
        }
    }
}

impl EtcdConfig {
    /// Reads and checks the CA, certificate and key files `https://` endpoints use, so a wrong
    /// path fails start-up instead of being retried as an etcd that does not answer yet.
    pub fn check_tls_files(&self) -> Result<(), String> {
        match self.uses_tls() {
            true => read_contents(self)
                .and_then(|contents| connector_from(self, &contents))
                .map(drop)
                .map_err(|error| error.to_string()),
            false => Ok(()),
        }
    }
}

fn read_contents(config: &EtcdConfig) -> Result<Contents, BoxError> {
    let ca_file = config
        .ca_file
        .as_deref()
        .ok_or("https etcd endpoints need ca=<file>")?;
    let client = match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    Ok(Contents {
        ca: read(ca_file)?,
        client,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, BoxError> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// A connector trusting the CA and presenting the client certificate in `contents`; `config`
/// names the files in errors.
fn connector_from(config: &EtcdConfig, contents: &Contents) -> Result<TlsConnector, BoxError> {
    let mut roots = RootCertStore::empty();
    let ca_file = config.ca_file.as_deref().unwrap_or(Path::new("ca"));
    let unusable = |e: &dyn std::fmt::Display| format!("ca={}: {e}", ca_file.display());
    for cert in CertificateDer::pem_slice_iter(&contents.ca) {
        let cert = cert.map_err(|e| unusable(&e))?;
        roots.add(cert).map_err(|e| unusable(&e))?;
    }
    if roots.is_empty() {
        return Err(format!("ca={} holds no PEM certificate", ca_file.display()).into());
    }
    let builder = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut client = match (&contents.client, &config.cert_file, &config.key_file) {
        (Some((cert_pem, key_pem)), Some(cert), Some(key)) => {
            let chain: Vec<_> = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cert={}: {e}", cert.display()))?;
            if chain.is_empty() {
                return Err(format!("cert={} holds no PEM certificate", cert.display()).into());
            }
            let key_der = PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|e| format!("key={} holds no PEM private key ({e})", key.display()))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!(
                    "cert={} and key={} are not a pair: {e}",
                    cert.display(),
                    key.display()
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(client)))
}
