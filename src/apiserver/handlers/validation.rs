//! `fieldValidation` on create, update and patch: which unknown or duplicate fields a request
//! brings, and what the directive makes of them (400, `Warning` headers, or nothing).
//!
//! An absent `fieldValidation` is `Ignore`, as the API contract (§4) says; kube-apiserver's
//! own default is `Warn` (kubectl sends the parameter on create, replace, apply and edit, not on
//! patch, label or annotate: README, "Differences from OpenShift").
//! Strict failures are answered as kube-apiserver answers them: 400 BadRequest on create and
//! update, 422 Invalid with a `patch` cause on patch (`handlers/patch.go`). A stream that also
//! has a type error answers with that error instead, as kube's decoder returns it first: a
//! create or update through `decode_error_first`, a patch through [`check_patched_decodes`]
//! (also a 422 with a `patch` cause), run before the directive.

use serde_json::Value;

use crate::apiserver::error::{ApiError, GroupKind};
use crate::apiserver::negotiate::BodyFormat;
use crate::apiserver::options::FieldValidation;
use crate::apiserver::patch::schema::Node;
use crate::apiserver::resource::{self, Kind};
use crate::apiserver::unknown_fields::{self, FieldProblem};
use crate::field::FieldError;

/// The schema unknown fields are checked against (streams and Secrets); Images are only
/// checked for duplicate fields.
fn schema(kind: Kind) -> Option<&'static Node> {
    kind.object_type().map(|object_type| object_type.node)
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

/// Under `Strict`, an object that also fails to decode answers with that error, as
/// kube-apiserver's decoder returns a type error before the strict ones. Only then is the
/// object decoded here: a valid body is decoded once, by the kind's rules.
fn decode_error_first(
    kind: Kind,
    directive: Option<FieldValidation>,
    problems: &[FieldProblem],
    object: &Value,
) -> Result<(), ApiError> {
    let strict = directive == Some(FieldValidation::Strict) && !problems.is_empty();
    match strict && kind == Kind::ImageStream {
        true => resource::decode_stream(object).map(drop),
        false => Ok(()),
    }
}

/// [`enforce`] for a create or update body of `kind` (decoded as `object`), worded like the
/// apiserver's decoder.
pub fn enforce_body(
    kind: Kind,
    directive: Option<FieldValidation>,
    problems: &[FieldProblem],
    object: &Value,
) -> Result<Vec<String>, ApiError> {
    decode_error_first(kind, directive, problems, object)?;
    enforce(directive, problems).map_err(|strict| ApiError::undecodable(kind.kind(), strict))
}

/// [`enforce`] for a patch: a strict failure is a 422 whose one cause is the `patch`. Nothing
/// is decoded here: a patched stream that does not decode was refused before, by
/// [`check_patched_decodes`] or, for an apply, by its typed check, as kube's type errors come
/// before the strict ones.
pub fn enforce_patch(
    directive: Option<FieldValidation>,
    problems: &[FieldProblem],
    body: &[u8],
) -> Result<Vec<String>, ApiError> {
    enforce(directive, problems).map_err(|strict| patch_invalid(body, strict.to_string()))
}

/// A merge, strategic or JSON patch whose result does not decode as `kind` is refused as
/// kube-apiserver's patch handler refuses it (`handlers/patch.go`: a non-strict decoding error
/// of the patched object): 422 Invalid whose one cause is the `patch`, where the same object
/// sent whole to a create or update is a 400. Decoded as the kind's rules decode it, so what
/// passes here also passes there.
pub fn check_patched_decodes(kind: Kind, body: &[u8], patched: &Value) -> Result<(), ApiError> {
    let decoded = match kind {
        Kind::ImageStream => resource::decode_stream(patched).map(drop),
        Kind::Secret => resource::check_shape(kind, patched)
            .and_then(|()| resource::decode::<k8s_openapi::api::core::v1::Secret>(patched))
            .map(drop),
        // Images are written by the importer, and patched as they always were.
        Kind::Image => Ok(()),
    };
    decoded.map_err(|error| patch_invalid(body, error.to_string()))
}

