//! Compacting etcd's history, as kube-apiserver does.
//!
//! etcd keeps every revision of every key until something compacts it: left alone, its
//! database grows until its space quota, and then every write fails. kube-apiserver compacts
//! etcd itself every `--etcd-compaction-interval` (5 minutes); `serve` does the same, with
//! kube-apiserver's algorithm (`k8s.io/apiserver/pkg/storage/etcd3/compact.go`):
//!
//! - Every replica runs a compactor, and they take turns through one key,
//!   `<prefix>compact_rev_key`, whose value is the revision last compacted to.
//! - Each interval a compactor runs one txn: if the key's last write is still the one it saw an
//!   interval ago, it writes the key and compacts to etcd's revision of an interval ago;
//!   otherwise another replica took this interval's turn, and it only records the key's last
//!   write and etcd's revision now. So the replicas between them compact once per interval,
//!   always keeping at least an interval of history for slow watchers and list pages; when the
//!   replica that compacts goes away, another takes over within two intervals.
//! - A compactor that has just started has seen nothing: its first turn only learns (or, on an
//!   etcd nobody compacted yet, writes the key without compacting), so a restart compacts two
//!   intervals later, to the revision it saw one interval after starting.
//!
//! kube-apiserver compares the key's version; this compares its mod revision, which tells the
//! same thing (whether anyone wrote the key since) with the compare and the fields the other
//! txns already use, and is never reused, even when the key is deleted and written again.
//!
//! Compaction is global to etcd: it drops the old revisions of every key, also those of other
//! installations under other prefixes and of anything else stored in this etcd, exactly as
//! kube-apiserver's does. An installation on another prefix compacts on its own turns as well;
//! each still compacts only to a revision it saw an interval earlier. An etcd that compacts
//! itself (`--auto-compaction-*`) needs none of this: `--etcd-compaction-interval=0`.
//! Compaction frees space only inside etcd's file; `etcdctl defrag` gives it back to the disk.
//!
//! A failed txn or compaction is logged and tried again at the next interval, never fatal.

use std::{sync::Arc, time::Duration};

use prometheus_client::metrics::{counter::Counter, family::Family};
use serde_json::{json, Value};

use super::{
    client::CallError,
    wire::{self, TxnResponse},
    EtcdConfig, EtcdStore, Inner,
};
use crate::metrics::{ResultLabels, COMPACTED, COMPACTION_FAILED};
use crate::store::OpenError;

/// The key, under the installation's prefix, through which compactors take turns
/// (kube-apiserver's name for it).
const KEY: &str = "compact_rev_key";

impl EtcdStore {
    /// Compacts etcd's history every `interval` until the store is dropped, taking turns with
    /// the compactors of the other replicas on this prefix (see the `compactor` module),
    /// counting in `compactions` each compaction made and each turn that failed; a zero
    /// `interval` starts nothing. Must run
    /// inside a tokio runtime.
    pub fn start_compactor(&self, interval: Duration, compactions: Compactions) {
        if interval.is_zero() {
            return;
        }
        tracing::info!(?interval, "compacting etcd's history every interval");
        tokio::spawn(run(self.inner.clone(), interval, compactions));
    }

    /// Connects as [`StoreSpec::open`](crate::store::StoreSpec::open) does (its error names
    /// every endpoint), then [starts the compactor](Self::start_compactor).
    pub async fn connect_compacting(
        config: &EtcdConfig,
        interval: Duration,
        compactions: Compactions,
    ) -> Result<Self, OpenError> {
        let store = crate::store::spec::connect_etcd(config).await?;
        store.start_compactor(interval, compactions);
        Ok(store)
    }
}

/// Where a compactor counts its turns (`imagelookup_etcd_compactions_total`).
pub type Compactions = Family<ResultLabels, Counter>;

/// What a compactor remembers from one interval to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Clock {
    /// The key's mod revision when last seen (0: absent): the next txn expects it unchanged.
    seen: u64,
    /// etcd's revision at the last turn (0: none yet): what the next turn compacts to.
    revision: u64,
}

/// Takes a turn every `interval` until the store is dropped.
async fn run(inner: Arc<Inner>, interval: Duration, compactions: Compactions) {
    let key = inner.etcd_key(KEY);
    let mut closed = inner.closed.clone();
    let mut clock = Clock::default();
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            // The sender is only ever dropped, with the store.
            _ = closed.changed() => return,
        }
        clock = turn(&inner, &key, clock, &compactions).await;
    }
}

/// One interval: the txn, then the compaction it calls for.
async fn turn(inner: &Inner, key: &[u8], clock: Clock, compactions: &Compactions) -> Clock {
    let answer = match inner.txn(&take_turn(key, clock)).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "etcd compaction skipped: cannot take this interval's turn; trying again next interval");
            compactions.get_or_create(&COMPACTION_FAILED).inc();
            return clock;
        }
    };
    let (next, target) = advance(clock, &answer);
    if let Some(revision) = target {
        let result = match compact(inner, revision).await {
            true => &COMPACTED,
            false => &COMPACTION_FAILED,
        };
        compactions.get_or_create(result).inc();
    }
    next
}

