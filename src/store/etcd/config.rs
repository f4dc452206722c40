//! What `--store etcd:…` says: the endpoints, the key prefix, and the TLS files.
//!
//! `etcd:<endpoint>[,<endpoint>…][?prefix=<root>&ca=<file>&cert=<file>&key=<file>]`, where an
//! endpoint is `http://host:port`, `https://host:port` or a bare `host:port` (plain HTTP, like
//! etcdctl). Pure parsing: the files are only read when the store connects.

use std::{fmt, path::PathBuf, str::FromStr};

/// The key prefix when none is given: every key of one installation lives under it, so one
/// etcd can host several installations (and other tenants).
pub const DEFAULT_PREFIX: &str = "/imagelookup/";

/// How to reach an etcd cluster and where in its key space this installation lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdConfig {
    /// The client URLs, tried in order (the first healthy one serves).
    pub endpoints: Vec<Endpoint>,
    /// The prefix of every key, ending in `/` ([`DEFAULT_PREFIX`] by default).
    pub prefix: String,
    /// PEM CA bundle that signs the etcd serving certificate; required for `https://`.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for etcd's `--client-cert-auth`; needs [`Self::key_file`].
    pub cert_file: Option<PathBuf>,
    /// PEM private key of [`Self::cert_file`].
    pub key_file: Option<PathBuf>,
    /// How long the store's own watch may stay silent before etcd is asked whether it still
    /// answers (`DEFAULT_SILENCE_PROBE`); a hung etcd ends every watch within this plus a
    /// call's timeout. Not part of the `etcd:` value.
    pub silence_probe: std::time::Duration,
}

/// How long a silent watch lasts before etcd is asked whether it answers, by default.
pub const DEFAULT_SILENCE_PROBE: std::time::Duration = std::time::Duration::from_secs(15);

/// One etcd client URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Whether the connection is TLS.
    pub tls: bool,
    /// `host:port` (an IPv6 host in brackets).
    pub authority: String,
}

/// An `etcd:` store value that cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No endpoint, or an empty one between commas.
    #[error("etcd store needs endpoints: etcd:<host:port>[,<host:port>...], got {0:?}")]
    BadEndpoints(String),
    /// An endpoint that is not `[http[s]://]host:port`.
    #[error("etcd endpoint {0:?} is not [http://|https://]host:port")]
    BadEndpoint(String),
    /// An option other than `prefix`, `ca`, `cert` or `key`.
    #[error("unknown etcd store option {0:?}: expected prefix=, ca=, cert= or key=")]
    UnknownOption(String),
    /// A known option with nothing after `=` (an unset variable in `ca=$CA_FILE`).
    #[error("etcd store option {0}= needs a value")]
    EmptyOption(String),
    /// A prefix that does not start and end with `/`.
    #[error("etcd key prefix {0:?} must start and end with '/'")]
    BadPrefix(String),
    /// `cert` without `key`, or the reverse.
    #[error("etcd client certificate needs both cert= and key=")]
    HalfClientCert,
    /// An `https://` endpoint without `ca=`: this build carries no system roots.
    #[error("https etcd endpoints need ca=<file> (the CA that signs etcd's certificate)")]
    MissingCa,
    /// `ca=`, `cert=` or `key=` with plain-HTTP endpoints, where they would be ignored.
    #[error(
        "etcd store option {0}= applies to TLS only, but the endpoints are plain http: write \
         them as https://host:port"
    )]
    TlsOptionWithoutHttps(&'static str),
}

impl EtcdConfig {
    /// A config for plain-HTTP `endpoints` (`host:port` or URLs) under [`DEFAULT_PREFIX`].
    pub fn new(endpoints: &[&str]) -> Result<Self, ConfigError> {
        endpoints.join(",").parse()
    }

