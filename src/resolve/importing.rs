//! Which tag imports the image another tag holds: the end of its chain of `ImageStreamTag`
//! sources. A tag that follows another (`from: {kind: ImageStreamTag}`) gets its image copied,
//! so settings that shape the image (`importPolicy.importMode`) belong on the tag at the end
//! of the chain, the one whose `from` is a `DockerImage`. A copy from another stream is taken
//! only when the spec tag changes, so it may hold an image its source has since replaced.

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

/// Where an image a tag holds comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Importing {
    /// The tag that imports it: the tag itself, or the end of the chain it follows.
    Tag(TagAddress),
    /// The tag holds an earlier copy of the end of its chain, `source`, whose newest image is
    /// another one now.
    EarlierCopy {
        /// The tag at the end of the chain.
        source: TagAddress,
    },
}

/// Where the image `image` (an image ID) that `namespace/stream:tag` holds comes from: the tag
/// that imports it (that tag itself when its spec tag imports from a registry, else the end of
/// the chain of tags it follows), or that the tag holds an earlier copy of it. `None` when a
/// stream or spec tag along the way is missing, a tag copies an image of a stream's history or
/// has no source (nothing imports it), or the chain does not end.
pub fn importing_tag<L: StreamLookup + ?Sized>(
    streams: &L,
    namespace: &str,
    stream: &str,
    tag: &str,
    image: &str,
) -> Option<Importing> {
    let (mut namespace, mut stream, mut tag) = (namespace, stream, tag);
    for _ in 0..MAX_HOPS {
        let found = streams.stream(namespace, stream)?;
        match found.spec_tag(tag)?.source() {
            TagSource::DockerImage => {
                let newest = found.history(tag).and_then(|history| history.newest());
                let address = TagAddress {
                    namespace: namespace.to_string(),
                    stream: stream.to_string(),
                    tag: tag.to_string(),
                };
                return Some(match newest {
                    Some(event) if !event.image.is_empty() && event.image != image => {
                        Importing::EarlierCopy { source: address }
                    }
                    _ => Importing::Tag(address),
                });
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

    /// The image every stream's `legacy` tag holds now.
    const NEWEST: &str = "sha256:2222";

    /// An index of the streams `(namespace, name, spec tags)`; a `legacy` tag holds [`NEWEST`].
    fn index(streams: &[(&str, &str, serde_json::Value)]) -> Index {
        let mut index = Index::new();
        for (namespace, name, tags) in streams {
            let event = json!({"created": "2026-11-01T10:00:00Z", "image": NEWEST,
                               "dockerImageReference": format!("quay.io/o/app@{NEWEST}")});
            let stream: ImageStream = serde_json::from_value(json!({
                "metadata": {"namespace": namespace, "name": name},
                "spec": {"tags": tags},
                "status": {"tags": [{"tag": "legacy", "items": [event]}]},
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

    fn address((namespace, stream, tag): (&str, &str, &str)) -> TagAddress {
        TagAddress {
            namespace: namespace.into(),
            stream: stream.into(),
            tag: tag.into(),
        }
    }

    /// The answer for `query` holding the newest image of the chain's end.
    fn check(streams: &Index, query: (&str, &str, &str), expected: Option<(&str, &str, &str)>) {
        let found = importing_tag(streams, query.0, query.1, query.2, NEWEST);
        assert_eq!(
            found,
            expected.map(address).map(Importing::Tag),
            "{query:?}"
        );
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
    fn a_tag_holding_another_image_than_the_end_of_its_chain_holds_an_earlier_copy() {
        let streams = index(&[
            ("demo", "app", json!([docker("legacy"), docker("fresh")])),
            ("demo", "web", json!([follows("prod", "app:legacy", None)])),
        ]);
        let source = address(("demo", "app", "legacy"));
        let earlier = importing_tag(&streams, "demo", "web", "prod", "sha256:1111");
        assert_eq!(earlier, Some(Importing::EarlierCopy { source }));
        // A tag with no image yet to compare with is named as the importing tag.
        let fresh = importing_tag(&streams, "demo", "app", "fresh", "sha256:1111");
        assert_eq!(
            fresh,
            Some(Importing::Tag(address(("demo", "app", "fresh"))))
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
