//! The allowed-registries whitelist (OpenShift `allowedRegistriesForImport`).
//!
//! Entries are `host` or `host:port` globs (`*` any run, `?` one character). A bare host means
//! port 443, or 80 for an insecure entry. The integrated registry is always allowed, and on
//! update every repository the stream already referenced stays allowed.

use std::collections::BTreeSet;

use crate::reference::ImageRef;

/// One allowed registry, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedRegistry {
    /// `host`, `host:port` or a glob of either (`*.example.com`, `registry:*`).
    pub domain_name: String,
    /// Plain HTTP: a bare host means port 80 instead of 443.
    pub insecure: bool,
}

/// A configured entry that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WhitelistError {
    /// More than one `:` in an entry.
    #[error("failed to parse allowed registry {0:?}: too many colons")]
    TooManyColons(String),
    /// A path, a scheme, an empty host or port, or a port number out of range: the entry
    /// could never match a registry (OpenShift accepts it and matches nothing; a list that
    /// silently allows nothing on a host is worse than an error at start-up).
    #[error(
        "allowed registry {0:?} is not a host or host:port (or a glob of either): give the \
         registry alone, without a path, scheme or empty part, and a port from 1 to 65535"
    )]
    NotAHost(String),
}

/// Whether a reference may be reached over TLS only, plain HTTP only, or either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Secure,
    Insecure,
    Any,
}

impl Transport {
    /// Insecure references may fall back to TLS, so they accept either transport.
    pub(crate) fn for_insecure(insecure: bool) -> Self {
        if insecure {
            Self::Any
        } else {
            Self::Secure
        }
    }
}

/// Whether `port` is written as digits only (no glob character).
fn port_is_number(port: &str) -> bool {
    port.bytes().all(|byte| byte.is_ascii_digit())
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HostPortGlob {
    host: String,
    port: String,
}

/// The registries (and repositories) a stream may reference.
#[derive(Clone, Debug, Default)]
pub(crate) struct Whitelist {
    globs: Vec<HostPortGlob>,
    repositories: BTreeSet<String>,
}

/// Checks every configured entry.
pub(crate) fn check_allowed(allowed: &[AllowedRegistry]) -> Result<(), WhitelistError> {
    let mut whitelist = Whitelist::default();
    allowed
        .iter()
        .try_for_each(|entry| whitelist.add_entry(entry))
}

impl Whitelist {
    /// The configured entries, with the integrated registry (if any) listed first.
    pub(crate) fn new(allowed: &[AllowedRegistry], internal_registry: &str) -> Self {
        let mut whitelist = Self::default();
        for entry in allowed {
            // Unusable entries are reported by `Config::check` at startup.
            let _ = whitelist.add_entry(entry);
        }
        if !internal_registry.is_empty() {
            let _ = whitelist.allow_registry(internal_registry, Transport::Secure, true);
        }
        whitelist
    }

    fn add_entry(&mut self, entry: &AllowedRegistry) -> Result<(), WhitelistError> {
        let domain = entry.domain_name.as_str();
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | '?');
        let port_char = |c: char| c.is_ascii_digit() || matches!(c, '*' | '?');
        let host_ok = !host.is_empty() && host.chars().all(host_char);
        let port_ok = port.is_none_or(|port| {
            // A glob may match ports; a number must be one (1 to 65535).
            let number = port.parse::<u16>().is_ok_and(|number| number > 0);
            !port.is_empty() && port.chars().all(port_char) && (number || !port_is_number(port))
        });
        // A second colon is OpenShift's own refusal (too many colons), reported below.
        let too_many_colons = port.is_some_and(|port| port.contains(':'));
        if !too_many_colons && (!host_ok || !port_ok) {
            return Err(WhitelistError::NotAHost(domain.to_string()));
        }
        let transport = if entry.insecure {
            Transport::Insecure
        } else {
            Transport::Secure
        };
        self.allow_registry(&entry.domain_name, transport, false)
    }

    fn allow_registry(
        &mut self,
        glob: &str,
        transport: Transport,
        first: bool,
    ) -> Result<(), WhitelistError> {
        let parts: Vec<&str> = glob.splitn(3, ':').collect();
        let globs = match parts.as_slice() {
            [host] => bare_host_ports(transport)
                .iter()
                .map(|port| HostPortGlob {
                    host: host.to_string(),
                    port: port.to_string(),
                })
                .collect::<Vec<_>>(),
            [host, port] => vec![HostPortGlob {
                host: host.to_string(),
                port: port.to_string(),
            }],
            _ => return Err(WhitelistError::TooManyColons(glob.to_string())),
        };
        for entry in globs {
            if self.globs.contains(&entry) {
                continue;
            }
            let at = if first { 0 } else { self.globs.len() };
            self.globs.insert(at, entry);
        }
        Ok(())
    }

    /// Allows the repository of `pull_spec` whatever its registry (references already present).
    pub(crate) fn allow_repository(&mut self, pull_spec: &str) {
        if let Ok(reference) = ImageRef::parse(pull_spec) {
            self.repositories.insert(canonical_repository(&reference));
        }
    }

    /// `Ok` when `reference` may be used, else OpenShift's message saying why not.
    pub(crate) fn admit(&self, reference: &ImageRef, transport: Transport) -> Result<(), String> {
        if self.repositories.contains(&canonical_repository(reference)) {
            return Ok(());
        }
        let (host, port) = host_port(reference, transport);
        let hub_alias = matches!(host.as_str(), "index.docker.io" | "registry-1.docker.io");
        if (hub_alias && self.matches("docker.io", &port)) || self.matches(&host, &port) {
            return Ok(());
        }
        Err(self.denial(reference, &host, &port))
    }

    fn matches(&self, host: &str, port: &str) -> bool {
        self.globs.iter().any(|glob| {
            glob_match(&glob.host, host)
                && if port.is_empty() {
                    matches!(glob.port.as_str(), "80" | "443" | "*")
                } else {
                    glob_match(&glob.port, port)
                }
        })
    }

    fn denial(&self, reference: &ImageRef, host: &str, port: &str) -> String {
        const SHOW_MAX: usize = 5;
        let hostname = match (reference.registry.as_str(), port) {
            ("", "") => host.to_string(),
            ("", port) => format!("{host}:{port}"),
            (registry, _) => registry.to_string(),
        };
        if self.globs.is_empty() {
            return format!("registry {hostname:?} not allowed by empty whitelist");
        }
        let listed: Vec<String> = self
            .globs
            .iter()
            .map(|g| format!("\"{}:{}\"", g.host, g.port))
            .collect();
        if listed.len() <= SHOW_MAX {
            return format!(
                "registry {hostname:?} not allowed by whitelist: {}",
                listed.join(", ")
            );
        }
        let more = listed.len() - SHOW_MAX + 1;
        let shown = listed[..SHOW_MAX - 1].join(", ");
        format!("registry {hostname:?} not allowed by whitelist: {shown}, and {more} more ...")
    }
}

