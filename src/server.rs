//! The one TLS listener: accept, handshake, HTTP/1.1 or HTTP/2, graceful shutdown.
//!
//! ```text
//! accept (one semaphore permit per connection) ─> TLS handshake (bounded) ─> hyper auto (h1/h2) ─> Router
//!    └─ shutdown: stop accepting, close idle connections, let requests in flight finish (bounded)
//! ```
//!
//! The caller owns every resource: it binds the listener, loads the [`ReloadingTls`], builds
//! the router and decides when to stop, so tests run the same code on port 0.
//!
//! A connection holds its semaphore permit from accept to close, so at most
//! [`ServeOptions::max_connections`] are open; beyond that new connections wait in the kernel's
//! accept backlog instead of costing memory. So that no client pins a permit forever:
//! - one that connects and says nothing is dropped after [`ServeOptions::handshake_timeout`];
//! - on HTTP/1.1, hyper's header read timeout (30 s) closes a connection that dribbles its
//!   headers or sits idle that long between requests;
//! - on HTTP/2, keep-alive pings close connections whose peer has vanished. An HTTP/2 client
//!   that stays alive but idle keeps its connection (hyper has no idle timeout for HTTP/2).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::tls::ReloadingTls;

/// How long to wait before accepting again after `accept` fails (typically out of file
/// descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How often an HTTP/2 connection is pinged, so a vanished peer frees its permit.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// The certificate chain (leaf first) the client presented in the TLS handshake, in the
/// extensions of every request on that connection; absent when it presented none. The
/// handshake proved only that the client holds the leaf's key: who issued it is for the
/// authenticator to check.
#[derive(Clone, Debug)]
pub struct PeerCertificates(pub Arc<[CertificateDer<'static>]>);

/// Limits of [`serve_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// Connections open at once; further clients wait in the accept backlog.
    pub max_connections: usize,
    /// Time a client gets to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time requests in flight get to finish after shutdown is signalled.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            // Below Kubernetes' default 30 s termination grace period, so we exit before SIGKILL.
            shutdown_timeout: Duration::from_secs(20),
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
    });
    // At least one, or the server would never accept.
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Reap finished tasks so the set stays as small as the number of open connections.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &permits) => accepted,
        };
        if let Some((stream, peer, permit)) = accepted {
            let watcher = graceful.watcher();
            connections.spawn(serve_connection(
                shared.clone(),
                stream,
                peer,
                permit,
                watcher,
            ));
        }
    }
    // Closing the socket refuses new connections while the old ones drain.
    drop(listener);
    drain(graceful, connections, options.shutdown_timeout).await;
    Ok(())
}

/// What every connection task needs, shared instead of cloned per connection.
struct Shared {
    acceptor: TlsAcceptor,
    router: Router,
    http: auto::Builder<TokioExecutor>,
    handshake_timeout: Duration,
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer, hyper enforces its HTTP/1 header read timeout and HTTP/2 keep-alives.
    builder.http1().timer(TokioTimer::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL);
    builder
}

/// Waits for a free connection slot, then for a client; `None` after a failed accept.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = permits.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, permit)),
        Err(err) => {
            tracing::warn!(error = %err, "accept failed");
            tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            None
        }
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    watcher: Watcher,
) {
    // Small responses (admission reviews) should not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let handshake = tokio::time::timeout(shared.handshake_timeout, shared.acceptor.accept(stream));
    let tls_stream = match handshake.await {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(err)) => return tracing::debug!(%peer, error = %err, "tls handshake failed"),
        Err(_) => return tracing::debug!(%peer, "tls handshake timed out"),
    };
    let certificates = tls_stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| PeerCertificates(chain.into()));
    let service = shared
        .router
        .clone()
        .map_request(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(certificates) = &certificates {
                request.extensions_mut().insert(certificates.clone());
            }
            request
        });
    let connection = shared
        .http
        .serve_connection(TokioIo::new(tls_stream), TowerToHyperService::new(service));
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %err, "connection closed with an error");
    }
}

/// Signals every connection to finish, waits up to `limit`, then cuts the rest.
async fn drain(graceful: GracefulShutdown, mut connections: JoinSet<()>, limit: Duration) {
    if tokio::time::timeout(limit, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown timeout reached; closing the remaining connections"
        );
    }
    connections.shutdown().await;
}

