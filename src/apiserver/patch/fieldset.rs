//! Sets of field paths in structured-merge-diff's `FieldsV1` encoding, the format of
//! `metadata.managedFields[].fieldsV1` (`sigs.k8s.io/structured-merge-diff/v4/fieldpath`).
//!
//! ```text
//! {"f:spec":{"f:tags":{"k:{\"name\":\"latest\"}":{".":{},"f:from":{},"f:name":{}}}}}
//!   f:<field>   a field of an object
//!   k:<json>    an associative-list item, by its key fields
//!   v:<json>    a set item, by value
//!   i:<index>   a list item by position (only read; this schema never produces one)
//!   .           the item itself is a member, not only its children
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path. The variant order is structured-merge-diff's sort order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A named field or map key.
    Field(String),
    /// An associative-list item: key field names with their JSON-encoded values, sorted.
    Key(Vec<(String, String)>),
    /// A set item: its JSON-encoded value.
    Value(String),
    /// A list position.
    Index(usize),
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

/// A set of paths; a path is a member when the field (or item) itself is owned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<Path>);

/// `fieldsV1` that is not a valid field set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fieldsV1: {0}")]
pub struct FieldsV1Error(String);

// === impl PathElement ===

impl PathElement {
    /// A field element.
    pub fn field(name: &str) -> Self {
        Self::Field(name.to_string())
    }

    /// The element of an associative-list item identified by `key` = `value`.
    pub fn key(key: &str, value: &Value) -> Self {
        Self::Key(vec![(key.to_string(), value.to_string())])
    }

    /// The element of a set item.
    pub fn value(value: &Value) -> Self {
        Self::Value(value.to_string())
    }

    /// Whether the list `item` is the one this element names.
    pub fn matches_item(&self, index: usize, item: &Value) -> bool {
        match self {
            Self::Key(fields) => fields.iter().all(|(name, encoded)| {
                item.get(name).map(Value::to_string).as_deref() == Some(encoded.as_str())
            }),
            Self::Value(encoded) => {
                serde_json::from_str::<Value>(encoded).is_ok_and(|value| value == *item)
            }
            Self::Index(wanted) => *wanted == index,
            Self::Field(_) => false,
        }
    }

    /// The `fieldsV1` key: `f:name`, `k:{"name":"latest"}`, `v:"x"` or `i:0`.
    fn encode(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{}:{value}", Value::from(name.as_str())))
                    .collect();
                format!("k:{{{}}}", parts.join(","))
            }
            Self::Value(value) => format!("v:{value}"),
            Self::Index(index) => format!("i:{index}"),
        }
    }

    fn decode(text: &str) -> Result<Option<Self>, FieldsV1Error> {
        let Some((prefix, rest)) = text.split_once(':') else {
            return Ok(None);
        };
        let bad = || FieldsV1Error(format!("bad path element {text:?}"));
        let element = match prefix {
            "f" => Self::Field(rest.to_string()),
            "k" => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(fields)) => {
                    let mut fields: Vec<(String, String)> = fields
                        .into_iter()
                        .map(|(k, v)| (k, v.to_string()))
                        .collect();
                    fields.sort();
                    Self::Key(fields)
                }
                _ => return Err(bad()),
            },
            "v" => Self::Value(
                serde_json::from_str::<Value>(rest)
                    .map_err(|_| bad())?
                    .to_string(),
            ),
            "i" => Self::Index(rest.parse().map_err(|_| bad())?),
            // Unknown element types are skipped, as structured-merge-diff does, for forward compatibility.
            _ => return Ok(None),
        };
        Ok(Some(element))
    }
}

/// Renders like structured-merge-diff's `PathElement.String`: `.name`, `[name="latest"]`, `[="x"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            Self::Value(value) => write!(f, "[={value}]"),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// A path rendered like structured-merge-diff: `.spec.tags[name="latest"].from`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

// === impl FieldSet ===

impl FieldSet {
    /// Adds a path.
    pub fn insert(&mut self, path: Path) {
        self.0.insert(path);
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.0.contains(path)
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, parents before their children.
    pub fn iter(&self) -> impl Iterator<Item = &Path> {
        self.0.iter()
    }

    /// Members of either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    /// Adds every member of `other`, consuming it (no path is copied).
    pub fn extend(&mut self, other: FieldSet) {
        match self.0.is_empty() {
            true => *self = other,
            false => self.0.extend(other.0),
        }
    }

    /// Members of `self` that `other` lacks.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    /// Members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Keeps only the members `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&Path) -> bool) {
        self.0.retain(keep);
    }

