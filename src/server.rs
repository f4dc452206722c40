//! The one TLS listener: accept, handshake, HTTP/1.1 or HTTP/2, graceful shutdown.
//!
//! ```text
//! accept ─> a slot (none free: close the connection idle longest) ─> sniff ─> TLS handshake ─> hyper auto (h1/h2) ─> Router
//!                                                                      │    (both bounded)
//!                                                                      └─ plaintext HTTP: Go's "400 Client sent an HTTP request to an HTTPS server"
//!    └─ shutdown: stop accepting, close idle connections, let requests in flight finish (bounded)
//! ```
//!
//! Failed handshakes (a client that does not trust our CA, plaintext HTTP, garbage) are logged
//! at info, at most one line per [`HANDSHAKE_LOG_INTERVAL`] with a count of the others.
//!
//! The caller owns every resource: it binds the listener, loads the [`ReloadingTls`], builds
//! the router and decides when to stop, so tests run the same code on port 0.
//!
//! A connection holds a semaphore permit (its slot) from accept to close, so at most
//! [`ServeOptions::max_connections`] are open; the next client is accepted and waits for a
//! slot, and the clients after it wait in the kernel's accept backlog instead of costing
//! memory. So that no client pins a slot, and idle clients cannot starve probes and the
//! webhook (`server/slots.rs`, `server/connection.rs`):
//! - one that connects and says nothing is dropped after [`ServeOptions::handshake_timeout`];
//! - a connection with no open request (HTTP/1.1 keep-alive, or HTTP/2 with no stream) for
//!   [`ServeOptions::idle_timeout`] (90 s, kube-apiserver's `IdleTimeout`) is closed
//!   gracefully, with GOAWAY on HTTP/2. A request is open from its call until its response
//!   body ends or is dropped, so a watch ([`LongRunning`]) keeps its connection busy; any
//!   other request only for [`ServeOptions::stalled_after`] (10 s), so a response the client
//!   does not read or a body it does not send cannot pin the slot;
//! - when every slot is taken and a client waits, the connection idle longest is closed the
//!   same way at once, given only 10 ms to send its GOAWAY (logged at info, throttled like
//!   handshakes). A busy connection is never chosen: the client waits until one ends or
//!   becomes idle;
//! - on HTTP/1.1, hyper's header read timeout (32 s, kube-apiserver's `ReadHeaderTimeout`)
//!   closes a connection that dribbles its headers or sits idle that long between requests;
//! - on HTTP/2, keep-alive pings close connections whose peer has vanished, and a connection
//!   carries at most 100 concurrent streams (kube-apiserver's default).

mod connection;
mod handshake;
mod health;
mod slots;
#[cfg(test)]
mod testing;

pub(crate) use handshake::Throttle;
pub use health::{health_routes, Readiness};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::tls::ReloadingTls;
use handshake::FirstBytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::metrics::ReasonLabels;
use slots::Slots;

/// How long to wait before accepting again after `accept` fails (typically out of file
/// descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How often an HTTP/2 connection is pinged, so a vanished peer frees its permit.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// kube-apiserver's `ReadHeaderTimeout` ("just shy of requestTimeoutUpperBound").
const HTTP1_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// kube-apiserver's HTTP/2 `MaxConcurrentStreams` (Go's client default).
const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 100;

