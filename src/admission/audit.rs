//! The admission response's audit annotations: the rewrites as JSON, carried as a JSON string
//! value, so escaped twice.
//!
//! Serialising the rewrites and then the string holding them escaped every byte twice through
//! serde_json's byte-at-a-time escaper, about 19,000 instructions of a 141,000-instruction
//! `/mutate` (`make bench-instructions`). Here the doubly escaped text is written in one pass,
//! and text that needs no escaping (paths, references, most reasons) is copied whole.

use super::decision::{Rewrite, AUDIT_REWRITES, AUDIT_UNRESOLVED};
use super::JsonText;

/// `{"rewrites":"[{\"path\":…,\"from\":…,\"to\":…,\"reason\":…}]","unresolved":"[…]"}`, byte
/// for byte what serialising each list to a string and those strings in a map would give; a
/// key only when its list has entries, `None` when neither has.
pub fn audit_annotations(rewrites: &[Rewrite], unresolved: &[String]) -> Option<JsonText> {
    if rewrites.is_empty() && unresolved.is_empty() {
        return None;
    }
    let text: usize = rewrites
        .iter()
        .map(|r| r.path.len() + r.from.len() + r.to.len() + r.reason.len() + 64)
        .sum();
    let mut out = String::with_capacity(text + AUDIT_REWRITES.len() + 8);
    out.push('{');
    if !rewrites.is_empty() {
        push_rewrites(&mut out, rewrites);
    }
    if !unresolved.is_empty() {
        if !rewrites.is_empty() {
            out.push(',');
        }
        // Only when something failed to pin: off the fast path, so serde_json writes the list.
        let list = serde_json::to_string(unresolved).expect("strings serialise");
        out.push('"');
        push_escaped(&mut out, AUDIT_UNRESOLVED);
        out.push_str("\":\"");
        push_escaped(&mut out, &list);
        out.push('"');
    }
    out.push('}');
    Some(JsonText::written(out))
}

/// `"rewrites":"[…]"`: the rewrites as a JSON list inside a JSON string, in one pass.
fn push_rewrites(out: &mut String, rewrites: &[Rewrite]) {
    out.push('"');
    push_escaped(out, AUDIT_REWRITES);
    out.push_str("\":\"[");
    for (index, rewrite) in rewrites.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let members = [
            ("path", &rewrite.path),
            ("from", &rewrite.from),
            ("to", &rewrite.to),
            ("reason", &rewrite.reason),
        ];
        out.push('{');
        for (member, (name, value)) in members.into_iter().enumerate() {
            if member > 0 {
                out.push(',');
            }
            // `"name":"value"` inside the outer string: each quote escaped once.
            out.push_str("\\\"");
            out.push_str(name);
            out.push_str("\\\":\\\"");
            push_escaped_twice(out, value);
            out.push_str("\\\"");
        }
        out.push('}');
    }
    out.push_str("]\"");
}

/// Whether JSON escapes `byte` inside a string (all such bytes are ASCII, so the text between
/// them is whole characters). Bitwise, not short-circuiting, so that a block's test vectorises.
fn needs_escape(byte: u8) -> bool {
    (byte < 0x20) | (byte == b'"') | (byte == b'\\')
}

/// Bytes tested at once for a byte to escape.
const BLOCK: usize = 16;

/// `text` as the contents of a JSON string, escaped as serde_json escapes it.
fn push_escaped(out: &mut String, text: &str) {
    push_with(out, text, false);
}

/// `text` as the contents of a JSON string inside a JSON string: escaped, and the escaped
/// form escaped again.
fn push_escaped_twice(out: &mut String, text: &str) {
    push_with(out, text, true);
}

/// Copies the runs of `text` that need no escaping whole, and escapes the bytes between them.
/// A block of [`BLOCK`] bytes with nothing to escape is passed in one branch-free test, which
/// the compiler vectorises (serde_json tests byte by byte, about ten instructions a byte).
fn push_with(out: &mut String, text: &str, twice: bool) {
    let bytes = text.as_bytes();
    let (mut run, mut at) = (0, 0);
    while at < bytes.len() {
        let clean = bytes.get(at..at + BLOCK).is_some_and(|block| {
            !block
                .iter()
                .fold(false, |any, &byte| any | needs_escape(byte))
        });
        if clean {
            at += BLOCK;
            continue;
        }
        if needs_escape(bytes[at]) {
            out.push_str(&text[run..at]);
            push_escape(out, bytes[at], twice);
            run = at + 1;
        }
        at += 1;
    }
    out.push_str(&text[run..]);
}

/// serde_json's escape of `byte` (`\"`, `\n`, `\u001f`, …), with its backslash and quote
/// escaped again when `twice`.
fn push_escape(out: &mut String, byte: u8, twice: bool) {
    let backslash = if twice { "\\\\" } else { "\\" };
    out.push_str(backslash);
    match byte {
        b'"' if twice => out.push_str("\\\""),
        b'"' => out.push('"'),
        b'\\' => out.push_str(backslash),
        0x08 => out.push('b'),
        0x0c => out.push('f'),
        b'\n' => out.push('n'),
        b'\r' => out.push('r'),
        b'\t' => out.push('t'),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

#[cfg(test)]
mod tests;
