//! Plain scalars the way kubectl reads them, and writing strings so kubectl reads them back as
//! strings.
//!
//! kubectl decodes YAML with sigs.k8s.io/yaml, a fork of go-yaml v2: YAML 1.1, where plain
//! `yes`, `on`, `n` are booleans and `0644` is octal 420. [`resolve_plain`] follows go-yaml v2's
//! `resolve` (including what it leaves out: no sexagesimal `1:20`, timestamps stay strings).

/// Which YAML reader a text is read as: it decides what a plain `on` or `no` means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Schema {
    /// kubectl's (sigs.k8s.io/yaml, go-yaml v2, YAML 1.1): `y`, `yes`, `on`, `n`, `no`, `off`
    /// are booleans. Manifests given to `resolve`.
    #[default]
    Yaml11,
    /// kustomize's and kpt's (kyaml, go-yaml v3, YAML 1.2): only `true` and `false` are, the
    /// other words are strings. The `ResourceList` a KRM function is given.
    Yaml12,
}

/// What a plain (unquoted, untagged) scalar means to go-yaml v2.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Plain {
    /// A string: the text itself.
    Str,
    /// `~`, `null`, `Null`, `NULL` or nothing.
    Null,
    /// `y`, `yes`, `on`, `true`, `n`, `no`, `off`, `false` in their three casings.
    Bool(bool),
    /// A signed integer (decimal, `0` octal, `0o`, `0x`, `0b`; `_` ignored).
    Int(i64),
    /// An integer above `i64::MAX`.
    Uint(u64),
    /// A finite float, or `.inf` / `.nan` (which JSON cannot hold).
    Float(f64),
}

/// Resolves a plain scalar as go-yaml v2 does, or, under [`Schema::Yaml12`], go-yaml v3 (which
/// differs only in its booleans: it reads `0644` as octal and `1_000` as a number too).
pub(crate) fn resolve_plain(text: &str, schema: Schema) -> Plain {
    if let Some(keyword) = keyword(text) {
        return match (keyword, schema) {
            (Plain::Bool(_), Schema::Yaml12) if !is_yaml12_bool(text) => Plain::Str,
            _ => keyword,
        };
    }
    match text.as_bytes().first() {
        Some(b'.') if is_dot_float(text) => text.parse().map_or(Plain::Str, Plain::Float),
        Some(b'0'..=b'9' | b'+' | b'-') => number(&text.replace('_', "")),
        _ => Plain::Str,
    }
}

/// The booleans of go-yaml v3's resolver.
fn is_yaml12_bool(text: &str) -> bool {
    matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

fn keyword(text: &str) -> Option<Plain> {
    let value = match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Plain::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Plain::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Plain::Null,
        ".nan" | ".NaN" | ".NAN" => Plain::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Plain::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Plain::Float(f64::NEG_INFINITY),
        _ => return None,
    };
    Some(value)
}

/// Go's `ParseInt(s, 0, 64)`, then `ParseUint`, then a YAML-style float: the order go-yaml tries.
fn number(text: &str) -> Plain {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if let Some(magnitude) = go_integer(unsigned) {
        let signed = if negative {
            0i128 - i128::from(magnitude)
        } else {
            i128::from(magnitude)
        };
        if let Ok(int) = i64::try_from(signed) {
            return Plain::Int(int);
        }
        if !negative && !text.starts_with('+') {
            return Plain::Uint(magnitude);
        }
    }
    if is_yaml_float(text) {
        if let Ok(float) = text.parse::<f64>() {
            if float.is_finite() {
                return Plain::Float(float);
            }
        }
    }
    Plain::Str
}

/// An unsigned integer with Go's base prefixes (`0x`, `0o`, `0b`, and a bare leading `0` for octal).
fn go_integer(digits: &str) -> Option<u64> {
    let lower = digits.get(..2).map(str::to_ascii_lowercase);
    let (radix, body) = match lower.as_deref() {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
        _ => (10, digits),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(body, radix).ok()
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|exponent| {
        let digits = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
        !digits.is_empty() && all_digits(digits)
    });
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            all_digits(whole) && all_digits(fraction) && !(whole.is_empty() && fraction.is_empty())
        }
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    exponent_ok && mantissa_ok
}

/// `.5`, `.25e3`: the floats go-yaml's `ParseFloat` accepts after a leading dot.
fn is_dot_float(text: &str) -> bool {
    text.as_bytes().get(1).is_some_and(u8::is_ascii_digit) && is_yaml_float(text)
}

/// Whether `text` can be written as a plain scalar that both kubectl (YAML 1.1) and YAML 1.2
/// readers take as this very string. Deliberately narrow: letters first, then the characters
/// of image references and Kubernetes names. `flow` is true inside `[…]` or `{…}`.
pub(crate) fn fits_plain(text: &str, flow: bool) -> bool {
    let safe_char = |c: char| c.is_ascii_alphanumeric() || "-._/@+~=".contains(c) || c == ':';
    let starts_with_letter = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
    starts_with_letter
        && text.chars().all(safe_char)
        && !text.ends_with(':')
        && !(flow && text.contains(':'))
        && resolve_plain(text, Schema::Yaml11) == Plain::Str
}

