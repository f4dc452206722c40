//! The resolver: what an image reference resolves to, over an in-memory index of streams.
//!
//! ```text
//! "mysql:8" + namespace -> ImageRef -> Index[(ns, "mysql")] -> tag "8" -> policy -> pull spec
//! ```
//!
//! Pure and synchronous: no I/O, no async, no clock. Implements openshift-semantics §2.
//! Every answer carries the reason, so `explain`, admission warnings and audit annotations can
//! say which stream, tag and policy decided it — or why nothing matched.
//!
//! - `resolver`: the entry point; dispatch on kind, classify a `DockerImage` pull spec.
//! - `stream_tag`: one `stream:tag` lookup, reference policy, pinning to the image ID.
//! - `pull_through`: tags without an image (pulled through the integrated registry), and
//!   missing streams.
//! - `missing`: how a tag lacks an image (a typo, not imported, a reference tag, a copy), and
//!   what to do about it; `brief`: the same put short-first, for admission warnings.
//! - `stream_image`: `ImageStreamImage` references (ID-prefix search of the history).
//! - `explain`: the fragments reason sentences are built from.
//! - `compact`: the immutable per-stream form the index holds (what resolution reads);
//!   `compact/convert`: to and from a typed `ImageStream`; `compact/spec`: spec tags.
//! - `importing`: which tag imports the image a tag holds (the end of its chain of followed
//!   tags), for advice about import settings.
//! - `index`: the streams, by namespace and name; `tag_state`: every spec tag's state, counted
//!   for the metrics.

mod brief;
mod compact;
mod explain;
#[cfg(test)]
mod fixtures;
mod importing;
mod index;
mod missing;
mod pull_through;
mod resolver;
mod stream_image;
mod stream_tag;
mod tag_state;

pub use compact::{CompactStream, FromRef, History, ImageEvent, IntoCompact, SpecTag, TagSource};
pub use importing::{importing_tag, Importing, TagAddress};
pub use index::{Index, StreamLookup};
pub use missing::reference_only_pull_spec;
pub use resolver::resolve;
pub use tag_state::{TagCounts, TagState};

use crate::reference::ParseError;

/// Settings that shape resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolverConfig {
    /// The integrated registry host (e.g. `image-registry.openshift-image-registry.svc:5000`);
    /// empty when there is none. Full references to it are looked up; Local policies use it.
    pub registry_hostname: String,
    /// Whether anything imports spec tags here, which decides the advice for a tag that is
    /// not imported yet.
    pub importer: Importer,
}

/// Who imports spec tags, from where the resolver runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Importer {
    /// Offline (`resolve`, `explain`): the streams are read as given; nothing imports.
    #[default]
    Offline,
    /// This server's importer imports spec tags.
    Runs,
    /// A server started with `--no-importer`: tags are imported elsewhere, or not at all.
    Disabled,
}

/// A reference as objects carry it: a pod-spec image is `{kind: DockerImage, name: <image>}`;
/// builds also use `ImageStreamTag` and `ImageStreamImage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    /// `DockerImage`, `ImageStreamTag`, `ImageStreamImage`, or anything else (an error).
    pub kind: &'a str,
    /// The pull spec, `stream:tag` or `stream@id`.
    pub name: &'a str,
    /// The reference's own namespace (builds); empty means the object's namespace.
    pub namespace: &'a str,
}

impl<'a> ObjectRef<'a> {
    /// A `DockerImage` reference, as every pod-spec image is.
    pub fn docker_image(pull_spec: &'a str) -> Self {
        Self {
            kind: "DockerImage",
            name: pull_spec,
            namespace: "",
        }
    }
}

/// How a successful resolution was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedVia {
    /// The reference already carried an ID; it is returned as written (rendered with `Exact`,
    /// so `mysql:5.7@sha256:…` comes back as `mysql@sha256:…`, as OpenShift writes it).
    ///
    /// Deliberate deviation: OpenShift also requires the cluster-scoped Image object named by
    /// the ID to exist. This project keeps no Image objects (tag events are authoritative), so
    /// any well-formed ID is accepted.
    Digest,
    /// The tag's newest event, with the tag's reference policy applied (pinned by digest).
    TagEvent,
    /// The stream exists but the tag has no image yet: `<status.dockerImageRepository>:<tag>`
    /// (pull-through, **not** pinned).
    PullThrough,
    /// An `ImageStreamImage` reference: the matching tag event's own `dockerImageReference`,
    /// unmodified. (OpenShift returns the Image object's reference; we keep no Image objects.)
    StreamImage,
}

