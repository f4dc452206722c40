//! Per-resource resolution modes (openshift-semantics §3.3): whether to resolve, whether an
//! error fails admission, and whether a successful resolution is written back.

use crate::api::policy::{GroupResource, ImagePolicyConfig, ResolutionRule};

/// Resources whose specs are immutable: never rewritten on UPDATE.
const NEVER_REWRITTEN_ON_UPDATE: [(&str, &str); 2] =
    [("batch", "jobs"), ("build.openshift.io", "builds")];

/// Whether any resolution rule names `target`.
pub(crate) fn covers(config: &ImagePolicyConfig, target: &GroupResource) -> bool {
    rules_for(config, target).next().is_some()
}

/// Resolve when the global mode attempts it, or when any rule covers the resource — whatever
/// that rule's own policy.
pub(crate) fn requests_resolution(config: &ImagePolicyConfig, target: &GroupResource) -> bool {
    config.resolve_images.attempts() || covers(config, target)
}

/// Only the global mode makes admission fail; per-rule policies never do.
pub(crate) fn fails_on_error(config: &ImagePolicyConfig) -> bool {
    config.resolve_images.fails()
}

/// Whether a successful resolution is written back. A rule rewrites when it has `localNames`
/// and the reference was a local lookup, or when its policy rewrites. Rules that cover the
/// resource but say no override the global mode, which only applies to uncovered resources.
pub(crate) fn rewrites(
    config: &ImagePolicyConfig,
    target: &GroupResource,
    local_rewrite: bool,
    is_update: bool,
) -> bool {
    if is_update && never_rewritten_on_update(target) {
        return false;
    }
    let mut covering = rules_for(config, target).peekable();
    if covering.peek().is_none() {
        return config.resolve_images.rewrites();
    }
    covering.any(|rule| {
        (rule.local_names && local_rewrite) || rule.policy.is_some_and(|mode| mode.rewrites())
    })
}

/// Whether `target`'s images are never rewritten on UPDATE (a Job's pod template is
/// immutable; a Build's spec is its record).
pub(crate) fn never_rewritten_on_update(target: &GroupResource) -> bool {
    NEVER_REWRITTEN_ON_UPDATE
        .iter()
        .any(|(group, resource)| target.group == *group && target.resource == *resource)
}

fn rules_for<'c>(
    config: &'c ImagePolicyConfig,
    target: &'c GroupResource,
) -> impl Iterator<Item = &'c ResolutionRule> + 'c {
    config
        .resolution_rules()
        .iter()
        .filter(move |rule| rule.target_resource.covers(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::policy::ResolveMode;

    fn config(yaml: &str) -> ImagePolicyConfig {
        let mut config: ImagePolicyConfig = serde_norway::from_str(yaml).unwrap();
        config.apply_defaults();
        config
    }

    fn gr(group: &str, resource: &str) -> GroupResource {
        GroupResource::new(group, resource)
    }

    /// `(local_rewrite, is_update)` → expected rewrite decision for `target` under `config`.
    fn check(config: &ImagePolicyConfig, target: GroupResource, table: [(bool, bool, bool); 2]) {
        for (local_rewrite, is_update, expected) in table {
            let actual = rewrites(config, &target, local_rewrite, is_update);
            assert_eq!(
                actual, expected,
                "{target} local={local_rewrite} update={is_update}"
            );
        }
    }

    #[test]
    fn shipped_defaults_rewrite_only_local_names_on_covered_resources() {
        let shipped = ImagePolicyConfig::default();
        check(
            &shipped,
            gr("", "pods"),
            [(true, false, true), (false, false, false)],
        );
        check(
            &shipped,
            gr("apps", "deployments"),
            [(true, true, true), (false, true, false)],
        );
        check(
            &shipped,
            gr("", "podtemplates"),
            [(true, false, false), (false, false, false)],
        );
        assert!(!covers(&shipped, &gr("", "podtemplates")));
        assert!(!covers(&shipped, &gr("build.openshift.io", "buildconfigs")));
        assert!(requests_resolution(&shipped, &gr("", "pods")));
        assert!(!fails_on_error(&shipped));
    }

    #[test]
    fn jobs_and_builds_are_never_rewritten_on_update() {
        let rewrite_all = config("resolveImages: RequiredRewrite\nresolutionRules: []");
        for target in [gr("batch", "jobs"), gr("build.openshift.io", "builds")] {
            check(
                &rewrite_all,
                target,
                [(true, false, true), (true, true, false)],
            );
        }
        check(
            &rewrite_all,
            gr("batch", "cronjobs"),
            [(false, true, true), (true, true, true)],
        );
    }

    #[test]
    fn a_covering_rule_overrides_the_global_rewrite_flag() {
        let config = config(
            "resolveImages: RequiredRewrite\n\
             resolutionRules: [{targetResource: {resource: pods}, policy: DoNotAttempt}]",
        );
        check(
            &config,
            gr("", "pods"),
            [(true, false, false), (false, false, false)],
        );
        check(
            &config,
            gr("", "podtemplates"),
            [(false, false, true), (true, false, true)],
        );
        assert!(fails_on_error(&config));
    }

    #[test]
    fn any_covering_rule_may_say_yes() {
        let config = config(
            "resolutionRules:\n\
             - {targetResource: {group: apps, resource: '*'}, policy: Attempt}\n\
             - {targetResource: {group: apps, resource: deployments}, policy: AttemptRewrite}",
        );
        check(
            &config,
            gr("apps", "deployments"),
            [(false, false, true), (true, true, true)],
        );
        check(
            &config,
            gr("apps", "daemonsets"),
            [(false, false, false), (true, false, false)],
        );
    }

    #[test]
    fn rules_request_resolution_even_when_global_mode_does_not() {
        let config = config(
            "resolveImages: DoNotAttempt\n\
             resolutionRules: [{targetResource: {resource: pods}, policy: DoNotAttempt}]",
        );
        assert_eq!(config.resolve_images, ResolveMode::DoNotAttempt);
        assert!(requests_resolution(&config, &gr("", "pods")));
        assert!(!requests_resolution(&config, &gr("apps", "deployments")));
    }
}
