//! Pull-spec references: parsing and rendering exactly as OpenShift's library-go does.
//!
//! A pull spec is `NAME [":" TAG] ["@" DIGEST]`. Parsing splits it into registry, namespace,
//! name, tag and ID and never normalises: `mysql` stays `mysql`, with no `docker.io`,
//! `library/` or `latest` added. Those defaults live only in [`ImageRef::docker_client_defaults`].

use std::fmt;

use serde::Serialize;

/// The longest NAME (host included) a reference may have.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The tag a reference without a tag stands for.
pub const DEFAULT_TAG: &str = "latest";

/// Registry names that are aliases of Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The anchored reference grammar of docker/distribution, as vendored by library-go, kept as
/// the oracle the hand-written scanner is checked against. Go's `\w` is ASCII, hence the
/// explicit classes. Groups: 1 = name, 2 = tag, 3 = digest.
#[cfg(test)]
static REFERENCE_RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    let alpha_numeric = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]*)";
    let component = format!("{alpha_numeric}(?:{separator}{alpha_numeric})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"{domain_component}(?:\.{domain_component})*(?::[0-9]+)?");
    let name = format!("(?:{domain}/)?{component}(?:/{component})*");
    let tag = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    regex::Regex::new(&format!("^({name})(?::({tag}))?(?:@({digest}))?$"))
        .expect("reference grammar compiles")
});

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

/// The three parts of a spec that matches the reference grammar.
struct Grammar<'a> {
    name: &'a str,
    tag: &'a str,
    digest: &'a str,
}

/// Matches `NAME [":" TAG] ["@" DIGEST]`. `@` never occurs in a name or tag, so the first one
/// starts the digest; a `:` followed by no `/` starts the tag (a port is always followed by a
/// path), so the split is unambiguous and needs no backtracking.
fn match_grammar(spec: &str) -> Option<Grammar<'_>> {
    let (rest, digest) = match spec.split_once('@') {
        Some((rest, digest)) => (rest, is_digest_syntax(digest).then_some(digest)?),
        None => (spec, ""),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if !rest[colon + 1..].contains('/') => (
            &rest[..colon],
            is_tag(&rest[colon + 1..]).then_some(&rest[colon + 1..])?,
        ),
        _ => (rest, ""),
    };
    is_name(name).then_some(Grammar { name, tag, digest })
}

/// `[domain "/"] component ("/" component)*`.
fn is_name(name: &str) -> bool {
    let mut segments = name.split('/');
    let first = segments.next().unwrap_or("");
    let rest_are_components = segments.clone().all(is_component);
    rest_are_components && (is_component(first) || (name.contains('/') && is_domain(first)))
}

/// Lower-case alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
fn is_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    bytes
        .split(alnum)
        .filter(|separator| !separator.is_empty())
        .all(|separator| {
            matches!(separator, b"." | b"_" | b"__") || separator.iter().all(|&b| b == b'-')
        })
}

/// Dot-separated host labels, then an optional `:port`.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && host.split('.').all(is_domain_label)
}

/// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && edge_ok(bytes[0])
        && edge_ok(bytes[bytes.len() - 1])
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A word character then up to 127 word characters, `.` or `-` (ASCII, like Go's `\w`).
fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `ALGORITHM ":" HEX` with at least 32 hex characters; algorithm components start with a
/// letter and are joined by one of `-_+.`.
fn is_digest_syntax(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let mut bytes = c.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric())
    };
    hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && algorithm.split(['-', '_', '+', '.']).all(component_ok)
}

/// Validates a digest per go-digest: known algorithm, exact length, lower-case hex.
fn validate_digest(digest: &str) -> Result<(), ParseError> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(ParseError::InvalidFormat);
    };
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ParseError::UnsupportedDigest),
    };
    if hex.len() != expected_len {
        return Err(ParseError::InvalidDigestLength);
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ParseError::InvalidDigestFormat);
    }
    Ok(())
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
mod tests {
    use super::*;

    const D: &str = "sha256:e70f3bd4c0dc5bd4c2b2d1e14b9d3e8d8e8f7c6a2b0f9a5d4e3c2b1a09f8e7d6";

    fn parts(registry: &str, namespace: &str, name: &str, tag: &str, id: &str) -> ImageRef {
        ImageRef {
            registry: registry.into(),
            namespace: namespace.into(),
            name: name.into(),
            tag: tag.into(),
            id: id.into(),
        }
    }

    fn check(spec: &str, expected: ImageRef) {
        assert_eq!(ImageRef::parse(spec), Ok(expected), "parsing {spec:?}");
    }

    fn check_error(spec: &str, expected: ParseError) {
        assert_eq!(ImageRef::parse(spec), Err(expected), "parsing {spec:?}");
    }

