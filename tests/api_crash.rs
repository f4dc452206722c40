//! Durability: the built binary is SIGKILLed in the middle of a burst of concurrent creates,
//! restarted on the same data directory, and must still have every create it answered 201; and
//! a file the disk stops accepting (a file size limit set on the running server, which fails
//! its writes as a full disk does) is answered 503, loses nothing, and is recovered from
//! without a restart once the disk accepts writes again.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{stream, streams_path, PATIENCE};

const NAMESPACE: &str = "crash";
const WORKERS: usize = 24;
/// The server is killed once this many creates were acknowledged.
const KILL_AFTER: usize = 150;

/// A `serve` child process on a free port, and how to call it.
struct Process {
    /// Behind a lock so that the test can SIGKILL it ([`Child::kill`]) while workers share it.
    process: Mutex<Child>,
    base: String,
    client: reqwest::Client,
    token: String,
}

fn start(data_dir: &Path, run: usize) -> Process {
    start_with(
        Command::new(env!("CARGO_BIN_EXE_imagelookup")),
        data_dir,
        run,
    )
}

/// A server whose file size limit can be lowered while it runs (`prlimit`): it starts with
/// SIGXFSZ ignored, so that a write past the limit fails with EFBIG instead of killing it.
fn start_limitable(data_dir: &Path, run: usize) -> Process {
    let mut command = Command::new("bash");
    command.args([
        "-c",
        "trap '' XFSZ; exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_imagelookup"),
    ]);
    start_with(command, data_dir, run)
}

fn start_with(mut command: Command, data_dir: &Path, run: usize) -> Process {
    let log = data_dir.join(format!("server-{run}.log"));
    let process = command
        .args([
            "serve",
            "--no-importer",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the server log"))
        .spawn()
        .expect("start imagelookup serve");
    let base = support::eventually("the server to print its address", || {
        let text = std::fs::read_to_string(&log).ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with("imagelookup is serving "))?;
        Some(
            line.trim_start_matches("imagelookup is serving ")
                .trim()
                .to_string(),
        )
    });
    let (ca, token) = support::eventually("the kubeconfig", || credentials(data_dir, &base));
    Process {
        process: Mutex::new(process),
        base,
        client: support::http::client(&ca),
        token,
    }
}

fn credentials(data_dir: &Path, base: &str) -> Option<(Vec<u8>, String)> {
    use base64::Engine;
    let text = std::fs::read_to_string(data_dir.join("kubeconfig")).ok()?;
    let config: Value = serde_norway::from_str(&text).ok()?;
    let cluster = &config["clusters"][0]["cluster"];
    (cluster["server"].as_str()? == base).then_some(())?;
    let ca = cluster["certificate-authority-data"].as_str()?;
    let ca = base64::engine::general_purpose::STANDARD.decode(ca).ok()?;
    Some((
        ca,
        config["users"][0]["user"]["token"].as_str()?.to_string(),
    ))
}

impl Process {
    async fn wait_ready(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "the server never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POSTs a stream; `Some(status)` if answered, `None` if the connection failed.
    async fn create(&self, name: &str) -> Option<u16> {
        self.try_create(name).await.ok()
    }

    /// POSTs a stream; its status, or why no answer came.
    async fn try_create(&self, name: &str) -> Result<u16, reqwest::Error> {
        let (status, _) = self.post(stream(NAMESPACE, name, &[])).await?;
        Ok(status)
    }

    /// POSTs a stream carrying `padding` bytes in an annotation; the status and the body.
    async fn create_padded(&self, name: &str, padding: usize) -> (u16, Value) {
        let mut object = stream(NAMESPACE, name, &[]);
        object["metadata"]["annotations"] = serde_json::json!({"pad": "x".repeat(padding)});
        let (status, body) = self.post(object).await.expect("the server answers");
        (
            status,
            serde_json::from_slice(&body).expect("a JSON answer"),
        )
    }

    async fn post(&self, object: Value) -> Result<(u16, Vec<u8>), reqwest::Error> {
        let url = format!("{}{}", self.base, streams_path(NAMESPACE));
        let response = self
            .client
            .post(url)
            .bearer_auth(&self.token)
            .json(&object)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?.to_vec()))
    }

    /// SIGKILLs the server.
    fn kill(&self) {
        self.process
            .lock()
            .unwrap()
            .kill()
            .expect("SIGKILL the server");
    }

    /// Sets the server's file size limit (soft; `None`: unlimited) while it runs.
    fn limit_file_size(&self, bytes: Option<u64>) {
        let limit = bytes.map_or("unlimited".to_string(), |b| b.to_string());
        let status = Command::new("prlimit")
            .arg(format!("--pid={}", self.process.lock().unwrap().id()))
            .arg(format!("--fsize={limit}:"))
            .status()
            .expect("run prlimit (util-linux)");
        assert!(status.success(), "prlimit --fsize={limit}:");
    }

    async fn names(&self) -> BTreeSet<String> {
        let url = format!("{}{}", self.base, streams_path(NAMESPACE));
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let list: Value = response.json().await.unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let process = self.process.get_mut().unwrap();
        let _ = process.kill();
        let _ = process.wait();
    }
}

