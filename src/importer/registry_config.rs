//! What the importer reads about registries from files, mirrors, extra CA certificates and
//! the nodes' pull secret, shared as one value that every import reads afresh, so that the server can replace it when
//! the files change without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::HeaderMap;
use tokio::sync::watch;

use super::credentials::Keyring;
use super::mirrors::{canonical_host, Mirrors};

/// Mirrors and CA certificates for imports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Where each source is pulled from.
    pub mirrors: Mirrors,
    /// PEM bundles of CA certificates trusted besides the system's for every registry
    /// (`--registry-ca-file`).
    pub ca: Vec<Vec<u8>>,
    /// PEM bundles of CA certificates trusted for one host (`host[:port]`, `*` for any other)
    /// only: a containerd host directory's `ca` files.
    pub host_ca: BTreeMap<String, Vec<Vec<u8>>>,
    /// Credentials tried after a namespace's pull secrets (for registries they do not name, or
    /// that refuse them): the nodes' own (`/var/lib/kubelet/config.json`, OpenShift's global
    /// pull secret).
    pub global_pull_secret: Keyring,
    /// The client certificate each host (`host[:port]`, `*` for any other) is presented, as
    /// PEM: the certificate chain, then its private key.
    pub client_certificates: BTreeMap<String, Vec<u8>>,
    /// The headers each host (`host[:port]`, `*` for any other) is sent with every request.
    pub headers: BTreeMap<String, HeaderMap>,
    /// Hosts the configuration names: the `*` settings are for the others only.
    pub named_hosts: BTreeSet<String>,
    /// Hosts with a containerd host directory of their own: the `*` CAs are for the others.
    pub directory_hosts: BTreeSet<String>,
    /// Whether places on another host than the image's registry are told which registry is
    /// meant (`?ns=`), as containerd tells them: the mirrors come from its host directory
    /// (CRI-O, whose registries.conf the other files are, sends nothing, and some registries
    /// refuse a query they do not know).
    pub namespace_query: bool,
}

impl RegistryConfig {
    /// The client certificate to present to `host`, if any.
    pub fn client_certificate(&self, host: &str) -> Option<&[u8]> {
        self.for_host(&self.client_certificates, host)
            .map(Vec::as_slice)
    }

    /// The CA bundles trusted for `host` only: its own, and `_default`'s when it has no
    /// directory of its own, as containerd reads `_default` for such a host (its own, from the
    /// tables naming it as a mirror or a server, come on top: kept per host, not per place).
    pub fn host_ca(&self, host: &str) -> impl Iterator<Item = &Vec<u8>> {
        let host = canonical_host(host);
        let default = match self.directory_hosts.contains(&host) {
            true => None,
            false => self.host_ca.get("*"),
        };
        self.host_ca.get(&host).into_iter().chain(default).flatten()
    }

    /// The headers to send `host` with every request, if any.
    pub fn headers(&self, host: &str) -> Option<&HeaderMap> {
        self.for_host(&self.headers, host)
    }

    /// `host`'s entry of `settings` (Docker Hub by any name), or the `*` entry when the
    /// configuration names `host` nowhere, as containerd reads `_default` only for hosts
    /// without a directory.
    fn for_host<'a, T>(&self, settings: &'a BTreeMap<String, T>, host: &str) -> Option<&'a T> {
        let host = canonical_host(host);
        settings
            .get(&host)
            .or_else(|| (!self.named_hosts.contains(&host)).then(|| settings.get("*"))?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one_header(name: &'static str) -> HeaderMap {
        HeaderMap::from_iter([(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static("1"),
        )])
    }

    #[test]
    fn a_hosts_settings_are_its_own_or_the_defaults_when_nothing_names_it() {
        let config = RegistryConfig {
            headers: BTreeMap::from([
                ("docker.io".to_string(), one_header("x-hub")),
                ("cache.local".to_string(), one_header("x-cache")),
                ("*".to_string(), one_header("x-default")),
            ]),
            named_hosts: BTreeSet::from([
                "docker.io".into(),
                "cache.local".into(),
                "quay.io".into(),
            ]),
            ..RegistryConfig::default()
        };
        let names = |host: &str| -> Vec<String> {
            let headers = config.headers(host).into_iter().flat_map(HeaderMap::keys);
            headers.map(|name| name.to_string()).collect()
        };
        // Docker Hub by any of its names: the session asks for index.docker.io.
        assert_eq!(names("index.docker.io"), ["x-hub"]);
        assert_eq!(names("registry-1.docker.io"), ["x-hub"]);
        assert_eq!(names("cache.local"), ["x-cache"]);
        // quay.io has a directory of its own: _default's settings are not its.
        assert!(names("quay.io").is_empty());
        assert_eq!(names("ghcr.io"), ["x-default"]);
        assert!(config.client_certificate("ghcr.io").is_none());
    }

    #[test]
    fn a_hosts_cas_are_its_own_and_the_defaults_unless_it_has_a_directory() {
        let bundle = |name: &str| name.as_bytes().to_vec();
        let config = RegistryConfig {
            host_ca: BTreeMap::from([
                ("*".to_string(), vec![bundle("default")]),
                ("docker.io".to_string(), vec![bundle("hub")]),
                ("mirror.local".to_string(), vec![bundle("mirror")]),
            ]),
            // mirror.local is named as a mirror in docker.io's hosts.toml, with its own ca.
            named_hosts: BTreeSet::from(["docker.io".into(), "mirror.local".into()]),
            directory_hosts: BTreeSet::from(["docker.io".into()]),
            ..RegistryConfig::default()
        };
        let trusted = |host: &str| -> Vec<String> {
            let bundles = config.host_ca(host);
            bundles
                .map(|b| String::from_utf8(b.clone()).unwrap())
                .collect()
        };
        assert_eq!(trusted("index.docker.io"), ["hub"]);
        assert_eq!(trusted("mirror.local"), ["mirror", "default"]);
        assert_eq!(trusted("ghcr.io"), ["default"]);
    }
}
