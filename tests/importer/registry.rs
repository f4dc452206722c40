//! The test registries: the Debian `docker-registry` (distribution 2.8) on 127.0.0.1, open,
//! with htpasswd auth, with token auth (see `token_server`), or serving TLS with a certificate
//! of a private CA, started once per test binary, and pushes of small synthetic images.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use super::token_server::SERVICE;
use super::token_server::{Asked, TokenServer, ISSUER, USER};

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The media type of every pushed layer.
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// `user` / `s3cret`, bcrypt cost 4 (the registry's htpasswd accepts only bcrypt).
const HTPASSWD: &str = "user:$2b$04$qSk.6lUseA3AJwYq7AG.a.27a5pWHiK4cYhC/L2ODHm2DrcdUmFDC\n";

/// How a registry authenticates its clients.
enum Auth {
    /// It does not.
    Open,
    /// HTTP Basic, from an htpasswd file.
    Basic,
    /// Bearer tokens from a token server.
    Token(TokenServer),
    /// A client certificate its client CA signed (TLS only).
    MutualTls,
}

/// A running `docker-registry`; it stops, and its data goes, when this test binary exits.
pub struct Registry {
    addr: SocketAddr,
    auth: Auth,
    /// The private CA's PEM when the registry serves TLS.
    ca_pem: Option<String>,
    /// The client certificate it asks for (PEM certificate, PEM key), when it asks for one.
    client: Option<(String, String)>,
    /// The watchdog shell; it exits with this process, never before, so it is never waited on.
    _watchdog: std::process::Child,
}

pub fn open_registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| start_registry(Auth::Open, false))
}

pub fn protected_registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| start_registry(Auth::Basic, false))
}

/// A registry asking for bearer tokens from a [`TokenServer`] that knows the protected
/// registry's user.
pub fn token_registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| start_registry(Auth::Token(TokenServer::start()), false))
}

/// An open registry serving HTTPS with a certificate signed by a CA no system trusts.
pub fn private_ca_registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| start_registry(Auth::Open, true))
}

/// An open HTTPS registry (private CA) that takes only clients presenting a certificate its
/// own client CA signed: [`Registry::client_certificate`].
pub fn mutual_tls_registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| start_registry(Auth::MutualTls, true))
}

/// A client CA (PEM) and a client certificate and key (PEM) it signed.
fn client_pki() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "test client CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut client = CertificateParams::default();
    client
        .distinguished_name
        .push(DnType::CommonName, "imagelookup importer");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = client.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

/// Where a registry sends its push notifications: distribution's `notifications.endpoints`.
pub struct Notify<'a> {
    /// The endpoint's URL.
    pub url: &'a str,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: &'a str,
    /// The CA the endpoint's certificate is checked against (`SSL_CERT_FILE`).
    pub ca_file: &'a Path,
}

/// An open registry (plain HTTP) that notifies `notify` of every push; one per call, since
/// each has its own endpoint.
pub fn notifying_registry(notify: &Notify<'_>) -> Registry {
    start_registry_notifying(Auth::Open, false, Some(notify))
}

fn start_registry(auth: Auth, with_tls: bool) -> Registry {
    start_registry_notifying(auth, with_tls, None)
}

fn start_registry_notifying(auth: Auth, with_tls: bool, notify: Option<&Notify<'_>>) -> Registry {
    assert!(
        Path::new(REGISTRY_BINARY).exists(),
        "{REGISTRY_BINARY} is missing: run make test-deps"
    );
    // Started again on another port when the one picked was taken meanwhile: a port from
    // `free_port` is free only when picked, and the other tests of the binary bind ports.
    let mut attempt = 0;
    loop {
        match try_start(&auth, with_tls, notify, attempt) {
            Ok((addr, ca_pem, client, watchdog)) => {
                return Registry {
                    addr,
                    auth,
                    ca_pem,
                    client,
                    _watchdog: watchdog,
                }
            }
            Err(log) if attempt < 4 && log.contains("address already in use") => attempt += 1,
            Err(log) => panic!("docker-registry did not answer: {log}"),
        }
    }
}

/// What a started registry is: its address, its CA's PEM (TLS), the client certificate and
/// key it asks for (mutual TLS), and its watchdog shell.
type Started = (
    SocketAddr,
    Option<String>,
    Option<(String, String)>,
    std::process::Child,
);

