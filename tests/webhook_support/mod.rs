//! A whole `imagelookup serve` per test binary (and per policy), reached over real TLS, plus
//! helpers to write streams through the API; [`review`] sends AdmissionReviews to `/mutate`.
//!
//! Each server runs on its own thread and runtime, so it outlives any one `#[tokio::test]`
//! runtime; tests share it and keep apart by using their own namespace.

// Each test binary uses only some of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::Parser;
use imagelookup::cli::serve::{serve_on, ServeArgs};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common;

mod review;

pub use review::*;

/// The integrated registry host every test server is configured with.
pub const REGISTRY: &str = "registry.local:5000";

/// Digests used as imported images.
pub const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
/// A second imported image.
pub const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
/// A third imported image.
pub const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// A running server.
pub struct Server {
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The admin bearer token (first column of `<data>/tokens.csv`).
    pub token: String,
    /// The generated CA, the only root the clients trust.
    pub ca_pem: Vec<u8>,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// `serve`'s flags, parsed the way the binary parses them.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// The server with OpenShift's default policy (`Attempt`, the 13 default rules).
pub fn default_server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::start("default", None))
}

/// A server whose global policy is `Required`: every unresolved reference is rejected.
pub fn required_server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    let policy =
        "apiVersion: image.openshift.io/v1\nkind: ImagePolicyConfig\nresolveImages: Required\n";
    SERVER.get_or_init(|| Server::start("required", Some(policy)))
}

/// A server whose policy adds an Argo Rollout and a Knative Service rule with their
/// `podSpecPath` to OpenShift's defaults (`tests/fixtures/policy-custom-resources.yaml`).
pub fn custom_resources_server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/policy-custom-resources.yaml"
    );
    let policy = std::fs::read_to_string(path).expect("the policy fixture");
    SERVER.get_or_init(|| Server::start("custom", Some(&policy)))
}

impl Server {
    /// Starts a server in a fresh data directory under the target's tmp dir, and waits until
    /// `/readyz` answers 200 over TLS.
    fn start(name: &str, policy: Option<&str>) -> Self {
        common::setup();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("webhook-tests");
        remove_dirs_of_ended_runs(&root);
        // One directory per process: test runners that run each test in its own process
        // (nextest) start one server per process.
        let data_dir = root.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).expect("create the data directory");
        let mut flags = vec![
            "serve".to_string(),
            "--data-dir".to_string(),
            data_dir.display().to_string(),
            "--registry-hostname".to_string(),
            REGISTRY.to_string(),
            // Tests stay on loopback: the streams name registries that must not be contacted.
            "--no-importer".to_string(),
        ];
        if let Some(policy) = policy {
            let path = data_dir.join("policy.yaml");
            std::fs::write(&path, policy).expect("write the policy");
            flags.extend(["--policy".to_string(), path.display().to_string()]);
        }
        let args = Cli::parse_from(flags).serve;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("server-{name}"))
            .spawn(move || run_server(args, sender))
            .expect("spawn the server thread");
        let base = receiver.recv().expect("the server started");
        let tokens = std::fs::read_to_string(data_dir.join("tokens.csv")).expect("tokens.csv");
        let token = tokens.split(',').next().unwrap_or_default().to_string();
        let ca_pem = std::fs::read(data_dir.join("tls").join("ca.crt")).expect("ca.crt");
        Self {
            base,
            token,
            ca_pem,
            data_dir,
        }
    }

    /// A client that trusts only this server's generated CA.
    pub fn client(&self) -> reqwest::Client {
        trusting(&self.ca_pem)
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Servers live in statics and are never dropped, so their directories are removed by a later
/// run instead: those named after a process that no longer exists.
fn remove_dirs_of_ended_runs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit_once('-').map_or("", |(_, pid)| pid);
        let ended = pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists();
        if ended && Path::new("/proc/self").exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A client trusting only `ca_pem`.
pub fn trusting(ca_pem: &[u8]) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem).expect("the CA parses");
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only([ca])
        .build()
        .expect("build the client")
}

