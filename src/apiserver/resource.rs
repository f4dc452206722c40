//! The resources this server stores, and what is particular to each: names, scope, field
//! selectors, and the create/update/read hooks (the ImageStream ones are [`crate::strategy`]).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, GroupKind, GroupResource};
use super::fields::{FieldSet, IMAGE_STREAM_FIELDS, SECRET_FIELDS};
use super::patch::entries;
use super::patch::managed_fields::drop_empty_metadata_maps;
use super::presented::Presented;
use crate::api::ImageStream;
use crate::apiserver::handlers::with_type_meta;
use crate::field::FieldError;
use crate::object_meta;
use crate::resolve::StreamLookup;
use crate::strategy;

/// A stored resource kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `image.openshift.io/v1` ImageStream (namespaced).
    ImageStream,
    /// `image.openshift.io/v1` Image (cluster-scoped), read by `/layers`.
    Image,
    /// `v1` Secret of the docker-config types (namespaced), read by `/secrets`.
    Secret,
}

mod secret;

use crate::apiserver::patch::{ObjectType, IMAGE_STREAM_TYPE, SECRET_TYPE};
pub mod shape;

use secret::prepare_secret;

/// The secret types this server stores.
pub const SECRET_TYPES: [&str; 2] = crate::importer::credentials::PULL_SECRET_TYPES;

/// What one write needs besides the objects.
pub struct WriteContext<'a> {
    /// Stream rules settings.
    pub config: &'a strategy::Config,
    /// The write's timestamp.
    pub now: Timestamp,
    /// Other streams, for tag sources.
    pub streams: &'a dyn StreamLookup,
    /// Cross-namespace access check for tag sources.
    pub authorize: strategy::Authorize<'a>,
}

impl Kind {
    /// The kind served at `group/version/resource`, if any.
    pub fn from_path(group: &str, version: &str, resource: &str) -> Option<Self> {
        match (group, version, resource) {
            (crate::api::GROUP, "v1", "imagestreams") => Some(Self::ImageStream),
            (crate::api::GROUP, "v1", "images") => Some(Self::Image),
            ("", "v1", "secrets") => Some(Self::Secret),
            _ => None,
        }
    }

    /// Whether a PUT without `metadata.resourceVersion` writes anyway (kube-apiserver's
    /// `AllowUnconditionalUpdate`): Secrets do, as every core kind; ImageStreams refuse it, as
    /// OpenShift's strategy does, and so do Images.
    pub fn allows_unconditional_update(self) -> bool {
        self == Self::Secret
    }