// === health ===

/// Whether the server is ready for traffic; shared by the loader that flips it and `/readyz`.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    /// An atomic, not a lock: one flag, written rarely, read by every probe.
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// A flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports ready (store and index loaded) or not (starting, shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// The current state.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// `/healthz` and `/livez` (always `ok`) and `/readyz` (`ok`, or 503 until `readiness` is set).
pub fn health_routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(ok_handler))
        .route("/livez", get(ok_handler))
        .route("/readyz", get(ready_handler))
        .with_state(readiness)
}

async fn ok_handler() -> &'static str {
    "ok"
}

async fn ready_handler(State(readiness): State<Readiness>) -> (StatusCode, &'static str) {
    if readiness.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tokio::io::AsyncReadExt as _;
    use tokio::sync::{oneshot, Notify};

    use super::*;
    use crate::certs::{self, CertBundle};
    use crate::tls::TlsFiles;

    const PATIENCE: Duration = Duration::from_secs(5);

    /// Lets a test hold `/slow` open and know when it has started.
    #[derive(Clone, Default)]
    struct Gate {
        entered: Arc<Notify>,
        release: Arc<Notify>,
    }

    async fn slow_handler(State(gate): State<Gate>) -> &'static str {
        gate.entered.notify_one();
        gate.release.notified().await;
        "slow done"
    }

    async fn peer_handler(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
        peer.ip().to_string()
    }

    fn test_router(gate: Gate) -> Router {
        Router::new()
            .route("/hello", get(|| async { "hello" }))
            .route("/peer", get(peer_handler))
            .route("/slow", get(slow_handler))
            .with_state(gate)
    }

    struct TestServer {
        addr: SocketAddr,
        bundle: CertBundle,
        shutdown_tx: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
        _dir: tempfile::TempDir,
    }

    async fn start(options: ServeOptions, router: Router) -> TestServer {
        let bundle = certs::generate(&["127.0.0.1".to_string()], SystemTime::now()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let paths = certs::write_bundle(&bundle, dir.path()).unwrap();
        let files = TlsFiles {
            cert: paths.cert,
            key: paths.key,
        };
        let tls = ReloadingTls::from_files(files).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = shutdown_rx.await;
        };
        let task = tokio::spawn(serve_with(listener, tls, router, shutdown, options));
        TestServer {
            addr,
            bundle,
            shutdown_tx,
            task,
            _dir: dir,
        }
    }

    impl TestServer {
        fn url(&self, path: &str) -> String {
            format!("https://{}{path}", self.addr)
        }

        /// A client trusting only this server's CA.
        fn client(&self) -> reqwest::ClientBuilder {
            crate::tls::install_crypto_provider();
            let ca = reqwest::Certificate::from_pem(self.bundle.ca_cert_pem.as_bytes()).unwrap();
            reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca)
        }
    }

    async fn wait_until_refused(addr: SocketAddr) {
        let refused = async {
            while TcpStream::connect(addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(PATIENCE, refused).await.unwrap();
    }

    async fn check_health(readiness: &Readiness, path: &str, status: StatusCode, body: &str) {
        let request = http::Request::get(path).body(Body::empty()).unwrap();
        let response = health_routes(readiness.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let content_type = response.headers()[http::header::CONTENT_TYPE].clone();
        assert_eq!(content_type, "text/plain; charset=utf-8", "{path}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, body.as_bytes(), "{path}");
    }

    #[tokio::test]
    async fn readyz_reports_not_ready_until_the_flag_is_set() {
        let readiness = Readiness::new();
        check_health(&readiness, "/healthz", StatusCode::OK, "ok").await;
        check_health(&readiness, "/livez", StatusCode::OK, "ok").await;
        check_health(
            &readiness,
            "/readyz",
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready",
        )
        .await;
        readiness.set_ready(true);
        check_health(&readiness, "/readyz", StatusCode::OK, "ok").await;
        readiness.set_ready(false);
        check_health(
            &readiness,
            "/readyz",
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready",
        )
        .await;
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
}
