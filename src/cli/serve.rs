//! `imagelookup serve`: the API server and the admission webhook on one TLS listener.
//!
//! Start-up is the only place that may fail with `anyhow`: everything it builds is typed.
//! On first start without credentials it generates a CA and serving certificate, an admin
//! token, and a ready kubeconfig in the data directory, and reuses them afterwards.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use base64::Engine;
use rustls::server::danger::ClientCertVerifier;

use crate::api::policy::ImagePolicyConfig;
use crate::apiserver::{self, ApiState, Auth};
use crate::auth::requestheader::{RequestHeaderAuthenticator, RequestHeaderConfig};
use crate::auth::{Policy, TokenAuthenticator};
use crate::importer::{self, ImporterConfig};
use crate::live_index::{self, LiveIndex};
use crate::metrics::Metrics;
use crate::resolve::ResolverConfig;
use crate::server::{self, Readiness};
use crate::store::lead::{self, Candidate};
use crate::store::{EmbeddedOptions, StoreSpec};
use crate::tls::{self, ReloadingTls, TlsFiles};
use crate::{certs, strategy, webhook};

use super::logging::init_tracing;
pub use super::logging::LogFormat;

/// Arguments of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (HTTPS).
    #[arg(long, env = "IMAGELOOKUP_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Directory for the embedded store, generated certificates, token and kubeconfig.
    #[arg(long, env = "IMAGELOOKUP_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// Storage: `embedded:<path>` (default `embedded:<data-dir>/store`), `memory:` or `etcd:<endpoints>`.
    #[arg(long, env = "IMAGELOOKUP_STORE")]
    pub store: Option<String>,
    /// PEM serving certificate; generated into the data directory when absent.
    #[arg(long, env = "IMAGELOOKUP_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the serving certificate.
    #[arg(long, env = "IMAGELOOKUP_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for rotation, in seconds.
    #[arg(long, env = "IMAGELOOKUP_TLS_RELOAD_SECONDS", default_value_t = 10)]
    pub tls_reload_seconds: u64,
    /// Static token CSV (`token,user,uid,"group1,group2"`); an admin token is generated when absent.
    #[arg(long, env = "IMAGELOOKUP_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Authorization policy (YAML); every authenticated user may do everything when absent.
    #[arg(long, env = "IMAGELOOKUP_AUTHZ_FILE")]
    pub authz_file: Option<PathBuf>,
    /// ImagePolicyConfig for admission (YAML or JSON); OpenShift's defaults when absent.
    #[arg(long, env = "IMAGELOOKUP_POLICY")]
    pub policy: Option<PathBuf>,
    /// The integrated registry host, used for Local reference policies and `status.dockerImageRepository`.
    #[arg(long, env = "IMAGELOOKUP_REGISTRY_HOSTNAME", default_value = "")]
    pub registry_hostname: String,
    /// The registry host seen from outside the cluster (`status.publicDockerImageRepository`).
    #[arg(long, env = "IMAGELOOKUP_PUBLIC_REGISTRY_HOSTNAME", default_value = "")]
    pub public_registry_hostname: String,
    /// Log format.
    #[arg(long, env = "IMAGELOOKUP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds between re-imports of `importPolicy.scheduled` tags (at least 60).
    #[arg(long, env = "IMAGELOOKUP_IMPORT_INTERVAL", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(60..))]
    pub import_interval: u64,
    /// Do not import tags from registries (`status.tags` of DockerImage tags stays empty).
    #[arg(long, env = "IMAGELOOKUP_NO_IMPORTER")]
    pub no_importer: bool,
    /// How long the importer role outlives a replica that stops renewing it (`15s`, `1m`;
    /// whole seconds, at least 2 s). Only replicas sharing an etcd store take turns.
    #[arg(long, env = "IMAGELOOKUP_LEADER_LEASE", default_value = "15s",
          value_parser = parse_lease)]
    pub leader_lease: Duration,
    /// Request-header (front-proxy) authentication, for API aggregation; boxed so `ServeArgs`
    /// stays close in size to the other subcommands' arguments.
    #[command(flatten)]
    pub requestheader: Box<RequestHeaderArgs>,
}

