//! Helpers shared by the integration tests: process setup, temporary directories, sockets and
//! waiting for eventually-true conditions.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

pub mod ca;
pub mod etcd;
pub mod process;
pub mod serving;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use tokio::net::TcpListener;

/// How long [`eventually`] waits before failing the test: what is waited for takes well under
/// a second on an idle machine; the margin is for a 2-core CI runner busy with other tests
/// (and, once, benchmark builds), where 10 s was seen to run out.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Installs the rustls crypto provider and a test log writer (`RUST_LOG` filters), once.
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        imagelookup::tls::install_crypto_provider();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// A listener on a free port of 127.0.0.1, and its address.
pub async fn bind_localhost() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener address");
    (listener, addr)
}

/// Polls `probe` every 20 ms until it yields `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_or(what, PATIENCE, probe, String::new).await
}

/// Polls `probe` every 20 ms until it yields `Some`, failing the test after `patience` with
/// what `explain` says (the logs of the processes involved).
pub async fn eventually_or<T, F, Fut>(
    what: &str,
    patience: Duration,
    mut probe: F,
    explain: impl FnOnce() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for {what}\n{}", explain());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
