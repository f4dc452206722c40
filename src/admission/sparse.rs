//! Reading only the parts of an object that admission looks at.
//!
//! A Pod in an AdmissionReview is a few kilobytes of JSON, of which admission reads a handful of
//! fields: container names and images, image volumes, build `from` references, the owner
//! references' `controller` flag, two annotations, and the node selector and required node
//! affinity (the architectures a pod runs on). Building a whole `serde_json::Value` tree
//! (an `IndexMap` and owned `String`s per object) cost about 30 µs per request, the largest
//! single cost of `/mutate`; skipping everything else while parsing costs little more than
//! reading the bytes.
//!
//! The result is still a `Value` with the same paths, so [`locate`](super::locate),
//! [`update`](super::update) and the JSON Patch work on it unchanged:
//! - arrays keep every item (their indexes are JSON Patch paths), each item pruned;
//! - a value of another JSON type than the rule expects is kept whole, so a malformed object
//!   is judged exactly as if it had been parsed in full;
//! - build `from` references are kept whole, since a rewrite replaces the whole object.
//!
//! The property test in `webhook::fuzz` checks that every generated review gets the same
//! decision from the sparse object as from the full one.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::triggers::TRIGGERS_ANNOTATION;
use crate::api::policy::RESOLVE_NAMES_ANNOTATION;

/// Which parts of a JSON value to keep.
#[derive(Debug)]
enum Keep {
    /// The whole value.
    Whole,
    /// Of an object, only these members, each by its own rule.
    Fields(&'static [(&'static str, Keep)]),
    /// Of an array, every item by the rule.
    Items(&'static Keep),
}

const WHOLE: Keep = Keep::Whole;

const CONTAINERS: Keep = Keep::Items(&Keep::Fields(&[("name", WHOLE), ("image", WHOLE)]));

const VOLUMES: Keep = Keep::Items(&Keep::Fields(&[
    ("name", WHOLE),
    ("image", Keep::Fields(&[("reference", WHOLE)])),
]));

/// Where a pod spec says which node architectures it runs on (`platform::required`).
const AFFINITY: Keep = Keep::Fields(&[(
    "nodeAffinity",
    Keep::Fields(&[("requiredDuringSchedulingIgnoredDuringExecution", WHOLE)]),
)]);

/// A pod spec's image holders (`locate::ContainerList` and image volumes) and node placement.
const POD_SPEC_FIELDS: [(&str, Keep); 6] = [
    ("initContainers", CONTAINERS),
    ("containers", CONTAINERS),
    ("ephemeralContainers", CONTAINERS),
    ("volumes", VOLUMES),
    ("nodeSelector", WHOLE),
    ("affinity", AFFINITY),
];

const METADATA: Keep = Keep::Fields(&[
    ("name", WHOLE),
    ("generateName", WHOLE),
    (
        "annotations",
        Keep::Fields(&[
            (RESOLVE_NAMES_ANNOTATION, WHOLE),
            (TRIGGERS_ANNOTATION, WHOLE),
        ]),
    ),
    (
        "ownerReferences",
        Keep::Items(&Keep::Fields(&[("controller", WHOLE)])),
    ),
]);

const POD_TEMPLATE: Keep = Keep::Fields(&[
    ("metadata", METADATA),
    ("spec", Keep::Fields(&POD_SPEC_FIELDS)),
]);

const FROM: Keep = Keep::Fields(&[("from", WHOLE)]);

/// `spec` of every kind `locate::shape` knows: a Pod's own pod spec, a workload's `template`,
/// a CronJob's `jobTemplate`, a build's source images and strategies.
const SPEC: Keep = Keep::Fields(&[
    ("initContainers", CONTAINERS),
    ("containers", CONTAINERS),
    ("ephemeralContainers", CONTAINERS),
    ("volumes", VOLUMES),
    ("nodeSelector", WHOLE),
    ("affinity", AFFINITY),
    ("template", POD_TEMPLATE),
    (
        "jobTemplate",
        Keep::Fields(&[("spec", Keep::Fields(&[("template", POD_TEMPLATE)]))]),
    ),
    ("source", Keep::Fields(&[("images", Keep::Items(&FROM))])),
    (
        "strategy",
        Keep::Fields(&[
            ("customStrategy", FROM),
            ("dockerStrategy", FROM),
            ("sourceStrategy", FROM),
        ]),
    ),
]);

