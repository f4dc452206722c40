//! The state of every spec tag in an index, counted for the `imagelookup_index_spec_tags`
//! gauge: how many tags admission can pin, and how many it cannot and why. A failed import
//! increments a counter once per attempt, and a tag that is not scheduled is not attempted
//! again, so only a gauge of the current state lets an alert see "some tags fail to import".
//! The [`Index`] keeps the counts current on every change (a few spec tags per write), so
//! reading them never walks 100,000 streams under the lock admission reads through.
//!
//! ```text
//! spec tag ─ ImportSuccess=False ─────────────> ImportFailed (may still pin an older image)
//!          ├ newest status event has an image ─> Pinned
//!          └ otherwise, how it lacks one ──────> NotImported │ ReferenceOnly │ Follows │ NoSource
//! ```

use super::missing::Missing;
use super::{CompactStream, SpecTag};

/// What a spec tag gives admission now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagState {
    /// The newest status event has an image: references to the tag are pinned.
    Pinned,
    /// Its last import failed (`ImportSuccess=False`); an older image, if any, is still used.
    ImportFailed,
    /// A `DockerImage` spec tag not imported yet.
    NotImported,
    /// A `reference: true` tag: never imported, never pinned.
    ReferenceOnly,
    /// A copy of another tag or image that had none to copy.
    Follows,
    /// No `from` that could give it an image.
    NoSource,
}

impl TagState {
    /// Every state, in the order [`TagCounts`] keeps them.
    pub const ALL: [TagState; 6] = [
        Self::Pinned,
        Self::ImportFailed,
        Self::NotImported,
        Self::ReferenceOnly,
        Self::Follows,
        Self::NoSource,
    ];

    /// The metric label: stable snake_case.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pinned => "pinned",
            Self::ImportFailed => "import_failed",
            Self::NotImported => "not_imported",
            Self::ReferenceOnly => "reference_only",
            Self::Follows => "follows",
            Self::NoSource => "no_source",
        }
    }

    /// The state of one spec tag of `stream`.
    pub fn of(stream: &CompactStream, spec: &SpecTag<'_>) -> Self {
        if spec.import_failed() {
            return Self::ImportFailed;
        }
        let newest = stream.history(spec.name()).and_then(|h| h.newest());
        if newest.is_some_and(|event| !event.image.is_empty()) {
            return Self::Pinned;
        }
        match Missing::of(stream, spec.name()) {
            Missing::NotImported | Missing::ImportFailed => Self::NotImported,
            Missing::ReferenceOnly => Self::ReferenceOnly,
            Missing::Follows | Missing::FollowsAbsentTag => Self::Follows,
            // With a spec tag present, `Missing::of` decides by the spec tag alone; the
            // status-only answers cannot occur, and read as "nothing gives it an image".
            Missing::NoSource | Missing::NoSuchTag | Missing::NoEvents => Self::NoSource,
        }
    }
}

/// Spec tags counted by [`TagState`]; `u32`s, as the index keeps one per stream (a cluster
/// does not hold four billion spec tags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TagCounts([u32; TagState::ALL.len()]);

impl TagCounts {
    /// Counts the spec tags of one stream.
    pub fn of_stream(stream: &CompactStream) -> Self {
        let mut counts = Self::default();
        for spec in stream.spec_tags() {
            let count = &mut counts.0[TagState::of(stream, &spec) as usize];
            *count = count.saturating_add(1);
        }
        counts
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Self) {
        for (count, more) in self.0.iter_mut().zip(other.0) {
            *count = count.saturating_add(more);
        }
    }

    /// Takes away `other`'s counts (of a stream counted before).
    pub fn subtract(&mut self, other: &Self) {
        for (count, less) in self.0.iter_mut().zip(other.0) {
            *count = count.saturating_sub(less);
        }
    }

    /// The number of spec tags in `state`.
    pub fn get(&self, state: TagState) -> u64 {
        u64::from(self.0[state as usize])
    }

    /// Each state with its count, zeros included (a gauge series should not vanish at 0).
    pub fn iter(&self) -> impl Iterator<Item = (TagState, u64)> + '_ {
        TagState::ALL
            .into_iter()
            .map(|state| (state, self.get(state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ImageStream;
    use crate::resolve::fixtures::{mk_stream, StreamFixture, D};
    use crate::resolve::Index;

    fn check(stream: ImageStream, expected: &[(&str, TagState)]) {
        let compact = CompactStream::from(&stream);
        let states: Vec<(&str, TagState)> = compact
            .spec_tags()
            .map(|spec| (spec.name(), TagState::of(&compact, &spec)))
            .collect();
        assert_eq!(states, expected);
    }

    #[test]
    fn an_imported_tag_is_pinned() {
        let stream = mk_stream("ns", "app")
            .importing("8", "quay.io/org/app:8")
            .event("8", "quay.io/org/app@sha256:x", D);
        check(stream, &[("8", TagState::Pinned)]);
    }

    #[test]
    fn a_failed_import_counts_as_failed_even_with_an_older_image() {
        let without = mk_stream("ns", "app")
            .importing("8", "quay.io/org/app:8")
            .import_failed("8");
        check(without, &[("8", TagState::ImportFailed)]);
        let with_older = mk_stream("ns", "app")
            .importing("8", "quay.io/org/app:8")
            .event("8", "quay.io/org/app@sha256:x", D)
            .import_failed("8");
        check(with_older, &[("8", TagState::ImportFailed)]);
    }

    #[test]
    fn tags_without_an_image_say_how_they_lack_one() {
        let stream = mk_stream("ns", "app")
            .importing("new", "quay.io/org/app:new")
            .reference_tag("ref", "quay.io/org/app:ref")
            .tracking("copy", "new", "")
            .spec_tag("bare", "");
        check(
            stream,
            &[
                ("new", TagState::NotImported),
                ("ref", TagState::ReferenceOnly),
                ("copy", TagState::Follows),
                ("bare", TagState::NoSource),
            ],
        );
    }

    #[test]
    fn a_status_event_without_an_image_does_not_pin() {
        let stream = mk_stream("ns", "app")
            .reference_tag("ref", "quay.io/org/app:ref")
            .event("ref", "quay.io/org/app:ref", "");
        check(stream, &[("ref", TagState::ReferenceOnly)]);
    }

    #[test]
    fn the_index_keeps_counts_current_through_upserts_replacements_and_removals() {
        let importing = || mk_stream("a", "one").importing("1", "quay.io/o/one:1");
        let mut index: Index = [
            importing().importing("2", "quay.io/o/one:2"),
            mk_stream("b", "two")
                .importing("1", "quay.io/o/two:1")
                .import_failed("1"),
        ]
        .into_iter()
        .collect();
        let listed = |index: &Index| -> Vec<(&str, u64)> {
            let counts = index.tag_counts();
            counts.iter().map(|(s, n)| (s.label(), n)).collect()
        };
        assert_eq!(
            listed(&index),
            [
                ("pinned", 0),
                ("import_failed", 1),
                ("not_imported", 2),
                ("reference_only", 0),
                ("follows", 0),
                ("no_source", 0),
            ]
        );
        index.upsert(importing().event("1", "quay.io/o/one@sha256:x", D));
        assert_eq!(
            listed(&index)[..3],
            [("pinned", 1), ("import_failed", 1), ("not_imported", 0)]
        );
        assert!(index.remove("b", "two"));
        assert!(!index.remove("b", "two"));
        assert_eq!(
            listed(&index)[..3],
            [("pinned", 1), ("import_failed", 0), ("not_imported", 0)]
        );
        index.clear();
        assert_eq!(index.tag_counts(), TagCounts::default());
    }
}