/// One start on a free port; the registry's log when it did not come up.
fn try_start(
    auth: &Auth,
    with_tls: bool,
    notify: Option<&Notify<'_>>,
    attempt: usize,
) -> Result<Started, String> {
    let addr = free_port();
    let kind = match (auth, with_tls) {
        (_, _) if notify.is_some() => format!("notify-{}", addr.port()),
        (Auth::Basic, _) => "auth".to_string(),
        (Auth::Token(_), _) => "token".to_string(),
        (Auth::MutualTls, _) => "mtls".to_string(),
        (Auth::Open, true) => "tls".to_string(),
        (Auth::Open, false) => "open".to_string(),
    };
    let dir = std::env::temp_dir().join(format!(
        "imagelookup-registry-{}-{kind}-{attempt}",
        std::process::id(),
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = with_tls.then(|| {
        let sans = [addr.ip().to_string()];
        imagelookup::certs::generate(&sans, std::time::SystemTime::now()).unwrap()
    });
    let client = matches!(auth, Auth::MutualTls).then(client_pki);
    let config = registry_config(&dir, addr, auth, tls.as_ref());
    if let Some((client_ca, _, _)) = &client {
        let path = dir.join("client-ca.pem");
        std::fs::write(&path, client_ca).unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replacen(
            "  tls:\n",
            &format!("  tls:\n    clientcas:\n      - {}\n", path.display()),
            1,
        );
        std::fs::write(&config, text).unwrap();
    }
    if let Some(notify) = notify {
        let endpoint = format!(
            "notifications:\n  endpoints:\n    - name: imagelookup\n      url: {}\n      \
             headers:\n        Authorization: [\"Bearer {}\"]\n      timeout: 2s\n      \
             threshold: 3\n      backoff: 500ms\n",
            notify.url, notify.token
        );
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&endpoint);
        std::fs::write(&config, text).unwrap();
    }
    // The shell outlives no one: it stops the registry and removes its data as soon as this
    // test process is gone (statics are never dropped, so no Drop could do it). A registry
    // that exits by itself (its port was taken) leaves its directory, and its log, to the test.
    let watchdog = r#"docker-registry serve "$1" >"$3/log" 2>&1 & registry=$!
        while kill -0 "$2" 2>/dev/null && kill -0 "$registry" 2>/dev/null; do sleep 0.2; done
        if kill -0 "$2" 2>/dev/null; then exit 0; fi
        kill "$registry" 2>/dev/null; wait; rm -rf "$3""#;
    let mut watchdog_command = Command::new("sh");
    watchdog_command
        .args(["-c", watchdog, "sh"])
        .arg(&config)
        .arg(std::process::id().to_string())
        .arg(&dir)
        .stdin(Stdio::null());
    if let Some(notify) = notify {
        // Go's TLS reads the CAs to trust from here; the registry has no setting for them.
        watchdog_command.env("SSL_CERT_FILE", notify.ca_file);
    }
    let mut watchdog = watchdog_command.spawn().expect("start docker-registry");
    let ca_pem = tls.map(|bundle| bundle.ca_cert_pem);
    let client = client.map(|(_, cert, key)| (cert, key));
    let scheme = if ca_pem.is_some() { "https" } else { "http" };
    let http = || registry_client(ca_pem.as_deref(), client.as_ref());
    let deadline = std::time::Instant::now() + crate::common::PATIENCE;
    loop {
        if answers_as_registry(http, &format!("{scheme}://{addr}/v2/")) {
            return Ok((addr, ca_pem, client, watchdog));
        }
        // Exited by itself: its directory is left to us. Still running past the patience: the
        // watchdog stops it, and removes its directory, when this process exits.
        let exited = watchdog.try_wait().unwrap().is_some();
        if exited || std::time::Instant::now() >= deadline {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            if exited {
                let _ = std::fs::remove_dir_all(&dir);
            }
            return Err(format!("on {addr}: {log}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `GET url` (a registry's `/v2/`) with `client` is answered by a registry:
/// distribution says its API version in a header whether it serves the request or asks for
/// credentials, so another process that took the port does not pass.
fn answers_as_registry(client: impl FnOnce() -> reqwest::Client + Send, url: &str) -> bool {
    // Own thread and runtime: registries are started from sync code and from async tests.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let get = async {
                    client()
                        .get(url)
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await
                };
                let response = runtime.block_on(get).ok();
                response.is_some_and(|response| {
                    let version = response.headers().get("docker-distribution-api-version");
                    version.is_some_and(|version| version == "registry/2.0")
                })
            })
            .join()
            .unwrap()
    })
}

/// A client trusting `ca_pem` (when the registry serves TLS) and presenting `client` (a PEM
/// certificate and key, when it asks for one).
fn registry_client(ca_pem: Option<&str>, client: Option<&(String, String)>) -> reqwest::Client {
    crate::common::setup();
    let builder = reqwest::Client::builder().tls_backend_rustls();
    let builder = match ca_pem {
        Some(pem) => {
            builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        }
        None => builder,
    };
    let builder = match client {
        Some((cert, key)) => {
            let pem = format!("{cert}\n{key}");
            builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap())
        }
        None => builder,
    };
    builder.build().unwrap()
}