/// A successful resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The pull spec to write back.
    pub pull_spec: String,
    /// True when a short name was resolved through local lookup (or forced by the annotation):
    /// the condition under which `localNames` rules rewrite.
    pub local_rewrite: bool,
    /// Which path produced the answer.
    pub via: ResolvedVia,
    /// The tag's last import failed (its `ImportSuccess` condition is `False`): the pin is the
    /// image it had before, which a changed `from` (a version bump with a typo) did not replace.
    pub after_failed_import: bool,
}

/// The stream and tag a reference was matched against, for explanations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Match {
    /// Namespace searched.
    pub namespace: String,
    /// Stream name looked up.
    pub stream: String,
    /// Tag looked up (`latest` when the reference had none). For `ImageStreamImage`
    /// references: the tag whose history held the image, or empty.
    pub tag: String,
    /// Whether the stream was found.
    pub stream_found: bool,
    /// The stream's `spec.lookupPolicy.local`, when found.
    pub lookup_local: bool,
    /// The spec tag's effective `referencePolicy.type` (`Source` when unset or no spec tag).
    /// Informational for `ImageStreamImage` references, which apply no policy.
    pub reference_policy: String,
}

/// The full answer: outcome, what was consulted, and one sentence saying why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The resolved pull spec, or why resolution failed.
    pub outcome: Result<Resolved, ResolveError>,
    /// The stream and tag consulted, if the reference got that far.
    pub matched: Option<Match>,
    /// A lowercase sentence explaining the outcome (for `explain`, warnings, audit).
    pub reason: String,
    /// The reason put short-first, for texts that may be cut (admission warnings); `None`
    /// when the reason is short-first already.
    pub brief: Option<Brief>,
}

/// A reason rearranged for a reader who may only see its start: what happened and what to
/// do first, then the rest of what the reason says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brief {
    /// What happened, in a few words, and what to do: `<what>; <advice>`.
    pub summary: String,
    /// The detail the reason also gives (tags, the pull spec written, the policy), or empty.
    pub detail: String,
}

/// Why a reference could not be resolved. `Display` gives OpenShift's wording where
/// OpenShift has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The pull spec does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Neither a short name, nor forced, nor an integrated-registry reference.
    #[error("({0}) could not be resolved to an exact image reference")]
    NotExact(String),
    /// A short name matched a stream whose lookup policy is not local.
    #[error("ImageStreamTag does not allow local references and the resource did not request image stream resolution")]
    LocalNotAllowed,
    /// No stream of that name in that namespace.
    #[error("imagestreams.image.openshift.io \"{name}\" not found")]
    StreamNotFound {
        /// Namespace searched.
        namespace: String,
        /// Stream name.
        name: String,
    },
    /// The stream exists but the tag has no image, and pull-through does not apply.
    #[error("imagestreamtags.image.openshift.io \"{name}\" not found")]
    TagNotFound {
        /// Namespace searched.
        namespace: String,
        /// `stream:tag`.
        name: String,
    },
    /// A short name matched a stream that allows local lookup (or was forced), but the tag has
    /// no image, no source to pull it from by tag, and no integrated registry is configured
    /// to pull it through. As written, the name would pull another registry's image of that
    /// name (`docker.io/library/<name>`), so admission refuses it whatever the mode (where it
    /// would have rewritten it).
    #[error(
        "imagestreamtags.image.openshift.io \"{name}\" has no image and no source to pull it \
         from, and no integrated registry is configured to pull it through, so as written it \
         would pull another registry's image of that name: check the tag name, or wait until \
         the tag has an image"
    )]
    NoPullThrough {
        /// Namespace searched.
        namespace: String,
        /// `stream:tag`.
        name: String,
    },
    /// An `ImageStreamImage` reference matched no (or several) images.
    #[error("imagestreamimage.image.openshift.io \"{name}\" not found")]
    StreamImageNotFound {
        /// Namespace searched.
        namespace: String,
        /// `stream@id`.
        name: String,
    },
    /// The tag event's stored reference does not parse.
    #[error("image reference {0} could not be parsed")]
    UnparseableEvent(String),
    /// `ImageStreamTag` reference without `:`.
    #[error("references of kind ImageStreamTag must be of the form NAME:TAG")]
    BadStreamTagName,
    /// `ImageStreamImage` reference without `@`.
    #[error("references of kind ImageStreamImage must be of the form NAME@DIGEST")]
    BadStreamImageName,
    /// A reference kind other than DockerImage, ImageStreamTag or ImageStreamImage.
    #[error("image policy does not allow image references of kind {0:?}")]
    UnsupportedKind(String),
}

