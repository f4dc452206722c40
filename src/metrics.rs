//! Prometheus metrics (prometheus-client), served at `/metrics` in the text format.
//!
//! Latency histograms reach past 10 s: a webhook call can be held up to its 30 s timeout, and
//! users of other webhooks learned the hard way that buckets ending at 1 s hide those stalls.
//!
//! Metrics are grouped by the part of the server that counts them, each group registering its
//! own families: a family's name, help and pre-created series sit next to the field that counts
//! into it, and a part can be handed its group alone.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::registry::Registry;

mod admission;
mod api;
mod exposition;
mod importer;
mod index;
mod process;
mod server;
mod store;

pub use admission::{AdmissionLabels, AdmissionMetrics, Outcome, PINNED, PULL_THROUGH};
pub use api::{ApiLabels, ApiMetrics};
pub use exposition::Exposition;
pub use importer::{
    FeedLabels, ImportLabels, ImporterMetrics, ReloadLabels, FEEDS, FOLLOWED, NOTIFICATION_RESULTS,
    RELOAD_APPLIED, RELOAD_FAILED, UNFOLLOWED,
};
pub use index::{IndexMetrics, TagStateLabels};
pub use process::ProcessMetrics;
pub use server::ServerMetrics;
pub use store::{
    BackupMetrics, StoreLabels, StoreMetrics, BACKUP_FAILED, BACKUP_WRITTEN, COMPACTED,
    COMPACTION_FAILED,
};

/// Latency buckets in seconds: 100 µs to 30 s, with the shipped webhook registration's 5 s
/// `timeoutSeconds` as a bound (calls past it were failed by kube-apiserver).
const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Labels keyed by a reason string.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A stable snake_case reason.
    pub reason: &'static str,
}

/// Labels of counters of outcomes: what became of a registry notification, a push, an etcd
/// compaction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// For notifications `recorded`, `ignored`, `unauthorized`, `malformed`, `busy` or `failed`; for
    /// pushes `followed` or `unfollowed`; for compactions `compacted` or `failed`.
    pub result: &'static str,
}

