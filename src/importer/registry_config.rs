//! What the importer reads about registries from files, mirrors, extra CA certificates and
//! the nodes' pull secret, shared as one value that every import reads afresh, so that the server can replace it when
//! the files change without a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::credentials::Keyring;
use super::mirrors::Mirrors;

/// Mirrors and CA certificates for imports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Where each source is pulled from.
    pub mirrors: Mirrors,
    /// PEM bundles of CA certificates trusted besides the system's (private registries).
    pub ca: Vec<Vec<u8>>,
    /// Credentials for registries a namespace's pull secrets do not name: the nodes' own
    /// (`/var/lib/kubelet/config.json`, OpenShift's global pull secret).
    pub global_pull_secret: Keyring,
    /// The client certificate each host (`host[:port]`, `*` for any other) is presented, as
    /// PEM: the certificate chain, then its private key.
    pub client_certificates: BTreeMap<String, Vec<u8>>,
    /// The headers each host (`host[:port]`, `*` for any other) is sent with every request.
    pub headers: BTreeMap<String, Vec<(String, String)>>,
}

impl RegistryConfig {
    /// The client certificate to present to `host`, if any.
    pub fn client_certificate(&self, host: &str) -> Option<&[u8]> {
        self.client_certificates
            .get(host)
            .or_else(|| self.client_certificates.get("*"))
            .map(Vec::as_slice)
    }

    /// The headers to send `host` with every request.
    pub fn headers(&self, host: &str) -> &[(String, String)] {
        self.headers
            .get(host)
            .or_else(|| self.headers.get("*"))
            .map_or(&[], Vec::as_slice)
    }
}

/// The current [`RegistryConfig`], as the latest sender wrote it.
pub type SharedRegistryConfig = watch::Receiver<Arc<RegistryConfig>>;

impl RegistryConfig {
    /// This configuration, shared and never replaced.
    pub fn fixed(self) -> SharedRegistryConfig {
        watch::channel(Arc::new(self)).1
    }

    /// Only these CA certificates (PEM), without mirrors, never replaced.
    pub fn trusting(ca: Vec<Vec<u8>>) -> SharedRegistryConfig {
        Self {
            ca,
            ..Self::default()
        }
        .fixed()
    }
}
