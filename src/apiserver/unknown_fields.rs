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
        (Node::Struct { .. } | Node::Map(_), Value::Object(fields)) => {
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

/// [`check_json`] for a YAML body (server-side apply configurations).
pub fn check_yaml(
    raw: &[u8],
    schema: Option<&'static Node>,
) -> Result<Vec<FieldProblem>, serde_norway::Error> {
    let mut problems = Vec::new();
    Scan::root(schema, &mut problems).deserialize(serde_norway::Deserializer::from_slice(raw))?;
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
            Mode::Typed(node @ (Node::Struct { .. } | Node::Map(_))) => match node.child(name) {
                Child::Declared(child) | Child::Entry(child) => (Mode::Typed(child), false),
                Child::Unknown => (Mode::Opaque, true),
            },
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
            Mode::Opaque => deserializer.deserialize_ignored_any(IgnoredAny).map(drop),
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
