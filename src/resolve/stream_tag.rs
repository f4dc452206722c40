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

use super::explain::{sentence, Lookup, PolicyClause, Quoted, Stream, Subject, RESOLVE_NAMES};
use super::missing::Missing;
use super::pull_through::{pull_through, stream_not_found};
use super::{CompactStream, ImageEvent};
use super::{Match, Resolution, ResolveError, Resolved, ResolvedVia, ResolverConfig, StreamLookup};
use crate::api::REFERENCE_POLICY_LOCAL;
use crate::reference::pin_onto;
use crate::reference::{is_valid_digest, ImageRef};

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

/// Which pull spec the tag's reference policy chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pinning {
    /// The event's own reference (`Source`, unset, no spec tag, or an unknown type).
    Source,
    /// `Local` with a usable `status.dockerImageRepository`.
    Integrated,
    /// `Local`, but the stream has no usable repository, so the event's reference is used.
    LocalWithoutRepository,
}

/// Resolves the query against the streams.
pub(super) fn lookup_tag(
    query: &TagQuery<'_>,
    config: &ResolverConfig,
    streams: &impl StreamLookup,
) -> Resolution {
    let Some(stream) = streams.stream(query.namespace, query.stream) else {
        return stream_not_found(query);
    };
    let matched = Some(match_for(query, stream));
    match newest_image(stream, query.tag) {
        Ok(event) => found(query, stream, event, matched),
        Err(missing) => pull_through(query, stream, missing, matched, config),
    }
}

/// Parses `reference`, clears its tag, sets its ID and renders it: what lookup writes back.
/// `None` when it does not parse or has no repository name to pin.
pub(super) fn pin_to_image(reference: &str, image: &str) -> Option<String> {
    crate::reference::pin(reference, image)
}

fn match_for(query: &TagQuery<'_>, stream: &CompactStream) -> Match {
    Match {
        namespace: query.namespace.to_string(),
        stream: query.stream.to_string(),
        tag: query.tag.to_string(),
        stream_found: true,
        lookup_local: stream.lookup_local(),
        reference_policy: stream.reference_policy(query.tag).to_string(),
    }
}

/// The tag's newest event, if it names an image (§2.2 step 3: spec tags do not resolve, they
/// only say why there is no image).
fn newest_image<'a>(stream: &'a CompactStream, tag: &str) -> Result<ImageEvent<'a>, Missing> {
    let newest = stream.history(tag).and_then(|history| history.newest());
    match newest {
        Some(event) if !event.image.is_empty() => Ok(event),
        _ => Err(Missing::of(stream, tag)),
    }
}

fn found(
    query: &TagQuery<'_>,
    stream: &CompactStream,
    event: ImageEvent<'_>,
    matched: Option<Match>,
) -> Resolution {
    if query.route == Route::ShortName && !stream.lookup_local() {
        return local_not_allowed(query, matched);
    }
    // One lookup of the spec tag for both: this runs for every pinned reference.
    let spec = stream.spec_tag(query.tag);
    let policy = spec
        .as_ref()
        .map_or(crate::api::REFERENCE_POLICY_SOURCE, |spec| {
            spec.reference_policy()
        });
    // A tag that imports, or one that follows another: its copy failed (its source is
    // missing, or failing to import itself), which the brief names, since its own from is
    // not what to fix.
    let failed = spec.as_ref().filter(|spec| spec.import_failed());
    let (imported, followed) = match failed.map(|spec| spec.source()) {
        Some(super::TagSource::DockerImage) => (true, None),
        Some(super::TagSource::StreamTag(from)) => (false, Some(FollowedTag(from))),
        _ => (false, None),
    };
    let after_failed_import = imported || followed.is_some();
    let (pull_spec, pinning) = match pinned_pull_spec(policy, stream, event) {
        Ok(pinned) => pinned,
        Err(source) => return unparseable_event(query, source, matched),
    };
    let reason = sentence(format_args!(
        "{} matched imagestream {} tag {} ({}); {}{}",
        Subject(query),
        Stream(query),
        Quoted(query.tag),
        Lookup(query.route),
        PolicyClause(pinning, policy),
        AfterFailedImport(imported),
    ));
    let resolved = Resolved {
        pull_spec,
        local_rewrite: matches!(query.route, Route::ShortName | Route::Forced),
        via: ResolvedVia::TagEvent,
        after_failed_import,
    };
    let brief = followed.map(|followed| failed_copy(query, &followed));
    let reason = match &brief {
        Some(brief) => format!("{reason}; {}", brief.summary),
        None => reason,
    };
    Resolution {
        brief,
        ..Resolution::resolved(resolved, matched, reason)
    }
}

