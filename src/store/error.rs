//! Store errors, one variant per Kubernetes `Status` reason the API layer answers with.

use std::sync::Arc;

/// Store failures; each variant maps onto one Kubernetes `Status` reason (see [`Error::reason`]).
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The key does not exist.
    #[error("{key} not found")]
    NotFound {
        /// The key looked up.
        key: String,
    },
    /// A create found the key already present.
    #[error("{key} already exists")]
    AlreadyExists {
        /// The key written.
        key: String,
    },
    /// A precondition on the mod revision failed.
    #[error("the object has been modified: {key} is at revision {actual}, not {expected}")]
    Conflict {
        /// The key written.
        key: String,
        /// The revision the caller expected.
        expected: u64,
        /// The object's actual mod revision.
        actual: u64,
    },
    /// The requested revision is older than the retained history (compacted), or a watcher
    /// fell that far behind.
    #[error("too old resource version: {requested} ({compacted})")]
    Expired {
        /// The revision asked for (for a lagging watcher: the last one it had reached).
        requested: u64,
        /// The newest revision no longer in the history window.
        compacted: u64,
    },
    /// The requested revision has not been reached (yet).
    #[error("too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion {
        /// The revision asked for.
        requested: u64,
        /// The store's current revision.
        current: u64,
    },
    /// The store cannot use its storage now: the disk is full or failing, or the file has not
    /// been reopened since such a failure. The message says what happened and what to do, and
    /// is what the client sees (`ServiceUnavailable`, as kube-apiserver answers while its
    /// storage is unreachable).
    #[error("{0}")]
    Unavailable(String),
    /// A write whose document is over the largest object a store keeps ([`MAX_OBJECT_BYTES`],
    /// or a smaller limit etcd was configured with). The message says how large, and what to
    /// do (`RequestEntityTooLarge`: sending it again cannot succeed).
    #[error("{0}")]
    TooLarge(String),
    /// Anything else: a corrupt file, a closed store, a value that is not a JSON object.
    ///
    /// The message carries the cause and every error behind it, each once, and `source()` is
    /// `None`: logs print errors with `Display`, and a chain printer (anyhow's `{:#}`) would
    /// otherwise print every cause twice.
    #[error("internal error: {}", message_chain(.0.as_ref()))]
    Internal(Arc<dyn std::error::Error + Send + Sync>),
}

/// A store file that cannot be read as a store: what an operator does about it. Carried inside
/// [`Error::Internal`] (to a client it is a server failure like any other); start-up finds it
/// there and says it alone.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store file {} is corrupt ({cause}); restore it from a backup, or move it away to start \
     with an empty store",
    .path.display()
)]
pub struct CorruptFile {
    /// The file.
    pub path: std::path::PathBuf,
    /// What is wrong with it.
    pub cause: String,
}

/// The largest document a store keeps, in bytes as stored (JSON, managedFields and defaults
/// included): etcd's default request limit (`--max-request-bytes`, 1.5 MiB), applied by every
/// backend, so an object written to one store can be moved to another and read back, edited
/// and written again (`kubectl replace` sends it whole; kube-apiserver takes 3 MiB bodies).
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// [`Error::TooLarge`] for the document of `key`, `bytes` long as stored.
pub(crate) fn too_large(key: &str, bytes: usize) -> Error {
    Error::TooLarge(format!(
        "{key} would be {bytes} bytes as stored, over the limit of {MAX_OBJECT_BYTES} bytes \
         (1.5 MiB, etcd's default): make it smaller (fewer spec tags, shorter annotations, old \
         status.tags items removed with a status update); the stored object also holds its \
         managedFields and defaults, so it is larger than the request"
    ))
}

/// Refuses `value` as the document of `key` when it is over [`MAX_OBJECT_BYTES`] serialized.
/// Counts the bytes without keeping them, and only for a document that might be over: a
/// bound from a walk of the tree clears the usual ones without serializing them.
pub(crate) fn check_size(key: &str, value: &serde_json::Value) -> Result<(), Error> {
    if size_bound(value) <= MAX_OBJECT_BYTES {
        return Ok(());
    }
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value).map_err(Error::internal)?;
    match counter.0 {
        bytes if bytes > MAX_OBJECT_BYTES => Err(too_large(key, bytes)),
        _ => Ok(()),
    }
}

