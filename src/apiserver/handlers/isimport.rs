//! `POST …/namespaces/<ns>/imagestreamimports`: validate, ask the registries (through the
//! importer's client, with the namespace's pull secrets), answer each image, and with
//! `spec.import: true` write the stream with compare-and-swap. The decisions are in
//! [`crate::apiserver::isimport`]; this translates them into store and registry calls.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{json, Value};

mod registry;

use self::registry::{ask, found_images, image_key, Answers, Listing, SourceKey};
use super::object_meta::prepare_create_metadata;
use super::read::{self, present};
use super::validation;
use super::write::{with_stream_rules, write, Write};
use super::Target;
use crate::api::{ImageStream, API_VERSION};
use crate::apiserver::error::{ApiError, GroupResource, IMAGE_STREAMS, IMAGE_STREAM_KIND};
use crate::apiserver::http;
use crate::apiserver::isimport::{
    self, apply_import, disallowed_sources, image_status, repository_status, validate,
    ImageStreamImport, Imported, ImportedTag, Outcome,
};
use crate::apiserver::negotiate::Output;
use crate::apiserver::options::FieldValidation;
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::Kind;
use crate::apiserver::state::ApiState;
use crate::apiserver::unknown_fields::FieldProblem;
use crate::auth::UserInfo;
use crate::{api, live_index, store};

/// How long the registries may take to answer one import as a whole (each call is bounded by
/// the registry timeout already): the kube-apiserver's default request timeout.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(60);
/// Registry questions one import has in flight at once.
const SOURCES_AT_ONCE: usize = 8;
/// How many times the stream write is retried on a write conflict.
const WRITE_ATTEMPTS: usize = 5;

/// One create of an ImageStreamImport.
pub struct ImportRequest<'a> {
    /// The namespace of the URL.
    pub namespace: &'a str,
    /// Who asks.
    pub user: &'a UserInfo,
    /// `dryRun=All`: everything but the writes.
    pub dry_run: bool,
    /// How to encode the answer.
    pub output: Output,
    /// `fieldValidation`: what to do about `problems`.
    pub field_validation: Option<FieldValidation>,
    /// Members of the body the schema lacks, or given twice.
    pub problems: Vec<FieldProblem>,
}

/// Answers `body`, an ImageStreamImport: 201 with its status filled in.
pub async fn create(
    state: &ApiState,
    request: &ImportRequest<'_>,
    body: Value,
) -> Result<Response, ApiError> {
    isimport::check_shape(&body)?;
    let warnings = validation::enforce(request.field_validation, &request.problems)
        .map_err(|strict| ApiError::undecodable(isimport::KIND_NAME, strict))?;
    let isi = decode(&body, request.namespace)?;
    let name = isi.metadata.name.clone().unwrap_or_default();
    let errors = validate(&isi);
    if !errors.is_empty() {
        return Err(ApiError::invalid(isimport::KIND, name, errors));
    }
    if !may_import_anywhere(state, request.user) {
        let errors = with_stream_rules(state, None, Timestamp::now(), |ctx| {
            disallowed_sources(&isi, ctx)
        });
        if !errors.is_empty() {
            return Err(ApiError::invalid(isimport::KIND, name, errors));
        }
    }
    let (_, existing) = read_checked(state, request, &isi).await?;
    if isi.spec.import {
        authorize_write(state, request, &name, existing.is_some())?;
    }
    let asked =
        tokio::time::timeout(REQUEST_BUDGET, ask(state, request, &isi, existing.as_ref())).await;
    let answers = asked.map_err(|_| too_slow())?;
    let stored = isi.spec.import && !request.dry_run;
    let found = found_images(state, &answers, stored).await;
    let default_mode = state.strategy.default_import_mode.as_str();
    let mut status = json!({});
    if !isi.spec.images.is_empty() {
        status["images"] = answer_images(&isi, &found, default_mode, existing.as_ref()).into();
    }
    if let Some(listing) = &answers.repository {
        let include_manifest = isi
            .spec
            .repository
            .as_ref()
            .is_some_and(|r| r.include_manifest);
        status["repository"] = answer_repository(listing, &found, include_manifest);
    }
    if isi.spec.import {
        let tags = imported_tags(&isi, &answers, &found, default_mode, existing.as_ref());
        let stream = import(state, request, &isi, &tags).await?;
        status["import"] = stream.into_value();
    }
    let answer = json!({
        "kind": "ImageStreamImport", "apiVersion": API_VERSION,
        "metadata": {"name": name, "namespace": request.namespace, "creationTimestamp": null},
        "spec": isi.spec, "status": status,
    });
    let mut response = read::encoded(request.output, &answer)?;
    *response.status_mut() = StatusCode::CREATED;
    http::add_warnings(&mut response, &warnings);
    Ok(response)
}

