//! `imagelookup serve`: the API server and the admission webhook on one TLS listener.
//!
//! Start-up is the only place that may fail with `anyhow`: everything it builds is typed.
//! On first start without credentials it generates a CA and serving certificate, an admin
//! token, and a ready kubeconfig in the data directory, and reuses them afterwards.
//!
//! Start-up order: everything read from flags and files is loaded and checked first, and an
//! embedded store opened, so mistakes fail at once; then the listener serves health and
//! metrics, and the API and the webhook once the store is open, which for etcd may be later
//! ([`store`]: retried while `/readyz` answers 503). Shutdown is in [`lifecycle`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;

use crate::api::policy::ImagePolicyConfig;
use crate::apiserver::state::Draining;
use crate::apiserver::watch_quota::{WatchQuota, WATCHES_IN_ALL};
use crate::apiserver::Auth;
use crate::auth::requestheader::RequestHeaderAuthenticator;
use crate::auth::Policy;
use crate::importer::on_request::OnRequest;
use crate::importer::secrets::PullSecrets;
use crate::importer::{self, ImporterConfig};
use crate::metrics::{Exposition, Metrics};
use crate::resolve::{Importer, ResolverConfig};
use crate::server::{self, Readiness, ServeOptions};
use crate::store::lead::{self, Candidate};
use crate::tls::{self, ReloadingTls, TlsFiles};
use crate::{strategy, webhook};

use super::logging::init_tracing;
pub use super::logging::LogFormat;

mod app;
mod args;
mod files;
mod lifecycle;
mod store;

use app::{App, Pending};
pub use args::{AdmissionCallerArgs, PullSecretsFrom, RequestHeaderArgs, ServeArgs};
use files::{advertised_address, load_tokens, read, tls_files};
use lifecycle::Lifecycle;
use store::Opening;

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let _logs = init_tracing(args.log_format);
    tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, first_signal()))
}

/// Completes at the first SIGINT or SIGTERM. A second one exits at once with code 1, as
/// Kubernetes components do (kube-apiserver's `SetupSignalHandler`): an operator who signals
/// twice does not want to wait out the shutdown delay and the drain. Acknowledged writes are
/// durable, so this loses nothing a crash would not.
async fn first_signal() {
    // One set of signal streams for both, created before the first arrives, so a second
    // signal sent right after the first is not missed.
    let mut signals = Signals::new();
    signals.next().await;
    tokio::spawn(async move {
        signals.next().await;
        tracing::warn!("a second signal: exiting at once");
        std::process::exit(1);
    });
}