/// An admitted object: metadata, `spec`, and a PodTemplate's `template`.
const OBJECT: Keep = Keep::Fields(&[
    ("metadata", METADATA),
    ("spec", SPEC),
    ("template", POD_TEMPLATE),
]);

/// Deserializes an AdmissionReview's `object` or `oldObject` keeping only what admission reads;
/// `null` is `None`. For `#[serde(default, deserialize_with = "…")]`.
pub fn sparse_object<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    match Pruned(&OBJECT).deserialize(deserializer)? {
        Value::Null => Ok(None),
        object => Ok(Some(object)),
    }
}

/// A value read by its [`Keep`] rule.
struct Pruned(&'static Keep);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            Keep::Whole => Value::deserialize(deserializer),
            keep => deserializer.deserialize_any(PrunedVisitor(keep)),
        }
    }
}

struct PrunedVisitor(&'static Keep);

impl<'de> Visitor<'de> for PrunedVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Pruned(self.0).deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let item = match self.0 {
            Keep::Items(item) => item,
            _ => &WHOLE,
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(value) = seq.next_element_seed(Pruned(item))? {
            items.push(value);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let Keep::Fields(fields) = self.0 else {
            while let Some(key) = map.next_key::<String>()? {
                object.insert(key, map.next_value()?);
            }
            return Ok(Value::Object(object));
        };
        while let Some(field) = map.next_key_seed(Field(fields))? {
            match field {
                Some((name, keep)) => {
                    let value = map.next_value_seed(Pruned(keep))?;
                    object.insert(name.to_string(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(object))
    }
}

/// An object key: the kept field it names, or `None` for a key to skip.
struct Field(&'static [(&'static str, Keep)]);

impl<'de> DeserializeSeed<'de> for Field {
    type Value = Option<(&'static str, &'static Keep)>;

    /// Keys are read as bytes: they are only compared with the kept names, and reading them as
    /// `str` would check each key's UTF-8 (a tenth of the whole parse). Skipped strings are not
    /// checked either, so this changes nothing for the review as a whole.
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for Field {
    type Value = Option<(&'static str, &'static Keep)>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_bytes<E>(self, key: &[u8]) -> Result<Self::Value, E> {
        let found = self.0.iter().find(|(name, _)| name.as_bytes() == key);
        Ok(found.map(|(name, keep)| (*name, keep)))
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        self.visit_bytes(key.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The sparse reading of `object`'s JSON text.
    fn sparse(object: &Value) -> Option<Value> {
        let text = object.to_string();
        sparse_object(&mut serde_json::Deserializer::from_str(&text)).expect("valid JSON")
    }

    fn check(object: Value, expected: Value) {
        assert_eq!(sparse(&object), Some(expected), "{object}");
    }

    #[test]
    fn a_pod_keeps_names_images_owners_and_the_resolve_names_annotation() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"},
                "annotations": {RESOLVE_NAMES_ANNOTATION: "*", "other": "x"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "mysql", "env": [{"name": "A"}],
                                     "ports": [{"containerPort": 80}]}],
                     "volumes": [{"name": "cfg", "configMap": {"name": "x"}},
                                 {"name": "v", "image": {"reference": "v:1", "pullPolicy": "Always"}}],
                     "nodeName": "n"},
            "status": {"phase": "Pending"},
        });
        check(
            pod,
            json!({
                "metadata": {"name": "p", "annotations": {RESOLVE_NAMES_ANNOTATION: "*"},
                    "ownerReferences": [{"controller": true}]},
                "spec": {"containers": [{"name": "c", "image": "mysql"}],
                         "volumes": [{"name": "cfg"}, {"name": "v", "image": {"reference": "v:1"}}]},
            }),
        );
    }

    #[test]
    fn workload_templates_and_cron_job_templates_keep_their_pod_specs() {
        let template = json!({"metadata": {"labels": {"app": "a"}},
            "spec": {"initContainers": [{"name": "i", "image": "i", "command": ["x"]}]}});
        let kept =
            json!({"metadata": {}, "spec": {"initContainers": [{"name": "i", "image": "i"}]}});
        check(
            json!({"spec": {"replicas": 2, "template": template}}),
            json!({"spec": {"template": kept}}),
        );
        check(
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}),
            json!({"spec": {"jobTemplate": {"spec": {"template": kept}}}}),
        );
        check(json!({"template": template}), json!({"template": kept}));
    }

    #[test]
    fn pod_specs_keep_the_node_selector_and_the_required_node_affinity() {
        let required = json!({"nodeSelectorTerms": [{"matchExpressions":
            [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}]});
        let spec = json!({"containers": [{"name": "c", "image": "i", "args": ["x"]}],
            "nodeSelector": {"kubernetes.io/arch": "arm64", "disk": "ssd"},
            "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": required,
                    "preferredDuringSchedulingIgnoredDuringExecution": []},
                "podAntiAffinity": {}},
            "tolerations": []});
        let kept = json!({"containers": [{"name": "c", "image": "i"}],
            "nodeSelector": {"kubernetes.io/arch": "arm64", "disk": "ssd"},
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": required}}});
        check(json!({"spec": spec}), json!({"spec": kept}));
        check(
            json!({"spec": {"template": {"spec": spec}}}),
            json!({"spec": {"template": {"spec": kept}}}),
        );
        check(
            json!({"spec": {"affinity": "odd"}}),
            json!({"spec": {"affinity": "odd"}}),
        );
    }

    #[test]
    fn build_references_are_kept_whole() {
        let from =
            json!({"kind": "ImageStreamTag", "name": "ruby:3", "namespace": "s", "uid": "u"});
        check(
            json!({"spec": {"source": {"git": {"uri": "u"}, "images": [{"from": from, "paths": []}]},
                            "strategy": {"type": "Source", "sourceStrategy": {"from": from, "env": []},
                                         "dockerStrategy": null}}}),
            json!({"spec": {"source": {"images": [{"from": from}]},
                            "strategy": {"sourceStrategy": {"from": from}, "dockerStrategy": null}}}),
        );
    }

    #[test]
    fn values_of_an_unexpected_type_are_kept_whole() {
        let odd = json!({"spec": {"containers": {"name": "c", "image": "x", "env": []},
                                  "volumes": [7, "v", null, [1, {"a": 2}]],
                                  "template": ["x", {"y": 1.5}]},
                         "metadata": "m"});
        check(odd.clone(), odd);
    }

    #[test]
    fn null_and_scalars_read_as_themselves() {
        assert_eq!(sparse(&Value::Null), None);
        assert_eq!(sparse(&json!(-3)), Some(json!(-3)));
        assert_eq!(sparse(&json!("text")), Some(json!("text")));
        assert_eq!(sparse(&json!([{"spec": 1}])), Some(json!([{"spec": 1}])));
    }

    #[test]
    fn escaped_keys_are_matched_like_plain_ones() {
        let escaped =
            r#"{"spec": {"contain\u0065rs": [{"nam\u0065": "c", "image": "x", "tty": true}]}}"#;
        let read = sparse_object(&mut serde_json::Deserializer::from_str(escaped)).unwrap();
        assert_eq!(
            read,
            Some(json!({"spec": {"containers": [{"name": "c", "image": "x"}]}}))
        );
    }
}
