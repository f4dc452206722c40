//! What `kubectl auth can-i` and `kubectl auth whoami` ask a server of its own caller:
//! SelfSubjectAccessReview (may I do this?), SelfSubjectRulesReview (`can-i --list`: what may I
//! do here?) and SelfSubjectReview (who am I?), answered from the `--authz-file` policy and the
//! user this server authenticated. Served for standalone use, where they are how an operator
//! checks a policy; behind the kube-apiserver these paths are the cluster's own and never
//! reach this server. Pure: the handlers in `routes::self_review` decode and answer.

use k8s_openapi::api::authentication::v1 as authentication;
use k8s_openapi::api::authorization::v1::{
    NonResourceRule, ResourceAttributes, ResourceRule, SelfSubjectAccessReviewSpec,
    SubjectAccessReviewStatus, SubjectRulesReviewStatus,
};

use crate::auth::{Attributes, Policy, UserInfo};
use crate::field::FieldError;

/// `POST`ed by `kubectl auth can-i <verb> <resource>`.
pub const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
/// `POST`ed by `kubectl auth can-i --list`.
pub const RULES_REVIEWS: &str = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
/// `POST`ed by `kubectl auth whoami`.
pub const SUBJECT_REVIEWS: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

/// The reason given for a request that is not for a resource: the policy has no rules for
/// them, and every authenticated user may make them (most are discovery and OpenAPI reads).
const NON_RESOURCE_REASON: &str = "this server authorizes requests for resources only: any \
                                   authenticated user may make the others";

/// The reason given when no `--authz-file` was given.
const NO_POLICY_REASON: &str =
    "no --authz-file: every user this server authenticates may do everything";

/// Whether `user` may do what `spec` asks, and why, as `policy` (none: everything) says.
pub fn access_status(
    policy: Option<&Policy>,
    user: &UserInfo,
    spec: &SelfSubjectAccessReviewSpec,
) -> Result<SubjectAccessReviewStatus, Box<FieldError>> {
    match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(resource), None) => Ok(resource_status(policy, user, resource)),
        (None, Some(_)) => Ok(allowed(NON_RESOURCE_REASON.to_string())),
        (Some(_), Some(_)) => Err(Box::new(FieldError::forbidden(
            "spec.nonResourceAttributes",
            "cannot be specified in combination with resourceAttributes",
        ))),
        (None, None) => Err(Box::new(FieldError::required(
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ))),
    }
}

fn resource_status(
    policy: Option<&Policy>,
    user: &UserInfo,
    resource: &ResourceAttributes,
) -> SubjectAccessReviewStatus {
    let Some(policy) = policy else {
        return allowed(NO_POLICY_REASON.to_string());
    };
    let full = match text(&resource.subresource) {
        "" => text(&resource.resource).to_string(),
        sub => format!("{}/{sub}", text(&resource.resource)),
    };
    let attributes = Attributes {
        verb: text(&resource.verb),
        resource: &full,
        group: text(&resource.group),
        namespace: text(&resource.namespace),
        name: text(&resource.name),
    };
    match policy.granting_rule(user, &attributes) {
        Some(index) => allowed(format!("allowed by rules[{index}] of the --authz-file")),
        None => SubjectAccessReviewStatus {
            allowed: false,
            reason: Some(crate::auth::denial(user, &attributes)),
            ..SubjectAccessReviewStatus::default()
        },
    }
}

/// The text of an optional string field, empty when absent.
fn text(field: &Option<String>) -> &str {
    field.as_deref().unwrap_or_default()
}

fn allowed(reason: String) -> SubjectAccessReviewStatus {
    SubjectAccessReviewStatus {
        allowed: true,
        reason: Some(reason),
        ..SubjectAccessReviewStatus::default()
    }
}

/// What `user` may do in `namespace` (`""`: cluster-wide), as `policy` (none: everything)
/// says: the rules that apply, as written. The list is complete: the policy is all there is.
pub fn rules_status(
    policy: Option<&Policy>,
    user: &UserInfo,
    namespace: &str,
) -> SubjectRulesReviewStatus {
    let every = || vec!["*".to_string()];
    let resource_rules = match policy {
        None => vec![ResourceRule {
            verbs: every(),
            api_groups: Some(every()),
            resources: Some(every()),
            resource_names: None,
        }],
        Some(policy) => policy
            .rules_for(user, namespace)
            .map(|rule| ResourceRule {
                verbs: rule.verbs.clone(),
                api_groups: Some(rule.api_groups.clone()),
                resources: Some(rule.resources.clone()),
                resource_names: None,
            })
            .collect(),
    };
    SubjectRulesReviewStatus {
        resource_rules,
        non_resource_rules: vec![NonResourceRule {
            verbs: every(),
            non_resource_urls: Some(every()),
        }],
        incomplete: false,
        evaluation_error: None,
    }
}

/// `user` as `kubectl auth whoami` prints it.
pub fn user_info(user: &UserInfo) -> authentication::UserInfo {
    let given = |text: &str| (!text.is_empty()).then(|| text.to_string());
    authentication::UserInfo {
        username: given(&user.name),
        uid: given(&user.uid),
        groups: (!user.groups.is_empty()).then(|| user.groups.clone()),
        extra: None,
    }
}

#[cfg(test)]
mod tests;
