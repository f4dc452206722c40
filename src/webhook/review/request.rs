//! The AdmissionReview read from the body: borrowed where JSON needs no unescaping, objects
//! reduced to what admission reads, and why a body that is not a v1 review is refused.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{API_VERSION, KIND};
use crate::admission;

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
    /// The body is over the webhook's limit, so it was not read.
    #[error(
        "the AdmissionReview is larger than the webhook's limit of {limit} bytes: a \
         kube-apiserver sends reviews of objects it can store, far smaller, so check what calls \
         the webhook"
    )]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read whole (the caller stopped sending it).
    #[error("the body of the request could not be read: {detail}")]
    Unreadable {
        /// Why.
        detail: String,
    },
    /// The server's budget for bodies read at once is spent (see
    /// [`crate::server::BodyBudget`]).
    #[error("{0}")]
    Busy(crate::server::BudgetExhausted),
}

impl ReviewError {
    /// The request's uid, or empty when the body has none.
    pub fn uid(&self) -> &str {
        match self {
            Self::Malformed { uid, .. }
            | Self::UnsupportedVersion { uid, .. }
            | Self::NotAReview { uid, .. } => uid,
            Self::MissingRequest
            | Self::TooLarge { .. }
            | Self::Unreadable { .. }
            | Self::Busy(_) => "",
        }
    }

    /// The HTTP status code and `Status` reason the answer carries.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Self::TooLarge { .. } => (413, "RequestEntityTooLarge"),
            Self::Busy(_) => (503, "ServiceUnavailable"),
            Self::Malformed { .. }
            | Self::UnsupportedVersion { .. }
            | Self::NotAReview { .. }
            | Self::MissingRequest
            | Self::Unreadable { .. } => (400, "BadRequest"),
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