fn bare_host_ports(transport: Transport) -> &'static [&'static str] {
    match transport {
        Transport::Any => &["80", "443"],
        Transport::Insecure => &["80"],
        Transport::Secure => &["443"],
    }
}

/// `docker.io/library/busybox` for `busybox:1`: the repository with Docker client defaults.
fn canonical_repository(reference: &ImageRef) -> String {
    reference.docker_client_defaults().repository()
}

/// The host and port a reference is pulled from; the port is empty for `Any` without one.
fn host_port(reference: &ImageRef, transport: Transport) -> (String, String) {
    if transport != Transport::Any {
        return registry_host_port(reference, transport == Transport::Insecure);
    }
    match reference.registry.split_once(':') {
        Some((host, port)) if !port.is_empty() => (host.to_string(), port.to_string()),
        _ if reference.registry.is_empty() => {
            (registry_host_port(reference, false).0, String::new())
        }
        _ => (reference.registry.clone(), String::new()),
    }
}

/// library-go `RegistryHostPort`: Docker Hub's v2 host for its aliases, `docker.io` when empty,
/// and port 443 (80 when insecure) unless one is given.
fn registry_host_port(reference: &ImageRef, insecure: bool) -> (String, String) {
    let host = match reference.registry.as_str() {
        "" => "docker.io",
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    };
    if let Some((host, port)) = host.split_once(':') {
        return (host.to_string(), port.to_string());
    }
    let port = if insecure { "80" } else { "443" };
    (host.to_string(), port.to_string())
}

/// Glob match with `*` (any run, possibly empty) and `?` (one character).
fn glob_match(pattern: &str, value: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let value: Vec<char> = value.chars().collect();
    // matched[j]: pattern[..i] matches value[..j], rolled over i.
    let mut matched = vec![false; value.len() + 1];
    matched[0] = true;
    for p in &pattern {
        let mut next = vec![false; value.len() + 1];
        next[0] = matched[0] && *p == '*';
        for j in 1..=value.len() {
            next[j] = match p {
                '*' => next[j - 1] || matched[j],
                '?' => matched[j - 1],
                c => matched[j - 1] && *c == value[j - 1],
            };
        }
        matched = next;
    }
    matched[value.len()]
}

#[cfg(test)]
mod tests;
