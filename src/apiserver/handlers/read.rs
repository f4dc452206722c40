//! GET of one object and LIST of a collection, with Tables and PartialObjectMetadata.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use serde_json::Value;

use super::Target;
use crate::apiserver::error::ApiError;
use crate::apiserver::list_gate::ListTurn;
use crate::apiserver::negotiate::Output;
use crate::apiserver::options::{
    ContinueToken, GetOptions, ListOptions, ListRead, ResourceVersion,
};
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::Kind;
use crate::apiserver::state::ApiState;
use crate::apiserver::watch_quota::WatchPermit;
use crate::store::{self, ReadAt};

mod namespace;
mod render;
mod streamed;

pub use namespace::namespace;
pub use render::{encoded, render_list, render_object};

/// How long a list waits for a `resourceVersion` the store has not reached yet.
pub(super) const WAIT_FOR_REVISION: Duration = Duration::from_secs(3);

/// The store pages through this many keys per round when selectors filter after the read.
const PAGE_BATCH: usize = 500;

/// `GET …/<name>`: the current state, once the store has reached the `resourceVersion` asked
/// for (a get is "not older than" it, as kube-apiserver serves one; past what the store
/// reaches within a few seconds, 504 `Too large resource version`).
pub async fn get(
    state: &ApiState,
    target: &Target,
    options: &GetOptions,
    output: Output,
) -> Result<Response, ApiError> {
    if let ResourceVersion::At(revision) = options.resource_version {
        state
            .store
            .wait_for_revision(revision, WAIT_FOR_REVISION)
            .await
            .map_err(|e| target.store_error(e))?;
    }
    let object = state
        .store
        .get(&target.key())
        .await
        .map_err(|e| target.store_error(e))?;
    let presented = present(state, target.kind, &object.value);
    render_object(target.kind, presented, output)
}

/// Decorates a stored object for output.
pub fn present(state: &ApiState, kind: Kind, stored: &Value) -> Presented {
    kind.present(stored, &state.strategy)
}

/// One list result before rendering.
pub struct Listing {
    /// Matching objects, decorated.
    pub items: Vec<Presented>,
    /// The snapshot revision.
    pub revision: u64,
    /// The continue token, when more matching objects may follow.
    pub continue_token: Option<String>,
    /// The read's turn at the gate, held until the listing (and the answer made of it) is
    /// dropped; `None` for a listing that was not read (deletecollection's answer).
    pub turn: Option<ListTurn>,
}

/// `GET …/<collection>` (not a watch) by `user`.
pub async fn list(
    state: &ApiState,
    user: &str,
    target: &Target,
    options: &ListOptions,
    output: Output,
) -> Result<Response, ApiError> {
    if streamed::streams(options, output) {
        return streamed::list(state, user, target, options).await;
    }
    let listing = collect(state, user, target, options).await?;
    render_list(target.kind, listing, output)
}

/// Reads the matching objects of a collection, one consistent snapshot, up to `limit`, in
/// `user`'s turn at the gate (taken once a revision asked for is reached: waiting for one
/// holds no turn).
pub async fn collect(
    state: &ApiState,
    user: &str,
    target: &Target,
    options: &ListOptions,
) -> Result<Listing, ApiError> {
    let (mut at, mut start_after) = start_of(state, target, &options.read).await?;
    let turn = Some(state.lists.turn(user).await?);
    let limit = options
        .limit
        .filter(|limit| *limit > 0)
        .map(|limit| limit as usize);
    let mut items = Vec::new();
    loop {
        let page = read_batch(state, target, &options.read, at, start_after.clone()).await?;
        at = ReadAt::Exact(page.revision);
        let mut exhausted = !page.more;
        for (position, object) in page.items.iter().enumerate() {
            start_after = Some(object.key.clone());
            if options.matches(&object.value) {
                items.push(present(state, target.kind, &object.value));
            }
            if limit.is_some_and(|limit| items.len() >= limit) {
                exhausted = exhausted && position + 1 == page.items.len();
                let continue_token =
                    (!exhausted).then(|| continue_token(page.revision, &start_after));
                return Ok(Listing {
                    items,
                    revision: page.revision,
                    continue_token,
                    turn,
                });
            }
        }
        if exhausted {
            return Ok(Listing {
                items,
                revision: page.revision,
                continue_token: None,
                turn,
            });
        }
    }
}

