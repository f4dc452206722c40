//! Request-header (front-proxy) authentication, as kube's aggregated API servers do it
//! (k8s.io/apiserver `pkg/authentication/request/headerrequest`).
//!
//! When the kube-apiserver aggregates our API it does not forward the user's token: it
//! connects with its front-proxy client certificate and names the user in headers
//! (`X-Remote-User`, `X-Remote-Group`, `X-Remote-Extra-<key>`). Those headers are trusted only
//! from a connection whose client certificate chains to the request-header CA and whose
//! common name is allowed; from anyone else they are ignored, and they are stripped from every
//! request so nothing downstream mistakes them for an assertion.
//!
//! The certificate itself is checked by a [`ClientCertPool`] of its own, so a webhook caller's
//! certificate is no front proxy.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderMap;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;

use super::client_certs::ClientCertPool;
use super::UserInfo;

/// Which headers carry the user, and which front-proxy certificates may set them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeaderConfig {
    /// Headers naming the user; the first one with a value wins.
    pub username_headers: Vec<String>,
    /// Headers listing groups; every value of every one counts.
    pub group_headers: Vec<String>,
    /// Prefixes of headers carrying extra user information.
    pub extra_headers_prefixes: Vec<String>,
    /// Common names the front proxy's certificate may have; empty allows any the CA signed.
    pub allowed_names: Vec<String>,
}

impl Default for RequestHeaderConfig {
    /// kube-apiserver's defaults for aggregated servers.
    fn default() -> Self {
        Self {
            username_headers: vec!["X-Remote-User".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_headers_prefixes: vec!["X-Remote-Extra-".into()],
            allowed_names: Vec::new(),
        }
    }
}

/// A user asserted by the front proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderUser {
    /// Name and groups; the uid is empty (kube's uid headers are not read).
    pub user: UserInfo,
    /// Extra information by lower-cased, unescaped key. Authorization does not use it.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What request-header authentication made of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No trusted front-proxy certificate: the headers mean nothing, try other credentials.
    NotFrontProxy,
    /// A trusted front proxy that named no user.
    MissingUser,
    /// A trusted front proxy acting for this user.
    User(HeaderUser),
}

/// The user the headers name, or `None` when no username header has a value.
pub fn user_from_headers(config: &RequestHeaderConfig, headers: &HeaderMap) -> Option<HeaderUser> {
    let name = config
        .username_headers
        .iter()
        .find_map(|header| values(headers, header).next().filter(|v| !v.is_empty()))?;
    let groups = config
        .group_headers
        .iter()
        .flat_map(|header| values(headers, header))
        .filter(|group| !group.is_empty())
        .map(String::from)
        .collect();
    let user = UserInfo {
        name: name.to_string(),
        uid: String::new(),
        groups,
        delegated: true,
    };
    Some(HeaderUser {
        user,
        extra: extras(&config.extra_headers_prefixes, headers),
    })
}

/// Removes every header the config reads, so handlers never see an untrusted assertion.
pub fn strip_headers(config: &RequestHeaderConfig, headers: &mut HeaderMap) {
    for header in config.username_headers.iter().chain(&config.group_headers) {
        headers.remove(header.as_str());
    }
    let prefixed: Vec<_> = headers
        .keys()
        .filter(|name| extra_key(&config.extra_headers_prefixes, name.as_str()).is_some())
        .cloned()
        .collect();
    for name in prefixed {
        headers.remove(name);
    }
}

/// Values of `header` that are valid UTF-8 (others cannot name a user).
fn values<'a>(headers: &'a HeaderMap, header: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header)
        .into_iter()
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
}

fn extras(prefixes: &[String], headers: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in headers.keys() {
        if let Some(key) = extra_key(prefixes, name.as_str()) {
            let found = values(headers, name.as_str()).map(String::from);
            extra.entry(key).or_default().extend(found);
        }
    }
    extra
}

/// The extra key of a header (names arrive lower-cased), percent-decoded like kube's
/// `unescapeExtraKey`, which keeps the raw key when it does not decode.
fn extra_key(prefixes: &[String], name: &str) -> Option<String> {
    let key = prefixes.iter().find_map(|prefix| {
        let prefix = prefix.to_ascii_lowercase();
        name.strip_prefix(prefix.as_str()).map(String::from)
    })?;
    Some(percent_decode(&key).unwrap_or(key))
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'%' {
            bytes.push(byte);
            continue;
        }
        let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
        bytes.push(u8::from_str_radix(hex, 16).ok()?);
        rest = &rest[2..];
    }
    String::from_utf8(bytes).ok()
}