/// The txn of a turn: if the key's last write is still `clock.seen`, write it with the
/// revision about to be compacted to; otherwise read it.
fn take_turn(key: &[u8], clock: Clock) -> Value {
    let value = clock.revision.to_string();
    wire::txn(
        vec![wire::modified_at(key, clock.seen)],
        wire::put_op(key, value.as_bytes()),
        wire::get_op(key),
    )
}

/// The clock after a turn's txn answered, and the revision to compact to, if this compactor
/// took the turn and had a revision from the interval before.
fn advance(clock: Clock, answer: &TxnResponse) -> (Clock, Option<u64>) {
    let now = answer.header.revision;
    if !answer.succeeded {
        let seen = answer
            .responses
            .first()
            .and_then(|op| op.response_range.as_ref())
            .and_then(|range| range.kvs.first())
            .map_or(0, |kv| kv.mod_revision);
        return (
            Clock {
                seen,
                revision: now,
            },
            None,
        );
    }
    // The put is the txn's only write: the key's mod revision is the answer's revision.
    let next = Clock {
        seen: now,
        revision: now,
    };
    (next, (clock.revision > 0).then_some(clock.revision))
}

/// Compacts every revision below `revision`, logging the outcome; whether etcd's history is
/// compacted that far now. Not `physical`, as kube-apiserver's: reads below `revision` fail as
/// soon as etcd answers, and a large database's clean-up does not hold the call past its
/// timeout.
async fn compact(inner: &Inner, revision: u64) -> bool {
    let body = json!({"revision": revision.to_string()});
    let answer: Result<Value, CallError> = inner.transport.call("/v3/kv/compaction", &body).await;
    match answer {
        Ok(_) => tracing::info!(revision, "compacted etcd's history below this revision"),
        // etcd's own auto-compaction, or another installation's compactor, went further.
        Err(CallError::Gateway(error)) if error.is_compacted() => {
            tracing::debug!(
                revision,
                "etcd's history was already compacted past this revision"
            )
        }
        Err(error) => {
            tracing::warn!(
                revision,
                %error,
                "etcd compaction failed; trying again next interval"
            );
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::etcd::wire::{Header, KeyValue, RangeResponse, ResponseOp};

    fn clock(seen: u64, revision: u64) -> Clock {
        Clock { seen, revision }
    }

    /// A txn's answer at etcd revision `now`: taken, or lost with the key last written at
    /// `key_written` (`None`: absent).
    fn answer(now: u64, taken: bool, key_written: Option<u64>) -> TxnResponse {
        let kvs = key_written.map(|mod_revision| KeyValue {
            key: b"/p/compact_rev_key".to_vec(),
            mod_revision,
            ..KeyValue::default()
        });
        let read = ResponseOp {
            response_range: Some(RangeResponse {
                kvs: kvs.into_iter().collect(),
                ..RangeResponse::default()
            }),
            response_delete_range: None,
        };
        TxnResponse {
            header: Header { revision: now },
            succeeded: taken,
            responses: if taken { vec![] } else { vec![read] },
        }
    }

    fn check(before: Clock, answer: TxnResponse, after: Clock, compact_to: Option<u64>) {
        assert_eq!(
            advance(before, &answer),
            (after, compact_to),
            "{before:?} then {answer:?}"
        );
    }

    #[test]
    fn a_first_turn_on_an_etcd_nobody_compacts_writes_the_key_and_compacts_nothing() {
        check(clock(0, 0), answer(10, true, None), clock(10, 10), None);
    }

    #[test]
    fn a_turn_taken_compacts_to_the_revision_of_the_turn_before() {
        check(
            clock(10, 10),
            answer(25, true, None),
            clock(25, 25),
            Some(10),
        );
    }

    #[test]
    fn a_turn_lost_records_the_keys_last_write_and_etcds_revision_now() {
        check(
            clock(10, 10),
            answer(31, false, Some(25)),
            clock(25, 31),
            None,
        );
    }

    #[test]
    fn after_a_lost_turn_the_next_one_compacts_to_the_revision_seen_when_losing() {
        check(
            clock(25, 31),
            answer(40, true, None),
            clock(40, 40),
            Some(31),
        );
    }

    #[test]
    fn a_restarted_compactor_only_learns_at_its_first_turn() {
        check(
            clock(0, 0),
            answer(45, false, Some(40)),
            clock(40, 45),
            None,
        );
    }

    #[test]
    fn a_deleted_key_is_expected_absent_at_the_next_turn() {
        check(clock(40, 45), answer(50, false, None), clock(0, 50), None);
        check(
            clock(0, 50),
            answer(51, true, None),
            clock(51, 51),
            Some(50),
        );
    }

    #[test]
    fn a_turn_expects_the_key_unchanged_and_writes_the_revision_it_compacts_to() {
        let body = take_turn(b"/p/compact_rev_key", clock(25, 31));
        assert_eq!(
            body["compare"],
            json!([wire::modified_at(b"/p/compact_rev_key", 25)])
        );
        assert_eq!(
            body["success"][0]["request_put"]["value"],
            json!(wire::b64(b"31"))
        );
        assert_eq!(
            body["failure"][0],
            wire::get_op(b"/p/compact_rev_key"),
            "a lost turn reads the key"
        );
    }
}
