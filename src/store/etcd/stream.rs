//! Watches over the gateway: the [`EventStream`]s the store hands out, the follower that keeps
//! the current revision fresh, and the probe that learns the compacted revision.
//!
//! A gateway watch is one long `POST /v3/watch` whose answer streams one JSON document per
//! line. When the connection breaks, the watch is opened again from the revision after the
//! last one delivered, so a stream only ends with an error when etcd cannot be reached for a
//! while or its history no longer holds that revision ([`Error::Expired`]).
//!
//! Three failures a watcher cannot see on its own line are caught here too:
//! - etcd restored from a backup or replaced (an empty one) under a running server: a reopened
//!   watch is answered at a revision below one an earlier answer carried, and etcd's current
//!   revision is below it too (a member that has not caught up yet answers below as well, but
//!   etcd's current revision is not: that is no rewind). The events between are lost to this
//!   watcher, so it ends with [`Error::Expired`] (410: list again), as after a compaction,
//!   rather than silently skipping them, and so does every other open watch (a narrow one might
//!   otherwise reconnect only once writes carried etcd past its cursor);
//! - etcd hung (stopped, a partition dropping packets): a silent watch looks like a quiet
//!   prefix. The revision follower asks etcd for its revision whenever its own watch has been
//!   silent for [`super::EtcdConfig::silence_probe`] or has ended; when etcd does not answer,
//!   or keeps refusing for longer than a leader election or a member restart takes, every
//!   watch ends with [`Error::Unavailable`], so the admission index reports itself
//!   disconnected;
//! - a connection gone dead without a reset (a NAT or load balancer dropping an idle flow, a
//!   peer that vanished): etcd answers new connections, so the follower's probe succeeds, but
//!   the watch hears nothing. TCP keepalive (15 s, then every 5 s, 3 probes) keeps idle flows
//!   open and finds a vanished peer, whose watches then break and are reopened from their
//!   cursors; the follower also opens its watch again when it was silent while etcd moved on.
//!   (A watch is not reopened for silence alone: from an old cursor it would meet the next
//!   compaction and end with 410, where an open watch goes on.)

use std::{collections::VecDeque, sync::Arc, time::Duration};

use futures::StreamExt;

use super::{call_failure, client::Lines, values, wire, Inner};
use crate::store::{batch::stamp, Error, Event, EventKind, EventStream, Object, Result};

/// How many times in a row a broken watch is reopened before the stream fails.
const RECONNECTS: u32 = 5;

/// The pause before reopening, times the attempt number.
const BACKOFF: Duration = Duration::from_millis(200);

/// How long etcd may take to confirm a new watch (its `created` line).
const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the compaction probe waits for etcd's verdict.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long etcd may refuse before the follower reports it gone: about what a watch's own
/// reconnections ([`RECONNECTS`] × [`BACKOFF`]) ride out.
const BLIP: Duration = Duration::from_secs(3);

/// The pause between the follower's questions during a blip.
const BLIP_RETRY: Duration = Duration::from_millis(250);

/// Starts a watch on the store keys under `prefix`, for events after `after`.
pub(super) async fn watch(inner: Arc<Inner>, prefix: &str, after: u64) -> Result<EventStream> {
    let start = inner.etcd_key(prefix);
    let mut watcher = Watcher {
        closed: inner.closed.clone(),
        alive: inner.alive.subscribe(),
        rewinds: inner.rewinds.subscribe(),
        seen: 0,
        end: wire::prefix_end(&start),
        start,
        inner,
        cursor: after,
        buffered: VecDeque::new(),
        lines: None,
        done: false,
    };
    watcher.open().await?;
    let stream = futures::stream::unfold(watcher, |mut watcher| async move {
        let item = watcher.next().await?;
        Some((item, watcher))
    });
    Ok(stream.boxed())
}

