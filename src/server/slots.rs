//! Connection slots: which open connections are idle, for how long, and which one to close
//! when every slot is taken and another client is waiting.
//!
//! ```text
//! request starts ── Slot::busy ──> its start recorded
//! response marked LongRunning ── Busy::long_running ──> counted as a watch instead
//! response body ends or is dropped ── drop(Busy) ──> removed; none left: idle since now
//!                                                      └─ a client waiting for a slot? wake it
//! accept ── no free permit ──> evict the connection idle longest ──> wait for its permit
//! ```
//!
//! A connection is busy while a watch is open, or while its oldest other request is younger
//! than the stall time (`idle_since`, the pure rule). The request path takes its own
//! connection's lock for an insert and a removal, and touches two atomics. The table of
//! connections is locked when a connection starts or ends and when the accept loop looks for
//! one to evict, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::handshake::Throttle;

/// How often a client waiting for a slot looks again for an idle connection when no
/// connection has become idle meanwhile (one it chose may have taken a request just then).
const EVICTION_RETRY: Duration = Duration::from_secs(1);

/// Every connection past its TLS handshake, and the signal that a slot is wanted.
#[derive(Debug)]
pub(super) struct Slots {
    /// Times are kept as milliseconds since this instant, so they fit in an atomic.
    epoch: Instant,
    /// How long a request other than a watch keeps its connection busy at most, in ms.
    stalled_after: u64,
    next_id: AtomicU64,
    /// A std lock: taken once when a connection starts, once when it ends, and by the accept
    /// loop's scan when no slot is free.
    open: Mutex<HashMap<u64, Arc<Slot>>>,
    wanted: Arc<Wanted>,
    /// Limits the log lines of evictions under a flood.
    evictions: Throttle,
}

/// Whether a client waits for a slot, and the wake-up when a connection becomes idle then.
#[derive(Debug, Default)]
struct Wanted {
    waiting: AtomicBool,
    became_idle: Notify,
}

/// One connection's requests in flight and when it became idle.
#[derive(Debug)]
pub(super) struct Slot {
    epoch: Instant,
    /// `ServeOptions::stalled_after` in ms.
    stalled_after: u64,
    /// Watches whose response has not ended yet: busy however quiet.
    open_watches: AtomicUsize,
    /// Other requests whose response has not ended yet: when each began (ms since `epoch`),
    /// and how many began then. The oldest decides whether they all stalled; a std lock, held
    /// for an insert or a removal.
    open_requests: Mutex<BTreeMap<u64, u32>>,
    /// When the last request ended (or the connection started), in ms since `epoch`.
    idle_since: AtomicU64,
    /// Set when the accept loop chose this connection to make room.
    evicted: AtomicBool,
    close: Notify,
    wanted: Arc<Wanted>,
}

/// What the accept loop does when every slot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    /// Close this connection: it has been idle longest.
    Evict(u64),
    /// A connection chosen earlier is still closing: its slot is on the way.
    Closing,
    /// Every connection is busy: wait for one to end or become idle.
    AllBusy,
}

/// One connection as the eviction scan sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    id: u64,
    /// Since when it has been idle (ms since the epoch); `None` while busy.
    idle_since: Option<u64>,
    evicted: bool,
}

/// What a connection has open, in ms since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Activity {
    watches: usize,
    /// When the oldest open request other than a watch began.
    oldest_request: Option<u64>,
    last_ended: u64,
}

/// Since when a connection has been idle at `now` (ms since the epoch), or `None` while it is
/// busy: a watch keeps it busy, other requests until the oldest of them is `stalled_after` ms
/// old (then it is idle since that moment, or since a later end). The oldest, not the newest:
/// a client re-sending a request that stalls would otherwise keep a slot forever.
fn idle_since(activity: Activity, now: u64, stalled_after: u64) -> Option<u64> {
    if activity.watches > 0 {
        return None;
    }
    let Some(oldest) = activity.oldest_request else {
        return Some(activity.last_ended);
    };
    let stalled = oldest.saturating_add(stalled_after);
    (now >= stalled).then_some(stalled.max(activity.last_ended))
}

