//! The history window: the last N events, kept in memory for watch resumption, for snapshot
//! reads at a past revision, and to serve recently written documents without reading the disk.
//!
//! Every revision is exactly one event (one write changes one key), so the window is a
//! contiguous run of revisions `compacted + 1 ..= newest` and finding revision R is index
//! arithmetic. A snapshot at R is the current state with the window's later events rolled
//! back: for each key changed after R, its state at R is the `prev` of the first such change.
//!
//! # Memory
//!
//! A [`Record`] holds each document as its JSON bytes (a [`Doc`]: the very bytes the commit
//! wrote to the file), never as a parsed tree: a parsed 2.4 KB ImageStream takes ~17 KB
//! (`serde_json` with `preserve_order`), its bytes 2.4 KB. Whoever needs the tree (a watcher,
//! a get or list served from the window, a rolled-back snapshot read) asks the [`Doc`], which
//! hands out the tree still alive elsewhere or parses the bytes, and keeps only a *weak*
//! pointer to the result: consumers of one event share one tree while any of them holds it.
//! The window keeps no tree alive except, when asked ([`History::with_hot_trees`]), the trees
//! of its newest documents that were alive when written, so watchers that keep up share the
//! writer's instead of each parsing again. A `prev` that is itself in the window shares that
//! event's [`Doc`].

use std::{
    collections::{btree_map::Entry, BTreeMap},
    sync::Arc,
};

use serde_json::Value;

use super::doc::Doc;
use super::{Error, Event, EventKind, Object, Result};
use crate::bounded::{BoundedQueue, Bounds};

/// One state of a key held in memory: its mod revision and document.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Held {
    /// The key.
    pub(crate) key: String,
    /// The mod revision (for a deletion's last state: the deletion revision).
    pub(crate) revision: u64,
    /// The document, `metadata.resourceVersion` stamped with `revision`.
    pub(crate) doc: Arc<Doc>,
}

impl Held {
    /// The object, its tree shared with anyone else holding it.
    pub(crate) fn object(&self) -> Result<Object> {
        Ok(Object {
            key: self.key.clone(),
            value: self.doc.value()?,
            revision: self.revision,
        })
    }
}

/// An event as the history keeps it: documents as bytes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    /// What happened.
    pub(crate) kind: EventKind,
    /// The new state (for a deletion: the last state at the deletion revision).
    pub(crate) object: Held,
    /// The state before (`None` for an addition).
    pub(crate) prev: Option<Held>,
}

/// How much of the past a [`History`] keeps: the newest `events`, fewer once their documents
/// pass `bytes`, but never fewer than [`MIN_EVENTS`] (watchers a moment behind must not all
/// expire at once and re-list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retention {
    /// The most events kept.
    pub(crate) events: usize,
    /// The most document bytes the kept events may hold, each counted with its previous state
    /// (shared with an earlier event when that is in the window too, so an upper bound).
    pub(crate) bytes: usize,
}

/// The fewest events a [`History`] keeps, whatever their size: kube-apiserver's watch cache
/// never shrinks below 100 either.
pub(crate) const MIN_EVENTS: usize = 100;

/// Document bytes whose parsed trees the hot ring keeps at most (see `History::hot`).
const HOT_BYTES: usize = 2 << 20;

impl Record {
    /// The record of a committed `event`. `known` finds the document of a `(key, revision)`
    /// already in memory (an earlier event in the window), which the `prev` then shares
    /// instead of serializing it again.
    pub(crate) fn of(event: &Event, known: impl Fn(&str, u64) -> Option<Arc<Doc>>) -> Result<Self> {
        let held = |object: &Object, doc: Arc<Doc>| Held {
            key: object.key.clone(),
            revision: object.revision,
            doc,
        };
        let prev = match &event.prev {
            Some(prev) => {
                let doc = match known(&prev.key, prev.revision) {
                    Some(doc) => doc,
                    None => Arc::new(Doc::of(&prev.value)?),
                };
                Some(held(prev, doc))
            }
            None => None,
        };
        Ok(Self {
            kind: event.kind,
            object: held(&event.object, Arc::new(Doc::of(&event.object.value)?)),
            prev,
        })
    }

    /// The bytes of its documents, the previous state's included.
    fn bytes(&self) -> usize {
        let prev = self.prev.as_ref().map_or(0, |held| held.doc.bytes().len());
        self.object.doc.bytes().len() + prev
    }

    /// The revision of this change.
    pub(crate) fn revision(&self) -> u64 {
        self.object.revision
    }

    /// The event, its trees shared with anyone else holding them.
    pub(crate) fn event(&self) -> Result<Event> {
        Ok(Event {
            kind: self.kind,
            object: self.object.object()?,
            prev: self.prev.as_ref().map(Held::object).transpose()?,
        })
    }
}

