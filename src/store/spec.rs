//! The `--store` flag: which backend holds the objects.
//!
//! - `embedded:<path>`: the redb file at `<path>` (the default is `embedded:<data-dir>/store`);
//! - `memory:`: the embedded backend in memory, for tests and demos (nothing survives restarts);
//! - `etcd:<endpoint>[,<endpoint>…][?prefix=…&ca=…&cert=…&key=…]`: an etcd cluster, shared by
//!   every replica (see [`EtcdConfig`] for the syntax).

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use super::{ConfigError, EmbeddedOptions, EmbeddedStore, Error, EtcdConfig, EtcdStore, Store};

/// Where the server keeps its objects, as given by `--store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// `embedded:<path>`: a redb file.
    Embedded(PathBuf),
    /// `memory:`: the embedded backend on redb's in-memory backend.
    Memory,
    /// `etcd:<endpoints>[?<options>]`: comma-separated etcd client URLs or `host:port`s.
    Etcd(EtcdConfig),
}

/// A `--store` value that cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No `<scheme>:` prefix.
    #[error("store {0:?} has no scheme: expected embedded:<path>, memory: or etcd:<endpoints>")]
    MissingScheme(String),
    /// A scheme other than `embedded`, `memory` or `etcd`.
    #[error("unknown store scheme {0:?}: expected embedded, memory or etcd")]
    UnknownScheme(String),
    /// `embedded:` without a path.
    #[error("embedded store needs a path: embedded:<path>")]
    MissingPath,
    /// `memory:` followed by something.
    #[error("memory store takes no argument, got {0:?}")]
    UnexpectedArgument(String),
    /// A malformed `etcd:` value.
    #[error(transparent)]
    Etcd(#[from] ConfigError),
}

/// A store that could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No etcd endpoint answered, or the TLS files could not be read.
    #[error("cannot connect to etcd at {endpoints}: {reason}")]
    Etcd {
        /// The endpoints tried.
        endpoints: String,
        /// Why, without naming an endpoint again (the transport's errors name the one tried).
        reason: String,
    },
    /// The embedded store failed to open or load.
    #[error("cannot open the embedded store at {}", .path.display())]
    Embedded {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Error,
    },
    /// The in-memory store failed to start.
    #[error("cannot start the in-memory store")]
    Memory(#[source] Error),
}

impl StoreSpec {
    /// The default store: `embedded:<data_dir>/store`.
    pub fn default_for(data_dir: &Path) -> Self {
        Self::Embedded(data_dir.join("store"))
    }

    /// Opens the store this spec names: loads the embedded file (blocking the thread while
    /// it does), or connects to etcd (`options` only tune the embedded backend).
    pub async fn open(&self, options: EmbeddedOptions) -> Result<Arc<dyn Store>, OpenError> {
        match self {
            Self::Embedded(path) => match EmbeddedStore::open(path, options) {
                Ok(store) => Ok(Arc::new(store)),
                Err(source) => Err(OpenError::Embedded {
                    path: path.clone(),
                    source,
                }),
            },
            Self::Memory => Ok(Arc::new(
                EmbeddedStore::in_memory(options).map_err(OpenError::Memory)?,
            )),
            Self::Etcd(config) => Ok(Arc::new(connect_etcd(config).await?)),
        }
    }
}

/// Connects to `config`'s etcd, a failure worded once for all its endpoints.
pub(crate) async fn connect_etcd(config: &EtcdConfig) -> Result<EtcdStore, OpenError> {
    EtcdStore::connect(config)
        .await
        .map_err(|source| OpenError::Etcd {
            endpoints: config.to_string(),
            reason: super::etcd::connect_failure(&source),
        })
}

impl FromStr for StoreSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let (scheme, rest) = spec
            .split_once(':')
            .ok_or_else(|| SpecError::MissingScheme(spec.to_string()))?;
        match scheme {
            "embedded" if rest.is_empty() => Err(SpecError::MissingPath),
            "embedded" => Ok(Self::Embedded(PathBuf::from(rest))),
            "memory" if rest.is_empty() => Ok(Self::Memory),
            "memory" => Err(SpecError::UnexpectedArgument(rest.to_string())),
            "etcd" => Ok(Self::Etcd(rest.parse()?)),
            _ => Err(SpecError::UnknownScheme(scheme.to_string())),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded(path) => write!(f, "embedded:{}", path.display()),
            Self::Memory => f.write_str("memory:"),
            Self::Etcd(config) => write!(f, "etcd:{config}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, expected: Result<StoreSpec, SpecError>) {
        let parsed = spec.parse::<StoreSpec>();
        assert_eq!(parsed, expected, "{spec}");
        if let Ok(parsed) = parsed {
            assert_eq!(
                parsed.to_string().parse::<StoreSpec>().as_ref(),
                Ok(&parsed),
                "round trip of {spec}"
            );
        }
    }

    #[test]
    fn store_specs_parse_by_scheme() {
        let endpoints = |list: &[&str]| Ok(StoreSpec::Etcd(EtcdConfig::new(list).unwrap()));
        check(
            "embedded:/data/store",
            Ok(StoreSpec::Embedded("/data/store".into())),
        );
        check(
            "embedded:rel/store",
            Ok(StoreSpec::Embedded("rel/store".into())),
        );
        check("memory:", Ok(StoreSpec::Memory));
        check("etcd:127.0.0.1:2379", endpoints(&["127.0.0.1:2379"]));
        check(
            "etcd:http://a:2379, http://b:2379",
            endpoints(&["http://a:2379", "http://b:2379"]),
        );
    }

    #[test]
    fn malformed_store_specs_say_what_is_expected() {
        check(
            "/data/store",
            Err(SpecError::MissingScheme("/data/store".into())),
        );
        check("sqlite:x", Err(SpecError::UnknownScheme("sqlite".into())));
        check("embedded:", Err(SpecError::MissingPath));
        check("memory:x", Err(SpecError::UnexpectedArgument("x".into())));
        check("etcd:", Err(ConfigError::BadEndpoints("".into()).into()));
        check(
            "etcd:a:1,,b:2",
            Err(ConfigError::BadEndpoints("a:1,,b:2".into()).into()),
        );
        check(
            "etcd:a:1?x=y",
            Err(ConfigError::UnknownOption("x=y".into()).into()),
        );
    }

    #[test]
    fn default_store_lives_in_the_data_dir() {
        assert_eq!(
            StoreSpec::default_for(Path::new(".data")).to_string(),
            "embedded:.data/store"
        );
    }

    #[tokio::test]
    async fn an_unreachable_etcd_fails_to_open_naming_its_endpoints_once() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let spec: StoreSpec = "etcd:127.0.0.1:1?prefix=/x/".parse().unwrap();
        let error = spec.open(EmbeddedOptions::default()).await.err();
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        let reason = message
            .strip_prefix("cannot connect to etcd at http://127.0.0.1:1?prefix=/x/: client error")
            .unwrap_or_else(|| panic!("{message}"));
        assert!(reason.contains("Connection refused"), "{message}");
        assert!(
            !reason.contains("127.0.0.1") && !message.contains("internal error"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn embedded_and_memory_specs_open_working_stores() {
        let dir = tempfile::tempdir().unwrap();
        for spec in [StoreSpec::default_for(dir.path()), StoreSpec::Memory] {
            let store = spec.open(EmbeddedOptions::default()).await.unwrap();
            assert_eq!(store.current_revision(), 0, "{spec}");
        }
        assert!(dir.path().join("store").exists());
    }
}
