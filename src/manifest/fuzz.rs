//! `imagelookup resolve` writes YAML back by splicing new scalars into the input text: property
//! tests that write generated manifests in mixed styles (block and flow collections, lists at
//! the key's indent or past it; plain, single- and double-quoted, `!!str` and `|-` literal
//! scalars; anchors and aliases on equal values; comments), rewrite their images with pull
//! specs and with text YAML reads as something else unless quoted (`yes`, `1.0`, `a: b`, `#x`,
//! quotes, line breaks), and require that the output reads back as exactly the rewritten
//! objects, spliced or re-serialised. Arbitrary text must be read or refused, never panic.

use json_patch::Patch;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{detect_format, parse, parse_yaml_run, render, runs, Documents, Format, Position};

const CASES: u32 = 1_500;

/// How one node is written.
#[derive(Clone, Copy, Debug)]
enum Style {
    Plain,
    Single,
    Double,
}

/// A generated manifest: its objects, the YAML written for them, and the image rewrites.
#[derive(Clone, Debug)]
struct Case {
    objects: Vec<Value>,
    text: String,
    rewrites: Vec<Vec<(String, String)>>,
}

/// Writes `value` as YAML at `indent`, in block style unless `flow`; `choices` picks each
/// scalar's quoting and each collection's style, cycling.
struct Writer<'c> {
    choices: &'c [u8],
    next: usize,
    out: String,
    /// The values given an anchor in the current document, by text.
    anchors: std::collections::HashMap<String, usize>,
}

impl Writer<'_> {
    fn choice(&mut self) -> u8 {
        let choice = self.choices[self.next % self.choices.len()];
        self.next += 1;
        choice
    }

    /// A value scalar: sometimes an alias of an earlier equal value, sometimes anchored, tagged
    /// `!!str`, or a `|-` literal block.
    fn value_scalar(&mut self, text: &str, indent: usize, flow: bool) {
        if let Some(anchor) = self.anchors.get(text).copied() {
            if self.choice() % 2 == 0 {
                self.out.push_str(&format!("*a{anchor}"));
                return;
            }
        }
        if self.choice() % 6 == 0 {
            // A fresh name even when this text is anchored again (which replaces its entry, so
            // the map's length would hand the next text a name already written).
            let anchor = self.anchors.values().max().map_or(0, |last| last + 1);
            self.anchors.insert(text.to_string(), anchor);
            self.out.push_str(&format!("&a{anchor} "));
        }
        if self.choice() % 8 == 0 {
            self.out.push_str("!!str ");
        }
        if !flow && literal_is_safe(text) && self.choice() % 5 == 0 {
            self.out.push_str("|-\n");
            for line in text.split('\n') {
                self.out.push_str(&format!("{:indent$}{line}\n", ""));
            }
            return;
        }
        self.scalar(text, flow);
    }

    fn scalar(&mut self, text: &str, flow: bool) {
        let style = match self.choice() % 3 {
            0 if plain_is_safe(text, flow) => Style::Plain,
            0 | 1 => Style::Single,
            _ => Style::Double,
        };
        match style {
            Style::Plain => self.out.push_str(text),
            Style::Single if !text.contains(['\n', '\r', '\t']) => {
                self.out.push('\'');
                self.out.push_str(&text.replace('\'', "''"));
                self.out.push('\'');
            }
            Style::Single | Style::Double => {
                self.out
                    .push_str(&serde_json::to_string(text).expect("a string"));
            }
        }
    }

    fn value(&mut self, value: &Value, indent: usize, flow: bool) {
        match value {
            Value::String(text) => self.value_scalar(text, indent, flow),
            Value::Object(map) if !map.is_empty() && !flow && self.choice() % 4 != 0 => {
                self.block_map(map, indent)
            }
            Value::Array(items) if !items.is_empty() && !flow && self.choice() % 4 != 0 => {
                self.block_list(items, indent)
            }
            Value::Object(map) => {
                self.out.push('{');
                for (index, (key, value)) in map.iter().enumerate() {
                    if index > 0 {
                        self.out.push_str(", ");
                    }
                    self.scalar(key, true);
                    self.out.push_str(": ");
                    self.value(value, indent, true);
                }
                self.out.push('}');
            }
            Value::Array(items) => {
                self.out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.out.push_str(", ");
                    }
                    self.value(item, indent, true);
                }
                self.out.push(']');
            }
            other => self.out.push_str(&other.to_string()),
        }
    }

    fn block_map(&mut self, map: &Map<String, Value>, indent: usize) {
        self.out.push('\n');
        for (key, value) in map {
            if self.choice() % 5 == 0 {
                self.out
                    .push_str(&format!("{:indent$}# a comment: with 'quotes'\n", ""));
            }
            self.out.push_str(&" ".repeat(indent));
            self.scalar(key, false);
            // A space also before a block collection's line break: YAML reads it the same.
            self.out.push_str(": ");
            self.value(value, indent + 2, false);
            if !self.out.ends_with('\n') {
                self.out.push('\n');
            }
        }
    }

    fn block_list(&mut self, items: &[Value], indent: usize) {
        // Items at the key's own indent, as kubectl writes them, or indented past it.
        let indent = match self.choice() % 2 {
            0 => indent.saturating_sub(2),
            _ => indent,
        };
        self.out.push('\n');
        for item in items {
            self.out.push_str(&" ".repeat(indent));
            self.out.push_str("- ");
            // A block map item starts on the line after the dash, indented past it.
            self.value(item, indent + 2, false);
            if !self.out.ends_with('\n') {
                self.out.push('\n');
            }
        }
    }
}

