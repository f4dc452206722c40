//! `ImagePolicyConfig` (`image.openshift.io/v1`): the configuration of the ImagePolicy admission
//! plugin, with OpenShift's defaulting (openshift-semantics §3.2) and the mode table (§3.3).
//!
//! Parsing accepts every field OpenShift has. Defaulting must run before the config is used:
//! [`ImagePolicyConfig::default`] and [`ImagePolicyConfig::from_yaml`] return defaulted configs;
//! anything built or deserialized by hand goes through [`ImagePolicyConfig::apply_defaults`].

mod mode;
mod validation;
mod warnings;

pub use mode::{ResolveMode, UnknownMode};
pub use validation::validate;
pub use warnings::warnings;

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};

use mode::{mode_or_attempt, optional_mode};

use crate::field::{aggregate_message, FieldError};

/// The only `apiVersion` an ImagePolicyConfig may have.
pub const API_VERSION: &str = "image.openshift.io/v1";
/// The only `kind` an ImagePolicyConfig may have.
pub const KIND: &str = "ImagePolicyConfig";
/// The admission plugin's name; also the root of validation field paths.
pub const PLUGIN_NAME: &str = "image.openshift.io/ImagePolicy";
/// Object (or pod template) annotation that forces lookup of every undigested reference.
pub const RESOLVE_NAMES_ANNOTATION: &str = "alpha.image.policy.openshift.io/resolve-names";
/// Namespace annotation listing execution rule names to skip in that namespace.
pub const IGNORE_RULES_ANNOTATION: &str = "alpha.image.policy.openshift.io/ignore-rules";

/// The resources OpenShift resolves by default, all with `localNames: true` (§3.2): the
/// built-in resources but PodTemplates and BuildConfigs.
const DEFAULT_RESOLUTION_TARGETS: &[(&str, &str)] = BUILT_IN_RESOURCES.split_at(13).0;

/// The resources whose pod specs admission finds without being told: OpenShift's 13 defaults
/// (in its order), then PodTemplates and BuildConfigs (which need a rule, but no
/// `podSpecPath`).
pub const BUILT_IN_RESOURCES: [(&str, &str); 15] = [
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps.openshift.io", "deploymentconfigs"),
    ("apps", "daemonsets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "replicasets"),
    ("build.openshift.io", "builds"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("extensions", "daemonsets"),
    ("extensions", "deployments"),
    ("extensions", "replicasets"),
    ("", "podtemplates"),
    ("build.openshift.io", "buildconfigs"),
];

/// Where a custom resource's pod spec may be (`resolutionRules[].podSpecPath`): where a Pod, a
/// workload (an Argo Rollout, a Knative Service), a CronJob-like kind or a PodTemplate-like
/// kind keeps it. The webhook reads only these parts of an object, so no other path can work.
pub const POD_SPEC_PATHS: [&str; 4] = [
    "spec",
    "spec.template.spec",
    "spec.jobTemplate.spec.template.spec",
    "template.spec",
];

/// An API group and resource; `resource: "*"` matches every resource of the group where noted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupResource {
    /// The API group; `""` is the core group.
    #[serde(default)]
    pub group: String,
    /// The plural resource name, or `*`.
    #[serde(default)]
    pub resource: String,
}

impl GroupResource {
    /// A group and resource.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
        }
    }

    /// Whether this target names `other`, treating a `*` resource as a wildcard.
    pub fn covers(&self, other: &GroupResource) -> bool {
        self.group == other.group && (self.resource == other.resource || self.resource == "*")
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group.as_str() {
            "" => f.write_str(&self.resource),
            group => write!(f, "{}.{group}", self.resource),
        }
    }
}

/// The plural resource apimachinery's `UnsafeGuessKindToResource` makes of `kind`, as kubectl
/// guesses it without discovery: lowercase, with `es`
/// after an `s`, `ies` for a final `y`, else `s` (`endpoints` stays as it is).
pub fn guess_resource(kind: &str) -> String {
    let singular = kind.to_lowercase();
    if singular.ends_with("endpoints") {
        return singular;
    }
    match singular.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None if singular.ends_with('s') => format!("{singular}es"),
        None if singular.is_empty() => singular,
        None => format!("{singular}s"),
    }
}

/// A per-resource resolution rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolutionRule {
    /// The resource this rule applies to.
    #[serde(default)]
    pub target_resource: GroupResource,
    /// Rewrite references resolved through local lookup (short names, or forced).
    #[serde(default)]
    pub local_names: bool,
    /// The rule's mode; unset means the global `resolveImages` (filled in by defaulting).
    #[serde(
        default,
        deserialize_with = "optional_mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub policy: Option<ResolveMode>,
    /// Beyond OpenShift: where a resource that is not built in (a custom resource such as an
    /// Argo Rollout) keeps its pod spec, one of [`POD_SPEC_PATHS`]; absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_spec_path: Option<String>,
}

/// A key/value condition on image labels or annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueCondition {
    /// The key to look up.
    #[serde(default)]
    pub key: String,
    /// Match when the key is present, whatever its value.
    #[serde(default)]
    pub set: bool,
    /// Match when the key has exactly this value.
    #[serde(default)]
    pub value: String,
}

