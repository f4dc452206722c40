//! Options of POST, PUT and PATCH: `dryRun`, `fieldManager`, `fieldValidation`, `force`.

use crate::apiserver::error::{ApiError, GroupKind, CREATE_OPTIONS, PATCH_OPTIONS, UPDATE_OPTIONS};
use crate::apiserver::negotiate::PatchKind;
use crate::field::{FieldError, FieldErrorType};

use super::query::Query;

/// The longest `fieldManager` the apiserver accepts.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// `fieldValidation`: what to do with unknown or duplicate fields in a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Accept, with one `Warning: 299 - "…"` header per problem.
    Warn,
    /// Refuse with 400 (create/update) or 422 (patch).
    Strict,
}

/// Which write the options belong to; it names the options kind in 422s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteVerb {
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH of this kind.
    Patch(PatchKind),
}

/// Query options shared by POST, PUT and PATCH.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything, persist nothing, emit no event.
    pub dry_run: bool,
    /// `fieldManager`, `""` when absent (required for apply).
    pub field_manager: String,
    /// `fieldValidation`, if given. The contract treats absent as `Ignore`; kube-apiserver's
    /// own default is `Warn`. The caller decides.
    pub field_validation: Option<FieldValidation>,
    /// `force`, if given (apply only).
    pub force: Option<bool>,
}

impl WriteOptions {
    /// Decodes and validates (`ValidateCreateOptions`, `…UpdateOptions`, `…PatchOptions`).
    pub fn parse(query: &Query, verb: WriteVerb) -> Result<Self, ApiError> {
        let dry_run: Vec<&str> = query.get_all("dryRun").collect();
        let validation = query.text("fieldValidation");
        let options = Self {
            dry_run: !dry_run.is_empty(),
            field_manager: query.text("fieldManager").to_string(),
            field_validation: match validation {
                "Ignore" => Some(FieldValidation::Ignore),
                "Warn" => Some(FieldValidation::Warn),
                "Strict" => Some(FieldValidation::Strict),
                _ => None,
            },
            force: query.flag("force"),
        };
        let mut errors = match verb {
            WriteVerb::Patch(kind) => options.patch_errors(kind),
            _ => Vec::new(),
        };
        errors.extend(field_manager_errors(&options.field_manager));
        errors.extend(dry_run_errors(&dry_run));
        if !validation.is_empty() && options.field_validation.is_none() {
            let supported = ["Ignore", "Strict", "Warn"];
            errors.push(FieldError::not_supported(
                "fieldValidation",
                validation,
                &supported,
            ));
        }
        match errors.is_empty() {
            true => Ok(options),
            false => Err(ApiError::invalid(verb.options_kind(), "", errors)),
        }
    }

    /// The apply-only rules of `ValidatePatchOptions`, as a 422 of `PatchOptions`.
    pub fn check_patch(&self, kind: PatchKind) -> Result<(), ApiError> {
        let errors = self.patch_errors(kind);
        match errors.is_empty() {
            true => Ok(()),
            false => Err(ApiError::invalid(PATCH_OPTIONS, "", errors)),
        }
    }

    /// Whether apply should take ownership from conflicting managers.
    pub fn forced(&self) -> bool {
        self.force == Some(true)
    }

    fn patch_errors(&self, kind: PatchKind) -> Vec<FieldError> {
        match kind {
            // Even `force=false` is refused: the apiserver checks presence, not value.
            PatchKind::Apply if self.field_manager.is_empty() => {
                vec![FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )]
            }
            PatchKind::Apply => Vec::new(),
            _ if self.force.is_some() => vec![FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
            _ => Vec::new(),
        }
    }
}

impl WriteVerb {
    fn options_kind(self) -> GroupKind {
        match self {
            Self::Create => CREATE_OPTIONS,
            Self::Update => UPDATE_OPTIONS,
            Self::Patch(_) => PATCH_OPTIONS,
        }
    }
}

/// `ValidateFieldManager`: at most 128 bytes, printable characters only.
fn field_manager_errors(manager: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errors.push(FieldError {
            kind: FieldErrorType::TooLong,
            field: "fieldManager".into(),
            bad_value: None,
            detail: format!("may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"),
        });
    }
    for (position, c) in manager.char_indices() {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            let detail = format!(
                "invalid character U+{:04X} (at position {position})",
                c as u32
            );
            errors.push(FieldError::invalid("fieldManager", manager, detail));
        }
    }
    errors
}

/// `ValidateDryRun`: only `All`. The bad value prints as Go's `%#v` of a `[]string`.
pub(super) fn dry_run_errors(values: &[&str]) -> Vec<FieldError> {
    if values.iter().all(|v| *v == "All") {
        return Vec::new();
    }
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    vec![FieldError {
        kind: FieldErrorType::NotSupported,
        field: "dryRun".into(),
        bad_value: None,
        detail: format!(
            "[]string{{{}}}: supported values: \"All\"",
            quoted.join(", ")
        ),
    }]
}
