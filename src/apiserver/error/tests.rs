//! Table tests of the Status bodies against kube-apiserver's.

use axum::http::header;
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::*;

fn check(error: ApiError, expected: Value) {
    let status = error.status();
    assert_eq!(status, expected, "{error:?}");
    assert_eq!(
        status["code"],
        error.code(),
        "code must equal the HTTP status"
    );
    if !matches!(error, ApiError::Internal(_)) {
        assert_eq!(status["message"], error.to_string());
    }
}

fn failure(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn failure_with(code: u16, reason: &str, message: &str, details: Value) -> Value {
    let mut status = failure(code, reason, message);
    status["details"] = details;
    status
}

#[test]
fn client_errors_render_like_the_apiserver() {
    check(
        ApiError::bad_request("invalid continue token"),
        failure(400, "BadRequest", "invalid continue token"),
    );
    check(
        ApiError::Unauthorized,
        failure(401, "Unauthorized", "Unauthorized"),
    );
    check(
        ApiError::MethodNotAllowed,
        failure_with(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    );
    check(
        ApiError::NotAcceptable {
            accepted: vec!["application/json"],
        },
        failure(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        ),
    );
    check(
        ApiError::RequestEntityTooLarge("limit is 3145728".into()),
        failure(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        ),
    );
    check(
        ApiError::UnsupportedMediaType { accepted: vec!["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"], hint: None },
        failure(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
    );
    check(
        ApiError::UnsupportedMediaType { accepted: vec!["application/json-patch+json"], hint: Some("use kubectl replace") },
        failure(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json; use kubectl replace"),
    );
}

#[test]
fn object_errors_carry_the_resource_plural_in_details() {
    let details = json!({"name": "demo", "group": "image.openshift.io", "kind": "imagestreams"});
    check(
        ApiError::not_found(IMAGE_STREAMS, "demo"),
        failure_with(
            404,
            "NotFound",
            "imagestreams.image.openshift.io \"demo\" not found",
            details.clone(),
        ),
    );
    check(
        ApiError::already_exists(IMAGE_STREAMS, "demo"),
        failure_with(
            409,
            "AlreadyExists",
            "imagestreams.image.openshift.io \"demo\" already exists",
            details.clone(),
        ),
    );
    check(
        ApiError::GenerateNameConflict {
            resource: IMAGE_STREAMS,
            name: "web-x7k2p".into(),
        },
        failure_with(
            409,
            "AlreadyExists",
            "imagestreams.image.openshift.io \"web-x7k2p\" already exists, the server was not \
             able to generate a unique name for the object",
            json!({"name": "web-x7k2p", "group": "image.openshift.io", "kind": "imagestreams",
                   "retryAfterSeconds": 1}),
        ),
    );
    check(
        ApiError::modified(IMAGE_STREAMS, "demo"),
        failure_with(409, "Conflict", "Operation cannot be fulfilled on imagestreams.image.openshift.io \"demo\": the object has been modified; please apply your changes to the latest version and try again", details),
    );
}

#[test]
fn status_members_keep_apimachinery_order() {
    assert_eq!(
        ApiError::not_found(IMAGE_STREAMS, "demo")
            .status()
            .to_string(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"imagestreams.image.openshift.io \"demo\" not found","reason":"NotFound","details":{"name":"demo","group":"image.openshift.io","kind":"imagestreams"},"code":404}"#
    );
}

#[test]
fn path_not_found_has_empty_details() {
    check(
        ApiError::PathNotFound,
        failure_with(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        ),
    );
}

#[test]
fn forbidden_names_user_verb_resource_and_namespace() {
    check(
        ApiError::access_denied("alice", "get", IMAGE_STREAMS, "", "ns", "demo"),
        failure_with(403, "Forbidden", "imagestreams.image.openshift.io \"demo\" is forbidden: User \"alice\" cannot get resource \"imagestreams\" in API group \"image.openshift.io\" in the namespace \"ns\"",
                     json!({"name": "demo", "group": "image.openshift.io", "kind": "imagestreams"})),
    );
    check(
        ApiError::access_denied("bob", "list", IMAGE_STREAMS, "status", "", ""),
        failure_with(403, "Forbidden", "imagestreams.image.openshift.io is forbidden: User \"bob\" cannot list resource \"imagestreams/status\" in API group \"image.openshift.io\" at the cluster scope",
                     json!({"group": "image.openshift.io", "kind": "imagestreams"})),
    );
    check(
        ApiError::Forbidden {
            resource: None,
            name: String::new(),
            reason: "denied".into(),
        },
        failure_with(403, "Forbidden", "forbidden: denied", json!({})),
    );
}

#[test]
fn invalid_uses_the_kind_and_field_causes() {
    let errors = vec![FieldError::required("spec.tags[latest].from.name", "")];
    check(
        ApiError::invalid(IMAGE_STREAM_KIND, "demo", errors),
        failure_with(422, "Invalid", "ImageStream.image.openshift.io \"demo\" is invalid: spec.tags[latest].from.name: Required value",
                     json!({"name": "demo", "group": "image.openshift.io", "kind": "ImageStream",
                            "causes": [{"reason": "FieldValueRequired", "message": "Required value",
                                        "field": "spec.tags[latest].from.name"}]})),
    );
}

#[test]
fn invalid_list_options_match_the_observed_body() {
    let detail =
        "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled";
    let errors = vec![FieldError::forbidden("sendInitialEvents", detail)];
    check(
        ApiError::invalid(LIST_OPTIONS, "", errors),
        failure_with(
            422,
            "Invalid",
            &format!(
                "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: {detail}"
            ),
            json!({"group": "meta.k8s.io", "kind": "ListOptions",
                            "causes": [{"reason": "FieldValueForbidden", "message": format!("Forbidden: {detail}"),
                                        "field": "sendInitialEvents"}]}),
        ),
    );
    check(
        ApiError::invalid(PATCH_OPTIONS, "", vec![]),
        failure_with(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid",
            json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": []}),
        ),
    );
}

#[test]
fn apply_conflicts_list_field_manager_causes() {
    let manager = describe_manager(
        "kubectl-client-side-apply",
        "",
        Some("image.openshift.io/v1"),
        None,
    );
    let one = vec![FieldConflict {
        manager: manager.clone(),
        field: ".spec.lookupPolicy.local".into(),
    }];
    check(
        ApiError::ApplyConflict(one),
        failure_with(409, "Conflict", "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using image.openshift.io/v1: .spec.lookupPolicy.local",
                     json!({"causes": [{"reason": "FieldManagerConflict",
                                        "message": "conflict with \"kubectl-client-side-apply\" using image.openshift.io/v1",
                                        "field": ".spec.lookupPolicy.local"}]})),
    );
    let two = vec![
        FieldConflict {
            manager: "\"b\"".into(),
            field: ".x".into(),
        },
        FieldConflict {
            manager: "\"a\"".into(),
            field: ".y".into(),
        },
    ];
    assert_eq!(
        ApiError::ApplyConflict(two).to_string(),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .y\nconflicts with \"b\":\n- .x"
    );
}

#[test]
fn managers_print_like_structured_merge_diff() {
    assert_eq!(describe_manager("kubectl", "", None, None), "\"kubectl\"");
    assert_eq!(
        describe_manager("m", "status", Some("v1"), Some("2026-01-02T03:04:05Z")),
        "\"m\" with subresource \"status\" using v1 at 2026-01-02T03:04:05Z"
    );
}

#[test]
fn gone_and_expired_are_410() {
    check(
        ApiError::too_old_resource_version(123, 4567),
        failure(410, "Expired", "too old resource version: 123 (4567)"),
    );
    check(ApiError::Gone("gone".into()), failure(410, "Gone", "gone"));
}

#[test]
fn an_expired_continue_offers_a_fresh_token_only_when_it_has_one() {
    let mut with_token = failure(410, "Expired", INCONSISTENT_CONTINUE_MESSAGE);
    with_token["metadata"] = json!({"continue": "fresh"});
    check(ApiError::continue_expired(Some("fresh".into())), with_token);
    let without = failure(410, "Expired", CONTINUE_EXPIRED_MESSAGE);
    check(ApiError::continue_expired(None), without);
    assert!(!CONTINUE_EXPIRED_MESSAGE.contains("continue token in this response"));
}

#[test]
fn server_errors_carry_retry_hints() {
    check(
        ApiError::TooManyRequests {
            message: "slow down".into(),
            retry_after_seconds: 3,
        },
        failure_with(
            429,
            "TooManyRequests",
            "slow down",
            json!({"retryAfterSeconds": 3}),
        ),
    );
    check(
        ApiError::ServiceUnavailable("may have been applied".into()),
        failure(503, "ServiceUnavailable", "may have been applied"),
    );
    check(
        ApiError::Unreachable("store not ready".into()),
        failure_with(
            503,
            "ServiceUnavailable",
            "store not ready",
            json!({"retryAfterSeconds": 1}),
        ),
    );
    check(
        ApiError::TooLargeResourceVersion {
            requested: 9,
            current: 5,
        },
        failure_with(
            504,
            "Timeout",
            "Timeout: Too large resource version: 9, current: 5",
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                            "retryAfterSeconds": 1}),
        ),
    );
    check(
        ApiError::Timeout {
            message: "request did not complete".into(),
            retry_after_seconds: 0,
        },
        failure_with(
            504,
            "Timeout",
            "Timeout: request did not complete",
            json!({}),
        ),
    );
}

#[test]
fn internal_errors_hide_the_cause_from_the_client() {
    let error = ApiError::internal("disk on fire");
    assert_eq!(error.to_string(), "Internal error occurred: disk on fire");
    check(
        error,
        failure_with(
            500,
            "InternalError",
            &format!("Internal error occurred: {INTERNAL_MESSAGE}"),
            json!({"causes": [{"message": INTERNAL_MESSAGE}]}),
        ),
    );
}

#[test]
fn success_status_names_the_deleted_object() {
    assert_eq!(
        success_status(IMAGE_STREAMS, "demo", "u-1"),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
               "details": {"name": "demo", "group": "image.openshift.io", "kind": "imagestreams", "uid": "u-1"}})
    );
}

