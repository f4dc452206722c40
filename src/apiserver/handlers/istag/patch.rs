//! `PATCH …/namespaces/<ns>/imagestreamtags/<stream>:<tag>`: the patch is applied to the
//! ImageStreamTag as it is read, and the result written as a PUT of it would be
//! (`crate::apiserver::istag::patch`), re-read and re-applied on a write conflict.

use axum::response::Response;
use serde_json::Value;

use super::{image_stream_tag, read, read_stored, stored_image, stream_target, write_once};
use super::{TagWriteRequest, WRITE_ATTEMPTS};
use crate::api::ImageStream;
use crate::apiserver::error::{ApiError, GroupKind};
use crate::apiserver::handlers::validation;
use crate::apiserver::http;
use crate::apiserver::istag::{self, patch};
use crate::apiserver::options::FieldValidation;
use crate::apiserver::patch::PatchKind;
use crate::apiserver::resource::Kind;
use crate::apiserver::state::ApiState;
use crate::field::FieldError;

/// What a PATCH brings besides the tag it names.
pub struct TagPatch<'a> {
    /// The patch type of its `Content-Type`.
    pub kind: PatchKind,
    /// The patch document.
    pub body: &'a [u8],
    /// `fieldValidation`.
    pub field_validation: Option<FieldValidation>,
}

/// Patches the tag `request` names: 404 when its stream has neither a spec tag nor an image
/// of that name. A `metadata.resourceVersion` the patch sets to another than the stream's is a
/// 409, as for a PUT; otherwise a lost race re-reads the stream and applies the patch again.
pub async fn patch_tag(
    state: &ApiState,
    request: &TagWriteRequest<'_>,
    patch: &TagPatch<'_>,
) -> Result<Response, ApiError> {
    let (stream_name, tag) = istag::split_name(request.name)?;
    let target = stream_target(request.namespace, stream_name);
    for _ in 0..WRITE_ATTEMPTS {
        let stored = read_stored(state, &target).await?;
        let stream = read::present(state, Kind::ImageStream, &stored.value).into_stream()?;
        let view = view(state, &stream, request.name, tag).await?;
        let patched = patch::apply(patch.kind, &view, patch.body)?;
        let problems = patch::problems(patch.body, &view, &patched);
        let mut warnings = validation::enforce(patch.field_validation, &problems)
            .map_err(|strict| strict_refusal(patch.body, strict))?;
        warnings.extend(patch::removed_labels_warning(&view, &patched));
        let written = patch::tag_write(&patched, request.namespace, request.name)?;
        if let Some(mut response) = write_once(state, request, &written, Some(&stored)).await? {
            http::add_warnings(&mut response, &warnings);
            return Ok(response);
        }
    }
    Err(ApiError::modified(istag::RESOURCE, request.name))
}

/// The ImageStreamTag a patch applies to: as GET presents it, or, for a spec tag with no image
/// yet, as a PUT answers it (OpenShift patches `newISTag` with `allowEmptyEvent`, so a tag
/// whose import failed can be corrected).
async fn view(
    state: &ApiState,
    stream: &ImageStream,
    name: &str,
    tag: &str,
) -> Result<Value, ApiError> {
    if let Some(event) = istag::latest_image_event(stream, tag) {
        let image = stored_image(state, &event.image).await?;
        if let Some(view) = image_stream_tag(stream, tag, image) {
            return Ok(view);
        }
    }
    match stream.spec_tag(tag) {
        Some(_) => Ok(istag::written_image_stream_tag(stream, tag, None)),
        None => Err(ApiError::not_found(istag::RESOURCE, name)),
    }
}

/// `fieldValidation=Strict` refusing a patch: 422 with the patch as its one cause, as
/// kube-apiserver's patch handler answers.
fn strict_refusal(body: &[u8], strict: ApiError) -> ApiError {
    let patch = String::from_utf8_lossy(body).into_owned();
    let cause = FieldError::invalid("patch", patch, strict.to_string());
    ApiError::invalid(GroupKind::new("", ""), "", vec![cause])
}