/// An execution rule: allows or rejects images by where they come from (§3.8).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExecutionRule {
    /// Unique rule name, also used by the namespace `ignore-rules` annotation.
    pub name: String,
    /// Reject matching images (otherwise the rule allows them).
    pub reject: bool,
    /// Keep applying the rule in namespaces that list it in `ignore-rules`.
    pub ignore_namespace_override: bool,
    /// Resources the rule applies to; defaulting makes an empty list `[{group: "", resource: pods}]`.
    pub on_resources: Vec<GroupResource>,
    /// Negate the result of the conditions.
    pub invert_match: bool,
    /// Match only images from the integrated registry.
    pub match_integrated_registry: bool,
    /// Match only images whose registry is one of these (exact string match).
    pub match_registries: Vec<String>,
    /// Skip the rule when no image could be resolved.
    pub skip_on_resolution_failure: bool,
    /// Docker image labels to match. Needs Image metadata we do not keep: never matches.
    pub match_docker_image_labels: Vec<ValueCondition>,
    /// Image label selectors to match. Needs Image metadata we do not keep: never matches.
    pub match_image_labels: Vec<LabelSelector>,
    /// Image annotations to match. Needs Image metadata we do not keep: never matches.
    pub match_image_annotations: Vec<ValueCondition>,
}

impl ExecutionRule {
    /// Whether the rule's `onResources` names `target` (`*` matches the whole group).
    pub fn covers(&self, target: &GroupResource) -> bool {
        self.on_resources.iter().any(|own| own.covers(target))
    }

    /// Whether the rule needs the resolved Image's metadata (labels or annotations).
    pub fn requires_image_metadata(&self) -> bool {
        !self.match_docker_image_labels.is_empty()
            || !self.match_image_labels.is_empty()
            || !self.match_image_annotations.is_empty()
    }
}

/// The ImagePolicy admission configuration. A key it does not have is refused, not ignored as
/// OpenShift's decoder ignores it: a misspelt `resolveImages: Required` would otherwise run as
/// `Attempt`, turning enforcement off in silence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImagePolicyConfig {
    /// Must be `image.openshift.io/v1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Must be `ImagePolicyConfig`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The global mode; absent or empty means `Attempt`.
    #[serde(default, deserialize_with = "mode_or_attempt")]
    pub resolve_images: ResolveMode,
    /// Per-resource rules; `None` (absent) is replaced by the 13 default rules.
    #[serde(default)]
    pub resolution_rules: Option<Vec<ResolutionRule>>,
    /// Allow/reject rules on images.
    #[serde(default)]
    pub execution_rules: Vec<ExecutionRule>,
}

/// Why a policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The text is not a well-formed ImagePolicyConfig.
    #[error("image policy config does not parse: {0}")]
    Parse(serde_norway::Error),
    /// The config parsed but failed validation.
    #[error("image policy config is invalid: {}", aggregate_message(.0))]
    Invalid(Vec<FieldError>),
}

impl Default for ImagePolicyConfig {
    /// OpenShift's shipped configuration: `Attempt`, the 13 default rules with `DoNotAttempt`,
    /// no execution rules.
    fn default() -> Self {
        let mut config = Self {
            api_version: default_api_version(),
            kind: default_kind(),
            resolve_images: ResolveMode::Attempt,
            resolution_rules: None,
            execution_rules: Vec::new(),
        };
        config.apply_defaults();
        config
    }
}

impl ImagePolicyConfig {
    /// Parses YAML (or JSON), applies defaulting and validates.
    pub fn from_yaml(text: &str) -> Result<Self, PolicyError> {
        let mut config: Self = crate::yaml_aliases::from_str(text).map_err(PolicyError::Parse)?;
        config.apply_defaults();
        let errors = validate(&config);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(PolicyError::Invalid(errors))
        }
    }

    /// OpenShift's defaulting (§3.2): execution rules without resources apply to pods; absent
    /// resolution rules become the 13 defaults; present rules without a policy get the global one.
    pub fn apply_defaults(&mut self) {
        for rule in &mut self.execution_rules {
            if rule.on_resources.is_empty() {
                rule.on_resources = vec![GroupResource::new("", "pods")];
            }
        }
        let global = self.resolve_images;
        match &mut self.resolution_rules {
            Some(rules) => rules
                .iter_mut()
                .filter(|rule| rule.policy.is_none())
                .for_each(|rule| rule.policy = Some(global)),
            None => self.resolution_rules = Some(self.default_resolution_rules()),
        }
    }

    /// The `podSpecPath` of the first rule naming exactly `target` (no `*`) with one: where a
    /// custom resource keeps its pod spec.
    pub fn pod_spec_path(&self, target: &GroupResource) -> Option<&str> {
        let rules = self.resolution_rules().iter();
        let mut named = rules.filter(|rule| rule.target_resource == *target);
        named.find_map(|rule| rule.pod_spec_path.as_deref())
    }

    /// The resolution rules (empty before defaulting when absent).
    pub fn resolution_rules(&self) -> &[ResolutionRule] {
        self.resolution_rules.as_deref().unwrap_or_default()
    }

    /// The 13 default rules: `DoNotAttempt`, or the global mode where an execution rule covers
    /// the resource.
    fn default_resolution_rules(&self) -> Vec<ResolutionRule> {
        DEFAULT_RESOLUTION_TARGETS
            .iter()
            .map(|(group, resource)| {
                let target = GroupResource::new(*group, *resource);
                let covered = self.execution_rules.iter().any(|rule| rule.covers(&target));
                let policy = if covered {
                    self.resolve_images
                } else {
                    ResolveMode::DoNotAttempt
                };
                ResolutionRule {
                    target_resource: target,
                    local_names: true,
                    policy: Some(policy),
                    pod_spec_path: None,
                }
            })
            .collect()
    }
}

fn default_api_version() -> String {
    API_VERSION.to_string()
}

fn default_kind() -> String {
    KIND.to_string()
}

#[cfg(test)]
mod tests;