/// One watch: where it is, and the open gateway stream.
struct Watcher {
    inner: Arc<Inner>,
    /// Changes (closes) when the store is dropped: the stream ends.
    closed: tokio::sync::watch::Receiver<()>,
    /// Whether etcd answers (see [`follow`]): the stream ends with an error when it turns false.
    alive: tokio::sync::watch::Receiver<bool>,
    /// Changes when any watch or the follower finds etcd rewound: every watch then ends.
    rewinds: tokio::sync::watch::Receiver<u64>,
    /// The highest revision etcd answered this watch at, over all its reopenings.
    seen: u64,
    start: Vec<u8>,
    end: Vec<u8>,
    /// The last revision delivered or buffered.
    cursor: u64,
    buffered: VecDeque<Event>,
    lines: Option<Lines>,
    /// Set after an error or when the store is gone: the stream ends.
    done: bool,
}

impl Watcher {
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                return Some(Ok(event));
            }
            // `Err` once the store is dropped (its sender with it).
            if self.done || self.closed.has_changed().is_err() {
                self.done = true;
                return None;
            }
            let lines = self.lines.as_mut()?;
            let line = tokio::select! {
                _ = self.closed.changed() => {
                    self.done = true;
                    return None;
                }
                changed = self.alive.changed() => match changed {
                    Ok(()) if *self.alive.borrow_and_update() => continue,
                    Ok(()) => Err(silent()),
                    Err(_) => {
                        self.done = true;
                        return None;
                    }
                },
                // Another watch saw etcd answer below what it had: this one cannot go on either.
                _ = self.rewinds.changed() => {
                    Err(rewound(self.cursor, *self.inner.revision.borrow()))
                }
                line = lines.next() => Ok(line),
            };
            let outcome = match line {
                Ok(Ok(Some(line))) => self.receive(&line).await,
                Ok(Ok(None) | Err(_)) => self.reopen().await,
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                self.done = true;
                return Some(Err(error));
            }
        }
    }

    /// Opens the gateway watch from the revision after the cursor and reads its `created`.
    async fn open(&mut self) -> Result<()> {
        let request = wire::watch(&self.start, &self.end, self.cursor + 1);
        let mut lines = self
            .inner
            .transport
            .stream("/v3/watch", &request)
            .await
            .map_err(call_failure)?;
        let first = tokio::time::timeout(FIRST_LINE_TIMEOUT, lines.next())
            .await
            .map_err(|_| unconfirmed("did not confirm it in time"))?
            .map_err(|error| unconfirmed(&format!("broke the connection ({error})")))?
            .ok_or_else(|| unconfirmed("closed it at once"))?;
        self.lines = Some(lines);
        self.receive(&first).await
    }

    /// Reopens a broken watch, a few times, before giving up, or at once when the follower
    /// finds etcd silent (each attempt on a hung etcd would wait for a call's timeout).
    async fn reopen(&mut self) -> Result<()> {
        self.lines = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            tokio::time::sleep(BACKOFF * attempt).await;
            let mut alive = self.alive.clone();
            let opened = tokio::select! {
                opened = self.open() => opened,
                () = went_silent(&mut alive) => Err(silent()),
            };
            match opened {
                Ok(()) => return Ok(()),
                // A rewound etcd, or one the follower found silent: retrying cannot help.
                Err(error) if matches!(error, Error::Expired { .. }) || !*self.alive.borrow() => {
                    return Err(error)
                }
                Err(error) if attempt >= RECONNECTS => return Err(error),
                Err(error) => tracing::debug!(%error, attempt, "etcd watch reconnecting"),
            }
        }
    }

    /// Handles one line of the gateway stream: events are buffered and a cancellation fails.
    /// An answer at a revision below one seen before is etcd restored or replaced, or a member
    /// that has not caught up (the watch reopened on another member): etcd's current revision
    /// tells them apart, and only a restore ends the watch (410).
    async fn receive(&mut self, line: &[u8]) -> Result<()> {
        let response = parse(line)?;
        // etcd leaves the revision out of a cancellation's header: it is no answer at 0.
        if response.canceled {
            return Err(canceled(&response, self.cursor));
        }
        let revision = response.header.revision;
        if revision < self.seen {
            self.confirm_lag().await?;
        } else {
            self.seen = revision;
            self.inner.observe(revision);
        }
        for event in response.events {
            // etcd starts at cursor + 1; an older event would break the order callers rely on.
            let revision = event.kv.mod_revision;
            if revision < self.cursor {
                continue;
            }
            if let Some(event) = convert(&self.inner, event)? {
                self.buffered.push_back(event);
            }
            self.cursor = revision;
        }
        Ok(())
    }

    /// `Ok` when an answer below what this watch saw came from a member behind the others; the
    /// 410 of a rewound etcd when etcd's current revision is below it too; unavailable when
    /// etcd cannot say.
    async fn confirm_lag(&self) -> Result<()> {
        match below(&self.inner, self.seen).await {
            Below::Lagging => Ok(()),
            Below::Rewound(current) => Err(rewound(self.cursor, current)),
            // Likely just after a failover: this watch ends as etcd being unreachable does,
            // and its client watches again.
            Below::Unknown => Err(silent()),
        }
    }
}

