//! The resource table: the one place that says which resources we serve, with their kinds,
//! verbs, scope and subresources. Legacy discovery, aggregated discovery and OpenAPI are all
//! derived from it, so they cannot drift apart.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::api::{GROUP, VERSION};

/// The eight verbs of a full generic store, sorted as the apiserver lists them.
const FULL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Whether a resource lives in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Addressed under `/namespaces/{namespace}/`.
    Namespaced,
    /// Addressed at the group-version root.
    Cluster,
}

/// A subresource such as `imagestreams/status`.
#[derive(Debug)]
pub struct Subresource {
    /// The path segment after the object name, e.g. `status`.
    pub name: &'static str,
    /// The kind its GET returns.
    pub kind: &'static str,
    /// The verbs it answers.
    pub verbs: &'static [&'static str],
}

/// A top-level resource of a group-version.
#[derive(Debug)]
pub struct Resource {
    /// The plural name used in URLs, e.g. `imagestreams`.
    pub plural: &'static str,
    /// The singular name, e.g. `imagestream`.
    pub singular: &'static str,
    /// The kind of one object, e.g. `ImageStream`.
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// The verbs the main resource answers, sorted.
    pub verbs: &'static [&'static str],
    /// Short names such as `is`.
    pub short_names: &'static [&'static str],
    /// Categories such as `all` (what `kubectl get all` lists).
    pub categories: &'static [&'static str],
    /// Subresources, sorted by name.
    pub subresources: &'static [Subresource],
    /// Whether the OpenAPI documents describe it; events are served as empty lists only
    /// and their large schema would buy nothing.
    pub in_openapi: bool,
}

/// One group-version and the resources we serve in it.
#[derive(Debug)]
pub struct GroupVersion {
    /// The API group; `""` for the legacy core group.
    pub group: &'static str,
    /// The version, e.g. `v1`.
    pub version: &'static str,
    /// The OpenAPI model package that prefixes its schema names.
    pub model_package: &'static str,
    /// The resources, in the order discovery lists them.
    pub resources: &'static [Resource],
}

/// `image.openshift.io/v1`: image streams and the images their layers refer to.
pub static IMAGE_V1: GroupVersion = GroupVersion {
    group: GROUP,
    version: VERSION,
    model_package: "com.github.openshift.api.image.v1",
    resources: &[
        Resource {
            plural: "imagestreams",
            singular: "imagestream",
            kind: "ImageStream",
            scope: Scope::Namespaced,
            verbs: FULL_VERBS,
            short_names: &["is"],
            categories: &["all"],
            subresources: &[
                Subresource {
                    name: "layers",
                    kind: "ImageStreamLayers",
                    verbs: &["get"],
                },
                // OpenShift registers SecretList inside the image group (contract §1.5).
                Subresource {
                    name: "secrets",
                    kind: "SecretList",
                    verbs: &["get"],
                },
                Subresource {
                    name: "status",
                    kind: "ImageStream",
                    verbs: &["get", "patch", "update"],
                },
            ],
            in_openapi: true,
        },
        // A view over the streams' tags, built on every read; a create, update, patch or
        // delete writes the stream's spec tag.
        Resource {
            plural: "imagestreamtags",
            singular: "imagestreamtag",
            kind: "ImageStreamTag",
            scope: Scope::Namespaced,
            verbs: &["create", "delete", "get", "list", "patch", "update"],
            short_names: &["istag"],
            categories: &[],
            subresources: &[],
            in_openapi: true,
        },
        // One image of a stream's history, `<stream>@<id>`; built on every read.
        Resource {
            plural: "imagestreamimages",
            singular: "imagestreamimage",
            kind: "ImageStreamImage",
            scope: Scope::Namespaced,
            verbs: &["get"],
            short_names: &["isimage"],
            categories: &[],
            subresources: &[],
            in_openapi: true,
        },
        // Imports images into a stream on request (`oc import-image`); create only.
        Resource {
            plural: "imagestreamimports",
            singular: "imagestreamimport",
            kind: "ImageStreamImport",
            scope: Scope::Namespaced,
            verbs: &["create"],
            short_names: &[],
            categories: &[],
            subresources: &[],
            in_openapi: true,
        },
        Resource {
            plural: "images",
            singular: "image",
            kind: "Image",
            scope: Scope::Cluster,
            // As OpenShift's: `DELETE …/images` with a selector is served.
            verbs: FULL_VERBS,
            short_names: &[],
            categories: &[],
            subresources: &[],
            in_openapi: true,
        },
    ],
};

/// The legacy core group: pull secrets (for `kubectl create secret docker-registry`), events
/// (answered empty, for `kubectl describe`) and namespaces (GET only: every namespace exists
/// here, and kubectl asks for one after a NotFound to tell a missing object from a missing
/// namespace).
pub static CORE_V1: GroupVersion = GroupVersion {
    group: "",
    version: "v1",
    model_package: "io.k8s.api.core.v1",
    resources: &[
        Resource {
            plural: "secrets",
            singular: "secret",
            kind: "Secret",
            scope: Scope::Namespaced,
            verbs: FULL_VERBS,
            short_names: &[],
            categories: &[],
            subresources: &[],
            in_openapi: true,
        },
        Resource {
            plural: "events",
            singular: "event",
            kind: "Event",
            scope: Scope::Namespaced,
            verbs: &["list"],
            short_names: &["ev"],
            categories: &[],
            subresources: &[],
            in_openapi: false,
        },
        Resource {
            plural: "namespaces",
            singular: "namespace",
            kind: "Namespace",
            scope: Scope::Cluster,
            verbs: &["get"],
            short_names: &["ns"],
            categories: &[],
            subresources: &[],
            in_openapi: false,
        },
    ],
};

