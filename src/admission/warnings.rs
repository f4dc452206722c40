//! Warnings: why a reference was not rewritten, or not pinned, when a user would want to know.
//!
//! Silence is the default. A missing stream or a registry reference (`docker.io/…`) is the
//! normal case for images that never meant to use lookup, so those say nothing.

use super::locate::Reference;
use crate::resolve::{Match, Resolution, ResolveError, ResolvedVia};

/// The warning for one reference, without its field path; `None` when there is nothing to say.
pub(crate) fn explain(
    reference: &Reference,
    resolution: &Resolution,
    rewritten: bool,
    force: bool,
) -> Option<String> {
    let written = reference.display();
    match &resolution.outcome {
        Ok(resolved) if rewritten && resolved.via == ResolvedVia::PullThrough => Some(format!(
            "{written:?} rewritten to {:?}, which is not pinned: {}; import the tag to pin a digest",
            resolved.pull_spec,
            tag_has_no_image(resolution.matched.as_ref()),
        )),
        Ok(_) => None,
        Err(error) => explain_error(&written, error, resolution.matched.as_ref(), force),
    }
}

fn explain_error(
    written: &str,
    error: &ResolveError,
    matched: Option<&Match>,
    force: bool,
) -> Option<String> {
    let local_off = matched.is_some_and(|found| found.stream_found && !found.lookup_local);
    match error {
        ResolveError::StreamNotFound { .. } | ResolveError::NotExact(_) => None,
        ResolveError::LocalNotAllowed => Some(lookup_disabled(written, matched)),
        ResolveError::TagNotFound { .. } if local_off && !force => {
            Some(lookup_disabled(written, matched))
        }
        ResolveError::TagNotFound { .. } => Some(format!(
            "{written:?} not rewritten: {}; import the tag",
            tag_has_no_image(matched)
        )),
        other => Some(format!("{written:?} not resolved: {other}")),
    }
}

fn lookup_disabled(written: &str, matched: Option<&Match>) -> String {
    let stream = matched.map_or("", |found| found.stream.as_str());
    format!(
        "{written:?} not rewritten: image stream {stream:?} has spec.lookupPolicy.local false; \
         set it to true or add the resolve-names annotation"
    )
}

fn tag_has_no_image(matched: Option<&Match>) -> String {
    match matched {
        Some(found) => format!(
            "tag {:?} of image stream {:?} has no image yet",
            found.tag, found.stream
        ),
        None => "the tag has no image yet".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ParseError;
    use crate::resolve::Resolved;

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

    fn resolution(outcome: Result<Resolved, ResolveError>, matched: Option<Match>) -> Resolution {
        Resolution {
            outcome,
            matched,
            reason: String::new(),
        }
    }

    fn check(
        outcome: Result<Resolved, ResolveError>,
        local: bool,
        rewritten: bool,
        expected: Option<&str>,
    ) {
        let resolution = resolution(outcome, matched(local));
        let warning = explain(&docker("mysql:8"), &resolution, rewritten, false);
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

    #[test]
    fn pull_through_rewrites_warn_that_they_are_not_pinned() {
        check(
            resolved(ResolvedVia::PullThrough),
            true,
            true,
            Some("\"mysql:8\" rewritten to \"registry/ns/mysql:8\", which is not pinned: tag \"8\" of image stream \"mysql\" has no image yet; import the tag to pin a digest"),
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
    fn missing_tags_of_local_streams_ask_for_an_import() {
        check(
            tag_not_found(),
            true,
            false,
            Some("\"mysql:8\" not rewritten: tag \"8\" of image stream \"mysql\" has no image yet; import the tag"),
        );
    }

    #[test]
    fn missing_streams_and_registry_references_are_silent() {
        let missing = ResolveError::StreamNotFound {
            namespace: "ns".into(),
            name: "mysql".into(),
        };
        check(Err(missing), false, false, None);
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
}
