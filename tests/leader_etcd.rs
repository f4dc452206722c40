//! Leader election against a real etcd, started once for this test binary (as in
//! `store_etcd.rs`): one leader per role, hand-over on resignation, fail-over when a leader
//! stops renewing, and a term ending when its lease is revoked behind its back. Every test
//! works under its own key prefix, so they run in parallel on one etcd. Last, two servers on
//! one etcd: one imports, and the other takes over when it shuts down.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        OnceLock,
    },
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use common::etcd::{post, Etcd, Proxy};
use common::serving::InProcess;
use futures::FutureExt as _;
use imagelookup::store::{
    lead::{renew_every, Candidate, Elector, Term, TermEnd},
    EmbeddedOptions, EmbeddedStore, EtcdConfig, EtcdStore, MeteredStore, Store,
};
use serde_json::json;

/// The lease of terms that must last: renewals every 1.7 s, each good for 4 s after it is
/// sent, so a loaded runner may stall one renewal by over 2 s before a term ends on its own.
const LEASE: Duration = Duration::from_secs(5);
/// The shortest lease etcd grants by default, for the fail-over test that waits for it to run
/// out. Its renewals leave a stall of only about 333 ms: no test counts on such a term lasting.
const SHORT_LEASE: Duration = Duration::from_secs(2);
/// How long anything that should happen may take before a test gives up.
const PATIENCE: Duration = Duration::from_secs(20);

static SERVER: OnceLock<Etcd> = OnceLock::new();

/// The etcd of this test binary.
fn etcd() -> &'static Etcd {
    SERVER.get_or_init(|| Etcd::start("lead"))
}

/// A key prefix no other test uses.
fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("/lead-{}-{n}/", std::process::id())
}

async fn connect(prefix: &str) -> EtcdStore {
    let endpoint = etcd().http.to_string();
    let config = EtcdConfig::new(&[&endpoint])
        .unwrap()
        .with_prefix(prefix)
        .unwrap();
    EtcdStore::connect(&config).await.unwrap()
}

fn candidate(identity: &str) -> Candidate {
    Candidate {
        role: "importer".to_string(),
        identity: identity.to_string(),
        lease: LEASE,
    }
}

/// A candidate whose lease runs out soon after it stops renewing.
fn short_candidate(identity: &str) -> Candidate {
    Candidate {
        lease: SHORT_LEASE,
        ..candidate(identity)
    }
}

/// The role key's value and lease ID, read behind the electors' backs.
fn holder(prefix: &str) -> Option<(String, String)> {
    let key = STANDARD.encode(format!("{prefix}leases/importer"));
    let answer = post(etcd().http, "/v3/kv/range", &json!({"key": key}))?;
    let kv = answer["kvs"].get(0)?;
    let value = STANDARD.decode(kv["value"].as_str()?).ok()?;
    let lease = kv["lease"].as_str()?.to_string();
    Some((String::from_utf8(value).ok()?, lease))
}

/// Campaigns in the background, so a test can check it has not won yet.
fn campaign(elector: std::sync::Arc<dyn Elector>, identity: &str) -> tokio::task::JoinHandle<Term> {
    let candidate = candidate(identity);
    tokio::spawn(async move { elector.campaign(&candidate).await })
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not happen within {PATIENCE:?}"),
    }
}

#[tokio::test]
async fn one_of_two_replicas_leads_and_the_other_takes_over_at_once_when_it_resigns() {
    let prefix = unique_prefix();
    let metrics = std::sync::Arc::new(imagelookup::metrics::Metrics::new());
    let a = MeteredStore::new(std::sync::Arc::new(connect(&prefix).await), metrics);
    let b = connect(&prefix).await;
    let term_a = within("a leads", a.elector().campaign(&candidate("a"))).await;
    assert_eq!(term_a.identity(), "a");
    let (who, lease_a) = holder(&prefix).expect("a holds the role");
    assert_eq!(who, "a");

    let mut waiting = campaign(b.elector(), "b");
    // Three of b's polls go by while a holds the role.
    let early = tokio::time::timeout(LEASE, &mut waiting).await;
    assert!(early.is_err(), "b led while a did: {early:?}");

    term_a.resign().await;
    let lease_now = holder(&prefix).map(|(_, lease)| lease);
    assert_ne!(lease_now, Some(lease_a), "resigning revokes the lease");
    let term_b = within("b leads", waiting).await.unwrap();
    assert_eq!(term_b.identity(), "b");
    assert_eq!(holder(&prefix).map(|(who, _)| who).as_deref(), Some("b"));
}

#[tokio::test]
async fn the_role_passes_on_when_its_leader_stops_renewing() {
    let prefix = unique_prefix();
    // a runs on a runtime of its own that then stops, as a crashed replica would: its
    // renewals stop, and its term is never resigned.
    let crashed = prefix.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let a = connect(&crashed).await;
            std::mem::forget(a.elector().campaign(&short_candidate("a")).await);
        });
        runtime.shutdown_background();
    })
    .join()
    .unwrap();
    assert_eq!(holder(&prefix).map(|(who, _)| who).as_deref(), Some("a"));

    let b = connect(&prefix).await;
    let term_b = within("b leads", b.elector().campaign(&short_candidate("b"))).await;
    assert_eq!(term_b.identity(), "b");
    assert_eq!(holder(&prefix).map(|(who, _)| who).as_deref(), Some("b"));
}

