//! Reading and writing manifest streams for the offline commands.
//!
//! Input is either JSON (one or more concatenated JSON values) or YAML (one or more `---`
//! separated documents). YAML is read the way kubectl reads it (YAML 1.1: plain `yes` is a
//! boolean, `0644` is 420). Output keeps the input's format so `resolve` can sit in a pipeline:
//! JSON in, pretty JSON out; YAML in, the same YAML text out with only the rewritten scalars
//! replaced (see [`render`]).

#[cfg(test)]
mod fuzz;
mod render;
pub mod runs;
mod yaml;

use std::path::Path;

use serde_json::Value;

use crate::api::ImageStream;

pub use render::{render, RenderError, Rendered};

/// `value` as one YAML document that kubectl (YAML 1.1) reads back as the same JSON: strings
/// such as `"yes"` or `"0644"` stay quoted. The API server's YAML answers use it too.
pub fn to_yaml(value: &Value) -> String {
    yaml::emit(value)
}

/// The format a manifest stream was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One or more JSON values.
    Json,
    /// One or more YAML documents.
    Yaml,
}

/// A manifest stream: its documents and the format to write them back in.
#[derive(Clone, Debug, PartialEq)]
pub struct Documents {
    /// The format the input used.
    pub format: Format,
    /// The documents, in input order (empty YAML documents dropped).
    pub items: Vec<Value>,
    /// For YAML input, the text the items were read from, which output is spliced into.
    source: Option<YamlSource>,
    /// Where these documents start in the stream they were cut from (see [`runs`]), so that
    /// messages count from the stream's start.
    first: Position,
}

/// A place in a manifest stream: how many YAML documents (empty ones included) and items
/// precede it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// YAML documents before it.
    pub documents: usize,
    /// Items (non-empty documents) before it.
    pub items: usize,
}

/// A YAML stream's text and nodes, and which of its documents each item is.
#[derive(Clone, Debug, PartialEq)]
struct YamlSource {
    text: String,
    stream: yaml::Stream,
    /// For each item, the position of its document in `stream` (empty documents have no item).
    item_documents: Vec<usize>,
}

impl Documents {
    /// Where the documents after these start.
    pub fn end(&self) -> Position {
        let documents = match &self.source {
            Some(source) => source.stream.documents.len(),
            None => self.items.len(),
        };
        Position {
            documents: self.first.documents + documents,
            items: self.first.items + self.items.len(),
        }
    }
}

/// Why a manifest stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {source_name}: {error}")]
    Io {
        /// The file name, or `-` for standard input.
        source_name: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The text is not valid JSON or YAML.
    #[error("{source_name} is not valid {format}: {message}")]
    Syntax {
        /// The file name.
        source_name: String,
        /// `JSON` or `YAML`.
        format: &'static str,
        /// What the parser said.
        message: String,
    },
    /// A document is not an ImageStream (or a list of them).
    #[error("{source_name}: document {index} is not an ImageStream: {message}")]
    NotAnImageStream {
        /// The file name.
        source_name: String,
        /// The document's position, from 1.
        index: usize,
        /// Why.
        message: String,
    },
}

/// Detects the format from the first meaningful character: JSON starts with `{` or `[`.
pub fn detect_format(text: &str) -> Format {
    match text.trim_start().chars().next() {
        Some('{') | Some('[') => Format::Json,
        _ => Format::Yaml,
    }
}

/// Parses a manifest stream from text; `source_name` names it in errors. Text that starts like
/// JSON but is not (a YAML flow mapping, or JSON followed by `---` and YAML documents, both of
/// which kubectl reads) is read as YAML; if it is neither, the JSON error is reported.
pub fn parse(text: &str, source_name: &str) -> Result<Documents, ManifestError> {
    parse_as(text, source_name, yaml::Schema::Yaml11)
}

/// Parses a KRM `ResourceList` (see [`parse`]) the way kustomize and kpt, which wrote it, read
/// YAML (1.2: a plain `on` or `no` is a string, which kubectl would read as a boolean), so
/// that the values a function leaves alone keep their meaning.
pub fn parse_resource_list(text: &str, source_name: &str) -> Result<Documents, ManifestError> {
    parse_as(text, source_name, yaml::Schema::Yaml12)
}

