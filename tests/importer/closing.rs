//! A registry that closes a kept-alive connection when the next request arrives on it, without
//! answering, as a proxy or load balancer does when its idle timeout races the client's reuse
//! of the connection (tinyproxy closes every client connection after one answer): the import
//! asks again on a new connection instead of failing the tag until the next interval.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::challenges::MANIFEST;
use super::scripted::{path_of, read_head};
use super::{fixture, newest, tag};

/// Each request the registry read: `(path, whether it was answered)`.
type Requests = Arc<Mutex<Vec<(String, bool)>>>;

async fn closing_registry() -> (String, Requests) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let requests: Requests = Arc::default();
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve_connection(socket, seen.clone()));
        }
    });
    (host, requests)
}

/// Answers the first request of the connection and keeps it open; closes it on the second.
async fn serve_connection(mut socket: TcpStream, requests: Requests) {
    let Some(head) = read_head(&mut socket).await else {
        return;
    };
    let path = path_of(&head);
    let (content_type, body) = match path.contains("/manifests/") {
        true => ("application/vnd.oci.image.manifest.v1+json", MANIFEST),
        false => ("application/json", "{}"),
    };
    requests.lock().unwrap().push((path, true));
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if socket.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    if let Some(next) = read_head(&mut socket).await {
        requests.lock().unwrap().push((path_of(&next), false));
    }
}

#[tokio::test]
async fn a_request_on_a_connection_closed_before_its_answer_is_sent_again() {
    let (host, requests) = closing_registry().await;
    // A failed import waits for the next interval: the import must succeed at its first try.
    let f = fixture(imagelookup::importer::DEFAULT_INTERVAL);
    let from = format!("{host}/demo/app:v1");
    f.create_stream("closing", "app", vec![tag("v1", &from)])
        .await;
    let event = f
        .until("the import over a new connection", "closing", "app", |s| {
            newest(s, "v1")
        })
        .await;
    assert!(
        event.0.starts_with(&format!("{host}/demo/app@sha256:")),
        "{event:?}"
    );
    let requests = requests.lock().unwrap().clone();
    let manifest = |answered: bool| (String::from("/v2/demo/app/manifests/v1"), answered);
    assert_eq!(
        requests,
        [
            ("/v2/".to_string(), true),
            manifest(false),
            manifest(true),
        ],
        "the ping answered on the first connection, the manifest dropped there and answered on a new one"
    );
}