/// The connection to close for a waiting client: the one idle longest, unless one already
/// chosen is idle and closing. A busy connection is never chosen.
fn choose(connections: impl IntoIterator<Item = Seen>) -> Choice {
    let mut idlest: Option<(u64, u64)> = None;
    for seen in connections {
        let Some(since) = seen.idle_since else {
            continue;
        };
        if seen.evicted {
            return Choice::Closing;
        }
        if idlest.is_none_or(|(_, best)| since < best) {
            idlest = Some((seen.id, since));
        }
    }
    idlest.map_or(Choice::AllBusy, |(id, _)| Choice::Evict(id))
}

/// How long an idle timer should sleep before looking again, or `None` when `idle` (how
/// long the connection has been idle; `None` while busy) has reached `timeout`.
pub(super) fn idle_wait(idle: Option<Duration>, timeout: Duration) -> Option<Duration> {
    match idle {
        Some(idle) if idle >= timeout => None,
        Some(idle) => Some(timeout - idle),
        // Busy: a request may end any time, so look again one timeout later at the latest.
        None => Some(timeout),
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

// === impl Slots ===

impl Slots {
    /// No connection yet; a request other than a watch keeps its connection busy for
    /// `stalled_after` at most; evictions logged at most once per `log_interval`.
    pub(super) fn new(stalled_after: Duration, log_interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            stalled_after: u64::try_from(stalled_after.as_millis()).unwrap_or(u64::MAX),
            next_id: AtomicU64::new(0),
            open: Mutex::default(),
            wanted: Arc::default(),
            evictions: Throttle::new(log_interval),
        }
    }

    /// Enters a connection, idle from now, until the returned guard is dropped.
    pub(super) fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            epoch: self.epoch,
            stalled_after: self.stalled_after,
            open_watches: AtomicUsize::new(0),
            open_requests: Mutex::default(),
            idle_since: AtomicU64::new(millis_since(self.epoch)),
            evicted: AtomicBool::new(false),
            close: Notify::new(),
            wanted: self.wanted.clone(),
        });
        self.table().insert(id, slot.clone());
        Registered {
            slots: self.clone(),
            id,
            slot,
        }
    }

    /// A permit from `permits`; when none is free, closes idle connections (idle longest
    /// first) until one is. `None` only if `permits` is closed.
    pub(super) async fn admit(&self, permits: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        self.wanted.waiting.store(true, Ordering::SeqCst);
        let _waiting = ClearOnDrop(&self.wanted.waiting);
        loop {
            // `notify_one` keeps a wake-up for a waiter not polled yet: none is lost meanwhile.
            let became_idle = self.wanted.became_idle.notified();
            self.evict_idlest();
            tokio::select! {
                permit = permits.clone().acquire_owned() => return permit.ok(),
                () = became_idle => {}
                () = tokio::time::sleep(EVICTION_RETRY) => {}
            }
        }
    }

    /// Asks the connection idle longest to close, if there is one and none is closing yet.
    fn evict_idlest(&self) {
        let victim = {
            let table = self.table();
            let now = millis_since(self.epoch);
            let choice = choose(table.iter().map(|(&id, slot)| slot.seen(id, now)));
            match choice {
                Choice::Evict(id) => table.get(&id).cloned(),
                Choice::Closing | Choice::AllBusy => None,
            }
        };
        let Some(victim) = victim else { return };
        victim.evicted.store(true, Ordering::SeqCst);
        victim.close.notify_one();
        if let Some(suppressed) = self.evictions.admit(Instant::now()) {
            let idle_ms = victim.idle_for().map_or(0, |idle| idle.as_millis());
            tracing::info!(
                idle_ms,
                suppressed,
                "every connection slot is taken: closing the connection idle longest for a waiting client"
            );
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.table().len()
    }
}

/// Resets a flag when the future that set it ends or is dropped.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

// === impl Slot ===