/// Serves on 127.0.0.1:0 forever; sends the base URL once `/readyz` is 200.
fn run_server(args: ServeArgs, started: std::sync::mpsc::Sender<String>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the server runtime");
    runtime.block_on(async move {
        let (listener, addr) = common::bind_localhost().await;
        let data_dir = args.data_dir.clone();
        let server = tokio::spawn(serve_on(listener, args, std::future::pending()));
        let base = format!("https://{addr}");
        let ca_path = data_dir.join("tls").join("ca.crt");
        common::eventually("the server to be ready", || async {
            let ca = std::fs::read(&ca_path).ok()?;
            let response = trusting(&ca).get(format!("{base}/readyz")).send().await;
            (response.ok()?.status() == StatusCode::OK).then_some(())
        })
        .await;
        started.send(base).expect("the test waits for the server");
        let ended = server.await;
        panic!("the test server stopped: {ended:?}");
    });
}

/// The ImageStream API, as the admin.
pub struct Api<'a> {
    server: &'a Server,
    client: reqwest::Client,
    namespace: String,
}

impl<'a> Api<'a> {
    /// Talks to `server` about streams in `namespace`.
    pub fn new(server: &'a Server, namespace: &str) -> Self {
        Self {
            server,
            client: server.client(),
            namespace: namespace.to_string(),
        }
    }

    fn streams_url(&self) -> String {
        let namespace = &self.namespace;
        let path = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams");
        self.server.url(&path)
    }

    /// POSTs a stream with `lookupPolicy.local = local` and these spec tags; returns it.
    pub async fn create_stream(&self, name: &str, local: bool, tags: Value) -> Value {
        let body = json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": name},
            "spec": {"lookupPolicy": {"local": local}, "tags": tags},
        });
        let request = self.client.post(self.streams_url()).json(&body);
        self.send(request, StatusCode::CREATED).await
    }

    /// Writes `status.tags` through `/status` with a merge patch, as an import would:
    /// one `(tag, dockerImageReference, image)` event per tag.
    pub async fn import(&self, name: &str, events: &[(&str, &str, &str)]) -> Value {
        let tags: Vec<Value> = events
            .iter()
            .map(|(tag, reference, image)| {
                json!({"tag": tag, "items": [{
                    "created": "2026-01-01T00:00:00Z",
                    "dockerImageReference": reference,
                    "image": image,
                    "generation": 0,
                }]})
            })
            .collect();
        let url = format!("{}/{name}/status", self.streams_url());
        let request = self
            .client
            .patch(url)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"status": {"tags": tags}}).to_string());
        self.send(request, StatusCode::OK).await
    }

    /// Writes through `/status` the tag `tag` of stream `name` as a failed import leaves it: its
    /// earlier image `(reference, image)` and an `ImportSuccess=False` condition.
    pub async fn fail_import(&self, name: &str, tag: &str, reference: &str, image: &str) -> Value {
        let status = json!({"status": {"tags": [{"tag": tag,
            "items": [{"created": "2026-01-01T00:00:00Z", "dockerImageReference": reference,
                       "image": image, "generation": 1}],
            "conditions": [{"type": "ImportSuccess", "status": "False", "reason": "NotFound",
                            "message": "not found", "generation": 2,
                            "lastTransitionTime": "2026-01-02T00:00:00Z"}]}]}});
        let url = format!("{}/{name}/status", self.streams_url());
        let request = self
            .client
            .patch(url)
            .header("content-type", "application/merge-patch+json")
            .body(status.to_string());
        self.send(request, StatusCode::OK).await
    }

    /// DELETEs a stream.
    pub async fn delete_stream(&self, name: &str) -> Value {
        let url = format!("{}/{name}", self.streams_url());
        self.send(self.client.delete(url), StatusCode::OK).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, expected: StatusCode) -> Value {
        let response = request
            .bearer_auth(&self.server.token)
            .send()
            .await
            .expect("the API answers");
        let status = response.status();
        let body: Value = response.json().await.expect("the API answers JSON");
        assert_eq!(status, expected, "{body}");
        body
    }
}

/// A spec tag tracking `from` with `policy` (`Source` or `Local`).
pub fn tag(name: &str, from: &str, policy: &str) -> Value {
    json!({"name": name, "from": {"kind": "DockerImage", "name": from},
           "referencePolicy": {"type": policy}})
}
