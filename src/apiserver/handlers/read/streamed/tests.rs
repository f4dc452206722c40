use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::*;
use crate::apiserver::fields::FieldSelector;
use crate::apiserver::handlers::read::{collect, render_list};
use crate::apiserver::list_gate::ListGate;
use crate::apiserver::options::ListRead;
use crate::apiserver::selector::LabelSelector;
use crate::store::{EmbeddedOptions, EmbeddedStore};

/// More streams than one batch of the store holds, so that a list spans three batches.
const STREAMS: usize = 1_234;

/// A state over an in-memory store keeping `history` revisions, holding [`STREAMS`] streams
/// in namespaces `ns-0` and `ns-1`; every seventh is labelled `pick=yes`, and only streams
/// past the first thousand `late=yes`.
async fn state_with_streams(history: usize) -> ApiState {
    state_with_streams_of(STREAMS, history).await
}

/// [`state_with_streams`] with `count` streams.
async fn state_with_streams_of(count: usize, history: usize) -> ApiState {
    let options = EmbeddedOptions {
        history_limit: history,
        ..EmbeddedOptions::default()
    };
    let mut state = ApiState::for_tests();
    state.store = Arc::new(EmbeddedStore::in_memory(options).expect("a store"));
    for n in 0..count {
        let (namespace, name) = (format!("ns-{}", n % 2), format!("s-{n:05}"));
        let labels = json!({
            "pick": if n % 7 == 0 { "yes" } else { "no" },
            "late": if n >= 1_000 { "yes" } else { "no" },
        });
        let stream = json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"lookupPolicy": {"local": n % 3 == 0}},
        });
        let key = crate::store::object_key("imagestreams", Some(&namespace), &name);
        state.store.create(&key, stream).await.expect("a create");
    }
    state
}

const COLLECTION: &str = "/apis/image.openshift.io/v1/imagestreams";

fn get(path: &str) -> axum::http::Request<Body> {
    axum::http::Request::get(path)
        .header("authorization", format!("Bearer {}", ApiState::TEST_TOKEN))
        .body(Body::empty())
        .expect("a request")
}

/// The list at `path` and how many frames its body came in.
async fn list_frames(state: &ApiState, path: &str) -> (Vec<u8>, usize) {
    let router = crate::apiserver::routes::router(state.clone());
    let response = router.oneshot(get(path)).await.expect("infallible");
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let mut body = response.into_body();
    let (mut bytes, mut frames) = (Vec::new(), 0);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("a whole body").into_data() {
            bytes.extend_from_slice(&data);
            frames += 1;
        }
    }
    (bytes, frames)
}

/// The same list built whole, as lists were before they were written as read.
async fn built_whole(state: &ApiState, selector: Option<&str>) -> Vec<u8> {
    let target = Target {
        kind: Kind::ImageStream,
        namespace: None,
        name: None,
        subresource: None,
    };
    let options = ListOptions {
        label_selector: LabelSelector::parse(selector.unwrap_or("")).expect("a selector"),
        field_selector: FieldSelector::default(),
        limit: None,
        read: ListRead::Latest,
        timeout_seconds: None,
    };
    let listing = collect(state, "admin", &target, &options)
        .await
        .expect("a listing");
    let response = render_list(Kind::ImageStream, listing, Output::JSON).expect("a body");
    let body = response.into_body().collect().await.expect("a body");
    body.to_bytes().to_vec()
}

#[tokio::test]
async fn a_list_larger_than_a_batch_is_written_in_chunks_with_the_bytes_of_one_built_whole() {
    let state = state_with_streams(10_000).await;
    let cases = [
        (None, STREAMS),
        (Some("pick=yes"), STREAMS.div_ceil(7)),
        // Matches only in the last batch: the batches before it write nothing.
        (Some("late=yes"), STREAMS - 1_000),
        (Some("pick=never"), 0),
    ];
    for (selector, count) in cases {
        let path = match selector {
            Some(selector) => format!("{COLLECTION}?labelSelector={selector}"),
            None => COLLECTION.to_string(),
        };
        let (streamed, frames) = list_frames(&state, &path).await;
        assert!(frames > 1, "{path}: one frame, so not written as read");
        let list: Value = serde_json::from_slice(&streamed).expect("a list");
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(count),
            "{path}"
        );
        assert_eq!(list["metadata"]["resourceVersion"], STREAMS.to_string());
        let whole = built_whole(&state, selector).await;
        assert!(
            streamed == whole,
            "{path}: the bytes differ from the list built whole"
        );
    }
}

