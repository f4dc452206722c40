//! `make bench`: the webhook against its no-op ceiling, the webhook at 100,000 streams and the
//! server's memory per stream, the store against the disk; collects the criterion resolver
//! numbers; prints a table and writes `<target>/bench/results.json`. See BENCHMARKS.md.
//!
//! ```text
//! cargo bench --bench resolver    # criterion; its estimates are read here
//! cargo bench --bench admission   # criterion; likewise
//! cargo bench --bench memory      # writes <target>/bench/memory.json, read here
//! cargo bench --bench suite
//! ```
//!
//! Outside `cargo bench` (as `cargo test --all-targets` runs it) it does nothing.

#[allow(dead_code)]
#[path = "support/child.rs"]
mod child;
#[path = "support/cpu.rs"]
mod cpu;
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "support/loadgen.rs"]
mod loadgen;
#[path = "support/report.rs"]
mod report;
#[allow(dead_code)]
#[path = "support/stack.rs"]
mod stack;
#[path = "support/store_runs.rs"]
mod store_runs;
#[path = "support/table.rs"]
mod table;
#[path = "support/watch_runs.rs"]
mod watch_runs;
#[path = "support/webhook_runs.rs"]
mod webhook_runs;

/// The allocator `imagelookup` runs with (src/main.rs), so the in-process servers measure
/// what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imagelookup::store::{EmbeddedOptions, EmbeddedStore, StoreSpec};
use loadgen::{Call, Expect, Load, Pace};
use report::{AdmissionCost, Machine, Memory, Resolver, Results, Scale};
use tokio::runtime::Runtime;

/// 1,000 namespaces × 100 streams.
const LARGE: (usize, usize) = (1_000, 100);
const PLAN: webhook_runs::Plan = webhook_runs::Plan {
    connections: 16,
    rounds: 8,
    round: Duration::from_millis(750),
    paced: Duration::from_secs(3),
};
/// `BENCH_QUICK=1`: a functional run in seconds (for debug builds), numbers meaningless.
const QUICK: webhook_runs::Plan = webhook_runs::Plan {
    connections: 4,
    rounds: 1,
    round: Duration::from_millis(300),
    paced: Duration::from_millis(300),
};

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("suite: only runs under `cargo bench --bench suite` (make bench)");
        return Ok(());
    }
    imagelookup::tls::install_crypto_provider();
    let _logs = log_like_production()?;
    let bench = Bench::new()?;
    let mut results = Results {
        machine: Machine::here(),
        ..Results::default()
    };
    if wanted("memory") || wanted("webhook") {
        phase("preload 10 and 100,000 streams", || bench.preload())?;
    }
    if wanted("memory") {
        phase("memory of imagelookup serve (child process)", || {
            results.scale = bench.memory()?;
            Ok(())
        })?;
    }
    if wanted("webhook") {
        phase("webhook: /mutate vs /noop, 10 vs 100,000 streams", || {
            results.webhook = bench.webhook(&mut results.scale)?;
            Ok(())
        })?;
    }
    if wanted("store") {
        phase("store: creates, get, list, watch", || {
            results.store = bench.store()?;
            Ok(())
        })?;
    }
    let criterion = report::target_dir().join("criterion");
    results.resolver = Resolver::from_criterion(&criterion);
    results.admission = AdmissionCost::from_criterion(&criterion);
    results.memory = Memory::read(&bench.root.join("memory.json"));
    results.evaluate();
    println!("\n{}", table::render(&results));
    let json = bench.root.join("results.json");
    results.write_json(&json)?;
    println!("written to {}", json.display());
    Ok(())
}

/// What every phase shares: where files go, the load generator's runtime, how big and long.
struct Bench {
    /// `<target>/bench`: results, and the work directory (same disk as the build).
    root: PathBuf,
    /// Stores, certificates and server logs of this run; removed at the end.
    work: tempfile::TempDir,
    client: Runtime,
    large: (usize, usize),
    plan: webhook_runs::Plan,
}

