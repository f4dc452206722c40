//! Both directions between a typed `ImageStream` and its `CompactStream`: compaction into
//! one text arena, and the typed copy a tag source in another stream is read through.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{
    base_len, to_u32, CompactStream, EventRow, History, Policy, PolicyType, Span, StatusTag,
};
use crate::api::{
    ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent, TagReference, TagReferencePolicy,
    REFERENCE_POLICY_LOCAL, REFERENCE_POLICY_SOURCE,
};

impl From<&ImageStream> for CompactStream {
    /// Compacts the stream with the `status.dockerImageRepository` it carries.
    fn from(stream: &ImageStream) -> Self {
        Self::with_repository(stream, stream.status_repository())
    }
}

impl From<ImageStream> for CompactStream {
    fn from(stream: ImageStream) -> Self {
        Self::from(&stream)
    }
}

impl CompactStream {
    /// Compacts the stream with `repository` as its `status.dockerImageRepository`: the one
    /// the API serves for it (recomputed from the registry host names on every read), where
    /// the stored one may predate a change of those names.
    pub fn with_repository(stream: &ImageStream, repository: &str) -> Self {
        let mut text = Arena::default();
        let namespace = text.push(stream.namespace());
        let name = text.push(stream.name());
        let repository_span = text.push(repository);
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
            repository: repository_span,
            repository_base: base_len(repository),
            lookup_local: stream.spec.lookup_policy.local,
        }
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
}

impl History<'_> {
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
            let base = base_len(&event.docker_image_reference);
            events.push(EventRow {
                reference,
                image,
                base,
            });
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
