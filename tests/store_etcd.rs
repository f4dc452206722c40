//! The etcd backend against a real etcd, started once for this test binary: the shared store
//! contract (also run on the embedded backend, as the reference), compaction, replicas
//! sharing one etcd, TLS, endpoint fail-over, and two servers on one etcd end to end.
//!
//! Every test works under its own key prefix, so they run in parallel on one etcd. Compaction
//! is global to etcd, so the tests that compact take [`COMPACTION`] exclusively and every other
//! etcd test holds it shared.

mod common;
#[path = "store_etcd/compaction.rs"]
mod compaction;
mod store_contract;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        OnceLock,
    },
    time::Duration,
};

use common::etcd::{refused_port, Etcd, Proxy};
use common::serving::InProcess;
use futures::StreamExt;
use imagelookup::store::{
    EmbeddedOptions, EmbeddedStore, EtcdConfig, EtcdStore, EventKind, ListOptions, ReadAt, Store,
    MAX_OBJECT_BYTES,
};
use serde_json::{json, Value};
use store_contract::{event, next, Subject};
use tokio::sync::RwLock;

/// Held shared by every etcd test, exclusively by those that compact etcd's history.
static COMPACTION: RwLock<()> = RwLock::const_new(());

static SERVER: OnceLock<Etcd> = OnceLock::new();

/// The etcd of this test binary.
fn etcd() -> &'static Etcd {
    SERVER.get_or_init(|| Etcd::start("etcd"))
}

/// A key prefix no other test uses.
fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("/test-{}/", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The plain-HTTP config of this binary's etcd under a fresh prefix.
fn config() -> EtcdConfig {
    let url = format!("http://{}", etcd().http);
    EtcdConfig::new(&[&url])
        .unwrap()
        .with_prefix(&unique_prefix())
        .unwrap()
}

/// This binary's etcd reached through `proxy`, under a fresh prefix.
fn config_through(proxy: &Proxy) -> EtcdConfig {
    let url = format!("http://{}", proxy.addr);
    EtcdConfig::new(&[&url])
        .unwrap()
        .with_prefix(&unique_prefix())
        .unwrap()
}

async fn connect(config: &EtcdConfig) -> EtcdStore {
    common::setup();
    EtcdStore::connect(config).await.expect("connect to etcd")
}

// === the contract, on both backends ===

/// The embedded backend as `serve` runs it: a redb file (in a temporary directory).
async fn on_embedded() -> Subject {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = EmbeddedStore::open(dir.path().join("store"), EmbeddedOptions::default());
    Subject {
        store: std::sync::Arc::new(store.expect("open the store file")),
        guard: Box::new(dir),
    }
}

async fn on_etcd() -> Subject {
    let shared = COMPACTION.read().await;
    Subject {
        store: std::sync::Arc::new(connect(&config()).await),
        guard: Box::new(shared),
    }
}

mod embedded {
    crate::contract_tests!(crate::on_embedded);
}

mod etcd {
    crate::contract_tests!(crate::on_etcd);
}

// === etcd only ===

fn exact(revision: u64) -> ListOptions {
    ListOptions {
        at: ReadAt::Exact(revision),
        ..ListOptions::default()
    }
}

#[tokio::test]
async fn lists_and_watches_below_a_compaction_expire() {
    let _exclusive = COMPACTION.write().await;
    let store = connect(&config()).await;
    let a = store.create("s/a", json!({})).await.unwrap().revision;
    let b = store.create("s/b", json!({})).await.unwrap().revision;
    let a2 = store.update("s/a", json!({}), None).await.unwrap().revision;
    store.compact(b).await.unwrap();

    let error = store.list("s/", &exact(a)).await.err();
    assert_eq!(
        error.map(|e| (e.code(), e.to_string())),
        Some((410, format!("too old resource version: {a} ({b})")))
    );
    assert_eq!(store.list("s/", &exact(b)).await.unwrap().items.len(), 2);

    let current = store.current_revision();
    let expired = match store.watch("s/", a - 1).await {
        Err(error) => Some(error),
        Ok(mut stream) => stream.next().await.and_then(Result::err),
    };
    // etcd's cancellation names the compacted revision, and is no sign of a rewound etcd.
    let expired = expired.map(|e| (e.reason(), e.to_string()));
    let message = format!("too old resource version: {} ({b})", a - 1);
    assert_eq!(expired, Some(("Expired", message)));
    assert!(store.current_revision() >= current, "the revision stays");
    let mut stream = store.watch("s/", b).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        event(EventKind::Modified, "s/a", a2, Some(a))
    );
}

