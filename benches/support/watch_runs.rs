//! Watch fan-out: 100 watchers on one namespace, 10 writers patching their own stream 100
//! times each; the delay from each update to its arrival at each watcher.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;

use super::loadgen::{self, Call, Target};
use super::report::WatchResults;
use super::store_runs::{authorized, get_page, stream_body, STREAMS};

const WATCHERS: usize = 100;
const WRITERS: usize = 10;
const UPDATES: usize = 1_000;
/// The annotation each update sets; watchers find the update number by it.
const SEQ: &str = "bench-seq";

/// When each update was sent and acknowledged.
#[derive(Clone, Copy)]
struct Sent {
    at: Instant,
    acked: Instant,
}

/// 100 watchers on namespace `watch`, 10 writers patching their own stream 100 times each.
pub async fn fan_out(target: &Target) -> anyhow::Result<WatchResults> {
    let mut connection = target.connect().await?;
    for writer in 0..WRITERS {
        let path = format!("{STREAMS}/watch/imagestreams");
        let call = authorized(Call::json(
            Method::POST,
            &path,
            stream_body(&format!("w-{writer}")),
        ));
        let (status, body) = connection.send(&call).await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "create w-{writer}: {status} {body:?}"
        );
    }
    let revision = get_page(&mut connection, &format!("{STREAMS}/watch/imagestreams"))
        .await?
        .metadata
        .resource_version;
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        watchers.push(start_watcher(target, &revision).await?);
    }
    let sent = write_updates(target).await?;
    let mut from_write = Vec::new();
    let mut after_ack = Vec::new();
    let mut delivered = 0;
    for watcher in watchers {
        for (seq, received) in watcher.await?? {
            let Some(Some(sent)) = sent.get(seq) else {
                continue;
            };
            delivered += 1;
            from_write.push(received.saturating_duration_since(sent.at).as_nanos() as u64);
            after_ack.push(received.saturating_duration_since(sent.acked).as_nanos() as u64);
        }
    }
    from_write.sort_unstable();
    after_ack.sort_unstable();
    Ok(WatchResults {
        watchers: WATCHERS,
        updates: UPDATES,
        delivered,
        p50_us: loadgen::quantile_us(&from_write, 0.5),
        p99_us: loadgen::quantile_us(&from_write, 0.99),
        max_us: loadgen::quantile_us(&from_write, 1.0),
        p99_after_ack_us: loadgen::quantile_us(&after_ack, 0.99),
    })
}

type Received = Vec<(usize, Instant)>;

/// Opens a watch from `revision` and returns once its headers are in; the task collects
/// `(update number, arrival)` until all updates arrived or 30 s passed.
async fn start_watcher(
    target: &Target,
    revision: &str,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<Received>>> {
    let mut connection = target.connect().await?;
    let path = format!("{STREAMS}/watch/imagestreams?watch=1&resourceVersion={revision}");
    let response = connection.start(&authorized(Call::get(&path))).await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "watch answered {}",
        response.status()
    );
    let mut body = response.into_body();
    Ok(tokio::spawn(async move {
        let _connection = connection;
        let mut received = Vec::with_capacity(UPDATES);
        let mut buffer = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while received.len() < UPDATES {
            let frame = tokio::time::timeout_at(deadline, body.frame()).await;
            let Ok(Some(frame)) = frame else { break };
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            let now = Instant::now();
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if let Some(seq) = sequence_number(&line) {
                    received.push((seq, now));
                }
            }
        }
        Ok(received)
    }))
}

/// The `bench-seq` annotation of a watch event line, without decoding the whole event.
fn sequence_number(line: &[u8]) -> Option<usize> {
    let marker = format!("\"{SEQ}\":\"");
    let text = std::str::from_utf8(line).ok()?;
    let start = text.find(&marker)? + marker.len();
    let digits = &text[start..];
    digits[..digits.find('"')?].parse().ok()
}

/// Writer `w` sets `bench-seq` on stream `w-<w>` to `w × 100 + k` for k in 0..100.
async fn write_updates(target: &Target) -> anyhow::Result<Vec<Option<Sent>>> {
    let sent = Arc::new(Mutex::new(vec![None; UPDATES]));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut connection = target.connect().await?;
        let sent = sent.clone();
        writers.push(tokio::spawn(async move {
            let path = format!("{STREAMS}/watch/imagestreams/w-{writer}");
            for k in 0..UPDATES / WRITERS {
                let seq = writer * (UPDATES / WRITERS) + k;
                let patch = format!(r#"{{"metadata":{{"annotations":{{"{SEQ}":"{seq}"}}}}}}"#);
                let call = authorized(Call::json(Method::PATCH, &path, Bytes::from(patch)))
                    .header(CONTENT_TYPE, "application/merge-patch+json");
                let at = Instant::now();
                let (status, body) = connection.send(&call).await?;
                anyhow::ensure!(status == StatusCode::OK, "patch {seq}: {status} {body:?}");
                let acked = Instant::now();
                sent.lock().expect("not poisoned")[seq] = Some(Sent { at, acked });
            }
            anyhow::Ok(())
        }));
    }
    for writer in writers {
        writer.await?.context("writer")?;
    }
    let sent = sent.lock().expect("not poisoned").clone();
    Ok(sent)
}
