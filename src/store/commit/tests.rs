use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use futures::future::join_all;
use serde_json::json;

use super::*;
use crate::store::{fixtures, EmbeddedOptions, EmbeddedStore, ListOptions, Store};

#[tokio::test]
async fn concurrent_writes_share_commits() {
    let (_dir, store) = fixtures::file_store(100);
    let creates = (0..64).map(|i| {
        let store = &store;
        async move { store.create(&format!("k/{i:02}"), json!({})).await }
    });
    let results = join_all(creates).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = store.stats();
    assert_eq!(stats.writes, 64);
    assert!(
        stats.commits < 64,
        "64 concurrent writes took {} commits",
        stats.commits
    );
    assert_eq!(store.current_revision(), 64);
}

#[tokio::test]
async fn a_commit_that_panics_fails_its_writes_saying_so_and_later_writes_go_through() {
    let (_dir, store) = fixtures::file_store(100);
    store.create("k/before", json!({})).await.unwrap();
    store.panic_next_commit();
    let error = store.create("k/lost", json!({})).await.unwrap_err();
    assert_eq!(error.reason(), "ServiceUnavailable", "{error}");
    assert!(
        error
            .to_string()
            .contains("failed while committing (injected by a test)"),
        "{error}"
    );
    // The thread lives on, and the file it reopened holds what was committed.
    store.create("k/after", json!({})).await.unwrap();
    let page = store.list("k/", &ListOptions::default()).await.unwrap();
    let keys: Vec<&str> = page.items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["k/after", "k/before"]);
}

#[tokio::test]
async fn a_failing_write_does_not_fail_the_others_in_its_batch() {
    let (_dir, store) = fixtures::file_store(100);
    store.create("k/taken", json!({})).await.unwrap();
    let writes = (0..16).map(|i| {
        let key = if i % 4 == 0 {
            "k/taken".to_string()
        } else {
            format!("k/{i:02}")
        };
        let store = &store;
        async move { store.create(&key, json!({})).await.map_err(|e| e.reason()) }
    });
    let results = join_all(writes).await;
    let failed = results
        .iter()
        .filter(|r| **r == Err("AlreadyExists"))
        .count();
    assert_eq!((failed, results.len() - failed), (4, 12), "{results:?}");
    assert_eq!(store.current_revision(), 13);
    let stats = store.stats();
    assert_eq!(stats.writes, 13);
    assert!(stats.commits < 13, "the writes were not batched: {stats:?}");
}

#[tokio::test]
async fn a_write_whose_caller_stopped_waiting_still_happens() {
    let (_dir, store) = fixtures::file_store(100);
    let mut write = store.create("k/a", json!({}));
    // Polling once queues the write; dropping the future abandons only the reply.
    assert!(futures::poll!(&mut write).is_pending());
    drop(write);
    let revision = store.wait_for_revision(1, Duration::from_secs(10)).await;
    assert_eq!(revision.ok(), Some(1));
    assert!(store.get("k/a").await.is_ok());
}

#[tokio::test]
async fn revision_never_goes_backwards_across_reopen() {
    let (dir, store) = fixtures::file_store(100);
    for key in ["s/a", "s/b"] {
        store.create(key, json!({})).await.unwrap();
        store.delete(key, None).await.unwrap();
    }
    drop(store);
    let store = fixtures::reopen(&dir);
    assert_eq!(store.current_revision(), 4);
    assert_eq!(store.create("s/c", json!({})).await.unwrap().revision, 5);
}

#[tokio::test]
async fn acknowledged_writes_survive_reopen() {
    let (dir, store) = fixtures::file_store(100);
    let creates = (0..40).map(|i| {
        let store = &store;
        async move { store.create(&format!("s/{i:02}"), json!({"spec": i})).await }
    });
    futures::future::try_join_all(creates).await.unwrap();
    store
        .update("s/07", json!({"spec": "seven"}), None)
        .await
        .unwrap();
    store.delete("s/13", None).await.unwrap();
    let before = store.list("s/", &ListOptions::default()).await.unwrap();
    drop(store);
    let store = fixtures::reopen(&dir);
    let after = store.list("s/", &ListOptions::default()).await.unwrap();
    assert_eq!(after, before);
    assert_eq!((after.items.len(), after.revision), (39, 42));
    assert_eq!(
        store.get("s/07").await.unwrap().value["spec"],
        json!("seven")
    );
}

/// Set in the child process of the crash test: where it writes until it is killed.
const CRASH_DIR: &str = "IMAGELOOKUP_STORE_CRASH_DIR";

/// The crash test's name as the harness filters it: its path without the crate name.
fn crash_test_name() -> String {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, rest)| rest);
    format!("{module}::sigkill_during_writes_loses_no_acknowledged_write")
}

/// Runs this very test binary again as a child that writes concurrently and prints every
/// acknowledged write, SIGKILLs it mid-stream, then checks every acknowledgement on reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_no_acknowledged_write() {
    if let Ok(dir) = std::env::var(CRASH_DIR) {
        return write_until_killed(Path::new(&dir)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &crash_test_name(),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let acknowledged: Vec<(String, u64)> = lines
        .map_while(Result::ok)
        .filter_map(|line| parse_ack(&line))
        .take(300)
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acknowledged.len(), 300, "the child stopped early");
    let store = fixtures::reopen(&dir);
    for (key, revision) in &acknowledged {
        assert_eq!(
            store.get(key).await.map(|o| o.revision).ok(),
            Some(*revision),
            "{key}"
        );
    }
    assert!(store.current_revision() >= acknowledged.iter().map(|a| a.1).max().unwrap());
}

fn parse_ack(line: &str) -> Option<(String, u64)> {
    let (key, revision) = line.strip_prefix("ack ")?.split_once(' ')?;
    Some((key.to_string(), revision.parse().ok()?))
}

/// The child: 8 writers creating fresh keys, printing `ack <key> <revision>` as each is
/// acknowledged; it gives up after 30 s in case the parent died.
async fn write_until_killed(dir: &Path) {
    let store =
        Arc::new(EmbeddedStore::open(dir.join("store"), EmbeddedOptions::default()).unwrap());
    let writers = (0..8).map(|writer| {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let key = format!("crash/{writer}-{i}");
                let object = store.create(&key, json!({"spec": {"i": i}})).await.unwrap();
                println!("ack {key} {}", object.revision);
            }
        })
    });
    let all = futures::future::join_all(writers);
    let _ = tokio::time::timeout(Duration::from_secs(30), all).await;
}
