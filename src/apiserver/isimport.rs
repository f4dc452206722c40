//! `imagestreamimports` (create only): what `oc import-image` and CI scripts send to import
//! images now, as openshift-apiserver's `imagestreamimport` REST answers it (pure; the
//! registry and store I/O is in `handlers/isimport.rs`).
//!
//! OpenShift (openshift-apiserver `pkg/image/apiserver/registry/imagestreamimport/rest.go`,
//! `.../importer/importer.go`, openshift/api `image/v1/types.go`):
//! - the body is validated (`ValidateImageStreamImport`, [`validate`]); callers that may not
//!   create `images` have every source checked against the allowed registries;
//! - every `spec.images[i]` is resolved, each answered by a `status.images[i]` with a
//!   `metav1.Status`, the Image found and the tag it was found under; `spec.repository` lists
//!   the repository and imports its first 50 tags in `PrioritizeTags` order, naming the rest in
//!   `status.repository.additionalTags` (`answer`);
//! - `spec.import: false` answers only that; `true` creates or updates the stream named like
//!   the import: each image with `to` sets that spec tag and records its event, or records an
//!   `ImportSuccess=False` condition, the way `importSuccessful` does (`stream`), and
//!   `status.import` is the stream as written.

mod answer;
mod schema;
mod stream;
mod validate;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub use self::answer::{image_status, repository_status, split_repository_tags, Found, Outcome};
pub use self::stream::{apply_import, Imported, ImportedTag};
pub use self::validate::{disallowed_sources, validate};
use crate::api::{
    ImageStream, TagImportPolicy, TagReferencePolicy, GROUP, IMPORT_MODE_PRESERVE_ORIGINAL,
    REFERENCE_POLICY_SOURCE,
};
use serde_json::Value;

use crate::apiserver::error::{ApiError, GroupKind, GroupResource};
use crate::apiserver::negotiate::BodyFormat;
use crate::apiserver::resource::shape;
use crate::apiserver::unknown_fields::{self, FieldProblem};
use crate::importer::plan::{ImportMode, PreferredPlatform};
use crate::reference::ImageRef;

/// `imagestreamimports.image.openshift.io`.
pub const RESOURCE: GroupResource = GroupResource::new(GROUP, "imagestreamimports");
/// `ImageStreamImport.image.openshift.io`, the kind of its 422s.
pub const KIND: GroupKind = GroupKind::new(GROUP, "ImageStreamImport");
/// `imagestream.image.openshift.io`: OpenShift names the stream in the singular in the
/// Conflict and NotFound an import's preconditions raise.
pub const STREAM: GroupResource = GroupResource::new(GROUP, "imagestream");

/// An `ImageStreamImport` as a client sends it; `status` is the server's and is ignored.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamImport {
    /// The stream's name; `resourceVersion` and `uid`, when set, are preconditions on it.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to import.
    #[serde(default)]
    pub spec: ImportSpec,
}

/// `spec`: what to import and whether to write the stream. Serialised as Go writes it, for
/// the answer (which carries the spec as decoded, not as sent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSpec {
    /// Write the stream (`true`) or only answer what the registries hold.
    #[serde(default)]
    pub import: bool,
    /// A whole repository to import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepositoryImportSpec>,
    /// Single images to import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageImportSpec>,
}

/// `spec.repository`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryImportSpec {
    /// `DockerImage`, a repository without tag or digest.
    #[serde(default)]
    pub from: ObjectReference,
    /// Given to every spec tag the import writes.
    #[serde(default)]
    pub import_policy: TagImportPolicy,
    /// Given to spec tags that have none.
    #[serde(default)]
    pub reference_policy: TagReferencePolicy,
    /// Answer each tag's image with its manifest and config (never stored).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_manifest: bool,
}

/// `spec.images[i]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageImportSpec {
    /// `DockerImage`, the pull spec to resolve.
    #[serde(default)]
    pub from: ObjectReference,
    /// The spec tag to write; without it the image is only answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<LocalReference>,
    /// Given to the spec tag.
    #[serde(default)]
    pub import_policy: TagImportPolicy,
    /// Given to the spec tag when it has none.
    #[serde(default)]
    pub reference_policy: TagReferencePolicy,
    /// Answer the image with its manifest and config (never stored).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_manifest: bool,
}

/// A `LocalObjectReference`: a name in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalReference {
    /// The tag name.
    #[serde(default)]
    pub name: String,
}

/// The text of an optional string field, `""` when unset.
fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

