//! Looking up one `stream:tag` in one namespace: the server-side ImageStreamTag GET
//! (openshift-semantics §2.2) fused with the admission resolver around it (§2.3 steps 5–6).
//!
//! ```text
//! stream? ─no─> StreamNotFound
//!   │ tag's newest event has an image?
//!   ├─yes─> lookupPolicy check (partial only) ─> referencePolicy ─> <ref>@<image>   (pinned)
//!   └─no──> local or forced, and status.dockerImageRepository? ─> <repo>:<tag>     (pull-through)
//!                                                             └─> TagNotFound
//! ```

use std::borrow::Cow;
use std::fmt;

use super::{Match, Resolution, ResolveError, Resolved, ResolvedVia, StreamLookup};
use crate::api::{ImageStream, TagEvent, REFERENCE_POLICY_LOCAL, REFERENCE_POLICY_SOURCE};
use crate::reference::ImageRef;

/// The annotation that forces resolution, as users must write it.
const RESOLVE_NAMES: &str = r#"alpha.image.policy.openshift.io/resolve-names: "*""#;

/// How a reference reached the tag lookup: decides the lookupPolicy check, `local_rewrite`
/// and the wording of the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// A single-segment name (`mysql:8`): partial, needs `lookupPolicy.local`.
    ShortName,
    /// Any undigested reference on an object annotated resolve-names: partial, forced.
    Forced,
    /// A `DockerImage` reference into the integrated registry: no lookupPolicy check.
    IntegratedRegistry,
    /// A build's `ImageStreamTag` reference: no lookupPolicy check, never forced.
    StreamTagKind,
}

/// One tag lookup.
#[derive(Clone, Copy, Debug)]
pub(super) struct TagQuery<'a> {
    /// Namespace searched.
    pub(super) namespace: &'a str,
    /// Stream name.
    pub(super) stream: &'a str,
    /// Tag, already defaulted to `latest`.
    pub(super) tag: &'a str,
    /// How the reference got here.
    pub(super) route: Route,
    /// The reference as the object wrote it, for explanations.
    pub(super) written: &'a str,
}

/// Why a tag has no usable image: each reads differently to a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Missing {
    NoHistory,
    NoEvents,
    ReferenceOnly,
}

/// Which pull spec the tag's reference policy chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pinning {
    /// The event's own reference (`Source`, unset, no spec tag, or an unknown type).
    Source,
    /// `Local` with a usable `status.dockerImageRepository`.
    Integrated,
    /// `Local`, but the stream has no usable repository, so the event's reference is used.
    LocalWithoutRepository,
}

/// Resolves the query against the streams.
pub(super) fn lookup_tag(query: &TagQuery<'_>, streams: &impl StreamLookup) -> Resolution {
    let Some(stream) = streams.stream(query.namespace, query.stream) else {
        return stream_not_found(query);
    };
    let matched = Some(match_for(query, stream));
    match newest_image(stream, query.tag) {
        Ok(event) => found(query, stream, event, matched),
        Err(missing) => pull_through(query, stream, missing, matched),
    }
}

/// The spec tag's effective `referencePolicy.type`: `Source` when unset or absent.
pub(super) fn effective_policy<'a>(stream: &'a ImageStream, tag: &str) -> &'a str {
    match stream.spec_tag(tag) {
        Some(spec) if !spec.reference_policy.type_.is_empty() => &spec.reference_policy.type_,
        _ => REFERENCE_POLICY_SOURCE,
    }
}

/// Parses `reference`, clears its tag, sets its ID and renders it: what lookup writes back.
/// `None` when it does not parse or has no repository name to pin.
pub(super) fn pin_to_image(reference: &str, image: &str) -> Option<String> {
    let mut parsed = ImageRef::parse(reference).ok()?;
    parsed.tag.clear();
    parsed.id = image.to_string();
    let pinned = parsed.exact();
    (!pinned.is_empty()).then_some(pinned)
}

