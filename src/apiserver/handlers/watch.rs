//! WATCH: newline-delimited events, flushed one by one.
//!
//! A task per watch reads the store's event stream, applies the selectors (an update that
//! moves an object out of the selection becomes DELETED of its last matching state, into it
//! ADDED), renders each event in the negotiated form (plain JSON objects are encoded once for
//! all watchers, see [`EncodedObjects`](crate::apiserver::encoded::EncodedObjects)), and ends
//! the stream on timeout, client disconnect, the server starting to drain (so a shutdown does
//! not wait for watches; both also while a send waits on a client that stopped reading), or a
//! store error — which is sent in-band as an ERROR event carrying
//! the Status (410 for an expired revision or a watcher that fell behind), never skipped
//! silently.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use jiff::Timestamp;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::read::{present, Batch, Batches};
use super::Target;
use crate::api::ImageStream;
use crate::apiserver::error::ApiError;
use crate::apiserver::negotiate::{Form, Output};
use crate::apiserver::options::{ListOptions, ListRead, WatchOptions, WatchStart};
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::{decode, Kind};
use crate::apiserver::state::ApiState;
use crate::apiserver::table;
use crate::apiserver::watch_quota::WatchPermit;
use crate::server::LongRunning;
use crate::store::{Event, EventKind, EventStream, Object, WatchProgress};

/// How long a watch runs at least when the client names no `timeoutSeconds`: kube-apiserver
/// picks 30–60 minutes at random (its `--min-request-timeout` times 1 to 2), so that watches
/// opened together, after a rollout, do not all end and list again together.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How often a BOOKMARK is sent to clients that allow them.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

/// Appended to a key in the shared encodings for the previous state of an object leaving a
/// selection, so it never stands in for the new state other watchers send at that revision.
/// No store key holds a NUL.
const PREVIOUS_STATE: &str = "\0previous";

/// `GET …?watch=true`.
pub async fn watch(
    state: ApiState,
    target: Target,
    options: WatchOptions,
    output: Output,
    permit: WatchPermit,
) -> Result<Response, ApiError> {
    let start = options.start();
    let (initial, from) = initial_state(&state, permit.user(), &target, &options, start).await?;
    let watched = match reached(&state, start).await {
        Ok(()) => {
            state
                .store
                .watch_with_progress(&target.prefix(), from)
                .await
        }
        Err(error) => Err(error),
    };
    let (events, progress) = match watched {
        Ok((events, progress)) => (Ok(events), progress),
        Err(error) => (Err(error), WatchProgress::starting_at(from)),
    };
    // Read once the watch is open: a rewind after it ends the watch, so every event it
    // delivers belongs to this epoch.
    let epoch = state.store.revision_epoch();
    let (events_tx, events_rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(64);
    let deadline = deadline_after(watch_timeout(&options));
    let (response, producing) = streaming(events_rx);
    let session = Session {
        _producing: producing,
        deadline,
        _permit: permit,
        epoch,
        state,
        kind: target.kind,
        options,
        output,
        last_revision: from,
        progress,
        sent_columns: false,
        tx: events_tx,
    };
    let end_bookmark = matches!(start, WatchStart::InitialEvents { .. });
    tokio::spawn(session.run(initial, end_bookmark, events));
    Ok(response)
}

/// The response streaming what `rx` receives, marked long-running, and the guard whose drop
/// tells its connection that the watch has ended.
fn streaming(rx: mpsc::Receiver<Result<Bytes, std::convert::Infallible>>) -> (Response, Producing) {
    long_running_json(ReceiverStream::new(rx))
}

/// A 200 of JSON whose body is `body`, marked long-running (its connection busy) until the
/// returned guard, held by whatever produces the body, is dropped.
pub(in crate::apiserver::handlers) fn long_running_json<S, E>(body: S) -> (Response, Producing)
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<axum::BoxError> + 'static,
{
    let long_running = LongRunning::default();
    let mut response = Body::from_stream(body).into_response();
    *response.status_mut() = StatusCode::OK;
    response.extensions_mut().insert(long_running.clone());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (response, Producing(long_running))
}

/// A watch of a collection that never has an object (events): no object is ever sent, and the
/// stream ends as [`watch`]'s does, after `timeout_seconds` (or the same default), when the
/// client leaves or when the server starts draining. A plain list would not do: clients
/// decode the body as watch events and fail. BOOKMARKs come as on any watch, at the store's
/// revision: the end of the (empty) initial events for `sendInitialEvents=true`, which
/// watch-list clients wait for, and one every half minute when `allowWatchBookmarks` is set.
pub fn empty(state: &ApiState, options: &WatchOptions, permit: WatchPermit) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(1);
    let deadline = deadline_after(watch_timeout(options));
    let draining = state.draining.clone();
    let store = state.store.clone();
    let (initial_events, bookmarks_allowed) = (
        options.send_initial_events == Some(true),
        options.allow_watch_bookmarks,
    );
    let (response, producing) = streaming(rx);
    tokio::spawn(async move {
        let _permit = permit;
        let _producing = producing;
        let bookmark = |end: bool| line(&bookmark("Event", "v1", store.current_revision(), end));
        let push = |line| push_until(&tx, line, deadline, &draining);
        if initial_events && !push(bookmark(true)).await {
            return;
        }
        let mut bookmarks = bookmark_ticks();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                () = tx.closed() => return,
                () = draining.raised() => return,
                _ = bookmarks.tick(), if bookmarks_allowed => {
                    if !push(bookmark(false)).await { return; }
                }
            }
        }
    });
    response
}