impl ImageStreamImport {
    /// Fills in what OpenShift's defaulters do as the body is decoded, before validation
    /// (openshift/api `image/v1`: `SetDefaults_ImageImportSpec`, `SetDefaults_TagReferencePolicy`):
    /// an image without `to` goes to the tag its source names (`app:v3` to `v3`; a source
    /// without a tag is only answered), and an empty reference policy is `Source`.
    pub fn set_defaults(&mut self) {
        for image in &mut self.spec.images {
            if image.to.is_none() {
                let tag = image.source().map(|source| source.tag);
                image.to = tag
                    .filter(|tag| !tag.is_empty())
                    .map(|name| LocalReference { name });
            }
            default_reference_policy(&mut image.reference_policy);
        }
        if let Some(repository) = &mut self.spec.repository {
            default_reference_policy(&mut repository.reference_policy);
        }
    }
}

fn default_reference_policy(policy: &mut TagReferencePolicy) {
    if policy.type_.is_empty() {
        policy.type_ = REFERENCE_POLICY_SOURCE.to_string();
    }
}

impl ImageImportSpec {
    /// The parsed source (after [`validate`], it parses).
    pub fn source(&self) -> Option<ImageRef> {
        ImageRef::parse(text(&self.from.name)).ok()
    }

    /// The spec tag this image is written to, if any.
    pub fn target(&self) -> Option<&str> {
        self.to.as_ref().map(|to| to.name.as_str())
    }

    /// The import mode, `default` (the server's) when the policy leaves it empty; a `Legacy`
    /// import prefers the platform `stream`'s spec tag of the same name prefers, as OpenShift
    /// reads it (the tag `to` names, else the source's).
    pub fn mode(&self, default: &str, stream: Option<&ImageStream>) -> ImportMode {
        match mode_of(&self.import_policy, default) {
            ImportMode::Legacy(_) => ImportMode::Legacy(self.preferred(stream)),
            preserve => preserve,
        }
    }

    fn preferred(&self, stream: Option<&ImageStream>) -> PreferredPlatform {
        let source_tag = || Some(self.source()?.docker_client_defaults().tag);
        let Some(name) = self.target().map(str::to_string).or_else(source_tag) else {
            return PreferredPlatform::default();
        };
        let tag = stream.and_then(|stream| stream.spec_tag(&name));
        tag.map(PreferredPlatform::of).unwrap_or_default()
    }
}

impl RepositoryImportSpec {
    /// The parsed repository (after [`validate`], it parses and has no tag or digest).
    pub fn repository(&self) -> Option<ImageRef> {
        ImageRef::parse(text(&self.from.name)).ok()
    }

    /// The import mode, `default` when the policy leaves it empty.
    pub fn mode(&self, default: &str) -> ImportMode {
        mode_of(&self.import_policy, default)
    }
}

fn mode_of(policy: &TagImportPolicy, default: &str) -> ImportMode {
    let mode = match policy.import_mode.as_str() {
        "" => default,
        mode => mode,
    };
    match mode {
        IMPORT_MODE_PRESERVE_ORIGINAL => ImportMode::PreserveOriginal,
        _ => ImportMode::legacy(),
    }
}

/// The body's shape as Go's decoder reads it, before it is decoded here: an array where a
/// struct belongs is a 400 naming the field (serde would read it field by field).
pub fn check_shape(body: &Value) -> Result<(), ApiError> {
    match shape::first_error(body, &schema::IMAGE_STREAM_IMPORT) {
        Some(error) => Err(ApiError::undecodable(KIND_NAME, error)),
        None => Ok(()),
    }
}

/// `fieldValidation`'s problems of the raw body: members the schema lacks, and members given
/// twice (only the raw bytes still show those).
pub fn field_problems(raw: &[u8], format: BodyFormat) -> Vec<FieldProblem> {
    let schema = Some(&schema::IMAGE_STREAM_IMPORT);
    let problems = match format {
        BodyFormat::Json => unknown_fields::check_json(raw, schema).ok(),
        BodyFormat::Yaml => unknown_fields::check_yaml(raw, schema).ok(),
    };
    problems.unwrap_or_default()
}

