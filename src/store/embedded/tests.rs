use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::*;
use crate::store::{fixtures, ReadAt};

#[tokio::test]
async fn list_below_the_history_window_expires() {
    let (_dir, store) = fixtures::file_store(3);
    for i in 0..6 {
        store.create(&format!("s/{i}"), json!({})).await.unwrap();
    }
    let at = |revision| ListOptions {
        at: ReadAt::Exact(revision),
        ..ListOptions::default()
    };
    let error = store
        .list("s/", &at(2))
        .await
        .err()
        .map(|e| (e.code(), e.to_string()));
    assert_eq!(
        error,
        Some((410, "too old resource version: 2 (3)".to_string()))
    );
    assert_eq!(store.list("s/", &at(3)).await.unwrap().items.len(), 3);
}

#[tokio::test]
async fn a_file_with_zeroed_pages_is_refused_as_corrupt_naming_the_file() {
    let (dir, store) = fixtures::file_store(100);
    for i in 0..5 {
        store
            .create(&format!("s/{i}"), json!({"n": i}))
            .await
            .unwrap();
    }
    drop(store);
    // Keep the header and the first pages, zero the rest (where redb panics, not errs).
    let path = dir.path().join("store");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8192..].fill(0);
    std::fs::write(&path, bytes).unwrap();

    let error = EmbeddedStore::open(&path, EmbeddedOptions::default())
        .err()
        .map(|e| e.to_string())
        .expect("a corrupt file must not open");
    let expected = format!(
        "the store file {} is corrupt (redb met a damaged page: ",
        path.display()
    );
    assert!(error.contains(&expected), "{error}");
    assert!(error.contains("restore it from a backup"), "{error}");
}

#[tokio::test]
async fn the_in_memory_store_runs_the_same_code() {
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap());
    store.create("s/a", json!({})).await.unwrap();
    assert_eq!(
        store
            .update("s/a", json!({}), Some(1))
            .await
            .map(|o| o.revision)
            .ok(),
        Some(2)
    );
    assert_eq!(store.current_revision(), 2);
}

#[tokio::test]
async fn watchers_and_the_writer_share_one_tree_and_the_history_keeps_none() {
    use futures::StreamExt;
    let (_dir, store) = fixtures::file_store(1000);
    let mut first = store.watch("s/", 0).await.unwrap();
    let mut second = store.watch("s/", 0).await.unwrap();
    let created = store.create("s/a", json!({"spec": 1})).await.unwrap();
    let doc = store.shared.read().doc("s/a", 1).unwrap();
    let seen = [
        first.next().await.unwrap().unwrap(),
        second.next().await.unwrap().unwrap(),
    ];
    for event in &seen {
        assert!(Arc::ptr_eq(&event.object.value, &created.value));
    }
    drop((created, seen));
    assert!(
        doc.is_parsed(),
        "the newest trees stay for watchers that come late"
    );
    // Enough newer writes push it out of the ring of recent trees.
    let writes = (0..super::super::state::HOT_TREES).map(|i| {
        let store = &store;
        async move { store.create(&format!("s/n{i}"), json!({})).await.unwrap() }
    });
    drop(futures::future::join_all(writes).await);
    assert!(
        !doc.is_parsed(),
        "the history held on to an old parsed tree"
    );
    let got = store.get("s/a").await.unwrap();
    assert_eq!(got.value["spec"], json!(1));
    assert!(doc.is_parsed(), "a get from the history shares its tree");
    drop(got);
    assert!(!doc.is_parsed());
}

