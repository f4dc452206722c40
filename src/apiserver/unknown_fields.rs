//! `fieldValidation`: finding unknown and duplicate fields in request bodies, and rendering
//! them the way kube-apiserver does.
//!
//! Unknown fields come from the schema shared with the patch code (`patch::schema`). Duplicate
//! fields need the raw bytes, since a parsed `serde_json::Value` silently keeps the last of
//! two equal keys; the scan streams the document through a serde visitor instead.
//!
//! ```text
//! Strict → 400  strict decoding error: unknown field "spec.foo", duplicate field "spec.tags[0].name"
//! Warn   → 200  Warning: 299 - "unknown field \"spec.foo\""      (one header per problem)
//! ```

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::patch::schema::{Child, Node};

/// One problem found in a body, with its path (`spec.tags[0].fooBar`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// The schema has no such field.
    Unknown(String),
    /// The field appears twice in one object.
    Duplicate(String),
}

// === impl FieldProblem ===

impl FieldProblem {
    /// The field path, without a leading dot.
    pub fn path(&self) -> &str {
        match self {
            Self::Unknown(path) | Self::Duplicate(path) => path,
        }
    }

    /// The `Warning` header value kube-apiserver sends for this problem under `Warn`.
    pub fn warning_header(&self) -> String {
        let text = self.to_string();
        let mut quoted = String::with_capacity(text.len() + 2);
        for c in text.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        format!("299 - \"{quoted}\"")
    }
}

/// `unknown field "spec.foo"` / `duplicate field "spec.paused"`, as apimachinery words them.
impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(path) => write!(f, "unknown field {path:?}"),
            Self::Duplicate(path) => write!(f, "duplicate field {path:?}"),
        }
    }
}

/// The message of the 400 answered under `fieldValidation=Strict`.
pub fn strict_error_message(problems: &[FieldProblem]) -> String {
    let parts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("strict decoding error: {}", parts.join(", "))
}

/// One `Warning` header value per problem, for `fieldValidation=Warn`.
pub fn warning_headers(problems: &[FieldProblem]) -> Vec<String> {
    problems.iter().map(FieldProblem::warning_header).collect()
}

/// The unknown fields of an already parsed object, in document order.
pub fn unknown_fields(value: &Value, schema: &'static Node) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    walk(value, schema, "", &mut problems);
    problems
}

