//! The one TLS listener: accept, handshake, HTTP/1.1 or HTTP/2, graceful shutdown.
//!
//! ```text
//! accept (one semaphore permit per connection) ─> sniff ─> TLS handshake ─> hyper auto (h1/h2) ─> Router
//!                                                   │    (both bounded)
//!                                                   └─ plaintext HTTP: Go's "400 Client sent an HTTP request to an HTTPS server"
//!    └─ shutdown: stop accepting, close idle connections, let requests in flight finish (bounded)
//! ```
//!
//! Failed handshakes (a client that does not trust our CA, plaintext HTTP, garbage) are logged
//! at info, at most one line per [`HANDSHAKE_LOG_INTERVAL`] with a count of the others.
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

mod handshake;
mod health;

pub use health::{health_routes, Readiness};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
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
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::tls::ReloadingTls;
use handshake::{FirstBytes, Throttle};

/// How long to wait before accepting again after `accept` fails (typically out of file
/// descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How often an HTTP/2 connection is pinged, so a vanished peer frees its permit.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// At most one log line per this interval for each kind of failed handshake.
pub const HANDSHAKE_LOG_INTERVAL: Duration = Duration::from_secs(10);

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
        failed_handshakes: Throttle::new(HANDSHAKE_LOG_INTERVAL),
        plaintext_requests: Throttle::new(HANDSHAKE_LOG_INTERVAL),
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
    /// Limits the log lines of failed and timed-out handshakes.
    failed_handshakes: Throttle,
    /// Limits the log lines of plaintext HTTP requests answered with a 400.
    plaintext_requests: Throttle,
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
    let Some(tls_stream) = handshake(&shared, stream, peer).await else {
        return;
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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use axum::extract::State;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
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
}