/// Whether `text` may be written as a `|-` literal block and read back the same: no line
/// starting or ending with white space, no tab or carriage return, something to write.
fn literal_is_safe(text: &str) -> bool {
    !text.is_empty()
        && !text.contains(['\t', '\r'])
        && text
            .split('\n')
            .all(|line| !line.is_empty() && line.trim() == line && !line.starts_with('#'))
}

/// Whether `text` may be written unquoted and still read back as this string (conservatively:
/// a word that no YAML 1.1 type claims, with no indicator in it).
fn plain_is_safe(text: &str, flow: bool) -> bool {
    let words = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
    ];
    let first = text.chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "./_@-".contains(c) || (!flow && c == ':'))
        && !text.contains(":/")
        && !words.contains(&text.to_ascii_lowercase().as_str())
}

fn pod(name: &str, images: &[String]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(index, image)| json!({"name": format!("c{index}"), "image": image}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"containers": containers}})
}

fn deployment(name: &str, images: &[String]) -> Value {
    let mut template = pod(name, images);
    let spec = template["spec"].take();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name},
           "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}})
}

/// Images as written, and what they are rewritten to: pull specs, and text that YAML reads as
/// something else, or not at all, unless it is quoted.
fn image() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,8}(:[a-z0-9]{1,4})?",
        3 => "quay\\.io/[a-z]{1,5}/[a-z]{1,5}@sha256:[0-9a-f]{64}",
        1 => prop::sample::select(vec![
            "yes", "No", "1.0", "0644", "~", "null", "a: b", "#x", "- y", "'q'", "\"d\"",
            "two\nlines", "tab\there", "ünï", "[a]", "{a: b}", "a #b", "", " lead", "trail ",
        ])
        .prop_map(str::to_string),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let object = (
        any::<bool>(),
        "[a-z][a-z0-9-]{0,8}",
        prop_oneof![
            prop::collection::vec(image(), 1..4),
            image().prop_map(|image| vec![image.clone(), image]),
        ],
    );
    let objects = prop::collection::vec(object, 1..4);
    let rewrites = prop::collection::vec(prop::collection::vec(image(), 1..4), 1..4);
    let choices = prop::collection::vec(any::<u8>(), 1..64);
    (objects, rewrites, choices).prop_map(|(objects, new_images, choices)| {
        let mut writer = Writer {
            choices: &choices,
            next: 0,
            out: String::new(),
            anchors: std::collections::HashMap::new(),
        };
        let mut rewrites = Vec::new();
        let mut values = Vec::new();
        for (index, (is_pod, name, images)) in objects.iter().enumerate() {
            let value = match is_pod {
                true => pod(name, images),
                false => deployment(name, images),
            };
            let spec = if *is_pod {
                "/spec"
            } else {
                "/spec/template/spec"
            };
            let new = new_images.get(index).cloned().unwrap_or_default();
            // Each container with a new image, as far as there are new images.
            rewrites.push(
                (0..images.len())
                    .zip(new)
                    .map(|(i, to)| (format!("{spec}/containers/{i}/image"), to))
                    .collect(),
            );
            writer.anchors.clear();
            if index > 0 || writer.choice() % 2 == 0 {
                writer.out.push_str("---\n");
            }
            writer.value(&value, 0, false);
            if !writer.out.ends_with('\n') {
                writer.out.push('\n');
            }
            values.push(value);
        }
        Case {
            objects: values,
            text: writer.out,
            rewrites,
        }
    })
}

fn patch(rewrites: &[(String, String)]) -> Patch {
    let operations: Vec<Value> = rewrites
        .iter()
        .map(|(path, to)| json!({"op": "replace", "path": path, "value": to}))
        .collect();
    serde_json::from_value(Value::Array(operations)).expect("a JSON patch")
}

fn run<S: Strategy>(strategy: S, property: impl Fn(S::Value) -> Result<(), String>) {
    crate::property::run_cases(strategy, CASES, property);
}

