//! The server under test, in process: exactly what `imagelookup serve` builds
//! (`cli::serve::serve_with`: health, `/mutate`, `/metrics`, the API, `MeteredStore`, the live
//! index, TLS), plus one `/noop` route, over a store the bench opened itself (the store runs
//! read its commit statistics). `/noop` answers a fixed allowed AdmissionReview without
//! parsing: the ceiling of the stack (TLS, HTTP, routing, body read) with no admission work.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use imagelookup::cli::serve::{serve_with, Extras, ServeArgs};
use imagelookup::store::Store;
use tokio::sync::oneshot;

use super::fixtures::REGISTRY;
use super::loadgen::{Call, Target};

/// The bearer token of the stack's only user, an admin.
pub const TOKEN: &str = "bench-admin-token";

/// The body `/noop` answers with.
pub const NOOP_BODY: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true}}"#;

/// How long start-up (certificates, loading the index) may take.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A running stack; dropping it stops the server.
pub struct Stack {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client target for it.
    pub target: Target,
    _stop: oneshot::Sender<()>,
}

/// Starts `serve` on 127.0.0.1:0 with its files in `data_dir` over `store`, and waits until it
/// is ready (its index holds the store's streams).
pub async fn start(data_dir: &Path, store: Arc<dyn Store>) -> anyhow::Result<Stack> {
    let token_file = data_dir.join("tokens.csv");
    std::fs::write(
        &token_file,
        format!("{TOKEN},admin,admin,\"system:masters\"\n"),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let extras = Extras {
        routes: Router::new().route("/noop", post(noop)),
        store: Some(store),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = serve_with(listener, args(data_dir, &token_file), extras, async move {
        let _ = stopped.await;
    });
    tokio::spawn(async move {
        if let Err(error) = serving.await {
            eprintln!("the bench server failed: {error:#}");
        }
    });
    let target = wait_ready(addr, data_dir).await?;
    Ok(Stack {
        addr,
        target,
        _stop: stop,
    })
}

impl Stack {
    /// How many streams the admission index holds (`imagelookup_index_streams`).
    pub async fn indexed_streams(&self) -> anyhow::Result<u64> {
        let mut connection = self.target.connect().await?;
        let (_, body) = connection.send(&Call::get("/metrics")).await?;
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .find_map(|line| line.strip_prefix("imagelookup_index_streams "))
            .and_then(|value| value.trim().parse().ok())
            .context("no imagelookup_index_streams in /metrics")
    }
}

/// `serve`'s arguments as `make run` would give them, minus the importer (no registry is
/// reachable, and it is not what is measured).
fn args(data_dir: &Path, token_file: &Path) -> ServeArgs {
    ServeArgs {
        listen: "127.0.0.1:0".parse().expect("an address"),
        token_file: Some(token_file.to_path_buf()),
        registry_hostname: REGISTRY.to_string(),
        no_importer: true,
        ..ServeArgs::defaults(data_dir)
    }
}

/// Reads the body like `/mutate` does, then answers without looking at it.
async fn noop(_body: Bytes) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], NOOP_BODY)
}

/// Waits for the CA `serve` generates and for `/readyz`; the client target trusting that CA.
async fn wait_ready(addr: SocketAddr, data_dir: &Path) -> anyhow::Result<Target> {
    let ca = data_dir.join("tls").join("ca.crt");
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if let Ok(pem) = std::fs::read(&ca) {
            let target = Target::new(addr, &pem)?;
            if let Ok(mut connection) = target.connect().await {
                if let Ok((status, _)) = connection.send(&Call::get("/readyz")).await {
                    if status.is_success() {
                        return Ok(target);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the bench server at {addr} never became ready")
}
