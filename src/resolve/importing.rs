//! Which tag imports the image another tag holds: the end of its chain of `ImageStreamTag`
//! sources. A tag that follows another (`from: {kind: ImageStreamTag}`) gets its image copied,
//! so settings that shape the image (`importPolicy.importMode`) belong on the tag at the end
//! of the chain, the one whose `from` is a `DockerImage`. A copy from another stream is taken
//! only when the spec tag changes, and a chain of tags of one stream moves on imports and spec
//! writes but not on a status write, so either may hold an image its source has since replaced.

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
    /// A tag along the chain holds another image than the tag it follows has now: a copy from
    /// another stream is taken only when the spec tag changes, and a tag of the same stream
    /// does not move when the tag it follows is written through the status.
    EarlierCopy {
        /// The chain from the tag looked up to the tag that imports (its end), each tag
        /// followed by the tag it follows.
        chain: Vec<TagAddress>,
        /// Where in `chain` the first tag is that holds another image than the next one has
        /// now (never the end).
        stale: usize,
    },
}

impl TagAddress {
    /// Whether `other` is a tag of the same stream.
    pub fn same_stream(&self, other: &TagAddress) -> bool {
        self.namespace == other.namespace && self.stream == other.stream
    }
}

/// Where the image `image` (an image ID) that `namespace/stream:tag` holds comes from: the tag
/// that imports it (that tag itself when its spec tag imports from a registry, else the end of
/// the chain of tags it follows), or the first tag along the chain that holds an earlier image
/// than the tag it follows has now. `None` when a stream or spec tag along the way is missing,
/// a tag copies an image of a stream's history or has no source (nothing imports it), or the
/// chain does not end.
pub fn importing_tag<L: StreamLookup + ?Sized>(
    streams: &L,
    namespace: &str,
    stream: &str,
    tag: &str,
    image: &str,
) -> Option<Importing> {
    let (chain, newest) = chain_of(streams, namespace, stream, tag)?;
    match stale_hop(image, &newest) {
        Some(stale) => Some(Importing::EarlierCopy { chain, stale }),
        None => chain.last().cloned().map(Importing::Tag),
    }
}

/// The tags from `namespace/stream:tag` to the one importing from a registry, with the newest
/// image each holds (`""` when none).
fn chain_of<L: StreamLookup + ?Sized>(
    streams: &L,
    namespace: &str,
    stream: &str,
    tag: &str,
) -> Option<(Vec<TagAddress>, Vec<String>)> {
    let (mut namespace, mut stream, mut tag) = (namespace, stream, tag);
    let (mut chain, mut newest) = (Vec::new(), Vec::new());
    for _ in 0..MAX_HOPS {
        let found = streams.stream(namespace, stream)?;
        let held = found.history(tag).and_then(|history| history.newest());
        newest.push(
            held.map(|event| event.image.to_string())
                .unwrap_or_default(),
        );
        chain.push(TagAddress {
            namespace: namespace.to_string(),
            stream: stream.to_string(),
            tag: tag.to_string(),
        });
        match found.spec_tag(tag)?.source() {
            TagSource::DockerImage => return Some((chain, newest)),
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

/// The first tag of the chain holding another image than the next tag's newest, given the
/// image the first tag holds and each tag's newest image. A tag with no image yet carries the
/// image before it along, as there is nothing to compare with.
fn stale_hop(image: &str, newest: &[String]) -> Option<usize> {
    let mut held = image;
    for (index, next) in newest.iter().enumerate().skip(1) {
        if next.is_empty() {
            continue;
        }
        if !held.is_empty() && held != next {
            return Some(index - 1);
        }
        held = next;
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
        let held: Vec<_> = streams
            .iter()
            .map(|(namespace, name, tags)| {
                (*namespace, *name, tags.clone(), vec![("legacy", NEWEST)])
            })
            .collect();
        index_holding(&held)
    }

    /// A stream: namespace, name, spec tags, and the image each of some tags holds.
    type Holding<'a> = (&'a str, &'a str, serde_json::Value, Vec<(&'a str, &'a str)>);

    /// An index of the streams given.
    fn index_holding(streams: &[Holding<'_>]) -> Index {
        let mut index = Index::new();
        for (namespace, name, tags, held) in streams {
            let status: Vec<_> = held
                .iter()
                .map(|(tag, image)| {
                    let event = json!({"created": "2026-11-01T10:00:00Z", "image": image,
                                       "dockerImageReference": format!("quay.io/o/app@{image}")});
                    json!({"tag": tag, "items": [event]})
                })
                .collect();
            let stream: ImageStream = serde_json::from_value(json!({
                "metadata": {"namespace": namespace, "name": name},
                "spec": {"tags": tags},
                "status": {"tags": status},
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
    fn the_first_tag_holding_another_image_than_the_tag_it_follows_is_the_stale_one() {
        const OLD: &str = "sha256:1111";
        let streams = index_holding(&[
            (
                "demo",
                "app",
                json!([
                    docker("legacy"),
                    docker("fresh"),
                    follows("f", "legacy", None),
                    follows("f2", "f", None),
                ]),
                vec![("legacy", NEWEST), ("f", NEWEST), ("f2", OLD)],
            ),
            (
                "demo",
                "web",
                json!([
                    follows("prod", "app:legacy", None),
                    follows("x", "app:f2", None)
                ]),
                vec![("prod", OLD), ("x", OLD)],
            ),
        ]);
        let check = |(stream, tag): (&str, &str), image: &str, chain: &[&str], stale: usize| {
            let chain = chain
                .iter()
                .map(|at| {
                    let (stream, tag) = at.split_once(':').expect("stream:tag");
                    address(("demo", stream, tag))
                })
                .collect();
            let expected = Importing::EarlierCopy { chain, stale };
            let found = importing_tag(&streams, "demo", stream, tag, image);
            assert_eq!(found, Some(expected), "{stream}:{tag}");
        };
        // A copy of another stream's tag, taken before that tag changed.
        check(("web", "prod"), OLD, &["web:prod", "app:legacy"], 0);
        // Two hops in one stream: f followed legacy to its new image, f2 did not follow f.
        check(("app", "f2"), OLD, &["app:f2", "app:f", "app:legacy"], 0);
        // A copy that is up to date with the tag it copies, which is the stale one.
        let through = ["web:x", "app:f2", "app:f", "app:legacy"];
        check(("web", "x"), OLD, &through, 1);
        // Up to date all along, or with nothing to compare with: the importing tag is named.
        let up_to_date = importing_tag(&streams, "demo", "app", "f", NEWEST);
        let legacy = address(("demo", "app", "legacy"));
        assert_eq!(up_to_date, Some(Importing::Tag(legacy)));
        let fresh = importing_tag(&streams, "demo", "app", "fresh", OLD);
        let fresh_tag = address(("demo", "app", "fresh"));
        assert_eq!(fresh, Some(Importing::Tag(fresh_tag)));
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
