//! The short-first form of a missing tag's reason, for admission warnings: what happened and
//! what to do in few words ([`Summary`]), then what else the reason says ([`Detail`]), since
//! kube-apiserver may keep only a warning's first 256 characters.

use std::fmt;

use super::explain::{Quoted, Stream};
use super::missing::{
    followed_tag, newest_reference, own_tag, source_of, Followed, Missing, TagNames, Tracked,
};
use super::missing::{
    FOLLOWS_ABSENT_TAG, IMPORT_FAILED, NO_EVENTS, NO_IMPORTER, NO_SOURCE, OFFLINE, REFERENCE_ONLY,
};
use super::stream_tag::TagQuery;
use super::{CompactStream, Importer};

/// [`super::missing::Why`] and [`super::missing::Advice`] in few words, for a reader who may see only the start of a line
/// (admission warnings): `<what>; <advice>`.
pub(super) struct Summary<'a>(
    pub(super) &'a TagQuery<'a>,
    pub(super) &'a CompactStream,
    pub(super) Missing,
    pub(super) Importer,
);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tag, stream) = (Quoted(self.0.tag), Stream(self.0));
        let of = format_args!("tag {tag} of imagestream {stream}");
        match self.2 {
            Missing::NoSuchTag => write!(
                f,
                "imagestream {stream} has no tag {tag}; check the tag name, or add the tag to \
                 spec.tags"
            ),
            Missing::NotImported => {
                let advice = match self.3 {
                    Importer::Runs => {
                        "wait for the import, or check that the importer can pull the spec \
                         tag's from.name"
                    }
                    Importer::Disabled => NO_IMPORTER,
                    Importer::Offline => OFFLINE,
                };
                write!(f, "{of} is not imported yet; {advice}")
            }
            Missing::ImportFailed => write!(f, "{of} failed to import; {IMPORT_FAILED}"),
            Missing::ReferenceOnly => {
                write!(f, "{of} has no image id (reference-only); {REFERENCE_ONLY}")
            }
            Missing::Follows => self.follows(f, of),
            Missing::FollowsAbsentTag => write!(
                f,
                "{of} follows tag {}, which the stream does not have; {FOLLOWS_ABSENT_TAG}",
                Quoted(followed_tag(self.1, self.0.tag))
            ),
            Missing::NoSource => write!(f, "{of} has no from; {NO_SOURCE}"),
            Missing::NoEvents => write!(f, "{of} has no image yet (no events); {NO_EVENTS}"),
        }
    }
}

impl Summary<'_> {
    fn follows(&self, f: &mut fmt::Formatter<'_>, of: fmt::Arguments<'_>) -> fmt::Result {
        let source = source_of(self.1, self.0.tag);
        let Some(tracked) = own_tag(self.0, source) else {
            return write!(
                f,
                "{of} copies {} only when the spec tag changes; tag it again once that has an \
                 image",
                Followed(source)
            );
        };
        let quoted = Quoted(tracked);
        match Tracked::of(self.1, tracked) {
            // It gets an image when the tag it follows moves: by an import or a spec write, not
            // by a /status write, which may have given that tag the image it has.
            Tracked::Image => write!(
                f,
                "{of} has nothing copied from tag {quoted} yet, which has an image written \
                 through the status alone (that moves no tag that follows it); tag it again"
            ),
            // The copy happened: it copied an event without an image, and tagging again
            // copies the same one (openshift-semantics §4.6).
            Tracked::ReferenceOnly => write!(
                f,
                "{of} follows tag {quoted}, which is reference-only (its events have no image \
                 id); set reference: false on tag {quoted} to import it and pin a digest"
            ),
            Tracked::Nothing => write!(
                f,
                "{of} has nothing copied from tag {quoted} yet; it gets an image as soon as tag \
                 {quoted} has one, so check that tag"
            ),
        }
    }
}

