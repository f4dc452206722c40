//! Lists written as they are read. A list without a `limit` (the Python client's and kube-rs's
//! default, and what client-go's pager falls back to when a continue token expires) of a large
//! collection would otherwise hold every object decoded and the whole encoded body at once:
//! 100,000 streams listed whole peaked 750 MiB above the server's resting memory (`make bench`),
//! on a pod limited to 512 MiB.
//! Here the first batch is read before anything is answered, so that a bad `resourceVersion`
//! still gets its Status, and a collection larger than one batch is then written a batch at a
//! time, every batch from the first one's snapshot, each read in a turn of the list gate.
//!
//! Only compact JSON of the plain form is written this way (what informers and clients ask
//! for); Tables, metadata lists, YAML and indented JSON are built whole as before.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::render::{list_body, ListMeta};
use super::{Batch, Batches, Target};
use crate::apiserver::error::ApiError;
use crate::apiserver::handlers::watch::{long_running_json, Producing};
use crate::apiserver::http;
use crate::apiserver::negotiate::Output;
use crate::apiserver::options::ListOptions;
use crate::apiserver::resource::Kind;
use crate::apiserver::state::ApiState;

/// Whether a list is written as it is read: compact JSON of the plain form, without a limit
/// (a limited list is one page, which the client chose the size of).
pub fn streams(options: &ListOptions, output: Output) -> bool {
    output == Output::JSON && options.limit.is_none_or(|limit| limit == 0)
}

/// How long a list's client has to take the chunks after the first: a minute, kube-apiserver's
/// default `--request-timeout`. Until then the connection counts as busy (the response is
/// [`LongRunning`](crate::server::LongRunning)), so a large list is not taken for a stalled
/// one and closed to make room; past it the rest of the list is not read, and the body is cut
/// off.
const WRITE_WITHIN: Duration = Duration::from_secs(60);

/// `GET …/<collection>` by `user`, written as it is read (see the module documentation). The
/// bytes are those of the list built whole: a collection of one batch is answered in one body
/// as before; a larger one is sent in chunks, made by a task that reads each batch as the
/// client takes the one before. A read that fails after the first batch (its snapshot
/// compacted away under a flood of writes), or a client that has not taken the whole list
/// within [`WRITE_WITHIN`], gets a body cut off, which the client reports as a broken response
/// and retries.
pub async fn list(
    state: &ApiState,
    user: &str,
    target: &Target,
    options: &ListOptions,
) -> Result<Response, ApiError> {
    let encode = |batch: Batch| encoded_items(&batch, false);
    let (batches, first, revision) =
        Batches::start_with(state, user, target, options, encode).await?;
    let (first, wrote_any) = first?;
    let mut head = list_head(target.kind, revision)?;
    head.extend_from_slice(&first);
    drop(first);
    if batches.done() {
        head.extend_from_slice(LIST_TAIL);
        let content_type = Output::JSON.content_type();
        return Ok(http::bytes_response(StatusCode::OK, content_type, head));
    }
    let rest = Rest {
        state: state.clone(),
        target: target.clone(),
        options: options.clone(),
        batches,
        wrote_any,
    };
    let (tx, rx) = mpsc::channel(1);
    let complete = Arc::new(AtomicBool::new(false));
    let (response, producing) = chunked(rx, complete.clone());
    let deadline = tokio::time::Instant::now() + WRITE_WITHIN;
    let first_chunk = Bytes::from(head);
    tokio::spawn(rest.produce(first_chunk, tx, complete, deadline, producing));
    Ok(response)
}

/// Why a list not all written within [`WRITE_WITHIN`] is cut off.
const TOO_SLOW: &str = "it was not all written within a minute (a slow client, or a busy gate)";

/// What closes a list's `items` and the list.
const LIST_TAIL: &[u8] = b"]}";

/// The list's JSON up to the opening of its `items`, written as the list built whole is (see
/// `render_list`): its members in the same order, so the two answers are the same bytes.
fn list_head(kind: Kind, revision: u64) -> Result<Vec<u8>, ApiError> {
    let metadata = ListMeta {
        resource_version: revision.to_string(),
        continue_token: None,
    };
    let empty = list_body(kind, metadata, &[]);
    let mut head = serde_json::to_vec(&empty).map_err(ApiError::internal)?;
    let closed = head.ends_with(LIST_TAIL);
    debug_assert!(closed, "an empty list ends with its empty items");
    head.truncate(head.len() - LIST_TAIL.len());
    Ok(head)
}

