//! Before HTTP: tell a TLS ClientHello from plaintext HTTP sent to the TLS port, answer the
//! latter as Go's `net/http` (and so kube-apiserver) does, and log failed handshakes without
//! one line per connection under a flood.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Go's answer to plaintext HTTP on a TLS port, byte for byte (`net/http`'s `conn.serve`).
pub(super) const PLAINTEXT_REPLY: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first bytes of a TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Request line starts that mean plaintext HTTP: Go's `looksLikeHTTP`, plus `PATCH` and
/// `DELETE`, which the API also takes.
const HTTP_STARTS: [&[u8; 5]; 7] = [
    b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO", b"PATCH", b"DELET",
];

/// How long to wait before peeking again when the first bytes do not tell yet.
const PEEK_RETRY: Duration = Duration::from_millis(10);

/// How long the answer to a plaintext request waits for the client to finish sending, so that
/// closing with its bytes unread does not reset the connection before it read the answer.
const LINGER: Duration = Duration::from_secs(1);

/// What the first bytes of a connection say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FirstBytes {
    /// A TLS handshake record.
    Tls,
    /// A plaintext HTTP request line.
    PlainHttp,
    /// Neither: rustls will answer it with an alert.
    Other,
    /// Too few bytes to tell.
    NeedMore,
    /// The client closed the connection without sending anything (a TCP probe).
    Closed,
}

/// Classifies the bytes received so far (never [`FirstBytes::Closed`]).
pub(super) fn classify(bytes: &[u8]) -> FirstBytes {
    match bytes.first() {
        None => FirstBytes::NeedMore,
        Some(&TLS_HANDSHAKE_RECORD) => FirstBytes::Tls,
        Some(_) => {
            let seen = bytes.len().min(5);
            let mut starts = HTTP_STARTS
                .iter()
                .filter(|start| start[..seen] == bytes[..seen]);
            match (starts.next(), seen) {
                (None, _) => FirstBytes::Other,
                (Some(_), 5) => FirstBytes::PlainHttp,
                (Some(_), _) => FirstBytes::NeedMore,
            }
        }
    }
}

/// Peeks (without consuming) at the first bytes of `stream` until they tell what it speaks.
/// The caller bounds the wait.
pub(super) async fn sniff(stream: &TcpStream) -> std::io::Result<FirstBytes> {
    let mut first = [0u8; 5];
    loop {
        let received = stream.peek(&mut first).await?;
        if received == 0 {
            return Ok(FirstBytes::Closed);
        }
        match classify(&first[..received]) {
            // Peeking again at once would return the same bytes: wait for more.
            FirstBytes::NeedMore => tokio::time::sleep(PEEK_RETRY).await,
            known => return Ok(known),
        }
    }
}

/// Sends [`PLAINTEXT_REPLY`], then closes once the client has (within [`LINGER`]).
pub(super) async fn refuse_plaintext(mut stream: TcpStream) {
    if stream.write_all(PLAINTEXT_REPLY).await.is_err() {
        return;
    }
    // The end of the answer: an HTTP/1.0 answer without a length ends when the connection does.
    let _ = stream.shutdown().await;
    let mut unread = [0u8; 4096];
    let drain = async { while let Ok(1..) = stream.read(&mut unread).await {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// The `handshake_failures` reason of a handshake rustls (through tokio-rustls) failed.
pub(super) fn failure_reason(error: &std::io::Error) -> &'static str {
    use rustls::AlertDescription as Alert;
    let tls = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnsupportedCertificate
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::CertificateUnknown
            | Alert::UnknownCA
            // rustls's answer to a chain whose issuer's name matches a root but whose
            // signature does not: a CA regenerated under the same name.
            | Alert::DecryptError,
        )) => super::HANDSHAKE_CERTIFICATE_REJECTED,
        Some(rustls::Error::NoCertificatesPresented | rustls::Error::InvalidCertificate(_)) => {
            super::HANDSHAKE_CLIENT_CERTIFICATE
        }
        _ => super::HANDSHAKE_PROTOCOL,
    }
}

