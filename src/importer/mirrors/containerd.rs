//! Registry mirrors for imports, read from containerd's registry host directory (pure): the
//! `config_path` of its CRI registry configuration, usually `/etc/containerd/certs.d`, which
//! plain Kubernetes nodes running containerd pull through.
//!
//! Each directory under it is named after a registry host (`docker.io`, `registry.local:5000`,
//! or `registry.local_5000_`, the form that wins when both exist) or is `_default`, which
//! serves every host without a directory of its own. Its `hosts.toml` lists `[host."URL"]`
//! tables, tried in the order they are written, then `server` (the host itself when unset),
//! as containerd's `remotes/docker/config` does. A host's `capabilities` say which pulls it
//! serves: `resolve` a tag, `pull` a digest. `skip_verify`, or an `http://` URL, makes a place
//! insecure; its `ca` files are trusted for it (for its host: containerd keeps them per place),
//! its `client` certificates presented to it and its `header`s sent with each request. A
//! directory without `hosts.toml` is Docker's layout: its `*.crt` files are CAs for its host,
//! its `*.cert`/`*.key` pairs client certificates for it.
//!
//! The importer reads a registry's API at `/v2/` only, so a URL whose path is not `/v2` (or,
//! with `override_path = true`, under `/v2/`, which becomes a repository prefix) is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::{canonical_host, Mirror, Mirrors, Registry, Serves};
use crate::reference::is_docker_hub;

/// The directory name containerd reads for a host without a directory of its own.
pub const DEFAULT_DIRECTORY: &str = "_default";

/// The prefix of the table built from [`DEFAULT_DIRECTORY`]: it matches every host, and
/// loses to any host's own table (the longest prefix wins).
const ANY_HOST: &str = "*";

/// One directory under containerd's host directory, as read from disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostDirectory {
    /// The directory's name: a registry host or [`DEFAULT_DIRECTORY`].
    pub name: String,
    /// Its `hosts.toml`, when it has one.
    pub hosts_toml: Option<String>,
    /// The names of the files in it, for Docker's layout (`*.crt`, `*.cert`, `*.key`).
    pub files: Vec<String>,
}

/// What a containerd host directory configures for imports.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HostsConfig {
    /// The places each host is pulled from.
    pub mirrors: Mirrors,
    /// CA certificate files to trust, each for one host, in the order they are written.
    pub ca_files: Vec<CaFile>,
    /// Client certificates to present, each to one host, in the order they are written.
    pub client_certificates: Vec<ClientFiles>,
    /// The headers each host (`host[:port]`, `*` for `_default`'s own) is sent with every
    /// request: `(name, value)`, a name once per value.
    pub headers: BTreeMap<String, HeaderMap>,
    /// The hosts a table names (as its directory, server or mirror): `_default`'s own client
    /// certificates and headers are not theirs.
    pub named_hosts: BTreeSet<String>,
    /// The hosts with a directory of their own: `_default`'s own CAs are not theirs.
    pub directory_hosts: BTreeSet<String>,
    /// What is configured that the importer does not do, one sentence each.
    pub ignored: Vec<String>,
}

/// A CA certificate file and the host whose certificates it verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaFile {
    /// `host[:port]`, or `*` for every host without a directory of its own (`_default`'s own
    /// `ca`).
    pub host: String,
    /// The file, absolute or joined to its host's directory.
    pub file: PathBuf,
}

/// A client certificate's files and the host it is presented to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFiles {
    /// `host[:port]`, or `*` for every host (`_default`'s own `client`).
    pub host: String,
    /// The certificate (chain) file; it holds the private key too when `key` is `None`.
    pub certificate: PathBuf,
    /// The private key file.
    pub key: Option<PathBuf>,
}

/// Why a containerd host directory cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostsError {
    /// A `hosts.toml` is not TOML of the expected shape.
    #[error("{file}: cannot read it as containerd's hosts.toml: {why}")]
    Syntax {
        /// The file, under the host directory.
        file: String,
        /// The parser's words.
        why: String,
    },
    /// A place in a `hosts.toml` cannot be used as written.
    #[error("{file}: {place:?}: {why}")]
    Place {
        /// The file, under the host directory.
        file: String,
        /// The `server` or `host` URL.
        place: String,
        /// What is wrong and what to write.
        why: String,
    },
}

