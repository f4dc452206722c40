//! Both directions between a typed `ImageStream` and its `CompactStream`: compaction into
//! one text arena, and the typed copy a tag source in another stream is read through.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::spec::{spec_rows, IMPORT_SUCCESS};
use super::{base_len, to_u32, CompactStream, EventRow, History, Span, StatusTag};
use crate::api::{ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent, TagEventCondition};

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
        let specs = spec_rows(&mut text, &tags, stream);
        Self {
            text: text.0.into_boxed_str(),
            specs: specs.into_boxed_slice(),
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
    /// namespace, name, lookup policy, repository, and every status event, each tag's newest
    /// with its `created` time (older ones carry the epoch; generations are zero). It also
    /// carries what the index keeps of the spec tags (name, `from` kind and a copy's source,
    /// `reference`, the reference policy; a `DockerImage` source's name only while the tag has
    /// no events) and a failed
    /// import's `ImportSuccess=False` condition (without reason or message), so compacting it
    /// gives back this stream.
    pub fn to_source_stream(&self) -> ImageStream {
        let mut stream = ImageStream::new(self.namespace(), self.name());
        stream.metadata.resource_version = Some(self.revision.to_string());
        stream.spec.lookup_policy.local = self.lookup_local;
        stream.spec.tags = self.spec_tags().map(|spec| spec.to_reference()).collect();
        stream.status = Some(ImageStreamStatus {
            docker_image_repository: self.repository().to_string(),
            tags: self.histories().map(|h| h.to_list()).collect(),
            ..ImageStreamStatus::default()
        });
        stream
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
            conditions: self.failed_import().into_iter().collect(),
        }
    }

    /// The condition a spec tag's `import_failed` was read from: on the tag's first status
    /// entry, as [`CompactStream::history`] finds it.
    fn failed_import(self) -> Option<TagEventCondition> {
        let spec = self.stream.spec_tag(self.tag())?;
        let first = self.stream.history(self.tag())?;
        (spec.import_failed() && std::ptr::eq(first.tag, self.tag)).then(|| TagEventCondition {
            type_: IMPORT_SUCCESS.to_string(),
            status: "False".to_string(),
            ..TagEventCondition::default()
        })
    }
}

/// The text being gathered, one string per field.
#[derive(Default)]
pub(super) struct Arena(String);

impl Arena {
    /// Appends `value`; its span.
    pub(super) fn push(&mut self, value: &str) -> Span {
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

    #[test]
    fn a_source_stream_compacts_back_to_the_same_form() {
        let mut cross_namespace = local_mysql().tracking("c", "other:8", LOCAL);
        cross_namespace.spec.tags[0]
            .from
            .as_mut()
            .unwrap()
            .namespace = Some("base".into());
        let mut repeated = local_mysql().importing("a", "m:a").event("a", "m:a", D);
        let status = repeated.status.as_mut().unwrap();
        status.tags.push(status.tags[0].clone());
        status.tags[1].conditions = local_mysql().import_failed("a").status.unwrap().tags[0]
            .conditions
            .clone();
        let cases = [
            mk_stream("ns", "empty"),
            local_mysql()
                .importing("8", "quay.io/o/m:8")
                .spec_tag("8", LOCAL)
                .event("8", &format!("quay.io/o/m@{D}"), D)
                .event("8", "quay.io/o/m:7", D2),
            local_mysql()
                .importing("a", "m:a")
                .import_failed("a")
                .reference_tag("b", "m:b")
                .event("b", "m:b", "")
                .spec_from("d", "ImageStreamImage", "m@sha256:ab")
                .spec_tag("e", "Other")
                .tracking("f", "a", LOCAL)
                .tracking("g", "b", LOCAL)
                .event("pushed", "r/p", D),
            local_mysql().spec_tag("x", LOCAL).spec_tag("x", "Source"),
            cross_namespace,
            repeated,
        ];
        for stream in cases {
            let compacted = compact(&stream);
            assert_eq!(
                compact(&compacted.to_source_stream()),
                compacted,
                "{stream:?}"
            );
        }
    }
}