#[tokio::test]
async fn two_replicas_see_each_others_writes() {
    let _shared = COMPACTION.read().await;
    let config = config();
    let (one, two) = (connect(&config).await, connect(&config).await);
    let mut watching = one.watch("s/", one.current_revision()).await.unwrap();

    let created = two.create("s/x", json!({"spec": 1})).await.unwrap();
    assert_eq!(
        next(&mut watching).await,
        event(EventKind::Added, "s/x", created.revision, None)
    );
    assert_eq!(one.get("s/x").await.unwrap(), created);

    let updated = one
        .update("s/x", json!({"spec": 2}), Some(created.revision))
        .await
        .unwrap();
    let stale = two
        .update("s/x", json!({"spec": 3}), Some(created.revision))
        .await;
    assert_eq!(stale.err().map(|e| e.reason()), Some("Conflict"));
    let reached = two
        .wait_for_revision(updated.revision, Duration::from_secs(5))
        .await;
    assert!(reached.unwrap() >= updated.revision);

    let deleted = two.delete("s/x", Some(updated.revision)).await.unwrap();
    assert_eq!(
        next(&mut watching).await,
        event(
            EventKind::Modified,
            "s/x",
            updated.revision,
            Some(created.revision)
        )
    );
    assert_eq!(
        next(&mut watching).await,
        event(
            EventKind::Deleted,
            "s/x",
            deleted.revision,
            Some(updated.revision)
        )
    );
    common::eventually("the follower to see the deletion", || async {
        (one.current_revision() >= deleted.revision).then_some(())
    })
    .await;
}

#[tokio::test]
async fn installations_under_other_prefixes_do_not_see_each_other() {
    let _shared = COMPACTION.read().await;
    let (one, two) = (connect(&config()).await, connect(&config()).await);
    one.create("s/x", json!({})).await.unwrap();
    let listed = two.list("s/", &ListOptions::default()).await.unwrap();
    assert_eq!(listed.items, []);
    assert_eq!(
        two.get("s/x").await.err().map(|e| e.reason()),
        Some("NotFound")
    );
}

#[tokio::test]
async fn an_unreachable_etcd_is_unavailable_saying_what_to_do_until_it_is_back() {
    let _shared = COMPACTION.read().await;
    let proxy = Proxy::start(etcd().http).await;
    let store = connect(&config_through(&proxy)).await;
    store.create("s/a", json!({})).await.unwrap();
    proxy.refuse(true);
    proxy.cut();
    let error = store.get("s/a").await.unwrap_err();
    assert_eq!(error.reason(), "ServiceUnavailable", "{error}");
    assert!(
        error.to_string().contains("check that etcd is running"),
        "{error}"
    );
    proxy.refuse(false);
    assert!(store.get("s/a").await.is_ok(), "etcd reachable again");
}

#[tokio::test]
async fn a_watch_rides_out_etcd_refusing_for_a_second_as_in_a_member_restart() {
    let _shared = COMPACTION.read().await;
    let proxy = Proxy::start(etcd().http).await;
    let store = connect(&config_through(&proxy)).await;
    store.create("s/a", json!({})).await.unwrap();
    let mut watch = store.watch("s/", store.current_revision()).await.unwrap();
    // Read all along, as the index and informers read theirs.
    let next = tokio::spawn(async move {
        let event = tokio::time::timeout(Duration::from_secs(15), watch.next()).await;
        let event = event.expect("an event").expect("the watch goes on");
        event.map(|e| e.object.revision).map_err(|e| e.to_string())
    });
    // Every connection closed, new ones refused for a second: the follower's watch and its
    // first question fail, as in an etcd leader election or a member restart.
    proxy.refuse(true);
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.refuse(false);
    let created = store.create("s/b", json!({})).await.unwrap();
    assert_eq!(next.await.unwrap(), Ok(created.revision));
}

