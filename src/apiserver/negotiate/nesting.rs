//! A YAML body's nesting, measured before it is parsed. libyaml (under serde_norway) reads the
//! whole input before serde's recursion limit applies, in time that grows with the square of
//! the nesting, so a 240 KB body of nested flow mappings held a worker for seconds. JSON bodies
//! need no such guard: serde_json stops at 128 levels as it reads.

/// The deepest flow nesting (`{`/`[`) a YAML body may have: serde_json's own limit for JSON.
pub const MAX_FLOW_DEPTH: usize = 128;

/// The deepest bracket nesting a YAML body may have when quotes are not recognised at all:
/// telling a quoted scalar from an apostrophe inside a plain one (`it's`) takes a YAML
/// tokenizer, and a scan fooled into seeing a quote would skip the rest of the body, so this
/// bound counts every bracket. A Kubernetes object is nowhere near it, even with JSON inside
/// its annotations.
pub const MAX_BRACKET_DEPTH: usize = 256;

/// The widest indentation a YAML body may have (every line counts, quoted or not); a
/// Kubernetes object indented past it is nested hundreds of levels deep.
pub const MAX_INDENT: usize = 1024;

/// Why a body is refused before parsing, in the words `decode_body` prefixes with "error
/// decoding YAML: ".
pub fn check(body: &[u8]) -> Result<(), String> {
    check_flow_depth(body)?;
    check_brackets_and_indentation(body)
}

/// The bounds no quoting can hide: every bracket and every line's indentation count.
fn check_brackets_and_indentation(body: &[u8]) -> Result<(), String> {
    let (mut depth, mut indent) = (0usize, Some(0usize));
    for &byte in body {
        match (byte, indent) {
            (b'\n', _) => indent = Some(0),
            (b' ', Some(width)) if width + 1 > MAX_INDENT => {
                return Err(format!("indentation deeper than {MAX_INDENT} columns"));
            }
            (b' ', Some(width)) => indent = Some(width + 1),
            _ => indent = None,
        }
        match byte {
            b'{' | b'[' if depth + 1 > MAX_BRACKET_DEPTH => {
                return Err(format!("nesting deeper than {MAX_BRACKET_DEPTH} levels"));
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The flow nesting of the body's structure, quoted scalars and comments left out: the usual
/// case, where quotes are what they seem, gets serde_json's bound.
fn check_flow_depth(body: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut previous = b'\n';
    let mut bytes = body.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        if let Some(open) = quote {
            match byte {
                b'\\' if open == b'"' => {
                    bytes.next();
                }
                _ if byte == open => quote = None,
                _ => {}
            }
            previous = byte;
            continue;
        }
        match byte {
            b'"' | b'\'' if starts_scalar(previous) => quote = Some(byte),
            b'#' if previous.is_ascii_whitespace() => skip_comment(&mut bytes),
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(format!("nesting deeper than {MAX_FLOW_DEPTH} levels"));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = byte;
    }
    Ok(())
}

/// Whether a quote after `previous` opens a quoted scalar (an apostrophe inside a plain
/// scalar, `it's`, does not).
fn starts_scalar(previous: u8) -> bool {
    previous.is_ascii_whitespace() || matches!(previous, b':' | b'[' | b'{' | b',' | b'-')
}

/// Skips the rest of a comment line, leaving the line break to be read.
fn skip_comment(bytes: &mut std::iter::Peekable<impl Iterator<Item = u8>>) {
    while bytes.next_if(|byte| *byte != b'\n').is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<(), String> {
        check(text.as_bytes())
    }

    #[test]
    fn kubernetes_objects_of_every_style_pass() {
        let block = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: db\n  annotations:\n    note: it's {not} [nested]\n    json: '{\"a\": {\"b\": [1, {\"c\": 2}]}}'\nspec:\n  tags:\n  - name: \"8\" # a comment with { braces\n    from: {kind: DockerImage, name: \"x:8\"}\n";
        assert_eq!(check_text(block), Ok(()));
        let json = r#"{"metadata": {"name": "db", "annotations": {"q": "say \"{{\" and \\"}}}"#;
        assert_eq!(check_text(json), Ok(()));
        let nested_just_enough = format!(
            "{}1{}",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(check(nested_just_enough.as_bytes()), Ok(()));
    }

    #[test]
    fn deep_flow_nesting_and_deep_indentation_are_refused_before_parsing() {
        let flow = format!("{}1{}", "{\"a\":".repeat(40_000), "}".repeat(40_000));
        assert_eq!(
            check_text(&flow),
            Err("nesting deeper than 128 levels".into())
        );
        let lists = format!("{}1", "[".repeat(MAX_FLOW_DEPTH + 1));
        assert!(check_text(&lists).is_err());
        let indented = format!("a:\n{}b: 1\n", " ".repeat(MAX_INDENT + 1));
        assert_eq!(
            check_text(&indented),
            Err("indentation deeper than 1024 columns".into())
        );
    }

    #[test]
    fn braces_inside_quoted_scalars_and_comments_count_only_toward_the_wide_bound() {
        let quoted = format!(
            "a: \"{}\"\nb: '{}'\n# {}\n",
            "{".repeat(200),
            "]".repeat(200),
            "{".repeat(50)
        );
        assert_eq!(check_text(&quoted), Ok(()));
        let many = format!("a: \"{}\"\n", "{".repeat(MAX_BRACKET_DEPTH + 1));
        assert_eq!(
            check_text(&many),
            Err("nesting deeper than 256 levels".into())
        );
    }

    #[test]
    fn an_apostrophe_or_quote_in_a_plain_scalar_hides_no_nesting() {
        for opening in ["note: it 's\n", "say: \"hi\n", "x: x-'y\n", "a: b:'c\n"] {
            let nested = "{\"a\":".repeat(40_000) + "1" + &"}".repeat(40_000);
            let flow = format!("{opening}d: {nested}\n");
            assert!(check_text(&flow).is_err(), "{opening}");
            let block = format!("{opening}e:\n{}f: 1\n", " ".repeat(MAX_INDENT + 1));
            assert!(check_text(&block).is_err(), "{opening}");
        }
    }
}
