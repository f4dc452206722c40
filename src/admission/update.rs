//! UPDATE handling (openshift-semantics §3.5): references that did not change since the stored
//! object are not visited again, so an edit elsewhere never re-resolves (or rejects) old images.

use serde_json::Value;

use super::locate::{at, items, member, ContainerList, Holder, Shape, Site, STRATEGIES};

/// Whether `site` of `object` carries the same reference as `old`.
pub(crate) fn unchanged(site: &Site, shape: Shape, object: &Value, old: &Value) -> bool {
    match (&site.holder, shape) {
        (Holder::Container { name, .. }, Shape::Pods { spec, .. }) => {
            old_container_image(old, spec, name) == Some(site.reference.name.as_str())
        }
        (Holder::Volume { name }, Shape::Pods { spec, .. }) => {
            old_volume_image(old, spec, name) == Some(site.reference.name.as_str())
        }
        (Holder::SourceImage, _) => old_has_source_image(old, at(object, &site.pointer)),
        (Holder::Strategy, _) => identical_strategy_from(object, old),
        _ => false,
    }
}

/// The image of the first container named `name` in the old spec, searching init, regular and
/// then ephemeral containers (OpenShift stops at the first name match).
fn old_container_image<'v>(old: &'v Value, spec: &str, name: &str) -> Option<&'v str> {
    ContainerList::ALL
        .into_iter()
        .flat_map(|list| items(old, &format!("{spec}/{}", list.key())))
        .find(|container| member(container, "name").and_then(Value::as_str) == Some(name))
        .and_then(|container| member(container, "image")?.as_str())
}

fn old_volume_image<'v>(old: &'v Value, spec: &str, name: &str) -> Option<&'v str> {
    items(old, &format!("{spec}/volumes"))
        .iter()
        .find(|volume| member(volume, "name").and_then(Value::as_str) == Some(name))
        .and_then(|volume| at(volume, "/image/reference")?.as_str())
}

/// Whether an identical `from` exists anywhere among the old source images.
fn old_has_source_image(old: &Value, from: Option<&Value>) -> bool {
    let Some(from) = from else { return false };
    items(old, "/spec/source/images")
        .iter()
        .any(|image| member(image, "from") == Some(from))
}

/// Whether the new object's strategy type also exists in the old one with an identical `from`.
/// A Docker strategy's `from` is optional and only counts when both sides have one.
fn identical_strategy_from(object: &Value, old: &Value) -> bool {
    let Some(strategy) = STRATEGIES
        .into_iter()
        .find(|strategy| present(object, &strategy_pointer(strategy)))
    else {
        return false;
    };
    let pointer = strategy_pointer(strategy);
    if !present(old, &pointer) {
        return false;
    }
    let from = |value: &Value| at(value, &format!("{pointer}/from")).cloned();
    match (from(object), from(old)) {
        (None, None) => strategy != "dockerStrategy",
        (new, previous) => new == previous,
    }
}

fn strategy_pointer(strategy: &str) -> String {
    format!("/spec/strategy/{strategy}")
}

fn present(object: &Value, pointer: &str) -> bool {
    at(object, pointer).is_some_and(|value| !value.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::locate::{shape, sites};
    use serde_json::json;

    /// The paths of `object`'s sites that are NOT unchanged relative to `old`.
    fn check(kind: (&str, &str), object: Value, old: Value, expected: &[&str]) {
        let shape = shape(kind.0, kind.1).unwrap();
        let changed: Vec<String> = sites(&object, shape)
            .into_iter()
            .filter(|site| !unchanged(site, shape, &object, &old))
            .map(|site| site.path())
            .collect();
        assert_eq!(changed, expected);
    }

    const POD: (&str, &str) = ("", "Pod");
    const BUILD: (&str, &str) = ("build.openshift.io", "Build");

    #[test]
    fn containers_match_by_name_and_image() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "mysql"}, {"name": "b", "image": "php"}]}});
        let new = json!({"spec": {"containers": [
            {"name": "b", "image": "php"}, {"name": "a", "image": "mysql:8"}, {"name": "c", "image": "php"}]}});
        check(
            POD,
            new,
            old,
            &["spec.containers[1].image", "spec.containers[2].image"],
        );
    }

    #[test]
    fn containers_match_across_lists() {
        let old = json!({"spec": {"initContainers": [{"name": "a", "image": "x"}]}});
        let new = json!({"spec": {"containers": [{"name": "a", "image": "x"}],
                                  "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}});
        check(POD, new, old, &["spec.ephemeralContainers[0].image"]);
    }

    #[test]
    fn existing_ephemeral_containers_are_skipped() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "x"}],
                                  "ephemeralContainers": [{"name": "d1", "image": "busybox"}]}});
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "d2", "image": "busybox"}));
        check(POD, new, old, &["spec.ephemeralContainers[1].image"]);
    }

    #[test]
    fn image_volumes_match_by_name_and_reference() {
        let old = json!({"spec": {"volumes": [{"name": "v", "image": {"reference": "data:1"}}]}});
        let same = old.clone();
        check(POD, same, old.clone(), &[]);
        let changed =
            json!({"spec": {"volumes": [{"name": "v", "image": {"reference": "data:2"}}]}});
        check(POD, changed, old, &["spec.volumes[0].image.reference"]);
    }

    #[test]
    fn build_source_images_match_any_identical_from() {
        let from = |name: &str| json!({"from": {"kind": "ImageStreamTag", "name": name}});
        let old = json!({"spec": {"source": {"images": [from("b:1"), from("a:1")]}}});
        let new = json!({"spec": {"source": {"images": [from("a:1"), from("c:1")]}}});
        check(BUILD, new, old, &["spec.source.images[1].from.name"]);
    }

    #[test]
    fn build_strategy_from_matches_same_strategy_type_only() {
        let strategy = |kind: &str, name: &str| json!({"spec": {"strategy": {kind: {"from": {"kind": "DockerImage", "name": name}}}}});
        let path = "spec.strategy.sourceStrategy.from.name";
        let source = strategy("sourceStrategy", "ruby");
        check(BUILD, source.clone(), source.clone(), &[]);
        check(
            BUILD,
            strategy("sourceStrategy", "ruby:3"),
            source.clone(),
            &[path],
        );
        check(BUILD, source, strategy("customStrategy", "ruby"), &[path]);
    }
}