/// How long a watch lasts: its `timeoutSeconds`, else kube-apiserver's default, 30–60 minutes.
fn watch_timeout(options: &WatchOptions) -> Duration {
    options.timeout_seconds.map_or_else(
        || DEFAULT_TIMEOUT.mul_f64(1.0 + rand::random::<f64>()),
        Duration::from_secs,
    )
}

/// Ticks every [`BOOKMARK_INTERVAL`], the first one interval from now.
fn bookmark_ticks() -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(BOOKMARK_INTERVAL);
    ticks.reset();
    // After a send that waited on a slow reader, one bookmark, not one per tick missed.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticks
}

/// A BOOKMARK event for a watch of `kind` at `revision`, marking the end of the initial events
/// when `initial_events_end`.
fn bookmark(kind: &str, api_version: &str, revision: u64, initial_events_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
    json!({"type": "BOOKMARK", "object": object})
}

/// `event` as one line of a watch stream.
fn line(event: &Value) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Waits, as a get or list does, until the store has reached the revision a watch continues
/// from: a watch opened at a revision the store never reaches (an informer's own, after etcd was
/// restored from a backup without `--bump-revision`) would otherwise stay silent until the store
/// passes it, every change until then lost to the client. Past the wait, kube-apiserver's
/// `Too large resource version` in-band, which client-go answers with a fresh list.
async fn reached(state: &ApiState, start: WatchStart) -> crate::store::Result<()> {
    match start {
        WatchStart::After(revision) if revision > state.store.current_revision() => state
            .store
            .wait_for_revision(revision, super::read::WAIT_FOR_REVISION)
            .await
            .map(drop),
        _ => Ok(()),
    }
}

/// The synthetic initial events and the revision the watch continues from.
async fn initial_state(
    state: &ApiState,
    user: &str,
    target: &Target,
    options: &WatchOptions,
    start: WatchStart,
) -> Result<(InitialEvents, u64), ApiError> {
    let read = match start {
        WatchStart::Now => return Ok((InitialEvents::none(), state.store.current_revision())),
        WatchStart::After(revision) => return Ok((InitialEvents::none(), revision)),
        WatchStart::Snapshot => ListRead::Latest,
        WatchStart::InitialEvents { not_older_than } => {
            not_older_than.map_or(ListRead::Latest, ListRead::NotOlderThan)
        }
    };
    let list_options = ListOptions {
        label_selector: options.label_selector.clone(),
        field_selector: options.field_selector.clone(),
        limit: None,
        read,
        timeout_seconds: None,
    };
    let (mut batches, first, revision) =
        Batches::start_with(state, user, target, &list_options, |batch| batch).await?;
    batches.release_place();
    batches.unpin();
    let rest = (!batches.done()).then(|| LaterBatches {
        batches,
        target: target.clone(),
        options: list_options,
    });
    Ok((InitialEvents { first, rest }, revision))
}

