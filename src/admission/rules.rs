//! Execution rules (openshift-semantics §3.8): allow or reject images by where they come from.
//!
//! Rules are grouped per resource by exact `onResources` match. If every rule of a resource
//! rejects, images are allowed unless one matches; if any rule allows, images are rejected
//! unless an allow rule matches. A matching reject rule rejects at once.
//!
//! Deviation: `matchImageLabels`, `matchImageAnnotations` and `matchDockerImageLabels` need the
//! Image object's metadata, which this project does not keep. Such conditions never match.

use crate::api::policy::{ExecutionRule, GroupResource};

/// What the rules may know about one reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ImageFacts {
    /// The registry of the resolved reference, or of the reference as written.
    pub registry: String,
    /// Known to come from the integrated registry (resolved through an image stream).
    pub integrated: bool,
    /// An image was resolved (OpenShift: an Image object was found).
    pub image_resolved: bool,
}

/// The namespace-level and registry context rules are evaluated in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RuleContext<'a> {
    /// The integrated registry host; empty matches nothing.
    pub integrated_registry: &'a str,
    /// Rule names the namespace opts out of.
    pub ignored_rules: &'a [String],
}

/// Whether any execution rule applies to `target` (exact match, as OpenShift's accepter keys).
pub(crate) fn covers(rules: &[ExecutionRule], target: &GroupResource) -> bool {
    rules.iter().any(|rule| rule.on_resources.contains(target))
}

/// Whether the rules for `target` accept the image.
pub(crate) fn accepts(
    rules: &[ExecutionRule],
    target: &GroupResource,
    facts: &ImageFacts,
    context: RuleContext<'_>,
) -> bool {
    let applicable: Vec<&ExecutionRule> = rules
        .iter()
        .filter(|rule| rule.on_resources.contains(target))
        .collect();
    let default_reject = applicable.iter().any(|rule| !rule.reject);
    let mut any_allowed = false;
    for rule in applicable
        .into_iter()
        .filter(|rule| evaluated(rule, facts, context))
    {
        if matches(rule, facts, context.integrated_registry) {
            if rule.reject {
                return false;
            }
            any_allowed = true;
        }
    }
    any_allowed || !default_reject
}

/// Whether a rule takes part: not opted out by the namespace, not skipped for lack of an image.
fn evaluated(rule: &ExecutionRule, facts: &ImageFacts, context: RuleContext<'_>) -> bool {
    let opted_out = context.ignored_rules.contains(&rule.name) && !rule.ignore_namespace_override;
    let skipped = !facts.image_resolved && rule.skip_on_resolution_failure;
    !opted_out && !skipped
}

fn matches(rule: &ExecutionRule, facts: &ImageFacts, integrated_registry: &str) -> bool {
    conditions_hold(rule, facts, integrated_registry) != rule.invert_match
}

/// The ANDed conditions, before `invertMatch`.
fn conditions_hold(rule: &ExecutionRule, facts: &ImageFacts, integrated_registry: &str) -> bool {
    let integrated = facts.integrated
        || (!integrated_registry.is_empty() && facts.registry == integrated_registry);
    if rule.match_integrated_registry && !integrated {
        return false;
    }
    if !rule.match_registries.is_empty() && !rule.match_registries.contains(&facts.registry) {
        return false;
    }
    // With or without an image, metadata conditions cannot be checked here (see module docs).
    !rule.requires_image_metadata()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::policy::ImagePolicyConfig;

    fn rules(yaml: &str) -> Vec<ExecutionRule> {
        let mut config: ImagePolicyConfig = serde_norway::from_str(yaml).unwrap();
        config.apply_defaults();
        config.execution_rules
    }

    fn facts(registry: &str, integrated: bool, image_resolved: bool) -> ImageFacts {
        ImageFacts {
            registry: registry.to_string(),
            integrated,
            image_resolved,
        }
    }

    /// Each `(facts, accepted)` row is checked for pods in a namespace ignoring `ignored`.
    fn check(yaml: &str, ignored: &[&str], table: &[(ImageFacts, bool)]) {
        let rules = rules(yaml);
        let ignored: Vec<String> = ignored.iter().map(|name| name.to_string()).collect();
        let context = RuleContext {
            integrated_registry: "registry.local",
            ignored_rules: &ignored,
        };
        let pods = GroupResource::new("", "pods");
        for (facts, expected) in table {
            assert_eq!(
                accepts(&rules, &pods, facts, context),
                *expected,
                "{facts:?}"
            );
        }
    }

    #[test]
    fn reject_rules_reject_only_matching_registries() {
        let yaml = "executionRules: [{name: no-hub, reject: true, matchRegistries: [docker.io]}]";
        check(
            yaml,
            &[],
            &[
                (facts("docker.io", false, true), false),
                (facts("quay.io", false, true), true),
            ],
        );
    }

    #[test]
    fn an_allow_rule_rejects_everything_it_does_not_match() {
        let yaml = "executionRules: [{name: local, matchIntegratedRegistry: true}]";
        check(
            yaml,
            &[],
            &[
                (facts("", true, true), true),
                (facts("registry.local", false, false), true),
                (facts("quay.io", false, true), false),
            ],
        );
    }

    #[test]
    fn invert_match_negates_the_conditions() {
        let yaml = "executionRules: [{name: only-quay, reject: true, invertMatch: true, matchRegistries: [quay.io]}]";
        check(
            yaml,
            &[],
            &[
                (facts("quay.io", false, true), true),
                (facts("docker.io", false, true), false),
            ],
        );
    }

    #[test]
    fn skip_on_resolution_failure_skips_unresolved_images() {
        let yaml = "executionRules: [{name: no-hub, reject: true, skipOnResolutionFailure: true, matchRegistries: [docker.io]}]";
        check(
            yaml,
            &[],
            &[
                (facts("docker.io", false, false), true),
                (facts("docker.io", false, true), false),
            ],
        );
    }

    #[test]
    fn namespaces_may_ignore_rules_without_override() {
        let yaml = "executionRules:\n\
                    - {name: a, reject: true, matchRegistries: [docker.io]}\n\
                    - {name: b, reject: true, ignoreNamespaceOverride: true, matchRegistries: [quay.io]}";
        check(
            yaml,
            &["a", "b"],
            &[
                (facts("docker.io", false, true), true),
                (facts("quay.io", false, true), false),
            ],
        );
    }

    #[test]
    fn image_metadata_conditions_never_match() {
        let yaml = "executionRules: [{name: deny, reject: true, matchImageAnnotations: [{key: deny, value: 'true'}]}]";
        check(yaml, &[], &[(facts("docker.io", false, true), true)]);
    }

    #[test]
    fn rules_cover_only_their_exact_resources() {
        let rules =
            rules("executionRules: [{name: a, onResources: [{group: apps, resource: '*'}]}]");
        assert!(!covers(&rules, &GroupResource::new("apps", "deployments")));
        assert!(covers(&rules, &GroupResource::new("apps", "*")));
        assert!(covers(
            &self::rules("executionRules: [{name: a}]"),
            &GroupResource::new("", "pods")
        ));
    }
}