#[tokio::test]
async fn a_write_may_keep_an_object_stored_over_the_limit_only_if_it_does_not_grow_it() {
    let (_dir, store) = fixtures::file_store(100);
    let padded = |bytes: usize| json!({"metadata": {"name": "a"}, "pad": "x".repeat(bytes)});
    let over = crate::store::MAX_OBJECT_BYTES + 10_000;
    // As an older version, without the limit, stored it.
    let op = Op::Create {
        key: "s/a".to_string(),
        value: padded(over),
    };
    store.submit(op).await.unwrap();

    let grown = store
        .update("s/a", padded(over + 1), None)
        .await
        .unwrap_err();
    assert_eq!(grown.reason(), "RequestEntityTooLarge");
    assert!(
        grown
            .to_string()
            .contains("remove what it does not need first"),
        "{grown}"
    );
    let smaller = store.update("s/a", padded(over - 100), None).await.unwrap();
    assert_eq!(
        smaller.value["pad"].as_str().map(str::len),
        Some(over - 100)
    );
    let shrunk = store.update("s/a", padded(1_000), None).await.unwrap();
    assert!(shrunk.revision > smaller.revision);
    let regrown = store
        .update("s/a", padded(over - 100), None)
        .await
        .unwrap_err();
    assert_eq!(
        regrown.reason(),
        "RequestEntityTooLarge",
        "once under, the limit holds"
    );
    let created = store.create("s/b", padded(over)).await.unwrap_err();
    assert_eq!(created.reason(), "RequestEntityTooLarge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_a_store_as_of_one_commit_made_while_writes_go_on() {
    let (dir, store) = fixtures::file_store(10_000);
    let store = Arc::new(store);
    for i in 0..500 {
        let key = format!("s/{i:03}");
        store.create(&key, json!({"n": i})).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("s/{:03}", i % 250);
                store.update(&key, json!({"n": -i}), None).await.unwrap();
                i += 1;
            }
        }
    });
    // Some writes land before the backup, and more while or after it is written.
    let before = 600;
    while store.current_revision() < before {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let path = dir.path().join("backups").join("copy");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let backed_up = tokio::task::spawn_blocking({
        let (store, path) = (store.clone(), path.clone());
        move || store.back_up_to(&path, &AtomicBool::new(false))
    })
    .await
    .unwrap()
    .unwrap();
    let after = store.current_revision();
    while store.current_revision() < after + 50 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(backed_up >= before, "{backed_up}");

    // The copy opens as a store at the backup's revision, holding exactly the state the
    // original held then (read back through its history), not the later one.
    let copy = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
    assert_eq!(copy.current_revision(), backed_up);
    let all = |at| ListOptions {
        at,
        ..ListOptions::default()
    };
    let then = store
        .list("s/", &all(ReadAt::Exact(backed_up)))
        .await
        .unwrap();
    let now = store.list("s/", &all(ReadAt::Current)).await.unwrap();
    let copied = copy.list("s/", &all(ReadAt::Current)).await.unwrap();
    let state = |page: &ListPage| -> Vec<(String, u64, Value)> {
        let item = |o: &Object| (o.key.clone(), o.revision, (*o.value).clone());
        page.items.iter().map(item).collect()
    };
    assert_eq!(copied.items.len(), 500);
    assert!(
        state(&copied) == state(&then),
        "the copy differs from the store at {backed_up}"
    );
    assert!(
        state(&copied) != state(&now),
        "the store moved on after the copy"
    );
    assert!(
        !path.with_extension("partial").exists(),
        "no partial file is left"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "a backup may hold pull secrets");
}

#[tokio::test]
async fn a_cancelled_backup_leaves_no_file() {
    let (dir, store) = fixtures::file_store(100);
    store.create("s/a", json!({})).await.unwrap();
    let path = dir.path().join("copy");
    let error = store.back_up_to(&path, &AtomicBool::new(true)).unwrap_err();
    assert!(error.to_string().contains("interrupted"), "{error}");
    assert!(!path.exists() && !path.with_extension("partial").exists());
}

