use super::*;

fn parse(yaml: &str) -> ImagePolicyConfig {
    let mut config: ImagePolicyConfig = serde_norway::from_str(yaml).expect("parses");
    config.apply_defaults();
    config
}

fn policies(config: &ImagePolicyConfig) -> Vec<(String, ResolveMode)> {
    let rules = config.resolution_rules();
    let names = rules.iter().map(|rule| rule.target_resource.to_string());
    names
        .zip(rules.iter().map(|rule| rule.policy.unwrap()))
        .collect()
}

#[test]
fn custom_kinds_are_pluralised_as_kubectl_guesses_without_discovery() {
    let table = [
        ("Rollout", "rollouts"),
        ("Service", "services"),
        ("Ingress", "ingresses"),
        ("Policy", "policies"),
        ("Endpoints", "endpoints"),
        ("", ""),
    ];
    for (kind, expected) in table {
        assert_eq!(guess_resource(kind), expected, "{kind}");
    }
}

#[test]
fn default_equals_shipped_config() {
    let config = ImagePolicyConfig::default();
    assert_eq!(config.resolve_images, ResolveMode::Attempt);
    assert!(config.execution_rules.is_empty());
    let rules = policies(&config);
    assert_eq!(rules.len(), 13);
    assert!(rules
        .iter()
        .all(|(_, mode)| *mode == ResolveMode::DoNotAttempt));
    assert!(config
        .resolution_rules()
        .iter()
        .all(|rule| rule.local_names));
    assert_eq!(rules[0].0, "pods");
    assert_eq!(rules[2].0, "deploymentconfigs.apps.openshift.io");
    assert_eq!(parse("{}"), config);
}

#[test]
fn default_rules_take_global_mode_where_an_execution_rule_covers_them() {
    let config = parse(
        "resolveImages: RequiredRewrite\n\
         executionRules:\n\
         - name: pods-only\n\
         - name: builds\n  onResources: [{group: build.openshift.io, resource: '*'}]\n",
    );
    let rules = policies(&config);
    let mode_of = |name: &str| rules.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(mode_of("pods"), ResolveMode::RequiredRewrite);
    assert_eq!(
        mode_of("builds.build.openshift.io"),
        ResolveMode::RequiredRewrite
    );
    assert_eq!(mode_of("deployments.apps"), ResolveMode::DoNotAttempt);
    assert_eq!(
        config.execution_rules[0].on_resources,
        vec![GroupResource::new("", "pods")]
    );
}

#[test]
fn present_rules_without_policy_get_global_mode() {
    let config = parse(
        "resolveImages: AttemptRewrite\n\
         resolutionRules:\n\
         - targetResource: {resource: pods}\n\
         - targetResource: {resource: pods}\n  policy: ''\n\
         - targetResource: {group: apps, resource: '*'}\n  policy: Required\n",
    );
    let modes: Vec<_> = policies(&config)
        .into_iter()
        .map(|(_, mode)| mode)
        .collect();
    use ResolveMode::*;
    assert_eq!(modes, vec![AttemptRewrite, AttemptRewrite, Required]);
}

#[test]
fn empty_rule_list_stays_empty() {
    let config = parse("resolutionRules: []");
    assert!(config.resolution_rules().is_empty());
    assert_eq!(
        parse("resolveImages: ''").resolve_images,
        ResolveMode::Attempt
    );
}

#[test]
fn every_execution_rule_field_parses() {
    let config = parse(
        "apiVersion: image.openshift.io/v1\nkind: ImagePolicyConfig\n\
         executionRules:\n\
         - name: r\n  reject: true\n  ignoreNamespaceOverride: true\n  invertMatch: true\n\
         \x20 matchIntegratedRegistry: true\n  matchRegistries: [docker.io]\n\
         \x20 skipOnResolutionFailure: true\n\
         \x20 matchDockerImageLabels: [{key: a, value: b}]\n\
         \x20 matchImageLabels: [{matchLabels: {c: d}}]\n\
         \x20 matchImageAnnotations: [{key: e, set: true}]\n",
    );
    let rule = &config.execution_rules[0];
    assert!(rule.reject && rule.ignore_namespace_override && rule.invert_match);
    assert!(rule.match_integrated_registry && rule.skip_on_resolution_failure);
    assert_eq!(rule.match_registries, vec!["docker.io"]);
    assert_eq!(rule.match_docker_image_labels[0].value, "b");
    assert!(rule.match_image_annotations[0].set);
    assert!(rule.match_image_labels[0].match_labels.is_some());
    assert!(rule.requires_image_metadata());
}

#[test]
fn unknown_mode_is_a_parse_error() {
    let error = ImagePolicyConfig::from_yaml("resolveImages: Sometimes").unwrap_err();
    assert!(error
        .to_string()
        .contains("unknown image resolution mode \"Sometimes\""));
}

#[test]
fn a_misspelt_key_is_refused_rather_than_turning_enforcement_off() {
    let cases = [
        ("resolveImage: Required", "unknown field `resolveImage`"),
        (
            "resolutionRules: [{targetResource: {resource: pods}, localName: true}]",
            "unknown field `localName`",
        ),
        (
            "executionRules: [{name: r, matchRegistry: [docker.io]}]",
            "unknown field `matchRegistry`",
        ),
        (
            "executionRules: [{name: r, onResources: [{resources: pods}]}]",
            "unknown field `resources`",
        ),
    ];
    for (yaml, said) in cases {
        let error = ImagePolicyConfig::from_yaml(yaml).unwrap_err().to_string();
        assert!(error.contains(said), "{yaml}: {error}");
    }
}

#[test]
fn from_yaml_rejects_invalid_configs() {
    let error = ImagePolicyConfig::from_yaml("executionRules: [{name: a}, {name: a}]").unwrap_err();
    assert_eq!(
        error.to_string(),
        "image policy config is invalid: \
         image.openshift.io/ImagePolicy.executionRules[1].name: Duplicate value: \"a\""
    );
}

#[test]
fn wildcard_targets_cover_the_whole_group() {
    let wildcard = GroupResource::new("apps", "*");
    assert!(wildcard.covers(&GroupResource::new("apps", "deployments")));
    assert!(!wildcard.covers(&GroupResource::new("", "pods")));
    assert!(!GroupResource::new("", "pods").covers(&GroupResource::new("", "*")));
}
