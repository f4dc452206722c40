//! The in-memory state every read starts from: each key's mod revision (no documents), the
//! store revision, the history window (events with their documents as JSON bytes), and the
//! snapshot of the file at that revision.
//!
//! A synchronous state machine: the commit thread applies committed events together with the
//! snapshot of their commit; a reader takes, under the read lock, what a get or a list page
//! needs (a [`Read`]: which documents, from the history or from the snapshot) and reads the
//! documents (parsing them, from the history too) after releasing it. Because the snapshot and the key revisions are swapped under
//! one lock, a `Read` always pairs a revision with the file as of that revision. No I/O, no
//! async; the snapshot type is a parameter so that tests need no file.

use std::{
    num::NonZeroUsize,
    ops::Bound::{Excluded, Included, Unbounded},
};

use std::sync::Arc;

use super::{
    disk::Keys,
    doc::Doc,
    history::{Held, History, Record, Retention},
    Error, EventKind, ListOptions, ReadAt, Result,
};

/// Parsed trees of the newest documents the history keeps alive for watchers (see
/// `History::with_hot_trees`): about 9 MiB at most for 17 KB trees, against one parse per
/// watcher and event without it.
pub(crate) const HOT_TREES: usize = 512;

/// Every key's mod revision, the current revision, the recent events, and the file snapshot
/// `S` as of the current revision.
#[derive(Debug)]
pub(crate) struct State<S> {
    keys: Keys,
    revision: u64,
    history: History,
    /// `None` once the store has closed: the file must not stay open behind its back.
    snapshot: Option<S>,
}

/// Where one document of a read comes from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Source {
    /// Already in memory: written within the history window, or a rolled-back past state.
    Held(Held),
    /// In the snapshot: `key` at mod revision `revision`.
    Stored { key: String, revision: u64 },
}

#[cfg(test)]
impl Source {
    /// The key this document is stored under.
    pub(crate) fn key(&self) -> &str {
        match self {
            Self::Held(held) => &held.key,
            Self::Stored { key, .. } => key,
        }
    }

    /// The mod revision of this document.
    pub(crate) fn revision(&self) -> u64 {
        match self {
            Self::Held(held) => held.revision,
            Self::Stored { revision, .. } => *revision,
        }
    }
}

/// What a list page reads: taken under the lock, resolved after releasing it.
#[derive(Debug)]
pub(crate) struct Read<S> {
    /// The documents, in key order.
    pub(crate) sources: Vec<Source>,
    /// The file as of the store's current revision, for the [`Source::Stored`] documents.
    pub(crate) snapshot: Option<S>,
    /// The revision of the list's snapshot.
    pub(crate) revision: u64,
    /// Whether more matching objects follow.
    pub(crate) more: bool,
}

/// How a file reopened after an I/O failure compares with the state served (see
/// [`State::reopened`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reopened {
    /// The file holds exactly what was served.
    Same,
    /// The file was `revisions` ahead: its state is served now.
    Ahead {
        /// How many revisions the file held that the state did not.
        revisions: u64,
    },
    /// The file is at revision `file`, behind or beside the `served` one: refused.
    Disagrees {
        /// The reopened file's revision.
        file: u64,
        /// The revision served before the failure.
        served: u64,
    },
}

