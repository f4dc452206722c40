use super::*;
use serde_json::json;

/// Locates the sites of `object` and renders them as `path=reference`.
fn check(group: &str, kind: &str, object: Value, expected: &[&str]) {
    let shape = shape(group, kind).expect("kind has images");
    let found: Vec<String> = sites(&object, shape)
        .iter()
        .map(|site| format!("{}={}", site.path(), site.reference.display()))
        .collect();
    assert_eq!(found, expected, "{kind}");
    for site in sites(&object, shape) {
        assert!(object.pointer(&site.pointer).is_some(), "{}", site.pointer);
        assert_eq!(at(&object, &site.pointer), object.pointer(&site.pointer));
    }
}

fn pod_spec(image: &str) -> Value {
    json!({"containers": [{"name": "c", "image": image}]})
}

#[test]
fn pod_visits_init_regular_ephemeral_then_volumes() {
    let pod = json!({"spec": {
        "containers": [{"name": "a", "image": "a"}, {"name": "nameless"}],
        "initContainers": [{"name": "i", "image": "i"}],
        "ephemeralContainers": [{"name": "e", "image": "e"}],
        "volumes": [{"name": "cfg", "configMap": {}}, {"name": "v", "image": {"reference": "v:1"}}],
    }});
    check(
        "",
        "Pod",
        pod,
        &[
            "spec.initContainers[0].image=i",
            "spec.containers[0].image=a",
            "spec.ephemeralContainers[0].image=e",
            "spec.volumes[1].image.reference=v:1",
        ],
    );
}

#[test]
fn every_workload_kind_has_its_pod_spec_path() {
    let template = json!({"spec": {"template": {"spec": pod_spec("x")}}});
    let kinds = [
        ("", "ReplicationController"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("extensions", "Deployment"),
        ("batch", "Job"),
        ("apps.openshift.io", "DeploymentConfig"),
    ];
    for (group, kind) in kinds {
        check(
            group,
            kind,
            template.clone(),
            &["spec.template.spec.containers[0].image=x"],
        );
    }
    let pod_template = json!({"template": {"spec": pod_spec("x")}});
    check(
        "",
        "PodTemplate",
        pod_template,
        &["template.spec.containers[0].image=x"],
    );
    let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec("x")}}}}});
    check(
        "batch",
        "CronJob",
        cron,
        &["spec.jobTemplate.spec.template.spec.containers[0].image=x"],
    );
}

#[test]
fn replication_controller_without_template_has_no_sites() {
    check("", "ReplicationController", json!({"spec": {}}), &[]);
}

#[test]
fn builds_visit_source_images_then_strategies() {
    let build = json!({"spec": {
        "source": {"images": [{"from": {"kind": "ImageStreamTag", "name": "tools:1", "namespace": "shared"}}]},
        "strategy": {"sourceStrategy": {"from": {"kind": "ImageStreamImage", "name": "ruby@sha256:1"}},
                     "dockerStrategy": {}},
        "output": {"to": {"kind": "ImageStreamTag", "name": "out:latest"}},
    }});
    let expected = [
        "spec.source.images[0].from.name=ImageStreamTag shared/tools:1",
        "spec.strategy.sourceStrategy.from.name=ImageStreamImage ruby@sha256:1",
    ];
    check("build.openshift.io", "Build", build.clone(), &expected);
    check("build.openshift.io", "BuildConfig", build, &expected);
}

#[test]
fn resolve_names_is_read_from_template_or_object() {
    let annotated = |value: &str| json!({"annotations": {RESOLVE_NAMES_ANNOTATION: value}});
    let deployment = shape("apps", "Deployment").unwrap();
    let on_template = json!({"spec": {"template": {"metadata": annotated("*")}}});
    assert!(resolves_all_names(&on_template, deployment));
    let on_object = json!({"metadata": annotated("*"), "spec": {"template": {"metadata": {}}}});
    assert!(resolves_all_names(&on_object, deployment));
    let not_star = json!({"spec": {"template": {"metadata": annotated("mysql")}}});
    assert!(!resolves_all_names(&not_star, deployment));
    let cron =
        json!({"spec": {"jobTemplate": {"spec": {"template": {"metadata": annotated("*")}}}}});
    assert!(resolves_all_names(
        &cron,
        shape("batch", "CronJob").unwrap()
    ));
    assert!(!resolves_all_names(&cron, deployment));
}

#[test]
fn at_walks_plain_pointers_like_value_pointer() {
    let object = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}], "n": null}});
    for pointer in [
        "/spec",
        "/spec/containers/1/image",
        "/spec/containers/2",
        "/spec/containers/x",
        "/spec/containers/-1",
        "/spec/n",
        "/spec/n/deeper",
        "/missing",
    ] {
        assert_eq!(at(&object, pointer), object.pointer(pointer), "{pointer}");
    }
    assert_eq!(at(&object, "spec"), None, "a pointer starts with a slash");
}

#[test]
fn every_pod_spec_path_a_policy_accepts_has_the_shape_of_the_kind_keeping_its_pod_spec_there() {
    let kinds = [
        ("", "Pod"),
        ("apps", "Deployment"),
        ("batch", "CronJob"),
        ("", "PodTemplate"),
    ];
    for (path, (group, kind)) in crate::api::policy::POD_SPEC_PATHS.into_iter().zip(kinds) {
        assert_eq!(shape_at(path), shape(group, kind), "{path}");
        assert!(shape_at(path).is_some(), "{path}");
    }
    assert_eq!(shape_at("spec.template"), None);
    assert_eq!(shape_at("/spec/template/spec"), None);
}

#[test]
fn kinds_without_images_have_no_shape() {
    assert_eq!(shape("", "ConfigMap"), None);
    assert_eq!(shape("apps", "Pod"), None);
    assert_eq!(shape("extensions", "StatefulSet"), None);
}

#[test]
fn pointers_to_list_items_carry_every_digit_of_the_index() {
    let cases = [
        (
            ("/spec", "containers", 0, "image"),
            "/spec/containers/0/image",
        ),
        (
            ("/spec/template/spec", "initContainers", 10, "image"),
            "/spec/template/spec/initContainers/10/image",
        ),
        (
            ("/spec", "volumes", 1234, "image/reference"),
            "/spec/volumes/1234/image/reference",
        ),
        (
            ("/spec/source", "images", u32::MAX as usize, "from"),
            "/spec/source/images/4294967295/from",
        ),
    ];
    for ((parent, list, index, tail), expected) in cases {
        assert_eq!(item_pointer(parent, list, index, tail), expected);
    }
    let mut containers: Vec<Value> = (0..11).map(|i| json!({"name": format!("c{i}")})).collect();
    containers[10]["image"] = json!("eleventh");
    check(
        "",
        "Pod",
        json!({"spec": {"containers": containers}}),
        &["spec.containers[10].image=eleventh"],
    );
}

#[test]
fn pointer_tokens_are_those_split_gives() {
    for text in [
        "",
        "a",
        "a/b",
        "/",
        "//",
        "a//b/",
        "spec/containers/0/image",
        "é/ü",
    ] {
        let tokens: Vec<&str> = Tokens { rest: Some(text) }.collect();
        assert_eq!(tokens, text.split('/').collect::<Vec<_>>(), "{text:?}");
    }
    assert_eq!(
        field_path("/spec/containers/10/image"),
        "spec.containers[10].image"
    );
    assert_eq!(
        field_path("spec/x/0"),
        "x[0]",
        "the text before the first slash is skipped"
    );
}
