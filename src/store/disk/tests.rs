//! The file's tables and snapshots, and what opening a file that is not a whole store says.

use std::path::PathBuf;

use serde_json::json;
use tempfile::TempDir;

use super::*;
use crate::store::Event;

const CACHE: usize = 1 << 20;

fn event(kind: EventKind, key: &str, revision: u64) -> Record {
    let value = json!({"metadata": {"name": key, "resourceVersion": revision.to_string()}});
    let object = Object {
        key: key.to_string(),
        value: Arc::new(value),
        revision,
    };
    let event = Event {
        kind,
        object,
        prev: None,
    };
    Record::of(&event, |_, _| None).unwrap()
}

#[test]
fn persisted_batches_load_back_as_keys_and_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/store");
    {
        let (db, _) = open_file(&path, CACHE).unwrap();
        persist(
            &db,
            &[
                event(EventKind::Added, "a", 1),
                event(EventKind::Added, "b", 2),
            ],
        )
        .unwrap();
        persist(
            &db,
            &[
                event(EventKind::Modified, "a", 3),
                event(EventKind::Deleted, "b", 4),
            ],
        )
        .unwrap();
    }
    let (_db, (snapshot, keys, revision)) = open_file(&path, CACHE).unwrap();
    assert_eq!(revision, 4);
    assert_eq!(keys, Keys::from([("a".into(), 3)]));
    let a = snapshot.object("a", 3).unwrap();
    assert_eq!(a.value["metadata"]["resourceVersion"], json!("3"));
}

#[test]
fn a_snapshot_keeps_reading_its_commit_after_later_ones() {
    let db = open_memory(CACHE).unwrap();
    persist(&db, &[event(EventKind::Added, "a", 1)]).unwrap();
    let before = snapshot(&db).unwrap();
    persist(&db, &[event(EventKind::Modified, "a", 2)]).unwrap();
    persist(&db, &[event(EventKind::Added, "b", 3)]).unwrap();
    let after = snapshot(&db).unwrap();
    let check = |snapshot: &Snapshot, key, revision, found: Result<u64, ()>| {
        let got = snapshot.object(key, revision).map(|o| o.revision);
        assert_eq!(got.map_err(drop), found, "{key} at {revision}");
    };
    check(&before, "a", 1, Ok(1));
    check(&before, "a", 2, Err(()));
    check(&before, "b", 3, Err(()));
    check(&after, "a", 2, Ok(2));
    check(&after, "a", 1, Err(()));
    check(&after, "b", 3, Ok(3));
}

#[test]
fn a_fresh_database_is_empty_at_revision_zero() {
    let (_, keys, revision) = load(&open_memory(CACHE).unwrap()).unwrap();
    assert_eq!((keys.len(), revision), (0, 0));
}

#[test]
fn an_object_newer_than_the_store_revision_is_reported_as_corrupt() {
    let db = open_memory(CACHE).unwrap();
    persist(&db, &[event(EventKind::Added, "a", 1)]).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(META).unwrap().insert(REVISION, 0).unwrap();
    txn.commit().unwrap();
    let error = load(&db).unwrap_err();
    assert!(error.to_string().contains("corrupt store"), "{error}");
}

/// The message opening `path` fails with once `damage` has rewritten the bytes of a store
/// holding a few objects, or `None` if it opens; and the file, in a directory removed with
/// the returned guard.
fn opening_damaged(damage: fn(Vec<u8>) -> Vec<u8>) -> (TempDir, PathBuf, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let (db, _) = open_file(&path, CACHE).unwrap();
        let events: Vec<_> = (1..=50)
            .map(|n| event(EventKind::Added, &format!("s/{n}"), n))
            .collect();
        persist(&db, &events).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, damage(bytes)).unwrap();
    let error = open_file(&path, CACHE).err().map(|error| error.to_string());
    (dir, path, error)
}

#[test]
fn a_store_file_that_cannot_be_a_store_is_refused_saying_what_to_do() {
    let check = |name: &str, damage: fn(Vec<u8>) -> Vec<u8>, cause: &str| {
        let (_dir, path, error) = opening_damaged(damage);
        let error = error.unwrap_or_else(|| panic!("{name}: opened"));
        let start = format!(
            "internal error: the store file {} is corrupt ({cause}",
            path.display()
        );
        let end = "); restore it from a backup, or move it away to start with an empty store";
        assert!(error.starts_with(&start), "{name}: {error}");
        assert!(error.ends_with(end), "{name}: {error}");
        assert!(
            !error.contains("internal error: I/O error"),
            "{name}: {error}"
        );
    };
    check("empty", |_| Vec::new(), "it is empty");
    check(
        "truncated in its header",
        |bytes| bytes[..100].to_vec(),
        "it is truncated; redb: failed to fill whole buffer",
    );
    check(
        "truncated to half",
        |bytes| bytes[..bytes.len() / 2].to_vec(),
        "redb: File truncated below stored layout",
    );
    check(
        "not a redb file",
        |_| b"apiVersion: v1\nkind: List\n".to_vec(),
        "redb: Not a redb database: magic number mismatch",
    );
    check("one byte", |_| vec![0], "redb: Not a redb database");
}

