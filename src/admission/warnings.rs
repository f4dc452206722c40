//! Warnings: why a reference was not rewritten, not pinned, or rejected, when a user would want
//! to know.
//!
//! Silence is the default for references that are admitted: a missing stream or a registry
//! reference (`docker.io/…`) is the normal case for images that never meant to use lookup.
//! Under a `Required` policy the same references are the reason the object is rejected, and
//! OpenShift's denial detail for a missing stream is empty, so they are explained.
//!
//! Where the resolver's reason already says which case applies and what to do (a tag without
//! an image), the warning carries that reason rather than deriving a second one.

use super::locate::Reference;
use crate::resolve::{Match, Resolution, ResolveError, ResolvedVia};

/// The warning for one admitted reference, without its field path; `None` when there is
/// nothing to say. `rewritten` is whether the mode writes the resolution back.
pub(crate) fn explain(
    reference: &Reference,
    resolution: &Resolution,
    rewritten: bool,
    force: bool,
) -> Option<String> {
    let written = reference.display();
    match &resolution.outcome {
        // Not "rewritten to": the pull-through spec may be the reference exactly as written.
        Ok(resolved) if rewritten && resolved.via == ResolvedVia::PullThrough => {
            Some(format!("{written:?} not pinned: {}", resolution.reason))
        }
        Ok(_) => None,
        Err(error) => explain_error(&written, error, resolution, force),
    }
}

/// The warning for a reference whose resolution error rejects the object (`Required`), for
/// errors whose denial detail does not already say what to do. `object_namespace` tells
/// whether the namespace searched was the object's own.
pub(crate) fn rejected(
    reference: &Reference,
    resolution: &Resolution,
    object_namespace: &str,
) -> Option<String> {
    let written = reference.display();
    let error = resolution.outcome.as_ref().err()?;
    let why = match error {
        ResolveError::StreamNotFound { namespace, name } => {
            let only_own = if namespace == object_namespace {
                " (lookup searches only the object's namespace)"
            } else {
                ""
            };
            format!(
                "{MUST_RESOLVE}, and namespace {namespace:?} has no image stream {name:?}{only_own}; \
                 create the stream there, or pin the image by digest"
            )
        }
        ResolveError::TagNotFound { .. } | ResolveError::StreamImageNotFound { .. } => {
            resolution.reason.clone()
        }
        ResolveError::LocalNotAllowed => lookup_off(resolution.matched.as_ref()),
        ResolveError::NotExact(_) => format!(
            "{MUST_RESOLVE}, and only digests, short names of image streams and \
             integrated-registry references resolve; pin the image by digest"
        ),
        _ => return None,
    };
    Some(format!("{written:?} rejected: {why}"))
}

/// Why a `Required` policy rejects what `Attempt` would pass through.
const MUST_RESOLVE: &str = "the image policy requires every image to resolve";

fn explain_error(
    written: &str,
    error: &ResolveError,
    resolution: &Resolution,
    force: bool,
) -> Option<String> {
    let matched = resolution.matched.as_ref();
    let local_off = matched.is_some_and(|found| found.stream_found && !found.lookup_local);
    match error {
        ResolveError::StreamNotFound { .. } | ResolveError::NotExact(_) => None,
        ResolveError::LocalNotAllowed => Some(not_rewritten(written, &lookup_off(matched))),
        ResolveError::TagNotFound { .. } if local_off && !force => {
            Some(not_rewritten(written, &lookup_off(matched)))
        }
        ResolveError::TagNotFound { .. } => Some(not_rewritten(written, &resolution.reason)),
        other => Some(format!("{written:?} not resolved: {other}")),
    }
}

fn not_rewritten(written: &str, why: &str) -> String {
    format!("{written:?} not rewritten: {why}")
}

