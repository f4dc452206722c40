//! Writing rewrites into the YAML text itself: each JSON Patch `replace` becomes new text for
//! the scalars it changes, written over exactly those scalars' bytes in their own quoting.
//! Anything that cannot be placed that safely is refused with the reason, and the caller
//! re-serialises the document instead.

use std::ops::Range;

use granit_parser::ScalarStyle;
use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use super::scalar::{double_quoted, fits_plain, single_quoted, Schema};
use super::tree::{Document, Node, NodeKind};
use super::value::{is_merge_key, scalar_key};

/// New text for one scalar: where it is in the document's value, and the string to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScalarEdit {
    /// The JSON pointer, for messages.
    pub pointer: String,
    /// The pointer's tokens, unescaped.
    pub path: Vec<String>,
    /// The new string.
    pub text: String,
}

/// A replacement of a byte range of the text.
pub(crate) type Replacement = (Range<usize>, String);

/// The scalar edits a patch makes to `document` (its value before the patch). A `replace` of a
/// mapping becomes an edit per changed key, provided no key is added or removed.
pub(crate) fn scalar_edits(document: &Value, patch: &Patch) -> Result<Vec<ScalarEdit>, String> {
    let mut edits = Vec::new();
    for operation in &patch.0 {
        let PatchOperation::Replace(replace) = operation else {
            return Err("the patch does more than replace values".to_string());
        };
        let pointer = replace.path.as_str();
        let path: Vec<String> = replace
            .path
            .tokens()
            .map(|t| t.decoded().into_owned())
            .collect();
        let original = document
            .pointer(pointer)
            .ok_or_else(|| format!("{pointer} is not in the document"))?;
        match (original, &replace.value) {
            (Value::Object(old), Value::Object(new)) => {
                edits.extend(key_edits(pointer, &path, old, new)?)
            }
            (old, Value::String(text)) if !is_collection(old) => edits.push(ScalarEdit {
                pointer: pointer.to_string(),
                path,
                text: text.clone(),
            }),
            _ => return Err(format!("{pointer} changes type")),
        }
    }
    Ok(edits)
}

fn key_edits(
    pointer: &str,
    path: &[String],
    old: &serde_json::Map<String, Value>,
    new: &serde_json::Map<String, Value>,
) -> Result<Vec<ScalarEdit>, String> {
    if let Some(removed) = old.keys().find(|key| !new.contains_key(*key)) {
        return Err(format!(
            "the rewrite of {pointer} removes the key {removed:?}"
        ));
    }
    let mut edits = Vec::new();
    for (key, value) in new {
        match (old.get(key), value) {
            (Some(before), after) if before == after => {}
            (Some(before), Value::String(text)) if !is_collection(before) => {
                let mut path = path.to_vec();
                path.push(key.clone());
                edits.push(ScalarEdit {
                    pointer: format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")),
                    path,
                    text: text.clone(),
                });
            }
            (None, _) => return Err(format!("the rewrite of {pointer} adds the key {key:?}")),
            _ => {
                return Err(format!(
                    "the rewrite of {pointer} changes the type of {key:?}"
                ))
            }
        }
    }
    Ok(edits)
}

fn is_collection(value: &Value) -> bool {
    value.is_object() || value.is_array()
}

/// The replacements writing `edits` into the document's text, in text order; or why one of
/// them cannot be written in place.
pub(crate) fn replacements(
    document: &Document,
    edits: &[ScalarEdit],
) -> Result<Vec<Replacement>, String> {
    let mut replacements = edits
        .iter()
        .map(|edit| {
            let node =
                locate(document, &edit.path).map_err(|why| format!("{} {why}", edit.pointer))?;
            let text =
                written(node, &edit.text).map_err(|why| format!("{} {why}", edit.pointer))?;
            Ok((node.span.clone(), text))
        })
        .collect::<Result<Vec<_>, String>>()?;
    replacements.sort_by_key(|(range, _)| range.start);
    let overlapping = replacements
        .windows(2)
        .any(|pair| pair[0].0.end > pair[1].0.start);
    if overlapping {
        return Err("two rewrites land on the same text".to_string());
    }
    Ok(replacements)
}

/// The node at `path`, when it is written exactly once in the text: not through an alias,
/// a merge key or a duplicated key, and not shared through an anchor.
fn locate<'d>(document: &'d Document, path: &[String]) -> Result<&'d Node, &'static str> {
    let shared = |node: &Node| node.anchor != 0 && document.aliased.contains(&node.anchor);
    let mut node = &document.root;
    for token in path {
        if shared(node) {
            return Err("is inside a node that an alias repeats");
        }
        node = child(node, token, document.schema)?;
    }
    if shared(node) {
        return Err("is anchored and repeated by an alias");
    }
    Ok(node)
}

