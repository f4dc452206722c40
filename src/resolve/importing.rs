//! Which tag imports the image another tag holds: the end of its chain of `ImageStreamTag`
//! sources. A tag that follows another (`from: {kind: ImageStreamTag}`) gets its image copied,
//! so settings that shape the image (`importPolicy.importMode`) belong on the tag at the end
//! of the chain, the one whose `from` is a `DockerImage`.

use super::{StreamLookup, TagSource};

/// Hops followed at most: validation does not forbid a cycle through other streams, and a
/// longer chain than this is not one a person would trace by hand either.
const MAX_HOPS: usize = 16;

/// A tag of a stream, by where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagAddress {
    /// The stream's namespace.
    pub namespace: String,
    /// The stream's name.
    pub stream: String,
    /// The tag.
    pub tag: String,
}

/// The tag that imports the image `namespace/stream:tag` holds: that tag itself when its spec
/// tag imports from a registry, else the end of the chain of tags it follows. `None` when a
/// stream or spec tag along the way is missing, a tag copies an image of a stream's history
/// or has no source (nothing imports it), or the chain does not end.
pub fn importing_tag<L: StreamLookup + ?Sized>(
    streams: &L,
    namespace: &str,
    stream: &str,
    tag: &str,
) -> Option<TagAddress> {
    let (mut namespace, mut stream, mut tag) = (namespace, stream, tag);
    for _ in 0..MAX_HOPS {
        let spec = streams.stream(namespace, stream)?.spec_tag(tag)?;
        match spec.source() {
            TagSource::DockerImage => {
                return Some(TagAddress {
                    namespace: namespace.to_string(),
                    stream: stream.to_string(),
                    tag: tag.to_string(),
                })
            }
            TagSource::StreamTag(from) => {
                if !from.namespace.is_empty() {
                    namespace = from.namespace;
                }
                // `stream:tag`, or a bare tag of the same stream.
                (stream, tag) = from.name.split_once(':').unwrap_or((stream, from.name));
            }
            TagSource::StreamImage(_) | TagSource::None => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::ImageStream;
    use crate::resolve::Index;

    /// An index of the streams `(namespace, name, spec tags)`.
    fn index(streams: &[(&str, &str, serde_json::Value)]) -> Index {
        let mut index = Index::new();
        for (namespace, name, tags) in streams {
            let stream: ImageStream = serde_json::from_value(json!({
                "metadata": {"namespace": namespace, "name": name},
                "spec": {"tags": tags},
            }))
            .expect("a valid stream");
            index.upsert(&stream);
        }
        index
    }

    fn tag(from: serde_json::Value, name: &str) -> serde_json::Value {
        json!({"name": name, "from": from})
    }

    fn docker(name: &str) -> serde_json::Value {
        tag(
            json!({"kind": "DockerImage", "name": "quay.io/o/app:1"}),
            name,
        )
    }

    fn follows(name: &str, source: &str, namespace: Option<&str>) -> serde_json::Value {
        let mut from = json!({"kind": "ImageStreamTag", "name": source});
        if let Some(namespace) = namespace {
            from["namespace"] = json!(namespace);
        }
        tag(from, name)
    }

    fn check(streams: &Index, query: (&str, &str, &str), expected: Option<(&str, &str, &str)>) {
        let found = importing_tag(streams, query.0, query.1, query.2);
        let expected = expected.map(|(namespace, stream, tag)| TagAddress {
            namespace: namespace.into(),
            stream: stream.into(),
            tag: tag.into(),
        });
        assert_eq!(found, expected, "{query:?}");
    }

    #[test]
    fn the_importing_tag_is_found_at_the_end_of_the_chain_of_followed_tags() {
        let streams = index(&[
            (
                "demo",
                "app",
                json!([
                    docker("legacy"),
                    follows("latest", "legacy", None),
                    follows("stable", "app:latest", None),
                ]),
            ),
            ("demo", "web", json!([follows("prod", "app:legacy", None)])),
            (
                "other",
                "site",
                json!([follows("live", "web:prod", Some("demo"))]),
            ),
        ]);
        check(
            &streams,
            ("demo", "app", "legacy"),
            Some(("demo", "app", "legacy")),
        );
        check(
            &streams,
            ("demo", "app", "latest"),
            Some(("demo", "app", "legacy")),
        );
        check(
            &streams,
            ("demo", "app", "stable"),
            Some(("demo", "app", "legacy")),
        );
        check(
            &streams,
            ("demo", "web", "prod"),
            Some(("demo", "app", "legacy")),
        );
        check(
            &streams,
            ("other", "site", "live"),
            Some(("demo", "app", "legacy")),
        );
    }

    #[test]
    fn a_chain_that_breaks_loops_or_copies_an_image_names_no_importing_tag() {
        let streams = index(&[(
            "demo",
            "app",
            json!([
                follows("a", "b", None),
                follows("b", "a", None),
                follows("gone", "nowhere:1", None),
                follows("untagged", "missing", None),
                tag(
                    json!({"kind": "ImageStreamImage", "name": "app@sha256:abc"}),
                    "pinned"
                ),
                json!({"name": "pushed"}),
            ]),
        )]);
        for tag in ["a", "gone", "untagged", "pinned", "pushed", "absent"] {
            check(&streams, ("demo", "app", tag), None);
        }
        check(&streams, ("demo", "nostream", "1"), None);
    }
}
