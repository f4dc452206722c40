//! The results of `make bench`: one JSON document, a printed table, and the pass/fail lines of
//! the targets of issue #5.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::loadgen::Outcome;

/// Everything one run measured.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// Where it ran.
    pub machine: Machine,
    /// `/mutate` against `/noop` on the same server.
    pub webhook: Webhook,
    /// `/mutate` with 10 and with 100,000 streams; memory per stream.
    pub scale: Scale,
    /// The criterion resolver benchmarks, nanoseconds per parse + resolve.
    pub resolver: Resolver,
    /// The criterion admission benchmarks: CPU time of the webhook's stages, no network.
    pub admission: AdmissionCost,
    /// Heap bytes per stream by in-memory form (`benches/memory.rs`); absent if it has not run.
    pub memory: Option<Memory>,
    /// The store through the HTTP API, next to the disk.
    pub store: StoreResults,
    /// The targets, evaluated.
    pub targets: Vec<Goal>,
}

/// The machine.
#[derive(Debug, Default, Serialize)]
pub struct Machine {
    /// `nproc`.
    pub nproc: usize,
    /// The CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// The kernel release.
    pub kernel: String,
    /// The 1-minute load average when the run started (other work on the machine).
    pub loadavg_at_start: String,
}

/// Throughput and latency of one kind of request.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Good answers per second.
    pub rps: f64,
    /// Good answers.
    pub requests: u64,
    /// Failed or wrong answers (must be 0).
    pub errors: u64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
}

/// Part 1 of the issue.
#[derive(Debug, Default, Serialize)]
pub struct Webhook {
    /// Keep-alive connections of the closed-loop runs.
    pub connections: usize,
    /// Interleaved rounds (noop, mutate@10, mutate@100k) of the closed-loop runs.
    pub rounds: usize,
    /// `/noop`, closed loop: the ceiling.
    pub noop: Latency,
    /// `/mutate` at 10 streams, closed loop.
    pub mutate: Latency,
    /// `mutate.rps / noop.rps`: the median of the rounds' ratios.
    pub throughput_ratio: f64,
    /// Each round's `mutate.rps / noop.rps`.
    pub round_ratios: Vec<f64>,
    /// Server threads' CPU time per `/noop` request, µs.
    pub noop_server_cpu_us: f64,
    /// Server threads' CPU time per `/mutate` request (10 streams), µs.
    pub mutate_server_cpu_us: f64,
    /// Load generator CPU time per request (both endpoints), µs.
    pub client_cpu_us: f64,
    /// The fixed rate of the paced runs: half the ceiling.
    pub half_rate_rps: f64,
    /// `/noop` at half the ceiling.
    pub noop_at_half: Latency,
    /// `/mutate` (10 streams) at half the ceiling.
    pub mutate_at_half: Latency,
    /// `/mutate` (10 streams) at half its own closed-loop throughput.
    pub mutate_at_half_own: Latency,
}

/// Part 2 of the issue.
#[derive(Debug, Default, Serialize)]
pub struct Scale {
    /// `/mutate` at 100,000 streams, closed loop.
    pub mutate_100k: Latency,
    /// `/mutate` at 100,000 streams at half the ceiling.
    pub mutate_100k_at_half: Latency,
    /// `mutate_100k.rps / webhook.mutate.rps`: the median of the rounds' ratios.
    pub throughput_ratio: f64,
    /// Each round's `mutate_100k.rps / mutate.rps`.
    pub round_ratios: Vec<f64>,
    /// Server threads' CPU time per `/mutate` request at 100,000 streams, µs.
    pub mutate_100k_server_cpu_us: f64,
    /// Resident memory of `imagelookup serve` on an empty store, bytes.
    pub rss_empty_bytes: u64,
    /// The same with 100,000 streams loaded, bytes.
    pub rss_100k_bytes: u64,
    /// `(rss_100k - rss_empty) / 100,000`.
    pub bytes_per_stream: f64,
    /// Peak resident memory (`VmHWM`) after one list of every stream without a limit, as the
    /// Python client and kube-rs send it (written a batch at a time), bytes.
    pub rss_peak_streamed_list_bytes: u64,
    /// The peak after the same list with a limit above the stream count as well, which is
    /// built whole (as every list was before lists were written as read), bytes.
    pub rss_peak_whole_list_bytes: u64,
    /// Size of the 100,000-stream store file, bytes.
    pub store_file_bytes: u64,
    /// Streams in the large index and store.
    pub streams: u64,
}

