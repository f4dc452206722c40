//! What the store counts: its operations, etcd's compactions, and the embedded store's
//! backups.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::ResultLabels;

/// Labels of store operations.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// `create`, `update`, `delete`, `list`, `get`, `watch`.
    pub operation: String,
    /// `ok` or the Status reason of the failure.
    pub result: String,
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

/// What the store counts, whichever backend it is.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    /// Store operations by type and result.
    pub operations: Family<StoreLabels, Counter>,
    /// This replica's compactions of etcd's history, by result.
    pub etcd_compactions: Family<ResultLabels, Counter>,
    /// The embedded store's backups (`--backup-dir`).
    pub backups: BackupMetrics,
}

impl StoreMetrics {
    /// The store metrics, registered in `registry`, both compaction results' series present
    /// from the start.
    pub(super) fn registered(registry: &mut Registry) -> Self {
        let operations = Family::<StoreLabels, Counter>::default();
        let etcd_compactions = Family::<ResultLabels, Counter>::default();
        let _ = etcd_compactions.get_or_create(&COMPACTED);
        let _ = etcd_compactions.get_or_create(&COMPACTION_FAILED);
        registry.register(
            "store_operations",
            "Store operations by type and result",
            operations.clone(),
        );
        registry.register(
            "etcd_compactions",
            "Compactions of etcd's history this replica made (--etcd-compaction-interval; \
             replicas take turns, one compacting per interval), by result: compacted, or failed \
             (its turn or its compaction; the log says why). An etcd that is never compacted \
             grows until its space quota, and then refuses every write",
            etcd_compactions.clone(),
        );
        Self {
            operations,
            etcd_compactions,
            backups: BackupMetrics::registered(registry),
        }
    }

    /// Counts one store operation.
    pub fn count(&self, operation: &str, result: &str) {
        let labels = StoreLabels {
            operation: operation.to_string(),
            result: result.to_string(),
        };
        self.operations.get_or_create(&labels).inc();
    }
}

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
