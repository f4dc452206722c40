//! Certificate rotation against a real TLS server on 127.0.0.1.
//!
//! The certificate files are laid out the way the kubelet mounts a Secret: `tls.crt` and
//! `tls.key` are symlinks through `..data`, itself a symlink to a timestamped directory that a
//! rotation replaces atomically. Clients trust only the generated CA and connect by a name that
//! only one generation's certificate carries, so a successful request proves which certificate
//! was served; the DER served is compared as well.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use common::serving::InProcess;
use imagelookup::certs::{self, CertBundle, CertificateAuthority};
use imagelookup::server::serve;
use imagelookup::tls::{ReloadingTls, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::sync::{oneshot, Notify};

const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Lets a test hold `/slow` open and know when it has started.
#[derive(Clone, Default)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

async fn slow_handler(State(gate): State<Gate>) -> &'static str {
    gate.entered.notify_one();
    gate.release.notified().await;
    "slow done"
}

fn router(gate: Gate) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/slow", get(slow_handler))
        .with_state(gate)
}

/// A certificate generation whose certificate alone is valid for `gen-N.test`.
struct Generation {
    host: String,
    bundle: CertBundle,
}

impl Generation {
    /// Issued by `ca`, as a rotation under one CA (cert-manager's renewals) would be.
    fn new(ca: &CertificateAuthority, number: u32) -> Self {
        let host = format!("gen-{number}.test");
        let sans = vec![host.clone(), "127.0.0.1".to_string()];
        let bundle = ca.issue(&sans, SystemTime::now()).unwrap();
        Self { host, bundle }
    }

    fn der(&self) -> Vec<u8> {
        CertificateDer::from_pem_slice(self.bundle.cert_pem.as_bytes())
            .unwrap()
            .to_vec()
    }
}

/// Publishes `bundle` the kubelet way: a new directory, then an atomic `..data` symlink swap.
fn publish(dir: &Path, name: &str, bundle: &CertBundle) {
    certs::write_bundle(bundle, &dir.join(name)).unwrap();
    let staged = dir.join("..data_tmp");
    std::os::unix::fs::symlink(name, &staged).unwrap();
    std::fs::rename(&staged, dir.join("..data")).unwrap();
}

/// Mounts `bundle` like a Secret volume and returns the paths the server reads.
fn mount(dir: &Path, bundle: &CertBundle) -> TlsFiles {
    publish(dir, "..gen-1", bundle);
    let link = |file: &str| -> PathBuf {
        let path = dir.join(file);
        std::os::unix::fs::symlink(Path::new("..data").join(file), &path).unwrap();
        path
    };
    TlsFiles {
        cert: link(certs::CERT_FILE),
        key: link(certs::KEY_FILE),
    }
}

struct Fixture {
    addr: SocketAddr,
    ca_pem: String,
    tls: ReloadingTls,
    mount_dir: tempfile::TempDir,
    gate: Gate,
    shutdown_tx: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _watcher: imagelookup::tls::CertificateWatcher,
}

impl Fixture {
    /// Serves `first` and starts polling the mounted files.
    async fn start(first: &Generation) -> Self {
        common::setup();
        let mount_dir = common::temp_dir();
        let tls = ReloadingTls::from_files(mount(mount_dir.path(), &first.bundle)).unwrap();
        let watcher = tls.spawn_watcher(POLL_INTERVAL);
        let (listener, addr) = common::bind_localhost().await;
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = shutdown_rx.await;
        };
        let gate = Gate::default();
        let server = tokio::spawn(serve(listener, tls.clone(), router(gate.clone()), shutdown));
        let ca_pem = first.bundle.ca_cert_pem.clone();
        Self {
            addr,
            ca_pem,
            tls,
            mount_dir,
            gate,
            shutdown_tx,
            server,
            _watcher: watcher,
        }
    }

    /// An HTTP/1.1 client with its own connection pool, trusting only the CA, that reaches
    /// this server under any generation's name.
    fn client(&self, generations: &[&Generation]) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap();
        let builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only([ca])
            .tls_info(true)
            .http1_only();
        let builder = generations.iter().fold(builder, |builder, generation| {
            builder.resolve(&generation.host, self.addr)
        });
        builder.build().unwrap()
    }

    fn url(&self, generation: &Generation, path: &str) -> String {
        format!("https://{}:{}{path}", generation.host, self.addr.port())
    }

    /// GETs `path` by `generation`'s name; the body and the certificate served.
    async fn get(
        &self,
        client: &reqwest::Client,
        generation: &Generation,
        path: &str,
    ) -> reqwest::Result<(String, Vec<u8>)> {
        let response = client.get(self.url(generation, path)).send().await?;
        let tls_info = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .cloned();
        let served = tls_info.and_then(|info| info.peer_certificate().map(<[u8]>::to_vec));
        Ok((response.text().await?, served.unwrap_or_default()))
    }

    /// Waits until a new connection is served `generation`'s certificate.
    async fn wait_for_generation(&self, generation: &Generation) {
        let served = common::eventually(&format!("{} to be served", generation.host), || async {
            let client = self.client(&[generation]);
            self.get(&client, generation, "/hello").await.ok()
        })
        .await;
        assert_eq!(served, ("hello".to_string(), generation.der()));
    }

    async fn stop(self) {
        self.shutdown_tx.send(()).unwrap();
        let served = tokio::time::timeout(common::PATIENCE, self.server)
            .await
            .unwrap();
        assert!(served.unwrap().is_ok());
    }
}

