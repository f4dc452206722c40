//! What the API tests share: an `imagelookup serve` started in-process on 127.0.0.1:0 with a
//! temporary data directory, raw HTTPS calls to it with the generated admin token, and the
//! project's real clients (kubectl and Python from `.venv`) pointed at its kubeconfig.
//!
//! Each test binary starts one shared server ([`Server::shared`]); tests isolate themselves by
//! namespace. Tests that restart a server start their own ([`Server::start`]).

// Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod clients;
pub mod http;
pub mod kubectl;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use imagelookup::cli::serve::{serve_on, ServeArgs};
use serde_json::Value;
use tokio::sync::oneshot;

/// How long any wait in these tests may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A running server and how to reach it.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory: store, certificates, tokens, kubeconfig.
    pub data_dir: PathBuf,
    /// The admin bearer token it generated.
    pub token: String,
    /// The CA that signed its serving certificate (PEM).
    pub ca_pem: Vec<u8>,
    runtime: tokio::runtime::Handle,
    client: reqwest::Client,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    _temp: Option<tempfile::TempDir>,
}

/// What a started server is configured with besides its data directory.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// `--authz-file`.
    pub authz_file: Option<PathBuf>,
}

impl Server {
    /// The server shared by every test of this binary, started on first use.
    pub fn shared() -> &'static Server {
        static SHARED: OnceLock<Server> = OnceLock::new();
        SHARED.get_or_init(|| {
            let temp = tempfile::tempdir().expect("create a temporary data directory");
            let mut server = Server::start(temp.path(), Options::default());
            server._temp = Some(temp);
            server
        })
    }

    /// Starts a server on `data_dir` (created or reused) in a runtime of its own, and waits
    /// until it is ready.
    pub fn start(data_dir: &Path, options: Options) -> Server {
        setup();
        let args = serve_args(data_dir, &options);
        let bind: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("build the server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(bind)
                    .await
                    .expect("bind the listen address");
                let addr = listener.local_addr().expect("listener address");
                ready_tx
                    .send((addr, tokio::runtime::Handle::current()))
                    .expect("report the address");
                let shutdown = async move {
                    let _ = shutdown_rx.await;
                };
                serve_on(listener, args, shutdown).await.expect("serve");
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        let (addr, runtime) = ready_rx.recv().expect("the server thread starts");
        let credentials = eventually("the server's credentials", || match &options.token_file {
            None => read_kubeconfig(data_dir, addr),
            Some(tokens) => read_token_file(data_dir, tokens),
        });
        let server = Server::connect(addr, data_dir, credentials, runtime, (shutdown_tx, thread));
        server.wait_until_ready();
        server
    }

    fn connect(
        addr: SocketAddr,
        data_dir: &Path,
        (ca_pem, token): (Vec<u8>, String),
        runtime: tokio::runtime::Handle,
        (shutdown, thread): (oneshot::Sender<()>, JoinHandle<()>),
    ) -> Server {
        Server {
            addr,
            data_dir: data_dir.to_path_buf(),
            client: http::client(&ca_pem),
            token,
            ca_pem,
            runtime,
            shutdown: Mutex::new(Some(shutdown)),
            thread: Mutex::new(Some(thread)),
            _temp: None,
        }
    }

    fn wait_until_ready(&self) {
        eventually("the server to be ready", || {
            (self.get("/readyz").no_token().send().status == 200).then_some(())
        });
    }

    /// Stops the server and waits until its store is closed.
    pub fn stop(self) {
        if let Some(shutdown) = self.shutdown.lock().unwrap().take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.lock().unwrap().take() {
            thread.join().expect("the server thread ends cleanly");
        }
    }

    /// `<data-dir>/kubeconfig`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Runs `future` on the server's runtime and waits for it (from sync or async tests).
    pub fn block_on<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv_timeout(PATIENCE * 2)
            .expect("a request to the test server finishes")
    }
}

/// Installs the rustls crypto provider and a test log writer (`RUST_LOG` filters), once.
pub fn setup() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        imagelookup::tls::install_crypto_provider();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

fn serve_args(data_dir: &Path, options: &Options) -> ServeArgs {
    ServeArgs {
        listen: "127.0.0.1:0".parse().expect("an address"),
        token_file: options.token_file.clone(),
        authz_file: options.authz_file.clone(),
        // No registry is reachable from these tests; the importer has tests of its own.
        no_importer: true,
        ..ServeArgs::defaults(data_dir)
    }
}

/// A server of its own where `admin-token` may do everything and `alice-token` may act in
/// namespace `team-a` only, under `alice_rule` (more YAML lines of her rule: `verbs: […]`, and
/// `resources: […]`); the directory lives as long as the server.
pub fn limited_server(alice_rule: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        "admin-token,admin,1,\"system:masters\"\nalice-token,alice,2,dev\n",
    )
    .unwrap();
    let policy = dir.path().join("policy.yaml");
    let rules = format!(
        "rules:\n- groups: [\"system:masters\"]\n  namespaces: [\"*\"]\n  verbs: [\"*\"]\n\
         - users: [alice]\n  namespaces: [team-a]\n{alice_rule}"
    );
    std::fs::write(&policy, rules).unwrap();
    let options = Options {
        token_file: Some(tokens),
        authz_file: Some(policy),
    };
    let server = Server::start(&dir.path().join("data"), options);
    (dir, server)
}

/// The CA and admin token of the kubeconfig written for `addr`, once it is there.
fn read_kubeconfig(data_dir: &Path, addr: SocketAddr) -> Option<(Vec<u8>, String)> {
    use base64::Engine;
    let text = std::fs::read_to_string(data_dir.join("kubeconfig")).ok()?;
    let config: Value = serde_norway::from_str(&text).ok()?;
    let cluster = &config["clusters"][0]["cluster"];
    if cluster["server"].as_str()? != format!("https://{addr}") {
        return None;
    }
    let ca = cluster["certificate-authority-data"].as_str()?;
    let ca = base64::engine::general_purpose::STANDARD.decode(ca).ok()?;
    let token = config["users"][0]["user"]["token"].as_str()?.to_string();
    Some((ca, token))
}

/// The generated CA and the first token of a `--token-file` (the tests put the admin first).
fn read_token_file(data_dir: &Path, tokens: &Path) -> Option<(Vec<u8>, String)> {
    let ca = std::fs::read(data_dir.join("tls").join(imagelookup::certs::CA_CERT_FILE)).ok()?;
    let tokens = std::fs::read_to_string(tokens).ok()?;
    let token = tokens.lines().next()?.split(',').next()?.to_string();
    Some((ca, token))
}

/// Polls `probe` every 20 ms until it yields `Some`, failing the test after [`PATIENCE`].
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An ImageStream manifest with one tag per `(name, from)`; `reference: true` tags get a
/// status entry without an importer.
pub fn stream(namespace: &str, name: &str, tags: &[(&str, &str)]) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .map(|(tag, from)| {
            serde_json::json!({"name": tag, "from": {"kind": "DockerImage", "name": from},
                               "reference": true})
        })
        .collect();
    serde_json::json!({
        "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tags": tags},
    })
}

/// The `imagestreams` collection path of a namespace.
pub fn streams_path(namespace: &str) -> String {
    format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams")
}

/// The path of one ImageStream, with an optional subresource.
pub fn stream_path(namespace: &str, name: &str) -> String {
    format!("{}/{name}", streams_path(namespace))
}
