//! Creating and updating an ImageStreamTag: what openshift-apiserver's imagestreamtag REST
//! (`Create`, `update`) does to the stream it belongs to (`oc create imagestreamtag`, a
//! manifest's `kind: ImageStreamTag`). The stream rules then run as for any stream write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use super::{KIND, RESOURCE};
use crate::api::{ImageStream, TagReference, GROUP};
use crate::apiserver::error::{ApiError, GroupKind, GroupResource};
use crate::apiserver::negotiate::BodyFormat;
use crate::apiserver::patch::schema::{object, Field, Node, OBJECT_META, SCALAR, TAG_REFERENCE};
use crate::apiserver::resource::{self, shape};
use crate::apiserver::unknown_fields::{self, FieldProblem};
use crate::field::FieldError;
use crate::object_meta;

/// The ImageStreamTag's schema as a client writes it (for `fieldValidation` and the shape
/// check); what the server derives (`image`, `conditions`, `generation`) is read as opaque.
pub(super) static IMAGE_STREAM_TAG: Node = object(
    "v1.ImageStreamTag",
    &[
        Field::new("kind", &SCALAR),
        Field::new("apiVersion", &SCALAR),
        Field::new("metadata", &OBJECT_META),
        Field::new("tag", &TAG_REFERENCE),
        Field::new("generation", &SCALAR),
        Field::new("lookupPolicy", &LOOKUP_POLICY),
        Field::new("conditions", &SCALAR),
        Field::new("image", &SCALAR),
    ],
);

static LOOKUP_POLICY: Node = object("v1.ImageLookupPolicy", &[Field::new("local", &SCALAR)]);

/// The kind of its errors.
const GROUP_KIND: GroupKind = GroupKind::new(GROUP, KIND);

/// OpenShift names the resource in the singular in a create's AlreadyExists.
const SINGULAR: GroupResource = GroupResource::new(GROUP, "imagestreamtag");

/// What a client writes of an ImageStreamTag: the spec tag, and (on update) its annotations.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TagWrite {
    /// `<stream>:<tag>`, the resourceVersion (an update's precondition) and annotations.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec tag to set; `null` leaves it as it is.
    #[serde(default)]
    pub tag: Option<TagReference>,
}

/// Checks a written body before it is decoded, as kube-apiserver's decoder does: its
/// `apiVersion` and `kind`, its namespace against the URL's, an array or scalar where a struct
/// belongs; returns `fieldValidation`'s problems (unknown and duplicate members) of `raw`.
pub fn check_body(
    body: &Value,
    raw: &[u8],
    format: BodyFormat,
    namespace: &str,
) -> Result<Vec<FieldProblem>, ApiError> {
    check_object(body, namespace)?;
    let schema = Some(&IMAGE_STREAM_TAG);
    let problems = match format {
        BodyFormat::Json => unknown_fields::check_json(raw, schema).ok(),
        BodyFormat::Yaml => unknown_fields::check_yaml(raw, schema).ok(),
    };
    Ok(problems.unwrap_or_default())
}

/// What kube-apiserver's decoder checks of an ImageStreamTag before anything else: its
/// `apiVersion` and `kind`, an array or scalar where a struct belongs, and its namespace against
/// the URL's.
pub(super) fn check_object(body: &Value, namespace: &str) -> Result<(), ApiError> {
    resource::check_api_version_and_kind(body, crate::api::API_VERSION, KIND)?;
    if let Some(error) = shape::first_error(body, &IMAGE_STREAM_TAG) {
        return Err(ApiError::undecodable(KIND, error));
    }
    let sent = body["metadata"]["namespace"].as_str().unwrap_or("");
    if !sent.is_empty() && sent != namespace {
        return Err(ApiError::namespace_mismatch());
    }
    Ok(())
}

/// OpenShift's `ValidateImageStreamTag`'s `ValidateObjectMeta`, for the metadata the tag keeps:
/// the object's annotations have qualified keys and hold 256 KiB at most, as on a stream.
fn check_object_annotations(name: &str, write: &TagWrite) -> Result<(), ApiError> {
    let Some(annotations) = &write.metadata.annotations else {
        return Ok(());
    };
    match object_meta::validate_annotations(annotations) {
        errors if errors.is_empty() => Ok(()),
        errors => Err(ApiError::invalid(GROUP_KIND, name, errors)),
    }
}

/// OpenShift's `ValidateImageStreamTag`: the object's annotations are valid, and the tag's,
/// when given, are the object's.
fn check_annotations(name: &str, write: &TagWrite) -> Result<(), ApiError> {
    check_object_annotations(name, write)?;
    let given = write.tag.as_ref().and_then(|tag| tag.annotations.as_ref());
    let Some(given) = given else {
        return Ok(());
    };
    if Some(given) == write.metadata.annotations.as_ref() {
        return Ok(());
    }
    let error = FieldError::invalid(
        "tag.annotations",
        serde_json::to_value(given).unwrap_or_default(),
        "tag annotations must not be provided or must be equal to the object meta annotations",
    );
    Err(ApiError::invalid(GROUP_KIND, name, vec![error]))
}

