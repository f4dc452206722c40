//! AdmissionReview `admission.k8s.io/v1` on the wire, and the pure translation between it and
//! [`admission::decide`](crate::admission::decide).
//!
//! The request side is a small serde struct over `serde_json::Value` rather than
//! `kube_core::admission::AdmissionReview<DynamicObject>`: admission works on raw JSON, and the
//! typed form would parse each object twice on the hot path. The response is kube-core's
//! [`AdmissionResponse`].

use std::collections::HashMap;

use kube_core::admission::{AdmissionResponse, AdmissionReview};
use kube_core::DynamicObject;
use serde::Deserialize;
use serde_json::Value;

use crate::admission::{self, Decision, Operation, Request, ReferenceResolver};
use crate::api::policy::ImagePolicyConfig;

/// An incoming AdmissionReview.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRequest {
    /// Must be `admission.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// Must be `AdmissionReview`.
    #[serde(default)]
    pub kind: String,
    /// The request; absent means the body is not a request.
    pub request: Option<RequestBody>,
}

/// The `request` of an AdmissionReview.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestBody {
    /// Echoed in the response.
    pub uid: String,
    /// The object's group, version and kind.
    pub kind: GroupVersionKind,
    /// The resource being admitted.
    pub resource: GroupVersionResource,
    /// The subresource, if any.
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// The namespace of the object.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The object's name (empty with generateName).
    #[serde(default)]
    pub name: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// The object as submitted.
    #[serde(default)]
    pub object: Option<Value>,
    /// The stored object, on UPDATE.
    #[serde(default)]
    pub old_object: Option<Value>,
    /// Whether this is a dry run.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// `{group, version, kind}`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionKind {
    /// API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// `{group, version, resource}`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionResource {
    /// API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Plural resource.
    #[serde(default)]
    pub resource: String,
}

/// Why a body is not an AdmissionReview we can answer (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON of the right shape.
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    Malformed(String),
    /// The version is not v1.
    #[error("unsupported AdmissionReview apiVersion {0:?}: configure admissionReviewVersions [\"v1\"]")]
    UnsupportedVersion(String),
    /// The review has no request.
    #[error("the AdmissionReview has no request")]
    MissingRequest,
}

/// Parses and checks an AdmissionReview body.
pub fn parse(body: &[u8]) -> Result<RequestBody, ReviewError> {
    let review: ReviewRequest = serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    if review.api_version != "admission.k8s.io/v1" || review.kind != "AdmissionReview" {
        let found = format!("{} {}", review.api_version, review.kind);
        return Err(ReviewError::UnsupportedVersion(found.trim().to_string()));
    }
    review.request.ok_or(ReviewError::MissingRequest)
}

/// The operation named by the wire string.
pub fn operation(wire: &str) -> Option<Operation> {
    match wire {
        "CREATE" => Some(Operation::Create),
        "UPDATE" => Some(Operation::Update),
        "DELETE" => Some(Operation::Delete),
        "CONNECT" => Some(Operation::Connect),
        _ => None,
    }
}

/// Runs the admission decision for one request. Requests without an object (DELETE,
/// CONNECT) and unknown operations are decided as pass-through by the core.
pub fn decide<R: ReferenceResolver + ?Sized>(request: &RequestBody, policy: &ImagePolicyConfig, resolver: &R) -> Decision {
    let empty = Value::Null;
    let core_request = Request {
        operation: operation(&request.operation).unwrap_or(Operation::Connect),
        group: &request.kind.group,
        version: &request.kind.version,
        kind: &request.kind.kind,
        resource: &request.resource.resource,
        subresource: request.sub_resource.as_deref().unwrap_or(""),
        namespace: request.namespace.as_deref().unwrap_or(""),
        name: request.name.as_deref().unwrap_or(""),
        object: request.object.as_ref().unwrap_or(&empty),
        old_object: request.old_object.as_ref(),
        dry_run: request.dry_run.unwrap_or(false),
        ignored_rules: &[],
    };
    admission::decide(&core_request, policy, resolver)
}

/// The AdmissionReview answering `uid` with `decision`: the patch only when something changed,
/// warnings, audit annotations, or a 422 denial with OpenShift's message.
pub fn respond(uid: &str, decision: &Decision) -> AdmissionReview<DynamicObject> {
    let mut response = AdmissionResponse::invalid("");
    response.uid = uid.to_string();
    response.allowed = true;
    response.result = kube_core::Status::default();
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings.clone());
    }
    response.audit_annotations = decision.audit_annotations().into_iter().collect::<HashMap<_, _>>();
    if let Some(denial) = &decision.denial {
        response.allowed = false;
        response.result = denial_status(&denial.message);
        return response.into_review();
    }
    if decision.patch.0.is_empty() {
        return response.into_review();
    }
    match response.clone().with_patch(decision.patch.clone()) {
        Ok(patched) => patched.into_review(),
        Err(error) => AdmissionResponse::invalid(format!("cannot encode the patch: {error}")).into_review(),
    }
}

/// The review answering a body that could not be read: not allowed, no uid.
pub fn respond_invalid(error: &ReviewError) -> AdmissionReview<DynamicObject> {
    AdmissionResponse::invalid(error.to_string()).into_review()
}

fn denial_status(message: &str) -> kube_core::Status {
    let mut status = kube_core::Status::failure(message, "Invalid");
    status.code = 422;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_review_v1_parses_and_others_are_refused_with_a_reason() {
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "operation": "CREATE", "namespace": "demo", "object": {}}});
        let request = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(request.uid, "u1");
        assert_eq!(request.resource.resource, "pods");

        let v1beta1 = json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"});
        let error = parse(v1beta1.to_string().as_bytes()).unwrap_err().to_string();
        assert!(error.contains("admissionReviewVersions"), "{error}");
        let no_request = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
        assert!(matches!(parse(no_request.to_string().as_bytes()), Err(ReviewError::MissingRequest)));
        assert!(matches!(parse(b"[1,2]"), Err(ReviewError::Malformed(_))));
    }

    #[test]
    fn a_denial_carries_code_422_and_the_message() {
        let decision = Decision {
            denial: Some(crate::admission::Denial {
                group: String::new(),
                kind: "Pod".into(),
                name: "p".into(),
                errors: Vec::new(),
                message: "Pod \"p\" is invalid: x".into(),
            }),
            ..Decision::default()
        };
        let review = serde_json::to_value(respond("u2", &decision)).unwrap();
        let response = &review["response"];
        assert_eq!(response["uid"], "u2");
        assert_eq!(response["allowed"], false);
        assert_eq!(response["status"]["code"], 422);
        assert_eq!(response["status"]["reason"], "Invalid");
        assert_eq!(response["status"]["message"], "Pod \"p\" is invalid: x");
        assert!(response.get("patch").is_none());
    }

    #[test]
    fn an_unchanged_object_gets_no_patch_and_a_changed_one_a_json_patch() {
        let unchanged = serde_json::to_value(respond("u3", &Decision::default())).unwrap();
        assert_eq!(unchanged["response"]["allowed"], true);
        assert!(unchanged["response"].get("patch").is_none());
        assert_eq!(unchanged["apiVersion"], "admission.k8s.io/v1");

        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "replace", "path": "/spec/x", "value": 1}])).unwrap();
        let changed = serde_json::to_value(respond("u4", &Decision { patch, ..Decision::default() })).unwrap();
        assert_eq!(changed["response"]["patchType"], "JSONPatch");
        assert!(changed["response"]["patch"].is_string(), "base64 patch: {changed}");
    }
}
