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
/// them (most are discovery and OpenAPI reads; `/mutate` has a check of its own, a client
/// certificate, when `--admission-client-ca-file` asks for one).
const NON_RESOURCE_REASON: &str = "no --authz-file rule covers requests that are not for a \
                                   resource: this server lets any authenticated user make them";

/// The reason given to a user the front proxy vouched for: the kube-apiserver authorized its
/// request with the cluster's RBAC, which this server cannot see.
const DELEGATED_REASON: &str = "the kube-apiserver authorizes this user with the cluster's \
                                RBAC, which this server cannot see: ask the cluster";

/// The reason given when no `--authz-file` was given.
const NO_POLICY_REASON: &str =
    "no --authz-file: every user this server authenticates may do everything";

/// Whether `user` may do what `spec` asks, and why, as `policy` (none: everything) says; for
/// a user the front proxy vouched for, neither (the kube-apiserver decides with RBAC).
pub fn access_status(
    policy: Option<&Policy>,
    user: &UserInfo,
    spec: &SelfSubjectAccessReviewSpec,
) -> Result<SubjectAccessReviewStatus, Box<FieldError>> {
    let status = match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(resource), None) => resource_status(policy, user, resource),
        (None, Some(_)) => allowed(NON_RESOURCE_REASON.to_string()),
        // kube-apiserver's words, both `Invalid`.
        (Some(_), Some(path)) => {
            return Err(Box::new(FieldError::invalid(
                "spec.nonResourceAttributes",
                serde_json::to_value(path).unwrap_or_default(),
                "cannot be specified in combination with resourceAttributes",
            )))
        }
        (None, None) => {
            return Err(Box::new(FieldError::invalid(
                "spec.resourceAttributes",
                serde_json::Value::Null,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )))
        }
    };
    // Neither yes nor no: the cluster decides too (`Auth::allows_elsewhere`).
    if user.delegated {
        return Ok(SubjectAccessReviewStatus {
            allowed: false,
            reason: Some(DELEGATED_REASON.to_string()),
            ..SubjectAccessReviewStatus::default()
        });
    }
    Ok(status)
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
/// says: the rules that apply, as written. The list is complete, the policy being all there
/// is, except for a user the front proxy vouched for, whom the cluster's RBAC limits too.
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
        // The cluster's RBAC applies to a user the front proxy vouched for, unseen here.
        incomplete: user.delegated,
        evaluation_error: user.delegated.then(|| DELEGATED_REASON.to_string()),
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
