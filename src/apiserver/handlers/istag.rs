//! GET and LIST of `imagestreamtags` and GET of `imagestreamimages`: the stream is read, and
//! each tag or image is built from it (`crate::apiserver::{istag, isimage}`).

use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::object_meta::{prepare_create_metadata, same_object};
use super::write::{check_dry_run_size, with_stream_rules, write, Write};
use super::{read, Target};

mod patch;

use crate::api::ImageStream;
use crate::apiserver::error::{success_status, ApiError, IMAGE_STREAM_KIND, IMAGE_STREAM_TAG_KIND};
use crate::apiserver::http;
use crate::apiserver::isimage;
use crate::apiserver::istag::{self, image_stream_tag, image_stream_tags};
use crate::apiserver::negotiate::{Form, Output};
use crate::apiserver::options::{DeleteOptions, ListOptions, Preconditions};
use crate::apiserver::resource::{decode, Kind};
use crate::apiserver::state::ApiState;
use crate::apiserver::table;
use crate::auth::UserInfo;
use crate::field::FieldError;
use crate::store::{self, object_key};
use crate::strategy;
pub use patch::{patch_tag, TagPatch};

/// `GET …/namespaces/<ns>/imagestreamtags/<stream>:<tag>`: 404 for the stream when it is
/// missing, for the ImageStreamTag when the tag has no image yet.
pub async fn get(
    state: &ApiState,
    namespace: &str,
    name: &str,
    output: Output,
) -> Result<Response, ApiError> {
    let (stream_name, tag) = istag::split_name(name)?;
    let stream = read_stream(state, namespace, stream_name).await?;
    let not_found = || ApiError::not_found(istag::RESOURCE, name);
    let event = istag::latest_image_event(&stream, tag).ok_or_else(not_found)?;
    let image = stored_image(state, &event.image).await?;
    let istag = image_stream_tag(&stream, tag, image).ok_or_else(not_found)?;
    let body = match output.form {
        Form::Table { include_object } => {
            let metadata = json!({"resourceVersion": istag["metadata"]["resourceVersion"]});
            istag::table_of(&[istag], include_object, metadata, Timestamp::now())
        }
        Form::PartialObjectMetadata | Form::PartialObjectMetadataList => {
            table::partial_object_metadata(&istag)
        }
        _ => istag,
    };
    read::encoded(output, &body)
}

/// `GET …/imagestreamtags`, in one namespace or all: every tag with an image of every
/// stream, filtered by the selectors. Like OpenShift's, the list is not paged (it has no
/// `continue`) and cannot be watched.
pub async fn list(
    state: &ApiState,
    user: &str,
    namespace: Option<String>,
    options: &ListOptions,
    output: Output,
) -> Result<Response, ApiError> {
    let streams = Target {
        kind: Kind::ImageStream,
        namespace,
        name: None,
        subresource: None,
    };
    let every_stream = ListOptions {
        label_selector: Default::default(),
        field_selector: Default::default(),
        limit: None,
        read: options.read.clone(),
        timeout_seconds: None,
    };
    // The streams are read a batch at a time: only their tags are kept.
    let tags_of = |batch: read::Batch| -> Result<Vec<Value>, ApiError> {
        let mut tags = Vec::new();
        for presented in batch {
            let stream = presented.into_stream()?;
            tags.extend(image_stream_tags(&stream).filter(|istag| options.matches(istag)));
        }
        Ok(tags)
    };
    let (mut batches, first, revision) =
        read::Batches::start_with(state, user, &streams, &every_stream, tags_of).await?;
    let mut items = first?;
    while let Some(tags) = batches
        .next_with(state, &streams, &every_stream, tags_of)
        .await?
    {
        items.extend(tags?);
    }
    let metadata = json!({"resourceVersion": revision.to_string()});
    let body = match output.form {
        Form::Table { include_object } => {
            istag::table_of(&items, include_object, metadata, Timestamp::now())
        }
        Form::PartialObjectMetadata | Form::PartialObjectMetadataList => {
            let list = json!({"metadata": metadata, "items": items});
            table::partial_object_metadata_list(&list)
        }
        _ => json!({
            "kind": istag::LIST_KIND, "apiVersion": crate::api::API_VERSION,
            "metadata": metadata, "items": items,
        }),
    };
    read::encoded(output, &body)
}

