//! `/healthz`, `/livez` and `/readyz`, and the readiness flag behind `/readyz`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

const STARTING: u8 = 0;
const READY: u8 = 1;
const STOPPING: u8 = 2;

/// Whether the server is ready for traffic; shared by the loader that flips it, the shutdown
/// sequence that ends it, and `/readyz`.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    /// An atomic, not a lock: one state, written rarely, read by every probe.
    state: Arc<AtomicU8>,
}

impl Readiness {
    /// A flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports ready (store and index loaded) or not (loading); no effect once stopping, so a
    /// loader that notices the index again cannot make a stopping server ready.
    pub fn set_ready(&self, ready: bool) {
        let next = if ready { READY } else { STARTING };
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != STOPPING).then_some(next)
            });
    }

    /// Reports not ready for good: shutdown has begun.
    pub fn set_stopping(&self) {
        self.state.store(STOPPING, Ordering::Release);
    }

    /// The current state.
    pub fn is_ready(&self) -> bool {
        self.state.load(Ordering::Acquire) == READY
    }

    fn answer(&self) -> (StatusCode, &'static str) {
        match self.state.load(Ordering::Acquire) {
            READY => (StatusCode::OK, "ok"),
            STOPPING => (StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        }
    }
}

/// `/healthz` and `/livez` (always `ok`) and `/readyz` (`ok`, or 503 until `readiness` is set
/// and from the moment shutdown begins).
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
    readiness.answer()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    async fn check(readiness: &Readiness, path: &str, status: StatusCode, body: &str) {
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
        check(&readiness, "/healthz", StatusCode::OK, "ok").await;
        check(&readiness, "/livez", StatusCode::OK, "ok").await;
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        check(&readiness, "/readyz", unavailable, "not ready").await;
        readiness.set_ready(true);
        check(&readiness, "/readyz", StatusCode::OK, "ok").await;
        readiness.set_ready(false);
        check(&readiness, "/readyz", unavailable, "not ready").await;
    }

    #[tokio::test]
    async fn a_stopping_server_stays_unready_whatever_the_loader_says() {
        let readiness = Readiness::new();
        readiness.set_ready(true);
        readiness.set_stopping();
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        check(&readiness, "/readyz", unavailable, "shutting down").await;
        readiness.set_ready(true);
        assert!(!readiness.is_ready());
        check(&readiness, "/readyz", unavailable, "shutting down").await;
        check(&readiness, "/healthz", StatusCode::OK, "ok").await;
    }
}
