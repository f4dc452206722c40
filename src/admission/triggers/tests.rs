use serde_json::json;

use super::*;
use crate::admission::fixtures::{full, pull_through, FakeResolver};

const SPEC: &str = "/spec/template/spec";
const APP: &str =
    "registry.local:5000/ns/app@sha256:0000000000000000000000000000000000000000000000000000000000000002";

/// A Deployment with containers `web` and `sidecar`, init container `init`, and `triggers` as
/// its annotation (a JSON value written as its text).
fn deployment(triggers: Value) -> Value {
    json!({
        "metadata": {"name": "demo",
                     "annotations": {TRIGGERS_ANNOTATION: triggers.to_string()}},
        "spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "web", "image": " "}, {"name": "sidecar", "image": "envoy"}],
        }}},
    })
}

fn trigger(name: &str, field_path: &str) -> Value {
    json!({"from": {"kind": "ImageStreamTag", "name": name}, "fieldPath": field_path})
}

/// The one warning `applied` holds, and the field it concerns.
fn only_warning(applied: &Triggers) -> (&str, &Warning) {
    match applied.warnings.as_slice() {
        [(path, warning)] => (path, warning),
        other => panic!("one warning expected: {other:?}"),
    }
}

#[test]
fn field_paths_are_read_as_library_go_reads_them() {
    let object = deployment(json!([]));
    let web = "/spec/template/spec/containers/0/image";
    let cases: Vec<(&str, Result<&str, &str>)> = vec![
        (
            r#"spec.template.spec.containers[?(@.name=="web")].image"#,
            Ok(web),
        ),
        (
            r#"spec.template.spec.containers[?(@.name=="sidecar")].image"#,
            Ok("/spec/template/spec/containers/1/image"),
        ),
        ("spec.template.spec.containers[0].image", Ok(web)),
        // library-go drops one dot after the selector if there is one.
        ("spec.template.spec.containers[0]image", Ok(web)),
        (
            r#"spec.template.spec.initContainers[?(@.name=="init")].image"#,
            Ok("/spec/template/spec/initContainers/0/image"),
        ),
        (
            "spec.containers[0].image",
            Err("not in this object's pod spec"),
        ),
        (
            "spec.template.spec.containers[2].image",
            Err("no container at index 2: containers has 2"),
        ),
        (
            r#"spec.template.spec.containers[?(@.name=="db")].image"#,
            Err(r#"no container named "db" in initContainers or containers"#),
        ),
        (
            "spec.template.spec.containers[0].command",
            Err("does not name a container's image"),
        ),
        (
            "spec.template.spec.volumes[0].image",
            Err("does not name a container's image"),
        ),
        (
            "spec.template.spec.containers[?(@.name=='web')].image",
            Err("does not name a container's image"),
        ),
        (
            "spec.template.spec.containers[-1].image",
            Err("does not name a container's image"),
        ),
        (
            "spec.template.spec.containers",
            Err("does not name a container's image"),
        ),
    ];
    for (field_path, expected) in cases {
        let got = container_image(&object, SPEC, field_path);
        match (&got, expected) {
            (Ok(pointer), Ok(want)) => assert_eq!(pointer, want, "{field_path}"),
            (Err(message), Err(want)) => assert!(message.contains(want), "{field_path}: {message}"),
            _ => panic!("{field_path}: {got:?}"),
        }
    }
}

#[test]
fn a_container_that_is_not_an_object_gets_no_image() {
    let mut object = deployment(json!([]));
    object["spec"]["template"]["spec"]["containers"][1] = json!("sidecar");
    let got = container_image(&object, SPEC, "spec.template.spec.containers[1].image");
    assert_eq!(
        got,
        Err("containers[1] is not a container (a JSON object)".to_string())
    );
}

#[test]
fn an_annotation_that_is_not_a_list_of_distinct_triggers_applies_none() {
    let web = r#"spec.template.spec.containers[?(@.name=="web")].image"#;
    let cases: Vec<(String, &str)> = vec![
        ("not json".to_string(), "not a JSON list of triggers"),
        (
            trigger("app:latest", web).to_string(),
            "not a JSON list of triggers",
        ),
        (
            json!([trigger("app:1", web), trigger("app:2", web)]).to_string(),
            "two triggers name the fieldPath",
        ),
    ];
    let resolver = FakeResolver::default().with("ImageStreamTag", "app:latest", full(APP));
    for (annotation, expected) in cases {
        let mut object = deployment(json!([]));
        object["metadata"]["annotations"][TRIGGERS_ANNOTATION] = Value::from(annotation.clone());
        let applied = apply(&object, SPEC, "ns", &resolver);
        assert!(applied.fills.is_empty(), "{annotation}");
        let (path, warning) = only_warning(&applied);
        assert_eq!(path, ANNOTATION_PATH);
        assert!(warning.contains(expected), "{annotation}: {warning}");
        assert_eq!(warning.reason(), "trigger_not_applied");
    }
    assert_eq!(resolver.call_count(), 0);
}

#[test]
fn each_unpaused_trigger_fills_its_field_with_the_tags_newest_image() {
    let web = r#"spec.template.spec.containers[?(@.name=="web")].image"#;
    let paused = json!({"from": {"kind": "ImageStreamTag", "name": "app:latest"},
                        "fieldPath": "spec.template.spec.containers[1].image", "paused": true});
    let other_namespace = json!({
        "from": {"kind": "ImageStreamTag", "name": "tools:1", "namespace": "shared"},
        "fieldPath": "spec.template.spec.initContainers[0].image"});
    let object = deployment(json!([trigger("app:latest", web), paused, other_namespace]));
    let resolver = FakeResolver::default()
        .with("ImageStreamTag", "app:latest", full(APP))
        .with(
            "ImageStreamTag",
            "tools:1",
            full("quay.io/shared/tools@sha256:1"),
        );
    let applied = apply(&object, SPEC, "ns", &resolver);
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    let filled: Vec<(&str, &str, &str)> = applied
        .fills
        .iter()
        .map(|fill| {
            (
                fill.pointer.as_str(),
                fill.from.as_str(),
                fill.pull_spec.as_str(),
            )
        })
        .collect();
    assert_eq!(
        filled,
        [
            (
                "/spec/template/spec/containers/0/image",
                "ImageStreamTag app:latest",
                APP
            ),
            (
                "/spec/template/spec/initContainers/0/image",
                "ImageStreamTag shared/tools:1",
                "quay.io/shared/tools@sha256:1"
            ),
        ]
    );
    let calls = resolver.calls.borrow();
    let asked: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|(kind, name, namespace, _)| (kind.as_str(), name.as_str(), namespace.as_str()))
        .collect();
    // The reference's own namespace travels in the reference; the object's is the fallback.
    assert_eq!(
        asked,
        [
            ("ImageStreamTag", "app:latest", "ns"),
            ("ImageStreamTag", "tools:1", "ns")
        ]
    );
}