/// Every group-version we serve: the core group first, as `/api` comes before `/apis`.
pub static GROUP_VERSIONS: [&GroupVersion; 2] = [&CORE_V1, &IMAGE_V1];

/// Whether an authorization rule's resource entry can match anything served here: `*`, a
/// served resource, `resource/subresource` of a served one, or `*/subresource` of one some
/// resource has. A typo (`imagestream`, `ImageStreams`) would grant nothing, silently.
pub fn names_a_served_resource(entry: &str) -> bool {
    let resources = || GROUP_VERSIONS.iter().flat_map(|gv| gv.resources.iter());
    match entry.split_once('/') {
        None => entry == "*" || resources().any(|r| r.plural == entry),
        Some((resource, sub)) => resources()
            .filter(|r| resource == "*" || r.plural == resource)
            .any(|r| r.subresources.iter().any(|s| s.name == sub)),
    }
}

/// Whether an authorization rule's API group entry can match anything served here: `*`, or a
/// group with served resources (`""` is the core group).
pub fn names_a_served_group(entry: &str) -> bool {
    entry == "*" || GROUP_VERSIONS.iter().any(|gv| gv.group == entry)
}

// === impl GroupVersion ===

impl GroupVersion {
    /// Whether this is the legacy core group (served under `/api`).
    pub fn is_core(&self) -> bool {
        self.group.is_empty()
    }

    /// The `apiVersion` of its objects: `v1` or `image.openshift.io/v1`.
    pub fn api_version(&self) -> String {
        if self.is_core() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The URL root of the group-version: `/api/v1` or `/apis/image.openshift.io/v1`.
    pub fn url_prefix(&self) -> String {
        if self.is_core() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The key of its document in the OpenAPI v3 index: the URL root without the leading `/`.
    pub fn openapi_path(&self) -> String {
        self.url_prefix()[1..].to_string()
    }

    /// The resource with this plural name.
    pub fn resource(&self, plural: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.plural == plural)
    }

    /// The OpenAPI schema name of one of its kinds.
    pub fn schema_name(&self, kind: &str) -> String {
        format!("{}.{kind}", self.model_package)
    }
}

// === impl Resource ===

impl Resource {
    /// The kind of its list, e.g. `ImageStreamList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether the main resource answers this verb.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether it lives in a namespace.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// The subresource with this name.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

/// The apiserver's `storageVersionHash`: base64 of the first 8 bytes of
/// sha256(`group/version/kind`), with an empty group for the core group.
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    let digest = Sha256::digest(format!("{group}/{version}/{kind}"));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_hash(group: &str, kind: &str, expected: &str) {
        assert_eq!(
            storage_version_hash(group, "v1", kind),
            expected,
            "{group}/{kind}"
        );
    }

    #[test]
    fn storage_version_hashes_match_the_apiserver() {
        check_hash("image.openshift.io", "ImageStream", "mwmf9lCqOiA=");
        check_hash("", "Secret", "S6u1pOWzb84=");
        check_hash("", "Event", "r2yiGXH7wu8=");
        check_hash("", "Namespace", "Q3oi5N2YM8M=");
        check_hash("image.openshift.io", "ImageStreamImport", "tdfUi/sRftA=");
    }

    #[test]
    fn group_versions_render_their_urls_and_api_versions() {
        assert_eq!(IMAGE_V1.api_version(), "image.openshift.io/v1");
        assert_eq!(IMAGE_V1.url_prefix(), "/apis/image.openshift.io/v1");
        assert_eq!(IMAGE_V1.openapi_path(), "apis/image.openshift.io/v1");
        assert_eq!(CORE_V1.api_version(), "v1");
        assert_eq!(CORE_V1.url_prefix(), "/api/v1");
        assert_eq!(CORE_V1.openapi_path(), "api/v1");
    }

    #[test]
    fn verbs_and_subresources_are_sorted_so_documents_are_stable() {
        for gv in GROUP_VERSIONS {
            for resource in gv.resources {
                assert!(resource.verbs.is_sorted(), "{}", resource.plural);
                let names: Vec<_> = resource.subresources.iter().map(|s| s.name).collect();
                assert!(names.is_sorted(), "{}", resource.plural);
                for sub in resource.subresources {
                    assert!(sub.verbs.is_sorted(), "{}/{}", resource.plural, sub.name);
                }
            }
        }
    }

    #[test]
    fn lookups_find_resources_and_subresources_by_name() {
        let streams = IMAGE_V1.resource("imagestreams").unwrap();
        assert_eq!(streams.list_kind(), "ImageStreamList");
        assert_eq!(streams.subresource("secrets").unwrap().kind, "SecretList");
        assert!(streams.has_verb("deletecollection"));
        assert!(!IMAGE_V1.resource("images").unwrap().namespaced());
        assert!(CORE_V1.resource("imagestreams").is_none());
        assert_eq!(
            IMAGE_V1.schema_name("ImageStream"),
            "com.github.openshift.api.image.v1.ImageStream"
        );
    }

    #[test]
    fn rule_resources_name_what_is_served_or_a_typo() {
        for served in [
            "*",
            "imagestreams",
            "imagestreams/status",
            "*/status",
            "secrets",
        ] {
            assert!(super::names_a_served_resource(served), "{served}");
        }
        for typo in [
            "imagestream",
            "ImageStreams",
            "imagestreams/*",
            "secrets/status",
            "pods",
        ] {
            assert!(!super::names_a_served_resource(typo), "{typo}");
        }
    }
}
