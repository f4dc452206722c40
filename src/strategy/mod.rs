//! Stream rules: defaulting, validation, generations and status tags (openshift-semantics §4).
//!
//! ```text
//! create:  defaults -> status reset, generation 1 -> tag events (no old) -> validate -> drop empty
//! update:  defaults -> old status, generations -> tag events (vs old) -> validate -> drop empty
//! /status: defaults -> old spec tags, observed generations, repositories -> validate new refs
//! read:    defaults -> repositories recomputed -> legacy repository clean-up
//! ```
//!
//! Everything here is pure and synchronous: the clock arrives as [`Context::now`], other streams
//! through [`Context::streams`], and the cross-namespace access check through
//! [`Context::authorize`]. Both storage backends call the same entry points, so the API behaves
//! identically whichever backend holds the data.

mod create;
mod defaults;
mod exported;
mod generation;
mod names;
mod repository;
mod status_tags;
mod status_update;
mod tag_events;
mod update;
mod validation;
mod verify;
mod whitelist;

pub use create::prepare_for_create;
pub use defaults::{apply_defaults, clean_output_repositories};
pub use generation::tag_ref_changed;
pub(crate) use names::{path_segment_reasons, validate_metadata, validate_namespace};
pub use repository::{
    decorate, docker_image_repository, public_docker_image_repository, served_repository,
};
pub use status_update::{prepare_for_import_status_update, prepare_for_status_update};
pub use tag_events::{
    add_tag_event, latest_tagged_image, resolve_image_id, status_list_mut,
    update_all_tracking_conditions, update_tracking_chain, update_tracking_conditions,
    ResolveImageIdError,
};
pub use update::{prepare_for_update, require_resource_version, PRECONDITION_QUALIFIED_KIND};
pub use whitelist::{AllowedRegistry, WhitelistError};

use jiff::Timestamp;

use crate::api::IMPORT_MODE_LEGACY;
use crate::resolve::StreamLookup;

/// The qualified kind of a 422 raised by these rules: pass it with the stream name and the
/// errors to [`crate::field::invalid_message`].
pub const QUALIFIED_KIND: &str = "ImageStream.image.openshift.io";

/// Server-wide settings that shape the stream rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The integrated registry host (e.g. `image-registry.openshift-image-registry.svc:5000`);
    /// empty when there is none. Drives `status.dockerImageRepository`.
    pub internal_registry_hostname: String,
    /// The registry host seen from outside the cluster; empty when there is none. Drives
    /// `status.publicDockerImageRepository`.
    pub external_registry_hostname: String,
    /// The `importPolicy.importMode` given to tags that leave it empty (`Legacy` by default).
    pub default_import_mode: String,
    /// Registries that tag sources and status references may point at; `None` allows all.
    pub allowed_registries: Option<Vec<AllowedRegistry>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            internal_registry_hostname: String::new(),
            external_registry_hostname: String::new(),
            default_import_mode: IMPORT_MODE_LEGACY.to_string(),
            allowed_registries: None,
        }
    }
}

impl Config {
    /// Checks the allowed-registries list once at startup; entries that fail are otherwise
    /// ignored by validation.
    pub fn check(&self) -> Result<(), WhitelistError> {
        whitelist::check_allowed(self.allowed_registries.as_deref().unwrap_or_default())
    }
}

/// Decides whether the requesting user may read `imagestreams/layers` of stream `name` in
/// `namespace` (OpenShift's SubjectAccessReview before tagging across namespaces); a refusal
/// says why (the review's reason), or is empty.
pub type Authorize<'a> = &'a dyn Fn(&str, &str) -> Result<(), String>;

/// Everything one write needs besides the streams themselves.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Server settings.
    pub config: &'a Config,
    /// The time recorded as `created` on new tag events.
    pub now: Timestamp,
    /// Other streams, for `ImageStreamTag`/`ImageStreamImage` sources in other streams.
    pub streams: &'a dyn StreamLookup,
    /// The cross-namespace access check.
    pub authorize: Authorize<'a>,
}

/// The text of an optional string field, `""` when unset (Go's zero value).
fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// A defaulted copy of a stored stream, so comparisons see the same shape as the new one.
fn defaulted(stream: &crate::api::ImageStream, config: &Config) -> crate::api::ImageStream {
    let mut copy = stream.clone();
    apply_defaults(&mut copy, &config.default_import_mode);
    copy
}

/// The common end of create and update: compute the status tags of new or changed spec tags
/// (4.6), validate (4.7) against the whitelist, and drop empty status tags.
fn compute_status_and_validate(
    stream: &mut crate::api::ImageStream,
    old: Option<&crate::api::ImageStream>,
    ctx: &Context<'_>,
) -> Result<(), Vec<crate::field::FieldError>> {
    let mut errors: Vec<_> = status_tags::process_tags(stream, old, ctx)
        .into_iter()
        .collect();
    let whitelist = validation::whitelist_for(ctx.config, old);
    errors.extend(validation::validate_stream(stream, whitelist.as_ref()));
    drop_empty_status_tags(stream);
    match errors.is_empty() {
        true => Ok(()),
        false => Err(errors),
    }
}

/// Drops status tags with neither items nor conditions.
fn drop_empty_status_tags(stream: &mut crate::api::ImageStream) {
    if let Some(status) = stream.status.as_mut() {
        status
            .tags
            .retain(|list| !list.items.is_empty() || !list.conditions.is_empty());
    }
}

#[cfg(test)]
pub(crate) mod testing;
