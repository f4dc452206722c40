//! Client-certificate authentication of the webhook's caller end to end: an in-process `serve`
//! with `--admission-client-ca-file` (and a front-proxy CA beside it), called over TLS as the
//! kube-apiserver calls it (the certificate its AdmissionConfiguration kubeconfig names) and as
//! others do.

mod common;

use std::net::SocketAddr;

use axum::routing::post;
use axum::Router;
use clap::Parser;
use common::ca::Ca;
use imagelookup::cli::serve::{serve_with, Extras, ServeArgs};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const TOKEN: &str = "admin-token";
const LIST: &str = "/apis/image.openshift.io/v1/namespaces/default/imagestreams";
const CALLER: &str = "kube-apiserver";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// Which flags the server starts with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// `--admission-client-ca-file` (allowing `kube-apiserver`) and a front-proxy CA.
    Callers,
    /// Callers, with a store that never answers: the webhook is not installed yet.
    CallersUnready,
    /// Neither flag.
    Open,
}

struct Server {
    addr: SocketAddr,
    server_ca: Vec<u8>,
    admission: Ca,
    front_proxy: Ca,
    _shutdown: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(setup: Setup) -> Self {
        common::setup();
        let dir = common::temp_dir();
        let (admission, front_proxy) = (Ca::new("admission-ca"), Ca::new("front-proxy-ca"));
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let token_file = write(
            "tokens.csv",
            &format!("{TOKEN},admin,1,\"system:masters\"\n"),
        );
        let data_dir = dir.path().join("data").display().to_string();
        let mut argv = vec![
            "imagelookup".to_string(),
            format!("--data-dir={data_dir}"),
            "--no-importer".into(),
            format!("--token-file={token_file}"),
        ];
        if setup != Setup::Open {
            argv.extend([
                format!(
                    "--admission-client-ca-file={}",
                    write("admission-ca.crt", &admission.pem)
                ),
                format!("--admission-allowed-names={CALLER},apiserver-webhook"),
                format!(
                    "--requestheader-client-ca-file={}",
                    write("front-proxy-ca.crt", &front_proxy.pem)
                ),
                "--requestheader-allowed-names=front-proxy-client".into(),
            ]);
        }
        if setup == Setup::CallersUnready {
            // Nothing listens there: the store stays unconnected for the whole test.
            argv.push("--store=etcd:http://127.0.0.1:9".into());
        }
        let args = Cli::parse_from(argv).serve;
        let (listener, addr) = common::bind_localhost().await;
        let (shutdown, stop) = oneshot::channel::<()>();
        let extras = Extras {
            routes: Router::new().route("/noop", post(|| async { "noop" })),
            store: None,
        };
        tokio::spawn(serve_with(listener, args, extras, async move {
            let _ = stop.await;
        }));
        let server_ca = common::ca::generated(&dir.path().join("data")).await;
        let server = Self {
            addr,
            server_ca,
            admission,
            front_proxy,
            _shutdown: shutdown,
            _dir: dir,
        };
        if setup != Setup::CallersUnready {
            server.wait_until_ready().await;
        }
        server
    }

    async fn wait_until_ready(&self) {
        let client = self.client(None);
        let url = format!("https://{}/readyz", self.addr);
        common::eventually("readiness", || {
            let request = client.get(&url).send();
            async move { request.await.ok().filter(|r| r.status().is_success()) }
        })
        .await;
    }

    /// A client trusting the server, presenting `identity` if given.
    fn client(&self, identity: Option<reqwest::Identity>) -> reqwest::Client {
        common::ca::client(&self.server_ca, identity)
    }

    /// POSTs an AdmissionReview of a Pod to `path`; the status and the body (JSON or text).
    async fn review(&self, path: &str, identity: Option<reqwest::Identity>) -> (StatusCode, Value) {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE", "namespace": "demo",
                "object": {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "mysql"}]}}}});
        let response = self
            .client(identity)
            .post(format!("https://{}{path}", self.addr))
            .json(&review)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Lists imagestreams as `alice` through front-proxy headers, presenting `identity`.
    async fn list_as_alice(&self, identity: reqwest::Identity) -> StatusCode {
        let response = self
            .client(Some(identity))
            .get(format!("https://{}{LIST}", self.addr))
            .header("X-Remote-User", "alice")
            .header("X-Remote-Group", "system:masters")
            .send()
            .await
            .unwrap();
        response.status()
    }
}

