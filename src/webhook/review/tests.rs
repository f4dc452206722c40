//! Tests of the review's reading and the response's writing.

use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::admission::{Denial, JsonText};
use crate::field::FieldError;

#[test]
fn a_review_v1_parses() {
    let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "operation": "CREATE", "namespace": "demo", "object": {}}});
    let body = body.to_string();
    let request = parse(body.as_bytes()).unwrap();
    assert_eq!(request.uid, "u1");
    assert_eq!(request.resource.resource, "pods");
}

/// The review as the JSON it is written as; fails unless it is JSON.
fn as_value(review: &ReviewResponse<'_>) -> Value {
    serde_json::from_slice(&review.to_json()).expect("a response is JSON")
}

/// Asserts `body` is refused with `message`, and the 400 answer echoes `uid`.
fn check_refused(body: &str, message: &str, uid: &str) {
    let error = parse(body.as_bytes()).unwrap_err();
    assert_eq!(error.to_string(), message, "{body}");
    let answer = as_value(&respond_invalid(&error));
    assert_eq!(answer["response"]["uid"], uid, "{body}");
    assert_eq!(answer["response"]["status"]["code"], 400);
    assert_eq!(answer["response"]["status"]["message"], message);
}

#[test]
fn other_reviews_are_refused_naming_version_and_kind_apart_and_echoing_the_uid() {
    let request = r#""request": {"uid": "x", "kind": {"kind": "Pod"}, "resource": {},
        "operation": "CREATE"}"#;
    let v1beta1 = format!(
        r#"{{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", {request}}}"#
    );
    let versions = "configure admissionReviewVersions [\"v1\"]";
    check_refused(
        &v1beta1,
        &format!("unsupported AdmissionReview apiVersion \"admission.k8s.io/v1beta1\": {versions}"),
        "x",
    );
    let only_v1 = "/mutate answers only AdmissionReview of admission.k8s.io/v1";
    check_refused(
        &format!(r#"{{"apiVersion": "admission.k8s.io/v1", "kind": "Foo", {request}}}"#),
        &format!("unsupported kind \"Foo\" (apiVersion \"admission.k8s.io/v1\"): {only_v1}"),
        "x",
    );
    // A v1beta1 request missing what v1 requires is still reported by its version.
    check_refused(
        r#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "y"}}"#,
        &format!("unsupported AdmissionReview apiVersion \"admission.k8s.io/v1beta1\": {versions}"),
        "y",
    );
    check_refused(
        "{}",
        &format!("unsupported kind \"\" (apiVersion \"\"): {only_v1}"),
        "",
    );
}

#[test]
fn unreadable_reviews_are_malformed_and_echo_a_uid_they_carry() {
    check_refused(
        r#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "z"}}"#,
        "the body is not an admission.k8s.io/v1 AdmissionReview: missing field `kind` at line 1 column 88",
        "z",
    );
    check_refused(
        "hello",
        "the body is not an admission.k8s.io/v1 AdmissionReview: expected value at line 1 column 1",
        "",
    );
    check_refused(
        r#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#,
        "the AdmissionReview has no request",
        "",
    );
}

#[test]
fn a_denial_is_openshifts_invalid_status_with_details_and_causes() {
    let errors = vec![
        FieldError::forbidden(
            "spec.containers[0].image",
            "this image is prohibited by policy: ",
        ),
        FieldError::forbidden(
            "spec.containers[1].image",
            "this image is prohibited by policy",
        ),
    ];
    let decision = |group: &str, name: &str| Decision {
        denial: Some(Denial {
            group: group.into(),
            kind: "Pod".into(),
            name: name.into(),
            errors: errors.clone(),
            message: "Pod \"p\" is invalid: x".into(),
        }),
        ..Decision::default()
    };
    let review = as_value(&respond("u2", &decision("", "p")));
    let response = &review["response"];
    assert_eq!(
        (&response["uid"], &response["allowed"]),
        (&json!("u2"), &json!(false))
    );
    assert!(response.get("patch").is_none());
    let causes = json!([
        {"reason": "FieldValueForbidden", "message": "Forbidden: this image is prohibited by policy: ",
         "field": "spec.containers[0].image"},
        {"reason": "FieldValueForbidden", "message": "Forbidden: this image is prohibited by policy",
         "field": "spec.containers[1].image"},
    ]);
    let expected = json!({"metadata": {}, "status": "Failure", "reason": "Invalid", "code": 422,
        "message": "Pod \"p\" is invalid: x",
        "details": {"name": "p", "kind": "Pod", "causes": causes}});
    assert_eq!(response["status"], expected);
    let grouped = as_value(&respond("u3", &decision("apps", "")));
    let details = &grouped["response"]["status"]["details"];
    assert_eq!(details["group"], "apps");
    assert!(details.get("name").is_none(), "{details}");
}