    #[test]
    fn splits_references_like_library_go() {
        let hex = &D["sha256:".len()..];
        check("foo", parts("", "", "foo", "", ""));
        check("foo:tag", parts("", "", "foo", "tag", ""));
        check(&format!("sha256:{hex}"), parts("", "", "sha256", hex, ""));
        check(&format!("foo@{D}"), parts("", "", "foo", "", D));
        check("bar/foo", parts("", "bar", "foo", "", ""));
        check("bar/foo/baz", parts("", "bar", "foo/baz", "", ""));
        check("bar:5000/foo/baz", parts("bar:5000", "foo", "baz", "", ""));
        check("bar:5000/baz", parts("bar:5000", "", "baz", "", ""));
        check(
            "myregistry.io/foo",
            parts("myregistry.io", "", "foo", "", ""),
        );
        check("localhost/bar", parts("localhost", "", "bar", "", ""));
        check("docker.io/myapp", parts("docker.io", "", "myapp", "", ""));
        check(
            "docker.io/library/myapp",
            parts("docker.io", "library", "myapp", "", ""),
        );
        check(
            "docker.io/user/project/myapp",
            parts("docker.io", "user", "project/myapp", "", ""),
        );
        check("quay.io", parts("quay.io", "", "", "", ""));
        check("localhost:5000", parts("localhost:5000", "", "", "", ""));
        check("wildfly:15.0", parts("", "", "wildfly", "15.0", ""));
        check(&format!("mysql:5.7@{D}"), parts("", "", "mysql", "5.7", D));
    }

    #[test]
    fn accepts_component_separators_per_grammar() {
        check("a__b", parts("", "", "a__b", "", ""));
        check("a--b", parts("", "", "a--b", "", ""));
        check("a.b_c-d", parts("a.b_c-d", "", "", "", ""));
        check(
            "Upper.Case.Host/repo",
            parts("Upper.Case.Host", "", "repo", "", ""),
        );
    }

    #[test]
    fn rejects_malformed_references_with_library_go_messages() {
        use ParseError::*;
        check_error("", NameEmpty);
        check_error(
            "registry:3000/integration/imageStream:success",
            NameContainsUppercase,
        );
        check_error("MySQL", NameContainsUppercase);
        check_error("registry.io/foo/bar/:Tag", InvalidFormat);
        check_error("https://bar:5000/foo/baz", InvalidFormat);
        check_error(
            "foo@sha256:00000000000000000000000000000001",
            InvalidDigestLength,
        );
        check_error("abc@badid", InvalidFormat);
        check_error("index.docker.io/mysql@sha256:bad", InvalidFormat);
        check_error(&format!("@{D}"), InvalidFormat);
        check_error(":tag", InvalidFormat);
        check_error("bar/foo/baz////biz", InvalidFormat);
        check_error("//foo/baz/biz", InvalidFormat);
        check_error("ftp://baz/baz/biz", InvalidFormat);
        check_error("a___b", InvalidFormat);
        check_error("a-", InvalidFormat);
        check_error("-a", InvalidFormat);
        check_error("a_", InvalidFormat);
        check_error(&format!("foo@md5:{}", "a".repeat(32)), UnsupportedDigest);
        check_error(
            &format!("foo@sha256:{}", "A".repeat(64)),
            InvalidDigestFormat,
        );
        check_error(&format!("foo:{}", "t".repeat(129)), InvalidFormat);
        check_error(&"a".repeat(256), NameTooLong);
    }

    #[test]
    fn tags_are_ascii_words_like_in_go() {
        check_error("mysql:t\u{e4}g", ParseError::InvalidFormat);
        check_error("mysql:\u{663}", ParseError::InvalidFormat);
        check("mysql:_x.y-z", parts("", "", "mysql", "_x.y-z", ""));
    }

    #[test]
    fn accepts_longest_tag_and_name() {
        check(
            &format!("foo:{}", "t".repeat(128)),
            parts("", "", "foo", &"t".repeat(128), ""),
        );
        check(&"a".repeat(255), parts("", "", &"a".repeat(255), "", ""));
        let sha512 = format!("sha512:{}", "0".repeat(128));
        check(&format!("foo@{sha512}"), parts("", "", "foo", "", &sha512));
    }

    #[test]
    fn short_names_are_single_segment_without_id() {
        let short = |spec: &str| ImageRef::parse(spec).unwrap().is_short_name();
        assert!(short("mysql"));
        assert!(short("mysql:5.7"));
        assert!(short("php:latest"));
        assert!(!short(&format!("mysql@{D}")));
        assert!(!short(&format!("mysql:5.7@{D}")));
        assert!(!short("library/mysql"));
        assert!(!short("myns/mysql"));
        assert!(!short("docker.io/mysql"));
        assert!(!short("localhost/mysql"));
        assert!(!short("quay.io"));
    }

