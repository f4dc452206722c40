//! Part 4 of issue #5: the store through the HTTP API of `imagelookup serve`, next to the
//! disk's own fsync rate measured in the same directory in the same run.
//!
//! ```text
//! 4 × [fsync window, 1 writer creating, fsync window, 64 writers creating, fsync window]
//!     64-writer rate / fsync rate around it = what group commit buys
//! fill ns list with 10,000 ─> get (1 client) ─> list in pages of 500 ─> watch fan-out
//! ```

use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::AUTHORIZATION;
use http::{Method, StatusCode};
use serde::Deserialize;

use super::cpu;
use super::loadgen::{self, Call, Calls, Connection, Expect, Load, Outcome, Pace, Target};
use super::report::{Latency, StoreResults};
use super::stack::TOKEN;
use super::watch_runs;
use super::webhook_runs::SERVER_THREADS;
use imagelookup::store::EmbeddedStore;

/// Streams in the listed namespace.
const LIST_SIZE: u64 = 10_000;
/// The collection path of every namespace.
pub const STREAMS: &str = "/apis/image.openshift.io/v1/namespaces";
const PAGE: usize = 500;

/// Runs every store measurement against `target`, whose store `store` lives in `dir`.
pub async fn measure(
    target: &Target,
    dir: &Path,
    store: &EmbeddedStore,
) -> anyhow::Result<StoreResults> {
    let creates = durable_creates(target, dir, store).await?;
    let filled = create_streams(
        target,
        "list",
        "s".into(),
        64,
        Duration::from_secs(120),
        Some(LIST_SIZE),
    )
    .await?;
    anyhow::ensure!(
        filled.ok == LIST_SIZE,
        "created {} of {LIST_SIZE} streams to list",
        filled.ok
    );
    let (list_page, list_all_ms) = lists(target, Duration::from_secs(3)).await?;
    let fsyncs = median(&creates.windows);
    let c1 = creates.c1.outcome.rps();
    let c64 = creates.c64.outcome.rps();
    Ok(StoreResults {
        disk_fsyncs_per_s: fsyncs,
        disk_fsync_windows: creates.windows,
        c1_writes_per_commit: creates.c1.writes_per_commit(),
        c64_writes_per_commit: creates.c64.writes_per_commit(),
        creates_c1_per_s: c1,
        creates_c64_per_s: c64,
        c64_over_fsync: median(&creates.round_ratios),
        c64_round_ratios: creates.round_ratios,
        c1_over_fsync: c1 / fsyncs,
        c1_server_cpu_us: creates.c1.cpu_us(creates.c1.server_cpu_ns),
        c64_server_cpu_us: creates.c64.cpu_us(creates.c64.server_cpu_ns),
        c1_commit_cpu_us: creates.c1.cpu_us(creates.c1.commit_cpu_ns),
        c64_commit_cpu_us: creates.c64.cpu_us(creates.c64.commit_cpu_ns),
        create_c1: Latency::of(&creates.c1.sorted()),
        create_c64: Latency::of(&creates.c64.sorted()),
        get: Latency::of(&gets(target, Duration::from_secs(2)).await?),
        list_page,
        list_all_ms,
        watch: watch_runs::fan_out(target).await?,
    })
}

/// Rounds of creating streams, each beside the disk's fsync rate just before and after it.
const CREATE_ROUNDS: usize = 4;

/// What the create rounds measured.
struct Creates {
    /// One writer, all rounds.
    c1: Committed,
    /// 64 writers, all rounds.
    c64: Committed,
    /// Every fsync window.
    windows: Vec<f64>,
    /// Each round's 64-writer rate over the mean of the windows around it.
    round_ratios: Vec<f64>,
}

/// The name of the store's commit thread (`EmbeddedStore::open`).
const COMMIT_THREAD: &str = "store-commit";

/// Creates, the store's commits meanwhile and the CPU time they cost.
#[derive(Default)]
struct Committed {
    outcome: Outcome,
    commits: u64,
    writes: u64,
    /// CPU time of the server runtime's threads (HTTP, TLS, the handler).
    server_cpu_ns: u64,
    /// CPU time of the store's commit thread (redb transactions; the fsync waits are not CPU).
    commit_cpu_ns: u64,
}

