//! End-to-end decisions over whole objects: every mode and rule of openshift-semantics §3.2–3.5
//! and §6.4–6.5. Patches are always applied to the original and compared with the expected
//! object.

use serde_json::{json, Value};

use super::fixtures::*;
use super::{decide, Decision, Operation, Skip};
use crate::api::policy::ImagePolicyConfig;
use crate::resolve::ResolveError;

const MYSQL: &str = "registry.local:5000/ns/mysql@sha256:0000000000000000000000000000000000000000000000000000000000000001";
const PHP: &str =
    "quay.io/org/php@sha256:0000000000000000000000000000000000000000000000000000000000000001";

/// Asserts `decision` admits `object` and its patch turns it into `expected`.
fn check_patch(decision: &Decision, object: &Value, expected: &Value) {
    assert_eq!(decision.denial, None);
    assert_eq!(&decision.apply_to(object).expect("patch applies"), expected);
}

/// `object` with the strings at these JSON pointers replaced.
fn replaced(object: &Value, values: &[(&str, &str)]) -> Value {
    let mut out = object.clone();
    for (pointer, value) in values {
        *out.pointer_mut(pointer).expect("pointer exists") = Value::from(*value);
    }
    out
}

fn denial_message(decision: &Decision) -> String {
    decision.denial.as_ref().expect("denied").message.clone()
}

/// The resolver most scenarios use: `mysql` is a local stream, `php` a full integrated
/// reference, `docker.io/…` is not resolvable, `mysql:off` has lookup disabled.
fn resolver() -> FakeResolver {
    FakeResolver::new(&[
        ("mysql", local(MYSQL)),
        ("registry.local:5000/ns/php:7", full(PHP)),
        (
            "docker.io/library/redis",
            failed(ResolveError::NotExact("docker.io/library/redis".into())),
        ),
        ("mysql:off", failed(ResolveError::LocalNotAllowed)),
        (PHP, digest(PHP)),
    ])
}

#[test]
fn shipped_defaults_rewrite_only_local_names() {
    let pod = mk_pod(&[
        ("a", "mysql"),
        ("b", "registry.local:5000/ns/php:7"),
        ("c", "docker.io/library/redis"),
    ]);
    let decision = decide(
        &create(POD, &pod),
        &ImagePolicyConfig::default(),
        &resolver(),
    );
    check_patch(
        &decision,
        &pod,
        &replaced(&pod, &[("/spec/containers/0/image", MYSQL)]),
    );
    assert_eq!(decision.rewrites.len(), 1);
    assert_eq!(decision.rewrites[0].path, "spec.containers[0].image");
    assert_eq!(decision.rewrites[0].from, "mysql");
    assert!(decision.warnings.is_empty(), "{:?}", decision.warnings);
}

#[test]
fn resources_without_rules_are_skipped_whatever_the_global_mode() {
    let config = config("resolveImages: RequiredRewrite\nresolutionRules: []");
    let pod = mk_pod(&[("a", "docker.io/library/redis")]);
    assert_eq!(
        decide(&create(POD, &pod), &config, &resolver()).skipped,
        Some(Skip::NotCovered)
    );
}

