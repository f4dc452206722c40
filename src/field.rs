//! Field errors in the shape of Kubernetes' `field.Error`, shared by stream validation,
//! admission decisions and the API server's `Status` causes.
//!
//! The rendering reproduces apimachinery's `ErrorBody()` so that messages read exactly like the
//! ones OpenShift and the kube-apiserver print (`spec.tags[latest].from.name: Required value`).

use std::fmt;

use serde_json::Value;

/// The kind of a field error; each maps onto one `StatusCause.reason` (`FieldValue…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorType {
    /// A referenced object or value does not exist.
    NotFound,
    /// A required value is missing.
    Required,
    /// A value is given twice where it must be unique.
    Duplicate,
    /// A value is malformed.
    Invalid,
    /// A value is not one of the accepted values.
    NotSupported,
    /// A value is not allowed by policy.
    Forbidden,
    /// A value is too long.
    TooLong,
    /// Too many items.
    TooMany,
    /// Something went wrong while validating (rendered as `InternalError`).
    Internal,
}

impl FieldErrorType {
    /// The `StatusCause.reason` string Kubernetes uses for this type.
    pub fn cause_reason(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Internal => "InternalError",
        }
    }

    /// The human phrase apimachinery prints for this type.
    pub fn phrase(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Internal => "Internal error",
        }
    }

    /// Whether apimachinery prints the bad value for this type.
    fn shows_value(self) -> bool {
        !matches!(
            self,
            Self::Required | Self::Forbidden | Self::TooLong | Self::Internal
        )
    }
}

/// One validation problem at a field path such as `spec.tags[latest].from.name`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// What kind of problem this is.
    pub kind: FieldErrorType,
    /// The field path, Kubernetes style (`spec.containers[0].image`).
    pub field: String,
    /// The offending value, when it helps the reader (omitted for `Required`, `Forbidden`, …).
    pub bad_value: Option<Value>,
    /// Extra detail, printed after the phrase.
    pub detail: String,
}

impl FieldError {
    fn new(
        kind: FieldErrorType,
        field: impl Into<String>,
        bad_value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            field: field.into(),
            bad_value,
            detail: detail.into(),
        }
    }

    /// A `Required value` error.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Required, field, None, detail)
    }

    /// An `Invalid value` error showing the bad value.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(FieldErrorType::Invalid, field, Some(value.into()), detail)
    }

    /// A `Forbidden` error.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Forbidden, field, None, detail)
    }

    /// A `Not found` error showing the missing value.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorType::NotFound, field, Some(value.into()), "")
    }

    /// An `Unsupported value` error listing the supported values.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        let detail = format!("supported values: {}", list.join(", "));
        Self::new(
            FieldErrorType::NotSupported,
            field,
            Some(value.into()),
            detail,
        )
    }

    /// A `Too long` error for a value over `max` bytes (apimachinery's `field.TooLong`).
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        let detail = format!("may not be more than {max} {unit}");
        Self::new(FieldErrorType::TooLong, field, None, detail)
    }

    /// An `Internal error` (cause reason `InternalError`).
    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Internal, field, None, detail)
    }

    /// The message without the field path, as used in `StatusCause.message`.
    pub fn body(&self) -> String {
        let mut body = self.kind.phrase().to_string();
        if self.kind.shows_value() {
            if let Some(value) = &self.bad_value {
                body.push_str(": ");
                body.push_str(&render_value(value));
            }
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// Renders a bad value the way Go's `%q`/`%v` would: strings quoted, numbers bare, null as `null`.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Joins errors like apimachinery's aggregate: one error alone, several in `[a, b]`.
pub fn aggregate_message(errors: &[FieldError]) -> String {
    match errors {
        [single] => single.to_string(),
        many => {
            let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// The message of a 422 Invalid status: `<Kind.group> "<name>" is invalid: <errors>`.
pub fn invalid_message(qualified_kind: &str, name: &str, errors: &[FieldError]) -> String {
    format!(
        "{qualified_kind} {name:?} is invalid: {}",
        aggregate_message(errors)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: FieldError, expected: &str) {
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn errors_render_like_apimachinery() {
        check(
            FieldError::required("spec.tags[latest].from.name", ""),
            "spec.tags[latest].from.name: Required value",
        );
        check(
            FieldError::invalid("metadata.name", "a/b", "may not contain '/'"),
            "metadata.name: Invalid value: \"a/b\": may not contain '/'",
        );
        check(
            FieldError::forbidden(
                "spec.containers[0].image",
                "this image is prohibited by policy",
            ),
            "spec.containers[0].image: Forbidden: this image is prohibited by policy",
        );
        check(
            FieldError::not_supported("spec.tags[x].referencePolicy.type", "Other", &["Source", "Local"]),
            "spec.tags[x].referencePolicy.type: Unsupported value: \"Other\": supported values: \"Source\", \"Local\"",
        );
        check(FieldError::internal("", "boom"), ": Internal error: boom");
        check(
            FieldError::invalid("spec.replicas", 3, "too many"),
            "spec.replicas: Invalid value: 3: too many",
        );
    }

    #[test]
    fn aggregate_brackets_only_several_errors() {
        let one = [FieldError::required("a", "")];
        assert_eq!(aggregate_message(&one), "a: Required value");
        let two = [FieldError::required("a", ""), FieldError::required("b", "")];
        assert_eq!(
            aggregate_message(&two),
            "[a: Required value, b: Required value]"
        );
        assert_eq!(
            invalid_message("ImageStream.image.openshift.io", "demo", &one),
            "ImageStream.image.openshift.io \"demo\" is invalid: a: Required value"
        );
    }

    #[test]
    fn cause_reasons_match_kubernetes() {
        assert_eq!(FieldErrorType::Internal.cause_reason(), "InternalError");
        assert_eq!(
            FieldErrorType::Forbidden.cause_reason(),
            "FieldValueForbidden"
        );
    }
}
