//! End-to-end decisions per object kind: every workload's paths, builds, ephemeral containers,
//! image volumes and UPDATE handling.

use serde_json::json;

use super::*;

#[test]
fn update_skips_unchanged_containers() {
    let old = mk_pod(&[("a", "missing"), ("b", "php")]);
    let new = mk_pod(&[("a", "missing"), ("b", "mysql")]);
    let resolver = resolver();
    let decision = decide(
        &update(POD, &new, &old),
        &config("resolveImages: Required"),
        &resolver,
    );
    check_patch(
        &decision,
        &new,
        &replaced(&new, &[("/spec/containers/1/image", MYSQL)]),
    );
    assert_eq!(resolver.call_count(), 1);
}

#[test]
fn jobs_and_builds_are_not_rewritten_on_update() {
    let old_job = mk_workload(
        "/spec/template/spec",
        json!({"containers": containers(&[("a", "php")])}),
    );
    let new_job = mk_workload(
        "/spec/template/spec",
        json!({"containers": containers(&[("a", "mysql")])}),
    );
    let resolver = resolver();
    let decision = decide(
        &update(JOB, &new_job, &old_job),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    check_patch(&decision, &new_job, &new_job);
    assert_eq!(resolver.call_count(), 1, "still resolved for policy checks");
    let created = decide(
        &create(JOB, &new_job),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    assert_eq!(created.rewrites.len(), 1);

    let old_build = mk_build(json!({"kind": "DockerImage", "name": "php"}), &[]);
    let new_build = mk_build(json!({"kind": "DockerImage", "name": "mysql"}), &[]);
    let decision = decide(
        &update(BUILD, &new_build, &old_build),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    check_patch(&decision, &new_build, &new_build);
}

#[test]
fn adding_the_resolve_names_annotation_re_resolves_every_reference() {
    let spec = json!({"containers": containers(&[("a", "quay.io/org/mysql")])});
    let old = mk_workload("/spec/template/spec", spec.clone());
    let mut new = old.clone();
    new["spec"]["template"]["metadata"] =
        json!({"annotations": {"alpha.image.policy.openshift.io/resolve-names": "*"}});
    let resolver = FakeResolver::new(&[("quay.io/org/mysql", local(MYSQL))]);
    let decision = decide(
        &update(DEPLOYMENT, &new, &old),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    let pointer = "/spec/template/spec/containers/0/image";
    check_patch(&decision, &new, &replaced(&new, &[(pointer, MYSQL)]));
    assert!(resolver.calls.borrow()[0].3, "forced");
    let unchanged = decide(
        &update(DEPLOYMENT, &new, &new),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    assert!(unchanged.patch.is_empty());
    assert_eq!(resolver.call_count(), 1);
}

#[test]
fn every_workload_kind_is_resolved_at_its_path() {
    let kinds: [(Kind, &str); 10] = [
        (POD, "/spec"),
        (("", "PodTemplate", "podtemplates"), "/template/spec"),
        (
            ("", "ReplicationController", "replicationcontrollers"),
            "/spec/template/spec",
        ),
        (DEPLOYMENT, "/spec/template/spec"),
        (("apps", "ReplicaSet", "replicasets"), "/spec/template/spec"),
        (
            ("apps", "StatefulSet", "statefulsets"),
            "/spec/template/spec",
        ),
        (("apps", "DaemonSet", "daemonsets"), "/spec/template/spec"),
        (JOB, "/spec/template/spec"),
        (
            ("batch", "CronJob", "cronjobs"),
            "/spec/jobTemplate/spec/template/spec",
        ),
        (
            ("apps.openshift.io", "DeploymentConfig", "deploymentconfigs"),
            "/spec/template/spec",
        ),
    ];
    for (kind, at) in kinds {
        let config = config(&format!(
            "resolveImages: Required\nresolutionRules: [{{targetResource: {{group: '{}', resource: {}}}, localNames: true}}]",
            kind.0, kind.2
        ));
        let good = mk_workload(
            at,
            json!({"initContainers": containers(&[("i", "mysql")]), "containers": containers(&[("c", "mysql")])}),
        );
        let expected = replaced(
            &good,
            &[
                (&format!("{at}/initContainers/0/image"), MYSQL),
                (&format!("{at}/containers/0/image"), MYSQL),
            ],
        );
        check_patch(
            &decide(&create(kind, &good), &config, &resolver()),
            &good,
            &expected,
        );
        let bad = mk_workload(
            at,
            json!({"containers": containers(&[("c", "mysql"), ("d", "missing")])}),
        );
        let path = format!(
            "{}.containers[1].image",
            at.trim_start_matches('/').replace('/', ".")
        );
        let decision = decide(&create(kind, &bad), &config, &resolver());
        assert_eq!(decision.denial.unwrap().errors[0].field, path, "{}", kind.1);
    }
}

#[test]
fn denials_name_the_qualified_kind() {
    let deployment = mk_workload(
        "/spec/template/spec",
        json!({"containers": containers(&[("c", "missing")])}),
    );
    let decision = decide(
        &create(DEPLOYMENT, &deployment),
        &config("resolveImages: Required"),
        &resolver(),
    );
    assert_eq!(
        denial_message(&decision),
        "Deployment.apps \"demo\" is invalid: spec.template.spec.containers[0].image: Forbidden: this image is prohibited by policy: "
    );
}

#[test]
fn builds_rewrite_local_docker_images_but_not_stream_tags_by_default() {
    let tools = json!({"kind": "DockerImage", "name": "mysql", "namespace": "ns"});
    let build = mk_build(
        json!({"kind": "ImageStreamTag", "name": "ruby:3"}),
        &[tools],
    );
    let resolver = resolver().with("ImageStreamTag", "ruby:3", full(PHP));
    let decision = decide(
        &create(BUILD, &build),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    let mut expected = build.clone();
    expected["spec"]["source"]["images"][0]["from"] = json!({"kind": "DockerImage", "name": MYSQL});
    check_patch(&decision, &build, &expected);
    assert_eq!(decision.rewrites[0].path, "spec.source.images[0].from");
}

#[test]
fn build_configs_with_a_custom_policy_rewrite_stream_tags() {
    let config = config("resolutionRules: [{targetResource: {group: build.openshift.io, resource: buildconfigs}, policy: AttemptRewrite}]");
    let build = mk_build(
        json!({"kind": "ImageStreamTag", "name": "ruby:3", "namespace": "shared"}),
        &[],
    );
    let resolver = resolver().with("ImageStreamTag", "ruby:3", full(PHP));
    let decision = decide(&create(BUILD_CONFIG, &build), &config, &resolver);
    let mut expected = build.clone();
    expected["spec"]["strategy"]["sourceStrategy"]["from"] =
        json!({"kind": "DockerImage", "name": PHP});
    check_patch(&decision, &build, &expected);
    assert_eq!(decision.rewrites[0].from, "ImageStreamTag shared/ruby:3");
    let required = config_with_required_build_errors();
    let bad = mk_build(json!({"kind": "ImageStreamTag", "name": "ruby"}), &[]);
    let resolver = resolver_with_bad_tag();
    let decision = decide(&create(BUILD_CONFIG, &bad), &required, &resolver);
    assert_eq!(
        denial_message(&decision),
        "BuildConfig.build.openshift.io \"demo\" is invalid: spec.strategy.sourceStrategy.from.name: Forbidden: this image is prohibited by policy: references of kind ImageStreamTag must be of the form NAME:TAG"
    );
}

fn config_with_required_build_errors() -> ImagePolicyConfig {
    config("resolveImages: Required\nresolutionRules: [{targetResource: {group: build.openshift.io, resource: buildconfigs}}]")
}

fn resolver_with_bad_tag() -> FakeResolver {
    resolver().with(
        "ImageStreamTag",
        "ruby",
        failed(ResolveError::BadStreamTagName),
    )
}

#[test]
fn ephemeral_containers_subresource_visits_only_new_ephemeral_containers() {
    let mut old = mk_pod(&[("a", "php")]);
    old["metadata"]["ownerReferences"] =
        json!([{"kind": "ReplicaSet", "name": "rs", "controller": true}]);
    old["spec"]["ephemeralContainers"] = containers(&[("debug-1", "busybox")]);
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"] =
        containers(&[("debug-1", "busybox"), ("debug-2", "mysql")]);
    let mut request = update(POD, &new, &old);
    request.subresource = "ephemeralcontainers";
    let resolver = resolver();
    let decision = decide(&request, &ImagePolicyConfig::default(), &resolver);
    check_patch(
        &decision,
        &new,
        &replaced(&new, &[("/spec/ephemeralContainers/1/image", MYSQL)]),
    );
    assert_eq!(resolver.call_count(), 1);
    request.subresource = "status";
    assert_eq!(
        decide(&request, &ImagePolicyConfig::default(), &resolver).skipped,
        Some(Skip::Subresource)
    );
}

#[test]
fn image_volumes_are_rewritten() {
    let mut pod = mk_pod(&[("a", "php")]);
    pod["spec"]["volumes"] =
        json!([{"name": "data", "image": {"reference": "mysql", "pullPolicy": "IfNotPresent"}}]);
    let decision = decide(
        &create(POD, &pod),
        &ImagePolicyConfig::default(),
        &resolver(),
    );
    check_patch(
        &decision,
        &pod,
        &replaced(&pod, &[("/spec/volumes/0/image/reference", MYSQL)]),
    );
}

#[test]
fn a_custom_resource_is_pinned_at_the_pod_spec_path_its_rule_gives() {
    const ROLLOUT: super::super::fixtures::Kind = ("argoproj.io", "Rollout", "rollouts");
    let rollout = mk_workload(
        "/spec/template/spec",
        json!({"containers": containers(&[("a", "mysql"), ("b", "docker.io/library/redis")])}),
    );
    let rule = "resolutionRules:\n- targetResource: {group: argoproj.io, resource: rollouts}\n  \
                localNames: true\n  policy: Attempt\n";
    let located = config(&format!("{rule}  podSpecPath: spec.template.spec\n"));
    let decision = decide(&create(ROLLOUT, &rollout), &located, &resolver());
    check_patch(
        &decision,
        &rollout,
        &replaced(
            &rollout,
            &[("/spec/template/spec/containers/0/image", MYSQL)],
        ),
    );
    assert_eq!(
        decision.rewrites[0].path,
        "spec.template.spec.containers[0].image"
    );

    // Covered but not located: nothing says where its images are.
    let unlocated = decide(&create(ROLLOUT, &rollout), &config(rule), &resolver());
    assert_eq!(unlocated.skipped, Some(Skip::NoImages));

    // Owned like any workload: its owner's template was resolved already.
    let mut owned = rollout.clone();
    owned["metadata"]["ownerReferences"] = json!([{"controller": true}]);
    let skipped = decide(&create(ROLLOUT, &owned), &located, &resolver());
    assert_eq!(skipped.skipped, Some(Skip::ControllerOwned));
}