/// Reads the directories found under `root` into the mirrors and CAs they configure.
pub fn read(root: &Path, mut directories: Vec<HostDirectory>) -> Result<HostsConfig, HostsError> {
    // containerd looks for `host_port_` before `host:port`: the first form shadows the second.
    directories.sort_by_key(|d| (host_of(&d.name), !d.name.ends_with('_'), d.name.clone()));
    let mut config = HostsConfig::default();
    let mut previous: Option<String> = None;
    for directory in &directories {
        let host = host_of(&directory.name);
        if host != ANY_HOST {
            config.named_hosts.insert(canonical_host(&host));
            config.directory_hosts.insert(canonical_host(&host));
        }
        if previous.as_deref() == Some(host.as_str()) {
            config.ignored.push(format!(
                "directory {:?} is shadowed by the directory of the same host written with \
                 _port_, as containerd reads it: merge the two",
                directory.name
            ));
            continue;
        }
        previous = Some(host.clone());
        let base = root.join(&directory.name);
        let Some(text) = &directory.hosts_toml else {
            docker_layout(directory, &host, &base, &mut config);
            if host != ANY_HOST {
                // containerd uses a host's own directory whatever it holds, so `_default` is
                // not consulted for that host: it is pulled from where it names.
                config.mirrors.registries.push(Registry::own(&host));
            }
            continue;
        };
        let file = base.join("hosts.toml").display().to_string();
        let registry = from_hosts_toml(&host, text, &base, &file, &mut config)?;
        if let Some(why) = registry.unreferenceable_place() {
            return Err(HostsError::Place {
                file,
                place: directory.name.clone(),
                why,
            });
        }
        config.mirrors.registries.push(registry);
    }
    Ok(config)
}

/// The registry host a directory is named after (`host_port_` is `host:port`), or
/// [`ANY_HOST`] for `_default`.
fn host_of(name: &str) -> String {
    if name == DEFAULT_DIRECTORY {
        return ANY_HOST.to_string();
    }
    let port_form = name
        .strip_suffix('_')
        .and_then(|rest| rest.rsplit_once('_'))
        .filter(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        });
    match port_form {
        Some((host, port)) => format!("{host}:{port}"),
        None => name.to_string(),
    }
}

/// Docker's layout: the `*.crt` files are CAs, each `*.cert` a client certificate for the
/// host, with the `*.key` of the same name when there is one.
fn docker_layout(directory: &HostDirectory, host: &str, base: &Path, config: &mut HostsConfig) {
    let mut files = directory.files.clone();
    files.sort();
    for file in &files {
        if file.ends_with(".crt") {
            config.ca_files.push(CaFile {
                host: canonical_host(host),
                file: base.join(file),
            });
        } else if let Some(stem) = file.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            config.client_certificates.push(ClientFiles {
                host: canonical_host(host),
                certificate: base.join(file),
                key: files.contains(&key).then(|| base.join(&key)),
            });
        }
    }
}

/// One `hosts.toml`: its `[host]` tables as mirrors, in order, then `server`.
fn from_hosts_toml(
    host: &str,
    text: &str,
    base: &Path,
    file: &str,
    config: &mut HostsConfig,
) -> Result<Registry, HostsError> {
    let parsed: HostsFile = toml::from_str(text).map_err(|e| HostsError::Syntax {
        file: file.to_string(),
        why: e.to_string().trim_end().to_string(),
    })?;
    let mut mirrors = Vec::with_capacity(parsed.host.len());
    for (url, value) in parsed.host {
        let table: HostTable = value.try_into().map_err(|e| HostsError::Syntax {
            file: file.to_string(),
            why: format!("[host.{url:?}]: {e}"),
        })?;
        let invalid = |why: String| HostsError::Place {
            file: file.to_string(),
            place: url.clone(),
            why,
        };
        let endpoint = Endpoint::parse(&url, table.override_path).map_err(invalid)?;
        mirrors.extend(mirror(&endpoint, &table).map_err(invalid)?);
        table
            .note(&endpoint.authority, base, config)
            .map_err(invalid)?;
    }
    let server = parsed.server.as_deref();
    let mut registry = server_table(host, server, &parsed.root, base, file, config)?;
    registry.mirrors = mirrors;
    Ok(registry)
}