/// At least the length of `value` serialized as compact JSON: every character of a string
/// counted as the six bytes of a `\uXXXX` escape, every number as 24 (the longest an `i64`,
/// `u64` or `f64` prints).
fn size_bound(value: &serde_json::Value) -> usize {
    use serde_json::Value;
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

/// `error`'s message followed by its sources', `: `-separated, leaving out a source whose
/// message the text already holds (many errors print their source themselves).
pub(crate) fn message_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

impl Error {
    /// Wraps any error (or message) as [`Error::Internal`].
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(Arc::from(error.into()))
    }

    /// The Kubernetes `Status.reason` for this error.
    pub fn reason(&self) -> &'static str {
        self.status().0
    }

    /// The HTTP status code (and `Status.code`) for this error.
    pub fn code(&self) -> u16 {
        self.status().1
    }

    fn status(&self) -> (&'static str, u16) {
        match self {
            Self::NotFound { .. } => ("NotFound", 404),
            Self::AlreadyExists { .. } => ("AlreadyExists", 409),
            Self::Conflict { .. } => ("Conflict", 409),
            Self::Expired { .. } => ("Expired", 410),
            Self::TooLargeResourceVersion { .. } => ("Timeout", 504),
            Self::Unavailable(_) => ("ServiceUnavailable", 503),
            Self::TooLarge(_) => ("RequestEntityTooLarge", 413),
            Self::Internal(_) => ("InternalError", 500),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_bound_is_never_below_the_serialized_length() {
        let documents = [
            serde_json::json!(null),
            serde_json::json!({"a": [1, -2, 3.5e300, u64::MAX, i64::MIN, true, false, null]}),
            serde_json::json!({"quotes \"\\": "\u{0}\u{1f}\n\t\"\\", "é✓": "𝄞", "": ""}),
            serde_json::json!([[[[]]], {}, [{}], {"k": {"k": {"k": "v"}}}]),
            serde_json::json!({"metadata": {"name": "s", "annotations": {"a": "x".repeat(1000)}}}),
        ];
        for document in documents {
            let exact = serde_json::to_vec(&document).unwrap().len();
            assert!(size_bound(&document) >= exact, "{document}");
        }
    }

    #[test]
    fn documents_past_the_limit_are_refused_saying_how_large_and_others_pass() {
        let padded = |bytes: usize| serde_json::json!({"pad": "x".repeat(bytes)});
        assert!(check_size("s/a", &padded(MAX_OBJECT_BYTES - 100)).is_ok());
        let refused = check_size("s/a", &padded(MAX_OBJECT_BYTES)).unwrap_err();
        let exact = MAX_OBJECT_BYTES + r#"{"pad":""}"#.len();
        assert!(
            refused
                .to_string()
                .starts_with(&format!("s/a would be {exact} bytes")),
            "{refused}"
        );
    }

    #[test]
    fn errors_map_onto_status_reasons_and_codes() {
        let check = |error: Error, reason: &str, code: u16| {
            assert_eq!((error.reason(), error.code()), (reason, code), "{error}");
        };
        let key = || "imagestreams/ns/demo".to_string();
        check(Error::TooLarge("big".into()), "RequestEntityTooLarge", 413);
        check(Error::NotFound { key: key() }, "NotFound", 404);
        check(Error::AlreadyExists { key: key() }, "AlreadyExists", 409);
        check(
            Error::Conflict {
                key: key(),
                expected: 1,
                actual: 2,
            },
            "Conflict",
            409,
        );
        check(
            Error::Expired {
                requested: 1,
                compacted: 5,
            },
            "Expired",
            410,
        );
        check(
            Error::TooLargeResourceVersion {
                requested: 9,
                current: 5,
            },
            "Timeout",
            504,
        );
        check(
            Error::Unavailable("the disk is full".into()),
            "ServiceUnavailable",
            503,
        );
        check(Error::internal("disk on fire"), "InternalError", 500);
    }

    #[test]
    fn error_messages_read_like_the_apiserver() {
        let check = |error: Error, message: &str| assert_eq!(error.to_string(), message);
        check(
            Error::Expired {
                requested: 123,
                compacted: 4567,
            },
            "too old resource version: 123 (4567)",
        );
        check(
            Error::TooLargeResourceVersion {
                requested: 9,
                current: 5,
            },
            "too large resource version: 9, current: 5",
        );
        check(
            Error::NotFound {
                key: "images/x".into(),
            },
            "images/x not found",
        );
        check(
            Error::internal("store is closed"),
            "internal error: store is closed",
        );
    }

    /// An error whose message leaves its source out, as hyper's do.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Terse(#[source] std::io::Error);

    /// An error whose message includes its source's, as redb's do.
    #[derive(Debug, thiserror::Error)]
    #[error("DB corrupted: {0}")]
    struct Verbose(#[source] std::io::Error);

    #[test]
    fn internal_errors_print_every_cause_once() {
        let check = |error: Error, message: &str| {
            assert_eq!(error.to_string(), message);
            // No source, so a chain printer adds nothing to the message.
            assert!(std::error::Error::source(&error).is_none(), "{error}");
        };
        let refused = || std::io::Error::other("connection refused");
        check(
            Error::internal(Terse(refused())),
            "internal error: client error (Connect): connection refused",
        );
        check(
            Error::internal(Verbose(refused())),
            "internal error: DB corrupted: connection refused",
        );
        check(Error::internal("disk full"), "internal error: disk full");
    }
}