/// A bounded, contiguous run of the most recent events.
#[derive(Debug)]
pub(crate) struct History {
    /// `records[i].revision() == compacted + 1 + i`; bounded by [`Retention`], each record
    /// counted with its documents' bytes ([`Record::bytes`]).
    records: BoundedQueue<Record>,
    /// The newest revision that is no longer retained (or the revision the store opened at).
    compacted: u64,
    /// The trees of the newest records' documents that were alive when they were pushed (the
    /// writer's), counted with their documents' sizes. Watchers that keep up take an event
    /// soon after it is written, often after the writer has let go of its tree: without this
    /// ring each of them would parse the bytes again (100 watchers, 100 parses). Bounded by
    /// [`History::with_hot_trees`] trees and by [`HOT_BYTES`] of their documents (a parsed tree
    /// takes up to ~7 times its bytes), so large documents do not keep hundreds of MiB of trees.
    hot: BoundedQueue<Arc<Value>>,
}

/// The state at a past revision of every key changed since: `None` where the key was absent.
pub(crate) type Rollback<'a> = BTreeMap<&'a str, Option<&'a Held>>;

impl History {
    /// An empty window of at most `limit` events for a store at `revision`: nothing before it
    /// can be replayed.
    #[cfg(test)]
    pub(crate) fn new(revision: u64, limit: usize) -> Self {
        let retention = Retention {
            events: limit,
            bytes: usize::MAX,
        };
        Self::retaining(revision, retention)
    }

    /// An empty window keeping what `retention` allows, for a store at `revision`.
    pub(crate) fn retaining(revision: u64, retention: Retention) -> Self {
        let bounds = Bounds {
            items: retention.events,
            bytes: retention.bytes,
            floor: MIN_EVENTS,
        };
        Self {
            records: BoundedQueue::new(bounds),
            compacted: revision,
            hot: BoundedQueue::default(),
        }
    }

    /// Keeps the trees of up to `trees` of the newest documents alive (see `hot`).
    pub(crate) fn with_hot_trees(mut self, trees: usize) -> Self {
        self.hot = BoundedQueue::new(Bounds {
            items: trees,
            bytes: HOT_BYTES,
            floor: 1,
        });
        self
    }

    /// Forgets every retained event: the window starts again, empty, at `revision`, so that
    /// nothing before it can be replayed (a watcher behind it gets [`Error::Expired`]).
    pub(crate) fn restart(&mut self, revision: u64) {
        self.records.clear();
        self.hot.clear();
        self.compacted = revision;
    }

    /// The newest retained revision, or the compacted one when the window is empty.
    pub(crate) fn newest(&self) -> u64 {
        self.compacted + self.records.len() as u64
    }

    /// Appends the record of the next revision, evicting the oldest beyond the retention.
    pub(crate) fn push(&mut self, record: Record) {
        debug_assert_eq!(
            record.revision(),
            self.newest() + 1,
            "history must stay contiguous"
        );
        for held in std::iter::once(&record.object).chain(&record.prev) {
            if let Some(tree) = held.doc.alive() {
                self.hot.push(tree, held.doc.bytes().len());
            }
        }
        let bytes = record.bytes();
        self.compacted += self.records.push(record, bytes) as u64;
    }

    /// The retained records with revision > `revision`, oldest first, or [`Error::Expired`]
    /// if some of them are no longer retained.
    pub(crate) fn after(&self, revision: u64) -> Result<impl Iterator<Item = &Record>> {
        if revision < self.compacted {
            return Err(Error::Expired {
                requested: revision,
                compacted: self.compacted,
            });
        }
        let skip = usize::try_from(revision - self.compacted).unwrap_or(usize::MAX);
        // Watchers catch up here after every commit: found at once, not stepped through.
        Ok(self.records.iter_from(skip))
    }

    /// The retained record of `revision`, if any.
    pub(crate) fn get(&self, revision: u64) -> Option<&Record> {
        let index = revision.checked_sub(self.compacted + 1)?;
        self.records.get(usize::try_from(index).ok()?)
    }

    /// The document `key` was written with at `revision`, if that write is retained.
    pub(crate) fn doc(&self, key: &str, revision: u64) -> Option<Arc<Doc>> {
        let record = self.get(revision)?;
        let written = record.kind != EventKind::Deleted && record.object.key == key;
        written.then(|| record.object.doc.clone())
    }

    /// The state as of `revision` of every key under `prefix` changed after it.
    pub(crate) fn rollback(&self, revision: u64, prefix: &str) -> Result<Rollback<'_>> {
        let mut states = Rollback::new();
        for record in self.after(revision)? {
            let key = record.object.key.as_str();
            if let (true, Entry::Vacant(entry)) = (key.starts_with(prefix), states.entry(key)) {
                entry.insert(record.prev.as_ref());
            }
        }
        Ok(states)
    }
}

#[cfg(test)]
mod tests;
