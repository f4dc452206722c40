//! The one TLS listener: accept, handshake, HTTP/1.1 or HTTP/2, graceful shutdown.
//!
//! ```text
//! accept ─> a slot (none free: close the oldest handshake, else the connection idle longest) ─> sniff ─> TLS handshake ─> hyper auto (h1/h2) ─> Router
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
//! - one that connects and says nothing is dropped after [`ServeOptions::handshake_timeout`],
//!   or sooner for a waiting client (below);
//! - a connection with no open request (HTTP/1.1 keep-alive, or HTTP/2 with no stream) for
//!   [`ServeOptions::idle_timeout`] (90 s, kube-apiserver's `IdleTimeout`) is closed
//!   gracefully, with GOAWAY on HTTP/2. A request is open from its call until its response
//!   body ends or is dropped, so a watch ([`LongRunning`]) keeps its connection busy while it
//!   produces; any other request (and a watch that has ended but whose client reads nothing)
//!   only for [`ServeOptions::stalled_after`] (10 s), so a response the client does not read
//!   or a body it does not send cannot pin the slot;
//! - when every slot is taken and a client waits, the connection that has been in its TLS
//!   handshake longest is dropped at once, if it has been for a second at least
//!   (`slots::EVICTION_GRACE_PERIOD`, so that a real client's handshake completes); a flood of
//!   connections that never send a byte (they need no credentials) cannot keep the webhook
//!   waiting for their handshake timeout, nor cost the kube-apiserver its idle connections.
//!   Failing that, the connection idle longest (for a second at least, so that a client
//!   between its handshake and its first request is not cut) is closed the same way as for
//!   idleness, given only 10 ms to send its GOAWAY. Both logged at info, throttled like handshakes, and
//!   counted ([`CLOSED_EVICTED_IN_HANDSHAKE`], [`CLOSED_EVICTED`]). A busy connection is
//!   never chosen: the client waits until one ends or becomes idle, or a handshake's grace
//!   ends;
//! - on HTTP/1.1, hyper's header read timeout (32 s, kube-apiserver's `ReadHeaderTimeout`)
//!   closes a connection that dribbles its headers or sits idle that long between requests;
//! - on HTTP/2, keep-alive pings close connections whose peer has vanished, and a connection
//!   carries at most 100 concurrent streams (kube-apiserver's default).

mod background;
mod body_budget;
mod connection;
mod handshake;
mod health;
mod slots;
#[cfg(test)]
mod testing;

pub use background::{Background, THREAD_NAME as BACKGROUND_THREAD_NAME};
pub use body_budget::{
    budget_exhausted, BodyBudget, BodyTooSlow, BudgetExhausted, BODY_DEADLINE,
    DEFAULT_BODY_BUDGET_BYTES,
};
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
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicI64;

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

/// The largest header list an HTTP/2 request may send: kube-apiserver's `MaxHeaderBytes`
/// (1 MiB), where hyper's default is 16 KiB. A user in a few hundred groups comes through
/// the front proxy with an `X-Remote-Group` header for each, past 16 KiB.
const HTTP2_MAX_HEADER_LIST_BYTES: u32 = 1 << 20;

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
///
/// Until [`LongRunning::end`]: the handler's producer calls it when it has nothing more to send
/// (its watch timed out, the server drains). From then on the response counts as any other,
/// so a client that stopped reading, whose response therefore never ends, keeps its connection
/// busy for the stall time only, then idle: closed after the idle timeout, or to make room.
#[derive(Clone, Debug, Default)]
pub struct LongRunning(Arc<slots::Producer>);

impl LongRunning {
    /// The producer has ended: see [`LongRunning`].
    pub fn end(&self) {
        self.0.end();
    }
}

/// Limits of [`serve_with`], and where it counts the connections it closes.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Connections open at once; when all are taken, the oldest still in its TLS handshake, or
    /// else the one idle longest, is closed for a waiting client, and further clients wait in
    /// the accept backlog.
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
    /// Connections the server closed, by why ([`CLOSED_REASONS`]): the metrics' counter, or by
    /// default one that nobody reads.
    pub closed_connections: Family<ReasonLabels, Counter>,
    /// Connections that never became a TLS connection to serve, by why
    /// ([`HANDSHAKE_FAILURE_REASONS`]): the metrics' counter, or by default one nobody reads.
    pub handshake_failures: Family<ReasonLabels, Counter>,
    /// Connections holding a slot now (of [`Self::max_connections`]): the metrics' gauge, or
    /// by default one nobody reads.
    pub open_connections: Gauge<i64, AtomicI64>,
}