/// How a worker's burst ended: its last create, which got no answer.
struct CutOff {
    name: String,
    /// Whether the create was sent before the kill was: then the kill cut it off in flight.
    sent_before_the_kill: bool,
    error: String,
}

/// One worker: creates `w<worker>-<i>` until a request fails; records what got 201, and says
/// how its last create failed.
async fn worker(
    server: Arc<Process>,
    worker: usize,
    acked: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Vec<String>>>,
    killing: Arc<AtomicBool>,
) -> CutOff {
    for i in 0.. {
        let name = format!("w{worker}-{i}");
        sent.lock().unwrap().push(name.clone());
        let sent_before_the_kill = !killing.load(Ordering::SeqCst);
        match server.try_create(&name).await {
            Ok(201) => acked.lock().unwrap().push(name),
            Ok(status) => panic!("create {name} answered {status}"),
            Err(error) => {
                return CutOff {
                    name,
                    sent_before_the_kill,
                    error: format!("{error:?}"),
                }
            }
        }
    }
    unreachable!("a worker creates until the server is gone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_create_survives_a_sigkill_mid_burst() {
    support::setup();
    let dir = tempfile::tempdir().unwrap();
    let first = Arc::new(start(dir.path(), 1));
    first.wait_ready().await;

    let acked = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let killing = Arc::new(AtomicBool::new(false));
    let mut burst = tokio::task::JoinSet::new();
    for id in 0..WORKERS {
        burst.spawn(worker(
            first.clone(),
            id,
            acked.clone(),
            sent.clone(),
            killing.clone(),
        ));
    }
    let deadline = Instant::now() + PATIENCE;
    while acked.lock().unwrap().len() < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "the burst did not reach {KILL_AFTER} creates"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A worker that reads this unset sends its create before the SIGKILL is sent: if that
    // create then fails, the kill cut it off in flight. The workers keep sending, so the kill
    // lands with creates in flight unless it waited for the burst to end.
    killing.store(true, Ordering::SeqCst);
    first.kill();
    let mut cut_off = Vec::new();
    while let Some(result) = burst.join_next().await {
        cut_off.push(result.expect("a worker ends when the server is gone"));
    }
    let report: Vec<String> = cut_off
        .iter()
        .map(|cut| {
            let when = if cut.sent_before_the_kill {
                "sent before the kill"
            } else {
                "sent after the kill"
            };
            format!("{} ({when}): {}", cut.name, cut.error)
        })
        .collect();
    assert!(
        cut_off.iter().any(|cut| cut.sent_before_the_kill),
        "no create was in flight when the kill landed: {report:#?}"
    );
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let sent: BTreeSet<String> = sent.lock().unwrap().iter().cloned().collect();
    drop(first);

    let second = start(dir.path(), 2);
    second.wait_ready().await;
    let stored = second.names().await;
    let lost: Vec<&String> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    let invented: Vec<&String> = stored.difference(&sent).collect();
    assert!(invented.is_empty(), "objects nobody created: {invented:?}");
    assert_eq!(
        second.create("after-restart").await,
        Some(201),
        "the reopened store takes writes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_disk_refuses_is_answered_503_and_writes_resume_once_it_accepts_them() {
    support::setup();
    let dir = tempfile::tempdir().unwrap();
    let server = start_limitable(dir.path(), 1);
    server.wait_ready().await;
    assert_eq!(server.create("before").await, Some(201));

    // The store file may not grow any more: the next writes that need more room fail.
    let store = dir.path().join("store");
    server.limit_file_size(Some(std::fs::metadata(&store).unwrap().len()));
    let mut acked = BTreeSet::from(["before".to_string()]);
    let mut refusal = None;
    for i in 0..200 {
        let name = format!("big-{i}");
        match server.create_padded(&name, 64 << 10).await {
            (201, _) => drop(acked.insert(name)),
            (status, body) => {
                refusal = Some((name, status, body));
                break;
            }
        }
    }
    let (refused, status, body) = refusal.expect("a write past the file size limit is refused");
    assert_eq!(
        (status, body["reason"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    for part in [
        "nothing of this request was saved",
        "ulimit -f",
        "then retry",
    ] {
        assert!(message.contains(part), "{part:?} in {message:?}");
    }
    assert_eq!(
        server.names().await,
        acked,
        "reads go on, nothing half-written"
    );

    // Room again: writes resume without a restart, and the refused one never happened.
    server.limit_file_size(None);
    let deadline = Instant::now() + PATIENCE;
    while server.create_padded("after", 64 << 10).await.0 != 201 {
        assert!(Instant::now() < deadline, "writes never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    acked.insert("after".to_string());
    assert!(!server.names().await.contains(&refused));
    assert_eq!(server.names().await, acked);
    drop(server);

    let restarted = start(dir.path(), 2);
    restarted.wait_ready().await;
    assert_eq!(
        restarted.names().await,
        acked,
        "everything answered 201 is on disk"
    );
}

/// The backups in `dir` (`store-<UTC time>.redb`), oldest first.
fn backups_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("store-") && name.ends_with(".redb"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_written_while_serving_restores_every_create_acknowledged_before_it() {
    support::setup();
    let dir = tempfile::tempdir().unwrap();
    let (data, backups) = (dir.path().join("data"), dir.path().join("backups"));
    std::fs::create_dir_all(&data).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_imagelookup"));
    command
        .env("IMAGELOOKUP_BACKUP_DIR", &backups)
        .env("IMAGELOOKUP_BACKUP_INTERVAL", "1s")
        .env("IMAGELOOKUP_BACKUP_KEEP", "2");
    let server = start_with(command, &data, 1);
    server.wait_ready().await;
    let first = support::eventually("a first backup", || backups_in(&backups).first().cloned());

    let created: BTreeSet<String> = (0..40).map(|n| format!("kept-{n}")).collect();
    for name in &created {
        assert_eq!(server.create(name).await, Some(201), "{name}");
    }
    // A backup named at a later second than the last acknowledgement began after it.
    let acked = format!(
        "store-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    );
    // Copied as soon as it is there: the server goes on writing backups and removing the old.
    let chosen = dir.path().join("chosen.redb");
    support::eventually("a backup begun after the creates, copied", || {
        let later = |name: &String| name.trim_end_matches(".redb") > acked.as_str();
        let after = backups_in(&backups).into_iter().find(later)?;
        std::fs::copy(backups.join(after), &chosen).ok()
    });
    // Older backups go once two newer ones are written.
    support::eventually("the first backup removed", || {
        let names = backups_in(&backups);
        (!names.contains(&first) && names.len() <= 2).then_some(())
    });
    // Not over the store of a running server.
    let refused = restore_store(&chosen, &data);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("stop imagelookup serve first"), "{said}");
    assert_eq!(kept_stores(&data), 0, "a refused restore keeps nothing");
    drop(server);

    let from_file = restore_store(&chosen, &dir.path().join("restored-from-file"));
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    // The directory restores its newest backup, begun after the creates as `chosen` was.
    let restored = dir.path().join("restored");
    let done = restore_store(&backups, &restored);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let newest = backups.join(backups_in(&backups).last().unwrap());
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(
        said.contains(&format!("from {} ", newest.display())),
        "{said}"
    );
    assert_eq!(kept_stores(&restored), 0, "there was no store to keep");
    // Restoring again keeps the store it replaces.
    let again = restore_store(&chosen, &restored);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("the store it replaced is kept"));
    assert_eq!(kept_stores(&restored), 1);
    let server = start(&restored, 2);
    server.wait_ready().await;
    assert_eq!(server.names().await, created);
    // Revisions go on past the bump: none a client saw before the restore is named again.
    let (status, body) = server.post(stream(NAMESPACE, "after", &[])).await.unwrap();
    assert_eq!(status, 201);
    let created: Value = serde_json::from_slice(&body).unwrap();
    let revision: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(revision > 1_000_000_000, "{revision}");
}

/// How many stores restores replaced and kept in `data_dir` (`store.replaced-<time>`).
fn kept_stores(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir)
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("store.replaced-")
        })
        .count()
}

/// `imagelookup restore-store --from <backup or directory> --data-dir <data_dir>`.
fn restore_store(backup: &Path, data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .arg("restore-store")
        .arg("--from")
        .arg(backup)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run imagelookup restore-store")
}
