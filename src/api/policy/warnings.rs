//! Start-up warnings about resolution rules that can never rewrite anything. OpenShift accepts
//! them (its validation asks only for a resource and a policy), so they are not errors; but a
//! `resolutionRules` list replaces the defaults, so a typo there silently stops pinning.

use super::{
    guess_resource, GroupResource, ImagePolicyConfig, ResolutionRule, PLUGIN_NAME, POD_SPEC_PATHS,
};

/// One line per resolution rule that matches nothing, or names a resource whose pod spec
/// admission cannot find: a singular resource (`pod`), a kind written for a resource, `*` for
/// a group, or a resource that is not built in, has no `podSpecPath` in any rule and no
/// execution rule covers. Expects a defaulted config; rules with a `podSpecPath` are checked
/// by validation instead, but for the singular.
pub fn warnings(config: &ImagePolicyConfig) -> Vec<String> {
    let rules = config.resolution_rules().iter().enumerate();
    rules
        .filter_map(|(index, rule)| {
            let field = format!("{PLUGIN_NAME}.resolutionRules[{index}].targetResource");
            let warning = singular_resource(&rule.target_resource.resource).or_else(|| {
                let unchecked = rule.pod_spec_path.is_none();
                unchecked.then(|| rule_warning(config, rule)).flatten()
            });
            Some(format!("{field}{}", warning?))
        })
        .collect()
}

/// Why `rule` can never rewrite anything, after its field path; `None` when it may.
fn rule_warning(config: &ImagePolicyConfig, rule: &ResolutionRule) -> Option<String> {
    let target = &rule.target_resource;
    if let Some(plural) = kind_written_for_resource(&target.resource) {
        return Some(format!(
            ".resource: {:?} matches no resource: resources are lowercase plurals ({plural}), \
             not kinds",
            target.resource
        ));
    }
    if target.group == "*" {
        return Some(
            ".group: '*' matches no group (only the resource may be '*'): name the group, \
             one rule for each"
                .to_string(),
        );
    }
    if target.resource.is_empty() || reaches_a_pod_spec(config, target) {
        return None;
    }
    let paths = POD_SPEC_PATHS.join(", ");
    let unreached = format!(
        ": imagelookup finds the pod spec of no resource {target} names, so this rule can never \
         rewrite anything"
    );
    Some(match target.resource.as_str() {
        "*" => format!(
            "{unreached}: add a rule for each resource, with the podSpecPath ({paths}) where it \
             keeps its pod spec"
        ),
        _ => format!(
            "{unreached}: give the rule a podSpecPath ({paths}) where the resource keeps its \
             pod spec"
        ),
    })
}

/// Whether admission can find the pod spec of something `target` names: a built-in resource,
/// a resource a rule gives a `podSpecPath`, or one an execution rule covers (admission then
/// handles it, as OpenShift does).
fn reaches_a_pod_spec(config: &ImagePolicyConfig, target: &GroupResource) -> bool {
    let built_in = super::BUILT_IN_RESOURCES
        .iter()
        .any(|&(group, resource)| target.covers(&GroupResource::new(group, resource)));
    let given_a_path = config
        .resolution_rules()
        .iter()
        .filter(|rule| rule.pod_spec_path.is_some())
        .any(|rule| target.covers(&rule.target_resource));
    let executed = config.execution_rules.iter().any(|rule| {
        let own = rule.on_resources.iter();
        own.clone().any(|resource| resource.covers(target))
            || own.clone().any(|resource| target.covers(resource))
    });
    built_in || given_a_path || executed
}

/// The warning for a resource written in the singular (`pod`, `rollout`): resources are
/// plural, so it matches nothing. `None` for a plural, `*`, or one with capitals (a kind,
/// which has its own warning).
fn singular_resource(resource: &str) -> Option<String> {
    let lowercase = !resource.chars().any(|c| c.is_ascii_uppercase());
    let singular = lowercase && !resource.is_empty() && resource != "*" && !resource.ends_with('s');
    singular.then(|| {
        let plural = guess_resource(resource);
        format!(".resource: {resource:?} matches no resource: resources are plural ({plural})")
    })
}