#[test]
fn of_two_triggers_naming_one_container_the_later_is_applied() {
    let by_name = r#"spec.template.spec.containers[?(@.name=="web")].image"#;
    let by_index = "spec.template.spec.containers[0].image";
    let object = deployment(json!([
        trigger("app:latest", by_name),
        trigger("app:next", by_index)
    ]));
    let resolver = FakeResolver::default()
        .with("ImageStreamTag", "app:latest", full(APP))
        .with(
            "ImageStreamTag",
            "app:next",
            full("quay.io/org/app@sha256:3"),
        );
    let applied = apply(&object, SPEC, "ns", &resolver);
    let filled: Vec<&str> = applied.fills.iter().map(|f| f.pull_spec.as_str()).collect();
    assert_eq!(filled, ["quay.io/org/app@sha256:3"]);
    let (path, warning) = only_warning(&applied);
    assert_eq!(path, by_name);
    assert!(
        warning.contains("names the same container as the later trigger"),
        "{warning}"
    );
}

#[test]
fn a_trigger_missing_a_field_fills_nothing_and_the_others_apply() {
    let web = r#"spec.template.spec.containers[?(@.name=="web")].image"#;
    let no_path = json!({"from": {"kind": "ImageStreamTag", "name": "app:latest"}});
    let no_from = json!({"fieldPath": "spec.template.spec.initContainers[0].image"});
    let object = deployment(json!([
        no_path.clone(),
        no_path,
        no_from,
        trigger("app:latest", web)
    ]));
    let resolver = FakeResolver::default().with("ImageStreamTag", "app:latest", full(APP));
    let applied = apply(&object, SPEC, "ns", &resolver);
    let [fill] = applied.fills.as_slice() else {
        panic!("the complete trigger applies: {:?}", applied.fills);
    };
    assert_eq!(fill.pointer, "/spec/template/spec/containers/0/image");
    let warnings: Vec<(&str, String)> = applied
        .warnings
        .iter()
        .map(|(path, warning)| (path.as_str(), warning.to_string()))
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for (path, warning) in &warnings[..2] {
        assert_eq!(*path, ANNOTATION_PATH, "no fieldPath to point at");
        assert!(
            warning.contains("not in this object's pod spec"),
            "{warning}"
        );
    }
    assert_eq!(warnings[2].0, "spec.template.spec.initContainers[0].image");
    assert!(
        warnings[2].1.contains("only ImageStreamTag triggers"),
        "{:?}",
        warnings[2]
    );
}

