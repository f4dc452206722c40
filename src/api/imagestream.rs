//! The `image.openshift.io/v1` ImageStream, serialised the way OpenShift writes it.
//!
//! Serialisation details that clients see (openshift-semantics §4.2): `spec.lookupPolicy` is
//! always present; a TagReference's `annotations` and `generation` are `null` when unset;
//! `status.dockerImageRepository` is always present; every TagEvent field is always present.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Time};
use serde::{Deserialize, Serialize};

/// The API group of every type in this module.
pub const GROUP: &str = "image.openshift.io";
/// The API version of every type in this module.
pub const VERSION: &str = "v1";
/// `group/version`, as written in `apiVersion`.
pub const API_VERSION: &str = "image.openshift.io/v1";

/// `referencePolicy.type` value: pull from the tag event's original location.
pub const REFERENCE_POLICY_SOURCE: &str = "Source";
/// `referencePolicy.type` value: pull through the integrated registry.
pub const REFERENCE_POLICY_LOCAL: &str = "Local";

/// `importPolicy.importMode` value: keep one manifest of a manifest list.
pub const IMPORT_MODE_LEGACY: &str = "Legacy";
/// `importPolicy.importMode` value: keep the manifest list as it is.
pub const IMPORT_MODE_PRESERVE_ORIGINAL: &str = "PreserveOriginal";

fn default_api_version() -> String {
    API_VERSION.to_string()
}

fn default_stream_kind() -> String {
    "ImageStream".to_string()
}

fn default_list_kind() -> String {
    "ImageStreamList".to_string()
}

/// A stream of images addressed by tag, with an optional lookup policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStream {
    /// Always `image.openshift.io/v1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Always `ImageStream`.
    #[serde(default = "default_stream_kind")]
    pub kind: String,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the user asked for.
    #[serde(default)]
    pub spec: ImageStreamSpec,
    /// What the server observed; computed, never taken from a user's create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ImageStreamStatus>,
}

/// The user's intent for a stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamSpec {
    /// Whether short names in this namespace resolve through this stream.
    #[serde(default)]
    pub lookup_policy: ImageLookupPolicy,
    /// Deprecated: the repository backing this stream.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub docker_image_repository: String,
    /// The tags, each with an optional source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagReference>,
}

/// How the stream takes part in short-name lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLookupPolicy {
    /// Rewrite short references such as `mysql` in this namespace to this stream's images.
    #[serde(default)]
    pub local: bool,
}

/// One spec tag: a name, an optional source and its import and reference policies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagReference {
    /// The tag name. Not validated, as in OpenShift.
    #[serde(default)]
    pub name: String,
    /// Annotations applied to images retrieved through this tag; `null` when unset.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    /// What the tag points at: `DockerImage`, `ImageStreamTag` or `ImageStreamImage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ObjectReference>,
    /// When true the tag is only a reference and is never imported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference: bool,
    /// The stream generation at which this tag last changed; `null` when unset.
    #[serde(default)]
    pub generation: Option<i64>,
    /// How the tag is imported.
    #[serde(default)]
    pub import_policy: TagImportPolicy,
    /// How pull specs for this tag are generated.
    #[serde(default)]
    pub reference_policy: TagReferencePolicy,
}

/// Import settings of a tag.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagImportPolicy {
    /// Allow plain HTTP or unverified TLS when importing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Re-import periodically.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scheduled: bool,
    /// `Legacy` or `PreserveOriginal`; defaulted to `Legacy`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub import_mode: String,
}

/// How pull specs of a tag are written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagReferencePolicy {
    /// `Source` (default) or `Local`.
    #[serde(default, rename = "type")]
    pub type_: String,
}

/// What the server observed about a stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamStatus {
    /// Where the stream can be pulled from inside the cluster; always present.
    #[serde(default)]
    pub docker_image_repository: String,
    /// Where the stream can be pulled from outside the cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub public_docker_image_repository: String,
    /// History per tag, newest event first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<NamedTagEventList>,
}

/// The history of one tag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedTagEventList {
    /// The tag this history belongs to.
    #[serde(default)]
    pub tag: String,
    /// Events, newest first; the first is the current image.
    #[serde(default)]
    pub items: Vec<TagEvent>,
    /// Conditions such as a failed import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<TagEventCondition>,
}

/// One image a tag pointed at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagEvent {
    /// When the event was recorded.
    pub created: Time,
    /// The pull spec the image came from.
    #[serde(default)]
    pub docker_image_reference: String,
    /// The image ID (a digest); empty for reference-only tags.
    #[serde(default)]
    pub image: String,
    /// The spec tag generation this event answers.
    #[serde(default)]
    pub generation: i64,
}

/// A condition on a tag's history (for example a failed import).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagEventCondition {
    /// The condition type, e.g. `ImportSuccess`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A machine-readable reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The spec tag generation this condition answers.
    #[serde(default)]
    pub generation: i64,
}