fn walk(value: &Value, node: &'static Node, path: &str, out: &mut Vec<FieldProblem>) {
    match (node, value) {
        (Node::Struct { .. } | Node::Map { .. }, Value::Object(fields)) => {
            for (name, child) in fields {
                let child_path = join(path, name);
                match node.child(name) {
                    Child::Declared(child_node) | Child::Entry(child_node) => {
                        walk(child, child_node, &child_path, out)
                    }
                    Child::Unknown => out.push(FieldProblem::Unknown(child_path)),
                }
            }
        }
        (Node::List { item, .. }, Value::Array(items)) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, item, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

/// Unknown (when `schema` is given) and duplicate fields of a JSON body, in document order.
/// A field both unknown and repeated is reported once, as unknown, like apimachinery does.
pub fn check_json(
    raw: &[u8],
    schema: Option<&'static Node>,
) -> Result<Vec<FieldProblem>, serde_json::Error> {
    let mut problems = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    Scan::root(schema, &mut problems).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(problems)
}

/// Duplicate members in every document of a YAML stream (`---` separated, empty documents
/// included): what a reader keeping the last of each would hide.
pub fn yaml_stream_duplicates(raw: &[u8]) -> Result<Vec<FieldProblem>, serde_norway::Error> {
    crate::yaml_aliases::check(raw)?;
    let mut problems = Vec::new();
    for document in serde_norway::Deserializer::from_slice(raw) {
        Scan::root(None, &mut problems).deserialize(document)?;
    }
    Ok(problems)
}

/// [`check_json`] for a YAML body (server-side apply configurations).
pub fn check_yaml(
    raw: &[u8],
    schema: Option<&'static Node>,
) -> Result<Vec<FieldProblem>, serde_norway::Error> {
    let raw = super::negotiate::without_bom(raw);
    crate::yaml_aliases::check(raw)?;
    let mut problems = Vec::new();
    // The first document alone, as the body is decoded (`yaml_aliases::json_from_slice`).
    if let Some(document) = serde_norway::Deserializer::from_slice(raw).next() {
        Scan::root(schema, &mut problems).deserialize(document)?;
    }
    Ok(problems)
}

fn join(path: &str, name: &str) -> String {
    match path {
        "" => name.to_string(),
        _ => format!("{path}.{name}"),
    }
}

/// What the scan knows about the value at hand.
#[derive(Clone, Copy)]
enum Mode {
    /// No schema: only duplicates are looked for.
    Schemaless,
    /// Checked against this node.
    Typed(&'static Node),
    /// Opaque JSON (`fieldsV1`) or an unknown field's value: not looked into.
    Opaque,
}

/// A streaming scan of one value; records problems as the deserializer reaches them.
struct Scan<'a> {
    mode: Mode,
    path: String,
    out: &'a mut Vec<FieldProblem>,
}

impl<'a> Scan<'a> {
    fn root(schema: Option<&'static Node>, out: &'a mut Vec<FieldProblem>) -> Self {
        let mode = schema.map_or(Mode::Schemaless, Mode::Typed);
        Self {
            mode,
            path: String::new(),
            out,
        }
    }

    /// The mode of an object's field, and whether the field is unknown.
    fn field_mode(&self, name: &str) -> (Mode, bool) {
        match self.mode {
            Mode::Typed(node @ (Node::Struct { .. } | Node::Map { .. })) => {
                match node.child(name) {
                    Child::Declared(child) | Child::Entry(child) => (Mode::Typed(child), false),
                    Child::Unknown => (Mode::Opaque, true),
                }
            }
            Mode::Typed(_) | Mode::Opaque => (Mode::Opaque, false),
            Mode::Schemaless => (Mode::Schemaless, false),
        }
    }

    fn item_mode(&self) -> Mode {
        match self.mode {
            Mode::Typed(Node::List { item, .. }) => Mode::Typed(item),
            Mode::Typed(_) | Mode::Opaque => Mode::Opaque,
            Mode::Schemaless => Mode::Schemaless,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.mode {
            // Scalars may hold opaque JSON (`fieldsV1`), which is nobody's business here.
            Mode::Opaque | Mode::Typed(Node::Scalar) => {
                deserializer.deserialize_ignored_any(IgnoredAny).map(drop)
            }
            Mode::Schemaless | Mode::Typed(_) => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mode = self.item_mode();
        let out = self.out;
        let mut index = 0;
        loop {
            let seed = Scan {
                mode,
                path: format!("{}[{index}]", self.path),
                out: &mut *out,
            };
            if items.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = fields.next_key::<String>()? {
            let path = join(&self.path, &name);
            let (mode, unknown) = self.field_mode(&name);
            let first = seen.insert(name);
            match (unknown, first) {
                (true, true) => self.out.push(FieldProblem::Unknown(path.clone())),
                (false, false) => self.out.push(FieldProblem::Duplicate(path.clone())),
                _ => {}
            }
            fields.next_value_seed(Scan {
                mode,
                path,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::patch::schema::IMAGE_STREAM;
    use serde_json::json;

    fn unknown(path: &str) -> FieldProblem {
        FieldProblem::Unknown(path.into())
    }

    fn duplicate(path: &str) -> FieldProblem {
        FieldProblem::Duplicate(path.into())
    }

    fn check(raw: &str, expected: &[FieldProblem]) {
        assert_eq!(
            check_json(raw.as_bytes(), Some(&IMAGE_STREAM)).unwrap(),
            expected,
            "{raw}"
        );
    }

    #[test]
    fn unknown_fields_are_found_at_nested_paths() {
        let stream = json!({
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "bogus": 1,
            "metadata": {"name": "demo", "labels": {"any.key/x": "v"}, "unknownMeta": {"a": 1},
                         "ownerReferences": [{"uid": "1", "kind": "X", "extra": true}],
                         "managedFields": [{"manager": "m", "fieldsV1": {"f:anything": {}}}]},
            "spec": {"foo": "bar", "lookupPolicy": {"local": true, "global": true},
                     "tags": [{"name": "a", "from": {"kind": "DockerImage", "name": "x", "nope": 1}},
                              {"name": "b", "fooBar": 2, "importPolicy": {"importMode": "Legacy"}}]},
            "status": {"tags": [{"tag": "a", "items": [{"image": "sha256:1", "size": 3}]}]}
        });
        let expected = [
            "bogus",
            "metadata.unknownMeta",
            "metadata.ownerReferences[0].extra",
            "spec.foo",
            "spec.lookupPolicy.global",
            "spec.tags[0].from.nope",
            "spec.tags[1].fooBar",
            "status.tags[0].items[0].size",
        ];
        let expected: Vec<FieldProblem> = expected.into_iter().map(unknown).collect();
        assert_eq!(unknown_fields(&stream, &IMAGE_STREAM), expected);
        check(&stream.to_string(), &expected);
    }

    #[test]
    fn duplicates_are_found_in_the_raw_bytes_in_document_order() {
        check(
            r#"{"metadata": {"name": "a", "name": "b"},
                "spec": {"tags": [{"name": "x", "from": {"kind": "DockerImage", "kind": "ImageStreamTag"}, "name": "y"}],
                         "foo": 1, "foo": 2, "lookupPolicy": {"local": true}, "lookupPolicy": {"local": false}}}"#,
            &[
                duplicate("metadata.name"),
                duplicate("spec.tags[0].from.kind"),
                duplicate("spec.tags[0].name"),
                unknown("spec.foo"),
                duplicate("spec.lookupPolicy"),
            ],
        );
        check(
            r#"{"metadata": {"labels": {"a": "1", "a": "2"}}}"#,
            &[duplicate("metadata.labels.a")],
        );
    }

    #[test]
    fn opaque_and_schemaless_bodies_are_scanned_for_duplicates_only() {
        let raw = r#"{"metadata": {"managedFields": [{"fieldsV1": {"f:a": {}, "f:a": {}}}]}, "x": [{"y": 1, "y": 2}]}"#;
        check(raw, &[unknown("x")]);
        let schemaless = check_json(raw.as_bytes(), None).unwrap();
        assert_eq!(
            schemaless,
            [
                duplicate("metadata.managedFields[0].fieldsV1.f:a"),
                duplicate("x[0].y")
            ]
        );
        assert!(check_json(b"{\"a\": ", None).is_err());
        assert!(check_json(b"{} {}", None).is_err());
    }

    #[test]
    fn yaml_bodies_are_scanned_too() {
        let yaml = "apiVersion: image.openshift.io/v1\nspec:\n  tags:\n  - name: a\n    fooBar: 1\n    name: b\n";
        let problems = check_yaml(yaml.as_bytes(), Some(&IMAGE_STREAM)).unwrap();
        assert_eq!(
            problems,
            [
                unknown("spec.tags[0].fooBar"),
                duplicate("spec.tags[0].name")
            ]
        );
        // Only the first document is the body; what follows it is not read.
        let stream = format!("{yaml}---\nspec:\n  zzz: 1\n---\na: [\n");
        let problems = check_yaml(stream.as_bytes(), Some(&IMAGE_STREAM)).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn problems_render_as_strict_errors_and_warning_headers() {
        let problems = [unknown("spec.foo"), duplicate("metadata.name")];
        assert_eq!(
            strict_error_message(&problems),
            r#"strict decoding error: unknown field "spec.foo", duplicate field "metadata.name""#
        );
        assert_eq!(
            warning_headers(&problems),
            [
                r#"299 - "unknown field \"spec.foo\"""#,
                r#"299 - "duplicate field \"metadata.name\"""#
            ]
        );
    }
}