/// What the reason says beyond [`Summary`] about how the tag lacks an image: the stream's
/// tags for a typo, the reference a reference-only tag holds; empty otherwise.
pub(super) struct Detail<'a>(
    pub(super) &'a TagQuery<'a>,
    pub(super) &'a CompactStream,
    pub(super) Missing,
);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.2 {
            Missing::NoSuchTag | Missing::FollowsAbsentTag => TagNames(self.1).fmt(f),
            Missing::ReferenceOnly => match newest_reference(self.1, self.0.tag) {
                Some(source) => write!(
                    f,
                    "it only references {}; reference: true tags are never imported",
                    Quoted(source)
                ),
                None => f.write_str("reference: true tags are never imported"),
            },
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::resolve::fixtures::*;
    use crate::resolve::{Brief, ObjectRef};

    #[test]
    fn briefs_say_what_happened_and_what_to_do_before_the_tags_and_the_pull_spec() {
        let pulled = format!(
            "pulled by tag through the integrated registry as {H}/ns/mysql:9 (allowed by \
             lookupPolicy.local=true)"
        );
        let of = "tag \"9\" of imagestream ns/mysql";
        let imported = local_mysql()
            .importing("8", "quay.io/o/m:8")
            .event("8", "m:8", D);
        let cases = [
            (imported.clone().event("latest", "m:l", D2), "imagestream ns/mysql has no tag \"9\"; check the tag name, or add the tag to spec.tags".to_string(), format!("its tags: \"8\", \"latest\"; {pulled}")),
            (imported.clone().importing("9", "quay.io/o/m:9"), format!("{of} is not imported yet; wait for the import, or check that the importer can pull the spec tag's from.name"), pulled.clone()),
            (imported.clone().importing("9", "quay.io/o/m:9").import_failed("9"), format!("{of} failed to import; the ImportSuccess condition of its status.tags entry says why; once that is fixed it is imported at the next retry, or at once when the tag's generation is set to 0"), pulled.clone()),
            (imported.clone().reference_tag("9", "quay.io/o/m:9").event("9", "quay.io/o/m:9", ""), format!("{of} has no image id (reference-only); set reference: false on the spec tag to import it and pin a digest"), format!("it only references \"quay.io/o/m:9\"; reference: true tags are never imported; {pulled}")),
            (imported.clone().importing("10", "quay.io/o/m:10").tracking("9", "mysql:10", ""), format!("{of} has nothing copied from tag \"10\" yet; it gets an image as soon as tag \"10\" has one, so check that tag"), pulled.clone()),
            (imported.clone().tracking("9", "mysql:8", ""), format!("{of} has nothing copied from tag \"8\" yet, which has an image written through the status alone (that moves no tag that follows it); tag it again"), pulled.clone()),
            (imported.clone().reference_tag("l", "quay.io/o/m:l").event("l", "quay.io/o/m:l", "").tracking("9", "l", "").event("9", "quay.io/o/m:l", ""), format!("{of} follows tag \"l\", which is reference-only (its events have no image id); set reference: false on tag \"l\" to import it and pin a digest"), pulled.clone()),
            (imported.clone().tracking("9", "mysql:11", ""), format!("{of} follows tag \"11\", which the stream does not have; add that tag to spec.tags, or point the spec tag's from at a tag the stream has"), format!("its tags: \"8\", \"9\"; {pulled}")),
            (imported.clone().tracking("9", "php:8", ""), format!("{of} copies imagestreamtag \"php:8\" only when the spec tag changes; tag it again once that has an image"), pulled.clone()),
            (imported.clone().spec_tag("9", ""), format!("{of} has no from; give the spec tag a from: a DockerImage to import, or an ImageStreamTag to follow"), pulled.clone()),
            (imported.empty_history("9"), format!("{of} has no image yet (no events); its conditions in status.tags may say why; add the tag to spec.tags to import it"), pulled),
        ];
        for (stream, summary, detail) in cases {
            let brief = run(&[stream], ObjectRef::docker_image("mysql:9"), false).brief;
            assert_eq!(brief, Some(Brief { summary, detail }));
        }
    }
}
