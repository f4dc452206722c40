//! Spec tags in the compact form: what tells apart the ways a tag can lack an image (the
//! class of its `from`, `reference`, a failed import), and its reference policy.
//!
//! ```text
//! SpecRow { name, policy, from, kind, namespaced, reference, import_failed }   28 bytes
//! ```
//!
//! A `DockerImage` source keeps its pull spec only while the tag has no image (admission pulls
//! it by tag from there when no integrated registry can pull it through); the importer reads
//! it from the store. A copy keeps the tag or image it follows, for the reason sentence.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::ObjectReference;

use super::convert::Arena;
use super::{CompactStream, FromKind, Span, SpecRow, StatusTag};
use crate::api::{
    ImageStream, NamedTagEventList, TagEventCondition, TagReference, TagReferencePolicy,
    REFERENCE_POLICY_LOCAL, REFERENCE_POLICY_SOURCE,
};

/// One spec tag, as [`CompactStream::spec_tag`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct SpecTag<'a> {
    stream: &'a CompactStream,
    row: &'a SpecRow,
}

/// Where a spec tag takes its image from: the class of its `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagSource<'a> {
    /// No `from`, or a kind that is none of the three below.
    None,
    /// `DockerImage`: imported from a registry (the pull spec is kept only while the tag has
    /// no events: [`SpecTag::unimported_source`]).
    DockerImage,
    /// `ImageStreamTag`: a copy of another tag's newest image.
    StreamTag(FromRef<'a>),
    /// `ImageStreamImage`: a copy of one image of a stream's history.
    StreamImage(FromRef<'a>),
}

/// The `from` of a spec tag that copies another tag or image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FromRef<'a> {
    /// `from.namespace`; empty for the tag's own namespace.
    pub namespace: &'a str,
    /// `from.name`: `stream:tag`, `stream@id`, or a tag of the same stream.
    pub name: &'a str,
}

// === impl CompactStream ===

impl CompactStream {
    /// The spec tag's effective `referencePolicy.type`: `Source` when unset or absent; with
    /// duplicate spec tags the last wins, as in OpenShift.
    pub fn reference_policy(&self, tag: &str) -> &str {
        self.spec_tag(tag)
            .map_or(REFERENCE_POLICY_SOURCE, |spec| spec.reference_policy())
    }

    /// The spec tag named `tag` (the last, should the spec repeat it).
    pub fn spec_tag(&self, tag: &str) -> Option<SpecTag<'_>> {
        let row = self.specs.iter().find(|row| self.is(row.name, tag))?;
        Some(SpecTag { stream: self, row })
    }

    /// Every effective spec tag, in spec order.
    pub fn spec_tags(&self) -> impl Iterator<Item = SpecTag<'_>> {
        self.specs.iter().map(|row| SpecTag { stream: self, row })
    }
}

// === impl SpecTag ===

impl<'a> SpecTag<'a> {
    /// The tag name.
    pub fn name(&self) -> &'a str {
        self.stream.text(self.row.name)
    }

    /// The effective `referencePolicy.type`: `Source` when unset.
    pub fn reference_policy(&self) -> &'a str {
        match self.row.policy.len {
            0 => REFERENCE_POLICY_SOURCE,
            _ => self.stream.text(self.row.policy),
        }
    }

    /// Where the tag takes its image from.
    pub fn source(&self) -> TagSource<'a> {
        match self.row.kind {
            FromKind::None => TagSource::None,
            FromKind::DockerImage => TagSource::DockerImage,
            FromKind::StreamTag => TagSource::StreamTag(self.from()),
            FromKind::StreamImage => TagSource::StreamImage(self.from()),
        }
    }

    /// `reference: true`: a `DockerImage` tag that is never imported.
    pub fn reference(&self) -> bool {
        self.row.reference
    }

    /// Whether the tag's status entry has an `ImportSuccess=False` condition.
    pub fn import_failed(&self) -> bool {
        self.row.import_failed
    }

    /// A `DockerImage` tag's `from.name`, kept only while the tag has no status events (not
    /// imported yet, or its import failed): where a pull of the tag goes when no integrated
    /// registry can pull it through.
    pub fn unimported_source(&self) -> Option<&'a str> {
        let kept = self.row.kind == FromKind::DockerImage && self.row.from.len > 0;
        kept.then(|| self.stream.text(self.row.from))
    }

    fn from(&self) -> FromRef<'a> {
        let text = self.stream.text(self.row.from);
        match self.row.namespaced {
            // A namespace holds no `/`, so the first one ends it.
            true => {
                let (namespace, name) = text.split_once('/').unwrap_or(("", text));
                FromRef { namespace, name }
            }
            false => FromRef {
                namespace: "",
                name: text,
            },
        }
    }
}