#[tokio::test]
async fn a_restored_backup_moves_its_revision_past_the_backups_and_the_replaced_stores_and_a_missing_or_foreign_file_is_refused(
) {
    let (dir, store) = fixtures::file_store(100);
    for i in 0..3 {
        store
            .create(&format!("s/{i}"), json!({"n": i}))
            .await
            .unwrap();
    }
    let backup = dir.path().join("backup.redb");
    let never = AtomicBool::new(false);
    assert_eq!(store.back_up_to(&backup, &never).unwrap(), 3);
    drop(store);

    let to = dir.path().join("restored").join("store");
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    assert_eq!(
        EmbeddedStore::restore_file(&backup, &to, 1000).unwrap(),
        (3, 1003)
    );
    let restored = EmbeddedStore::open(&to, EmbeddedOptions::default()).unwrap();
    assert_eq!(restored.current_revision(), 1003);
    let page = restored.list("s/", &ListOptions::default()).await.unwrap();
    let revisions: Vec<u64> = page.items.iter().map(|o| o.revision).collect();
    assert_eq!(revisions, [1, 2, 3], "objects keep their own revisions");
    let next = restored.create("s/next", json!({})).await.unwrap();
    assert_eq!(next.revision, 1004);
    let refused = EmbeddedStore::restore_file(&backup, &to, 1000).unwrap_err();
    assert!(
        refused.to_string().contains("stop imagelookup serve first"),
        "{refused}"
    );
    drop(restored);
    // Restored again over a store that has gone on past it: moved on from that store's 1004.
    assert_eq!(
        EmbeddedStore::restore_file(&backup, &to, 1000).unwrap(),
        (3, 2004)
    );
    let again = EmbeddedStore::open(&to, EmbeddedOptions::default()).unwrap();
    assert_eq!(again.current_revision(), 2004);
    drop(again);

    let missing = dir.path().join("nothing.redb");
    let refused = EmbeddedStore::restore_file(&missing, &to, 1000).unwrap_err();
    assert!(refused.to_string().contains("does not exist"), "{refused}");
    assert!(refused.is_input(), "{refused}");
    let refused = EmbeddedStore::restore_file(dir.path(), &to, 1000).unwrap_err();
    assert!(refused.to_string().contains("is not a file"), "{refused}");
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "not a store").unwrap();
    let refused = EmbeddedStore::restore_file(&foreign, &to, 1000).unwrap_err();
    assert!(refused.to_string().contains("notes.txt"), "{refused}");
}

#[tokio::test]
async fn a_damaged_or_truncated_backup_is_refused_as_corrupt_and_the_store_it_would_replace_is_left_alone(
) {
    let (dir, store) = fixtures::file_store(100);
    let padding = "x".repeat(2000);
    for i in 0..300 {
        let stream = json!({"n": i, "padding": padding});
        store.create(&format!("s/{i}"), stream).await.unwrap();
    }
    let backup = dir.path().join("backup.redb");
    store.back_up_to(&backup, &AtomicBool::new(false)).unwrap();
    drop(store);
    let good = std::fs::read(&backup).unwrap();
    let to = dir.path().join("store");
    let live = std::fs::read(&to).unwrap();
    let middle = good.len() / 4096 / 2 * 4096;
    let damages: [(&str, Vec<u8>); 2] = [
        ("zeroed pages", {
            let mut bytes = good.clone();
            bytes[middle..middle + 50 * 4096].fill(0);
            bytes
        }),
        ("truncated", good[..middle].to_vec()),
    ];
    for (name, bytes) in damages {
        std::fs::write(&backup, bytes).unwrap();
        let refused = EmbeddedStore::restore_file(&backup, &to, 1000).unwrap_err();
        let said = refused.to_string();
        let start = format!("cannot restore {}: it is corrupt (", backup.display());
        assert!(said.starts_with(&start), "{name}: {said}");
        assert!(said.ends_with("restore another backup (an older one from the same directory)"));
        assert!(!said.contains("repair aborted"), "{name}: {said}");
        assert!(refused.is_input(), "{name}: {said}");
        assert_eq!(
            std::fs::read(&to).unwrap(),
            live,
            "{name}: the store untouched"
        );
        assert!(!to.with_extension("partial").exists(), "{name}");
    }
}

#[tokio::test]
async fn a_restore_holds_the_store_it_replaces_so_that_a_serve_starting_meanwhile_stops() {
    let (dir, store) = fixtures::file_store(100);
    store.create("s/a", json!({})).await.unwrap();
    drop(store);
    let path = dir.path().join("store");
    let held = crate::store::disk::hold_replaced(&path).unwrap();
    assert_eq!(held.revision, Some(1));
    let refused = EmbeddedStore::open(&path, EmbeddedOptions::default()).err();
    assert!(refused.is_some(), "opened while a restore holds it");
    drop(held);
    let reopened = fixtures::reopen(&dir);
    assert_eq!(reopened.current_revision(), 1);
}

