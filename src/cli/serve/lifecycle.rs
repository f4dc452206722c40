//! Shutdown in steps, as kube-apiserver does it (`--shutdown-delay-duration`):
//!
//! ```text
//! SIGTERM ─> stopping: /readyz 503, the importer resigns, the listener still accepts and serves
//!    └─ --shutdown-delay later ─> draining: the listener closes, watches end their responses,
//!                                 requests in flight finish (the server's drain timeout)
//! ```
//!
//! Kubernetes removes a terminating pod from its Services' endpoints while the pod already has
//! SIGTERM, so for a few seconds calls keep coming; refusing them would fail fail-closed
//! admission. The importer resigns at once, so another replica imports while this one drains.
//! A second signal exits at once ([`first_signal`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::apiserver::state::Draining;
use crate::server::Readiness;

/// How far shutdown has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Running,
    Stopping,
    Draining,
}

/// The shutdown phases, for every task that acts on them; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Lifecycle {
    /// A watch channel: a task that asks after a phase began must see it too. Every clone
    /// holds the sender, so waits never see the channel close.
    phase: Arc<watch::Sender<Phase>>,
}

impl Lifecycle {
    /// Starts the sequence in the background: once `shutdown` completes, `readiness` reports
    /// stopping; `delay` later, `draining` is raised and [`Lifecycle::draining`] resolves.
    pub(super) fn start(
        shutdown: impl Future<Output = ()> + Send + 'static,
        delay: Duration,
        readiness: Readiness,
        draining: Draining,
    ) -> Self {
        let lifecycle = Self {
            phase: Arc::new(watch::Sender::new(Phase::Running)),
        };
        let phases = lifecycle.clone();
        tokio::spawn(async move {
            shutdown.await;
            readiness.set_stopping();
            phases.phase.send_replace(Phase::Stopping);
            if !delay.is_zero() {
                tracing::info!(delay = ?delay, "shutting down: not ready, still serving for the shutdown delay");
                tokio::time::sleep(delay).await;
            }
            tracing::info!(
                "shutting down: closing the listener, ending watches, draining connections"
            );
            draining.raise();
            phases.phase.send_replace(Phase::Draining);
        });
        lifecycle
    }

    /// Resolves once shutdown has begun.
    pub(super) fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Phase::Stopping)
    }

    /// Resolves once the shutdown delay is over: time to stop accepting and drain.
    pub(super) fn draining(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Phase::Draining)
    }

    fn reached(&self, phase: Phase) -> impl Future<Output = ()> + Send + 'static {
        let mut phases = self.phase.subscribe();
        async move {
            let _ = phases.wait_for(|now| *now >= phase).await;
        }
    }
}

/// Completes at the first SIGINT or SIGTERM. A second one exits at once with code 1, as
/// Kubernetes components do (kube-apiserver's `SetupSignalHandler`): an operator who signals
/// twice does not want to wait out the shutdown delay and the drain. Acknowledged writes are
/// durable, so this loses nothing a crash would not.
pub(super) async fn first_signal() {
    // One set of signal streams for both, created before the first arrives, so a second
    // signal sent right after the first is not missed.
    let mut signals = Signals::new();
    signals.next().await;
    tokio::spawn(async move {
        signals.next().await;
        tracing::warn!("a second signal: exiting at once");
        crate::cli::logging::flush_logs();
        std::process::exit(1);
    });
}

/// SIGINT and SIGTERM as one stream (Ctrl-C elsewhere).
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
                .ok();
            Self { streams }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = &mut self.streams {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    /// Whether `future` has completed already (or does within a moment).
    async fn done(future: impl Future<Output = ()>) -> bool {
        tokio::time::timeout(Duration::from_millis(10), future)
            .await
            .is_ok()
    }

    /// Waits for `future`, failing the test if it takes unreasonably long.
    async fn eventually(what: &str, future: impl Future<Output = ()>) {
        let waited = tokio::time::timeout(Duration::from_secs(10), future).await;
        assert!(waited.is_ok(), "{what} did not happen");
    }

    #[tokio::test]
    async fn shutdown_stops_readiness_at_once_and_drains_after_the_delay() {
        let (signal, signalled) = oneshot::channel::<()>();
        let readiness = Readiness::new();
        readiness.set_ready(true);
        let draining = Draining::default();
        let shutdown = async move {
            let _ = signalled.await;
        };
        // Long enough that "not draining yet" cannot be a slow machine's accident.
        let delay = Duration::from_secs(2);
        let lifecycle = Lifecycle::start(shutdown, delay, readiness.clone(), draining.clone());
        assert!(!done(lifecycle.stopping()).await);
        assert!(readiness.is_ready());

        signal.send(()).unwrap();
        eventually("stopping", lifecycle.stopping()).await;
        assert!(!readiness.is_ready());
        assert!(!done(lifecycle.draining()).await);
        assert!(!done(draining.raised()).await);

        eventually("draining", lifecycle.draining()).await;
        assert!(done(draining.raised()).await);
        assert!(done(lifecycle.clone().stopping()).await);
    }

    #[tokio::test]
    async fn without_a_delay_draining_follows_the_signal() {
        let draining = Draining::default();
        let lifecycle = Lifecycle::start(async {}, Duration::ZERO, Readiness::new(), draining);
        eventually("draining", lifecycle.draining()).await;
    }
}