/// `text` as a double-quoted YAML scalar. Besides control characters, the characters YAML 1.1
/// counts as line breaks (NEL, LS, PS) and the byte order mark are escaped.
pub(crate) fn double_quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if needs_escape(c) => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Control characters, the characters YAML 1.1 counts as line breaks, and the byte order mark.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// `text` as a single-quoted scalar, or `None` when it holds a character that single quotes
/// cannot carry on one line (a line break or another control character).
pub(crate) fn single_quoted(text: &str) -> Option<String> {
    if text.chars().any(needs_escape) {
        return None;
    }
    Some(format!("'{}'", text.replace('\'', "''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Plain) {
        assert_eq!(resolve_plain(text, Schema::Yaml11), expected, "{text:?}");
    }

    #[test]
    fn yaml_1_1_booleans_and_nulls_are_recognised_in_every_casing() {
        for text in [
            "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True",
        ] {
            check(text, Plain::Bool(true));
        }
        for text in ["n", "N", "no", "NO", "off", "Off", "false", "FALSE"] {
            check(text, Plain::Bool(false));
        }
        for text in ["", "~", "null", "Null", "NULL"] {
            check(text, Plain::Null);
        }
        for text in ["yEs", "oN", "nil", "none", "True1"] {
            check(text, Plain::Str);
        }
    }

    /// Each expectation was checked against kubectl 1.37's `label --local -o json` of a
    /// `defaultMode` field.
    #[test]
    fn yaml_1_2_reads_only_true_and_false_as_booleans_and_the_rest_as_yaml_1_1_does() {
        let yaml12 = |text: &str| resolve_plain(text, Schema::Yaml12);
        for word in [
            "y", "Y", "yes", "Yes", "on", "ON", "n", "no", "NO", "off", "Off",
        ] {
            assert_eq!(yaml12(word), Plain::Str, "{word}");
        }
        for (word, flag) in [("true", true), ("True", true), ("FALSE", false)] {
            assert_eq!(yaml12(word), Plain::Bool(flag), "{word}");
        }
        assert_eq!(yaml12("~"), Plain::Null);
        assert_eq!(
            yaml12("0644"),
            Plain::Int(420),
            "go-yaml v3 keeps 1.1 octals"
        );
        assert_eq!(yaml12("1_000"), Plain::Int(1000));
    }

    #[test]
    fn integers_follow_go_base_prefixes_and_ignore_underscores() {
        check("0644", Plain::Int(420));
        check("0o17", Plain::Int(15));
        check("0x1F", Plain::Int(31));
        check("0b11", Plain::Int(3));
        check("-0b11", Plain::Int(-3));
        check("+12", Plain::Int(12));
        check("1_000", Plain::Int(1000));
        check("0_7", Plain::Int(7));
        check("18446744073709551615", Plain::Uint(u64::MAX));
    }

    #[test]
    fn floats_are_yaml_style_and_a_bad_octal_falls_through_to_float() {
        check("08", Plain::Float(8.0));
        check("09.5", Plain::Float(9.5));
        check("1e3", Plain::Float(1000.0));
        check("1.0", Plain::Float(1.0));
        check(".5", Plain::Float(0.5));
        check("-1.5e-3", Plain::Float(-0.0015));
        assert!(
            matches!(resolve_plain(".inf", Schema::Yaml11), Plain::Float(f) if f.is_infinite())
        );
        for text in [
            "1:20",
            "2026-01-01",
            "1e",
            "0.1.2",
            ".",
            "1e400",
            "+",
            "-",
            "0x",
            "1.2.3",
        ] {
            check(text, Plain::Str);
        }
    }

    fn check_plain(text: &str, block: bool, flow: bool) {
        assert_eq!(fits_plain(text, false), block, "{text:?} in block context");
        assert_eq!(fits_plain(text, true), flow, "{text:?} in flow context");
    }

    #[test]
    fn pull_specs_stay_plain_and_ambiguous_strings_do_not() {
        let digest = "quay.io/x/mysql@sha256:1111111111111111111111111111111111111111111111111111111111111111";
        check_plain(digest, true, false);
        check_plain("mysql", true, true);
        check_plain("registry:5000/demo/mysql:8", true, false);
        for text in [
            "yes",
            "on",
            "n",
            "0644",
            "1.27",
            "10.0.0.1:5000/x",
            "",
            "a b",
            "a:",
            "#x",
        ] {
            check_plain(text, false, false);
        }
    }

    #[test]
    fn quoting_escapes_what_each_style_needs() {
        assert_eq!(double_quoted("a\"b\\c\n\u{2028}é"), r#""a\"b\\c\n\u2028é""#);
        assert_eq!(single_quoted("it's").as_deref(), Some("'it''s'"));
        assert_eq!(single_quoted("a\nb"), None);
    }
}