/// The tag a failed copy follows, as its spec tag's `from` names it.
struct FollowedTag<'a>(super::FromRef<'a>);

impl std::fmt::Display for FollowedTag<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.namespace {
            "" => write!(f, "imagestreamtag {}", Quoted(self.0.name)),
            namespace => write!(
                f,
                "imagestreamtag {}",
                Quoted(&format!("{namespace}/{}", self.0.name))
            ),
        }
    }
}

/// What a pin to the image a following tag had before its last copy failed says: the tag to
/// look at is the one it follows (missing, or failing to import), not its own `from`.
fn failed_copy(query: &TagQuery<'_>, followed: &FollowedTag<'_>) -> super::Brief {
    let summary = sentence(format_args!(
        "tag {} of imagestream {} follows {followed}, and its last update from it failed, so \
         this is the image it had before; fix what the ImportSuccess condition of its \
         status.tags entry says (the tag it follows may be missing, or failing to import), \
         and the next update pins the new one",
        Quoted(query.tag),
        Stream(query),
    ));
    super::Brief {
        summary,
        detail: String::new(),
    }
}

/// What a pin to the image a tag had before its failed import adds to the reason.
struct AfterFailedImport(bool);

impl std::fmt::Display for AfterFailedImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            true => f.write_str(
                "; its last import failed, so this is the image it had before (the \
                 ImportSuccess condition of its status.tags entry says why)",
            ),
            false => Ok(()),
        }
    }
}

fn local_not_allowed(query: &TagQuery<'_>, matched: Option<Match>) -> Resolution {
    let reason = format!(
        "imagestream {} has tag {:?} but lookupPolicy.local is false, so short name {:?} is not \
         resolved; set spec.lookupPolicy.local=true or annotate the object with {RESOLVE_NAMES}",
        Stream(query),
        query.tag,
        query.written
    );
    Resolution::failed(ResolveError::LocalNotAllowed, matched, reason)
}

fn unparseable_event(query: &TagQuery<'_>, source: String, matched: Option<Match>) -> Resolution {
    let reason = format!(
        "tag {:?} of imagestream {} points at {source:?}, which is not a pullable image \
         reference; re-import the tag",
        query.tag,
        Stream(query)
    );
    Resolution::failed(ResolveError::UnparseableEvent(source), matched, reason)
}

/// The reference policy's pull spec, pinned to the event's image; `Err` carries a source
/// reference that does not parse.
fn pinned_pull_spec(
    policy: &str,
    stream: &CompactStream,
    event: ImageEvent<'_>,
) -> Result<(String, Pinning), String> {
    let (source, pinning) = reference_for_event(policy, stream, event);
    // `<repository>@<digest>` parses back to itself, so pinning it again is a wasted parse.
    if pinning == Pinning::Integrated && !source.is_empty() && is_valid_digest(event.image) {
        return Ok((source.into_owned(), pinning));
    }
    let pinned = match &source {
        // The event's own reference: its pin base was found when the index compacted it.
        Cow::Borrowed(_) => event.pin_base.map(|base| pin_onto(base, event.image)),
        Cow::Owned(owned) => pin_to_image(owned, event.image),
    };
    match pinned {
        Some(pull_spec) => Ok((pull_spec, pinning)),
        None => Err(source.into_owned()),
    }
}