#[tokio::test]
async fn next_handshake_presents_the_rotated_cert_while_an_open_connection_keeps_its_own() {
    let ca = CertificateAuthority::new(SystemTime::now()).unwrap();
    let (first, second) = (Generation::new(&ca, 1), Generation::new(&ca, 2));
    let fixture = Fixture::start(&first).await;
    let kept = fixture.client(&[&first]);
    let greeting = fixture.get(&kept, &first, "/hello").await.unwrap();
    assert_eq!(greeting, ("hello".to_string(), first.der()));

    // A request in flight on the kept-alive connection, across the rotation.
    let slow = {
        let (kept, url) = (kept.clone(), fixture.url(&first, "/slow"));
        tokio::spawn(async move { kept.get(url).send().await?.text().await })
    };
    fixture.gate.entered.notified().await;
    publish(fixture.mount_dir.path(), "..gen-2", &second.bundle);
    fixture.wait_for_generation(&second).await;
    let stale_name = fixture
        .get(&fixture.client(&[&first]), &first, "/hello")
        .await;
    assert!(
        stale_name.is_err(),
        "the new certificate must not carry {}",
        first.host
    );

    fixture.gate.release.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), "slow done");
    let reused = fixture.get(&kept, &first, "/hello").await.unwrap();
    assert_eq!(
        reused,
        ("hello".to_string(), first.der()),
        "old connection reused"
    );
    assert_eq!(fixture.tls.stats().reloads, 1);
    fixture.stop().await;
}

#[tokio::test]
async fn broken_pair_keeps_the_last_good_cert_until_a_valid_pair_lands() {
    let ca = CertificateAuthority::new(SystemTime::now()).unwrap();
    let generations: Vec<Generation> = (1..=3).map(|number| Generation::new(&ca, number)).collect();
    let [first, second, third] = generations.as_slice() else {
        unreachable!()
    };
    let fixture = Fixture::start(first).await;
    let broken = CertBundle {
        key_pem: first.bundle.key_pem.clone(),
        ..second.bundle.clone()
    };
    publish(fixture.mount_dir.path(), "..gen-2-broken", &broken);
    common::eventually("the broken pair to be rejected", || async {
        (fixture.tls.stats().rejections > 0).then_some(())
    })
    .await;
    fixture.wait_for_generation(first).await;
    let refused = fixture
        .get(&fixture.client(&[second]), second, "/hello")
        .await;
    assert!(refused.is_err(), "the broken pair must not be served");

    publish(fixture.mount_dir.path(), "..gen-3", &third.bundle);
    fixture.wait_for_generation(third).await;
    fixture.stop().await;
}

#[tokio::test]
async fn the_metrics_report_when_the_served_certificate_expires() {
    let server = InProcess::start(&["--store", "memory:"]).await;
    let pem = std::fs::read(server.data_file("tls/tls.crt")).unwrap();
    let served = CertificateDer::from_pem_slice(&pem).unwrap();
    let not_after = imagelookup::tls::not_after(&served).expect("the generated certificate parses");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let validity = certs::VALIDITY.as_secs() as i64;
    assert!(
        (not_after - now - validity).abs() < 3600,
        "issued at start-up for ten years: {not_after}"
    );
    let metrics = server.metrics().await.expect("the server answers /metrics");
    let line =
        format!("imagelookup_serving_certificate_expiration_timestamp_seconds {not_after}\n");
    assert!(metrics.contains(&line), "{line} in {metrics}");
    server.shut_down().await;
}
