//! Tags without an image: which of the ways to lack one applies, and the clauses that say so
//! and what to do (openshift-semantics §2.3 step 6 decides what the reference resolves to;
//! this only explains it).
//!
//! ```text
//! spec tag ─ none ──────────────> status entry? ─ none ─────────> NoSuchTag (a typo?)
//!          │                                    ├ no events ────> NoEvents
//!          │                                    └ no image ─────> ReferenceOnly
//!          ├ DockerImage ───────> reference: true ──────────────> ReferenceOnly
//!          │                      ImportSuccess=False ──────────> ImportFailed
//!          │                      otherwise ────────────────────> NotImported
//!          ├ ImageStreamTag of a tag the stream lacks ──────────> FollowsAbsentTag
//!          ├ ImageStreamTag, ImageStreamImage ──────────────────> Follows
//!          └ no from, or another kind ──────────────────────────> NoSource
//! ```

use std::fmt;

use super::explain::{Quoted, Stream};
use super::stream_tag::TagQuery;
use super::{CompactStream, FromRef, Importer, TagSource};

/// Why a tag has no usable image: each reads differently to a user, and each has its own
/// remedy. The spec tag decides, when there is one: its status may predate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Missing {
    /// Neither `spec.tags` nor `status.tags` has the tag: most likely a typo.
    NoSuchTag,
    /// A `DockerImage` spec tag not imported yet.
    NotImported,
    /// A `DockerImage` spec tag whose import failed (`ImportSuccess=False`).
    ImportFailed,
    /// A `reference: true` spec tag, or a status entry whose newest event has no image: never
    /// imported.
    ReferenceOnly,
    /// A spec tag copying another tag or image (`ImageStreamTag`, `ImageStreamImage`) that
    /// had no image to copy.
    Follows,
    /// A spec tag following a tag of its own stream that the stream does not have at all
    /// (neither spec nor status): it will never get an image (the samples operator's mariadb
    /// stream ships one).
    FollowsAbsentTag,
    /// A spec tag with no `from` of a kind that gives it an image.
    NoSource,
    /// A status entry with no events, and no spec tag.
    NoEvents,
}

impl Missing {
    /// How `tag` of `stream`, whose newest event (if any) has no image, lacks one.
    pub(super) fn of(stream: &CompactStream, tag: &str) -> Self {
        let Some(spec) = stream.spec_tag(tag) else {
            return match stream.history(tag).map(|history| history.newest()) {
                None => Self::NoSuchTag,
                Some(None) => Self::NoEvents,
                Some(Some(_)) => Self::ReferenceOnly,
            };
        };
        match spec.source() {
            TagSource::DockerImage if spec.reference() => Self::ReferenceOnly,
            TagSource::DockerImage if spec.import_failed() => Self::ImportFailed,
            TagSource::DockerImage => Self::NotImported,
            TagSource::StreamTag(from) if absent_own_tag(stream, from).is_some() => {
                Self::FollowsAbsentTag
            }
            TagSource::StreamTag(_) | TagSource::StreamImage(_) => Self::Follows,
            TagSource::None => Self::NoSource,
        }
    }
}

/// The tag of `stream` that `from` names, when the stream has no such tag at all.
pub(super) fn absent_own_tag<'a>(stream: &CompactStream, from: FromRef<'a>) -> Option<&'a str> {
    let own = own_tag_of(stream.namespace(), stream.name(), from)?;
    let absent = stream.spec_tag(own).is_none() && stream.history(own).is_none();
    absent.then_some(own)
}

/// Why a tag has no image, naming the tag and stream: a tag the stream does not have at all
/// lists the tags it has, since it may be a typo.
pub(super) struct Why<'a>(
    pub(super) &'a TagQuery<'a>,
    pub(super) &'a CompactStream,
    pub(super) Missing,
);

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tag, stream) = (Quoted(self.0.tag), Stream(self.0));
        let of = format_args!("tag {tag} of imagestream {stream}");
        match self.2 {
            Missing::NoSuchTag => write!(
                f,
                "imagestream {stream} has no tag {tag} ({})",
                TagNames(self.1)
            ),
            Missing::NotImported => write!(f, "{of} is in spec.tags but not imported yet"),
            Missing::ImportFailed => write!(f, "{of} is in spec.tags but its import failed"),
            Missing::ReferenceOnly => match newest_reference(self.1, self.0.tag) {
                Some(source) => write!(
                    f,
                    "{of} only references {} without an image id (reference: true tags are \
                     never imported)",
                    Quoted(source)
                ),
                None => write!(
                    f,
                    "{of} has no image id (reference: true tags are never imported)"
                ),
            },
            Missing::Follows => write!(
                f,
                "{of} follows {} and has no image copied from it yet",
                Followed(source_of(self.1, self.0.tag))
            ),
            Missing::FollowsAbsentTag => write!(
                f,
                "{of} follows tag {}, which the stream does not have ({})",
                Quoted(followed_tag(self.1, self.0.tag)),
                TagNames(self.1)
            ),
            Missing::NoSource => write!(
                f,
                "{of} has no image, and its spec tag has no from to import or copy one"
            ),
            Missing::NoEvents => {
                write!(f, "{of} has no image yet (its status entry has no events)")
            }
        }
    }
}

