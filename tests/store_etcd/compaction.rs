//! The compactor (`EtcdStore::start_compactor`, what `serve --etcd-compaction-interval` runs)
//! against this binary's etcd: replicas take one turn per interval between them, each compacting
//! to etcd's revision of the turn before, a restarted replica carries on, and `serve` runs it.
//! Compaction is global to etcd, so these tests hold [`COMPACTION`] exclusively.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use imagelookup::store::{EtcdStore, Store};
use serde_json::json;

use super::common::{etcd::post, serving::InProcess};
use super::{config, connect, etcd, exact, COMPACTION};

/// Short, so a test sees a few turns; long enough for a turn to finish well within one.
const INTERVAL: Duration = Duration::from_millis(700);

/// How long a test waits for the turns it expects before failing.
const PATIENCE: Duration = Duration::from_secs(30);

/// The compactors' key, `<prefix>compact_rev_key`, as etcd holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Turns {
    /// Turns taken so far (the key's version).
    taken: u64,
    /// The revision of the last turn (the key's mod revision).
    at: u64,
    /// The revision the last turn compacted to (the key's value; 0 for the first turn).
    compacted_to: u64,
}

/// The compactors' key under `prefix`; `None` before the first turn.
async fn turns(prefix: &str) -> Option<Turns> {
    let key = STANDARD.encode(format!("{prefix}compact_rev_key"));
    let addr = etcd().http;
    let range = move || post(addr, "/v3/kv/range", &json!({ "key": key }));
    let answer = tokio::task::spawn_blocking(range).await.unwrap()?;
    let kv = answer["kvs"].get(0)?;
    let int = |field: &str| kv[field].as_str().and_then(|text| text.parse().ok());
    let value = STANDARD.decode(kv["value"].as_str()?).ok()?;
    Some(Turns {
        taken: int("version")?,
        at: int("mod_revision")?,
        compacted_to: String::from_utf8(value).ok()?.parse().ok()?,
    })
}