#[tokio::test]
async fn an_etcd_replaced_under_a_watch_ends_it_with_410_rather_than_skipping_events() {
    // Alone: the etcd it starts must not take a port another test holds free as dead.
    let _exclusive = COMPACTION.write().await;
    let proxy = Proxy::start(etcd().http).await;
    let store = connect(&config_through(&proxy)).await;
    for key in ["s/a", "s/b", "s/c"] {
        store.create(key, json!({})).await.unwrap();
    }
    let before = store.current_revision();
    let mut watch = store.watch("s/", before).await.unwrap();
    // A restore from an old backup, or a new empty etcd, behind the same address.
    let replacement = Etcd::start("etcd-replacement");
    proxy.redirect(replacement.http);
    proxy.cut();
    let ended = tokio::time::timeout(Duration::from_secs(15), watch.next())
        .await
        .expect("the watch ends");
    let reason = ended.map(|event| event.map_err(|error| error.reason()));
    assert_eq!(reason.map(|r| r.err()), Some(Some("Expired")));
    assert!(
        store.current_revision() < before,
        "the current revision follows etcd down"
    );
}

#[tokio::test]
async fn a_hung_etcd_ends_every_watch_as_unavailable_within_the_silence_probe() {
    let _shared = COMPACTION.read().await;
    let proxy = Proxy::start(etcd().http).await;
    let mut config = config_through(&proxy);
    config.silence_probe = Duration::from_millis(500);
    let store = connect(&config).await;
    store.create("s/a", json!({})).await.unwrap();
    let mut watches = Vec::new();
    for prefix in ["s/", "t/"] {
        watches.push(store.watch(prefix, store.current_revision()).await.unwrap());
    }
    // Quiet, not hung: the watches stay open across several probes.
    let quiet = tokio::time::timeout(
        Duration::from_secs(2),
        futures::stream::select_all(watches.iter_mut()).next(),
    )
    .await;
    assert!(quiet.is_err(), "a quiet etcd ends no watch: {quiet:?}");
    proxy.hold(true);
    proxy.cut();
    for (i, watch) in watches.iter_mut().enumerate() {
        let ended = tokio::time::timeout(Duration::from_secs(40), watch.next())
            .await
            .unwrap_or_else(|_| panic!("watch {i} ends once etcd is found silent"));
        let error = ended.expect("an error, not the end").unwrap_err();
        assert_eq!(error.reason(), "ServiceUnavailable", "watch {i}: {error}");
        assert!(
            error.to_string().contains("etcd stopped answering"),
            "watch {i}: {error}"
        );
    }
    proxy.hold(false);
    proxy.cut();
    let mut again = store.watch("s/", store.current_revision()).await.unwrap();
    store.create("s/b", json!({})).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(15), again.next()).await;
    assert!(
        matches!(event, Ok(Some(Ok(_)))),
        "watching again: {event:?}"
    );
}

/// A store on an etcd of its own, started with `flags`; keep the etcd as long as the store.
async fn on_own_etcd(name: &str, flags: &[&str]) -> (Etcd, EtcdStore) {
    let etcd = Etcd::start_with(name, flags);
    let url = format!("http://{}", etcd.http);
    let store = connect(&EtcdConfig::new(&[&url]).unwrap()).await;
    (etcd, store)
}

#[tokio::test]
async fn an_etcd_out_of_space_is_unavailable_saying_how_to_free_it() {
    // The binary's shared etcd must not fill up: this one has a 2 MB quota of its own. Alone:
    // it must not take a port another test holds free as dead.
    let _exclusive = COMPACTION.write().await;
    let (_small, store) = on_own_etcd("etcd-quota", &["--quota-backend-bytes=2000000"]).await;
    let padding = "x".repeat(150_000);
    let mut refused = None;
    for i in 0..100 {
        if let Err(error) = store
            .create(&format!("s/{i}"), json!({ "pad": padding }))
            .await
        {
            refused = Some(error);
            break;
        }
    }
    let error = refused.expect("etcd refuses writes past its quota");
    assert_eq!(error.reason(), "ServiceUnavailable", "{error}");
    for part in ["database space exceeded", "etcdctl alarm disarm"] {
        assert!(error.to_string().contains(part), "{part:?} in {error}");
    }
}

