//! Label key and value validation for selectors (`k8s.io/apimachinery/pkg/util/validation`).

use crate::field::FieldError;
pub(super) use crate::object_meta::names::label_value_problems;
use crate::object_meta::names::qualified_name_problems;

/// A `FieldError` at `field` when `key` is not a qualified name (`ValidateLabelName`).
pub(super) fn validate_key(key: &str, field: &str) -> Option<FieldError> {
    let problems = qualified_name_problems(key);
    (!problems.is_empty()).then(|| FieldError::invalid(field, key, problems.join("; ")))
}
