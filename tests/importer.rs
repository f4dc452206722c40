//! The tag importer against a real registry: the Debian `docker-registry` (distribution 2.8),
//! started once for this test binary on 127.0.0.1, with synthetic images pushed over plain
//! HTTP. A second instance with htpasswd auth checks pull secrets.
//!
//! Each test uses its own repositories and namespaces, so they share the registries safely.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use imagelookup::api::ImageStream;
use imagelookup::importer::{self, ImporterConfig};
use imagelookup::resolve::Index;
use imagelookup::store::{self, object_key, EmbeddedOptions, EmbeddedStore, Store};
use imagelookup::strategy;
use jiff::Timestamp;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::eventually;

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// `user` / `s3cret`, bcrypt cost 4 (the registry's htpasswd accepts only bcrypt).
const HTPASSWD: &str = "user:$2b$04$qSk.6lUseA3AJwYq7AG.a.27a5pWHiK4cYhC/L2ODHm2DrcdUmFDC\n";

// === registries ===

/// A running `docker-registry`; it stops, and its data goes, when this test binary exits.
struct Registry {
    addr: SocketAddr,
    basic_auth: Option<(&'static str, &'static str)>,
    /// The watchdog shell; it exits with this process, never before, so it is never waited on.
    _watchdog: std::process::Child,
}

fn open_registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| start_registry(false))
}

fn protected_registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| start_registry(true))
}

fn start_registry(with_auth: bool) -> Registry {
    assert!(
        Path::new(REGISTRY_BINARY).exists(),
        "{REGISTRY_BINARY} is missing: run make test-deps"
    );
    let dir = std::env::temp_dir().join(format!(
        "imagelookup-registry-{}-{}",
        std::process::id(),
        if with_auth { "auth" } else { "open" }
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let addr = free_port();
    let config = registry_config(&dir, addr, with_auth);
    // The shell outlives no one: it stops the registry and removes its data as soon as this
    // test process is gone (statics are never dropped, so no Drop could do it).
    let watchdog = r#"docker-registry serve "$1" >"$3/log" 2>&1 & registry=$!
        while kill -0 "$2" 2>/dev/null && kill -0 "$registry" 2>/dev/null; do sleep 0.2; done
        kill "$registry" 2>/dev/null; wait; rm -rf "$3""#;
    let watchdog = Command::new("sh")
        .args(["-c", watchdog, "sh"])
        .arg(&config)
        .arg(std::process::id().to_string())
        .arg(&dir)
        .stdin(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    wait_for_port(addr, &dir);
    Registry {
        addr,
        basic_auth: with_auth.then_some(("user", "s3cret")),
        _watchdog: watchdog,
    }
}

fn registry_config(dir: &Path, addr: SocketAddr, with_auth: bool) -> PathBuf {
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: {addr}\n",
        dir.join("data").display()
    );
    if with_auth {
        let htpasswd = dir.join("htpasswd");
        std::fs::write(&htpasswd, HTPASSWD).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            htpasswd.display()
        ));
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, config).unwrap();
    path
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn wait_for_port(addr: SocketAddr, dir: &Path) {
    for _ in 0..250 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    panic!("docker-registry did not listen on {addr}: {log}");
}

// === pushing synthetic images ===

/// What one push stored.
struct Pushed {
    digest: String,
    config: String,
    layer: String,
    layer_size: usize,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn http() -> reqwest::Client {
    common::setup();
    reqwest::Client::new()
}

impl Registry {
    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.basic_auth {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    async fn push_blob(&self, repo: &str, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        let start = format!("http://{}/v2/{repo}/blobs/uploads/", self.addr);
        let response = self.authorize(http().post(start)).send().await.unwrap();
        assert_eq!(response.status(), 202, "start upload");
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let location = match location.starts_with("http") {
            true => location,
            false => format!("http://{}{location}", self.addr),
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = http()
            .put(format!("{location}{separator}digest={digest}"))
            .body(bytes);
        let response = self.authorize(put).send().await.unwrap();
        assert_eq!(response.status(), 201, "finish upload");
        digest
    }

    async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
    ) -> String {
        let bytes = serde_json::to_vec(body).unwrap();
        let url = format!("http://{}/v2/{repo}/manifests/{reference}", self.addr);
        let put = http()
            .put(url)
            .header("content-type", media_type)
            .body(bytes.clone());
        let response = self.authorize(put).send().await.unwrap();
        let status = response.status();
        assert_eq!(
            status,
            201,
            "push manifest: {}",
            response.text().await.unwrap()
        );
        sha256(&bytes)
    }

    /// A one-layer OCI image with random content, tagged `reference`.
    async fn push_image(&self, repo: &str, reference: &str, arch: &str) -> Pushed {
        let layer_bytes: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
        let layer_size = layer_bytes.len();
        let layer = self.push_blob(repo, layer_bytes).await;
        let config_body = json!({"architecture": arch, "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": [layer]}});
        let config_bytes = serde_json::to_vec(&config_body).unwrap();
        let config_size = config_bytes.len();
        let config = self.push_blob(repo, config_bytes).await;
        let manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG_TYPE, "digest": config, "size": config_size},
            "layers": [{"mediaType": LAYER_TYPE, "digest": layer, "size": layer_size}],
        });
        let digest = self
            .push_manifest(repo, reference, OCI_MANIFEST, &manifest)
            .await;
        Pushed {
            digest,
            config,
            layer,
            layer_size,
        }
    }

    /// A two-platform OCI index (arm64 first, then amd64) tagged `tag`.
    async fn push_index(&self, repo: &str, tag: &str) -> (String, Pushed, Pushed) {
        let arm = self.push_image(repo, "arm64-child", "arm64").await;
        let amd = self.push_image(repo, "amd64-child", "amd64").await;
        let entry = |pushed: &Pushed, arch: &str| {
            json!({"mediaType": OCI_MANIFEST, "digest": pushed.digest, "size": 1,
                   "platform": {"architecture": arch, "os": "linux"}})
        };
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")]});
        let digest = self.push_manifest(repo, tag, OCI_INDEX, &index).await;
        (digest, arm, amd)
    }
}

