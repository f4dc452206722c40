//! A document's JSON value as kubectl sees it: sigs.k8s.io/yaml reads YAML 1.1 with go-yaml
//! v2 (aliases expanded, `<<` merge keys applied, scalars resolved by [`resolve_plain`]) and
//! converts the result to JSON, turning keys into strings and whole floats into integers.

use std::collections::HashMap;

use granit_parser::ScalarStyle;
use serde_json::{Map, Number, Value};

use super::scalar::{resolve_plain, Plain, Schema};
use super::tree::{Node, NodeKind, ScalarTag};
use crate::yaml_aliases::{Budget, NODE_BYTES};

/// The JSON value of a document's root node, its scalars read as `schema` says; every alias's
/// copy is paid from `budget` before it is made (one budget for the whole text, see
/// [`crate::yaml_aliases`]). The message says what has no JSON form, or that aliases expand
/// the text too far.
pub(crate) fn to_value(root: &Node, schema: Schema, budget: &mut Budget) -> Result<Value, String> {
    let mut builder = Builder {
        schema,
        anchors: HashMap::new(),
        budget,
    };
    builder.node(root)
}

struct Builder<'a> {
    schema: Schema,
    /// Anchor id to its value and what a copy of it costs.
    anchors: HashMap<usize, (Value, usize)>,
    budget: &'a mut Budget,
}

