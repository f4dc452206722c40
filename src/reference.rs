//! Pull-spec references: parsing and rendering exactly as OpenShift's library-go does.
//!
//! A pull spec is `NAME [":" TAG] ["@" DIGEST]`. Parsing splits it into registry, namespace,
//! name, tag and ID and never normalises: `mysql` stays `mysql`, with no `docker.io`,
//! `library/` or `latest` added. Those defaults live only in [`ImageRef::docker_client_defaults`].

use std::fmt;

use serde::Serialize;

mod grammar;

use grammar::{match_grammar, validate_digest};

/// The longest NAME (host included) a reference may have.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The tag a reference without a tag stands for.
pub const DEFAULT_TAG: &str = "latest";

/// Registry names that are aliases of Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Why a pull spec could not be parsed. Messages are library-go's, word for word.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The empty string.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The spec would parse if it were lower case.
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// The spec does not match the grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The name (host included) is longer than 255 characters.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// The digest names an algorithm other than sha256, sha384 or sha512.
    #[error("unsupported digest algorithm")]
    UnsupportedDigest,
    /// The digest's hex part has the wrong length for its algorithm.
    #[error("invalid checksum digest length")]
    InvalidDigestLength,
    /// The digest's hex part is not lower-case hex.
    #[error("invalid checksum digest format")]
    InvalidDigestFormat,
}

/// A parsed pull spec. Tag and ID can both be set (`mysql:5.7@sha256:…`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ImageRef {
    /// The registry host (and port), e.g. `quay.io` or `localhost:5000`; empty when absent.
    pub registry: String,
    /// The first path segment after the registry, when the path has more than one segment.
    pub namespace: String,
    /// The rest of the path; may itself contain `/`.
    pub name: String,
    /// The tag, without `:`.
    pub tag: String,
    /// The digest (`sha256:…`) or, for legacy references, a non-digest image ID.
    pub id: String,
}

impl ImageRef {
    /// Parses a pull spec per library-go `reference.Parse`.
    ///
    /// A hand-written scanner over the distribution grammar: the admission hot path parses
    /// every reference, and this is several times faster than a capturing regex.
    pub fn parse(spec: &str) -> Result<Self, ParseError> {
        let Some(grammar) = match_grammar(spec) else {
            return Err(classify_mismatch(spec));
        };
        if grammar.name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ParseError::NameTooLong);
        }
        if !grammar.digest.is_empty() {
            validate_digest(grammar.digest)?;
        }
        Ok(split_name(spec, grammar.name, grammar.tag, grammar.digest))
    }

    /// Whether this is a "short" name that local lookup may resolve: no registry, no
    /// namespace, a non-empty name and no ID.
    pub fn is_short_name(&self) -> bool {
        self.registry.is_empty()
            && self.namespace.is_empty()
            && !self.name.is_empty()
            && self.id.is_empty()
    }

    /// Whether the ID is a well-formed digest (as opposed to a legacy image ID).
    pub fn has_digest_id(&self) -> bool {
        !self.id.is_empty() && is_valid_digest(&self.id)
    }

    /// `Name@ID`, `Name:ID` (legacy non-digest ID), `Name:Tag` or `Name`.
    pub fn name_string(&self) -> String {
        if !self.id.is_empty() {
            let separator = if is_valid_digest(&self.id) { '@' } else { ':' };
            return format!("{}{separator}{}", self.name, self.id);
        }
        if !self.tag.is_empty() {
            return format!("{}:{}", self.name, self.tag);
        }
        self.name.clone()
    }

    /// `[registry/][namespace/]NameString`, or the empty string when there is no name.
    pub fn exact(&self) -> String {
        if self.name.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        for part in [&self.registry, &self.namespace] {
            if !part.is_empty() {
                out.push_str(part);
                out.push('/');
            }
        }
        out.push_str(&self.name_string());
        out
    }

    /// [`exact`](Self::exact), with the `library` namespace added for Docker Hub registries.
    /// Used to build `status.dockerImageRepository`.
    pub fn string(&self) -> String {
        if self.namespace.is_empty() && is_docker_hub(&self.registry) {
            let mut with_library = self.clone();
            with_library.namespace = "library".to_string();
            return with_library.exact();
        }
        self.exact()
    }

    /// Drops the tag when the ID is a digest; moves a legacy ID into an empty tag.
    pub fn most_specific(&self) -> Self {
        let mut out = self.clone();
        if out.id.is_empty() {
            return out;
        }
        if is_valid_digest(&out.id) {
            out.tag.clear();
        } else if out.tag.is_empty() {
            out.tag = std::mem::take(&mut out.id);
        }
        out
    }

    /// Fills what a Docker client would assume: registry `docker.io`, namespace `library` on
    /// Docker Hub, tag `latest`. Used for equality checks and imports, never by lookup.
    pub fn docker_client_defaults(&self) -> Self {
        let mut out = self.clone();
        if out.registry.is_empty() {
            out.registry = "docker.io".to_string();
        }
        if out.namespace.is_empty() && is_docker_hub(&out.registry) {
            out.namespace = "library".to_string();
        }
        if out.tag.is_empty() && out.id.is_empty() {
            out.tag = DEFAULT_TAG.to_string();
        }
        out
    }

    /// The repository without tag or ID: `[registry/][namespace/]name`.
    pub fn repository(&self) -> String {
        let mut bare = self.clone();
        bare.tag.clear();
        bare.id.clear();
        bare.exact()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.exact())
    }
}

