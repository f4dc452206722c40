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

use std::fmt;
use std::ops::Deref;

use super::locate::Reference;
use crate::api::policy::RESOLVE_NAMES_ANNOTATION;
use crate::reference::ParseError;
use crate::resolve::{Match, Resolution, ResolveError, ResolvedVia};

mod architecture;
mod limit;

pub(crate) use architecture::mismatch as architecture_mismatch;

pub(crate) use limit::for_response;

/// The metric label of a part of the object that cannot be read for its kind.
pub(crate) const UNREADABLE: &str = "unreadable";

/// The metric label of a reference pulled through by tag, not pinned.
const NOT_PINNED: &str = "not_pinned";

/// The metric label of a pin to the image a tag had before its last import failed.
const PINNED_AFTER_FAILED_IMPORT: &str = "pinned_after_failed_import";

/// The metric label of an image trigger that wrote nothing.
const TRIGGER_NOT_APPLIED: &str = "trigger_not_applied";

/// Every label a warning gives that is not a resolution error's ([`ResolveError::LABELS`]).
pub(crate) const OWN_REASONS: [&str; 5] = [
    NOT_PINNED,
    architecture::REASON,
    PINNED_AFTER_FAILED_IMPORT,
    TRIGGER_NOT_APPLIED,
    UNREADABLE,
];

/// One warning, short-first: it starts with what happened and what to do (its short form),
/// and the detail follows, so a reader who sees only the start still knows what to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Warning {
    text: String,
    /// Where the short form ends, in bytes.
    short: usize,
    /// Why, as a metric label: `not_pinned`, or the resolution error's label.
    reason: &'static str,
}

impl Warning {
    /// `<subject>: <summary>[; <detail>]`.
    fn new(subject: fmt::Arguments<'_>, summary: &str, detail: &str) -> Self {
        let mut text = format!("{subject}: {summary}");
        let short = text.len();
        if !detail.is_empty() {
            text.push_str("; ");
            text.push_str(detail);
        }
        Self {
            text,
            short,
            reason: "",
        }
    }

    /// The same warning, labelled with why `resolution` left its reference unpinned, unless
    /// the warning gives another cause itself (see [`Self::because`]).
    fn labelled(self, resolution: &Resolution) -> Self {
        if !self.reason.is_empty() {
            return self;
        }
        let reason = match &resolution.outcome {
            Ok(_) => NOT_PINNED,
            Err(error) => error.label(),
        };
        Self { reason, ..self }
    }

    /// The same warning, labelled with the cause it names (a stream's lookup being off also
    /// explains a tag it lacks).
    fn because(self, reason: &'static str) -> Self {
        Self { reason, ..self }
    }

    /// A warning about an `image.openshift.io/triggers` trigger (or the annotation): `subject`
    /// says which, `summary` what happened and what is done instead.
    pub(crate) fn about_triggers(subject: &str, summary: &str, detail: &str) -> Self {
        Self::new(format_args!("{subject}"), summary, detail).because(TRIGGER_NOT_APPLIED)
    }

    /// A warning about a part of the object that cannot be read for its kind (see
    /// [`super::unreadable`]): `subject` says what is there instead of what.
    pub(crate) fn unreadable(subject: &str) -> Self {
        Self::new(format_args!("{subject}"), "not resolved", "").because(UNREADABLE)
    }

    /// The warning for a request whose operation admission.k8s.io/v1 does not define: it is
    /// passed through, and says so.
    pub(crate) fn unknown_operation() -> Self {
        Self::new(
            format_args!("request.operation is not CREATE, UPDATE, DELETE or CONNECT"),
            "nothing resolved",
            "",
        )
    }

    /// What happened and what to do, without the detail.
    pub(crate) fn short(&self) -> &str {
        &self.text[..self.short]
    }

    /// Why the reference is not pinned, as a stable snake_case metric label.
    pub(crate) fn reason(&self) -> &'static str {
        self.reason
    }
}

