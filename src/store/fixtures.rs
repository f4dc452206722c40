//! Test fixtures: real stores on temporary files.

use tempfile::TempDir;

use super::{EmbeddedOptions, EmbeddedStore};

/// A store on a fresh file with a history window of `history_limit` revisions; keep the
/// directory alive as long as the store.
pub(crate) fn file_store(history_limit: usize) -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store =
        EmbeddedStore::open(dir.path().join("store"), options(history_limit)).expect("open store");
    (dir, store)
}

/// Reopens the store file in `dir` (after the previous store was dropped).
pub(crate) fn reopen(dir: &TempDir) -> EmbeddedStore {
    EmbeddedStore::open(dir.path().join("store"), options(100)).expect("reopen store")
}

fn options(history_limit: usize) -> EmbeddedOptions {
    EmbeddedOptions {
        history_limit,
        ..EmbeddedOptions::default()
    }
}