    /// The schema managedFields are recorded with; `None` for Images, which keep none.
    pub fn object_type(self) -> Option<&'static ObjectType> {
        match self {
            Self::ImageStream => Some(&IMAGE_STREAM_TYPE),
            Self::Secret => Some(&SECRET_TYPE),
            Self::Image => None,
        }
    }

    /// `group/version` for `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::ImageStream | Self::Image => crate::api::API_VERSION,
            Self::Secret => "v1",
        }
    }

    /// The kind name.
    pub fn kind(self) -> &'static str {
        match self {
            Self::ImageStream => "ImageStream",
            Self::Image => "Image",
            Self::Secret => "Secret",
        }
    }

    /// The list kind name.
    pub fn list_kind(self) -> &'static str {
        match self {
            Self::ImageStream => "ImageStreamList",
            Self::Image => "ImageList",
            Self::Secret => "SecretList",
        }
    }

    /// The plural resource, also the store key prefix.
    pub fn plural(self) -> &'static str {
        self.group_resource().resource
    }

    /// Group and resource, for object errors (`details.kind` is the plural).
    pub fn group_resource(self) -> GroupResource {
        match self {
            Self::ImageStream => GroupResource::new(crate::api::GROUP, "imagestreams"),
            Self::Image => GroupResource::new(crate::api::GROUP, "images"),
            Self::Secret => GroupResource::new("", "secrets"),
        }
    }

    /// Group and kind, for 422 Invalid.
    pub fn group_kind(self) -> GroupKind {
        match self {
            Self::ImageStream => GroupKind::new(crate::api::GROUP, "ImageStream"),
            Self::Image => GroupKind::new(crate::api::GROUP, "Image"),
            Self::Secret => GroupKind::new("", "Secret"),
        }
    }

    /// Whether objects live in namespaces.
    pub fn namespaced(self) -> bool {
        !matches!(self, Self::Image)
    }

    /// The field selectors this kind supports.
    pub fn fields(self) -> &'static FieldSet {
        match self {
            Self::Secret => &SECRET_FIELDS,
            _ => &IMAGE_STREAM_FIELDS,
        }
    }

    /// Whether `subresource` exists on this kind, and which verbs it takes.
    pub fn subresource_verbs(self, subresource: &str) -> Option<&'static [&'static str]> {
        match (self, subresource) {
            (Self::ImageStream, "status") => Some(&["get", "update", "patch"]),
            (Self::ImageStream, "layers" | "secrets") => Some(&["get"]),
            _ => None,
        }
    }

    /// Applies the create rules: defaulting, computed fields, validation.
    pub fn prepare_create(
        self,
        object: &mut Value,
        context: &WriteContext<'_>,
    ) -> Result<(), ApiError> {
        drop_empty_metadata_maps(object);
        match self {
            Self::ImageStream => with_stream(object, |stream| {
                strategy::prepare_for_create(stream, &context.strategy())
            }),
            Self::Image => validate_image(object),
            Self::Secret => prepare_secret(object),
        }
    }

    /// Applies the update rules for the main resource, or for `/status` when `status` is set.
    pub fn prepare_update(
        self,
        object: &mut Value,
        old: &Value,
        status: bool,
        context: &WriteContext<'_>,
    ) -> Result<(), ApiError> {
        drop_empty_metadata_maps(object);
        validate_metadata_update(self, object, old)?;
        match self {
            Self::ImageStream => {
                let old: ImageStream = decode(old)?;
                with_stream(object, |stream| match status {
                    true => strategy::prepare_for_status_update(stream, &old, &context.strategy()),
                    false => strategy::prepare_for_update(stream, &old, &context.strategy()),
                })
            }
            Self::Image => validate_image(object),
            Self::Secret => {
                prepare_secret(object)?;
                secret::check_secret_update(object, old)
            }
        }
    }

    /// The stored object as clients see it: with its type meta and, for an ImageStream, the
    /// fields the server derives on read (repositories, import defaults). A stream is decoded
    /// straight from the shared stored tree and stays typed until it is written.
    pub fn present(self, stored: &Value, config: &strategy::Config) -> Presented {
        if self == Self::ImageStream {
            if let Ok(stream) = ImageStream::deserialize(stored) {
                return Presented::Stream(Box::new(self.decorated(stream, config)));
            }
        }
        Presented::Tree(with_type_meta(self, stored.clone()))
    }

    /// [`Kind::present`] of a stored stream already decoded, serialised.
    pub fn present_stream(
        self,
        stream: ImageStream,
        config: &strategy::Config,
    ) -> Result<Vec<u8>, ApiError> {
        Presented::Stream(Box::new(self.decorated(stream, config))).to_json()
    }

    /// The struct writes `apiVersion` and `kind` first, where `with_type_meta` overwrites them
    /// in place: the same JSON either way.
    fn decorated(self, mut stream: ImageStream, config: &strategy::Config) -> ImageStream {
        strategy::decorate(&mut stream, config);
        stream.api_version = self.api_version().to_string();
        stream.kind = self.kind().to_string();
        stream
    }
}

impl WriteContext<'_> {
    fn strategy(&self) -> strategy::Context<'_> {
        strategy::Context {
            config: self.config,
            now: self.now,
            streams: self.streams,
            authorize: self.authorize,
        }
    }
}

/// Runs a typed stream rule over a JSON object and writes the result back.
///
/// managedFields (no rule reads them) already in the typed form are moved around the typed
/// pass rather than decoded and encoded again: they hold the object's largest subtree.
fn with_stream(
    object: &mut Value,
    rule: impl FnOnce(&mut ImageStream) -> Result<(), Vec<FieldError>>,
) -> Result<(), ApiError> {
    let managed = take_canonical_managed_fields(object);
    let mut stream: ImageStream = decode_stream(object)?;
    let name = stream.name().to_string();
    rule(&mut stream)
        .map_err(|errors| ApiError::invalid(Kind::ImageStream.group_kind(), name, errors))?;
    if managed.is_some() {
        // A placeholder, so the entries go back where the typed encoding writes them.
        stream.metadata.managed_fields = Some(Vec::new());
    }
    *object = serde_json::to_value(&stream).map_err(ApiError::internal)?;
    if let Some(managed) = managed {
        object["metadata"]["managedFields"] = managed;
    }
    Ok(())
}

/// Removes and returns `metadata.managedFields` if a typed pass would leave it unchanged.
fn take_canonical_managed_fields(object: &mut Value) -> Option<Value> {
    let metadata = object.get_mut("metadata")?.as_object_mut()?;
    let canonical = metadata
        .get("managedFields")
        .is_some_and(entries::is_canonical);
    canonical
        .then(|| metadata.shift_remove("managedFields"))
        .flatten()
}

/// Decodes a typed object; a shape error is the client's (400). A member that is `null` is
/// its field's zero value, as Go's decoder reads it: kube-apiserver takes `tags: null` (a YAML
/// key whose entries are all commented out), and OpenShift itself writes `items: null` for a
/// status tag with only conditions, which serde refuses for a sequence, a struct or a string.
pub fn decode<T: serde::de::DeserializeOwned>(object: &Value) -> Result<T, ApiError> {
    decode_or_explain(object)
        .map_err(|detail| ApiError::bad_request(format!("the object does not decode: {detail}")))
}

