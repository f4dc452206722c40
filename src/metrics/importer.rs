//! What the importer counts: its registry questions, its work queue and passes, its schedule,
//! what it removes, the registry files it reloads, the pushes it hears of, and whether this
//! replica imports at all.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::ResultLabels;

/// Labels of the import counter: one per registry question of an import pass.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ImportLabels {
    /// `success`, `failure`, or `skipped` (not asked: the registry did not answer another
    /// import a moment ago, or limited its rate).
    pub result: &'static str,
    /// The tag condition's reason of a failure (`NotFound`, `Unauthorized`, `InternalError`);
    /// empty on success.
    pub reason: String,
    /// What went wrong, finer than `reason` ([`ImportError::cause`]: `timeout`,
    /// `rate_limited`, `transport`, …); empty on success.
    ///
    /// [`ImportError::cause`]: crate::importer::registry::ImportError::cause
    pub cause: &'static str,
    /// Where an answered question was answered: `source` (the image's own registry) or
    /// `mirror` (one of its mirrors: `--registries-conf`, `--containerd-hosts-dir` or
    /// `--mirror-sets`); empty on failure.
    pub place: &'static str,
}

impl ImportLabels {
    /// A question answered, by the source's own registry or by one of its mirrors.
    pub fn answered(from_mirror: bool) -> Self {
        Self {
            result: "success",
            reason: String::new(),
            cause: "",
            place: if from_mirror { "mirror" } else { "source" },
        }
    }

    /// A question that failed (or was not asked, when `cause` is `skipped`), with the reason
    /// its tag condition gives.
    pub fn failed(reason: &str, cause: &'static str) -> Self {
        Self {
            result: if cause == "skipped" {
                "skipped"
            } else {
                "failure"
            },
            reason: reason.to_string(),
            cause,
            place: "",
        }
    }
}

/// Labels of the registry files reload counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `applied` or `failed`.
    pub result: &'static str,
}

/// A reload of changed files that is used from now on.
pub const RELOAD_APPLIED: ReloadLabels = ReloadLabels { result: "applied" };

/// A reload of changed files that cannot be used: the last good ones are kept.
pub const RELOAD_FAILED: ReloadLabels = ReloadLabels { result: "failed" };

/// How long an import pass may take, in seconds: registries time out after 30 s, and a pass
/// waits for every source it asks.
const PASS_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// What the importer counts: its registry questions, its work queue and passes, its schedule,
/// and what it removes; whether this replica imports.
#[derive(Clone, Debug)]
pub struct ImporterMetrics {
    /// Registry questions of import passes (and imports asked through the API), by result,
    /// failure reason and the place that answered.
    pub imports: Family<ImportLabels, Counter>,
    /// Streams waiting for an import pass.
    pub queue_depth: Gauge<i64, AtomicI64>,
    /// How long each import pass took.
    pub pass_duration: Histogram,
    /// Import passes that failed on the store and were queued again after a wait.
    pub pass_retries: Counter,
    /// How long the most overdue scheduled import has waited for the budget, in seconds.
    pub schedule_behind: Gauge<i64, AtomicI64>,
    /// Image objects deleted because no stream references them any more.
    pub images_pruned: Counter,
    /// Status history items dropped to fit a stream in the store.
    pub history_trimmed: Counter,
    /// Changes of the registry files (mirrors, CAs) read while serving, by result.
    pub registry_files_reloads: Family<ReloadLabels, Counter>,
    /// 1 while the registry files as they are now cannot be used (the last good ones are).
    pub registry_files_stale: Gauge<i64, AtomicI64>,
    /// Registry notifications received (`POST /registry-events`), by result.
    pub registry_notifications: Family<ResultLabels, Counter>,
    /// Pushed tags the leading importer handled, by whether some stream tag follows them.
    pub registry_pushes: Family<ResultLabels, Counter>,
    /// Import passes whose namespace's pull secrets could not be read (imported anonymously).
    pub pull_secrets_unreadable: Counter,
    /// Lists made again after a watch or a list failed, by feed ([`FEEDS`]): the admission
    /// index's and the platforms' as well as the importer's, all list-then-watch loops.
    pub watch_restarts: Family<FeedLabels, Counter>,
    /// 1 while this replica leads the importer role, else 0.
    pub leader: Gauge<i64, AtomicI64>,
    /// 1 when this replica runs an importer (campaigns for the role), 0 with `--no-importer`.
    pub enabled: Gauge<i64, AtomicI64>,
}