/// SIGINT and SIGTERM as one stream (Ctrl-C elsewhere).
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
                .ok();
            Self { streams }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = &mut self.streams {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
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
    // The embedded store's lock first: a second process on this data directory must stop
    // before it rewrites the kubeconfig or the token file of the one already serving.
    let opening = match extras.store {
        Some(store) => Opening::Open(store),
        None => store::open_unless_etcd(&args).await?,
    };
    let tls_files = tls_files(&args)?;
    let requestheader = args.requestheader.load()?;
    let callers = args.admission_callers.load()?;
    // The handshake asks for a certificate of either CA; each use checks its own.
    let client_cas: Vec<_> = requestheader
        .iter()
        .map(|(ca, _)| ca.clone())
        .chain(callers.iter().map(|pool| pool.verifier().clone()))
        .collect();
    let tls = load_tls(&tls_files, &client_cas)?;
    let _watcher = tls.spawn_watcher(Duration::from_secs(args.tls_reload_seconds.max(1)));
    let readiness = Readiness::new();
    let metrics = Arc::new(Metrics::new());
    let callers = callers.map(|pool| Arc::new(webhook::Callers::new(pool, metrics.clone())));
    let draining = Draining::default();
    let pull_secrets = pull_secrets(&args).await?;
    let app = load_app(
        &args,
        &tls_files,
        requestheader,
        &metrics,
        &readiness,
        &draining,
        pull_secrets,
    )?;
    let app = App {
        callers: callers.clone(),
        ..app
    };

    let lifecycle = Lifecycle::start(shutdown, args.shutdown_delay, readiness.clone(), draining);
    let pending = Pending::new(app.unready_api(), metrics.clone(), callers.clone());
    // An open store's routes are installed before the first accept; etcd's once it answers.
    let (importer, waiting) = match opening {
        Opening::Open(store) => (app.install(store, &pending, lifecycle.stopping()), None),
        Opening::Etcd(spec) => (None, Some((spec, app))),
    };
    let connecting = async {
        let (spec, app) = waiting?;
        let store = store::connect(&spec, lifecycle.stopping()).await?;
        app.install(store, &pending, lifecycle.stopping())
    };
    let router = pending
        .fallback()
        .merge(server::health_routes(readiness.clone()))
        .merge(crate::apiserver::routes::public_routes())
        .route(
            "/metrics",
            get(scrape(metrics.clone(), tls.clone(), readiness)),
        )
        .merge(guarded(extras.routes, callers));
    print_welcome(&args, listener.local_addr()?);
    let options = ServeOptions {
        closed_connections: metrics.closed_connections.clone(),
        ..ServeOptions::default()
    };
    let serving = server::serve_with(listener, tls, router, lifecycle.draining(), options);
    let (served, late_importer) = tokio::join!(serving, connecting);
    served?;
    // The importer resigned when shutdown began; wait (bounded) until the lease is revoked.
    if let Some(importer) = importer.or(late_importer) {
        let _ = tokio::time::timeout(IMPORTER_STOP_TIMEOUT, importer).await;
    }
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
            metrics.serving_certificate_expiry.set(not_after);
        }
        metrics.ready.set(i64::from(readiness.is_ready()));
        let accept = headers.get(axum::http::header::ACCEPT);
        let format = Exposition::negotiate(accept.and_then(|value| value.to_str().ok()));
        let content_type = [(axum::http::header::CONTENT_TYPE, format.content_type())];
        std::future::ready((content_type, metrics.encode(format)))
    }
}

/// `routes` with the webhook's caller check, when there is one: extra routes stand in for
/// `/mutate` (the benchmarks' `/noop`), so they are called as it is.
fn guarded(routes: Router, callers: Option<Arc<webhook::Callers>>) -> Router {
    match callers {
        Some(callers) => webhook::require_callers(routes, callers),
        None => routes,
    }
}