    /// The same config with another key prefix (which must start and end with `/`).
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        self.prefix = parse_prefix(prefix)?;
        Ok(self)
    }

    /// Whether any endpoint needs TLS.
    pub fn uses_tls(&self) -> bool {
        self.endpoints.iter().any(|endpoint| endpoint.tls)
    }

    fn options(&self) -> Vec<(&'static str, String)> {
        let mut options = Vec::new();
        if self.prefix != DEFAULT_PREFIX {
            options.push(("prefix", self.prefix.clone()));
        }
        let files = [
            ("ca", &self.ca_file),
            ("cert", &self.cert_file),
            ("key", &self.key_file),
        ];
        for (name, file) in files {
            if let Some(file) = file {
                options.push((name, file.display().to_string()));
            }
        }
        options
    }

    fn set_option(&mut self, option: &str) -> Result<(), ConfigError> {
        let unknown = || ConfigError::UnknownOption(option.to_string());
        let (name, value) = option.split_once('=').ok_or_else(unknown)?;
        let known = ["prefix", "ca", "cert", "key"].contains(&name);
        if value.is_empty() {
            return Err(match known {
                true => ConfigError::EmptyOption(name.to_string()),
                false => unknown(),
            });
        }
        match name {
            "prefix" => self.prefix = parse_prefix(value)?,
            "ca" => self.ca_file = Some(value.into()),
            "cert" => self.cert_file = Some(value.into()),
            "key" => self.key_file = Some(value.into()),
            _ => return Err(unknown()),
        }
        Ok(())
    }

    fn validate(self) -> Result<Self, ConfigError> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ConfigError::HalfClientCert);
        }
        if self.uses_tls() && self.ca_file.is_none() {
            return Err(ConfigError::MissingCa);
        }
        let files = [
            ("ca", &self.ca_file),
            ("cert", &self.cert_file),
            ("key", &self.key_file),
        ];
        let given = files.into_iter().find(|(_, file)| file.is_some());
        match given {
            Some((option, _)) if !self.uses_tls() => {
                Err(ConfigError::TlsOptionWithoutHttps(option))
            }
            _ => Ok(self),
        }
    }
}

impl FromStr for EtcdConfig {
    type Err = ConfigError;

    /// Parses what follows `etcd:`.
    fn from_str(spec: &str) -> Result<Self, ConfigError> {
        let (endpoints, options) = spec.split_once('?').unwrap_or((spec, ""));
        let mut config = Self {
            endpoints: parse_endpoints(endpoints)?,
            prefix: DEFAULT_PREFIX.to_string(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            silence_probe: DEFAULT_SILENCE_PROBE,
        };
        for option in options.split('&').filter(|o| !o.is_empty()) {
            config.set_option(option)?;
        }
        config.validate()
    }
}

impl fmt::Display for EtcdConfig {
    /// The `etcd:` value again (without the `etcd:`), endpoints as full URLs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoints: Vec<String> = self.endpoints.iter().map(Endpoint::url).collect();
        f.write_str(&endpoints.join(","))?;
        let options: Vec<String> = self
            .options()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if !options.is_empty() {
            write!(f, "?{}", options.join("&"))?;
        }
        Ok(())
    }
}

// === impl Endpoint ===

impl Endpoint {
    /// `http://host:port` or `https://host:port`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

impl FromStr for Endpoint {
    type Err = ConfigError;