// === the importer over an in-memory store ===

struct Fixture {
    store: Arc<dyn Store>,
    _importer: tokio::task::JoinHandle<()>,
}

fn fixture(interval: Duration) -> Fixture {
    common::setup();
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap());
    let config = ImporterConfig {
        interval,
        registry_timeout: Duration::from_secs(5),
        ..ImporterConfig::default()
    };
    let importer = importer::spawn(store.clone(), None, config);
    Fixture {
        store,
        _importer: importer,
    }
}

/// A DockerImage spec tag `name` from `from`, insecure.
fn tag(name: &str, from: &str) -> Value {
    json!({"name": name, "from": {"kind": "DockerImage", "name": from},
           "importPolicy": {"insecure": true}})
}

fn with_rules<T>(rule: impl FnOnce(&strategy::Context<'_>) -> T) -> T {
    let config = strategy::Config::default();
    let index = Index::default();
    let allow = |_: &str, _: &str| true;
    rule(&strategy::Context {
        config: &config,
        now: Timestamp::now(),
        streams: &index,
        authorize: &allow,
    })
}

impl Fixture {
    /// Creates a stream as the API would (generation 1, tags at generation 1).
    async fn create_stream(&self, namespace: &str, name: &str, tags: Vec<Value>) {
        let mut stream: ImageStream = serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": name}, "spec": {"tags": tags}
        }))
        .unwrap();
        with_rules(|ctx| strategy::prepare_for_create(&mut stream, ctx)).unwrap();
        let key = object_key("imagestreams", Some(namespace), name);
        self.store
            .create(&key, serde_json::to_value(&stream).unwrap())
            .await
            .unwrap();
    }

    /// Applies `change` to the spec as a PUT would, retrying when the importer wrote first.
    async fn update_spec(&self, namespace: &str, name: &str, change: impl Fn(&mut ImageStream)) {
        let key = object_key("imagestreams", Some(namespace), name);
        loop {
            let stored = self.store.get(&key).await.unwrap();
            let old: ImageStream = serde_json::from_value((*stored.value).clone()).unwrap();
            let mut next = old.clone();
            change(&mut next);
            with_rules(|ctx| strategy::prepare_for_update(&mut next, &old, ctx)).unwrap();
            let value = serde_json::to_value(&next).unwrap();
            match self.store.update(&key, value, Some(stored.revision)).await {
                Err(store::Error::Conflict { .. }) => continue,
                result => {
                    result.unwrap();
                    return;
                }
            }
        }
    }

    async fn stream(&self, namespace: &str, name: &str) -> ImageStream {
        let key = object_key("imagestreams", Some(namespace), name);
        serde_json::from_value((*self.store.get(&key).await.unwrap().value).clone()).unwrap()
    }

    /// Waits until `probe` finds what it wants in the stream.
    async fn until<T>(
        &self,
        what: &str,
        namespace: &str,
        name: &str,
        probe: impl Fn(&ImageStream) -> Option<T>,
    ) -> T {
        eventually(what, || async {
            probe(&self.stream(namespace, name).await)
        })
        .await
    }

    async fn image(&self, digest: &str) -> Value {
        let key = object_key("images", None, digest);
        (*self.store.get(&key).await.unwrap().value).clone()
    }
}

