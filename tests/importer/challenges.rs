//! A registry that asks for credentials on a repository but not on `/v2/` (some answer the
//! ping anonymously; containerd never pings, it follows each answer's challenge), and whose
//! tokens serve one request each (as a revoked or early-expired token would): the import follows
//! the challenge of a refused request, gets a token and asks again, also when the token it
//! cached is refused. docker-registry challenges on `/v2/` always, so this one is a scripted
//! socket.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::scripted::{path_of, read_head};
use super::{fixture, newest, tag, QUICK};

/// A manifest the import records (`{}` is its config blob's digest, which imports never read).
pub const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// The registry's address, and each request it was sent: `(path, authorization)`.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

async fn challenging_registry() -> (String, Requests) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let requests: Requests = Arc::default();
    let (seen, realm_host) = (requests.clone(), host.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer(socket, realm_host.clone(), seen.clone()));
        }
    });
    (host, requests)
}

/// Answers one request: `/v2/` and the token realm to anyone, the manifest only with the token.
async fn answer(mut socket: TcpStream, host: String, requests: Requests) {
    let Some(head) = read_head(&mut socket).await else {
        return;
    };
    let path = path_of(&head);
    let authorization = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(": ")?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.to_string())
        })
        .unwrap_or_default();
    // Tokens are t1, t2, … in the order asked for; each is good for one manifest.
    let (issued, fresh) = {
        let mut requests = requests.lock().unwrap();
        let issued = requests
            .iter()
            .filter(|(p, _)| p.starts_with("/token"))
            .count();
        let used = |(p, a): &(String, String)| p.contains("/manifests/") && *a == authorization;
        let fresh = authorization.starts_with("Bearer t") && !requests.iter().any(used);
        requests.push((path.clone(), authorization.clone()));
        (issued, fresh)
    };
    let (status, headers, body) = if path == "/v2/" {
        ("200 OK", String::new(), "{}".to_string())
    } else if path.starts_with("/token") {
        let token = format!("{{\"token\":\"t{}\",\"expires_in\":300}}", issued + 1);
        ("200 OK", String::new(), token)
    } else if fresh {
        let oci = "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n";
        ("200 OK", oci.to_string(), MANIFEST.to_string())
    } else {
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"scripted\",\
             scope=\"repository:demo/app:pull\"\r\n"
        );
        let refusal = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        ("401 Unauthorized", challenge, refusal.to_string())
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(answer.as_bytes()).await;
}

/// The `Authorization` of each manifest request, in order (empty for none).
fn manifest_requests(requests: &Requests) -> Vec<String> {
    let requests = requests.lock().unwrap();
    let manifests = requests
        .iter()
        .filter(|(path, _)| path.contains("/manifests/"));
    manifests
        .map(|(_, authorization)| authorization.clone())
        .collect()
}

#[tokio::test]
async fn a_challenge_on_the_repository_alone_is_followed_and_a_refused_token_replaced() {
    let (host, requests) = challenging_registry().await;
    let f = fixture(QUICK);
    let from = format!("{host}/demo/app:v1");
    f.create_stream("challenged", "app", vec![tag("v1", &from)])
        .await;
    let event = f
        .until("the import after the challenge", "challenged", "app", |s| {
            newest(s, "v1")
        })
        .await;
    assert!(
        event.0.starts_with(&format!("{host}/demo/app@sha256:")),
        "{event:?}"
    );
    assert_eq!(
        manifest_requests(&requests),
        ["", "Bearer t1"],
        "asked anonymously, then with the token"
    );
    let asked_for_token = requests.lock().unwrap().iter().any(|(path, _)| {
        path.starts_with("/token?") && path.contains("scope=repository%3Ademo%2Fapp%3Apull")
    });
    assert!(asked_for_token, "{requests:?}");

    // The next import uses the cached token, which the registry no longer takes.
    f.create_stream("challenged", "again", vec![tag("v1", &from)])
        .await;
    f.until("the import with a new token", "challenged", "again", |s| {
        newest(s, "v1")
    })
    .await;
    assert_eq!(
        manifest_requests(&requests),
        ["", "Bearer t1", "Bearer t1", "Bearer t2"]
    );
}