/// A watch's initial events: the first batch, read before the watch is answered (so that a bad
/// `resourceVersion` gets its Status), and the batches after it, read as the events are sent.
struct InitialEvents {
    first: Batch,
    rest: Option<LaterBatches>,
}

/// The batches of the initial events after the first, and what reading them takes.
struct LaterBatches {
    batches: Batches,
    target: Target,
    options: ListOptions,
}

impl InitialEvents {
    /// No initial events.
    fn none() -> Self {
        Self {
            first: Vec::new(),
            rest: None,
        }
    }
}

/// Tells the connection, when dropped, that a watch has nothing more to send: a client that
/// stopped reading then keeps its connection busy for the stall time only (see
/// [`LongRunning`]).
pub(in crate::apiserver::handlers) struct Producing(LongRunning);

impl Drop for Producing {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// `timeout` from now, at most a century: a `timeoutSeconds` too large for the clock is a watch
/// without end (tokio adds to a deadline again when it arms the timer).
fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    tokio::time::Instant::now() + timeout.min(CENTURY)
}

/// Queues one line for the client; false once the watch is over: the client left, the
/// deadline passed or the server drains, also while waiting on a client that stopped reading,
/// which would otherwise keep its watch, and the user's place, past both.
async fn push_until(
    tx: &mpsc::Sender<Result<Bytes, std::convert::Infallible>>,
    line: Bytes,
    deadline: tokio::time::Instant,
    draining: &crate::apiserver::state::Draining,
) -> bool {
    tokio::select! {
        // A line the client has room for is queued without arming the other two.
        biased;
        sent = tx.send(Ok(line)) => sent.is_ok(),
        () = tokio::time::sleep_until(deadline) => false,
        () = draining.raised() => false,
    }
}

struct Session {
    /// The user's place among their open watches, freed when the session ends.
    _permit: WatchPermit,
    _producing: Producing,
    /// The store's revision epoch when the watch opened: its events' revisions are of it.
    epoch: u64,
    state: ApiState,
    kind: Kind,
    options: WatchOptions,
    output: Output,
    last_revision: u64,
    /// How far the store's stream has delivered, events that did not match included: a
    /// quiet watch's bookmarks move on with it.
    progress: WatchProgress,
    sent_columns: bool,
    /// When the watch ends (`timeoutSeconds`, or the default), initial events included.
    deadline: tokio::time::Instant,
    tx: mpsc::Sender<Result<Bytes, std::convert::Infallible>>,
}

