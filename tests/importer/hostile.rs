//! Registries that send more than an import reads (see `importer/registry/session.rs`): the
//! import stops reading at the limit and says why, instead of holding whatever arrives until
//! the registry timeout. docker-registry refuses to store such manifests, so these "registries"
//! are scripted sockets, as a hostile one would be.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use imagelookup::importer::repository::FAILURE_ANNOTATION;

use super::scripted::{path_of, read_head};
use super::{fixture, QUICK};

/// What a flooding registry floods.
#[derive(Clone, Copy, Debug)]
enum Flood {
    /// A valid manifest followed by whitespace without end, its length unsaid (the
    /// connection's close ends it).
    Manifest,
    /// The same, with an honest `Content-Length`.
    ManifestOfSaidLength,
    /// The answer of the token realm its challenge names.
    TokenAnswer,
    /// A repository's tag list.
    TagPage,
    /// The page of a `404 Not Found` for the manifest.
    ErrorPage,
}

/// How much a flood sends, unless the client stops reading first: far past any limit, and
/// what an import without limits would read whole.
const FLOOD: usize = 256 << 20;
const CHUNK: usize = 64 << 10;

/// A manifest an import would record (JSON allows the whitespace after it).
const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// A registry on loopback that floods `flood`; counts the flood's bytes it got written.
async fn flooding_registry(flood: Flood) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let written = Arc::new(AtomicUsize::new(0));
    let count = written.clone();
    let realm_host = host.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (count, host) = (count.clone(), realm_host.clone());
            tokio::spawn(answer(socket, flood, host, count));
        }
    });
    (host, written)
}

/// Answers one request on `socket` (and closes it).
async fn answer(mut socket: TcpStream, flood: Flood, host: String, written: Arc<AtomicUsize>) {
    let Some(head) = read_head(&mut socket).await else {
        return;
    };
    let path = path_of(&head);
    let head = |status: &str, headers: &str| {
        format!("HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n")
    };
    let (head, prefix) = match (path.as_str(), flood) {
        ("/v2/", Flood::TokenAnswer) => {
            let challenge = format!(
                "WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"flood\"\r\n\
                 Content-Length: 0\r\n"
            );
            let _ = socket
                .write_all(head("401 Unauthorized", &challenge).as_bytes())
                .await;
            return;
        }
        ("/v2/", _) => {
            let _ = socket
                .write_all(head("200 OK", "Content-Length: 2\r\n").as_bytes())
                .await;
            let _ = socket.write_all(b"{}").await;
            return;
        }
        (path, Flood::TokenAnswer) if path.starts_with("/token") => {
            (head("200 OK", ""), "{\"token\":\"")
        }
        (path, Flood::TagPage) if path.contains("/tags/list") => {
            (head("200 OK", ""), "{\"name\":\"flood/app\",\"tags\":[\"")
        }
        (path, Flood::Manifest) if path.contains("/manifests/") => {
            let oci = "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n";
            (head("200 OK", oci), MANIFEST)
        }
        (path, Flood::ErrorPage) if path.contains("/manifests/") => (
            head("404 Not Found", "Content-Type: text/html\r\n"),
            "<html>",
        ),
        (path, Flood::ManifestOfSaidLength) if path.contains("/manifests/") => {
            let said = format!(
                "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                 Content-Length: {FLOOD}\r\n"
            );
            (head("200 OK", &said), MANIFEST)
        }
        _ => {
            let _ = socket
                .write_all(head("404 Not Found", "Content-Length: 0\r\n").as_bytes())
                .await;
            return;
        }
    };
    if socket.write_all(head.as_bytes()).await.is_err()
        || socket.write_all(prefix.as_bytes()).await.is_err()
    {
        return;
    }
    let filler = match flood {
        Flood::TokenAnswer | Flood::TagPage => vec![b'a'; CHUNK],
        _ => vec![b' '; CHUNK],
    };
    let mut sent = prefix.len();
    while sent < FLOOD {
        if socket.write_all(&filler).await.is_err() {
            return;
        }
        sent += CHUNK;
        written.fetch_add(CHUNK, Ordering::SeqCst);
    }
}

/// Imports a tag from a registry flooding `flood` and returns the tag's condition message
/// and how much of the flood the registry got written.
async fn import_from(flood: Flood, name: &str) -> (String, usize) {
    let (host, written) = flooding_registry(flood).await;
    let f = fixture(QUICK);
    let from = format!("{host}/flood/app:v1");
    let condition = f
        .first_condition("the flooded import's condition", "flooded", name, &from)
        .await;
    assert_eq!(condition.status, "False", "{condition:?}");
    (condition.message, written.load(Ordering::SeqCst))
}

/// What an import without limits would have read whole (and, for a manifest, recorded).
fn check_stopped_early(flood: Flood, written: usize) {
    assert!(
        written < FLOOD / 4,
        "{flood:?}: {written} bytes were sent before the import stopped reading"
    );
}

#[tokio::test]
async fn a_manifest_without_end_is_read_to_4_mib_and_the_tag_says_why() {
    let (message, written) = import_from(Flood::Manifest, "endless").await;
    assert!(
        message
            .contains("the registry sent a manifest larger than 4 MiB, more than an import reads"),
        "{message}"
    );
    check_stopped_early(Flood::Manifest, written);
}

#[tokio::test]
async fn a_manifest_whose_length_is_over_4_mib_is_not_read_at_all() {
    let (message, written) = import_from(Flood::ManifestOfSaidLength, "said").await;
    assert!(
        message.contains("the registry sent a manifest larger than 4 MiB"),
        "{message}"
    );
    check_stopped_early(Flood::ManifestOfSaidLength, written);
}

#[tokio::test]
async fn a_token_answer_without_end_is_read_to_1_mib_and_the_tag_says_why() {
    let (message, written) = import_from(Flood::TokenAnswer, "token").await;
    assert!(
        message.contains("the registry sent a token answer larger than 1 MiB"),
        "{message}"
    );
    check_stopped_early(Flood::TokenAnswer, written);
}

#[tokio::test]
async fn a_tag_list_without_end_is_read_to_4_mib_and_the_repository_import_says_why() {
    let (host, written) = flooding_registry(Flood::TagPage).await;
    let f = fixture(QUICK);
    let repository = format!("{host}/flood/app");
    f.create_repository_stream("flooded", "repository", &repository, vec![])
        .await;
    let failure = f
        .until(
            "the repository import's failure",
            "flooded",
            "repository",
            |s| {
                s.metadata
                    .annotations
                    .as_ref()?
                    .get(FAILURE_ANNOTATION)
                    .cloned()
            },
        )
        .await;
    assert!(
        failure.contains("the registry sent a tag list page larger than 4 MiB"),
        "{failure}"
    );
    check_stopped_early(Flood::TagPage, written.load(Ordering::SeqCst));
}

#[tokio::test]
async fn an_error_page_without_end_is_read_to_64_kib_and_the_tag_is_not_found() {
    let (message, written) = import_from(Flood::ErrorPage, "error-page").await;
    assert!(message.ends_with("/flood/app:v1\" not found"), "{message}");
    check_stopped_early(Flood::ErrorPage, written);
}
