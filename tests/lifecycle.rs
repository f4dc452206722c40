//! The server's lifecycle end to end, on 127.0.0.1: start-up that waits for an unreachable
//! etcd while answering probes, the shutdown delay after SIGTERM, watches that end cleanly when
//! the drain starts, plaintext HTTP on the TLS port, and the message of a data directory that
//! another process holds. No check depends on how fast anything is: what happens inside the
//! shutdown delay is checked with a delay no test waits out, ended by a second signal.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::etcd::{Etcd, Proxy};
use common::process::spawn_serve;
use common::serving::InProcess;
use common::PATIENCE;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const STREAMS: &str = "/apis/image.openshift.io/v1/namespaces/life/imagestreams";

/// A client that opens a new HTTP/1.1 connection per request and trusts any certificate:
/// only the server's lifecycle is under test here.
fn fresh_http1_client() -> reqwest::Client {
    common::setup();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The status and body of `GET base+path` with `token`, or `None` if the call failed.
async fn get(client: &reqwest::Client, url: &str, token: &str) -> Option<(u16, String)> {
    let response = client.get(url).bearer_auth(token).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Waits until `GET url` answers `status`, and returns its body.
async fn answers(client: &reqwest::Client, url: &str, token: &str, status: u16) -> String {
    common::eventually(&format!("{url} answering {status}"), || async {
        get(client, url, token)
            .await
            .filter(|(answered, _)| *answered == status)
            .map(|(_, body)| body)
    })
    .await
}

#[tokio::test]
async fn an_http1_watch_ends_cleanly_when_shutdown_starts_and_does_not_hold_the_drain() {
    let dir = common::temp_dir();
    let flags = ["--store", "memory:", "--no-importer"];
    let mut server = spawn_serve(dir.path(), &flags, &[]);
    let client = fresh_http1_client();
    let (base, token) = (server.base.clone(), server.token.clone());
    answers(&client, &format!("{base}/readyz"), &token, 200).await;
    let watch = client
        .get(format!("{base}{STREAMS}?watch=true"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);
    assert_eq!(watch.version(), reqwest::Version::HTTP_11);
    // Reading to the end succeeds only if the chunked body is terminated, not cut.
    let body = tokio::spawn(watch.bytes());

    signal(&server.child, "-TERM");
    let body = tokio::time::timeout(PATIENCE, body).await.unwrap().unwrap();
    assert!(body.is_ok(), "the watch was cut, not ended: {body:?}");
    let status = exited(&mut server.child).await;
    assert!(status.success(), "{status:?}");
    // The drain ended with its last connection, not at its timeout (which it logs).
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("draining connections"), "{log}");
    assert!(!log.contains("shutdown timeout reached"), "{log}");
}

/// A server where each user may hold one watch.
async fn one_watch_per_user() -> InProcess {
    let flags = [
        "--store",
        "memory:",
        "--no-importer",
        "--max-watches-per-user",
        "1",
    ];
    InProcess::start(&flags).await
}

#[tokio::test]
async fn a_user_holding_their_watch_limit_gets_429_until_one_of_their_watches_ends() {
    let server = one_watch_per_user().await;
    let url = format!("{}?watch=true", server.url(STREAMS));
    let client = fresh_http1_client();
    let watch = || client.get(&url).bearer_auth(&server.token).send();
    let first = watch().await.unwrap();
    assert_eq!(first.status(), 200);
    let refused = watch().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "10");
    let status: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(status["reason"], "TooManyRequests");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("too many watches open for this user (at most 1)"),
        "{message}"
    );
    // A list is no watch: it is served meanwhile.
    let list = client
        .get(server.url(STREAMS))
        .bearer_auth(&server.token)
        .send();
    assert_eq!(list.await.unwrap().status(), 200);
    drop(first);
    common::eventually("the ended watch's place is freed", || async {
        let again = watch().await.ok()?;
        (again.status() == 200).then_some(())
    })
    .await;
    server.shut_down().await;
}

