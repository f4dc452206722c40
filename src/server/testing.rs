//! A server on 127.0.0.1 with a few routes, and raw TLS clients, for the listener's tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_rustls::client::TlsStream;

use super::{serve_with, LongRunning, ServeOptions};
use crate::certs::{self, CertBundle};
use crate::tls::{ReloadingTls, TlsFiles};

/// How long a test waits for what must happen: well under a second on an idle machine; the
/// margin is for a 2-core CI runner busy with other tests, as `tests/common`'s `PATIENCE`.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);

/// What an HTTP/2 client sends first: the preface and an empty SETTINGS frame.
pub(super) const H2_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// The HTTP/2 frame type of GOAWAY.
const GOAWAY: u8 = 7;

/// Lets a test hold `/slow` open and know when it has started, and feed `/stream`.
#[derive(Clone, Default)]
pub(super) struct Gate {
    pub(super) entered: Arc<Notify>,
    pub(super) release: Arc<Notify>,
    /// The sender of the next `/stream` body.
    pub(super) stream: Arc<Mutex<Option<mpsc::Receiver<Bytes>>>>,
    /// The producer of the last `/producing` response, for the test to end.
    pub(super) producing: Arc<Mutex<Option<LongRunning>>>,
}

impl Gate {
    /// The sender feeding the body of the next `/stream` request.
    pub(super) fn stream_sender(&self) -> mpsc::Sender<Bytes> {
        let (sender, receiver) = mpsc::channel(4);
        *self.stream.lock().unwrap() = Some(receiver);
        sender
    }
}

async fn slow_handler(State(gate): State<Gate>) -> &'static str {
    gate.entered.notify_one();
    gate.release.notified().await;
    "slow done"
}

/// A body that ends when the test drops the sender: a watch.
async fn stream_handler(State(gate): State<Gate>) -> Response {
    let receiver = gate.stream.lock().unwrap().take().unwrap();
    let chunks = futures::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), receiver))
    });
    let mut response = Body::from_stream(chunks).into_response();
    response.extensions_mut().insert(LongRunning::default());
    response
}

/// A long-running body that never sends anything nor ends, whose producer has ended: a watch
/// past its timeout whose client stopped reading.
async fn ended_handler() -> Response {
    let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
    let mut response = Body::from_stream(never).into_response();
    let long_running = LongRunning::default();
    long_running.end();
    response.extensions_mut().insert(long_running);
    response
}

/// A long-running body that never sends anything nor ends, whose producer the test ends: a
/// watch whose client stopped reading, reaching its timeout.
async fn producing_handler(State(gate): State<Gate>) -> Response {
    let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
    let mut response = Body::from_stream(never).into_response();
    let long_running = LongRunning::default();
    *gate.producing.lock().unwrap() = Some(long_running.clone());
    response.extensions_mut().insert(long_running);
    response
}

async fn peer_handler(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    peer.ip().to_string()
}

/// The client's port: the same answer twice means the same connection.
async fn port_handler(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    peer.port().to_string()
}

async fn panic_handler() -> &'static str {
    panic!("a test handler panics")
}

/// `/hello`, `/peer`, `/port`, `/slow`, `/stream`, `/ended`, `/producing` and `/panic`.
pub(super) fn test_router(gate: Gate) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/peer", get(peer_handler))
        .route("/port", get(port_handler))
        .route("/slow", get(slow_handler))
        .route("/stream", get(stream_handler))
        .route("/ended", get(ended_handler))
        .route("/producing", get(producing_handler))
        .route("/panic", get(panic_handler))
        .with_state(gate)
}

/// A server running [`serve_with`] on a port of 127.0.0.1.
pub(super) struct TestServer {
    pub(super) addr: SocketAddr,
    pub(super) bundle: CertBundle,
    pub(super) shutdown_tx: oneshot::Sender<()>,
    pub(super) task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

/// Starts a server with `options` serving `router`.
pub(super) async fn start(options: ServeOptions, router: Router) -> TestServer {
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
    pub(super) fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// A client trusting only this server's CA.
    pub(super) fn client(&self) -> reqwest::ClientBuilder {
        crate::tls::install_crypto_provider();
        let ca = reqwest::Certificate::from_pem(self.bundle.ca_cert_pem.as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only([ca])
    }

    /// `/hello` on a new client's connection, answered within [`PATIENCE`].
    pub(super) async fn hello(&self) -> String {
        let client = self.client().build().unwrap();
        let send = client.get(self.url("/hello")).send();
        let response = tokio::time::timeout(PATIENCE, send).await.unwrap().unwrap();
        response.text().await.unwrap()
    }

    /// A TLS connection offering only `alpn` (`h2` or `http/1.1`), handshake done.
    pub(super) async fn raw(&self, alpn: &[u8]) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(self.bundle.ca_cert_pem.as_bytes()).unwrap();
        roots.add(ca).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::IpAddress(self.addr.ip().into());
        connector.connect(name, tcp).await.unwrap()
    }

    /// An HTTP/2 connection that sent its preface and nothing else: idle.
    pub(super) async fn idle_h2(&self) -> TlsStream<TcpStream> {
        let mut stream = self.raw(b"h2").await;
        stream.write_all(H2_PREFACE).await.unwrap();
        stream.flush().await.unwrap();
        stream
    }

    /// An HTTP/1.1 connection that was answered one request and is kept alive: idle.
    pub(super) async fn idle_http1(&self) -> TlsStream<TcpStream> {
        let mut stream = self.raw(b"http/1.1").await;
        let request = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"hello") {
            let mut buffer = [0u8; 1024];
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0, "{:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buffer[..read]);
        }
        stream
    }
}

/// Everything the server sends until it closes the connection, if it does `within`; `None`
/// if the connection is still open then.
pub(super) async fn read_until_closed(
    stream: &mut TlsStream<TcpStream>,
    within: Duration,
) -> Option<Vec<u8>> {
    let read = async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                // An error (a reset) is a close too.
                Ok(0) | Err(_) => return received,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()
}

/// Whether the HTTP/2 frames in `bytes` (from the server, after its preface) hold a GOAWAY.
pub(super) fn has_goaway(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while rest.len() >= 9 {
        let length = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        if rest[3] == GOAWAY {
            return true;
        }
        rest = rest.get(9 + length..).unwrap_or_default();
    }
    false
}
