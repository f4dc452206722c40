//! What the webhook counts: admission requests, their latency, and what became of the image
//! references they carried.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{ReasonLabels, LATENCY_BUCKETS};

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

/// What the webhook counts.
#[derive(Clone, Debug)]
pub struct AdmissionMetrics {
    /// Admission requests by kind, operation and outcome.
    pub requests: Family<AdmissionLabels, Counter>,
    /// Admission latency, from body read to response built.
    pub duration: Histogram,
    /// References rewritten, by how they resolved.
    pub rewrites: Family<ReasonLabels, Counter>,
    /// References left unresolved or unpinned: one per warning an answer carries.
    pub unresolved: Family<ReasonLabels, Counter>,
    /// Requests passed through without looking, by [`crate::admission::Skip`] label.
    pub skipped: Family<ReasonLabels, Counter>,
}

impl AdmissionMetrics {
    /// The admission metrics, registered in `registry`.
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            duration: Histogram::new(LATENCY_BUCKETS),
            rewrites: Family::default(),
            unresolved: Family::default(),
            skipped: Family::default(),
        };
        metrics.start_at_zero();
        registry.register(
            "admission_requests",
            "Admission requests by kind, operation and outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Admission request latency (answers given without reading the review are not timed)",
            metrics.duration.clone(),
        );
        registry.register(
            "rewrites",
            "Image references rewritten, by resolution path",
            metrics.rewrites.clone(),
        );
        registry.register(
            "unresolved_references",
            "Image references not pinned, or pinned with a warning (architecture_mismatch: to \
             an image the pod's nodes cannot run; pinned_after_failed_import: to the image a \
             tag had before its last import failed; unreadable: a part of the object of \
             another JSON type than its kind has there), by reason",
            metrics.unresolved.clone(),
        );
        registry.register(
            "admission_skipped",
            "Admission requests passed through without looking at their images, by reason \
             (operation, subresource, not_covered, controller_owned, pod_template, no_images, \
             unknown_operation)",
            metrics.skipped.clone(),
        );
        metrics
    }

    /// Creates at 0 the series dashboards and alerts read before anything happens: a counter
    /// whose series appears at 1 hides that first increment from `rate()` and `increase()`,
    /// and a family with no series shows "no data". Every reason of the reason families;
    /// of the requests, the unread outcomes (the alerts' `Unauthorized` and `Busy`) and a Pod
    /// created, the common case (all kinds × operations × outcomes would be 400 series).
    fn start_at_zero(&self) {
        for reason in REWRITE_REASONS {
            let _ = self.rewrites.get_or_create(&ReasonLabels { reason });
        }
        for reason in crate::admission::unresolved_reasons() {
            let _ = self.unresolved.get_or_create(&ReasonLabels { reason });
        }
        for skip in crate::admission::Skip::ALL {
            let reason = skip.label();
            let _ = self.skipped.get_or_create(&ReasonLabels { reason });
        }
        for outcome in [Outcome::Invalid, Outcome::Unauthorized, Outcome::Busy] {
            let _ = self.requests.get_or_create(&unread(outcome));
        }
        for outcome in [
            Outcome::Patched,
            Outcome::Allowed,
            Outcome::Denied,
            Outcome::Skipped,
            Outcome::NotReady,
        ] {
            let labels = AdmissionLabels {
                kind: "Pod",
                operation: "CREATE",
                outcome,
            };
            let _ = self.requests.get_or_create(&labels);
        }
    }

    /// Counts one admission answer and how long it took.
    pub fn count(&self, labels: &AdmissionLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.duration.observe(seconds);
    }

    /// Counts one admission answered before its review was read (not ready, not a caller,
    /// busy): its kind and operation unknown, so empty; no duration, as answering took no
    /// admission work and zeros would pull the latency quantiles down exactly while admission
    /// fails.
    pub fn count_unread(&self, outcome: Outcome) {
        self.requests.get_or_create(&unread(outcome)).inc();
    }
}

/// The `reason` of a reference rewritten to an image ID.
pub const PINNED: &str = "pinned";

/// The `reason` of a reference rewritten to be pulled through by tag.
pub const PULL_THROUGH: &str = "pull_through";

/// How a rewritten reference resolved: pinned to an image, or pulled through by tag.
const REWRITE_REASONS: [&str; 2] = [PINNED, PULL_THROUGH];

/// The labels of an answer given before the review was read: kind and operation unknown.
fn unread(outcome: Outcome) -> AdmissionLabels {
    AdmissionLabels {
        kind: "",
        operation: "",
        outcome,
    }
}