#[tokio::test]
async fn a_watch_its_client_stopped_reading_still_ends_at_its_timeout_and_frees_its_place() {
    let server = one_watch_per_user().await;
    let client = fresh_http1_client();
    // 40 MB of streams, near the 256 KiB annotations may take in all each: several times what
    // the watch's queue (64 events) and the connection's buffers hold.
    let fill = "x".repeat(200 * 1024);
    for n in 0..200 {
        let stream = serde_json::json!({"apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": format!("big-{n}"), "annotations": {"fill": fill}}});
        let created = client
            .post(server.url(STREAMS))
            .bearer_auth(&server.token)
            .json(&stream)
            .send();
        assert_eq!(created.await.unwrap().status(), 201);
    }
    let url = format!("{}?watch=true&timeoutSeconds=3", server.url(STREAMS));
    let watch = || client.get(&url).bearer_auth(&server.token).send();
    // Held, never read: the watch's initial events fill the buffers, and its sends wait.
    let stalled = watch().await.unwrap();
    assert_eq!(stalled.status(), 200);
    common::eventually(
        "the stalled watch's place is freed at its timeout",
        || async {
            let again = watch().await.ok()?;
            (again.status() == 200).then_some(())
        },
    )
    .await;
    drop(stalled);
    server.shut_down().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_answered_as_go_answers_it() {
    let server = InProcess::start(&["--store", "memory:", "--no-importer"]).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    stream.write_all(request).await.unwrap();
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    tokio::time::timeout(PATIENCE, read).await.unwrap().unwrap();
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );
    server.shut_down().await;
}