/// Interleaves, so that a disk whose speed changes (a shared host) is compared with itself:
/// `CREATE_ROUNDS × [fsync window, 1 writer, fsync window, 64 writers, fsync window]`.
async fn durable_creates(
    target: &Target,
    dir: &Path,
    store: &EmbeddedStore,
) -> anyhow::Result<Creates> {
    let window = Duration::from_millis(250);
    let mut creates = Creates {
        c1: Committed::default(),
        c64: Committed::default(),
        windows: Vec::new(),
        round_ratios: Vec::new(),
    };
    for round in 0..CREATE_ROUNDS {
        let before = disk_fsyncs_per_s(dir, window)?;
        let c1 = create_streams(
            target,
            "c1",
            format!("r{round}"),
            1,
            Duration::from_millis(500),
            None,
        );
        creates.c1.add(store, c1).await?;
        let between = disk_fsyncs_per_s(dir, window)?;
        let c64 = create_streams(
            target,
            "c64",
            format!("r{round}"),
            64,
            Duration::from_millis(750),
            None,
        );
        let rate = creates.c64.add(store, c64).await?;
        let after = disk_fsyncs_per_s(dir, window)?;
        creates.round_ratios.push(rate / ((between + after) / 2.0));
        creates.windows.extend([before, between, after]);
    }
    Ok(creates)
}

impl Committed {
    /// Runs `creates`, adds its outcome and the commits made meanwhile; returns its rate.
    async fn add(
        &mut self,
        store: &EmbeddedStore,
        creates: impl std::future::Future<Output = anyhow::Result<Outcome>>,
    ) -> anyhow::Result<f64> {
        let before = store.stats();
        let cpu_before = (
            cpu::server_cpu_ns(SERVER_THREADS),
            cpu::thread_cpu_ns(COMMIT_THREAD),
        );
        let outcome = creates.await?;
        let after = store.stats();
        self.server_cpu_ns += cpu::server_cpu_ns(SERVER_THREADS).saturating_sub(cpu_before.0);
        self.commit_cpu_ns += cpu::thread_cpu_ns(COMMIT_THREAD).saturating_sub(cpu_before.1);
        self.commits += after.commits.saturating_sub(before.commits);
        self.writes += after.writes.saturating_sub(before.writes);
        let rate = outcome.rps();
        self.outcome.merge(outcome);
        Ok(rate)
    }

    fn writes_per_commit(&self) -> f64 {
        self.writes as f64 / self.commits.max(1) as f64
    }

    /// `cpu_ns` per acknowledged create, µs.
    fn cpu_us(&self, cpu_ns: u64) -> f64 {
        cpu_ns as f64 / 1e3 / self.outcome.ok.max(1) as f64
    }

