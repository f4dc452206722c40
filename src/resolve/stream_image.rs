//! `ImageStreamImage` references (`stream@id`, builds): find the image in the stream's tag
//! history, allowing an ID prefix (openshift-semantics §2.4; library-go `DigestOrImageMatch`,
//! `ResolveImageID`).

use super::{CompactStream, ImageEvent, Match, ObjectRef, Resolution, ResolveError, Resolved};
use super::{ResolvedVia, StreamLookup};
use crate::api::REFERENCE_POLICY_SOURCE;
use crate::reference::{is_valid_digest, ImageRef};

/// What a search of the tag history found.
#[derive(Debug, PartialEq)]
enum Search<'a> {
    /// Exactly one distinct image matched; the first (newest) event recording it.
    One {
        tag: &'a str,
        event: ImageEvent<'a>,
    },
    None,
    /// At least two distinct images matched (the ID prefix is ambiguous).
    Several,
}

/// Resolves `stream@id` in the reference's namespace, or the object's.
pub(super) fn resolve_stream_image(
    reference: &ObjectRef<'_>,
    object_namespace: &str,
    streams: &impl StreamLookup,
) -> Resolution {
    let Some((stream_name, id)) = split_stream_image(reference.name) else {
        let reason = format!(
            "imagestreamimage reference {:?} is not of the form NAME@DIGEST; write it as \
             \"stream@sha256:…\"",
            reference.name
        );
        return Resolution::failed(ResolveError::BadStreamImageName, None, reason);
    };
    let namespace = match reference.namespace {
        "" => object_namespace,
        namespace => namespace,
    };
    let Some(stream) = streams.stream(namespace, stream_name) else {
        return stream_not_found(namespace, stream_name);
    };
    let search = find_image(stream, id);
    let matched = Some(match_for(stream, &search));
    match search {
        Search::One { tag, event } => found(reference.name, stream, tag, event, matched),
        Search::None | Search::Several => {
            let error = ResolveError::StreamImageNotFound {
                namespace: namespace.to_string(),
                name: reference.name.to_string(),
            };
            let reason = not_found_reason(stream, id, search == Search::Several);
            Resolution::failed(error, matched, reason)
        }
    }
}

/// Splits at the first `@`. An empty side or a second `@` is refused, as the server's
/// ImageStreamImage GET refuses it.
fn split_stream_image(name: &str) -> Option<(&str, &str)> {
    let (stream, id) = name.split_once('@')?;
    let malformed = stream.is_empty() || id.is_empty() || id.contains('@');
    (!malformed).then_some((stream, id))
}

/// Every history item of every status tag; stops at the second distinct image.
fn find_image<'a>(stream: &'a CompactStream, id: &str) -> Search<'a> {
    let mut first: Option<(&'a str, ImageEvent<'a>)> = None;
    for history in stream.histories() {
        for event in history.events().filter(|e| image_matches(e.image, id)) {
            match first {
                None => first = Some((history.tag(), event)),
                Some((_, chosen)) if chosen.image != event.image => return Search::Several,
                Some(_) => {}
            }
        }
    }
    first.map_or(Search::None, |(tag, event)| Search::One { tag, event })
}

/// library-go `DigestOrImageMatch`: the image name, or a digest's hex part, starts with `id`.
fn image_matches(image: &str, id: &str) -> bool {
    if image.starts_with(id) {
        return true;
    }
    is_valid_digest(image)
        && image
            .split_once(':')
            .is_some_and(|(_, hex)| hex.starts_with(id))
}

fn found(
    written: &str,
    stream: &CompactStream,
    tag: &str,
    event: ImageEvent<'_>,
    matched: Option<Match>,
) -> Resolution {
    let stream_name = Qualified(stream);
    let source = event.reference;
    let exact = ImageRef::parse(source)
        .map(|r| r.exact())
        .unwrap_or_default();
    if exact.is_empty() {
        let reason = format!(
            "image {} in tag {tag:?} of imagestream {stream_name} was recorded as {source:?}, \
             which is not a pullable image reference; re-import the tag",
            event.image
        );
        return Resolution::failed(
            ResolveError::UnparseableEvent(source.to_string()),
            matched,
            reason,
        );
    }
    let reason = format!(
        "imagestreamimage reference {written:?} matched image {} in tag {tag:?} of imagestream \
         {stream_name}; its recorded pull spec is used as is (no referencePolicy applies)",
        event.image
    );
    let resolved = Resolved {
        pull_spec: exact,
        local_rewrite: false,
        via: ResolvedVia::StreamImage,
        after_failed_import: false,
    };
    Resolution::resolved(resolved, matched, reason)
}

fn match_for(stream: &CompactStream, search: &Search<'_>) -> Match {
    let (tag, policy) = match search {
        Search::One { tag, .. } => (*tag, stream.reference_policy(tag)),
        Search::None | Search::Several => ("", REFERENCE_POLICY_SOURCE),
    };
    Match {
        namespace: stream.namespace().to_string(),
        stream: stream.name().to_string(),
        tag: tag.to_string(),
        stream_found: true,
        lookup_local: stream.lookup_local(),
        reference_policy: policy.to_string(),
    }
}

fn not_found_reason(stream: &CompactStream, id: &str, several: bool) -> String {
    let stream_name = Qualified(stream);
    if several {
        format!(
            "id {id:?} matches more than one image in the tag history of imagestream \
             {stream_name}; use a longer id or the full digest"
        )
    } else {
        format!(
            "no image in the tag history of imagestream {stream_name} matches id {id:?}; \
             check the digest, or import the image into the stream first"
        )
    }
}