impl Bench {
    fn new() -> anyhow::Result<Self> {
        let root = report::target_dir().join("bench");
        std::fs::create_dir_all(&root)?;
        let work = tempfile::Builder::new().prefix("work-").tempdir_in(&root)?;
        let quick = std::env::var_os("BENCH_QUICK").is_some();
        let (large, plan) = if quick {
            ((10, 100), QUICK)
        } else {
            (LARGE, PLAN)
        };
        let client = runtime(Some(2), webhook_runs::CLIENT_THREADS)?;
        Ok(Self {
            root,
            work,
            client,
            large,
            plan,
        })
    }

    /// A directory of the work directory, created.
    fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.work.path().join(name);
        std::fs::create_dir_all(&path)?;
        Ok(path)
    }

    fn store_file(&self, name: &str) -> anyhow::Result<PathBuf> {
        Ok(self.dir(name)?.join("store"))
    }

    fn streams(&self) -> usize {
        self.large.0 * self.large.1
    }

    /// Writes the 10- and the 100,000-stream store files.
    fn preload(&self) -> anyhow::Result<()> {
        let server = runtime(None, webhook_runs::SERVER_THREADS)?;
        server.block_on(preload(&self.store_file("small")?, (1, 10)))?;
        server.block_on(preload(&self.store_file("large")?, self.large))
    }

    /// `imagelookup serve`'s resident memory on an empty store and on the large one.
    fn memory(&self) -> anyhow::Result<Scale> {
        let empty = self.store_file("rss-empty")?;
        drop(EmbeddedStore::open(&empty, EmbeddedOptions::default())?);
        let large = self.store_file("large")?;
        let streams = self.streams();
        let (empty_rss, loaded_rss, peaks) = self.client.block_on(async {
            let (empty_rss, _) = child_rss(&self.dir("rss-empty")?, &empty, None).await?;
            let (loaded_rss, peaks) =
                child_rss(&self.dir("rss-100k")?, &large, Some(streams)).await?;
            anyhow::Ok((empty_rss, loaded_rss, peaks))
        })?;
        let (streamed_peak, whole_peak) = peaks.unwrap_or_default();
        Ok(Scale {
            rss_empty_bytes: empty_rss,
            rss_100k_bytes: loaded_rss,
            rss_peak_streamed_list_bytes: streamed_peak,
            rss_peak_whole_list_bytes: whole_peak,
            bytes_per_stream: (loaded_rss as f64 - empty_rss as f64) / self.streams() as f64,
            store_file_bytes: std::fs::metadata(&large)?.len(),
            streams: self.streams() as u64,
            ..Scale::default()
        })
    }

    /// The webhook on two in-process stacks, over the small and the large store.
    fn webhook(&self, scale: &mut Scale) -> anyhow::Result<report::Webhook> {
        let server = runtime(None, webhook_runs::SERVER_THREADS)?;
        let open = |name: &str| -> anyhow::Result<_> {
            let spec = StoreSpec::Embedded(self.store_file(name)?);
            let store = server.block_on(spec.open(EmbeddedOptions::default()))?;
            server.block_on(stack::start(&self.dir(name)?, store))
        };
        let (small, large) = (open("small")?, open("large")?);
        let indexed = self.client.block_on(large.indexed_streams())?;
        anyhow::ensure!(
            indexed == self.streams() as u64,
            "the large index holds {indexed} streams"
        );
        let measure = webhook_runs::measure(&small.target, &large.target, self.plan, scale);
        self.client.block_on(measure)
    }

    /// The store through the API of an in-process stack over a fresh store file.
    fn store(&self) -> anyhow::Result<report::StoreResults> {
        let server = runtime(None, webhook_runs::SERVER_THREADS)?;
        let api = self.dir("api")?;
        let store = Arc::new(EmbeddedStore::open(
            api.join("store"),
            EmbeddedOptions::default(),
        )?);
        let stack = server.block_on(stack::start(&api, store.clone()))?;
        self.client
            .block_on(store_runs::measure(&stack.target, &api, &store))
    }
}