fn lookup_off(matched: Option<&Match>) -> String {
    let stream = matched.map_or("", |found| found.stream.as_str());
    format!(
        "image stream {stream:?} has spec.lookupPolicy.local false; set it to true or add the \
         resolve-names annotation"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ParseError;
    use crate::resolve::Resolved;

    const REASON: &str = "the resolver's reason";

    fn docker(name: &str) -> Reference {
        Reference {
            kind: "DockerImage".to_string(),
            name: name.to_string(),
            namespace: String::new(),
        }
    }

    fn matched(local: bool) -> Option<Match> {
        Some(Match {
            namespace: "ns".into(),
            stream: "mysql".into(),
            tag: "8".into(),
            stream_found: true,
            lookup_local: local,
            reference_policy: "Source".into(),
        })
    }

    fn resolution(outcome: Result<Resolved, ResolveError>, local: bool) -> Resolution {
        Resolution {
            outcome,
            matched: matched(local),
            reason: REASON.to_string(),
        }
    }

    fn check(
        outcome: Result<Resolved, ResolveError>,
        local: bool,
        rewritten: bool,
        expected: Option<&str>,
    ) {
        let resolution = resolution(outcome, local);
        let warning = explain(&docker("mysql:8"), &resolution, rewritten, false);
        assert_eq!(warning.as_deref(), expected);
    }

    fn check_rejected(
        outcome: Result<Resolved, ResolveError>,
        written: &str,
        expected: Option<&str>,
    ) {
        let warning = rejected(&docker(written), &resolution(outcome, true), "ns");
        assert_eq!(warning.as_deref(), expected);
    }

    fn resolved(via: ResolvedVia) -> Result<Resolved, ResolveError> {
        Ok(Resolved {
            pull_spec: "registry/ns/mysql:8".into(),
            local_rewrite: true,
            via,
        })
    }

    fn tag_not_found() -> Result<Resolved, ResolveError> {
        Err(ResolveError::TagNotFound {
            namespace: "ns".into(),
            name: "mysql:8".into(),
        })
    }

    fn stream_not_found(namespace: &str) -> Result<Resolved, ResolveError> {
        Err(ResolveError::StreamNotFound {
            namespace: namespace.into(),
            name: "nginx".into(),
        })
    }

    #[test]
    fn pull_through_rewrites_carry_the_resolvers_reason_without_claiming_a_rewrite() {
        check(
            resolved(ResolvedVia::PullThrough),
            true,
            true,
            Some("\"mysql:8\" not pinned: the resolver's reason"),
        );
        check(resolved(ResolvedVia::PullThrough), true, false, None);
        check(resolved(ResolvedVia::TagEvent), true, true, None);
    }

    #[test]
    fn disabled_lookup_says_how_to_enable_it() {
        let expected = Some("\"mysql:8\" not rewritten: image stream \"mysql\" has spec.lookupPolicy.local false; set it to true or add the resolve-names annotation");
        check(Err(ResolveError::LocalNotAllowed), false, false, expected);
        check(tag_not_found(), false, false, expected);
    }

    #[test]
    fn tags_without_an_image_carry_the_resolvers_reason() {
        check(
            tag_not_found(),
            true,
            false,
            Some("\"mysql:8\" not rewritten: the resolver's reason"),
        );
    }

    #[test]
    fn missing_streams_and_registry_references_are_silent_when_admitted() {
        check(stream_not_found("ns"), false, false, None);
        check(
            Err(ResolveError::NotExact("docker.io/mysql".into())),
            false,
            false,
            None,
        );
    }

    #[test]
    fn malformed_references_are_reported() {
        check(
            Err(ResolveError::Parse(ParseError::NameContainsUppercase)),
            false,
            false,
            Some("\"mysql:8\" not resolved: repository name must be lowercase"),
        );
    }

    #[test]
    fn a_rejected_missing_stream_names_the_namespace_searched_and_what_to_do() {
        check_rejected(
            stream_not_found("ns"),
            "nginx",
            Some("\"nginx\" rejected: the image policy requires every image to resolve, and namespace \"ns\" has no image stream \"nginx\" (lookup searches only the object's namespace); create the stream there, or pin the image by digest"),
        );
        check_rejected(
            stream_not_found("other"),
            "registry/other/nginx",
            Some("\"registry/other/nginx\" rejected: the image policy requires every image to resolve, and namespace \"other\" has no image stream \"nginx\"; create the stream there, or pin the image by digest"),
        );
    }

    #[test]
    fn other_rejections_say_why_unless_the_denial_already_does() {
        check_rejected(
            tag_not_found(),
            "mysql:8",
            Some("\"mysql:8\" rejected: the resolver's reason"),
        );
        check_rejected(
            Err(ResolveError::LocalNotAllowed),
            "mysql:8",
            Some("\"mysql:8\" rejected: image stream \"mysql\" has spec.lookupPolicy.local false; set it to true or add the resolve-names annotation"),
        );
        check_rejected(
            Err(ResolveError::NotExact("docker.io/nginx:1".into())),
            "docker.io/nginx:1",
            Some("\"docker.io/nginx:1\" rejected: the image policy requires every image to resolve, and only digests, short names of image streams and integrated-registry references resolve; pin the image by digest"),
        );
        let parse = Err(ResolveError::Parse(ParseError::NameContainsUppercase));
        check_rejected(parse, "MySQL", None);
        check_rejected(resolved(ResolvedVia::PullThrough), "mysql:8", None);
    }
}
