//! The listener end to end on 127.0.0.1: protocols, limits, idle closes, eviction, stalls.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::testing::{read_until_closed, start, test_router, Gate, PATIENCE};
use super::*;

async fn wait_until_refused(addr: SocketAddr) {
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, refused).await.unwrap();
}

/// Whether the open-connections gauge `open` reads `expected` within [`PATIENCE`].
async fn reaches(open: &Gauge<i64, AtomicI64>, expected: i64) -> bool {
    let counted = async {
        while open.get() != expected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, counted).await.is_ok()
}

#[tokio::test]
async fn serves_http1_and_http2_with_the_peer_address() {
    let server = start(ServeOptions::default(), test_router(Gate::default())).await;
    for (builder, version) in [
        (server.client(), reqwest::Version::HTTP_2),
        (server.client().http1_only(), reqwest::Version::HTTP_11),
    ] {
        let response = builder
            .build()
            .unwrap()
            .get(server.url("/peer"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), version);
        assert_eq!(response.text().await.unwrap(), "127.0.0.1");
    }
}

#[tokio::test]
async fn an_http2_request_with_headers_past_16_kib_is_served_as_kube_apiserver_serves_it() {
    let server = start(ServeOptions::default(), test_router(Gate::default())).await;
    let client = server.client().build().unwrap();
    // A user in 400 groups, as the front proxy sends it: one header a group, ~40 KiB.
    let mut request = client.get(server.url("/peer"));
    for group in 0..400 {
        request = request.header(
            "x-remote-group",
            format!("oidc:engineering-team-{group:04}"),
        );
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_panicking_handler_gets_a_500_status_and_its_connection_serves_the_next_request() {
    let server = start(ServeOptions::default(), test_router(Gate::default())).await;
    for builder in [server.client(), server.client().http1_only()] {
        let client = builder.build().unwrap();
        let port = client.get(server.url("/port")).send().await.unwrap();
        let port = port.text().await.unwrap();
        let response = client.get(server.url("/panic")).send().await.unwrap();
        assert_eq!(response.status(), 500);
        let status: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "InternalError");
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains("may or may not have been saved"),
            "{message}"
        );
        let again = client.get(server.url("/port")).send().await.unwrap();
        assert_eq!(again.text().await.unwrap(), port, "the same connection");
    }
}