/// Part 3 of the issue (criterion means, ns; absent when criterion has not run).
#[derive(Debug, Default, Serialize)]
pub struct Resolver {
    /// `resolve/10_streams`.
    pub source_10_ns: Option<f64>,
    /// `resolve/100000_streams`.
    pub source_100k_ns: Option<f64>,
    /// `resolve_local/10_streams`.
    pub local_10_ns: Option<f64>,
    /// `resolve_local/100000_streams`.
    pub local_100k_ns: Option<f64>,
}

/// The criterion admission benchmarks (means, ns; absent when criterion has not run).
#[derive(Debug, Default, Serialize)]
pub struct AdmissionCost {
    /// `admission/scan`: reading the body without building anything.
    pub scan_ns: Option<f64>,
    /// `admission/parse`.
    pub parse_ns: Option<f64>,
    /// `admission/decide`.
    pub decide_ns: Option<f64>,
    /// `admission/respond`.
    pub respond_ns: Option<f64>,
    /// `admission_whole/10_streams`.
    pub whole_10_ns: Option<f64>,
    /// `admission_whole/100000_streams`.
    pub whole_100k_ns: Option<f64>,
}

/// Heap bytes per stream, by in-memory form (see `benches/memory.rs`).
#[derive(Debug, Default, Serialize, serde::Deserialize)]
pub struct Memory {
    /// The stored JSON document.
    pub stored_json: f64,
    /// The document parsed (`Arc<serde_json::Value>`), as reads and history events hold it.
    pub store_value: f64,
    /// The live index's `CompactStream` and its entry.
    pub index_stream: f64,
}

/// Part 4 of the issue.
#[derive(Debug, Default, Serialize)]
pub struct StoreResults {
    /// 64-byte write + fdatasync per second in the store's directory: the median of the
    /// windows.
    pub disk_fsyncs_per_s: f64,
    /// The same in each quarter-second window, three per round (before, between, after).
    pub disk_fsync_windows: Vec<f64>,
    /// Writes per redb transaction (one fsync each) with one writer.
    pub c1_writes_per_commit: f64,
    /// Writes per redb transaction with 64 writers: what group commit achieved.
    pub c64_writes_per_commit: f64,
    /// Creates per second through the API, one writer.
    pub creates_c1_per_s: f64,
    /// Creates per second through the API, 64 writers.
    pub creates_c64_per_s: f64,
    /// 64-writer creates over the disk's fsync rate: the median of the rounds' ratios.
    pub c64_over_fsync: f64,
    /// Each round's 64-writer rate over the fsync rate measured around it.
    pub c64_round_ratios: Vec<f64>,
    /// `creates_c1_per_s / disk_fsyncs_per_s`.
    pub c1_over_fsync: f64,
    /// Server runtime threads' CPU time per create, one writer, µs.
    pub c1_server_cpu_us: f64,
    /// The same, 64 writers.
    pub c64_server_cpu_us: f64,
    /// The store commit thread's CPU time per create, one writer, µs.
    pub c1_commit_cpu_us: f64,
    /// The same, 64 writers.
    pub c64_commit_cpu_us: f64,
    /// Create latency, one writer.
    pub create_c1: Latency,
    /// Create latency, 64 writers.
    pub create_c64: Latency,
    /// GET of one stream, one client.
    pub get: Latency,
    /// One page of 500 from a namespace of 10,000 streams, one client.
    pub list_page: Latency,
    /// All 10,000 streams in 20 pages, ms (median).
    pub list_all_ms: f64,
    /// Watch fan-out.
    pub watch: WatchResults,
}

/// Watch fan-out.
#[derive(Debug, Default, Serialize)]
pub struct WatchResults {
    /// Concurrent watchers.
    pub watchers: usize,
    /// Updates written.
    pub updates: usize,
    /// Events received (watchers × updates when none is lost).
    pub delivered: u64,
    /// From sending the update to an event reaching a watcher: median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// The slowest, µs.
    pub max_us: f64,
    /// From the update's acknowledgement to the event: 99th percentile, µs (0 when the
    /// event arrives before the writer's answer).
    pub p99_after_ack_us: f64,
}

/// One target of issue #5.
#[derive(Debug, Serialize)]
pub struct Goal {
    /// What is compared.
    pub name: &'static str,
    /// The measured value.
    pub measured: f64,
    /// The target, as a comparison (`>= 0.8`).
    pub target: String,
    /// Whether it is met; `None` when its phase did not run (`BENCH_ONLY`), so nothing was
    /// measured (every figure here is positive when measured).
    pub pass: Option<bool>,
}

