//! The AdmissionReview answered: the base64 JSON Patch, warnings and audit annotations, or a
//! refusal as a Status (OpenShift's 422 `Invalid` for a denial, 400 and 503 for the webhook's
//! own).

use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{ReviewError, API_VERSION, KIND};
use crate::admission::{Decision, Denial, JsonText};
use crate::field::FieldError;

/// An outgoing AdmissionReview, written by [`ReviewResponse::to_json`].
#[derive(Debug)]
pub struct ReviewResponse<'a> {
    /// `admission.k8s.io/v1`.
    pub api_version: &'static str,
    /// `AdmissionReview`.
    pub kind: &'static str,
    /// The answer.
    pub response: ResponseBody<'a>,
}

/// The `response` of an AdmissionReview.
#[derive(Debug)]
pub struct ResponseBody<'a> {
    /// The request's uid (empty when the request could not be read).
    pub uid: &'a str,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Why not, as a Status; absent when allowed.
    pub status: Option<Value>,
    /// The base64 JSON Patch as a JSON string, only when something changed. Written as is
    /// because base64 never needs escaping, and escaping checks each of its bytes.
    pub patch: Option<JsonText>,
    /// `JSONPatch` when a patch is present.
    pub patch_type: Option<&'static str>,
    /// Audit annotations, a JSON object of strings (the apiserver prefixes each key with the
    /// webhook name); absent when there are none.
    pub audit_annotations: Option<JsonText>,
    /// Warnings shown to the client.
    pub warnings: &'a [String],
}

/// Bytes reserved for a serialised response: a Pod with a few rewritten containers.
const REVIEW_RESPONSE_CAPACITY: usize = 2048;

impl ReviewResponse<'_> {
    /// The review as JSON: the members serde would write for these fields, in this order,
    /// absent ones left out, and the patch and audit annotations copied in as written (through
    /// serde_json they would be parsed again to be spliced in).
    pub fn to_json(&self) -> Vec<u8> {
        let body = &self.response;
        let mut out = Vec::with_capacity(REVIEW_RESPONSE_CAPACITY);
        member(&mut out, "{", "apiVersion", self.api_version);
        member(&mut out, ",", "kind", self.kind);
        member(&mut out, ",\"response\":{", "uid", body.uid);
        member(&mut out, ",", "allowed", &body.allowed);
        if let Some(status) = &body.status {
            member(&mut out, ",", "status", status);
        }
        if let Some(patch) = &body.patch {
            out.extend_from_slice(b",\"patch\":");
            out.extend_from_slice(patch.get().as_bytes());
        }
        if let Some(patch_type) = body.patch_type {
            member(&mut out, ",", "patchType", patch_type);
        }
        if let Some(annotations) = &body.audit_annotations {
            out.extend_from_slice(b",\"auditAnnotations\":");
            out.extend_from_slice(annotations.get().as_bytes());
        }
        if !body.warnings.is_empty() {
            member(&mut out, ",", "warnings", body.warnings);
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// `before`, then `"name":` and `value` as JSON.
fn member(out: &mut Vec<u8>, before: &str, name: &str, value: &(impl Serialize + ?Sized)) {
    out.extend_from_slice(before.as_bytes());
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    // Strings, booleans and `Value`s: writing them into a `Vec` cannot fail.
    serde_json::to_writer(&mut *out, value).expect("a string or a JSON value serialises");
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
        body.status = Some(invalid_status(denial));
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
fn base64_json_string(patch: &json_patch::Patch) -> JsonText {
    let mut json = Vec::with_capacity(256 * patch.0.len());
    serde_json::to_writer(&mut json, patch).expect("a JSON Patch always serialises");
    let mut quoted = String::with_capacity(json.len() * 4 / 3 + 6);
    quoted.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(json, &mut quoted);
    quoted.push('"');
    JsonText::written(quoted)
}

/// The review answering a body that could not be read: not allowed, echoing the request's
/// uid when the body had one.
pub fn respond_invalid(error: &ReviewError) -> ReviewResponse<'_> {
    let (code, reason) = error.status();
    let body = ResponseBody {
        uid: error.uid(),
        allowed: false,
        status: Some(status(code, reason, &error.to_string())),
        patch: None,
        patch_type: None,
        audit_annotations: None,
        warnings: &[],
    };
    ReviewResponse {
        api_version: API_VERSION,
        kind: KIND,
        response: body,
    }
}

/// The review answering a request that arrived before the index holds the store's streams:
/// not allowed, sent with a 503 so that kube-apiserver applies the webhook's failurePolicy
/// rather than reading it as this webhook's decision.
pub fn respond_not_ready(uid: &str) -> ReviewResponse<'_> {
    let message = "the imagestream index is still loading, so no reference can be resolved yet; \
                   retry in a moment (the kube-apiserver applies the webhook's failurePolicy)";
    ReviewResponse {
        api_version: API_VERSION,
        kind: KIND,
        response: ResponseBody {
            uid,
            allowed: false,
            status: Some(status(503, "ServiceUnavailable", message)),
            patch: None,
            patch_type: None,
            audit_annotations: None,
            warnings: &[],
        },
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

/// OpenShift's `apierrors.NewInvalid(kind, name, errs)`: a 422 whose `details` name the object
/// and carry one cause per field error. The kube-apiserver passes it through to the client.
fn invalid_status(denial: &Denial) -> Value {
    let mut status = status(422, "Invalid", &denial.message);
    let identity = [
        ("name", denial.name.as_str()),
        ("group", denial.group.as_str()),
        ("kind", denial.kind.as_str()),
    ];
    let mut details = omit_empty(&identity);
    let causes = denial.errors.iter().map(cause).collect();
    details.insert("causes".into(), Value::Array(causes));
    status["details"] = Value::Object(details);
    status
}

/// One `StatusCause`: `reason` is the cause type (`FieldValueForbidden`), `message` the error
/// without its field path.
fn cause(error: &FieldError) -> Value {
    let body = error.body();
    let members = [
        ("reason", error.kind.cause_reason()),
        ("message", body.as_str()),
        ("field", error.field.as_str()),
    ];
    Value::Object(omit_empty(&members))
}

/// The members with a value, as Go's `omitempty` writes them: a core-group kind has no
/// `group`, an object named by `generateName` no `name`.
fn omit_empty(members: &[(&str, &str)]) -> Map<String, Value> {
    members
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| ((*key).to_string(), Value::from(*value)))
        .collect()
}
