//! Prometheus metrics (prometheus-client), served at `/metrics` in the text format.
//!
//! Latency histograms reach past 10 s: a webhook call can be held up to its 30 s timeout, and
//! users of other webhooks learned the hard way that buckets ending at 1 s hide those stalls.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::resolve::TagCounts;

mod exposition;

pub use exposition::Exposition;

/// Latency buckets in seconds: 100 µs to 30 s, with the shipped webhook registration's 5 s
/// `timeoutSeconds` as a bound (calls past it were failed by kube-apiserver).
const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// What happened to an admission request.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    /// Allowed with a patch.
    Patched,
    /// Allowed unchanged.
    Allowed,
    /// Rejected by a Required mode.
    Denied,
    /// Passed through without looking (not covered, controller-owned, …).
    Skipped,
    /// The request could not be read.
    Invalid,
    /// Answered 503: the index was still loading.
    NotReady,
    /// Refused unread: the caller presented no client certificate `--admission-client-ca-file`
    /// vouches for.
    Unauthorized,
    /// Answered 503 unread: the server's budget for request bodies read at once was spent.
    Busy,
}

/// Labels of the admission request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    /// The object's kind (one of a fixed set, so `'static`: no allocation per request).
    pub kind: &'static str,
    /// `CREATE`, `UPDATE`, …
    pub operation: &'static str,
    /// What happened.
    pub outcome: Outcome,
}

/// The build's identity, as `imagelookup_build_info`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    /// The crate version (`/version`'s `gitVersion` without its `v`).
    version: &'static str,
}

/// Labels keyed by a reason string.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A stable snake_case reason.
    pub reason: &'static str,
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

/// Labels of counters of outcomes: what became of a registry notification, a push, an etcd
/// compaction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// For notifications `recorded`, `ignored`, `unauthorized`, `malformed`, `busy` or `failed`; for
    /// pushes `followed` or `unfollowed`; for compactions `compacted` or `failed`.
    pub result: &'static str,
}

/// A compaction of etcd's history that took place (or that etcd had already gone past).
pub const COMPACTED: ResultLabels = ResultLabels {
    result: "compacted",
};

/// A turn of the compactor that failed (its txn or its compaction): tried again next interval.
pub const COMPACTION_FAILED: ResultLabels = ResultLabels { result: "failed" };

/// A backup written.
pub const BACKUP_WRITTEN: ResultLabels = ResultLabels { result: "written" };

/// A backup that failed.
pub const BACKUP_FAILED: ResultLabels = ResultLabels { result: "failed" };

/// What the embedded store's backups count (`--backup-dir`).
#[derive(Clone, Debug, Default)]
pub struct BackupMetrics {
    /// Backups by result: written, or failed.
    pub backups: Family<ResultLabels, Counter>,
    /// When the directory's newest backup was written (Unix seconds); 0 without one.
    pub last_written: Gauge<i64, AtomicI64>,
}

impl BackupMetrics {
    /// The backup metrics, registered in `registry`, both results' series present from the
    /// start.
    fn registered(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let _ = metrics.backups.get_or_create(&BACKUP_WRITTEN);
        let _ = metrics.backups.get_or_create(&BACKUP_FAILED);
        registry.register(
            "store_backups",
            "Backups of the embedded store written to --backup-dir, by result: written, or \
             failed (the log says why). Without --backup-dir, none",
            metrics.backups.clone(),
        );
        registry.register(
            "store_backup_last_written_timestamp_seconds",
            "When the newest backup of the embedded store in --backup-dir was written (Unix \
             time, read from the directory at start); 0 without one: alert when it falls more \
             than a few intervals behind",
            metrics.last_written.clone(),
        );
        metrics
    }
}

/// Labels of store operations.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// `create`, `update`, `delete`, `list`, `get`, `watch`.
    pub operation: String,
    /// `ok` or the Status reason of the failure.
    pub result: String,
}

/// Labels of the API request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// The HTTP method (`GET`, `POST`, …; `OTHER` for the rest).
    pub method: &'static str,
    /// The HTTP status code.
    pub code: u16,
}

impl ApiLabels {
    /// A fixed label for each method a client of this API sends; `OTHER` for the rest.
    pub fn method(method: &http::Method) -> &'static str {
        use http::Method;
        match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            _ => "OTHER",
        }
    }
}

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