impl Deref for Warning {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The warning for one admitted reference, without its field path; `None` when there is
/// nothing to say. `rewritten` is whether the mode writes the resolution back.
pub(crate) fn explain(
    reference: &Reference,
    resolution: &Resolution,
    rewritten: bool,
    force: bool,
) -> Option<Warning> {
    let written = reference.display();
    let warning = match &resolution.outcome {
        // Not "rewritten to": the pull-through spec may be the reference exactly as written.
        Ok(resolved) if rewritten && resolved.via == ResolvedVia::PullThrough => {
            Some(from_reason(&written, "not pinned", resolution))
        }
        Ok(resolved) if rewritten && resolved.after_failed_import => {
            Some(after_failed_import(&written, resolution))
        }
        Ok(_) => None,
        Err(error) => explain_error(reference, &written, error, resolution, force),
    };
    warning.map(|warning| warning.labelled(resolution))
}

/// The warning for a reference whose resolution error rejects the object (`Required`), for
/// errors whose denial detail does not already say what to do. `object_namespace` tells
/// whether the namespace searched was the object's own.
pub(crate) fn rejected(
    reference: &Reference,
    resolution: &Resolution,
    object_namespace: &str,
) -> Option<Warning> {
    let written = reference.display();
    let subject = format_args!("{written:?} rejected");
    let error = resolution.outcome.as_ref().err()?;
    let warning = match error {
        ResolveError::StreamNotFound { namespace, name } => {
            let only_own = if namespace == object_namespace {
                ", and lookup searches only the object's namespace"
            } else {
                ""
            };
            let summary = format!(
                "namespace {namespace:?} has no image stream {name:?}; create the stream there, \
                 or pin the image by digest"
            );
            Warning::new(subject, &summary, &format!("{MUST_RESOLVE}{only_own}"))
        }
        ResolveError::TagNotFound { .. }
        | ResolveError::NoPullThrough { .. }
        | ResolveError::StreamImageNotFound { .. } => {
            return Some(from_reason(&written, "rejected", resolution).labelled(resolution));
        }
        ResolveError::LocalNotAllowed => {
            Warning::new(subject, &lookup_off(resolution.matched.as_ref()), "")
        }
        // The resolver's reason says which integrated registry (if any) the reference was
        // compared with: an integrated-registry reference is refused only where none is set.
        ResolveError::NotExact(_) => Warning::new(
            subject,
            "not an image stream name; pin the image by digest",
            &format!("{MUST_RESOLVE}: {}", resolution.reason),
        ),
        _ => return None,
    };
    Some(warning.labelled(resolution))
}

/// Why a `Required` policy rejects what `Attempt` would pass through.
const MUST_RESOLVE: &str = "the image policy requires every image to resolve";

/// The resolver's reason, short-first where it has a short-first form.
/// A reference pinned to the image its tag had before its last import failed: the pin is
/// written (it is what OpenShift writes), but a `from` changed to a tag that does not import
/// (a typo in a version bump) would otherwise go on deploying the old image unnoticed.
fn after_failed_import(written: &str, resolution: &Resolution) -> Warning {
    let subject = format_args!("{written:?} pinned to an earlier image");
    // A tag that follows another: the resolver's brief names the tag it follows.
    if let Some(brief) = &resolution.brief {
        let warning = Warning::new(subject, &brief.summary, &brief.detail);
        return warning.because(PINNED_AFTER_FAILED_IMPORT);
    }
    let tag = match resolution.matched.as_ref() {
        Some(found) => format!(
            "tag {:?} of imagestream {}/{}",
            found.tag, found.namespace, found.stream
        ),
        None => "its tag".to_string(),
    };
    let summary = format!(
        "the last import of {tag} failed, so this is the image it had before; fix what the \
         ImportSuccess condition of its status.tags entry says (a source that moved or is \
         misspelt, a missing pull secret, an unreachable registry), and the next import pins \
         the new one"
    );
    Warning::new(subject, &summary, "").because(PINNED_AFTER_FAILED_IMPORT)
}

fn from_reason(written: &str, outcome: &str, resolution: &Resolution) -> Warning {
    let subject = format_args!("{written:?} {outcome}");
    match &resolution.brief {
        Some(brief) => Warning::new(subject, &brief.summary, &brief.detail),
        None => Warning::new(subject, &resolution.reason, ""),
    }
}

fn explain_error(
    reference: &Reference,
    written: &str,
    error: &ResolveError,
    resolution: &Resolution,
    force: bool,
) -> Option<Warning> {
    let matched = resolution.matched.as_ref();
    // An `ImageStreamTag` reference (a Build's `from`) needs no lookup policy (§2.4): a tag
    // it cannot find is missing, whatever the stream's lookup says.
    let lookup_applies = reference.kind != "ImageStreamTag";
    let local_off =
        lookup_applies && matched.is_some_and(|found| found.stream_found && !found.lookup_local);
    let not_rewritten = format_args!("{written:?} not rewritten");
    match error {
        ResolveError::StreamNotFound { .. } | ResolveError::NotExact(_) => None,
        // `""` or `" "`: the placeholder an OpenShift template leaves for a DeploymentConfig's
        // image change trigger to fill, not a reference anybody wrote.
        ResolveError::Parse(_) if reference.name.trim().is_empty() => None,
        ResolveError::LocalNotAllowed => {
            Some(Warning::new(not_rewritten, &lookup_off(matched), ""))
        }
        ResolveError::TagNotFound { .. } if local_off && !force => {
            let warning = Warning::new(not_rewritten, &lookup_off(matched), "");
            Some(warning.because(ResolveError::LocalNotAllowed.label()))
        }
        ResolveError::TagNotFound { .. } | ResolveError::NoPullThrough { .. } => {
            Some(from_reason(written, "not rewritten", resolution))
        }
        ResolveError::Parse(parse) => Some(Warning::new(
            format_args!("{written:?} not resolved"),
            &format!("{parse}; {}", parse_advice(parse, &reference.name)),
            "",
        )),
        other => Some(Warning::new(
            format_args!("{written:?} not resolved"),
            &other.to_string(),
            "",
        )),
    }
}

/// What to do about a reference that does not parse; the kubelet cannot pull it either.
fn parse_advice(error: &ParseError, written: &str) -> &'static str {
    match error {
        _ if written.trim() != written => "remove the spaces around it",
        ParseError::NameEmpty => "write an image name before the tag or digest",
        ParseError::NameContainsUppercase => {
            "write the repository in lower case (only a tag may hold capitals)"
        }
        ParseError::InvalidFormat => {
            "write it as [host[:port]/]name[:tag][@digest], without spaces or a second \
             ':' or '@'"
        }
        ParseError::NameTooLong => "shorten the name, host included, to 255 characters",
        ParseError::UnsupportedDigest => "use a sha256, sha384 or sha512 digest",
        ParseError::InvalidDigestLength | ParseError::InvalidDigestFormat => {
            "copy the whole digest: lower-case hex, 64 digits for sha256 (96 for sha384, 128 \
             for sha512)"
        }
    }
}

