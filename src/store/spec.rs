//! The `--store` flag: which backend holds the objects.
//!
//! - `embedded:<path>`: the redb file at `<path>` (the default is `embedded:<data-dir>/store`);
//! - `memory:`: the embedded backend in memory, for tests and demos (nothing survives restarts);
//! - `etcd:<endpoint>[,<endpoint>…]`: an etcd cluster (parsed, but that backend is not built yet).

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use super::{EmbeddedOptions, EmbeddedStore, Error, Store};

/// Where the server keeps its objects, as given by `--store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// `embedded:<path>`: a redb file.
    Embedded(PathBuf),
    /// `memory:`: the embedded backend on redb's in-memory backend.
    Memory,
    /// `etcd:<endpoints>`: comma-separated etcd client URLs or `host:port`s.
    Etcd(Vec<String>),
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
    /// `etcd:` with no endpoint, or an empty one between commas.
    #[error("etcd store needs endpoints: etcd:<host:port>[,<host:port>...], got {0:?}")]
    BadEndpoints(String),
}

/// A store that could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The etcd backend is parsed but not implemented in this build.
    #[error("the etcd store backend is not built yet (asked for etcd:{})", .0.join(","))]
    EtcdNotBuilt(Vec<String>),
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

    /// Opens the store this spec names. Blocking (it loads the embedded file).
    pub fn open(&self, options: EmbeddedOptions) -> Result<Arc<dyn Store>, OpenError> {
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
            Self::Etcd(endpoints) => Err(OpenError::EtcdNotBuilt(endpoints.clone())),
        }
    }
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
            "etcd" => parse_endpoints(rest).map(Self::Etcd),
            _ => Err(SpecError::UnknownScheme(scheme.to_string())),
        }
    }
}

fn parse_endpoints(list: &str) -> Result<Vec<String>, SpecError> {
    let endpoints: Vec<String> = list.split(',').map(|e| e.trim().to_string()).collect();
    if endpoints.iter().any(String::is_empty) {
        return Err(SpecError::BadEndpoints(list.to_string()));
    }
    Ok(endpoints)
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded(path) => write!(f, "embedded:{}", path.display()),
            Self::Memory => f.write_str("memory:"),
            Self::Etcd(endpoints) => write!(f, "etcd:{}", endpoints.join(",")),
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
        let endpoints = |list: &[&str]| {
            Ok(StoreSpec::Etcd(
                list.iter().map(|e| e.to_string()).collect(),
            ))
        };
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
        check("etcd:", Err(SpecError::BadEndpoints("".into())));
        check(
            "etcd:a:1,,b:2",
            Err(SpecError::BadEndpoints("a:1,,b:2".into())),
        );
    }

    #[test]
    fn default_store_lives_in_the_data_dir() {
        assert_eq!(
            StoreSpec::default_for(Path::new(".data")).to_string(),
            "embedded:.data/store"
        );
    }

    #[test]
    fn etcd_store_reports_it_is_not_built_yet() {
        let error = StoreSpec::Etcd(vec!["a:2379".into()])
            .open(EmbeddedOptions::default())
            .err();
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("the etcd store backend is not built yet (asked for etcd:a:2379)")
        );
    }

    #[test]
    fn embedded_and_memory_specs_open_working_stores() {
        let dir = tempfile::tempdir().unwrap();
        for spec in [StoreSpec::default_for(dir.path()), StoreSpec::Memory] {
            let store = spec.open(EmbeddedOptions::default()).unwrap();
            assert_eq!(store.current_revision(), 0, "{spec}");
        }
        assert!(dir.path().join("store").exists());
    }
}