/// The kind's name in decoder messages.
pub const KIND_NAME: &str = "ImageStreamImport";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_oc_import_image_sends_decodes() {
        let sent = json!({
            "kind": "ImageStreamImport", "apiVersion": "image.openshift.io/v1",
            "metadata": {"name": "app", "namespace": "team", "resourceVersion": "7",
                         "creationTimestamp": null},
            "spec": {"import": true, "images": [{
                "from": {"kind": "DockerImage", "name": "quay.io/org/app:v2"},
                "to": {"name": "v2"},
                "importPolicy": {"scheduled": true, "importMode": "PreserveOriginal"},
                "referencePolicy": {"type": "Local"}}]},
            "status": {}
        });
        let isi: ImageStreamImport = serde_json::from_value(sent).unwrap();
        let image = &isi.spec.images[0];
        assert!(isi.spec.import);
        assert_eq!(isi.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(image.source().unwrap().exact(), "quay.io/org/app:v2");
        assert_eq!(image.target(), Some("v2"));
        assert_eq!(image.mode("Legacy", None), ImportMode::PreserveOriginal);
        assert!(image.import_policy.scheduled);
        assert_eq!(image.reference_policy.type_, "Local");
    }

    #[test]
    fn an_image_without_a_target_goes_to_its_sources_tag_and_policies_default_to_source() {
        let image = |from: &str, rest: Value| {
            let mut image = json!({"from": {"kind": "DockerImage", "name": from}});
            image
                .as_object_mut()
                .unwrap()
                .extend(rest.as_object().unwrap().clone());
            image
        };
        let sent = json!({"spec": {"import": true, "images": [
            image("registry.local:5000/lib/app:v3", json!({})),
            image("quay.io/org/app", json!({})),
            image("quay.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", json!({})),
            image("quay.io/org/app:v1", json!({"to": {"name": "stable"},
                                                "referencePolicy": {"type": "Local"}})),
            image("quay.io/org/app:v2", json!({"to": {"name": ""}})),
            image("not a reference", json!({})),
        ], "repository": {"from": {"kind": "DockerImage", "name": "quay.io/org/app"}}}});
        let mut isi: ImageStreamImport = serde_json::from_value(sent).unwrap();
        isi.set_defaults();
        let targets: Vec<Option<&str>> = isi.spec.images.iter().map(|i| i.target()).collect();
        // An explicit empty name stays, for validation to refuse.
        assert_eq!(
            targets,
            [Some("v3"), None, None, Some("stable"), Some(""), None]
        );
        let policies: Vec<&str> = isi
            .spec
            .images
            .iter()
            .map(|i| i.reference_policy.type_.as_str())
            .collect();
        assert_eq!(
            policies,
            ["Source", "Source", "Source", "Local", "Source", "Source"]
        );
        let repository = isi.spec.repository.unwrap();
        assert_eq!(repository.reference_policy.type_, "Source");
    }

    #[test]
    fn an_array_where_a_struct_belongs_is_refused_in_gos_words() {
        let images = |image: Value| json!({"spec": {"import": true, "images": [image]}});
        let cases = [
            (
                json!({"spec": [true]}),
                "json: cannot unmarshal array into Go struct field ImageStreamImport.spec of type v1.ImageStreamImportSpec",
            ),
            (
                images(json!([{"kind": "DockerImage"}, {"name": "x"}])),
                "json: cannot unmarshal array into Go struct field ImageStreamImportSpec.spec.images of type v1.ImageImportSpec",
            ),
            (
                images(json!({"from": {"kind": "DockerImage", "name": "a:1"}, "to": ["x"]})),
                "json: cannot unmarshal array into Go struct field ImageImportSpec.spec.images.to of type v1.LocalObjectReference",
            ),
            (
                json!({"spec": {"import": false}, "status": []}),
                "json: cannot unmarshal array into Go struct field ImageStreamImport.status of type v1.ImageStreamImportStatus",
            ),
        ];
        for (body, expected) in cases {
            let error = check_shape(&body).unwrap_err();
            assert_eq!(error.code(), 400, "{body}");
            let message = error.to_string();
            assert_eq!(
                message,
                format!("ImageStreamImport in version \"v1\" cannot be handled as a ImageStreamImport: {expected}")
            );
        }
    }

    #[test]
    fn members_the_schema_lacks_are_the_field_validation_problems() {
        let body = json!({"kind": "ImageStreamImport", "metadata": {"name": "app"},
            "spec": {"import": false, "bogus": 1, "images": [{"from": {"kind": "DockerImage", "name": "a:1"}, "extra": true}]},
            "status": {"images": [{"anything": "goes"}]}});
        let problems = field_problems(body.to_string().as_bytes(), BodyFormat::Json);
        let paths: Vec<&str> = problems.iter().map(FieldProblem::path).collect();
        assert_eq!(paths, ["spec.bogus", "spec.images[0].extra"]);
        let twice = br#"{"spec": {"import": false, "import": true, "images": []}}"#;
        let problems = field_problems(twice, BodyFormat::Json);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].to_string(), r#"duplicate field "spec.import""#);
    }

    #[test]
    fn an_empty_import_mode_takes_the_server_default() {
        let check = |mode: &str, default: &str, expected: ImportMode| {
            let policy = TagImportPolicy {
                import_mode: mode.into(),
                ..TagImportPolicy::default()
            };
            assert_eq!(mode_of(&policy, default), expected, "{mode:?} {default:?}");
        };
        check("", "Legacy", ImportMode::legacy());
        check("", "PreserveOriginal", ImportMode::PreserveOriginal);
        check("Legacy", "PreserveOriginal", ImportMode::legacy());
        check("PreserveOriginal", "Legacy", ImportMode::PreserveOriginal);
    }
}