fn stream_not_found(namespace: &str, name: &str) -> Resolution {
    let error = ResolveError::StreamNotFound {
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let matched = Match {
        namespace: namespace.to_string(),
        stream: name.to_string(),
        stream_found: false,
        reference_policy: REFERENCE_POLICY_SOURCE.to_string(),
        ..Match::default()
    };
    let reason = format!(
        "no imagestream {namespace}/{name} exists for this imagestreamimage reference; check the \
         namespace and stream name"
    );
    Resolution::failed(error, Some(matched), reason)
}

/// `namespace/name` of a stream.
struct Qualified<'a>(&'a CompactStream);

impl std::fmt::Display for Qualified<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0.namespace(), self.0.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::fixtures::*;

    fn isi(name: &str) -> ObjectRef<'_> {
        ObjectRef {
            kind: "ImageStreamImage",
            name,
            namespace: "",
        }
    }

    fn not_found(name: &str) -> Result<Resolved, ResolveError> {
        Err(ResolveError::StreamImageNotFound {
            namespace: "ns".into(),
            name: name.into(),
        })
    }

    /// `ns/mysql`: tag `8` moved from `D2` to `D`; tag `stable` also holds `D`; policies ignored.
    fn history() -> crate::api::ImageStream {
        mk_stream("ns", "mysql")
            .repo(&repo_of("ns", "mysql"))
            .spec_tag("8", crate::api::REFERENCE_POLICY_LOCAL)
            .event("8", "quay.io/o/m:8", D)
            .event("8", "quay.io/o/m:8-old", D2)
            .event("stable", "quay.io/o/m:stable", D)
            .event("ref", "quay.io/o/m:ref", "")
    }

    #[test]
    fn finds_an_image_anywhere_in_the_history_by_id_or_prefix() {
        let hex = &D["sha256:".len()..];
        let newest = ok("quay.io/o/m:8", false, ResolvedVia::StreamImage);
        let older = ok("quay.io/o/m:8-old", false, ResolvedVia::StreamImage);
        let cases = [
            (format!("mysql@{D}"), newest.clone()),
            (format!("mysql@{}", &D[..20]), newest.clone()),
            (format!("mysql@{}", &hex[..12]), newest),
            (format!("mysql@{D2}"), older),
            (
                format!("mysql@sha256:{}", "0".repeat(64)),
                not_found(&format!("mysql@sha256:{}", "0".repeat(64))),
            ),
            ("mysql@sha256:".to_string(), not_found("mysql@sha256:")),
            ("mysql@other".to_string(), not_found("mysql@other")),
        ];
        for (name, expected) in &cases {
            let resolution = run(&[history()], isi(name), false);
            assert_eq!(
                &resolution.outcome, expected,
                "{name}: {}",
                resolution.reason
            );
        }
    }

    #[test]
    fn matches_non_digest_image_names_by_prefix() {
        let legacy = mk_stream("ns", "mysql").event("8", "foo/bar:8", "10abc");
        let expected = ok("foo/bar:8", false, ResolvedVia::StreamImage);
        assert_eq!(
            run(std::slice::from_ref(&legacy), isi("mysql@10a"), false).outcome,
            expected
        );
        assert_eq!(
            run(&[legacy], isi("mysql@abc"), false).outcome,
            not_found("mysql@abc")
        );
    }

    #[test]
    fn an_ambiguous_prefix_is_not_found() {
        let shared = "sha256:1389";
        let resolution = run(
            &[history().event("x", "a:1", &D2.replace("1389b", "1389c"))],
            isi("mysql@1389"),
            false,
        );
        assert_eq!(resolution.outcome, not_found("mysql@1389"));
        assert!(
            resolution.reason.contains("more than one image"),
            "{}",
            resolution.reason
        );
        let unique = run(&[history()], isi(&format!("mysql@{shared}")), false);
        assert_eq!(
            unique.outcome,
            ok("quay.io/o/m:8-old", false, ResolvedVia::StreamImage)
        );
    }

    #[test]
    fn names_need_a_stream_and_an_id() {
        for name in ["mysql", "@sha256:abc", "mysql@", "mysql@a@b"] {
            let outcome = run(&[history()], isi(name), false).outcome;
            assert_eq!(outcome, Err(ResolveError::BadStreamImageName), "{name}");
        }
    }

    #[test]
    fn uses_the_reference_namespace_and_reports_missing_streams() {
        let elsewhere = ObjectRef {
            namespace: "other",
            ..isi("mysql@1389")
        };
        let outcome = run(&[history()], elsewhere, false).outcome;
        let expected = ResolveError::StreamNotFound {
            namespace: "other".into(),
            name: "mysql".into(),
        };
        assert_eq!(outcome, Err(expected));
    }

    #[test]
    fn records_the_tag_that_held_the_image() {
        let resolution = run(&[history()], isi(&format!("mysql@{D2}")), false);
        let matched = resolution.matched.unwrap();
        assert_eq!(
            (matched.tag.as_str(), matched.reference_policy.as_str()),
            ("8", "Local")
        );
        assert!(
            resolution.reason.contains("no referencePolicy applies"),
            "{}",
            resolution.reason
        );
        let unparseable = mk_stream("ns", "mysql").event("8", "Bad Ref", D);
        let outcome = run(&[unparseable], isi(&format!("mysql@{D}")), false).outcome;
        assert_eq!(
            outcome,
            Err(ResolveError::UnparseableEvent("Bad Ref".into()))
        );
    }
}