fn decode(body: &Value, namespace: &str) -> Result<ImageStreamImport, ApiError> {
    // Decoded as every body is: a type error names its field (`spec.import: invalid type…`).
    let mut isi: ImageStreamImport = crate::apiserver::resource::decode(body)?;
    isi.set_defaults();
    match isi.metadata.namespace.as_deref() {
        None | Some("") => isi.metadata.namespace = Some(namespace.to_string()),
        Some(given) if given == namespace => {}
        Some(_) => return Err(ApiError::namespace_mismatch()),
    }
    Ok(isi)
}

/// Whether `user`'s sources skip the allowed-registries check: OpenShift exempts who may
/// `create` `images`. Without a policy file every user may do everything here, and a
/// cluster's RBAC is not asked, so nobody is exempt: the list would otherwise bind no one.
fn may_import_anywhere(state: &ApiState, user: &UserInfo) -> bool {
    let images = GroupResource::new(api::GROUP, "images");
    let may_create = |user| {
        state
            .auth
            .require(user, "create", images, "", "", "")
            .is_ok()
    };
    state.auth.policy.is_some() && may_create(user)
}

/// Writing the stream needs `update` on it, or `create` for a new one: this server's policy
/// is per verb, so `create` on imports alone must not rewrite existing streams.
fn authorize_write(
    state: &ApiState,
    request: &ImportRequest<'_>,
    name: &str,
    exists: bool,
) -> Result<(), ApiError> {
    let verb = if exists { "update" } else { "create" };
    let (user, namespace) = (request.user, request.namespace);
    state
        .auth
        .require(user, verb, IMAGE_STREAMS, "", namespace, name)
}

/// The stored stream the import names (with its revision), after OpenShift's preconditions:
/// a `resourceVersion` or `uid` in the import's metadata must match it, and requires it.
async fn read_checked(
    state: &ApiState,
    request: &ImportRequest<'_>,
    isi: &ImageStreamImport,
) -> Result<(u64, Option<ImageStream>), ApiError> {
    let name = isi.metadata.name.as_deref().unwrap_or("");
    let key = store::object_key("imagestreams", Some(request.namespace), name);
    let wanted_version = isi.metadata.resource_version.as_deref().unwrap_or("");
    let wanted_uid = isi.metadata.uid.as_deref().unwrap_or("");
    let (revision, stream) = match state.store.get(&key).await {
        Ok(object) => (object.revision, live_index::decode(&object)),
        Err(store::Error::NotFound { .. }) => (0, None),
        Err(error) => return Err(super::store_failure(error)),
    };
    let Some(stream) = stream else {
        if !wanted_version.is_empty() || !wanted_uid.is_empty() {
            return Err(ApiError::not_found(isimport::STREAM, name));
        }
        return Ok((0, None));
    };
    let version = revision.to_string();
    if !wanted_version.is_empty() && wanted_version != version {
        return Err(ApiError::Conflict {
            resource: isimport::STREAM,
            name: name.to_string(),
            reason: format!("the image stream was updated from {wanted_version:?} to {version:?}"),
        });
    }
    if !wanted_uid.is_empty() && Some(wanted_uid) != stream.metadata.uid.as_deref() {
        return Err(ApiError::not_found(isimport::STREAM, name));
    }
    Ok((revision, Some(stream)))
}

fn too_slow() -> ApiError {
    ApiError::Timeout {
        message: format!(
            "the registries did not answer every image of this import within {}s, so nothing \
             was imported; import fewer images at once, or try again",
            REQUEST_BUDGET.as_secs()
        ),
        retry_after_seconds: 0,
    }
}

/// `status.images`, in the order of `spec.images`.
fn answer_images(
    isi: &ImageStreamImport,
    found: &HashMap<SourceKey, Outcome>,
    default_mode: &str,
    existing: Option<&ImageStream>,
) -> Vec<Value> {
    let answered = |image: &isimport::ImageImportSpec| {
        let (key, source) = image_key(image, default_mode, existing)?;
        Some(image_status(
            &source,
            found.get(&key)?,
            image.include_manifest,
        ))
    };
    isi.spec
        .images
        .iter()
        .map(|image| answered(image).unwrap_or(Value::Null))
        .collect()
}

/// `status.repository`.
fn answer_repository(
    listing: &Listing,
    found: &HashMap<SourceKey, Outcome>,
    include_manifest: bool,
) -> Value {
    let (tags, additional) = match listing {
        Err(failure) => (Err(failure.clone()), &[][..]),
        Ok((listed, additional)) => {
            let answered =
                |(tag, key): &(String, SourceKey)| Some((tag.clone(), found.get(key)?.clone()));
            (
                Ok(listed.iter().filter_map(answered).collect()),
                &additional[..],
            )
        }
    };
    repository_status(&tags, additional, include_manifest)
}

