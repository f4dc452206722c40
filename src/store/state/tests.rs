use std::{collections::BTreeMap, sync::Arc};

use serde_json::json;

use super::*;
use crate::store::{Event, Object};

fn object(key: &str, revision: u64) -> Object {
    let value = json!({"metadata": {"resourceVersion": revision.to_string()}});
    Object {
        key: key.to_string(),
        value: Arc::new(value),
        revision,
    }
}

/// Applies `(key, kind)` at revisions 1, 2, … to an empty state, one commit each; the
/// snapshot stands for "the file as of revision N" by being N.
fn state_after(changes: &[(&str, EventKind)], history_limit: usize) -> State<u64> {
    let retention = Retention {
        events: history_limit,
        bytes: usize::MAX,
    };
    let mut state = State::new(Keys::new(), 0, retention, 0);
    let mut last: BTreeMap<&str, Object> = BTreeMap::new();
    for (revision, &(key, kind)) in (1..).zip(changes) {
        let object = object(key, revision);
        let prev = match kind {
            EventKind::Deleted => last.remove(key),
            _ => last.insert(key, object.clone()),
        };
        let event = Event { kind, object, prev };
        let record = Record::of(&event, |key, revision| state.doc(key, revision)).unwrap();
        state.apply(vec![record], Some(revision));
    }
    state
}

fn options(at: ReadAt, start_after: Option<&str>, limit: usize) -> ListOptions {
    let start_after = start_after.map(str::to_string);
    ListOptions {
        at,
        start_after,
        limit: NonZeroUsize::new(limit),
        skip_unreadable: false,
    }
}

/// A page as `(key, revision)` pairs, its snapshot revision and `more`.
type Page = (Vec<(String, u64)>, u64, bool);

fn page(state: &State<u64>, prefix: &str, options: &ListOptions) -> Result<Page> {
    let read = state.list(prefix, options)?;
    let items = read
        .sources
        .iter()
        .map(|s| (s.key().to_string(), s.revision()))
        .collect();
    Ok((items, read.revision, read.more))
}

const CHANGES: [(&str, EventKind); 7] = [
    ("p/a", EventKind::Added),    // 1
    ("p/b", EventKind::Added),    // 2
    ("q/x", EventKind::Added),    // 3
    ("p/c", EventKind::Added),    // 4
    ("p/a", EventKind::Modified), // 5
    ("p/b", EventKind::Deleted),  // 6
    ("p/0", EventKind::Added),    // 7
];

#[test]
fn list_reads_current_or_exact_snapshots_page_by_page() {
    let state = state_after(&CHANGES, 100);
    let snapshot = |at| match at {
        ReadAt::Current => 7,
        ReadAt::Exact(revision) => revision,
    };
    let check = |at, after, limit, items: &[(&str, u64)], more| {
        let expected = (
            items.iter().map(|(k, r)| (k.to_string(), *r)).collect(),
            snapshot(at),
            more,
        );
        assert_eq!(
            page(&state, "p/", &options(at, after, limit)).unwrap(),
            expected,
            "{at:?} {after:?} {limit}"
        );
    };
    check(
        ReadAt::Current,
        None,
        0,
        &[("p/0", 7), ("p/a", 5), ("p/c", 4)],
        false,
    );
    check(ReadAt::Current, None, 2, &[("p/0", 7), ("p/a", 5)], true);
    check(ReadAt::Current, Some("p/a"), 2, &[("p/c", 4)], false);
    check(
        ReadAt::Exact(4),
        None,
        0,
        &[("p/a", 1), ("p/b", 2), ("p/c", 4)],
        false,
    );
    check(ReadAt::Exact(4), None, 1, &[("p/a", 1)], true);
    check(ReadAt::Exact(4), Some("p/a"), 1, &[("p/b", 2)], true);
    check(ReadAt::Exact(4), Some("p/b"), 1, &[("p/c", 4)], false);
    check(ReadAt::Exact(2), None, 0, &[("p/a", 1), ("p/b", 2)], false);
    check(ReadAt::Exact(0), None, 0, &[], false);
    check(
        ReadAt::Exact(7),
        Some("o"),
        0,
        &[("p/0", 7), ("p/a", 5), ("p/c", 4)],
        false,
    );
}

#[test]
fn documents_in_the_window_are_held_and_older_ones_read_from_the_current_snapshot() {
    let state = state_after(&CHANGES, 3);
    let check = |at, expected: &[(&str, u64, bool)]| {
        let read = state.list("p/", &options(at, None, 0)).unwrap();
        let got: Vec<_> = read
            .sources
            .iter()
            .map(|s| (s.key(), s.revision(), matches!(s, Source::Held(_))))
            .collect();
        assert_eq!(got, expected, "{at:?}");
        assert_eq!(read.snapshot, Some(7), "always the current snapshot");
    };
    check(
        ReadAt::Current,
        &[("p/0", 7, true), ("p/a", 5, true), ("p/c", 4, false)],
    );
    // At 4, p/a and p/b are rolled back to the states their later events replaced.
    check(
        ReadAt::Exact(4),
        &[("p/a", 1, true), ("p/b", 2, true), ("p/c", 4, false)],
    );
    let stored = Source::Stored {
        key: "p/c".into(),
        revision: 4,
    };
    assert_eq!(state.get("p/c").unwrap(), (stored, Some(7)));
}

#[test]
fn list_below_the_window_expires_and_above_the_revision_is_too_large() {
    let state = state_after(&CHANGES, 3);
    let check = |revision, expected: Option<(&str, u16)>| {
        let got = state.list("p/", &options(ReadAt::Exact(revision), None, 0));
        assert_eq!(
            got.err().map(|e| (e.reason(), e.code())),
            expected,
            "at {revision}"
        );
    };
    check(3, Some(("Expired", 410)));
    check(4, None);
    check(7, None);
    check(8, Some(("Timeout", 504)));
}