#[test]
fn only_an_absent_store_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (_, (_, keys, revision)) = open_file(&path, CACHE).unwrap();
    assert_eq!((keys.len(), revision), (0, 0));
    assert!(std::fs::metadata(&path).unwrap().len() > 0, "initialised");
}

#[test]
fn a_store_file_held_by_another_handle_keeps_redb_s_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let _held = open_file(&path, CACHE).unwrap();
    let error = open_file(&path, CACHE).unwrap_err();
    let Error::Internal(cause) = &error else {
        panic!("{error}");
    };
    let locked = cause.downcast_ref::<DatabaseError>();
    assert!(
        matches!(locked, Some(DatabaseError::DatabaseAlreadyOpen)),
        "{error}"
    );
}

#[test]
fn a_failed_write_says_nothing_was_saved_only_when_it_was_refused_for_room() {
    let message = |kind: std::io::ErrorKind| {
        let io = std::io::Error::new(kind, "from the disk");
        failure(redb::Error::Io(io), Access::Write).to_string()
    };
    for kind in [
        std::io::ErrorKind::StorageFull,
        std::io::ErrorKind::QuotaExceeded,
        std::io::ErrorKind::FileTooLarge,
    ] {
        assert!(
            message(kind).contains("nothing of this request was saved"),
            "{kind:?}"
        );
    }
    let fsync = message(std::io::ErrorKind::Other);
    assert!(fsync.contains("may or may not have been saved"), "{fsync}");
    assert!(
        !fsync.contains("nothing of this request was saved"),
        "{fsync}"
    );
}

#[test]
fn a_new_store_file_is_its_owners_only_and_an_existing_one_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("store");
    drop(open_file(&path, CACHE).unwrap());
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "it holds the pull secrets kept here");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    drop(open_file(&path, CACHE).unwrap());
    assert_eq!(mode(&path), 0o640, "an operator's choice stands");
}

/// The format `path`'s file records, read with redb alone.
fn recorded_format(path: &Path) -> Option<u64> {
    let db = Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    format_of(&txn).unwrap()
}

/// Records `format` in the store file at `path` (`None` removes the marker), as another version
/// of imagelookup would.
fn record_format(path: &Path, format: Option<u64>) {
    let db = Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        match format {
            Some(format) => drop(meta.insert(FORMAT, format).unwrap()),
            None => drop(meta.remove(FORMAT).unwrap()),
        }
    }
    txn.commit().unwrap();
}

/// A store file holding one object at revision 1, closed, in a directory removed with the guard.
fn store_of_one_object() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("store");
    let (db, _) = open_file(&path, CACHE).unwrap();
    persist(&db, &[event(EventKind::Added, "s/a", 1)]).unwrap();
    (dir, path)
}

#[test]
fn a_store_file_records_its_format_and_one_from_before_the_marker_is_given_it() {
    let (_dir, path) = store_of_one_object();
    assert_eq!(recorded_format(&path), Some(FORMAT_VERSION));

    record_format(&path, None);
    let (_, (_, keys, revision)) = open_file(&path, CACHE).unwrap();
    assert_eq!((keys.len(), revision), (1, 1), "read as format 1");
    assert_eq!(recorded_format(&path), Some(FORMAT_VERSION));
}

#[test]
fn a_store_file_a_newer_version_wrote_is_refused_for_serving_and_copying_and_kept_as_it_is() {
    let (_dir, path) = store_of_one_object();
    let newer = FORMAT_VERSION + 1;
    record_format(&path, Some(newer));
    let said = format!(
        "the store file {} is in format {newer}, which a newer imagelookup wrote; this version \
         reads format {FORMAT_VERSION} and older: run the newer version, or restore a backup this \
         version wrote",
        path.display()
    );

    let opened = open_file(&path, CACHE).err().map(|error| error.to_string());
    let opened = opened.expect("opened for serving");
    assert!(opened.contains(&said), "{opened}");
    let copied = read_only(&path).err().map(|error| error.to_string());
    let copied = copied.expect("opened as a backup");
    assert!(copied.contains(&said), "{copied}");

    assert_eq!(recorded_format(&path), Some(newer), "not marked down");
}

#[test]
fn a_copy_is_written_in_this_version_s_format() {
    let (dir, path) = store_of_one_object();
    let (db, _) = open_file(&path, CACHE).unwrap();
    let copy = dir.path().join("copy");
    let never = AtomicBool::new(false);
    write_copy(&snapshot(&db).unwrap(), 7, &copy, None, &never).unwrap();
    drop(db);
    assert_eq!(recorded_format(&copy), Some(FORMAT_VERSION));
    let (_, (_, keys, revision)) = open_file(&copy, CACHE).unwrap();
    assert_eq!((keys.len(), revision), (1, 7));
}