impl ResolveError {
    /// Whether OpenShift would report this as a NotFound (its admission detail is then empty).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::StreamNotFound { .. }
                | Self::TagNotFound { .. }
                | Self::StreamImageNotFound { .. }
        )
    }

    /// Every label [`Self::label`] gives, so that metrics can export each from the start.
    pub const LABELS: [&'static str; 11] = [
        "parse_error",
        "not_exact",
        "local_not_allowed",
        "stream_not_found",
        "tag_not_found",
        "no_pull_through",
        "stream_image_not_found",
        "unparseable_event",
        "bad_stream_tag_name",
        "bad_stream_image_name",
        "unsupported_kind",
    ];

    /// A stable snake_case label for metrics and audit annotations.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Parse(_) => "parse_error",
            Self::NotExact(_) => "not_exact",
            Self::LocalNotAllowed => "local_not_allowed",
            Self::StreamNotFound { .. } => "stream_not_found",
            Self::TagNotFound { .. } => "tag_not_found",
            Self::NoPullThrough { .. } => "no_pull_through",
            Self::StreamImageNotFound { .. } => "stream_image_not_found",
            Self::UnparseableEvent(_) => "unparseable_event",
            Self::BadStreamTagName => "bad_stream_tag_name",
            Self::BadStreamImageName => "bad_stream_image_name",
            Self::UnsupportedKind(_) => "unsupported_kind",
        }
    }
}

// === impl Resolution ===

impl Resolution {
    /// A success, with what was consulted and why.
    fn resolved(resolved: Resolved, matched: Option<Match>, reason: String) -> Self {
        Self {
            outcome: Ok(resolved),
            matched,
            reason,
            brief: None,
        }
    }

    /// A failure, with what was consulted and why.
    fn failed(error: ResolveError, matched: Option<Match>, reason: String) -> Self {
        Self {
            outcome: Err(error),
            matched,
            reason,
            brief: None,
        }
    }

    /// The same resolution, with its reason also put short-first.
    fn with_brief(self, brief: Brief) -> Self {
        Self {
            brief: Some(brief),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_labels_list_is_every_label_a_resolution_error_gives() {
        let errors = [
            ResolveError::Parse(ParseError::NameEmpty),
            ResolveError::NotExact("x".into()),
            ResolveError::LocalNotAllowed,
            ResolveError::StreamNotFound {
                namespace: "demo".into(),
                name: "s".into(),
            },
            ResolveError::TagNotFound {
                namespace: "demo".into(),
                name: "s:t".into(),
            },
            ResolveError::NoPullThrough {
                namespace: "demo".into(),
                name: "s:t".into(),
            },
            ResolveError::StreamImageNotFound {
                namespace: "demo".into(),
                name: "s@x".into(),
            },
            ResolveError::UnparseableEvent("x".into()),
            ResolveError::BadStreamTagName,
            ResolveError::BadStreamImageName,
            ResolveError::UnsupportedKind("x".into()),
        ];
        let labels: Vec<&str> = errors.iter().map(ResolveError::label).collect();
        assert_eq!(labels, ResolveError::LABELS);
    }
}