#[test]
fn shipped_defaults_skip_pod_templates_and_build_configs() {
    let resolver = resolver();
    let template = mk_workload(
        "/template/spec",
        json!({"containers": containers(&[("a", "mysql")])}),
    );
    let request = create(("", "PodTemplate", "podtemplates"), &template);
    assert_eq!(
        decide(&request, &ImagePolicyConfig::default(), &resolver).skipped,
        Some(Skip::NotCovered)
    );
    let build = mk_build(json!({"kind": "DockerImage", "name": "mysql"}), &[]);
    let decision = decide(
        &create(BUILD_CONFIG, &build),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    assert_eq!(decision.skipped, Some(Skip::NotCovered));
    assert_eq!(resolver.call_count(), 0);
}

#[test]
fn required_rejects_with_openshift_wording_and_paths() {
    let pod = mk_pod(&[
        ("a", "docker.io/library/redis"),
        ("b", "missing:1"),
        ("c", "mysql"),
    ]);
    let decision = decide(
        &create(POD, &pod),
        &config("resolveImages: Required"),
        &resolver(),
    );
    assert_eq!(
        denial_message(&decision),
        "Pod \"demo\" is invalid: [\
         spec.containers[0].image: Forbidden: this image is prohibited by policy: (docker.io/library/redis) could not be resolved to an exact image reference, \
         spec.containers[1].image: Forbidden: this image is prohibited by policy: ]"
    );
    let denial = decision.denial.unwrap();
    assert_eq!(denial.errors[0].kind.cause_reason(), "FieldValueForbidden");
    assert!(decision.patch.is_empty() && decision.rewrites.is_empty());
}

#[test]
fn required_admits_resolvable_images_and_rewrites_only_local_names() {
    let pod = mk_pod(&[("a", "mysql"), ("b", "registry.local:5000/ns/php:7")]);
    let decision = decide(
        &create(POD, &pod),
        &config("resolveImages: Required"),
        &resolver(),
    );
    check_patch(
        &decision,
        &pod,
        &replaced(&pod, &[("/spec/containers/0/image", MYSQL)]),
    );
}

#[test]
fn attempt_admits_unresolved_images_with_a_warning() {
    let pod = mk_pod(&[("a", "mysql:off"), ("b", "docker.io/library/redis")]);
    let decision = decide(
        &create(POD, &pod),
        &ImagePolicyConfig::default(),
        &resolver(),
    );
    check_patch(&decision, &pod, &pod);
    assert_eq!(decision.warnings.len(), 1);
    assert!(
        decision.warnings[0].starts_with("spec.containers[0].image: \"mysql:off\" not rewritten")
    );
}

#[test]
fn a_local_name_with_no_image_and_nowhere_to_pull_it_through_is_refused_even_under_attempt() {
    let unpullable = || {
        failed(ResolveError::NoPullThrough {
            namespace: "ns".into(),
            name: "app:latest".into(),
        })
    };
    let resolver = FakeResolver::new(&[("app", unpullable()), ("mysql", local(MYSQL))]);
    let pod = mk_pod(&[("a", "mysql"), ("b", "app")]);
    let decision = decide(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    let message = denial_message(&decision);
    assert!(
        message.contains("spec.containers[1].image: Forbidden: this image is prohibited by policy"),
        "{message}"
    );
    assert!(message.contains("no integrated registry"), "{message}");
    assert!(decision.rewrites.is_empty(), "nothing written on a denial");
    assert_eq!(decision.unresolved, ["no_pull_through"]);

    // Where nothing would be rewritten (a rule resolving without writing back), the name is
    // not refused: it was never going to be changed.
    let resolve_only =
        config("resolutionRules: [{targetResource: {resource: pods}, policy: Attempt}]");
    let decision = decide(&create(POD, &pod), &resolve_only, &resolver);
    assert!(decision.allowed(), "{:?}", decision.denial);
    assert!(
        decision.unresolved.contains(&"no_pull_through"),
        "{decision:?}"
    );
}

/// One rule for pods taking the global mode: without a covering rule a resource is skipped.
const POD_RULE: &str = "resolutionRules: [{targetResource: {resource: pods}}]";

#[test]
fn rewrite_modes_rewrite_everything_resolvable() {
    let pod = mk_pod(&[
        ("a", "mysql"),
        ("b", "registry.local:5000/ns/php:7"),
        ("c", PHP),
    ]);
    let expected = replaced(
        &pod,
        &[
            ("/spec/containers/0/image", MYSQL),
            ("/spec/containers/1/image", PHP),
        ],
    );
    for mode in ["AttemptRewrite", "RequiredRewrite"] {
        let config = config(&format!("resolveImages: {mode}\n{POD_RULE}"));
        let decision = decide(&create(POD, &pod), &config, &resolver());
        check_patch(&decision, &pod, &expected);
        assert_eq!(
            decision.rewrites.len(),
            2,
            "{mode}: digests resolve to themselves"
        );
    }
    let unresolvable = mk_pod(&[("a", "docker.io/library/redis")]);
    let attempt = config(&format!("resolveImages: AttemptRewrite\n{POD_RULE}"));
    check_patch(
        &decide(&create(POD, &unresolvable), &attempt, &resolver()),
        &unresolvable,
        &unresolvable,
    );
    let required = config(&format!("resolveImages: RequiredRewrite\n{POD_RULE}"));
    assert!(!decide(&create(POD, &unresolvable), &required, &resolver()).allowed());
}

#[test]
fn default_rules_take_the_global_rewrite_mode_where_execution_rules_cover_them() {
    let config = config("resolveImages: AttemptRewrite\nexecutionRules: [{name: pods}]");
    let pod = mk_pod(&[("b", "registry.local:5000/ns/php:7")]);
    let decision = decide(&create(POD, &pod), &config, &resolver());
    check_patch(
        &decision,
        &pod,
        &replaced(&pod, &[("/spec/containers/0/image", PHP)]),
    );
    let deployment = mk_workload(
        "/spec/template/spec",
        json!({"containers": containers(&[("b", "registry.local:5000/ns/php:7")])}),
    );
    let decision = decide(&create(DEPLOYMENT, &deployment), &config, &resolver());
    check_patch(&decision, &deployment, &deployment);
}

#[test]
fn local_names_rules_decide_local_rewrites() {
    let pod = mk_pod(&[("a", "mysql")]);
    let off = config("resolutionRules: [{targetResource: {resource: pods}, localNames: false}]");
    check_patch(&decide(&create(POD, &pod), &off, &resolver()), &pod, &pod);
    let on = config("resolutionRules: [{targetResource: {resource: pods}, localNames: true}]");
    let expected = replaced(&pod, &[("/spec/containers/0/image", MYSQL)]);
    check_patch(
        &decide(&create(POD, &pod), &on, &resolver()),
        &pod,
        &expected,
    );
}

#[test]
fn a_matching_rule_overrides_the_global_rewrite_flag_but_not_failure() {
    let config = config(
        "resolveImages: RequiredRewrite\n\
         resolutionRules: [{targetResource: {resource: pods}, policy: DoNotAttempt}]",
    );
    let pod = mk_pod(&[("a", "mysql"), ("b", "registry.local:5000/ns/php:7")]);
    check_patch(
        &decide(&create(POD, &pod), &config, &resolver()),
        &pod,
        &pod,
    );
    let bad = mk_pod(&[("a", "missing")]);
    assert!(!decide(&create(POD, &bad), &config, &resolver()).allowed());
}

#[test]
fn controller_owned_objects_are_skipped() {
    let mut pod = mk_pod(&[("a", "mysql")]);
    pod["metadata"]["ownerReferences"] =
        json!([{"kind": "ReplicaSet", "name": "rs", "controller": true}]);
    let resolver = resolver();
    let decision = decide(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    assert_eq!(decision.skipped, Some(Skip::ControllerOwned));
    assert_eq!(resolver.call_count(), 0);
    pod["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    let decision = decide(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    assert_eq!(decision.rewrites.len(), 1);
}

#[test]
fn each_distinct_reference_is_resolved_once() {
    let mut pod = mk_pod(&[("a", "mysql"), ("b", "mysql"), ("c", "missing")]);
    pod["spec"]["initContainers"] = containers(&[("i", "mysql"), ("j", "missing")]);
    let resolver = resolver();
    let decision = decide(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    assert_eq!(resolver.call_count(), 2);
    let expected = replaced(
        &pod,
        &[
            ("/spec/initContainers/0/image", MYSQL),
            ("/spec/containers/0/image", MYSQL),
            ("/spec/containers/1/image", MYSQL),
        ],
    );
    check_patch(&decision, &pod, &expected);
}

#[test]
fn execution_rules_reject_matching_registries() {
    let config =
        config("executionRules: [{name: no-hub, reject: true, matchRegistries: [docker.io]}]");
    let redis = mk_pod(&[("a", "docker.io/library/redis")]);
    let decision = decide(&create(POD, &redis), &config, &resolver());
    assert_eq!(
        denial_message(&decision),
        "Pod \"demo\" is invalid: spec.containers[0].image: Forbidden: this image is prohibited by policy: (docker.io/library/redis) could not be resolved to an exact image reference"
    );
    let hub = FakeResolver::new(&[("mysql", local(&format!("docker.io/library/mysql@{SHA}")))]);
    let decision = decide(&create(POD, &mk_pod(&[("a", "mysql")])), &config, &hub);
    assert_eq!(
        denial_message(&decision),
        "Pod \"demo\" is invalid: spec.containers[0].image: Forbidden: this image is prohibited by policy"
    );
    let quay = mk_pod(&[("a", PHP)]);
    assert!(decide(&create(POD, &quay), &config, &resolver()).allowed());
}

#[test]
fn execution_rules_apply_without_resolution() {
    let config = config(
        "resolveImages: DoNotAttempt\nresolutionRules: []\n\
         executionRules: [{name: no-hub, reject: true, matchRegistries: [docker.io]}]",
    );
    let resolver = resolver();
    let decision = decide(
        &create(POD, &mk_pod(&[("a", "docker.io/library/redis")])),
        &config,
        &resolver,
    );
    assert_eq!(
        decision.denial.unwrap().errors[0].detail,
        "this image is prohibited by policy"
    );
    assert_eq!(resolver.call_count(), 0);
}

#[test]
fn pull_through_rewrites_warn_that_they_are_not_pinned() {
    let resolver =
        FakeResolver::new(&[("mysql:8", pull_through("registry.local:5000/ns/mysql:8"))]);
    let pod = mk_pod(&[("a", "mysql:8")]);
    let decision = decide(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    check_patch(
        &decision,
        &pod,
        &replaced(
            &pod,
            &[("/spec/containers/0/image", "registry.local:5000/ns/mysql:8")],
        ),
    );
    assert_eq!(decision.warnings.len(), 1);
    assert!(decision.warnings[0].starts_with("spec.containers[0].image: \"mysql:8\" not pinned: "));
    assert!(!decision.rewrites[0].pinned);
}

#[test]
fn rewrites_through_a_tag_event_are_marked_pinned() {
    let resolver = FakeResolver::new(&[("mysql:8", local("quay.io/o/mysql@sha256:1"))]);
    let pod = mk_pod(&[("a", "mysql:8")]);
    let decision = decide(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    assert_eq!(decision.rewrites.len(), 1);
    assert!(decision.rewrites[0].pinned);
}

#[test]
fn requests_that_cannot_carry_images_pass_through() {
    let pod = mk_pod(&[("a", "mysql")]);
    let mut delete = create(POD, &pod);
    delete.operation = Operation::Delete;
    assert_eq!(
        decide(&delete, &ImagePolicyConfig::default(), &resolver()).skipped,
        Some(Skip::Operation)
    );
    let everything =
        config("resolutionRules: [{targetResource: {resource: '*'}, policy: Attempt}]");
    let map = json!({"metadata": {"name": "demo"}, "data": {"image": "mysql"}});
    let decision = decide(
        &create(("", "ConfigMap", "configmaps"), &map),
        &everything,
        &resolver(),
    );
    assert_eq!(decision.skipped, Some(Skip::NoImages));
}

#[test]
fn an_object_unreadable_for_its_kind_is_allowed_with_a_warning_at_each_part_that_cannot_be_read() {
    let not_resolved = |line: &str| format!("{line}: not resolved");
    let cases = [
        (json!("hello"), "object: a string, not an object"),
        (json!([1]), "object: a list, not an object"),
        (Value::Null, "object: null, not an object"),
        (json!({"spec": null}), "spec: null, not an object"),
        (
            json!({"spec": {"containers": {"a": {"image": "mysql"}}}}),
            "spec.containers: an object, not a list",
        ),
        (
            json!({"spec": {"containers": [{"name": "a", "image": 5}]}}),
            "spec.containers[0].image: a number, not an image reference",
        ),
    ];
    for (object, warning) in cases {
        let decision = decide(
            &create(POD, &object),
            &ImagePolicyConfig::default(),
            &resolver(),
        );
        assert_eq!(decision.denial, None, "{object}");
        assert_eq!(decision.skipped, None, "{object}");
        assert!(decision.patch.0.is_empty(), "{object}");
        assert_eq!(decision.warnings, [not_resolved(warning)], "{object}");
        assert_eq!(decision.unresolved, ["unreadable"], "{object}");
        let audit = decision.audit_annotations().expect("an audit annotation");
        assert!(audit.get().contains("not resolved"), "{}", audit.get());
    }
}

#[test]
fn the_readable_references_of_a_partly_unreadable_object_are_still_resolved() {
    let pod = json!({"spec": {"containers": [{"name": "a", "image": 5}, {"name": "b", "image": "mysql"}]}});
    let decision = decide(
        &create(POD, &pod),
        &ImagePolicyConfig::default(),
        &resolver(),
    );
    check_patch(
        &decision,
        &pod,
        &replaced(&pod, &[("/spec/containers/1/image", MYSQL)]),
    );
    assert_eq!(
        decision.warnings,
        ["spec.containers[0].image: a number, not an image reference: not resolved"]
    );
}

#[test]
fn an_operation_admission_does_not_define_passes_through_saying_so() {
    let pod = mk_pod(&[("a", "mysql")]);
    let mut request = create(POD, &pod);
    request.operation = Operation::Unknown;
    let decision = decide(&request, &ImagePolicyConfig::default(), &resolver());
    assert_eq!(decision.skipped, Some(Skip::UnknownOperation));
    assert!(decision.patch.0.is_empty());
    let warning = "request.operation is not CREATE, UPDATE, DELETE or CONNECT: nothing resolved";
    assert_eq!(decision.warnings, [warning]);
    assert!(decision.audit_annotations().is_some());
    // A DELETE passes through as kube-apiserver sends it: there is nothing to explain.
    request.operation = Operation::Delete;
    let delete = decide(&request, &ImagePolicyConfig::default(), &resolver());
    assert_eq!(
        (delete.skipped, delete.warnings),
        (Some(Skip::Operation), vec![])
    );
}

#[test]
fn lookups_use_the_object_namespace_and_the_annotation() {
    let mut pod = mk_pod(&[("a", "mysql")]);
    pod["metadata"]["annotations"] = json!({"alpha.image.policy.openshift.io/resolve-names": "*"});
    let resolver = resolver();
    decide(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    let calls = resolver.calls.borrow();
    assert_eq!(
        calls[0],
        ("DockerImage".into(), "mysql".into(), "ns".into(), true)
    );
}

mod objects;

mod pods;

mod triggers;
