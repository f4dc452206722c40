//! `fieldValidation` on create, update and patch: which unknown or duplicate fields a request
//! brings, and what the directive makes of them (400, `Warning` headers, or nothing).
//!
//! An absent `fieldValidation` is `Ignore`, as the API contract (§4) says; kube-apiserver's
//! own default is `Warn`, but every client we serve that cares (kubectl) sends the parameter.
//! Strict failures are answered as kube-apiserver answers them: 400 BadRequest on create and
//! update, 422 Invalid with a `patch` cause on patch (`handlers/patch.go`).

use serde_json::Value;

use crate::apiserver::error::{ApiError, GroupKind};
use crate::apiserver::negotiate::BodyFormat;
use crate::apiserver::options::FieldValidation;
use crate::apiserver::patch::schema::{Node, IMAGE_STREAM};
use crate::apiserver::resource::Kind;
use crate::apiserver::unknown_fields::{self, FieldProblem};
use crate::field::FieldError;

/// The schema unknown fields are checked against; other kinds are only checked for
/// duplicate fields.
fn schema(kind: Kind) -> Option<&'static Node> {
    (kind == Kind::ImageStream).then_some(&IMAGE_STREAM)
}

/// The problems of a create or update body (already known to decode).
pub fn body_problems(kind: Kind, body: &[u8], format: BodyFormat) -> Vec<FieldProblem> {
    let problems = match format {
        BodyFormat::Json => unknown_fields::check_json(body, schema(kind)).ok(),
        BodyFormat::Yaml => unknown_fields::check_yaml(body, schema(kind)).ok(),
    };
    problems.unwrap_or_default()
}

/// The problems a patch brings: duplicate fields in its body, and unknown fields of the
/// patched object that the current one did not already have (stored objects are not the
/// request's fault).
pub fn patch_problems(
    kind: Kind,
    body: &[u8],
    yaml: bool,
    current: Option<&Value>,
    patched: &Value,
) -> Vec<FieldProblem> {
    let mut problems = match yaml {
        true => unknown_fields::check_yaml(body, None).ok(),
        false => unknown_fields::check_json(body, None).ok(),
    }
    .unwrap_or_default();
    if let Some(schema) = schema(kind) {
        let before = current
            .map(|current| unknown_fields::unknown_fields(current, schema))
            .unwrap_or_default();
        let after = unknown_fields::unknown_fields(patched, schema);
        problems.extend(after.into_iter().filter(|p| !before.contains(p)));
    }
    problems
}

/// Applies the directive: `Strict` refuses, `Warn` returns the `Warning` texts, `Ignore`
/// (and absent) drops the problems.
pub fn enforce(
    directive: Option<FieldValidation>,
    problems: &[FieldProblem],
) -> Result<Vec<String>, ApiError> {
    match directive {
        _ if problems.is_empty() => Ok(Vec::new()),
        Some(FieldValidation::Strict) => Err(ApiError::bad_request(
            unknown_fields::strict_error_message(problems),
        )),
        Some(FieldValidation::Warn) => Ok(problems.iter().map(ToString::to_string).collect()),
        Some(FieldValidation::Ignore) | None => Ok(Vec::new()),
    }
}

/// [`enforce`] for a create or update body of `kind`, worded like the apiserver's decoder.
pub fn enforce_body(
    kind: Kind,
    directive: Option<FieldValidation>,
    problems: &[FieldProblem],
) -> Result<Vec<String>, ApiError> {
    enforce(directive, problems).map_err(|strict| {
        let kind = kind.kind();
        ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {strict}"
        ))
    })
}

/// [`enforce`] for a patch: a strict failure is a 422 whose one cause is the `patch`.
pub fn enforce_patch(
    directive: Option<FieldValidation>,
    problems: &[FieldProblem],
    body: &[u8],
) -> Result<Vec<String>, ApiError> {
    enforce(directive, problems).map_err(|strict| {
        let patch = String::from_utf8_lossy(body).into_owned();
        let cause = FieldError::invalid("patch", patch, strict.to_string());
        ApiError::invalid(GroupKind::new("", ""), "", vec![cause])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(directive: Option<FieldValidation>, body: &str, expected: Result<Vec<&str>, &str>) {
        let problems = body_problems(Kind::ImageStream, body.as_bytes(), BodyFormat::Json);
        let result = enforce_body(Kind::ImageStream, directive, &problems)
            .map_err(|error| error.to_string());
        let expected = expected
            .map(|w| w.into_iter().map(String::from).collect())
            .map_err(String::from);
        assert_eq!(result, expected, "{directive:?} {body}");
    }

    #[test]
    fn directives_decide_what_unknown_fields_cost() {
        let body = r#"{"metadata": {"name": "a"}, "spec": {"foo": 1}}"#;
        let strict = r#"ImageStream in version "v1" cannot be handled as a ImageStream: strict decoding error: unknown field "spec.foo""#;
        check(Some(FieldValidation::Strict), body, Err(strict));
        check(
            Some(FieldValidation::Warn),
            body,
            Ok(vec![r#"unknown field "spec.foo""#]),
        );
        check(Some(FieldValidation::Ignore), body, Ok(vec![]));
        check(None, body, Ok(vec![]));
        check(Some(FieldValidation::Strict), r#"{"spec": {}}"#, Ok(vec![]));
        check(
            Some(FieldValidation::Strict),
            r#"{"spec": {"lookupPolicy": {}, "lookupPolicy": {}}}"#,
            Err(
                r#"ImageStream in version "v1" cannot be handled as a ImageStream: strict decoding error: duplicate field "spec.lookupPolicy""#,
            ),
        );
    }

    #[test]
    fn strict_patches_are_invalid_with_the_patch_as_cause() {
        let problems = [FieldProblem::Unknown("spec.foo".into())];
        let body = br#"{"spec":{"foo":1}}"#;
        let error = enforce_patch(Some(FieldValidation::Strict), &problems, body).unwrap_err();
        assert_eq!(error.code(), 422);
        // kube-apiserver leaves the kind empty too, hence the leading space.
        assert_eq!(
            error.to_string(),
            r#" "" is invalid: patch: Invalid value: "{\"spec\":{\"foo\":1}}": strict decoding error: unknown field "spec.foo""#
        );
        let warned = enforce_patch(Some(FieldValidation::Warn), &problems, body).unwrap();
        assert_eq!(warned, [r#"unknown field "spec.foo""#]);
    }

    #[test]
    fn patches_answer_only_for_the_unknown_fields_they_add() {
        let current = json!({"metadata": {"name": "a"}, "spec": {"old": 1}});
        let patched = json!({"metadata": {"name": "a"}, "spec": {"old": 1, "new": 2}});
        let problems = patch_problems(
            Kind::ImageStream,
            br#"{"spec": {"new": 2}}"#,
            false,
            Some(&current),
            &patched,
        );
        assert_eq!(problems, [FieldProblem::Unknown("spec.new".into())]);
        let secret = patch_problems(Kind::Secret, b"{}", false, None, &patched);
        assert!(secret.is_empty());
    }
}