#[tokio::test]
async fn a_list_within_one_batch_is_one_body_and_limited_lists_are_built_whole() {
    let state = state_with_streams(10_000).await;
    for name in ["a", "b", "c"] {
        let key = crate::store::object_key("imagestreams", Some("small"), name);
        let stream = json!({"metadata": {"name": name, "namespace": "small"}});
        state.store.create(&key, stream).await.expect("a create");
    }
    let namespace = "/apis/image.openshift.io/v1/namespaces/small/imagestreams";
    let (one, frames) = list_frames(&state, namespace).await;
    assert_eq!(
        frames, 1,
        "three streams are one batch, written in one body"
    );
    let list: Value = serde_json::from_slice(&one).expect("a list");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));

    let (page, frames) = list_frames(&state, &format!("{COLLECTION}?limit=900")).await;
    assert_eq!(frames, 1);
    let page: Value = serde_json::from_slice(&page).expect("a list");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(900));
    assert!(
        page["metadata"]["continue"].is_string(),
        "{}",
        page["metadata"]
    );
}

/// Lists every stream of `state` in compact JSON while 300 writes push the list's revision
/// out of the store's 100-revision history window between its first and its later batches;
/// the body read after them, and whether it ended in an error.
async fn list_under_a_flood_of_writes(state: &ApiState) -> (Vec<u8>, bool) {
    let router = crate::apiserver::routes::router(state.clone());
    let response = router.oneshot(get(COLLECTION)).await.expect("infallible");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    // Seven batches: the list's writer reads at most two ahead of what its client took.
    let first = body.frame().await.expect("a first frame").expect("data");
    let mut read = first.into_data().expect("data").to_vec();
    assert!(read.starts_with(b"{\"kind\":\"ImageStreamList\""));
    for n in 0..300 {
        let key = crate::store::object_key("imagestreams", Some("ns-0"), "s-00000");
        let mut stream = (*state.store.get(&key).await.expect("a stream").value).clone();
        stream["metadata"]["annotations"] = json!({"n": n.to_string()});
        state
            .store
            .update(&key, stream, None)
            .await
            .expect("an update");
    }
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => read.extend_from_slice(&frame.into_data().unwrap_or_default()),
            Err(_) => return (read, true),
        }
    }
    (read, false)
}

#[tokio::test]
async fn a_list_outlives_the_history_window_on_the_store_s_pinned_view_of_its_revision() {
    let state = state_with_streams_of(3_456, 100).await;
    let revision = state.store.current_revision();
    let (body, failed) = list_under_a_flood_of_writes(&state).await;
    assert!(!failed, "the list was cut off");
    let list: Value = serde_json::from_slice(&body).expect("a whole list");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3_456));
    assert_eq!(list["metadata"]["resourceVersion"], revision.to_string());
    // As of its revision: none of the writes made while it was sent.
    let first = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["metadata"]["name"] == "s-00000")
        .unwrap();
    assert!(first["metadata"].get("annotations").is_none(), "{first}");
}

#[tokio::test]
async fn a_list_whose_revision_leaves_the_history_window_without_a_pinned_view_is_cut_off() {
    let mut state = state_with_streams_of(3_456, 100).await;
    // As on etcd, which pins nothing (its history lasts until compaction).
    state.store = Arc::new(crate::store::fixtures::Unpinned(state.store.clone()));
    let (rest, failed) = list_under_a_flood_of_writes(&state).await;
    assert!(failed, "the body ended normally after {} bytes", rest.len());
    assert!(!rest.ends_with(LIST_TAIL), "the list was closed");
}

/// The rest of a list's body, which must end well.
async fn rest_of(body: Body) -> axum::body::Bytes {
    let rest = body.collect().await.expect("the rest of the list");
    rest.to_bytes()
}

/// A second user's token in [`with_two_users`].
const OTHER_TOKEN: &str = "other-user-token";

