//! HTTP/1.1 calls to etcd's JSON gateway, on the first endpoint that accepts a connection.
//!
//! Endpoint selection is "first healthy": calls go to the current endpoint; when it refuses
//! the connection, the next ones are tried in turn and the first that connects becomes
//! current. A call that reached an endpoint and timed out, or was answered gRPC `Unavailable`
//! (no leader: a member cut off from the others), moves the next calls on to the next
//! endpoint, but is never resent itself: it may have been applied.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{connector::Connector, wire::GatewayError, EtcdConfig};
use crate::store::error::message_chain;

/// How long a unary call (range, txn, …) may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    /// etcd answered with an error status (compacted revision, too large request, …).
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// No endpoint accepted a connection: nothing was sent, so a write was not applied. The
    /// error is the last endpoint's.
    #[error("no etcd endpoint accepted a connection (last, {endpoint}: {})", message_chain(.error.as_ref()))]
    Unreachable {
        endpoint: String,
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The exchange broke after a connection was made. The message carries the whole chain
    /// (hyper's own leaves out the cause); no `source()`, so it prints once.
    #[error("etcd at {endpoint}: {}", message_chain(.error.as_ref()))]
    Http {
        endpoint: String,
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The call did not complete in time; it may still be applied.
    #[error("etcd at {endpoint} did not answer within {CALL_TIMEOUT:?}")]
    Timeout { endpoint: String },
}

impl CallError {
    /// What went wrong, without the endpoint: for a message that names the endpoints itself.
    pub(super) fn reason(&self) -> String {
        match self {
            Self::Gateway(error) => error.to_string(),
            Self::Unreachable { error, .. } | Self::Http { error, .. } => {
                message_chain(error.as_ref())
            }
            Self::Timeout { .. } => format!("no answer within {CALL_TIMEOUT:?}"),
        }
    }
}

/// The HTTP client and the endpoints it rotates through.
pub(super) struct Transport {
    client: Client<Connector, Full<Bytes>>,
    /// Base URLs (`http://host:port`).
    endpoints: Vec<String>,
    /// Index of the endpoint calls go to first.
    current: AtomicUsize,
}

impl Transport {
    /// A client for `config`'s endpoints; reads its TLS files.
    pub(super) fn new(
        config: &EtcdConfig,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(Connector::new(config)?);
        Ok(Self {
            client,
            endpoints: config.endpoints.iter().map(|e| e.url()).collect(),
            current: AtomicUsize::new(0),
        })
    }

    /// POSTs `body` to `path` and decodes the JSON answer.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, CallError> {
        let started_on = self.current.load(Ordering::Relaxed);
        let exchange = async {
            let (endpoint, response) = self.send(path, body).await?;
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| http_error(&endpoint, e))?
                .to_bytes();
            serde_json::from_slice(&bytes).map_err(|e| http_error(&endpoint, e))
        };
        let answered = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(self.timeout()));
        self.leave_if_unserving(answered, started_on)
    }

    /// POSTs `body` to `path` and returns the streamed answer (a watch), once its head is in.
    pub(super) async fn stream(&self, path: &str, body: &Value) -> Result<Lines, CallError> {
        let started_on = self.current.load(Ordering::Relaxed);
        let sent = tokio::time::timeout(CALL_TIMEOUT, self.send(path, body))
            .await
            .unwrap_or_else(|_| Err(self.timeout()));
        let (_, response) = self.leave_if_unserving(sent, started_on)?;
        Ok(Lines {
            body: response.into_body(),
            buffer: BytesMut::new(),
        })
    }

    /// Sends on the current endpoint, moving on to the next ones while connections fail.
    async fn send(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<(String, http::Response<Incoming>), CallError> {
        let first = self.current.load(Ordering::Relaxed);
        let mut last_error = None;
        for attempt in 0..self.endpoints.len() {
            let index = (first + attempt) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            match self.client.request(request(endpoint, path, body)).await {
                Ok(response) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok((endpoint.clone(), checked(endpoint, response).await?));
                }
                Err(error) if error.is_connect() => {
                    tracing::debug!(%endpoint, %error, "etcd endpoint unreachable");
                    last_error = Some((endpoint.clone(), error.into()));
                }
                Err(error) => return Err(http_error(endpoint, error)),
            }
        }
        let (endpoint, error) =
            last_error.unwrap_or_else(|| ("(none)".to_string(), "no etcd endpoint".into()));
        Err(CallError::Unreachable { endpoint, error })
    }

    /// `answered`, after moving the next call on to the next endpoint when this one took the
    /// connection but could not serve (no answer in time, or gRPC `Unavailable`: no leader, a
    /// member cut off from the others). The call itself is not sent again (a write may have
    /// been applied); its caller decides.
    fn leave_if_unserving<T>(
        &self,
        answered: Result<T, CallError>,
        started_on: usize,
    ) -> Result<T, CallError> {
        let unserving = match &answered {
            Err(CallError::Timeout { .. }) => true,
            Err(CallError::Gateway(error)) => error.is_unavailable(),
            _ => false,
        };
        if unserving && self.endpoints.len() > 1 {
            let next = (started_on + 1) % self.endpoints.len();
            // Calls failing together on one endpoint move on once: a call that finds current
            // already moved (by another, or by a failed connect) leaves it.
            let moved = self.current.compare_exchange(
                started_on,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if moved.is_ok() {
                let endpoint = &self.endpoints[started_on];
                tracing::debug!(%endpoint, "etcd endpoint not serving; the next calls go to another");
            }
        }
        answered
    }

    fn timeout(&self) -> CallError {
        let index = self.current.load(Ordering::Relaxed) % self.endpoints.len();
        CallError::Timeout {
            endpoint: self.endpoints[index].clone(),
        }
    }
}

