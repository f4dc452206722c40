//! Pinning at Pods ([`Pin::Pods`], `serve --pin=pods`): every Pod is resolved whatever owns it,
//! pod templates are left as written, and the rest decides as under OpenShift's default.

use serde_json::json;

use super::*;
use crate::admission::{decide_with, modes, Pin, Request};
use crate::api::policy::GroupResource;

const CRONJOB: Kind = ("batch", "CronJob", "cronjobs");
const PODTEMPLATE: Kind = ("", "PodTemplate", "podtemplates");
const RC: Kind = ("", "ReplicationController", "replicationcontrollers");

/// `object` with a controlling owner, as a ReplicaSet's Pods (or a BuildConfig's Builds) have.
fn owned(mut object: Value) -> Value {
    object["metadata"]["ownerReferences"] =
        json!([{"kind": "ReplicaSet", "name": "rs", "controller": true}]);
    object
}

/// The decision at Pods under `config`.
fn at_pods(request: &Request<'_>, config: &ImagePolicyConfig, resolver: &FakeResolver) -> Decision {
    decide_with(request, config, Pin::Pods, resolver)
}

#[test]
fn controller_owned_pods_are_pinned_when_pinning_at_pods() {
    let pod = owned(mk_pod(&[("a", "mysql"), ("b", "docker.io/library/redis")]));
    let default = ImagePolicyConfig::default();
    let resolver = resolver();
    let decision = at_pods(&create(POD, &pod), &default, &resolver);
    assert_eq!(decision.skipped, None);
    check_patch(
        &decision,
        &pod,
        &replaced(&pod, &[("/spec/containers/0/image", MYSQL)]),
    );
    assert_eq!(decision.rewrites[0].path, "spec.containers[0].image");
    let templates = decide(&create(POD, &pod), &default, &resolver);
    assert_eq!(templates.skipped, Some(Skip::ControllerOwned));
    let required = config("resolveImages: Required");
    let denied = at_pods(
        &create(POD, &owned(mk_pod(&[("a", "missing")]))),
        &required,
        &resolver,
    );
    assert!(!denied.allowed(), "an owned Pod is checked like any other");
}

#[test]
fn pod_templates_are_left_as_written_when_pinning_at_pods() {
    let spec = json!({"containers": containers(&[("a", "mysql"), ("b", "missing")])});
    let everything = config(
        "resolveImages: Required\n\
         resolutionRules: [{targetResource: {resource: '*'}, policy: RequiredRewrite}]",
    );
    let table: [(Kind, &str); 5] = [
        (DEPLOYMENT, "/spec/template/spec"),
        (JOB, "/spec/template/spec"),
        (RC, "/spec/template/spec"),
        (CRONJOB, "/spec/jobTemplate/spec/template/spec"),
        (PODTEMPLATE, "/template/spec"),
    ];
    for (kind, at) in table {
        let object = mk_workload(at, spec.clone());
        for config in [&ImagePolicyConfig::default(), &everything] {
            let resolver = resolver();
            let decision = at_pods(&create(kind, &object), config, &resolver);
            // PodTemplates need a rule; without one they are not covered at all.
            let covered = modes::covers(config, &GroupResource::new(kind.0, kind.2));
            let skip = if covered {
                Skip::PodTemplate
            } else {
                Skip::NotCovered
            };
            assert_eq!(decision.skipped, Some(skip), "{kind:?}");
            assert!(decision.allowed() && decision.patch.is_empty(), "{kind:?}");
            assert!(decision.warnings.is_empty(), "{kind:?}: no noise");
            assert_eq!(resolver.call_count(), 0, "{kind:?}");
        }
    }
}

#[test]
fn a_custom_workload_is_left_as_written_when_pinning_at_pods() {
    let rollout = mk_workload(
        "/spec/template/spec",
        json!({"containers": containers(&[("a", "mysql")])}),
    );
    let located = config(
        "resolutionRules:\n- targetResource: {group: argoproj.io, resource: rollouts}\n  \
         localNames: true\n  policy: Attempt\n  podSpecPath: spec.template.spec\n",
    );
    let request = create(("argoproj.io", "Rollout", "rollouts"), &rollout);
    let resolver = resolver();
    let decision = at_pods(&request, &located, &resolver);
    assert_eq!(decision.skipped, Some(Skip::PodTemplate));
    assert_eq!(resolver.call_count(), 0);
    assert_eq!(decide(&request, &located, &resolver).rewrites.len(), 1);
}

#[test]
fn pinning_at_pods_reads_resolve_names_from_the_pods_own_metadata() {
    // A ReplicaSet copies its template's metadata, annotations included, into each Pod.
    let mut pod = owned(mk_pod(&[("a", "quay.io/org/mysql")]));
    pod["metadata"]["annotations"] = json!({"alpha.image.policy.openshift.io/resolve-names": "*"});
    let resolver = FakeResolver::new(&[("quay.io/org/mysql", local(MYSQL))]);
    let decision = at_pods(&create(POD, &pod), &ImagePolicyConfig::default(), &resolver);
    check_patch(
        &decision,
        &pod,
        &replaced(&pod, &[("/spec/containers/0/image", MYSQL)]),
    );
    assert!(
        resolver.calls.borrow()[0].3,
        "forced by the pod's annotation"
    );
}

#[test]
fn pinning_at_pods_keeps_the_update_and_ephemeral_container_rules() {
    let default = ImagePolicyConfig::default();
    let old = owned(mk_pod(&[("a", MYSQL), ("b", "missing")]));
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({"pod-template-hash": "abc"});
    let resolver = resolver();
    let decision = at_pods(&update(POD, &relabelled, &old), &default, &resolver);
    check_patch(&decision, &relabelled, &relabelled);
    assert_eq!(
        resolver.call_count(),
        0,
        "unchanged images are not re-resolved"
    );

    let mut debugged = old.clone();
    debugged["spec"]["ephemeralContainers"] = containers(&[("debug", "mysql")]);
    let mut request = update(POD, &debugged, &old);
    request.subresource = "ephemeralcontainers";
    let decision = at_pods(&request, &default, &resolver);
    check_patch(
        &decision,
        &debugged,
        &replaced(&debugged, &[("/spec/ephemeralContainers/0/image", MYSQL)]),
    );
    assert_eq!(decision, decide(&request, &default, &resolver));
}

#[test]
fn builds_and_other_kinds_decide_as_under_the_default_pin() {
    let default = ImagePolicyConfig::default();
    let build = mk_build(json!({"kind": "DockerImage", "name": "mysql"}), &[]);
    let map = json!({"metadata": {"name": "demo"}, "data": {"image": "mysql"}});
    let configmap: Kind = ("", "ConfigMap", "configmaps");
    let everything = config("resolutionRules: [{targetResource: {resource: '*'}}]");
    let cases: [(Kind, Value, &ImagePolicyConfig); 4] = [
        (BUILD, build.clone(), &default),
        (BUILD, owned(build), &default),
        (configmap, map.clone(), &everything),
        (configmap, owned(map), &everything),
    ];
    for (kind, object, config) in cases {
        let request = create(kind, &object);
        let expected = decide(&request, config, &resolver());
        assert_eq!(at_pods(&request, config, &resolver()), expected, "{kind:?}");
    }
    let owned_build = owned(mk_build(
        json!({"kind": "DockerImage", "name": "mysql"}),
        &[],
    ));
    let decision = at_pods(&create(BUILD, &owned_build), &default, &resolver());
    assert_eq!(decision.skipped, Some(Skip::ControllerOwned));
}