/// The store's next batch of a collection's objects (matching the options or not) after
/// `start_after`, as of `at`.
async fn read_batch(
    state: &ApiState,
    target: &Target,
    read: &ListRead,
    at: ReadAt,
    start_after: Option<String>,
) -> Result<store::ListPage, ApiError> {
    let page_options = store::ListOptions {
        at,
        start_after,
        limit: NonZeroUsize::new(PAGE_BATCH),
        skip_unreadable: false,
    };
    state
        .store
        .list(&target.prefix(), &page_options)
        .await
        .map_err(|e| list_error(state, e, read, target))
}

/// A whole collection read a batch at a time, every batch from the first one's snapshot: a
/// list written as it is read, or a watch's initial events, holds one batch of objects at a
/// time instead of all of them (100,000 streams listed whole took 750 MiB: `make bench`).
///
/// Each batch is read, and handed to the caller's work (encoding it, say), in a turn of the
/// list gate; between batches the read holds no turn, only its user's place, so that one user
/// runs no more collection reads at once than the gate allows, however slowly its clients take
/// them.
#[derive(Debug)]
pub(in crate::apiserver::handlers) struct Batches {
    at: ReadAt,
    start_after: Option<String>,
    done: bool,
    /// The store as of the first batch, while it is held: later batches read it rather than
    /// the history window, which a flood of writes can move past a slow read.
    pinned: Option<Pinned>,
    /// The user's place at the gate, held until the read ends.
    _place: Option<WatchPermit>,
}

/// A [`store::PinnedView`] and since when it is held.
#[derive(Debug)]
struct Pinned {
    view: Arc<dyn store::PinnedView>,
    since: Instant,
}

/// How long a read holds its pinned view of the store: the embedded store's file cannot reuse
/// that commit's pages meanwhile. A list is written within a minute or cut off; a watch's
/// initial events read slower than that go on through the history window, as every read of a
/// past revision does.
const PIN_FOR: Duration = Duration::from_secs(60);

/// One batch's matching objects, decorated.
pub(in crate::apiserver::handlers) type Batch = Vec<Presented>;

impl Batches {
    /// Reads the first batch of the read `options` ask for (a continue token's read goes on
    /// after its last key), once a revision asked for is reached, in a turn `user` waits for
    /// at the gate, and hands it to `work` within that turn: the batches after it, what
    /// `work` made of the first, and the snapshot's revision.
    pub async fn start_with<R>(
        state: &ApiState,
        user: &str,
        target: &Target,
        options: &ListOptions,
        work: impl FnOnce(Batch) -> R,
    ) -> Result<(Self, R, u64), ApiError> {
        let (at, start_after) = start_of(state, target, &options.read).await?;
        let mut turn = state.lists.turn(user).await?;
        // Only a read of the newest state starts at a commit the store can hold; one of a
        // past revision (or a continue token's) reads through the history, as it always did.
        let pinned = match (at, &start_after) {
            (ReadAt::Current, None) => state.store.pin().map(|view| Pinned {
                view,
                since: Instant::now(),
            }),
            _ => None,
        };
        let mut batches = Self {
            at,
            start_after,
            done: false,
            pinned,
            _place: turn.take_place(),
        };
        let (first, revision) = batches.read(state, target, options).await?;
        let made = work(first);
        drop(turn);
        Ok((batches, made, revision))
    }

    /// Whether every batch has been read.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Gives the user's place back before the read ends: a watch's initial events are sent
    /// at its client's pace, for as long as the watch lasts, and the watch quota bounds how
    /// many watches a user has open already.
    pub fn release_place(&mut self) {
        self._place = None;
    }

    /// Reads the later batches through the history window, as of the first batch's revision,
    /// instead of the store's pinned view: a watch's initial events go on as a watch from that
    /// revision, which a flood of writes that moves the window past it ends with a 410 anyway;
    /// held, the view would only delay that 410 by however long the rest takes to send.
    pub fn unpin(&mut self) {
        self.pinned = None;
    }

    /// Reads the next batch in a turn of its own (see [`ListGate::next_turn`]) and hands it to
    /// `work` within that turn; `None` once every batch was read. A batch may be empty when
    /// no object in it matches.
    ///
    /// [`ListGate::next_turn`]: crate::apiserver::list_gate::ListGate::next_turn
    pub async fn next_with<R>(
        &mut self,
        state: &ApiState,
        target: &Target,
        options: &ListOptions,
        work: impl FnOnce(Batch) -> R,
    ) -> Result<Option<R>, ApiError> {
        if self.done {
            return Ok(None);
        }
        let turn = state.lists.next_turn().await;
        let (batch, _) = self.read(state, target, options).await?;
        let made = work(batch);
        drop(turn);
        Ok(Some(made))
    }