/// The `--requestheader-*` flags, named as kube-apiserver and aggregated servers name them.
#[derive(Debug, Clone, clap::Args)]
pub struct RequestHeaderArgs {
    /// PEM CA of the front proxy (kube-system/extension-apiserver-authentication's
    /// `requestheader-client-ca-file`); enables request-header authentication.
    #[arg(long, env = "IMAGELOOKUP_REQUESTHEADER_CLIENT_CA_FILE")]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names the front proxy's certificate may have (comma list); empty allows any the CA signed.
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_ALLOWED_NAMES",
        value_delimiter = ','
    )]
    pub requestheader_allowed_names: Vec<String>,
    /// Headers naming the user (comma list).
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_USERNAME_HEADERS",
        value_delimiter = ',',
        default_value = "X-Remote-User"
    )]
    pub requestheader_username_headers: Vec<String>,
    /// Headers listing the user's groups (comma list).
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_GROUP_HEADERS",
        value_delimiter = ',',
        default_value = "X-Remote-Group"
    )]
    pub requestheader_group_headers: Vec<String>,
    /// Prefixes of headers carrying extra user information (comma list).
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_EXTRA_HEADERS_PREFIX",
        value_delimiter = ',',
        default_value = "X-Remote-Extra-"
    )]
    pub requestheader_extra_headers_prefix: Vec<String>,
}

impl Default for RequestHeaderArgs {
    /// The flags' defaults: disabled, kube's header names.
    fn default() -> Self {
        let config = RequestHeaderConfig::default();
        Self {
            requestheader_client_ca_file: None,
            requestheader_allowed_names: config.allowed_names,
            requestheader_username_headers: config.username_headers,
            requestheader_group_headers: config.group_headers,
            requestheader_extra_headers_prefix: config.extra_headers_prefixes,
        }
    }
}