#[tokio::test]
async fn a_term_ends_when_its_lease_is_revoked_behind_its_back() {
    let prefix = unique_prefix();
    let a = connect(&prefix).await;
    let mut term = within("a leads", a.elector().campaign(&candidate("a"))).await;
    let (_, lease) = holder(&prefix).expect("the role key is bound to a lease");
    assert!(!term.is_over());

    let revoked = post(etcd().http, "/v3/lease/revoke", &json!({"ID": lease}));
    assert!(revoked.is_some(), "revoking lease {lease} failed");
    assert_eq!(
        within("the term ends", term.ended()).await,
        TermEnd::LeaseGone
    );
    assert!(term.is_over());

    let b = connect(&prefix).await;
    let term_b = within("b leads", b.elector().campaign(&candidate("b"))).await;
    assert_eq!(term_b.identity(), "b");
}

#[tokio::test]
async fn a_leader_that_keeps_renewing_keeps_its_term() {
    let prefix = unique_prefix();
    let a = connect(&prefix).await;
    let mut term = within("a leads", a.elector().campaign(&candidate("a"))).await;
    let (_, lease) = holder(&prefix).expect("a holds the role");
    // Well past the lease: only renewals can have kept the role, and on the lease granted
    // when a won it (a term that ended and was won again would hold another).
    let ended = tokio::time::timeout(LEASE * 3, term.ended()).await;
    assert!(ended.is_err(), "the term ended: {ended:?}");
    assert_eq!(holder(&prefix), Some(("a".to_string(), lease)));
}

#[tokio::test]
async fn a_leader_keeps_its_term_through_renewals_that_fail_briefly() {
    // Renewals every 5 s, a term 12 s past the last one sent: an outage of one renewal
    // interval makes at least one renewal fail, and the retries after it come in time.
    const LONG_LEASE: Duration = Duration::from_secs(15);
    let prefix = unique_prefix();
    let proxy = Proxy::start(etcd().http).await;
    let endpoint = proxy.addr.to_string();
    let config = EtcdConfig::new(&[&endpoint])
        .unwrap()
        .with_prefix(&prefix)
        .unwrap();
    let a = EtcdStore::connect(&config).await.unwrap();
    let candidate = Candidate {
        lease: LONG_LEASE,
        ..candidate("a")
    };
    let mut term = within("a leads", a.elector().campaign(&candidate)).await;
    proxy.refuse(true);
    proxy.cut();
    let outage = renew_every(LONG_LEASE) + Duration::from_millis(500);
    let during = tokio::time::timeout(outage, term.ended()).await;
    proxy.refuse(false);
    assert!(
        during.is_err(),
        "a failed renewal ended the term: {during:?}"
    );
    let after = tokio::time::timeout(Duration::from_secs(2), term.ended()).await;
    assert!(after.is_err(), "the term ended after the outage: {after:?}");
    assert_eq!(holder(&prefix).map(|(who, _)| who).as_deref(), Some("a"));
}

#[tokio::test]
async fn an_embedded_store_leads_at_once() {
    let store = EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap();
    let elector = store.elector();
    let candidate = candidate("me");
    // At once: the campaign is won on its first poll, without waiting for anything.
    let mut term = elector
        .campaign(&candidate)
        .now_or_never()
        .expect("the sole process leads without waiting");
    assert_eq!(term.identity(), "me");
    let ended = tokio::time::timeout(Duration::from_millis(100), term.ended()).await;
    assert!(ended.is_err(), "the term ended: {ended:?}");
}

// === end to end: two servers, one importer ===

/// A server with the importer on (a [`LEASE`] leader lease, so the first leader keeps the role
/// on a loaded runner) over `store`.
async fn server_on(store: &str) -> InProcess {
    let lease = format!("{}s", LEASE.as_secs());
    InProcess::start(&["--store", store, "--leader-lease", &lease]).await
}

/// Which of `servers` lead, once exactly one does.
async fn sole_leader(servers: &[&InProcess]) -> usize {
    common::eventually("exactly one importing server", || async {
        let mut leaders = Vec::new();
        for (i, server) in servers.iter().enumerate() {
            if server.leads_importer().await? {
                leaders.push(i);
            }
        }
        (leaders.len() == 1).then(|| leaders[0])
    })
    .await
}

#[tokio::test]
async fn of_two_servers_on_one_etcd_one_imports_and_the_other_takes_over_on_shutdown() {
    let prefix = unique_prefix();
    let store = format!("etcd:http://{}?prefix={prefix}", etcd().http);
    let (one, two) = (server_on(&store).await, server_on(&store).await);
    let first = sole_leader(&[&one, &two]).await;
    let (leader, follower) = match first {
        0 => (one, two),
        _ => (two, one),
    };
    assert_eq!(follower.leads_importer().await, Some(false));
    // A follower still runs an importer: "no leader" alerts count on it.
    let metrics = follower.metrics().await.expect("/metrics answers");
    assert!(
        metrics.contains("imagelookup_importer_enabled 1\n"),
        "{metrics}"
    );

    let (_, lease) = holder(&prefix).expect("the leader holds the role");
    leader.shut_down().await;
    let lease_now = holder(&prefix).map(|(_, lease)| lease);
    assert_ne!(lease_now, Some(lease), "shutting down revokes the lease");
    assert_eq!(sole_leader(&[&follower]).await, 0);
    assert!(holder(&prefix).is_some());
}