/// `(dockerImageReference, image, generation)` of the newest event of `tag`.
fn newest(stream: &ImageStream, tag: &str) -> Option<(String, String, i64)> {
    let event = stream.latest_event(tag)?;
    Some((
        event.docker_image_reference.clone(),
        event.image.clone(),
        event.generation,
    ))
}

// === tests ===

#[tokio::test]
async fn an_imported_tag_records_the_digest_and_stores_its_image() {
    let registry = open_registry();
    let pushed = registry.push_image("demo/app", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/app:v1", registry.host());
    f.create_stream("basic", "app", vec![tag("v1", &from)])
        .await;

    let event = f
        .until("the imported tag", "basic", "app", |s| newest(s, "v1"))
        .await;
    let pinned = format!("{}/demo/app@{}", registry.host(), pushed.digest);
    assert_eq!(event, (pinned.clone(), pushed.digest.clone(), 1));

    let image = f.image(&pushed.digest).await;
    assert_eq!(image["dockerImageReference"], pinned);
    assert_eq!(image["dockerImageManifestMediaType"], OCI_MANIFEST);
    assert_eq!(image["dockerImageMetadata"]["Id"], pushed.config);
    assert_eq!(
        image["dockerImageLayers"],
        json!([{"name": pushed.layer, "size": pushed.layer_size, "mediaType": LAYER_TYPE}])
    );
    let stream = f.stream("basic", "app").await;
    assert_eq!(
        stream.metadata.generation,
        Some(1),
        "a status write keeps the generation"
    );
}

#[tokio::test]
async fn indexes_import_one_platform_in_legacy_mode_and_the_index_otherwise() {
    let registry = open_registry();
    let (index, _arm, amd) = registry.push_index("demo/multi", "v1").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/multi:v1", registry.host());
    let mut preserve = tag("original", &from);
    preserve["importPolicy"]["importMode"] = json!("PreserveOriginal");
    f.create_stream("multi", "app", vec![tag("legacy", &from), preserve])
        .await;

    let images = f
        .until("both tags", "multi", "app", |s| {
            Some((newest(s, "legacy")?.1, newest(s, "original")?.1))
        })
        .await;
    assert_eq!(
        images,
        (amd.digest.clone(), index.clone()),
        "legacy: the amd64 child"
    );
    let index_image = f.image(&index).await;
    assert_eq!(index_image["dockerImageManifestMediaType"], OCI_INDEX);
    let children: Vec<(&str, &str)> = index_image["dockerImageManifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["architecture"].as_str().unwrap(),
                m["os"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(children, [("arm64", "linux"), ("amd64", "linux")]);
    let child = f.image(&amd.digest).await;
    assert_eq!(child["dockerImageLayers"][0]["name"], amd.layer);
}

#[tokio::test]
async fn failed_imports_set_import_success_false_with_a_message() {
    let registry = open_registry();
    let f = fixture(importer::DEFAULT_INTERVAL);
    let missing = format!("{}/demo/missing:nope", registry.host());
    let mut secure = tag("secure", &format!("{}/demo/app:v1", registry.host()));
    secure["importPolicy"]["insecure"] = json!(false);
    f.create_stream("failing", "app", vec![tag("missing", &missing), secure])
        .await;

    let conditions = f
        .until("both conditions", "failing", "app", |s| {
            let condition = |tag: &str| s.status_tag(tag)?.conditions.first().cloned();
            Some((condition("missing")?, condition("secure")?))
        })
        .await;
    let (missing_condition, secure_condition) = conditions;
    assert_eq!(
        (
            missing_condition.type_.as_str(),
            missing_condition.status.as_str()
        ),
        ("ImportSuccess", "False")
    );
    assert_eq!(missing_condition.reason, "NotFound");
    assert_eq!(
        missing_condition.message,
        format!("dockerimage.image.openshift.io \"{missing}\" not found")
    );
    assert_eq!(missing_condition.generation, 1);
    assert_eq!(
        secure_condition.reason, "InternalError",
        "HTTPS to a plain HTTP registry"
    );
    let stream = f.stream("failing", "app").await;
    assert!(stream.status_tag("missing").unwrap().items.is_empty());
}

#[tokio::test]
async fn retagging_and_resetting_the_tag_generation_reimports() {
    let registry = open_registry();
    let first = registry.push_image("demo/retag", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/retag:v1", registry.host());
    f.create_stream("retag", "app", vec![tag("v1", &from)])
        .await;
    f.until("the first import", "retag", "app", |s| newest(s, "v1"))
        .await;

    let second = registry.push_image("demo/retag", "v1", "amd64").await;
    f.update_spec("retag", "app", |s| s.spec.tags[0].generation = Some(0))
        .await;
    let history = f
        .until("the re-import", "retag", "app", |s| {
            let items = &s.status_tag("v1")?.items;
            (items.len() == 2).then(|| {
                items
                    .iter()
                    .map(|e| (e.image.clone(), e.generation))
                    .collect::<Vec<_>>()
            })
        })
        .await;
    assert_eq!(history, [(second.digest, 2), (first.digest, 1)]);
}

#[tokio::test]
async fn scheduled_tags_reimport_after_the_interval_without_a_spec_change() {
    let registry = open_registry();
    let first = registry.push_image("demo/scheduled", "v1", "amd64").await;
    let f = fixture(Duration::from_secs(1));
    let mut scheduled = tag("v1", &format!("{}/demo/scheduled:v1", registry.host()));
    scheduled["importPolicy"]["scheduled"] = json!(true);
    f.create_stream("scheduled", "app", vec![scheduled]).await;
    let event = f
        .until("the first import", "scheduled", "app", |s| newest(s, "v1"))
        .await;
    assert_eq!(event.1, first.digest);

    let second = registry.push_image("demo/scheduled", "v1", "amd64").await;
    let event = f
        .until("the scheduled re-import", "scheduled", "app", |s| {
            newest(s, "v1").filter(|(_, image, _)| *image == second.digest)
        })
        .await;
    assert_eq!(event.2, 1, "same tag generation: nothing in the spec moved");
    let stream = f.stream("scheduled", "app").await;
    assert_eq!(stream.metadata.generation, Some(1));
    assert_eq!(stream.status_tag("v1").unwrap().items.len(), 2);
}

#[tokio::test]
async fn pull_secrets_of_the_namespace_authenticate_to_the_registry() {
    let registry = protected_registry();
    let pushed = registry.push_image("demo/private", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/private:v1", registry.host());
    let config = json!({"auths": {registry.host(): {"auth": base64::engine::general_purpose::STANDARD.encode("user:s3cret")}}});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"namespace": "with-secret", "name": "pull"},
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config.to_string())},
    });
    f.store
        .create("secrets/with-secret/pull", secret)
        .await
        .unwrap();
    f.create_stream("with-secret", "app", vec![tag("v1", &from)])
        .await;
    f.create_stream("without-secret", "app", vec![tag("v1", &from)])
        .await;

    let event = f
        .until("the authenticated import", "with-secret", "app", |s| {
            newest(s, "v1")
        })
        .await;
    assert_eq!(event.1, pushed.digest);
    let refused = f
        .until("the refusal", "without-secret", "app", |s| {
            s.status_tag("v1")?.conditions.first().cloned()
        })
        .await;
    assert_eq!(refused.reason, "Unauthorized");
    assert_eq!(
        refused.message,
        format!("you may not have access to the container image \"{from}\"")
    );
}