/// Every metric the server exports, by the part of the server that counts it.
#[derive(Debug)]
pub struct Metrics {
    /// Admission requests, their latency, and what became of their references.
    pub admission: AdmissionMetrics,
    /// The live admission index's size, lag, feed and spec tags.
    pub index: IndexMetrics,
    /// Store operations, etcd's compactions and the embedded store's backups.
    pub store: StoreMetrics,
    /// API requests and their latency.
    pub api: ApiMetrics,
    /// What the importer counts (shared with the imports asked through the API).
    pub importer: ImporterMetrics,
    /// The listener's connections, TLS handshakes and serving certificate.
    pub server: ServerMetrics,
    /// This replica's readiness (its build and panics are registered too).
    pub process: ProcessMetrics,
    registry: Registry,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("imagelookup");
        Self {
            admission: AdmissionMetrics::registered(&mut registry),
            index: IndexMetrics::registered(&mut registry),
            store: StoreMetrics::registered(&mut registry),
            api: ApiMetrics::registered(&mut registry),
            importer: ImporterMetrics::registered(&mut registry),
            server: ServerMetrics::registered(&mut registry),
            process: ProcessMetrics::registered(&mut registry),
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
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_in_text_format_with_long_buckets() {
        let metrics = Metrics::new();
        let labels = AdmissionLabels {
            kind: "Pod",
            operation: "CREATE",
            outcome: Outcome::Patched,
        };
        metrics.admission.requests.get_or_create(&labels).inc();
        metrics.admission.duration.observe(0.0004);
        metrics.index.streams.set(3);
        metrics.importer.leader.set(1);
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
        metrics.admission.count_unread(Outcome::NotReady);
        metrics.admission.count_unread(Outcome::Unauthorized);
        let invalid = AdmissionLabels {
            kind: "",
            operation: "",
            outcome: Outcome::Invalid,
        };
        metrics.admission.count(&invalid, 6.0);
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
    fn series_alerts_and_dashboards_read_exist_at_zero_before_anything_happens() {
        let text = Metrics::new().encode(Exposition::OpenMetrics);
        let mut expected = vec![
            r#"imagelookup_admission_requests_total{kind="",operation="",outcome="Unauthorized"} 0"#.to_string(),
            r#"imagelookup_admission_requests_total{kind="",operation="",outcome="Busy"} 0"#.to_string(),
            r#"imagelookup_admission_requests_total{kind="Pod",operation="CREATE",outcome="Denied"} 0"#.to_string(),
            r#"imagelookup_rewrites_total{reason="pull_through"} 0"#.to_string(),
            r#"imagelookup_imports_total{result="success",reason="",cause="",place="source"} 0"#.to_string(),
            r#"imagelookup_registry_notifications_total{result="unauthorized"} 0"#.to_string(),
            r#"imagelookup_importer_registry_pushes_total{result="unfollowed"} 0"#.to_string(),
        ];
        let reasons = crate::admission::unresolved_reasons();
        expected.extend(reasons.map(|reason| {
            format!("imagelookup_unresolved_references_total{{reason=\"{reason}\"}} 0")
        }));
        expected.extend(crate::admission::Skip::ALL.map(|skip| {
            let reason = skip.label();
            format!("imagelookup_admission_skipped_total{{reason=\"{reason}\"}} 0")
        }));
        for line in &expected {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from {text}"
            );
        }
    }

    #[test]
    fn spec_tag_states_are_exported_with_zeros() {
        let metrics = Metrics::new();
        metrics
            .index
            .set_spec_tags(&crate::resolve::TagCounts::default());
        let text = metrics.encode(Exposition::OpenMetrics);
        for state in ["pinned", "import_failed", "not_imported", "reference_only"] {
            let line = format!("imagelookup_index_spec_tags{{state=\"{state}\"}} 0");
            assert!(text.contains(&line), "{line} missing from {text}");
        }
    }

    /// Dashboards and alerts outside this repository query these names, so renaming, dropping
    /// or retyping a family must show up here rather than as a silent gap in someone's graphs.
    /// Sorted: the order families are written in means nothing to a scraper.
    #[test]
    fn every_family_is_exported_under_its_name_and_type_with_a_help() {
        let metrics = Metrics::new();
        // A labelled family is written once it has a series: one for each that starts without.
        metrics.store.count("create", "ok");
        let api = ApiLabels {
            method: "GET",
            code: 200,
        };
        metrics.api.count(&api, 0.1);
        metrics
            .index
            .set_spec_tags(&crate::resolve::TagCounts::default());
        let text = metrics.encode(Exposition::OpenMetrics);
        let mut exported: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .collect();
        exported.sort_unstable();
        let expected = [
            "imagelookup_admission_duration_seconds histogram",
            "imagelookup_admission_requests counter",
            "imagelookup_admission_skipped counter",
            "imagelookup_api_request_duration_seconds histogram",
            "imagelookup_api_requests counter",
            "imagelookup_build_info gauge",
            "imagelookup_connections_closed counter",
            "imagelookup_connections_open gauge",
            "imagelookup_etcd_compactions counter",
            "imagelookup_images_pruned counter",
            "imagelookup_importer_enabled gauge",
            "imagelookup_importer_history_trimmed counter",
            "imagelookup_importer_leader gauge",
            "imagelookup_importer_pass_duration_seconds histogram",
            "imagelookup_importer_pass_retries counter",
            "imagelookup_importer_pull_secrets_unreadable counter",
            "imagelookup_importer_queue_depth gauge",
            "imagelookup_importer_registry_files_reloads counter",
            "imagelookup_importer_registry_files_stale gauge",
            "imagelookup_importer_registry_pushes counter",
            "imagelookup_importer_schedule_behind_seconds gauge",
            "imagelookup_imports counter",
            "imagelookup_index_feed_connected gauge",
            "imagelookup_index_spec_tags gauge",
            "imagelookup_index_streams gauge",
            "imagelookup_index_unreadable_streams gauge",
            "imagelookup_index_watch_lag_revisions gauge",
            "imagelookup_panics counter",
            "imagelookup_ready gauge",
            "imagelookup_registry_notifications counter",
            "imagelookup_rewrites counter",
            "imagelookup_serving_certificate_expiration_timestamp_seconds gauge",
            "imagelookup_store_backup_last_written_timestamp_seconds gauge",
            "imagelookup_store_backups counter",
            "imagelookup_store_operations counter",
            "imagelookup_tls_handshake_failures counter",
            "imagelookup_unresolved_references counter",
            "imagelookup_watch_restarts counter",
        ];
        assert_eq!(exported, expected);
        let helped = text
            .lines()
            .filter_map(|line| line.strip_prefix("# HELP ")?.split_once(' '))
            .filter(|(_, help)| !help.trim().is_empty());
        assert_eq!(helped.count(), expected.len(), "{text}");
    }
}
