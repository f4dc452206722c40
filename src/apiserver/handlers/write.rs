//! CREATE and UPDATE (main resource and `/status`); DELETE is in `delete`, the metadata checks
//! in `object_meta`.
//!
//! Every write runs the same steps: decode, check the object against the URL, apply the kind's
//! rules under a short read guard of the index (synchronous, never across `.await`), write to
//! the store with the current revision as precondition, apply the result to the admission
//! index before answering, and render. `dryRun=All` runs everything but the store write.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::Value;

use super::read::present;
use super::{resource_version, Target};
use crate::api::{ImageStream, ImageStreamStatus};
use crate::apiserver::error::ApiError;
use crate::apiserver::http;
use crate::apiserver::options::Preconditions;
use crate::apiserver::patch::{record_update, Subresource};
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::{Kind, WriteContext};
use crate::apiserver::state::ApiState;
use crate::auth::{Attributes, UserInfo};
use crate::store::Object;
use crate::strategy;

use super::delete::is_finalized;
use super::object_meta::{
    carry_server_metadata, check_identity, check_name, check_type_meta, generates_name,
    names_no_version, prepare_create_metadata, require_matching_version, same_object,
};

/// What a write needs to know about its request.
pub struct WriteRequest<'a> {
    /// The addressed object or collection.
    pub target: &'a Target,
    /// Who is writing.
    pub user: &'a UserInfo,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The field manager recorded in managedFields (`fieldManager` or the User-Agent).
    pub manager: &'a str,
}

/// How many names a create with `generateName` tries before answering 409, as kube-apiserver
/// (`RetryGenerateName`, GA in 1.32) does.
const GENERATE_NAME_ATTEMPTS: usize = 8;

/// `POST …/<collection>`: 201 with the stored object, 409 if the name is taken (a generated
/// name is generated again, up to 8 names in all, as kube-apiserver does).
pub async fn create(
    state: &ApiState,
    request: &WriteRequest<'_>,
    object: Value,
) -> Result<Response, ApiError> {
    if !generates_name(&object) {
        return create_named(state, request, object).await;
    }
    for _ in 1..GENERATE_NAME_ATTEMPTS {
        match create_named(state, request, object.clone()).await {
            Err(ApiError::AlreadyExists { .. }) => continue,
            answered => return answered,
        }
    }
    match create_named(state, request, object).await {
        Err(ApiError::AlreadyExists { resource, name }) => {
            Err(ApiError::GenerateNameConflict { resource, name })
        }
        answered => answered,
    }
}

async fn create_named(
    state: &ApiState,
    request: &WriteRequest<'_>,
    mut object: Value,
) -> Result<Response, ApiError> {
    let target = request.target;
    check_type_meta(target.kind, &object)?;
    let name = prepare_create_metadata(target, &mut object)?;
    drop_status_unless_writable(state, request, &mut object);
    let now = Timestamp::now();
    run_rules(state, request.user, now, |context| {
        target.kind.prepare_create(&mut object, context)
    })?;
    let named = Target {
        name: Some(name),
        ..target.clone()
    };
    check_name(&named, &object)?;
    if request.dry_run {
        // As kube-apiserver's dry-run storage (`DryRunnableStorage.Create`): a name that is
        // taken is the 409 the create would get. Only a read that finds the object refuses.
        if state.store.get(&named.key()).await.is_ok() {
            let resource = target.kind.group_resource();
            return Err(ApiError::already_exists(resource, named.name()));
        }
        check_dry_run_size(&named, &object, None)?;
        return Ok(respond(
            StatusCode::CREATED,
            present(state, target.kind, &object),
        ));
    }
    let (stored, stream) = write_decoded(state, &named, Write::Create(object)).await?;
    Ok(match stream {
        // The stream the index was given is the stored one decoded: presented from it, the
        // stored tree is decoded once per create, not twice.
        Some(stream) => http::bytes_response(
            StatusCode::CREATED,
            "application/json",
            target.kind.present_stream(stream, &state.strategy)?,
        ),
        None => respond(
            StatusCode::CREATED,
            present(state, target.kind, &stored.value),
        ),
    })
}

