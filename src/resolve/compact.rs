//! The compact, immutable form of a stream the index keeps: exactly what resolution reads,
//! as spans into one text arena, in five allocations at most.
//!
//! ```text
//! text      "ns" "mysql" "<status repository>" "8" "quay.io/o/m@sha256:…" …   one Box<str>
//! policies  [Policy { tag, Local | Other(text) }]   effective spec policies other than Source
//! tags      [StatusTag { name, events: first..first+len, newest created }]   status order
//! events    [EventRow { reference, image }]          newest first within a tag
//! ```
//!
//! An image ID is usually the tail of its own reference (`repo@sha256:…`), so its span points
//! into the reference instead of repeating 71 bytes. Spec tags keep only their effective
//! `referencePolicy.type`, and only when it is not `Source` (which absence already means).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::{
    ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent, TagReference, TagReferencePolicy,
    REFERENCE_POLICY_LOCAL, REFERENCE_POLICY_SOURCE,
};

/// One stream, as the index holds it. Built from an [`ImageStream`] with `From`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactStream {
    text: Box<str>,
    policies: Box<[Policy]>,
    tags: Box<[StatusTag]>,
    events: Box<[EventRow]>,
    revision: u64,
    namespace: Span,
    name: Span,
    repository: Span,
    lookup_local: bool,
}

