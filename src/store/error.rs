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
    /// The store could not be reached at all: the request never got to it, so nothing was
    /// changed and sending it again is safe (`ServiceUnavailable` with `Retry-After`, which
    /// client-go honours). A failure after the request may have arrived is
    /// [`Error::Unavailable`], which carries no retry hint: a write retried blindly could be
    /// applied twice.
    #[error("{0}")]
    Unreachable(String),
    /// A write whose document is over the largest object a store keeps ([`MAX_OBJECT_BYTES`](super::size::MAX_OBJECT_BYTES),
    /// or a smaller limit etcd was configured with). The message says how large, and what to
    /// do (`RequestEntityTooLarge`: sending it again cannot succeed).
    #[error("{0}")]
    TooLarge(String),
    /// A stored document that cannot be read as one: `InternalError`, as kube-apiserver
    /// answers a corrupt object, with a message saying how to remove it.
    #[error("{0}")]
    Corrupt(Unreadable),
    /// Anything else: a corrupt file, a closed store, a value that is not a JSON object.
    ///
    /// The message carries the cause and every error behind it, each once, and `source()` is
    /// `None`: logs print errors with `Display`, and a chain printer (anyhow's `{:#}`) would
    /// otherwise print every cause twice.
    #[error("internal error: {}", message_chain(.0.as_ref()))]
    Internal(Arc<dyn std::error::Error + Send + Sync>),
}

/// A stored document that cannot be read (not JSON, not a JSON object): damaged on disk, or
/// written to etcd by something else. Only its key is known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the stored object {key} cannot be read ({cause}); delete it with \
     ?ignoreStoreReadErrorWithClusterBreakingPotential=true and create it again, or restore \
     the store from a backup"
)]
pub struct Unreadable {
    /// The key whose document is unreadable.
    pub key: String,
    /// The key's mod revision: what an unsafe delete is conditional on.
    pub revision: u64,
    /// Why the document cannot be read.
    pub cause: String,
}

impl Unreadable {
    /// What stands for the document where its last state must be shown (the DELETED event of
    /// an unsafe delete): its name and namespace, read from the key, at `revision`.
    pub fn stand_in(&self, revision: u64) -> super::Object {
        let mut segments = self.key.splitn(3, '/').skip(1);
        let metadata = match (segments.next(), segments.next()) {
            (Some(namespace), Some(name)) => {
                serde_json::json!({"name": name, "namespace": namespace})
            }
            (Some(name), None) => serde_json::json!({"name": name}),
            _ => serde_json::json!({}),
        };
        let mut value = serde_json::json!({ "metadata": metadata });
        value["metadata"]["resourceVersion"] = revision.to_string().into();
        super::Object {
            key: self.key.clone(),
            value: std::sync::Arc::new(value),
            revision,
        }
    }
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

/// A store file written by a newer imagelookup, in a layout this version cannot read. Carried
/// inside [`Error::Internal`], as [`CorruptFile`]; start-up finds it there and says it alone.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store file {} is in format {format}, which a newer imagelookup wrote; this version reads \
     format {supported} and older: run the newer version, or restore a backup this version wrote \
     (imagelookup restore-store; writes made since are lost)",
    .path.display()
)]
pub struct NewerFormat {
    /// The file.
    pub path: std::path::PathBuf,
    /// The format the file records.
    pub format: u64,
    /// The newest format this version reads.
    pub supported: u64,
}