/// Lets one report through per interval and counts the ones it held back, so a flood of
/// failing connections costs one log line per interval.
#[derive(Debug)]
pub(crate) struct Throttle {
    interval: Duration,
    /// A std mutex: held for a comparison and two writes, never across an await.
    state: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    last_report: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// A throttle passing one report per `interval`.
    pub(crate) const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(ThrottleState {
                last_report: None,
                held_back: 0,
            }),
        }
    }

    /// `Some(reports held back since the last one let through)` if a report at `now` may go
    /// out, `None` (and one more held back) otherwise.
    pub(crate) fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let due = state
            .last_report
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            state.held_back += 1;
            return None;
        }
        state.last_report = Some(now);
        Some(std::mem::take(&mut state.held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_handshake_is_told_apart_by_what_rustls_says() {
        let failed = |error: rustls::Error| {
            failure_reason(&std::io::Error::new(std::io::ErrorKind::InvalidData, error))
        };
        let alert = |alert| failed(rustls::Error::AlertReceived(alert));
        use rustls::AlertDescription as Alert;
        for rejected in [
            Alert::UnknownCA,
            Alert::BadCertificate,
            Alert::CertificateExpired,
        ] {
            assert_eq!(
                alert(rejected),
                super::super::HANDSHAKE_CERTIFICATE_REJECTED
            );
        }
        assert_eq!(
            alert(Alert::HandshakeFailure),
            super::super::HANDSHAKE_PROTOCOL
        );
        assert_eq!(
            failed(rustls::Error::NoCertificatesPresented),
            super::super::HANDSHAKE_CLIENT_CERTIFICATE
        );
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert_eq!(failure_reason(&eof), super::super::HANDSHAKE_PROTOCOL);
    }

    #[test]
    fn first_bytes_tell_tls_from_plaintext_http() {
        let check = |bytes: &[u8], expected: FirstBytes| {
            assert_eq!(
                classify(bytes),
                expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        };
        check(b"", FirstBytes::NeedMore);
        check(b"\x16", FirstBytes::Tls);
        check(b"\x16\x03\x01\x02\x00", FirstBytes::Tls);
        check(b"GET /healthz HTTP/1.1", FirstBytes::PlainHttp);
        check(b"POST /mutate HTTP/1.1", FirstBytes::PlainHttp);
        check(b"HEAD / HTTP/1.0", FirstBytes::PlainHttp);
        check(b"PUT /apis", FirstBytes::PlainHttp);
        check(b"OPTIONS * HTTP/1.1", FirstBytes::PlainHttp);
        check(b"PATCH /apis", FirstBytes::PlainHttp);
        check(b"DELETE /apis", FirstBytes::PlainHttp);
        check(b"GE", FirstBytes::NeedMore);
        check(b"P", FirstBytes::NeedMore);
        check(b"GET x", FirstBytes::Other);
        check(b"SSH-2.0-OpenSSH", FirstBytes::Other);
        check(b"\x15\x03\x03\x00\x02", FirstBytes::Other);
    }

    #[test]
    fn the_plaintext_reply_is_gos() {
        let reply = std::str::from_utf8(PLAINTEXT_REPLY).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert_eq!(head, "HTTP/1.0 400 Bad Request");
        assert_eq!(body, "Client sent an HTTP request to an HTTPS server.\n");
    }

    #[test]
    fn the_throttle_passes_one_report_per_interval_and_counts_the_rest() {
        let throttle = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let check = |seconds: u64, expected: Option<u64>| {
            assert_eq!(throttle.admit(at(seconds)), expected, "at {seconds} s");
        };
        check(0, Some(0));
        check(1, None);
        check(9, None);
        check(10, Some(2));
        check(15, None);
        check(30, Some(1));
        check(41, Some(0));
    }
}