/// `PUT …/<name>` or `…/<name>/status`: 200; 409 on a stale resourceVersion; no write (and
/// the same resourceVersion) when nothing changes. A kind that allows unconditional updates
/// (Secrets, as in kube-apiserver) takes a body without a resourceVersion as "write this",
/// re-read and retried when another write lands first.
pub async fn update(
    state: &ApiState,
    request: &WriteRequest<'_>,
    object: Value,
) -> Result<Response, ApiError> {
    let target = request.target;
    check_type_meta(target.kind, &object)?;
    check_identity(target, &object)?;
    let unconditional =
        target.kind.allows_unconditional_update() && names_no_version(resource_version(&object));
    let attempts = if unconditional {
        UNCONDITIONAL_ATTEMPTS
    } else {
        1
    };
    for _ in 1..attempts {
        match update_once(state, request, object.clone(), unconditional).await {
            Err(ApiError::Conflict { .. }) => continue,
            answered => return answered,
        }
    }
    update_once(state, request, object, unconditional).await
}

/// How many times an unconditional update re-reads the object after a write conflict.
const UNCONDITIONAL_ATTEMPTS: usize = 5;

async fn update_once(
    state: &ApiState,
    request: &WriteRequest<'_>,
    mut object: Value,
    unconditional: bool,
) -> Result<Response, ApiError> {
    let target = request.target;
    let current = state
        .store
        .get(&target.key())
        .await
        .map_err(|e| target.store_error(e))?;
    if unconditional {
        object["metadata"]["resourceVersion"] = Value::from(resource_version(&current.value));
    }
    require_matching_version(target, &object, &current)?;
    require_matching_uid(target, &object, &current)?;
    if let Some(object_type) = target.kind.object_type() {
        let subresource = match target.subresource.as_deref() {
            Some("status") => Subresource::Status,
            _ => Subresource::Main,
        };
        let now = Timestamp::now();
        record_update(
            object_type,
            Some(&current.value),
            &mut object,
            request.manager,
            subresource,
            now,
        );
    }
    let value = replace(state, request, object, &current).await?;
    Ok(respond(StatusCode::OK, value))
}

/// A body naming a uid makes it a precondition, as kube-apiserver's update does: another
/// object of the same name (deleted and re-created since the client read it) is a 409.
fn require_matching_uid(target: &Target, object: &Value, current: &Object) -> Result<(), ApiError> {
    let Some(uid) = object["metadata"]["uid"]
        .as_str()
        .filter(|uid| !uid.is_empty())
    else {
        return Ok(());
    };
    let preconditions = Preconditions {
        uid: Some(uid.to_string()),
        resource_version: None,
    };
    preconditions.check(
        target.kind.group_resource(),
        target.name(),
        current.value["metadata"]["uid"].as_str().unwrap_or(""),
        resource_version(&current.value),
    )
}

/// Applies an already checked replacement of `current`: rules, no-op detection, conditional
/// write, index update. Shared by PUT and PATCH. Returns the object to show.
pub async fn replace(
    state: &ApiState,
    request: &WriteRequest<'_>,
    mut object: Value,
    current: &Object,
) -> Result<Presented, ApiError> {
    let target = request.target;
    let status = target.subresource.as_deref() == Some("status");
    carry_server_metadata(&mut object, &current.value, status);
    let now = Timestamp::now();
    run_rules(state, request.user, now, |context| {
        target
            .kind
            .prepare_update(&mut object, &current.value, status, context)
    })?;
    if same_object(&object, &current.value) || request.dry_run {
        let shown = if request.dry_run {
            check_dry_run_size(target, &object, Some(&current.value))?;
            &object
        } else {
            &*current.value
        };
        return Ok(present(state, target.kind, shown));
    }
    let written = match is_finalized(&object) {
        true => Write::Delete(current.revision),
        false => Write::Update(object, current.revision),
    };
    let stored = write(state, target, written).await?;
    Ok(present(state, target.kind, &stored.value))
}

/// A created stream's status is discarded, but for the images its own `ImageStreamImage` tags
/// name (`strategy::exported`), which are taken from it as written: only from a creator who
/// may also write the stream's status (`update imagestreams/status` there, which a front-proxy
/// user must be given by a policy: the kube-apiserver authorized the create alone).
fn drop_status_unless_writable(state: &ApiState, request: &WriteRequest<'_>, object: &mut Value) {
    if request.target.kind != Kind::ImageStream {
        return;
    }
    let namespace = request.target.namespace.as_deref().unwrap_or("");
    let attributes = Attributes {
        verb: "update",
        resource: "imagestreams/status",
        group: crate::api::GROUP,
        namespace,
        name: "",
    };
    if state
        .auth
        .allows_elsewhere(request.user, &attributes)
        .is_ok()
    {
        return;
    }
    // A status that does not decode stays, so that it gets the 400 it always got: whether a
    // malformed body is refused must not depend on the writer's rights.
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    // Decoded as the stream rules decode it (a null member is its zero value there): a status
    // only they could read would otherwise stay and seed the stream's images.
    let decodes = fields.get("status").is_some_and(|status| {
        crate::apiserver::resource::decode::<ImageStreamStatus>(status).is_ok()
    });
    if decodes {
        fields.remove("status");
    }
}

