//! The importer behind an egress proxy, as platform teams run it: the built binary with
//! `HTTPS_PROXY` and `HTTP_PROXY` in its environment reaches registries and the cluster it
//! reads pull secrets from through a real tinyproxy on 127.0.0.1: the private-CA registry and
//! the cluster through CONNECT tunnels (certificates verified end to end), a plain-HTTP
//! registry with absolute-URI requests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use base64::Engine as _;

use super::common::process::spawn_serve;
use super::common::serving::InProcess;
use super::common::{self, eventually_or, PATIENCE};
use super::registry::{private_ca_registry, protected_registry};

const TINYPROXY: &str = "/usr/bin/tinyproxy";

/// A child process, killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// tinyproxy on a free port of 127.0.0.1, logging each request to `dir/tinyproxy.log`.
/// Started again on another port when the one picked was taken meanwhile: a port free when
/// picked may be bound by another test before tinyproxy binds it.
fn start_tinyproxy(dir: &Path) -> (Killed, String, PathBuf) {
    assert!(
        Path::new(TINYPROXY).exists(),
        "{TINYPROXY} is missing: run make test-deps"
    );
    let mut attempt = 0;
    loop {
        match try_start_tinyproxy(dir) {
            Ok(started) => return started,
            // What tinyproxy says (and only says) when it cannot bind its port.
            Err(output) if attempt < 4 && output.contains("Could not create listening sockets") => {
                attempt += 1
            }
            Err(output) => panic!("tinyproxy did not answer: {output}"),
        }
    }
}

/// One start of [`start_tinyproxy`]; what tinyproxy printed when it did not come up.
fn try_start_tinyproxy(dir: &Path) -> Result<(Killed, String, PathBuf), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("tinyproxy.log");
    let config = dir.join("tinyproxy.conf");
    // Its error pages name this directory, so that it is told apart from any other server
    // (another tinyproxy) on the port.
    let marker = format!("imagelookup test proxy in {}", dir.display());
    let error_page = dir.join("error.html");
    std::fs::write(&error_page, format!("<p>{marker}</p>\n")).unwrap();
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\n\
             MaxClients 20\nAllow 127.0.0.1\nDefaultErrorFile \"{}\"\n",
            log.display(),
            error_page.display()
        ),
    )
    .unwrap();
    let output = dir.join("tinyproxy.out");
    let child = Command::new(TINYPROXY)
        .arg("-d")
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&output).unwrap())
        .spawn()
        .expect("start tinyproxy");
    let mut proxy = Killed(child);
    let deadline = Instant::now() + PATIENCE;
    while !answers_as_tinyproxy(port, &marker) {
        let exited = proxy.0.try_wait().unwrap();
        if exited.is_some() || Instant::now() >= deadline {
            let printed = std::fs::read_to_string(&output).unwrap_or_default();
            return Err(format!("on port {port}, {exited:?}: {printed}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((proxy, format!("http://127.0.0.1:{port}"), log))
}

/// Whether the server on `port` is the tinyproxy whose error pages hold `marker`: a request
/// for the proxy itself is one of its errors.
fn answers_as_tinyproxy(port: u16, marker: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut answer = String::new();
    let answered = stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok()
        && stream.read_to_string(&mut answer).is_ok();
    answered && answer.contains("\r\nServer: tinyproxy/") && answer.contains(marker)
}

/// A Kubernetes "cluster" (a second server) holding the pull secret of the protected registry
/// in `namespace`.
async fn cluster_with_pull_secret(namespace: &str) -> InProcess {
    let cluster = InProcess::start(&["--store", "memory:", "--no-importer"]).await;
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let config = json!({"auths": {protected_registry().host(): {"auth": encode("user:s3cret")}}});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "pull"},
        "data": {".dockerconfigjson": encode(&config.to_string())},
    });
    let secrets = cluster.url(&format!("/api/v1/namespaces/{namespace}/secrets"));
    let (status, created) = cluster
        .send(cluster.client.post(&secrets).json(&secret))
        .await;
    assert_eq!(status, 201, "{created}");
    cluster
}

