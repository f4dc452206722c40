//! CREATE, UPDATE (main resource and `/status`), DELETE and DELETECOLLECTION.
//!
//! Every write runs the same steps: decode, check the object against the URL, apply the kind's
//! rules under a short read guard of the index (synchronous, never across `.await`), write to
//! the store with the current revision as precondition, apply the result to the admission
//! index before answering, and render. `dryRun=All` runs everything but the store write.

use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::read::{collect, present, render_list};
use super::{resource_version, Target};
use crate::api::ImageStream;
use crate::apiserver::error::{success_status, ApiError};
use crate::apiserver::http;
use crate::apiserver::negotiate::Output;
use crate::apiserver::options::{DeleteOptions, ListOptions};
use crate::apiserver::patch::{update_managed_fields, Subresource};
use crate::apiserver::resource::{Kind, WriteContext};
use crate::apiserver::state::ApiState;
use crate::auth::{Attributes, UserInfo};
use crate::store::Object;

/// Characters of the random `generateName` suffix, as the apiserver uses (no vowels).
const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

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

/// `POST …/<collection>`: 201 with the stored object, 409 if the name is taken.
pub async fn create(
    state: &ApiState,
    request: &WriteRequest<'_>,
    mut object: Value,
) -> Result<Response, ApiError> {
    let target = request.target;
    check_type_meta(target.kind, &object)?;
    let name = prepare_create_metadata(target, &mut object)?;
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
/// the same resourceVersion) when nothing changes.
pub async fn update(
    state: &ApiState,
    request: &WriteRequest<'_>,
    mut object: Value,
) -> Result<Response, ApiError> {
    let target = request.target;
    check_type_meta(target.kind, &object)?;
    check_identity(target, &object)?;
    let current = state
        .store
        .get(&target.key())
        .await
        .map_err(|e| target.store_error(e))?;
    require_matching_version(target, &object, &current)?;
    if target.kind == Kind::ImageStream {
        let subresource = match target.subresource.as_deref() {
            Some("status") => Subresource::Status,
            _ => Subresource::Main,
        };
        let now = Timestamp::now();
        update_managed_fields(
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

/// Applies an already checked replacement of `current`: rules, no-op detection, conditional
/// write, index update. Shared by PUT and PATCH. Returns the object to show.
pub async fn replace(
    state: &ApiState,
    request: &WriteRequest<'_>,
    mut object: Value,
    current: &Object,
) -> Result<Value, ApiError> {
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

/// `DELETE …/<name>`: 200 with a Success Status; with finalizers, marks the object deleted
/// and answers with it.
pub async fn delete(
    state: &ApiState,
    request: &WriteRequest<'_>,
    options: &DeleteOptions,
) -> Result<Response, ApiError> {
    let target = request.target;
    let current = state
        .store
        .get(&target.key())
        .await
        .map_err(|e| target.store_error(e))?;
    let uid = current.value["metadata"]["uid"]
        .as_str()
        .unwrap_or("")
        .to_string();
    options.preconditions.check(
        target.kind.group_resource(),
        target.name(),
        &uid,
        resource_version(&current.value),
    )?;
    if has_finalizers(&current.value) {
        let value = mark_deleting(state, request, &current).await?;
        return Ok(respond(StatusCode::OK, value));
    }
    if !(request.dry_run || options.dry_run) {
        write(state, target, Write::Delete(current.revision)).await?;
    }
    let status = success_status(target.kind.group_resource(), target.name(), &uid);
    Ok(http::json(StatusCode::OK, "application/json", &status))
}

/// `DELETE …/<collection>`: deletes every object the selectors match; answers with the list.
pub async fn delete_collection(
    state: &ApiState,
    request: &WriteRequest<'_>,
    list_options: &ListOptions,
    options: &DeleteOptions,
) -> Result<Response, ApiError> {
    let listing = collect(state, request.target, list_options).await?;
    let mut deleted = Vec::new();
    for object in listing.items {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let namespace = object["metadata"]["namespace"].as_str().map(String::from);
        let one = Target {
            name: Some(name),
            namespace,
            ..request.target.clone()
        };
        let one_request = WriteRequest {
            target: &one,
            ..*request
        };
        match delete(state, &one_request, options).await {
            Ok(_) => deleted.push(object),
            Err(ApiError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    let listing = super::read::Listing {
        items: deleted,
        revision: state.store.current_revision(),
        continue_token: None,
    };
    render_list(request.target.kind, listing, Output::Json)
}

async fn mark_deleting(
    state: &ApiState,
    request: &WriteRequest<'_>,
    current: &Object,
) -> Result<Value, ApiError> {
    if !current.value["metadata"]["deletionTimestamp"].is_null() {
        return Ok(present(state, request.target.kind, &current.value));
    }
    let mut object = (*current.value).clone();
    object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
    object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    if request.dry_run {
        return Ok(present(state, request.target.kind, &object));
    }
    let target = request.target;
    let stored = write(state, target, Write::Update(object, current.revision)).await?;
    Ok(present(state, target.kind, &stored.value))
}

/// Runs the kind's rules with a read guard of the index held only for the synchronous call.
fn run_rules(
    state: &ApiState,
    user: &UserInfo,
    now: Timestamp,
    rules: impl FnOnce(&WriteContext<'_>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let authorize = |namespace: &str, stream: &str| {
        let attributes = Attributes {
            verb: "get",
            resource: "imagestreams/layers",
            group: crate::api::GROUP,
            namespace,
            name: stream,
        };
        state.auth.allows(user, &attributes)
    };
    let index = state.index.read();
    let context = WriteContext {
        config: &state.strategy,
        now,
        streams: &**index,
        authorize: &authorize,
    };
    rules(&context)
}

/// One write to the store: a create, or an update or delete at the revision it was checked at.
enum Write {
    Create(Value),
    Update(Value, u64),
    Delete(u64),
}

/// Performs `written` on `target` and applies it to the admission index before the caller
/// answers (every API write goes through here, so the next admission sees it).
async fn write(state: &ApiState, target: &Target, written: Write) -> Result<Object, ApiError> {
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
    let stream = crate::live_index::decode(&object.value)?;
    state.index.apply(&stream, object.revision, deleted);
    Some(stream)
}

/// `apiVersion` and `kind`, when given, must be this kind's.
pub fn check_type_meta(kind: Kind, object: &Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    }
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(kind.api_version());
    let object_kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(kind.kind());
    if api_version != kind.api_version() || object_kind != kind.kind() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) and kind ({object_kind}) do not match the URL ({}, {})",
            kind.api_version(),
            kind.kind()
        )));
    }
    Ok(())
}

/// Checks that the body names the URL's object and namespace (filling them when empty).
fn check_identity(target: &Target, object: &Value) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    if name != target.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            target.name()
        )));
    }
    check_namespace(target, object)
}

