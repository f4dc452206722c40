//! Registry mirrors for imports, read from a containers-registries.conf(5) file (pure);
//! [`containerd`] and [`mirror_sets`] turn containerd's host directory and OpenShift's mirror
//! set objects into the same tables.
//!
//! OpenShift's importer reads the nodes' `registries.conf`, which the machine-config operator
//! renders from `ImageDigestMirrorSet`, `ImageTagMirrorSet` and `ImageContentSourcePolicy`, and
//! tries each mirror of a source before the source itself (openshift-apiserver,
//! `importer.getManifest`). The image a mirror serves is recorded under the source's name: its
//! digest is the same, and the nodes pull it through the same mirrors.
//!
//! Read from the version 2 format: each `[[registry]]`'s `prefix`, `location`, `insecure`,
//! `blocked`, `mirror-by-digest-only`, and its `[[registry.mirror]]`s' `location`, `insecure`
//! and `pull-from-mirror`. Other keys (`unqualified-search-registries`, `[aliases]`,
//! `short-name-mode`, credential helpers) say nothing about where an image is pulled from
//! and are ignored.

use serde::Deserialize;

use crate::reference::{is_docker_hub, ImageRef};

pub mod containerd;
pub mod mirror_sets;

/// The `[[registry]]` tables of a registries.conf file, ready to give each source's pull
/// sources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirrors {
    registries: Vec<Registry>,
}

/// One `[[registry]]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Registry {
    /// The names it applies to: a repository prefix, or `*.domain` for hosts under a domain.
    prefix: String,
    /// Where the names are pulled from when no mirror serves them (empty: from where they
    /// name, as a wildcard table's always are).
    location: String,
    insecure: bool,
    blocked: bool,
    mirror_by_digest_only: bool,
    mirrors: Vec<Mirror>,
}

/// One `[[registry.mirror]]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mirror {
    location: String,
    insecure: bool,
    serves: Serves,
}

/// Which pulls a mirror serves (`pull-from-mirror`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
enum Serves {
    /// Every pull (`all`, the default).
    #[default]
    #[serde(rename = "all")]
    All,
    /// Pulls by digest only (`digest-only`, an `ImageDigestMirrorSet`).
    #[serde(rename = "digest-only")]
    DigestOnly,
    /// Pulls by tag only (`tag-only`, an `ImageTagMirrorSet`).
    #[serde(rename = "tag-only")]
    TagOnly,
}

/// One place an import may read a source from, in the order they are tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSource {
    /// The source's reference rewritten for this place.
    pub reference: ImageRef,
    /// Whether this place may be reached without verifying its certificate, or over HTTP.
    pub insecure: bool,
    /// Whether this place is a mirror (not the source's own registry).
    pub mirror: bool,
}

/// Why a registries.conf file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MirrorsError {
    /// The file is not TOML of the expected shape.
    #[error("cannot read it as registries.conf version 2 (TOML): {0}")]
    Syntax(String),
    /// The file is in the version 1 format.
    #[error(
        "it is in registries.conf's version 1 format ([registries.search] and the like), which \
         lists no mirrors: write [[registry]] tables with [[registry.mirror]]s"
    )]
    VersionOne,
    /// A table cannot be used as written.
    #[error("[[registry]] {prefix:?}: {why}")]
    Registry {
        /// The table's prefix (or location).
        prefix: String,
        /// What is wrong and what to write.
        why: String,
    },
}

/// A pull the registries configuration forbids.
#[derive(Debug, PartialEq, Eq)]
pub struct Blocked {
    /// The `[[registry]]` prefix that blocks it.
    pub prefix: String,
}

impl Mirrors {
    /// Reads a registries.conf (version 2) file's text.
    pub fn parse(text: &str) -> Result<Self, MirrorsError> {
        let file: File = toml::from_str(text).map_err(|e| MirrorsError::Syntax(e.to_string()))?;
        if file.registries.is_some() {
            return Err(MirrorsError::VersionOne);
        }
        let registries = file
            .registry
            .into_iter()
            .map(Registry::from_table)
            .collect::<Result<_, _>>()?;
        Ok(Self { registries })
    }