/// The stream with tag `tag` created from `write` (`Create`): `old` is the stored stream, or
/// `None` to create it. A spec tag of that name already there is a 409, as in OpenShift; a
/// write without `tag` creates only the stream. A tag that names no annotations takes the
/// object's, as an update does (OpenShift drops them on create, so the first `kubectl apply`
/// would lose its `last-applied-configuration` and the second could not remove a field).
pub fn create_tag(
    old: Option<&ImageStream>,
    namespace: &str,
    stream_name: &str,
    tag: &str,
    write: &TagWrite,
) -> Result<ImageStream, ApiError> {
    let name = format!("{stream_name}:{tag}");
    check_annotations(&name, write)?;
    let mut stream = old
        .cloned()
        .unwrap_or_else(|| ImageStream::new(namespace, stream_name));
    if stream.spec_tag(tag).is_some() {
        return Err(ApiError::already_exists(SINGULAR, name));
    }
    if let Some(reference) = &write.tag {
        let mut reference = reference.clone();
        if reference.annotations.is_none() {
            reference.annotations = write.metadata.annotations.clone();
        }
        set_spec_tag(&mut stream, tag, reference);
    }
    Ok(stream)
}

/// The stream with tag `tag` updated from `write` (`update`): its spec tag replaced by
/// `write.tag` when given, and its annotations by the object's (OpenShift's `PrepareForUpdate`
/// copies them over whatever `tag.annotations` says, so a patch of `metadata.annotations`
/// alone, as `kubectl apply` and `kubectl annotate` send, is not refused). A `resourceVersion`
/// in `write` must be the stream's (the version given beside `old`); without one the write is
/// unconditional, as OpenShift still allows it. `old` `None` creates the stream, unless a
/// version was named.
pub fn update_tag(
    old: Option<(&ImageStream, &str)>,
    namespace: &str,
    stream_name: &str,
    tag: &str,
    write: &TagWrite,
) -> Result<ImageStream, ApiError> {
    let name = format!("{stream_name}:{tag}");
    check_object_annotations(&name, write)?;
    let wanted = write.metadata.resource_version.as_deref().unwrap_or("");
    let mut stream = match old {
        None if !wanted.is_empty() => return Err(ApiError::not_found(RESOURCE, name)),
        None => ImageStream::new(namespace, stream_name),
        Some((_, current)) if !wanted.is_empty() && wanted != current => {
            return Err(ApiError::Conflict {
                resource: RESOURCE,
                name,
                reason: format!("another caller has updated the resource version to {current}"),
            });
        }
        Some((stream, _)) => stream.clone(),
    };
    let existing = stream.spec_tag(tag).cloned();
    let mut reference = match (&write.tag, existing) {
        (Some(written), _) => written.clone(),
        (None, Some(existing)) => existing,
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "imagestreamtag {tag} is not a spec tag in imagestream \
                 {namespace}/{stream_name}, cannot be updated"
            )));
        }
    };
    reference.annotations = write.metadata.annotations.clone();
    set_spec_tag(&mut stream, tag, reference);
    Ok(stream)
}

/// The warnings for metadata a write sends that an ImageStreamTag does not keep: labels other
/// than its stream's (they are the stream's), finalizers and ownerReferences (the view has
/// none). OpenShift refuses such a change; here it is ignored, as before, and said, so that
/// `kubectl label istag` or an operator's ownerReference does not pass for done.
pub fn ignored_metadata_warnings(stream: Option<&ImageStream>, write: &TagWrite) -> Vec<String> {
    let metadata = &write.metadata;
    let mut warnings = Vec::new();
    if let Some(sent) = metadata.labels.as_ref().filter(|l| !l.is_empty()) {
        let kept = stream.and_then(|stream| stream.metadata.labels.as_ref());
        if Some(sent) != kept {
            warnings.push(ignored("labels", "label the imagestream instead"));
        }
    }
    if metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
        warnings.push(ignored("finalizers", "set them on the imagestream"));
    }
    if metadata
        .owner_references
        .as_ref()
        .is_some_and(|o| !o.is_empty())
    {
        warnings.push(ignored("ownerReferences", "set them on the imagestream"));
    }
    warnings
}

/// The warning for a create that names no `tag`: it adds no tag to the stream (its `image`
/// is status, which only an import records), as on OpenShift, where the answer says
/// nothing; an `oc get istag` export of a pushed or built image applies this way and keeps
/// nothing of it.
pub fn no_tag_warning(write: &TagWrite) -> Option<String> {
    write.tag.is_none().then(|| {
        "this ImageStreamTag has no tag, so creating it adds no tag to the imagestream (its \
         image is status, which only an import records): give it tag.from (kind DockerImage, \
         a pull spec) to make it a spec tag"
            .to_string()
    })
}

/// The warning for metadata `field` that an ImageStreamTag does not store.
pub(super) fn ignored(field: &str, instead: &str) -> String {
    format!(
        "metadata.{field} of an ImageStreamTag are not stored (it is a view of its ImageStream): {instead}"
    )
}

/// Sets spec tag `tag` (OpenShift's spec tags are a map keyed by name: the key wins over the
/// name inside).
fn set_spec_tag(stream: &mut ImageStream, tag: &str, mut reference: TagReference) {
    reference.name = tag.to_string();
    stream.spec.tags.retain(|existing| existing.name != tag);
    stream.spec.tags.push(reference);
}

#[cfg(test)]
mod tests;
