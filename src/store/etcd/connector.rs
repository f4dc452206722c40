//! Connections to etcd: plain TCP for `http://`, rustls over TCP for `https://`.
//!
//! hyper-util's legacy client takes any `Service<Uri>` as its connector; this one wraps its
//! `HttpConnector` and adds TLS (with the configured CA and optional client certificate), so
//! no hyper-rustls dependency is needed for one use.

use std::{
    future::Future,
    io,
    path::Path,
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
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    ClientConfig, RootCertStore,
};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, TlsConnector};

use super::EtcdConfig;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens plain or TLS connections, by the URI's scheme.
#[derive(Clone)]
pub(super) struct Connector {
    http: HttpConnector,
    /// `None` when no endpoint is `https://`.
    tls: Option<TlsConnector>,
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
            true => Some(TlsConnector::from(Arc::new(client_config(config)?))),
            false => None,
        };
        Ok(Self { http, tls })
    }
}

impl EtcdConfig {
    /// Reads and checks the CA, certificate and key files `https://` endpoints use, so a wrong
    /// path fails start-up instead of being retried as an etcd that does not answer yet.
    pub fn check_tls_files(&self) -> Result<(), String> {
        match self.uses_tls() {
            true => client_config(self)
                .map(drop)
                .map_err(|error| error.to_string()),
            false => Ok(()),
        }
    }
}

fn client_config(config: &EtcdConfig) -> Result<ClientConfig, BoxError> {
    let mut roots = RootCertStore::empty();
    let ca_file = config
        .ca_file
        .as_deref()
        .ok_or("https etcd endpoints need ca=<file>")?;
    for cert in CertificateDer::pem_slice_iter(&read(ca_file)?) {
        roots.add(cert?)?;
    }
    if roots.is_empty() {
        return Err(format!("ca={} holds no PEM certificate", ca_file.display()).into());
    }
    let builder = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut client = match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => {
            let chain: Vec<_> = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cert={}: {e}", cert.display()))?;
            if chain.is_empty() {
                return Err(format!("cert={} holds no PEM certificate", cert.display()).into());
            }
            let key_der = PrivateKeyDer::from_pem_slice(&read(key)?)
                .map_err(|e| format!("key={} holds no PEM private key ({e})", key.display()))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!(
                    "cert={} and key={} are not a pair: {e}",
                    cert.display(),
                    key.display()
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(client)
}

fn read(path: &Path) -> Result<Vec<u8>, BoxError> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
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
