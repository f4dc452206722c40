//! `imagelookup serve`: the API server and the admission webhook on one TLS listener.
//!
//! Start-up is the only place that may fail with `anyhow`: everything it builds is typed.
//! On first start without credentials it generates a CA and serving certificate, an admin
//! token, and a ready kubeconfig in the data directory, and reuses them afterwards.
//!
//! Start-up order: every flag and file that does not live in the data directory is read and
//! checked first (`load::Settings`), before the data directory is touched, so a mistake
//! leaves nothing behind; then an embedded store is opened and the data directory's
//! certificates and tokens loaded or made, so mistakes fail at once; then the listener
//! serves health and metrics, and the API and the webhook once the store is open, which for
//! etcd may be later (`store`: retried while `/readyz` answers 503). Shutdown, and the
//! signals that start it, are in `lifecycle`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;

use crate::apiserver::state::Draining;
use crate::metrics::{Exposition, Metrics};
use crate::server::{self, Background, Readiness, ServeOptions};
use crate::tls::{self, ReloadingTls, TlsFiles};
use crate::webhook;

use super::logging::init_tracing;
pub use super::logging::LogFormat;

mod app;
mod args;
mod backup;
mod files;
mod lifecycle;
mod listen;
mod load;
mod store;

use app::{App, Pending};
pub use args::{
    AdmissionCallerArgs, DefaultImportMode, PullSecretsFrom, RequestHeaderArgs, ServeArgs,
};
use backup::Backups;
use files::{advertised_address, tls_files};
use lifecycle::{first_signal, Lifecycle};
use load::{load_app, pull_secrets, Settings};
use store::Opening;

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let _logs = init_tracing(args.log_format);
    crate::panics::install_hook();
    tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, first_signal()))
}

/// Binds `--listen`, then [`serve_on`].
pub async fn serve(
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener =
        listen::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    serve_on(listener, args, shutdown).await
}

/// Builds everything from `args` and serves on an already bound `listener` until `shutdown`
/// completes. Tests bind `127.0.0.1:0` and pass the listener in.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, args, Extras::default(), shutdown).await
}

/// What a caller adds to what `serve` builds; the benchmarks serve exactly the production
/// stack this way instead of a copy of it.
#[derive(Default)]
pub struct Extras {
    /// Routes merged into the router (the benchmarks' `/noop`).
    pub routes: Router,
    /// An already open store, used instead of opening `--store` (the benchmarks read its
    /// commit statistics).
    pub store: Option<Arc<dyn crate::store::Store>>,
}

/// [`serve_on`] with [`Extras`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    mut args: ServeArgs,
    extras: Extras,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    args.listen = listener.local_addr()?;
    // Before the data directory: a mistake in a flag or file must not leave a store, a CA or
    // a token behind.
    let settings = Settings::read(&args)?;
    let callers = args.admission_callers.load()?;
    let pull_secrets = pull_secrets(&args).await?;
    crate::dirs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    // The embedded store's lock first: a second process on this data directory must stop
    // before it rewrites the kubeconfig or the token file of the one already serving.
    let opening = match extras.store {
        Some(store) => Opening::Open(store),
        None => store::open_unless_etcd(&args).await?,
    };
    let tls_files = tls_files(&args)?;
    // The handshake asks for a certificate of either CA; each use checks its own.
    let client_cas: Vec<_> = settings
        .requestheader
        .iter()
        .map(|(ca, _)| ca.clone())
        .chain(callers.iter().map(|pool| pool.verifier().clone()))
        .collect();
    let tls = load_tls(&tls_files, args.tls_cert.is_some(), &client_cas)?;
    let _watcher = tls.spawn_watcher(Duration::from_secs(args.tls_reload_seconds.max(1)));
    let readiness = Readiness::new();
    let metrics = Arc::new(Metrics::new());
    // From the flags, before the store connects: the no-importer alert must see the replicas
    // that will import even while none can.
    metrics.importer.enabled.set(i64::from(!args.no_importer));
    let callers = callers.map(|pool| Arc::new(webhook::Callers::new(pool, metrics.clone())));
    let draining = Draining::default();
    let app = load_app(
        &args,
        settings,
        &tls_files,
        &metrics,
        &readiness,
        &draining,
        pull_secrets,
    )?;
    let app = App {
        callers: callers.clone(),
        ..app
    };

    // The API, the importer and the index's feeds run there, admission and connections here.
    let background = Arc::new(Background::start().context("cannot start the background runtime")?);
    let lifecycle = Lifecycle::start(shutdown, args.shutdown_delay, readiness.clone(), draining);
    let pending = Pending::new(app.unready_api(), metrics.clone(), callers.clone());
    // An open store's routes are installed before the first accept; etcd's once it answers.
    let (importer, waiting) = match opening {
        Opening::Open(store) => (
            app.install(store, &pending, &background, lifecycle.stopping()),
            None,
        ),
        Opening::File(store) => {
            if let Some(backups) = Backups::from_args(&args) {
                let written = metrics.store.backups.clone();
                tokio::spawn(backups.run(store.clone(), written, lifecycle.stopping()));
            }
            (
                app.install(store, &pending, &background, lifecycle.stopping()),
                None,
            )
        }
        Opening::Etcd(spec) => (None, Some((spec, app))),
    };
    let connecting = async {
        let (spec, app) = waiting?;
        let compactions = metrics.store.etcd_compactions.clone();
        let store = store::connect(&spec, compactions, lifecycle.stopping()).await?;
        app.install(store, &pending, &background, lifecycle.stopping())
    };
    // Routes installed before the first accept (an open embedded store) are served directly:
    // through the fallback, every API and admission request was routed twice (~3,300
    // instructions, about 2 % of a `/mutate`).
    let front = pending.installed().unwrap_or_else(|| pending.fallback());
    let router = front
        .merge(server::health_routes(readiness.clone()))
        .merge(crate::apiserver::routes::public_routes())
        .route(
            "/metrics",
            get(scrape(metrics.clone(), tls.clone(), readiness)),
        )
        .merge(guarded(extras.routes, callers));
    print_welcome(&args, listener.local_addr()?);
    let options = ServeOptions {
        closed_connections: metrics.server.closed_connections.clone(),
        handshake_failures: metrics.server.tls_handshake_failures.clone(),
        open_connections: metrics.server.open_connections.clone(),
        ..ServeOptions::default()
    };
    let serving = server::serve_with(listener, tls, router, lifecycle.draining(), options);
    let (served, late_importer) = tokio::join!(serving, connecting);
    // The importer resigned when shutdown began; wait (bounded) until the lease is revoked.
    if let Some(importer) = importer.or(late_importer) {
        let _ = tokio::time::timeout(IMPORTER_STOP_TIMEOUT, importer).await;
    }
    // Its tasks hold the store: released before this returns, so it can be opened again.
    background.stop(IMPORTER_STOP_TIMEOUT).await;
    served?;
    Ok(())
}