/// At most one log line per this interval for each kind of failed handshake, and for
/// connections closed to make room.
pub const HANDSHAKE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The certificate chain (leaf first) the client presented in the TLS handshake, in the
/// extensions of every request on that connection; absent when it presented none. The
/// handshake proved only that the client holds the leaf's key: who issued it is for the
/// authenticator to check.
#[derive(Clone, Debug)]
pub struct PeerCertificates(pub Arc<[CertificateDer<'static>]>);

/// A response extension marking a response that lasts as long as the client wants (a watch):
/// its connection stays busy however quiet it is, where any other response keeps it busy for
/// [`ServeOptions::stalled_after`] at most. Set by the handler, so a request cannot claim it.
#[derive(Clone, Copy, Debug)]
pub struct LongRunning;

/// Limits of [`serve_with`], and where it counts the connections it closes.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Connections open at once; when all are taken, the one idle longest is closed for a
    /// waiting client, and further clients wait in the accept backlog.
    pub max_connections: usize,
    /// Time a client gets to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a connection may stay without an open request before it is closed.
    pub idle_timeout: Duration,
    /// How long a request keeps its connection busy at most, unless its response is
    /// [`LongRunning`]: past it, a
    /// response the client does not read (an HTTP/2 window left at 0) or a body it does not
    /// send no longer holds the slot, which a waiting client may then take, and the idle
    /// timeout runs. The request itself goes on until the connection closes.
    pub stalled_after: Duration,
    /// Time requests in flight get to finish after shutdown is signalled.
    pub shutdown_timeout: Duration,
    /// Connections the server closed, by why ([`CLOSED_IDLE`], [`CLOSED_EVICTED`]): the
    /// metrics' counter, or by default one that nobody reads.
    pub closed_connections: Family<ReasonLabels, Counter>,
}

/// `closed_connections` reason: no request for the idle timeout.
pub const CLOSED_IDLE: &str = "idle";

/// `closed_connections` reason: idle, and closed for a client waiting for a slot.
pub const CLOSED_EVICTED: &str = "evicted";

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            // kube-apiserver's `IdleTimeout` ("matches http.DefaultTransport keep-alive timeout").
            idle_timeout: Duration::from_secs(90),
            // Webhook calls and API requests take milliseconds; the kube-apiserver gives a
            // webhook 30 s at most, and its own clients retry a closed connection.
            stalled_after: Duration::from_secs(10),
            // Below Kubernetes' default 30 s termination grace period, so we exit before SIGKILL.
            shutdown_timeout: Duration::from_secs(20),
            closed_connections: Family::default(),
        }
    }
}

/// Serves `router` over TLS on `listener` with [`ServeOptions::default`] until `shutdown`
/// completes, then drains connections.
///
/// Handlers can extract the client's address as `ConnectInfo<SocketAddr>`. Only a failure to
/// read the listener's address is returned; accept and connection errors are logged.
pub async fn serve(
    listener: TcpListener,
    tls: ReloadingTls,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, tls, router, shutdown, ServeOptions::default()).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with(
    listener: TcpListener,
    tls: ReloadingTls,
    router: Router,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "serving https");
    let shared = Arc::new(Shared {
        acceptor: tls.acceptor(),
        router,
        http: http_builder(),
        handshake_timeout: options.handshake_timeout,
        idle_timeout: options.idle_timeout,
        closed_connections: options.closed_connections.clone(),
        slots: Arc::new(Slots::new(options.stalled_after, HANDSHAKE_LOG_INTERVAL)),
        failed_handshakes: Throttle::new(HANDSHAKE_LOG_INTERVAL),
        plaintext_requests: Throttle::new(HANDSHAKE_LOG_INTERVAL),
    });
    // At least one, or the server would never accept.
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Reap finished tasks so the set stays as small as the number of open connections.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener) => accepted,
        };
        let Some((stream, peer)) = accepted else {
            continue;
        };
        // This client waits here for a slot; the next ones wait in the accept backlog.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = shared.slots.admit(&permits) => permit,
        };
        let Some(permit) = permit else { continue };
        connections.spawn(connection::serve_connection(
            shared.clone(),
            stream,
            peer,
            permit,
            stopping.clone(),
        ));
    }
    // Closing the socket refuses new connections while the old ones drain.
    drop(listener);
    drain(stop, connections, options.shutdown_timeout).await;
    Ok(())
}

/// What every connection task needs, shared instead of cloned per connection.
struct Shared {
    acceptor: TlsAcceptor,
    router: Router,
    http: auto::Builder<TokioExecutor>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    /// Counts the connections closed idle or evicted.
    closed_connections: Family<ReasonLabels, Counter>,
    /// The connections past their handshake, for idle accounting and eviction.
    slots: Arc<Slots>,
    /// Limits the log lines of failed and timed-out handshakes.
    failed_handshakes: Throttle,
    /// Limits the log lines of plaintext HTTP requests answered with a 400.
    plaintext_requests: Throttle,
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer, hyper enforces its HTTP/1 header read timeout and HTTP/2 keep-alives.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HTTP1_HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL)
        .max_concurrent_streams(HTTP2_MAX_CONCURRENT_STREAMS);
    builder
}

/// The next client; `None` after a failed accept.
async fn accept(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(accepted) => Some(accepted),
        Err(err) => {
            tracing::warn!(error = %err, "accept failed");
            tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            None
        }
    }
}

