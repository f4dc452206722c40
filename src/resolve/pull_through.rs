//! Tags without an image, and streams that are missing (openshift-semantics §2.3 step 6).
//!
//! A stream that exists but whose tag has no usable image still resolves, unpinned, to
//! `<status.dockerImageRepository>:<tag>` when the stream is local (or the object forces
//! resolution), so the pod pulls through the integrated registry.

use super::explain::{Allowed, Stream, Subject};
use super::missing::{Advice, Missing, Why};
use super::stream_tag::{Route, TagQuery};
use super::{CompactStream, Match, Resolution, ResolveError, Resolved, ResolvedVia};
use crate::api::REFERENCE_POLICY_SOURCE;
use crate::reference::ImageRef;

/// §2.3 step 6: a stream that exists but whose tag has no image still resolves, unpinned,
/// through the integrated registry when the stream is local (or forced) and has a repository.
/// The reason says which way the tag lacks an image and what would give it one.
pub(super) fn pull_through(
    query: &TagQuery<'_>,
    stream: &CompactStream,
    missing: Missing,
    matched: Option<Match>,
) -> Resolution {
    let (why, advice) = (Why(query, stream, missing), Advice(query, stream, missing));
    let mut through = match repository_to_pull_through(query.route, stream) {
        Ok(through) => through,
        Err(refusal) => {
            let error = ResolveError::TagNotFound {
                namespace: query.namespace.to_string(),
                name: format!("{}:{}", query.stream, query.tag),
            };
            let reason = format!("{why}, and {refusal}; {advice}");
            return Resolution::failed(error, matched, reason);
        }
    };
    through.tag = query.tag.to_string();
    let pull_spec = through.exact();
    let reason = format!(
        "{why}, so it is pulled by tag through the integrated registry as {pull_spec} ({}); \
         {advice}",
        Allowed(query.route)
    );
    let resolved = Resolved {
        pull_spec,
        local_rewrite: true,
        via: ResolvedVia::PullThrough,
    };
    Resolution::resolved(resolved, matched, reason)
}

/// The parsed `status.dockerImageRepository`, or why the fallback does not apply.
fn repository_to_pull_through(route: Route, stream: &CompactStream) -> Result<ImageRef, String> {
    if route != Route::Forced && !stream.lookup_local() {
        return Err(
            "lookupPolicy.local is false so it cannot be pulled through the integrated \
             registry (set spec.lookupPolicy.local=true to allow that)"
                .to_string(),
        );
    }
    let repository = stream.repository();
    if repository.is_empty() {
        return Err(
            "the stream has no status.dockerImageRepository (no integrated registry is \
             configured) to pull through"
                .to_string(),
        );
    }
    ImageRef::parse(repository).map_err(|_| {
        format!(
            "its status.dockerImageRepository {repository:?} is not a valid repository to pull \
             through"
        )
    })
}

/// The stream itself is missing: nothing to pull through.
pub(super) fn stream_not_found(query: &TagQuery<'_>) -> Resolution {
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

#[cfg(test)]
mod tests {
    use crate::resolve::fixtures::*;
    use crate::resolve::ResolveError;
    use crate::resolve::ResolvedVia::PullThrough;

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
    fn missing_streams_are_not_found() {
        let expected = Err(ResolveError::StreamNotFound {
            namespace: "ns".into(),
            name: "mysql".into(),
        });
        check(&[], "mysql:8", false, expected.clone());
        check(&[], "mysql:8", true, expected.clone());
        check(&[], &format!("{H}/ns/mysql:8"), false, expected);
    }
}