/// What an answer below a revision seen before (`seen`) means.
enum Below {
    /// A member behind the others answered: etcd's current revision is not below `seen`.
    Lagging,
    /// etcd was restored or replaced: its current revision, now the store's, is below `seen`.
    Rewound(u64),
    /// etcd cannot say now: nothing is declared on a guess.
    Unknown,
}

/// Asks etcd's current revision to tell a lagging member from a rewound etcd (declared).
async fn below(inner: &Inner, seen: u64) -> Below {
    match inner.fetch_revision().await {
        Ok(current) if current >= seen => Below::Lagging,
        Ok(current) => {
            inner.rewound(current);
            Below::Rewound(current)
        }
        Err(_) => Below::Unknown,
    }
}

/// Resolves once `alive` turns false; never if the store is dropped first.
async fn went_silent(alive: &mut tokio::sync::watch::Receiver<bool>) {
    while alive.changed().await.is_ok() {
        if !*alive.borrow_and_update() {
            return;
        }
    }
    std::future::pending().await
}

/// The error a watch at `cursor` ends with once etcd was found rewound to `revision`: 410, so
/// that its client lists again.
fn rewound(cursor: u64, revision: u64) -> Error {
    Error::Expired {
        requested: cursor,
        compacted: revision,
    }
}

/// The error every watch ends with when the follower finds etcd silent.
fn silent() -> Error {
    Error::Unavailable(
        "etcd stopped answering: check etcd's health (etcdctl endpoint health), then watch again"
            .to_string(),
    )
}

/// The error of a watch etcd did not confirm.
fn unconfirmed(what: &str) -> Error {
    Error::Unavailable(format!(
        "etcd {what} when asked to watch: check etcd's health (etcdctl endpoint health), then \
         watch again"
    ))
}

fn parse(line: &[u8]) -> Result<wire::WatchResponse> {
    let line: wire::WatchLine = serde_json::from_slice(line)
        .map_err(|e| Error::internal(format!("etcd watch sent an unreadable line: {e}")))?;
    match (line.result, line.error) {
        (Some(response), None) => Ok(response),
        (_, error) => Err(Error::internal(format!(
            "etcd watch failed: {}",
            error.unwrap_or_default()
        ))),
    }
}

/// The error a canceled watch ends with: [`Error::Expired`] when its start was compacted.
fn canceled(response: &wire::WatchResponse, cursor: u64) -> Error {
    match response.compact_revision {
        0 => Error::internal(format!(
            "etcd canceled the watch: {}",
            response.cancel_reason
        )),
        compacted => Error::Expired {
            requested: cursor,
            compacted,
        },
    }
}

/// A store event from an etcd event; `None` for a key outside the prefix.
fn convert(inner: &Inner, event: wire::WatchEvent) -> Result<Option<Event>> {
    let Some(key) = inner.store_key(&event.kv.key) else {
        return Ok(None);
    };
    let revision = event.kv.mod_revision;
    // An unreadable last state (deleted or overwritten by an operator) stands as what its key
    // says: the event itself is readable.
    let prev = match &event.prev_kv {
        Some(kv) => match values::decode(key.clone(), &kv.value, kv.mod_revision) {
            Err(Error::Corrupt(unreadable)) => Some(unreadable.stand_in(kv.mod_revision)),
            decoded => Some(decoded?),
        },
        None => None,
    };
    let (kind, object) = match (event.deleted, &prev) {
        (true, Some(prev)) => {
            let last = stamp((*prev.value).clone(), revision)?;
            let object = Object {
                key,
                value: Arc::new(last),
                revision,
            };
            (EventKind::Deleted, object)
        }
        (true, None) => {
            return Err(Error::internal(format!(
                "etcd reported the deletion of {key} without its last state"
            )))
        }
        (false, _) => {
            let kind = match event.kv.create_revision == revision {
                true => EventKind::Added,
                false => EventKind::Modified,
            };
            (kind, values::decode(key, &event.kv.value, revision)?)
        }
    };
    let prev = prev.filter(|_| kind != EventKind::Added);
    Ok(Some(Event { kind, object, prev }))
}