/// The 422 kube-apiserver answers for a patch it cannot use: one `patch` cause, no kind.
fn patch_invalid(body: &[u8], detail: String) -> ApiError {
    let patch = String::from_utf8_lossy(body).into_owned();
    let cause = FieldError::invalid("patch", patch, detail);
    ApiError::invalid(GroupKind::new("", ""), "", vec![cause])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(directive: Option<FieldValidation>, body: &str, expected: Result<Vec<&str>, &str>) {
        let problems = body_problems(Kind::ImageStream, body.as_bytes(), BodyFormat::Json);
        let object: Value = serde_json::from_str(body).unwrap();
        let result = enforce_body(Kind::ImageStream, directive, &problems, &object)
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
    fn under_strict_a_type_error_wins_over_unknown_fields() {
        let strict = Some(FieldValidation::Strict);
        let typed =
            r#"{"metadata": {"name": "a"}, "spec": {"foo": 1, "lookupPolicy": {"local": "yes"}}}"#;
        check(
            strict,
            typed,
            Err(
                r#"the object does not decode: spec.lookupPolicy.local: invalid type: string "yes", expected a boolean"#,
            ),
        );
        let listed =
            r#"{"metadata": {"name": "a"}, "spec": {"tags": [{"name": "t", "colour": 1}, []]}}"#;
        check(
            strict,
            listed,
            Err("ImageStream in version \"v1\" cannot be handled as a ImageStream: json: cannot unmarshal \
                 array into Go struct field ImageStreamSpec.spec.tags of type v1.TagReference"),
        );
        // Warn keeps warning: the type error is the kind's rules' to answer, as without Strict.
        check(
            Some(FieldValidation::Warn),
            typed,
            Ok(vec![r#"unknown field "spec.foo""#]),
        );

        // A patch is checked for a type error before the directive is applied, and gets it
        // as a 422 with the patch as cause (`check_patched_decodes`).
        let patched: Value = serde_json::from_str(typed).unwrap();
        let error = check_patched_decodes(Kind::ImageStream, b"{}", &patched).unwrap_err();
        assert_eq!(error.code(), 422);
        assert!(
            error.to_string().contains("spec.lookupPolicy.local"),
            "{error}"
        );
    }

    #[test]
    fn strict_patches_are_invalid_with_the_patch_as_cause() {
        let problems = [FieldProblem::Unknown("spec.foo".into())];
        let body = br#"{"spec":{"foo":1}}"#;
        let strict = Some(FieldValidation::Strict);
        let error = enforce_patch(strict, &problems, body).unwrap_err();
        assert_eq!(error.code(), 422);
        // kube-apiserver leaves the kind empty too, hence the leading space.
        assert_eq!(
            error.to_string(),
            r#" "" is invalid: patch: Invalid value: "{\"spec\":{\"foo\":1}}": strict decoding error: unknown field "spec.foo""#
        );
        let warn = Some(FieldValidation::Warn);
        let warned = enforce_patch(warn, &problems, body).unwrap();
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
        // Secrets are checked against their own schema: a Secret has no spec.
        let secret = patch_problems(Kind::Secret, b"{}", false, None, &patched);
        assert_eq!(secret, [FieldProblem::Unknown("spec".into())]);
    }

    #[test]
    fn a_patch_whose_result_does_not_decode_is_invalid_with_the_patch_as_cause() {
        let stream = |spec: Value| json!({"metadata": {"name": "a"}, "spec": spec});
        let secret = |data: Value| json!({"metadata": {"name": "s"}, "data": data});
        let cases = [
            (Kind::ImageStream, stream(json!({"lookupPolicy": {"local": true}})), None),
            (
                Kind::ImageStream,
                stream(json!({"lookupPolicy": {"local": "yes"}})),
                Some("spec.lookupPolicy.local: invalid type: string \"yes\", expected a boolean"),
            ),
            (
                Kind::ImageStream,
                stream(json!({"lookupPolicy": [true]})),
                Some("json: cannot unmarshal array into Go struct field ImageStreamSpec.spec.lookupPolicy"),
            ),
            (
                Kind::ImageStream,
                json!({"metadata": "x"}),
                Some("Go struct field ImageStream.metadata of type v1.ObjectMeta"),
            ),
            // A member that is null is its zero value, as on create.
            (Kind::ImageStream, stream(json!({"tags": null})), None),
            (Kind::Secret, secret(json!({"k": "dg=="})), None),
            (
                Kind::Secret,
                json!({"metadata": ["x"]}),
                Some("Go struct field Secret.metadata of type v1.ObjectMeta"),
            ),
            (Kind::Image, json!({"metadata": ["x"]}), None),
        ];
        let body = br#"{"spec":"the patch"}"#;
        for (kind, patched, refused) in cases {
            let result = check_patched_decodes(kind, body, &patched);
            match (refused, result) {
                (None, Ok(())) => {}
                (Some(detail), Err(error)) => {
                    assert_eq!(error.code(), 422, "{patched}");
                    let message = error.to_string();
                    assert!(
                        message.starts_with(
                            r#" "" is invalid: patch: Invalid value: "{\"spec\":\"the patch\"}": "#
                        ),
                        "{message}"
                    );
                    assert!(message.contains(detail), "{message}");
                }
                (expected, result) => {
                    panic!("{kind:?} {patched}: {result:?}, expected {expected:?}")
                }
            }
        }
    }
}
