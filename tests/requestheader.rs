//! Request-header (front-proxy) authentication end to end: an in-process `serve` with
//! `--requestheader-client-ca-file`, called as the kube-apiserver's aggregator calls it (its
//! front-proxy client certificate plus `X-Remote-User`/`X-Remote-Group`) and as impostors do.

mod common;

use std::net::SocketAddr;

use clap::Parser;
use common::ca::Ca;
use imagelookup::cli::serve::{serve_on, ServeArgs};
use reqwest::StatusCode;
use tokio::sync::oneshot;

const TOKEN: &str = "admin-token";
const LIST: &str = "/apis/image.openshift.io/v1/namespaces/default/imagestreams";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

struct Server {
    addr: SocketAddr,
    server_ca: Vec<u8>,
    front_proxy: Ca,
    _shutdown: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A server trusting a new front-proxy CA for `front-proxy-client`, with an admin token
    /// and the policy `authz` (YAML) if given.
    async fn start(authz: Option<&str>) -> Self {
        common::setup();
        let dir = common::temp_dir();
        let front_proxy = Ca::new("front-proxy-ca");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let ca_file = write("front-proxy-ca.crt", &front_proxy.pem);
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
            format!("--requestheader-client-ca-file={ca_file}"),
            "--requestheader-allowed-names=front-proxy-client,aggregator".into(),
        ];
        if let Some(authz) = authz {
            argv.push(format!("--authz-file={}", write("authz.yaml", authz)));
        }
        let args = Cli::parse_from(argv).serve;
        let (listener, addr) = common::bind_localhost().await;
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(serve_on(listener, args, async move {
            let _ = stop.await;
        }));
        let server_ca = common::ca::generated(&dir.path().join("data")).await;
        Self {
            addr,
            server_ca,
            front_proxy,
            _shutdown: shutdown,
            _dir: dir,
        }
    }

    /// A client trusting the server, presenting `identity` if given.
    fn client(&self, identity: Option<reqwest::Identity>) -> reqwest::Client {
        common::ca::client(&self.server_ca, identity)
    }

    /// Lists imagestreams with `headers`; the status and body.
    async fn list(
        &self,
        identity: Option<reqwest::Identity>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        self.get(LIST, identity, headers).await
    }

    /// GETs `path` with `headers`; the status and body.
    async fn get(
        &self,
        path: &str,
        identity: Option<reqwest::Identity>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut request = self
            .client(identity)
            .get(format!("https://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

const ALICE_AS_MASTER: &[(&str, &str)] = &[
    ("X-Remote-User", "alice"),
    ("X-Remote-Group", "system:masters"),
];

fn check(found: (StatusCode, String), status: StatusCode) -> String {
    assert_eq!(found.0, status, "{}", found.1);
    found.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_proxy_user_lists_imagestreams() {
    let server = Server::start(None).await;
    let identity = server.front_proxy.client("front-proxy-client");
    let body = check(
        server.list(Some(identity), ALICE_AS_MASTER).await,
        StatusCode::OK,
    );
    assert!(body.contains("\"ImageStreamList\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_applies_to_the_front_proxy_user_by_name() {
    let policy = "rules:\n- users: [alice]\n  namespaces: [team-a]\n  verbs: [get]\n";
    let server = Server::start(Some(policy)).await;
    let identity = server.front_proxy.client("aggregator");
    let body = check(
        server.list(Some(identity), ALICE_AS_MASTER).await,
        StatusCode::FORBIDDEN,
    );
    assert!(body.contains("User \\\"alice\\\" cannot list"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_without_a_client_certificate_or_token_are_unauthorized() {
    let server = Server::start(None).await;
    check(
        server.list(None, ALICE_AS_MASTER).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_from_a_certificate_of_another_ca_are_ignored() {
    let server = Server::start(None).await;
    let impostor = Ca::new("front-proxy-ca").client("front-proxy-client");
    check(
        server.list(Some(impostor), ALICE_AS_MASTER).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_from_a_disallowed_common_name_are_ignored() {
    let server = Server::start(None).await;
    let identity = server.front_proxy.client("mallory");
    check(
        server.list(Some(identity), ALICE_AS_MASTER).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_proxy_naming_no_user_is_unauthorized() {
    let server = Server::start(None).await;
    let identity = server.front_proxy.client("front-proxy-client");
    let groups_only = &[("X-Remote-Group", "system:masters")];
    check(
        server.list(Some(identity), groups_only).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_still_work_without_a_client_certificate() {
    let policy = "rules:\n- users: [admin]\n  namespaces: ['*']\n  verbs: ['*']\n";
    let server = Server::start(Some(policy)).await;
    let bearer = format!("Bearer {TOKEN}");
    // Alice's headers ride along but come from no front proxy, so the token's user counts.
    let mut headers = vec![("Authorization", bearer.as_str())];
    headers.extend_from_slice(ALICE_AS_MASTER);
    check(server.list(None, &headers).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregator_is_offered_no_openapi_document_of_the_core_group() {
    // The aggregator merges every APIService's /openapi/v3 paths and routes each to whichever
    // backend lists it: a core `api/v1` from here would stand in for the cluster's own.
    let server = Server::start(None).await;
    let aggregator = || Some(server.front_proxy.client("front-proxy-client"));
    let as_aggregator = &[("X-Remote-User", "system:aggregator")];
    let index = check(
        server.get("/openapi/v3", aggregator(), as_aggregator).await,
        StatusCode::OK,
    );
    assert!(index.contains("\"apis/image.openshift.io/v1\""), "{index}");
    assert!(!index.contains("\"api/v1\""), "{index}");
    let core = server.get("/openapi/v3/api/v1", aggregator(), as_aggregator);
    check(core.await, StatusCode::NOT_FOUND);
    let swagger = check(
        server.get("/openapi/v2", aggregator(), as_aggregator).await,
        StatusCode::OK,
    );
    assert!(swagger.contains("\"/apis/image.openshift.io/v1/imagestreams\""));
    assert!(!swagger.contains("\"/api/v1/namespaces/{namespace}/secrets\""));

    // kubectl with the server's own kubeconfig still gets the Secrets it serves.
    let bearer = format!("Bearer {TOKEN}");
    let direct = [("Authorization", bearer.as_str())];
    let index = check(
        server.get("/openapi/v3", None, &direct).await,
        StatusCode::OK,
    );
    assert!(index.contains("\"api/v1\""), "{index}");
    check(
        server.get("/openapi/v3/api/v1", None, &direct).await,
        StatusCode::OK,
    );
}

#[test]
fn requestheader_flags_default_to_kubes_header_names() {
    let args = Cli::parse_from(["imagelookup"]).serve.requestheader;
    assert_eq!(args.requestheader_client_ca_file, None);
    assert!(args.requestheader_allowed_names.is_empty());
    assert_eq!(args.requestheader_username_headers, ["X-Remote-User"]);
    assert_eq!(args.requestheader_group_headers, ["X-Remote-Group"]);
    assert_eq!(args.requestheader_extra_headers_prefix, ["X-Remote-Extra-"]);
    let args = Cli::parse_from(["imagelookup", "--requestheader-allowed-names=a,b"])
        .serve
        .requestheader;
    assert_eq!(args.requestheader_allowed_names, ["a", "b"]);
}

impl Server {
    /// Creates stream `name` in `namespace` with `tags`, as `identity` with `headers` (or the
    /// admin token when `identity` is `None`); the status and body.
    async fn create_stream(
        &self,
        identity: Option<reqwest::Identity>,
        headers: &[(&str, &str)],
        namespace: &str,
        name: &str,
        tags: serde_json::Value,
    ) -> (StatusCode, String) {
        let url = format!(
            "https://{}/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams",
            self.addr
        );
        let body = serde_json::json!({"apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream", "metadata": {"name": name}, "spec": {"tags": tags}});
        let mut request = self.client(identity.clone()).post(url).json(&body);
        if identity.is_none() {
            request = request.bearer_auth(TOKEN);
        }
        for (header, value) in headers {
            request = request.header(*header, *value);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

/// A tag of namespace `a` following stream `private` of namespace `b`.
fn from_b() -> serde_json::Value {
    serde_json::json!([{"name": "x",
        "from": {"kind": "ImageStreamTag", "namespace": "b", "name": "private:latest"}}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_proxy_user_copies_from_another_namespace_only_as_a_policy_allows() {
    // The kube-apiserver authorized the create in `a` only: without a policy this server
    // cannot tell whether the user may read `b`'s streams, so it refuses.
    let server = Server::start(None).await;
    let empty = serde_json::json!([]);
    check(
        server.create_stream(None, &[], "b", "private", empty).await,
        StatusCode::CREATED,
    );
    let identity = server.front_proxy.client("front-proxy-client");
    let body = check(
        server
            .create_stream(Some(identity), ALICE_AS_MASTER, "a", "copy", from_b())
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert!(body.contains("spec.tags[x].from"), "{body}");
    assert!(body.contains("b/private"), "{body}");
    assert!(body.contains("an --authz-file rule must let"), "{body}");
    // A user of the server's own token file may, as it may do everything without a policy.
    check(
        server.create_stream(None, &[], "a", "copy", from_b()).await,
        StatusCode::CREATED,
    );

    // With a policy, what it says.
    let policy = "rules:\n- users: [admin, alice]\n  namespaces: ['*']\n  verbs: ['*']\n";
    let server = Server::start(Some(policy)).await;
    let empty = serde_json::json!([]);
    check(
        server.create_stream(None, &[], "b", "private", empty).await,
        StatusCode::CREATED,
    );
    let identity = server.front_proxy.client("front-proxy-client");
    check(
        server
            .create_stream(Some(identity), ALICE_AS_MASTER, "a", "copy", from_b())
            .await,
        StatusCode::CREATED,
    );
}