/// Why `object` does not decode as a `T` (`spec.lookupPolicy.local: invalid type: …`), read
/// as [`decode`] reads it; `None` when it decodes. Server-side apply asks before it looks for
/// conflicts, as kube-apiserver converts the applied object to a typed value first.
pub fn decode_problem<T: serde::de::DeserializeOwned>(object: &Value) -> Option<String> {
    decode_or_explain::<T>(object).err()
}

fn decode_or_explain<T: serde::de::DeserializeOwned>(object: &Value) -> Result<T, String> {
    if let Ok(decoded) = T::deserialize(object) {
        return Ok(decoded);
    }
    // Only on failure: a valid object pays nothing for the copy. Every field that may be
    // `null` defaults when absent, so dropping the member reads it as Go does.
    let mut without_nulls = object.clone();
    drop_null_members(&mut without_nulls);
    T::deserialize(&without_nulls).map_err(|_| undecodable::<T>(&without_nulls))
}

/// Removes every object member whose value is `null`, at any depth (array items stay: Go
/// reads a `null` item as a zero value too, which the stream rules then refuse by name).
fn drop_null_members(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            members.values_mut().for_each(drop_null_members);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_members),
        _ => {}
    }
}

/// Why an object does not decode as a `T`, naming the field.
fn undecodable<T: serde::de::DeserializeOwned>(object: &Value) -> String {
    // Decoded again with path tracking only when it fails, so the message names the field
    // (`spec.lookupPolicy.local: invalid type: …`) and a valid object pays nothing for it.
    match serde_path_to_error::deserialize::<_, T>(object) {
        Err(error) if error.path().iter().next().is_some() => {
            format!("{}: {}", error.path(), error.inner())
        }
        Err(error) => error.inner().to_string(),
        Ok(_) => "it decodes only on a second try".to_string(),
    }
}

/// Decodes a stream being written: a value that is not an object where the schema has a
/// struct is refused first, in kube-apiserver's words, since serde would read an array there.
pub fn decode_stream(object: &Value) -> Result<ImageStream, ApiError> {
    check_shape(Kind::ImageStream, object)?;
    decode(object)
}

/// The 400 for a body whose `apiVersion` or `kind` (when given) is not the URL's.
pub fn check_api_version_and_kind<'a>(
    object: &'a Value,
    api_version: &'a str,
    kind: &'a str,
) -> Result<(), ApiError> {
    let sent = |field: &str, url: &'a str| object.get(field).and_then(Value::as_str).unwrap_or(url);
    let (sent_version, sent_kind) = (sent("apiVersion", api_version), sent("kind", kind));
    if sent_version == api_version && sent_kind == kind {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "the API version in the data ({sent_version}) and kind ({sent_kind}) do not match the \
         URL ({api_version}, {kind})"
    )))
}

/// An array where `kind`'s schema has a struct or a map, refused in kube-apiserver's words
/// (serde would read a struct from it field by field, or answer with a less precise error).
pub fn check_shape(kind: Kind, object: &Value) -> Result<(), ApiError> {
    let Some(object_type) = kind.object_type() else {
        return Ok(());
    };
    match shape::first_error(object, object_type.node) {
        Some(error) => Err(ApiError::undecodable(kind.kind(), error)),
        None => Ok(()),
    }
}

/// What an update may not change in any kind's metadata (apimachinery
/// `ValidateObjectMetaUpdate`); metadata that does not decode fails in the kind's own rules.
fn validate_metadata_update(kind: Kind, object: &Value, old: &Value) -> Result<(), ApiError> {
    let decoded = |value: &Value| ObjectMeta::deserialize(&value["metadata"]).ok();
    let (Some(new_meta), Some(old_meta)) = (decoded(object), decoded(old)) else {
        return Ok(());
    };
    let name = new_meta.name.as_deref().unwrap_or("");
    invalid_unless_empty(
        kind,
        name,
        object_meta::validate_update(&new_meta, &old_meta),
    )
}

/// Labels, annotations, finalizers and owner references of an object kept as a tree.
fn metadata_errors(object: &Value) -> Vec<FieldError> {
    ObjectMeta::deserialize(&object["metadata"])
        .map(|meta| object_meta::validate(&meta))
        .unwrap_or_default()
}

fn validate_image(object: &Value) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let mut errors = metadata_errors(object);
    if object
        .get("dockerImageReference")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(FieldError::required("dockerImageReference", ""));
    }
    invalid_unless_empty(Kind::Image, name, errors)
}

fn invalid_unless_empty(kind: Kind, name: &str, errors: Vec<FieldError>) -> Result<(), ApiError> {
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ApiError::invalid(kind.group_kind(), name, errors)),
    }
}

#[cfg(test)]
mod tests;
