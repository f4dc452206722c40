//! The API answers whatever a client writes with the object as stored or a `Status`, never a
//! 500: property tests that create, replace and patch (merge, strategic merge, JSON patch,
//! server-side apply) image streams and their status, image stream tags and pull secrets, and
//! create image stream imports, with arbitrary bodies ([`generate`]: every member of the
//! schema absent, of its type with values from the edges of validation, or of another type)
//! through the router `serve` builds, over an in-memory store.
//!
//! A refusal must be a `Status` whose `code` is the HTTP status, with a reason and a message;
//! an acceptance must be the object as stored, which a GET then answers at the same
//! resourceVersion (an import, an action, must answer how each image went).

mod generate;

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use self::generate::{read, write, Resource, Write};
use super::routes::router;
use super::state::ApiState;

const CASES: u32 = 3_000;
const TOKEN: &str = ApiState::TEST_TOKEN;
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const APP: &str =
    "quay.io/o/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn state() -> ApiState {
    ApiState::for_tests()
}

/// Sends one request: the status code and the body as JSON (`Value::Null` when it is not).
async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &Value,
) -> (u16, Value) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", content_type)
        .body(Body::from(serde_json::to_vec(body).expect("JSON")))
        .expect("a request");
    let (status, body) = answer(router, request).await;
    (status, body.unwrap_or(Value::Null))
}

/// Sends `request`: the status, and the body as JSON unless it is not JSON or the answer is a
/// watch's stream (left unread: it ends only at its timeout).
async fn answer(router: &Router, request: axum::http::Request<Body>) -> (u16, Option<Value>) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    if response
        .extensions()
        .get::<crate::server::LongRunning>()
        .is_some()
    {
        return (status, None);
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).ok())
}

/// The method, path and content type of `write` to `resource`.
fn request(
    resource: Resource,
    write: &Write,
    validation: Option<&str>,
) -> (&'static str, String, &'static str) {
    let collection = resource.collection();
    let base = |status: bool| match status {
        true => format!("{collection}/{}/status", resource.base()),
        false => format!("{collection}/{}", resource.base()),
    };
    let (method, path, content_type) = match write {
        Write::Create(_) => ("POST", collection.to_string(), "application/json"),
        Write::Replace { status, .. } => ("PUT", base(*status), "application/json"),
        Write::Patch {
            status,
            content_type,
            ..
        } => ("PATCH", base(*status), *content_type),
    };
    let mut query = vec!["fieldManager=fuzz".to_string()];
    query.extend(validation.map(|v| format!("fieldValidation={v}")));
    (method, format!("{path}?{}", query.join("&")), content_type)
}

/// What every answer must be: a `Status` for a refusal, the object as stored for an
/// acceptance, which a GET reads back at the same resourceVersion.
async fn check(
    router: &Router,
    resource: Resource,
    status: u16,
    answer: &Value,
) -> Result<(), String> {
    if status >= 500 || answer.is_null() {
        return Err(format!("{status}: {answer}"));
    }
    if status >= 400 {
        let reason = answer["reason"].as_str().unwrap_or_default();
        let message = answer["message"].as_str().unwrap_or_default();
        let a_status = answer["kind"] == "Status" && answer["code"] == status;
        return match a_status && !reason.is_empty() && !message.is_empty() {
            true => Ok(()),
            false => Err(format!("{status} is not a Status with a reason: {answer}")),
        };
    }
    // An import is an action, not a stored object: its answer says how each image went.
    if matches!(resource, Resource::Imports) {
        return match answer["kind"] == resource.kind() && answer["status"].is_object() {
            true => Ok(()),
            false => Err(format!("{status} is not an import's answer: {answer}")),
        };
    }
    let name = answer["metadata"]["name"].as_str().unwrap_or_default();
    let version = &answer["metadata"]["resourceVersion"];
    if answer["kind"] != resource.kind() || name.is_empty() || !version.is_string() {
        return Err(format!(
            "{status} is not a stored {}: {answer}",
            resource.kind()
        ));
    }
    let escaped = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    let path = format!("{}/{escaped}", resource.collection());
    let (read, stored) = call(router, "GET", &path, "", &Value::Null).await;
    // A tag written without an image yet is answered by the write with an empty image, as
    // OpenShift's `newISTag(…, allowEmptyEvent)` does, but a GET finds no image stream tag.
    let image = answer["image"]["metadata"]["name"]
        .as_str()
        .unwrap_or_default();
    let imageless_tag = matches!(resource, Resource::Tags) && image.is_empty();
    if imageless_tag {
        return match read == 404 && stored["reason"] == "NotFound" {
            true => Ok(()),
            false => Err(format!("a tag without image read back as {read} {stored}")),
        };
    }
    match read == 200 && stored["metadata"]["resourceVersion"] == *version {
        true => Ok(()),
        false => Err(format!("written as {answer}, read back as {read} {stored}")),
    }
}

