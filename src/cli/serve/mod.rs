//! `imagelookup serve`: the API server and the admission webhook on one TLS listener.
//!
//! Start-up is the only place that may fail with `anyhow`: everything it builds is typed.
//! On first start without credentials it generates a CA and serving certificate, an admin
//! token, and a ready kubeconfig in the data directory, and reuses them afterwards.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;

use crate::api::policy::ImagePolicyConfig;
use crate::apiserver::{self, ApiState, Auth};
use crate::auth::requestheader::RequestHeaderAuthenticator;
use crate::auth::Policy;
use crate::importer::secrets::PullSecrets;
use crate::importer::{self, ImporterConfig};
use crate::live_index::{self, LiveIndex};
use crate::metrics::Metrics;
use crate::resolve::ResolverConfig;
use crate::server::{self, Readiness};
use crate::store::lead::{self, Candidate};
use crate::store::{EmbeddedOptions, StoreSpec};
use crate::tls::{self, ReloadingTls};
use crate::{strategy, webhook};

use super::logging::init_tracing;
pub use super::logging::LogFormat;

mod args;
mod files;

pub use args::{PullSecretsFrom, RequestHeaderArgs, ServeArgs};
use files::{advertised_address, load_tokens, read, tls_files};

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let _logs = init_tracing(args.log_format);
    tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, shutdown_signal()))
}

/// Binds `--listen`, then [`serve_on`].
pub async fn serve(
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
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
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let tls_files = tls_files(&args)?;
    let requestheader = args.requestheader.load()?;
    let tls = match &requestheader {
        Some((client_ca, _)) => {
            ReloadingTls::from_files_with_client_ca(tls_files.clone(), client_ca.clone())
        }
        None => ReloadingTls::from_files(tls_files.clone()),
    }
    .context("cannot load the serving certificate")?;
    let _watcher = tls.spawn_watcher(Duration::from_secs(args.tls_reload_seconds.max(1)));
    let tokens = load_tokens(&args, &tls_files)?;
    let policy = match &args.authz_file {
        Some(path) => {
            Some(Policy::parse(&read(path)?).with_context(|| path.display().to_string())?)
        }
        None => None,
    };
    let store = match extras.store {
        Some(store) => store,
        None => open_store(&args).await?,
    };
    let metrics = Arc::new(Metrics::new());
    let store: Arc<dyn crate::store::Store> =
        Arc::new(crate::store::MeteredStore::new(store, metrics.clone()));
    let strategy_config = strategy::Config {
        internal_registry_hostname: args.registry_hostname.clone(),
        external_registry_hostname: args.public_registry_hostname.clone(),
        ..strategy::Config::default()
    };
    let index = LiveIndex::serving(strategy_config.clone());
    let readiness = Readiness::new();
    tokio::spawn(live_index::run_feed(store.clone(), index.clone()));
    tokio::spawn(mark_ready_when_indexed(
        index.clone(),
        readiness.clone(),
        metrics.clone(),
        store.clone(),
    ));

    let admission_policy = load_policy(args.policy.as_deref())?;
    let pull_secrets = pull_secrets(&args).await?;
    let registry_ca = files::registry_ca(&args.registry_ca_file)?;
    let (stop_importer, importer_stopped) = tokio::sync::oneshot::channel::<()>();
    let importer = (!args.no_importer).then(|| {
        let config = ImporterConfig {
            interval: Duration::from_secs(args.import_interval),
            strategy: Arc::new(strategy_config.clone()),
            pull_secrets,
            registry_ca: registry_ca.clone(),
            outcomes: metrics.imports.clone(),
            ..ImporterConfig::default()
        };
        let candidate = Candidate {
            role: importer::ROLE.to_string(),
            identity: lead::local_identity(),
            lease: args.leader_lease,
        };
        tokio::spawn(importer::run_while_leading(
            store.clone(),
            Some(index.clone()),
            config,
            candidate,
            metrics.importer_leader.clone(),
            async move {
                let _ = importer_stopped.await;
            },
        ))
    });
    let api = ApiState {
        store,
        strategy: Arc::new(strategy_config),
        index: index.clone(),
        auth: Arc::new(Auth { tokens, policy }),
        metrics: metrics.clone(),
        server_address: advertised_address(args.listen),
        encoded: Default::default(),
    };
    let hook = webhook::WebhookState {
        index,
        policy: Arc::new(admission_policy),
        resolver: Arc::new(ResolverConfig {
            registry_hostname: args.registry_hostname.clone(),
        }),
        metrics: metrics.clone(),
    };
    let router = Router::new()
        .merge(server::health_routes(readiness.clone()))
        .merge(webhook::routes(hook))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.encode())),
        )
        .merge(api_router(
            api,
            requestheader.map(|(_, authenticator)| authenticator),
        ))
        .merge(extras.routes);
    print_welcome(&args, listener.local_addr()?);
    let shutdown = async move {
        shutdown.await;
        readiness.set_ready(false);
    };
    server::serve(listener, tls, router, shutdown).await?;
    // Resigning hands the importer role to another replica at once, not after the lease.
    let _ = stop_importer.send(());
    if let Some(importer) = importer {
        let _ = tokio::time::timeout(IMPORTER_STOP_TIMEOUT, importer).await;
    }
    Ok(())
}