/// A key found while listing: a current key at its mod revision, or a rolled-back state.
enum Found<'a> {
    Current(&'a str, u64),
    Past(&'a Held),
}

impl<S: Clone> State<S> {
    /// The state loaded at `revision`, with a history window keeping what `retention` allows.
    pub(crate) fn new(keys: Keys, revision: u64, retention: Retention, snapshot: S) -> Self {
        Self {
            keys,
            revision,
            history: History::retaining(revision, retention).with_hot_trees(HOT_TREES),
            snapshot: Some(snapshot),
        }
    }

    /// The newest committed revision.
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    /// The snapshot of the newest commit and its revision; `None` once the store has closed.
    pub(crate) fn current(&self) -> Option<(S, u64)>
    where
        S: Clone,
    {
        Some((self.snapshot.clone()?, self.revision))
    }

    /// The mod revision of `key`, if it exists.
    pub(crate) fn mod_revision(&self, key: &str) -> Option<u64> {
        self.keys.get(key).copied()
    }

    /// How to read the current state of `key` (with the snapshot to read it from), or
    /// [`Error::NotFound`].
    pub(crate) fn get(&self, key: &str) -> Result<(Source, Option<S>)> {
        let revision = self.mod_revision(key).ok_or_else(|| Error::NotFound {
            key: key.to_string(),
        })?;
        let source = self.source(Found::Current(key, revision));
        Ok((source, self.snapshot.clone()))
    }

    /// How to read one page of the objects under `prefix` as of the snapshot `options.at`.
    pub(crate) fn list(&self, prefix: &str, options: &ListOptions) -> Result<Read<S>> {
        let revision = self.snapshot_revision(options.at)?;
        let rolled_back = self.history.rollback(revision, prefix)?;
        let start = start_bound(prefix, options.start_after.as_deref());
        let current = self
            .keys
            .range::<str, _>((start, Unbounded))
            .map(|(key, revision)| (&**key, Some(Found::Current(key, *revision))));
        let past = rolled_back
            .range::<str, _>((start, Unbounded))
            .map(|(key, state)| (*key, state.map(Found::Past)));
        let in_prefix = |entry: &(&str, Option<Found<'_>>)| entry.0.starts_with(prefix);
        let found = merge(current.take_while(in_prefix), past.take_while(in_prefix));
        let (found, more) = first_page(found, options.limit);
        Ok(Read {
            sources: found.into_iter().map(|f| self.source(f)).collect(),
            snapshot: self.snapshot.clone(),
            revision,
            more,
        })
    }

    /// Fails with [`Error::Expired`] unless a watch can start after `revision`.
    pub(crate) fn check_watchable(&self, revision: u64) -> Result<()> {
        self.history.after(revision).map(drop)
    }

    /// The records under `prefix` among the (at most `max_scan`) next ones after `revision`,
    /// and the revision scanned up to. [`Error::Expired`] once `revision` left the window.
    /// Records, not events: their documents are parsed after the lock is released.
    pub(crate) fn events_after(
        &self,
        prefix: &str,
        revision: u64,
        max_scan: usize,
    ) -> Result<(Vec<Record>, u64)> {
        let mut reached = revision;
        let mut matched = Vec::new();
        for record in self.history.after(revision)?.take(max_scan) {
            reached = record.revision();
            if record.object.key.starts_with(prefix) {
                matched.push(record.clone());
            }
        }
        Ok((matched, reached))
    }

    /// The document `key` was written with at `revision`, if the history still holds it.
    pub(crate) fn doc(&self, key: &str, revision: u64) -> Option<Arc<Doc>> {
        self.history.doc(key, revision)
    }

    /// Applies committed records, which must continue the revision sequence, and the snapshot
    /// of the commit that wrote them (`None` if it could not be opened: reads of documents
    /// outside the history window then fail until the next commit).
    pub(crate) fn apply(&mut self, records: Vec<Record>, snapshot: Option<S>) {
        for record in records {
            debug_assert_eq!(
                record.revision(),
                self.revision + 1,
                "revisions must be contiguous"
            );
            self.revision = record.revision();
            let key = record.object.key.as_str();
            match record.kind {
                EventKind::Deleted => self.keys.remove(key),
                EventKind::Added | EventKind::Modified => {
                    self.keys.insert(key.into(), self.revision)
                }
            };
            self.history.push(record);
        }
        self.snapshot = snapshot;
    }

    /// Takes the state of the file reopened after an I/O failure: its keys, revision and a
    /// snapshot of it. A file at the revision served is the state already held. A file ahead
    /// holds a commit whose writer was told it failed (the failure hid that it reached the
    /// disk): the file wins, and the history restarts at its revision, so that watchers
    /// behind it get 410 and re-list rather than miss those writes. A file behind, or at the
    /// same revision with other keys, is refused: serving it would take back answered writes.
    pub(crate) fn reopened(&mut self, keys: Keys, revision: u64, snapshot: S) -> Reopened {
        let same = revision == self.revision && keys == self.keys;
        if revision < self.revision || (revision == self.revision && !same) {
            return Reopened::Disagrees {
                file: revision,
                served: self.revision,
            };
        }
        if !same {
            self.keys = keys;
            self.history.restart(revision);
        }
        let revisions = revision - self.revision;
        self.revision = revision;
        self.snapshot = Some(snapshot);
        if same {
            Reopened::Same
        } else {
            Reopened::Ahead { revisions }
        }
    }

    /// Drops the snapshot when the store closes, so that nothing keeps the file open.
    pub(crate) fn close(&mut self) {
        self.snapshot = None;
    }

    /// A current document is held while its last write is in the history window.
    fn source(&self, found: Found<'_>) -> Source {
        match found {
            Found::Past(held) => Source::Held(held.clone()),
            Found::Current(key, revision) => match self.history.get(revision) {
                Some(record) if record.object.key == key => Source::Held(record.object.clone()),
                _ => Source::Stored {
                    key: key.to_string(),
                    revision,
                },
            },
        }
    }

    fn snapshot_revision(&self, at: ReadAt) -> Result<u64> {
        match at {
            ReadAt::Current => Ok(self.revision),
            ReadAt::Exact(requested) if requested > self.revision => {
                Err(Error::TooLargeResourceVersion {
                    requested,
                    current: self.revision,
                })
            }
            ReadAt::Exact(requested) => Ok(requested),
        }
    }
}

/// Up to `limit` items, and whether more follow.
fn first_page<T>(items: impl Iterator<Item = T>, limit: Option<NonZeroUsize>) -> (Vec<T>, bool) {
    let limit = limit.map_or(usize::MAX, NonZeroUsize::get);
    let mut items: Vec<T> = items.take(limit.saturating_add(1)).collect();
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

/// Where a page starts: at the prefix, or just after the previous page's last key.
fn start_bound<'a>(prefix: &'a str, start_after: Option<&'a str>) -> std::ops::Bound<&'a str> {
    match start_after {
        Some(after) if after >= prefix => Excluded(after),
        _ => Included(prefix),
    }
}

/// Merges the current keys with the rolled-back states of the keys changed since the
/// snapshot (both in key order); a rolled-back state wins, and `None` hides the key.
fn merge<'a, T>(
    current: impl Iterator<Item = (&'a str, Option<T>)>,
    past: impl Iterator<Item = (&'a str, Option<T>)>,
) -> impl Iterator<Item = T> {
    let (mut current, mut past) = (current.peekable(), past.peekable());
    std::iter::from_fn(move || loop {
        let state = match (current.peek(), past.peek()) {
            (None, None) => return None,
            (Some(now), Some(then)) if now.0 == then.0 => current.next().and(past.next())?.1,
            (Some(now), Some(then)) if now.0 < then.0 => current.next()?.1,
            (Some(_), None) => current.next()?.1,
            (_, Some(_)) => past.next()?.1,
        };
        if let Some(found) = state {
            return Some(found);
        }
    })
}

#[cfg(test)]
mod tests;