/// `namespace/name`, or `name` in the tag's own namespace.
impl std::fmt::Display for FromRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.namespace {
            "" => f.write_str(self.name),
            namespace => write!(f, "{namespace}/{}", self.name),
        }
    }
}

// === compaction and the typed copy ===

/// Each effective spec tag (the last duplicate of a name), in spec order. A name reuses its
/// status tag's span when there is one, and every `Local` policy shares one span.
pub(super) fn spec_rows(
    text: &mut Arena,
    tags: &[StatusTag],
    stream: &ImageStream,
) -> Vec<SpecRow> {
    let lists = stream.status.iter().flat_map(|status| &status.tags);
    let mut status_tags = HashMap::new();
    for (list, tag) in lists.zip(tags) {
        let found = (tag.name, has_failed_import(list), !list.items.is_empty());
        status_tags.entry(list.tag.as_str()).or_insert(found);
    }
    let mut seen = HashSet::new();
    let last_first = stream.spec.tags.iter().rev();
    let effective: Vec<&TagReference> = last_first.filter(|t| seen.insert(&t.name)).collect();
    let mut local = None;
    let mut row = |spec: &TagReference| {
        let (name, import_failed, has_events) = match status_tags.get(spec.name.as_str()) {
            Some(&found) => found,
            None => (text.push(&spec.name), false, false),
        };
        let policy = policy_span(text, &mut local, &spec.reference_policy.type_);
        let (kind, from, namespaced) = copy_source(text, spec.from.as_ref(), has_events);
        SpecRow {
            name,
            policy,
            from,
            kind,
            namespaced,
            reference: spec.reference,
            import_failed,
        }
    };
    effective.into_iter().rev().map(&mut row).collect()
}

/// Whether the import of a tag failed: OpenShift's importer sets `ImportSuccess=False`, and
/// removes the condition once an import succeeds.
fn has_failed_import(list: &NamedTagEventList) -> bool {
    let failed = |c: &TagEventCondition| c.type_ == IMPORT_SUCCESS && c.status == "False";
    list.conditions.iter().any(failed)
}

/// The condition [`has_failed_import`] looks for.
pub(super) const IMPORT_SUCCESS: &str = "ImportSuccess";

/// Empty for `Source` (and unset); one shared span for `Local`; any other type as written.
fn policy_span(text: &mut Arena, local: &mut Option<Span>, type_: &str) -> Span {
    match type_ {
        "" | REFERENCE_POLICY_SOURCE => Span::default(),
        REFERENCE_POLICY_LOCAL => *local.get_or_insert_with(|| text.push(REFERENCE_POLICY_LOCAL)),
        other => text.push(other),
    }
}

/// The class of `from`, and for a copy the tag or image it follows (with its namespace, if
/// any, as `<namespace>/<name>`); for a `DockerImage` tag without events, its pull spec.
fn copy_source(
    text: &mut Arena,
    from: Option<&ObjectReference>,
    has_events: bool,
) -> (FromKind, Span, bool) {
    let Some(from) = from else {
        return (FromKind::None, Span::default(), false);
    };
    let kind = match from.kind.as_deref().unwrap_or("") {
        DOCKER_IMAGE => FromKind::DockerImage,
        STREAM_TAG => FromKind::StreamTag,
        STREAM_IMAGE => FromKind::StreamImage,
        _ => FromKind::None,
    };
    let name = from.name.as_deref().unwrap_or("");
    if kind == FromKind::DockerImage && !has_events && !name.is_empty() {
        return (kind, text.push(name), false);
    }
    if !matches!(kind, FromKind::StreamTag | FromKind::StreamImage) {
        return (kind, Span::default(), false);
    }
    match from.namespace.as_deref().unwrap_or("") {
        "" => (kind, text.push(name), false),
        namespace => (kind, text.push(&format!("{namespace}/{name}")), true),
    }
}

const DOCKER_IMAGE: &str = "DockerImage";
const STREAM_TAG: &str = "ImageStreamTag";
const STREAM_IMAGE: &str = "ImageStreamImage";

