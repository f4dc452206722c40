//! The selector lexer: identifiers, operators and punctuation, as apimachinery's `Lexer`.

/// A token kind, named as apimachinery's `Token` constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(literal: &str) -> Option<Token> {
    Some(match literal {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(byte: u8) -> bool {
    matches!(byte, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input the way apimachinery's `Lexer` does; a NUL byte ends the input there too.
pub(super) fn lex(input: &str) -> Vec<(Token, String)> {
    let bytes = input.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut items = Vec::new();
    let mut pos = 0;
    loop {
        while pos < end && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        if pos == end {
            items.push((Token::End, String::new()));
            return items;
        }
        let start = pos;
        if is_special(bytes[pos]) {
            items.push(scan_special(input, &mut pos, end));
            continue;
        }
        while pos < end && !is_special(bytes[pos]) && !is_whitespace(bytes[pos]) {
            pos += 1;
        }
        let literal = &input[start..pos];
        items.push((
            keyword(literal).unwrap_or(Token::Identifier),
            literal.into(),
        ));
    }
}

/// The longest run of special symbols that is still a token (`!=` rather than `!`).
fn scan_special(input: &str, pos: &mut usize, end: usize) -> (Token, String) {
    let start = *pos;
    let mut best = None;
    while *pos < end && is_special(input.as_bytes()[*pos]) {
        let candidate = &input[start..=*pos];
        match keyword(candidate) {
            Some(token) => best = Some((token, candidate.to_string())),
            None if best.is_some() => break,
            None => {}
        }
        *pos += 1;
    }
    best.unwrap_or_else(|| {
        let found = &input[start..*pos];
        (
            Token::Error,
            format!("error expected: keyword found '{found}'"),
        )
    })
}