/// One tag event as resolution reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageEvent<'a> {
    /// `dockerImageReference`: the pull spec the image came from.
    pub reference: &'a str,
    /// `image`: the image ID; empty for a reference-only event.
    pub image: &'a str,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PolicyType {
    Local,
    /// Any other non-empty type but `Source`: resolves like `Source`, reported as written.
    Other(Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Policy {
    tag: Span,
    type_: PolicyType,
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

    /// The spec tag's effective `referencePolicy.type`: `Source` when unset or absent; with
    /// duplicate spec tags the last wins, as in OpenShift.
    pub fn reference_policy(&self, tag: &str) -> &str {
        let policy = self.policies.iter().find(|p| self.is(p.tag, tag));
        match policy.map(|p| p.type_) {
            None => REFERENCE_POLICY_SOURCE,
            Some(PolicyType::Local) => REFERENCE_POLICY_LOCAL,
            Some(PolicyType::Other(type_)) => self.text(type_),
        }
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

    /// An `ImageStream` holding what a tag source in another stream is read for (§4.6):
    /// namespace, name, lookup policy, repository, the non-`Source` spec policies, and every
    /// status event, each tag's newest with its `created` time (older ones carry the epoch;
    /// generations are zero).
    pub fn to_source_stream(&self) -> ImageStream {
        let mut stream = ImageStream::new(self.namespace(), self.name());
        stream.metadata.resource_version = Some(self.revision.to_string());
        stream.spec.lookup_policy.local = self.lookup_local;
        stream.spec.tags = self.policies.iter().map(|p| self.spec_tag(p)).collect();
        stream.status = Some(ImageStreamStatus {
            docker_image_repository: self.repository().to_string(),
            tags: self.histories().map(|h| h.to_list()).collect(),
            ..ImageStreamStatus::default()
        });
        stream
    }

    fn spec_tag(&self, policy: &Policy) -> TagReference {
        let type_ = match policy.type_ {
            PolicyType::Local => REFERENCE_POLICY_LOCAL,
            PolicyType::Other(type_) => self.text(type_),
        };
        TagReference {
            name: self.text(policy.tag).to_string(),
            reference_policy: TagReferencePolicy::of(type_),
            ..TagReference::default()
        }
    }

    fn text(&self, span: Span) -> &str {
        &self.text[span.range()]
    }

    /// Compares bytes, sparing the char-boundary checks a `&str` slice would make.
    fn is(&self, span: Span, value: &str) -> bool {
        &self.text.as_bytes()[span.range()] == value.as_bytes()
    }

    fn event(&self, row: &EventRow) -> ImageEvent<'_> {
        ImageEvent {
            reference: self.text(row.reference),
            image: self.text(row.image),
        }
    }
}

impl From<&ImageStream> for CompactStream {
    fn from(stream: &ImageStream) -> Self {
        let mut text = Arena::default();
        let namespace = text.push(stream.namespace());
        let name = text.push(stream.name());
        let repository = text.push(stream.status_repository());
        let (tags, events) = status_tags(&mut text, stream);
        let policies = policies(&mut text, &tags, stream);
        Self {
            text: text.0.into_boxed_str(),
            policies: policies.into_boxed_slice(),
            tags: tags.into_boxed_slice(),
            events: events.into_boxed_slice(),
            revision: resource_version(stream),
            namespace,
            name,
            repository,
            lookup_local: stream.spec.lookup_policy.local,
        }
    }
}

impl From<ImageStream> for CompactStream {
    fn from(stream: ImageStream) -> Self {
        Self::from(&stream)
    }
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

    fn to_list(self) -> NamedTagEventList {
        let items = self.events().enumerate().map(|(i, event)| TagEvent {
            created: Time(match i {
                0 => self.tag.created,
                _ => Timestamp::UNIX_EPOCH,
            }),
            docker_image_reference: event.reference.to_string(),
            image: event.image.to_string(),
            generation: 0,
        });
        NamedTagEventList {
            tag: self.tag().to_string(),
            items: items.collect(),
            conditions: Vec::new(),
        }
    }
}

// === building ===

/// The text being gathered, one string per field.
#[derive(Default)]
struct Arena(String);

impl Arena {
    fn push(&mut self, value: &str) -> Span {
        let start = self.0.len();
        self.0.push_str(value);
        Span::at(start, value.len())
    }

    /// `image`, as the tail of `reference` when it is one (`repo@<image>`).
    fn push_image(&mut self, reference: Span, image: &str) -> Span {
        let written = &self.0[reference.range()];
        match written.strip_suffix(image) {
            Some(head) if !image.is_empty() => {
                Span::at(reference.start as usize + head.len(), image.len())
            }
            _ => self.push(image),
        }
    }
}

fn status_tags(text: &mut Arena, stream: &ImageStream) -> (Vec<StatusTag>, Vec<EventRow>) {
    let lists = stream.status.iter().flat_map(|status| &status.tags);
    let mut tags = Vec::new();
    let mut events = Vec::new();
    for list in lists {
        let first = events.len();
        for event in &list.items {
            let reference = text.push(&event.docker_image_reference);
            let image = text.push_image(reference, &event.image);
            events.push(EventRow { reference, image });
        }
        tags.push(StatusTag {
            name: text.push(&list.tag),
            first: to_u32(first),
            len: to_u32(list.items.len()),
            created: list
                .items
                .first()
                .map_or(Timestamp::UNIX_EPOCH, |e| e.created.0),
        });
    }
    (tags, events)
}

/// The effective non-`Source` policy of each spec tag name, the last duplicate deciding.
/// A spec tag's name reuses its status tag's span when there is one.
fn policies(text: &mut Arena, tags: &[StatusTag], stream: &ImageStream) -> Vec<Policy> {
    let lists = stream.status.iter().flat_map(|status| &status.tags);
    let mut status_names = HashMap::new();
    for (list, tag) in lists.zip(tags) {
        status_names.entry(list.tag.as_str()).or_insert(tag.name);
    }
    let mut seen = HashSet::new();
    let last_first = stream.spec.tags.iter().rev();
    let effective: Vec<&TagReference> = last_first.filter(|t| seen.insert(&t.name)).collect();
    let named = effective.into_iter().rev().filter(|t| {
        let type_ = t.reference_policy.type_.as_str();
        !type_.is_empty() && type_ != REFERENCE_POLICY_SOURCE
    });
    named
        .map(|spec| Policy {
            tag: match status_names.get(spec.name.as_str()) {
                Some(&span) => span,
                None => text.push(&spec.name),
            },
            type_: match spec.reference_policy.type_.as_str() {
                REFERENCE_POLICY_LOCAL => PolicyType::Local,
                other => PolicyType::Other(text.push(other)),
            },
        })
        .collect()
}

fn resource_version(stream: &ImageStream) -> u64 {
    let version = stream.metadata.resource_version.as_deref();
    version.and_then(|rv| rv.parse().ok()).unwrap_or(0)
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
    fn keeps_identity_lookup_policy_repository_and_revision() {
        let mut stream = local_mysql();
        stream.metadata.resource_version = Some("42".into());
        let compacted = compact(&stream);
        let read = (
            compacted.namespace(),
            compacted.name(),
            compacted.lookup_local(),
            compacted.repository(),
            compacted.revision(),
        );
        assert_eq!(
            read,
            ("ns", "mysql", true, repo_of("ns", "mysql").as_str(), 42)
        );
        assert_eq!(compacted.clone().with_revision(7).revision(), 7);
        let bare = compact(&mk_stream("a", "b"));
        assert_eq!(
            (bare.repository(), bare.lookup_local(), bare.revision()),
            ("", false, 0)
        );
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
    fn an_image_that_ends_its_reference_is_not_stored_twice() {
        let pinned = format!("quay.io/o/m@{D}");
        let shared = compact(&mk_stream("n", "s").event("t", &pinned, D));
        let apart = compact(&mk_stream("n", "s").event("t", "quay.io/o/m:8", D));
        assert_eq!(shared.text.len(), "ns".len() + pinned.len() + "t".len());
        assert_eq!(
            apart.text.len(),
            "ns".len() + "quay.io/o/m:8".len() + D.len() + "t".len()
        );
        assert_eq!(shared.history("t").unwrap().newest().unwrap().image, D);
    }

    #[test]
    fn reference_policies_are_effective_with_the_last_duplicate_winning() {
        let stream = local_mysql()
            .spec_tag("a", LOCAL)
            .spec_tag("b", LOCAL)
            .spec_tag("b", "")
            .spec_tag("c", "Source")
            .spec_tag("d", "local")
            .spec_tag("e", "Source")
            .spec_tag("e", LOCAL)
            .event("a", "m:1", D);
        let compacted = compact(&stream);
        let cases = [
            ("a", LOCAL),
            ("b", "Source"),
            ("c", "Source"),
            ("d", "local"),
            ("e", LOCAL),
            ("x", "Source"),
        ];
        for (tag, expected) in cases {
            assert_eq!(compacted.reference_policy(tag), expected, "{tag}");
        }
        assert_eq!(
            compacted.policies.len(),
            3,
            "Source and unset are not stored"
        );
    }

    #[test]
    fn rows_stay_small() {
        use std::mem::size_of;
        let sizes = [
            size_of::<Span>(),
            size_of::<EventRow>(),
            size_of::<Policy>(),
            size_of::<StatusTag>(),
        ];
        assert_eq!(sizes, [8, 16, 20, 32]);
        assert!(
            size_of::<CompactStream>() <= 112,
            "{}",
            size_of::<CompactStream>()
        );
    }

    #[test]
    fn a_spec_tag_name_shares_its_status_tag_text() {
        let stream = mk_stream("n", "s").spec_tag("t", LOCAL).event("t", "r", "");
        let compacted = compact(&stream);
        assert_eq!(compacted.text.len(), "ns".len() + "r".len() + "t".len());
        assert_eq!(compacted.reference_policy("t"), LOCAL);
    }

    #[test]
    fn a_source_stream_carries_what_tag_sources_read() {
        let mut stream = local_mysql()
            .spec_tag("8", LOCAL)
            .event("8", "m:8", D)
            .event("8", "m:7", D2);
        let created = Timestamp::from_second(1_700_000_000).unwrap();
        stream.status.as_mut().unwrap().tags[0].items[0].created = Time(created);
        stream.metadata.resource_version = Some("9".into());
        let rebuilt = compact(&stream).to_source_stream();
        assert_eq!((rebuilt.namespace(), rebuilt.name()), ("ns", "mysql"));
        assert_eq!(rebuilt.metadata.resource_version.as_deref(), Some("9"));
        assert_eq!(rebuilt.status_repository(), repo_of("ns", "mysql"));
        assert_eq!(
            ImageStream::spec_tag(&rebuilt, "8")
                .unwrap()
                .reference_policy
                .type_,
            LOCAL
        );
        let newest = rebuilt.latest_event("8").unwrap();
        assert_eq!(
            (
                newest.docker_image_reference.as_str(),
                newest.image.as_str()
            ),
            ("m:8", D)
        );
        assert_eq!(newest.created, Time(created));
        assert_eq!(rebuilt.status_tag("8").unwrap().items[1].image, D2);
    }
}