    /// The pinned view while it may still be held; dropped after [`PIN_FOR`], the batches
    /// after it then read the same revision through the history.
    fn pinned_view(&mut self) -> Option<Arc<dyn store::PinnedView>> {
        if self.pinned.as_ref()?.since.elapsed() >= PIN_FOR {
            self.pinned = None;
        }
        Some(self.pinned.as_ref()?.view.clone())
    }

    async fn read(
        &mut self,
        state: &ApiState,
        target: &Target,
        options: &ListOptions,
    ) -> Result<(Batch, u64), ApiError> {
        let start_after = self.start_after.clone();
        let pinned = match self.pinned_view() {
            Some(view) => match read_pinned(view, target, start_after.clone()).await {
                Ok(page) => Some(page),
                Err(error) => {
                    // The store logs its file's failure; this says where reads went instead.
                    tracing::debug!(%error, "pinned view unreadable; reading through the history");
                    None
                }
            },
            None => None,
        };
        let page = match pinned {
            Some(page) => page,
            None => {
                // A view that cannot be read (its file failing, to be reopened) is dropped: the
                // history still holds recent documents, as it did before views were pinned.
                self.pinned = None;
                read_batch(state, target, &options.read, self.at, start_after).await?
            }
        };
        self.at = ReadAt::Exact(page.revision);
        self.done = !page.more;
        if let Some(last) = page.items.last() {
            self.start_after = Some(last.key.clone());
        }
        let batch = page
            .items
            .iter()
            .filter(|object| options.matches(&object.value))
            .map(|object| present(state, target.kind, &object.value))
            .collect();
        Ok((batch, page.revision))
    }
}

/// The next batch of `target`'s collection after `start_after` from a pinned view, on the
/// blocking pool (a batch reads and parses up to [`PAGE_BATCH`] documents from the file).
async fn read_pinned(
    view: Arc<dyn store::PinnedView>,
    target: &Target,
    start_after: Option<String>,
) -> Result<store::ListPage, ApiError> {
    let prefix = target.prefix();
    let read = move || view.page(&prefix, start_after.as_deref(), PAGE_BATCH);
    tokio::task::spawn_blocking(read)
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| target.store_error(error))
}

async fn start_of(
    state: &ApiState,
    target: &Target,
    read: &ListRead,
) -> Result<(ReadAt, Option<String>), ApiError> {
    Ok(match read {
        ListRead::Latest | ListRead::Any => (ReadAt::Current, None),
        ListRead::NotOlderThan(revision) => {
            state
                .store
                .wait_for_revision(*revision, WAIT_FOR_REVISION)
                .await
                .map_err(|e| target.store_error(e))?;
            (ReadAt::Current, None)
        }
        ListRead::Exact(revision) => (ReadAt::Exact(*revision), None),
        ListRead::Continue(token) => (ReadAt::Exact(token.rv), Some(token.start.clone())),
    })
}

fn list_error(state: &ApiState, error: store::Error, read: &ListRead, target: &Target) -> ApiError {
    match (error, read) {
        (store::Error::Expired { .. }, ListRead::Continue(token)) => {
            ApiError::continue_expired(fresh_token(state.store.current_revision(), token))
        }
        (error, _) => target.store_error(error),
    }
}

/// A token that lists the rest of an expired token's list (the keys after its last one) from
/// `revision`, the newest state: what the apiserver offers with an expired continue token,
/// whose `-1` revision means "the newest". None from an empty store, which has no revision
/// a token may name.
fn fresh_token(revision: u64, expired: &ContinueToken) -> Option<String> {
    let fresh = ContinueToken {
        rv: revision,
        start: expired.start.clone(),
    };
    (revision > 0).then(|| fresh.encode())
}

fn continue_token(revision: u64, start_after: &Option<String>) -> String {
    ContinueToken {
        rv: revision,
        start: start_after.clone().unwrap_or_default(),
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_token_continues_after_the_expired_ones_last_key() {
        let expired = ContinueToken {
            rv: 3,
            start: "imagestreams/ns/a".into(),
        };
        let fresh = fresh_token(40, &expired).unwrap();
        let decoded = ContinueToken::decode(&fresh).unwrap();
        assert_eq!((decoded.rv, decoded.start), (40, expired.start.clone()));
        assert_eq!(fresh_token(0, &expired), None);
    }
}