    /// Whether no `[[registry]]` table is configured.
    pub fn is_empty(&self) -> bool {
        self.registries.is_empty()
    }

    /// How many `[[registry]]` tables are configured.
    pub fn len(&self) -> usize {
        self.registries.len()
    }

    /// Where to read `source` from, in order: the mirrors serving its kind of pull (by digest
    /// or by tag), then its own registry unless that is blocked. `insecure` is the tag's
    /// `importPolicy.insecure`; a table's own `insecure` adds to it for the places it names.
    /// `Err` when the registry is blocked and no mirror serves the pull.
    pub fn pull_sources(
        &self,
        source: &ImageRef,
        insecure: bool,
    ) -> Result<Vec<PullSource>, Blocked> {
        let full = source.docker_client_defaults().most_specific();
        let repository = canonical_repository(&full);
        let Some((registry, matched)) = self.matching(&repository) else {
            return Ok(vec![PullSource {
                reference: source.clone(),
                insecure,
                mirror: false,
            }]);
        };
        let by_digest = !full.id.is_empty();
        let rest = &repository[matched.len()..];
        let at = |location: &str| rewritten(&full, location, rest);
        let mut sources: Vec<PullSource> = registry
            .mirrors
            .iter()
            .filter(|mirror| registry.mirrors_serve(mirror, by_digest))
            .filter_map(|mirror| {
                Some(PullSource {
                    reference: at(&mirror.location)?,
                    insecure: insecure || mirror.insecure,
                    mirror: true,
                })
            })
            .collect();
        if !registry.blocked {
            let own = registry.location.is_empty() || registry.location == matched;
            let reference = match own {
                true => source.clone(),
                false => at(&registry.location).unwrap_or_else(|| source.clone()),
            };
            sources.push(PullSource {
                reference,
                insecure: insecure || registry.insecure,
                mirror: false,
            });
        }
        match sources.is_empty() {
            true => Err(Blocked {
                prefix: registry.prefix.clone(),
            }),
            false => Ok(sources),
        }
    }

    /// The table whose prefix matches `repository` longest, and the part of `repository` it
    /// matched (a wildcard prefix matches the host).
    fn matching<'r>(&self, repository: &'r str) -> Option<(&Registry, &'r str)> {
        self.registries
            .iter()
            .filter_map(|registry| Some((registry, registry.matched(repository)?)))
            .max_by_key(|(registry, _)| registry.prefix.len())
    }
}

impl Registry {
    /// A table for `host` that pulls it from where it names, through no mirror.
    fn own(host: &str) -> Self {
        Self {
            prefix: host.to_string(),
            location: String::new(),
            insecure: false,
            blocked: false,
            mirror_by_digest_only: false,
            mirrors: Vec::new(),
        }
    }

    /// Why a place of this table cannot be written in an image reference (an IPv6 address, a
    /// scheme, an empty port), which would leave pulls nowhere to go: checked when the file is
    /// read, rather than the place dropped at each pull.
    fn unreferenceable_place(&self) -> Option<String> {
        let own = std::iter::once(self.location.as_str()).filter(|l| !l.is_empty());
        let mirrors = self.mirrors.iter().map(|m| m.location.as_str());
        own.chain(mirrors)
            .find(|place| !referenceable(place))
            .map(|place| {
                format!(
                    "{place:?} cannot be written in an image reference: write a dotted host \
                     name or host:port (a single word is read as a Docker Hub namespace, and \
                     IPv6 addresses cannot be written), then an optional repository path, \
                     without a scheme"
                )
            })
    }