fn child<'d>(node: &'d Node, token: &str, schema: Schema) -> Result<&'d Node, &'static str> {
    match &node.kind {
        NodeKind::Sequence(items) => token
            .parse::<usize>()
            .ok()
            .and_then(|index| items.get(index))
            .ok_or("is not written in the text"),
        NodeKind::Mapping(pairs) => {
            if pairs.iter().any(|(key, _)| is_merge_key(key)) {
                return Err("is under a mapping with a << merge key");
            }
            let mut matching = pairs
                .iter()
                .filter(|(key, _)| scalar_key(key, schema).as_deref() == Some(token));
            match (matching.next(), matching.next()) {
                (Some((_, value)), None) => Ok(value),
                (Some(_), Some(_)) => Err("has a duplicated key"),
                (None, _) => Err("is not written in the text (a complex key or an alias?)"),
            }
        }
        NodeKind::Alias(_) => Err("is reached through an alias"),
        NodeKind::Scalar { .. } => Err("is not written in the text"),
    }
}

/// `text` written in the style of the scalar it replaces.
fn written(node: &Node, text: &str) -> Result<String, &'static str> {
    let NodeKind::Scalar { style, .. } = &node.kind else {
        return Err("is not a scalar in the text");
    };
    if node.span.is_empty() {
        return Err("is an empty value");
    }
    match style {
        ScalarStyle::Plain if fits_plain(text, node.flow) => Ok(text.to_string()),
        ScalarStyle::Plain | ScalarStyle::DoubleQuoted => Ok(double_quoted(text)),
        ScalarStyle::SingleQuoted => Ok(single_quoted(text).unwrap_or_else(|| double_quoted(text))),
        ScalarStyle::Literal | ScalarStyle::Folded => Err("is a block scalar"),
    }
}

/// `text` with the replacements (in text order, not overlapping) applied.
pub(crate) fn apply(text: &str, replacements: &[Replacement]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (range, new) in replacements {
        out.push_str(&text[copied..range.start]);
        out.push_str(new);
        copied = range.end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::parse;
    use serde_json::json;

    /// Applies `patch` to the single document `yaml` in place and compares the text.
    fn check(yaml: &str, patch: Value, expected: Result<&str, &str>) {
        let (stream, values) = parse(yaml, Schema::Yaml11).unwrap();
        let document = &stream.documents[0];
        let before = &values[0];
        let patch: Patch = serde_json::from_value(patch).unwrap();
        let result = scalar_edits(before, &patch)
            .and_then(|edits| replacements(document, &edits))
            .map(|replacements| apply(yaml, &replacements));
        match expected {
            Ok(text) => assert_eq!(result.as_deref(), Ok(text)),
            Err(reason) => {
                let error = result.unwrap_err();
                assert!(error.contains(reason), "{error}");
            }
        }
    }

    fn replace(path: &str, value: Value) -> Value {
        json!([{"op": "replace", "path": path, "value": value}])
    }

    const PIN: &str = "quay.io/m@sha256:1";

    #[test]
    fn a_scalar_keeps_its_quoting_and_everything_around_it() {
        let path = "/spec/containers/0/image";
        for (image, written) in [
            ("mysql", PIN.to_string()),
            ("\"mysql\"", format!("\"{PIN}\"")),
            ("'mysql'", format!("'{PIN}'")),
            ("!!str mysql", format!("!!str {PIN}")),
        ] {
            let yaml =
                format!("# c\nspec:\n  containers:\n  - name: a # n\n    image: {image}   # i\n");
            let expected =
                format!("# c\nspec:\n  containers:\n  - name: a # n\n    image: {written}   # i\n");
            check(&yaml, replace(path, json!(PIN)), Ok(&expected));
        }
    }

    #[test]
    fn a_plain_scalar_in_a_flow_collection_is_quoted_when_the_new_text_has_a_colon() {
        check(
            "spec: {containers: [{name: a, image: mysql}]}\n",
            replace("/spec/containers/0/image", json!(PIN)),
            Ok("spec: {containers: [{name: a, image: \"quay.io/m@sha256:1\"}]}\n"),
        );
    }

    #[test]
    fn a_mapping_replace_is_written_key_by_key() {
        let yaml = "from:\n  kind: ImageStreamTag  # k\n  name: 'ruby:3'\n";
        let value = json!({"kind": "DockerImage", "name": PIN});
        check(
            yaml,
            replace("/from", value),
            Ok("from:\n  kind: DockerImage  # k\n  name: 'quay.io/m@sha256:1'\n"),
        );
        let yaml = "from: {kind: ImageStreamTag, name: 'ruby:3', namespace: shared}\n";
        check(
            yaml,
            replace("/from", json!({"kind": "DockerImage", "name": PIN})),
            Err("removes the key \"namespace\""),
        );
    }

    #[test]
    fn shared_or_indirect_nodes_are_refused() {
        let cases = [
            ("c: &c {image: mysql}\nd: *c\n", "/c/image", "repeats"),
            ("c: &i mysql\nd: *i\n", "/c", "anchored"),
            (
                "b: &b {image: mysql}\nc:\n  <<: *b\n",
                "/c/image",
                "merge key",
            ),
            ("c: {image: mysql, image: php}\n", "/c/image", "duplicated"),
            ("c:\n  image: |\n    mysql\n", "/c/image", "block scalar"),
        ];
        for (yaml, path, reason) in cases {
            check(yaml, replace(path, json!(PIN)), Err(reason));
        }
    }

    #[test]
    fn operations_other_than_replace_are_refused() {
        let patch = json!([{"op": "add", "path": "/a", "value": "x"}]);
        check("b: 1\n", patch, Err("more than replace"));
    }
}