#[test]
fn a_reopened_file_is_taken_when_it_matches_or_is_ahead_and_refused_when_behind() {
    // After CHANGES the keys are p/0@7, p/a@5, p/c@4, q/x@3, at revision 7.
    let served = || state_after(&CHANGES, 10).keys.clone();
    let with = |extra: &[(&str, u64)]| {
        let mut keys = served();
        keys.extend(extra.iter().map(|&(key, revision)| (key.into(), revision)));
        keys
    };
    let check = |keys: Keys, revision: u64, expected: Reopened, watchable_from: u64| {
        let mut state = state_after(&CHANGES, 10);
        let outcome = state.reopened(keys.clone(), revision, 100);
        assert_eq!(outcome, expected, "file at {revision}");
        let taken = !matches!(outcome, Reopened::Disagrees { .. });
        let (want_keys, want_revision, want_snapshot) = if taken {
            (keys, revision, 100)
        } else {
            (served(), 7, 7)
        };
        assert_eq!(state.keys, want_keys, "keys, file at {revision}");
        assert_eq!(state.revision(), want_revision);
        assert_eq!(state.snapshot, Some(want_snapshot));
        let expired = |from: u64| state.check_watchable(from).is_err();
        assert!(!expired(watchable_from), "watch from {watchable_from}");
        if let Some(before) = watchable_from.checked_sub(1) {
            assert!(expired(before), "watch from {before}");
        }
    };
    check(served(), 7, Reopened::Same, 0);
    check(with(&[("p/z", 9)]), 9, Reopened::Ahead { revisions: 2 }, 9);
    check(served(), 6, Reopened::Disagrees { file: 6, served: 7 }, 0);
    check(
        with(&[("p/z", 7)]),
        7,
        Reopened::Disagrees { file: 7, served: 7 },
        0,
    );
}

#[test]
fn get_returns_current_state_or_not_found() {
    let state = state_after(&CHANGES, 10);
    let revision = |key| state.get(key).map(|(source, _)| source.revision());
    assert_eq!(revision("p/a").ok(), Some(5));
    assert_eq!(revision("p/b").map_err(|e| e.reason()), Err("NotFound"));
    assert_eq!(state.revision(), 7);
}

#[test]
fn a_closed_state_hands_out_no_snapshot() {
    let mut state = state_after(&CHANGES, 10);
    state.close();
    assert_eq!(state.get("p/a").unwrap().1, None);
}

#[test]
fn events_after_filters_by_prefix_and_reports_how_far_it_scanned() {
    let state = state_after(&CHANGES, 4);
    let check = |prefix, after, max_scan, revisions: &[u64], reached| {
        let (events, got_reached) = state.events_after(prefix, after, max_scan).unwrap();
        let got: Vec<u64> = events.iter().map(Record::revision).collect();
        assert_eq!(
            (got.as_slice(), got_reached),
            (revisions, reached),
            "{prefix} after {after}"
        );
    };
    check("p/", 3, 100, &[4, 5, 6, 7], 7);
    check("q/", 3, 100, &[], 7);
    check("p/", 3, 2, &[4, 5], 5);
    check("p/", 7, 100, &[], 7);
    check("p/", 9, 100, &[], 9);
    assert_eq!(
        state.check_watchable(2).map_err(|e| e.reason()),
        Err("Expired")
    );
    assert!(state.check_watchable(3).is_ok());
}

/// `(key index, delete-if-present)` steps into `(key, kind)` changes; keys in two prefixes.
fn changes_of(steps: &[(usize, bool)]) -> Vec<(&'static str, EventKind)> {
    const KEYS: [&str; 6] = ["p/a", "p/b", "p/c", "q/a", "p/d", "p/e"];
    let mut present = [false; KEYS.len()];
    let to_change = |&(index, delete): &(usize, bool)| {
        let kind = match (present[index], delete) {
            (false, _) => EventKind::Added,
            (true, false) => EventKind::Modified,
            (true, true) => EventKind::Deleted,
        };
        present[index] = kind != EventKind::Deleted;
        (KEYS[index], kind)
    };
    steps.iter().map(to_change).collect()
}

/// The `(key, revision)` pairs under `prefix` after replaying the first `revision` changes.
fn replayed(changes: &[(&str, EventKind)], revision: u64, prefix: &str) -> Vec<(String, u64)> {
    let mut objects = BTreeMap::new();
    for (at, &(key, kind)) in (1..=revision).zip(changes) {
        match kind {
            EventKind::Deleted => objects.remove(key),
            _ => objects.insert(key.to_string(), at),
        };
    }
    objects
        .into_iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .collect()
}

proptest::proptest! {
    #[test]
    fn paging_any_retained_snapshot_matches_a_replay(
        steps in proptest::collection::vec((0..6usize, proptest::bool::ANY), 0..40),
        limit in 1..5usize,
        window in 0..45usize,
    ) {
        let changes = changes_of(&steps);
        let state = state_after(&changes, window);
        let oldest = state.revision().saturating_sub(window as u64);
        for revision in oldest..=state.revision() {
            let mut items = Vec::new();
            let mut after = None;
            loop {
                let options = options(ReadAt::Exact(revision), after.as_deref(), limit);
                let (page_items, at, more) = page(&state, "p/", &options).unwrap();
                proptest::prop_assert_eq!(at, revision);
                after = page_items.last().map(|(key, _)| key.clone()).or(after);
                items.extend(page_items);
                if !more {
                    break;
                }
            }
            proptest::prop_assert_eq!(&items, &replayed(&changes, revision, "p/"), "at {}", revision);
        }
    }
}
