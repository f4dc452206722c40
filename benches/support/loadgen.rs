//! A small HTTPS load generator: hyper's HTTP/1.1 client over rustls, one keep-alive connection
//! per worker, closed loop or a fixed request rate.
//!
//! ```text
//! connect N (TLS handshakes, not timed) ─> start together ─> each worker: [wait for its slot]
//!   ─> send ─> read whole body ─> compare with the expected bytes ─> record latency ─> repeat
//! ```
//!
//! At a fixed rate each worker sends on its own schedule (`rate / N` per second, staggered).
//! Latency is timed from the moment a request was due when the worker is behind schedule (the
//! server is slow: coordinated omission is charged to it), and from the actual send when the
//! worker was waiting for its slot (tokio's 1 ms timer slack is not charged to the server).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// A server to load: its address and the CA that signed its certificate.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    connector: TlsConnector,
}

/// One open keep-alive connection.
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

/// A request, sent unchanged every time.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    /// Extra headers (Host is added per connection).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Each connection sends its next request as soon as the previous answer is read.
    Closed,
    /// This many requests per second in total, spread over the connections.
    Rate(f64),
}

/// The shape of a run.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Keep-alive connections.
    pub connections: usize,
    /// How long requests are started for.
    pub duration: Duration,
    /// Closed loop or fixed rate.
    pub pace: Pace,
}

/// What a run observed.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Answers with the expected status and body.
    pub ok: u64,
    /// Transport errors and unexpected statuses.
    pub failed: u64,
    /// Answers with the expected status but another body.
    pub mismatched: u64,
    /// From the common start to the last answer.
    pub elapsed: Duration,
    /// Latency of every good answer, in nanoseconds, sorted.
    pub latencies: Vec<u64>,
}

// === impl Target ===

impl Target {
    /// A target at `addr` whose certificate is signed by the CA in `ca_pem` and valid for
    /// `localhost`.
    pub fn new(addr: SocketAddr, ca_pem: &[u8]) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert.context("ca pem")?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&format!("localhost:{}", addr.port()))?,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Opens a connection: TCP (no Nagle), TLS, HTTP/1.1.
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost")?;
        let tls = self.connector.connect(name, tcp).await?;
        let (sender, driver) = http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = driver.await;
        });
        Ok(Connection {
            sender,
            host: self.host.clone(),
        })
    }
}

// === impl Connection ===

impl Connection {
    /// Sends `call` and reads the whole answer.
    pub async fn send(&mut self, call: &Call) -> anyhow::Result<(StatusCode, Bytes)> {
        let response = self.start(call).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends `call` and returns as soon as the headers are in; the body streams (watches).
    pub async fn start(&mut self, call: &Call) -> anyhow::Result<Response<Incoming>> {
        self.sender.ready().await?;
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(call.uri.clone())
            .body(Full::new(call.body.clone()))?;
        *request.headers_mut() = call.headers.clone();
        request.headers_mut().insert(HOST, self.host.clone());
        Ok(self.sender.send_request(request).await?)
    }
}

// === impl Call ===

impl Call {
    /// A GET of `path`.
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path, Bytes::new())
    }

    /// A request with a JSON body.
    pub fn json(method: Method, path: &str, body: impl Into<Bytes>) -> Self {
        Self::new(method, path, body.into()).header(CONTENT_TYPE, "application/json")
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        let value = HeaderValue::from_str(value).expect("a valid header value");
        self.headers.insert(name, value);
        self
    }

    fn new(method: Method, path: &str, body: Bytes) -> Self {
        Self {
            method,
            uri: path.parse().expect("a valid path"),
            headers: HeaderMap::new(),
            body,
        }
    }
}

// === runs ===

/// What a run sends: request number `n` (0, 1, 2, … across all connections) is `calls(n)`.
pub type Calls = Arc<dyn Fn(u64) -> Call + Send + Sync>;

/// The same call every time.
pub fn same(call: Call) -> Calls {
    Arc::new(move |_| call.clone())
}

