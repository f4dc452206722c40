//! Writing resolved manifests back. JSON is pretty-printed. YAML output is the input text
//! with only the rewritten scalars replaced, so comments, quoting, octal numbers, anchors, key
//! order and separators survive byte for byte and untouched documents are identical. A document
//! whose rewrite cannot be spliced safely is re-serialised alone, in YAML that kubectl reads
//! the same, and reported. (A KRM `ResourceList`'s items keep the meaning kyaml read them
//! with: a plain `yes` there was the string `"yes"` and is written quoted, where kubectl
//! would have read a boolean.)

use std::ops::Range;

use granit_parser::ScalarStyle;
use json_patch::{Patch, PatchError};
use serde_json::Value;

use super::yaml::{self, Replacement};
use super::{Documents, Format, Position, YamlSource};

/// What [`render`] wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The output text.
    pub text: String,
    /// One line for each YAML document that was re-serialised instead of spliced, saying why.
    pub reformatted: Vec<String>,
}

/// Why resolved documents could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A patch built for a document does not apply to it.
    #[error("document {position} ({subject}): the rewrite does not apply: {error}; please report this as a bug")]
    Patch {
        /// The item's position, from 1.
        position: usize,
        /// `Kind/name` of the item.
        subject: String,
        /// What json-patch said.
        error: PatchError,
    },
}

/// Writes `documents` in their format with `patches[i]` applied to item `i` (a missing or
/// empty patch leaves the item as it was).
pub fn render(documents: &Documents, patches: &[Patch]) -> Result<Rendered, RenderError> {
    let first = documents.first;
    match (documents.format, &documents.source) {
        (Format::Yaml, Some(source)) => render_yaml(&documents.items, source, patches, first),
        (Format::Yaml, None) => {
            let emitted: Vec<String> = patched_items(&documents.items, patches, first)?
                .iter()
                .map(yaml::emit)
                .collect();
            Ok(Rendered {
                text: emitted.join("---\n"),
                reformatted: Vec::new(),
            })
        }
        (Format::Json, _) => Ok(Rendered {
            text: patched_items(&documents.items, patches, first)?
                .iter()
                .map(|item| serde_json::to_string_pretty(item).expect("a Value serialises") + "\n")
                .collect(),
            reformatted: Vec::new(),
        }),
    }
}

fn render_yaml(
    items: &[Value],
    source: &YamlSource,
    patches: &[Patch],
    first: Position,
) -> Result<Rendered, RenderError> {
    let mut replacements: Vec<Replacement> = Vec::new();
    let mut reformatted = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(patch) = patches.get(index).filter(|patch| !patch.0.is_empty()) else {
            continue;
        };
        let position = source.item_documents[index];
        let document = &source.stream.documents[position];
        let spliced =
            yaml::scalar_edits(item, patch).and_then(|edits| yaml::replacements(document, &edits));
        let number = first.documents + position + 1;
        let reason = match spliced {
            Ok(found) => {
                replacements.extend(found);
                continue;
            }
            Err(reason) => reason,
        };
        let value = patched(item, patch, first.items + index)?;
        match item_by_item(&source.text, document, item, patch, &value) {
            Some((found, items)) => {
                replacements.extend(found);
                reformatted.extend(items.into_iter().map(|(at, subject, reason)| {
                    format!(
                        "document {number}, item {at} ({subject}) was reformatted, losing its \
                             comments and layout, because {reason}"
                    )
                }));
            }
            None => {
                replacements.push(reformat(&source.text, document, &value));
                reformatted.push(format!(
                        "document {number} ({}) was reformatted, losing its comments and layout, because {reason}",
                        subject(item)
                    ));
            }
        }
    }
    // Items are in text order and each document's replacements are sorted, so these are too.
    Ok(Rendered {
        text: yaml::apply(&source.text, &replacements),
        reformatted,
    })
}

/// An item of a `List` (or a KRM `ResourceList`) that was re-serialised: its index, `Kind/name`
/// and why it could not be spliced.
type ReformattedItem = (usize, String, String);

