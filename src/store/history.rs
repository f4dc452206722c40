//! The history window: the last N events with their documents, kept in memory for watch
//! resumption, for snapshot reads at a past revision, and to serve recently written documents
//! without reading the disk.
//!
//! Every revision is exactly one event (one write changes one key), so the window is a
//! contiguous run of revisions `compacted + 1 ..= newest` and finding revision R is index
//! arithmetic. A snapshot at R is the current state with the window's later events rolled
//! back: for each key changed after R, its state at R is the `prev` of the first such change.

use std::collections::{btree_map::Entry, BTreeMap, VecDeque};

use super::{Error, Event, Object, Result};

/// A bounded, contiguous run of the most recent events.
#[derive(Debug)]
pub(crate) struct History {
    /// `events[i].revision() == compacted + 1 + i`.
    events: VecDeque<Event>,
    /// The newest revision that is no longer retained (or the revision the store opened at).
    compacted: u64,
    /// How many events to retain.
    limit: usize,
}

/// The state at a past revision of every key changed since: `None` where the key was absent.
pub(crate) type Rollback<'a> = BTreeMap<&'a str, Option<&'a Object>>;

impl History {
    /// An empty window for a store at `revision`: nothing before it can be replayed.
    pub(crate) fn new(revision: u64, limit: usize) -> Self {
        Self {
            events: VecDeque::new(),
            compacted: revision,
            limit,
        }
    }

    /// The newest retained revision, or the compacted one when the window is empty.
    pub(crate) fn newest(&self) -> u64 {
        self.compacted + self.events.len() as u64
    }

    /// Appends the event of the next revision, evicting the oldest beyond the limit.
    pub(crate) fn push(&mut self, event: Event) {
        debug_assert_eq!(
            event.revision(),
            self.newest() + 1,
            "history must stay contiguous"
        );
        self.events.push_back(event);
        while self.events.len() > self.limit {
            self.events.pop_front();
            self.compacted += 1;
        }
    }

    /// The retained events with revision > `revision`, oldest first, or [`Error::Expired`]
    /// if some of them are no longer retained.
    pub(crate) fn after(&self, revision: u64) -> Result<impl Iterator<Item = &Event>> {
        if revision < self.compacted {
            return Err(Error::Expired {
                requested: revision,
                compacted: self.compacted,
            });
        }
        let skip = usize::try_from(revision - self.compacted).unwrap_or(usize::MAX);
        Ok(self.events.iter().skip(skip))
    }

    /// The retained event of `revision`, if any.
    pub(crate) fn get(&self, revision: u64) -> Option<&Event> {
        let index = revision.checked_sub(self.compacted + 1)?;
        self.events.get(usize::try_from(index).ok()?)
    }

    /// The state as of `revision` of every key under `prefix` changed after it.
    pub(crate) fn rollback(&self, revision: u64, prefix: &str) -> Result<Rollback<'_>> {
        let mut states = Rollback::new();
        for event in self.after(revision)? {
            let key = event.object.key.as_str();
            if let (true, Entry::Vacant(entry)) = (key.starts_with(prefix), states.entry(key)) {
                entry.insert(event.prev.as_ref());
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
            history.push(Event { kind, object, prev });
        }
        history
    }

    fn revisions<'a>(events: impl Iterator<Item = &'a Event>) -> Vec<u64> {
        events.map(Event::revision).collect()
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
}
