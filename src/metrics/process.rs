//! What describes this replica as a whole: the build it runs, whether it is ready, and its
//! panics.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The build's identity, as `imagelookup_build_info`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    /// The crate version (`/version`'s `gitVersion` without its `v`).
    version: &'static str,
}

/// What describes this replica. Its build and its panics are registered but not kept here:
/// the build never changes, and panics are counted by the panic hook (`crate::panics`), which
/// no `Metrics` is handed to.
#[derive(Clone, Debug, Default)]
pub struct ProcessMetrics {
    /// 1 while this replica is ready (`/readyz` 200), read at each scrape.
    pub ready: Gauge<i64, AtomicI64>,
}

impl ProcessMetrics {
    /// The replica's metrics, registered in `registry`, the build's series set to 1.
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "ready",
            "1 while this replica is ready (/readyz answers 200): its admission index has \
             loaded once and it is not shutting down (a later store outage keeps it ready, \
             answering from the last state: see index_feed_connected)",
            metrics.ready.clone(),
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
            "panics",
            "Panics of this process: each is a bug, logged as a \"panicked\" error with its \
             location; a request whose handler panicked was answered 500",
            crate::panics::counter(),
        );
        metrics
    }
}
