//! The largest object a store keeps, and how a write is measured against it.
//!
//! Every backend refuses a document over [`MAX_OBJECT_BYTES`] with [`Error::TooLarge`], so an
//! object written to one store can be moved to another and read back, edited and written again
//! whole (`kubectl replace` sends it; bodies are limited to 3 MiB). An object stored over the
//! limit before it existed may still be written as long as the write does not make it larger
//! ([`unless_not_growing`]): removing a finalizer, a label or old status items must stay
//! possible, or a finalizer could never be released.

use serde_json::Value;

use super::{Error, Store};

/// The largest document a store keeps, in bytes as stored (compact JSON, without
/// `metadata.resourceVersion`, managedFields and defaults included): etcd's default request
/// limit (`--max-request-bytes`, 1.5 MiB) less 2 KiB for the rest of the request etcd counts
/// (the key three times over: the compare, the put and the read of a failed update), so that
/// what one store keeps a default etcd takes.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024 - 2048;

/// [`Error::TooLarge`] for the document of `key`, `bytes` long as stored.
pub(crate) fn too_large(key: &str, bytes: usize) -> Error {
    Error::TooLarge(format!(
        "{key} would be {bytes} bytes as stored, over the limit of {MAX_OBJECT_BYTES} bytes \
         (etcd's default request limit of 1.5 MiB, less room for the key): make it smaller \
         (fewer spec tags, shorter annotations, old status.tags items removed with a status \
         update); the stored object also holds its managedFields and defaults, so it is larger \
         than the request"
    ))
}

/// Refuses `value` as the document of `key` when it is over [`MAX_OBJECT_BYTES`] serialized.
/// Counts the bytes without keeping them, and only for a document that might be over: a
/// bound from a walk of the tree clears the usual ones without serializing them.
pub(crate) fn check_size(key: &str, value: &Value) -> Result<(), Error> {
    if size_bound(value) <= MAX_OBJECT_BYTES {
        return Ok(());
    }
    check_len(key, stored_len(value)?)
}

/// Refuses a document of `key` that is `bytes` long as stored when that is over
/// [`MAX_OBJECT_BYTES`].
pub(crate) fn check_len(key: &str, bytes: usize) -> Result<(), Error> {
    match bytes {
        bytes if bytes > MAX_OBJECT_BYTES => Err(too_large(key, bytes)),
        _ => Ok(()),
    }
}

/// The update of `key` to `new` that `checked` (a size check) refused, let through by
/// [`unless_not_growing`] against the object `store` holds now; read only on that path.
pub(crate) async fn allow_if_not_growing(
    store: &(impl Store + ?Sized),
    key: &str,
    new: &Value,
    checked: Result<(), Error>,
) -> Result<(), Error> {
    let Err(refused) = checked else {
        return Ok(());
    };
    let current = store.get(key).await.ok();
    unless_not_growing(refused, new, current.as_ref().map(|object| &*object.value))
}

/// Refuses a write of `new` as the document of `key` that the store would refuse as too
/// large, `current` being the document stored now (if any): what a dry run checks, so that
/// `dryRun=All` (`kubectl apply --dry-run=server` in a pipeline) answers what the write would.
pub fn check_write_size(key: &str, new: &Value, current: Option<&Value>) -> Result<(), Error> {
    match check_size(key, new) {
        Ok(()) => Ok(()),
        Err(refused) => unless_not_growing(refused, new, current),
    }
}

/// `refused` (a write of `new` over the limit) stands, unless `current`, the object as stored
/// now, is already at least as large, or `new` only marks it for deletion: a write that does
/// not grow an object stored over the limit before it existed is let through, and so is the
/// delete of one whose finalizers must run first (it adds `deletionTimestamp`, a few bytes,
/// once: an object being deleted takes no more of them).
pub(crate) fn unless_not_growing(
    refused: Error,
    new: &Value,
    current: Option<&Value>,
) -> Result<(), Error> {
    let Some(current) = current else {
        return Err(refused);
    };
    let (new_len, current_len) = (stored_len(new)?, stored_len(current)?);
    if new_len <= current_len || marks_deletion_only(new, current) {
        return Ok(());
    }
    match (refused, current_len > MAX_OBJECT_BYTES) {
        (Error::TooLarge(message), true) => Err(Error::TooLarge(format!(
            "{message}; it is already {current_len} bytes (stored before the limit was set, or \
             grown past it by being marked for deletion), so a write may keep it over the limit \
             only if it does not make it larger: remove what it does not need first \
             (finalizers, labels, spec tags, status.tags items are accepted), or bring it under \
             the limit"
        ))),
        (refused, _) => Err(refused),
    }
}

/// The fields a delete sets on an object whose finalizers must run first.
const DELETION_FIELDS: [&str; 2] = ["deletionTimestamp", "deletionGracePeriodSeconds"];

/// Whether `new` is `current` marked for deletion and nothing else (its resource version
/// aside): a first `deletionTimestamp` on an object that had none.
fn marks_deletion_only(new: &Value, current: &Value) -> bool {
    let marked = |value: &Value| !value["metadata"]["deletionTimestamp"].is_null();
    if !marked(new) || marked(current) {
        return false;
    }
    let unmarked = |value: &Value| {
        let mut value = value.clone();
        if let Some(metadata) = value["metadata"].as_object_mut() {
            for field in DELETION_FIELDS.iter().chain(&["resourceVersion"]) {
                metadata.shift_remove(*field);
            }
        }
        value
    };
    unmarked(new) == unmarked(current)
}

