//! Test fixtures: small chainable builders for streams, and a `check` over `resolve`.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{
    resolve, Importer, Index, ObjectRef, Resolution, ResolveError, Resolved, ResolvedVia,
    ResolverConfig,
};
use crate::api::TagEventCondition;
use crate::api::{ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent, TagReference};
use crate::api::{TagReferencePolicy, REFERENCE_POLICY_LOCAL};

/// A digest.
pub const D: &str = "sha256:e70f3bd4c0dc5bd4c2b2d1e14b9d3e8d8e8f7c6a2b0f9a5d4e3c2b1a09f8e7d6";
/// Another digest sharing no prefix with [`D`].
pub const D2: &str = "sha256:1389b1a9b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
/// The integrated registry host of [`config`].
pub const H: &str = "image-registry.openshift-image-registry.svc:5000";

/// An empty stream `namespace/name`.
pub fn mk_stream(namespace: &str, name: &str) -> ImageStream {
    ImageStream::new(namespace, name)
}

/// Chainable edits of a fixture stream.
pub trait StreamFixture: Sized {
    /// Sets `spec.lookupPolicy.local=true`.
    fn local(self) -> Self;
    /// Sets `status.dockerImageRepository`.
    fn repo(self, repository: &str) -> Self;
    /// Adds a spec tag with this `referencePolicy.type` (`""` for unset).
    fn spec_tag(self, tag: &str, policy: &str) -> Self;
    /// Adds a spec tag tracking `from` (an ImageStreamTag of this stream).
    fn tracking(self, tag: &str, from: &str, policy: &str) -> Self;
    /// Adds a spec tag with a `from` of this kind and name.
    fn spec_from(self, tag: &str, kind: &str, name: &str) -> Self;
    /// Adds a `DockerImage` spec tag the importer imports.
    fn importing(self, tag: &str, pull_spec: &str) -> Self;
    /// Adds a `reference: true` `DockerImage` spec tag, which is never imported.
    fn reference_tag(self, tag: &str, pull_spec: &str) -> Self;
    /// Records a failed import on the tag's status entry (`ImportSuccess=False`).
    fn import_failed(self, tag: &str) -> Self;
    /// Appends an event to the tag's history; the first one appended is the newest.
    fn event(self, tag: &str, reference: &str, image: &str) -> Self;
    /// Adds the tag to the status with no events.
    fn empty_history(self, tag: &str) -> Self;
}

impl StreamFixture for ImageStream {
    fn local(mut self) -> Self {
        self.spec.lookup_policy.local = true;
        self
    }

    fn repo(mut self, repository: &str) -> Self {
        status(&mut self).docker_image_repository = repository.to_string();
        self
    }

    fn spec_tag(mut self, tag: &str, policy: &str) -> Self {
        self.spec.tags.push(TagReference {
            name: tag.to_string(),
            reference_policy: TagReferencePolicy::of(policy),
            ..TagReference::default()
        });
        self
    }

    fn tracking(mut self, tag: &str, from: &str, policy: &str) -> Self {
        self = self.spec_from(tag, "ImageStreamTag", from);
        let spec = self.spec.tags.last_mut().expect("just pushed");
        spec.reference_policy = TagReferencePolicy::of(policy);
        self
    }

    fn spec_from(mut self, tag: &str, kind: &str, name: &str) -> Self {
        self = self.spec_tag(tag, "");
        let spec = self.spec.tags.last_mut().expect("just pushed");
        spec.from = Some(ObjectReference {
            kind: Some(kind.to_string()),
            name: Some(name.to_string()),
            ..ObjectReference::default()
        });
        self
    }

    fn importing(self, tag: &str, pull_spec: &str) -> Self {
        self.spec_from(tag, "DockerImage", pull_spec)
    }

    fn reference_tag(mut self, tag: &str, pull_spec: &str) -> Self {
        self = self.importing(tag, pull_spec);
        self.spec.tags.last_mut().expect("just pushed").reference = true;
        self
    }

    fn import_failed(mut self, tag: &str) -> Self {
        history(&mut self, tag).conditions.push(TagEventCondition {
            type_: "ImportSuccess".to_string(),
            status: "False".to_string(),
            reason: "NotFound".to_string(),
            message: "manifest unknown".to_string(),
            generation: 1,
            ..TagEventCondition::default()
        });
        self
    }

    fn event(mut self, tag: &str, reference: &str, image: &str) -> Self {
        history(&mut self, tag).items.push(TagEvent {
            created: Time(jiff::Timestamp::UNIX_EPOCH),
            docker_image_reference: reference.to_string(),
            image: image.to_string(),
            generation: 1,
        });
        self
    }

    fn empty_history(mut self, tag: &str) -> Self {
        history(&mut self, tag);
        self
    }
}

fn status(stream: &mut ImageStream) -> &mut ImageStreamStatus {
    stream.status.get_or_insert_with(ImageStreamStatus::default)
}

fn history<'a>(stream: &'a mut ImageStream, tag: &str) -> &'a mut NamedTagEventList {
    let tags = &mut status(stream).tags;
    match tags.iter().position(|t| t.tag == tag) {
        Some(found) => &mut tags[found],
        None => {
            tags.push(NamedTagEventList {
                tag: tag.to_string(),
                ..NamedTagEventList::default()
            });
            tags.last_mut().expect("just pushed")
        }
    }
}

/// `Local`, for readability in tables.
pub const LOCAL: &str = REFERENCE_POLICY_LOCAL;

/// A config with [`H`] as the integrated registry.
pub fn config() -> ResolverConfig {
    ResolverConfig {
        registry_hostname: H.to_string(),
        importer: Importer::Runs,
    }
}

/// `H/<namespace>/<name>`, the repository a stream gets when a registry is configured.
pub fn repo_of(namespace: &str, name: &str) -> String {
    format!("{H}/{namespace}/{name}")
}

/// An expected success.
pub fn ok(
    pull_spec: &str,
    local_rewrite: bool,
    via: ResolvedVia,
) -> Result<Resolved, ResolveError> {
    Ok(Resolved {
        pull_spec: pull_spec.to_string(),
        local_rewrite,
        via,
        after_failed_import: false,
    })
}

/// Resolves `reference` for an object in namespace `ns` with [`config`].
pub fn run(streams: &[ImageStream], reference: ObjectRef<'_>, force: bool) -> Resolution {
    let index: Index = streams.iter().cloned().collect();
    resolve(&reference, "ns", force, &config(), &index)
}

/// Asserts the outcome of resolving a `DockerImage` pull spec in namespace `ns`.
pub fn check(
    streams: &[ImageStream],
    pull_spec: &str,
    force: bool,
    expected: Result<Resolved, ResolveError>,
) {
    let resolution = run(streams, ObjectRef::docker_image(pull_spec), force);
    assert_eq!(
        resolution.outcome, expected,
        "resolving {pull_spec:?} (force={force}); reason: {}",
        resolution.reason
    );
}

/// `ns/mysql`, local, with `status.dockerImageRepository = H/ns/mysql`.
pub fn local_mysql() -> ImageStream {
    mk_stream("ns", "mysql")
        .local()
        .repo(&repo_of("ns", "mysql"))
}

/// The error for tag `tag` of `ns/mysql` having no image.
pub fn tag_not_found(tag: &str) -> Result<Resolved, ResolveError> {
    Err(ResolveError::TagNotFound {
        namespace: "ns".into(),
        name: format!("mysql:{tag}"),
    })
}
