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

/// An addition of key `k<revision>` whose document is about `size` bytes.
fn large_addition(revision: u64, size: usize) -> Record {
    let value = json!({"metadata": {"name": format!("k{revision}"), "resourceVersion": revision.to_string()}, "padding": "x".repeat(size)});
    let event = Event {
        kind: EventKind::Added,
        object: Object {
            key: format!("k{revision}"),
            value: Arc::new(value),
            revision,
        },
        prev: None,
    };
    Record::of(&event, |_, _| None).unwrap()
}

#[test]
fn large_documents_are_dropped_oldest_first_once_their_bytes_pass_the_budget() {
    let retention = Retention {
        events: 10_000,
        bytes: 1_000 * 1_100,
    };
    let mut history = History::retaining(0, retention);
    for revision in 1..=2_000 {
        history.push(large_addition(revision, 1_000));
    }
    let kept = history.after(history.compacted).unwrap().count();
    assert!(
        history.records.bytes() <= retention.bytes,
        "{}",
        history.records.bytes()
    );
    assert!((950..1_100).contains(&kept), "kept {kept}");
    assert_eq!(history.newest(), 2_000);
    assert!(matches!(history.after(1), Err(Error::Expired { .. })));
    let counted: usize = history.records.iter().map(Record::bytes).sum();
    assert_eq!(
        history.records.bytes(),
        counted,
        "the count follows what is kept"
    );
}

#[test]
fn past_the_byte_budget_the_newest_hundred_events_are_kept_whatever_their_size() {
    let retention = Retention {
        events: 10_000,
        bytes: 1,
    };
    let mut history = History::retaining(0, retention);
    for revision in 1..=300 {
        history.push(large_addition(revision, 10_000));
    }
    let kept = revisions(history.after(history.compacted).unwrap());
    assert_eq!(kept, (201..=300).collect::<Vec<_>>());
}

#[test]
fn the_hot_ring_keeps_fewer_trees_of_large_documents() {
    let mut history = History::new(0, 100).with_hot_trees(512);
    let mut writers = Vec::new();
    for revision in 1..=10 {
        let record = large_addition(revision, 1 << 20);
        writers.push(record.object.doc.value().unwrap());
        history.push(record);
    }
    drop(writers);
    let alive: Vec<bool> = (1..=10)
        .map(|revision| history.get(revision).unwrap().object.doc.is_parsed())
        .collect();
    let expected: Vec<bool> = (1..=10).map(|revision| revision == 10).collect();
    assert_eq!(
        alive, expected,
        "2 MiB of documents: one tree of 1 MiB and a bit"
    );
    assert_eq!(history.hot.len(), 1);
}
