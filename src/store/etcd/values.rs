//! Documents and write outcomes: what is stored, what reads hand out, why a txn failed.
//!
//! Pure: no I/O. Values are stored without `metadata.resourceVersion`; reads stamp it with
//! the key's mod revision, as the kube-apiserver's etcd3 store does.

use std::sync::Arc;

use serde_json::Value;

use super::wire::{self, TxnResponse};
use crate::store::{batch::stamp, Error, Object, Result};

/// An [`Object`] from stored bytes, stamped with `revision`.
pub(super) fn decode(key: String, bytes: &[u8], revision: u64) -> Result<Object> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::corrupt(&key, revision, format_args!("not json: {e}")))?;
    let value = stamp(value, revision)
        .map_err(|_| Error::corrupt(&key, revision, "not a json object with object metadata"))?;
    Ok(Object {
        key,
        value: Arc::new(value),
        revision,
    })
}

/// The value as stored: a JSON object without `metadata.resourceVersion`, which reads stamp.
pub(super) fn for_storage(value: Value) -> Result<(Value, Vec<u8>)> {
    let mut value = stamp(value, 0)?;
    if let Some(metadata) = value["metadata"].as_object_mut() {
        metadata.shift_remove("resourceVersion");
    }
    let bytes = serde_json::to_vec(&value).map_err(Error::internal)?;
    Ok((value, bytes))
}

/// etcd's refusal of a write as too large, saying how large the document of `key` was (etcd
/// counts the whole request: the key three times over, and a long `--store` prefix with it).
pub(super) fn sized(error: Error, key: &str, bytes: usize) -> Error {
    match error {
        Error::TooLarge(message) => Error::TooLarge(format!(
            "{key} is {bytes} bytes as stored, and etcd counts its key three times in the \
                 request (a long --store prefix lowers the limit); {message}"
        )),
        other => other,
    }
}

/// The object a successful write leaves: `value` (as stored) at `revision`.
pub(super) fn written(key: &str, value: Value, revision: u64) -> Result<Object> {
    Ok(Object {
        key: key.to_string(),
        value: Arc::new(stamp(value, revision)?),
        revision,
    })
}

pub(super) fn not_found(key: &str) -> Error {
    Error::NotFound {
        key: key.to_string(),
    }
}

/// The compares of an update or delete: the key exists (at `expected`, if given).
pub(super) fn preconditions(etcd_key: &[u8], expected: Option<u64>) -> Vec<Value> {
    let mut compare = vec![wire::present(etcd_key)];
    compare.extend(expected.map(|revision| wire::modified_at(etcd_key, revision)));
    compare
}

/// Why an update or delete txn failed, from its failure branch's read of the key.
pub(super) fn precondition_failure(
    key: &str,
    expected: Option<u64>,
    answer: &TxnResponse,
) -> Error {
    let actual = answer
        .responses
        .first()
        .and_then(|op| op.response_range.as_ref())
        .and_then(|range| range.kvs.first())
        .map(|kv| kv.mod_revision);
    match (actual, expected) {
        (Some(actual), Some(expected)) => Error::Conflict {
            key: key.to_string(),
            expected,
            actual,
        },
        _ => not_found(key),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_stored_without_resource_version_and_keep_their_field_order() {
        let check = |value: Value, stored: &str| {
            let (_, bytes) = for_storage(value).unwrap();
            assert_eq!(String::from_utf8(bytes).unwrap(), stored);
        };
        check(
            json!({"metadata": {"name": "a", "resourceVersion": "7", "uid": "u"}, "spec": {}}),
            r#"{"metadata":{"name":"a","uid":"u"},"spec":{}}"#,
        );
        check(json!({"spec": 1}), r#"{"spec":1,"metadata":{}}"#);
        assert_eq!(
            for_storage(json!([1])).map_err(|e| e.reason()).err(),
            Some("InternalError")
        );
    }

    #[test]
    fn decoded_objects_carry_their_revision_as_resource_version() {
        let object = decode("s/a".into(), br#"{"metadata":{"name":"a"}}"#, 42).unwrap();
        assert_eq!(
            (object.key.as_str(), object.revision, &*object.value),
            (
                "s/a",
                42,
                &json!({"metadata": {"name": "a", "resourceVersion": "42"}})
            )
        );
        for bytes in [&b"not json"[..], b"[1]", br#"{"metadata":5}"#] {
            let error = decode("s/b".into(), bytes, 7).err();
            assert!(
                matches!(&error, Some(Error::Corrupt(object)) if object.key == "s/b" && object.revision == 7),
                "{error:?}"
            );
            assert_eq!(error.map(|e| e.reason()), Some("InternalError"));
        }
    }

    #[test]
    fn failed_preconditions_tell_conflict_from_not_found() {
        let check = |present: Option<u64>, expected: Option<u64>, reason: &str| {
            let kvs = present
                .map(|mod_revision| wire::KeyValue {
                    mod_revision,
                    ..wire::KeyValue::default()
                })
                .into_iter()
                .collect();
            let range = wire::RangeResponse {
                kvs,
                ..wire::RangeResponse::default()
            };
            let answer = TxnResponse {
                responses: vec![wire::ResponseOp {
                    response_range: Some(range),
                    ..wire::ResponseOp::default()
                }],
                ..TxnResponse::default()
            };
            let error = precondition_failure("s/a", expected, &answer);
            assert_eq!(error.reason(), reason, "{present:?} {expected:?}");
        };
        check(Some(5), Some(4), "Conflict");
        check(None, Some(4), "NotFound");
        check(None, None, "NotFound");
    }
}
