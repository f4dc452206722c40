//! A whole `imagelookup serve` per test binary (and per policy), reached over real TLS, plus
//! helpers to write streams through the API and send AdmissionReviews to `/mutate`.
//!
//! Each server runs on its own thread and runtime, so it outlives any one `#[tokio::test]`
//! runtime; tests share it and keep apart by using their own namespace.

// Each test binary uses only some of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use clap::Parser;
use imagelookup::cli::serve::{serve_on, ServeArgs};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common;

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

impl Server {
    /// Starts a server in a fresh data directory under the target's tmp dir, and waits until
    /// `/readyz` answers 200 over TLS.
    fn start(name: &str, policy: Option<&str>) -> Self {
        common::setup();
        let data_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("webhook-tests")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).expect("create the data directory");
        let mut flags = vec![
            "serve".to_string(),
            "--data-dir".to_string(),
            data_dir.display().to_string(),
            "--registry-hostname".to_string(),
            REGISTRY.to_string(),
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

/// A client trusting only `ca_pem`.
pub fn trusting(ca_pem: &[u8]) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem).expect("the CA parses");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
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

/// What an AdmissionReview is about.
#[derive(Clone, Debug)]
pub struct Target {
    /// API group of kind and resource.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource.
    pub resource: &'static str,
    /// Subresource, if any.
    pub subresource: Option<&'static str>,
}

/// Core `v1` Pods.
pub const POD: Target = Target {
    group: "",
    version: "v1",
    kind: "Pod",
    resource: "pods",
    subresource: None,
};

/// `pods/ephemeralcontainers`, as `kubectl debug` writes it.
pub const EPHEMERAL: Target = Target {
    subresource: Some("ephemeralcontainers"),
    ..POD
};

/// `apps/v1` Deployments.
pub const DEPLOYMENT: Target = Target {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    resource: "deployments",
    subresource: None,
};

/// `apps/v1` StatefulSets.
pub const STATEFULSET: Target = Target {
    kind: "StatefulSet",
    resource: "statefulsets",
    ..DEPLOYMENT
};

/// `batch/v1` CronJobs.
pub const CRONJOB: Target = Target {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    resource: "cronjobs",
    subresource: None,
};

/// `batch/v1` Jobs.
pub const JOB: Target = Target {
    kind: "Job",
    resource: "jobs",
    ..CRONJOB
};

/// `build.openshift.io/v1` Builds.
pub const BUILD: Target = Target {
    group: "build.openshift.io",
    version: "v1",
    kind: "Build",
    resource: "builds",
    subresource: None,
};

/// One AdmissionReview request.
#[derive(Clone, Debug)]
pub struct Review {
    /// The request uid.
    pub uid: String,
    /// What is admitted.
    pub target: Target,
    /// `CREATE` or `UPDATE`.
    pub operation: &'static str,
    /// The object's namespace.
    pub namespace: String,
    /// The object.
    pub object: Value,
    /// The stored object, on UPDATE.
    pub old_object: Option<Value>,
    /// Whether it is a dry run.
    pub dry_run: bool,
}

impl Review {
    /// A CREATE of `object` in `namespace`.
    pub fn create(target: Target, namespace: &str, object: Value) -> Self {
        Self {
            uid: uuid::Uuid::new_v4().to_string(),
            target,
            operation: "CREATE",
            namespace: namespace.to_string(),
            object,
            old_object: None,
            dry_run: false,
        }
    }

    /// An UPDATE from `old` to `object`.
    pub fn update(target: Target, namespace: &str, old: Value, object: Value) -> Self {
        Self {
            operation: "UPDATE",
            old_object: Some(old),
            ..Self::create(target, namespace, object)
        }
    }

    /// The AdmissionReview body the kube-apiserver would send.
    pub fn body(&self) -> Value {
        let target = &self.target;
        let name = self.object["metadata"]["name"].clone();
        let mut request = json!({
            "uid": self.uid,
            "kind": {"group": target.group, "version": target.version, "kind": target.kind},
            "resource": {"group": target.group, "version": target.version, "resource": target.resource},
            "requestKind": {"group": target.group, "version": target.version, "kind": target.kind},
            "name": name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": self.object,
            "oldObject": self.old_object,
            "dryRun": self.dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        });
        if let Some(subresource) = target.subresource {
            request["subResource"] = json!(subresource);
        }
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    }
}

/// POSTs `review` to `/mutate`; checks the HTTP status is 200 and the uid is echoed, and
/// returns the AdmissionReview's `response`.
pub async fn admit(server: &Server, review: &Review) -> Value {
    let response = server
        .client()
        .post(server.url("/mutate"))
        .json(&review.body())
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("the webhook answers JSON");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["response"]["uid"], review.uid, "the uid is echoed");
    answer["response"].clone()
}

/// The decoded JSON Patch of a response, or `None` when it has none.
pub fn patch_of(response: &Value) -> Option<json_patch::Patch> {
    let encoded = response
        .get("patch")?
        .as_str()
        .expect("the patch is base64");
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("the patch is valid base64");
    Some(serde_json::from_slice(&bytes).expect("the patch is a JSON Patch"))
}

/// `object` with the response's patch applied (unchanged when there is none).
pub fn patched(object: &Value, response: &Value) -> Value {
    let mut object = object.clone();
    if let Some(patch) = patch_of(response) {
        json_patch::patch(&mut object, &patch).expect("the patch applies to the object");
    }
    object
}

/// A pod spec with one container per `(name, image)`.
pub fn pod_spec(containers: &[(&str, &str)]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, image)| json!({"name": name, "image": image, "resources": {}}))
        .collect();
    json!({"containers": containers, "restartPolicy": "Always"})
}

/// A Pod named `name` with these containers.
pub fn pod(name: &str, containers: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
           "spec": pod_spec(containers)})
}

/// `value` with the string at JSON `pointer` replaced by `text`.
pub fn with(value: &Value, pointer: &str, text: &str) -> Value {
    let mut value = value.clone();
    *value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} exists")) = json!(text);
    value
}