/// Labels of the spec-tag gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TagStateLabels {
    /// A [`crate::resolve::TagState`] label (`pinned`, `import_failed`, …).
    pub state: &'static str,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    /// Admission requests by kind, operation and outcome.
    pub admission_requests: Family<AdmissionLabels, Counter>,
    /// Admission latency, from body read to response built.
    pub admission_duration: Histogram,
    /// References rewritten, by how they resolved.
    pub rewrites: Family<ReasonLabels, Counter>,
    /// References left unresolved or unpinned: one per warning an answer carries.
    pub unresolved: Family<ReasonLabels, Counter>,
    /// Requests passed through without looking, by [`crate::admission::Skip`] label.
    pub admission_skipped: Family<ReasonLabels, Counter>,
    /// Streams in the live index.
    pub index_streams: Gauge<i64, AtomicI64>,
    /// Revisions the live index trails the store by.
    pub watch_lag: Gauge<i64, AtomicI64>,
    /// 1 while the live index's list and watch are established, 0 while it re-lists.
    pub index_feed_connected: Gauge<i64, AtomicI64>,
    /// Store operations by type and result.
    pub store_operations: Family<StoreLabels, Counter>,
    /// API request latency.
    pub api_duration: Histogram,
    /// API requests by method and status code.
    pub api_requests: Family<ApiLabels, Counter>,
    /// What the importer counts (shared with the imports asked through the API).
    pub importer: ImporterMetrics,
    /// 1 while this replica leads the importer role, else 0.
    pub importer_leader: Gauge<i64, AtomicI64>,
    /// 1 when this replica runs an importer (campaigns for the role), 0 with `--no-importer`.
    pub importer_enabled: Gauge<i64, AtomicI64>,
    /// This replica's compactions of etcd's history, by result.
    pub etcd_compactions: Family<ResultLabels, Counter>,
    /// The embedded store's backups (`--backup-dir`).
    pub store_backups: BackupMetrics,
    /// When the serving certificate expires (Unix seconds), read at each scrape.
    pub serving_certificate_expiry: Gauge<i64, AtomicI64>,
    /// 1 while this replica is ready (`/readyz` 200), read at each scrape.
    pub ready: Gauge<i64, AtomicI64>,
    /// Spec tags of the live index by state.
    pub spec_tags: Family<TagStateLabels, Gauge<i64, AtomicI64>>,
    /// Connections the server closed, by reason (`idle`, `evicted`).
    pub closed_connections: Family<ReasonLabels, Counter>,
    /// Connections that never became a TLS connection to serve, by reason.
    pub tls_handshake_failures: Family<ReasonLabels, Counter>,
    /// Connections holding one of the server's slots now.
    pub open_connections: Gauge<i64, AtomicI64>,
    registry: Registry,
}

/// How long an import pass may take, in seconds: registries time out after 30 s, and a pass
/// waits for every source it asks.
const PASS_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// What the importer counts: its registry questions, its work queue and passes, its schedule,
/// and what it removes.
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