/// The whole server: the importer started by `serve_on`, the stream created and `/layers`
/// read through the HTTPS API.
#[tokio::test]
async fn the_server_imports_tags_and_serves_their_layers() {
    common::setup();
    let registry = open_registry();
    let pushed = registry.push_image("demo/served", "v1", "amd64").await;
    let dir = common::temp_dir();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "t0ken,admin,admin,\"system:masters\"\n").unwrap();
    let args = serve_args(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--store",
        "memory:",
        "--token-file",
        tokens.to_str().unwrap(),
    ]);
    let (listener, addr) = common::bind_localhost().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(imagelookup::cli::serve::serve_on(
        listener,
        args,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let base = format!("https://{addr}/apis/image.openshift.io/v1/namespaces/served/imagestreams");
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                      "metadata": {"name": "app"},
                      "spec": {"tags": [tag("v1", &format!("{}/demo/served:v1", registry.host()))]}});
    eventually("the stream is created", || async {
        let response = client
            .post(&base)
            .bearer_auth("t0ken")
            .json(&body)
            .send()
            .await
            .ok()?;
        (response.status() == 201).then_some(())
    })
    .await;

    let get = |path: String| {
        let request = client.get(format!("{base}/app{path}")).bearer_auth("t0ken");
        async move { request.send().await.ok()?.json::<Value>().await.ok() }
    };
    let image = eventually("the imported tag", || async {
        let stream = get(String::new()).await?;
        stream["status"]["tags"][0]["items"][0]["image"]
            .as_str()
            .map(String::from)
    })
    .await;
    assert_eq!(image, pushed.digest);
    let layers = get("/layers".into()).await.unwrap();
    assert_eq!(
        layers["images"][&pushed.digest]["layers"],
        json!([pushed.layer])
    );
    assert_eq!(layers["blobs"][&pushed.layer]["size"], pushed.layer_size);
    assert_eq!(layers["images"][&pushed.digest]["config"], pushed.config);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    serve: imagelookup::cli::serve::ServeArgs,
}

fn parse_serve_args(args: &[&str]) -> Result<imagelookup::cli::serve::ServeArgs, clap::Error> {
    let argv = std::iter::once("imagelookup").chain(args.iter().copied());
    <Cli as clap::Parser>::try_parse_from(argv).map(|cli| cli.serve)
}

fn serve_args(args: &[&str]) -> imagelookup::cli::serve::ServeArgs {
    parse_serve_args(args).unwrap()
}

#[test]
fn the_interval_flag_has_a_floor_of_a_minute() {
    let defaults = serve_args(&[]);
    assert_eq!(
        (defaults.import_interval, defaults.no_importer),
        (900, false)
    );
    let set = serve_args(&["--import-interval", "60", "--no-importer"]);
    assert_eq!((set.import_interval, set.no_importer), (60, true));
    assert!(parse_serve_args(&["--import-interval", "59"]).is_err());
}
