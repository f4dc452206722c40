//! The `image.openshift.io/triggers` annotation through the whole decision: what the triggers
//! fill is written (created when missing), is not looked up, and a denial writes nothing.

use serde_json::json;

use super::*;

const APP: &str =
    "registry.local:5000/ns/app@sha256:0000000000000000000000000000000000000000000000000000000000000002";
const WEB: &str = r#"spec.template.spec.containers[?(@.name=="web")].image"#;

/// A Deployment whose pod spec is `pod_spec`, with one trigger filling container `web` from
/// `app:latest`.
fn triggered(pod_spec: Value) -> Value {
    let mut object = mk_workload("/spec/template/spec", pod_spec);
    let triggers = json!([{"from": {"kind": "ImageStreamTag", "name": "app:latest"},
                           "fieldPath": WEB}]);
    object["metadata"]["annotations"] =
        json!({"image.openshift.io/triggers": triggers.to_string()});
    object
}

fn with_app() -> FakeResolver {
    resolver().with("ImageStreamTag", "app:latest", full(APP))
}

#[test]
fn a_trigger_fills_the_blank_image_an_openshift_template_leaves() {
    let object = triggered(json!({"containers": containers(&[("web", " "), ("db", "mysql")])}));
    let resolver = with_app();
    let decision = decide(
        &create(DEPLOYMENT, &object),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    let expected = replaced(
        &object,
        &[
            ("/spec/template/spec/containers/0/image", APP),
            ("/spec/template/spec/containers/1/image", MYSQL),
        ],
    );
    check_patch(&decision, &object, &expected);
    assert!(decision.warnings.is_empty(), "{:?}", decision.warnings);
    let filled = decision
        .rewrites
        .iter()
        .find(|rewrite| rewrite.to == APP)
        .expect("the trigger's rewrite is listed");
    assert_eq!(filled.path, "spec.template.spec.containers[0].image");
    assert_eq!(filled.from, " ");
    assert!(
        filled.reason.starts_with(&format!(
            "the image.openshift.io/triggers annotation fills {WEB} from ImageStreamTag app:latest: "
        )),
        "{}",
        filled.reason
    );
}

#[test]
fn a_trigger_writes_an_image_a_container_does_not_have_yet() {
    let object = triggered(json!({"containers": [{"name": "web"}]}));
    let decision = decide(
        &create(DEPLOYMENT, &object),
        &ImagePolicyConfig::default(),
        &with_app(),
    );
    let mut expected = object.clone();
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!(APP);
    check_patch(&decision, &object, &expected);
}

#[test]
fn the_field_a_trigger_fills_is_not_looked_up() {
    let object = triggered(json!({"containers": containers(&[("web", "mysql")])}));
    let resolver = with_app();
    let decision = decide(
        &create(DEPLOYMENT, &object),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    let expected = replaced(&object, &[("/spec/template/spec/containers/0/image", APP)]);
    check_patch(&decision, &object, &expected);
    let kinds: Vec<String> = resolver
        .calls
        .borrow()
        .iter()
        .map(|call| call.0.clone())
        .collect();
    assert_eq!(kinds, ["ImageStreamTag"], "mysql was not resolved");
}

#[test]
fn a_trigger_applies_on_every_write_so_the_workload_follows_its_tag() {
    let old = triggered(
        json!({"containers": containers(&[("web", "registry.local:5000/ns/app@sha256:01")])}),
    );
    let object = old.clone();
    let decision = decide(
        &update(DEPLOYMENT, &object, &old),
        &ImagePolicyConfig::default(),
        &with_app(),
    );
    let expected = replaced(&object, &[("/spec/template/spec/containers/0/image", APP)]);
    check_patch(&decision, &object, &expected);
    // Already the tag's image: nothing to write.
    let current = expected;
    let decision = decide(
        &update(DEPLOYMENT, &current, &old),
        &ImagePolicyConfig::default(),
        &with_app(),
    );
    assert!(decision.patch.0.is_empty() && decision.rewrites.is_empty());
}

#[test]
fn a_trigger_whose_tag_has_no_image_warns_and_leaves_the_field() {
    let object = triggered(json!({"containers": containers(&[("web", " ")])}));
    let resolver = resolver().with(
        "ImageStreamTag",
        "app:latest",
        pull_through("registry.local:5000/ns/app:latest"),
    );
    let decision = decide(
        &create(DEPLOYMENT, &object),
        &ImagePolicyConfig::default(),
        &resolver,
    );
    check_patch(&decision, &object, &object);
    let [warning] = decision.warnings.as_slice() else {
        panic!("{:?}", decision.warnings);
    };
    assert!(
        warning.starts_with(&format!(
            "{WEB}: trigger from ImageStreamTag app:latest: no image to write yet"
        )),
        "{warning}"
    );
    assert_eq!(decision.unresolved, ["trigger_not_applied"]);
}

#[test]
fn a_denied_object_gets_no_trigger_written_either() {
    let object = triggered(
        json!({"containers": containers(&[("web", " "), ("cache", "docker.io/library/redis")])}),
    );
    let decision = decide(
        &create(DEPLOYMENT, &object),
        &config("resolveImages: Required"),
        &with_app(),
    );
    assert!(decision.denial.is_some());
    assert!(decision.patch.0.is_empty() && decision.rewrites.is_empty());
}

#[test]
fn a_job_is_filled_when_created_but_not_on_update_since_its_template_is_immutable() {
    let job = triggered(json!({"containers": containers(&[("web", " ")])}));
    let created = decide(
        &create(JOB, &job),
        &ImagePolicyConfig::default(),
        &with_app(),
    );
    let filled = replaced(&job, &[("/spec/template/spec/containers/0/image", APP)]);
    check_patch(&created, &job, &filled);
    // The tag has moved since; a label change must not touch the template.
    let moved = resolver().with("ImageStreamTag", "app:latest", full(MYSQL));
    let mut relabelled = filled.clone();
    relabelled["metadata"]["labels"] = json!({"run": "2"});
    let updated = decide(
        &update(JOB, &relabelled, &filled),
        &ImagePolicyConfig::default(),
        &moved,
    );
    assert!(
        updated.patch.0.is_empty() && updated.warnings.is_empty(),
        "{updated:?}"
    );
    // A Deployment's template is not frozen: the same update follows the tag.
    let updated = decide(
        &update(DEPLOYMENT, &relabelled, &filled),
        &ImagePolicyConfig::default(),
        &moved,
    );
    assert_eq!(updated.rewrites.len(), 1, "{updated:?}");
}
