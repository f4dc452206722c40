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
use serde_json::{json, Map, Value};

use crate::admission::{self, Decision, Denial, Operation, Pin, ReferenceResolver, Request};
use crate::api::policy::ImagePolicyConfig;
use crate::field::FieldError;

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

/// Why a body is not an AdmissionReview we can answer (HTTP 400). Each carries the request's
/// uid when the body has one, so the answer can echo it.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON of the right shape.
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {detail}")]
    Malformed {
        /// What serde could not read.
        detail: String,
        /// `request.uid`, or empty.
        uid: String,
    },
    /// An AdmissionReview of another version.
    #[error(
        "unsupported AdmissionReview apiVersion {api_version:?}: configure \
         admissionReviewVersions [\"v1\"]"
    )]
    UnsupportedVersion {
        /// The body's `apiVersion`.
        api_version: String,
        /// `request.uid`, or empty.
        uid: String,
    },
    /// Not an AdmissionReview at all.
    #[error(
        "unsupported kind {kind:?} (apiVersion {api_version:?}): /mutate answers only \
         AdmissionReview of admission.k8s.io/v1"
    )]
    NotAReview {
        /// The body's `kind`.
        kind: String,
        /// The body's `apiVersion`.
        api_version: String,
        /// `request.uid`, or empty.
        uid: String,
    },
    /// The review has no request.
    #[error("the AdmissionReview has no request")]
    MissingRequest,
}

impl ReviewError {
    /// The request's uid, or empty when the body has none.
    pub fn uid(&self) -> &str {
        match self {
            Self::Malformed { uid, .. }
            | Self::UnsupportedVersion { uid, .. }
            | Self::NotAReview { uid, .. } => uid,
            Self::MissingRequest => "",
        }
    }
}

/// Parses and checks an AdmissionReview body.
pub fn parse(body: &[u8]) -> Result<RequestBody<'_>, ReviewError> {
    let review: ReviewRequest<'_> = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(error) => return Err(unreadable(body, &error)),
    };
    if review.api_version != API_VERSION || review.kind != KIND {
        let uid = review.request.as_ref().map_or("", |request| &*request.uid);
        return Err(not_v1(&review.api_version, &review.kind, uid));
    }
    review.request.ok_or(ReviewError::MissingRequest)
}

/// Only `apiVersion`, `kind` and `request.uid`: what a body that does not parse as a v1
/// review may still tell. Read on that error path only.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(default, borrow)]
    api_version: Cow<'a, str>,
    #[serde(default, borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    request: Option<UidOnly<'a>>,
}

#[derive(Deserialize)]
struct UidOnly<'a> {
    #[serde(default, borrow)]
    uid: Cow<'a, str>,
}

/// The error for a body that is not a readable v1 review: a review of another version (whose
/// request need not have v1's shape) is reported as that; anything else as malformed.
fn unreadable(body: &[u8], error: &serde_json::Error) -> ReviewError {
    let detail = error.to_string();
    let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(body) else {
        let uid = String::new();
        return ReviewError::Malformed { detail, uid };
    };
    let uid = envelope
        .request
        .as_ref()
        .map_or("", |request| &*request.uid);
    if envelope.api_version != API_VERSION || envelope.kind != KIND {
        return not_v1(&envelope.api_version, &envelope.kind, uid);
    }
    let uid = uid.to_string();
    ReviewError::Malformed { detail, uid }
}

/// A wrong version names the version; a wrong kind names both, since the version is then
/// not what is wrong.
fn not_v1(api_version: &str, kind: &str, uid: &str) -> ReviewError {
    let (api_version, uid) = (api_version.to_string(), uid.to_string());
    if kind == KIND {
        return ReviewError::UnsupportedVersion { api_version, uid };
    }
    let kind = kind.to_string();
    ReviewError::NotAReview {
        kind,
        api_version,
        uid,
    }
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

/// Runs the admission decision for one request as OpenShift does ([`Pin::Templates`]).
pub fn decide<R: ReferenceResolver + ?Sized>(
    request: &RequestBody<'_>,
    policy: &ImagePolicyConfig,
    resolver: &R,
) -> Decision {
    decide_with(request, policy, Pin::Templates, resolver)
}

/// Runs the admission decision for one request, pinning pod specs where `pin` says. Requests
/// without an object (DELETE, CONNECT) and unknown operations are decided as pass-through by
/// the core.
pub fn decide_with<R: ReferenceResolver + ?Sized>(
    request: &RequestBody<'_>,
    policy: &ImagePolicyConfig,
    pin: Pin,
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
    admission::decide_with(&core_request, policy, pin, resolver)
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
fn base64_json_string(patch: &json_patch::Patch) -> Box<RawValue> {
    let mut json = Vec::with_capacity(256 * patch.0.len());
    serde_json::to_writer(&mut json, patch).expect("a JSON Patch always serialises");
    let mut quoted = String::with_capacity(json.len() * 4 / 3 + 6);
    quoted.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(json, &mut quoted);
    quoted.push('"');
    RawValue::from_string(quoted).expect("base64 in quotes is a JSON string")
}

/// The review answering a body that could not be read: not allowed, echoing the request's
/// uid when the body had one.
pub fn respond_invalid(error: &ReviewError) -> ReviewResponse<'_> {
    let body = ResponseBody {
        uid: error.uid(),
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
            audit_annotations: BTreeMap::new(),
            warnings: &[],
        },
    }
}

const API_VERSION: &str = "admission.k8s.io/v1";
const KIND: &str = "AdmissionReview";

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

#[cfg(test)]
mod tests;