    fn sorted(&self) -> Outcome {
        let mut outcome = self.outcome.clone();
        outcome.latencies.sort_unstable();
        outcome
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Small writes, each made durable, in a loop for `duration` in `dir`: what one fsync costs
/// on this disk. `fdatasync` over a preallocated block, as redb commits do.
pub fn disk_fsyncs_per_s(dir: &Path, duration: Duration) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let file = std::fs::File::create(&path)?;
    file.write_all_at(&[0; 4096], 0)?;
    file.sync_all()?;
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < duration {
        file.write_all_at(&count.to_le_bytes().repeat(8), 0)?;
        file.sync_data()?;
        count += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(rate)
}

/// `call` with the admin's bearer token.
pub fn authorized(call: Call) -> Call {
    call.header(AUTHORIZATION, &format!("Bearer {TOKEN}"))
}

/// A minimal stream as a user would create it.
pub fn stream_body(name: &str) -> String {
    serde_json::json!({
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {
            "lookupPolicy": {"local": true},
            "tags": [{"name": "latest", "from": {"kind": "DockerImage", "name": format!("quay.io/org/{name}:latest")}}]
        }
    })
    .to_string()
}

/// Creates `<prefix>-<n>` in `namespace` from `connections` writers for `duration`, at most
/// `limit` streams.
async fn create_streams(
    target: &Target,
    namespace: &str,
    prefix: String,
    connections: usize,
    duration: Duration,
    limit: Option<u64>,
) -> anyhow::Result<Outcome> {
    let path = format!("{STREAMS}/{namespace}/imagestreams");
    let calls: Calls = Arc::new(move |n| {
        authorized(Call::json(
            Method::POST,
            &path,
            stream_body(&format!("{prefix}-{n}")),
        ))
    });
    let load = Load {
        connections,
        duration,
        pace: Pace::Closed,
    };
    let outcome = loadgen::run(
        target,
        calls,
        Expect::status(StatusCode::CREATED),
        load,
        limit,
    )
    .await?;
    anyhow::ensure!(
        outcome.failed == 0,
        "{} creates in {namespace} failed",
        outcome.failed
    );
    Ok(outcome)
}

/// GETs of the streams `list/s-<n>`, one client.
async fn gets(target: &Target, duration: Duration) -> anyhow::Result<Outcome> {
    let calls: Calls = Arc::new(move |n| {
        authorized(Call::get(&format!(
            "{STREAMS}/list/imagestreams/s-{}",
            n % LIST_SIZE
        )))
    });
    let load = Load {
        connections: 1,
        duration,
        pace: Pace::Closed,
    };
    let outcome = loadgen::run(target, calls, Expect::status(StatusCode::OK), load, None).await?;
    anyhow::ensure!(outcome.failed == 0, "{} gets failed", outcome.failed);
    Ok(outcome)
}

/// The parts of a list page the client needs; items are counted, not decoded.
#[derive(Deserialize)]
pub struct Page {
    /// The list's metadata.
    pub metadata: PageMeta,
    /// The items, counted.
    pub items: Vec<serde::de::IgnoredAny>,
}

/// A list's `metadata`.
#[derive(Deserialize)]
pub struct PageMeta {
    /// The snapshot's revision.
    #[serde(rename = "resourceVersion")]
    pub resource_version: String,
    /// The continue token, if more items follow.
    #[serde(rename = "continue", default)]
    pub next: Option<String>,
}

/// Lists namespace `list` whole, in pages, again and again for `duration`: the latency of
/// each page, and the median time of a whole list in ms.
async fn lists(target: &Target, duration: Duration) -> anyhow::Result<(Latency, f64)> {
    let mut connection = target.connect().await?;
    let mut pages = Outcome::default();
    let mut whole = Vec::new();
    let started = Instant::now();
    while started.elapsed() < duration || whole.is_empty() {
        let list_started = Instant::now();
        let mut token: Option<String> = None;
        let mut items = 0;
        loop {
            let query = match &token {
                Some(token) => format!("limit={PAGE}&continue={token}"),
                None => format!("limit={PAGE}"),
            };
            let page_started = Instant::now();
            let page = get_page(
                &mut connection,
                &format!("{STREAMS}/list/imagestreams?{query}"),
            )
            .await?;
            pages
                .latencies
                .push(page_started.elapsed().as_nanos() as u64);
            pages.ok += 1;
            items += page.items.len();
            token = page.metadata.next.filter(|next| !next.is_empty());
            if token.is_none() {
                break;
            }
        }
        anyhow::ensure!(
            items as u64 == LIST_SIZE,
            "listed {items} streams, expected {LIST_SIZE}"
        );
        whole.push(list_started.elapsed().as_secs_f64() * 1e3);
    }
    pages.elapsed = started.elapsed();
    pages.latencies.sort_unstable();
    whole.sort_by(f64::total_cmp);
    Ok((Latency::of(&pages), whole[whole.len() / 2]))
}

/// One page of a list; fails unless HTTP 200.
pub async fn get_page(connection: &mut Connection, path: &str) -> anyhow::Result<Page> {
    let (status, body) = connection.send(&authorized(Call::get(path))).await?;
    anyhow::ensure!(status == StatusCode::OK, "list answered {status}");
    Ok(serde_json::from_slice(&body)?)
}