/// A list's rewrite, whose splice failed as a whole, spliced item by item, with an item that
/// cannot be spliced re-serialised alone where it stands, so that the other items keep their
/// text. `None` when the document is not a block mapping whose `items` is a block sequence of
/// block mappings, the patch touches anything else, or the result does not read back as
/// `expected` (an anchor another item's alias needs): then the whole document is re-serialised.
fn item_by_item(
    text: &str,
    document: &yaml::Document,
    list: &Value,
    patch: &Patch,
    expected: &Value,
) -> Option<(Vec<Replacement>, Vec<ReformattedItem>)> {
    let nodes = block_items(document)?;
    let mut groups: Vec<(usize, Vec<json_patch::PatchOperation>)> = Vec::new();
    for operation in &patch.0 {
        let index = item_index(operation.path().as_str())?;
        match groups.iter_mut().find(|(at, _)| *at == index) {
            Some((_, operations)) => operations.push(operation.clone()),
            None => groups.push((index, vec![operation.clone()])),
        }
    }
    let mut replacements = Vec::new();
    let mut reformatted = Vec::new();
    for (index, operations) in groups {
        let group = Patch(operations);
        let spliced =
            yaml::scalar_edits(list, &group).and_then(|edits| yaml::replacements(document, &edits));
        match spliced {
            Ok(found) => replacements.extend(found),
            Err(reason) => {
                let node = nodes.get(index)?;
                let value = expected["items"].get(index)?;
                replacements.push(reformat_item(text, node, value)?);
                reformatted.push((index, subject(value), reason));
            }
        }
    }
    replacements.sort_by_key(|(range, _)| range.start);
    reads_back(text, document, &replacements, expected).then_some((replacements, reformatted))
}

/// The nodes of the document's `items`, when it is a block sequence of block mappings.
fn block_items(document: &yaml::Document) -> Option<&[yaml::Node]> {
    let yaml::NodeKind::Mapping(entries) = &document.root.kind else {
        return None;
    };
    let (_, items) = entries
        .iter()
        .find(|(key, _)| yaml::scalar_key(key, document.schema).as_deref() == Some("items"))?;
    match &items.kind {
        yaml::NodeKind::Sequence(nodes) if !items.flow => Some(nodes),
        _ => None,
    }
}

/// The item index of a pointer under `/items/<index>/`.
fn item_index(pointer: &str) -> Option<usize> {
    let rest = pointer.strip_prefix("/items/")?;
    let (index, _) = rest.split_once('/')?;
    index.parse().ok()
}

/// The replacement writing `value` over an item's block mapping, each line after the first
/// indented to the column the mapping starts at.
fn reformat_item(text: &str, node: &yaml::Node, value: &Value) -> Option<Replacement> {
    if is_flow(text, node) || !matches!(node.kind, yaml::NodeKind::Mapping(_)) {
        return None;
    }
    // A block mapping's span runs to the next token, past comments and the next item's
    // indentation: the item ends with its last value (and a comment on that line).
    let last = last_end(text, node);
    let end = match text[..last].ends_with('\n') {
        true => last,
        false => line_end(text, last),
    };
    let written = &text[node.span.start..end];
    let line_start = text[..node.span.start].rfind('\n').map_or(0, |at| at + 1);
    let indent = " ".repeat(text[line_start..node.span.start].chars().count());
    let emitted = yaml::emit(value);
    let mut lines = emitted.trim_end_matches('\n').split('\n');
    let mut out = lines.next()?.to_string();
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&indent);
        }
        out.push_str(line);
    }
    if written.ends_with('\n') {
        out.push('\n');
    }
    Some((node.span.start..end, super::with_line_breaks_of(out, text)))
}

/// Whether `node` is written in flow style (`{…}`, `[…]`) or sits inside such a collection.
fn is_flow(text: &str, node: &yaml::Node) -> bool {
    let written = &text[node.span.clone()];
    node.flow || written.starts_with('{') || written.starts_with('[')
}

/// Where the last value under `node` ends in the text.
fn last_end(text: &str, node: &yaml::Node) -> usize {
    if is_flow(text, node) {
        return node.span.end;
    }
    match &node.kind {
        yaml::NodeKind::Mapping(entries) => entries
            .last()
            .map_or(node.span.end, |(_, value)| last_end(text, value)),
        yaml::NodeKind::Sequence(items) => items
            .last()
            .map_or(node.span.end, |item| last_end(text, item)),
        yaml::NodeKind::Scalar {
            style: ScalarStyle::Literal | ScalarStyle::Folded,
            ..
        } => block_scalar_end(text, node.span.clone()),
        _ => node.span.end,
    }
}

