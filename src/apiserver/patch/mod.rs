//! PATCH for ImageStreams and Secrets (each an [`ObjectType`]: its schema and the
//! `apiVersion` of its managedFields): JSON patch, merge patch, strategic merge patch and
//! server-side apply, with `metadata.managedFields` kept the way kube-apiserver keeps it.
//! ImageStreamTags, views that keep no managedFields, use the first three alone
//! (`apiserver::istag::patch`).
//!
//! Everything here is pure: the current object and the body go in, the patched object (with
//! updated managedFields) comes out. The API layer owns everything around it: reading and
//! writing the store, `dryRun`, `fieldValidation`, preconditions, strategy and status codes.
//!
//! ```text
//! Content-Type ──> PatchKind ──┬─ Json       json::apply       ─┐
//!                              ├─ Merge      merge::apply      ─┼─> record_update ─────────> PatchOutcome
//!                              ├─ Strategic  strategic::apply  ─┘
//!                              └─ Apply      apply::server_side_apply ──────────────────────> PatchOutcome
//! ```
//!
//! What stays with the caller:
//! - the result of a main-resource patch still carries any status change (and a `/status`
//!   patch any spec change); the strategy resets them, as for PUT;
//! - a `metadata.resourceVersion` in the result that differs from the current one is a 409;
//! - `fieldValidation`: duplicates via `unknown_fields::check_json(body, None)` (apply bodies:
//!   `check_yaml`), unknown fields via `unknown_fields::unknown_fields(&outcome.object, …)`.
//!   Apply rejects unknown fields itself (400), whatever `fieldValidation` says, like kube.

pub mod apply;
mod combine;
mod conflict;
mod directives;
pub mod entries;
pub mod error;
pub mod fieldset;
pub mod json;
pub mod last_applied;
pub mod managed_fields;
pub mod merge;
mod order;
pub mod schema;
pub mod strategic;
mod typed;

use jiff::Timestamp;
use serde_json::Value;

pub use self::error::{ConflictCause, PatchError, FIELD_MANAGER_CONFLICT};
pub use self::managed_fields::{
    manager_from_user_agent, record_update, update_managed_fields, Subresource,
};
pub use self::schema::{ObjectType, IMAGE_STREAM_TYPE, SECRET_TYPE};

use self::managed_fields::MAX_MANAGER_LENGTH;
use crate::field::{FieldError, FieldErrorType};

/// The 415 message, listing what this server accepts.
const UNSUPPORTED_MESSAGE: &str = "the body of the request was in an unknown format - accepted media types include: \
application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

/// The four patch types, selected by `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// The request around a patch body.
#[derive(Clone, Copy, Debug)]
pub struct PatchContext<'a> {
    /// The `fieldManager` query parameter, if given.
    pub field_manager: Option<&'a str>,
    /// The `User-Agent`, naming the manager of non-apply writes without `fieldManager`.
    pub user_agent: Option<&'a str>,
    /// The `force` query parameter, if given (only valid for apply).
    pub force: Option<bool>,
    /// The main resource or `/status`.
    pub subresource: Subresource,
    /// The request time, recorded in managedFields.
    pub now: Timestamp,
    /// The kind patched: its schema and the `apiVersion` of its managedFields.
    pub object_type: &'static ObjectType,
}

/// A successful patch.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchOutcome {
    /// The patched object, managedFields included. Not yet defaulted or validated.
    pub object: Value,
    /// True when an apply created the object (answer 201).
    pub created: bool,
}

// === impl PatchKind ===

impl PatchKind {
    /// The patch type of a `Content-Type` header (parameters such as `charset` are ignored);
    /// anything else, CBOR apply included, is a 415.
    pub fn from_content_type(content_type: &str) -> Result<Self, PatchError> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        match media_type.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" => Ok(Self::Apply),
            _ => Err(PatchError::UnsupportedMediaType(UNSUPPORTED_MESSAGE.into())),
        }
    }

    /// The media type, for advertising in discovery and OpenAPI.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::Strategic => "application/strategic-merge-patch+json",
            Self::Apply => "application/apply-patch+yaml",
        }
    }
}

// === impl PatchContext ===

impl PatchContext<'_> {
    /// The manager recorded for this write: `fieldManager`, else the User-Agent's product.
    pub fn manager(&self) -> String {
        match self.field_manager {
            Some(manager) if !manager.is_empty() => manager.to_string(),
            _ => manager_from_user_agent(self.user_agent.unwrap_or_default()),
        }
    }
}

/// Patches `current` (`None` when the object does not exist) with `body`.
///
/// Non-apply patches of a missing object are a 404; apply creates it and says so in
/// [`PatchOutcome::created`]. The result's managedFields record the write.
pub fn apply_patch(
    kind: PatchKind,
    current: Option<&Value>,
    body: &[u8],
    context: &PatchContext<'_>,
) -> Result<PatchOutcome, PatchError> {
    validate_options(kind, context)?;
    let manager = context.manager();
    if kind == PatchKind::Apply {
        let request = apply::ApplyRequest {
            manager: &manager,
            force: context.force.unwrap_or(false),
            subresource: context.subresource,
            now: context.now,
            object_type: context.object_type,
        };
        return apply::server_side_apply(current, body, &request);
    }
    let current = current.ok_or(PatchError::NotFound)?;
    let mut object = match kind {
        PatchKind::Json => json::apply(current, body)?,
        PatchKind::Merge => merge::apply(current, body)?,
        PatchKind::Strategic | PatchKind::Apply => {
            strategic::apply(current, body, context.object_type.node)?
        }
    };
    record_update(
        context.object_type,
        Some(current),
        &mut object,
        &manager,
        context.subresource,
        context.now,
    );
    Ok(PatchOutcome {
        object,
        created: false,
    })
}

/// `ValidatePatchOptions`: `force` only for apply, `fieldManager` required for apply, and a
/// given `fieldManager` at most 128 printable characters.
pub fn validate_options(kind: PatchKind, context: &PatchContext<'_>) -> Result<(), PatchError> {
    let mut errors = Vec::new();
    let manager = context.field_manager.unwrap_or_default();
    if kind != PatchKind::Apply && context.force.is_some() {
        errors.push(FieldError::forbidden(
            "force",
            "may not be specified for non-apply patch",
        ));
    }
    if kind == PatchKind::Apply && manager.is_empty() {
        errors.push(FieldError::required(
            "fieldManager",
            "is required for apply patch",
        ));
    }
    errors.extend(manager_errors(manager));
    match errors.is_empty() {
        true => Ok(()),
        false => Err(PatchError::invalid_options(errors)),
    }
}

/// `ValidateFieldManager`.
fn manager_errors(manager: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if manager.len() > MAX_MANAGER_LENGTH {
        errors.push(FieldError {
            kind: FieldErrorType::TooLong,
            field: "fieldManager".into(),
            bad_value: None,
            detail: format!("may not be more than {MAX_MANAGER_LENGTH} bytes"),
        });
    }
    for (position, c) in manager.chars().enumerate().filter(|(_, c)| c.is_control()) {
        let detail = format!(
            "invalid character U+{:04X} (at position {position})",
            c as u32
        );
        errors.push(FieldError::invalid("fieldManager", manager, detail));
    }
    errors
}

#[cfg(test)]
mod tests;
