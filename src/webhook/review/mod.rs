//! AdmissionReview `admission.k8s.io/v1` on the wire, and the pure translation between it and
//! [`crate::admission::decide`].
//!
//! The request side is a small serde struct over `serde_json::Value` rather than
//! `kube_core::admission::AdmissionReview<DynamicObject>`: admission works on raw JSON, and the
//! typed form would parse each object twice on the hot path. The objects are read sparsely
//! (only the fields admission looks at), so the returned JSON Patch addresses the object the
//! kube-apiserver holds, not the parsed `object`, which lacks everything else. The response is our own struct
//! too: kube-core 5's `AdmissionResponse` serialises `patch` as an array of numbers, which the
//! kube-apiserver (expecting Go's base64 `[]byte`) cannot decode.

use serde_json::Value;

use crate::admission::{self, Decision, Operation, Pin, ReferenceResolver, Request};
use crate::api::policy::ImagePolicyConfig;

mod request;
mod response;

pub use request::{
    parse, GroupVersionKind, GroupVersionResource, RequestBody, ReviewError, ReviewRequest,
};
pub use response::{respond, respond_invalid, respond_not_ready, ResponseBody, ReviewResponse};

/// The `apiVersion` of every review read and written.
const API_VERSION: &str = "admission.k8s.io/v1";
/// The `kind` of every review read and written.
const KIND: &str = "AdmissionReview";

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
/// the core, the latter with a warning.
pub fn decide_with<R: ReferenceResolver + ?Sized>(
    request: &RequestBody<'_>,
    policy: &ImagePolicyConfig,
    pin: Pin,
    resolver: &R,
) -> Decision {
    let empty = Value::Null;
    let core_request = Request {
        operation: operation(&request.operation).unwrap_or(Operation::Unknown),
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

#[cfg(test)]
mod tests;