/// A tokio runtime: the server's as `imagelookup serve` builds it (one worker per core), the
/// load generator's with two workers.
fn runtime(workers: Option<usize>, name: &str) -> anyhow::Result<Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    Ok(builder.enable_all().thread_name(name).build()?)
}

/// Info-level logs, formatted and written as `serve` does (one line per admission, through
/// `serve`'s background log writer), to /dev/null instead of a terminal. The guard flushes.
fn log_like_production() -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let sink = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let (writer, guard) = imagelookup::cli::logging::log_writer(sink);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "info".to_string()),
        ))
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Ok(guard)
}

/// Whether `BENCH_ONLY` (comma-separated: `memory`, `webhook`, `store`) selects `name`; all
/// phases run when it is unset. For profiling one phase; the table shows zeros for the others.
fn wanted(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|phase| phase == name))
}

fn phase(name: &str, run: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    eprintln!("== {name}");
    let started = Instant::now();
    run()?;
    eprintln!("   done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn preload(path: &Path, (namespaces, per_namespace): (usize, usize)) -> anyhow::Result<()> {
    let store = EmbeddedStore::open(path, EmbeddedOptions::default())?;
    fixtures::preload(&store, namespaces, per_namespace).await;
    Ok(())
}

/// The resident memory of `serve` over `store` after a second of admission load and, when
/// the store holds `listed` streams, its peaks after listing them all: first without a limit
/// (written as read), then with a limit above their count (built whole). The streamed list
/// goes first because the peak only grows.
async fn child_rss(
    data_dir: &Path,
    store: &Path,
    listed: Option<usize>,
) -> anyhow::Result<(u64, Option<(u64, u64)>)> {
    let binary = Path::new(env!("CARGO_BIN_EXE_imagelookup"));
    let child = child::Child::start(binary, data_dir, store).await?;
    let review = fixtures::admission_review(webhook_runs::NAMESPACE).to_string();
    let call = Call::json(http::Method::POST, "/mutate", review);
    let load = Load {
        connections: 4,
        duration: Duration::from_secs(1),
        pace: Pace::Closed,
    };
    let outcome = loadgen::run(
        &child.target,
        loadgen::same(call),
        Expect::status(http::StatusCode::OK),
        load,
        None,
    )
    .await?;
    anyhow::ensure!(
        outcome.ok > 0 && outcome.failed == 0,
        "the child failed admission requests"
    );
    let rss = child.rss_bytes()?;
    let Some(streams) = listed else {
        return Ok((rss, None));
    };
    let collection = "/apis/image.openshift.io/v1/imagestreams";
    list_every_stream(&child, collection, streams).await?;
    let streamed_peak = child.peak_rss_bytes()?;
    let whole = format!("{collection}?limit={}", streams + 1);
    list_every_stream(&child, &whole, streams).await?;
    let whole_peak = child.peak_rss_bytes()?;
    Ok((rss, Some((streamed_peak, whole_peak))))
}

/// GETs the list at `path` from `child` and checks that it holds `streams` items.
async fn list_every_stream(child: &child::Child, path: &str, streams: usize) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Items {
        items: Vec<serde::de::IgnoredAny>,
    }
    let bearer = format!("Bearer {}", stack::TOKEN);
    let call = Call::get(path).header(http::header::AUTHORIZATION, &bearer);
    let mut connection = child.target.connect().await?;
    let (status, body) = connection.send(&call).await?;
    anyhow::ensure!(status == http::StatusCode::OK, "{path} answered {status}");
    let list: Items = serde_json::from_slice(&body)?;
    anyhow::ensure!(
        list.items.len() == streams,
        "{path} listed {} streams of {streams}",
        list.items.len()
    );
    Ok(())
}
