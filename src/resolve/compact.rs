//! The compact, immutable form of a stream the index keeps: exactly what resolution reads,
//! as spans into one text arena, in five allocations at most.
//!
//! ```text
//! text      "ns" "mysql" "<status repository>" "8" "quay.io/o/m@sha256:…" …   one Box<str>
//! specs     [SpecRow { name, policy, from, kind, reference, import_failed }]  effective, spec order
//! tags      [StatusTag { name, events: first..first+len, newest created }]   status order
//! events    [EventRow { reference, image, base }]    newest first within a tag
//! ```
//!
//! An image ID is usually the tail of its own reference (`repo@sha256:…`), so its span points
//! into the reference instead of repeating 71 bytes. Each reference (and the repository) also
//! records the length of the part an ID is pinned onto (`reference::pin_base`), so resolving
//! does not scan the reference grammar again.
//!
//! A spec tag keeps what tells apart the ways its tag can lack an image (`spec.rs`): the
//! class of its `from`, `reference`, and whether its status entry has an
//! `ImportSuccess=False` condition. Its name shares its status tag's text; its
//! `referencePolicy.type` is empty for `Source` and shares one `Local` per stream.

use std::sync::Arc;

use jiff::Timestamp;

use crate::api::ImageStream;

mod convert;
mod spec;

pub use spec::{FromRef, SpecTag, TagSource};

/// One stream, as the index holds it. Built from an [`ImageStream`] with `From`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactStream {
    text: Box<str>,
    specs: Box<[SpecRow]>,
    tags: Box<[StatusTag]>,
    events: Box<[EventRow]>,
    revision: u64,
    namespace: Span,
    name: Span,
    repository: Span,
    /// The length of `reference::pin_base(repository)`, or [`NO_BASE`].
    repository_base: u32,
    lookup_local: bool,
}

/// A pin base length meaning "cannot be pinned".
const NO_BASE: u32 = u32::MAX;

/// One tag event as resolution reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageEvent<'a> {
    /// `dockerImageReference`: the pull spec the image came from.
    pub reference: &'a str,
    /// `image`: the image ID; empty for a reference-only event.
    pub image: &'a str,
    /// `reference::pin_base(reference)`, computed when the stream was compacted.
    pub pin_base: Option<&'a str>,
}

/// One status tag's history.
#[derive(Clone, Copy, Debug)]
pub struct History<'a> {
    stream: &'a CompactStream,
    tag: &'a StatusTag,
}

/// `start..start + len` of the text arena. `u32` halves the size of a span; a stream's text
/// is bounded by the store's object size, far below 4 GiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// The effective spec tag of a name (the last duplicate), in spec order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SpecRow {
    name: Span,
    /// `referencePolicy.type`; empty for `Source` or unset.
    policy: Span,
    /// A copy's source: `from.name`, or `<from.namespace>/<from.name>` when `namespaced`; a
    /// `DockerImage` tag's `from.name` while the tag has no events; else empty.
    from: Span,
    kind: FromKind,
    namespaced: bool,
    reference: bool,
    /// The tag's status entry has an `ImportSuccess=False` condition.
    import_failed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FromKind {
    None,
    DockerImage,
    StreamTag,
    StreamImage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StatusTag {
    name: Span,
    first: u32,
    len: u32,
    /// The newest event's `created`: a tag source copies it (openshift-semantics §4.6).
    created: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EventRow {
    reference: Span,
    image: Span,
    /// The length of `reference::pin_base(reference)`, or [`NO_BASE`].
    base: u32,
}

// === impl CompactStream ===

impl CompactStream {
    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        self.text(self.namespace)
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.text(self.name)
    }

    /// The store revision this form reflects (`metadata.resourceVersion` unless set otherwise).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The same stream, recorded at `revision`.
    pub fn with_revision(mut self, revision: u64) -> Self {
        self.revision = revision;
        self
    }

    /// `spec.lookupPolicy.local`.
    pub fn lookup_local(&self) -> bool {
        self.lookup_local
    }

    /// `status.dockerImageRepository`, or `""`.
    pub fn repository(&self) -> &str {
        self.text(self.repository)
    }

    /// `reference::pin_base(repository)`, computed when the stream was compacted.
    pub fn repository_pin_base(&self) -> Option<&str> {
        prefix(self.repository(), self.repository_base)
    }

    /// The status history of `tag` (the first one, should the status repeat a tag).
    pub fn history(&self, tag: &str) -> Option<History<'_>> {
        let found = self.tags.iter().find(|row| self.is(row.name, tag))?;
        Some(History {
            stream: self,
            tag: found,
        })
    }

    /// Every status history, in status order.
    pub fn histories(&self) -> impl Iterator<Item = History<'_>> {
        self.tags.iter().map(|tag| History { stream: self, tag })
    }

    fn text(&self, span: Span) -> &str {
        &self.text[span.range()]
    }

    /// Compares bytes, sparing the char-boundary checks a `&str` slice would make.
    fn is(&self, span: Span, value: &str) -> bool {
        &self.text.as_bytes()[span.range()] == value.as_bytes()
    }

    fn event(&self, row: &EventRow) -> ImageEvent<'_> {
        let reference = self.text(row.reference);
        ImageEvent {
            reference,
            image: self.text(row.image),
            pin_base: prefix(reference, row.base),
        }
    }
}

