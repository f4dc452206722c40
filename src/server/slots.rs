//! Connection slots: which open connections are still in their TLS handshake, which are idle
//! and for how long, and which one to close when every slot is taken and another client is
//! waiting.
//!
//! ```text
//! accept ── Slots::register ──> in the handshake since now ── Slot::handshaken ──> idle since now
//! request starts ── Slot::busy ──> its start recorded
//! response marked LongRunning ── Busy::long_running ──> counted as a watch instead
//! response body ends or is dropped ── drop(Busy) ──> removed; none left: idle since now
//!                                                      └─ a client waiting for a slot? wake it
//! accept ── no free permit ──> evict the oldest still in its handshake after EVICTION_GRACE_PERIOD,
//!                               else the one idle longest, never a busy one ──> wait for its permit
//! ```
//!
//! A connection still in its handshake goes first: it costs its client nothing to open (no
//! credentials, not even a byte), so a flood of them must not keep a waiting client out until
//! the handshake timeout, nor cost the kube-apiserver its idle keep-alive connections. Oldest
//! first, and only once older than [`EVICTION_GRACE_PERIOD`], so a real client, whose handshake
//! takes milliseconds, completes it: otherwise, with every other slot busy, each client
//! connecting would evict the one before it mid-handshake, and none would be served.
//!
//! A connection is busy while a watch is open, or while its oldest other request is younger
//! than the stall time (`idle_since`, the pure rule). The request path takes its own
//! connection's lock for an insert and a removal, and touches two atomics. The table of
//! connections is locked when a connection starts or ends and when the accept loop looks for
//! one to evict, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::handshake::Throttle;

/// How often a client waiting for a slot looks again for an idle connection when no
/// connection has become idle meanwhile (one it chose may have taken a request just then).
const EVICTION_RETRY: Duration = Duration::from_secs(1);

/// How long a connection may be in its TLS handshake, or idle, before a waiting client may
/// take its slot: far longer than a real client's handshake (one round trip and some signing)
/// or the pause between its handshake and its first request, short beside the webhook's 5 s
/// timeout. Without it for idle connections, a client that had just completed its handshake
/// was the connection "idle longest" while a flood's handshakes were young, and was cut
/// before its first request. It bounds how fast a flood can take slots too: at most the
/// slots per grace, so a client behind a full accept backlog waits about this long.
pub(super) const EVICTION_GRACE_PERIOD: Duration = Duration::from_secs(1);

/// Every connection holding a slot, and the signal that a slot is wanted.
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
    /// Limits the log lines of evictions of idle connections under a flood.
    evictions: Throttle,
    /// The same for connections still in their handshake: apart, so that each kind gets its
    /// line and its count of the others.
    handshake_evictions: Throttle,
}

/// Whether a client waits for a slot, and the wake-up when a connection becomes idle then.
#[derive(Debug, Default)]
struct Wanted {
    waiting: AtomicBool,
    became_idle: Notify,
}

/// One connection's handshake, its requests in flight and when it became idle.
#[derive(Debug)]
pub(super) struct Slot {
    epoch: Instant,
    /// The client, for the eviction log: who floods.
    peer: SocketAddr,
    /// Until the TLS handshake completes; `idle_since` is then when it was accepted.
    handshaking: AtomicBool,
    /// `ServeOptions::stalled_after` in ms.
    stalled_after: u64,
    /// Watches whose response has not ended yet: busy however quiet.
    open_watches: AtomicUsize,
    /// Other requests whose response has not ended yet: when each began (ms since `epoch`),
    /// and how many began then. The oldest decides whether they all stalled; a std lock, held
    /// for an insert or a removal.
    open_requests: Mutex<BTreeMap<u64, u32>>,
    /// When the last request ended (or the handshake completed; before that, when the
    /// connection was accepted), in ms since `epoch`.
    idle_since: AtomicU64,
    /// Set when the accept loop chose this connection to make room; never reset.
    evicted: AtomicBool,
    close: Notify,
    wanted: Arc<Wanted>,
}

/// What the accept loop does when every slot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    /// Close this connection: the oldest in its handshake past the grace, or else the one idle
    /// longest.
    Evict(u64),
    /// A connection chosen earlier is still closing: its slot is on the way.
    Closing,
    /// Nothing to evict: wait for a connection to end or become idle, or until this time (ms
    /// since the epoch), when the grace of the oldest handshake ends; `None`: all are busy.
    Wait(Option<u64>),
}

/// One connection as the eviction scan sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    /// Given in accept order.
    id: u64,
    standing: Standing,
    evicted: bool,
}

/// Where a connection stands, in the order the scan evicts them (times in ms since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// In its TLS handshake since it was accepted then: evicted first, once past the grace.
    Handshaking(u64),
    /// Past its handshake and idle since then.
    Idle(u64),
    /// Past its handshake with a request open: never evicted.
    Busy,
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