impl Default for ImporterMetrics {
    fn default() -> Self {
        Self {
            imports: Family::default(),
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
            registry_notifications: Family::default(),
            registry_pushes: Family::default(),
            pull_secrets_unreadable: Counter::default(),
            watch_restarts: {
                let restarts = Family::default();
                for feed in FEEDS {
                    let _ = restarts.get_or_create(&FeedLabels { feed });
                }
                restarts
            },
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

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "importer_pull_secrets_unreadable",
            "Import passes whose namespace's pull secrets could not be read (the cluster refused \
             or did not answer the list), so their tags were imported anonymously",
            self.pull_secrets_unreadable.clone(),
        );
        registry.register(
            "watch_restarts",
            "Lists made again after a watch or list failed, by feed: index (the admission \
             index), platforms (image architectures), importer, pushes; a steady rate means \
             410s under churn or a flapping store, each re-list reading the whole collection",
            self.watch_restarts.clone(),
        );
        registry.register(
            "imports",
            "Registry questions of import passes by result (success, failure, skipped: not \
             asked, the registry being silent or rate limited a moment ago), failure reason (the \
             tag condition's), cause (timeout, unreachable, rate_limited, transport, \
             unauthorized, not_found, …) and the place that answered (the source's registry or \
             a mirror)",
            self.imports.clone(),
        );
        registry.register(
            "importer_queue_depth",
            "Streams waiting for an import pass (not counting those in a pass): a queue that \
             stays long means too few --import-workers for slow registries",
            self.queue_depth.clone(),
        );
        registry.register(
            "importer_pass_duration_seconds",
            "How long each import pass of a stream took, its registry questions included",
            self.pass_duration.clone(),
        );
        registry.register(
            "importer_pass_retries",
            "Import passes that failed on the store and were queued again after a backoff",
            self.pass_retries.clone(),
        );
        registry.register(
            "importer_schedule_behind_seconds",
            "How long the most overdue scheduled stream import has waited past its due time for \
             the budget of --scheduled-imports-per-minute; 0 while the budget keeps up",
            self.schedule_behind.clone(),
        );
        registry.register(
            "images_pruned",
            "Image objects the leading importer deleted because no stream's status history \
             names them any more",
            self.images_pruned.clone(),
        );
        registry.register(
            "importer_history_trimmed",
            "Status history items the importer dropped, oldest first, because the stream with \
             its new import was larger than the store keeps",
            self.history_trimmed.clone(),
        );
        registry.register(
            "importer_registry_files_reloads",
            "Changes of the registry files (--registry-ca-file, --registries-conf, \
             --containerd-hosts-dir, --mirror-sets, --global-pull-secret) read while serving: applied to the next \
             imports, or failed (the last good files are kept; the log says why)",
            self.registry_files_reloads.clone(),
        );
        registry.register(
            "importer_registry_files_stale",
            "1 while the registry files as they are now cannot be used and imports go on with \
             the last good ones (the log says why); 0 otherwise",
            self.registry_files_stale.clone(),
        );
        registry.register(
            "registry_notifications",
            "Registry push notifications received at /registry-events, by result: recorded (some \
             pushed tags kept for the importer), ignored (nothing but pulls, deletes or pushes by \
             digest), unauthorized, malformed, busy (refused unread: the server's budget for \
             request bodies was spent), failed (the store or the token file)",
            self.registry_notifications.clone(),
        );
        registry.register(
            "importer_registry_pushes",
            "Pushed tags the leading importer handled, by result: followed (some scheduled \
             stream tag, or one whose import failed, follows the tag and is imported again now) \
             or unfollowed",
            self.registry_pushes.clone(),
        );
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let admission_requests = Family::<AdmissionLabels, Counter>::default();
        let admission_duration = Histogram::new(LATENCY_BUCKETS);
        let rewrites = Family::<ReasonLabels, Counter>::default();
        let unresolved = Family::<ReasonLabels, Counter>::default();
        let admission_skipped = Family::<ReasonLabels, Counter>::default();
        let index_streams = Gauge::<i64, AtomicI64>::default();
        let watch_lag = Gauge::<i64, AtomicI64>::default();
        let index_feed_connected = Gauge::<i64, AtomicI64>::default();
        let api_requests = Family::<ApiLabels, Counter>::default();
        let importer = ImporterMetrics::default();
        let store_operations = Family::<StoreLabels, Counter>::default();
        let api_duration = Histogram::new(LATENCY_BUCKETS);
        let importer_leader = Gauge::<i64, AtomicI64>::default();
        let importer_enabled = Gauge::<i64, AtomicI64>::default();
        let etcd_compactions = Family::<ResultLabels, Counter>::default();
        let _ = etcd_compactions.get_or_create(&COMPACTED);
        let _ = etcd_compactions.get_or_create(&COMPACTION_FAILED);
        let spec_tags = Family::<TagStateLabels, Gauge<i64, AtomicI64>>::default();
        let serving_certificate_expiry = Gauge::<i64, AtomicI64>::default();
        let ready = Gauge::<i64, AtomicI64>::default();
        let closed_connections = Family::<ReasonLabels, Counter>::default();
        // Both series exist from the start, so a dashboard shows 0 rather than nothing.
        for reason in [crate::server::CLOSED_IDLE, crate::server::CLOSED_EVICTED] {
            let _ = closed_connections.get_or_create(&ReasonLabels { reason });
        }
        let open_connections = Gauge::<i64, AtomicI64>::default();
        let tls_handshake_failures = Family::<ReasonLabels, Counter>::default();
        for reason in crate::server::HANDSHAKE_FAILURE_REASONS {
            let _ = tls_handshake_failures.get_or_create(&ReasonLabels { reason });
        }
        let mut registry = Registry::with_prefix("imagelookup");
        registry.register(
            "admission_requests",
            "Admission requests by kind, operation and outcome",
            admission_requests.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Admission request latency (answers given without reading the review are not timed)",
            admission_duration.clone(),
        );
        registry.register(
            "rewrites",
            "Image references rewritten, by resolution path",
            rewrites.clone(),
        );
        registry.register(
            "unresolved_references",
            "Image references not pinned, or pinned to an image the pod's nodes cannot run \
             (architecture_mismatch), by reason",
            unresolved.clone(),
        );
        registry.register(
            "admission_skipped",
            "Admission requests passed through without looking at their images, by reason \
             (operation, subresource, not_covered, controller_owned, pod_template, no_images)",
            admission_skipped.clone(),
        );
        registry.register(
            "index_streams",
            "ImageStreams in the live admission index",
            index_streams.clone(),
        );
        registry.register(
            "index_watch_lag_revisions",
            "The store's revision minus the newest one the live index has seen. Writes under \
             other prefixes (Secrets, Image objects, push records, the compaction key; with \
             etcd, every write to the cluster) move the store's revision but send the index \
             nothing, so this grows while streams are quiet: it is no measure of staleness \
             (index_feed_connected is)",
            watch_lag.clone(),
        );
        registry.register(
            "index_feed_connected",
            "1 while the live index's list and watch of the store are established, 0 while it \
             re-lists after an error (admission then answers from the last state it had)",
            index_feed_connected.clone(),
        );
        registry.register(
            "store_operations",
            "Store operations by type and result",
            store_operations.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "API request latency",
            api_duration.clone(),
        );
        registry.register(
            "api_requests",
            "API requests by HTTP method and status code",
            api_requests.clone(),
        );
        importer.register(&mut registry);
        registry.register(
            "importer_leader",
            "1 while this replica is the one importing tags, else 0",
            importer_leader.clone(),
        );
        registry.register(
            "importer_enabled",
            "1 when this replica runs an importer (campaigns to lead it), 0 with --no-importer",
            importer_enabled.clone(),
        );
        registry.register(
            "etcd_compactions",
            "Compactions of etcd's history this replica made (--etcd-compaction-interval; \
             replicas take turns, one compacting per interval), by result: compacted, or failed \
             (its turn or its compaction; the log says why). An etcd that is never compacted \
             grows until its space quota, and then refuses every write",
            etcd_compactions.clone(),
        );
        registry.register(
            "index_spec_tags",
            "Spec tags in the live admission index by state: pinned, import_failed (the last \
             import failed; an older image may still be used), not_imported, reference_only, \
             follows (a copy with nothing to copy yet), no_source",
            spec_tags.clone(),
        );
        registry.register(
            "serving_certificate_expiration_timestamp_seconds",
            "When the certificate new TLS handshakes present expires (Unix time): the webhook \
             fails closed, so alert well before it",
            serving_certificate_expiry.clone(),
        );
        registry.register(
            "ready",
            "1 while this replica is ready (/readyz answers 200): its admission index has \
             loaded once and it is not shutting down (a later store outage keeps it ready, \
             answering from the last state: see index_feed_connected)",
            ready.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections the server closed, by reason: idle (no request for the idle timeout, \
             90 s, or 32 s between HTTP/1.1 requests) or evicted (idle, and closed for a client waiting for a free slot: a flood of \
             connections, or too few slots for the clients)",
            closed_connections.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge<i64, AtomicI64>>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "1, labelled with this build's version (join on it to tell what each replica runs)",
            build_info,
        );
        registry.register(
            "connections_open",
            "Connections holding one of the server's 1,024 slots now (idle ones included); near \
             the limit, new clients wait for an idle one to be closed",
            open_connections.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "Connections that never became a TLS connection to serve, by reason: \
             certificate_rejected (the client refused this server's certificate: a caBundle \
             without its CA, or a name it does not carry; every admission call then fails), \
             client_certificate (none, or one the client CAs do not vouch for), plaintext \
             (HTTP on the TLS port), timeout, protocol (anything else)",
            tls_handshake_failures.clone(),
        );
        registry.register(
            "panics",
            "Panics of this process: each is a bug, logged as a \"panicked\" error with its \
             location; a request whose handler panicked was answered 500",
            crate::panics::counter(),
        );
        let store_backups = BackupMetrics::registered(&mut registry);
        Self {
            admission_requests,
            admission_duration,
            rewrites,
            unresolved,
            admission_skipped,
            index_streams,
            watch_lag,
            index_feed_connected,
            store_operations,
            api_duration,
            api_requests,
            importer,
            importer_leader,
            importer_enabled,
            etcd_compactions,
            store_backups,
            spec_tags,
            serving_certificate_expiry,
            ready,
            closed_connections,
            tls_handshake_failures,
            open_connections,
            registry,
        }
    }