/// The plural resource a kind (`Rollout`) written for a resource stands for (`rollouts`), as
/// apimachinery's `UnsafeGuessKindToResource` makes it, or the same plural lowercased
/// (`Deployments`); `None` for a resource without capitals (`rollouts`, `*`).
pub(super) fn kind_written_for_resource(resource: &str) -> Option<String> {
    let written_as_kind = resource.chars().any(|c| c.is_ascii_uppercase());
    let lowercase = resource.to_lowercase();
    let plural_already = lowercase.ends_with('s') && !lowercase.ends_with("ss");
    written_as_kind.then(|| match plural_already {
        true => lowercase,
        false => guess_resource(resource),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str, expected: &[&str]) {
        let config = ImagePolicyConfig::from_yaml(yaml).expect("a valid config");
        let field = format!("{PLUGIN_NAME}.resolutionRules");
        let expected: Vec<String> = expected
            .iter()
            .map(|line| line.replace("RULES", &field))
            .collect();
        assert_eq!(warnings(&config), expected, "{yaml}");
    }

    #[test]
    fn rules_admission_can_act_on_give_no_warning() {
        check("{}", &[]);
        check(
            "resolutionRules:\n\
             - {targetResource: {resource: pods}, localNames: true}\n\
             - {targetResource: {group: apps, resource: '*'}, localNames: true}\n\
             - {targetResource: {group: build.openshift.io, resource: buildconfigs}}\n\
             - {targetResource: {group: argoproj.io, resource: rollouts}, podSpecPath: spec.template.spec}\n\
             - {targetResource: {group: argoproj.io, resource: rollouts}, localNames: true}\n\
             - {targetResource: {group: argoproj.io, resource: '*'}, localNames: true}\n\
             - {targetResource: {group: example.com, resource: runners}}\n\
             executionRules:\n\
             - {name: runners, onResources: [{group: example.com, resource: '*'}]}\n",
            &[],
        );
    }

    #[test]
    fn rules_that_can_never_rewrite_anything_are_named_with_the_fix() {
        let paths = POD_SPEC_PATHS.join(", ");
        check(
            "resolutionRules:\n\
             - {targetResource: {resource: Pod}, localNames: true}\n\
             - {targetResource: {group: argoproj.io, resource: Policy}}\n\
             - {targetResource: {group: '*', resource: pods}, localNames: true}\n\
             - {targetResource: {group: serving.knative.dev, resource: services}, localNames: true}\n\
             - {targetResource: {group: argoproj.io, resource: '*'}, localNames: true}\n\
             - {targetResource: {group: apps, resource: deploymentconfigs}}\n\
             - {targetResource: {group: apps, resource: Deployments}}\n\
             - {targetResource: {group: networking.k8s.io, resource: Ingress}}\n\
             - {targetResource: {resource: pod}, localNames: true}\n\
             - {targetResource: {group: example.com, resource: rollout}, podSpecPath: spec.template.spec}\n",
            &[
                "RULES[0].targetResource.resource: \"Pod\" matches no resource: resources are lowercase plurals (pods), not kinds",
                "RULES[1].targetResource.resource: \"Policy\" matches no resource: resources are lowercase plurals (policies), not kinds",
                "RULES[2].targetResource.group: '*' matches no group (only the resource may be '*'): name the group, one rule for each",
                &format!("RULES[3].targetResource: imagelookup finds the pod spec of no resource services.serving.knative.dev names, so this rule can never rewrite anything: give the rule a podSpecPath ({paths}) where the resource keeps its pod spec"),
                &format!("RULES[4].targetResource: imagelookup finds the pod spec of no resource *.argoproj.io names, so this rule can never rewrite anything: add a rule for each resource, with the podSpecPath ({paths}) where it keeps its pod spec"),
                &format!("RULES[5].targetResource: imagelookup finds the pod spec of no resource deploymentconfigs.apps names, so this rule can never rewrite anything: give the rule a podSpecPath ({paths}) where the resource keeps its pod spec"),
                "RULES[6].targetResource.resource: \"Deployments\" matches no resource: resources are lowercase plurals (deployments), not kinds",
                "RULES[7].targetResource.resource: \"Ingress\" matches no resource: resources are lowercase plurals (ingresses), not kinds",
                "RULES[8].targetResource.resource: \"pod\" matches no resource: resources are plural (pods)",
                "RULES[9].targetResource.resource: \"rollout\" matches no resource: resources are plural (rollouts)",
            ],
        );
    }
}