/// The `/metrics` handler: the serving certificate's expiry is read from the certificate
/// handshakes present now, so a rotated file shows once it is served; readiness as `/readyz`
/// answers it now.
fn scrape(
    metrics: Arc<Metrics>,
    tls: ReloadingTls,
    readiness: Readiness,
) -> impl Fn(axum::http::HeaderMap) -> std::future::Ready<Scraped> + Clone + Send + 'static {
    move |headers| {
        if let Some(not_after) = tls.current_not_after() {
            metrics.server.serving_certificate_expiry.set(not_after);
        }
        metrics.process.ready.set(i64::from(readiness.is_ready()));
        let accept = headers.get(axum::http::header::ACCEPT);
        let format = Exposition::negotiate(accept.and_then(|value| value.to_str().ok()));
        let content_type = [(axum::http::header::CONTENT_TYPE, format.content_type())];
        std::future::ready((content_type, metrics.encode(format)))
    }
}

/// `routes` with the webhook's caller check, when there is one, and a body budget: extra
/// routes stand in for `/mutate` (the benchmarks' `/noop`), so they are called as it is.
fn guarded(routes: Router, callers: Option<Arc<webhook::Callers>>) -> Router {
    let routes = match callers {
        Some(callers) => webhook::require_callers(routes, callers),
        None => routes,
    };
    server::BodyBudget::new(server::DEFAULT_BODY_BUDGET_BYTES).guard(routes)
}

/// A scrape's answer: the metrics text and its `Content-Type`.
type Scraped = ([(axum::http::HeaderName, &'static str); 1], String);

/// How long shutdown waits, once the server has drained, for the importer to resign its role.
pub const IMPORTER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn load_tls(
    files: &TlsFiles,
    given: bool,
    client_cas: &[Arc<dyn rustls::server::danger::ClientCertVerifier>],
) -> anyhow::Result<ReloadingTls> {
    ReloadingTls::from_files_with_client_cas(files.clone(), client_cas).with_context(|| {
        let (cert, key) = (files.cert.display(), files.key.display());
        match given {
            true => format!(
                "cannot load the serving certificate {cert} with its key {key} (--tls-cert and \
                 --tls-key)"
            ),
            false => format!(
                "cannot load the serving certificate {cert} with its key {key}, generated into \
                 the data directory: move both away to have a new pair generated"
            ),
        }
    })
}

fn print_welcome(args: &ServeArgs, address: SocketAddr) {
    let kubeconfig = args.data_dir.join("kubeconfig");
    tracing::info!(%address, data_dir = %args.data_dir.display(), version = env!("CARGO_PKG_VERSION"), "imagelookup serving");
    if args.token_file.is_none() && args.log_format == LogFormat::Text {
        eprintln!(
            "imagelookup is serving https://{}",
            advertised_address(address)
        );
        eprintln!(
            "  kubectl --kubeconfig {} get imagestreams",
            kubeconfig.display()
        );
        eprintln!(
            "  webhook: POST https://{}/mutate",
            advertised_address(address)
        );
    }
}
