//! The `--authz-file` policy: rules granting users or groups verbs on resources in namespaces
//! (the format is in the [`crate::auth`] documentation).

use serde::Deserialize;

use super::{AuthFileError, UserInfo};

/// One grant: who, where, which verbs on which resources.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// User names this rule applies to.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups this rule applies to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Namespaces it grants, or `*`.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Verbs it grants (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`), or `*`.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources it grants (`imagestreams`, `imagestreams/status`, `*/status`), or `*` (the
    /// default when the key is absent).
    #[serde(default = "every_resource")]
    pub resources: Vec<String>,
    /// API groups whose resources it grants (`image.openshift.io`, `""` for the core group's
    /// `secrets`, `events` and `namespaces`), or `*` (the default when the key is absent).
    #[serde(default = "every_resource", rename = "apiGroups")]
    pub api_groups: Vec<String>,
}

impl Default for PolicyRule {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            groups: Vec::new(),
            namespaces: Vec::new(),
            verbs: Vec::new(),
            resources: every_resource(),
            api_groups: every_resource(),
        }
    }
}

fn every_resource() -> Vec<String> {
    vec!["*".to_string()]
}

/// The authorization policy: a request is allowed when any rule grants it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The grants.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

/// What a request wants to do, for authorization and for the 403 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes<'a> {
    /// The verb (`get`, `list`, `watch`, `create`, …).
    pub verb: &'a str,
    /// The resource, with the subresource if any (`imagestreams/status`).
    pub resource: &'a str,
    /// The API group (`image.openshift.io`, or `""`).
    pub group: &'a str,
    /// The namespace, or `""` for cluster-scoped and all-namespaces requests.
    pub namespace: &'a str,
    /// The object name, if the request names one.
    pub name: &'a str,
}

impl Policy {
    /// Parses a policy from YAML or JSON text.
    pub fn parse(text: &str) -> Result<Self, AuthFileError> {
        crate::yaml_aliases::from_str(text).map_err(|e| AuthFileError::Policy(e.to_string()))
    }

    /// Whether the user may do what the attributes describe.
    pub fn allows(&self, user: &UserInfo, attributes: &Attributes<'_>) -> bool {
        self.granting_rule(user, attributes).is_some()
    }

    /// The index of the first rule that lets the user do what the attributes describe.
    pub fn granting_rule(&self, user: &UserInfo, attributes: &Attributes<'_>) -> Option<usize> {
        self.rules
            .iter()
            .position(|rule| rule.grants(user, attributes))
    }

    /// The rules that grant the user something in `namespace` (`""`: cluster-wide, which
    /// only rules for every namespace cover).
    pub fn rules_for<'a>(
        &'a self,
        user: &'a UserInfo,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a PolicyRule> {
        self.rules
            .iter()
            .filter(move |rule| rule.applies_to(user) && covers(&rule.namespaces, namespace))
    }
}

/// Why no rule lets `user` do what `attributes` describe, naming what a rule must grant.
pub fn denial(user: &UserInfo, attributes: &Attributes<'_>) -> String {
    format!(
        "no --authz-file rule lets {:?} {} {} in namespace {:?}",
        user.name, attributes.verb, attributes.resource, attributes.namespace
    )
}

impl PolicyRule {
    /// Whether the rule names the user, one of the user's groups, or everyone.
    fn applies_to(&self, user: &UserInfo) -> bool {
        self.users.iter().any(|u| u == "*" || *u == user.name)
            || self
                .groups
                .iter()
                .any(|g| g == "*" || user.groups.contains(g))
    }

    fn grants(&self, user: &UserInfo, attributes: &Attributes<'_>) -> bool {
        self.applies_to(user)
            && covers(&self.namespaces, attributes.namespace)
            && covers(&self.verbs, attributes.verb)
            && self
                .api_groups
                .iter()
                .any(|granted| granted == "*" || granted == attributes.group)
            && self
                .resources
                .iter()
                .any(|granted| resource_matches(granted, attributes.resource))
    }
}

/// RBAC's resource match: `*`, the exact `resource[/subresource]`, or `*/<subresource>`.
fn resource_matches(granted: &str, wanted: &str) -> bool {
    if granted == "*" || granted == wanted {
        return true;
    }
    let wanted_sub = wanted.split_once('/').map(|(_, sub)| sub);
    matches!((granted.strip_prefix("*/"), wanted_sub), (Some(g), Some(w)) if g == w)
}