/// The spec tags `spec.import` writes: the repository's tags first, then each image with a
/// `to`, as OpenShift records them.
fn imported_tags(
    isi: &ImageStreamImport,
    answers: &Answers,
    found: &HashMap<SourceKey, Outcome>,
    default_mode: &str,
    existing: Option<&ImageStream>,
) -> Vec<ImportedTag> {
    let outcome = |key: &SourceKey| -> Option<Result<Imported, crate::importer::outcome::Failure>> {
        Some(
            found
                .get(key)?
                .clone()
                .map(|f| Imported { digest: f.digest }),
        )
    };
    let mut tags = Vec::new();
    if let (Some(spec), Some(Ok((listed, _)))) = (&isi.spec.repository, &answers.repository) {
        for (tag, key) in listed {
            let Some(outcome) = outcome(key) else {
                continue;
            };
            tags.push(ImportedTag {
                tag: tag.clone(),
                from: key.0.clone(),
                import_policy: spec.import_policy.clone(),
                reference_policy: spec.reference_policy.clone(),
                tag_on_failure: false,
                outcome,
            });
        }
    }
    for image in &isi.spec.images {
        let (Some(target), Some((key, _))) =
            (image.target(), image_key(image, default_mode, existing))
        else {
            continue;
        };
        let Some(outcome) = outcome(&key) else {
            continue;
        };
        tags.push(ImportedTag {
            tag: target.to_string(),
            from: image.from.name.clone().unwrap_or_default(),
            import_policy: image.import_policy.clone(),
            reference_policy: image.reference_policy.clone(),
            tag_on_failure: true,
            outcome,
        });
    }
    tags
}

/// Writes `value`, the JSON of `next`, over `old` read at `revision`; when the store refuses it
/// as too large, drops the oldest history as the background importer does
/// ([`crate::importer::fit`]) and writes once more.
async fn update(
    state: &ApiState,
    target: &Target,
    (old, revision): (&ImageStream, u64),
    next: &mut ImageStream,
    value: Value,
) -> Result<store::Object, ApiError> {
    let refused = match write(state, target, Write::Update(value, revision)).await {
        Err(ApiError::RequestEntityTooLarge(refused)) => refused,
        written => return written,
    };
    if state.imports.make_room(old, next, &refused).is_none() {
        return Err(ApiError::RequestEntityTooLarge(refused));
    }
    let value = serde_json::to_value(&*next).map_err(ApiError::internal)?;
    write(state, target, Write::Update(value, revision)).await
}

/// Writes the stream with `tags` imported (created, or updated with compare-and-swap and a
/// fresh read after a conflict) and returns it as shown; under `dryRun` returns it unwritten.
async fn import(
    state: &ApiState,
    request: &ImportRequest<'_>,
    isi: &ImageStreamImport,
    tags: &[ImportedTag],
) -> Result<Presented, ApiError> {
    let name = isi.metadata.name.as_deref().unwrap_or("");
    let target = Target {
        kind: Kind::ImageStream,
        namespace: Some(request.namespace.to_string()),
        name: Some(name.to_string()),
        subresource: None,
    };
    for _ in 0..WRITE_ATTEMPTS {
        let (revision, old) = read_checked(state, request, isi).await?;
        authorize_write(state, request, name, old.is_some())?;
        let next = with_stream_rules(state, None, Timestamp::now(), |ctx| {
            let keep = state.imports.keep_tag_revisions();
            apply_import(old.as_ref(), request.namespace, name, tags, keep, ctx)
        })
        .map_err(|errors| ApiError::invalid(IMAGE_STREAM_KIND, name, errors))?;
        let Some(mut next) = next else {
            let unchanged = serde_json::to_value(&old).map_err(ApiError::internal)?;
            return Ok(present(state, Kind::ImageStream, &unchanged));
        };
        let mut value = serde_json::to_value(&next).map_err(ApiError::internal)?;
        if old.is_none() {
            prepare_create_metadata(&target, &mut value)?;
        }
        if request.dry_run {
            return Ok(present(state, Kind::ImageStream, &value));
        }
        let written = match &old {
            None => write(state, &target, Write::Create(value)).await,
            Some(old) => update(state, &target, (old, revision), &mut next, value).await,
        };
        match written {
            Ok(stored) => return Ok(present(state, Kind::ImageStream, &stored.value)),
            Err(ApiError::Conflict { .. } | ApiError::AlreadyExists { .. }) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::modified(IMAGE_STREAMS, name))
}
