//! The revision of each stream the importer's passes have planned from (pure), so that the feed
//! queues no pass for a state a pass already saw.
//!
//! A pass that ends with nothing due now (no tag, repository or push left for an immediate
//! pass; scheduled work is the ticker's) notes the revision it last read or wrote. A watch event
//! at that revision or below, or a listed object at that very revision, then brings nothing
//! new: the importer's own status writes, delivered back by the watch, and streams unchanged
//! across a re-list cost no pass (a stream listed below its noted revision went back, an etcd
//! restored with its revisions bumped, and is planned again: [`Planned::listed`]). Revisions are the store's one counter, so any other writer's change has a revision of
//! its own: above the noted one it still queues; below it, the pass read it already (a
//! compare-and-swap write leaves no revision of that key between its read and its write).
//!
//! Revisions name one write only within one epoch of the store
//! ([`crate::store::Store::revision_epoch`]), and a store restored from a backup without a bump
//! goes back: either forgets everything noted.
//!
//! One entry per stream a pass has settled, ~70 bytes with its key (100,000 streams: ~7 MB);
//! deletions and re-lists drop those of streams gone.

use std::collections::HashMap;

/// The revisions passes planned from, per stream key (`ns/name`).
#[derive(Debug)]
pub struct Planned {
    streams: HashMap<Box<str>, Entry>,
    /// The store's epoch the revisions belong to.
    epoch: u64,
    /// The list in progress or last made: entries it did not see, stamped with an older
    /// round, are of streams deleted meanwhile.
    round: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    revision: u64,
    round: u32,
}

impl Planned {
    /// Nothing planned yet, in the store's `epoch`.
    pub fn new(epoch: u64) -> Self {
        Self {
            streams: HashMap::new(),
            epoch,
            round: 0,
        }
    }

    /// Notes that a pass over stream `key` planned from its state at `revision`, read while
    /// the store was in `epoch`, and left nothing due now.
    pub fn note(&mut self, key: &str, revision: u64, epoch: u64) {
        // A pass that began before the store went back read revisions of the old history.
        if epoch != self.epoch {
            return;
        }
        let round = self.round;
        self.streams
            .entry(key.into())
            .and_modify(|entry| *entry = entry.later(revision, round))
            .or_insert(Entry { revision, round });
    }

    /// Whether the state of stream `key` at `revision` was planned from already (or a later
    /// state of it was).
    pub fn covers(&self, key: &str, revision: u64) -> bool {
        self.revision(key)
            .is_some_and(|planned| revision <= planned)
    }

    /// The newest revision of stream `key` a pass planned from.
    pub fn revision(&self, key: &str) -> Option<u64> {
        self.streams.get(key).map(|entry| entry.revision)
    }

    /// Forgets stream `key`, deleted: a stream created again under its name starts afresh.
    pub fn forget(&mut self, key: &str) {
        self.streams.remove(key);
    }

    /// Starts a list of every stream, made while the store is in `epoch`: a new epoch forgets
    /// all. Returns the newest revision noted so far, for [`Planned::snapshot_at`].
    pub fn start_list(&mut self, epoch: u64) -> u64 {
        if epoch != self.epoch {
            self.streams.clear();
            self.epoch = epoch;
        }
        self.round = self.round.wrapping_add(1);
        self.newest()
    }

    /// The list's snapshot is at `revision`: below `newest_before` (the newest revision noted
    /// before the list began, from reads the snapshot cannot predate) the store went back, and
    /// every revision noted names a write of the history it left.
    pub fn snapshot_at(&mut self, revision: u64, newest_before: u64) {
        if revision < newest_before {
            self.streams.clear();
        }
    }

    /// Stream `key` was listed at `revision` in the list's snapshot at `snapshot`; returns
    /// whether that state was planned already: the very revision noted, or an older one when a
    /// pass noted a state newer than the snapshot. A noted revision is always one of the key's
    /// own writes, so a key listed below a revision noted at or before the snapshot went back:
    /// etcd restored with `--bump-revision` (Kubernetes' documented restore) keeps revisions
    /// growing, so neither the epoch nor [`Planned::snapshot_at`] sees it, and the stream,
    /// perhaps with a tag no longer imported, must be planned again.
    pub fn listed(&mut self, key: &str, revision: u64, snapshot: u64) -> bool {
        let round = self.round;
        let Some(entry) = self.streams.get_mut(key) else {
            return false;
        };
        entry.round = round;
        let covered = revision == entry.revision || entry.revision > snapshot;
        if revision < entry.revision && !covered {
            self.streams.remove(key);
        }
        covered
    }

    /// Ends the list: forgets the streams it did not see and no pass noted since it began
    /// (deleted while the watch was down).
    pub fn end_list(&mut self) {
        let round = self.round;
        self.streams.retain(|_, entry| entry.round == round);
    }