fn match_for(query: &TagQuery<'_>, stream: &ImageStream) -> Match {
    Match {
        namespace: query.namespace.to_string(),
        stream: query.stream.to_string(),
        tag: query.tag.to_string(),
        stream_found: true,
        lookup_local: stream.spec.lookup_policy.local,
        reference_policy: effective_policy(stream, query.tag).to_string(),
    }
}

/// The tag's newest event, if it names an image (§2.2 step 3; spec tags are ignored).
fn newest_image<'a>(stream: &'a ImageStream, tag: &str) -> Result<&'a TagEvent, Missing> {
    let history = stream.status_tag(tag).ok_or(Missing::NoHistory)?;
    let event = history.items.first().ok_or(Missing::NoEvents)?;
    if event.image.is_empty() {
        return Err(Missing::ReferenceOnly);
    }
    Ok(event)
}

fn found(
    query: &TagQuery<'_>,
    stream: &ImageStream,
    event: &TagEvent,
    matched: Option<Match>,
) -> Resolution {
    let partial = matches!(query.route, Route::ShortName | Route::Forced);
    if query.route == Route::ShortName && !stream.spec.lookup_policy.local {
        let reason = format!(
            "imagestream {} has tag {:?} but lookupPolicy.local is false, so short name {:?} \
             is not resolved; set spec.lookupPolicy.local=true or annotate the object with {RESOLVE_NAMES}",
            Stream(query),
            query.tag,
            query.written
        );
        return Resolution::failed(ResolveError::LocalNotAllowed, matched, reason);
    }
    let (source, pinning) = reference_for_event(stream, query.tag, event);
    let Some(pull_spec) = pin_to_image(&source, &event.image) else {
        let reason = format!(
            "tag {:?} of imagestream {} points at {source:?}, which is not a pullable image \
             reference; re-import the tag",
            query.tag,
            Stream(query)
        );
        return Resolution::failed(
            ResolveError::UnparseableEvent(source.into_owned()),
            matched,
            reason,
        );
    };
    let reason = format!(
        "{} matched imagestream {} tag {:?} ({}); {}",
        Subject(query),
        Stream(query),
        query.tag,
        Lookup(query.route),
        PolicyClause(pinning, effective_policy(stream, query.tag)),
    );
    let resolved = Resolved {
        pull_spec,
        local_rewrite: partial,
        via: ResolvedVia::TagEvent,
    };
    Resolution::resolved(resolved, matched, reason)
}

/// `ResolveReferenceForTagEvent` (§2.2 step 5): the event's reference, or the integrated
/// repository pinned to the event's image under a `Local` policy.
fn reference_for_event<'a>(
    stream: &ImageStream,
    tag: &str,
    event: &'a TagEvent,
) -> (Cow<'a, str>, Pinning) {
    let source = Cow::Borrowed(event.docker_image_reference.as_str());
    if effective_policy(stream, tag) != REFERENCE_POLICY_LOCAL {
        return (source, Pinning::Source);
    }
    let repository = stream.status_repository();
    let local = (!repository.is_empty())
        .then(|| ImageRef::parse(repository).ok())
        .flatten();
    match local {
        Some(mut local) => {
            local.tag.clear();
            local.id = event.image.clone();
            (Cow::Owned(local.exact()), Pinning::Integrated)
        }
        None => (source, Pinning::LocalWithoutRepository),
    }
}