#[tokio::test]
async fn a_write_over_a_smaller_etcd_request_limit_is_refused_as_too_large_in_etcds_words() {
    let _exclusive = COMPACTION.write().await;
    let (_small, store) = on_own_etcd("etcd-request-limit", &["--max-request-bytes=100000"]).await;
    let padding = "x".repeat(200_000);
    let error = store
        .create("s/big", json!({ "pad": padding }))
        .await
        .unwrap_err();
    assert_eq!(
        (error.reason(), error.code()),
        ("RequestEntityTooLarge", 413)
    );
    for part in [
        // {"pad":"x…","metadata":{}}: the padding, the members and the metadata a store adds
        "s/big is 200024 bytes as stored",
        "request is too large",
        "--max-request-bytes",
        "make it smaller",
    ] {
        assert!(error.to_string().contains(part), "{part:?} in {error}");
    }
    assert_eq!(store.get("s/big").await.unwrap_err().reason(), "NotFound");
}

/// Writes `value` under the etcd key `key` through etcd's own gateway, as etcdctl (or another
/// writer sharing the prefix) would, bypassing the store's checks.
async fn put_directly(key: String, value: String) {
    use base64::Engine;
    let encode = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    let put = json!({"key": encode(key), "value": encode(value)});
    let addr = etcd().http;
    let written = tokio::task::spawn_blocking(move || common::etcd::post(addr, "/v3/kv/put", &put));
    assert!(written.await.unwrap().is_some(), "etcd took the value");
}

#[tokio::test]
async fn an_object_etcd_held_over_the_limit_takes_updates_that_do_not_grow_it() {
    let _shared = COMPACTION.read().await;
    let config = config();
    let store = connect(&config).await;
    let padded = |bytes: usize| json!({"metadata": {"name": "big"}, "pad": "x".repeat(bytes)});
    // Over the limit yet within etcd's own, as an earlier version (or etcdctl) wrote it.
    let over = MAX_OBJECT_BYTES + 500;
    let key = format!("{}s/big", store.prefix());
    put_directly(key, padded(over).to_string()).await;

    let grown = store
        .update("s/big", padded(over + 1), None)
        .await
        .unwrap_err();
    assert_eq!(grown.reason(), "RequestEntityTooLarge");
    assert!(grown.to_string().contains("it is already"), "{grown}");
    let smaller = store
        .update("s/big", padded(over - 100), None)
        .await
        .unwrap();
    assert_eq!(
        smaller.value["pad"].as_str().map(str::len),
        Some(over - 100)
    );
}

#[tokio::test]
async fn a_value_another_writer_left_unreadable_is_named_set_aside_by_background_lists_and_deletable(
) {
    let _shared = COMPACTION.read().await;
    let config = config();
    let store = connect(&config).await;
    store
        .create("s/a", json!({"metadata": {"name": "a"}}))
        .await
        .unwrap();
    let mut events = store.watch("s/", store.current_revision()).await.unwrap();
    put_directly(format!("{}s/b", store.prefix()), "not json".to_string()).await;

    let read = store.get("s/b").await.unwrap_err();
    assert_eq!(read.reason(), "InternalError");
    assert!(
        read.to_string()
            .starts_with("the stored object s/b cannot be read (not json"),
        "{read}"
    );
    let strict = store.list("s/", &ListOptions::default()).await.unwrap_err();
    assert_eq!(
        strict.to_string(),
        read.to_string(),
        "a client list fails, naming it"
    );
    let lenient = ListOptions {
        skip_unreadable: true,
        ..ListOptions::default()
    };
    let page = store.list("s/", &lenient).await.unwrap();
    let readable = page.items.iter().map(|object| object.key.as_str());
    assert_eq!(readable.collect::<Vec<_>>(), ["s/a"]);
    let unreadable = page.unreadable.iter().map(|object| object.key.as_str());
    assert_eq!(unreadable.collect::<Vec<_>>(), ["s/b"]);
    // The watch that saw the foreign write reports it and ends: its readers list again.
    let watched = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    assert!(
        matches!(&watched, Some(Err(error)) if error.to_string() == read.to_string()),
        "{watched:?}"
    );

    let mut events = store.watch("s/", store.current_revision()).await.unwrap();
    let deleted = store.delete("s/b", None).await.unwrap();
    assert_eq!(
        *deleted.value,
        json!({"metadata": {"name": "b", "resourceVersion": deleted.revision.to_string()}})
    );
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    let event = event.expect("an event").expect("a readable event");
    assert_eq!(
        (event.kind, event.object.key.as_str()),
        (EventKind::Deleted, "s/b")
    );
    assert_eq!(store.get("s/b").await.unwrap_err().reason(), "NotFound");
}

