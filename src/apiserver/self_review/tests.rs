use k8s_openapi::api::authorization::v1::NonResourceAttributes;

use super::*;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.to_string(),
        uid: "7".to_string(),
        groups: groups.iter().map(|group| group.to_string()).collect(),
        delegated: false,
    }
}

fn policy() -> Policy {
    Policy::parse(
        "rules:\n\
         - groups: [admins]\n  namespaces: [\"*\"]\n  verbs: [\"*\"]\n\
         - users: [alice]\n  namespaces: [team-a]\n  verbs: [get, list]\n  \
           resources: [imagestreams, \"*/status\"]\n  apiGroups: [image.openshift.io]\n",
    )
    .unwrap()
}

fn asking(
    verb: &str,
    resource: &str,
    subresource: &str,
    namespace: &str,
) -> SelfSubjectAccessReviewSpec {
    let given = |text: &str| (!text.is_empty()).then(|| text.to_string());
    SelfSubjectAccessReviewSpec {
        resource_attributes: Some(ResourceAttributes {
            verb: given(verb),
            group: Some("image.openshift.io".to_string()),
            version: Some("v1".to_string()),
            resource: given(resource),
            subresource: given(subresource),
            namespace: given(namespace),
            ..ResourceAttributes::default()
        }),
        non_resource_attributes: None,
    }
}

#[test]
fn an_access_review_is_answered_by_the_first_rule_granting_it_or_says_what_no_rule_grants() {
    let policy = policy();
    let alice = user("alice", &["dev"]);
    let admin = user("root", &["admins"]);
    let cases = [
        (
            &alice,
            asking("list", "imagestreams", "", "team-a"),
            true,
            "allowed by rules[1] of the --authz-file",
        ),
        (
            &alice,
            asking("get", "imagestreams", "status", "team-a"),
            true,
            "allowed by rules[1] of the --authz-file",
        ),
        (
            &alice,
            asking("create", "imagestreams", "", "team-a"),
            false,
            "no --authz-file rule lets \"alice\" create imagestreams in namespace \"team-a\"",
        ),
        (
            &alice,
            asking("get", "imagestreams", "", "team-b"),
            false,
            "no --authz-file rule lets \"alice\" get imagestreams in namespace \"team-b\"",
        ),
        (
            &alice,
            asking("list", "imagestreams", "", ""),
            false,
            "no --authz-file rule lets \"alice\" list imagestreams in namespace \"\"",
        ),
        (
            &alice,
            asking("get", "imagestreams", "layers", "team-a"),
            false,
            "no --authz-file rule lets \"alice\" get imagestreams/layers in namespace \"team-a\"",
        ),
        (
            &admin,
            asking("delete", "imagestreams", "", ""),
            true,
            "allowed by rules[0] of the --authz-file",
        ),
    ];
    for (who, spec, expected, reason) in cases {
        let status = access_status(Some(&policy), who, &spec).unwrap();
        assert_eq!(status.allowed, expected, "{}: {spec:?}", who.name);
        assert_eq!(
            status.reason.as_deref(),
            Some(reason),
            "{}: {spec:?}",
            who.name
        );
        assert_eq!(status.denied, None, "the policy only grants");
    }
}

#[test]
fn without_a_policy_every_access_review_is_allowed_saying_so() {
    let status = access_status(
        None,
        &user("bob", &[]),
        &asking("delete", "imagestreams", "", "x"),
    );
    assert!(status.as_ref().unwrap().allowed);
    assert_eq!(status.unwrap().reason.as_deref(), Some(NO_POLICY_REASON));
}

#[test]
fn a_request_for_no_resource_is_allowed_and_a_review_asking_both_or_neither_is_invalid() {
    let path = NonResourceAttributes {
        path: Some("/apis".to_string()),
        verb: Some("get".to_string()),
    };
    let mut spec = SelfSubjectAccessReviewSpec {
        resource_attributes: None,
        non_resource_attributes: Some(path),
    };
    let alice = user("alice", &[]);
    let status = access_status(Some(&policy()), &alice, &spec).unwrap();
    assert!(status.allowed);
    assert_eq!(status.reason.as_deref(), Some(NON_RESOURCE_REASON));

    spec.resource_attributes = asking("get", "imagestreams", "", "a").resource_attributes;
    let both = access_status(Some(&policy()), &alice, &spec).unwrap_err();
    assert_eq!(both.field, "spec.nonResourceAttributes");
    let neither = SelfSubjectAccessReviewSpec::default();
    let neither = access_status(Some(&policy()), &alice, &neither).unwrap_err();
    assert_eq!(neither.field, "spec.resourceAttributes");
}

#[test]
fn a_user_the_front_proxy_vouched_for_is_told_to_ask_the_cluster() {
    let mut alice = user("alice", &["dev"]);
    alice.delegated = true;
    let spec = asking("get", "imagestreams", "layers", "team-b");
    for policy in [None, Some(policy())] {
        let status = access_status(policy.as_ref(), &alice, &spec).unwrap();
        assert!(!status.allowed, "{status:?}");
        assert_eq!(status.reason.as_deref(), Some(DELEGATED_REASON));
        let rules = rules_status(policy.as_ref(), &alice, "team-a");
        assert!(rules.incomplete, "{rules:?}");
    }
}

#[test]
fn a_rules_review_lists_the_rules_that_apply_to_the_user_in_the_namespace() {
    let policy = policy();
    let alice = user("alice", &["dev"]);
    let rules = rules_status(Some(&policy), &alice, "team-a");
    assert_eq!(rules.resource_rules.len(), 1, "{rules:?}");
    let rule = &rules.resource_rules[0];
    assert_eq!(rule.verbs, ["get", "list"]);
    assert_eq!(
        rule.resources.as_deref(),
        Some(&["imagestreams".to_string(), "*/status".to_string()][..])
    );
    assert_eq!(
        rule.api_groups.as_deref(),
        Some(&["image.openshift.io".to_string()][..])
    );
    assert!(!rules.incomplete);

    assert!(rules_status(Some(&policy), &alice, "team-b")
        .resource_rules
        .is_empty());
    assert!(
        rules_status(Some(&policy), &alice, "")
            .resource_rules
            .is_empty(),
        "cluster-wide"
    );
    let admin = rules_status(Some(&policy), &user("root", &["admins"]), "");
    assert_eq!(admin.resource_rules.len(), 1);
    assert_eq!(admin.resource_rules[0].verbs, ["*"]);

    let everything = rules_status(None, &alice, "team-b");
    assert_eq!(everything.resource_rules[0].verbs, ["*"]);
    assert_eq!(
        everything.resource_rules[0].resources.as_deref(),
        Some(&["*".to_string()][..])
    );
}

#[test]
fn whoami_names_the_user_its_uid_and_groups_leaving_out_what_is_empty() {
    let info = user_info(&user("alice", &["dev", "ops"]));
    assert_eq!(info.username.as_deref(), Some("alice"));
    assert_eq!(info.uid.as_deref(), Some("7"));
    assert_eq!(
        info.groups,
        Some(vec!["dev".to_string(), "ops".to_string()])
    );
    let bare = UserInfo {
        name: "bob".to_string(),
        uid: String::new(),
        groups: Vec::new(),
        delegated: false,
    };
    let info = user_info(&bare);
    assert_eq!((info.uid, info.groups), (None, None));
}