/// Request-header authentication: the config, and the CA front-proxy certificates chain to.
#[derive(Clone, Debug)]
pub struct RequestHeaderAuthenticator {
    config: RequestHeaderConfig,
    front_proxies: ClientCertPool,
}

impl RequestHeaderAuthenticator {
    /// `verifier` checks chains against the request-header CA (see `tls::client_ca_verifier`).
    pub fn new(config: RequestHeaderConfig, verifier: Arc<dyn ClientCertVerifier>) -> Self {
        let front_proxies = ClientCertPool::new(verifier, config.allowed_names.clone());
        Self {
            config,
            front_proxies,
        }
    }

    /// The headers and names this authenticator trusts.
    pub fn config(&self) -> &RequestHeaderConfig {
        &self.config
    }

    /// The verdict for a request whose connection presented `chain` (leaf first), at `now`.
    pub fn authenticate(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
        headers: &HeaderMap,
        now: UnixTime,
    ) -> Verdict {
        if self.front_proxies.check(chain, now).is_err() {
            return Verdict::NotFrontProxy;
        }
        match user_from_headers(&self.config, headers) {
            Some(user) => Verdict::User(user),
            None => Verdict::MissingUser,
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            delegated: true,
        }
    }

    /// Checks the user (and extras) the default config reads from `pairs`.
    fn check(pairs: &[(&str, &str)], expected: Option<UserInfo>, extra: &[(&str, &[&str])]) {
        let found = user_from_headers(&RequestHeaderConfig::default(), &headers(pairs));
        assert_eq!(
            found.as_ref().map(|f| &f.user),
            expected.as_ref(),
            "{pairs:?}"
        );
        let extra: BTreeMap<String, Vec<String>> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(
            found.map(|f| f.extra).unwrap_or_default(),
            extra,
            "{pairs:?}"
        );
    }

    #[test]
    fn user_and_repeated_groups_come_from_the_headers() {
        check(
            &[
                ("x-remote-user", "alice"),
                ("x-remote-group", "system:masters"),
                ("x-remote-group", "dev"),
            ],
            Some(user("alice", &["system:masters", "dev"])),
            &[],
        );
    }

    #[test]
    fn header_names_match_whatever_their_case() {
        check(&[("X-Remote-User", "bob")], Some(user("bob", &[])), &[]);
    }

    #[test]
    fn no_username_header_or_an_empty_one_names_nobody() {
        check(&[("x-remote-group", "system:masters")], None, &[]);
        check(&[("x-remote-user", "")], None, &[]);
    }

    #[test]
    fn empty_groups_are_dropped_and_group_values_are_not_split() {
        check(
            &[
                ("x-remote-user", "alice"),
                ("x-remote-group", ""),
                ("x-remote-group", "a,b"),
            ],
            Some(user("alice", &["a,b"])),
            &[],
        );
    }

    #[test]
    fn extras_are_keyed_by_the_unescaped_lower_case_suffix() {
        check(
            &[
                ("x-remote-user", "alice"),
                ("X-Remote-Extra-Scopes", "view"),
                ("x-remote-extra-scopes", "edit"),
                ("x-remote-extra-example.com%2fteam", "a"),
                ("x-remote-extra-bad%zz", "b"),
            ],
            Some(user("alice", &[])),
            &[
                ("bad%zz", &["b"]),
                ("example.com/team", &["a"]),
                ("scopes", &["view", "edit"]),
            ],
        );
    }

    #[test]
    fn first_configured_username_header_with_a_value_wins() {
        let config = RequestHeaderConfig {
            username_headers: vec!["X-User".into(), "X-Remote-User".into()],
            ..RequestHeaderConfig::default()
        };
        let found = user_from_headers(
            &config,
            &headers(&[("x-remote-user", "second"), ("x-user", "first")]),
        );
        assert_eq!(found.unwrap().user.name, "first");
        let found = user_from_headers(&config, &headers(&[("x-remote-user", "second")]));
        assert_eq!(found.unwrap().user.name, "second");
    }

    #[test]
    fn stripping_removes_every_request_header_header_and_nothing_else() {
        let mut map = headers(&[
            ("x-remote-user", "mallory"),
            ("x-remote-group", "system:masters"),
            ("x-remote-extra-scopes", "all"),
            ("authorization", "Bearer t"),
            ("accept", "application/json"),
        ]);
        strip_headers(&RequestHeaderConfig::default(), &mut map);
        let mut left: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["accept", "authorization"]);
    }
}