    fn from_str(endpoint: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadEndpoint(endpoint.to_string());
        let (tls, rest) = match endpoint.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            Some(_) => return Err(bad()),
            None => (false, endpoint),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let authority: http::uri::Authority = authority.parse().map_err(|_| bad())?;
        if authority.port_u16().is_none() || authority.as_str().contains('@') {
            return Err(bad());
        }
        Ok(Self {
            tls,
            authority: authority.to_string(),
        })
    }
}

fn parse_endpoints(list: &str) -> Result<Vec<Endpoint>, ConfigError> {
    let endpoints: Vec<&str> = list.split(',').map(str::trim).collect();
    if endpoints.iter().any(|e| e.is_empty()) {
        return Err(ConfigError::BadEndpoints(list.to_string()));
    }
    endpoints.into_iter().map(str::parse).collect()
}

fn parse_prefix(prefix: &str) -> Result<String, ConfigError> {
    match prefix.starts_with('/') && prefix.ends_with('/') {
        true => Ok(prefix.to_string()),
        false => Err(ConfigError::BadPrefix(prefix.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, expected: Result<(&[&str], &str), ConfigError>) {
        let parsed = spec.parse::<EtcdConfig>();
        let summary = parsed.clone().map(|config| {
            let urls: Vec<String> = config.endpoints.iter().map(Endpoint::url).collect();
            (urls, config.prefix)
        });
        let expected = expected.map(|(urls, prefix)| {
            let urls = urls.iter().map(|u| u.to_string()).collect();
            (urls, prefix.to_string())
        });
        assert_eq!(summary, expected, "{spec}");
        if let Ok(config) = parsed {
            assert_eq!(
                config.to_string().parse(),
                Ok(config),
                "round trip of {spec}"
            );
        }
    }

    #[test]
    fn endpoints_default_to_plain_http_under_the_default_prefix() {
        check(
            "127.0.0.1:2379",
            Ok((&["http://127.0.0.1:2379"], DEFAULT_PREFIX)),
        );
        check(
            "http://a:2379, http://b:2379/",
            Ok((&["http://a:2379", "http://b:2379"], DEFAULT_PREFIX)),
        );
        check(
            "http://[::1]:2379",
            Ok((&["http://[::1]:2379"], DEFAULT_PREFIX)),
        );
        check(
            "etcd.imagelookup.svc:2379?prefix=/team-a/",
            Ok((&["http://etcd.imagelookup.svc:2379"], "/team-a/")),
        );
        check(
            "https://etcd:2379?ca=/etc/etcd/ca.crt&cert=/c.crt&key=/c.key",
            Ok((&["https://etcd:2379"], DEFAULT_PREFIX)),
        );
    }

    #[test]
    fn malformed_etcd_specs_say_what_is_wrong() {
        check("", Err(ConfigError::BadEndpoints("".into())));
        check(
            "a:1,,b:2",
            Err(ConfigError::BadEndpoints("a:1,,b:2".into())),
        );
        check("etcd", Err(ConfigError::BadEndpoint("etcd".into())));
        check(
            "grpc://a:1",
            Err(ConfigError::BadEndpoint("grpc://a:1".into())),
        );
        check(
            "http://a:1/v3",
            Err(ConfigError::BadEndpoint("http://a:1/v3".into())),
        );
        check("a:1?prefix=x/", Err(ConfigError::BadPrefix("x/".into())));
        check("a:1?prefix=/x", Err(ConfigError::BadPrefix("/x".into())));
        check(
            "a:1?user=root",
            Err(ConfigError::UnknownOption("user=root".into())),
        );
        check("a:1?ca=", Err(ConfigError::EmptyOption("ca".into())));
        check("a:1?user=", Err(ConfigError::UnknownOption("user=".into())));
        check("a:1?cert=/c.crt", Err(ConfigError::HalfClientCert));
        let plain_with_ca = Err(ConfigError::TlsOptionWithoutHttps("ca"));
        check("http://a:1?ca=/ca.crt", plain_with_ca.clone());
        check("a:1?ca=/ca.crt", plain_with_ca);
        check(
            "a:1?cert=/c.crt&key=/c.key",
            Err(ConfigError::TlsOptionWithoutHttps("cert")),
        );
        check("https://a:1", Err(ConfigError::MissingCa));
    }

    #[test]
    fn with_prefix_checks_the_prefix() {
        let config = EtcdConfig::new(&["a:1"]).unwrap();
        assert_eq!(
            config.clone().with_prefix("/x/").map(|c| c.prefix),
            Ok("/x/".to_string())
        );
        assert_eq!(
            config.with_prefix("x"),
            Err(ConfigError::BadPrefix("x".into()))
        );
    }
}