// === building ===

impl Latency {
    /// The summary of a run's outcome.
    pub fn of(outcome: &Outcome) -> Self {
        Self {
            rps: outcome.rps(),
            requests: outcome.ok,
            errors: outcome.failed + outcome.mismatched,
            p50_us: outcome.quantile_us(0.5),
            p99_us: outcome.quantile_us(0.99),
            p999_us: outcome.quantile_us(0.999),
        }
    }
}

impl Machine {
    /// This machine.
    pub fn here() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            loadavg_at_start: read("/proc/loadavg")
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// The mean of criterion benchmark `group/bench` in ns, if criterion has run it.
fn criterion_mean(criterion_dir: &Path, group: &str, bench: &str) -> Option<f64> {
    let path = criterion_dir
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["mean"]["point_estimate"].as_f64()
}

impl Resolver {
    /// Reads criterion's estimates from `criterion_dir` (`<target>/criterion`).
    pub fn from_criterion(criterion_dir: &Path) -> Self {
        let mean = |group, bench| criterion_mean(criterion_dir, group, bench);
        Self {
            source_10_ns: mean("resolve", "10_streams"),
            source_100k_ns: mean("resolve", "100000_streams"),
            local_10_ns: mean("resolve_local", "10_streams"),
            local_100k_ns: mean("resolve_local", "100000_streams"),
        }
    }
}

impl AdmissionCost {
    /// Reads criterion's estimates from `criterion_dir` (`<target>/criterion`).
    pub fn from_criterion(criterion_dir: &Path) -> Self {
        let mean = |bench| criterion_mean(criterion_dir, "admission", bench);
        Self {
            scan_ns: mean("scan"),
            parse_ns: mean("parse"),
            decide_ns: mean("decide"),
            respond_ns: mean("respond"),
            whole_10_ns: criterion_mean(criterion_dir, "admission_whole", "10_streams"),
            whole_100k_ns: criterion_mean(criterion_dir, "admission_whole", "100000_streams"),
        }
    }
}

impl Memory {
    /// Reads what `benches/memory.rs` wrote into `<target>/bench/memory.json`.
    pub fn read(path: &Path) -> Option<Self> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }
}

/// The target directory cargo and criterion use.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

impl Results {
    /// Evaluates the targets of issue #5 from the measurements.
    pub fn evaluate(&mut self) {
        let resolver = &self.resolver;
        let resolver_100k = resolver
            .source_100k_ns
            .zip(resolver.local_100k_ns)
            .map_or(f64::NAN, |(source, local)| source.max(local));
        let goals = [
            (
                "webhook rps / no-op rps",
                self.webhook.throughput_ratio,
                Bound::AtLeast(0.8),
            ),
            (
                "webhook p99 at half the ceiling, ms",
                self.webhook.mutate_at_half.p99_us / 1e3,
                Bound::AtMost(2.0),
            ),
            (
                "rps at 100,000 streams / at 10",
                self.scale.throughput_ratio,
                Bound::AtLeast(0.9),
            ),
            (
                "memory per stream, KiB",
                self.scale.bytes_per_stream / 1024.0,
                Bound::AtMost(2.0),
            ),
            (
                "resolver at 100,000 streams, ns",
                resolver_100k,
                Bound::Below(1000.0),
            ),
            (
                "creates c64 / disk fsyncs",
                self.store.c64_over_fsync,
                Bound::AtLeast(5.0),
            ),
        ];
        self.targets = goals
            .into_iter()
            .map(|(name, measured, bound)| Goal {
                name,
                measured,
                target: bound.to_string(),
                pass: (measured > 0.0).then(|| bound.holds(measured)),
            })
            .collect();
    }

    /// Writes the JSON document to `path`, creating its directory.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }
}

/// Which side of a threshold passes.
#[derive(Clone, Copy, Debug)]
enum Bound {
    AtLeast(f64),
    AtMost(f64),
    Below(f64),
}

impl Bound {
    /// Whether `value` passes; a missing measurement (NaN) never does.
    fn holds(self, value: f64) -> bool {
        match self {
            Self::AtLeast(min) => value >= min,
            Self::AtMost(max) => value <= max,
            Self::Below(max) => value < max,
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AtLeast(min) => write!(f, ">= {min}"),
            Self::AtMost(max) => write!(f, "<= {max}"),
            Self::Below(max) => write!(f, "< {max}"),
        }
    }
}
