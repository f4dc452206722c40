//! What the listener counts: its connections, their TLS handshakes, and the certificate it
//! presents. The server is handed these families through its `ServeOptions`.

use std::sync::atomic::AtomicI64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::ReasonLabels;

/// What the listener counts.
#[derive(Clone, Debug, Default)]
pub struct ServerMetrics {
    /// When the serving certificate expires (Unix seconds), read at each scrape.
    pub serving_certificate_expiry: Gauge<i64, AtomicI64>,
    /// Connections the server closed, by reason (`idle`, `evicted`, `evicted_in_handshake`).
    pub closed_connections: Family<ReasonLabels, Counter>,
    /// Connections holding one of the server's slots now.
    pub open_connections: Gauge<i64, AtomicI64>,
    /// Connections that never became a TLS connection to serve, by reason.
    pub tls_handshake_failures: Family<ReasonLabels, Counter>,
}

impl ServerMetrics {
    /// The listener's metrics, registered in `registry`, every reason's series present from
    /// the start.
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        // Every series exists from the start, so a dashboard shows 0 rather than nothing.
        for reason in crate::server::CLOSED_REASONS {
            let _ = metrics
                .closed_connections
                .get_or_create(&ReasonLabels { reason });
        }
        for reason in crate::server::HANDSHAKE_FAILURE_REASONS {
            let _ = metrics
                .tls_handshake_failures
                .get_or_create(&ReasonLabels { reason });
        }
        registry.register(
            "serving_certificate_expiration_timestamp_seconds",
            "When the certificate new TLS handshakes present expires (Unix time): the webhook \
             fails closed, so alert well before it",
            metrics.serving_certificate_expiry.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections the server closed, by reason: idle (no request for the idle timeout, \
             90 s, or 32 s between HTTP/1.1 requests), evicted (idle, and closed for a client waiting for a free slot: a flood of \
             connections, or too few slots for the clients) or evicted_in_handshake (still in its TLS handshake, often having sent \
             nothing, and closed for a client waiting for a free slot: a flood of connections that do not speak)",
            metrics.closed_connections.clone(),
        );
        registry.register(
            "connections_open",
            "Connections holding one of the server's 1,024 slots now (idle ones included); near \
             the limit, new clients wait for an idle one to be closed",
            metrics.open_connections.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "Connections that never became a TLS connection to serve, by reason: \
             certificate_rejected (the client refused this server's certificate: a caBundle \
             without its CA, or a name it does not carry; every admission call then fails), \
             client_certificate (a client certificate that cannot be read or whose signature \
             does not check; one the client CAs do not vouch for, or none, is refused per \
             request instead), plaintext \
             (HTTP on the TLS port), timeout, protocol (anything else)",
            metrics.tls_handshake_failures.clone(),
        );
        metrics
    }
}