fn registry_config(
    dir: &Path,
    addr: SocketAddr,
    auth: &Auth,
    tls: Option<&imagelookup::certs::CertBundle>,
) -> PathBuf {
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n",
        dir.join("data").display()
    );
    if let Some(bundle) = tls {
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&cert, &bundle.cert_pem).unwrap();
        std::fs::write(&key, &bundle.key_pem).unwrap();
        config.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        ));
    }
    match auth {
        Auth::Open | Auth::MutualTls => {}
        Auth::Basic => {
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, HTPASSWD).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        Auth::Token(server) => {
            let bundle = dir.join("token-signer.pem");
            std::fs::write(&bundle, &server.signer.certificate_pem).unwrap();
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
                 rootcertbundle: {}\n",
                server.realm,
                bundle.display()
            ));
        }
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, config).unwrap();
    path
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// What one push stored.
pub struct Pushed {
    pub digest: String,
    pub config: String,
    pub layer: String,
    pub layer_size: usize,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

impl Registry {
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The private CA's certificate, when the registry serves TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The client certificate and key (PEM) the registry takes, when it asks for one.
    pub fn client_certificate(&self) -> Option<(&str, &str)> {
        self.client
            .as_ref()
            .map(|(cert, key)| (cert.as_str(), key.as_str()))
    }

    fn base(&self) -> String {
        match self.ca_pem {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    fn http(&self) -> reqwest::Client {
        registry_client(self.ca_pem.as_deref(), self.client.as_ref())
    }

    /// What the registry's token server was asked (nothing for other registries).
    pub fn token_requests(&self) -> Vec<Asked> {
        match &self.auth {
            Auth::Token(server) => server.asked(),
            _ => Vec::new(),
        }
    }

    /// `request` to `repo` with the credentials this registry asks for, allowed to push.
    fn authorize(&self, request: reqwest::RequestBuilder, repo: &str) -> reqwest::RequestBuilder {
        match &self.auth {
            // The client certificate is the connection's, not the request's.
            Auth::Open | Auth::MutualTls => request,
            Auth::Basic => request.basic_auth(USER.0, Some(USER.1)),
            Auth::Token(server) => {
                request.bearer_auth(server.signer.token(repo, &["pull", "push", "delete"]))
            }
        }
    }

    async fn push_blob(&self, repo: &str, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base());
        let response = self
            .authorize(self.http().post(start), repo)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "start upload");
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let location = match location.starts_with("http") {
            true => location,
            false => format!("{}{location}", self.base()),
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = self
            .http()
            .put(format!("{location}{separator}digest={digest}"))
            .body(bytes);
        let response = self.authorize(put, repo).send().await.unwrap();
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
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base());
        let put = self
            .http()
            .put(url)
            .header("content-type", media_type)
            .body(bytes.clone());
        let response = self.authorize(put, repo).send().await.unwrap();
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
    pub async fn push_image(&self, repo: &str, reference: &str, arch: &str) -> Pushed {
        self.push_image_tags(repo, &[reference], arch).await
    }

    /// One image (as [`Registry::push_image`] makes) under each of `tags`: its blobs once,
    /// its manifest once per tag, so that many tags are pushed quickly.
    pub async fn push_image_tags(&self, repo: &str, tags: &[&str], arch: &str) -> Pushed {
        let layer_bytes: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
        self.push_image_of(repo, tags, arch, layer_bytes).await
    }

    /// One image (as [`Registry::push_image`] makes) under `tag` in each of `repos`: one
    /// digest in several repositories.
    pub async fn push_image_to_each(&self, repos: &[&str], tag: &str, arch: &str) -> Pushed {
        let layer_bytes: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
        let mut pushed = None;
        for repo in repos {
            pushed = Some(
                self.push_image_of(repo, &[tag], arch, layer_bytes.clone())
                    .await,
            );
        }
        pushed.expect("at least one repository")
    }

    /// The image of one layer of `layer_bytes` under each of `tags`.
    async fn push_image_of(
        &self,
        repo: &str,
        tags: &[&str],
        arch: &str,
        layer_bytes: Vec<u8>,
    ) -> Pushed {
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
        let mut digest = String::new();
        for tag in tags {
            digest = self.push_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        }
        Pushed {
            digest,
            config,
            layer,
            layer_size,
        }
    }

    /// Deletes the manifest `digest` from `repo` (an index listing it then has a missing child).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) {
        let url = format!("{}/v2/{repo}/manifests/{digest}", self.base());
        let response = self
            .authorize(self.http().delete(url), repo)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "delete manifest");
    }

    /// A two-platform OCI index (arm64 first, then amd64) tagged `tag`.
    pub async fn push_index(&self, repo: &str, tag: &str) -> (String, Pushed, Pushed) {
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