/// Why `restore-store` did not restore a backup ([`EmbeddedStore::check_backup`] and
/// [`EmbeddedStore::restore_file`](super::EmbeddedStore::restore_file)): each message names the
/// file and what to do. [`RestoreError::is_input`] tells the operator's input (another backup,
/// another flag, `serve` stopped) from a failure of the disk.
///
/// [`EmbeddedStore::check_backup`]: super::EmbeddedStore::check_backup
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Nothing is at the path named as the backup.
    #[error(
        "{} does not exist: name a backup (store-<time>.redb) to restore, or the directory \
         serve --backup-dir writes",
        .0.display()
    )]
    Missing(std::path::PathBuf),
    /// The path named as the backup is not a file.
    #[error(
        "{} is not a file: name a backup (store-<time>.redb) to restore, or the directory \
         serve --backup-dir writes",
        .0.display()
    )]
    NotAFile(std::path::PathBuf),
    /// The backup cannot be read as a store: damaged, truncated, or not a store at all.
    #[error(
        "cannot restore {}: it is corrupt ({cause}); restore another backup (an older one from \
         the same directory)",
        .path.display()
    )]
    Corrupt {
        /// The backup.
        path: std::path::PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// The backup was written by a newer imagelookup, in a format this version cannot read.
    #[error(transparent)]
    Newer(NewerFormat),
    /// The store the restore would replace is open in another process (a running `serve`).
    #[error("{} is open in another process: stop imagelookup serve first", .0.display())]
    InUse(std::path::PathBuf),
    /// The restored revision would not fit in 64 bits.
    #[error("revision {base} cannot be moved on by {bump}: pass a smaller --bump-revision")]
    Overflow {
        /// The revision moved on from.
        base: u64,
        /// The `--bump-revision` asked for.
        bump: u64,
    },
    /// Reading the backup failed for a reason other than its content (the disk).
    #[error("cannot read {}: {cause}", .path.display())]
    Read {
        /// The backup.
        path: std::path::PathBuf,
        /// What failed.
        cause: String,
    },
    /// Writing the restored store failed (a full or read-only volume, permissions).
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The store file written.
        path: std::path::PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

impl RestoreError {
    /// Whether the operator's input is at fault (another backup, flag or order of steps is the
    /// fix), rather than the disk the files are on.
    pub fn is_input(&self) -> bool {
        !matches!(self, Self::Read { .. } | Self::Write { .. })
    }

    /// The refusal of the backup at `path` that reading it as a store met: its
    /// [`CorruptFile`] or [`NewerFormat`] said for a backup, anything else as a failed read.
    pub(crate) fn unreadable(path: &std::path::Path, error: &Error) -> Self {
        let refusal = error.file_refusal();
        if let Some(newer) = refusal.and_then(|refusal| refusal.downcast_ref::<NewerFormat>()) {
            return Self::Newer(NewerFormat {
                path: newer.path.clone(),
                format: newer.format,
                supported: newer.supported,
            });
        }
        if let Some(corrupt) = refusal.and_then(|refusal| refusal.downcast_ref::<CorruptFile>()) {
            return Self::Corrupt {
                path: path.to_path_buf(),
                cause: corrupt.cause.clone(),
            };
        }
        let cause = match error {
            Error::Internal(cause) => message_chain(cause.as_ref()),
            other => other.to_string(),
        };
        Self::Read {
            path: path.to_path_buf(),
            cause,
        }
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
    /// The store file's refusal ([`CorruptFile`], [`NewerFormat`]) this error carries: said
    /// alone to an operator, since it names the file and what to do.
    pub fn file_refusal(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Self::Internal(cause) if cause.is::<CorruptFile>() || cause.is::<NewerFormat>() => {
                Some(cause.as_ref())
            }
            _ => None,
        }
    }

    /// Wraps any error (or message) as [`Error::Internal`].
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(Arc::from(error.into()))
    }

    /// [`Error::Corrupt`] for the document of `key` at `revision`.
    pub fn corrupt(key: &str, revision: u64, cause: impl std::fmt::Display) -> Self {
        Self::Corrupt(Unreadable {
            key: key.to_string(),
            revision,
            cause: cause.to_string(),
        })
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
            Self::Unavailable(_) | Self::Unreachable(_) => ("ServiceUnavailable", 503),
            Self::TooLarge(_) => ("RequestEntityTooLarge", 413),
            Self::Corrupt(_) | Self::Internal(_) => ("InternalError", 500),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_document_stands_as_the_name_and_namespace_its_key_gives() {
        let unreadable = |key: &str| Unreadable {
            key: key.to_string(),
            revision: 4,
            cause: "not json".into(),
        };
        let check = |key: &str, metadata: serde_json::Value| {
            let object = unreadable(key).stand_in(9);
            assert_eq!((object.key.as_str(), object.revision), (key, 9));
            assert_eq!(*object.value, serde_json::json!({ "metadata": metadata }));
        };
        check(
            "imagestreams/shop/app",
            serde_json::json!({"name": "app", "namespace": "shop", "resourceVersion": "9"}),
        );
        check(
            "images/sha256:abc",
            serde_json::json!({"name": "sha256:abc", "resourceVersion": "9"}),
        );
        let message = unreadable("imagestreams/shop/app").to_string();
        assert!(
            message.starts_with("the stored object imagestreams/shop/app cannot be read (not json); delete it with ?ignoreStoreReadErrorWithClusterBreakingPotential=true"),
            "{message}"
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