impl RequestHeaderArgs {
    /// The client CA verifier and authenticator, when `--requestheader-client-ca-file` is set.
    fn load(
        &self,
    ) -> anyhow::Result<Option<(Arc<dyn ClientCertVerifier>, RequestHeaderAuthenticator)>> {
        let Some(path) = &self.requestheader_client_ca_file else {
            return Ok(None);
        };
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let verifier = tls::client_ca_verifier(&pem)
            .with_context(|| format!("--requestheader-client-ca-file {}", path.display()))?;
        let config = RequestHeaderConfig {
            username_headers: self.requestheader_username_headers.clone(),
            group_headers: self.requestheader_group_headers.clone(),
            extra_headers_prefixes: self.requestheader_extra_headers_prefix.clone(),
            allowed_names: self.requestheader_allowed_names.clone(),
        };
        Ok(Some((
            verifier.clone(),
            RequestHeaderAuthenticator::new(config, verifier),
        )))
    }
}

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
    let index = LiveIndex::new();
    let readiness = Readiness::new();
    tokio::spawn(live_index::run_feed(store.clone(), index.clone()));
    tokio::spawn(mark_ready_when_indexed(
        index.clone(),
        readiness.clone(),
        metrics.clone(),
        store.clone(),
    ));

    let admission_policy = load_policy(args.policy.as_deref())?;
    let strategy_config = strategy::Config {
        internal_registry_hostname: args.registry_hostname.clone(),
        external_registry_hostname: args.public_registry_hostname.clone(),
        ..strategy::Config::default()
    };
    let (stop_importer, importer_stopped) = tokio::sync::oneshot::channel::<()>();
    let importer = (!args.no_importer).then(|| {
        let config = ImporterConfig {
            interval: Duration::from_secs(args.import_interval),
            strategy: Arc::new(strategy_config.clone()),
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

/// A `--leader-lease`: a friendly (`15s`, `1m30s`) or ISO 8601 duration of whole seconds, at
/// least [`lead::MIN_LEASE`] (etcd counts leases in seconds).
fn parse_lease(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration like 15s: {e}"))?;
    let lease = Duration::try_from(signed).map_err(|_| format!("{text:?} is negative"))?;
    if lease.subsec_nanos() != 0 {
        return Err(format!("{text:?} is not a whole number of seconds"));
    }
    if lease < lead::MIN_LEASE {
        return Err(format!("{text:?} is shorter than {:?}", lead::MIN_LEASE));
    }
    Ok(lease)
}

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

fn api_router(api: ApiState, requestheader: Option<RequestHeaderAuthenticator>) -> Router {
    match requestheader {
        Some(authenticator) => {
            apiserver::routes::with_request_header(apiserver::router(api), authenticator)
        }
        None => apiserver::router(api),
    }
}

/// The serving certificate files: given, or generated into the data directory.
fn tls_files(args: &ServeArgs) -> anyhow::Result<TlsFiles> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !args.listen.ip().is_unspecified() {
        sans.push(args.listen.ip().to_string());
    }
    let paths = certs::ensure_serving_certs(&args.data_dir, &sans)
        .context("cannot generate the serving certificate")?;
    Ok(TlsFiles {
        cert: paths.cert,
        key: paths.key,
    })
}

/// The token file, or a generated admin token (plus a kubeconfig) in the data directory.
fn load_tokens(args: &ServeArgs, tls_files: &TlsFiles) -> anyhow::Result<TokenAuthenticator> {
    if let Some(path) = &args.token_file {
        return TokenAuthenticator::parse(&read(path)?).with_context(|| path.display().to_string());
    }
    let path = args.data_dir.join("tokens.csv");
    if !path.exists() {
        let token: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        write_private(&path, &format!("{token},admin,admin,\"system:masters\"\n"))?;
    }
    let tokens =
        TokenAuthenticator::parse(&read(&path)?).with_context(|| path.display().to_string())?;
    let admin_token = read(&path)?
        .split(',')
        .next()
        .unwrap_or_default()
        .to_string();
    write_kubeconfig(args, tls_files, &admin_token)?;
    Ok(tokens)
}

/// Writes `<data-dir>/kubeconfig` pointing at this server with the admin token.
fn write_kubeconfig(args: &ServeArgs, tls_files: &TlsFiles, token: &str) -> anyhow::Result<()> {
    let ca_path = tls_files.cert.with_file_name(certs::CA_CERT_FILE);
    let ca = std::fs::read(&ca_path)
        .unwrap_or_else(|_| std::fs::read(&tls_files.cert).unwrap_or_default());
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca);
    let server = format!("https://{}", advertised_address(args.listen));
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: imagelookup\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca_data}\nusers:\n- name: admin\n  user:\n    token: {token}\n\
         contexts:\n- name: imagelookup\n  context:\n    cluster: imagelookup\n    user: admin\n    namespace: default\n\
         current-context: imagelookup\n"
    );
    write_private(&args.data_dir.join("kubeconfig"), &kubeconfig)
}

/// `host:port` clients should use: a wildcard listen address is reached on loopback.
fn advertised_address(listen: SocketAddr) -> String {
    match listen.ip().is_unspecified() {
        true => format!("127.0.0.1:{}", listen.port()),
        false => listen.to_string(),
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

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a file readable only by its owner (tokens, kubeconfig).
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_leases_are_whole_seconds_of_at_least_two() {
        let check = |text: &str, expected: Result<u64, &str>| match expected {
            Ok(secs) => assert_eq!(parse_lease(text), Ok(Duration::from_secs(secs)), "{text}"),
            Err(part) => {
                let error = parse_lease(text).unwrap_err();
                assert!(error.contains(part), "{text}: {error}");
            }
        };
        check("15s", Ok(15));
        check("1m30s", Ok(90));
        check("PT2S", Ok(2));
        check("1s", Err("shorter than"));
        check("2.5s", Err("whole number"));
        check("-5s", Err("negative"));
        check("soon", Err("not a duration"));
    }
}