/// What would give a tag an image, for each way of lacking one; `Importer` decides what to
/// say about a tag not imported yet.
pub(super) struct Advice<'a>(
    pub(super) &'a TagQuery<'a>,
    pub(super) &'a CompactStream,
    pub(super) Missing,
    pub(super) Importer,
);

impl fmt::Display for Advice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.2 {
            Missing::NoSuchTag => "check the tag name, or add the tag to spec.tags",
            Missing::NotImported => match self.3 {
                Importer::Runs => {
                    "wait for the import, or check that the importer runs and can pull the spec \
                     tag's from.name"
                }
                Importer::Disabled => NO_IMPORTER,
                Importer::Offline => OFFLINE,
            },
            Missing::ImportFailed => IMPORT_FAILED,
            Missing::ReferenceOnly => REFERENCE_ONLY,
            Missing::Follows => return self.follows(f),
            Missing::FollowsAbsentTag => FOLLOWS_ABSENT_TAG,
            Missing::NoSource => NO_SOURCE,
            Missing::NoEvents => NO_EVENTS,
        })
    }
}

/// What to do about a tag not imported yet on a server that does not import.
pub(super) const NO_IMPORTER: &str =
    "this server runs no importer (--no-importer): import the tag \
                           elsewhere, or set its status.tags through the API";
/// What to do about a tag not imported yet when resolving offline.
pub(super) const OFFLINE: &str =
    "nothing imports offline: import the tag on the server and export the \
                       stream again";
pub(super) const IMPORT_FAILED: &str =
    "the ImportSuccess condition of its status.tags entry says why; once that is fixed it is \
     imported at the next retry, or at once when the tag's generation is set to 0";
pub(super) const REFERENCE_ONLY: &str =
    "set reference: false on the spec tag to import it and pin a digest";
pub(super) const FOLLOWS_ABSENT_TAG: &str =
    "add that tag to spec.tags, or point the spec tag's from at a tag the stream has";
pub(super) const NO_SOURCE: &str =
    "give the spec tag a from: a DockerImage to import, or an ImageStreamTag to follow";
pub(super) const NO_EVENTS: &str =
    "its conditions in status.tags may say why; add the tag to spec.tags to import it";

impl Advice<'_> {
    /// Only a tag of the same stream is followed as it changes; any other source is copied
    /// when the spec tag changes (openshift-semantics §4.6).
    fn follows(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = source_of(self.1, self.0.tag);
        match own_tag(self.0, source) {
            Some(tracked) if Tracked::of(self.1, tracked) == Tracked::ReferenceOnly => write!(
                f,
                "tag {0} is reference-only, so it has no image to copy; set reference: false on \
                 tag {0} to import it and pin a digest",
                Quoted(tracked)
            ),
            Some(tracked) => write!(
                f,
                "it gets one as soon as tag {} has an image, so check that tag",
                Quoted(tracked)
            ),
            None => write!(
                f,
                "{} is copied only when the spec tag changes, so once it has an image, tag it \
                 again",
                Followed(source)
            ),
        }
    }
}

/// What the own tag a copy follows has to copy: its newest event, which a copy takes whole
/// (openshift-semantics §4.6), so an event without an image gives the copy none either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tracked {
    /// Its newest event has an image.
    Image,
    /// Its newest event has no image id: a `reference: true` tag's, never imported.
    ReferenceOnly,
    /// It has no events.
    Nothing,
}

impl Tracked {
    /// The state of tag `tag` of `stream`.
    pub(super) fn of(stream: &CompactStream, tag: &str) -> Self {
        match stream.history(tag).and_then(|history| history.newest()) {
            Some(event) if event.image.is_empty() => Self::ReferenceOnly,
            Some(_) => Self::Image,
            None => Self::Nothing,
        }
    }
}

