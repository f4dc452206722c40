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
    collections::{btree_map::Entry, BTreeMap, VecDeque},
    sync::Arc,
};

use serde_json::Value;

use super::doc::Doc;
use super::{Error, Event, EventKind, Object, Result};

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
    /// `records[i].revision() == compacted + 1 + i`.
    records: VecDeque<Record>,
    /// The newest revision that is no longer retained (or the revision the store opened at).
    compacted: u64,
    /// How many events to retain.
    limit: usize,
    /// The trees of the newest records' documents that were alive when they were pushed (the
    /// writer's). Watchers that keep up take an event soon after it is written, often after
    /// the writer has let go of its tree: without this ring each of them would parse the bytes
    /// again (100 watchers, 100 parses). Bounded by `hot_limit` trees.
    hot: VecDeque<Arc<Value>>,
    hot_limit: usize,
}

/// The state at a past revision of every key changed since: `None` where the key was absent.
pub(crate) type Rollback<'a> = BTreeMap<&'a str, Option<&'a Held>>;

impl History {
    /// An empty window for a store at `revision`: nothing before it can be replayed.
    pub(crate) fn new(revision: u64, limit: usize) -> Self {
        Self {
            records: VecDeque::new(),
            compacted: revision,
            limit,
            hot: VecDeque::new(),
            hot_limit: 0,
        }
    }

