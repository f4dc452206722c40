//! Validation of a defaulted ImagePolicyConfig (openshift-semantics §3.2), with OpenShift's field
//! paths rooted at the plugin name (`image.openshift.io/ImagePolicy.executionRules[0].name`).

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use serde_json::Value;

use super::warnings::kind_written_for_resource;
use super::{ExecutionRule, ImagePolicyConfig, ResolutionRule, ResolveMode, API_VERSION, KIND};
use super::{BUILT_IN_RESOURCES, PLUGIN_NAME, POD_SPEC_PATHS};
use crate::field::{FieldError, FieldErrorType};

/// Every problem with `config`; empty when it may be used. Expects a defaulted config.
pub fn validate(config: &ImagePolicyConfig) -> Vec<FieldError> {
    let mut errors = type_meta_errors(config);
    errors.extend(execution_rule_errors(&config.execution_rules));
    for (index, rule) in config.resolution_rules().iter().enumerate() {
        errors.extend(resolution_rule_errors(index, rule));
    }
    errors.extend(pod_spec_path_errors(config.resolution_rules()));
    if config.resolve_images == ResolveMode::DoNotAttempt {
        for (index, rule) in config.execution_rules.iter().enumerate() {
            errors.extend(unresolvable_condition_errors(index, rule));
        }
    }
    errors
}

/// Beyond OpenShift (whose decoder refuses other types): a wrong apiVersion or kind is reported
/// instead of silently accepted.
fn type_meta_errors(config: &ImagePolicyConfig) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if config.api_version != API_VERSION {
        let detail = format!("must be {API_VERSION}");
        errors.push(FieldError::invalid(
            "apiVersion",
            config.api_version.as_str(),
            detail,
        ));
    }
    if config.kind != KIND {
        errors.push(FieldError::invalid(
            "kind",
            config.kind.as_str(),
            format!("must be {KIND}"),
        ));
    }
    errors
}

fn execution_rule_errors(rules: &[ExecutionRule]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    for (index, rule) in rules.iter().enumerate() {
        if !names.insert(rule.name.as_str()) {
            errors.push(duplicate(&format!("{}.name", rule_path(index)), &rule.name));
        }
        for (selector_index, selector) in rule.match_image_labels.iter().enumerate() {
            if let Err(detail) = check_selector(selector) {
                let field = format!("{}.matchImageLabels[{selector_index}]", rule_path(index));
                errors.push(FieldError::invalid(field, Value::Null, detail));
            }
        }
    }
    errors
}

fn resolution_rule_errors(index: usize, rule: &ResolutionRule) -> Vec<FieldError> {
    let path = format!("{PLUGIN_NAME}.resolutionRules[{index}]");
    let mut errors = Vec::new();
    if rule.policy.is_none() {
        let detail = "a policy must be specified for this resource";
        errors.push(FieldError::required(format!("{path}.policy"), detail));
    }
    if rule.target_resource.resource.is_empty() {
        let detail = "a target resource name or '*' must be provided";
        errors.push(FieldError::required(
            format!("{path}.targetResource.resource"),
            detail,
        ));
    }
    errors
}

/// Beyond OpenShift: `podSpecPath` says where one custom resource keeps its pod spec, so it
/// must be one the webhook reads, name one resource (a group, not `*`; a lowercase plural, not
/// a kind) that is not built in, and agree with every other rule naming that resource.
fn pod_spec_path_errors(rules: &[ResolutionRule]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut first: Vec<(&ResolutionRule, &str)> = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let Some(path) = rule.pod_spec_path.as_deref() else {
            continue;
        };
        let field = format!("{PLUGIN_NAME}.resolutionRules[{index}].podSpecPath");
        let target = &rule.target_resource;
        let built_in = BUILT_IN_RESOURCES
            .iter()
            .any(|&(group, resource)| target.group == group && target.resource == resource);
        let earlier = first
            .iter()
            .find(|(other, _)| other.target_resource == *target);
        let target_field = format!("{PLUGIN_NAME}.resolutionRules[{index}].targetResource");
        if !POD_SPEC_PATHS.contains(&path) {
            errors.push(FieldError::not_supported(field, path, &POD_SPEC_PATHS));
        } else if target.group == "*" {
            // OpenShift matches groups exactly: `*` is a wildcard for the resource only.
            let detail = "podSpecPath names where one resource keeps its pod spec: give the \
                          rule a group instead of '*'";
            errors.push(FieldError::forbidden(
                format!("{target_field}.group"),
                detail,
            ));
        } else if let Some(plural) = kind_written_for_resource(&target.resource) {
            let detail = format!("resources are lowercase plurals ({plural}), not kinds");
            let resource = target.resource.as_str();
            let field = format!("{target_field}.resource");
            errors.push(FieldError::invalid(field, resource, detail));
        } else if target.resource == "*" {
            let detail = "names where one resource keeps its pod spec: give the rule a resource \
                          instead of '*'";
            errors.push(FieldError::forbidden(field, detail));
        } else if built_in {
            let detail = format!(
                "{target} has a pod spec imagelookup finds without being told: remove podSpecPath"
            );
            errors.push(FieldError::forbidden(field, detail));
        } else if let Some((_, other)) = earlier.filter(|(_, other)| *other != path) {
            let detail = format!("an earlier rule says {target} keeps its pod spec at {other}");
            errors.push(FieldError::invalid(field, path, detail));
        } else {
            first.push((rule, path));
        }
    }
    errors
}

