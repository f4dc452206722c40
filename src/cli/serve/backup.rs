//! Backups of the embedded store while serving (`--backup-dir`): every `--backup-interval`, a
//! copy of the store as of one commit, written beside the others and renamed into place once
//! whole, the oldest removed past `--backup-keep`. Stopping `serve` for a copy of its file
//! would stop the webhook, which fails closed, for every pod of the cluster.
//!
//! A backup is due an interval after the newest one in the directory (its name holds when it
//! was written), so a pod restarted more often than the interval still backs up. What to
//! write, when and what to remove is decided by pure functions; the loop only does the I/O.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::ServeArgs;
use crate::cli::backup_names::{backup_name, is_partial, names_in, written_at};
use crate::metrics::{BackupMetrics, BACKUP_FAILED, BACKUP_WRITTEN};
use crate::store::EmbeddedStore;

/// Where and how often backups are written, from the flags.
#[derive(Clone, Debug)]
pub(super) struct Backups {
    dir: PathBuf,
    interval: Duration,
    keep: usize,
}

impl Backups {
    /// The backups `args` ask for; `None` without `--backup-dir`.
    pub(super) fn from_args(args: &ServeArgs) -> Option<Self> {
        Some(Self {
            dir: args.backup_dir.clone()?,
            interval: args.backup_interval,
            keep: args.backup_keep as usize,
        })
    }