/// Past the last content line of a block scalar (`|`, `>-`): its span also holds the blank and
/// comment lines that follow it, which belong to what comes next.
fn block_scalar_end(text: &str, span: Range<usize>) -> usize {
    // Content is indented deeper than the line the scalar starts on.
    let line_start = text[..span.start].rfind('\n').map_or(0, |at| at + 1);
    let parent = text[line_start..].len() - text[line_start..].trim_start_matches(' ').len();
    let mut lines = text[span.clone()].split_inclusive('\n');
    let header = lines.next().unwrap_or_default();
    let mut at = span.start + header.len();
    let mut end = at;
    let mut indent = parent + 1;
    let mut first = true;
    for line in lines {
        at += line.len();
        let content = line.trim_start_matches(' ');
        if content.trim().is_empty() {
            continue;
        }
        let width = line.len() - content.len();
        if width < indent {
            break;
        }
        if first {
            indent = width;
            first = false;
        }
        end = at;
    }
    end
}

/// Whether the document with `replacements` applied reads back as `expected`.
fn reads_back(
    text: &str,
    document: &yaml::Document,
    replacements: &[Replacement],
    expected: &Value,
) -> bool {
    let content = document.content.clone();
    let shifted: Vec<Replacement> = replacements
        .iter()
        .map(|(range, new)| {
            let range = range.start - content.start..range.end - content.start;
            (range, new.clone())
        })
        .collect();
    let rewritten = yaml::apply(&text[content], &shifted);
    let read = yaml::parse(&rewritten, document.schema);
    matches!(read, Ok((_, values)) if values.first() == Some(expected))
}

/// The replacement writing `value` over the document's content. The content then starts at
/// the beginning of its line, so that the emitted block's indentation is its own.
fn reformat(text: &str, document: &yaml::Document, value: &Value) -> Replacement {
    let start = document.content.start;
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let end = line_end(text, document.content.end);
    let emitted = super::with_line_breaks_of(yaml::emit(value), text);
    if text[line_start..start].trim().is_empty() {
        (line_start..end, emitted)
    } else {
        // Something (`--- &anchor`, a tag) precedes the content on its line.
        (start..end, format!("{}{emitted}", super::line_break(text)))
    }
}

/// Past the line break ending the content's last line, when only blanks or a comment follow it
/// there (the parser ends a flow collection at its bracket, a block one at the next line).
fn line_end(text: &str, end: usize) -> usize {
    let rest = &text[end..];
    let line = rest.split('\n').next().unwrap_or_default();
    let trimmed = line.trim_start();
    if !(trimmed.is_empty() || trimmed.starts_with('#')) {
        return end;
    }
    if rest.len() == line.len() {
        text.len()
    } else {
        end + line.len() + 1
    }
}

fn patched_items(
    items: &[Value],
    patches: &[Patch],
    first: Position,
) -> Result<Vec<Value>, RenderError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match patches.get(index) {
            Some(patch) => patched(item, patch, first.items + index),
            None => Ok(item.clone()),
        })
        .collect()
}

fn patched(item: &Value, patch: &Patch, index: usize) -> Result<Value, RenderError> {
    let mut value = item.clone();
    json_patch::patch(&mut value, patch).map_err(|error| RenderError::Patch {
        position: index + 1,
        subject: subject(item),
        error,
    })?;
    Ok(value)
}

