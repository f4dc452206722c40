//! The printed table of `make bench` (also pasted into BENCHMARKS.md): one line per figure,
//! then one PASS/FAIL line per target.

use std::fmt::Write as _;

use super::report::{Latency, Results};

/// A line of the table: what, and the figures.
type Row = (&'static str, String);

/// The whole table.
pub fn render(results: &Results) -> String {
    let rows: Vec<Row> = [
        webhook(results),
        scale(results),
        resolver(results),
        store(results),
    ]
    .concat();
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (name, value) in &rows {
        let _ = writeln!(out, "{name:<width$}  {value}");
    }
    let _ = writeln!(out);
    for goal in &results.targets {
        let verdict = match goal.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "SKIP",
        };
        let _ = writeln!(
            out,
            "{verdict}  {:<38} {:>10.3}  (target {})",
            goal.name, goal.measured, goal.target
        );
    }
    out
}

fn webhook(results: &Results) -> Vec<Row> {
    let w = &results.webhook;
    let a = &results.admission;
    let cpu = format!(
        "{:.1} µs / {:.1} µs  (load generator {:.1} µs)",
        w.noop_server_cpu_us, w.mutate_server_cpu_us, w.client_cpu_us
    );
    let stages = format!(
        "{} / {} / {} / {}",
        us(a.scan_ns),
        us(a.parse_ns),
        us(a.decide_ns),
        us(a.respond_ns)
    );
    vec![
        ("webhook  /noop closed loop", latency(&w.noop)),
        (
            "webhook  /mutate closed loop (10 streams)",
            latency(&w.mutate),
        ),
        (
            "webhook  throughput ratio mutate/noop",
            ratio(w.throughput_ratio, &w.round_ratios),
        ),
        ("webhook  server CPU per request noop / mutate", cpu),
        (
            "webhook  paced rate (half the ceiling)",
            format!("{:.0} req/s", w.half_rate_rps),
        ),
        ("webhook  /noop at half rate", latency(&w.noop_at_half)),
        ("webhook  /mutate at half rate", latency(&w.mutate_at_half)),
        (
            "webhook  /mutate at half its own rate",
            latency(&w.mutate_at_half_own),
        ),
        ("webhook  CPU: scan / parse / decide / respond", stages),
        (
            "webhook  CPU: whole at 10 / 100,000 streams",
            format!("{} / {}", us(a.whole_10_ns), us(a.whole_100k_ns)),
        ),
    ]
}

fn scale(results: &Results) -> Vec<Row> {
    let s = &results.scale;
    let rss = format!(
        "{:.1} MiB / {:.1} MiB",
        mib(s.rss_empty_bytes),
        mib(s.rss_100k_bytes)
    );
    let file = s.store_file_bytes as f64 / s.streams.max(1) as f64;
    let mut rows = vec![
        (
            "scale    /mutate closed loop (100,000 streams)",
            latency(&s.mutate_100k),
        ),
        (
            "scale    /mutate at half rate (100,000 streams)",
            latency(&s.mutate_100k_at_half),
        ),
        (
            "scale    throughput ratio 100k/10",
            ratio(s.throughput_ratio, &s.round_ratios),
        ),
        (
            "scale    server CPU per /mutate at 100,000",
            format!("{:.1} µs", s.mutate_100k_server_cpu_us),
        ),
        ("scale    RSS empty / 100,000 streams", rss),
        (
            "scale    memory per stream",
            format!("{:.0} B  (store file {file:.0} B)", s.bytes_per_stream),
        ),
        (
            "scale    peak RSS listing all: streamed / whole",
            format!(
                "{:.1} MiB / {:.1} MiB  (one list of every stream, no limit / limit above all)",
                mib(s.rss_peak_streamed_list_bytes),
                mib(s.rss_peak_whole_list_bytes)
            ),
        ),
    ];
    if let Some(m) = &results.memory {
        let heap = format!(
            "{:.0} B / {:.0} B / {:.0} B",
            m.stored_json, m.store_value, m.index_stream
        );
        rows.push((
            "scale    heap per stream: JSON / parsed Value / index",
            heap,
        ));
    }
    rows
}