/// A DockerImage spec tag `name` from `from`.
fn tag(name: &str, from: &str, insecure: bool) -> Value {
    json!({"name": name, "from": {"kind": "DockerImage", "name": from},
           "importPolicy": {"insecure": insecure}})
}

#[tokio::test]
async fn with_proxies_set_the_importer_reaches_registries_and_the_cluster_through_them() {
    common::setup();
    let private_ca = private_ca_registry();
    let tls_image = private_ca.push_image("demo/proxied", "v1", "amd64").await;
    let protected = protected_registry();
    let http_image = protected.push_image("demo/proxied", "v1", "amd64").await;
    let cluster = cluster_with_pull_secret("proxied").await;
    let dir = tempfile::tempdir().unwrap();
    let (_proxy, proxy_url, proxy_log) = start_tinyproxy(dir.path());
    let ca = dir.path().join("registry-ca.pem");
    std::fs::write(&ca, private_ca.ca_pem().unwrap()).unwrap();
    let (ca, kubeconfig) = (
        ca.display().to_string(),
        cluster.kubeconfig().display().to_string(),
    );
    // Every request goes through the proxy, whatever the environment the test runs in says.
    let env = [
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("HTTP_PROXY", proxy_url.as_str()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];
    let flags = [
        "--store",
        "memory:",
        "--registry-ca-file",
        &ca,
        "--pull-secrets-from",
        "cluster",
        "--pull-secrets-kubeconfig",
        &kubeconfig,
    ];
    let server = spawn_serve(&dir.path().join("data"), &flags, &env);
    let (base, token) = (&server.base, &server.token);

    let client = reqwest::Client::builder()
        .tls_backend_rustls()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .unwrap();
    let streams = format!("{base}/apis/image.openshift.io/v1/namespaces/proxied/imagestreams");
    let tags = vec![
        tag(
            "tls",
            &format!("{}/demo/proxied:v1", private_ca.host()),
            false,
        ),
        tag(
            "http",
            &format!("{}/demo/proxied:v1", protected.host()),
            true,
        ),
    ];
    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "app"}, "spec": {"tags": tags}});
    let created = client
        .post(&streams)
        .bearer_auth(token)
        .json(&stream)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let data = dir.path().join("data");
    let logs = || {
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        format!(
            "server log:\n{}\nproxy log:\n{}",
            read(data.join("server.log")),
            read(proxy_log.clone())
        )
    };
    // Three processes and a proxy between them: on a loaded machine this takes longer than
    // one test's usual patience.
    let patience = 2 * PATIENCE;
    let images = eventually_or(
        "the imports through the proxy",
        patience,
        || async {
            let answer: Value = client
                .get(format!("{streams}/app"))
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let image = |tag: &str| {
                let tags = answer["status"]["tags"].as_array()?;
                let tag = tags.iter().find(|t| t["tag"] == tag)?;
                tag["items"][0]["image"].as_str().map(str::to_string)
            };
            Some((image("tls")?, image("http")?))
        },
        logs,
    )
    .await;
    assert_eq!(images, (tls_image.digest, http_image.digest));
    let log = std::fs::read_to_string(&proxy_log).unwrap();
    let requests: Vec<&str> = log
        .lines()
        .filter_map(|line| {
            line.split_once("Request (file descriptor ")?
                .1
                .split_once(": ")
        })
        .map(|(_, request)| request)
        .collect();
    let asked = |request: &str| requests.iter().any(|r| r.starts_with(request));
    let tunnel = |host: &str| format!("CONNECT {host} HTTP/1.1");
    assert!(asked(&tunnel(&private_ca.host())), "{requests:#?}");
    assert!(asked(&tunnel(&cluster.addr.to_string())), "{requests:#?}");
    let absolute = format!(
        "GET http://{}/v2/demo/proxied/manifests/v1 ",
        protected.host()
    );
    assert!(asked(&absolute), "{requests:#?}");
}
