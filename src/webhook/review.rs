//! AdmissionReview `admission.k8s.io/v1` on the wire, and the pure translation between it and
//! [`admission::decide`](crate::admission::decide).
//!
//! The request side is a small serde struct over `serde_json::Value` rather than
//! `kube_core::admission::AdmissionReview<DynamicObject>`: admission works on raw JSON, and the
//! typed form would parse each object twice on the hot path. The objects are read sparsely
//! (only the fields admission looks at), so the returned JSON Patch addresses the object the
//! kube-apiserver holds, not the parsed `object`, which lacks everything else. The response is our own struct
//! too: kube-core 5's `AdmissionResponse` serialises `patch` as an array of numbers, which the
//! kube-apiserver (expecting Go's base64 `[]byte`) cannot decode.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::admission::{self, Decision, Operation, ReferenceResolver, Request};
use crate::api::policy::ImagePolicyConfig;

/// An incoming AdmissionReview. Strings borrow from the body where JSON needs no unescaping.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRequest<'a> {
    /// Must be `admission.k8s.io/v1`.
    #[serde(default, borrow)]
    pub api_version: Cow<'a, str>,
    /// Must be `AdmissionReview`.
    #[serde(default, borrow)]
    pub kind: Cow<'a, str>,
    /// The request; absent means the body is not a request.
    #[serde(borrow)]
    pub request: Option<RequestBody<'a>>,
}

/// The `request` of an AdmissionReview.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestBody<'a> {
    /// Echoed in the response.
    #[serde(borrow)]
    pub uid: Cow<'a, str>,
    /// The object's group, version and kind.
    #[serde(borrow)]
    pub kind: GroupVersionKind<'a>,
    /// The resource being admitted.
    #[serde(borrow)]
    pub resource: GroupVersionResource<'a>,
    /// The subresource, if any.
    #[serde(default, borrow)]
    pub sub_resource: Option<Cow<'a, str>>,
    /// The namespace of the object.
    #[serde(default, borrow)]
    pub namespace: Option<Cow<'a, str>>,
    /// The object's name (empty with generateName).
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    #[serde(borrow)]
    pub operation: Cow<'a, str>,
    /// The object as submitted, reduced to what admission reads ([`admission::sparse_object`]).
    #[serde(default, deserialize_with = "admission::sparse_object")]
    pub object: Option<Value>,
    /// The stored object, on UPDATE, reduced likewise.
    #[serde(default, deserialize_with = "admission::sparse_object")]
    pub old_object: Option<Value>,
    /// Whether this is a dry run.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// `{group, version, kind}`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionKind<'a> {
    /// API group (`""` for core).
    #[serde(default, borrow)]
    pub group: Cow<'a, str>,
    /// API version.
    #[serde(default, borrow)]
    pub version: Cow<'a, str>,
    /// Kind.
    #[serde(default, borrow)]
    pub kind: Cow<'a, str>,
}

/// `{group, version, resource}`.
#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionResource<'a> {
    /// API group (`""` for core).
    #[serde(default, borrow)]
    pub group: Cow<'a, str>,
    /// API version.
    #[serde(default, borrow)]
    pub version: Cow<'a, str>,
    /// Plural resource.
    #[serde(default, borrow)]
    pub resource: Cow<'a, str>,
}

/// Why a body is not an AdmissionReview we can answer (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON of the right shape.
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    Malformed(String),
    /// The version is not v1.
    #[error(
        "unsupported AdmissionReview apiVersion {0:?}: configure admissionReviewVersions [\"v1\"]"
    )]
    UnsupportedVersion(String),
    /// The review has no request.
    #[error("the AdmissionReview has no request")]
    MissingRequest,
}