impl Slot {
    /// Counts a request as open until the guard is dropped; it keeps the connection busy for
    /// the stall time at most, unless it becomes [`Busy::long_running`].
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        let started = millis_since(self.epoch);
        *self.requests().entry(started).or_default() += 1;
        Busy {
            slot: self.clone(),
            started: Some(started),
        }
    }

    /// How long the connection has been idle (requests other than watches stop keeping it
    /// busy once the oldest is `stalled_after` old); `None` while busy.
    pub(super) fn idle_for(&self) -> Option<Duration> {
        let now = millis_since(self.epoch);
        let since = self.idle_since_at(now)?;
        Some(Duration::from_millis(now.saturating_sub(since)))
    }

    /// Completes once the accept loop chose this connection to make room.
    pub(super) async fn evicted(&self) {
        self.close.notified().await;
    }

    fn idle_since_at(&self, now: u64) -> Option<u64> {
        // Watches, requests, watches again: a request becoming a watch is counted as a watch
        // before it leaves the requests, and a watch becoming a request again (its producer
        // ended) is counted as a request before it leaves the watches, so whichever moves
        // between the reads, one of them sees it.
        let watches_before = self.open_watches.load(Ordering::SeqCst);
        let oldest_request = self.requests().keys().next().copied();
        let watches_after = self.open_watches.load(Ordering::SeqCst);
        let activity = Activity {
            watches: watches_before.max(watches_after),
            oldest_request,
            last_ended: self.idle_since.load(Ordering::SeqCst),
        };
        idle_since(activity, now, self.stalled_after)
    }

    fn requests(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, u32>> {
        self.open_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends a request that began at `started` (a watch: `None`).
    fn end(&self, started: Option<u64>) -> bool {
        let Some(started) = started else {
            return self.open_watches.fetch_sub(1, Ordering::SeqCst) == 1;
        };
        let mut requests = self.requests();
        if let Some(count) = requests.get_mut(&started) {
            *count -= 1;
            if *count == 0 {
                requests.remove(&started);
            }
        }
        requests.is_empty()
    }

    fn seen(&self, id: u64, now: u64) -> Seen {
        Seen {
            id,
            idle_since: self.idle_since_at(now),
            evicted: self.evicted.load(Ordering::SeqCst),
        }
    }

    fn release(&self, started: Option<u64>) {
        // The time first: a scan that sees no open request must not see an old idle time.
        self.idle_since
            .store(millis_since(self.epoch), Ordering::SeqCst);
        if self.end(started) && self.wanted.waiting.load(Ordering::SeqCst) {
            self.wanted.became_idle.notify_one();
        }
    }
}

/// One open request of a connection; dropped when its response body ends or is dropped.
#[derive(Debug)]
pub(super) struct Busy {
    slot: Arc<Slot>,
    /// When it began (ms since the epoch); `None` for a watch.
    started: Option<u64>,
}

impl Busy {
    /// The same request counted as a watch: its connection stays busy however quiet it is.
    pub(super) fn long_running(mut self) -> Self {
        if let Some(started) = self.started.take() {
            // The watch first, so the connection never looks idle in between.
            self.slot.open_watches.fetch_add(1, Ordering::SeqCst);
            self.slot.end(Some(started));
        }
        self
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot.release(self.started);
    }
}

impl Busy {
    /// A watch counted again as a request begun now: its connection stays busy for the stall
    /// time at most, as any response's.
    fn no_longer_running(mut self) -> Self {
        if self.started.is_none() {
            let now = millis_since(self.slot.epoch);
            // The request first, so the connection never looks idle in between.
            *self.slot.requests().entry(now).or_default() += 1;
            self.slot.open_watches.fetch_sub(1, Ordering::SeqCst);
            self.started = Some(now);
        }
        self
    }
}

/// The producer of a long-running response and the request it keeps open: counted as a watch
/// until the producer ends (see [`super::LongRunning`]), released when the body is dropped.
#[derive(Debug, Default)]
pub struct Producer {
    state: Mutex<ProducerState>,
}

#[derive(Debug, Default)]
struct ProducerState {
    ended: bool,
    /// The connection's request, once the response left the handler, until its body is dropped.
    busy: Option<Busy>,
}

impl Producer {
    /// Takes over the request of the response this producer feeds.
    pub(super) fn attach(&self, busy: Busy) {
        let mut state = self.lock();
        let busy = busy.long_running();
        state.busy = Some(match state.ended {
            true => busy.no_longer_running(),
            false => busy,
        });
    }

    /// Releases the request: the response body was dropped.
    pub(super) fn detach(&self) {
        let busy = self.lock().busy.take();
        drop(busy);
    }

    /// The producer has nothing more to send.
    pub(super) fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        if let Some(busy) = state.busy.take() {
            state.busy = Some(busy.no_longer_running());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProducerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's entry in [`Slots`], removed on drop.
#[derive(Debug)]
pub(super) struct Registered {
    slots: Arc<Slots>,
    id: u64,
    slot: Arc<Slot>,
}

impl Registered {
    /// The connection's slot, for its service and its idle timer.
    pub(super) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.slots.table().remove(&self.id);
    }
}

#[cfg(test)]
mod tests;
