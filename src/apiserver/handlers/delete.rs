//! DELETE and DELETECOLLECTION. An object with finalizers is only marked deleted
//! (`deletionTimestamp`); the update that removes its last finalizer deletes it (`write::update`).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::object_meta::now_rfc3339;
use super::read::{collect, present, render_list};
use super::write::{respond, write, Write, WriteRequest};
use super::{resource_version, Target};
use crate::apiserver::error::{success_status, ApiError};
use crate::apiserver::http;
use crate::apiserver::negotiate::Output;
use crate::apiserver::options::{DeleteOptions, ListOptions, UnsafeDeleteMisuse};
use crate::apiserver::presented::Presented;
use crate::apiserver::state::ApiState;
use crate::store::{self, Object, Unreadable};

/// How many times a delete reads the object again when another write lands between its read
/// and its delete.
const DELETE_ATTEMPTS: usize = 8;

/// One delete attempt's end: answered, or the object changed since it was read.
enum Attempt {
    Answered(Response),
    Stale,
}

/// `DELETE …/<name>`: 200 with a Success Status; with finalizers, marks the object deleted
/// and answers with it. As kube-apiserver's (`conditionalDelete`), a write landing between the
/// read and the delete (the importer's status update, a controller's patch) is no conflict of
/// the caller's: the object is read again, its preconditions checked again, and deleted then.
/// Only preconditions the caller set can fail with 409.
pub async fn delete(
    state: &ApiState,
    request: &WriteRequest<'_>,
    options: &DeleteOptions,
) -> Result<Response, ApiError> {
    for _ in 0..DELETE_ATTEMPTS {
        if let Attempt::Answered(answer) = delete_once(state, request, options).await? {
            return Ok(answer);
        }
    }
    let target = request.target;
    Err(ApiError::modified(
        target.kind.group_resource(),
        target.name(),
    ))
}

