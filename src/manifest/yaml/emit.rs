//! Writing a whole document from its JSON value, for the documents a rewrite cannot be spliced
//! into. Block style as kubectl prints it; every string that YAML 1.1 (kubectl) or YAML 1.2
//! would read as something else is quoted, and multi-line strings become literal blocks.

use serde_json::{Map, Value};

use super::scalar::{double_quoted, fits_plain, needs_escape};

/// `value` as one YAML document (without `---`), ending in a line break.
pub(crate) fn emit(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn mapping(out: &mut String, map: &Map<String, Value>, indent: usize) {
    for (key, value) in map {
        push_indent(out, indent);
        entry(out, key, value, indent);
    }
}

/// `key: value` from the current position; nested blocks are indented from `indent`.
fn entry(out: &mut String, key: &str, value: &Value, indent: usize) {
    out.push_str(&string(key));
    out.push(':');
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            mapping(out, map, indent + 2);
        }
        // Sequences under a key start at the key's own column, as kubectl writes them.
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(out, items, indent);
        }
        scalar => after_indicator(out, scalar, indent + 2),
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                for (position, (key, value)) in map.iter().enumerate() {
                    if position == 0 {
                        out.push(' ');
                    } else {
                        push_indent(out, indent + 2);
                    }
                    entry(out, key, value, indent + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(out, inner, indent + 2);
            }
            scalar => after_indicator(out, scalar, indent + 2),
        }
    }
}

/// A scalar after `key:` or `-`: inline, or a literal block indented to `block_indent`.
fn after_indicator(out: &mut String, scalar: &Value, block_indent: usize) {
    out.push(' ');
    match scalar {
        Value::String(text) if fits_literal(text) => literal(out, text, block_indent),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

fn inline(scalar: &Value) -> String {
    match scalar {
        Value::String(text) => string(text),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        other => other.to_string(),
    }
}

fn string(text: &str) -> String {
    if fits_plain(text, false) {
        text.to_string()
    } else {
        double_quoted(text)
    }
}

/// Multi-line text that a literal block carries unchanged: no characters needing escapes, no
/// trailing blanks on a line, and a first line that does not start with a blank (which would
/// need an indentation indicator).
fn fits_literal(text: &str) -> bool {
    let body = text.trim_end_matches('\n');
    body.contains('\n')
        && !body.starts_with([' ', '\t'])
        && !body
            .chars()
            .any(|c| c != '\n' && c != '\t' && needs_escape(c))
        && body.lines().all(|line| !line.ends_with([' ', '\t']))
}

fn literal(out: &mut String, text: &str, indent: usize) {
    let body = text.trim_end_matches('\n');
    let trailing_breaks = text.len() - body.len();
    out.push_str(match trailing_breaks {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    out.push('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            push_indent(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing_breaks {
        out.push('\n');
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::{parse, Schema};
    use serde_json::json;

    /// Emits `value`, compares the text, and reads it back to the same value.
    fn check(value: Value, expected: &str) {
        let text = emit(&value);
        assert_eq!(text, expected);
        assert_eq!(parse(&text, Schema::Yaml11).unwrap().1, [value]);
    }

    #[test]
    fn strings_that_yaml_1_1_would_read_otherwise_are_quoted() {
        check(
            json!({"a": "yes", "b": "on", "c": "n", "d": "0644", "e": "1.27", "f": "", "g": "~",
                   "h": "mysql:8", "on": 420, "i": null, "j": true, "k": 1.5}),
            "a: \"yes\"\nb: \"on\"\nc: \"n\"\nd: \"0644\"\ne: \"1.27\"\nf: \"\"\ng: \"~\"\n\
             h: mysql:8\n\"on\": 420\ni: null\nj: true\nk: 1.5\n",
        );
    }

    #[test]
    fn nested_blocks_are_laid_out_as_kubectl_prints_them() {
        check(
            json!({"spec": {"containers": [{"name": "c", "args": ["y", "--x"]}], "e": {}, "l": []},
                   "m": [[1, 2], {}]}),
            "spec:\n  containers:\n  - name: c\n    args:\n    - \"y\"\n    - \"--x\"\n  e: {}\n  l: []\n\
             m:\n-\n  - 1\n  - 2\n- {}\n",
        );
    }

    #[test]
    fn multi_line_strings_become_literal_blocks_with_the_right_chomping() {
        check(
            json!({"a": "x\ny\n", "b": "x\ny", "c": "x\n\n", "d": [" lead\nx"]}),
            "a: |\n  x\n  y\nb: |-\n  x\n  y\nc: \"x\\n\\n\"\nd:\n- \" lead\\nx\"\n",
        );
        check(json!({"s": "x\n\ny\n\n"}), "s: |+\n  x\n\n  y\n\n");
    }

    #[test]
    fn scalar_documents_are_one_line() {
        check(json!("yes"), "\"yes\"\n");
        check(json!({}), "{}\n");
    }
}