/// A list of streams.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamList {
    /// Always `image.openshift.io/v1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Always `ImageStreamList`.
    #[serde(default = "default_list_kind")]
    pub kind: String,
    /// List metadata: resourceVersion, continue.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The streams.
    #[serde(default)]
    pub items: Vec<ImageStream>,
}

// === impl ImageStream ===

impl ImageStream {
    /// An empty stream with the given namespace and name.
    pub fn new(namespace: &str, name: &str) -> Self {
        let metadata = ObjectMeta {
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        };
        Self {
            api_version: default_api_version(),
            kind: default_stream_kind(),
            metadata,
            ..Self::default()
        }
    }

    /// The stream's name, or `""`.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// The stream's namespace, or `""`.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }

    /// The spec tag with this name. With duplicates the last wins, as in OpenShift.
    pub fn spec_tag(&self, tag: &str) -> Option<&TagReference> {
        self.spec.tags.iter().rev().find(|t| t.name == tag)
    }

    /// Every spec tag by name, as [`Self::spec_tag`] finds it (the last of duplicates): for
    /// looking up many tags, where a scan for each is quadratic in the stream's tags.
    pub fn spec_tags_by_name(&self) -> HashMap<&str, &TagReference> {
        self.spec
            .tags
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect()
    }

    /// The status history of this tag.
    pub fn status_tag(&self, tag: &str) -> Option<&NamedTagEventList> {
        self.status.as_ref()?.tags.iter().find(|t| t.tag == tag)
    }

    /// The newest event of this tag, if any.
    pub fn latest_event(&self, tag: &str) -> Option<&TagEvent> {
        self.status_tag(tag)?.items.first()
    }

    /// `status.dockerImageRepository`, or `""`.
    pub fn status_repository(&self) -> &str {
        self.status
            .as_ref()
            .map_or("", |s| s.docker_image_repository.as_str())
    }
}

impl TagReferencePolicy {
    /// A policy of the given type.
    pub fn of(type_: &str) -> Self {
        Self {
            type_: type_.to_string(),
        }
    }
}

impl k8s_openapi::Resource for ImageStream {
    const API_VERSION: &'static str = API_VERSION;
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "ImageStream";
    const VERSION: &'static str = VERSION;
    const URL_PATH_SEGMENT: &'static str = "imagestreams";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::ListableResource for ImageStream {
    const LIST_KIND: &'static str = "ImageStreamList";
}

impl k8s_openapi::Metadata for ImageStream {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_null_annotations_and_generation_like_openshift() {
        let mut stream = ImageStream::new("ns", "mysql");
        stream.spec.tags.push(TagReference {
            name: "latest".into(),
            ..TagReference::default()
        });
        let value = serde_json::to_value(&stream).unwrap();
        assert_eq!(value["apiVersion"], "image.openshift.io/v1");
        assert_eq!(value["kind"], "ImageStream");
        assert_eq!(value["spec"]["lookupPolicy"], json!({"local": false}));
        let tag = &value["spec"]["tags"][0];
        assert_eq!(tag["annotations"], json!(null));
        assert_eq!(tag["generation"], json!(null));
        assert!(tag.get("from").is_none());
        assert!(tag.get("reference").is_none());
        assert_eq!(tag["referencePolicy"], json!({"type": ""}));
    }

    #[test]
    fn round_trips_a_stream_as_kubernetes_writes_it() {
        let input = json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": "mysql", "namespace": "ns", "labels": {"app": "db"},
                         "annotations": {"a": "b"}, "resourceVersion": "7", "generation": 2},
            "spec": {"lookupPolicy": {"local": true},
                     "tags": [{"name": "8", "annotations": null, "generation": 2,
                               "from": {"kind": "DockerImage", "name": "quay.io/o/mysql:8"},
                               "importPolicy": {"importMode": "Legacy", "scheduled": true},
                               "referencePolicy": {"type": "Local"}}]},
            "status": {"dockerImageRepository": "registry:5000/ns/mysql",
                       "tags": [{"tag": "8", "items": [{"created": "2026-01-02T03:04:05Z",
                                 "dockerImageReference": "quay.io/o/mysql@sha256:abc",
                                 "image": "sha256:abc", "generation": 2}]}]}
        });
        let stream: ImageStream = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(stream.latest_event("8").unwrap().image, "sha256:abc");
        assert_eq!(serde_json::to_value(&stream).unwrap(), input);
    }

    #[test]
    fn last_duplicate_spec_tag_wins() {
        let mut stream = ImageStream::new("ns", "s");
        for policy in ["Source", "Local"] {
            stream.spec.tags.push(TagReference {
                name: "t".into(),
                reference_policy: TagReferencePolicy::of(policy),
                ..TagReference::default()
            });
        }
        assert_eq!(
            stream.spec_tag("t").unwrap().reference_policy.type_,
            "Local"
        );
        stream.spec.tags.push(TagReference {
            name: "u".into(),
            ..TagReference::default()
        });
        let by_name = stream.spec_tags_by_name();
        assert_eq!(by_name.len(), 2);
        for name in ["t", "u"] {
            assert!(std::ptr::eq(by_name[name], stream.spec_tag(name).unwrap()));
        }
    }
}