/// `state` with a gate of one turn (each user holds one place), and a second user.
fn with_two_users(mut state: ApiState) -> ApiState {
    state.lists = ListGate::new(1, Duration::from_secs(5));
    let tokens = format!(
        "{},admin,1,\"system:masters\"\n{OTHER_TOKEN},other,2,\"system:masters\"",
        ApiState::TEST_TOKEN
    );
    state.auth = Arc::new(crate::apiserver::state::Auth {
        tokens: crate::auth::TokenAuthenticator::parse(&tokens).expect("token lines"),
        policy: None,
    });
    state
}

fn get_as(token: &str, path: &str) -> axum::http::Request<Body> {
    axum::http::Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request")
}

#[tokio::test(start_paused = true)]
async fn a_list_holds_its_users_place_but_no_turn_of_the_gate_between_batches() {
    let state = with_two_users(state_with_streams(10_000).await);
    let router = crate::apiserver::routes::router(state.clone());
    let response = router
        .clone()
        .oneshot(get(COLLECTION))
        .await
        .expect("infallible");
    let mut body = response.into_body();
    body.frame().await.expect("a first frame").expect("data");

    let page = "/apis/image.openshift.io/v1/namespaces/ns-1/imagestreams?limit=10";
    let other = router
        .clone()
        .oneshot(get_as(OTHER_TOKEN, page))
        .await
        .expect("infallible");
    assert_eq!(
        other.status(),
        200,
        "the gate's one turn is free between batches"
    );
    let same = router.oneshot(get(page)).await.expect("infallible");
    assert_eq!(
        same.status(),
        429,
        "the list holds its user's one place to its end"
    );

    assert!(rest_of(body).await.ends_with(LIST_TAIL));
}

#[tokio::test(start_paused = true)]
async fn a_lists_later_batches_wait_for_a_turn_of_the_gate() {
    let state = with_two_users(state_with_streams(10_000).await);
    let router = crate::apiserver::routes::router(state.clone());
    let response = router.oneshot(get(COLLECTION)).await.expect("infallible");
    let held = state.lists.turn("other").await.expect("the free turn");
    let mut body = response.into_body();
    body.frame().await.expect("a first frame").expect("data");
    let waited = tokio::time::timeout(Duration::from_secs(30), body.frame()).await;
    assert!(
        waited.is_err(),
        "a later batch was read while another read held the turn"
    );
    drop(held);
    assert!(rest_of(body).await.ends_with(LIST_TAIL));
}

#[tokio::test(start_paused = true)]
async fn a_list_its_client_does_not_take_within_a_minute_is_cut_off() {
    let state = state_with_streams(10_000).await;
    let router = crate::apiserver::routes::router(state.clone());
    let response = router.oneshot(get(COLLECTION)).await.expect("infallible");
    let long_running = response.extensions().get::<crate::server::LongRunning>();
    assert!(
        long_running.is_some(),
        "the connection counts as busy while the list is written"
    );
    let mut body = response.into_body();
    tokio::time::sleep(WRITE_WITHIN + Duration::from_secs(1)).await;
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the list ended as a whole one");
}

#[tokio::test]
async fn an_image_stream_tag_list_holds_the_tags_of_every_batch_of_streams() {
    let state = ApiState::for_tests();
    let digest = format!("sha256:{}", "a".repeat(64));
    for n in 0..1_100 {
        let name = format!("s-{n:04}");
        let stream = json!({
            "metadata": {"name": name, "namespace": "tags"},
            "status": {"tags": [{"tag": "v1", "items": [{
                "created": "2026-01-01T00:00:00Z",
                "dockerImageReference": format!("quay.io/org/{name}@{digest}"),
                "image": digest,
                "generation": 1,
            }]}]},
        });
        let key = crate::store::object_key("imagestreams", Some("tags"), &name);
        state.store.create(&key, stream).await.expect("a create");
    }
    let path = "/apis/image.openshift.io/v1/namespaces/tags/imagestreamtags";
    let (body, _) = list_frames(&state, path).await;
    let list: Value = serde_json::from_slice(&body).expect("a list");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|istag| istag["metadata"]["name"].as_str().unwrap_or(""))
        .collect();
    let expected: Vec<String> = (0..1_100).map(|n| format!("s-{n:04}:v1")).collect();
    assert!(names == expected, "{} image stream tags", names.len());
    assert_eq!(list["metadata"]["resourceVersion"], "1100");
}