#[tokio::test]
async fn with_etcd_unreachable_at_start_up_probes_answer_and_the_server_serves_once_it_is_back() {
    let etcd = Etcd::start("lifecycle");
    let proxy = Proxy::start(etcd.http).await;
    proxy.refuse(true);
    let prefix = format!("/lifecycle-{}/", std::process::id());
    let store = format!("etcd:http://{}?prefix={prefix}", proxy.addr);
    // With an importer: it cannot start before the store connects, but the replica says it
    // will run one, so "no replica imports" alerts count it.
    let server = InProcess::start(&["--store", &store]).await;
    let client = fresh_http1_client();
    let token = server.token.clone();

    common::eventually("a few refused connection attempts", || async {
        (proxy.refused.load(Ordering::Relaxed) >= 2).then_some(())
    })
    .await;
    let metrics = server
        .metrics()
        .await
        .expect("/metrics answers before the store");
    assert!(
        metrics.contains("imagelookup_importer_enabled 1\n"),
        "{metrics}"
    );
    answers(&client, &server.url("/healthz"), &token, 200).await;
    assert_eq!(
        answers(&client, &server.url("/readyz"), &token, 503).await,
        "not ready"
    );
    let verbose = answers(&client, &server.url("/readyz?verbose"), &token, 503).await;
    assert!(
        verbose.contains("[-]store failed: not open yet"),
        "{verbose}"
    );
    // /version needs no store: kubectl version and scripts work while etcd is away.
    let version = answers(&client, &server.url("/version"), &token, 200).await;
    assert!(version.contains(r#""gitVersion""#), "{version}");
    let metrics = server.metrics().await.expect("/metrics answers");
    assert!(metrics.contains("imagelookup_ready 0\n"), "{metrics}");
    let listed = answers(&client, &server.url(STREAMS), &token, 503).await;
    assert!(
        listed.contains(r#""reason":"ServiceUnavailable""#),
        "{listed}"
    );
    // The caller is authenticated first, as kube-apiserver does whatever its storage's state.
    let (status, body) = get(&client, &server.url(STREAMS), "not-a-token")
        .await
        .expect("the API answers");
    assert_eq!(
        status, 401,
        "an unknown token before the store connects: {body}"
    );
    let review = client.post(server.url("/mutate")).body("{}").send().await;
    assert_eq!(review.unwrap().status(), 503, "the webhook needs the index");

    proxy.refuse(false);
    answers(&client, &server.url("/readyz"), &token, 200).await;
    let verbose = answers(&client, &server.url("/readyz?verbose"), &token, 200).await;
    assert!(verbose.contains("[+]store ok\n[+]index ok\n"), "{verbose}");
    let metrics = server.metrics().await.expect("/metrics answers");
    assert!(metrics.contains("imagelookup_ready 1\n"), "{metrics}");
    let listed = answers(&client, &server.url(STREAMS), &token, 200).await;
    assert!(listed.contains(r#""kind":"ImageStreamList""#), "{listed}");
    server.shut_down().await;
}

// === the built binary ===

fn signal(child: &Child, signal: &str) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// Waits (without blocking the runtime) for `child` to exit; its status.
async fn exited(child: &mut Child) -> std::process::ExitStatus {
    common::eventually("the server to exit", || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await
}

#[tokio::test]
async fn after_sigterm_readyz_fails_while_requests_are_served_for_the_shutdown_delay() {
    let dir = common::temp_dir();
    let flags = ["--store", "memory:", "--no-importer"];
    // A delay no test would wait out, so that every check below falls inside it however slow
    // the machine; a second signal ends it.
    let mut server = spawn_serve(
        dir.path(),
        &flags,
        &[("IMAGELOOKUP_SHUTDOWN_DELAY", "600s")],
    );
    let client = fresh_http1_client();
    let (base, token) = (server.base.clone(), server.token.clone());
    answers(&client, &format!("{base}/readyz"), &token, 200).await;

    signal(&server.child, "-TERM");
    let readyz = answers(&client, &format!("{base}/readyz"), &token, 503).await;
    assert_eq!(readyz, "shutting down");
    // New connections, after the signal: accepted and served, writes included.
    let stream = serde_json::json!({"apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream", "metadata": {"name": "late"}});
    let created = client
        .post(format!("{base}{STREAMS}"))
        .bearer_auth(&token)
        .json(&stream)
        .send();
    assert_eq!(created.await.unwrap().status(), 201);
    let listed = get(&client, &format!("{base}{STREAMS}"), &token).await;
    assert_eq!(listed.map(|(status, _)| status), Some(200));
    // The readiness loop, which counts the index's streams, ran again while not ready.
    let metrics = format!("{base}/metrics");
    common::eventually("the index's gauge to count the new stream", || async {
        let (_, text) = get(&client, &metrics, &token).await?;
        text.contains("\nimagelookup_index_streams 1\n")
            .then_some(())
    })
    .await;

    signal(&server.child, "-TERM");
    let status = exited(&mut server.child).await;
    assert_eq!(status.code(), Some(1), "{status:?}");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        log.contains("still serving for the shutdown delay"),
        "{log}"
    );
    assert!(
        !log.contains("draining connections"),
        "all of it happened inside the delay: {log}"
    );
    // Said once, not again at each run of that loop while readiness is false.
    let ready = log.matches("ready: the admission index is loaded").count();
    assert_eq!(ready, 1, "{log}");
}

#[tokio::test]
async fn after_sigterm_and_the_shutdown_delay_the_server_drains_and_exits_cleanly() {
    let dir = common::temp_dir();
    let flags = ["--store", "memory:", "--no-importer"];
    let mut server = spawn_serve(dir.path(), &flags, &[("IMAGELOOKUP_SHUTDOWN_DELAY", "1s")]);
    let client = fresh_http1_client();
    let (base, token) = (server.base.clone(), server.token.clone());
    answers(&client, &format!("{base}/readyz"), &token, 200).await;
    signal(&server.child, "-TERM");
    let status = exited(&mut server.child).await;
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let delay = log.find("still serving for the shutdown delay");
    let drain = log.find("draining connections");
    assert!(
        delay.zip(drain).is_some_and(|(delay, drain)| delay < drain),
        "the delay, then the drain: {log}"
    );
}

#[tokio::test]
async fn a_second_server_on_one_data_dir_names_the_other_process_as_the_cause() {
    let dir = common::temp_dir();
    let _first = spawn_serve(dir.path(), &["--no-importer"], &[]);
    let second = serve_again(dir.path());
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    let expected = format!(
        "error: cannot open the embedded store: the store file {} is open in another process \
         (is another imagelookup serving it?): stop that one, or give this one another store \
         (--store embedded:<path>, or --data-dir)",
        dir.path().join("store").display()
    );
    assert_eq!(stderr.lines().last(), Some(expected.as_str()), "{stderr}");
}

#[tokio::test]
async fn a_second_signal_exits_at_once_without_waiting_for_the_delay() {
    let dir = common::temp_dir();
    let flags = ["--store", "memory:", "--no-importer"];
    // A delay no test would wait out: exiting before it is over shows the second signal acted.
    let mut server = spawn_serve(
        dir.path(),
        &flags,
        &[("IMAGELOOKUP_SHUTDOWN_DELAY", "600s")],
    );
    let client = fresh_http1_client();
    let (base, token) = (server.base.clone(), server.token.clone());
    answers(&client, &format!("{base}/readyz"), &token, 200).await;
    signal(&server.child, "-TERM");
    answers(&client, &format!("{base}/readyz"), &token, 503).await;
    signal(&server.child, "-TERM");
    let status = exited(&mut server.child).await;
    assert_eq!(status.code(), Some(1), "{status:?}");
    // The last line, queued for the background writer when the process exited, is written.
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("a second signal: exiting at once"), "{log}");
}

#[tokio::test]
async fn a_refused_second_server_leaves_the_first_ones_kubeconfig_and_token_alone() {
    let dir = common::temp_dir();
    let _first = spawn_serve(dir.path(), &["--no-importer"], &[]);
    let kubeconfig = std::fs::read(dir.path().join("kubeconfig")).unwrap();
    let tokens = std::fs::read(dir.path().join("tokens.csv")).unwrap();
    let second = serve_again(dir.path());
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(
        std::fs::read(dir.path().join("kubeconfig")).unwrap(),
        kubeconfig
    );
    assert_eq!(
        std::fs::read(dir.path().join("tokens.csv")).unwrap(),
        tokens
    );
}

/// `serve` on a data directory another server holds; returns once it has exited.
fn serve_again(data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .args([
            "serve",
            "--no-importer",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .unwrap()
}

#[test]
fn a_certificate_with_another_pair_s_key_is_refused_naming_both_files_and_the_flags() {
    let dir = common::temp_dir();
    let now = std::time::SystemTime::now();
    let pair = |name: &str| {
        let bundle = imagelookup::certs::generate(&["127.0.0.1".to_string()], now).unwrap();
        imagelookup::certs::write_bundle(&bundle, &dir.path().join(name)).unwrap()
    };
    let (one, other) = (pair("one"), pair("other"));
    let output = Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .args([
            "serve",
            "--no-importer",
            "--store",
            "memory:",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&one.cert)
        .arg("--tls-key")
        .arg(&other.key)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for named in [
        one.cert.display().to_string(),
        other.key.display().to_string(),
    ] {
        assert!(stderr.contains(&named), "{named}: {stderr}");
    }
    assert!(stderr.contains("--tls-cert and --tls-key"), "{stderr}");
    assert!(
        stderr.contains("private key does not match the certificate"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_store_file_redb_panics_on_is_refused_with_one_line_and_no_panic_text() {
    use imagelookup::store::{EmbeddedOptions, EmbeddedStore, Store};
    let dir = common::temp_dir();
    let path = dir.path().join("store");
    let store = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
    for i in 0..5 {
        let key = format!("imagestreams/shop/s{i}");
        store
            .create(&key, serde_json::json!({"n": i}))
            .await
            .unwrap();
    }
    drop(store);
    // A valid header over zeroed pages: redb meets unreachable!() rather than an error.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8192..].fill(0);
    std::fs::write(&path, bytes).unwrap();

    let refused = serve_again(dir.path());
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let expected = format!(
        "error: the store file {} is corrupt (redb met a damaged page: ",
        path.display()
    );
    assert!(stderr.trim().starts_with(&expected), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let path = path.display().to_string();
    assert_eq!(stderr.matches(&path).count(), 1, "the path once: {stderr}");
}

/// `imagelookup restore-store --from <from> --data-dir <data_dir>`.
fn restore_store(from: &Path, data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .arg("restore-store")
        .arg("--from")
        .arg(from)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

/// Every file in `dir` with its bytes, to compare the directory before and after a command.
fn files_in(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_backup_with_zeroed_pages_is_refused_as_corrupt_and_leaves_the_data_directory_as_it_was()
{
    use imagelookup::store::{EmbeddedOptions, EmbeddedStore, Store};
    let dir = common::temp_dir();
    let data = dir.path().join("data");
    let store = EmbeddedStore::open(data.join("store"), EmbeddedOptions::default()).unwrap();
    let padding = "x".repeat(2000);
    for i in 0..500 {
        let key = format!("imagestreams/shop/s{i}");
        let stream = serde_json::json!({"n": i, "padding": padding});
        store.create(&key, stream).await.unwrap();
    }
    drop(store);
    // A copy of the good store with 50 pages zeroed in its middle, as a damaged disk leaves it:
    // redb meets unreachable!() reading its rows rather than an error.
    let backup = dir.path().join("store-20261202T110600Z.redb");
    let mut bytes = std::fs::read(data.join("store")).unwrap();
    let middle = bytes.len() / 4096 / 2 * 4096;
    bytes[middle..middle + 50 * 4096].fill(0);
    std::fs::write(&backup, bytes).unwrap();
    let before = files_in(&data);

    let refused = restore_store(&backup, &data);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let expected = format!(
        "error: cannot restore {}: it is corrupt (",
        backup.display()
    );
    assert!(stderr.trim().starts_with(&expected), "{stderr}");
    assert!(stderr.contains("restore another backup"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(
        files_in(&data),
        before,
        "no store.partial, no store.replaced-*, the store untouched"
    );
}

#[test]
fn a_restore_from_a_missing_file_is_refused_saying_it_does_not_exist() {
    let dir = common::temp_dir();
    let missing = dir.path().join("store-20261202T110600Z.redb");
    let data = dir.path().join("data");
    let refused = restore_store(&missing, &data);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    let expected = format!("error: {} does not exist: ", missing.display());
    assert!(stderr.trim().starts_with(&expected), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert!(!data.join("store").exists(), "nothing restored");
}

/// Records `format` in the store file at `path`, as a newer imagelookup would write it.
fn record_store_format(path: &Path, format: u64) {
    let meta = redb::TableDefinition::<&str, u64>::new("meta");
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(meta)
        .unwrap()
        .insert("format", format)
        .unwrap();
    txn.commit().unwrap();
}

/// The format the store file at `path` records.
fn store_format(path: &Path) -> Option<u64> {
    use redb::ReadableDatabase as _;
    let meta = redb::TableDefinition::<&str, u64>::new("meta");
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let format = txn.open_table(meta).unwrap().get("format").unwrap();
    format.map(|guard| guard.value())
}

#[tokio::test]
async fn a_store_file_a_newer_version_wrote_is_refused_by_serve_and_restore_saying_what_to_run() {
    use imagelookup::store::{EmbeddedOptions, EmbeddedStore, Store};
    let dir = common::temp_dir();
    let path = dir.path().join("store");
    let store = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
    let stream = serde_json::json!({"n": 1});
    store.create("imagestreams/shop/s", stream).await.unwrap();
    drop(store);
    assert_eq!(store_format(&path), Some(1), "written by this version");
    record_store_format(&path, 2);
    let said = format!(
        "the store file {} is in format 2, which a newer imagelookup wrote; this version reads \
         format 1 and older: run the newer version, or restore a backup this version wrote",
        path.display()
    );

    let refused = serve_again(dir.path());
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.trim().starts_with(&format!("error: {said}")),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let elsewhere = dir.path().join("restored");
    let restore = Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .arg("restore-store")
        .arg("--from")
        .arg(&path)
        .arg("--data-dir")
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(restore.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&restore.stderr);
    assert!(
        stderr.trim().starts_with(&format!("error: {said}")),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches(&path.display().to_string()).count(),
        1,
        "{stderr}"
    );
    assert!(!elsewhere.join("store").exists(), "nothing restored");

    assert_eq!(
        store_format(&path),
        Some(2),
        "left as the newer version wrote it"
    );
}

#[tokio::test]
async fn streams_may_only_name_the_registries_allowed_for_import() {
    let server = InProcess::start(&[
        "--store",
        "memory:",
        "--no-importer",
        "--allowed-registries-for-import",
        "quay.io,http://registry.local:5000",
    ])
    .await;
    let client = fresh_http1_client();
    let create = |name: &str, from: &str| {
        let stream = serde_json::json!({
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": name},
            "spec": {"tags": [{"name": "v1", "from": {"kind": "DockerImage", "name": from}}]},
        });
        client
            .post(server.url(STREAMS))
            .bearer_auth(&server.token)
            .json(&stream)
            .send()
    };
    let allowed = create("allowed", "quay.io/org/app:1").await.unwrap();
    assert_eq!(allowed.status(), 201);
    let refused = create("refused", "docker.io/library/mysql:8")
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let message = refused.text().await.unwrap();
    assert!(message.contains("spec.tags[v1].from.name"), "{message}");
    assert!(message.contains("docker.io"), "{message}");
    // Without a policy file nobody is exempt: an import from elsewhere is refused before any
    // registry is asked, even with import: false.
    let import = serde_json::json!({
        "apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport",
        "metadata": {"name": "probe"},
        "spec": {"import": false, "images": [
            {"from": {"kind": "DockerImage", "name": "docker.io/library/mysql:8"}}]},
    });
    let imports = "/apis/image.openshift.io/v1/namespaces/life/imagestreamimports";
    let refused = client
        .post(server.url(imports))
        .bearer_auth(&server.token)
        .json(&import)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let message = refused.text().await.unwrap();
    assert!(
        message.contains("importing images is forbidden"),
        "{message}"
    );
    server.shut_down().await;
}

#[test]
fn an_unusable_allowed_registry_fails_start_up_naming_the_flag() {
    let dir = common::temp_dir();
    let refused = Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .args([
            "serve",
            "--store",
            "memory:",
            "--no-importer",
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--allowed-registries-for-import",
            "quay.io,a:b:c",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--allowed-registries-for-import"),
        "{stderr}"
    );
    assert!(stderr.contains("\"a:b:c\": too many colons"), "{stderr}");
}

#[tokio::test]
async fn tags_that_name_no_import_mode_get_the_servers_default() {
    let server = InProcess::start(&[
        "--store",
        "memory:",
        "--no-importer",
        "--default-import-mode",
        "PreserveOriginal",
    ])
    .await;
    let client = fresh_http1_client();
    let tag = |name: &str, mode: Option<&str>| {
        let mut tag = serde_json::json!({"name": name,
            "from": {"kind": "DockerImage", "name": format!("quay.io/org/app:{name}")}});
        if let Some(mode) = mode {
            tag["importPolicy"] = serde_json::json!({"importMode": mode});
        }
        tag
    };
    let stream = serde_json::json!({
        "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "multi"},
        "spec": {"tags": [tag("unset", None), tag("legacy", Some("Legacy"))]},
    });
    let created = client
        .post(server.url(STREAMS))
        .bearer_auth(&server.token)
        .json(&stream)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let mode_of = |name: &str| {
        let tags = created["spec"]["tags"].as_array().unwrap();
        let tag = tags.iter().find(|t| t["name"] == name).unwrap();
        tag["importPolicy"]["importMode"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(mode_of("unset"), "PreserveOriginal", "{created}");
    assert_eq!(mode_of("legacy"), "Legacy", "{created}");
    server.shut_down().await;
}

#[test]
fn a_flag_s_file_that_cannot_be_used_stops_start_up_before_the_data_directory_is_made() {
    let dir = common::temp_dir();
    let conf = dir.path().join("registries.conf");
    std::fs::write(
        &conf,
        "unqualified-search-registries = [\"docker.io\"]\n[[registry]]\nlocation = ",
    )
    .unwrap();
    let data_dir = dir.path().join("fresh");
    let refused = Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .args(["serve", "--no-importer", "--listen", "127.0.0.1:0"])
        .arg("--registries-conf")
        .arg(&conf)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("registries.conf"), "{stderr}");
    assert!(
        !data_dir.exists(),
        "no store, CA or token made for a server that cannot start"
    );
}