#[tokio::test]
async fn a_restored_store_belongs_to_the_owner_of_the_store_it_replaces() {
    let (dir, store) = fixtures::file_store(100);
    store.create("s/a", json!({})).await.unwrap();
    let backup = dir.path().join("backup.redb");
    store.back_up_to(&backup, &AtomicBool::new(false)).unwrap();
    drop(store);
    let to = dir.path().join("store");
    check_restored_owner(&to, &backup, &to);
}

/// Gives `owner_of` to the user `serve` runs as in the manifests (only root may: otherwise it
/// stays ours), restores `backup` as `to`, and checks the restored file has that owner.
fn check_restored_owner(owner_of: &Path, backup: &Path, to: &Path) {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata(owner_of).unwrap();
    let given = std::os::unix::fs::chown(owner_of, Some(65532), Some(65532));
    EmbeddedStore::restore_file(backup, to, 1000).unwrap();
    let restored = std::fs::metadata(to).unwrap();
    let expected = match given {
        Ok(()) => (65532, 65532),
        Err(_) => (ours.uid(), ours.gid()),
    };
    assert_eq!((restored.uid(), restored.gid()), expected);
}

#[tokio::test]
async fn a_pinned_view_reads_its_commit_after_the_history_has_moved_past_it() {
    let (_dir, store) = fixtures::file_store(5);
    for i in 0..12 {
        store
            .create(&format!("s/{i:02}"), json!({"n": i}))
            .await
            .unwrap();
    }
    store.create("t/other", json!({})).await.unwrap();
    store.delete("s/03", None).await.unwrap();
    let view = store.pin().expect("a file store pins");
    let pinned_at = view.revision();
    assert_eq!(pinned_at, store.current_revision());
    let whole = store.list("s/", &ListOptions::default()).await.unwrap();
    // Pages of 4 from the view read what one list read at its revision.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = view.page("s/", after.as_deref(), 4).unwrap();
        assert_eq!(page.revision, pinned_at);
        after = page.items.last().map(|object| object.key.clone());
        paged.extend(page.items);
        if !page.more {
            break;
        }
    }
    assert_eq!(paged, whole.items);
    assert_eq!(
        paged.len(),
        11,
        "s/03 was deleted; t/other is another prefix"
    );
    // A flood of writes moves the history window past the pinned revision.
    for round in 0..10 {
        store
            .update("s/00", json!({"n": round}), None)
            .await
            .unwrap();
    }
    store.create("s/new", json!({})).await.unwrap();
    let at_pin = ListOptions {
        at: ReadAt::Exact(pinned_at),
        ..ListOptions::default()
    };
    let expired = store.list("s/", &at_pin).await.unwrap_err();
    assert_eq!(expired.code(), 410, "{expired}");
    let page = view.page("s/", None, 100).unwrap();
    assert_eq!(page.items, whole.items, "the view still shows its commit");
    assert!(!page.more);
}

#[tokio::test]
async fn a_store_restored_where_there_was_none_belongs_to_the_directory_s_owner() {
    let (dir, store) = fixtures::file_store(100);
    store.create("s/a", json!({})).await.unwrap();
    let backup = dir.path().join("backup.redb");
    store.back_up_to(&backup, &AtomicBool::new(false)).unwrap();
    drop(store);
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    check_restored_owner(&data, &backup, &data.join("store"));
}

#[tokio::test]
async fn a_restore_over_a_store_not_closed_cleanly_still_goes_past_its_revision() {
    let (dir, store) = fixtures::file_store(100);
    for i in 0..3 {
        store.create(&format!("s/{i}"), json!({})).await.unwrap();
    }
    let backup = dir.path().join("backup.redb");
    store.back_up_to(&backup, &AtomicBool::new(false)).unwrap();
    for i in 3..7 {
        store.create(&format!("s/{i}"), json!({})).await.unwrap();
    }
    // A copy of the file while it is open: what a crash leaves, a file that needs repair.
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    let to = crashed.join("store");
    std::fs::copy(dir.path().join("store"), &to).unwrap();
    drop(store);
    let held = crate::store::disk::hold_replaced(&to).unwrap();
    assert_eq!(held.revision, Some(7), "its revision read after the repair");
    drop(held);
    assert_eq!(
        EmbeddedStore::restore_file(&backup, &to, 1000).unwrap(),
        (3, 1007)
    );
}