#[tokio::test]
async fn a_dead_endpoint_is_skipped_for_the_next_one() {
    let _shared = COMPACTION.read().await;
    let (_held, dead) = refused_port();
    let live = etcd().http;
    let config = EtcdConfig::new(&[&dead.to_string(), &live.to_string()]).unwrap();
    let store = connect(&config.with_prefix(&unique_prefix()).unwrap()).await;
    let created = store.create("s/a", json!({})).await.unwrap();
    assert_eq!(store.get("s/a").await.unwrap(), created);
}

#[tokio::test]
async fn a_member_that_takes_connections_but_never_answers_is_left_for_the_next() {
    let _shared = COMPACTION.read().await;
    let proxy = Proxy::start(etcd().http).await;
    let endpoints = [proxy.addr.to_string(), etcd().http.to_string()];
    let config = EtcdConfig::new(&[&endpoints[0], &endpoints[1]]).unwrap();
    let store = connect(&config.with_prefix(&unique_prefix()).unwrap()).await;
    let created = store.create("s/a", json!({})).await.unwrap();
    // The first member now takes connections and answers nothing (cut off from the others).
    proxy.hold(true);
    proxy.cut();
    // A call waits out its timeout there (10 s); the calls after it go to the other member.
    let found = tokio::time::timeout(Duration::from_secs(35), async {
        loop {
            if let Ok(found) = store.get("s/a").await {
                return found;
            }
        }
    })
    .await
    .expect("answered by the member that serves");
    assert_eq!(found, created);
    // The calls after it go straight to the member that serves: none dials the hung one (whose
    // calls could only time out, failing the get).
    let dialled = proxy.accepted.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(store.get("s/a").await.unwrap(), created);
    }
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        dialled,
        "a call after the hung member was left dialled it again"
    );
}

#[tokio::test]
async fn https_endpoints_are_verified_against_the_configured_ca() {
    let _shared = COMPACTION.read().await;
    let server = etcd();
    let spec = |ca: &Path| -> EtcdConfig {
        format!(
            "https://{}?ca={}&prefix={}",
            server.https,
            ca.display(),
            unique_prefix()
        )
        .parse()
        .unwrap()
    };
    let store = connect(&spec(&server.ca)).await;
    let created = store.create("s/a", json!({})).await.unwrap();
    assert_eq!(store.get("s/a").await.unwrap(), created);
    // From just before the create: etcd's history from revision 1 is gone once a test compacted.
    let mut stream = store.watch("s/", created.revision - 1).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        event(EventKind::Added, "s/a", created.revision, None)
    );

    let stranger = common::temp_dir();
    let other = imagelookup::certs::ensure_serving_certs(stranger.path(), &["x".into()]).unwrap();
    let refused = EtcdStore::connect(&spec(&other.ca_cert)).await;
    let message = refused.err().map(|e| format!("{:?}", e));
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("InvalidCertificate")),
        "an unknown CA is refused: {message:?}"
    );
}

