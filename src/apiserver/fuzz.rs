//! The API answers whatever a client writes with the stream as stored or a `Status`, never a
//! 500: property tests that create, replace, patch (merge, strategic merge, JSON patch,
//! server-side apply) and write the status of image streams with arbitrary stream-shaped
//! bodies ([`generate`]: every member of the schema absent, of its type with values from the
//! edges of validation, or of another type) through the router `serve` builds, over an
//! in-memory store.
//!
//! A refusal must be a `Status` whose `code` is the HTTP status, with a reason and a message;
//! an acceptance must be the stream as stored, which a GET then answers at the same
//! resourceVersion.

mod generate;

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use tower::ServiceExt;

use self::generate::{write, Write};
use super::routes::router;
use super::state::{ApiState, Auth};
use crate::auth::TokenAuthenticator;

const CASES: u32 = 3_000;
const TOKEN: &str = "fuzz-token";
const STREAMS: &str = "/apis/image.openshift.io/v1/namespaces/fz/imagestreams";

fn state() -> ApiState {
    let store = crate::store::EmbeddedStore::in_memory(Default::default()).expect("a store");
    let tokens = TokenAuthenticator::parse(&format!("{TOKEN},admin,1,\"system:masters\""))
        .expect("a token line");
    ApiState {
        store: Arc::new(store),
        strategy: Default::default(),
        index: crate::live_index::LiveIndex::serving(Default::default()),
        auth: Arc::new(Auth {
            tokens,
            policy: None,
        }),
        metrics: Arc::new(crate::metrics::Metrics::new()),
        server_address: "127.0.0.1:1".into(),
        encoded: Default::default(),
        draining: Default::default(),
        pull_secrets: Default::default(),
        imports: Default::default(),
        watches: Default::default(),
    }
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
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The method, path and content type of `write`.
fn request(write: &Write, validation: Option<&str>) -> (&'static str, String, &'static str) {
    let stream = |status: bool| match status {
        true => format!("{STREAMS}/s/status"),
        false => format!("{STREAMS}/s"),
    };
    let (method, path, content_type) = match write {
        Write::Create(_) => ("POST", STREAMS.to_string(), "application/json"),
        Write::Replace { status, .. } => ("PUT", stream(*status), "application/json"),
        Write::Patch {
            status,
            content_type,
            ..
        } => ("PATCH", stream(*status), *content_type),
    };
    let mut query = vec!["fieldManager=fuzz".to_string()];
    query.extend(validation.map(|v| format!("fieldValidation={v}")));
    (method, format!("{path}?{}", query.join("&")), content_type)
}

/// What every answer must be: a `Status` for a refusal, the stream for an acceptance.
async fn check(router: &Router, status: u16, answer: &Value) -> Result<(), String> {
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
    let name = answer["metadata"]["name"].as_str().unwrap_or_default();
    let version = &answer["metadata"]["resourceVersion"];
    if answer["kind"] != "ImageStream" || name.is_empty() || !version.is_string() {
        return Err(format!("{status} is not a stored stream: {answer}"));
    }
    let (read, stored) = call(
        router,
        "GET",
        &format!("{STREAMS}/{name}"),
        "",
        &Value::Null,
    )
    .await;
    match read == 200 && stored["metadata"]["resourceVersion"] == *version {
        true => Ok(()),
        false => Err(format!("written as {answer}, read back as {read} {stored}")),
    }
}

#[test]
fn writes_of_any_stream_shaped_body_are_answered_with_the_stream_or_a_status() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let router = router(state());
    let base = json!({"metadata": {"name": "s"}, "spec": {"tags": [
        {"name": "1", "from": {"kind": "DockerImage", "name": "quay.io/o/app:1"}}]}});
    let (created, answer) =
        runtime.block_on(call(&router, "POST", STREAMS, "application/json", &base));
    assert_eq!(created, 201, "{answer}");
    // `PROPTEST_CASES` overrides the count for a longer run.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&write(), |(write, validation)| {
        let (method, uri, content_type) = request(&write, validation);
        let (body, current) = match &write {
            Write::Replace { body, current, .. } => (body, *current),
            Write::Create(body) | Write::Patch { body, .. } => (body, false),
        };
        runtime
            .block_on(async {
                let mut body = body.clone();
                if current && body["metadata"].is_object() {
                    let stream = format!("{STREAMS}/s");
                    let (_, stored) = call(&router, "GET", &stream, "", &Value::Null).await;
                    let version = stored["metadata"]["resourceVersion"].clone();
                    body["metadata"]["resourceVersion"] = version;
                }
                let (status, answer) = call(&router, method, &uri, content_type, &body).await;
                check(&router, status, &answer).await
            })
            .map_err(|failure| {
                proptest::test_runner::TestCaseError::fail(format!("{method} {uri}: {failure}"))
            })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