fn respond(error: ApiError) -> (u16, http::HeaderMap, Value) {
    let response = error.into_response();
    let code = response.status().as_u16();
    let headers = response.headers().clone();
    let body = futures::executor::block_on(response.into_body().collect()).unwrap();
    (
        code,
        headers,
        serde_json::from_slice(&body.to_bytes()).unwrap(),
    )
}

#[test]
fn responses_are_json_with_code_equal_to_http_status() {
    let (code, headers, body) = respond(ApiError::not_found(IMAGE_STREAMS, "x"));
    assert_eq!(code, 404);
    assert_eq!(body["code"], 404);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(headers.get(header::RETRY_AFTER).is_none());
}

#[test]
fn throttling_and_rv_timeouts_send_retry_after() {
    let throttled = ApiError::TooManyRequests {
        message: "busy".into(),
        retry_after_seconds: 7,
    };
    let (code, headers, _) = respond(throttled);
    assert_eq!(
        (code, &headers[header::RETRY_AFTER]),
        (429, &"7".parse().unwrap())
    );
    let too_large = ApiError::TooLargeResourceVersion {
        requested: 2,
        current: 1,
    };
    let (code, headers, body) = respond(too_large);
    assert_eq!(
        (code, &headers[header::RETRY_AFTER]),
        (504, &"1".parse().unwrap())
    );
    assert_eq!(body["reason"], "Timeout");
}