/// The tag of the queried stream that a copy follows, if it follows one.
pub(super) fn own_tag<'a>(query: &TagQuery<'_>, source: TagSource<'a>) -> Option<&'a str> {
    match source {
        TagSource::StreamTag(from) => tracks_own_tag(query, from),
        _ => None,
    }
}

/// The tag of the queried stream that `from` names, if it names one.
fn tracks_own_tag<'a>(query: &TagQuery<'_>, from: FromRef<'a>) -> Option<&'a str> {
    own_tag_of(query.namespace, query.stream, from)
}

/// The tag of stream `namespace/stream` that `from` names, if it names one of its own.
fn own_tag_of<'a>(namespace: &str, stream: &str, from: FromRef<'a>) -> Option<&'a str> {
    if !from.namespace.is_empty() && from.namespace != namespace {
        return None;
    }
    match from.name.split_once(':') {
        None => Some(from.name),
        Some((named, tag)) => (named == stream).then_some(tag),
    }
}

/// The own tag that `tag`'s spec tag follows (only read for [`Missing::FollowsAbsentTag`]).
pub(super) fn followed_tag<'a>(stream: &'a CompactStream, tag: &str) -> &'a str {
    match source_of(stream, tag) {
        TagSource::StreamTag(from) => absent_own_tag(stream, from).unwrap_or(from.name),
        _ => "",
    }
}

/// The spec tag's source; only read for tags that have one.
pub(super) fn source_of<'a>(stream: &'a CompactStream, tag: &str) -> TagSource<'a> {
    stream
        .spec_tag(tag)
        .map_or(TagSource::None, |spec| spec.source())
}

/// The reference of the tag's newest event, if it has one.
pub(super) fn newest_reference<'a>(stream: &'a CompactStream, tag: &str) -> Option<&'a str> {
    let newest = stream.history(tag).and_then(|history| history.newest());
    newest.map(|event| event.reference)
}

/// The pull spec of `namespace/stream:tag`'s newest event when that event names no image (a
/// `reference: true` tag's, or an event written without one): what OpenShift's trigger
/// controller writes for such a tag (library-go `ResolveLatestTaggedImage` takes the newest
/// event's `dockerImageReference` whatever its image). `None` for any other tag.
pub fn reference_only_pull_spec<L: super::StreamLookup + ?Sized>(
    streams: &L,
    namespace: &str,
    stream: &str,
    tag: &str,
) -> Option<String> {
    let found = streams.stream(namespace, stream)?;
    reference_only(found, tag).map(str::to_string)
}

/// `tag`'s newest event's pull spec when that event names no image (see
/// [`reference_only_pull_spec`]).
pub(super) fn reference_only<'a>(stream: &'a CompactStream, tag: &str) -> Option<&'a str> {
    let newest = stream.history(tag)?.newest()?;
    (newest.image.is_empty() && !newest.reference.is_empty()).then_some(newest.reference)
}

/// The tag or image a copy follows, as `kind "[namespace/]name"`.
pub(super) struct Followed<'a>(pub(super) TagSource<'a>);

impl fmt::Display for Followed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, from) = match self.0 {
            TagSource::StreamTag(from) => ("imagestreamtag", from),
            TagSource::StreamImage(from) => ("imagestreamimage", from),
            TagSource::None | TagSource::DockerImage => return f.write_str("another tag"),
        };
        write!(f, "{kind} {}", Quoted(&from.to_string()))
    }
}

/// The stream's tags, spec tags first (in spec order) and then status-only ones, quoted, at
/// most [`LISTED_TAGS`].
pub(super) struct TagNames<'a>(pub(super) &'a CompactStream);

/// Enough tags to spot a typo among, few enough for one warning line.
const LISTED_TAGS: usize = 8;

impl fmt::Display for TagNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stream = self.0;
        let spec = stream.spec_tags().map(|spec| spec.name());
        let status_only = stream
            .histories()
            .map(|history| history.tag())
            .filter(|tag| stream.spec_tag(tag).is_none());
        let mut tags = spec.chain(status_only);
        let Some(first) = tags.next() else {
            return f.write_str("it has no tags");
        };
        write!(f, "its tags: {}", Quoted(first))?;
        for tag in tags.by_ref().take(LISTED_TAGS - 1) {
            write!(f, ", {}", Quoted(tag))?;
        }
        match tags.count() {
            0 => Ok(()),
            more => write!(f, " and {more} more"),
        }
    }
}

#[cfg(test)]
mod tests;