    /// The registry in `format` (served as its `content_type`).
    pub fn encode(&self, format: Exposition) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        match format {
            Exposition::OpenMetrics => text,
            Exposition::PrometheusText => exposition::to_prometheus_text(&text),
        }
    }

    /// Counts one admission answer and how long it took.
    pub fn count_admission(&self, labels: &AdmissionLabels, seconds: f64) {
        self.admission_requests.get_or_create(labels).inc();
        self.admission_duration.observe(seconds);
    }

    /// Counts one admission answered before its review was read (not ready, not a caller,
    /// busy): its kind and operation unknown, so empty; no duration, as answering took no
    /// admission work and zeros would pull the latency quantiles down exactly while admission
    /// fails.
    pub fn count_unread_admission(&self, outcome: Outcome) {
        let labels = AdmissionLabels {
            kind: "",
            operation: "",
            outcome,
        };
        self.admission_requests.get_or_create(&labels).inc();
    }

    /// Counts one API answer and how long it took (to the response head).
    pub fn count_api(&self, labels: &ApiLabels, seconds: f64) {
        self.api_requests.get_or_create(labels).inc();
        self.api_duration.observe(seconds);
    }

    /// Sets the spec-tag gauge, every state included (a series at 0 stays visible).
    pub fn set_spec_tags(&self, counts: &TagCounts) {
        for (state, count) in counts.iter() {
            let labels = TagStateLabels {
                state: state.label(),
            };
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            self.spec_tags.get_or_create(&labels).set(count);
        }
    }

    /// Counts one store operation.
    pub fn count_store(&self, operation: &str, result: &str) {
        let labels = StoreLabels {
            operation: operation.to_string(),
            result: result.to_string(),
        };
        self.store_operations.get_or_create(&labels).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
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

    #[test]
    fn metrics_encode_in_text_format_with_long_buckets() {
        let metrics = Metrics::new();
        let labels = AdmissionLabels {
            kind: "Pod",
            operation: "CREATE",
            outcome: Outcome::Patched,
        };
        metrics.admission_requests.get_or_create(&labels).inc();
        metrics.admission_duration.observe(0.0004);
        metrics.index_streams.set(3);
        metrics.importer_leader.set(1);
        metrics.importer.images_pruned.inc_by(2);
        metrics.importer.history_trimmed.inc_by(4);
        metrics.importer.queue_depth.set(5);
        metrics.importer.pass_duration.observe(0.3);
        metrics.importer.pass_retries.inc();
        let text = metrics.encode(Exposition::OpenMetrics);
        assert!(
            text.contains("imagelookup_admission_requests_total{kind=\"Pod\",operation=\"CREATE\",outcome=\"Patched\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("imagelookup_admission_duration_seconds_bucket{le=\"30.0\"} 1"),
            "{text}"
        );
        assert!(text.contains("imagelookup_index_streams 3"), "{text}");
        let build = format!(
            "imagelookup_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{text}");
        assert!(text.contains("imagelookup_importer_leader 1"), "{text}");
        assert!(
            text.contains("imagelookup_importer_history_trimmed_total 4"),
            "{text}"
        );
        assert!(text.contains("imagelookup_images_pruned_total 2"), "{text}");
        assert!(
            text.contains("imagelookup_importer_queue_depth 5"),
            "{text}"
        );
        assert!(
            text.contains("imagelookup_importer_pass_duration_seconds_bucket{le=\"0.5\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("imagelookup_importer_pass_retries_total 1"),
            "{text}"
        );
    }

    #[test]
    fn admissions_answered_unread_are_counted_but_not_timed() {
        let metrics = Metrics::new();
        metrics.count_unread_admission(Outcome::NotReady);
        metrics.count_unread_admission(Outcome::Unauthorized);
        let invalid = AdmissionLabels {
            kind: "",
            operation: "",
            outcome: Outcome::Invalid,
        };
        metrics.count_admission(&invalid, 6.0);
        let text = metrics.encode(Exposition::OpenMetrics);
        for counted in ["NotReady", "Unauthorized", "Invalid"] {
            let line = format!(
                "imagelookup_admission_requests_total{{kind=\"\",operation=\"\",outcome=\"{counted}\"}} 1"
            );
            assert!(text.contains(&line), "{line}: {text}");
        }
        assert!(
            text.contains("imagelookup_admission_duration_seconds_count 1"),
            "{text}"
        );
        // The registration's 5 s timeout is a bucket bound: a 6 s answer came too late.
        assert!(
            text.contains("imagelookup_admission_duration_seconds_bucket{le=\"5.0\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn spec_tag_states_are_exported_with_zeros() {
        let metrics = Metrics::new();
        metrics.set_spec_tags(&TagCounts::default());
        let text = metrics.encode(Exposition::OpenMetrics);
        for state in ["pinned", "import_failed", "not_imported", "reference_only"] {
            let line = format!("imagelookup_index_spec_tags{{state=\"{state}\"}} 0");
            assert!(text.contains(&line), "{line} missing from {text}");
        }
    }
}