/// `GET …/namespaces/<ns>/imagestreamimages/<stream>@<id>`.
pub async fn get_image(
    state: &ApiState,
    namespace: &str,
    name: &str,
    output: Output,
) -> Result<Response, ApiError> {
    let (stream_name, id) = isimage::split_name(name)?;
    let stream = read_stream(state, namespace, stream_name).await?;
    let image = isimage::image_of(&stream, name, id)?;
    let stored = stored_image(state, &image).await?;
    let isimage = isimage::image_stream_image(&stream, name, &image, stored);
    let body = match output.form {
        Form::Table { include_object } => {
            isimage::table_of(&isimage, include_object, Timestamp::now())
        }
        Form::PartialObjectMetadata | Form::PartialObjectMetadataList => {
            table::partial_object_metadata(&isimage)
        }
        _ => isimage,
    };
    read::encoded(output, &body)
}

/// `DELETE …/namespaces/<ns>/imagestreamtags/<stream>:<tag>`: the spec tag and its history
/// leave the stream (OpenShift's ImageStreamTag delete, which `oc tag -d` uses); 404 when the
/// stream has neither. A `uid` precondition names the stream's. Retried on write conflicts.
pub async fn delete(
    state: &ApiState,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Result<Response, ApiError> {
    let (stream_name, tag) = istag::split_name(name)?;
    let target = stream_target(namespace, stream_name);
    for _ in 0..WRITE_ATTEMPTS {
        let stored = read_stored(state, &target).await?;
        let old: ImageStream = decode(&stored.value)?;
        let uid = old.metadata.uid.as_deref().unwrap_or("");
        let uid_only = Preconditions {
            uid: options.preconditions.uid.clone(),
            resource_version: None,
        };
        uid_only.check(istag::RESOURCE, name, uid, "")?;
        let next = with_stream_rules(state, None, Timestamp::now(), |ctx| {
            istag::without_tag(&old, tag, ctx)
        })
        .map_err(|errors| ApiError::invalid(IMAGE_STREAM_KIND, stream_name, errors))?
        .ok_or_else(|| ApiError::not_found(istag::RESOURCE, name))?;
        let deleted = success_status(istag::RESOURCE, name, "");
        let deleted = || http::json(StatusCode::OK, "application/json", &deleted);
        if options.dry_run {
            return Ok(deleted());
        }
        let value = serde_json::to_value(&next).map_err(ApiError::internal)?;
        match write(state, &target, Write::Update(value, stored.revision)).await {
            Ok(_) => return Ok(deleted()),
            Err(ApiError::Conflict { .. }) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::modified(istag::RESOURCE, name))
}

/// How many times a tag write or delete re-reads the stream after a write conflict
/// (OpenShift: 10).
const WRITE_ATTEMPTS: usize = 10;

/// One create or update of an ImageStreamTag.
pub struct TagWriteRequest<'a> {
    /// The namespace of the URL.
    pub namespace: &'a str,
    /// `<stream>:<tag>`.
    pub name: &'a str,
    /// `POST` (true) or `PUT`.
    pub create: bool,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// How to encode the answer.
    pub output: Output,
    /// Who writes.
    pub user: &'a UserInfo,
}

/// `POST …/imagestreamtags` or `PUT …/imagestreamtags/<stream>:<tag>`: the spec tag is
/// written into its stream (created when missing) through the stream rules, re-read and
/// retried on a write conflict, and the ImageStreamTag answered (201 when something was
/// created).
pub async fn write_tag(
    state: &ApiState,
    request: &TagWriteRequest<'_>,
    body: &istag::TagWrite,
) -> Result<Response, ApiError> {
    let (stream_name, _) = istag::split_name(request.name)?;
    // OpenShift's `ValidateImageStreamTag` checks the name as a path segment first; a created
    // tag's name comes from the body, and its stream's key is made from it.
    let reasons = strategy::path_segment_reasons(request.name, false);
    if !reasons.is_empty() {
        let errors = reasons
            .into_iter()
            .map(|reason| FieldError::invalid("metadata.name", request.name, reason))
            .collect();
        return Err(ApiError::invalid(
            IMAGE_STREAM_TAG_KIND,
            request.name,
            errors,
        ));
    }
    let target = stream_target(request.namespace, stream_name);
    for _ in 0..WRITE_ATTEMPTS {
        let stored = match state.store.get(&target.key()).await {
            Ok(object) => Some(object),
            Err(store::Error::NotFound { .. }) => None,
            Err(error) => return Err(target.store_error(error)),
        };
        if let Some(response) = write_once(state, request, body, stored.as_ref()).await? {
            return Ok(response);
        }
    }
    Err(ApiError::modified(istag::RESOURCE, request.name))
}

/// One attempt at a tag write over `stored` (the stream as read, `None` when missing): the
/// answer, or `None` when another writer got there first and the write should be made again.
async fn write_once(
    state: &ApiState,
    request: &TagWriteRequest<'_>,
    body: &istag::TagWrite,
    stored: Option<&store::Object>,
) -> Result<Option<Response>, ApiError> {
    let (stream_name, tag) = istag::split_name(request.name)?;
    let target = stream_target(request.namespace, stream_name);
    let old: Option<ImageStream> = stored.map(|o| decode(&o.value)).transpose()?;
    let version = stored.map(|object| object.revision.to_string());
    let mut warnings = istag::ignored_metadata_warnings(old.as_ref(), body);
    if request.create {
        warnings.extend(istag::no_tag_warning(body));
    }
    let next = match request.create {
        true => istag::create_tag(old.as_ref(), request.namespace, stream_name, tag, body)?,
        false => {
            let current = old.as_ref().zip(version.as_deref());
            istag::update_tag(current, request.namespace, stream_name, tag, body)?
        }
    };
    let next = with_stream_rules(state, Some(request.user), Timestamp::now(), |ctx| {
        let mut next = next;
        match &old {
            None => strategy::prepare_for_create(&mut next, ctx),
            Some(old) => strategy::prepare_for_update(&mut next, old, ctx),
        }
        .map(|()| next)
    })
    .map_err(|errors| ApiError::invalid(IMAGE_STREAM_KIND, stream_name, errors))?;
    let mut value = serde_json::to_value(&next).map_err(ApiError::internal)?;
    if old.is_none() {
        prepare_create_metadata(&target, &mut value)?;
    }
    // Created: the stream, or (as OpenShift reports it) the spec tag.
    let existed = old.as_ref().is_some_and(|old| old.spec_tag(tag).is_some());
    let status = match existed {
        true => StatusCode::OK,
        false => StatusCode::CREATED,
    };
    let answered = (tag, status, warnings);
    if request.dry_run {
        check_dry_run_size(&target, &value, stored.map(|object| &*object.value))?;
        return answer_tag(state, request, &value, answered).await.map(Some);
    }
    // Nothing changes: no write and the same resourceVersion, as kube-apiserver's update.
    if let Some(unchanged) = stored.filter(|object| same_object(&value, &object.value)) {
        return answer_tag(state, request, &unchanged.value, answered)
            .await
            .map(Some);
    }
    let written = match stored {
        None => Write::Create(value),
        Some(object) => Write::Update(value, object.revision),
    };
    match write(state, &target, written).await {
        Ok(object) => answer_tag(state, request, &object.value, answered)
            .await
            .map(Some),
        Err(ApiError::Conflict { .. } | ApiError::AlreadyExists { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The ImageStreamTag of `tag` in the stream as written, in the negotiated encoding, with the
/// write's warnings.
async fn answer_tag(
    state: &ApiState,
    request: &TagWriteRequest<'_>,
    stored: &Value,
    (tag, status, warnings): (&str, StatusCode, Vec<String>),
) -> Result<Response, ApiError> {
    let stream = read::present(state, Kind::ImageStream, stored).into_stream()?;
    let image = match istag::latest_image_event(&stream, tag) {
        Some(event) => stored_image(state, &event.image).await?,
        None => None,
    };
    let body = istag::written_image_stream_tag(&stream, tag, image);
    let mut response = read::encoded(request.output, &body)?;
    *response.status_mut() = status;
    http::add_warnings(&mut response, &warnings);
    Ok(response)
}

/// The stream a tag belongs to, as a store target.
fn stream_target(namespace: &str, name: &str) -> Target {
    Target {
        kind: Kind::ImageStream,
        namespace: Some(namespace.to_string()),
        name: Some(name.to_string()),
        subresource: None,
    }
}

async fn read_stream(
    state: &ApiState,
    namespace: &str,
    name: &str,
) -> Result<ImageStream, ApiError> {
    let stored = read_stored(state, &stream_target(namespace, name)).await?;
    read::present(state, Kind::ImageStream, &stored.value).into_stream()
}

/// The stored stream `target` names, as its revision and document; a 404 in the stream's words.
async fn read_stored(state: &ApiState, target: &Target) -> Result<store::Object, ApiError> {
    let stored = state.store.get(&target.key()).await;
    stored.map_err(|error| target.store_error(error))
}

/// The Image object `id` names, when the importer stored one (tag events are authoritative
/// here: a tag whose image was never stored still has an ImageStreamTag).
async fn stored_image(state: &ApiState, id: &str) -> Result<Option<Value>, ApiError> {
    match state.store.get(&object_key("images", None, id)).await {
        Ok(object) => Ok(Some(Value::clone(&object.value))),
        Err(store::Error::NotFound { .. }) => Ok(None),
        Err(error) => Err(super::store_failure(error)),
    }
}