    /// Writes backups of `store` until `stopping` completes, which also stops a backup being
    /// written (its partial file removed) rather than holding up shutdown.
    pub(super) async fn run(
        self,
        store: Arc<EmbeddedStore>,
        metrics: BackupMetrics,
        stopping: impl Future<Output = ()>,
    ) {
        tokio::pin!(stopping);
        let newest = self.newest();
        metrics
            .last_written
            .set(newest.map_or(0, |at| at.as_second()));
        let mut failed = false;
        // The directory's names may not be readable (only writable): the last backup written
        // still counts, or the loop would copy the store again and again.
        let mut last_written = None;
        loop {
            let wait = match failed {
                true => retry_wait(self.interval),
                false => {
                    let newest = self.newest().max(last_written);
                    wait_before_next(newest, self.interval, Timestamp::now())
                }
            };
            tokio::select! {
                () = &mut stopping => return,
                () = tokio::time::sleep(wait) => {}
            }
            let cancelled = Arc::new(AtomicBool::new(false));
            tokio::select! {
                written = self.back_up(&store, &metrics, cancelled.clone()) => {
                    failed = written.is_none();
                    last_written = written.or(last_written);
                }
                () = &mut stopping => {
                    cancelled.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// When the directory's newest backup was written, by its name.
    fn newest(&self) -> Option<Timestamp> {
        let names = names_in(&self.dir).unwrap_or_default();
        names.iter().filter_map(|name| written_at(name)).max()
    }

    /// Writes one backup; when it was written, `None` if it was not.
    async fn back_up(
        &self,
        store: &Arc<EmbeddedStore>,
        metrics: &BackupMetrics,
        cancelled: Arc<AtomicBool>,
    ) -> Option<Timestamp> {
        let now = Timestamp::now();
        let name = backup_name(now);
        let (store, dir, keep) = (store.clone(), self.dir.clone(), self.keep);
        let written = tokio::task::spawn_blocking(move || {
            write_and_prune(&store, &dir, &name, keep, &cancelled)
        });
        let retry = retry_wait(self.interval).as_secs();
        match written.await {
            Ok(Ok((path, revision, removed))) => {
                metrics.backups.get_or_create(&BACKUP_WRITTEN).inc();
                metrics.last_written.set(now.as_second());
                tracing::info!(path = %path.display(), revision, removed, "store backed up");
                Some(now)
            }
            Ok(Err(error)) => {
                metrics.backups.get_or_create(&BACKUP_FAILED).inc();
                tracing::warn!(%error, "cannot back up the store; tried again in {retry}s");
                None
            }
            Err(panicked) => {
                metrics.backups.get_or_create(&BACKUP_FAILED).inc();
                tracing::error!(%panicked, "the store's backup panicked; tried again in {retry}s");
                None
            }
        }
    }
}

/// How long after a failed backup the next is tried: a failure that lasts (a full or
/// read-only volume, a directory that cannot be created) must not become a loop copying the
/// whole store again and again, yet one that passes should not cost a whole long interval.
fn retry_wait(interval: Duration) -> Duration {
    interval.min(Duration::from_secs(5 * 60))
}

/// Writes the backup `name` in `dir`, then removes what [`to_remove`] says; returns its path,
/// its revision and how many files were removed. A backup written is one, whatever becomes of
/// the removal: counting it failed would have it written again in minutes, filling the volume.
fn write_and_prune(
    store: &EmbeddedStore,
    dir: &Path,
    name: &str,
    keep: usize,
    cancelled: &AtomicBool,
) -> Result<(PathBuf, u64, usize), String> {
    crate::dirs::create_dir_all(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let path = dir.join(name);
    let revision = store
        .back_up_to(&path, cancelled)
        .map_err(|error| error.to_string())?;
    let names = names_in(dir).unwrap_or_else(|error| {
        tracing::warn!(%error, dir = %dir.display(), "cannot list the backups to remove the old");
        Vec::new()
    });
    let mut removed = 0;
    for old in to_remove(&names, keep, name) {
        match std::fs::remove_file(dir.join(&old)) {
            Ok(()) => removed += 1,
            Err(error) => tracing::warn!(%error, name = old, "cannot remove an old backup"),
        }
    }
    Ok((path, revision, removed))
}

/// How long until a backup is due, an `interval` after the `newest` (at once without one, or
/// when it is overdue; never later than an interval from now, whatever the clock says of the
/// newest's name).
fn wait_before_next(newest: Option<Timestamp>, interval: Duration, now: Timestamp) -> Duration {
    let Some(newest) = newest else {
        return Duration::ZERO;
    };
    let since = now.duration_since(newest);
    let since = Duration::try_from(since).unwrap_or(Duration::ZERO);
    interval.saturating_sub(since).min(interval)
}

/// The files of the directory to remove once backup `written` is: the backups past the newest
/// `keep` (`written` always kept, and counted: one named later, by a clock that has since gone
/// back, does not push it out), and partial copies a crash left behind (the one being written
/// is whole by then). Other files are left alone.
fn to_remove(names: &[String], keep: usize, written: &str) -> Vec<String> {
    let mut backups: Vec<&String> = names
        .iter()
        .filter(|name| written_at(name).is_some() && *name != written)
        .collect();
    backups.sort_by(|a, b| b.cmp(a));
    let old = backups.into_iter().skip(keep.saturating_sub(1)).cloned();
    let partial = names.iter().filter(|name| is_partial(name)).cloned();
    let mut removed: Vec<String> = old.chain(partial).collect();
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn a_backup_is_due_an_interval_after_the_newest_and_at_once_without_one() {
        let hour = Duration::from_secs(3600);
        let now = at("2026-12-01T12:00:00Z");
        let cases = [
            (None, Duration::ZERO),
            (Some("2026-12-01T11:40:00Z"), Duration::from_secs(40 * 60)),
            (Some("2026-12-01T10:00:00Z"), Duration::ZERO),
            // A name from the future (a clock stepped back) waits one interval, not longer.
            (Some("2026-12-01T15:00:00Z"), hour),
        ];
        for (newest, wait) in cases {
            assert_eq!(
                wait_before_next(newest.map(at), hour, now),
                wait,
                "{newest:?}"
            );
        }
    }

    #[test]
    fn pruning_keeps_the_newest_backups_and_removes_partial_copies_only() {
        let names: Vec<String> = [
            "store-20261201T010000Z.redb",
            "store-20261201T030000Z.redb",
            "store-20261201T020000Z.redb",
            "store-20261201T000000Z.partial",
            "store-20261130T230000Z.redb",
            "README",
            "store",
        ]
        .map(String::from)
        .to_vec();
        let written = "store-20261201T030000Z.redb";
        assert_eq!(
            to_remove(&names, 2, written),
            [
                "store-20261130T230000Z.redb",
                "store-20261201T000000Z.partial",
                "store-20261201T010000Z.redb",
            ]
        );
        assert_eq!(
            to_remove(&names, 10, written),
            ["store-20261201T000000Z.partial"]
        );
    }

    #[test]
    fn the_backup_just_written_is_kept_whatever_names_a_clock_gone_back_left() {
        // Written at 02:00 after the clock went back from past 03:00.
        let names: Vec<String> = [
            "store-20261201T030000Z.redb",
            "store-20261201T020000Z.redb",
            "store-20261201T010000Z.redb",
        ]
        .map(String::from)
        .to_vec();
        let written = "store-20261201T020000Z.redb";
        assert_eq!(
            to_remove(&names, 1, written),
            ["store-20261201T010000Z.redb", "store-20261201T030000Z.redb"]
        );
        assert_eq!(
            to_remove(&names, 2, written),
            ["store-20261201T010000Z.redb"]
        );
    }

    #[test]
    fn a_failed_backup_is_tried_again_within_five_minutes_or_an_interval() {
        let cases = [(1, 1), (60, 60), (3600, 300)];
        for (interval, retry) in cases {
            let (interval, retry) = (Duration::from_secs(interval), Duration::from_secs(retry));
            assert_eq!(retry_wait(interval), retry, "{interval:?}");
        }
    }
}
