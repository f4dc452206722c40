//! Planning a batch of writes: which ops succeed, at which revisions, producing which events.
//!
//! The commit thread plans against the current state (a [`Base`]: mod revisions from memory,
//! documents read only for the ops that need the previous state), persists the resulting
//! events in one transaction, then applies them. The planning logic itself is pure. Each op is checked on its own against the state left by
//! the ops before it in the batch, so one op's conflict never fails another, and two ops on
//! one key in a batch behave exactly as if they had been committed one after the other.

use std::{collections::HashMap, sync::Arc};

use serde_json::{Map, Value};

use super::{Error, Event, EventKind, Object, Result};

/// One write, as queued by a caller.
#[derive(Debug)]
pub(crate) enum Op {
    /// Create `key`, failing if it exists.
    Create { key: String, value: Value },
    /// Replace `key`, optionally only at mod revision `expected`.
    Update {
        key: String,
        value: Value,
        expected: Option<u64>,
    },
    /// Delete `key`, optionally only at mod revision `expected`.
    Delete { key: String, expected: Option<u64> },
}

/// The outcome of planning a batch.
#[derive(Debug)]
pub(crate) struct Plan {
    /// One result per op, in order: the stored (or deleted) object, or why the op failed.
    pub(crate) results: Vec<Result<Object>>,
    /// The events of the successful ops, at consecutive revisions after the base revision.
    pub(crate) events: Vec<Event>,
}

/// The committed state a batch is planned against.
pub(crate) trait Base {
    /// The mod revision of `key`, or `None` if it does not exist.
    fn mod_revision(&self, key: &str) -> Option<u64>;

    /// The current state of `key`, which exists: the `prev` of an update and the last state a
    /// deletion carries. Only called for ops that pass their checks.
    fn object(&self, key: &str) -> Result<Object>;
}

/// Plans `ops` against `base` at `revision`.
pub(crate) fn plan(base: &impl Base, revision: u64, ops: Vec<Op>) -> Plan {
    let mut view = View {
        base,
        changed: HashMap::new(),
    };
    let mut plan = Plan {
        results: Vec::with_capacity(ops.len()),
        events: Vec::new(),
    };
    for op in ops {
        let next_revision = revision + plan.events.len() as u64 + 1;
        match event_for(&view, op, next_revision) {
            Ok(event) => {
                view.record(&event);
                plan.results.push(Ok(event.object.clone()));
                plan.events.push(event);
            }
            Err(error) => plan.results.push(Err(error)),
        }
    }
    plan
}

/// Sets `metadata.resourceVersion` to `revision`; the value must be a JSON object.
pub(crate) fn stamp(mut value: Value, revision: u64) -> Result<Value> {
    let Value::Object(fields) = &mut value else {
        return Err(Error::internal("stored values must be json objects"));
    };
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(metadata) = metadata else {
        return Err(Error::internal(
            "metadata of a stored value must be a json object",
        ));
    };
    metadata.insert(
        "resourceVersion".to_string(),
        Value::String(revision.to_string()),
    );
    Ok(value)
}

/// The objects as left by the ops planned so far.
struct View<'a, B> {
    base: &'a B,
    /// Keys written earlier in this batch: `None` once deleted.
    changed: HashMap<String, Option<Object>>,
}

impl<B: Base> View<'_, B> {
    fn mod_revision(&self, key: &str) -> Option<u64> {
        match self.changed.get(key) {
            Some(state) => state.as_ref().map(|object| object.revision),
            None => self.base.mod_revision(key),
        }
    }

    fn object(&self, key: &str) -> Result<Object> {
        match self.changed.get(key) {
            Some(Some(object)) => Ok(object.clone()),
            _ => self.base.object(key),
        }
    }

    fn record(&mut self, event: &Event) {
        let state = (event.kind != EventKind::Deleted).then(|| event.object.clone());
        self.changed.insert(event.object.key.clone(), state);
    }

    /// The current state of `key`, read only once it passed its checks.
    fn existing(&self, key: &str, expected: Option<u64>) -> Result<Object> {
        let actual = self.mod_revision(key).ok_or_else(|| Error::NotFound {
            key: key.to_string(),
        })?;
        match expected {
            Some(expected) if expected != actual => Err(Error::Conflict {
                key: key.to_string(),
                expected,
                actual,
            }),
            _ => self.object(key),
        }
    }
}