/// The connection to close for a waiting client at `now`: the oldest in its handshake for
/// `grace` ms at least, or else the one idle longest (for `grace` ms at least), unless one
/// already chosen is not busy and so closing. A busy connection is never chosen, nor a
/// handshake or an idle spell younger than `grace`: the client then waits until the soonest
/// grace ends.
fn choose(connections: impl IntoIterator<Item = Seen>, now: u64, grace: u64) -> Choice {
    // (tier, since, id), the least first; times are in ms, and a flood opens many connections
    // in one: ids go in accept order.
    let mut first: Option<(u8, u64, u64)> = None;
    let mut grace_ends: Option<u64> = None;
    for seen in connections {
        let (tier, since) = match seen.standing {
            Standing::Busy => continue,
            _ if seen.evicted => return Choice::Closing,
            Standing::Handshaking(since) => (0, since),
            Standing::Idle(since) => (1, since),
        };
        let ends = since.saturating_add(grace);
        if now < ends {
            grace_ends = Some(grace_ends.map_or(ends, |soonest| soonest.min(ends)));
            continue;
        }
        let key = (tier, since, seen.id);
        if first.is_none_or(|best| key < best) {
            first = Some(key);
        }
    }
    first.map_or(Choice::Wait(grace_ends), |(_, _, id)| Choice::Evict(id))
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
    /// `stalled_after` at most; evictions logged at most once per `log_interval` (each kind).
    pub(super) fn new(stalled_after: Duration, log_interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            stalled_after: u64::try_from(stalled_after.as_millis()).unwrap_or(u64::MAX),
            next_id: AtomicU64::new(0),
            open: Mutex::default(),
            wanted: Arc::default(),
            evictions: Throttle::new(log_interval),
            handshake_evictions: Throttle::new(log_interval),
        }
    }

    /// Enters a connection from `peer` just accepted, in its TLS handshake from now (until
    /// [`Slot::handshaken`]), until the returned guard is dropped.
    pub(super) fn register(self: &Arc<Self>, peer: SocketAddr) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            epoch: self.epoch,
            peer,
            handshaking: AtomicBool::new(true),
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

    /// A permit from `permits`; when none is free, closes connections still in their handshake
    /// (oldest first), then idle ones (idle longest first), until one is. `None` only if
    /// `permits` is closed.
    pub(super) async fn admit(&self, permits: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        self.wanted.waiting.store(true, Ordering::SeqCst);
        let _waiting = ClearOnDrop(&self.wanted.waiting);
        loop {
            // `notify_one` keeps a wake-up for a waiter not polled yet: none is lost meanwhile.
            let became_idle = self.wanted.became_idle.notified();
            let look_again = self.evict();
            tokio::select! {
                permit = permits.clone().acquire_owned() => return permit.ok(),
                () = became_idle => {}
                () = tokio::time::sleep(look_again) => {}
            }
        }
    }

    /// Asks the connection [`choose`] picks to close, if there is one and none is closing yet;
    /// returns how long to wait before looking again unless woken.
    fn evict(&self) -> Duration {
        let now = millis_since(self.epoch);
        let grace = u64::try_from(EVICTION_GRACE_PERIOD.as_millis()).unwrap_or(u64::MAX);
        let victim = {
            let table = self.table();
            let choice = choose(
                table.iter().map(|(&id, slot)| slot.seen(id, now)),
                now,
                grace,
            );
            match choice {
                Choice::Evict(id) => table.get(&id).cloned(),
                // Nothing wakes the loop when a grace ends: sleep until then.
                Choice::Wait(Some(grace_ends)) => {
                    let wait = Duration::from_millis(grace_ends.saturating_sub(now));
                    return wait.min(EVICTION_RETRY);
                }
                Choice::Closing | Choice::Wait(None) => None,
            }
        };
        let Some(victim) = victim else {
            return EVICTION_RETRY;
        };
        // Read before the flag is set: the connection may finish its handshake meanwhile, and
        // is closed either way.
        let standing = victim.standing_at(now);
        victim.evicted.store(true, Ordering::SeqCst);
        victim.close.notify_waiters();
        let peer = victim.peer;
        match standing {
            Standing::Handshaking(since) => {
                if let Some(suppressed) = self.handshake_evictions.admit(Instant::now()) {
                    let age_ms = now.saturating_sub(since);
                    tracing::info!(
                        %peer,
                        age_ms,
                        suppressed,
                        "every connection slot is taken: closing the oldest connection still in its tls handshake for a waiting client"
                    );
                }
            }
            Standing::Idle(since) => {
                if let Some(suppressed) = self.evictions.admit(Instant::now()) {
                    let idle_ms = now.saturating_sub(since);
                    tracing::info!(
                        %peer,
                        idle_ms,
                        suppressed,
                        "every connection slot is taken: closing the connection idle longest for a waiting client"
                    );
                }
            }
            Standing::Busy => {}
        }
        EVICTION_RETRY
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

    /// The TLS handshake has completed: idle from now, evicted only once no connection still
    /// in its handshake is left.
    pub(super) fn handshaken(&self) {
        // The time first: a scan that sees the handshake done must not see the accept time.
        self.idle_since
            .store(millis_since(self.epoch), Ordering::SeqCst);
        self.handshaking.store(false, Ordering::SeqCst);
    }

    /// Completes once the accept loop chose this connection to make room, whether or not this
    /// was waiting then: the handshake and the requests that follow each wait for it in turn.
    pub(super) async fn evicted(&self) {
        loop {
            let notified = self.close.notified();
            tokio::pin!(notified);
            // Registered as a waiter before the flag is read: a choice made in between wakes it.
            notified.as_mut().enable();
            if self.evicted.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
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

    fn standing_at(&self, now: u64) -> Standing {
        if self.handshaking.load(Ordering::SeqCst) {
            return Standing::Handshaking(self.idle_since.load(Ordering::SeqCst));
        }
        self.idle_since_at(now)
            .map_or(Standing::Busy, Standing::Idle)
    }

    fn seen(&self, id: u64, now: u64) -> Seen {
        Seen {
            id,
            standing: self.standing_at(now),
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