/// Every state of the key seen until `done` holds for one, polling while `writer` writes (so
/// that etcd's revision moves between turns).
async fn watch_turns(writer: &EtcdStore, done: impl Fn(&Turns) -> bool) -> Vec<Turns> {
    let deadline = Instant::now() + PATIENCE;
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let mut seen: Vec<Turns> = Vec::new();
    loop {
        let write = WRITES.fetch_add(1, Ordering::Relaxed);
        writer
            .create(&format!("w/{write}"), json!({}))
            .await
            .unwrap();
        if let Some(now) = turns(writer.prefix()).await {
            if seen.last() != Some(&now) {
                seen.push(now);
            }
            if done(&now) {
                return seen;
            }
        }
        assert!(Instant::now() < deadline, "too few turns: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The compactors' key once no turn moved it for two intervals: a turn under way when the last
/// compactor's store was dropped has finished by then.
async fn settled_turns(prefix: &str) -> Turns {
    let deadline = Instant::now() + PATIENCE;
    let mut last = turns(prefix).await;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = turns(prefix).await;
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > 2 * INTERVAL {
            return last.expect("turns were taken");
        }
        assert!(
            Instant::now() < deadline,
            "the turns never stopped: {last:?}"
        );
    }
}

/// Whether a list at `revision` is refused as compacted (410 `Expired`).
async fn expired(store: &EtcdStore, revision: u64) -> bool {
    let answer = store.list("w/", &exact(revision)).await;
    answer.err().map(|error| error.code()) == Some(410)
}

/// Waits until a list at `revision` is refused as compacted: a turn writes the compactors'
/// key first and compacts after, so the key can move before the compaction is done.
async fn compacted_through(store: &EtcdStore, revision: u64) {
    let what = format!("a list at {revision} refused as compacted");
    super::common::eventually(&what, || async {
        expired(store, revision).await.then_some(())
    })
    .await;
}

#[tokio::test]
async fn two_replicas_compact_once_per_interval_to_the_revision_of_the_turn_before() {
    let _exclusive = COMPACTION.write().await;
    let config = config();
    let (one, two) = (connect(&config).await, connect(&config).await);
    let before = one.create("w/before", json!({})).await.unwrap().revision;
    let started = Instant::now();
    one.start_compactor(INTERVAL, Default::default());
    two.start_compactor(INTERVAL, Default::default());

    let seen = watch_turns(&one, |turns| turns.taken >= 4).await;
    let elapsed = started.elapsed();
    let last = *seen.last().unwrap();
    // A replica's k-th turn comes k intervals after it started at the earliest: had both
    // replicas compacted at each interval, twice as many turns would be taken.
    let intervals = (elapsed.as_secs_f64() / INTERVAL.as_secs_f64()).floor() as u64;
    assert!(
        last.taken <= intervals,
        "{} turns in {elapsed:?}: {seen:?}",
        last.taken
    );
    let first = seen.iter().find(|turns| turns.taken == 1);
    assert!(
        first.is_none_or(|turns| turns.compacted_to == 0),
        "the first turn compacts nothing: {seen:?}"
    );
    for pair in seen.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        if later.taken == earlier.taken + 1 {
            assert!(
                (earlier.at..later.at).contains(&later.compacted_to),
                "each turn compacts to a revision seen at or after the turn before: {seen:?}"
            );
        }
    }
    assert!(
        last.compacted_to > before,
        "compacted past the first write: {seen:?}"
    );
    compacted_through(&one, before).await;
    compacted_through(&two, last.compacted_to - 1).await;
}

#[tokio::test]
async fn a_restarted_replica_compacts_again_two_intervals_after_it_starts() {
    let _exclusive = COMPACTION.write().await;
    let config = config();
    let replica = connect(&config).await;
    replica.start_compactor(INTERVAL, Default::default());
    watch_turns(&replica, |turns| turns.taken >= 2).await;
    drop(replica);
    // A turn under way when the store is dropped still finishes.
    let stopped = settled_turns(&config.prefix).await;

    let restarted = connect(&config).await;
    let started = Instant::now();
    restarted.start_compactor(INTERVAL, Default::default());
    let seen = watch_turns(&restarted, |turns| turns.taken > stopped.taken).await;
    let elapsed = started.elapsed();
    let next = *seen.last().unwrap();
    assert_eq!(
        next.taken,
        stopped.taken + 1,
        "the count of turns carries on: {seen:?}"
    );
    assert!(
        elapsed >= 2 * INTERVAL,
        "the first turn after a restart only learns, the second compacts: {elapsed:?}"
    );
    assert!(
        next.compacted_to > stopped.at,
        "compacts to the revision seen at its first turn, after the last one before: {stopped:?} then {next:?}"
    );
    compacted_through(&restarted, next.compacted_to - 1).await;
}

#[tokio::test]
async fn serve_compacts_its_etcd_every_etcd_compaction_interval() {
    let _exclusive = COMPACTION.write().await;
    let config = config();
    let store = format!("etcd:http://{}?prefix={}", etcd().http, config.prefix);
    // The shortest interval the flag takes.
    let interval = Duration::from_secs(1);
    let flag = format!("{}s", interval.as_secs());
    let flags = [
        "--store",
        &store,
        "--etcd-compaction-interval",
        &flag,
        "--no-importer",
    ];
    let started = Instant::now();
    let server = InProcess::start(&flags).await;
    let writer = connect(&config).await;
    // The first turn on a fresh prefix only writes the key; the second and third compact.
    let seen = watch_turns(&writer, |turns| turns.taken >= 3).await;
    let elapsed = started.elapsed();
    let last = *seen.last().unwrap();
    assert!(
        elapsed >= 3 * interval,
        "the second compaction (the third turn) comes an interval after the first: {seen:?} in {elapsed:?}"
    );
    for pair in seen.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        if later.taken == earlier.taken + 1 && later.compacted_to > 0 {
            assert!(
                (earlier.at..later.at).contains(&later.compacted_to),
                "each compaction is to a revision seen at or after the turn before: {seen:?}"
            );
        }
    }
    assert!(last.compacted_to > 0, "{seen:?}");
    compacted_through(&writer, last.compacted_to - 1).await;
    // Counted once the compaction's answer is in, which may be after the key moved.
    let compacted = "imagelookup_etcd_compactions_total{result=\"compacted\"} ";
    super::common::eventually("two compactions counted", || async {
        let metrics = server.metrics().await?;
        let count = metrics
            .lines()
            .find_map(|line| line.strip_prefix(compacted))?;
        (count.trim().parse::<u64>().ok()? >= 2).then_some(())
    })
    .await;
}