/// Labels naming a list-then-watch feed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedLabels {
    /// One of [`FEEDS`].
    pub feed: &'static str,
}

/// The feeds whose restarts are counted: the admission index, the image platforms (the
/// architecture warning), the importer's streams and its registry pushes.
pub const FEEDS: [&str; 4] = ["index", "platforms", "importer", "pushes"];

/// The `result`s of `imagelookup_registry_notifications_total`.
pub const NOTIFICATION_RESULTS: [&str; 6] = [
    "recorded",
    "ignored",
    "unauthorized",
    "malformed",
    "busy",
    "failed",
];

/// The `result`s of `imagelookup_importer_registry_pushes_total`: whether a stream tag follows
/// the pushed tag.
const PUSH_RESULTS: [&str; 2] = [FOLLOWED, UNFOLLOWED];

/// A pushed tag some stream tag follows.
pub const FOLLOWED: &str = "followed";

/// A pushed tag no stream tag follows.
pub const UNFOLLOWED: &str = "unfollowed";

/// A family with a series at 0 for each of `results`, so that a dashboard shows 0 rather than
/// nothing and `rate()` sees the first increment.
fn with_results(results: &[&'static str]) -> Family<ResultLabels, Counter> {
    let family = Family::default();
    for &result in results {
        let _ = family.get_or_create(&ResultLabels { result });
    }
    family
}

impl Default for ImporterMetrics {
    fn default() -> Self {
        Self {
            imports: {
                // A counter's first increment is lost to `rate()` when it creates the series.
                let imports = Family::default();
                let _ = imports.get_or_create(&ImportLabels::answered(false));
                imports
            },
            queue_depth: Gauge::default(),
            pass_duration: Histogram::new(PASS_BUCKETS),
            pass_retries: Counter::default(),
            schedule_behind: Gauge::default(),
            images_pruned: Counter::default(),
            history_trimmed: Counter::default(),
            registry_files_reloads: {
                // Both series exist from the start, so a dashboard shows 0 rather than nothing.
                let reloads = Family::default();
                let _ = reloads.get_or_create(&RELOAD_APPLIED);
                let _ = reloads.get_or_create(&RELOAD_FAILED);
                reloads
            },
            registry_files_stale: Gauge::default(),
            registry_notifications: with_results(&NOTIFICATION_RESULTS),
            registry_pushes: with_results(&PUSH_RESULTS),
            pull_secrets_unreadable: Counter::default(),
            watch_restarts: {
                let restarts = Family::default();
                for feed in FEEDS {
                    let _ = restarts.get_or_create(&FeedLabels { feed });
                }
                restarts
            },
            leader: Gauge::default(),
            enabled: Gauge::default(),
        }
    }
}

impl ImporterMetrics {
    /// Zeroes what describes a running importer (its queue, its schedule), so that a replica
    /// that lost the importer role does not go on reporting its last term.
    pub fn not_importing(&self) {
        self.queue_depth.set(0);
        self.schedule_behind.set(0);
    }

    /// Counts one registry question (`imagelookup_imports_total`).
    pub fn count_import(&self, labels: ImportLabels) {
        self.imports.get_or_create(&labels).inc();
    }

    /// The restart counter of `feed` (one of [`FEEDS`]).
    pub fn restarts_of(&self, feed: &'static str) -> Counter {
        self.watch_restarts
            .get_or_create(&FeedLabels { feed })
            .clone()
    }

    /// The importer's metrics, registered in `registry`.
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "importer_pull_secrets_unreadable",
            "Import passes whose namespace's pull secrets could not be read (the cluster refused \
             or did not answer the list), so their tags were imported anonymously",
            metrics.pull_secrets_unreadable.clone(),
        );
        registry.register(
            "watch_restarts",
            "Lists made again after a watch or list failed, by feed: index (the admission \
             index), platforms (image architectures), importer, pushes; a steady rate means \
             410s under churn or a flapping store, each re-list reading the whole collection",
            metrics.watch_restarts.clone(),
        );
        registry.register(
            "imports",
            "Registry questions of import passes by result (success, failure, skipped: not \
             asked, the registry being silent or rate limited a moment ago), failure reason (the \
             tag condition's), cause (timeout, unreachable, rate_limited, transport, \
             unauthorized, not_found, …) and the place that answered (the source's registry or \
             a mirror)",
            metrics.imports.clone(),
        );
        registry.register(
            "importer_queue_depth",
            "Streams waiting for an import pass (not counting those in a pass): a queue that \
             stays long means too few --import-workers for slow registries",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "importer_pass_duration_seconds",
            "How long each import pass of a stream took, its registry questions included",
            metrics.pass_duration.clone(),
        );
        registry.register(
            "importer_pass_retries",
            "Import passes that failed on the store and were queued again after a backoff",
            metrics.pass_retries.clone(),
        );
        registry.register(
            "importer_schedule_behind_seconds",
            "How long the most overdue scheduled stream import has waited past its due time for \
             the budget of --scheduled-imports-per-minute; 0 while the budget keeps up",
            metrics.schedule_behind.clone(),
        );
        registry.register(
            "images_pruned",
            "Image objects the leading importer deleted because no stream's status history \
             names them any more",
            metrics.images_pruned.clone(),
        );
        registry.register(
            "importer_history_trimmed",
            "Status history items the importer dropped, oldest first, because the stream with \
             its new import was larger than the store keeps",
            metrics.history_trimmed.clone(),
        );
        registry.register(
            "importer_registry_files_reloads",
            "Changes of the registry files (--registry-ca-file, --registries-conf, \
             --containerd-hosts-dir, --mirror-sets, --global-pull-secret) read while serving: applied to the next \
             imports, or failed (the last good files are kept; the log says why)",
            metrics.registry_files_reloads.clone(),
        );
        registry.register(
            "importer_registry_files_stale",
            "1 while the registry files as they are now cannot be used and imports go on with \
             the last good ones (the log says why); 0 otherwise",
            metrics.registry_files_stale.clone(),
        );
        registry.register(
            "registry_notifications",
            "Registry push notifications received at /registry-events, by result: recorded (some \
             pushed tags kept for the importer), ignored (nothing but pulls, deletes or pushes by \
             digest), unauthorized, malformed, busy (refused unread: the server's budget for \
             request bodies was spent), failed (the store or the token file)",
            metrics.registry_notifications.clone(),
        );
        registry.register(
            "importer_registry_pushes",
            "Pushed tags the leading importer handled, by result: followed (some scheduled \
             stream tag, or one whose import failed, follows the tag and is imported again now) \
             or unfollowed",
            metrics.registry_pushes.clone(),
        );
        registry.register(
            "importer_leader",
            "1 while this replica is the one importing tags, else 0",
            metrics.leader.clone(),
        );
        registry.register(
            "importer_enabled",
            "1 when this replica runs an importer (campaigns to lead it), 0 with --no-importer",
            metrics.enabled.clone(),
        );
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_no_longer_importing_reports_no_queue_and_no_schedule_lag() {
        let metrics = ImporterMetrics::default();
        metrics.queue_depth.set(7);
        metrics.schedule_behind.set(120);
        metrics.images_pruned.inc();
        metrics.not_importing();
        assert_eq!(
            (metrics.queue_depth.get(), metrics.schedule_behind.get()),
            (0, 0)
        );
        assert_eq!(metrics.images_pruned.get(), 1, "counters keep counting");
    }
}