impl Session {
    async fn run(
        mut self,
        initial: InitialEvents,
        end_bookmark: bool,
        events: crate::store::Result<EventStream>,
    ) {
        if !self.send_initial(initial).await {
            return;
        }
        if end_bookmark && !self.send_bookmark(true).await {
            return;
        }
        let mut events = match events {
            Ok(events) => events,
            Err(error) => return self.send_error(error).await,
        };
        let deadline = tokio::time::sleep_until(self.deadline);
        tokio::pin!(deadline);
        let mut bookmarks = bookmark_ticks();
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = self.tx.closed() => return,
                () = self.state.draining.raised() => return,
                _ = bookmarks.tick(), if self.options.allow_watch_bookmarks => {
                    if !self.send_bookmark(false).await { return; }
                }
                next = events.next() => match next {
                    None => return,
                    Some(Err(error)) => return self.send_error(error).await,
                    Some(Ok(event)) => if !self.deliver(&event).await { return; },
                },
            }
        }
    }

    /// Sends the initial events as ADDED, reading the batches after the first as it goes; false
    /// once the watch is over. A batch that cannot be read (its snapshot compacted away under
    /// a flood of writes) ends the watch with its ERROR event (410 `Expired`), after which
    /// clients list again.
    async fn send_initial(&mut self, initial: InitialEvents) -> bool {
        if !self.send_added(initial.first).await {
            return false;
        }
        let Some(mut later) = initial.rest else {
            return true;
        };
        loop {
            let LaterBatches {
                batches,
                target,
                options,
            } = &mut later;
            // A watch that ends meanwhile waits for no turn to read a batch it will not send.
            let next = tokio::select! {
                next = batches.next_with(&self.state, target, options, |batch| batch) => next,
                () = tokio::time::sleep_until(self.deadline) => return false,
                () = self.tx.closed() => return false,
                () = self.state.draining.raised() => return false,
            };
            match next {
                Ok(Some(batch)) => {
                    if !self.send_added(batch).await {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(error) => {
                    tracing::warn!(
                        %error,
                        collection = %target.prefix(),
                        "a watch's initial events could not all be read: it ends with its \
                         error event, and the client lists again"
                    );
                    self.send_status(error.status()).await;
                    return false;
                }
            }
        }
    }

    async fn send_added(&mut self, batch: Batch) -> bool {
        for object in batch {
            if !self.send("ADDED", object).await {
                return false;
            }
        }
        true
    }

    /// Sends one store event as the client should see it through its selectors. An update
    /// that takes the object out of the selection is sent as DELETED of its previous state,
    /// stamped with this event's revision, as the apiserver's watch cache and etcd watcher do:
    /// a filtered informer must see the object as it last matched.
    async fn deliver(&mut self, event: &Event) -> bool {
        self.last_revision = event.revision();
        let now_matches = self.options.matches(&event.object.value);
        let matched_before = event
            .prev
            .as_ref()
            .filter(|prev| self.options.matches(&prev.value));
        let (event_type, shown) = match (event.kind, matched_before, now_matches) {
            (EventKind::Deleted, _, true) => ("DELETED", &event.object),
            (EventKind::Added, _, true) | (EventKind::Modified, None, true) => {
                ("ADDED", &event.object)
            }
            (EventKind::Modified, Some(_), true) => ("MODIFIED", &event.object),
            (EventKind::Modified, Some(prev), false) => ("DELETED", prev),
            _ => return true,
        };
        if self.output == Output::JSON {
            return self.send_shared(event_type, shown, event.revision()).await;
        }
        let object = present_at(&self.state, self.kind, shown, event.revision());
        self.send(event_type, object).await
    }

    /// Sends a plain JSON event whose object is encoded once for all watchers. `shown` is the
    /// state written at `revision`, or the previous state of an object leaving the selection,
    /// which is kept under a key of its own.
    async fn send_shared(&mut self, event_type: &str, shown: &Object, revision: u64) -> bool {
        let (state, kind) = (&self.state, self.kind);
        let encode = || {
            let object = present_at(state, kind, shown, revision);
            object.to_json().unwrap_or_default()
        };
        let key = match shown.revision == revision {
            true => Cow::Borrowed(shown.key.as_str()),
            false => Cow::Owned(format!("{}{PREVIOUS_STATE}", shown.key)),
        };
        let at = (self.epoch, revision);
        let object = state.encoded.get_or_encode(at, &key, kind, encode);
        self.send_encoded(event_type, &object).await
    }

    /// Sends `{"type":…,"object":…}` around an object already encoded.
    async fn send_encoded(&mut self, event_type: &str, object: &[u8]) -> bool {
        let mut line = Vec::with_capacity(object.len() + 40);
        line.extend_from_slice(br#"{"type":""#);
        line.extend_from_slice(event_type.as_bytes());
        line.extend_from_slice(br#"","object":"#);
        line.extend_from_slice(object);
        line.extend_from_slice(b"}\n");
        self.push(Bytes::from(line)).await
    }

    async fn push(&self, line: Bytes) -> bool {
        push_until(&self.tx, line, self.deadline, &self.state.draining).await
    }

    async fn send(&mut self, event_type: &str, object: Presented) -> bool {
        if self.output == Output::JSON {
            return match object.to_json() {
                Ok(encoded) => self.send_encoded(event_type, &encoded).await,
                Err(error) => {
                    let status = error.status();
                    self.write(&json!({"type": "ERROR", "object": status}))
                        .await;
                    false
                }
            };
        }
        let rendered = self.render(object);
        self.write(&json!({"type": event_type, "object": rendered}))
            .await
    }

    fn render(&mut self, object: Presented) -> Value {
        match self.output.form {
            Form::Table { include_object } if self.kind == Kind::ImageStream => {
                let stream = match object {
                    Presented::Stream(stream) => *stream,
                    Presented::Tree(tree) => match decode::<ImageStream>(&tree) {
                        Ok(stream) => stream,
                        Err(_) => return tree,
                    },
                };
                let with_columns = !std::mem::replace(&mut self.sent_columns, true);
                table::watch_table(&stream, include_object, with_columns, Timestamp::now())
            }
            Form::Table { include_object } if self.kind == Kind::Image => {
                let with_columns = !std::mem::replace(&mut self.sent_columns, true);
                table::image::object_table(&object.into_value(), include_object, with_columns)
            }
            Form::PartialObjectMetadata | Form::PartialObjectMetadataList => {
                table::partial_object_metadata(&object.into_value())
            }
            _ => object.into_value(),
        }
    }

    /// Sends a BOOKMARK in the watch's form: kube-apiserver transforms a bookmark's object as
    /// any other (watchEmbeddedEncoder), so a metadata watch gets a PartialObjectMetadata
    /// (client-go's metadata informers cannot decode anything else) and a Table watch a Table
    /// of the bookmark's row, its column definitions too when it is the first event.
    async fn send_bookmark(&mut self, initial_events_end: bool) -> bool {
        let (kind, api_version) = (self.kind.kind(), self.kind.api_version());
        // Every event up to the store stream's progress has been delivered (the session takes
        // each event the stream yields before it can tick), filtered by selectors or not.
        let revision = self.last_revision.max(self.progress.delivered_through());
        let mut event = bookmark(kind, api_version, revision, initial_events_end);
        let object = Presented::Tree(event["object"].take());
        event["object"] = self.render(object);
        self.write(&event).await
    }

    async fn send_error(&mut self, error: crate::store::Error) {
        let target = Target {
            kind: self.kind,
            namespace: None,
            name: None,
            subresource: None,
        };
        self.send_status(target.store_error(error).status()).await;
    }

    /// An ERROR event of `status`, which ends the watch.
    async fn send_status(&mut self, status: Value) {
        self.write(&json!({"type": "ERROR", "object": status}))
            .await;
    }

    async fn write(&self, event: &Value) -> bool {
        self.push(line(event)).await
    }
}

/// A stored state presented as the object of an event at `revision`.
fn present_at(state: &ApiState, kind: Kind, object: &Object, revision: u64) -> Presented {
    stamped(present(state, kind, &object.value), revision)
}

/// `object` with `metadata.resourceVersion` set to `revision`: a DELETED carries the revision
/// of the change that took the object out of view, whichever state it shows.
fn stamped(mut object: Presented, revision: u64) -> Presented {
    let resource_version = revision.to_string();
    match &mut object {
        Presented::Stream(stream) => stream.metadata.resource_version = Some(resource_version),
        Presented::Tree(tree) => {
            if let Some(metadata) = tree.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert("resourceVersion".into(), resource_version.into());
            }
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of a watch at `path` (over a fresh in-memory state) until it ends, each with
    /// the seconds since the watch began, on a paused clock: the runtime moves time on
    /// whenever every task waits, so the watch's bookmarks and its `timeoutSeconds` come at
    /// once, at their exact times.
    async fn watch_to_its_end(path: &str) -> Vec<(u64, Value)> {
        watch_as_to_its_end(path, "application/json").await
    }

    /// [`watch_to_its_end`] with this `Accept` header.
    async fn watch_as_to_its_end(path: &str, accept: &str) -> Vec<(u64, Value)> {
        watch_in_to_its_end(ApiState::for_tests(), path, accept).await
    }

    /// [`watch_as_to_its_end`] over `state`.
    async fn watch_in_to_its_end(state: ApiState, path: &str, accept: &str) -> Vec<(u64, Value)> {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let router = crate::apiserver::routes::router(state);
        let request = axum::http::Request::get(path)
            .header("authorization", format!("Bearer {}", ApiState::TEST_TOKEN))
            .header("accept", accept)
            .body(Body::empty())
            .expect("a request");
        let began = tokio::time::Instant::now();
        let response = router.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200, "{path}");
        let mut body = response.into_body();
        let mut events = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.expect("the stream").into_data() else {
                continue;
            };
            let at = began.elapsed().as_secs();
            let text = std::str::from_utf8(&data).expect("UTF-8");
            for line in text.lines() {
                events.push((at, serde_json::from_str(line).expect("an event")));
            }
        }
        events
    }

    #[tokio::test(start_paused = true)]
    async fn watches_that_allow_bookmarks_get_one_every_thirty_seconds_and_others_none() {
        let paths = [
            "/apis/image.openshift.io/v1/namespaces/ns/imagestreams",
            "/api/v1/namespaces/ns/events",
        ];
        for collection in paths {
            let allowed =
                format!("{collection}?watch=true&allowWatchBookmarks=true&timeoutSeconds=100");
            let events = watch_to_its_end(&allowed).await;
            let times: Vec<u64> = events.iter().map(|(at, _)| *at).collect();
            assert_eq!(times, [30, 60, 90], "{collection}");
            for (_, event) in &events {
                assert_eq!(event["type"], "BOOKMARK", "{collection}: {event}");
                let metadata = &event["object"]["metadata"];
                let revision = metadata["resourceVersion"].as_str();
                assert!(
                    revision.is_some_and(|rv| rv.parse::<u64>().is_ok()),
                    "{event}"
                );
                assert!(metadata["annotations"].is_null(), "{event}");
            }

            let plain = format!("{collection}?watch=true&timeoutSeconds=100");
            assert!(watch_to_its_end(&plain).await.is_empty(), "{collection}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn open_watches_hold_no_turn_of_the_list_gate_once_their_initial_events_are_read() {
        use tower::ServiceExt as _;
        let mut state = ApiState::for_tests();
        state.lists = crate::apiserver::list_gate::ListGate::new(1, Duration::from_secs(5));
        let router = crate::apiserver::routes::router(state);
        let collection = "/apis/image.openshift.io/v1/namespaces/ns/imagestreams";
        let mut open = Vec::new();
        for _ in 0..3 {
            let watch = format!(
                "{collection}?watch=true&sendInitialEvents=true\
                 &resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
            );
            let response = router.clone().oneshot(get(&watch)).await.unwrap();
            assert_eq!(response.status(), 200);
            open.push(response);
        }
        let listed = router.clone().oneshot(get(collection)).await.unwrap();
        assert_eq!(listed.status(), 200, "the gate's one turn is free");
        drop(open);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_watch_s_bookmarks_move_on_with_writes_elsewhere() {
        let state = ApiState::for_tests();
        for name in ["a", "b"] {
            let key = format!("imagestreams/other/{name}");
            let stream = json!({"metadata": {"name": name, "namespace": "other"}});
            state.store.create(&key, stream).await.unwrap();
        }
        // From revision 1, with revision 2 in another namespace: a client resuming from the
        // bookmark need not go back to 1, which a compaction may have dropped meanwhile.
        let path = "/apis/image.openshift.io/v1/namespaces/ns/imagestreams?watch=true\
            &resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=40";
        let events = watch_in_to_its_end(state, path, "application/json").await;
        let revisions: Vec<&Value> = events
            .iter()
            .map(|(_, event)| &event["object"]["metadata"]["resourceVersion"])
            .collect();
        assert_eq!(revisions, ["2"], "{events:?}");
    }

    /// A GET of `path` by the test state's admin.
    fn get(path: &str) -> axum::http::Request<Body> {
        axum::http::Request::get(path)
            .header("authorization", format!("Bearer {}", ApiState::TEST_TOKEN))
            .body(Body::empty())
            .expect("a request")
    }

    /// A state over an in-memory store keeping `history` revisions, with `count` streams in
    /// namespace `ns`: more than one batch of the store's reads.
    async fn state_with_streams(count: usize, history: usize) -> ApiState {
        let options = crate::store::EmbeddedOptions {
            history_limit: history,
            ..Default::default()
        };
        let mut state = ApiState::for_tests();
        let store = crate::store::EmbeddedStore::in_memory(options).expect("a store");
        state.store = std::sync::Arc::new(store);
        for n in 0..count {
            let name = format!("s-{n:05}");
            let stream = json!({"metadata": {"name": name, "namespace": "ns"}});
            let key = format!("imagestreams/ns/{name}");
            state.store.create(&key, stream).await.expect("a create");
        }
        state
    }

    #[tokio::test(start_paused = true)]
    async fn initial_events_of_several_batches_come_in_key_order_before_the_end_bookmark() {
        let state = state_with_streams(1_234, 10_000).await;
        let path = "/apis/image.openshift.io/v1/namespaces/ns/imagestreams?watch=true\
            &sendInitialEvents=true&resourceVersionMatch=NotOlderThan\
            &allowWatchBookmarks=true&timeoutSeconds=10";
        let events = watch_in_to_its_end(state, path, "application/json").await;
        let (last, added) = events.split_last().expect("events");
        let names: Vec<String> = added
            .iter()
            .map(|(_, event)| {
                assert_eq!(event["type"], "ADDED", "{event}");
                event["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let expected: Vec<String> = (0..1_234).map(|n| format!("s-{n:05}")).collect();
        assert!(
            names == expected,
            "{} initial events, not in key order",
            names.len()
        );
        assert_eq!(last.1["type"], "BOOKMARK", "{}", last.1);
        assert_eq!(last.1["object"]["metadata"]["resourceVersion"], "1234");
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_sending_its_initial_events_holds_no_place_of_its_user_at_the_list_gate() {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let mut state = state_with_streams(1_234, 10_000).await;
        state.lists = crate::apiserver::list_gate::ListGate::new(1, Duration::from_secs(5));
        let router = crate::apiserver::routes::router(state);
        let collection = "/apis/image.openshift.io/v1/namespaces/ns/imagestreams";
        let watch = format!("{collection}?watch=true&timeoutSeconds=600");
        let response = router
            .clone()
            .oneshot(get(&watch))
            .await
            .expect("infallible");
        let mut body = response.into_body();
        body.frame().await.expect("a first event").expect("data");
        // The watch's client reads no further; the same user lists meanwhile.
        let listed = router.oneshot(get(&format!("{collection}?limit=10"))).await;
        assert_eq!(listed.expect("infallible").status(), 200);
    }

    /// The events of a watch of `state`'s 1,234 streams from the newest state, while 300
    /// writes to another namespace push its revision out of the 100-revision history window
    /// between its first batch of initial events and the next.
    async fn initial_events_under_a_flood_of_writes(state: &ApiState) -> Vec<Value> {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let router = crate::apiserver::routes::router(state.clone());
        let path = "/apis/image.openshift.io/v1/namespaces/ns/imagestreams?watch=true\
            &timeoutSeconds=2";
        let request = axum::http::Request::get(path)
            .header("authorization", format!("Bearer {}", ApiState::TEST_TOKEN))
            .body(Body::empty())
            .expect("a request");
        let response = router.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        // The first batch's events fill the watch's queue long before the second batch is
        // read: these writes push the snapshot out of the window before then.
        let first = body.frame().await.expect("a first event").expect("data");
        let mut read = first.into_data().expect("data").to_vec();
        for n in 0..300 {
            let key = "imagestreams/other/s";
            let stream = json!({"metadata": {"name": "s", "namespace": "other"}, "n": n});
            match n {
                0 => state.store.create(key, stream).await.expect("a create"),
                _ => state
                    .store
                    .update(key, stream, None)
                    .await
                    .expect("an update"),
            };
        }
        let rest = body.collect().await.expect("the watch's events").to_bytes();
        read.extend_from_slice(&rest);
        let text = std::str::from_utf8(&read).expect("UTF-8");
        let events = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON"));
        events.collect()
    }

    #[tokio::test]
    async fn initial_events_whose_revision_leaves_the_history_window_end_in_a_410() {
        // Even on a store that pins a view for lists: the watch goes on from the initial
        // events' revision, which the flood has made unwatchable, so sending the rest would
        // only delay the 410 its client must list again after.
        let state = state_with_streams(1_234, 100).await;
        assert!(state.store.pin().is_some());
        let events = initial_events_under_a_flood_of_writes(&state).await;
        let last = events.last().expect("events");
        assert_eq!(last["type"], "ERROR", "{last}");
        assert_eq!(last["object"]["code"], 410, "{last}");
        assert!(events.len() < 1_234, "every initial event was sent");
    }

    #[tokio::test(start_paused = true)]
    async fn bookmarks_of_metadata_and_table_watches_come_in_the_watch_s_form() {
        let path = "/apis/image.openshift.io/v1/namespaces/ns/imagestreams?watch=true\
            &sendInitialEvents=true&resourceVersionMatch=NotOlderThan\
            &allowWatchBookmarks=true&timeoutSeconds=40";
        let end = json!({"k8s.io/initial-events-end": "true"});
        let as_meta = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        let events = watch_as_to_its_end(path, as_meta).await;
        let times: Vec<u64> = events.iter().map(|(at, _)| *at).collect();
        assert_eq!(times, [0, 30], "{events:?}");
        for (at, event) in &events {
            assert_eq!(event["type"], "BOOKMARK", "{event}");
            let object = &event["object"];
            assert_eq!(object["kind"], "PartialObjectMetadata", "{event}");
            assert_eq!(object["apiVersion"], "meta.k8s.io/v1", "{event}");
            assert!(object["metadata"]["resourceVersion"].is_string(), "{event}");
            let annotations = &object["metadata"]["annotations"];
            assert_eq!(
                *annotations,
                if *at == 0 { end.clone() } else { Value::Null }
            );
        }

        let as_table = "application/json;as=Table;g=meta.k8s.io;v=v1";
        let events = watch_as_to_its_end(path, as_table).await;
        let times: Vec<u64> = events.iter().map(|(at, _)| *at).collect();
        assert_eq!(times, [0, 30], "{events:?}");
        for (at, event) in &events {
            assert_eq!(event["type"], "BOOKMARK", "{event}");
            let table = &event["object"];
            assert_eq!(table["kind"], "Table", "{event}");
            assert_eq!(table["apiVersion"], "meta.k8s.io/v1", "{event}");
            let revision = &table["metadata"]["resourceVersion"];
            assert!(revision.is_string(), "{event}");
            // The column definitions come with the first event only, a bookmark or not.
            let columns = table["columnDefinitions"].as_array().expect("columns");
            assert_eq!(columns.is_empty(), *at != 0, "{event}");
            let row = &table["rows"][0];
            assert_eq!(row["cells"][0], "", "{event}");
            assert_eq!(row["object"]["kind"], "PartialObjectMetadata", "{event}");
            let metadata = &row["object"]["metadata"];
            assert_eq!(metadata["resourceVersion"], *revision, "{event}");
            let annotations = &metadata["annotations"];
            assert_eq!(
                *annotations,
                if *at == 0 { end.clone() } else { Value::Null }
            );
        }
    }

    fn check(object: Presented, expected: Value) {
        let stamped = stamped(object, 9).into_value();
        assert_eq!(stamped["metadata"], expected, "{stamped}");
    }

    #[test]
    fn previous_states_are_stamped_with_the_event_revision_in_either_form() {
        let stream: ImageStream = serde_json::from_value(json!({
            "metadata": {"name": "s", "resourceVersion": "4", "labels": {"sel": "in"}}
        }))
        .unwrap();
        check(
            Presented::Stream(Box::new(stream)),
            json!({"name": "s", "resourceVersion": "9", "labels": {"sel": "in"}}),
        );
        let tree = json!({"kind": "Secret", "metadata": {"name": "t", "resourceVersion": "4"}});
        check(
            Presented::Tree(tree),
            json!({"name": "t", "resourceVersion": "9"}),
        );
        let without_metadata = Presented::Tree(json!({"kind": "Secret"}));
        check(without_metadata, Value::Null);
    }
}