/// `spec` with its tag dropped and pinned to `id`: `[registry/][namespace/]name@id` (or `:id`
/// for a legacy non-digest ID). The same as parsing, clearing the tag, setting the ID and
/// rendering [`ImageRef::exact`], without building an [`ImageRef`]: the resolver pins on every
/// admission. `None` when `spec` does not parse or is a bare registry with no name.
pub fn pin(spec: &str, id: &str) -> Option<String> {
    pin_base(spec).map(|base| pin_onto(base, id))
}

/// The leading part of `spec` that [`pin`] writes an ID after (`[registry/][namespace/]name`),
/// or `None` when `spec` cannot be pinned. The live index computes it once per tag event, so
/// resolution only concatenates.
pub fn pin_base(spec: &str) -> Option<&str> {
    let grammar = match_grammar(spec)?;
    let bare_registry = !grammar.name.contains('/')
        && (grammar.name.contains('.') || grammar.name.starts_with("localhost"));
    if grammar.name.len() > NAME_TOTAL_LENGTH_MAX || bare_registry {
        return None;
    }
    if !grammar.digest.is_empty() && validate_digest(grammar.digest).is_err() {
        return None;
    }
    Some(grammar.name)
}

/// `base` (from [`pin_base`]) pinned to `id`: `base@id` for a digest, `base:id` for a legacy
/// ID, `base` alone for none.
pub fn pin_onto(base: &str, id: &str) -> String {
    if id.is_empty() {
        return base.to_string();
    }
    let separator = if is_valid_digest(id) { '@' } else { ':' };
    let mut pinned = String::with_capacity(base.len() + 1 + id.len());
    pinned.push_str(base);
    pinned.push(separator);
    pinned.push_str(id);
    pinned
}

/// Whether `registry` is one of Docker Hub's names.
pub fn is_docker_hub(registry: &str) -> bool {
    DOCKER_HUB_ALIASES.contains(&registry)
}

/// Whether `id` is a digest this parser accepts (`sha256`/`sha384`/`sha512` with the right
/// number of lower-case hex characters).
pub fn is_valid_digest(id: &str) -> bool {
    validate_digest(id).is_ok()
}

/// Picks the error for a spec that does not match the grammar, in library-go's order.
fn classify_mismatch(spec: &str) -> ParseError {
    if spec.is_empty() {
        return ParseError::NameEmpty;
    }
    if match_grammar(&spec.to_lowercase()).is_some() {
        return ParseError::NameContainsUppercase;
    }
    ParseError::InvalidFormat
}

/// Splits the matched NAME into registry, namespace and name (library-go `Parse`).
fn split_name(spec: &str, name: &str, tag: &str, id: &str) -> ImageRef {
    let mut out = ImageRef {
        tag: tag.to_string(),
        id: id.to_string(),
        ..ImageRef::default()
    };
    match name.find('/') {
        None if name.contains('.') || name.starts_with("localhost") => {
            // A bare host: the whole spec (tag and digest included) is the registry.
            out.registry = spec.to_string();
            out.tag.clear();
            return out;
        }
        None => out.name = name.to_string(),
        Some(slash) => {
            let first = &name[..slash];
            if first.contains(['.', ':']) || first == "localhost" {
                out.registry = first.to_string();
                out.name = name[slash + 1..].to_string();
            } else {
                out.name = name.to_string();
            }
        }
    }
    if let Some(slash) = out.name.find('/') {
        out.namespace = out.name[..slash].to_string();
        out.name = out.name[slash + 1..].to_string();
    }
    out
}

#[cfg(test)]
mod tests;