    fn from_table(table: RegistryTable) -> Result<Self, MirrorsError> {
        let prefix = table
            .prefix
            .filter(|p| !p.is_empty())
            .or_else(|| table.location.clone())
            .unwrap_or_default();
        let invalid = |why: &str| MirrorsError::Registry {
            prefix: prefix.clone(),
            why: why.to_string(),
        };
        if prefix.is_empty() {
            return Err(invalid("set prefix or location"));
        }
        let location = table.location.unwrap_or_default();
        if prefix.starts_with("*.") && !location.is_empty() {
            return Err(invalid(
                "a wildcard prefix takes no location: pulls go to the matched host",
            ));
        }
        if table.mirror_by_digest_only && table.mirror.iter().any(|m| m.pull_from_mirror.is_some())
        {
            return Err(invalid(
                "mirror-by-digest-only and a mirror's pull-from-mirror cannot be set together: \
                 keep pull-from-mirror = \"digest-only\" on the mirrors instead",
            ));
        }
        let mut mirrors = Vec::with_capacity(table.mirror.len());
        for mirror in table.mirror {
            if mirror.location.is_empty() {
                return Err(invalid("every [[registry.mirror]] needs a location"));
            }
            mirrors.push(Mirror {
                location: mirror.location,
                insecure: mirror.insecure,
                serves: mirror.pull_from_mirror.unwrap_or_default(),
            });
        }
        let registry = Self {
            prefix: prefix.clone(),
            location,
            insecure: table.insecure,
            blocked: table.blocked,
            mirror_by_digest_only: table.mirror_by_digest_only,
            mirrors,
        };
        match registry.unreferenceable_place() {
            Some(why) => Err(invalid(&why)),
            None => Ok(registry),
        }
    }

    /// The part of `repository` this table's prefix matches: the whole prefix, at a path
    /// boundary; for `*.domain`, a host under `domain`.
    fn matched<'r>(&self, repository: &'r str) -> Option<&'r str> {
        if let Some(domain) = self.prefix.strip_prefix('*') {
            let host = repository.split('/').next().unwrap_or(repository);
            return host.ends_with(domain).then_some(host);
        }
        let rest = repository.strip_prefix(self.prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(&repository[..self.prefix.len()])
    }

    /// Whether `mirror` serves a pull by digest (`by_digest`) or by tag.
    fn mirrors_serve(&self, mirror: &Mirror, by_digest: bool) -> bool {
        if self.mirror_by_digest_only {
            return by_digest;
        }
        match mirror.serves {
            Serves::All => true,
            Serves::DigestOnly => by_digest,
            Serves::TagOnly => !by_digest,
        }
    }
}

/// Whether `place` (`host[:port][/path]`) can be written at the start of an image reference
/// that then names that host: not an IPv6 address, a scheme, or a single word (which an image
/// reference reads as a Docker Hub namespace).
pub fn referenceable(place: &str) -> bool {
    let host = place.split('/').next().unwrap_or(place);
    ImageRef::parse(&format!("{place}/probe:latest")).is_ok_and(|parsed| parsed.registry == host)
}

/// `host` with Docker Hub's names as `docker.io`, the one name settings for a host are kept
/// under (a session asks for `index.docker.io`, a hosts.toml's server may say
/// `registry-1.docker.io`).
pub fn canonical_host(host: &str) -> String {
    match is_docker_hub(host) {
        true => "docker.io".to_string(),
        false => host.to_string(),
    }
}

/// `registry/namespace/name`, with Docker Hub's host names as `docker.io` (registries.conf
/// names Docker Hub so).
fn canonical_repository(full: &ImageRef) -> String {
    let mut bare = full.clone();
    if is_docker_hub(&bare.registry) {
        bare.registry = "docker.io".to_string();
    }
    bare.repository()
}

/// `full` at `location` + `rest` (the part of its repository after the matched prefix).
fn rewritten(full: &ImageRef, location: &str, rest: &str) -> Option<ImageRef> {
    let pinned = match full.id.is_empty() {
        true => format!("{location}{rest}:{}", full.tag),
        false => format!("{location}{rest}@{}", full.id),
    };
    ImageRef::parse(&pinned).ok()
}

/// The file as TOML reads it.
#[derive(Deserialize)]
struct File {
    #[serde(default)]
    registry: Vec<RegistryTable>,
    /// Version 1's `[registries.search]`, `[registries.insecure]`, `[registries.block]`.
    registries: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RegistryTable {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<MirrorTable>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct MirrorTable {
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<Serves>,
}

#[cfg(test)]
mod tests;
