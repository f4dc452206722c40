//! Impersonation requests (`kubectl --as`, `--as-group`, `--as-uid`), which this server does
//! not support.
//!
//! kube-apiserver either acts as the impersonated user after authorizing the caller's
//! `impersonate` verb, or answers 403; it never runs the request as the caller. The policy file
//! has no `impersonate` grant, so every request asking for impersonation is refused; answering
//! it with the caller's own rights would show `--as=bob` what the caller may do, not bob.
//! Through the aggregator the kube-apiserver resolves impersonation itself and removes these
//! headers before it proxies, so refusing them costs nothing there.

use http::HeaderMap;

const USER: &str = "impersonate-user";
const UID: &str = "impersonate-uid";
const GROUP: &str = "impersonate-group";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// The first impersonation a request asks for, in kube-apiserver's terms: the caller would
/// need `impersonate` on `resource` (`users`, `uids`, `groups`, `userextras/<key>`) named `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Impersonation {
    /// The resource kube-apiserver authorizes, in the core group.
    pub resource: &'static str,
    /// The subresource (the extra's key for `userextras`), or `""`.
    pub subresource: String,
    /// The impersonated user, uid, group or extra value.
    pub name: String,
}

/// The impersonation `headers` ask for, if any (user first, as kube-apiserver checks it first).
pub fn requested(headers: &HeaderMap) -> Option<Impersonation> {
    let plain = [(USER, "users"), (UID, "uids"), (GROUP, "groups")];
    let named = plain.into_iter().find_map(|(header, resource)| {
        let value = headers.get(header)?;
        Some(Impersonation {
            resource,
            subresource: String::new(),
            name: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
    });
    named.or_else(|| extra(headers))
}

/// An `Impersonate-Extra-<key>` header; header names arrive lowercased, as kube keys them.
fn extra(headers: &HeaderMap) -> Option<Impersonation> {
    headers.iter().find_map(|(name, value)| {
        let key = name.as_str().strip_prefix(EXTRA_PREFIX)?;
        Some(Impersonation {
            resource: "userextras",
            subresource: key.to_string(),
            name: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], expected: Option<(&str, &str, &str)>) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let found = requested(&map);
        let found = found
            .as_ref()
            .map(|i| (i.resource, i.subresource.as_str(), i.name.as_str()));
        assert_eq!(found, expected, "{headers:?}");
    }

    #[test]
    fn every_impersonation_header_is_found_with_the_resource_kube_would_authorize() {
        check(&[("Impersonate-User", "bob")], Some(("users", "", "bob")));
        check(&[("impersonate-uid", "42")], Some(("uids", "", "42")));
        check(
            &[("Impersonate-Group", "admins")],
            Some(("groups", "", "admins")),
        );
        check(
            &[("Impersonate-Extra-Scopes", "view")],
            Some(("userextras", "scopes", "view")),
        );
        check(
            &[("Impersonate-Group", "g"), ("Impersonate-User", "bob")],
            Some(("users", "", "bob")),
        );
    }

    #[test]
    fn requests_without_impersonation_headers_ask_for_none() {
        check(&[], None);
        check(&[("X-Remote-User", "bob"), ("Impersonate", "bob")], None);
    }
}