/// What a good answer looks like.
#[derive(Clone, Debug)]
pub struct Expect {
    /// The status.
    pub status: StatusCode,
    /// The exact body; any body when `None`.
    pub body: Option<Bytes>,
}

impl Expect {
    /// HTTP 200 with exactly `body`.
    pub fn ok_with(body: Bytes) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    /// `status` with any body.
    pub fn status(status: StatusCode) -> Self {
        Self { status, body: None }
    }
}

/// Runs `load` against `target`. With `limit`, at most that many requests are sent in total.
pub async fn run(
    target: &Target,
    calls: Calls,
    expect: Expect,
    load: Load,
    limit: Option<u64>,
) -> anyhow::Result<Outcome> {
    let connections = load.connections.max(1);
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(target.connect().await?);
    }
    let interval = match load.pace {
        Pace::Closed => None,
        Pace::Rate(rate) => Some(Duration::from_secs_f64(connections as f64 / rate.max(1.0))),
    };
    let start = Instant::now() + Duration::from_millis(5);
    let shared = Arc::new(Shared {
        calls,
        expect,
        interval,
        end: start + load.duration,
        next: AtomicU64::new(0),
        limit: limit.unwrap_or(u64::MAX),
    });
    let workers: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(i, connection)| {
            let first = start + interval.unwrap_or_default() * i as u32 / connections as u32;
            tokio::spawn(drive(shared.clone(), target.clone(), connection, first))
        })
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        outcome.merge(worker.await?);
    }
    outcome.elapsed = start.elapsed();
    outcome.latencies.sort_unstable();
    Ok(outcome)
}

/// What every connection of a run reads.
struct Shared {
    calls: Calls,
    expect: Expect,
    interval: Option<Duration>,
    end: Instant,
    /// The number of the next request; also what `limit` is checked against.
    next: AtomicU64,
    limit: u64,
}

/// One connection's share of a run.
async fn drive(
    run: Arc<Shared>,
    target: Target,
    mut connection: Connection,
    first: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut due = first;
    tokio::time::sleep_until(first).await;
    loop {
        let Some(began) = next_start(&run, due).await else {
            break;
        };
        due += run.interval.unwrap_or_default();
        let number = run.next.fetch_add(1, Ordering::Relaxed);
        if number >= run.limit {
            break;
        }
        let call = (run.calls)(number);
        match connection.send(&call).await {
            Ok((status, body)) if status == run.expect.status => {
                if run
                    .expect
                    .body
                    .as_ref()
                    .is_none_or(|expected| *expected == body)
                {
                    outcome.ok += 1;
                    outcome.latencies.push(began.elapsed().as_nanos() as u64);
                } else {
                    outcome.mismatched += 1;
                }
            }
            Ok(_) => outcome.failed += 1,
            Err(_) => {
                outcome.failed += 1;
                match target.connect().await {
                    Ok(fresh) => connection = fresh,
                    Err(_) => break,
                }
            }
        }
    }
    outcome
}

/// When the next request counts as started, after waiting for its slot; `None` once the run
/// is over.
async fn next_start(run: &Shared, due: Instant) -> Option<Instant> {
    let now = Instant::now();
    match run.interval {
        Some(_) if due >= run.end => None,
        Some(_) if now < due => {
            tokio::time::sleep_until(due).await;
            Some(Instant::now())
        }
        // Behind schedule: the server kept us waiting, so the wait counts.
        Some(_) => Some(due),
        None if now >= run.end => None,
        None => Some(now),
    }
}

// === impl Outcome ===

impl Outcome {
    /// Good answers per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0 < q ≤ 1) in microseconds; 0 without answers.
    pub fn quantile_us(&self, q: f64) -> f64 {
        quantile_us(&self.latencies, q)
    }

    /// Adds another outcome's counts and latencies (left unsorted).
    pub fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.mismatched += other.mismatched;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }
}

/// The value at quantile `q` of sorted nanosecond samples, in microseconds.
pub fn quantile_us(sorted_ns: &[u64], q: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1_000.0
}