/// Runs the kind's rules with a read guard of the index held only for the synchronous call.
fn run_rules(
    state: &ApiState,
    user: &UserInfo,
    now: Timestamp,
    rules: impl FnOnce(&WriteContext<'_>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    with_stream_rules(state, Some(user), now, |ctx| {
        rules(&WriteContext {
            config: ctx.config,
            now: ctx.now,
            streams: ctx.streams,
            authorize: ctx.authorize,
        })
    })
}

/// Runs stream rules over the server's settings and the index (its read guard held only for
/// the synchronous call). A tag copying another namespace's stream needs `user`'s right to
/// read it (OpenShift's SubjectAccessReview for `imagestreams/layers`); `None` for writes
/// that add no such source (imports write `DockerImage` tags, a tag delete adds none).
pub(super) fn with_stream_rules<T>(
    state: &ApiState,
    user: Option<&UserInfo>,
    now: Timestamp,
    rules: impl FnOnce(&strategy::Context<'_>) -> T,
) -> T {
    let authorize = |namespace: &str, stream: &str| {
        let Some(user) = user else {
            return Ok(());
        };
        let attributes = Attributes {
            verb: "get",
            resource: "imagestreams/layers",
            group: crate::api::GROUP,
            namespace,
            name: stream,
        };
        state.auth.allows_elsewhere(user, &attributes)
    };
    let index = state.index.read();
    rules(&strategy::Context {
        config: &state.strategy,
        now,
        streams: &**index,
        authorize: &authorize,
    })
}

/// One write to the store: a create, or an update or delete at the revision it was checked at.
pub(super) enum Write {
    Create(Value),
    Update(Value, u64),
    Delete(u64),
}

/// Performs `written` on `target` and applies it to the admission index before the caller
/// answers (every API write goes through here, so the next admission sees it).
/// Refuses a dry run of `object` (replacing `current`, if any) that the store would refuse
/// as too large: every store checks the limit itself, and a dry run never reaches it.
pub(super) fn check_dry_run_size(
    target: &Target,
    object: &Value,
    current: Option<&Value>,
) -> Result<(), ApiError> {
    crate::store::check_write_size(&target.key(), object, current)
        .map_err(|e| target.store_error(e))
}

pub(super) async fn write(
    state: &ApiState,
    target: &Target,
    written: Write,
) -> Result<Object, ApiError> {
    Ok(write_decoded(state, target, written).await?.0)
}

/// [`write`], also returning the stored ImageStream as decoded for the index.
async fn write_decoded(
    state: &ApiState,
    target: &Target,
    written: Write,
) -> Result<(Object, Option<ImageStream>), ApiError> {
    let key = target.key();
    let (result, deleted) = match written {
        Write::Create(object) => (state.store.create(&key, object).await, false),
        Write::Update(object, revision) => (
            state.store.update(&key, object, Some(revision)).await,
            false,
        ),
        Write::Delete(revision) => (state.store.delete(&key, Some(revision)).await, true),
    };
    let stored = result.map_err(|e| target.store_error(e))?;
    let stream = note_write(state, target.kind, &stored, deleted);
    Ok((stored, stream))
}

/// Applies a stored ImageStream write to the admission index, so the next admission sees it;
/// returns the stream decoded.
fn note_write(state: &ApiState, kind: Kind, object: &Object, deleted: bool) -> Option<ImageStream> {
    if kind != Kind::ImageStream {
        return None;
    }
    let stream = crate::live_index::decode(object)?;
    state.index.apply(&stream, object.revision, deleted);
    Some(stream)
}

/// Answers with a presented object (the JSON bytes of a stream are written from the struct).
pub(super) fn respond(status: StatusCode, presented: Presented) -> Response {
    match presented.to_json() {
        Ok(bytes) => http::bytes_response(status, "application/json", bytes),
        Err(error) => error.into_response(),
    }
}