/// Completes the TLS handshake within the handshake timeout, first answering plaintext HTTP
/// the way Go does; `None` (logged, throttled) when there is no TLS connection to serve.
async fn handshake(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let deadline = tokio::time::Instant::now() + shared.handshake_timeout;
    let first = tokio::time::timeout_at(deadline, handshake::sniff(&stream)).await;
    match first {
        Ok(Ok(FirstBytes::Closed)) => return None,
        Ok(Ok(FirstBytes::PlainHttp)) => {
            if let Some(suppressed) = shared.plaintext_requests.admit(Instant::now()) {
                tracing::info!(%peer, suppressed, "plaintext http request on the https port; answered 400");
            }
            handshake::refuse_plaintext(stream).await;
            return None;
        }
        Ok(Err(err)) => {
            tracing::debug!(%peer, error = %err, "connection failed before the handshake");
            return None;
        }
        // Anything else is for rustls to accept or answer with an alert; a timeout falls through
        // to the handshake's, which has expired too.
        Ok(Ok(_)) | Err(_) => {}
    }
    let accepted = tokio::time::timeout_at(deadline, shared.acceptor.accept(stream)).await;
    let error = match accepted {
        Ok(Ok(tls_stream)) => return Some(tls_stream),
        Ok(Err(err)) => err.to_string(),
        Err(_) => "timed out".to_string(),
    };
    if let Some(suppressed) = shared.failed_handshakes.admit(Instant::now()) {
        tracing::info!(%peer, %error, suppressed, "tls handshake failed");
    }
    None
}

/// Signals every connection to finish, waits up to `limit`, then cuts the rest.
async fn drain(stop: watch::Sender<bool>, mut connections: JoinSet<()>, limit: Duration) {
    stop.send_replace(true);
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limit, finished).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown timeout reached; closing the remaining connections"
        );
    }
    connections.shutdown().await;
}

#[cfg(test)]
mod tests {
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
    async fn silent_client_is_dropped_after_the_handshake_timeout_freeing_its_slot() {
        let options = ServeOptions {
            max_connections: 1,
            handshake_timeout: Duration::from_millis(200),
            ..ServeOptions::default()
        };
        let server = start(options, test_router(Gate::default())).await;
        let started = Instant::now();
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        // The only slot is taken, so this request waits until the silent client is dropped.
        let client = server.client().build().unwrap();
        let send = client.get(server.url("/hello")).send();
        let response = tokio::time::timeout(PATIENCE, send).await.unwrap().unwrap();
        assert_eq!(response.text().await.unwrap(), "hello");
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(PATIENCE, silent.read(&mut byte))
            .await
            .unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
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
        let client = server.client().build().unwrap();
        let send = client.get(server.url("/hello")).send();
        let response = tokio::time::timeout(PATIENCE, send).await.unwrap().unwrap();
        assert_eq!(response.text().await.unwrap(), "hello");
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
        let server = start(one_slot_stalling_soon(), test_router(Gate::default())).await;
        // One HTTP/2 connection starting a request that stalls every 100 ms, for longer than
        // the patience below: the newest is never 300 ms old, the oldest soon is.
        let stalling = server.client().build().unwrap();
        let url = server.url("/slow");
        let resending = tokio::spawn(async move {
            let mut sent = Vec::new();
            for _ in 0..70 {
                sent.push(tokio::spawn(stalling.get(&url).send()));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            sent
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let client = server.client().build().unwrap();
        let send = client.get(server.url("/hello")).send();
        let response = tokio::time::timeout(PATIENCE, send).await.unwrap().unwrap();
        assert_eq!(response.text().await.unwrap(), "hello");
        resending.abort();
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
        let server = start(options, test_router(Gate::default())).await;
        let mut oldest = server.idle_http1().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut newer = server.idle_h2().await;
        // Until the server has finished its side of the handshake and counted the connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let client = server.client().build().unwrap();
        let send = client.get(server.url("/hello")).send();
        let response = tokio::time::timeout(PATIENCE, send).await.unwrap().unwrap();
        assert_eq!(response.text().await.unwrap(), "hello");
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
        let server = start(options, test_router(Gate::default())).await;
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            flood.push(server.idle_h2().await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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
}