fn parse_as(
    text: &str,
    source_name: &str,
    schema: yaml::Schema,
) -> Result<Documents, ManifestError> {
    let syntax = |format: &'static str, message: String| ManifestError::Syntax {
        source_name: source_name.to_string(),
        format,
        message,
    };
    match detect_format(text) {
        Format::Json => match parse_json(text) {
            Ok(items) => Ok(Documents {
                format: Format::Json,
                items,
                source: None,
                first: Position::default(),
            }),
            Err(json_error) => parse_yaml(text, schema).map_err(|_| syntax("JSON", json_error)),
        },
        Format::Yaml => parse_yaml(text, schema).map_err(|message| syntax("YAML", message)),
    }
}

/// Parses `run`, a run of whole documents of a YAML stream (see [`runs::split`]) that starts at
/// `first`; `source_name` names the stream in errors.
pub fn parse_yaml_run(
    run: &str,
    source_name: &str,
    first: Position,
) -> Result<Documents, ManifestError> {
    let mut documents =
        parse_yaml(run, yaml::Schema::Yaml11).map_err(|message| ManifestError::Syntax {
            source_name: source_name.to_string(),
            format: "YAML",
            message,
        })?;
    documents.first = first;
    Ok(documents)
}

/// Reads a manifest stream from a file, or standard input when `path` is `-`.
pub fn read(path: &str) -> Result<Documents, ManifestError> {
    let text = read_text(path)?;
    parse(&text, path)
}

/// Reads the text of a file, or standard input for `-`.
pub fn read_text(path: &str) -> Result<String, ManifestError> {
    let result = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(Path::new(path))
    };
    result
        .map(without_stray_boms)
        .map_err(|error| ManifestError::Io {
            source_name: path.to_string(),
            error,
        })
}

/// `text` without a byte order mark at its start or at the start of a document's first line
/// (right after a `---` line): files saved with one and joined with `---` between them, as
/// `for f in *.yaml; do echo ---; cat "$f"; done` joins them, read as kubectl reads them (it
/// splits at `---` first, then reads each document on its own).
pub fn without_stray_boms(text: String) -> String {
    const BOM: char = '\u{feff}';
    if !text.contains(BOM) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut after_marker = true;
    for line in text.split_inclusive('\n') {
        let line = match after_marker {
            true => line.strip_prefix(BOM).unwrap_or(line),
            false => line,
        };
        // `---` alone, or followed by a space, a comment or content: not `----`.
        after_marker = line
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
        out.push_str(line);
    }
    out
}

/// The line break `text` uses: `\r\n` when it has one, else `\n`.
pub(crate) fn line_break(text: &str) -> &'static str {
    match text.contains("\r\n") {
        true => "\r\n",
        false => "\n",
    }
}

/// `text` (written with `\n`) with the line breaks of `like`.
pub fn with_line_breaks_of(text: String, like: &str) -> String {
    match line_break(like) {
        "\n" => text,
        other => text.replace('\n', other),
    }
}

/// The one YAML document of `documents` without its top-level `key`, when that is the last
/// entry of a block mapping (as KRM functions write a `ResourceList`'s `results`): the text up
/// to the key's line, read again. `None` otherwise.
pub fn without_last_key(documents: &Documents, key: &str) -> Option<Documents> {
    let source = documents.source.as_ref()?;
    let [document] = source.stream.documents.as_slice() else {
        return None;
    };
    let yaml::NodeKind::Mapping(entries) = &document.root.kind else {
        return None;
    };
    let (last, _) = entries.last()?;
    let block = !document.root.flow && !source.text[document.root.span.clone()].starts_with('{');
    let last_key = yaml::scalar_key(last, document.schema);
    if !block || last_key.as_deref() != Some(key) || entries.len() < 2 {
        return None;
    }
    let line_start = source.text[..last.span.start]
        .rfind('\n')
        .map_or(0, |at| at + 1);
    if !source.text[line_start..last.span.start].trim().is_empty() {
        return None;
    }
    let mut text = source.text[..line_start].to_string();
    text.push_str(&source.text[document.content.end..]);
    let stripped = parse_yaml(&text, document.schema).ok()?;
    let mut expected = documents.items.first()?.clone();
    expected.as_object_mut()?.remove(key);
    (stripped.items == [expected]).then_some(stripped)
}

