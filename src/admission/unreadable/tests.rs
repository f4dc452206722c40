use serde_json::{json, Value};

use super::*;
use crate::admission::locate::shape;

const POD: (&str, &str) = ("", "Pod");
const DEPLOYMENT: (&str, &str) = ("apps", "Deployment");
const BUILD: (&str, &str) = ("build.openshift.io", "Build");

/// A kind, an object of it, and the field paths and subjects expected.
type Case = (
    (&'static str, &'static str),
    Value,
    Vec<(&'static str, &'static str)>,
);

/// The field paths and subjects `unreadable` gives for `object` of kind `kind`.
fn parts(kind: (&str, &str), object: &Value) -> Vec<(String, String)> {
    let shape = shape(kind.0, kind.1).expect("a kind with images");
    unreadable(object, shape)
        .iter()
        .map(|part| (part.path(), part.subject()))
        .collect()
}

#[test]
fn each_part_of_another_json_type_than_admission_reads_is_named_at_its_field() {
    let container = |image: Value| json!({"spec": {"containers": [{"name": "a", "image": image}]}});
    let cases: Vec<Case> = vec![
        (
            POD,
            json!("hello"),
            vec![("object", "a string, not an object")],
        ),
        (POD, json!([1]), vec![("object", "a list, not an object")]),
        (POD, Value::Null, vec![("object", "null, not an object")]),
        (
            POD,
            json!({"spec": null}),
            vec![("spec", "null, not an object")],
        ),
        (
            POD,
            json!({"spec": 3}),
            vec![("spec", "a number, not an object")],
        ),
        (
            POD,
            json!({"spec": {"containers": {"name": "a", "image": "mysql"}}}),
            vec![("spec.containers", "an object, not a list")],
        ),
        (
            POD,
            json!({"spec": {"containers": ["mysql"]}}),
            vec![("spec.containers[0]", "a string, not an object")],
        ),
        (
            POD,
            container(json!(5)),
            vec![(
                "spec.containers[0].image",
                "a number, not an image reference",
            )],
        ),
        (
            POD,
            container(json!({"name": "mysql"})),
            vec![(
                "spec.containers[0].image",
                "an object, not an image reference",
            )],
        ),
        (
            POD,
            json!({"spec": {"initContainers": [{"image": true}], "containers": [{"image": "a"}, {"image": ["b"]}]}}),
            vec![
                (
                    "spec.initContainers[0].image",
                    "a boolean, not an image reference",
                ),
                ("spec.containers[1].image", "a list, not an image reference"),
            ],
        ),
        (
            POD,
            json!({"spec": {"volumes": [{"name": "v", "image": "x"}, {"name": "w", "image": {"reference": 1}}]}}),
            vec![
                ("spec.volumes[0].image", "a string, not an object"),
                (
                    "spec.volumes[1].image.reference",
                    "a number, not an image reference",
                ),
            ],
        ),
        (
            DEPLOYMENT,
            json!({"spec": {"template": "x"}}),
            vec![("spec.template", "a string, not an object")],
        ),
        (
            DEPLOYMENT,
            json!({"spec": {"template": {"spec": []}}}),
            vec![("spec.template.spec", "a list, not an object")],
        ),
        (
            BUILD,
            json!({"spec": {"source": {"images": [{"from": "php:8"}, 2]}, "strategy": {"dockerStrategy": {"from": 1}, "sourceStrategy": "s"}}}),
            vec![
                ("spec.source.images[0].from", "a string, not an object"),
                ("spec.source.images[1]", "a number, not an object"),
                (
                    "spec.strategy.dockerStrategy.from",
                    "a number, not an object",
                ),
                ("spec.strategy.sourceStrategy", "a string, not an object"),
            ],
        ),
    ];
    for (kind, object, expected) in cases {
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(path, subject)| (path.to_string(), subject.to_string()))
            .collect();
        assert_eq!(parts(kind, &object), expected, "{object}");
    }
}

#[test]
fn missing_parts_and_empty_lists_are_not_unreadable() {
    let cases = [
        (POD, json!({})),
        (POD, json!({"spec": {}})),
        (
            POD,
            json!({"spec": {"initContainers": null, "containers": [{"name": "a"}]}}),
        ),
        (
            POD,
            json!({"spec": {"containers": [{"name": "a", "image": null}], "volumes": [{"name": "v"}]}}),
        ),
        (
            POD,
            json!({"spec": {"containers": [{"image": "mysql"}], "volumes": [{"image": {"reference": "x"}}]}}),
        ),
        (DEPLOYMENT, json!({"spec": {"replicas": 1}})),
        (
            BUILD,
            json!({"spec": {"strategy": {"dockerStrategy": {}, "sourceStrategy": null}}}),
        ),
    ];
    for (kind, object) in cases {
        assert_eq!(
            parts(kind, &object),
            Vec::<(String, String)>::new(),
            "{object}"
        );
    }
}