/// Sends `request` in plaintext and reads the whole answer, until the server closes.
async fn plaintext_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    tokio::time::timeout(PATIENCE, read).await.unwrap().unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn plaintext_http_on_the_tls_port_gets_gos_400_and_tls_still_works() {
    let server = start(ServeOptions::default(), test_router(Gate::default())).await;
    let expected =
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
    let get = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(plaintext_exchange(server.addr, get).await, expected);
    let post = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(plaintext_exchange(server.addr, post).await, expected);
    // Not HTTP: rustls answers with an alert record (content type 21), as before.
    let alert = plaintext_exchange(server.addr, b"SSH-2.0-OpenSSH_9.6\r\n").await;
    assert!(alert.as_bytes().first() == Some(&0x15), "{alert:?}");
    let response = server
        .client()
        .build()
        .unwrap()
        .get(server.url("/hello"))
        .send();
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout_and_counted() {
    let options = ServeOptions {
        handshake_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    };
    let failures = options.handshake_failures.clone();
    let open = options.open_connections.clone();
    let server = start(options, test_router(Gate::default())).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(PATIENCE, silent.read(&mut byte))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    let timeouts = failures.get_or_create(&ReasonLabels {
        reason: HANDSHAKE_TIMEOUT,
    });
    assert_eq!(timeouts.get(), 1);
    assert!(reaches(&open, 0).await, "its slot is free: {}", open.get());
}

/// `slots` slots, and a handshake and idle timeout no test waits for: only eviction frees a
/// slot, even one held by a client that never sends a byte.
fn slots_held_until_evicted(slots: usize) -> ServeOptions {
    ServeOptions {
        max_connections: slots,
        handshake_timeout: Duration::from_secs(3600),
        ..two_slots()
    }
}

/// Whether the server closed `stream` (end of stream or a reset) within [`PATIENCE`].
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn connections_that_send_nothing_cannot_keep_a_tls_client_out_the_oldest_go_first() {
    const SLOTS: usize = 4;
    // Twice as many as there are slots: the rest wait in the accept backlog, ahead of the
    // TLS client, and each evicts an older one when its turn comes, as a flood that reopens
    // what is closed does.
    const SILENT: usize = 2 * SLOTS;
    let options = slots_held_until_evicted(SLOTS);
    let closes = options.closed_connections.clone();
    let open = options.open_connections.clone();
    let server = start(options, test_router(Gate::default())).await;
    let mut silent = Vec::new();
    for _ in 0..SILENT {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let slots = i64::try_from(SLOTS).unwrap();
    assert!(reaches(&open, slots).await, "silent: {}", open.get());
    // Served within the patience, far shorter than the silent clients' handshake timeout.
    assert_eq!(server.hello().await, "hello");
    // The backlog's extra clients each took the slot of the oldest once its handshake grace
    // ended, then the TLS client did.
    let evicted = SILENT - SLOTS + 1;
    for (index, stream) in silent.iter_mut().take(evicted).enumerate() {
        assert!(
            closed_by_server(stream).await,
            "silent client {index} still open"
        );
    }
    let count = |reason| closes.get_or_create(&ReasonLabels { reason }).get();
    let expected = u64::try_from(evicted).unwrap();
    assert_eq!(count(CLOSED_EVICTED_IN_HANDSHAKE), expected);
    assert_eq!(count(CLOSED_EVICTED), 0);
}

#[tokio::test]
async fn a_connection_still_in_its_handshake_is_evicted_before_an_idle_one() {
    let options = slots_held_until_evicted(2);
    let closes = options.closed_connections.clone();
    let open = options.open_connections.clone();
    let server = start(options, test_router(Gate::default())).await;
    // The idle connection is the older: age alone would choose it.
    let mut idle = server.idle_h2().await;
    assert!(reaches(&open, 1).await, "idle: {}", open.get());
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(reaches(&open, 2).await, "idle and silent: {}", open.get());
    // Until then the handshake may still be a real client's, and the idle connection goes.
    tokio::time::sleep(slots::EVICTION_GRACE_PERIOD).await;
    assert_eq!(server.hello().await, "hello");
    assert!(
        closed_by_server(&mut silent).await,
        "the silent client is open"
    );
    let count = |reason| closes.get_or_create(&ReasonLabels { reason }).get();
    assert_eq!(
        (count(CLOSED_EVICTED_IN_HANDSHAKE), count(CLOSED_EVICTED)),
        (1, 0)
    );
    let closed = read_until_closed(&mut idle, Duration::from_millis(300)).await;
    assert!(
        closed.is_none(),
        "the idle connection was closed: {closed:?}"
    );
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let gate = Gate::default();
    let server = start(ServeOptions::default(), test_router(gate.clone())).await;
    let client = server.client().http1_only().build().unwrap();
    let request = tokio::spawn(client.get(server.url("/slow")).send());
    gate.entered.notified().await;
    server.shutdown_tx.send(()).unwrap();
    wait_until_refused(server.addr).await;
    assert!(
        !server.task.is_finished(),
        "serve returned with a request in flight"
    );
    gate.release.notify_one();
    let response = tokio::time::timeout(PATIENCE, request)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "slow done");
    let served = tokio::time::timeout(PATIENCE, server.task)
        .await
        .unwrap()
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
}

#[tokio::test]
async fn shutdown_cuts_requests_that_outlive_the_timeout() {
    let gate = Gate::default();
    let options = ServeOptions {
        shutdown_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    };
    let server = start(options, test_router(gate.clone())).await;
    let client = server.client().build().unwrap();
    let request = tokio::spawn(client.get(server.url("/slow")).send());
    gate.entered.notified().await;
    server.shutdown_tx.send(()).unwrap();
    let served = tokio::time::timeout(PATIENCE, server.task)
        .await
        .unwrap()
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
    let response = tokio::time::timeout(PATIENCE, request)
        .await
        .unwrap()
        .unwrap();
    assert!(response.is_err(), "{response:?}");
}

/// Two slots, and an idle timeout no test waits for: only eviction frees a slot.
fn two_slots() -> ServeOptions {
    ServeOptions {
        max_connections: 2,
        idle_timeout: Duration::from_secs(60),
        ..ServeOptions::default()
    }
}

/// One slot, and requests that stall after 300 ms.
fn one_slot_stalling_soon() -> ServeOptions {
    ServeOptions {
        max_connections: 1,
        stalled_after: Duration::from_millis(300),
        ..two_slots()
    }
}

#[tokio::test]
async fn a_request_that_stalls_no_longer_holds_its_slot_from_a_waiting_client() {
    let gate = Gate::default();
    let server = start(one_slot_stalling_soon(), test_router(gate.clone())).await;
    // Never released: a client that does not send its body or read its response. Asking
    // for a watch does not make it one: only the handler's response does.
    let stalled = server.client().http1_only().build().unwrap();
    let stalled = tokio::spawn(stalled.get(server.url("/slow?watch=true")).send());
    gate.entered.notified().await;
    let started = std::time::Instant::now();
    assert_eq!(server.hello().await, "hello");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    let cut = tokio::time::timeout(PATIENCE, stalled)
        .await
        .unwrap()
        .unwrap();
    assert!(cut.is_err(), "the stalled request was answered: {cut:?}");
}

#[tokio::test]
async fn re_sending_requests_that_stall_does_not_keep_a_slot() {
    let gate = Gate::default();
    let options = one_slot_stalling_soon();
    let closes = options.closed_connections.clone();
    let server = start(options, test_router(gate.clone())).await;
    // One HTTP/2 connection starting a request that stalls every 100 ms until the test ends,
    // so for longer than the patience of `hello`: the newest is never 300 ms old, the oldest
    // soon is.
    let stalling = server.client().build().unwrap();
    let url = server.url("/slow");
    let resending = tokio::spawn(async move {
        let mut sent = Vec::new();
        loop {
            sent.push(tokio::spawn(stalling.get(&url).send()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // The stalling connection holds the only slot: `hello` gets one only by evicting it.
    gate.entered.notified().await;
    assert_eq!(server.hello().await, "hello");
    resending.abort();
    // At least: once evicted, the re-sending client connects again, and its new connection
    // may in turn evict `hello`'s, idle once answered.
    let evicted = closes
        .get_or_create(&ReasonLabels {
            reason: CLOSED_EVICTED,
        })
        .get();
    assert!(evicted >= 1, "no connection was evicted");
}

#[tokio::test]
async fn a_quiet_watch_keeps_its_slot_past_the_stall_time() {
    let gate = Gate::default();
    let server = start(one_slot_stalling_soon(), test_router(gate.clone())).await;
    let feed = gate.stream_sender();
    let watcher = server.client().build().unwrap();
    let mut watch = watcher.get(server.url("/stream")).send().await.unwrap();
    let client = server.client().build().unwrap();
    let waiting = tokio::spawn(client.get(server.url("/hello")).send());
    // Past the stall time and the accept loop's retry: still busy, so nobody is evicted.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "served while the watch held the only slot"
    );
    feed.send("event".into()).await.unwrap();
    let chunk = tokio::time::timeout(PATIENCE, watch.chunk()).await.unwrap();
    assert_eq!(chunk.unwrap().unwrap(), "event");
    drop((feed, watch));
    let response = tokio::time::timeout(PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.unwrap().text().await.unwrap(), "hello");
}

#[tokio::test]
async fn a_client_waiting_for_a_slot_held_by_idle_connections_gets_the_one_idle_longest() {
    let options = two_slots();
    let closes = options.closed_connections.clone();
    let open = options.open_connections.clone();
    let server = start(options, test_router(Gate::default())).await;
    let mut oldest = server.idle_http1().await;
    // Idle times are in ms: the newer connection's must be later, whatever the load.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut newer = server.idle_h2().await;
    // Until the server has counted both connections: the slots are all taken.
    assert!(
        reaches(&open, 2).await,
        "two idle connections: {}",
        open.get()
    );
    assert_eq!(server.hello().await, "hello");
    let closed = read_until_closed(&mut oldest, PATIENCE).await;
    assert!(
        closed.is_some(),
        "the keep-alive connection idle longest is still open"
    );
    let open = read_until_closed(&mut newer, Duration::from_millis(300)).await;
    assert!(open.is_none(), "the newer idle connection was closed too");
    let count = |reason| closes.get_or_create(&ReasonLabels { reason }).get();
    assert_eq!((count(CLOSED_EVICTED), count(CLOSED_IDLE)), (1, 0));
}

#[tokio::test]
async fn evicting_does_not_wait_for_flooding_peers_that_never_close_their_side() {
    const FLOOD: usize = 8;
    let options = ServeOptions {
        max_connections: FLOOD,
        ..two_slots()
    };
    let open = options.open_connections.clone();
    let server = start(options, test_router(Gate::default())).await;
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        flood.push(server.idle_h2().await);
    }
    let flooded = i64::try_from(FLOOD).unwrap();
    assert!(reaches(&open, flooded).await, "flood: {}", open.get());
    // Each new client evicts one of them; waiting a second on each (Go's GOAWAY timeout)
    // would take longer than the whole patience.
    let served = async {
        // Kept, so that each client's connection stays open and the next evicts a peer.
        let mut clients = Vec::new();
        for _ in 0..FLOOD {
            let client = server.client().build().unwrap();
            let response = client.get(server.url("/hello")).send().await.unwrap();
            assert_eq!(response.text().await.unwrap(), "hello");
            clients.push(client);
        }
    };
    tokio::time::timeout(PATIENCE, served).await.unwrap();
}

#[tokio::test]
async fn a_client_waiting_for_a_slot_held_by_busy_connections_waits_and_evicts_none() {
    let gate = Gate::default();
    let server = start(two_slots(), test_router(gate.clone())).await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let client = server.client().http1_only().build().unwrap();
        slow.push(tokio::spawn(client.get(server.url("/slow")).send()));
        gate.entered.notified().await;
    }
    let client = server.client().build().unwrap();
    let waiting = tokio::spawn(client.get(server.url("/hello")).send());
    // Longer than the accept loop's retry, so it looked again and still found none idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "served while every slot was busy");
    gate.release.notify_waiters();
    for request in slow {
        let response = tokio::time::timeout(PATIENCE, request)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // A connection asked to close during a request answers `Connection: close`.
        let connection = response.headers().get(http::header::CONNECTION).cloned();
        assert_eq!(connection, None, "a busy connection was told to close");
        assert_eq!(response.text().await.unwrap(), "slow done");
    }
    let response = tokio::time::timeout(PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
}

#[tokio::test]
async fn a_client_refusing_the_servers_certificate_is_counted_as_such() {
    let options = ServeOptions::default();
    let failures = options.handshake_failures.clone();
    let server = start(options, test_router(Gate::default())).await;
    // A client whose roots hold another CA of the same name: a caBundle from an earlier
    // `make certs`, which makes a new CA each run.
    let other =
        crate::certs::generate(&["127.0.0.1".to_string()], std::time::SystemTime::now()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add({
            use rustls::pki_types::pem::PemObject as _;
            CertificateDer::from_pem_slice(other.ca_cert_pem.as_bytes()).unwrap()
        })
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(server.addr.ip().into());
    assert!(connector.connect(name, tcp).await.is_err());
    let count = |reason| failures.get_or_create(&ReasonLabels { reason }).get();
    let counted = async {
        while count(HANDSHAKE_CERTIFICATE_REJECTED) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, counted).await.unwrap();
    assert_eq!(count(HANDSHAKE_PROTOCOL), 0);
    // Plaintext is counted apart, and a trusting client is not counted at all.
    plaintext_exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(server.hello().await, "hello");
    assert_eq!(count(HANDSHAKE_PLAINTEXT), 1);
    assert_eq!(count(HANDSHAKE_CERTIFICATE_REJECTED), 1);
}

#[tokio::test]
async fn open_connections_are_counted_while_they_hold_a_slot() {
    let options = ServeOptions::default();
    let open = options.open_connections.clone();
    let server = start(options, test_router(Gate::default())).await;
    let first = server.idle_h2().await;
    let second = server.idle_http1().await;
    assert!(
        reaches(&open, 2).await,
        "two idle connections: {}",
        open.get()
    );
    drop((first, second));
    assert!(reaches(&open, 0).await, "both closed: {}", open.get());
}