/// `Kind/name`, for messages.
fn subject(item: &Value) -> String {
    let kind = item["kind"].as_str().unwrap_or("?");
    let name = item["metadata"]["name"].as_str().unwrap_or("?");
    format!("{kind}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;
    use serde_json::json;

    /// Renders `input` with `patches` and compares the text and the reformatted notices' count.
    fn check(input: &str, patches: Value, expected: &str, reformatted: usize) {
        let documents = parse(input, "in").unwrap();
        let patches: Vec<Patch> = serde_json::from_value(patches).unwrap();
        let rendered = render(&documents, &patches).unwrap();
        assert_eq!(rendered.text, expected);
        assert_eq!(
            rendered.reformatted.len(),
            reformatted,
            "{:?}",
            rendered.reformatted
        );
    }

    /// `input`, one document, rendered with `patch` (a JSON Patch as JSON).
    fn render_one(input: &str, patch: Value) -> Rendered {
        let documents = parse(input, "in").unwrap();
        let patches: Vec<Patch> = serde_json::from_value(json!([patch])).unwrap();
        render(&documents, &patches).unwrap()
    }

    fn replace(path: &str, value: Value) -> Value {
        json!([{"op": "replace", "path": path, "value": value}])
    }

    const INPUT: &str =
        "# top\n---\na: \"yes\"  # keep\nmode: 0644\n---\n\n---\nkind: Pod\nimage: mysql\n...\n";

    #[test]
    fn untouched_yaml_comes_back_byte_for_byte() {
        check(INPUT, json!([[], []]), INPUT, 0);
        check("a: 1", json!([]), "a: 1", 0);
    }

    #[test]
    fn a_rewrite_replaces_only_its_scalar() {
        let expected = INPUT.replace("image: mysql", "image: quay.io/m@sha256:1");
        check(
            INPUT,
            json!([[], replace("/image", json!("quay.io/m@sha256:1"))]),
            &expected,
            0,
        );
    }

    #[test]
    fn a_document_that_cannot_be_spliced_is_reformatted_alone_and_reported() {
        let input = "a: \"yes\" # keep\n---\n# lead\nkind: Build\nfrom: {kind: ImageStreamTag, name: r, namespace: s}\nm: 0644\nx: 'on'\n";
        let patch = replace(
            "/from",
            json!({"kind": "DockerImage", "name": "q@sha256:1"}),
        );
        let expected = "a: \"yes\" # keep\n---\n# lead\nkind: Build\nfrom:\n  kind: DockerImage\n  name: q@sha256:1\nm: 420\nx: \"on\"\n";
        check(input, json!([[], patch]), expected, 1);
    }

    #[test]
    fn a_list_item_that_cannot_be_spliced_is_reformatted_alone_and_the_others_keep_their_text() {
        let input = "# a list\nkind: List\nitems:\n- kind: ConfigMap   # untouched\n  metadata: {name: cfg}\n  data: {mode: '0644'}\n- kind: Pod\n  metadata:\n    name: db\n  spec:\n    containers:\n    - name: m  # the database\n      image: >-\n        mysql\n- kind: Pod\n  metadata: {name: web}\n  spec: {containers: [{name: w, image: php}]}\n";
        let patch = json!([
            {"op": "replace", "path": "/items/1/spec/containers/0/image", "value": "q/m@sha256:1"},
            {"op": "replace", "path": "/items/2/spec/containers/0/image", "value": "q/p@sha256:2"}
        ]);
        let expected = "# a list\nkind: List\nitems:\n- kind: ConfigMap   # untouched\n  metadata: {name: cfg}\n  data: {mode: '0644'}\n- kind: Pod\n  metadata:\n    name: db\n  spec:\n    containers:\n    - name: m\n      image: q/m@sha256:1\n- kind: Pod\n  metadata: {name: web}\n  spec: {containers: [{name: w, image: \"q/p@sha256:2\"}]}\n";
        let rendered = render_one(input, patch);
        assert_eq!(rendered.text, expected, "{}", rendered.text);
        assert_eq!(rendered.reformatted.len(), 1, "{:?}", rendered.reformatted);
        assert!(
            rendered.reformatted[0].starts_with("document 1, item 1 (Pod/db) was reformatted"),
            "{}",
            rendered.reformatted[0]
        );
    }

    #[test]
    fn an_indented_list_keeps_the_comments_between_its_items() {
        let input = "kind: List\nitems:\n  # databases\n  - kind: Pod\n    metadata: {name: db}\n    spec:\n      containers:\n        - name: m  # the database\n          image: >-\n            mysql\n  # web tier\n  - kind: Pod  # web\n    metadata: {name: web}\n";
        let patch = json!([
            {"op": "replace", "path": "/items/0/spec/containers/0/image", "value": "q/m@sha256:1"}
        ]);
        let expected = "kind: List\nitems:\n  # databases\n  - kind: Pod\n    metadata:\n      name: db\n    spec:\n      containers:\n      - name: m\n        image: q/m@sha256:1\n  # web tier\n  - kind: Pod  # web\n    metadata: {name: web}\n";
        let rendered = render_one(input, patch);
        assert_eq!(rendered.text, expected, "{}", rendered.text);
        assert!(rendered.reformatted[0].contains("item 0 (Pod/db)"));
        // The last item, with a comment on its last line and none after it.
        let last = "kind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n  spec:\n    containers:\n    - name: m\n      image: &i mysql  # pinned\n      command: [*i]\n";
        let patch = json!([
            {"op": "replace", "path": "/items/1/spec/containers/0/image", "value": "q/m@sha256:1"}
        ]);
        let rendered = render_one(last, patch);
        let expected = "kind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n  spec:\n    containers:\n    - name: m\n      image: q/m@sha256:1\n      command:\n      - mysql\n";
        assert_eq!(rendered.text, expected, "{}", rendered.text);
    }

    #[test]
    fn a_block_scalar_ends_at_its_last_content_line() {
        let text = "a:\n  - x: >-\n      one\n\n      two\n    # after\n  - y\n";
        let start = text.find(">-").unwrap();
        let end = text.find("  - y").unwrap();
        let expected = text.find("    # after").unwrap();
        assert_eq!(block_scalar_end(text, start..end), expected);
        let empty = "a: |\n# a comment\nb: 1\n";
        let start = empty.find('|').unwrap();
        let end = empty.find("b:").unwrap();
        assert_eq!(block_scalar_end(empty, start..end), start + 2);
    }

    #[test]
    fn a_list_item_whose_anchor_another_item_repeats_reformats_the_whole_list() {
        let input = "kind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n  spec:\n    containers:\n    - name: m\n      image: &img >-\n        mysql\n- kind: Pod\n  metadata: {name: b}\n  spec:\n    containers:\n    - name: n\n      image: *img\n";
        let patch = json!([
            {"op": "replace", "path": "/items/0/spec/containers/0/image", "value": "q/m@sha256:1"}
        ]);
        let rendered = render_one(input, patch);
        assert_eq!(rendered.reformatted.len(), 1, "{:?}", rendered.reformatted);
        assert!(rendered.reformatted[0].starts_with("document 1 (List/?)"));
        let (_, values) =
            crate::manifest::yaml::parse(&rendered.text, crate::manifest::yaml::Schema::Yaml11)
                .unwrap();
        assert_eq!(
            values[0]["items"][0]["spec"]["containers"][0]["image"],
            "q/m@sha256:1"
        );
        assert_eq!(
            values[0]["items"][1]["spec"]["containers"][0]["image"],
            "mysql"
        );
    }

    #[test]
    fn a_reformatted_document_keeps_the_line_breaks_of_its_text() {
        let input = "a: 1 # keep\r\n---\r\nkind: Pod\r\nimage: >-\r\n  mysql\r\nm: 0644\r\n";
        let patch = replace("/image", json!("q@sha256:1"));
        let expected = "a: 1 # keep\r\n---\r\nkind: Pod\r\nimage: q@sha256:1\r\nm: 420\r\n";
        check(input, json!([[], patch]), expected, 1);
    }

    #[test]
    fn content_after_a_document_marker_is_moved_to_its_own_line() {
        let input =
            "--- &root {kind: Build, from: {kind: ImageStreamTag, name: r, namespace: s}}\n";
        let patch = replace("/from", json!({"kind": "DockerImage", "name": "q"}));
        let expected = "--- &root \nkind: Build\nfrom:\n  kind: DockerImage\n  name: q\n";
        check(input, json!([patch]), expected, 1);
    }

    #[test]
    fn json_is_pretty_printed_with_the_patch_applied() {
        let documents = parse("{\"image\":\"mysql\"}", "in.json").unwrap();
        let patches: Vec<Patch> =
            serde_json::from_value(json!([replace("/image", json!("m@1"))])).unwrap();
        let rendered = render(&documents, &patches).unwrap();
        assert_eq!(rendered.text, "{\n  \"image\": \"m@1\"\n}\n");
    }

    #[test]
    fn a_patch_that_does_not_apply_is_an_error_naming_the_document() {
        let documents = parse("kind: Pod\nmetadata: {name: p}\n", "in").unwrap();
        let patches: Vec<Patch> =
            serde_json::from_value(json!([[{"op": "remove", "path": "/nope"}]])).unwrap();
        let error = render(&documents, &patches).unwrap_err().to_string();
        assert!(error.starts_with("document 1 (Pod/p)"), "{error}");
    }
}