/// The table of `host` without its mirrors: where its `server` is (the host itself when unset
/// or the same), whether it is insecure, and blocked when it may neither pull nor resolve (as
/// containerd never asks it then); its CA files, client certificates and headers go into
/// `config`.
fn server_table(
    host: &str,
    server: Option<&str>,
    root: &HostTable,
    base: &Path,
    file: &str,
    config: &mut HostsConfig,
) -> Result<Registry, HostsError> {
    let invalid = |why: String| HostsError::Place {
        file: file.to_string(),
        place: server.unwrap_or("server").to_string(),
        why,
    };
    let serves = root.serves().map_err(invalid)?;
    if matches!(serves, Some(Serves::DigestOnly | Serves::TagOnly)) {
        config.ignored.push(format!(
            "{file}: the server's capabilities: the importer asks the server last for tags and \
             digests alike"
        ));
    }
    let server = match server {
        None => None,
        Some(server) => Some(Endpoint::parse(server, root.override_path).map_err(invalid)?),
    };
    let server_host = server.as_ref().map_or(host, |s| s.authority.as_str());
    root.note(server_host, base, config).map_err(invalid)?;
    let own = |location: &str| location == host || (is_docker_hub(host) && is_docker_hub(location));
    let location = server
        .as_ref()
        .map(Endpoint::location)
        .filter(|location| !own(location))
        .unwrap_or_default();
    let plain_http = server.as_ref().is_some_and(|s| s.plain_http);
    Ok(Registry {
        prefix: host.to_string(),
        location,
        insecure: plain_http || root.skip_verify.unwrap_or(false),
        blocked: serves.is_none(),
        mirror_by_digest_only: false,
        mirrors: Vec::new(),
    })
}

/// The mirror a `[host."URL"]` table at `endpoint` makes, `None` when it serves no pull
/// (push only).
fn mirror(endpoint: &Endpoint, table: &HostTable) -> Result<Option<Mirror>, String> {
    Ok(table.serves()?.map(|serves| Mirror {
        location: endpoint.location(),
        insecure: endpoint.plain_http || table.skip_verify.unwrap_or(false),
        serves,
    }))
}

/// Where a `server` or `host` URL points, as the importer can reach it.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    /// `host[:port]`.
    authority: String,
    /// A repository prefix under `/v2/` (`override_path` only), without slashes around it.
    repository_prefix: String,
    /// Whether the URL is `http://`.
    plain_http: bool,
}

impl Endpoint {
    /// Reads a URL as containerd does: `https://` when no scheme is written, `/v2` appended to
    /// the path unless `override_path` says the path is the API root.
    fn parse(url: &str, override_path: bool) -> Result<Self, String> {
        let with_scheme = match url.contains("://") {
            true => url.to_string(),
            false => format!("https://{url}"),
        };
        let (scheme, rest) = with_scheme
            .split_once("://")
            .ok_or_else(|| "write the URL as https://host[:port][/path]".to_string())?;
        let plain_http = match scheme {
            "https" => false,
            "http" => true,
            other => return Err(format!("scheme {other:?} is neither https nor http")),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains(['@', '?', '#']) {
            return Err(
                "write the URL as https://host[:port][/path], without user or query".into(),
            );
        }
        let path = path.trim_end_matches('/');
        if path.contains(['?', '#']) || path.split('/').any(|s| s == "." || s == "..") {
            return Err("the path takes no query, fragment, `.` or `..`".to_string());
        }
        let api_root = match (path.is_empty(), override_path) {
            (true, false) => "/v2".to_string(),
            (false, false) if !path.ends_with("/v2") => format!("{path}/v2"),
            _ => path.to_string(),
        };
        let repository_prefix = match api_root.strip_prefix("/v2") {
            Some("") => String::new(),
            Some(under) if under.starts_with('/') => under[1..].to_string(),
            _ => {
                return Err(format!(
                    "the importer reads a registry's API at /v2/ only, and this URL's is at \
                     {api_root:?}: serve the mirror at /v2/, or write override_path = true with \
                     a path under /v2/"
                ))
            }
        };
        Ok(Self {
            authority: authority.to_ascii_lowercase(),
            repository_prefix,
            plain_http,
        })
    }

    /// The registries.conf-style location: `host[:port][/prefix]`.
    fn location(&self) -> String {
        match self.repository_prefix.is_empty() {
            true => self.authority.clone(),
            false => format!("{}/{}", self.authority, self.repository_prefix),
        }
    }
}

/// The file as TOML reads it; `host` keeps its tables in the order they are written.
#[derive(Deserialize)]
struct HostsFile {
    server: Option<String>,
    #[serde(default)]
    host: toml::Table,
    #[serde(flatten)]
    root: HostTable,
}

/// The keys of a `[host."URL"]` table, and of the file's top level for `server`.
#[derive(Deserialize, Default)]
struct HostTable {
    capabilities: Option<Vec<String>>,
    ca: Option<OneOrMore>,
    client: Option<toml::Value>,
    skip_verify: Option<bool>,
    header: Option<toml::Table>,
    #[serde(default)]
    override_path: bool,
}

/// A string or a list of strings (`ca`).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMore {
    One(String),
    More(Vec<String>),
}

