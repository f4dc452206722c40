//! The outcome of one admission request: a patch, what was rewritten and why, warnings for the
//! user, or a 422-style denial.

use json_patch::{Patch, PatchError};
use serde::Serialize;
use serde_json::Value;

use super::{JsonText, Request};
use crate::field::{invalid_message, FieldError};

/// Audit annotation key listing the rewrites as JSON. The API server prefixes webhook audit keys
/// with the webhook's name: `imagelookup.image.openshift.io/rewrites` with the shipped
/// registration.
pub const AUDIT_REWRITES: &str = "rewrites";

/// Audit annotation key listing, as a JSON list of strings, the warnings of the references that
/// were not pinned or were rejected (`imagelookup.image.openshift.io/unresolved`): warnings
/// reach whoever created the object, often a controller that drops them; the audit log keeps
/// them for the platform team.
pub const AUDIT_UNRESOLVED: &str = "unresolved";

/// What admission decided for one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// JSON Patch against the submitted object; empty when nothing changed or on denial.
    pub patch: Patch,
    /// Every reference written back, in visiting order; empty on denial.
    pub rewrites: Vec<Rewrite>,
    /// Why references were not rewritten, not pinned, or rejected: one line each, prefixed by
    /// field path, kept on denial too.
    pub warnings: Vec<String>,
    /// The warnings whole, when `warnings` had to shorten them to fit kube-apiserver's limits
    /// (empty otherwise): what the audit annotation keeps.
    pub whole_warnings: Vec<String>,
    /// Why each warned reference is not pinned (`not_pinned`, or a resolution error's label),
    /// one per warning, for metrics; empty (and unallocated) when there are no warnings, and
    /// on a skip, whose warning (an unknown operation's) is counted by its [`Skip`] label.
    pub unresolved: Vec<&'static str>,
    /// Set when the request must be rejected.
    pub denial: Option<Denial>,
    /// Set when the request was not looked at, and why.
    pub skipped: Option<Skip>,
}

/// One reference written back into the object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    /// The field rewritten: `spec.containers[0].image`, or a build's `…from`.
    pub path: String,
    /// The reference as submitted (`mysql:8`, or `ImageStreamTag ruby:3` for builds).
    pub from: String,
    /// The pull spec written.
    pub to: String,
    /// The resolver's explanation.
    pub reason: String,
    /// Whether the written reference is pinned to a digest (not a pull-through `repo:tag`).
    /// For metrics; the audit annotation already says it in `to` and `reason`.
    #[serde(skip)]
    pub pinned: bool,
}

/// A rejection: the field errors and the 422 message built from them.
#[derive(Clone, Debug, PartialEq)]
pub struct Denial {
    /// The object's API group.
    pub group: String,
    /// The object's kind.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// One `Forbidden` error per rejected reference.
    pub errors: Vec<FieldError>,
    /// `<Kind[.group]> "<name>" is invalid: …`, as OpenShift's plugin words it.
    pub message: String,
}

/// Why a request was passed through untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Neither CREATE nor UPDATE.
    Operation,
    /// An operation admission.k8s.io/v1 does not define (only a misconfigured caller sends
    /// one): passed through with a warning saying so.
    UnknownOperation,
    /// A subresource other than `pods/ephemeralcontainers`.
    Subresource,
    /// No resolution or execution rule covers the resource.
    NotCovered,
    /// The object has a controlling owner, whose template was already admitted.
    ControllerOwned,
    /// A pod template while pinning at Pods (`--pin=pods`): its Pods are resolved instead.
    PodTemplate,
    /// The kind carries no image references we know of.
    NoImages,
}

impl Skip {
    /// Every reason a request is passed through, so that metrics can export each from the start.
    pub const ALL: [Skip; 7] = [
        Self::Operation,
        Self::UnknownOperation,
        Self::Subresource,
        Self::NotCovered,
        Self::ControllerOwned,
        Self::PodTemplate,
        Self::NoImages,
    ];