/// Whether a document is a `List` (`kind: List` or any `…List` kind with `items`).
pub fn is_list(document: &Value) -> bool {
    let kind = document.get("kind").and_then(Value::as_str).unwrap_or("");
    kind.ends_with("List") && document.get("items").is_some_and(Value::is_array)
}

/// Reads ImageStreams from a file holding one stream, a `List`, or several documents.
pub fn read_image_streams(path: &str) -> Result<Vec<ImageStream>, ManifestError> {
    let documents = read(path)?;
    image_streams(documents.items, path)
}

/// Turns documents into ImageStreams, expanding lists; `source_name` names the file in errors.
pub fn image_streams(
    items: Vec<Value>,
    source_name: &str,
) -> Result<Vec<ImageStream>, ManifestError> {
    let mut streams = Vec::new();
    for (position, item) in items.into_iter().enumerate() {
        let document = position + 1;
        if !is_list(&item) {
            streams.push(image_stream(item, source_name, document, None)?);
            continue;
        }
        // `oc get is,istag -o yaml` lists the tags beside their streams: views of them,
        // with nothing a stream lacks.
        let members = list_items(item).into_iter().enumerate();
        for (member, value) in members.filter(|(_, value)| !is_stream_view(value)) {
            streams.push(image_stream(value, source_name, document, Some(member))?);
        }
    }
    Ok(streams)
}

/// Kinds that are views of ImageStreams (`ImageStreamTag`, `ImageStreamImage`, `ImageTag`),
/// skipped in a list of streams.
fn is_stream_view(value: &Value) -> bool {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    matches!(kind, "ImageStreamTag" | "ImageStreamImage" | "ImageTag")
}

