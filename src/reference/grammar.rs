//! The reference grammar of docker/distribution (as vendored by library-go), scanned by hand:
//! whether a pull spec matches, split into its name, tag and digest, and go-digest's checks.

use super::ParseError;

/// The anchored reference grammar of docker/distribution, as vendored by library-go, kept as
/// the oracle the hand-written scanner is checked against. Go's `\w` is ASCII, hence the
/// explicit classes. Groups: 1 = name, 2 = tag, 3 = digest.
#[cfg(test)]
pub(super) static REFERENCE_RE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| {
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

/// The three parts of a spec that matches the reference grammar.
pub(super) struct Grammar<'a> {
    pub(super) name: &'a str,
    pub(super) tag: &'a str,
    pub(super) digest: &'a str,
}

/// Matches `NAME [":" TAG] ["@" DIGEST]`. `@` never occurs in a name or tag, so the first one
/// starts the digest; a `:` followed by no `/` starts the tag (a port is always followed by a
/// path), so the split is unambiguous and needs no backtracking.
pub(super) fn match_grammar(spec: &str) -> Option<Grammar<'_>> {
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

/// `[domain "/"] component ("/" component)*`. Checked as bytes, split by byte loops: the
/// pieces are a few bytes long, and `str::split`'s searcher is set up again for each.
fn is_name(name: &str) -> bool {
    let name = name.as_bytes();
    let mut segments = name.split(|&b| b == b'/');
    let first = segments.next().unwrap_or_default();
    let rest_are_components = segments.clone().all(is_component);
    rest_are_components && (is_component(first) || (name.contains(&b'/') && is_domain(first)))
}

/// Lower-case alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
fn is_component(bytes: &[u8]) -> bool {
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
fn is_domain(domain: &[u8]) -> bool {
    let (host, port) = match domain.iter().position(|&b| b == b':') {
        Some(colon) => (&domain[..colon], Some(&domain[colon + 1..])),
        None => (domain, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    port_ok && host.split(|&b| b == b'.').all(is_domain_label)
}

/// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_label(bytes: &[u8]) -> bool {
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
pub(super) fn validate_digest(digest: &str) -> Result<(), ParseError> {
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
    // Folded without short-circuit, so the test vectorises: a pinned reference is checked on
    // every admission, and `all` took about ten instructions per hex digit.
    let lower_hex = |b: u8| b.is_ascii_digit() | (b'a'..=b'f').contains(&b);
    if !hex.bytes().fold(true, |ok, b| ok & lower_hex(b)) {
        return Err(ParseError::InvalidDigestFormat);
    }
    Ok(())
}