/// A scrape's answer: the metrics text and its `Content-Type`.
type Scraped = ([(axum::http::HeaderName, &'static str); 1], String);

/// How long shutdown waits for the importer to resign its role.
const IMPORTER_STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn load_tls(
    files: &TlsFiles,
    client_cas: &[Arc<dyn rustls::server::danger::ClientCertVerifier>],
) -> anyhow::Result<ReloadingTls> {
    ReloadingTls::from_files_with_client_cas(files.clone(), client_cas)
        .context("cannot load the serving certificate")
}

/// Where pull secrets are read, by the importer and by the `secrets` subresource (also with
/// --no-importer); a cluster that cannot be found stops start-up (a misconfiguration, not a
/// transient failure).
async fn pull_secrets(args: &ServeArgs) -> anyhow::Result<PullSecrets> {
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

/// Reads and checks every file and flag the API and the webhook are built from.
fn load_app(
    args: &ServeArgs,
    tls_files: &TlsFiles,
    requestheader: Option<(
        Arc<dyn rustls::server::danger::ClientCertVerifier>,
        RequestHeaderAuthenticator,
    )>,
    metrics: &Arc<Metrics>,
    readiness: &Readiness,
    draining: &Draining,
    pull_secrets: PullSecrets,
) -> anyhow::Result<App> {
    let tokens = load_tokens(args, tls_files)?;
    let policy = match &args.authz_file {
        Some(path) => {
            let policy = Policy::parse(&read(path)?).with_context(|| path.display().to_string())?;
            check_rule_resources(&policy).with_context(|| path.display().to_string())?;
            Some(policy)
        }
        None => None,
    };
    let registry_ca = files::registry_ca(&args.registry_ca_file)?;
    let strategy = strategy::Config {
        internal_registry_hostname: args.registry_hostname.clone(),
        external_registry_hostname: args.public_registry_hostname.clone(),
        allowed_registries: args.allowed_registries(),
        default_import_mode: args.default_import_mode.as_str().to_string(),
    };
    strategy
        .check()
        .context("--allowed-registries-for-import")?;
    // Built whether or not the importer runs: imports asked through the API use it.
    let defaults = ImporterConfig::default();
    let imports = Arc::new(OnRequest::new(
        defaults.registry_timeout,
        &registry_ca,
        metrics.imports.clone(),
    ));
    let importer = (!args.no_importer).then(|| {
        let config = ImporterConfig {
            interval: Duration::from_secs(args.import_interval),
            workers: args.import_workers,
            strategy: Arc::new(strategy.clone()),
            pull_secrets: pull_secrets.clone(),
            registry_ca,
            outcomes: metrics.imports.clone(),
            ..ImporterConfig::default()
        };
        let candidate = Candidate {
            role: importer::ROLE.to_string(),
            identity: lead::local_identity(),
            lease: args.leader_lease,
        };
        (config, candidate)
    });
    Ok(App {
        strategy,
        auth: Arc::new(Auth { tokens, policy }),
        admission_policy: Arc::new(load_policy(args.policy.as_deref())?),
        pin: args.pin.into(),
        resolver: Arc::new(ResolverConfig {
            registry_hostname: args.registry_hostname.clone(),
            importer: if args.no_importer {
                Importer::Disabled
            } else {
                Importer::Runs
            },
        }),
        requestheader: requestheader.map(|(_, authenticator)| authenticator),
        // Set by the caller, which shares them with the routes served before the store.
        callers: None,
        importer,
        pull_secrets,
        imports,
        watches: WatchQuota::new(args.max_watches_per_user.max(1), WATCHES_IN_ALL),
        server_address: advertised_address(args.listen),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        draining: draining.clone(),
    })
}

/// Refuses a policy rule naming a resource this server does not serve: a typo
/// (`imagestream`) would grant nothing and look like a grant.
fn check_rule_resources(policy: &Policy) -> anyhow::Result<()> {
    for (index, rule) in policy.rules.iter().enumerate() {
        let unknown = rule
            .resources
            .iter()
            .find(|entry| !crate::apiserver::discovery::names_a_served_resource(entry));
        if let Some(entry) = unknown {
            anyhow::bail!(
                "rule {} names resource {entry:?}, which this server does not serve: name a \
                 resource (imagestreams, imagestreamtags, imagestreamimages, imagestreamimports, \
                 images, secrets, events, namespaces), resource/subresource \
                 (imagestreams/status, …), */subresource or *",
                index + 1
            );
        }
    }
    Ok(())
}

fn load_policy(path: Option<&Path>) -> anyhow::Result<ImagePolicyConfig> {
    match path {
        Some(path) => {
            let config = ImagePolicyConfig::from_yaml(&read(path)?)
                .with_context(|| path.display().to_string())?;
            for warning in crate::api::policy::warnings(&config) {
                tracing::warn!(policy = %path.display(), "{warning}");
            }
            Ok(config)
        }
        None => Ok(ImagePolicyConfig::default()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_rule_naming_a_resource_not_served_fails_start_up_by_name() {
        let policy = |resources: &str| {
            Policy::parse(&format!(
                "rules:\n- users: [alice]\n  verbs: [get]\n  namespaces: [a]\n  resources: {resources}\n"
            ))
            .unwrap()
        };
        let served = "[imagestreams, imagestreams/status, '*/layers', secrets]";
        assert!(check_rule_resources(&policy(served)).is_ok());
        let error = check_rule_resources(&policy("[imagestreams, imagestream]")).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "rule 1 names resource \"imagestream\", which this server does not serve"
            ),
            "{error}"
        );
    }
}