    fn newest(&self) -> u64 {
        let revisions = self.streams.values().map(|entry| entry.revision);
        revisions.max().unwrap_or(0)
    }
}

impl Entry {
    /// This entry after a pass planned from `revision` in `round`: the newer revision stands
    /// (passes of one stream do not overlap, but a late note must not undo a newer one).
    fn later(self, revision: u64, round: u32) -> Self {
        Self {
            revision: self.revision.max(revision),
            round,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_planned_from_and_those_below_it_are_covered_and_later_ones_are_not() {
        let mut planned = Planned::new(0);
        planned.note("ns/app", 10, 0);
        let cases = [(9, true), (10, true), (11, false)];
        for (revision, covered) in cases {
            assert_eq!(planned.covers("ns/app", revision), covered, "{revision}");
        }
        assert!(!planned.covers("ns/other", 1), "never planned");
    }

    #[test]
    fn a_late_note_does_not_undo_a_newer_one() {
        let mut planned = Planned::new(0);
        planned.note("ns/app", 10, 0);
        planned.note("ns/app", 7, 0);
        assert_eq!(planned.revision("ns/app"), Some(10));
    }

    #[test]
    fn a_deleted_stream_is_forgotten() {
        let mut planned = Planned::new(0);
        planned.note("ns/app", 10, 0);
        planned.forget("ns/app");
        assert!(!planned.covers("ns/app", 10));
    }

    #[test]
    fn a_list_forgets_the_streams_it_did_not_see() {
        let mut planned = Planned::new(0);
        planned.note("ns/kept", 3, 0);
        planned.note("ns/gone", 4, 0);
        let newest = planned.start_list(0);
        assert_eq!(newest, 4);
        planned.snapshot_at(20, newest);
        assert!(planned.listed("ns/kept", 3, 20), "unchanged since planned");
        assert!(!planned.listed("ns/new", 5, 20), "never planned");
        // A pass noting during the list, for a stream created after its snapshot.
        planned.note("ns/created", 21, 0);
        planned.end_list();
        let left: Vec<_> = ["ns/kept", "ns/gone", "ns/created"]
            .into_iter()
            .filter(|key| planned.revision(key).is_some())
            .collect();
        assert_eq!(left, ["ns/kept", "ns/created"]);
    }

    #[test]
    fn a_listed_revision_above_the_planned_one_is_not_covered() {
        let mut planned = Planned::new(0);
        planned.note("ns/app", 3, 0);
        let newest = planned.start_list(0);
        planned.snapshot_at(9, newest);
        assert!(
            !planned.listed("ns/app", 8, 9),
            "changed while the watch was down"
        );
    }

    #[test]
    fn a_store_that_went_back_forgets_every_revision() {
        let mut planned = Planned::new(0);
        planned.note("ns/app", 30, 0);
        let newest = planned.start_list(0);
        planned.snapshot_at(12, newest);
        assert!(
            !planned.listed("ns/app", 12, 12),
            "revision 12 of another history"
        );

        let mut planned = Planned::new(0);
        planned.note("ns/app", 30, 0);
        let newest = planned.start_list(1);
        planned.snapshot_at(40, newest);
        assert!(
            !planned.listed("ns/app", 30, 40),
            "a new epoch: 30 names another write"
        );
    }

    #[test]
    fn a_stream_listed_below_its_noted_revision_went_back_and_is_planned_again() {
        // etcd restored from a snapshot taken at 105 with `--bump-revision`: the stream's state
        // of revision 100 is back, under a list at 1,000,200, where a pass noted 110.
        let mut planned = Planned::new(0);
        planned.note("ns/app", 110, 0);
        let newest = planned.start_list(0);
        planned.snapshot_at(1_000_200, newest);
        assert!(
            !planned.listed("ns/app", 100, 1_000_200),
            "the stream went back"
        );
        assert_eq!(planned.revision("ns/app"), None, "its note is forgotten");
    }

    #[test]
    fn a_stream_listed_below_a_note_newer_than_the_snapshot_is_covered() {
        // A pass read and noted revision 25 while the list, at snapshot 20, was running.
        let mut planned = Planned::new(0);
        let newest = planned.start_list(0);
        planned.snapshot_at(20, newest);
        planned.note("ns/app", 25, 0);
        assert!(planned.listed("ns/app", 18, 20));
        assert_eq!(planned.revision("ns/app"), Some(25));
    }

    #[test]
    fn a_note_from_a_pass_of_an_older_epoch_is_ignored() {
        let mut planned = Planned::new(0);
        planned.start_list(1);
        planned.note("ns/app", 30, 0);
        assert!(!planned.covers("ns/app", 30));
    }
}
