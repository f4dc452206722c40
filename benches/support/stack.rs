//! The server under test, in process: the router `imagelookup serve` builds (health, `/mutate`,
//! `/metrics`, the API) plus one `/noop` route, served by the same `server::serve` over the
//! same reloading TLS. `/noop` answers a fixed allowed AdmissionReview without parsing: the
//! ceiling of the stack (TLS, HTTP, routing, body read) with no admission work.
//!
//! This mirrors `cli::serve::serve_on` (including the `MeteredStore` wrapper), which has no
//! hook for an extra route; keep the two in step (see BENCHMARKS.md for the hook that would
//! remove the copy).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use imagelookup::api::policy::ImagePolicyConfig;
use imagelookup::apiserver::{self, ApiState, Auth};
use imagelookup::auth::TokenAuthenticator;
use imagelookup::live_index::{self, LiveIndex};
use imagelookup::metrics::Metrics;
use imagelookup::resolve::ResolverConfig;
use imagelookup::server::{self, Readiness};
use imagelookup::store::{MeteredStore, Store};
use imagelookup::tls::{ReloadingTls, TlsFiles};
use imagelookup::{certs, strategy, webhook};
use tokio::sync::oneshot;

use super::fixtures::REGISTRY;
use super::loadgen::Target;

/// The bearer token of the stack's only user, an admin.
pub const TOKEN: &str = "bench-admin-token";

/// The body `/noop` answers with.
pub const NOOP_BODY: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true}}"#;

/// A running stack; dropping it stops the server.
pub struct Stack {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client target for it.
    pub target: Target,
    /// The admission index, to wait for the initial load.
    pub index: Arc<LiveIndex>,
    _stop: oneshot::Sender<()>,
}

/// Starts the stack on 127.0.0.1:0 with certificates in `data_dir` over `store`, and waits
/// until the index holds the store's streams.
pub async fn start(data_dir: &Path, store: Arc<dyn Store>) -> anyhow::Result<Stack> {
    let paths = certs::ensure_serving_certs(data_dir, &[])?;
    let tls = ReloadingTls::from_files(TlsFiles {
        cert: paths.cert.clone(),
        key: paths.key.clone(),
    })?;
    let metrics = Arc::new(Metrics::new());
    let store: Arc<dyn Store> = Arc::new(MeteredStore::new(store, metrics.clone()));
    let index = LiveIndex::new();
    tokio::spawn(live_index::run_feed(store.clone(), index.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let tokens = TokenAuthenticator::parse(&format!("{TOKEN},admin,admin,\"system:masters\"\n"))?;
    let api = ApiState {
        store,
        strategy: Arc::new(strategy::Config {
            internal_registry_hostname: REGISTRY.to_string(),
            ..strategy::Config::default()
        }),
        index: index.clone(),
        auth: Arc::new(Auth {
            tokens,
            policy: None,
        }),
        metrics: metrics.clone(),
        server_address: addr.to_string(),
        encoded: Default::default(),
    };
    let router = router(api, metrics, index.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, tls, router, async move {
        let _ = stopped.await;
    }));
    wait_indexed(&index).await?;
    let target = Target::new(addr, &std::fs::read(&paths.ca_cert)?)?;
    Ok(Stack {
        addr,
        target,
        index,
        _stop: stop,
    })
}

/// `serve_on`'s router, plus `/noop`.
fn router(api: ApiState, metrics: Arc<Metrics>, index: Arc<LiveIndex>) -> Router {
    let readiness = Readiness::new();
    readiness.set_ready(true);
    let hook = webhook::WebhookState {
        index,
        policy: Arc::new(ImagePolicyConfig::default()),
        resolver: Arc::new(ResolverConfig {
            registry_hostname: REGISTRY.to_string(),
        }),
        metrics: metrics.clone(),
    };
    Router::new()
        .merge(server::health_routes(readiness))
        .merge(webhook::routes(hook))
        .route("/noop", post(noop))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.encode())),
        )
        .merge(apiserver::router(api))
}

/// Reads the body like `/mutate` does, then answers without looking at it.
async fn noop(_body: Bytes) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], NOOP_BODY)
}

async fn wait_indexed(index: &LiveIndex) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while !index.is_ready() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "index never loaded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}