fn list_items(list: Value) -> Vec<Value> {
    match list {
        Value::Object(mut fields) => match fields.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// `document` as a stream; `index` is its document's position from 1, `member` its position
/// in that document's list from 0 (as `items[<member>]`).
fn image_stream(
    document: Value,
    source_name: &str,
    index: usize,
    member: Option<usize>,
) -> Result<ImageStream, ManifestError> {
    let error = |message: String| ManifestError::NotAnImageStream {
        source_name: source_name.to_string(),
        index,
        message: match member {
            Some(member) => format!("items[{member}]: {message}"),
            None => message,
        },
    };
    let kind = document.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "ImageStream" {
        return Err(error(format!("kind is {kind:?}, expected \"ImageStream\"")));
    }
    serde_json::from_value(document).map_err(|e| error(e.to_string()))
}

fn parse_json(text: &str) -> Result<Vec<Value>, String> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

fn parse_yaml(text: &str, schema: yaml::Schema) -> Result<Documents, String> {
    let (stream, values) = yaml::parse(text, schema)?;
    let (item_documents, items) = values
        .into_iter()
        .enumerate()
        .filter(|(_, value)| !value.is_null())
        .unzip();
    let source = YamlSource {
        text: text.to_string(),
        stream,
        item_documents,
    };
    Ok(Documents {
        format: Format::Yaml,
        items,
        source: Some(source),
        first: Position::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_yaml_are_told_apart_by_the_first_character() {
        assert_eq!(detect_format("  {\"a\":1}"), Format::Json);
        assert_eq!(detect_format("[1]"), Format::Json);
        assert_eq!(detect_format("a: 1"), Format::Yaml);
        assert_eq!(detect_format("---\na: 1"), Format::Yaml);
    }

    #[test]
    fn empty_yaml_documents_have_no_item() {
        let documents = parse("---\na: 1\n---\n---\nb: [x]\n", "in.yaml").unwrap();
        assert_eq!(documents.items, vec![json!({"a": 1}), json!({"b": ["x"]})]);
        assert_eq!(documents.source.unwrap().item_documents, [0, 2]);
    }

    #[test]
    fn byte_order_marks_opening_the_text_or_a_document_are_dropped_and_no_others() {
        let bom = '\u{feff}';
        let joined = format!("{bom}a: 1\n---\n{bom}b: 2\n--- # next\n{bom}c: 3\nd: \"{bom}x\"\n");
        assert_eq!(
            without_stray_boms(joined),
            format!("a: 1\n---\nb: 2\n--- # next\nc: 3\nd: \"{bom}x\"\n")
        );
        let scalar = format!("a: |\n  x\n----\n{bom}y\n");
        assert_eq!(
            without_stray_boms(scalar.clone()),
            scalar,
            "---- is no marker"
        );
        let json = format!("{bom}{{\"kind\": \"Pod\"}}");
        assert_eq!(detect_format(&without_stray_boms(json)), Format::Json);
    }

    #[test]
    fn yaml_is_read_as_kubectl_reads_it() {
        let documents = parse("a: yes\nb: \"yes\"\nmode: 0644\n", "in.yaml").unwrap();
        assert_eq!(
            documents.items,
            [json!({"a": true, "b": "yes", "mode": 420})]
        );
    }

    #[test]
    fn concatenated_json_values_are_each_kept() {
        let documents = parse("{\"a\":1}\n{\"b\":2}", "in.json").unwrap();
        assert_eq!(documents.items, [json!({"a": 1}), json!({"b": 2})]);
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let error = parse("{\"a\":", "broken.json").unwrap_err().to_string();
        assert!(
            error.starts_with("broken.json is not valid JSON"),
            "{error}"
        );
        let error = parse("a: [1, 2", "broken.yaml").unwrap_err().to_string();
        assert!(
            error.starts_with("broken.yaml is not valid YAML"),
            "{error}"
        );
    }

    #[test]
    fn text_that_starts_like_json_but_is_yaml_is_read_as_yaml() {
        let flow = "{apiVersion: v1, kind: Pod, metadata: {name: p}}\n";
        let documents = parse(flow, "flow.yaml").unwrap();
        assert_eq!(documents.format, Format::Yaml);
        assert_eq!(documents.items[0]["metadata"]["name"], "p");
        let mixed = "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}}\n---\nkind: Pod\nmetadata:\n  name: b\n";
        let documents = parse(mixed, "mixed.yaml").unwrap();
        assert_eq!(documents.format, Format::Yaml);
        let names: Vec<&str> = documents
            .items
            .iter()
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let json = parse("{\"kind\": \"Pod\"}", "pod.json").unwrap();
        assert_eq!(json.format, Format::Json);
    }

    #[test]
    fn streams_are_read_from_single_documents_lists_and_multi_documents() {
        let text = "kind: ImageStream\nmetadata: {name: a, namespace: ns}\n---\n\
                    kind: List\nitems:\n- kind: ImageStream\n  metadata: {name: b}\n";
        let documents = parse(text, "s.yaml").unwrap();
        let streams = image_streams(documents.items, "s.yaml").unwrap();
        let names: Vec<&str> = streams.iter().map(ImageStream::name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_list_s_tag_views_are_skipped_and_another_kind_is_refused_at_its_item() {
        let text = "kind: List\nitems:\n- kind: ImageStream\n  metadata: {name: a}\n\
                    - kind: ImageStreamTag\n  metadata: {name: a:v1}\n";
        let documents = parse(text, "s.yaml").unwrap();
        let streams = image_streams(documents.items, "s.yaml").unwrap();
        let names: Vec<&str> = streams.iter().map(ImageStream::name).collect();
        assert_eq!(names, ["a"]);

        let pods = text.replace("kind: ImageStreamTag", "kind: Pod");
        let documents = parse(&pods, "s.yaml").unwrap();
        let error = image_streams(documents.items, "s.yaml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "s.yaml: document 1 is not an ImageStream: items[1]: kind is \"Pod\", expected \"ImageStream\""
        );
    }

    #[test]
    fn a_document_that_is_not_a_stream_is_refused_with_its_position() {
        let documents = parse("kind: Pod\nmetadata: {name: p}\n", "s.yaml").unwrap();
        let error = image_streams(documents.items, "s.yaml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "s.yaml: document 1 is not an ImageStream: kind is \"Pod\", expected \"ImageStream\""
        );
    }
}