impl SpecTag<'_> {
    /// The typed spec tag, as far as the row keeps it.
    pub(super) fn to_reference(self) -> TagReference {
        TagReference {
            name: self.name().to_string(),
            from: self.to_from(),
            reference: self.reference(),
            reference_policy: TagReferencePolicy::of(self.reference_policy()),
            ..TagReference::default()
        }
    }

    fn to_from(self) -> Option<ObjectReference> {
        let (kind, from) = match self.source() {
            TagSource::None => return None,
            TagSource::DockerImage => {
                let name = self.unimported_source().map(|name| FromRef {
                    namespace: "",
                    name,
                });
                (DOCKER_IMAGE, name)
            }
            TagSource::StreamTag(from) => (STREAM_TAG, Some(from)),
            TagSource::StreamImage(from) => (STREAM_IMAGE, Some(from)),
        };
        let namespace = from
            .map(|f| f.namespace)
            .filter(|namespace| !namespace.is_empty());
        Some(ObjectReference {
            kind: Some(kind.to_string()),
            name: from.map(|f| f.name.to_string()),
            namespace: namespace.map(str::to_string),
            ..ObjectReference::default()
        })
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
        let stored: Vec<_> = compacted.specs.iter().map(|row| row.policy.len).collect();
        assert_eq!(stored, [5, 0, 0, 5, 5], "Source and unset are stored empty");
        assert_eq!(
            compacted.specs[0].policy, compacted.specs[4].policy,
            "Local is written once"
        );
    }

    #[test]
    fn a_spec_tag_name_shares_its_status_tag_text() {
        let stream = mk_stream("n", "s").spec_tag("t", LOCAL).event("t", "r", "");
        let compacted = compact(&stream);
        let text = "ns".len() + "r".len() + "t".len() + LOCAL.len();
        assert_eq!(compacted.text.len(), text);
        assert_eq!(compacted.reference_policy("t"), LOCAL);
    }

    #[test]
    fn spec_tags_keep_their_source_class_reference_and_failed_import() {
        let mut stream = local_mysql()
            .importing("a", "quay.io/o/m:a")
            .import_failed("a")
            .reference_tag("b", "quay.io/o/m:b")
            .tracking("c", "other:8", LOCAL)
            .spec_from("d", "ImageStreamImage", "m@sha256:ab")
            .spec_tag("e", "")
            .spec_from("f", "Image", "x");
        stream.spec.tags[2].from.as_mut().unwrap().namespace = Some("base".into());
        let compacted = compact(&stream);
        let read: Vec<_> = compacted
            .spec_tags()
            .map(|spec| {
                let flags = (spec.reference(), spec.import_failed());
                (spec.name(), spec.source(), flags, spec.reference_policy())
            })
            .collect();
        let copy = |namespace, name| FromRef { namespace, name };
        let expected = [
            ("a", TagSource::DockerImage, (false, true), "Source"),
            ("b", TagSource::DockerImage, (true, false), "Source"),
            (
                "c",
                TagSource::StreamTag(copy("base", "other:8")),
                (false, false),
                LOCAL,
            ),
            (
                "d",
                TagSource::StreamImage(copy("", "m@sha256:ab")),
                (false, false),
                "Source",
            ),
            ("e", TagSource::None, (false, false), "Source"),
            ("f", TagSource::None, (false, false), "Source"),
        ];
        assert_eq!(read, expected);
        assert!(compacted.spec_tag("g").is_none());
    }

    #[test]
    fn a_failed_import_counts_only_as_imagesuccess_false_on_the_first_status_entry() {
        let cases = [
            (local_mysql().importing("a", "m:a").import_failed("a"), true),
            (
                local_mysql().importing("a", "m:a").empty_history("a"),
                false,
            ),
            (local_mysql().importing("a", "m:a"), false),
        ];
        for (mut stream, expected) in cases {
            let compacted = compact(&stream);
            assert_eq!(compacted.spec_tag("a").unwrap().import_failed(), expected);
            if let Some(status) = stream.status.as_mut() {
                for condition in status.tags.iter_mut().flat_map(|t| &mut t.conditions) {
                    condition.status = "True".into();
                }
            }
            assert!(!compact(&stream).spec_tag("a").unwrap().import_failed());
        }
    }
}