/// §2.3 step 6: a stream that exists but whose tag has no image still resolves, unpinned,
/// through the integrated registry when the stream is local (or forced) and has a repository.
fn pull_through(
    query: &TagQuery<'_>,
    stream: &ImageStream,
    missing: Missing,
    matched: Option<Match>,
) -> Resolution {
    let not_found = || ResolveError::TagNotFound {
        namespace: query.namespace.to_string(),
        name: format!("{}:{}", query.stream, query.tag),
    };
    let why = Why(query, missing);
    if query.route != Route::Forced && !stream.spec.lookup_policy.local {
        let reason = format!(
            "{why}, and lookupPolicy.local is false so it cannot be pulled through the integrated \
             registry; import the tag or set spec.lookupPolicy.local=true"
        );
        return Resolution::failed(not_found(), matched, reason);
    }
    let repository = stream.status_repository();
    if repository.is_empty() {
        let reason = format!(
            "{why}, and the stream has no status.dockerImageRepository (no integrated registry \
             is configured) to pull through; import the tag first"
        );
        return Resolution::failed(not_found(), matched, reason);
    }
    let Ok(mut through) = ImageRef::parse(repository) else {
        let reason = format!(
            "{why}, and its status.dockerImageRepository {repository:?} is not a valid \
             repository to pull through; import the tag first"
        );
        return Resolution::failed(not_found(), matched, reason);
    };
    through.tag = query.tag.to_string();
    let pull_spec = through.exact();
    let reason = format!(
        "{why}; pulling through the integrated registry as {pull_spec} (not pinned; {})",
        Allowed(query.route)
    );
    let resolved = Resolved {
        pull_spec,
        local_rewrite: true,
        via: ResolvedVia::PullThrough,
    };
    Resolution::resolved(resolved, matched, reason)
}

fn stream_not_found(query: &TagQuery<'_>) -> Resolution {
    let error = ResolveError::StreamNotFound {
        namespace: query.namespace.to_string(),
        name: query.stream.to_string(),
    };
    let matched = Match {
        namespace: query.namespace.to_string(),
        stream: query.stream.to_string(),
        tag: query.tag.to_string(),
        stream_found: false,
        lookup_local: false,
        reference_policy: REFERENCE_POLICY_SOURCE.to_string(),
    };
    let hint = match query.route {
        Route::ShortName | Route::Forced => {
            "; lookup only searches the object's own namespace, so create the stream there or use a full pull spec"
        }
        Route::IntegratedRegistry | Route::StreamTagKind => "; check the namespace and stream name",
    };
    let reason = format!(
        "no imagestream {} exists for {} (tag {:?}){hint}",
        Stream(query),
        Subject(query),
        query.tag
    );
    Resolution::failed(error, Some(matched), reason)
}

// === explanation fragments (Display, so the hot path formats once) ===

/// `namespace/stream`.
struct Stream<'a>(&'a TagQuery<'a>);

impl fmt::Display for Stream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.namespace, self.0.stream)
    }
}

/// What the user wrote, and how it got to a lookup.
struct Subject<'a>(&'a TagQuery<'a>);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let written = self.0.written;
        match self.0.route {
            Route::ShortName => write!(f, "short name {written:?}"),
            Route::Forced => write!(f, "{written:?} (resolve-names forces lookup by name)"),
            Route::IntegratedRegistry => write!(f, "integrated-registry reference {written:?}"),
            Route::StreamTagKind => write!(f, "imagestreamtag reference {written:?}"),
        }
    }
}

/// Why the lookup policy did or did not matter for a found tag.
struct Lookup(Route);

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Route::ShortName => "lookupPolicy.local=true",
            Route::Forced => "lookupPolicy not required under resolve-names",
            Route::IntegratedRegistry | Route::StreamTagKind => {
                "lookupPolicy not required for this kind of reference"
            }
        })
    }
}

/// Why pull-through was allowed.
struct Allowed(Route);

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Route::Forced => "allowed by resolve-names",
            _ => "allowed by lookupPolicy.local=true",
        })
    }
}

/// What the reference policy did to the tag's newest image.
struct PolicyClause<'a>(Pinning, &'a str);

impl fmt::Display for PolicyClause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Pinning::Source => write!(
                f,
                "referencePolicy {} pins the tag's newest image at its source",
                self.1
            ),
            Pinning::Integrated => f.write_str(
                "referencePolicy Local pins the tag's newest image in the integrated registry",
            ),
            Pinning::LocalWithoutRepository => f.write_str(
                "referencePolicy Local has no status.dockerImageRepository to point at, \
                 so the tag's newest image is pinned at its source",
            ),
        }
    }
}

