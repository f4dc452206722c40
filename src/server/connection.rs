//! One connection after accept: TLS handshake, HTTP/1.1 or HTTP/2, and a graceful close
//! when the server stops, when the connection has been idle for the idle timeout, or when
//! a waiting client needs its slot. A connection still in its handshake is dropped at once
//! for a waiting client: there is nobody to tell.
//!
//! Every request counts as open on its connection from the call of the service until its
//! response body ends or is dropped (a client resetting an HTTP/2 stream drops it); a
//! response marked [`LongRunning`] (a watch) keeps its connection busy however quiet it is,
//! any other only for the stall time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use futures::FutureExt as _;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::slots::{idle_wait, Busy, Producer, Slot};
use super::{
    handshake, Held, LongRunning, PeerCertificates, Shared, CLOSED_EVICTED,
    CLOSED_EVICTED_IN_HANDSHAKE, CLOSED_IDLE,
};
use crate::metrics::ReasonLabels;

/// How long a connection closed for idleness gets to finish closing while it has no open
/// request: Go's HTTP/2 `goAwayTimeout`, so the client can read the GOAWAY first.
const GOAWAY_TIMEOUT: Duration = Duration::from_secs(1);

/// The same for a connection closed for a waiting client: just long enough to send the
/// GOAWAY. Evictions happen one at a time, so waiting for a peer that never closes its side
/// (a flood) would let one client in per [`GOAWAY_TIMEOUT`].
const EVICTION_GRACE: Duration = Duration::from_millis(10);

/// Why the server closes a connection before the client does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    /// Shutdown began: finish the requests in flight, take no new one.
    Stopping,
    /// A waiting client needs the slot of this idle connection.
    Evicted,
    /// No request was open for the idle timeout.
    Idle,
}

/// Serves one accepted connection until it closes, holding `held` meanwhile.
pub(super) async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    held: Held,
    mut stopping: watch::Receiver<bool>,
) {
    // Small responses (admission reviews) should not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let registered = &held.registered;
    let handshaken = tokio::select! {
        tls_stream = handshake(&shared, stream, peer) => tls_stream,
        // Dropping the socket frees the slot now, not at the handshake timeout.
        () = registered.slot().evicted() => {
            let evicted = ReasonLabels {
                reason: CLOSED_EVICTED_IN_HANDSHAKE,
            };
            shared.closed_connections.get_or_create(&evicted).inc();
            None
        }
    };
    let Some(tls_stream) = handshaken else {
        return;
    };
    registered.slot().handshaken();
    let certificates = tls_stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| PeerCertificates(chain.into()));
    let slot = registered.slot().clone();
    let mut router = shared.router.clone();
    let service = tower::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(certificates) = &certificates {
            request.extensions_mut().insert(certificates.clone());
        }
        let busy = slot.busy();
        // A Router is always ready, so it may be called without `poll_ready`.
        let response = tower::Service::call(&mut router, request);
        async move {
            // A handler that panics gets its client a 500 instead of a dropped connection
            // (kube-apiserver recovers the same way); the hook has logged the panic.
            let response: Response = match AssertUnwindSafe(response).catch_unwind().await {
                Ok(response) => response?,
                Err(_) => crate::panics::internal_error(),
            };
            let holding = match response.extensions().get::<LongRunning>() {
                Some(LongRunning(producer)) => {
                    producer.attach(busy);
                    Holding::ByProducer(producer.clone())
                }
                None => Holding::Alone { _busy: busy },
            };
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _holding: holding,
            }))
        }
    });
    let connection = shared
        .http
        .serve_connection(TokioIo::new(tls_stream), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        closing = closing(registered.slot(), shared.idle_timeout, &mut stopping) => {
            let reason = match closing {
                Closing::Idle => Some(CLOSED_IDLE),
                Closing::Evicted => Some(CLOSED_EVICTED),
                Closing::Stopping => None,
            };
            if let Some(reason) = reason {
                shared.closed_connections.get_or_create(&ReasonLabels { reason }).inc();
            }
            if closing == Closing::Idle {
                tracing::debug!(%peer, "closing a connection idle for the idle timeout");
            }
            // HTTP/2: GOAWAY, then close once the streams in flight end; HTTP/1.1: close
            // after the response in flight, if any.
            connection.as_mut().graceful_shutdown();
            let grace = match closing {
                Closing::Evicted => EVICTION_GRACE,
                Closing::Idle | Closing::Stopping => GOAWAY_TIMEOUT,
            };
            loop {
                tokio::select! {
                    served = connection.as_mut() => break served,
                    // Shutdown is bounded by the drain timeout instead.
                    () = tokio::time::sleep(grace), if closing != Closing::Stopping => {
                        // A peer that does not answer the GOAWAY's PING keeps an HTTP/2
                        // connection open: drop it, unless a request got in meanwhile.
                        if registered.slot().idle_for().is_some() {
                            break Ok(());
                        }
                    }
                }
            }
        }
    };
    if let Err(err) = served {
        // hyper's header read timeout also runs between HTTP/1.1 requests: an idle close.
        let timed_out = err
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout);
        if timed_out {
            let idle = ReasonLabels {
                reason: CLOSED_IDLE,
            };
            shared.closed_connections.get_or_create(&idle).inc();
        }
        tracing::debug!(%peer, error = %err, "connection closed with an error");
    }
}

/// Completes with the first reason to close the connection.
async fn closing(
    slot: &Slot,
    idle_timeout: Duration,
    stopping: &mut watch::Receiver<bool>,
) -> Closing {
    tokio::select! {
        // An error means the server is gone: stop too.
        _ = stopping.wait_for(|stop| *stop) => Closing::Stopping,
        () = slot.evicted() => Closing::Evicted,
        () = idle_timer(slot, idle_timeout) => Closing::Idle,
    }
}

