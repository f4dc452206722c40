//! What describes the live admission index: its size, how far it trails the store, whether its
//! feed is connected, and its spec tags by state.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::resolve::TagCounts;

/// Labels of the spec-tag gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TagStateLabels {
    /// A [`crate::resolve::TagState`] label (`pinned`, `import_failed`, …).
    pub state: &'static str,
}

/// The live index's gauges, set by the serving loop's one-second tick.
#[derive(Clone, Debug, Default)]
pub struct IndexMetrics {
    /// Streams in the live index.
    pub streams: Gauge<i64, AtomicI64>,
    /// Revisions the live index trails the store by.
    pub watch_lag: Gauge<i64, AtomicI64>,
    /// 1 while the live index's list and watch are established, 0 while it re-lists.
    pub feed_connected: Gauge<i64, AtomicI64>,
    /// Spec tags of the live index by state.
    pub spec_tags: Family<TagStateLabels, Gauge<i64, AtomicI64>>,
    /// Stored streams the live index's last list could not read.
    pub unreadable: Gauge<i64, AtomicI64>,
}

impl IndexMetrics {
    /// The index metrics, registered in `registry`.
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "index_streams",
            "ImageStreams in the live admission index",
            metrics.streams.clone(),
        );
        registry.register(
            "index_watch_lag_revisions",
            "The store's revision minus the newest one the live index has seen. Writes under \
             other prefixes (Secrets, Image objects, push records, the compaction key; with \
             etcd, every write to the cluster) move the store's revision but send the index \
             nothing, so this grows while streams are quiet: it is no measure of staleness \
             (index_feed_connected is)",
            metrics.watch_lag.clone(),
        );
        registry.register(
            "index_feed_connected",
            "1 while the live index's list and watch of the store are established, 0 while it \
             re-lists after an error (admission then answers from the last state it had)",
            metrics.feed_connected.clone(),
        );
        registry.register(
            "index_unreadable_streams",
            "Stored ImageStreams the live index's last list could not read (damaged on disk, or \
             written to etcd by something else): left out of the index, so admission does not \
             find them; the log names each and how to delete it",
            metrics.unreadable.clone(),
        );
        registry.register(
            "index_spec_tags",
            "Spec tags in the live admission index by state: pinned, import_failed (the last \
             import failed; an older image may still be used), not_imported, reference_only, \
             follows (a copy with nothing to copy yet), no_source",
            metrics.spec_tags.clone(),
        );
        metrics
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
}