    /// A stable snake_case label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operation => "operation",
            Self::UnknownOperation => "unknown_operation",
            Self::Subresource => "subresource",
            Self::NotCovered => "not_covered",
            Self::ControllerOwned => "controller_owned",
            Self::PodTemplate => "pod_template",
            Self::NoImages => "no_images",
        }
    }
}

impl Decision {
    /// A pass-through decision.
    pub(crate) fn skipped(skip: Skip) -> Self {
        Self {
            skipped: Some(skip),
            ..Self::default()
        }
    }

    /// Whether the request is admitted.
    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }

    /// The object with the patch applied, as the API server would store it (tests and
    /// library users; `resolve` splices the patch into the manifest's text instead).
    pub fn apply_to(&self, object: &Value) -> Result<Value, PatchError> {
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &self.patch)?;
        Ok(patched)
    }

    /// The admission response's `auditAnnotations` object (the rewrites as JSON under
    /// [`AUDIT_REWRITES`], the warnings under [`AUDIT_UNRESOLVED`]); `None` when nothing was
    /// rewritten or warned about.
    pub fn audit_annotations(&self) -> Option<JsonText> {
        let whole = match self.whole_warnings.is_empty() {
            true => &self.warnings,
            false => &self.whole_warnings,
        };
        super::audit::audit_annotations(&self.rewrites, whole)
    }
}

impl Denial {
    /// The denial for `request` with these (non-empty) errors.
    pub(crate) fn new(request: &Request<'_>, errors: Vec<FieldError>) -> Self {
        let message = invalid_message(&request.qualified_kind(), request.name, &errors);
        Self {
            group: request.group.to_string(),
            kind: request.kind.to_string(),
            name: request.name.to_string(),
            errors,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn audit_annotations_list_rewrites_as_json() {
        let decision = Decision {
            rewrites: vec![Rewrite {
                path: "spec.containers[0].image".into(),
                from: "mysql".into(),
                to: "mysql@sha256:1".into(),
                reason: "pinned".into(),
                pinned: true,
            }],
            ..Decision::default()
        };
        let annotations = decision.audit_annotations().unwrap();
        let annotations: BTreeMap<String, String> =
            serde_json::from_str(annotations.get()).unwrap();
        let value: Value = serde_json::from_str(&annotations[AUDIT_REWRITES]).unwrap();
        assert_eq!(value[0]["to"], "mysql@sha256:1");
        assert!(
            !annotations.contains_key(AUDIT_UNRESOLVED),
            "nothing unresolved"
        );
        assert!(Decision::default().audit_annotations().is_none());
    }

    #[test]
    fn audit_annotations_keep_the_warnings_of_references_not_pinned() {
        let warning = "spec.containers[1].image: tag \"nope\" not found in image stream ns/app";
        let decision = Decision {
            warnings: vec![warning.to_string()],
            unresolved: vec!["tag_not_found"],
            ..Decision::default()
        };
        let annotations = decision.audit_annotations().unwrap();
        let annotations: BTreeMap<String, String> =
            serde_json::from_str(annotations.get()).unwrap();
        assert!(
            !annotations.contains_key(AUDIT_REWRITES),
            "nothing rewritten"
        );
        let listed: Vec<String> = serde_json::from_str(&annotations[AUDIT_UNRESOLVED]).unwrap();
        assert_eq!(listed, [warning]);
    }

    #[test]
    fn empty_patch_applies_as_identity() {
        let object = json!({"spec": {"containers": [{"image": "mysql"}]}});
        assert_eq!(Decision::default().apply_to(&object).unwrap(), object);
        assert!(Decision::skipped(Skip::NotCovered).allowed());
        assert_eq!(Skip::ControllerOwned.label(), "controller_owned");
        assert_eq!(Skip::PodTemplate.label(), "pod_template");
    }
}