/// `ResolveReferenceForTagEvent` (§2.2 step 5): the event's reference, or the integrated
/// repository pinned to the event's image under a `Local` policy.
fn reference_for_event<'a>(
    policy: &str,
    stream: &CompactStream,
    event: ImageEvent<'a>,
) -> (Cow<'a, str>, Pinning) {
    let source = Cow::Borrowed(event.reference);
    if policy != REFERENCE_POLICY_LOCAL {
        return (source, Pinning::Source);
    }
    let repository = stream.repository();
    if repository.is_empty() {
        return (source, Pinning::LocalWithoutRepository);
    }
    match stream.repository_pin_base() {
        Some(base) => (Cow::Owned(pin_onto(base, event.image)), Pinning::Integrated),
        // A bare registry parses but has no name: OpenShift renders it empty, which then
        // fails to parse; keep that outcome rather than falling back to the source.
        None if ImageRef::parse(repository).is_ok() => {
            (Cow::Owned(String::new()), Pinning::Integrated)
        }
        None => (source, Pinning::LocalWithoutRepository),
    }
}

#[cfg(test)]
mod tests {
    use crate::resolve::fixtures::*;
    use crate::resolve::{Match, ObjectRef, ResolveError, ResolvedVia};
    use ResolvedVia::{PullThrough, TagEvent};

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
    fn a_tag_whose_last_import_failed_pins_its_earlier_image_and_says_so() {
        let failed = local_mysql()
            .importing("8", "quay.io/o/m:8.1-typo")
            .event("8", "quay.io/o/m:8", D)
            .import_failed("8");
        let resolution = run(&[failed], ObjectRef::docker_image("mysql:8"), false);
        let resolved = resolution.outcome.expect("pinned");
        assert_eq!(resolved.pull_spec, format!("quay.io/o/m@{D}"));
        assert!(resolved.after_failed_import);
        assert!(
            resolution
                .reason
                .contains("its last import failed, so this is the image it had"),
            "{}",
            resolution.reason
        );
        let imported = local_mysql()
            .importing("8", "quay.io/o/m:8")
            .event("8", "quay.io/o/m:8", D);
        let resolution = run(&[imported], ObjectRef::docker_image("mysql:8"), false);
        assert!(!resolution.outcome.expect("pinned").after_failed_import);
        assert!(!resolution.reason.contains("import failed"));
    }

    #[test]
    fn a_tag_following_one_whose_import_failed_is_flagged_and_names_the_tag_it_follows() {
        let follower = local_mysql()
            .importing("8", "quay.io/o/m:8.1-typo")
            .event("8", "quay.io/o/m:8", D)
            .import_failed("8")
            .tracking("latest", "mysql:8", "")
            .event("latest", "quay.io/o/m:8", D)
            .import_failed("latest");
        let resolution = run(&[follower], ObjectRef::docker_image("mysql:latest"), false);
        assert!(resolution.outcome.expect("pinned").after_failed_import);
        let brief = resolution.brief.expect("a brief naming the followed tag");
        let expected =
            "tag \"latest\" of imagestream ns/mysql follows imagestreamtag \"mysql:8\", \
                        and its last update from it failed, so this is the image it had before; \
                        fix what the ImportSuccess condition of its status.tags entry says (the \
                        tag it follows may be missing, or failing to import), and the next \
                        update pins the new one";
        assert_eq!(brief.summary, expected);
        assert!(
            resolution.reason.ends_with(expected),
            "{}",
            resolution.reason
        );
        assert!(!resolution.reason.contains("its last import failed"));
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
        // library-go helpers_test "local lookup to sha".
        let upstream = local_mysql()
            .repo("registry.test.svc/test/stream1")
            .spec_tag("8", LOCAL)
            .event("8", "quay.io/o/m:8", D2);
        let expected = format!("registry.test.svc/test/stream1@{D2}");
        check(&[upstream], "mysql:8", false, ok(&expected, true, TagEvent));
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
    fn local_pinning_skips_a_reparse_that_would_change_nothing() {
        let repositories = [
            "r.io/ns/mysql",
            "localhost:5000/a",
            "localhost/a",
            "docker.io/mysql",
            "a/b/c/d",
            "r:5000/ns/n:tag",
            "mysql",
        ];
        for repository in repositories {
            let stream = local_mysql()
                .repo(repository)
                .spec_tag("8", LOCAL)
                .event("8", "m:8", D);
            let once = super::pin_to_image(repository, D).unwrap();
            let twice = super::pin_to_image(&once, D).unwrap();
            check(&[stream], "mysql:8", false, ok(&twice, true, TagEvent));
        }
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
}