#[test]
fn an_unchanged_object_gets_no_patch_and_a_changed_one_a_json_patch() {
    let unchanged = as_value(&respond("u3", &Decision::default()));
    assert_eq!(unchanged["response"]["allowed"], true);
    assert!(unchanged["response"].get("patch").is_none());
    assert_eq!(unchanged["apiVersion"], "admission.k8s.io/v1");

    let patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/x", "value": 1}])).unwrap();
    let changed = as_value(&respond(
        "u4",
        &Decision {
            patch,
            ..Decision::default()
        },
    ));
    assert_eq!(changed["response"]["patchType"], "JSONPatch");
    let encoded = changed["response"]["patch"]
        .as_str()
        .expect("the patch is a base64 string");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let ops: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(
        ops,
        json!([{"op": "replace", "path": "/spec/x", "value": 1}])
    );
}

#[test]
fn a_response_is_written_as_serde_would_write_its_members_in_order() {
    let patch = JsonText::written("\"cGF0Y2g=\"".to_string());
    let annotations = JsonText::written(r#"{"a":"[\"x\\\"y\"]"}"#.to_string());
    let warnings = vec!["w \"1\"\n".to_string(), "w2".to_string()];
    let status = json!({"code": 422, "message": "m\u{1}é"});
    let review = ReviewResponse {
        api_version: API_VERSION,
        kind: KIND,
        response: ResponseBody {
            uid: "u\"1\\",
            allowed: false,
            status: Some(status.clone()),
            patch: Some(patch),
            patch_type: Some("JSONPatch"),
            audit_annotations: Some(annotations),
            warnings: &warnings,
        },
    };
    let expected = json!({"apiVersion": API_VERSION, "kind": KIND, "response": {
        "uid": "u\"1\\", "allowed": false, "status": status, "patch": "cGF0Y2g=",
        "patchType": "JSONPatch", "auditAnnotations": {"a": "[\"x\\\"y\"]"},
        "warnings": warnings}});
    assert_eq!(
        String::from_utf8(review.to_json()).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );

    let bare = ReviewResponse {
        api_version: API_VERSION,
        kind: KIND,
        response: ResponseBody {
            uid: "u2",
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            audit_annotations: None,
            warnings: &[],
        },
    };
    let expected = json!({"apiVersion": API_VERSION, "kind": KIND,
        "response": {"uid": "u2", "allowed": true}});
    assert_eq!(
        String::from_utf8(bare.to_json()).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
}

/// The answer to a CREATE of a Pod whose `request` ends with `rest` (the object, or another
/// operation), decided against no streams.
fn answer_to(rest: &str) -> Value {
    let body = format!(
        r#"{{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {{"uid": "abc",
        "kind": {{"group": "", "version": "v1", "kind": "Pod"}},
        "resource": {{"group": "", "version": "v1", "resource": "pods"}}, "namespace": "qa", {rest}}}}}"#
    );
    let request = parse(body.as_bytes()).expect("a readable review");
    let config = crate::resolve::ResolverConfig::default();
    let streams = crate::resolve::Index::default();
    let resolver = crate::admission::StreamResolver {
        config: &config,
        streams: &streams,
    };
    let decision = decide(&request, &ImagePolicyConfig::default(), &resolver);
    as_value(&respond(&request.uid, &decision))
}

#[test]
fn a_review_whose_object_or_operation_cannot_be_read_is_allowed_with_a_warning_and_an_audit_note() {
    let create = r#""operation": "CREATE""#;
    let cases = [
        (
            format!(r#"{create}, "object": "hello""#),
            "object: a string, not an object",
        ),
        (
            format!(r#"{create}, "object": [1]"#),
            "object: a list, not an object",
        ),
        (
            format!(r#"{create}, "object": null"#),
            "object: null, not an object",
        ),
        (
            format!(r#"{create}, "object": {{"spec": null}}"#),
            "spec: null, not an object",
        ),
        (
            format!(r#"{create}, "object": {{"spec": {{"containers": {{"name": "a"}}}}}}"#),
            "spec.containers: an object, not a list",
        ),
        (
            format!(
                r#"{create}, "object": {{"spec": {{"containers": [{{"name": "a", "image": 5}}]}}}}"#
            ),
            "spec.containers[0].image: a number, not an image reference",
        ),
    ];
    for (rest, subject) in cases {
        let answer = answer_to(&rest);
        let response = &answer["response"];
        let warning = format!("{subject}: not resolved");
        assert_eq!(response["allowed"], true, "{rest}");
        assert_eq!(response["warnings"], json!([warning]), "{rest}");
        let unresolved = response["auditAnnotations"]["unresolved"]
            .as_str()
            .expect("an audit note");
        assert_eq!(
            serde_json::from_str::<Value>(unresolved).unwrap(),
            json!([warning]),
            "{rest}"
        );
    }
    let answer = answer_to(r#""operation": "PATCH", "object": {"spec": {}}"#);
    let warning = "request.operation is not CREATE, UPDATE, DELETE or CONNECT: nothing resolved";
    assert_eq!(answer["response"]["allowed"], true);
    assert_eq!(answer["response"]["warnings"], json!([warning]));
}