impl HostTable {
    /// Which pulls a host serves by its capabilities (all when none are written), `None` for
    /// push only.
    fn serves(&self) -> Result<Option<Serves>, String> {
        let Some(capabilities) = self.capabilities.as_ref().filter(|c| !c.is_empty()) else {
            return Ok(Some(Serves::All));
        };
        let (mut pull, mut resolve) = (false, false);
        for capability in capabilities {
            match capability.to_ascii_lowercase().as_str() {
                "pull" => pull = true,
                "resolve" => resolve = true,
                "push" => {}
                other => {
                    return Err(format!(
                        "unknown capability {other:?}: write pull, resolve or push"
                    ))
                }
            }
        }
        Ok(match (pull, resolve) {
            (true, true) => Some(Serves::All),
            (true, false) => Some(Serves::DigestOnly),
            (false, true) => Some(Serves::TagOnly),
            (false, false) => None,
        })
    }

    /// Records this place's CA files, client certificates and headers (for `host`).
    fn note(&self, host: &str, base: &Path, config: &mut HostsConfig) -> Result<(), String> {
        let host = canonical_host(host);
        if host != ANY_HOST {
            config.named_hosts.insert(host.clone());
        }
        let files = match &self.ca {
            None => Vec::new(),
            Some(OneOrMore::One(file)) => vec![file.clone()],
            Some(OneOrMore::More(files)) => files.clone(),
        };
        config.ca_files.extend(files.iter().map(|file| CaFile {
            host: host.clone(),
            file: base.join(file),
        }));
        if let Some(client) = &self.client {
            let pairs = client_pairs(client)?;
            config
                .client_certificates
                .extend(pairs.into_iter().map(|(certificate, key)| ClientFiles {
                    host: host.clone(),
                    certificate: base.join(certificate),
                    key: key.map(|key| base.join(key)),
                }));
        }
        if let Some(header) = &self.header {
            let sent = header_map(header)?;
            match config.headers.get(&host) {
                // One host's requests carry one set of headers, whichever table named it.
                Some(known) if *known != sent => {
                    return Err(format!(
                        "{host} is given other headers by another table: give it the same \
                         headers everywhere, or write them once"
                    ))
                }
                _ if !sent.is_empty() => {
                    config.headers.insert(host, sent);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The headers of a `header` table: each value a string or a list of strings, each a valid
/// HTTP header, a name once per value.
fn header_map(header: &toml::Table) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, values) in header {
        let values = match values {
            toml::Value::String(value) => vec![value.as_str()],
            toml::Value::Array(values) => values
                .iter()
                .map(|v| v.as_str().ok_or_else(|| header_shape(name)))
                .collect::<Result<_, _>>()?,
            _ => return Err(header_shape(name)),
        };
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header {name:?} is not an HTTP header name"))?;
        for value in values {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("header {name:?}: its value is not a valid header value"))?;
            map.append(header_name.clone(), value);
        }
    }
    Ok(map)
}

fn header_shape(name: &str) -> String {
    format!("header {name:?}: write a string or a list of strings")
}

/// The `(certificate, key)` files of a `client` value, as containerd reads it: a file holding
/// both, a list of such files, or a list of `[certificate, key]` pairs.
fn client_pairs(client: &toml::Value) -> Result<Vec<(String, Option<String>)>, String> {
    let shape = || {
        "client: write a file holding the certificate and its key, a list of such files, or a \
         list of [certificate, key] pairs"
            .to_string()
    };
    let items = match client {
        toml::Value::String(file) => return Ok(vec![(file.clone(), None)]),
        toml::Value::Array(items) => items,
        _ => return Err(shape()),
    };
    items
        .iter()
        .map(|item| match item {
            toml::Value::String(file) => Ok((file.clone(), None)),
            toml::Value::Array(pair) => match pair.as_slice() {
                [toml::Value::String(cert), toml::Value::String(key)] => {
                    Ok((cert.clone(), Some(key.clone())))
                }
                _ => Err(shape()),
            },
            _ => Err(shape()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
