//! Connections to etcd: plain TCP for `http://`, rustls over TCP for `https://`.
//!
//! hyper-util's legacy client takes any `Service<Uri>` as its connector; this one wraps its
//! `HttpConnector` and adds TLS (with the configured CA and optional client certificate, as the
//! files hold them when the connection opens: [`TlsFiles`]), so no hyper-rustls dependency is
//! needed for one use.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::{
    client::legacy::connect::{Connected, Connection, HttpConnector},
    rt::TokioIo,
};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::tls_files::{BoxError, TlsFiles};
use super::EtcdConfig;

/// Opens plain or TLS connections, by the URI's scheme.
#[derive(Clone)]
pub(super) struct Connector {
    http: HttpConnector,
    /// `None` when no endpoint is `https://`.
    tls: Option<Arc<TlsFiles>>,
}

impl Connector {
    /// A connector for `config`'s endpoints; reads the TLS files if any endpoint needs them.
    pub(super) fn new(config: &EtcdConfig) -> Result<Self, BoxError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(3)));
        // A watch is quiet for minutes: keepalive probes keep a NAT or load balancer from
        // dropping the flow, and find a peer that vanished without a reset in about 30 s.
        http.set_keepalive(Some(std::time::Duration::from_secs(15)));
        http.set_keepalive_interval(Some(std::time::Duration::from_secs(5)));
        http.set_keepalive_retries(Some(3));
        let tls = match config.uses_tls() {
            true => Some(Arc::new(TlsFiles::load(config)?)),
            false => None,
        };
        Ok(Self { http, tls })
    }
}

impl tower::Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = http.call(uri.clone()).await?;
            if uri.scheme_str() != Some("https") {
                return Ok(Stream::Plain(tcp));
            }
            let tls = tls.ok_or("https endpoint without a tls configuration")?;
            let tls = tls.connector().await;
            let host = uri.host().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string())?;
            let stream = tls.connect(name, tcp.into_inner()).await?;
            Ok(Stream::Tls(Box::new(TokioIo::new(stream))))
        })
    }
}

/// One connection to etcd.
pub(super) enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Self::Plain(tcp) => tcp.connected(),
            Self::Tls(_) => Connected::new(),
        }
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