/// Only the exact value `*` of the annotation counts (OpenShift's `ResolveAllNames`), so
/// the warning gives it whole: a user who wrote `"true"` learns why it did nothing.
fn lookup_off(matched: Option<&Match>) -> String {
    let stream = matched.map_or("", |found| found.stream.as_str());
    format!(
        "image stream {stream:?} has spec.lookupPolicy.local false; set it to true, or \
         annotate the pod template (or the object, if it has none) with \
         {RESOLVE_NAMES_ANNOTATION}: \"*\", the only value that counts"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::{Brief, Resolved};

    const REASON: &str = "the resolver's reason";

    fn docker(name: &str) -> Reference {
        Reference {
            kind: "DockerImage".to_string(),
            name: name.to_string(),
            namespace: String::new(),
        }
    }

    fn stream_tag(name: &str) -> Reference {
        Reference {
            kind: "ImageStreamTag".to_string(),
            ..docker(name)
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
            brief: None,
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
            after_failed_import: false,
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
    fn a_pin_to_the_image_before_a_failed_import_is_warned_and_labelled() {
        let mut earlier = resolved(ResolvedVia::TagEvent).unwrap();
        earlier.after_failed_import = true;
        let mut found = resolution(Ok(earlier), true);
        found.matched = Some(Match {
            namespace: "ns".into(),
            stream: "mysql".into(),
            tag: "8".into(),
            ..Match::default()
        });
        let warning = explain(&docker("mysql:8"), &found, true, false).expect("a warning");
        assert_eq!(
            warning.short(),
            "\"mysql:8\" pinned to an earlier image: the last import of tag \"8\" of imagestream \
             ns/mysql failed, so this is the image it had before; fix what the ImportSuccess \
             condition of its status.tags entry says (a source that moved or is misspelt, a \
             missing pull secret, an unreachable registry), and the next import pins the new one"
        );
        assert_eq!(warning.reason(), "pinned_after_failed_import");
        // Not rewritten (a rule left it as written): nothing was pinned to warn about.
        assert_eq!(explain(&docker("mysql:8"), &found, false, false), None);
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
    fn a_brief_reason_gives_what_to_do_first_and_its_detail_after() {
        let mut found = resolution(resolved(ResolvedVia::PullThrough), true);
        found.brief = Some(Brief {
            summary: "what happened; what to do".into(),
            detail: "the tags".into(),
        });
        let warning = explain(&docker("mysql:8"), &found, true, false).unwrap();
        assert_eq!(
            &*warning,
            "\"mysql:8\" not pinned: what happened; what to do; the tags"
        );
        assert_eq!(
            warning.short(),
            "\"mysql:8\" not pinned: what happened; what to do"
        );
        found.outcome = tag_not_found();
        let rejected = rejected(&docker("mysql:8"), &found, "ns").unwrap();
        assert_eq!(
            rejected.short(),
            "\"mysql:8\" rejected: what happened; what to do"
        );
    }

    #[test]
    fn disabled_lookup_says_how_to_enable_it() {
        let expected = Some("\"mysql:8\" not rewritten: image stream \"mysql\" has spec.lookupPolicy.local false; set it to true, or annotate the pod template (or the object, if it has none) with alpha.image.policy.openshift.io/resolve-names: \"*\", the only value that counts");
        check(Err(ResolveError::LocalNotAllowed), false, false, expected);
        check(tag_not_found(), false, false, expected);
    }

    #[test]
    fn a_build_tag_the_stream_lacks_is_blamed_on_the_tag_not_on_lookup() {
        let missing = resolution(tag_not_found(), false);
        let warning = explain(&stream_tag("mysql:8"), &missing, false, false).unwrap();
        assert_eq!(
            &*warning,
            "\"ImageStreamTag mysql:8\" not rewritten: the resolver's reason"
        );
        assert_eq!(warning.reason(), "tag_not_found");
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
            Some("\"mysql:8\" not resolved: repository name must be lowercase; write the repository in lower case (only a tag may hold capitals)"),
        );
    }

    #[test]
    fn each_malformed_reference_says_how_to_write_it() {
        let cases = [
            (" mysql", ParseError::InvalidFormat, "remove the spaces around it"),
            ("mysql:8:9", ParseError::InvalidFormat, "write it as [host[:port]/]name[:tag][@digest], without spaces or a second ':' or '@'"),
            (":8", ParseError::NameEmpty, "write an image name before the tag or digest"),
            ("MySQL", ParseError::NameContainsUppercase, "write the repository in lower case (only a tag may hold capitals)"),
            ("a/b", ParseError::NameTooLong, "shorten the name, host included, to 255 characters"),
            ("m@md5:0", ParseError::UnsupportedDigest, "use a sha256, sha384 or sha512 digest"),
            ("m@sha256:0", ParseError::InvalidDigestLength, "copy the whole digest: lower-case hex, 64 digits for sha256 (96 for sha384, 128 for sha512)"),
            ("m@sha256:X", ParseError::InvalidDigestFormat, "copy the whole digest: lower-case hex, 64 digits for sha256 (96 for sha384, 128 for sha512)"),
        ];
        for (written, error, advice) in cases {
            let expected = format!("{written:?} not resolved: {error}; {advice}");
            let parse = resolution(Err(ResolveError::Parse(error)), true);
            let warning = explain(&docker(written), &parse, false, false).expect("a warning");
            assert_eq!(&*warning, expected);
            assert_eq!(warning.short(), expected, "the advice is in the short form");
        }
    }

    #[test]
    fn a_blank_placeholder_is_not_warned_about_when_admitted() {
        for blank in ["", " "] {
            let parse = Err(ResolveError::Parse(ParseError::InvalidFormat));
            let warning = explain(&docker(blank), &resolution(parse, false), false, false);
            assert_eq!(warning, None, "{blank:?}");
        }
    }

    #[test]
    fn a_rejected_missing_stream_names_the_namespace_searched_and_what_to_do() {
        check_rejected(
            stream_not_found("ns"),
            "nginx",
            Some("\"nginx\" rejected: namespace \"ns\" has no image stream \"nginx\"; create the stream there, or pin the image by digest; the image policy requires every image to resolve, and lookup searches only the object's namespace"),
        );
        check_rejected(
            stream_not_found("other"),
            "registry/other/nginx",
            Some("\"registry/other/nginx\" rejected: namespace \"other\" has no image stream \"nginx\"; create the stream there, or pin the image by digest; the image policy requires every image to resolve"),
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
            Some("\"mysql:8\" rejected: image stream \"mysql\" has spec.lookupPolicy.local false; set it to true, or annotate the pod template (or the object, if it has none) with alpha.image.policy.openshift.io/resolve-names: \"*\", the only value that counts"),
        );
        check_rejected(
            Err(ResolveError::NotExact("docker.io/nginx:1".into())),
            "docker.io/nginx:1",
            Some("\"docker.io/nginx:1\" rejected: not an image stream name; pin the image by digest; the image policy requires every image to resolve: the resolver's reason"),
        );
        let parse = Err(ResolveError::Parse(ParseError::NameContainsUppercase));
        check_rejected(parse, "MySQL", None);
        check_rejected(resolved(ResolvedVia::PullThrough), "mysql:8", None);
    }

    #[test]
    fn every_warning_is_labelled_with_why_its_reference_is_not_pinned() {
        let explained = |outcome, local| {
            explain(&docker("mysql:8"), &resolution(outcome, local), true, false)
                .map(|warning| warning.reason())
        };
        assert_eq!(
            explained(resolved(ResolvedVia::PullThrough), true),
            Some("not_pinned")
        );
        assert_eq!(explained(tag_not_found(), true), Some("tag_not_found"));
        assert_eq!(
            explained(Err(ResolveError::LocalNotAllowed), false),
            Some("local_not_allowed")
        );
        // A tag the stream lacks, where the stream's lookup is off: the warning names the
        // lookup, and so does the label.
        assert_eq!(explained(tag_not_found(), false), Some("local_not_allowed"));
        let parse = Err(ResolveError::Parse(ParseError::NameContainsUppercase));
        assert_eq!(explained(parse, false), Some("parse_error"));
        let refused = |outcome| {
            rejected(&docker("nginx"), &resolution(outcome, true), "ns").map(|w| w.reason())
        };
        assert_eq!(refused(stream_not_found("ns")), Some("stream_not_found"));
        assert_eq!(refused(tag_not_found()), Some("tag_not_found"));
    }
}