fn resolver(results: &Results) -> Vec<Row> {
    let r = &results.resolver;
    vec![
        (
            "resolver Source 10 / 100,000 streams",
            format!("{} / {}", ns(r.source_10_ns), ns(r.source_100k_ns)),
        ),
        (
            "resolver Local 10 / 100,000 streams",
            format!("{} / {}", ns(r.local_10_ns), ns(r.local_100k_ns)),
        ),
    ]
}

fn store(results: &Results) -> Vec<Row> {
    let st = &results.store;
    let windows: Vec<String> = st
        .disk_fsync_windows
        .iter()
        .map(|w| format!("{w:.0}"))
        .collect();
    let creates = |rate: f64, over: f64, per_commit: f64, latency: &Latency| {
        format!(
            "{rate:.0} /s  (x{over:.2} fsync, {per_commit:.1} writes/commit)  {}",
            percentiles(latency)
        )
    };
    let w = &st.watch;
    vec![
        (
            "store    disk fsyncs (64 B write + fdatasync)",
            format!(
                "{:.0} /s  (windows {})",
                st.disk_fsyncs_per_s,
                windows.join(", ")
            ),
        ),
        (
            "store    creates, 1 writer",
            creates(
                st.creates_c1_per_s,
                st.c1_over_fsync,
                st.c1_writes_per_commit,
                &st.create_c1,
            ),
        ),
        (
            "store    creates, 64 writers",
            creates(
                st.creates_c64_per_s,
                st.c64_over_fsync,
                st.c64_writes_per_commit,
                &st.create_c64,
            ),
        ),
        (
            "store    server CPU per create 1 / 64 writers",
            format!(
                "{:.1} µs / {:.1} µs  (store commit thread {:.1} µs / {:.1} µs)",
                st.c1_server_cpu_us,
                st.c64_server_cpu_us,
                st.c1_commit_cpu_us,
                st.c64_commit_cpu_us
            ),
        ),
        ("store    get one stream", latency(&st.get)),
        (
            "store    list page of 500 (of 10,000)",
            latency(&st.list_page),
        ),
        (
            "store    list all 10,000 (20 pages)",
            format!("{:.1} ms", st.list_all_ms),
        ),
        (
            "store    watch fan-out",
            format!(
                "{} watchers x {} updates: {} delivered",
                w.watchers, w.updates, w.delivered
            ),
        ),
        (
            "store    watch delay from write",
            format!(
                "p50 {:.0} µs  p99 {:.0} µs  max {:.0} µs",
                w.p50_us, w.p99_us, w.max_us
            ),
        ),
        (
            "store    watch delay after ack p99",
            format!("{:.0} µs", w.p99_after_ack_us),
        ),
    ]
}

fn latency(l: &Latency) -> String {
    format!(
        "{:>6.0} req/s  {}  ({} ok, {} errors)",
        l.rps,
        percentiles(l),
        l.requests,
        l.errors
    )
}

fn percentiles(l: &Latency) -> String {
    format!(
        "p50 {:.0} µs  p99 {:.0} µs  p99.9 {:.0} µs",
        l.p50_us, l.p99_us, l.p999_us
    )
}

fn ratio(median: f64, rounds: &[f64]) -> String {
    let rounds: Vec<String> = rounds.iter().map(|r| format!("{r:.2}")).collect();
    format!("{median:.3}  (median of rounds {})", rounds.join(", "))
}

fn us(ns: Option<f64>) -> String {
    ns.map_or_else(|| "n/a".to_string(), |ns| format!("{:.1} µs", ns / 1e3))
}

fn ns(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |ns| format!("{ns:.0} ns"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