/// Keeps `inner`'s current revision fresh with a watch on the whole prefix, reopened whenever
/// it ends, and whether etcd answers (see the module's doc), until the task is aborted (when
/// the store is dropped).
pub(super) async fn follow(inner: Arc<Inner>) {
    let start = inner.prefix.as_bytes().to_vec();
    let end = wire::prefix_end(&start);
    let mut seen = 0;
    loop {
        let from = *inner.revision.borrow() + 1;
        let request = wire::watch(&start, &end, from);
        if let Ok(lines) = inner.transport.stream("/v3/watch", &request).await {
            follow_lines(&inner, lines, &mut seen).await;
        }
        // A compacted start is behind us anyway: catch up before watching again.
        let fetched = revision_past_blips(&inner).await;
        inner.set_alive(fetched.is_ok());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// etcd's current revision, asked again for up to [`BLIP`] while etcd refuses or fails fast: an
/// etcd leader election or a member's restart refuses calls for a second or two, and one refusal
/// taken for an outage would end every watch of the replica with 503 (informers, the admission
/// index and the importer all listing again) while each watch's own reconnection rides it out.
/// An etcd that does not answer at all fails its first call after the call timeout, past the
/// blip already, so a hang is reported as soon as before.
async fn revision_past_blips(inner: &Inner) -> Result<u64> {
    let started = tokio::time::Instant::now();
    loop {
        match inner.fetch_revision().await {
            Err(_) if started.elapsed() < BLIP => tokio::time::sleep(BLIP_RETRY).await,
            answered => return answered,
        }
    }
}

/// Reads the follower's watch until it ends, or until etcd, asked after a silence, does not
/// answer. `seen` is the highest revision etcd answered the follower's watches at.
async fn follow_lines(inner: &Inner, mut lines: Lines, seen: &mut u64) {
    loop {
        let line = match tokio::time::timeout(inner.silence_probe, lines.next()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None) | Err(_)) => return,
            Err(_silence) => {
                let followed = *inner.revision.borrow();
                match revision_past_blips(inner).await {
                    // etcd moved on while this watch heard nothing: its connection may be dead
                    // without a reset (a proxy or NAT dropping the flow); open another.
                    Ok(current) if current > followed => return inner.set_alive(true),
                    Ok(_) => {
                        inner.set_alive(true);
                        continue;
                    }
                    Err(_) => return inner.set_alive(false),
                }
            }
        };
        let response = match parse(&line) {
            Ok(response) if !response.canceled => response,
            _ => return,
        };
        let revision = response.header.revision;
        if revision < *seen {
            match below(inner, *seen).await {
                Below::Lagging => continue,
                Below::Rewound(_) => {}
                Below::Unknown => return,
            }
        }
        *seen = revision;
        inner.observe(revision);
        inner.set_alive(true);
    }
}

/// etcd's compacted revision, learned by watching one key from revision 1: etcd cancels such
/// a watch and names the compacted revision. `None` if etcd did not say in time.
pub(super) async fn compacted_revision(inner: &Inner) -> Option<u64> {
    let probe = async {
        // The prefix itself is no object's key: the watch has nothing to replay.
        let key = inner.prefix.as_bytes();
        let request = wire::watch(key, &[key, &[0]].concat(), 1);
        let mut lines = inner.transport.stream("/v3/watch", &request).await.ok()?;
        while let Ok(Some(line)) = lines.next().await {
            let response = parse(&line).ok()?;
            if response.canceled {
                return Some(response.compact_revision);
            }
        }
        None
    };
    tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .ok()
        .flatten()
}