    #[test]
    fn renders_exact_string_and_most_specific() {
        let exact = |r: ImageRef| r.exact();
        assert_eq!(
            exact(parts("", "", "mysql", "5.7", D)),
            format!("mysql@{D}")
        );
        assert_eq!(exact(parts("", "", "mysql", "", "10")), "mysql:10");
        assert_eq!(exact(parts("quay.io", "o", "m", "8", "")), "quay.io/o/m:8");
        assert_eq!(exact(parts("quay.io", "", "", "", "")), "");
        assert_eq!(
            parts("docker.io", "", "mysql", "", "").string(),
            "docker.io/library/mysql"
        );
        assert_eq!(
            parts("quay.io", "", "mysql", "", "").string(),
            "quay.io/mysql"
        );
        assert_eq!(
            parts("", "", "mysql", "5.7", D).most_specific(),
            parts("", "", "mysql", "", D)
        );
        assert_eq!(
            parts("", "", "mysql", "", "10").most_specific(),
            parts("", "", "mysql", "10", "")
        );
        assert_eq!(parts("a.io", "n", "m", "t", "").repository(), "a.io/n/m");
    }

    #[test]
    fn docker_client_defaults_fill_hub_library_and_latest() {
        let defaulted = ImageRef::parse("mysql").unwrap().docker_client_defaults();
        assert_eq!(
            defaulted,
            parts("docker.io", "library", "mysql", "latest", "")
        );
        let quay = ImageRef::parse("quay.io/o/m")
            .unwrap()
            .docker_client_defaults();
        assert_eq!(quay, parts("quay.io", "o", "m", "latest", ""));
    }

    mod properties {
        use super::super::REFERENCE_RE;
        use super::super::*;
        use proptest::prelude::*;

        fn component() -> impl Strategy<Value = String> {
            "[a-z0-9]{1,6}((\\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}"
        }

        fn spec() -> impl Strategy<Value = String> {
            let host = prop_oneof![
                Just(String::new()),
                "[a-z]{1,8}\\.(io|com)(:[0-9]{2,5})?".prop_map(|h| format!("{h}/")),
                Just("localhost:5000/".to_string()),
            ];
            let path = prop::collection::vec(component(), 1..4).prop_map(|parts| parts.join("/"));
            let suffix = prop_oneof![
                Just(String::new()),
                "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}".prop_map(|t| format!(":{t}")),
                "[0-9a-f]{64}".prop_map(|h| format!("@sha256:{h}")),
            ];
            (host, path, suffix).prop_map(|(h, p, s)| format!("{h}{p}{s}"))
        }

        /// Strings over the grammar's alphabet, so that most land near its edges.
        fn oracle_input() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                "[a-z0-9]{1,4}",
                Just("/".to_string()),
                Just(":".to_string()),
                Just("@".to_string()),
                Just(".".to_string()),
                Just("_".to_string()),
                Just("__".to_string()),
                Just("-".to_string()),
                "[A-Z]{1,2}",
                Just("sha256:".to_string()),
                "[0-9a-f]{32}",
                Just("localhost".to_string()),
                Just("\u{e4}".to_string()),
            ];
            prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
        }

        proptest! {
            #[test]
            fn rendering_a_parsed_reference_gives_it_back(spec in spec()) {
                let parsed = ImageRef::parse(&spec).expect("generated references are valid");
                // A dotted single segment is a bare registry, which renders empty by design.
                prop_assume!(!parsed.name.is_empty());
                prop_assert_eq!(parsed.exact(), spec);
            }

            #[test]
            fn the_scanner_accepts_exactly_what_the_grammar_regex_accepts(input in oracle_input()) {
                let by_regex = REFERENCE_RE.captures(&input).map(|c| {
                    let part = |i| c.get(i).map_or("", |m| m.as_str()).to_string();
                    (part(1), part(2), part(3))
                });
                let by_scanner = match_grammar(&input).map(|g| (g.name.to_string(), g.tag.to_string(), g.digest.to_string()));
                prop_assert_eq!(by_scanner, by_regex);
            }

            #[test]
            fn pinning_without_parsing_matches_parse_clear_tag_set_id_render(
                input in prop_oneof![spec(), oracle_input()],
                id in prop_oneof![Just(String::new()), Just("10".to_string()), "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))],
            ) {
                let by_parsing = ImageRef::parse(&input).ok().and_then(|mut parsed| {
                    parsed.tag.clear();
                    parsed.id = id.clone();
                    Some(parsed.exact()).filter(|pinned| !pinned.is_empty())
                });
                prop_assert_eq!(pin(&input, &id), by_parsing);
                if let Some(base) = pin_base(&input) {
                    prop_assert!(input.starts_with(base), "the base is a prefix the index can store as a length");
                }
            }

            #[test]
            fn parsing_arbitrary_text_never_panics_nor_grows(input in "\\PC{0,80}") {
                if let Ok(parsed) = ImageRef::parse(&input) {
                    prop_assert!(parsed.exact().len() <= input.len());
                }
            }
        }
    }
}