fn check_namespace(target: &Target, object: &Value) -> Result<(), ApiError> {
    let in_body = object["metadata"]["namespace"].as_str().unwrap_or("");
    match target.namespace.as_deref() {
        Some(url) if !in_body.is_empty() && in_body != url => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// Names, namespaces and stamps a new object; returns its name.
fn prepare_create_metadata(target: &Target, object: &mut Value) -> Result<String, ApiError> {
    check_namespace(target, object)?;
    let metadata = metadata_mut(object);
    if metadata
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if let Some(namespace) = &target.namespace {
        metadata.insert("namespace".into(), json!(namespace));
    }
    let name = match metadata
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(name) => name.to_string(),
        None => generated_name(
            metadata
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or(""),
        ),
    };
    metadata.insert("name".into(), json!(name));
    metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    metadata.insert("creationTimestamp".into(), json!(now_rfc3339()));
    for server_owned in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "resourceVersion",
    ] {
        metadata.remove(server_owned);
    }
    Ok(name)
}

/// A name must be a usable path segment before it becomes a store key; the kind's own rules
/// give the detailed message first for ImageStreams.
fn check_name(target: &Target, object: &Value) -> Result<(), ApiError> {
    let name = target.name();
    let bad = name.is_empty() || name.contains('/') || name == "." || name == "..";
    if !bad {
        return Ok(());
    }
    let error = match name.is_empty() {
        true => {
            crate::field::FieldError::required("metadata.name", "name or generateName is required")
        }
        false => crate::field::FieldError::invalid("metadata.name", name, "may not contain '/'"),
    };
    let shown = object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    Err(ApiError::invalid(
        target.kind.group_kind(),
        shown,
        vec![error],
    ))
}

fn generated_name(prefix: &str) -> String {
    if prefix.is_empty() {
        return String::new();
    }
    let suffix: String = (0..5)
        .map(|_| GENERATE_ALPHABET[rand::random_range(0..GENERATE_ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// PUT needs the current resourceVersion: missing is 422, stale is 409.
fn require_matching_version(
    target: &Target,
    object: &Value,
    current: &Object,
) -> Result<(), ApiError> {
    let sent = resource_version(object);
    if sent.is_empty() {
        let error = crate::field::FieldError::invalid(
            "metadata.resourceVersion",
            "",
            "must be specified for an update",
        );
        let kind = crate::apiserver::error::GroupKind::new(
            target.kind.group_resource().group,
            target.kind.plural(),
        );
        return Err(ApiError::invalid(kind, target.name(), vec![error]));
    }
    if sent != resource_version(&current.value) {
        return Err(ApiError::modified(
            target.kind.group_resource(),
            target.name(),
        ));
    }
    Ok(())
}

/// Keeps what only the server sets: uid, creationTimestamp, deletion fields, generation; on
/// `/status`, all of the stored metadata.
fn carry_server_metadata(object: &mut Value, current: &Value, status: bool) {
    let stored = current["metadata"].as_object().cloned().unwrap_or_default();
    let metadata = metadata_mut(object);
    if status {
        let managed = metadata.remove("managedFields");
        *metadata = stored;
        if let Some(managed) = managed {
            metadata.insert("managedFields".into(), managed);
        }
        return;
    }
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
    ] {
        match stored.get(field) {
            Some(value) => metadata.insert(field.into(), value.clone()),
            None => metadata.remove(field),
        };
    }
}

/// Whether two versions of an object are the same apart from their resourceVersion.
fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |value: &Value| {
        let mut copy = value.clone();
        if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("resourceVersion");
        }
        copy
    };
    strip(a) == strip(b)
}

fn has_finalizers(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// A terminating object whose last finalizer is gone is deleted for real.
fn is_finalized(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null() && !has_finalizers(object)
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

/// Now, as Kubernetes writes timestamps: RFC 3339, whole seconds, UTC.
pub fn now_rfc3339() -> String {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

fn respond(status: StatusCode, value: Value) -> Response {
    http::json(status, "application/json", &value)
}