/// The router over a store holding the objects replaces and patches address: stream `s`, whose
/// tag `1` has an imported image (so that its image stream tag can be read), and the pull
/// secret `pull`.
fn seeded_router(runtime: &tokio::runtime::Runtime) -> Router {
    // The registry client of imports is built with rustls, as `serve` builds it.
    crate::tls::install_crypto_provider();
    let state = state();
    let image = json!({"apiVersion": "image.openshift.io/v1", "kind": "Image",
                       "metadata": {"name": DIGEST}, "dockerImageReference": APP});
    let image_key = crate::store::object_key("images", None, DIGEST);
    runtime
        .block_on(state.store.create(&image_key, image))
        .expect("the image is stored");
    let router = router(state);
    let stream = json!({"metadata": {"name": "s"}, "spec": {"tags": [
        {"name": "1", "from": {"kind": "DockerImage", "name": "quay.io/o/app:1"}}]}});
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"},
                        "type": "kubernetes.io/dockerconfigjson",
                        "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}});
    for (resource, base) in [(Resource::Streams, stream), (Resource::Secrets, secret)] {
        let collection = resource.collection();
        let created =
            runtime.block_on(call(&router, "POST", collection, "application/json", &base));
        assert_eq!(created.0, 201, "{}", created.1);
    }
    let event = json!({"created": "2026-01-01T00:00:00Z", "dockerImageReference": APP,
                       "image": DIGEST, "generation": 1});
    let stored = runtime.block_on(async {
        let path = format!("{}/s", Resource::Streams.collection());
        let (_, mut current) = call(&router, "GET", &path, "", &Value::Null).await;
        current["status"]["tags"] = json!([{"tag": "1", "items": [event]}]);
        let status = format!("{path}/status");
        call(&router, "PUT", &status, "application/json", &current)
            .await
            .1
    });
    assert_eq!(
        stored["status"]["tags"][0]["items"][0]["image"], DIGEST,
        "{stored}"
    );
    router
}

/// Sends one generated write, as a client would (a replace with the stored resourceVersion
/// when it asks for it), and checks the answer.
async fn send(
    router: &Router,
    resource: Resource,
    write: &Write,
    validation: Option<&str>,
) -> Result<(), String> {
    let (method, uri, content_type) = request(resource, write, validation);
    let (body, current) = match write {
        Write::Replace { body, current, .. } => (body, *current),
        Write::Create(body) | Write::Patch { body, .. } => (body, false),
    };
    let mut body = body.clone();
    if current && body["metadata"].is_object() {
        let base = format!("{}/{}", resource.collection(), resource.base());
        let (_, stored) = call(router, "GET", &base, "", &Value::Null).await;
        body["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"].clone();
    }
    let (status, answer) = call(router, method, &uri, content_type, &body).await;
    check(router, resource, status, &answer)
        .await
        .map_err(|failure| format!("{method} {uri}: {failure}"))
}

#[test]
fn writes_of_any_body_are_answered_with_the_object_as_stored_or_a_status() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let router = seeded_router(&runtime);
    crate::property::run_cases(write(), CASES, |(resource, write, validation)| {
        runtime.block_on(send(&router, resource, &write, validation))
    });
}

/// GETs `uri` accepting `accept` (see [`answer`]).
async fn get(router: &Router, uri: &str, accept: &str) -> (u16, Option<Value>) {
    let request = axum::http::Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", accept)
        .body(Body::empty())
        .expect("a request");
    answer(router, request).await
}

#[test]
fn reads_with_any_list_and_watch_parameters_are_answered_or_refused_with_a_status() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let router = seeded_router(&runtime);
    crate::property::run_cases(read(), CASES, |(uri, accept)| {
        let (status, body) = runtime.block_on(get(&router, &uri, accept));
        let refused_as_a_status = |body: &Value| {
            body["kind"] == "Status" && body["code"] == status && body["reason"].is_string()
        };
        match (status, &body) {
            (500.., _) => Err(format!("GET {uri} ({accept}): {status} {body:?}")),
            (400.., Some(body)) if refused_as_a_status(body) => Ok(()),
            (400.., _) => Err(format!(
                "GET {uri} ({accept}): {status} is not a Status: {body:?}"
            )),
            // YAML and protobuf answers are not JSON; a watch's stream is not read.
            _ => Ok(()),
        }
    });
}