#[test]
fn a_container_named_in_the_path_is_found_in_either_list_as_library_go_finds_it() {
    // `containers[?(@.name=="init")]` names an init container: library-go looks by name in
    // init containers, then the others.
    let by_name = r#"spec.template.spec.containers[?(@.name=="init")].image"#;
    let object = deployment(json!([trigger("app:latest", by_name)]));
    let resolver = FakeResolver::default().with("ImageStreamTag", "app:latest", full(APP));
    let applied = apply(&object, SPEC, "ns", &resolver);
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    let [fill] = applied.fills.as_slice() else {
        panic!("one fill: {:?}", applied.fills);
    };
    assert_eq!(fill.pointer, "/spec/template/spec/initContainers/0/image");
}

#[test]
fn a_trigger_from_a_reference_tag_writes_the_pull_spec_its_newest_event_references() {
    let web = r#"spec.template.spec.containers[?(@.name=="web")].image"#;
    let object = deployment(json!([trigger("app:1", web)]));
    let resolver = FakeResolver::default().with_reference_only("app:1", "quay.io/o/app:1");
    let applied = apply(&object, SPEC, "ns", &resolver);
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    let [fill] = applied.fills.as_slice() else {
        panic!("one fill: {:?}", applied.fills);
    };
    assert_eq!(fill.pointer, "/spec/template/spec/containers/0/image");
    assert_eq!(fill.pull_spec, "quay.io/o/app:1");
    assert!(fill.reason.contains("a reference tag"), "{}", fill.reason);
}

#[test]
fn a_trigger_that_cannot_fill_its_field_says_why_and_leaves_it() {
    let web = r#"spec.template.spec.containers[?(@.name=="web")].image"#;
    let docker = json!({"from": {"kind": "DockerImage", "name": "app:latest"}, "fieldPath": web});
    let cases: Vec<(Value, &str)> = vec![
        (
            trigger("pending:latest", web),
            "no image to write yet, so the field is left as written",
        ),
        (trigger("missing:latest", web), "no image to write yet"),
        // Why the tag has no image, not how a reference to it would be pulled.
        (
            trigger("typo:latest", web),
            "no image to write yet, so the field is left as written; the tag is missing; add it",
        ),
        (docker, "only ImageStreamTag triggers are applied"),
        (
            trigger("app:latest", "spec.containers[0].image"),
            "not in this object's pod spec",
        ),
    ];
    let mut briefed = pull_through("registry.local:5000/ns/typo:latest");
    briefed.reason = "the tag is missing, so it is pulled by tag as …; add it".to_string();
    briefed.brief = Some(crate::resolve::Brief {
        summary: "the tag is missing; add it".to_string(),
        detail: "pulled by tag as registry.local:5000/ns/typo:latest".to_string(),
    });
    let resolver = FakeResolver::default()
        .with("ImageStreamTag", "app:latest", full(APP))
        .with(
            "ImageStreamTag",
            "pending:latest",
            pull_through("registry.local:5000/ns/pending:latest"),
        )
        .with("ImageStreamTag", "typo:latest", briefed);
    for (trigger, expected) in cases {
        let object = deployment(json!([trigger]));
        let applied = apply(&object, SPEC, "ns", &resolver);
        assert!(applied.fills.is_empty(), "{trigger}");
        let (path, warning) = only_warning(&applied);
        assert_eq!(path, trigger["fieldPath"].as_str().unwrap());
        assert!(warning.starts_with("trigger from "), "{warning}");
        assert!(warning.contains(expected), "{trigger}: {warning}");
        assert!(!warning.contains("pulled by tag"), "{trigger}: {warning}");
    }
}

#[test]
fn an_object_without_the_annotation_has_no_triggers() {
    let mut object = deployment(json!([]));
    object["metadata"]["annotations"] = json!({});
    let resolver = FakeResolver::default();
    let applied = apply(&object, SPEC, "ns", &resolver);
    assert!(applied.fills.is_empty() && applied.warnings.is_empty());
    object["metadata"]["annotations"][TRIGGERS_ANNOTATION] = json!([1]);
    let applied = apply(&object, SPEC, "ns", &resolver);
    assert!(
        applied.fills.is_empty() && applied.warnings.is_empty(),
        "not a string"
    );
}