/// `items` as JSON, comma-separated, after a comma when items were written before; and
/// whether any item was written.
fn encoded_items(items: &Batch, after_others: bool) -> Result<(Vec<u8>, bool), ApiError> {
    let mut out = Vec::new();
    for (position, item) in items.iter().enumerate() {
        if after_others || position > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, item).map_err(ApiError::internal)?;
    }
    Ok((out, after_others || !items.is_empty()))
}

/// A 200 whose body is what `rx` receives, marked long-running until the producer's guard is
/// dropped, and ending in an error unless the producer marked the list `complete`: a list
/// that was not all written must not end like one that was.
fn chunked(rx: mpsc::Receiver<Bytes>, complete: Arc<AtomicBool>) -> (Response, Producing) {
    let cut_off = stream::once(async move { complete.load(Ordering::Acquire) }).filter_map(
        |complete| async move {
            (!complete).then(|| Err(io::Error::other("the list was cut off before its end")))
        },
    );
    let chunks = ReceiverStream::new(rx)
        .map(Ok::<_, io::Error>)
        .chain(cut_off);
    long_running_json(chunks)
}

/// The batches after the first, and what reading them takes.
struct Rest {
    state: ApiState,
    target: Target,
    options: ListOptions,
    batches: Batches,
    wrote_any: bool,
}

impl Rest {
    /// Sends `first` and then a chunk per batch with matching objects, the last one closing
    /// the list, each within the deadline; marks the list `complete` once the last is queued.
    /// Returning (dropping `tx` and the guard) ends the body.
    async fn produce(
        mut self,
        first: Bytes,
        tx: mpsc::Sender<Bytes>,
        complete: Arc<AtomicBool>,
        deadline: tokio::time::Instant,
        _producing: Producing,
    ) {
        if !send_by(&tx, first, deadline).await {
            return self.cut_off(TOO_SLOW);
        }
        loop {
            let chunk = tokio::select! {
                chunk = self.next_chunk() => chunk,
                () = tokio::time::sleep_until(deadline) => {
                    return self.cut_off(TOO_SLOW);
                }
                () = tx.closed() => return,
            };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => return self.cut_off(&error.to_string()),
            };
            let last = self.batches.done();
            if !send_by(&tx, chunk, deadline).await {
                return self.cut_off(TOO_SLOW);
            }
            if last {
                complete.store(true, Ordering::Release);
                return;
            }
        }
    }

    fn cut_off(&self, why: &str) {
        tracing::warn!(
            collection = %self.target.prefix(),
            "a list written as it was read was cut off: {why}; the client sees a broken \
             response and retries"
        );
    }

    /// The encoded objects of the next batches up to one with a matching object, or to the
    /// last, which also closes the list (an empty chunk would end a chunked body early).
    async fn next_chunk(&mut self) -> Result<Bytes, ApiError> {
        let mut chunk = Vec::new();
        while chunk.is_empty() {
            let Self {
                state,
                target,
                options,
                batches,
                wrote_any,
            } = self;
            let after_others = *wrote_any;
            let encode = |batch: Batch| encoded_items(&batch, after_others);
            let Some(encoded) = batches.next_with(state, target, options, encode).await? else {
                break;
            };
            let (items, wrote) = encoded?;
            *wrote_any = wrote;
            chunk = items;
        }
        if self.batches.done() {
            chunk.extend_from_slice(LIST_TAIL);
        }
        Ok(Bytes::from(chunk))
    }
}

/// Queues `chunk` for the client; false if the client left or did not make room by
/// `deadline`.
async fn send_by(tx: &mpsc::Sender<Bytes>, chunk: Bytes, deadline: tokio::time::Instant) -> bool {
    tokio::select! {
        biased;
        sent = tx.send(chunk) => sent.is_ok(),
        () = tokio::time::sleep_until(deadline) => false,
    }
}

#[cfg(test)]
mod tests;