fn request(endpoint: &str, path: &str, body: &Value) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::new(Full::new(Bytes::from(body.to_string())));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = format!("{endpoint}{path}")
        .parse()
        .expect("endpoint URLs are validated when parsed");
    request.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    request
}

/// The response if it is a 200; else the gateway's error.
async fn checked(
    endpoint: &str,
    response: http::Response<Incoming>,
) -> Result<http::Response<Incoming>, CallError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| http_error(endpoint, e))?
        .to_bytes();
    match serde_json::from_slice::<GatewayError>(&bytes) {
        Ok(error) if !error.message.is_empty() => Err(CallError::Gateway(error)),
        _ => Err(http_error(
            endpoint,
            format!("status {status}: {}", String::from_utf8_lossy(&bytes)),
        )),
    }
}

fn http_error(
    endpoint: &str,
    error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> CallError {
    CallError::Http {
        endpoint: endpoint.to_string(),
        error: error.into(),
    }
}

/// A streamed answer, read one newline-terminated JSON document at a time.
pub(super) struct Lines {
    body: Incoming,
    buffer: BytesMut,
}

impl Lines {
    /// The next non-empty line; `None` when the answer ends.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buffer.extend_from_slice(data.chunk());
                    }
                }
                None => return Ok(None),
            }
        }
    }

    fn take_line(&mut self) -> Option<Bytes> {
        take_line(&mut self.buffer)
    }
}

/// Splits the first complete, non-blank line (without its newline) off `buffer`.
fn take_line(buffer: &mut BytesMut) -> Option<Bytes> {
    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
        let line = buffer.split_to(end + 1).freeze().slice(..end);
        if !line.trim_ascii().is_empty() {
            return Some(line);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback port that refuses connections while the socket lives (bound, not listening).
    fn refused_port() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    #[tokio::test]
    async fn a_call_no_endpoint_accepts_is_unreachable_naming_the_last_endpoint() {
        let (_first, first) = refused_port();
        let (_second, second) = refused_port();
        let config =
            EtcdConfig::new(&[first.to_string().as_str(), second.to_string().as_str()]).unwrap();
        let transport = Transport::new(&config).unwrap();
        let error = transport
            .call::<Value>("/v3/kv/range", &serde_json::json!({"key": "AA=="}))
            .await
            .unwrap_err();
        let CallError::Unreachable { endpoint, .. } = &error else {
            panic!("a connection nobody accepted is unreachable, not {error:?}");
        };
        assert_eq!(endpoint, &format!("http://{second}"), "{error}");
        assert!(
            error.to_string().starts_with("no etcd endpoint accepted"),
            "{error}"
        );
    }

    #[test]
    fn lines_are_split_at_newlines_across_chunks_skipping_blank_ones() {
        let mut buffer = BytesMut::new();
        let mut lines = Vec::new();
        for chunk in ["{\"a\"", ":1}\n\n  \r\n{\"b\":2}\n{\"c\"", ":3}"] {
            buffer.extend_from_slice(chunk.as_bytes());
            while let Some(line) = take_line(&mut buffer) {
                lines.push(String::from_utf8(line.to_vec()).unwrap());
            }
        }
        assert_eq!(lines, [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(
            &buffer[..],
            br#"{"c":3}"#,
            "an unfinished line waits for more"
        );
    }
}