/// Without resolution no image is ever known, so image-metadata conditions could never pass.
fn unresolvable_condition_errors(index: usize, rule: &ExecutionRule) -> Vec<FieldError> {
    let detail = "images are not being resolved, this condition will always fail";
    let conditions = [
        (
            "matchDockerImageLabels",
            to_value(&rule.match_docker_image_labels),
        ),
        ("matchImageLabels", to_value(&rule.match_image_labels)),
        (
            "matchImageAnnotations",
            to_value(&rule.match_image_annotations),
        ),
    ];
    conditions
        .into_iter()
        .filter(|(_, value)| value.as_array().is_some_and(|list| !list.is_empty()))
        .map(|(name, value)| {
            FieldError::invalid(format!("{}.{name}", rule_path(index)), value, detail)
        })
        .collect()
}

/// The subset of apimachinery's `LabelSelectorAsSelector` checks that need no label grammar:
/// known operators, and values present exactly when the operator needs them.
fn check_selector(selector: &LabelSelector) -> Result<(), String> {
    let expressions = selector.match_expressions.as_deref().unwrap_or_default();
    expressions.iter().try_for_each(check_requirement)
}

fn check_requirement(requirement: &LabelSelectorRequirement) -> Result<(), String> {
    let has_values = requirement
        .values
        .as_ref()
        .is_some_and(|values| !values.is_empty());
    match requirement.operator.as_str() {
        "In" | "NotIn" if !has_values => {
            Err("for 'in', 'notin' operators, values set can't be empty".to_string())
        }
        "Exists" | "DoesNotExist" if has_values => {
            Err("values set must be empty for exists and does not exist".to_string())
        }
        "In" | "NotIn" | "Exists" | "DoesNotExist" => Ok(()),
        other => Err(format!("{other:?} is not a valid label selector operator")),
    }
}

fn rule_path(index: usize) -> String {
    format!("{PLUGIN_NAME}.executionRules[{index}]")
}

fn duplicate(field: &str, value: &str) -> FieldError {
    FieldError {
        kind: FieldErrorType::Duplicate,
        field: field.to_string(),
        bad_value: Some(Value::from(value)),
        detail: String::new(),
    }
}

fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str, expected: &[&str]) {
        let mut config: ImagePolicyConfig = serde_norway::from_str(yaml).expect("parses");
        config.apply_defaults();
        let messages: Vec<String> = validate(&config).iter().map(ToString::to_string).collect();
        assert_eq!(messages, expected, "{yaml}");
    }

    #[test]
    fn shipped_and_sample_configs_are_valid() {
        check("{}", &[]);
        check(
            "executionRules:\n\
             - name: execution-denied\n  reject: true\n\
             \x20 onResources: [{resource: pods}, {group: build.openshift.io, resource: builds}]\n\
             \x20 matchImageAnnotations: [{key: images.openshift.io/deny-execution, value: 'true'}]\n\
             \x20 skipOnResolutionFailure: true\n",
            &[],
        );
    }

    #[test]
    fn execution_rule_names_must_be_unique() {
        check(
            "executionRules: [{name: a}, {name: b}, {name: a}]",
            &["image.openshift.io/ImagePolicy.executionRules[2].name: Duplicate value: \"a\""],
        );
    }

    #[test]
    fn label_selectors_must_be_valid() {
        check(
            "executionRules:\n- name: a\n  matchImageLabels:\n\
             \x20 - matchExpressions: [{key: k, operator: In}]\n\
             \x20 - matchExpressions: [{key: k, operator: Exists, values: [v]}]\n\
             \x20 - matchExpressions: [{key: k, operator: Near}]\n\
             \x20 - matchExpressions: [{key: k, operator: NotIn, values: [v]}]\n",
            &[
                "image.openshift.io/ImagePolicy.executionRules[0].matchImageLabels[0]: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
                "image.openshift.io/ImagePolicy.executionRules[0].matchImageLabels[1]: Invalid value: null: values set must be empty for exists and does not exist",
                "image.openshift.io/ImagePolicy.executionRules[0].matchImageLabels[2]: Invalid value: null: \"Near\" is not a valid label selector operator",
            ],
        );
    }

    #[test]
    fn resolution_rules_need_a_resource() {
        check(
            "resolutionRules: [{targetResource: {group: apps}, policy: Attempt}]",
            &["image.openshift.io/ImagePolicy.resolutionRules[0].targetResource.resource: Required value: a target resource name or '*' must be provided"],
        );
    }

    #[test]
    fn resolution_rules_need_a_policy_before_defaulting() {
        let config = ImagePolicyConfig {
            resolution_rules: Some(vec![ResolutionRule {
                target_resource: crate::api::policy::GroupResource::new("", "pods"),
                local_names: true,
                policy: None,
                pod_spec_path: None,
            }]),
            ..ImagePolicyConfig::default()
        };
        let messages: Vec<String> = validate(&config).iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            ["image.openshift.io/ImagePolicy.resolutionRules[0].policy: Required value: a policy must be specified for this resource"]
        );
    }

    #[test]
    fn a_pod_spec_path_names_one_custom_resource_at_a_path_the_webhook_reads() {
        let rule = |resource: &str, path: &str| {
            format!(
                "  - {{targetResource: {{{resource}}}, policy: Attempt, podSpecPath: {path}}}\n"
            )
        };
        let rules = |list: &[(&str, &str)]| {
            let listed: String = list
                .iter()
                .map(|(target, path)| rule(target, path))
                .collect();
            format!("resolutionRules:\n{listed}")
        };
        let rollouts = "group: argoproj.io, resource: rollouts";
        check(
            &rules(&[
                (rollouts, "spec.template.spec"),
                (
                    "group: serving.knative.dev, resource: services",
                    "spec.template.spec",
                ),
                ("group: example.com, resource: runners", "spec"),
                (
                    "group: example.com, resource: schedules",
                    "spec.jobTemplate.spec.template.spec",
                ),
                ("group: example.com, resource: templates", "template.spec"),
                (rollouts, "spec.template.spec"),
            ]),
            &[],
        );
        let field = "image.openshift.io/ImagePolicy.resolutionRules";
        check(
            &rules(&[
                (rollouts, "spec.template"),
                ("group: argoproj.io, resource: '*'", "spec.template.spec"),
                ("group: apps, resource: deployments", "spec.template.spec"),
                ("group: example.com, resource: jobs", "spec.template.spec"),
                ("group: example.com, resource: jobs", "spec"),
                ("group: '*', resource: rollouts", "spec.template.spec"),
                ("group: argoproj.io, resource: Rollout", "spec.template.spec"),
            ]),
            &[
                &format!("{field}[0].podSpecPath: Unsupported value: \"spec.template\": supported values: \"spec\", \"spec.template.spec\", \"spec.jobTemplate.spec.template.spec\", \"template.spec\""),
                &format!("{field}[1].podSpecPath: Forbidden: names where one resource keeps its pod spec: give the rule a resource instead of '*'"),
                &format!("{field}[2].podSpecPath: Forbidden: deployments.apps has a pod spec imagelookup finds without being told: remove podSpecPath"),
                &format!("{field}[4].podSpecPath: Invalid value: \"spec\": an earlier rule says jobs.example.com keeps its pod spec at spec.template.spec"),
                &format!("{field}[5].targetResource.group: Forbidden: podSpecPath names where one resource keeps its pod spec: give the rule a group instead of '*'"),
                &format!("{field}[6].targetResource.resource: Invalid value: \"Rollout\": resources are lowercase plurals (rollouts), not kinds"),
            ],
        );
    }

    #[test]
    fn image_conditions_need_resolution() {
        check(
            "resolveImages: DoNotAttempt\nexecutionRules:\n\
             - name: a\n  matchImageAnnotations: [{key: k, value: v}]\n  matchRegistries: [x]\n",
            &["image.openshift.io/ImagePolicy.executionRules[0].matchImageAnnotations: Invalid value: [{\"key\":\"k\",\"set\":false,\"value\":\"v\"}]: images are not being resolved, this condition will always fail"],
        );
    }

    #[test]
    fn wrong_type_meta_is_reported() {
        check(
            "apiVersion: v1\nkind: Config",
            &[
                "apiVersion: Invalid value: \"v1\": must be image.openshift.io/v1",
                "kind: Invalid value: \"Config\": must be ImagePolicyConfig",
            ],
        );
    }
}