#[tokio::test]
async fn renewed_etcd_client_certificates_are_used_from_the_next_connection_without_a_restart() {
    // One CA for etcd's serving certificate and its clients': etcd's gateway dials its own gRPC
    // server presenting its serving certificate, which the client check must accept too.
    let clients = common::ca::Ca::new("etcd");
    let dir = common::temp_dir();
    let file = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let ca = file("ca.pem", &clients.pem);
    let (serving_cert, serving_key) = clients.loopback_peer_pem();
    let flags = [
        "--client-cert-auth".to_string(),
        format!("--trusted-ca-file={ca}"),
        format!("--cert-file={}", file("etcd.crt", &serving_cert)),
        format!("--key-file={}", file("etcd.key", &serving_key)),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let etcd = Etcd::start_with("client-certs", &flags);
    // Through a proxy whose cut closes the pooled connections, as an etcd restart would.
    let proxy = Proxy::start(etcd.https).await;
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let write_pair = |pem: (String, String)| {
        std::fs::write(&cert, pem.0).unwrap();
        std::fs::write(&key, pem.1).unwrap();
    };
    write_pair(clients.client_pem("imagelookup"));
    let config: EtcdConfig = format!(
        "https://{}?ca={ca}&cert={}&key={}",
        proxy.addr,
        cert.display(),
        key.display()
    )
    .parse()
    .unwrap();
    let store = connect(&config).await;
    let created = store.create("s/a", json!({})).await.unwrap();
    let answers = |expected: bool| {
        let (store, proxy) = (&store, &proxy);
        async move {
            proxy.cut();
            common::eventually("etcd's answer to the client certificate", || async {
                (store.get("s/a").await.is_ok() == expected).then_some(())
            })
            .await;
        }
    };

    // A rotation half written (the renewed certificate beside the old key) makes no pair: the
    // last good one stays in use.
    let renewed = clients.client_pem("imagelookup");
    std::fs::write(&cert, &renewed.0).unwrap();
    answers(true).await;
    // A pair from a CA etcd does not trust: refused, so the files are what new connections use.
    write_pair(common::ca::Ca::new("stranger").client_pem("imagelookup"));
    answers(false).await;
    // The renewed pair, whole: answered again, the process never restarted.
    write_pair(renewed);
    answers(true).await;
    assert_eq!(store.get("s/a").await.unwrap(), created);
}

// === end to end: two servers on one etcd ===

/// A server over `store`, without the importer.
async fn server_on(store: &str) -> InProcess {
    InProcess::start(&["--store", store, "--no-importer"]).await
}

const STREAMS: &str = "/apis/image.openshift.io/v1/namespaces/demo/imagestreams";

#[tokio::test]
async fn two_servers_on_one_etcd_serve_the_same_imagestreams() {
    let _shared = COMPACTION.read().await;
    let store = format!("etcd:http://{}?prefix={}", etcd().http, unique_prefix());
    let (one, two) = (server_on(&store).await, server_on(&store).await);
    let stream = json!({
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": "mysql"},
        "spec": {"lookupPolicy": {"local": true}},
    });
    let created = common::eventually("the first server to accept a create", || async {
        let (status, body) = one
            .send(one.client.post(one.url(STREAMS)).json(&stream))
            .await;
        (status == 201).then_some(body)
    })
    .await;
    let version = created["metadata"]["resourceVersion"].clone();
    assert!(
        store_contract::resource_version(&created).is_some(),
        "{created}"
    );

    let (status, list) = two.send(two.client.get(two.url(STREAMS))).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["metadata"]["name"])
        .collect();
    assert_eq!(names, [&json!("mysql")]);
    assert_eq!(list["items"][0]["metadata"]["resourceVersion"], version);
    assert_eq!(
        list["items"][0]["metadata"]["uid"],
        created["metadata"]["uid"]
    );

    let (status, _) = two
        .send(two.client.post(two.url(STREAMS)).json(&stream))
        .await;
    assert_eq!(status, 409, "the second server sees the name taken");
}

// === a watch whose connection breaks ===

#[tokio::test]
async fn a_watch_resumes_where_it_was_when_its_connection_breaks() {
    let _shared = COMPACTION.read().await;
    let direct = config();
    let proxy = Proxy::start(etcd().http).await;
    let proxied = EtcdConfig::new(&[&proxy.addr.to_string()])
        .unwrap()
        .with_prefix(&direct.prefix)
        .unwrap();
    let (watcher, writer) = (connect(&proxied).await, connect(&direct).await);
    let mut stream = watcher
        .watch("s/", watcher.current_revision())
        .await
        .unwrap();
    let first = writer.create("s/0", json!({})).await.unwrap().revision;
    assert_eq!(
        next(&mut stream).await,
        event(EventKind::Added, "s/0", first, None)
    );

    let connections = proxy.accepted.load(Ordering::Relaxed);
    proxy.cut();
    let mut written = Vec::new();
    for key in ["s/1", "s/2", "s/3"] {
        written.push(writer.create(key, json!({})).await.unwrap().revision);
    }
    for (key, revision) in ["s/1", "s/2", "s/3"].into_iter().zip(written) {
        assert_eq!(
            next(&mut stream).await,
            event(EventKind::Added, key, revision, None)
        );
    }
    assert!(
        proxy.accepted.load(Ordering::Relaxed) > connections,
        "the watch came back on a new connection"
    );
}
