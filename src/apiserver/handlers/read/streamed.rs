//! Lists written as they are read. A list without a `limit` (the Python client's and kube-rs's
//! default, and what client-go's pager falls back to when a continue token expires) of a large
//! collection would otherwise hold every object decoded and the whole encoded body at once:
//! 100,000 streams are about a gigabyte decoded and 250 MB encoded, on a pod limited to 512 MiB.
//! Here the first batch is read before anything is answered, so that a bad `resourceVersion`
//! still gets its Status, and a collection larger than one batch is then written a batch at a
//! time, every batch from the first one's snapshot, each read in a turn of the list gate.
//!
//! Only compact JSON of the plain form is written this way (what informers and clients ask
//! for); Tables, metadata lists, YAML and indented JSON are built whole as before.

use std::io;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};

use super::render::{list_body, ListMeta};
use super::{Batch, Batches, Target};
use crate::apiserver::error::ApiError;
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

/// `GET …/<collection>` by `user`, written as it is read (see the module documentation). The
/// bytes are those of the list built whole: a collection of one batch is answered in one body
/// as before; a larger one is sent in chunks, and a read that fails after the first batch (its
/// snapshot compacted away under a flood of writes) cuts the body off, which the client reports
/// as a broken response and retries.
pub async fn list(
    state: &ApiState,
    user: &str,
    target: &Target,
    options: &ListOptions,
) -> Result<Response, ApiError> {
    let (batches, first, revision) = Batches::start(state, user, target, options).await?;
    let mut head = list_head(target.kind, revision)?;
    let wrote_any = !first.is_empty();
    write_items(&mut head, &first, false)?;
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
    let body = stream::once(async move { Ok(Bytes::from(head)) }).chain(rest.chunks());
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(Output::JSON.content_type()),
    );
    Ok(response)
}

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

/// Appends `items` to `out`, comma-separated, after a comma when items were written before.
fn write_items(out: &mut Vec<u8>, items: &Batch, after_others: bool) -> Result<(), ApiError> {
    for (position, item) in items.iter().enumerate() {
        if after_others || position > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, item).map_err(ApiError::internal)?;
    }
    Ok(())
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
    /// The body's chunks after the head: one per batch with matching objects, the last one
    /// closing the list; an error ends the body.
    fn chunks(self) -> impl Stream<Item = Result<Bytes, io::Error>> {
        stream::unfold(Some(self), |rest| async move {
            let mut rest = rest?;
            match rest.next_chunk().await {
                Ok(chunk) if rest.batches.done() => Some((Ok(chunk), None)),
                Ok(chunk) => Some((Ok(chunk), Some(rest))),
                Err(error) => {
                    tracing::warn!(
                        %error,
                        collection = %rest.target.prefix(),
                        "a list written as it was read failed after its first batch: its body \
                         is cut off, and the client retries"
                    );
                    Some((Err(io::Error::other(error.to_string())), None))
                }
            }
        })
    }

    /// The encoded objects of the next batches up to one with a matching object, or to the
    /// last, which also closes the list (an empty chunk would end a chunked body early).
    async fn next_chunk(&mut self) -> Result<Bytes, ApiError> {
        let mut chunk = Vec::new();
        while let Some(batch) = self.next_batch().await? {
            write_items(&mut chunk, &batch, self.wrote_any)?;
            self.wrote_any |= !batch.is_empty();
            if !chunk.is_empty() {
                break;
            }
        }
        if self.batches.done() {
            chunk.extend_from_slice(LIST_TAIL);
        }
        Ok(Bytes::from(chunk))
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, ApiError> {
        let Self {
            state,
            target,
            options,
            batches,
            ..
        } = self;
        batches.next(state, target, options).await
    }
}

#[cfg(test)]
mod tests;