fn event_for(view: &View<'_, impl Base>, op: Op, revision: u64) -> Result<Event> {
    match op {
        Op::Create { key, value } => match view.mod_revision(&key) {
            Some(_) => Err(Error::AlreadyExists { key }),
            None => Ok(Event {
                kind: EventKind::Added,
                object: stored(key, value, revision)?,
                prev: None,
            }),
        },
        Op::Update {
            key,
            value,
            expected,
        } => {
            let prev = view.existing(&key, expected)?;
            let object = stored(key, value, revision)?;
            Ok(Event {
                kind: EventKind::Modified,
                object,
                prev: Some(prev),
            })
        }
        Op::Delete { key, expected } => {
            // An unreadable document can still be deleted (the API's unsafe delete); its
            // DELETED event shows what its key says of it.
            let prev = match view.existing(&key, expected) {
                Err(Error::Corrupt(unreadable)) => unreadable.stand_in(unreadable.revision),
                other => other?,
            };
            let object = stored(key, Value::clone(&prev.value), revision)?;
            Ok(Event {
                kind: EventKind::Deleted,
                object,
                prev: Some(prev),
            })
        }
    }
}

fn stored(key: String, value: Value, revision: u64) -> Result<Object> {
    Ok(Object {
        key,
        value: Arc::new(stamp(value, revision)?),
        revision,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use std::collections::BTreeMap;

    use super::*;

    impl Base for BTreeMap<String, Object> {
        fn mod_revision(&self, key: &str) -> Option<u64> {
            self.get(key).map(|object| object.revision)
        }

        fn object(&self, key: &str) -> Result<Object> {
            self.get(key).cloned().ok_or_else(|| Error::NotFound {
                key: key.to_string(),
            })
        }
    }

    /// Knows every key's revision, but its documents cannot be read.
    struct Unreadable(BTreeMap<String, Object>);

    impl Base for Unreadable {
        fn mod_revision(&self, key: &str) -> Option<u64> {
            self.0.mod_revision(key)
        }

        fn object(&self, _key: &str) -> Result<Object> {
            Err(Error::internal("disk on fire"))
        }
    }

    fn base() -> BTreeMap<String, Object> {
        let object = |key: &str, revision: u64| Object {
            key: key.to_string(),
            value: Arc::new(
                json!({"metadata": {"name": key, "resourceVersion": revision.to_string()}}),
            ),
            revision,
        };
        [("a", 3), ("b", 5)]
            .into_iter()
            .map(|(key, revision)| (key.to_string(), object(key, revision)))
            .collect()
    }

    fn create(key: &str) -> Op {
        Op::Create {
            key: key.to_string(),
            value: json!({"metadata": {"name": key}}),
        }
    }
    fn update(key: &str, expected: Option<u64>) -> Op {
        Op::Update {
            key: key.to_string(),
            value: json!({"metadata": {"name": key}, "spec": 1}),
            expected,
        }
    }
    fn delete(key: &str, expected: Option<u64>) -> Op {
        Op::Delete {
            key: key.to_string(),
            expected,
        }
    }

    /// Plans `ops` on [`base`] at revision 5; each result as `Ok(revision)` or `Err(reason)`.
    fn check(ops: Vec<Op>, expected: &[Result<u64, &str>]) {
        let plan = plan(&base(), 5, ops);
        let got: Vec<_> = plan
            .results
            .iter()
            .map(|r| r.as_ref().map(|o| o.revision).map_err(|e| e.reason()))
            .collect();
        assert_eq!(got, expected);
        let revisions: Vec<u64> = plan.events.iter().map(Event::revision).collect();
        let ok: Vec<u64> = expected.iter().filter_map(|r| r.ok()).collect();
        assert_eq!(revisions, ok, "events are the successful ops, in order");
    }

    #[test]
    fn each_op_is_checked_on_its_own() {
        check(
            vec![create("c"), create("a"), create("d")],
            &[Ok(6), Err("AlreadyExists"), Ok(7)],
        );
        check(
            vec![
                update("a", Some(2)),
                update("a", Some(3)),
                update("z", None),
            ],
            &[Err("Conflict"), Ok(6), Err("NotFound")],
        );
        check(
            vec![
                delete("b", Some(4)),
                delete("z", None),
                delete("b", Some(5)),
            ],
            &[Err("Conflict"), Err("NotFound"), Ok(6)],
        );
        check(vec![update("a", None), delete("b", None)], &[Ok(6), Ok(7)]);
    }

    #[test]
    fn later_ops_see_earlier_ops_in_the_same_batch() {
        check(
            vec![create("c"), create("c"), update("c", Some(6))],
            &[Ok(6), Err("AlreadyExists"), Ok(7)],
        );
        check(
            vec![
                delete("a", None),
                update("a", None),
                create("a"),
                delete("a", Some(7)),
            ],
            &[Ok(6), Err("NotFound"), Ok(7), Ok(8)],
        );
        check(
            vec![update("a", None), update("a", Some(3))],
            &[Ok(6), Err("Conflict")],
        );
    }

    #[test]
    fn deletion_carries_the_last_state_at_the_deletion_revision() {
        let plan = plan(&base(), 5, vec![delete("a", Some(3))]);
        let event = &plan.events[0];
        assert_eq!((event.kind, event.revision()), (EventKind::Deleted, 6));
        assert_eq!(
            event.object.value["metadata"],
            json!({"name": "a", "resourceVersion": "6"})
        );
        assert_eq!(event.prev.as_ref().map(|o| o.revision), Some(3));
    }

    #[test]
    fn documents_are_read_only_for_ops_that_pass_their_checks() {
        let ops = vec![
            update("a", Some(2)),
            delete("z", None),
            create("b"),
            update("a", Some(3)),
            create("c"),
            delete("c", Some(6)),
        ];
        let plan = plan(&Unreadable(base()), 5, ops);
        let got: Vec<_> = plan
            .results
            .iter()
            .map(|r| r.as_ref().map(|o| o.revision).map_err(|e| e.reason()))
            .collect();
        let expected = [
            Err("Conflict"),
            Err("NotFound"),
            Err("AlreadyExists"),
            Err("InternalError"),
            Ok(6),
            Ok(7),
        ];
        assert_eq!(
            got, expected,
            "a key written in the batch is read from the batch"
        );
    }

    #[test]
    fn stamp_overwrites_the_resource_version_and_rejects_non_objects() {
        let check = |value: Value, expected: Result<Value, &str>| {
            assert_eq!(
                stamp(value.clone(), 42).map_err(|e| e.reason()),
                expected,
                "{value}"
            );
        };
        check(
            json!({"metadata": {"resourceVersion": "7", "name": "x"}}),
            Ok(json!({"metadata": {"resourceVersion": "42", "name": "x"}})),
        );
        check(
            json!({"spec": {}}),
            Ok(json!({"spec": {}, "metadata": {"resourceVersion": "42"}})),
        );
        check(json!([1]), Err("InternalError"));
        check(json!({"metadata": "x"}), Err("InternalError"));
    }

    #[test]
    fn a_value_that_cannot_be_stamped_fails_only_its_own_op() {
        let bad = Op::Create {
            key: "c".to_string(),
            value: json!("not an object"),
        };
        check(vec![bad, create("d")], &[Err("InternalError"), Ok(6)]);
    }
}