/// Parses and checks an AdmissionReview body.
pub fn parse(body: &[u8]) -> Result<RequestBody<'_>, ReviewError> {
    let review: ReviewRequest<'_> =
        serde_json::from_slice(body).map_err(|e| ReviewError::Malformed(e.to_string()))?;
    if review.api_version != API_VERSION || review.kind != KIND {
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
pub fn decide<R: ReferenceResolver + ?Sized>(
    request: &RequestBody<'_>,
    policy: &ImagePolicyConfig,
    resolver: &R,
) -> Decision {
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

/// An outgoing AdmissionReview.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResponse<'a> {
    /// `admission.k8s.io/v1`.
    pub api_version: &'static str,
    /// `AdmissionReview`.
    pub kind: &'static str,
    /// The answer.
    pub response: ResponseBody<'a>,
}

/// The `response` of an AdmissionReview.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBody<'a> {
    /// The request's uid (empty when the request could not be read).
    pub uid: &'a str,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Why not, as a Status; absent when allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// The base64 JSON Patch as a JSON string, only when something changed. Raw because base64
    /// never needs escaping, and escaping checks each of its bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<Box<RawValue>>,
    /// `JSONPatch` when a patch is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Audit annotations (the apiserver prefixes them with the webhook name).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
    /// Warnings shown to the client.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
}

/// The AdmissionReview answering `uid` with `decision`: the patch only when something changed,
/// warnings, audit annotations, or a 422 denial with OpenShift's message.
pub fn respond<'a>(uid: &'a str, decision: &'a Decision) -> ReviewResponse<'a> {
    let mut body = ResponseBody {
        uid,
        allowed: decision.denial.is_none(),
        status: None,
        patch: None,
        patch_type: None,
        audit_annotations: decision.audit_annotations(),
        warnings: &decision.warnings,
    };
    if let Some(denial) = &decision.denial {
        body.status = Some(status(422, "Invalid", &denial.message));
    } else if !decision.patch.0.is_empty() {
        body.patch = Some(base64_json_string(&decision.patch));
        body.patch_type = Some("JSONPatch");
    }
    ReviewResponse {
        api_version: API_VERSION,
        kind: KIND,
        response: body,
    }
}

/// `patch` serialised and base64-encoded, as a JSON string.
fn base64_json_string(patch: &json_patch::Patch) -> Box<RawValue> {
    let mut json = Vec::with_capacity(256 * patch.0.len());
    serde_json::to_writer(&mut json, patch).expect("a JSON Patch always serialises");
    let mut quoted = String::with_capacity(json.len() * 4 / 3 + 6);
    quoted.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(json, &mut quoted);
    quoted.push('"');
    RawValue::from_string(quoted).expect("base64 in quotes is a JSON string")
}

/// The review answering a body that could not be read: not allowed, no uid.
pub fn respond_invalid(error: &ReviewError) -> ReviewResponse<'static> {
    let body = ResponseBody {
        uid: "",
        allowed: false,
        status: Some(status(400, "BadRequest", &error.to_string())),
        patch: None,
        patch_type: None,
        audit_annotations: BTreeMap::new(),
        warnings: &[],
    };
    ReviewResponse {
        api_version: API_VERSION,
        kind: KIND,
        response: body,
    }
}

const API_VERSION: &str = "admission.k8s.io/v1";
const KIND: &str = "AdmissionReview";

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_v1_parses_and_others_are_refused_with_a_reason() {
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "operation": "CREATE", "namespace": "demo", "object": {}}});
        let body = body.to_string();
        let request = parse(body.as_bytes()).unwrap();
        assert_eq!(request.uid, "u1");
        assert_eq!(request.resource.resource, "pods");

        let v1beta1 = json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"});
        let error = parse(v1beta1.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("admissionReviewVersions"), "{error}");
        let no_request = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
        assert!(matches!(
            parse(no_request.to_string().as_bytes()),
            Err(ReviewError::MissingRequest)
        ));
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
            serde_json::from_value(json!([{"op": "replace", "path": "/spec/x", "value": 1}]))
                .unwrap();
        let changed = serde_json::to_value(respond(
            "u4",
            &Decision {
                patch,
                ..Decision::default()
            },
        ))
        .unwrap();
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
}