/// The length of `value` as stored: compact JSON without `metadata.resourceVersion`, which
/// the store sets (a client may send any).
fn stored_len(value: &Value) -> Result<usize, Error> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value).map_err(Error::internal)?;
    let version = value["metadata"]["resourceVersion"].as_str();
    // `"resourceVersion":"…"` and the comma beside it (it is never the only member a stored
    // object's metadata has: the name is there too).
    let member = version.map_or(0, |version| {
        r#""resourceVersion":"","#.len() + serde_json::to_string(version).map_or(0, |v| v.len() - 2)
    });
    Ok(counter.0 - member.min(counter.0))
}

/// At least the length of `value` serialized as compact JSON: every character of a string
/// counted as the six bytes of a `\uXXXX` escape, every number as 24 (the longest an `i64`,
/// `u64` or `f64` prints).
fn size_bound(value: &Value) -> usize {
    let text = |text: &str| 2 + 6 * text.len();
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(string) => text(string),
        Value::Array(items) => 2 + items.iter().map(|item| size_bound(item) + 1).sum::<usize>(),
        Value::Object(members) => {
            let member = |(name, item): (&String, &Value)| text(name) + 1 + size_bound(item) + 1;
            2 + members.iter().map(member).sum::<usize>()
        }
    }
}

/// A writer that only counts what is written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_size_bound_is_never_below_the_serialized_length() {
        let documents = [
            json!(null),
            json!({"a": [1, -2, 3.5e300, u64::MAX, i64::MIN, true, false, null]}),
            json!({"quotes \"\\": "\u{0}\u{1f}\n\t\"\\", "é✓": "𝄞", "": ""}),
            json!([[[[]]], {}, [{}], {"k": {"k": {"k": "v"}}}]),
            json!({"metadata": {"name": "s", "annotations": {"a": "x".repeat(1000)}}}),
        ];
        for document in documents {
            let exact = serde_json::to_vec(&document).unwrap().len();
            assert!(size_bound(&document) >= exact, "{document}");
        }
    }

    /// A document `bytes` long as stored.
    fn padded(bytes: usize) -> Value {
        json!({"metadata": {"name": "a"}, "pad": "x".repeat(bytes - r#"{"metadata":{"name":"a"},"pad":""}"#.len())})
    }

    #[test]
    fn documents_past_the_limit_are_refused_saying_how_large_and_others_pass() {
        assert!(check_size("s/a", &padded(MAX_OBJECT_BYTES)).is_ok());
        let refused = check_size("s/a", &padded(MAX_OBJECT_BYTES + 1)).unwrap_err();
        let expected = format!("s/a would be {} bytes", MAX_OBJECT_BYTES + 1);
        assert!(refused.to_string().starts_with(&expected), "{refused}");
    }

    #[test]
    fn the_resource_version_a_client_sends_is_not_counted() {
        let mut versioned = padded(MAX_OBJECT_BYTES);
        versioned["metadata"]["resourceVersion"] = json!("123456789");
        assert!(check_size("s/a", &versioned).is_ok());
        assert_eq!(stored_len(&versioned).unwrap(), MAX_OBJECT_BYTES);
    }

    #[test]
    fn a_write_that_does_not_grow_an_object_already_over_the_limit_is_let_through() {
        let over = MAX_OBJECT_BYTES + 10_000;
        let check = |new: usize, current: Option<usize>| {
            let refused = too_large("s/a", new);
            let current = current.map(padded);
            unless_not_growing(refused, &padded(new), current.as_ref()).map_err(|e| e.to_string())
        };
        assert!(check(over, Some(over)).is_ok(), "the same size");
        assert!(check(over - 5, Some(over)).is_ok(), "smaller, still over");
        let grown = check(over + 1, Some(over)).unwrap_err();
        assert!(
            grown.contains(&format!("it is already {over} bytes")),
            "{grown}"
        );
        assert!(
            grown.contains("remove what it does not need first"),
            "{grown}"
        );
        let created = check(over, None).unwrap_err();
        assert!(!created.contains("already"), "{created}");
        let from_under = check(over, Some(1_000)).unwrap_err();
        assert!(!from_under.contains("already"), "{from_under}");
    }

    #[test]
    fn marking_an_object_over_the_limit_for_deletion_is_let_through_once() {
        let over = MAX_OBJECT_BYTES + 10_000;
        let mut current = padded(over);
        current["metadata"]["resourceVersion"] = json!("7");
        current["metadata"]["finalizers"] = json!(["example.com/hold"]);
        let mut marked = current.clone();
        marked["metadata"]["deletionTimestamp"] = json!("2026-11-30T04:00:00Z");
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        let refused = || too_large("s/a", over + 80);
        assert!(unless_not_growing(refused(), &marked, Some(&current)).is_ok());
        let mut labelled = marked.clone();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        let refused_too = unless_not_growing(refused(), &labelled, Some(&current));
        assert!(refused_too.is_err(), "marking and more");
        let mut later = marked.clone();
        later["metadata"]["deletionTimestamp"] = json!("2026-11-30T05:00:00Z");
        later["pad"] = json!("y".repeat(over));
        assert!(
            unless_not_growing(refused(), &later, Some(&marked)).is_err(),
            "an object already marked grows no further this way"
        );
    }
}