/// Checks a refusal: its status, a `Status` body with the matching reason, and a message
/// containing `says`.
fn check_refused(found: (StatusCode, Value), status: StatusCode, says: &str) {
    let (code, body) = found;
    assert_eq!(code, status, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], status.as_u16(), "{body}");
    let reason = if status == StatusCode::FORBIDDEN {
        "Forbidden"
    } else {
        "Unauthorized"
    };
    assert_eq!(body["reason"], reason, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kube_apiservers_certificate_is_admitted_to_mutate_and_noop() {
    let server = Server::start(Setup::Callers).await;
    let (status, review) = server
        .review("/mutate", Some(server.admission.client(CALLER)))
        .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert_eq!(review["response"]["uid"], "u-1", "{review}");
    let (status, body) = server
        .review("/noop", Some(server.admission.client("apiserver-webhook")))
        .await;
    assert_eq!((status, body), (StatusCode::OK, Value::from("noop")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_client_certificate_gets_401_saying_it_presented_none() {
    let server = Server::start(Setup::Callers).await;
    for path in ["/mutate", "/noop"] {
        let found = server.review(path, None).await;
        check_refused(found, StatusCode::UNAUTHORIZED, "the caller presented none");
    }
    let metrics = server
        .client(None)
        .get(format!("https://{}/metrics", server.addr));
    let metrics = metrics.send().await.unwrap().text().await.unwrap();
    let counted =
        r#"imagelookup_admission_requests_total{kind="",operation="",outcome="Unauthorized"} 2"#;
    assert!(metrics.contains(counted), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_proxy_certificate_is_no_webhook_caller_nor_a_webhook_callers_a_front_proxy() {
    let server = Server::start(Setup::Callers).await;
    // The front-proxy CA's certificate, even with the allowed name, does not call the webhook.
    let found = server
        .review("/mutate", Some(server.front_proxy.client(CALLER)))
        .await;
    check_refused(found, StatusCode::UNAUTHORIZED, "is not signed by");
    let found = server
        .review(
            "/mutate",
            Some(server.front_proxy.client("front-proxy-client")),
        )
        .await;
    check_refused(found, StatusCode::UNAUTHORIZED, "is not signed by");
    // The admission CA's certificate does not make X-Remote-User count; the front proxy's does.
    let as_webhook_caller = server.admission.client("front-proxy-client");
    let status = server.list_as_alice(as_webhook_caller).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let as_front_proxy = server.front_proxy.client("front-proxy-client");
    assert_eq!(server.list_as_alice(as_front_proxy).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_the_admission_ca_with_a_name_not_allowed_gets_403() {
    let server = Server::start(Setup::Callers).await;
    let found = server
        .review("/mutate", Some(server.admission.client("mallory")))
        .await;
    check_refused(found, StatusCode::FORBIDDEN, "common name \"mallory\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_store_is_connected_an_unknown_caller_gets_401_and_the_caller_503() {
    let server = Server::start(Setup::CallersUnready).await;
    let found = server.review("/mutate", None).await;
    check_refused(found, StatusCode::UNAUTHORIZED, "the caller presented none");
    let (status, body) = server
        .review("/mutate", Some(server.admission.client(CALLER)))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_anyone_may_call_the_webhook_certificate_or_not() {
    let server = Server::start(Setup::Open).await;
    let (status, review) = server.review("/mutate", None).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert_eq!(review["response"]["uid"], "u-1", "{review}");
    let (status, _) = server
        .review("/mutate", Some(Ca::new("any").client("anyone")))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.review("/noop", None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::from("noop")));
}

#[test]
fn admission_allowed_names_need_the_ca_file() {
    let parsed = Cli::try_parse_from(["imagelookup", "--admission-allowed-names=kube-apiserver"]);
    let error = parsed
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(error.contains("--admission-client-ca-file"), "{error}");
}
