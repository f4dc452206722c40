//! Reopening the store file after an I/O failure.
//!
//! redb latches an I/O failure (a full disk, a file size limit, a failing device): every later
//! call on that database handle fails with `PreviousIo`, reads included, until it is closed and
//! opened again. Without reopening, one moment of a full disk would refuse every write until
//! the process restarts, while `/livez` still answers ok. So the commit thread closes the file
//! at the first such failure and reopens it (which also runs redb's repair of a file that was
//! not closed cleanly): at once, then with a growing pause while it still fails, even when no
//! write comes, and whenever a write is waiting (at most once a second), so that writes resume
//! within a second of space being freed. Writes that come while the file is closed are
//! answered with the failure that closed it, which says what to do, and that they were not
//! tried; nothing is acknowledged that is not on disk.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use redb::Database;

use super::{disk, embedded, Error, Result};

/// The pause before the second attempt to reopen, and the shortest between two attempts; it
/// doubles after each failed attempt.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// The file a store reopens, and when it tries next.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// The file and its page cache size; `None` for a store in memory, which has no file to
    /// reopen.
    file: Option<(PathBuf, usize)>,
    /// While the file is closed: the failure that closed it, which writes are answered with.
    failure: Option<Error>,
    /// When to try again with no write waiting.
    next_attempt: Instant,
    /// When the last attempt was made: a waiting write makes one due a second after it.
    last_attempt: Option<Instant>,
    pause: Duration,
}

impl Recovery {
    /// Recovery of the file at `path` opened with a page cache of `cache_bytes`, or of nothing
    /// (`None`: a store in memory).
    pub(crate) fn new(file: Option<(PathBuf, usize)>) -> Self {
        Self {
            file,
            failure: None,
            next_attempt: Instant::now(),
            last_attempt: None,
            pause: FIRST_PAUSE,
        }
    }

    /// The file has been closed after `failure`: reopen it at the next [`Self::attempt`], at
    /// once unless the file failed again since the last reopening without a write committed in
    /// between (a disk still full): then only when the growing pause since that one is over.
    pub(crate) fn closed(&mut self, failure: Error, now: Instant) {
        let path = self
            .file
            .as_ref()
            .map(|(path, _)| path.display().to_string());
        tracing::error!(%failure, path, "store file failed; closing and reopening it");
        self.failure = Some(failure);
        self.next_attempt = self.last_attempt.map_or(now, |last| last + self.pause);
    }

    /// What a write is answered while the file is closed: the failure that closed it, and
    /// that this write was not tried.
    pub(crate) fn failure(&self) -> Error {
        match &self.failure {
            Some(Error::Unavailable(message)) => Error::Unavailable(format!(
                "{message} (this request was not tried: the file stays closed since that \
                 failure, and is reopened at most once a second while writes wait)"
            )),
            Some(other) => other.clone(),
            None => Error::Unavailable(disk::REOPENING.to_string()),
        }
    }

    /// Opens the file again if an attempt is due at `now` (`None` if not, if there is no file,
    /// or if it is open), and schedules the next one in case this one does not end the
    /// recovery. With `writes_waiting`, an attempt is due a second after the last one whatever
    /// the pause.
    pub(crate) fn attempt(
        &mut self,
        now: Instant,
        writes_waiting: bool,
    ) -> Option<Result<(Database, disk::Loaded)>> {
        // Only a closed file is reopened: a second handle on an open one would be refused.
        self.failure.as_ref()?;
        let (path, cache_bytes) = self.file.as_ref()?;
        let urgent = writes_waiting
            && self
                .last_attempt
                .is_none_or(|last| now >= last + FIRST_PAUSE);
        if now < self.next_attempt && !urgent {
            return None;
        }
        self.last_attempt = Some(now);
        self.next_attempt = now + self.pause;
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        let opened = embedded::open_loaded(path, *cache_bytes);
        if let Err(error) = &opened {
            tracing::warn!(%error, path = %path.display(), retry_in = ?self.next_attempt - now, "store file could not be reopened");
        }
        Some(opened)
    }

    /// The file could be reopened but holds another state than the one served: keep it closed,
    /// answering writes with `failure`, and keep trying (someone may put the right file back).
    pub(crate) fn refused(&mut self, failure: Error) {
        tracing::error!(%failure, "store file reopened but refused");
        self.failure = Some(failure);
    }

    /// The file is open again.
    pub(crate) fn reopened(&mut self) {
        self.failure = None;
    }

    /// A write was committed: the file works, and a later failure is reopened at once.
    pub(crate) fn committed(&mut self) {
        if self.last_attempt.is_some() {
            self.last_attempt = None;
            self.pause = FIRST_PAUSE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recovery of a file in a fresh directory, closed at the returned instant.
    fn closed_at_start(dir: &tempfile::TempDir) -> (Recovery, Instant) {
        let mut recovery = Recovery::new(Some((dir.path().join("store"), 1 << 20)));
        let start = Instant::now();
        recovery.closed(Error::Unavailable("full".into()), start);
        (recovery, start)
    }

    #[test]
    fn attempts_come_at_once_then_after_doubling_pauses_up_to_thirty_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let (mut recovery, start) = closed_at_start(&dir);
        let mut due = Vec::new();
        for second in 0..70 {
            let now = start + Duration::from_secs(second);
            // Each attempt opens the file; drop it so that the next one can open it again.
            if recovery.attempt(now, false).is_some() {
                due.push(second);
            }
        }
        assert_eq!(due, [0, 1, 3, 7, 15, 31, 61]);
        assert!(recovery.failure().to_string().contains("full"));
        recovery.reopened();
        assert_eq!(recovery.failure().to_string(), disk::REOPENING);
    }

    #[test]
    fn a_file_failing_again_before_any_commit_waits_out_the_pause_and_one_that_worked_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (mut recovery, start) = closed_at_start(&dir);
        let at = |seconds| start + Duration::from_secs(seconds);
        assert!(recovery.attempt(at(0), false).is_some());
        recovery.reopened();
        // Full again at once: the next reopening waits for the grown pause (2 s) since the
        // last one.
        recovery.closed(Error::Unavailable("full".into()), at(0));
        assert!(recovery.attempt(at(1), false).is_none());
        assert!(recovery.attempt(at(2), false).is_some());
        recovery.reopened();
        // A write went through: the disk works, and the next failure is reopened at once.
        recovery.committed();
        recovery.closed(Error::Unavailable("full".into()), at(5));
        assert!(recovery.attempt(at(5), false).is_some());
    }

    #[test]
    fn a_waiting_write_makes_an_attempt_due_a_second_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let (mut recovery, start) = closed_at_start(&dir);
        let at = |millis| start + Duration::from_millis(millis);
        let mut check = |millis, writes_waiting, due: bool| {
            let attempted = recovery.attempt(at(millis), writes_waiting).is_some();
            assert_eq!(
                attempted, due,
                "at {millis} ms, writes waiting: {writes_waiting}"
            );
        };
        check(0, true, true);
        check(500, true, false);
        check(1_000, true, true);
        // Without writes the pause has grown to 2 s since the attempt at 1 s.
        check(2_500, false, false);
        check(2_500, true, true);
        check(3_000, true, false);
    }

    #[test]
    fn a_store_in_memory_never_attempts() {
        let mut recovery = Recovery::new(None);
        recovery.closed(Error::Unavailable("full".into()), Instant::now());
        assert!(recovery.attempt(Instant::now(), true).is_none());
    }
}