/// `closed_connections` reason: no request for the idle timeout.
pub const CLOSED_IDLE: &str = "idle";

/// `closed_connections` reason: idle, and closed for a client waiting for a slot.
pub const CLOSED_EVICTED: &str = "evicted";

/// `closed_connections` reason: still in its TLS handshake (having sent nothing, or not all of
/// it), and closed for a client waiting for a slot.
pub const CLOSED_EVICTED_IN_HANDSHAKE: &str = "evicted_in_handshake";

/// Every `closed_connections` reason, each exported from the start.
pub const CLOSED_REASONS: [&str; 3] = [CLOSED_IDLE, CLOSED_EVICTED, CLOSED_EVICTED_IN_HANDSHAKE];

/// `handshake_failures` reason: the client refused this server's certificate (a TLS alert such
/// as `unknown_ca` or `bad_certificate`): a caBundle that does not hold the serving
/// certificate's CA, or a name the certificate does not carry.
pub const HANDSHAKE_CERTIFICATE_REJECTED: &str = "certificate_rejected";

/// `handshake_failures` reason: the client presented no certificate, or one the configured
/// client CAs do not vouch for.
pub const HANDSHAKE_CLIENT_CERTIFICATE: &str = "client_certificate";

/// `handshake_failures` reason: plaintext HTTP on the TLS port (answered 400).
pub const HANDSHAKE_PLAINTEXT: &str = "plaintext";

/// `handshake_failures` reason: no handshake within the handshake timeout.
pub const HANDSHAKE_TIMEOUT: &str = "timeout";

/// `handshake_failures` reason: anything else (not TLS, no common version or cipher suite,
/// closed half-way).
pub const HANDSHAKE_PROTOCOL: &str = "protocol";

/// Every `handshake_failures` reason, each exported from the start.
pub const HANDSHAKE_FAILURE_REASONS: [&str; 5] = [
    HANDSHAKE_CERTIFICATE_REJECTED,
    HANDSHAKE_CLIENT_CERTIFICATE,
    HANDSHAKE_PLAINTEXT,
    HANDSHAKE_TIMEOUT,
    HANDSHAKE_PROTOCOL,
];

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
            handshake_failures: Family::default(),
            open_connections: Gauge::default(),
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
        handshake_failures: options.handshake_failures.clone(),
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
        // Entered before its task runs, so the next client's scan sees it, evictable at once.
        let registered = shared.slots.register(peer);
        let slot = Held::new(permit, registered, &options.open_connections);
        connections.spawn(connection::serve_connection(
            shared.clone(),
            stream,
            peer,
            slot,
            stopping.clone(),
        ));
    }
    // Closing the socket refuses new connections while the old ones drain.
    drop(listener);
    drain(stop, connections, options.shutdown_timeout).await;
    Ok(())
}

/// A connection's slot: its permit and its entry in the eviction scan's table, counted in the
/// open-connections gauge while it lives.
struct Held {
    registered: slots::Registered,
    _permit: tokio::sync::OwnedSemaphorePermit,
    open: Gauge<i64, AtomicI64>,
}

impl Held {
    fn new(
        permit: tokio::sync::OwnedSemaphorePermit,
        registered: slots::Registered,
        open: &Gauge<i64, AtomicI64>,
    ) -> Self {
        open.inc();
        Self {
            registered,
            _permit: permit,
            open: open.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.open.dec();
    }
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
    /// Counts the handshakes that failed, by reason.
    handshake_failures: Family<ReasonLabels, Counter>,
    /// The connections holding a slot, for idle accounting and eviction.
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
        .max_concurrent_streams(HTTP2_MAX_CONCURRENT_STREAMS)
        .max_header_list_size(HTTP2_MAX_HEADER_LIST_BYTES);
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
            shared.count_handshake_failure(HANDSHAKE_PLAINTEXT);
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
        Ok(Err(err)) => {
            shared.count_handshake_failure(handshake::failure_reason(&err));
            err.to_string()
        }
        Err(_) => {
            shared.count_handshake_failure(HANDSHAKE_TIMEOUT);
            "timed out".to_string()
        }
    };
    if let Some(suppressed) = shared.failed_handshakes.admit(Instant::now()) {
        tracing::info!(%peer, %error, suppressed, "tls handshake failed");
    }
    None
}

impl Shared {
    fn count_handshake_failure(&self, reason: &'static str) {
        self.handshake_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }
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
mod tests;
