//! A push as the store keeps it until the leading importer has handled it (pure).
//!
//! One record per pushed tag, keyed by a hash of its source, so pushes of a tag before the
//! importer gets to it are one record (each push rewrites it, a new revision the importer's
//! compare-and-swap delete notices), and a registry that notifies every replica at once
//! costs nothing more.

use jiff::Timestamp;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::notification::PushedTag;
use crate::store::{collection_prefix, object_key};

/// A push record as the importer handled it: its store key and revision.
pub type RecordId = (String, u64);

/// The store resource pushes are kept under; nothing serves it through the API.
pub const RESOURCE: &str = "registrypushes";

/// The prefix of every push record.
pub fn prefix() -> String {
    collection_prefix(RESOURCE, None)
}

/// The store key of the record of a push of `source`.
pub fn key(source: &str) -> String {
    object_key(RESOURCE, None, &name(source))
}

fn name(source: &str) -> String {
    format!("{:x}", Sha256::digest(source.as_bytes()))
}

/// The record of `pushed`, received at `received`.
pub fn value(pushed: &PushedTag, received: Timestamp) -> Value {
    json!({
        "metadata": {"name": name(&pushed.source)},
        "source": pushed.source,
        "digest": pushed.digest,
        "received": received.to_string(),
    })
}

/// The source a record names, if it is a record.
pub fn source(value: &Value) -> Option<&str> {
    value["source"].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_keyed_by_its_source_and_names_it() {
        let pushed = PushedTag {
            source: "quay.io/org/app:1".to_string(),
            digest: Some("sha256:abc".to_string()),
        };
        let record = value(&pushed, Timestamp::UNIX_EPOCH);
        assert_eq!(source(&record), Some("quay.io/org/app:1"));
        assert_eq!(record["digest"], "sha256:abc");
        assert_eq!(record["received"], "1970-01-01T00:00:00Z");
        let key = key("quay.io/org/app:1");
        assert!(key.starts_with(&prefix()));
        assert_eq!(
            key,
            format!(
                "registrypushes/{}",
                record["metadata"]["name"].as_str().unwrap()
            )
        );
        assert_ne!(key, super::key("quay.io/org/app:2"));
        assert_eq!(source(&json!({"metadata": {}})), None);
    }
}