impl Builder<'_> {
    fn node(&mut self, node: &Node) -> Result<Value, String> {
        let value = match &node.kind {
            NodeKind::Scalar { text, style, tag } => scalar(text, *style, *tag, self.schema)?,
            NodeKind::Sequence(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.node(item))
                    .collect::<Result<_, _>>()?,
            ),
            NodeKind::Mapping(pairs) => Value::Object(self.mapping(pairs)?),
            NodeKind::Alias(anchor) => self.alias(*anchor)?,
        };
        if node.anchor != 0 {
            let cost = cost(&value);
            self.anchors.insert(node.anchor, (value.clone(), cost));
        }
        Ok(value)
    }

    fn alias(&mut self, anchor: usize) -> Result<Value, String> {
        let (value, cost) = self
            .anchors
            .get(&anchor)
            .ok_or("an alias refers to an anchor that is not defined before it")?;
        self.budget.spend(*cost).map_err(|bomb| bomb.to_string())?;
        Ok(value.clone())
    }

    fn mapping(&mut self, pairs: &[(Node, Node)]) -> Result<Map<String, Value>, String> {
        let mut map = Map::new();
        for (key, value) in pairs {
            if is_merge_key(key) {
                let merged = self.node(value)?;
                merge(&mut map, merged)?;
                continue;
            }
            let key = key_string(self.node(key)?)?;
            let value = self.node(value)?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

/// `<<` written plain: go-yaml's merge key.
pub(crate) fn is_merge_key(key: &Node) -> bool {
    matches!(&key.kind, NodeKind::Scalar { text, style: ScalarStyle::Plain, tag: ScalarTag::Untagged } if text == "<<")
}

/// The JSON key a scalar key node stands for, read as `schema` says; `None` for aliases,
/// collections and keys JSON cannot hold.
pub(crate) fn scalar_key(key: &Node, schema: Schema) -> Option<String> {
    let NodeKind::Scalar { text, style, tag } = &key.kind else {
        return None;
    };
    key_string(scalar(text, *style, *tag, schema).ok()?).ok()
}

/// Merges a mapping, or a list of mappings of which the first wins, into `map`.
fn merge(map: &mut Map<String, Value>, merged: Value) -> Result<(), String> {
    let error = || "a << merge key needs a mapping or a list of mappings".to_string();
    let sources = match merged {
        Value::Object(source) => vec![source],
        Value::Array(items) => items
            .into_iter()
            .rev()
            .map(|item| match item {
                Value::Object(source) => Ok(source),
                _ => Err(error()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(error()),
    };
    for source in sources {
        map.extend(source);
    }
    Ok(())
}

/// A mapping key as sigs.k8s.io/yaml writes it into JSON.
fn key_string(key: Value) -> Result<String, String> {
    match key {
        Value::String(text) => Ok(text),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) => Ok(match number.as_f64() {
            Some(float) if !number.is_i64() && !number.is_u64() => (float as f32).to_string(),
            _ => number.to_string(),
        }),
        Value::Null => Err("a mapping key is null, which JSON cannot hold".to_string()),
        _ => Err("a mapping key is a list or a mapping, which JSON cannot hold".to_string()),
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: ScalarTag, schema: Schema) -> Result<Value, String> {
    let resolved = match (tag, style) {
        (ScalarTag::Resolve, _) | (ScalarTag::Untagged, ScalarStyle::Plain) => {
            resolve_plain(text, schema)
        }
        _ => Plain::Str,
    };
    Ok(match resolved {
        Plain::Str => Value::from(text),
        Plain::Null => Value::Null,
        Plain::Bool(flag) => Value::Bool(flag),
        Plain::Int(int) => Value::from(int),
        Plain::Uint(uint) => Value::from(uint),
        Plain::Float(float) => float_value(float).ok_or_else(|| {
            format!("{text:?} is not a finite number, which JSON cannot hold; quote it")
        })?,
    })
}

/// JSON has no NaN or infinity; go's encoder writes a whole float without a fraction.
fn float_value(float: f64) -> Option<Value> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if float.fract() == 0.0 && float.abs() < EXACT {
        return Some(Value::from(float as i64));
    }
    Number::from_f64(float).map(Value::Number)
}

/// What a copy of `value` costs in [`crate::yaml_aliases`]' terms: [`NODE_BYTES`] a node plus
/// the bytes of its strings, keys included.
fn cost(value: &Value) -> usize {
    NODE_BYTES
        + match value {
            Value::String(text) => text.len(),
            Value::Array(items) => items.iter().map(cost).sum(),
            Value::Object(map) => map
                .iter()
                .map(|(key, value)| NODE_BYTES + key.len() + cost(value))
                .sum(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::tree;
    use crate::yaml_aliases::bomb;
    use serde_json::json;

    /// The first document's value, with the budget of the whole text.
    fn read(yaml: &str) -> Result<Value, String> {
        let stream = tree::parse(yaml, Schema::Yaml11).unwrap();
        let mut budget = Budget::for_copies(yaml.len());
        to_value(&stream.documents[0].root, Schema::Yaml11, &mut budget)
    }

    fn check(yaml: &str, expected: Value) {
        assert_eq!(read(yaml).unwrap(), expected, "{yaml}");
    }

    fn check_error(yaml: &str, expected: &str) {
        let error = read(yaml).unwrap_err();
        assert!(error.contains(expected), "{yaml}: {error}");
    }

    #[test]
    fn plain_scalars_resolve_as_yaml_1_1_and_quoted_ones_stay_strings() {
        check(
            "a: yes\nb: \"yes\"\nc: 0644\nd: '0644'\ne: off\nf: ~\ng: 1.0\nh: 1.5\n",
            json!({"a": true, "b": "yes", "c": 420, "d": "0644", "e": false, "f": null, "g": 1, "h": 1.5}),
        );
    }

    #[test]
    fn tags_force_or_resolve_the_type() {
        check(
            "a: !!str 12\nb: !!int \"12\"\nc: !custom yes\nd: |\n  on\n",
            json!({"a": "12", "b": 12, "c": "yes", "d": "on\n"}),
        );
    }

    #[test]
    fn keys_become_strings_as_sigs_k8s_io_yaml_writes_them() {
        check(
            "on: 1\n2: b\n1.5: c\n",
            json!({"true": 1, "2": "b", "1.5": "c"}),
        );
        check_error("? [a]\n: b\n", "mapping key is a list");
        check_error("~: b\n", "mapping key is null");
    }

    #[test]
    fn aliases_expand_and_merge_keys_apply_with_explicit_keys_winning() {
        check(
            "base: &b {image: mysql, name: x}\nuse: *b\nm:\n  <<: *b\n  name: z\n",
            json!({"base": {"image": "mysql", "name": "x"}, "use": {"image": "mysql", "name": "x"},
                   "m": {"image": "mysql", "name": "z"}}),
        );
        check(
            "a: &a {k: 1}\nb: &b {k: 2, l: 2}\nc: {<<: [*a, *b]}\n",
            json!({"a": {"k": 1}, "b": {"k": 2, "l": 2}, "c": {"k": 1, "l": 2}}),
        );
        check_error("a: {<<: 1}\n", "merge key");
    }

    #[test]
    fn infinities_are_refused() {
        check_error("a: .inf\n", "not a finite number");
    }

    #[test]
    fn aliases_are_paid_for_by_the_bytes_they_copy_before_they_copy_them() {
        let compose = "x-env: &env\n  LOG: debug\n  REGION: eu\nbase: &base {image: app:1, env: *env}\nweb: {<<: *base, name: web}\nworker: {<<: *base, name: worker}\ncron: {<<: *base, name: cron, env: *env}\n";
        // What each alias copies, in bytes: NODE_BYTES a node plus its strings.
        let cases: [(&str, String, Result<(), ()>); 6] = [
            ("compose-style anchors", compose.into(), Ok(())),
            (
                "a 100 KB string copied 9 times",
                bomb(100_000, 9, 1),
                Ok(()),
            ),
            ("the classic billion laughs", bomb(1, 10, 9), Err(())),
            (
                "100 KB copied 9^5 times (QA: 830 MB)",
                bomb(100_000, 9, 5),
                Err(()),
            ),
            (
                "a 100 KB string copied 90 times",
                bomb(100_000, 9, 2),
                Err(()),
            ),
            ("a 10-byte string copied 9^5 times", bomb(10, 9, 5), Err(())),
        ];
        for (name, yaml, expected) in cases {
            let outcome = read(&yaml).map(drop).map_err(|error| {
                assert!(error.starts_with("aliases expand this "), "{name}: {error}");
            });
            assert_eq!(outcome, expected, "{name}");
        }
    }
}