/// Why a tag has no image, naming the tag and stream.
struct Why<'a>(&'a TagQuery<'a>, Missing);

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tag, stream) = (self.0.tag, Stream(self.0));
        match self.1 {
            Missing::NoHistory | Missing::NoEvents => {
                write!(f, "tag {tag:?} of imagestream {stream} has no image yet")
            }
            Missing::ReferenceOnly => write!(
                f,
                "tag {tag:?} of imagestream {stream} has no image yet (its newest event is a \
                 reference without an image id)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::api::ImageStream;
    use crate::resolve::fixtures::*;
    use crate::resolve::{Match, ObjectRef, ResolveError, ResolvedVia};
    use ResolvedVia::{PullThrough, TagEvent};

    /// `ns/mysql`, local, with `R = H/ns/mysql`.
    fn local_mysql() -> ImageStream {
        mk_stream("ns", "mysql")
            .local()
            .repo(&repo_of("ns", "mysql"))
    }

    fn tag_not_found(tag: &str) -> Result<crate::resolve::Resolved, ResolveError> {
        Err(ResolveError::TagNotFound {
            namespace: "ns".into(),
            name: format!("mysql:{tag}"),
        })
    }

    #[test]
    fn source_policy_pins_the_event_reference_to_the_image() {
        let cases = [
            (
                format!("docker.io/library/mysql@{D}"),
                format!("docker.io/library/mysql@{D}"),
            ),
            ("quay.io/o/m:8".to_string(), format!("quay.io/o/m@{D}")),
            ("mysql:5.7".to_string(), format!("mysql@{D}")),
            (format!("quay.io/o/m:8@{D2}"), format!("quay.io/o/m@{D}")),
        ];
        for (event_ref, expected) in &cases {
            for policy in ["", "Source"] {
                let stream = local_mysql().spec_tag("8", policy).event("8", event_ref, D);
                check(&[stream], "mysql:8", false, ok(expected, true, TagEvent));
            }
            let no_spec_tag = local_mysql().event("8", event_ref, D);
            check(
                &[no_spec_tag],
                "mysql:8",
                false,
                ok(expected, true, TagEvent),
            );
        }
    }

    #[test]
    fn local_policy_pins_the_integrated_repository_when_it_has_one() {
        let with_repo = local_mysql()
            .spec_tag("8", LOCAL)
            .event("8", "quay.io/o/m:8", D);
        let expected = format!("{}@{D}", repo_of("ns", "mysql"));
        check(
            &[with_repo],
            "mysql:8",
            false,
            ok(&expected, true, TagEvent),
        );
        let without_repo =
            mk_stream("ns", "mysql")
                .local()
                .spec_tag("8", LOCAL)
                .event("8", "quay.io/o/m:8", D);
        check(
            &[without_repo],
            "mysql:8",
            false,
            ok(&format!("quay.io/o/m@{D}"), true, TagEvent),
        );
        let bad_repo =
            local_mysql()
                .repo("Not/A/Repo")
                .spec_tag("8", LOCAL)
                .event("8", "quay.io/o/m:8", D);
        check(
            &[bad_repo],
            "mysql:8",
            false,
            ok(&format!("quay.io/o/m@{D}"), true, TagEvent),
        );
    }

    #[test]
    fn non_digest_images_are_rendered_after_a_colon() {
        let stream = local_mysql().event("8", "foo/bar/baz:latest", "10");
        check(
            &[stream],
            "mysql:8",
            false,
            ok("foo/bar/baz:10", true, TagEvent),
        );
        let local = local_mysql()
            .spec_tag("8", LOCAL)
            .event("8", "foo/bar/baz:latest", "10");
        let expected = format!("{}:10", repo_of("ns", "mysql"));
        check(&[local], "mysql:8", false, ok(&expected, true, TagEvent));
    }

    #[test]
    fn only_the_newest_event_counts() {
        let stream = local_mysql()
            .event("8", "quay.io/o/m:8", D2)
            .event("8", "quay.io/o/m:old", D);
        check(
            &[stream],
            "mysql:8",
            false,
            ok(&format!("quay.io/o/m@{D2}"), true, TagEvent),
        );
        let newest_is_reference =
            local_mysql()
                .event("8", "quay.io/o/m:8", "")
                .event("8", "quay.io/o/m:old", D);
        let through = format!("{}:8", repo_of("ns", "mysql"));
        check(
            &[newest_is_reference],
            "mysql:8",
            false,
            ok(&through, true, PullThrough),
        );
    }

    #[test]
    fn missing_tags_pull_through_the_integrated_registry_when_local_or_forced() {
        let through = format!("{}:9", repo_of("ns", "mysql"));
        let spec_only = local_mysql().spec_tag("9", LOCAL);
        let empty = local_mysql().empty_history("9");
        let reference_only = local_mysql().event("9", "quay.io/o/m:9", "");
        for stream in [local_mysql(), spec_only, empty, reference_only] {
            check(&[stream], "mysql:9", false, ok(&through, true, PullThrough));
        }
        let not_local = mk_stream("ns", "mysql").repo(&repo_of("ns", "mysql"));
        check(
            std::slice::from_ref(&not_local),
            "mysql:9",
            true,
            ok(&through, true, PullThrough),
        );
        check(
            std::slice::from_ref(&not_local),
            "mysql:9",
            false,
            tag_not_found("9"),
        );
        // The fallback needs local (or force) for every route, integrated-registry included.
        check(
            &[not_local],
            &format!("{H}/ns/mysql:9"),
            false,
            tag_not_found("9"),
        );
        let full = format!("{H}/ns/mysql:9");
        check(
            &[local_mysql()],
            &full,
            false,
            ok(&through, true, PullThrough),
        );
    }

    #[test]
    fn missing_tags_stay_unresolved_without_a_repository() {
        let no_repo = mk_stream("ns", "mysql").local().spec_tag("9", "");
        check(
            std::slice::from_ref(&no_repo),
            "mysql:9",
            false,
            tag_not_found("9"),
        );
        check(&[no_repo], "mysql:9", true, tag_not_found("9"));
        let bad_repo = local_mysql().repo("Bad Repo");
        check(&[bad_repo], "mysql:9", false, tag_not_found("9"));
    }

    #[test]
    fn found_tags_need_a_local_lookup_policy_for_short_names() {
        let not_local = mk_stream("ns", "mysql").event("8", "quay.io/o/m:8", D);
        check(
            std::slice::from_ref(&not_local),
            "mysql:8",
            false,
            Err(ResolveError::LocalNotAllowed),
        );
        check(
            &[not_local],
            "mysql:8",
            true,
            ok(&format!("quay.io/o/m@{D}"), true, TagEvent),
        );
    }

    #[test]
    fn missing_streams_are_not_found() {
        let expected = Err(ResolveError::StreamNotFound {
            namespace: "ns".into(),
            name: "mysql".into(),
        });
        check(&[], "mysql:8", false, expected.clone());
        check(&[], "mysql:8", true, expected.clone());
        check(&[], &format!("{H}/ns/mysql:8"), false, expected);
    }

    #[test]
    fn a_tracking_tag_uses_its_own_status_and_policy() {
        let stream = local_mysql()
            .spec_tag("8", "Source")
            .tracking("stable", "8", LOCAL)
            .event("8", "quay.io/o/m:8", D)
            .event("stable", "quay.io/o/m:8", D2);
        let expected = format!("{}@{D2}", repo_of("ns", "mysql"));
        check(
            std::slice::from_ref(&stream),
            "mysql:stable",
            false,
            ok(&expected, true, TagEvent),
        );
        check(
            &[stream],
            "mysql:8",
            false,
            ok(&format!("quay.io/o/m@{D}"), true, TagEvent),
        );
        let source_has_no_status = local_mysql()
            .tracking("stable", "8", "")
            .event("8", "m:8", D);
        let through = format!("{}:stable", repo_of("ns", "mysql"));
        check(
            &[source_has_no_status],
            "mysql:stable",
            false,
            ok(&through, true, PullThrough),
        );
    }

    #[test]
    fn the_last_duplicate_spec_tag_decides_the_policy() {
        let stream = local_mysql()
            .spec_tag("8", LOCAL)
            .spec_tag("8", "Source")
            .event("8", "quay.io/o/m:8", D);
        check(
            &[stream],
            "mysql:8",
            false,
            ok(&format!("quay.io/o/m@{D}"), true, TagEvent),
        );
    }

    #[test]
    fn unparseable_event_references_fail() {
        let stream = local_mysql().event("8", "Not A Ref", D);
        let expected = Err(ResolveError::UnparseableEvent("Not A Ref".into()));
        check(&[stream], "mysql:8", false, expected);
        // As in OpenShift, a malformed image id is only caught when a Local policy makes the
        // id part of a string that is parsed again; under Source it is rendered as it is.
        let invalid_id = local_mysql().event("8", "quay.io/o/m:8", "sha256:zz");
        let rendered = "quay.io/o/m:sha256:zz";
        check(
            std::slice::from_ref(&invalid_id),
            "mysql:8",
            false,
            ok(rendered, true, TagEvent),
        );
        let local = invalid_id.spec_tag("8", LOCAL);
        let rendered = format!("{}:sha256:zz", repo_of("ns", "mysql"));
        check(
            &[local],
            "mysql:8",
            false,
            Err(ResolveError::UnparseableEvent(rendered)),
        );
    }

    #[test]
    fn matches_record_the_stream_tag_and_effective_policy() {
        let cases = [
            (
                local_mysql().spec_tag("8", LOCAL).event("8", "m:8", D),
                true,
                LOCAL,
            ),
            (
                local_mysql().spec_tag("8", "").event("8", "m:8", D),
                true,
                "Source",
            ),
            (
                mk_stream("ns", "mysql").event("8", "m:8", D),
                false,
                "Source",
            ),
        ];
        for (stream, lookup_local, policy) in cases {
            let matched = run(&[stream], ObjectRef::docker_image("mysql:8"), false).matched;
            let expected = Match {
                namespace: "ns".into(),
                stream: "mysql".into(),
                tag: "8".into(),
                stream_found: true,
                lookup_local,
                reference_policy: policy.into(),
            };
            assert_eq!(matched, Some(expected));
        }
        let missing = run(&[], ObjectRef::docker_image("mysql"), false)
            .matched
            .unwrap();
        assert_eq!(
            (missing.stream_found, missing.tag.as_str()),
            (false, "latest")
        );
    }

    #[test]
    fn reasons_name_the_stream_tag_and_policy_and_say_what_to_do() {
        let found = local_mysql().event("8", "m:8", D);
        let not_local = mk_stream("ns", "mysql")
            .event("8", "m:8", D)
            .repo("r/ns/mysql");
        let cases = [
            (found, "mysql:8", "short name \"mysql:8\" matched imagestream ns/mysql tag \"8\" (lookupPolicy.local=true); referencePolicy Source pins the tag's newest image at its source"),
            (not_local.clone(), "mysql:8", "imagestream ns/mysql has tag \"8\" but lookupPolicy.local is false, so short name \"mysql:8\" is not resolved; set spec.lookupPolicy.local=true or annotate the object with alpha.image.policy.openshift.io/resolve-names: \"*\""),
            (not_local, "mysql:9", "tag \"9\" of imagestream ns/mysql has no image yet, and lookupPolicy.local is false so it cannot be pulled through the integrated registry; import the tag or set spec.lookupPolicy.local=true"),
            (local_mysql(), "mysql:9", "tag \"9\" of imagestream ns/mysql has no image yet; pulling through the integrated registry as image-registry.openshift-image-registry.svc:5000/ns/mysql:9 (not pinned; allowed by lookupPolicy.local=true)"),
            (mk_stream("ns", "php"), "mysql", "no imagestream ns/mysql exists for short name \"mysql\" (tag \"latest\"); lookup only searches the object's own namespace, so create the stream there or use a full pull spec"),
        ];
        for (stream, written, expected) in cases {
            let resolution = run(&[stream], ObjectRef::docker_image(written), false);
            assert_eq!(resolution.reason, expected);
        }
    }
}