    /// Decodes a `fieldsV1` object.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsV1Error> {
        let mut set = FieldSet::default();
        let Value::Object(children) = value else {
            return Err(FieldsV1Error("fieldsV1 must be an object".into()));
        };
        read_children(children, &mut Vec::new(), &mut set)?;
        Ok(set)
    }

    /// Encodes as a `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Trie::default();
        for path in &self.0 {
            root.insert(path);
        }
        root.encode()
    }
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Path>>(iter: I) -> Self {
        FieldSet(iter.into_iter().collect())
    }
}

/// Reads the children of one trie node; a child with no children of its own, or with `.`, is a member.
fn read_children(
    children: &Map<String, Value>,
    prefix: &mut Path,
    set: &mut FieldSet,
) -> Result<(), FieldsV1Error> {
    for (key, child) in children {
        if key == "." {
            continue;
        }
        let Some(element) = PathElement::decode(key)? else {
            continue;
        };
        let Value::Object(grandchildren) = child else {
            return Err(FieldsV1Error(format!("value of {key:?} must be an object")));
        };
        prefix.push(element);
        let has_children = grandchildren.keys().any(|key| key != ".");
        if !has_children || grandchildren.contains_key(".") {
            set.insert(prefix.clone());
        }
        read_children(grandchildren, prefix, set)?;
        prefix.pop();
    }
    Ok(())
}

/// A trie of path elements, the shape `fieldsV1` serialises; it borrows the set's elements.
#[derive(Default)]
struct Trie<'a> {
    member: bool,
    children: BTreeMap<&'a PathElement, Trie<'a>>,
}

impl<'a> Trie<'a> {
    fn insert(&mut self, path: &'a [PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first).or_default().insert(rest),
        }
    }

    /// A member with children says so with `.`; a member without children is just `{}`.
    fn encode(&self) -> Value {
        let mut object = Map::new();
        if self.member && !self.children.is_empty() {
            object.insert(".".into(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            object.insert(element.encode(), child.encode());
        }
        Value::Object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> PathElement {
        PathElement::field(name)
    }

    fn latest() -> PathElement {
        PathElement::key("name", &json!("latest"))
    }

    fn sample() -> FieldSet {
        [
            vec![field("metadata"), field("labels"), field("app")],
            vec![
                field("metadata"),
                field("finalizers"),
                PathElement::value(&json!("x")),
            ],
            vec![field("spec"), field("tags"), latest()],
            vec![field("spec"), field("tags"), latest(), field("from")],
            vec![field("spec"), field("tags"), latest(), field("name")],
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn encodes_the_structured_merge_diff_trie() {
        let expected = json!({
            "f:metadata": {"f:finalizers": {"v:\"x\"": {}}, "f:labels": {"f:app": {}}},
            "f:spec": {"f:tags": {"k:{\"name\":\"latest\"}": {".": {}, "f:from": {}, "f:name": {}}}}
        });
        assert_eq!(sample().to_fields_v1(), expected);
        let text = serde_json::to_string(&sample().to_fields_v1()).unwrap();
        assert!(
            text.starts_with(r#"{"f:metadata":{"f:finalizers":{"v:\"x\"":{}},"f:labels""#),
            "{text}"
        );
        assert!(
            text.contains(r#""k:{\"name\":\"latest\"}":{".":{},"f:from":{},"f:name":{}}"#),
            "{text}"
        );
    }

    #[test]
    fn decoding_round_trips_and_skips_unknown_element_types() {
        let encoded = sample().to_fields_v1();
        assert_eq!(FieldSet::from_fields_v1(&encoded).unwrap(), sample());
        let with_future = json!({"f:spec": {"x:future": {}, "f:lookupPolicy": {"f:local": {}}}});
        let decoded = FieldSet::from_fields_v1(&with_future).unwrap();
        let expected: FieldSet = [vec![field("spec"), field("lookupPolicy"), field("local")]]
            .into_iter()
            .collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn keys_are_normalised_and_malformed_sets_rejected() {
        let decoded = FieldSet::from_fields_v1(&json!({"k:{\"b\":1,\"a\":\"x\"}": {}})).unwrap();
        let key = PathElement::Key(vec![("a".into(), "\"x\"".into()), ("b".into(), "1".into())]);
        assert!(decoded.contains(&[key]));
        for bad in [
            json!([]),
            json!({"f:a": 1}),
            json!({"k:nope": {}}),
            json!({"i:x": {}}),
        ] {
            assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_render_like_structured_merge_diff() {
        let path = vec![field("spec"), field("tags"), latest(), field("from")];
        assert_eq!(path_string(&path), r#".spec.tags[name="latest"].from"#);
        let set_item = vec![
            field("metadata"),
            field("finalizers"),
            PathElement::value(&json!("x")),
        ];
        assert_eq!(path_string(&set_item), r#".metadata.finalizers[="x"]"#);
        assert!(latest().matches_item(3, &json!({"name": "latest", "from": {}})));
        assert!(!latest().matches_item(0, &json!({"name": "other"})));
    }
}