/// Completes once the connection has had no open request for `timeout`.
async fn idle_timer(slot: &Slot, timeout: Duration) {
    while let Some(wait) = idle_wait(slot.idle_for(), timeout) {
        tokio::time::sleep(wait).await;
    }
}

/// A response body that keeps its request counted open until it ends or is dropped.
pub(super) struct Tracked<B> {
    body: B,
    _holding: Holding,
}

/// How a response holds its request open.
enum Holding {
    /// Released when the body is dropped.
    Alone { _busy: Busy },
    /// Through the producer of a long-running response, which may end before the body does.
    ByProducer(Arc<Producer>),
}

impl Drop for Holding {
    fn drop(&mut self) {
        if let Self::ByProducer(producer) = self {
            producer.detach();
        }
    }
}

impl<B: HttpBody + Unpin> HttpBody for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        has_goaway, read_until_closed, start, test_router, Gate, PATIENCE,
    };
    use super::super::ServeOptions;
    use super::*;

    fn idle_after(idle_timeout: Duration) -> ServeOptions {
        ServeOptions {
            idle_timeout,
            ..ServeOptions::default()
        }
    }

    #[tokio::test]
    async fn an_idle_http2_connection_gets_goaway_after_the_idle_timeout_and_is_counted() {
        let idle_timeout = Duration::from_millis(300);
        let options = idle_after(idle_timeout);
        let closed = options.closed_connections.clone();
        let server = start(options, test_router(Gate::default())).await;
        let started = std::time::Instant::now();
        let mut idle = server.idle_h2().await;
        let received = read_until_closed(&mut idle, PATIENCE).await;
        let received = received.expect("the idle connection is still open");
        assert!(has_goaway(&received), "{received:?}");
        assert!(started.elapsed() >= idle_timeout, "{:?}", started.elapsed());
        let idle = closed.get_or_create(&ReasonLabels {
            reason: CLOSED_IDLE,
        });
        assert_eq!(idle.get(), 1);
    }

    #[tokio::test]
    async fn a_connection_with_an_open_streaming_response_is_kept_past_the_idle_timeout() {
        let idle_timeout = Duration::from_millis(400);
        let gate = Gate::default();
        let server = start(idle_after(idle_timeout), test_router(gate.clone())).await;
        let client = server.client().build().unwrap();
        let port = |client: reqwest::Client| {
            let url = server.url("/port");
            async move { client.get(url).send().await.unwrap().text().await.unwrap() }
        };
        let before = port(client.clone()).await;
        let feed = gate.stream_sender();
        let mut watch = client.get(server.url("/stream")).send().await.unwrap();
        assert_eq!(watch.version(), reqwest::Version::HTTP_2);
        feed.send("first".into()).await.unwrap();
        assert_eq!(watch.chunk().await.unwrap().unwrap(), "first");
        tokio::time::sleep(idle_timeout * 3).await;
        feed.send("second".into()).await.unwrap();
        let chunk = tokio::time::timeout(PATIENCE, watch.chunk()).await.unwrap();
        assert_eq!(chunk.unwrap().unwrap(), "second");
        // The same connection: had it been told GOAWAY, this request would have opened another.
        assert_eq!(port(client.clone()).await, before);
        drop(feed);
        let rest = tokio::time::timeout(PATIENCE, watch.bytes()).await.unwrap();
        assert_eq!(rest.unwrap(), "");
    }

    /// `GET path` on HTTP/1.1 to a server quick to call a connection stalled (300 ms) and to
    /// close it when idle (300 ms more).
    async fn long_running_get(
        path: &str,
        gate: Gate,
    ) -> (
        super::super::testing::TestServer,
        tokio_rustls::client::TlsStream<TcpStream>,
    ) {
        let options = ServeOptions {
            idle_timeout: Duration::from_millis(300),
            stalled_after: Duration::from_millis(300),
            ..ServeOptions::default()
        };
        let server = start(options, test_router(gate)).await;
        let mut stream = server.raw(b"http/1.1").await;
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
            .await
            .unwrap();
        (server, stream)
    }

    #[tokio::test]
    async fn a_long_running_response_whose_producer_ended_holds_its_connection_no_longer() {
        let (_server, mut stream) = long_running_get("/ended", Gate::default()).await;
        // The body never ends; its producer has: busy for the stall time, then idle, then
        // closed, where a watch still producing keeps its connection however long.
        let received = read_until_closed(&mut stream, PATIENCE).await;
        let received = received.expect("the connection was closed");
        assert!(received.starts_with(b"HTTP/1.1 200"), "{received:?}");
    }

    #[tokio::test]
    async fn a_long_running_response_holds_its_connection_until_its_producer_ends() {
        let gate = Gate::default();
        let (_server, mut stream) = long_running_get("/producing", gate.clone()).await;
        // Producing: kept well past the stall time and the idle timeout.
        let open = read_until_closed(&mut stream, Duration::from_millis(1500)).await;
        assert!(open.is_none(), "closed while producing: {open:?}");
        let producing = gate.producing.lock().unwrap().take();
        producing.expect("the response left the handler").end();
        let received = read_until_closed(&mut stream, PATIENCE).await;
        assert!(received.is_some(), "kept after its producer ended");
    }

    #[tokio::test]
    async fn an_idle_http1_keep_alive_connection_is_closed_after_the_idle_timeout() {
        let server = start(
            idle_after(Duration::from_millis(300)),
            test_router(Gate::default()),
        )
        .await;
        let mut idle = server.idle_http1().await;
        assert!(read_until_closed(&mut idle, PATIENCE).await.is_some());
    }
}
