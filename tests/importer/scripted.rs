//! What the scripted "registries" of these tests share: a request's head read from the socket,
//! and TLS refused as a plain HTTP server refuses it, so that an insecure tag (which tries HTTPS
//! first) moves on to plain HTTP at once.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The head of the request on `socket` (request line and headers), or `None` when the peer
/// closed it or sent a TLS hello (answered `400 Bad Request`).
pub async fn read_head(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
        if head.first() == Some(&0x16) {
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            return None;
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// The path of a request head's request line.
pub fn path_of(head: &str) -> String {
    head.split(' ').nth(1).unwrap_or_default().to_string()
}