/// The first `len` bytes of `text`, unless `len` is [`NO_BASE`].
fn prefix(text: &str, len: u32) -> Option<&str> {
    (len != NO_BASE).then(|| &text[..len as usize])
}

/// The [`NO_BASE`]-or-length encoding of `reference::pin_base(text)`.
fn base_len(text: &str) -> u32 {
    crate::reference::pin_base(text).map_or(NO_BASE, |base| to_u32(base.len()))
}

/// What [`Index::upsert`](super::Index::upsert) takes: a compact stream, shared or not, or
/// a typed one to compact.
pub trait IntoCompact {
    /// The shared compact form.
    fn into_compact(self) -> Arc<CompactStream>;
}

impl IntoCompact for Arc<CompactStream> {
    fn into_compact(self) -> Arc<CompactStream> {
        self
    }
}

impl IntoCompact for CompactStream {
    fn into_compact(self) -> Arc<CompactStream> {
        Arc::new(self)
    }
}

impl IntoCompact for &ImageStream {
    fn into_compact(self) -> Arc<CompactStream> {
        Arc::new(self.into())
    }
}

impl IntoCompact for ImageStream {
    fn into_compact(self) -> Arc<CompactStream> {
        (&self).into_compact()
    }
}

impl IntoCompact for Arc<ImageStream> {
    fn into_compact(self) -> Arc<CompactStream> {
        self.as_ref().into_compact()
    }
}

// === impl History ===

impl<'a> History<'a> {
    /// The tag name.
    pub fn tag(&self) -> &'a str {
        self.stream.text(self.tag.name)
    }

    /// The newest event, if any.
    pub fn newest(&self) -> Option<ImageEvent<'a>> {
        self.rows().first().map(|row| self.stream.event(row))
    }

    /// The events, newest first.
    pub fn events(&self) -> impl Iterator<Item = ImageEvent<'a>> + 'a {
        let stream = self.stream;
        self.rows().iter().map(move |row| stream.event(row))
    }

    fn rows(&self) -> &'a [EventRow] {
        let first = self.tag.first as usize;
        &self.stream.events[first..first + self.tag.len as usize]
    }
}

/// Offsets fit: a stream's text is bounded by the store's object size.
fn to_u32(value: usize) -> u32 {
    u32::try_from(value).expect("a stream's text and events are far below 4 GiB")
}

impl Span {
    fn at(start: usize, len: usize) -> Self {
        Self {
            start: to_u32(start),
            len: to_u32(len),
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::fixtures::*;

    fn compact(stream: &ImageStream) -> CompactStream {
        CompactStream::from(stream)
    }

    #[test]
    fn histories_keep_status_order_and_events_newest_first() {
        let stream = mk_stream("ns", "m")
            .event("8", &format!("quay.io/o/m@{D}"), D)
            .event("8", "quay.io/o/m:old", D2)
            .event("ref", "quay.io/o/m:ref", "")
            .empty_history("none")
            .event("8", "ignored", D);
        let compacted = compact(&stream);
        let tags: Vec<_> = compacted.histories().map(|h| h.tag()).collect();
        assert_eq!(tags, ["8", "ref", "none"]);
        let eight: Vec<_> = compacted.history("8").unwrap().events().collect();
        let expected = [
            (format!("quay.io/o/m@{D}"), D),
            ("quay.io/o/m:old".to_string(), D2),
            ("ignored".to_string(), D),
        ];
        let read: Vec<_> = eight
            .iter()
            .map(|e| (e.reference.to_string(), e.image))
            .collect();
        assert_eq!(read, expected);
        let reference_only = compacted.history("ref").unwrap().newest().unwrap();
        assert_eq!(
            (reference_only.reference, reference_only.image),
            ("quay.io/o/m:ref", "")
        );
        assert!(compacted.history("none").unwrap().newest().is_none());
        assert!(compacted.history("9").is_none());
    }

    #[test]
    fn rows_stay_small() {
        use std::mem::size_of;
        let sizes = [
            size_of::<Span>(),
            size_of::<EventRow>(),
            size_of::<SpecRow>(),
            size_of::<StatusTag>(),
        ];
        assert_eq!(sizes, [8, 20, 28, 32]);
        assert!(
            size_of::<CompactStream>() <= 112,
            "{}",
            size_of::<CompactStream>()
        );
    }
}
