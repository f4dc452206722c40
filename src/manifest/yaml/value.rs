//! A document's JSON value as kubectl sees it: sigs.k8s.io/yaml reads YAML 1.1 with go-yaml
//! v2 (aliases expanded, `<<` merge keys applied, scalars resolved by [`resolve_plain`]) and
//! converts the result to JSON, turning keys into strings and whole floats into integers.

use std::collections::HashMap;

use granit_parser::ScalarStyle;
use serde_json::{Map, Number, Value};

use super::scalar::{resolve_plain, Plain, Schema};
use super::tree::{Node, NodeKind, ScalarTag};

/// How many nodes aliases may copy in one document: enough for any manifest, too few for a
/// "billion laughs" document to exhaust memory.
const ALIAS_BUDGET: usize = 1_000_000;

/// The JSON value of a document's root node, its scalars read as `schema` says; the message
/// says what has no JSON form.
pub(crate) fn to_value(root: &Node, schema: Schema) -> Result<Value, String> {
    let mut builder = Builder {
        schema,
        anchors: HashMap::new(),
        copied: 0,
    };
    builder.node(root)
}

struct Builder {
    schema: Schema,
    /// Anchor id to its value and that value's node count.
    anchors: HashMap<usize, (Value, usize)>,
    copied: usize,
}

impl Builder {
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
            let size = size(&value);
            self.anchors.insert(node.anchor, (value.clone(), size));
        }
        Ok(value)
    }

    fn alias(&mut self, anchor: usize) -> Result<Value, String> {
        let (value, size) = self
            .anchors
            .get(&anchor)
            .ok_or("an alias refers to an anchor that is not defined before it")?;
        self.copied += size;
        if self.copied > ALIAS_BUDGET {
            return Err(format!("aliases expand to more than {ALIAS_BUDGET} nodes"));
        }
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

fn size(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::tree;
    use serde_json::json;

    fn check(yaml: &str, expected: Value) {
        let stream = tree::parse(yaml, Schema::Yaml11).unwrap();
        assert_eq!(
            to_value(&stream.documents[0].root, Schema::Yaml11).unwrap(),
            expected,
            "{yaml}"
        );
    }

    fn check_error(yaml: &str, expected: &str) {
        let stream = tree::parse(yaml, Schema::Yaml11).unwrap();
        let error = to_value(&stream.documents[0].root, Schema::Yaml11).unwrap_err();
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
    fn infinities_and_alias_bombs_are_refused() {
        check_error("a: .inf\n", "not a finite number");
        let mut bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for level in 0..7 {
            let previous = if level == 0 {
                "a".to_string()
            } else {
                format!("l{}", level - 1)
            };
            let items = vec![format!("*{previous}"); 10].join(", ");
            bomb.push_str(&format!("l{level}: &l{level} [{items}]\n"));
        }
        check_error(&bomb, "aliases expand");
    }
}