#[test]
fn rewritten_yaml_in_any_style_reads_back_as_the_rewritten_objects() {
    run(case(), |case| {
        let documents = parse(&case.text, "-").map_err(|e| format!("{e}\n{}", case.text))?;
        if documents.items != case.objects {
            return Err(format!(
                "the generated text reads otherwise:\n{}",
                case.text
            ));
        }
        let patches: Vec<Patch> = case.rewrites.iter().map(|r| patch(r)).collect();
        let rendered = render(&documents, &patches).map_err(|e| e.to_string())?;
        let mut expected = case.objects.clone();
        for (object, patch) in expected.iter_mut().zip(&patches) {
            json_patch::patch(object, patch).map_err(|e| e.to_string())?;
        }
        let read = parse(&rendered.text, "-")
            .map_err(|e| format!("{e}\ninput:\n{}\noutput:\n{}", case.text, rendered.text))?;
        match read.items == expected {
            true => Ok(()),
            false => Err(format!(
                "the output reads otherwise\ninput:\n{}\noutput:\n{}\nread: {:?}",
                case.text, rendered.text, read.items
            )),
        }
    });
}

/// `text` read and written back with `patches` run by run (see [`runs`]), as `resolve` does
/// with a YAML stream: the output text and the reformatted notices, joined.
fn render_by_runs(
    text: &str,
    per_run: usize,
    patches: &[Patch],
) -> Result<(String, Vec<String>), String> {
    let mut first = Position::default();
    let (mut out, mut notices) = (String::new(), Vec::new());
    for run in runs::split(text, per_run) {
        let documents = parse_yaml_run(run, "-", first).map_err(|e| e.to_string())?;
        let end = documents.end();
        let mine = patches
            .get(first.items..end.items.min(patches.len()))
            .unwrap_or_default();
        let rendered = render(&documents, mine).map_err(|e| e.to_string())?;
        out.push_str(&rendered.text);
        notices.extend(rendered.reformatted);
        first = end;
    }
    Ok((out, notices))
}

#[test]
fn a_stream_written_back_run_by_run_is_what_it_is_written_back_whole() {
    run((case(), 1..3usize), |(case, per_run)| {
        if detect_format(&case.text) != Format::Yaml {
            return Ok(());
        }
        let documents = parse(&case.text, "-").map_err(|e| e.to_string())?;
        let patches: Vec<Patch> = case.rewrites.iter().map(|r| patch(r)).collect();
        let whole = render(&documents, &patches).map_err(|e| e.to_string())?;
        let by_runs = render_by_runs(&case.text, per_run, &patches)?;
        match by_runs == (whole.text.clone(), whole.reformatted.clone()) {
            true => Ok(()),
            false => Err(format!(
                "input:\n{}\nwhole:\n{}{:?}\nby runs of {per_run}:\n{}{:?}",
                case.text, whole.text, whole.reformatted, by_runs.0, by_runs.1
            )),
        }
    });
}

#[test]
fn any_stream_that_reads_whole_reads_the_same_run_by_run() {
    let token = prop::sample::select(vec![
        "a",
        ": ",
        "- ",
        "\n",
        "  ",
        "---\n",
        "--- ",
        "---",
        "-",
        "x\n---x\n",
        "...\n",
        "{",
        "}",
        "[",
        "]",
        ", ",
        "'",
        "\"",
        "#",
        "&x ",
        "*x",
        "|\n",
        ">-\n",
        "\t",
        "%YAML 1.1\n",
    ]);
    run(
        (prop::collection::vec(token, 0..40), 1..3usize),
        |(tokens, per_run)| {
            let text = tokens.concat();
            let Ok(whole) = parse(&text, "-") else {
                return Ok(());
            };
            if whole.format != Format::Yaml {
                return Ok(());
            }
            let mut items = Vec::new();
            let mut first = Position::default();
            for run in runs::split(&text, per_run) {
                let documents: Documents = parse_yaml_run(run, "-", first)
                    .map_err(|e| format!("{e}: {text:?} cut at {run:?}"))?;
                first = documents.end();
                items.extend(documents.items);
            }
            match items == whole.items {
                true => Ok(()),
                false => Err(format!(
                    "{text:?}: {items:?} run by run, {:?} whole",
                    whole.items
                )),
            }
        },
    );
}

#[test]
fn any_text_is_read_or_refused_never_a_panic() {
    let token = prop::sample::select(vec![
        "a", ": ", "- ", "\n", "  ", "---\n", "...\n", "{", "}", "[", "]", ", ", "'", "\"", "#",
        "&x ", "*x", "!!str ", "|\n", ">-\n", "? ", "\t", "\\", "é", "0x1F", "~", "<<: ",
    ]);
    run(prop::collection::vec(token, 0..40), |tokens| {
        let text = tokens.concat();
        let _ = parse(&text, "-");
        Ok(())
    });
}
