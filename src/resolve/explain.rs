//! Explanation fragments: `Display` pieces of the reason sentences, so a reason is formatted
//! once, into one `String`, on the hot path.

use std::fmt;

use super::stream_tag::{Pinning, Route, TagQuery};

/// The annotation that forces resolution, as users must write it.
pub(super) const RESOLVE_NAMES: &str = r#"alpha.image.policy.openshift.io/resolve-names: "*""#;

/// `text` in double quotes, exactly as `{:?}` writes it, but without `Debug`'s per-character
/// escape checks when there is nothing to escape (references and tags that passed the grammar).
pub(super) struct Quoted<'a>(pub(super) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = |byte: &u8| (b' '..=b'~').contains(byte) && *byte != b'"' && *byte != b'\\';
        if self.0.as_bytes().iter().all(plain) {
            f.write_str("\"")?;
            f.write_str(self.0)?;
            f.write_str("\"")
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

/// A reason sentence: formatted once into a buffer sized for a typical sentence, instead of
/// `format!`'s estimate, which grows it two or three times on the webhook's path.
pub(super) fn sentence(args: fmt::Arguments<'_>) -> String {
    use fmt::Write as _;
    let mut text = String::with_capacity(SENTENCE_CAPACITY);
    // Writing into a String cannot fail.
    let _ = text.write_fmt(args);
    text
}

/// Bytes reserved for a reason sentence; the longest common ones are about 200.
const SENTENCE_CAPACITY: usize = 256;

/// Which integrated registry a reference was compared with.
pub(super) struct IntegratedRegistry<'a>(pub(super) &'a str);

impl fmt::Display for IntegratedRegistry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            "" => {
                f.write_str("no integrated registry is configured (--registry-hostname names it)")
            }
            host => write!(f, "the integrated registry is {}", Quoted(host)),
        }
    }
}

/// `namespace/stream`.
pub(super) struct Stream<'a>(pub(super) &'a TagQuery<'a>);

impl fmt::Display for Stream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.namespace, self.0.stream)
    }
}

/// What the user wrote, and how it got to a lookup.
pub(super) struct Subject<'a>(pub(super) &'a TagQuery<'a>);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let written = Quoted(self.0.written);
        match self.0.route {
            Route::ShortName => write!(f, "short name {written}"),
            Route::Forced => write!(f, "{written} (resolve-names forces lookup by name)"),
            Route::IntegratedRegistry => write!(f, "integrated-registry reference {written}"),
            Route::StreamTagKind => write!(f, "imagestreamtag reference {written}"),
        }
    }
}

/// Why the lookup policy did or did not matter for a found tag.
pub(super) struct Lookup(pub(super) Route);

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
pub(super) struct Allowed(pub(super) Route);

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Route::Forced => "allowed by resolve-names",
            _ => "allowed by lookupPolicy.local=true",
        })
    }
}

/// What the reference policy did to the tag's newest image.
pub(super) struct PolicyClause<'a>(pub(super) Pinning, pub(super) &'a str);

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

#[cfg(test)]
mod tests {
    use super::Quoted;
    use crate::resolve::fixtures::*;
    use crate::resolve::ObjectRef;

    #[test]
    fn quoted_writes_exactly_what_debug_writes() {
        let samples = [
            "mysql:8",
            "",
            "quay.io/org/app@sha256:0123",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "new\nline",
            "caf\u{e9}",
            "bell\u{7}",
            "zero\u{200b}width",
        ];
        for text in samples {
            assert_eq!(Quoted(text).to_string(), format!("{text:?}"), "{text}");
        }
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
            (not_local, "mysql:9", "imagestream ns/mysql has no tag \"9\" (its tags: \"8\"), and lookupPolicy.local is false so it cannot be pulled through the integrated registry (set spec.lookupPolicy.local=true to allow that); check the tag name, or add the tag to spec.tags"),
            (local_mysql(), "mysql:9", "imagestream ns/mysql has no tag \"9\" (it has no tags), so it is pulled by tag through the integrated registry as image-registry.openshift-image-registry.svc:5000/ns/mysql:9 (allowed by lookupPolicy.local=true); check the tag name, or add the tag to spec.tags"),
            (mk_stream("ns", "php"), "mysql", "no imagestream ns/mysql exists for short name \"mysql\" (tag \"latest\"); lookup only searches the object's own namespace, so create the stream there or use a full pull spec"),
        ];
        for (stream, written, expected) in cases {
            let resolution = run(&[stream], ObjectRef::docker_image(written), false);
            assert_eq!(resolution.reason, expected);
        }
    }
}