/// `*` covers everything; otherwise an exact member. An empty namespace (cluster-wide request)
/// is covered only by `*`.
fn covers(granted: &[String], wanted: &str) -> bool {
    granted
        .iter()
        .any(|g| g == "*" || (!wanted.is_empty() && g == wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserInfo {
        UserInfo {
            name: "alice".into(),
            uid: "1".into(),
            groups: vec!["dev".into()],
            delegated: false,
        }
    }

    fn attrs<'a>(verb: &'a str, namespace: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            resource: "imagestreams",
            group: "image.openshift.io",
            namespace,
            name: "demo",
        }
    }

    #[test]
    fn policy_limits_users_to_namespaces_and_verbs() {
        let policy = Policy::parse(
            "rules:\n- users: [alice]\n  namespaces: [team-a]\n  verbs: [get, list, watch]\n\
             - groups: [admins]\n  namespaces: ['*']\n  verbs: ['*']\n",
        )
        .unwrap();
        assert!(policy.allows(&alice(), &attrs("get", "team-a")));
        assert!(!policy.allows(&alice(), &attrs("create", "team-a")));
        assert!(!policy.allows(&alice(), &attrs("get", "team-b")));
        assert!(
            !policy.allows(&alice(), &attrs("list", "")),
            "all-namespaces needs '*'"
        );
        let admin = UserInfo {
            name: "root".into(),
            uid: "0".into(),
            groups: vec!["admins".into()],
            delegated: false,
        };
        assert!(policy.allows(&admin, &attrs("delete", "")));
    }

    /// Whether a policy of one rule for alice in `team-a` with all verbs and `resources`
    /// (a YAML list) grants her `resource`.
    fn check(resources: &str, resource: &str, granted: bool) {
        let policy = Policy::parse(&format!(
            "rules:\n- users: [alice]\n  namespaces: [team-a]\n  verbs: ['*']\n  resources: {resources}\n"
        ))
        .unwrap();
        let attributes = Attributes {
            resource,
            ..attrs("get", "team-a")
        };
        assert_eq!(
            policy.allows(&alice(), &attributes),
            granted,
            "{resources} granting {resource}"
        );
    }

    #[test]
    fn rule_resources_grant_resources_and_subresources_as_rbac_does() {
        check("[imagestreams]", "imagestreams", true);
        check("[imagestreams]", "imagestreams/status", false);
        check("[imagestreams]", "secrets", false);
        check("[imagestreams]", "imagestreams/secrets", false);
        check(
            "[imagestreams, imagestreams/layers]",
            "imagestreams/layers",
            true,
        );
        check("[imagestreams/status]", "imagestreams", false);
        check("['*']", "secrets", true);
        check("['*/status']", "imagestreams/status", true);
        check("['*/status']", "imagestreams", false);
        check("['*/status']", "imagestreams/secrets", false);
        check("[]", "imagestreams", false);
    }

    #[test]
    fn rule_api_groups_limit_resources_to_their_groups_as_rbac_does() {
        let grants = |groups: &str, resource: &str, group: &str| {
            let policy = Policy::parse(&format!(
                "rules:\n- users: [alice]\n  namespaces: [team-a]\n  verbs: ['*']\n  \
                 apiGroups: {groups}\n"
            ))
            .unwrap();
            let attributes = Attributes {
                resource,
                group,
                ..attrs("get", "team-a")
            };
            policy.allows(&alice(), &attributes)
        };
        let image = "image.openshift.io";
        assert!(grants("[image.openshift.io]", "imagestreams", image));
        assert!(!grants("[image.openshift.io]", "secrets", ""));
        assert!(grants("['']", "secrets", ""));
        assert!(!grants("['']", "imagestreams", image));
        assert!(grants("['*']", "secrets", ""));
        assert!(!grants("[]", "imagestreams", image));
        let without =
            Policy::parse("rules:\n- users: [alice]\n  namespaces: ['*']\n  verbs: ['*']\n");
        let attributes = Attributes {
            resource: "secrets",
            group: "",
            ..attrs("get", "team-a")
        };
        assert!(
            without.unwrap().allows(&alice(), &attributes),
            "no apiGroups: every group"
        );
    }

    #[test]
    fn rules_without_resources_grant_every_resource() {
        let policy =
            Policy::parse("rules:\n- users: [alice]\n  namespaces: [team-a]\n  verbs: [get]\n")
                .unwrap();
        for resource in ["imagestreams", "imagestreams/status", "secrets"] {
            let attributes = Attributes {
                resource,
                ..attrs("get", "team-a")
            };
            assert!(policy.allows(&alice(), &attributes), "{resource}");
        }
    }

    #[test]
    fn unknown_policy_keys_are_refused_by_name() {
        for key in ["resourceNames", "namespace", "apigroups"] {
            let error = Policy::parse(&format!(
                "rules:\n- users: [alice]\n  verbs: [get]\n  {key}: [x]\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(error.contains(&format!("unknown field `{key}`")), "{error}");
        }
        let error = Policy::parse("rule: []\n").unwrap_err().to_string();
        assert!(error.contains("unknown field `rule`"), "{error}");
    }
}
