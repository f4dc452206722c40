//! Following the files: every look is judged against the last one, so each distinct state
//! (a new pair, a broken pair, a missing file) is acted on and logged once, however many
//! polls see it, and a return to the pair already serving is logged once too.

use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::Duration;

use super::{certified_key_from_pem, pair_digest, ReloadOutcome, ReloadingTls, Result, TlsError};

/// What the files held at the last look, and which pair handshakes get.
#[derive(Debug)]
pub(super) struct Seen {
    files: Found,
    /// Digest of the pair serving.
    served: [u8; 32],
}

impl Seen {
    /// The state right after loading the pair of digest `served`.
    pub(super) fn serving(served: [u8; 32]) -> Self {
        Self {
            files: Found::Pair(served),
            served,
        }
    }
}

/// The files' content at one look.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Found {
    /// Both files read; the digest of the pair.
    Pair([u8; 32]),
    /// A file could not be read; why.
    Unreadable(String),
}

/// What a look at the files calls for.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The same as last time: nothing to do or say.
    Unchanged,
    /// A read failure other than the last one: say so.
    Failed,
    /// After a failure, the pair serving: say it recovered.
    Restored,
    /// Another pair: install it if it is valid.
    Check,
}

/// What finding `now` calls for after `seen`.
fn judge(seen: &Seen, now: &Found) -> Verdict {
    match now {
        _ if *now == seen.files => Verdict::Unchanged,
        Found::Unreadable(_) => Verdict::Failed,
        Found::Pair(digest) if *digest == seen.served => Verdict::Restored,
        Found::Pair(_) => Verdict::Check,
    }
}

// === impl ReloadingTls ===

impl ReloadingTls {
    /// Installs `cert_pem` + `key_pem` if they differ from the pair last seen and are valid.
    pub fn apply_pem(&self, cert_pem: &[u8], key_pem: &[u8]) -> ReloadOutcome {
        let digest = pair_digest(cert_pem, key_pem);
        let mut seen = self.lock_seen();
        let verdict = judge(&seen, &Found::Pair(digest));
        seen.files = Found::Pair(digest);
        match verdict {
            Verdict::Unchanged => return ReloadOutcome::Unchanged,
            Verdict::Restored => return ReloadOutcome::Restored,
            Verdict::Failed | Verdict::Check => {}
        }
        match certified_key_from_pem(cert_pem, key_pem) {
            Ok(key) => {
                seen.served = digest;
                self.inner.resolver.replace(key);
                self.inner.reloads.fetch_add(1, Ordering::Relaxed);
                ReloadOutcome::Reloaded
            }
            Err(err) => self.rejected(err),
        }
    }

    /// Reads both files (following symlinks afresh) and applies them.
    pub async fn poll_files(&self) -> ReloadOutcome {
        let files = &self.inner.files;
        let (cert_pem, key_pem) = tokio::join!(read_async(&files.cert), read_async(&files.key));
        match (cert_pem, key_pem) {
            (Ok(cert_pem), Ok(key_pem)) => self.apply_pem(&cert_pem, &key_pem),
            (Err(err), _) | (_, Err(err)) => {
                let found = Found::Unreadable(err.to_string());
                let mut seen = self.lock_seen();
                let verdict = judge(&seen, &found);
                seen.files = found;
                match verdict {
                    Verdict::Unchanged => ReloadOutcome::Unchanged,
                    _ => self.rejected(err),
                }
            }
        }
    }

    fn lock_seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn rejected(&self, err: TlsError) -> ReloadOutcome {
        self.inner.rejections.fetch_add(1, Ordering::Relaxed);
        ReloadOutcome::Rejected(err)
    }

    /// Starts polling the files every `interval`; polling stops when the handle is dropped.
    pub fn spawn_watcher(&self, interval: Duration) -> CertificateWatcher {
        let tls = self.clone();
        CertificateWatcher {
            task: tokio::spawn(async move { tls.watch(interval).await }),
        }
    }

    async fn watch(&self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once, and the files were just loaded.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            self.log_outcome(&self.poll_files().await);
        }
    }

    fn log_outcome(&self, outcome: &ReloadOutcome) {
        let files = &self.inner.files;
        match outcome {
            ReloadOutcome::Unchanged => {}
            ReloadOutcome::Reloaded => tracing::info!(
                cert = %files.cert.display(),
                "serving a new tls certificate"
            ),
            ReloadOutcome::Restored => tracing::info!(
                cert = %files.cert.display(),
                "tls files are valid again; still serving the same certificate"
            ),
            ReloadOutcome::Rejected(err) => tracing::warn!(
                cert = %files.cert.display(),
                key = %files.key.display(),
                error = %err,
                "tls files changed but are not a valid pair; keeping the previous certificate \
                 (logged once until they change)"
            ),
        }
    }
}

async fn read_async(path: &std::path::Path) -> Result<Vec<u8>> {
    tokio::fs::read(path).await.map_err(|error| TlsError::Read {
        path: path.to_path_buf(),
        error,
    })
}

