//! A real etcd for the tests of one binary: started on first use on free loopback ports (plain
//! HTTP and TLS client URLs), stopped and its directory removed when the test process exits.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where `make test-deps` (Debian's `etcd-server`) installs etcd.
pub const ETCD: &str = "/usr/bin/etcd";

/// How long etcd may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running etcd.
pub struct Etcd {
    /// The plain-HTTP client URL's address.
    pub http: SocketAddr,
    /// The TLS client URL's address.
    pub https: SocketAddr,
    /// The CA that signed the TLS listener's certificate.
    pub ca: PathBuf,
    /// The guard shell kills etcd and removes its directory when this pipe closes, which the
    /// OS does when the test process exits however it exits: the etcd of a test binary lives in
    /// a static, statics are never dropped, so a `Drop` guard (or `kill_on_drop`) would not run.
    _guard: Mutex<(Child, ChildStdin)>,
}

impl Etcd {
    /// Starts etcd in a fresh directory named after `name` and this process, and waits until
    /// its gateway answers.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    /// [`Etcd::start`] with more command-line flags (`--quota-backend-bytes=…`). Started again
    /// on other ports when one it was given was taken meanwhile: a port from [`free_port`] is
    /// free only when picked, and the other tests of the binary bind ports all along.
    pub fn start_with(name: &str, flags: &[&str]) -> Self {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: run make test-deps"
        );
        let mut attempt = 0;
        loop {
            match Self::try_start(name, flags, attempt) {
                Ok(etcd) => return etcd,
                Err(log) if attempt < 4 && log.contains("address already in use") => attempt += 1,
                Err(log) => panic!("etcd did not answer within {START_TIMEOUT:?}; its log:\n{log}"),
            }
        }
    }

    /// One start; etcd's log when it did not come up.
    fn try_start(name: &str, flags: &[&str], attempt: usize) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "imagelookup-{name}-{}-{attempt}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sans = ["localhost".to_string(), "127.0.0.1".to_string()];
        let certs = imagelookup::certs::ensure_serving_certs(&dir, &sans).unwrap();
        let [http, https, peer] = [free_port(), free_port(), free_port()];
        let args = [
            format!("--data-dir={}", dir.join("data").display()),
            format!("--listen-client-urls=http://{http},https://{https}"),
            format!("--advertise-client-urls=http://{http}"),
            format!("--listen-peer-urls=http://{peer}"),
            format!("--initial-advertise-peer-urls=http://{peer}"),
            format!("--initial-cluster=default=http://{peer}"),
            format!("--cert-file={}", certs.cert.display()),
            format!("--key-file={}", certs.key.display()),
        ];
        let script = r#""$0" "$@" >"$ETCD_DIR/etcd.log" 2>&1 & pid=$!
            read -r _
            exec 2>/dev/null
            kill "$pid"; wait "$pid"; rm -rf "$ETCD_DIR""#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(ETCD)
            .args(args)
            .args(flags)
            .env("ETCD_DIR", &dir)
            .stdin(Stdio::piped())
            .spawn()
            .expect("start sh");
        let stdin = child.stdin.take().unwrap();
        if let Err(log) = wait_until_answering(http, &dir.join("etcd.log")) {
            // Closing stdin stops etcd and removes its directory; then the shell ends.
            drop(stdin);
            let _ = child.wait();
            return Err(log);
        }
        Ok(Self {
            http,
            https,
            ca: certs.ca_cert,
            _guard: Mutex::new((child, stdin)),
        })
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A loopback port that refuses connections for as long as the socket lives: bound, so no
/// other process (another test's etcd or registry) can take it, but never listening. A port
/// from [`free_port`] may be taken again by the time it is dialled.
pub fn refused_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Polls etcd's gateway with a range until it answers 200; its log when it does not answer
/// in time, or at once when it could not listen.
fn wait_until_answering(addr: SocketAddr, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if post(addr, "/v3/kv/range", &json!({"key": "AA=="}))
            .is_some_and(|v| v["header"].is_object())
        {
            return Ok(());
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("address already in use") {
            return Err(text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(std::fs::read_to_string(log).unwrap_or_default())
}

/// POSTs `body` to etcd's gateway with plain HTTP/1.0, as an operator's curl would; the
/// answer's JSON when it is a 200.
pub fn post(addr: SocketAddr, path: &str, body: &Value) -> Option<Value> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.contains(" 200 ")
        .then(|| serde_json::from_str(body).ok())
        .flatten()
}

/// A TCP proxy to etcd whose open connections can all be cut at once, and which can refuse
/// new ones for a while (each is closed as soon as it is accepted).
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
    refusing: Arc<AtomicBool>,
    holding: Arc<AtomicBool>,
    /// Connections accepted, refused ones included.
    pub accepted: Arc<AtomicUsize>,
    /// Connections refused.
    pub refused: Arc<AtomicUsize>,
}

impl Proxy {
    /// A proxy to `target` on a free loopback port.
    pub async fn start(target: SocketAddr) -> Self {
        let (listener, addr) = super::bind_localhost().await;
        let proxy = Self {
            addr,
            target: Arc::new(Mutex::new(target)),
            cut: Arc::new(tokio::sync::watch::Sender::new(0)),
            refusing: Arc::new(AtomicBool::new(false)),
            holding: Arc::new(AtomicBool::new(false)),
            accepted: Arc::new(AtomicUsize::new(0)),
            refused: Arc::new(AtomicUsize::new(0)),
        };
        let (cuts, refusing) = (proxy.cut.clone(), proxy.refusing.clone());
        let (targets, holding) = (proxy.target.clone(), proxy.holding.clone());
        let (accepted, refused) = (proxy.accepted.clone(), proxy.refused.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::Relaxed);
                if refusing.load(Ordering::Relaxed) {
                    refused.fetch_add(1, Ordering::Relaxed);
                    continue; // dropping `inbound` closes it
                }
                let mut cut = cuts.subscribe();
                let target = *targets.lock().unwrap();
                let hold = holding.load(Ordering::Relaxed);
                tokio::spawn(async move {
                    if hold {
                        // A hung etcd: the connection is accepted and never answered.
                        let _ = cut.changed().await;
                        drop(inbound);
                        return;
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Closes every connection open now; later ones pass.
    pub fn cut(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Whether new connections are closed as soon as they are accepted.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::Relaxed);
    }

    /// Whether new connections are accepted and never answered (a hung etcd), until cut.
    pub fn hold(&self, holding: bool) {
        self.holding.store(holding, Ordering::Relaxed);
    }

    /// Sends new connections to another etcd (one that replaced the first).
    pub fn redirect(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }
}