/// How long shutdown waits for the importer to resign its role.
const IMPORTER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens `--store` (or the embedded default in the data directory).
async fn open_store(args: &ServeArgs) -> anyhow::Result<Arc<dyn crate::store::Store>> {
    let spec: StoreSpec = match &args.store {
        Some(spec) => spec.parse().context("--store")?,
        None => StoreSpec::default_for(&args.data_dir),
    };
    spec.open(EmbeddedOptions::default())
        .await
        .with_context(|| format!("cannot open the store {spec}"))
}

/// The importer's source of pull secrets; a cluster that cannot be found stops start-up (a
/// misconfiguration, not a transient failure).
async fn pull_secrets(args: &ServeArgs) -> anyhow::Result<PullSecrets> {
    if args.no_importer {
        return Ok(PullSecrets::Store);
    }
    match (args.pull_secrets_from, &args.pull_secrets_kubeconfig) {
        (PullSecretsFrom::Store, None) => Ok(PullSecrets::Store),
        (PullSecretsFrom::Store, Some(_)) => {
            anyhow::bail!("--pull-secrets-kubeconfig needs --pull-secrets-from=cluster")
        }
        (PullSecretsFrom::Cluster, kubeconfig) => {
            Ok(PullSecrets::cluster(kubeconfig.as_deref()).await?)
        }
    }
}

fn api_router(api: ApiState, requestheader: Option<RequestHeaderAuthenticator>) -> Router {
    match requestheader {
        Some(authenticator) => {
            apiserver::routes::with_request_header(apiserver::router(api), authenticator)
        }
        None => apiserver::router(api),
    }
}

fn load_policy(path: Option<&Path>) -> anyhow::Result<ImagePolicyConfig> {
    match path {
        Some(path) => {
            ImagePolicyConfig::from_yaml(&read(path)?).with_context(|| path.display().to_string())
        }
        None => Ok(ImagePolicyConfig::default()),
    }
}

/// Reports ready once the index holds the store's streams; keeps index metrics current.
async fn mark_ready_when_indexed(
    index: Arc<LiveIndex>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    store: Arc<dyn crate::store::Store>,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticker.tick().await;
        if index.is_ready() && !readiness.is_ready() {
            readiness.set_ready(true);
            ticker = tokio::time::interval(Duration::from_secs(1));
        }
        metrics.index_streams.set(index.len() as i64);
        let lag = store
            .current_revision()
            .saturating_sub(index.synced_revision());
        metrics.watch_lag.set(lag as i64);
        metrics
            .index_feed_connected
            .set(i64::from(index.is_connected()));
    }
}

fn print_welcome(args: &ServeArgs, address: SocketAddr) {
    let kubeconfig = args.data_dir.join("kubeconfig");
    tracing::info!(%address, data_dir = %args.data_dir.display(), "imagelookup serving");
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

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
    tracing::info!("shutting down");
}
