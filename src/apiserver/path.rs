//! Request paths: `/apis/<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`
//! and `/api/v1/...`, parsed into what they address.

use super::error::ApiError;

/// What a resource path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPath {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The API version.
    pub version: String,
    /// The namespace, when the path names one.
    pub namespace: Option<String>,
    /// The plural resource.
    pub resource: String,
    /// The object name, for item paths.
    pub name: Option<String>,
    /// The subresource (`status`, `layers`, `secrets`), for subresource paths.
    pub subresource: Option<String>,
}

/// Parses a resource path; anything else is a 404 with the path-not-found Status.
pub fn parse(path: &str) -> Result<ApiPath, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => (("", *version), rest),
        ["apis", group, version, rest @ ..] => ((*group, *version), rest),
        _ => return Err(ApiError::PathNotFound),
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, resource, rest @ ..] if !namespace.is_empty() => {
            (Some(namespace.to_string()), prepend(resource, rest))
        }
        rest => (None, rest.to_vec()),
    };
    let (resource, name, subresource) = match rest.as_slice() {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, subresource] => (*resource, Some(*name), Some(*subresource)),
        _ => return Err(ApiError::PathNotFound),
    };
    if resource.is_empty()
        || name.is_some_and(str::is_empty)
        || subresource.is_some_and(str::is_empty)
    {
        return Err(ApiError::PathNotFound);
    }
    Ok(ApiPath {
        group: group.0.to_string(),
        version: group.1.to_string(),
        namespace,
        resource: resource.to_string(),
        name: name.map(String::from),
        subresource: subresource.map(String::from),
    })
}

fn prepend<'a>(first: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = Vec::with_capacity(rest.len() + 1);
    all.push(first);
    all.extend_from_slice(rest);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// group, namespace, resource, name, subresource
    type Parts<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
    );

    fn check(path: &str, expected: Option<Parts<'_>>) {
        let parsed = parse(path)
            .ok()
            .map(|p| (p.group, p.namespace, p.resource, p.name, p.subresource));
        let expected = expected.map(|(g, ns, r, n, s)| {
            (
                g.to_string(),
                ns.map(String::from),
                r.to_string(),
                n.map(String::from),
                s.map(String::from),
            )
        });
        assert_eq!(parsed, expected, "{path}");
    }

    #[test]
    fn resource_paths_split_into_their_parts() {
        let g = "image.openshift.io";
        check(
            "/apis/image.openshift.io/v1/imagestreams",
            Some((g, None, "imagestreams", None, None)),
        );
        check(
            "/apis/image.openshift.io/v1/namespaces/ns/imagestreams",
            Some((g, Some("ns"), "imagestreams", None, None)),
        );
        check(
            "/apis/image.openshift.io/v1/namespaces/ns/imagestreams/demo/status",
            Some((g, Some("ns"), "imagestreams", Some("demo"), Some("status"))),
        );
        check(
            "/apis/image.openshift.io/v1/images/sha256:abc",
            Some((g, None, "images", Some("sha256:abc"), None)),
        );
        check(
            "/api/v1/namespaces/ns/secrets/pull",
            Some(("", Some("ns"), "secrets", Some("pull"), None)),
        );
        check("/api/v1/secrets", Some(("", None, "secrets", None, None)));
    }

    #[test]
    fn other_paths_are_not_found() {
        check("/apis", None);
        check(
            "/apis/image.openshift.io/v1/namespaces/ns/imagestreams/a/b/c",
            None,
        );
        check(
            "/apis/image.openshift.io/v1/namespaces/ns/imagestreams//status",
            None,
        );
        check("/healthz", None);
    }
}
