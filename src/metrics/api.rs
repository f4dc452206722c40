//! What the API server counts: its requests and their latency.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::LATENCY_BUCKETS;

/// Labels of the API request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// The HTTP method (`GET`, `POST`, …; `OTHER` for the rest).
    pub method: &'static str,
    /// The HTTP status code.
    pub code: u16,
}

impl ApiLabels {
    /// A fixed label for each method a client of this API sends; `OTHER` for the rest.
    pub fn method(method: &http::Method) -> &'static str {
        use http::Method;
        match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            _ => "OTHER",
        }
    }
}

/// What the API server counts.
#[derive(Clone, Debug)]
pub struct ApiMetrics {
    /// API request latency.
    pub duration: Histogram,
    /// API requests by method and status code.
    pub requests: Family<ApiLabels, Counter>,
}

impl ApiMetrics {
    /// The API metrics, registered in `registry`.
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let metrics = Self {
            duration: Histogram::new(LATENCY_BUCKETS),
            requests: Family::default(),
        };
        registry.register(
            "api_request_duration_seconds",
            "API request latency",
            metrics.duration.clone(),
        );
        registry.register(
            "api_requests",
            "API requests by HTTP method and status code",
            metrics.requests.clone(),
        );
        metrics
    }

    /// Counts one API answer and how long it took (to the response head).
    pub fn count(&self, labels: &ApiLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.duration.observe(seconds);
    }
}