// === CertificateWatcher ===

/// The running poll task of [`ReloadingTls::spawn_watcher`]; aborts it when dropped.
#[derive(Debug)]
pub struct CertificateWatcher {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CertificateWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::{self, CertBundle};
    use crate::tls::tests::{bundle, der, serving};
    use crate::tls::ReloadStats;

    /// Applies `cert` + `key` and checks the outcome kind and which leaf is served afterwards.
    fn check(tls: &ReloadingTls, cert: &str, key: &str, expected: &str, serves: &CertBundle) {
        let outcome = tls.apply_pem(cert.as_bytes(), key.as_bytes());
        let kind = match outcome {
            ReloadOutcome::Unchanged => "unchanged",
            ReloadOutcome::Reloaded => "reloaded",
            ReloadOutcome::Rejected(_) => "rejected",
            ReloadOutcome::Restored => "restored",
        };
        assert_eq!(kind, expected, "{outcome:?}");
        assert_eq!(tls.current_certificate(), der(serves));
    }

    #[test]
    fn new_pair_is_installed_only_once_both_halves_match() {
        let (old, new) = (bundle("old.test"), bundle("new.test"));
        let (tls, _dir) = serving(&old);
        // A rotation observed half-way: new certificate, old key.
        check(&tls, &new.cert_pem, &old.key_pem, "rejected", &old);
        check(&tls, &new.cert_pem, &old.key_pem, "unchanged", &old);
        check(&tls, &new.cert_pem, &new.key_pem, "reloaded", &new);
        check(&tls, &new.cert_pem, &new.key_pem, "unchanged", &new);
        assert_eq!(
            tls.stats(),
            ReloadStats {
                reloads: 1,
                rejections: 1
            }
        );
    }

    #[test]
    fn garbage_keeps_the_last_good_pair() {
        let good = bundle("good.test");
        let (tls, _dir) = serving(&good);
        check(&tls, "", &good.key_pem, "rejected", &good);
        check(&tls, "not pem", "not pem", "rejected", &good);
        check(&tls, &good.cert_pem, "", "rejected", &good);
        check(&tls, &good.cert_pem, &good.key_pem, "restored", &good);
        check(&tls, &good.cert_pem, &good.key_pem, "unchanged", &good);
        assert_eq!(tls.stats().reloads, 0);
    }

    #[test]
    fn each_distinct_state_of_the_files_is_judged_once() {
        let (served, other) = ([1; 32], [2; 32]);
        let gone = || Found::Unreadable("cannot read tls.crt: not found".into());
        let check = |before: Found, now: Found, expected: Verdict| {
            let seen = Seen {
                files: before.clone(),
                served,
            };
            assert_eq!(judge(&seen, &now), expected, "{before:?} then {now:?}");
        };
        check(Found::Pair(served), Found::Pair(served), Verdict::Unchanged);
        check(Found::Pair(served), Found::Pair(other), Verdict::Check);
        check(Found::Pair(served), gone(), Verdict::Failed);
        check(gone(), gone(), Verdict::Unchanged);
        let key_gone = Found::Unreadable("cannot read tls.key: not found".into());
        check(gone(), key_gone, Verdict::Failed);
        check(gone(), Found::Pair(served), Verdict::Restored);
        check(gone(), Found::Pair(other), Verdict::Check);
        check(Found::Pair(other), Found::Pair(served), Verdict::Restored);
        check(Found::Pair(other), Found::Pair(other), Verdict::Unchanged);
    }

    #[tokio::test]
    async fn polling_follows_the_files_and_reports_missing_ones() {
        let (old, new) = (bundle("old.test"), bundle("new.test"));
        let (tls, dir) = serving(&old);
        assert!(matches!(tls.poll_files().await, ReloadOutcome::Unchanged));
        certs::write_bundle(&new, dir.path()).unwrap();
        assert!(matches!(tls.poll_files().await, ReloadOutcome::Reloaded));
        assert_eq!(tls.current_certificate(), der(&new));
        std::fs::remove_file(dir.path().join(certs::KEY_FILE)).unwrap();
        let outcome = tls.poll_files().await;
        assert!(
            matches!(outcome, ReloadOutcome::Rejected(TlsError::Read { .. })),
            "{outcome:?}"
        );
        assert_eq!(tls.current_certificate(), der(&new));
        // The same missing file is reported once, not at every poll; its return once too.
        assert!(matches!(tls.poll_files().await, ReloadOutcome::Unchanged));
        assert!(matches!(tls.poll_files().await, ReloadOutcome::Unchanged));
        assert_eq!(tls.stats().rejections, 1);
        certs::write_bundle(&new, dir.path()).unwrap();
        assert!(matches!(tls.poll_files().await, ReloadOutcome::Restored));
        assert!(matches!(tls.poll_files().await, ReloadOutcome::Unchanged));
        assert_eq!(tls.current_certificate(), der(&new));
    }
}
