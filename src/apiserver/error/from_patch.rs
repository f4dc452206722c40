//! The Status of a patch that does not apply: each [`PatchError`] as the [`ApiError`] of the
//! reason kube-apiserver's patch handler answers with.

use super::{ApiError, FieldConflict, GroupKind};
use crate::apiserver::negotiate::PATCH_MEDIA_TYPES;
use crate::apiserver::patch::PatchError;

impl From<PatchError> for ApiError {
    fn from(error: PatchError) -> Self {
        match error {
            PatchError::BadRequest(message) => ApiError::BadRequest(message),
            PatchError::Invalid {
                group,
                kind,
                causes,
                ..
            } if !kind.is_empty() => ApiError::invalid(GroupKind::new(group, kind), "", causes),
            PatchError::Invalid { message, .. } => ApiError::Unprocessable(message),
            PatchError::Conflict { causes, .. } => ApiError::ApplyConflict(
                causes
                    .into_iter()
                    .map(|cause| FieldConflict {
                        manager: cause
                            .message
                            .trim_start_matches("conflict with ")
                            .to_string(),
                        field: cause.field,
                    })
                    .collect(),
            ),
            PatchError::TooLarge(message) => ApiError::RequestEntityTooLarge(message),
            // A handler maps it to the 404 that names the object; reaching here is a bug.
            PatchError::NotFound => ApiError::internal("the object to patch does not exist"),
            PatchError::UnsupportedMediaType(_) => ApiError::UnsupportedMediaType {
                accepted: PATCH_MEDIA_TYPES.to_vec(),
                hint: None,
            },
        }
    }
}