    /// Keeps the trees of up to `trees` of the newest documents alive (see `hot`).
    pub(crate) fn with_hot_trees(mut self, trees: usize) -> Self {
        self.hot_limit = trees;
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

    /// Appends the record of the next revision, evicting the oldest beyond the limit.
    pub(crate) fn push(&mut self, record: Record) {
        debug_assert_eq!(
            record.revision(),
            self.newest() + 1,
            "history must stay contiguous"
        );
        if self.hot_limit > 0 {
            let docs = std::iter::once(&record.object).chain(&record.prev);
            self.hot.extend(docs.filter_map(|held| held.doc.alive()));
            let excess = self.hot.len().saturating_sub(self.hot_limit);
            self.hot.drain(..excess);
        }
        self.records.push_back(record);
        while self.records.len() > self.limit {
            self.records.pop_front();
            self.compacted += 1;
        }
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
        Ok(self.records.iter().skip(skip))
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
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::store::EventKind;

    fn object(key: &str, revision: u64) -> Object {
        let value = json!({"metadata": {"name": key, "resourceVersion": revision.to_string()}});
        Object {
            key: key.to_string(),
            value: Arc::new(value),
            revision,
        }
    }

    /// Events for `(key, kind)` at revisions 1, 2, …, each `prev` being the key's last state.
    fn history_of(changes: &[(&str, EventKind)], limit: usize) -> History {
        let mut history = History::new(0, limit);
        let mut last: BTreeMap<&str, Object> = BTreeMap::new();
        for (revision, &(key, kind)) in (1..).zip(changes) {
            let prev = last.remove(key);
            let object = object(key, revision);
            if kind != EventKind::Deleted {
                last.insert(key, object.clone());
            }
            let event = Event { kind, object, prev };
            let record = Record::of(&event, |key, revision| history.doc(key, revision)).unwrap();
            history.push(record);
        }
        history
    }

    fn revisions<'a>(records: impl Iterator<Item = &'a Record>) -> Vec<u64> {
        records.map(Record::revision).collect()
    }

    #[test]
    fn window_keeps_the_newest_events_and_moves_the_horizon() {
        use EventKind::*;
        let check = |limit: usize, compacted: u64, retained: &[u64]| {
            let history = history_of(
                &[("a", Added), ("a", Modified), ("b", Added), ("a", Deleted)],
                limit,
            );
            assert_eq!(history.compacted, compacted, "limit {limit}");
            assert_eq!(history.newest(), 4);
            assert_eq!(
                revisions(history.after(compacted).unwrap()),
                retained,
                "limit {limit}"
            );
        };
        check(10, 0, &[1, 2, 3, 4]);
        check(4, 0, &[1, 2, 3, 4]);
        check(2, 2, &[3, 4]);
        check(0, 4, &[]);
    }

    #[test]
    fn get_finds_exactly_the_retained_revisions() {
        use EventKind::*;
        let history = history_of(&[("a", Added), ("b", Added), ("c", Added), ("d", Added)], 2);
        let check = |revision: u64, key: Option<&str>| {
            let got = history.get(revision).map(|e| e.object.key.as_str());
            assert_eq!(got, key, "revision {revision}");
        };
        check(0, None);
        check(2, None);
        check(3, Some("c"));
        check(4, Some("d"));
        check(5, None);
    }

    #[test]
    fn after_returns_only_later_events_and_expires_below_the_horizon() {
        use EventKind::*;
        let history = history_of(&[("a", Added), ("b", Added), ("c", Added), ("d", Added)], 3);
        let check = |after: u64, expected: Result<Vec<u64>, (u64, u64)>| {
            let got = history
                .after(after)
                .map(revisions)
                .map_err(|error| match error {
                    Error::Expired {
                        requested,
                        compacted,
                    } => (requested, compacted),
                    other => panic!("unexpected {other}"),
                });
            assert_eq!(got, expected, "after {after}");
        };
        check(0, Err((0, 1)));
        check(1, Ok(vec![2, 3, 4]));
        check(3, Ok(vec![4]));
        check(4, Ok(vec![]));
        check(9, Ok(vec![]));
    }

    #[test]
    fn rollback_gives_each_key_its_state_before_the_first_later_change() {
        use EventKind::*;
        let changes = [
            ("p/a", Added),
            ("p/b", Added),
            ("p/a", Modified),
            ("q/c", Added),
            ("p/b", Deleted),
            ("p/d", Added),
        ];
        let history = history_of(&changes, 10);
        let check = |revision: u64, expected: &[(&str, Option<u64>)]| {
            let states = history.rollback(revision, "p/").unwrap();
            let got: Vec<_> = states
                .iter()
                .map(|(key, state)| (*key, state.map(|o| o.revision)))
                .collect();
            assert_eq!(got, expected, "at {revision}");
        };
        check(0, &[("p/a", None), ("p/b", None), ("p/d", None)]);
        check(1, &[("p/a", Some(1)), ("p/b", None), ("p/d", None)]);
        check(3, &[("p/b", Some(2)), ("p/d", None)]);
        check(5, &[("p/d", None)]);
        check(6, &[]);
    }

    #[test]
    fn the_window_keeps_no_tree_once_its_consumers_drop_theirs() {
        use EventKind::*;
        let history = history_of(&[("a", Added), ("a", Modified)], 10);
        let record = history.get(2).unwrap();
        let docs = || [&record.object.doc, &record.prev.as_ref().unwrap().doc];
        assert_eq!(
            docs().map(|d| d.is_parsed()),
            [false, false],
            "written, then dropped"
        );
        let event = record.event().unwrap();
        assert_eq!(
            docs().map(|d| d.is_parsed()),
            [true, true],
            "while handed out"
        );
        assert_eq!(event.object.value["metadata"]["resourceVersion"], "2");
        drop(event);
        assert_eq!(
            docs().map(|d| d.is_parsed()),
            [false, false],
            "once dropped"
        );
    }

    #[test]
    fn consumers_of_one_event_share_one_tree_while_one_holds_it() {
        use EventKind::*;
        let history = history_of(&[("a", Added), ("a", Modified)], 10);
        let record = history.get(2).unwrap();
        let first = record.event().unwrap();
        let second = record.event().unwrap();
        assert!(Arc::ptr_eq(&first.object.value, &second.object.value));
        let (first_prev, second_prev) = (first.prev.unwrap(), second.prev.unwrap());
        assert!(Arc::ptr_eq(&first_prev.value, &second_prev.value));
        let earlier = history.get(1).unwrap().event().unwrap();
        assert!(
            Arc::ptr_eq(&earlier.object.value, &first_prev.value),
            "a prev in the window is the earlier event's document"
        );
    }

    #[test]
    fn the_newest_trees_stay_alive_for_late_consumers_and_older_ones_do_not() {
        let mut history = History::new(0, 100).with_hot_trees(2);
        let mut docs = Vec::new();
        for revision in 1..=3 {
            let event = Event {
                kind: EventKind::Added,
                object: object(&format!("k{revision}"), revision),
                prev: None,
            };
            let record = Record::of(&event, |_, _| None).unwrap();
            docs.push(record.object.doc.clone());
            history.push(record);
            drop(event);
        }
        let parsed: Vec<bool> = docs.iter().map(|doc| doc.is_parsed()).collect();
        assert_eq!(
            parsed,
            [false, true, true],
            "the writer let go of all three"
        );
        let late = history.get(3).unwrap().event().unwrap();
        assert!(Arc::ptr_eq(&late.object.value, &docs[2].alive().unwrap()));
    }

    #[test]
    fn a_tree_written_with_its_record_is_handed_out_while_the_writer_holds_it() {
        let value = Arc::new(json!({"metadata": {"resourceVersion": "1"}}));
        let object = Object {
            key: "a".to_string(),
            value: value.clone(),
            revision: 1,
        };
        let event = Event {
            kind: EventKind::Added,
            object,
            prev: None,
        };
        let record = Record::of(&event, |_, _| None).unwrap();
        assert_eq!(
            record.object.doc.bytes(),
            br#"{"metadata":{"resourceVersion":"1"}}"#
        );
        assert!(Arc::ptr_eq(&record.event().unwrap().object.value, &value));
        drop((event, value));
        assert!(!record.object.doc.is_parsed());
    }
}