/// The write of an attempt, whose stale revision is [`Attempt::Stale`] rather than a 409.
fn stale_or<T>(written: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match written {
        Ok(value) => Ok(Some(value)),
        Err(ApiError::Conflict { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

async fn delete_once(
    state: &ApiState,
    request: &WriteRequest<'_>,
    options: &DeleteOptions,
) -> Result<Attempt, ApiError> {
    let target = request.target;
    let current = match state.store.get(&target.key()).await {
        Err(store::Error::Corrupt(unreadable)) if options.ignore_store_read_error => {
            let answer = delete_unreadable(state, request, &unreadable).await?;
            return Ok(Attempt::Answered(answer));
        }
        read => read.map_err(|e| target.store_error(e))?,
    };
    if options.ignore_store_read_error {
        return Err(UnsafeDeleteMisuse::ReadableObject.refusal());
    }
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
        let Some(value) = stale_or(mark_deleting(state, request, &current).await)? else {
            return Ok(Attempt::Stale);
        };
        return Ok(Attempt::Answered(respond(StatusCode::OK, value)));
    }
    if !(request.dry_run || options.dry_run) {
        let deleted = write(state, target, Write::Delete(current.revision)).await;
        if stale_or(deleted)?.is_none() {
            return Ok(Attempt::Stale);
        }
    }
    let status = success_status(target.kind.group_resource(), target.name(), &uid);
    let answer = http::json(StatusCode::OK, "application/json", &status);
    Ok(Attempt::Answered(answer))
}

/// The unsafe delete of an object whose stored document cannot be read
/// (`ignoreStoreReadErrorWithClusterBreakingPotential`): the key is removed at the revision it
/// was read at, with neither preconditions nor finalizers (they are in the unreadable
/// document), by a caller also allowed the `unsafe-delete-ignore-read-errors` verb, as
/// kube-apiserver requires.
async fn delete_unreadable(
    state: &ApiState,
    request: &WriteRequest<'_>,
    unreadable: &Unreadable,
) -> Result<Response, ApiError> {
    let target = request.target;
    let resource = target.kind.group_resource();
    let namespace = target.namespace.as_deref().unwrap_or("");
    state.auth.require(
        request.user,
        UNSAFE_DELETE_VERB,
        resource,
        "",
        namespace,
        target.name(),
    )?;
    // A dry run is refused with the option in the options themselves; one asked for only
    // in the query of a request whose body carries the option writes nothing either.
    if !request.dry_run {
        write(state, target, Write::Delete(unreadable.revision)).await?;
        tracing::warn!(key = %unreadable.key, user = %request.user.name, "deleted an unreadable stored object");
    }
    let status = success_status(resource, target.name(), "");
    Ok(http::json(StatusCode::OK, "application/json", &status))
}

/// The verb kube-apiserver authorizes an unsafe delete for, besides `delete`.
const UNSAFE_DELETE_VERB: &str = "unsafe-delete-ignore-read-errors";

/// `DELETE …/<collection>`: deletes every object the selectors match; answers with the list
/// of them as the delete left them (see `after_delete`). One object at a time, so a large
/// collection takes long: past `state.request_timeout` it stops and answers 504 saying how far
/// it got (`timed_out`), where the connection would otherwise be cut as stalled.
pub async fn delete_collection(
    state: &ApiState,
    request: &WriteRequest<'_>,
    list_options: &ListOptions,
    options: &DeleteOptions,
) -> Result<Response, ApiError> {
    if options.ignore_store_read_error {
        return Err(UnsafeDeleteMisuse::Collection.refusal());
    }
    let started = Instant::now();
    let listing = collect(state, &request.user.name, request.target, list_options).await?;
    // The read is done: the deletes are writes, and must not keep other reads waiting.
    drop(listing.turn);
    let total = listing.items.len();
    let mut deleted = Vec::new();
    for (done, object) in listing.items.into_iter().enumerate() {
        // Checked before each delete but the first, so every call makes progress.
        if done > 0 && started.elapsed() >= state.request_timeout {
            return Err(timed_out(done, total, state.request_timeout));
        }
        let one = Target {
            name: Some(object.name().to_string()),
            namespace: object.namespace().map(String::from),
            ..request.target.clone()
        };
        let one_request = WriteRequest {
            target: &one,
            ..*request
        };
        match delete(state, &one_request, options).await {
            Ok(answer) => deleted.push(after_delete(object, answer).await?),
            Err(ApiError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    let listing = super::read::Listing {
        items: deleted,
        revision: state.store.current_revision(),
        continue_token: None,
        turn: None,
    };
    render_list(request.target.kind, listing, Output::JSON)
}

/// The 504 of a `deletecollection` that ran out of time after `done` of `total` deletes
/// (kube-apiserver's request timeout answers `Timeout` too, and clients retry it).
fn timed_out(done: usize, total: usize, timeout: Duration) -> ApiError {
    ApiError::Timeout {
        message: format!(
            "the deletecollection ran past the request timeout ({}s) after deleting {done} of the \
             {total} objects it matched; send it again to delete the rest",
            timeout.as_secs()
        ),
        retry_after_seconds: 1,
    }
}

/// An object as its DELETE left it: one held by finalizers is what the DELETE answered (marked
/// with its `deletionTimestamp`, also under dryRun), one deleted outright keeps its last state
/// (the Success Status it was answered with tells no more). Reading the answer keeps the one
/// definition of a marked object in [`delete`].
async fn after_delete(listed: Presented, answer: Response) -> Result<Presented, ApiError> {
    let body = http::read_body(answer.into_body()).await?;
    let object: Value = serde_json::from_slice(&body).map_err(ApiError::internal)?;
    match object["kind"].as_str() {
        Some("Status") => Ok(listed),
        _ => Ok(Presented::Tree(object)),
    }
}

async fn mark_deleting(
    state: &ApiState,
    request: &WriteRequest<'_>,
    current: &Object,
) -> Result<Presented, ApiError> {
    if !current.value["metadata"]["deletionTimestamp"].is_null() {
        return Ok(present(state, request.target.kind, &current.value));
    }
    let mut object = (*current.value).clone();
    // kube-apiserver's `markAsDeleting`: the first mark is a change of the object's desired
    // state, so a kept generation moves on (once: a marked object returned above).
    if let Some(generation) = object["metadata"]["generation"].as_i64().filter(|g| *g > 0) {
        object["metadata"]["generation"] = json!(generation + 1);
    }
    object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
    object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    if request.dry_run {
        return Ok(present(state, request.target.kind, &object));
    }
    let target = request.target;
    let stored = write(state, target, Write::Update(object, current.revision)).await?;
    Ok(present(state, target.kind, &stored.value))
}

fn has_finalizers(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// A terminating object whose last finalizer is gone is deleted for real.
pub(super) fn is_finalized(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null() && !has_finalizers(object)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use serde_json::{json, Value};
    use tower::ServiceExt as _;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::apiserver::state::REQUEST_TIMEOUT;
    use crate::store::Store;

    const COLLECTION: &str = "/apis/image.openshift.io/v1/namespaces/shop/imagestreams";

    /// A state holding `count` streams in namespace `shop`, with `timeout` for requests.
    async fn state_with_streams(count: usize, timeout: Duration) -> ApiState {
        let mut state = ApiState::for_tests();
        state.request_timeout = timeout;
        for n in 0..count {
            let name = format!("s-{n}");
            let stream = json!({
                "apiVersion": "image.openshift.io/v1",
                "kind": "ImageStream",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {},
            });
            let key = crate::store::object_key("imagestreams", Some("shop"), &name);
            state.store.create(&key, stream).await.expect("a create");
        }
        state
    }

    /// The status and JSON body of `method path` through the API router.
    async fn call(state: &ApiState, method: &str, path: &str) -> (u16, Option<String>, Value) {
        call_with_body(state, method, path, Value::Null).await
    }

    /// [`call`] with `body` as JSON (none for `null`).
    async fn call_with_body(
        state: &ApiState,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Option<String>, Value) {
        let router = crate::apiserver::routes::router(state.clone());
        let body = match body {
            Value::Null => Body::empty(),
            json => Body::from(json.to_string()),
        };
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", ApiState::TEST_TOKEN))
            .header("content-type", "application/json")
            .body(body)
            .expect("a request");
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().expect("ASCII").to_string());
        let body = response.into_body().collect().await.expect("a body");
        let json = serde_json::from_slice(&body.to_bytes()).expect("a JSON body");
        (status, retry_after, json)
    }

    /// A store where another write of the key lands behind each of the first `stale` reads,
    /// before it returns: what the importer's status updates do to a delete in production.
    struct WrittenBehindReads {
        inner: Arc<dyn Store>,
        stale: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Store for WrittenBehindReads {
        fn current_revision(&self) -> u64 {
            self.inner.current_revision()
        }
        async fn get(&self, key: &str) -> store::Result<Object> {
            let read = self.inner.get(key).await?;
            let left = self.stale.load(Ordering::SeqCst);
            if left > 0 {
                self.stale.store(left - 1, Ordering::SeqCst);
                let mut touched = (*read.value).clone();
                touched["metadata"]["labels"] = json!({"touched": left.to_string()});
                self.inner.update(key, touched, None).await?;
            }
            Ok(read)
        }
        async fn list(
            &self,
            prefix: &str,
            options: &store::ListOptions,
        ) -> store::Result<store::ListPage> {
            self.inner.list(prefix, options).await
        }
        async fn create(&self, key: &str, value: Value) -> store::Result<Object> {
            self.inner.create(key, value).await
        }
        async fn update(
            &self,
            key: &str,
            value: Value,
            expected: Option<u64>,
        ) -> store::Result<Object> {
            self.inner.update(key, value, expected).await
        }
        async fn delete(&self, key: &str, expected: Option<u64>) -> store::Result<Object> {
            self.inner.delete(key, expected).await
        }
        async fn watch(&self, prefix: &str, after: u64) -> store::Result<store::EventStream> {
            self.inner.watch(prefix, after).await
        }
        async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> store::Result<u64> {
            self.inner.wait_for_revision(revision, timeout).await
        }
    }

    /// `state` with another write landing behind each of its store's first `stale` reads.
    fn written_behind(mut state: ApiState, stale: usize) -> ApiState {
        state.store = Arc::new(WrittenBehindReads {
            inner: state.store.clone(),
            stale: AtomicUsize::new(stale),
        });
        state
    }

    #[tokio::test]
    async fn a_delete_whose_object_changes_after_it_is_read_reads_it_again_and_deletes_it() {
        let path = format!("{COLLECTION}/s-0");
        let state = written_behind(state_with_streams(1, REQUEST_TIMEOUT).await, 3);
        let (status, _, body) = call(&state, "DELETE", &path).await;
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("Success")),
            "{body}"
        );
        let (status, _, body) = call(&state, "GET", &path).await;
        assert_eq!(status, 404, "{body}");

        // A collection likewise: every stream written behind its read is deleted all the same.
        let state = written_behind(state_with_streams(4, REQUEST_TIMEOUT).await, 4);
        let (status, _, body) = call(&state, "DELETE", COLLECTION).await;
        assert_eq!(status, 200, "{body}");
        let (_, _, left) = call(&state, "GET", COLLECTION).await;
        assert_eq!(left["items"], json!([]), "{left}");

        // Writes behind every read: the delete gives up after its attempts with the 409.
        let state = written_behind(state_with_streams(1, REQUEST_TIMEOUT).await, usize::MAX);
        let (status, _, body) = call(&state, "DELETE", &path).await;
        assert_eq!(
            (status, &body["reason"]),
            (409, &json!("Conflict")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_delete_read_again_checks_the_callers_preconditions_again() {
        let path = format!("{COLLECTION}/s-0");
        let state = state_with_streams(1, REQUEST_TIMEOUT).await;
        let (_, _, read) = call(&state, "GET", &path).await;
        let version = read["metadata"]["resourceVersion"].clone();
        // The write behind the delete's read moves the version the caller named: 409.
        let state = written_behind(state, 1);
        let named = json!({"preconditions": {"resourceVersion": version}});
        let (status, _, body) = call_with_body(&state, "DELETE", &path, named).await;
        assert_eq!(
            (status, &body["reason"]),
            (409, &json!("Conflict")),
            "{body}"
        );
        let (status, _, body) = call(&state, "GET", &path).await;
        assert_eq!(status, 200, "not deleted: {body}");
    }

    #[tokio::test]
    async fn a_deletecollection_past_the_request_timeout_answers_504_saying_how_far_it_got() {
        let state = state_with_streams(5, Duration::ZERO).await;
        let (status, retry_after, body) = call(&state, "DELETE", COLLECTION).await;
        assert_eq!(status, 504, "{body}");
        assert_eq!(body["reason"], "Timeout");
        assert_eq!(retry_after.as_deref(), Some("1"));
        let message = body["message"].as_str().expect("a message");
        assert!(
            message.contains("after deleting 1 of the 5 objects it matched; send it again"),
            "{message}"
        );
        let (_, _, left) = call(&state, "GET", COLLECTION).await;
        assert_eq!(left["items"].as_array().map(Vec::len), Some(4), "{left}");

        let mut patient = state.clone();
        patient.request_timeout = REQUEST_TIMEOUT;
        let (status, _, deleted) = call(&patient, "DELETE", COLLECTION).await;
        assert_eq!(status, 200, "{deleted}");
        assert_eq!(deleted["items"].as_array().map(Vec::len), Some(4));
        let (_, _, left) = call(&state, "GET", COLLECTION).await;
        assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{left}");
    }
}
