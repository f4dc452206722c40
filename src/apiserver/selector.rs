//! Kubernetes label selectors (`labelSelector=`): apimachinery's `labels.Parse` grammar, its
//! key and value validation, and its error wording, so that kubectl prints the same messages
//! it prints against a real apiserver (k8s-api-contract §2.4).
//!
//! ```text
//! selector    ::= requirement | requirement "," selector
//! requirement ::= ["!"] KEY [ ("in" | "notin") "(" values ")" | ("=" | "==" | "!=" | ">" | "<") VALUE ]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::error::ApiError;
use crate::field::{aggregate_message, FieldError};

/// A parse error, worded exactly as apimachinery words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

impl From<SelectorError> for ApiError {
    fn from(error: SelectorError) -> Self {
        ApiError::BadRequest(error.0)
    }
}

/// How a requirement relates a label to its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `k=v`
    Equals,
    /// `k==v`
    DoubleEquals,
    /// `k!=v`; also matches objects without the label.
    NotEquals,
    /// `k in (a,b)`
    In,
    /// `k notin (a,b)`; also matches objects without the label.
    NotIn,
    /// `k`
    Exists,
    /// `!k`
    DoesNotExist,
    /// `k>N`, integers only.
    GreaterThan,
    /// `k<N`, integers only.
    LessThan,
}

/// One comma-separated term of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The relation.
    pub operator: Operator,
    /// The values, sorted and de-duplicated; empty for `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

impl Requirement {
    /// Whether these labels satisfy the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let listed = |v: &String| self.values.contains(v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => value.is_some_and(listed),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(listed),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => self.compares(value),
        }
    }

    fn compares(&self, value: Option<&String>) -> bool {
        let (Some(actual), [bound]) = (value, self.values.as_slice()) else {
            return false;
        };
        let (Ok(actual), Ok(bound)) = (actual.parse::<i64>(), bound.parse::<i64>()) else {
            return false;
        };
        match self.operator {
            Operator::GreaterThan => actual > bound,
            _ => actual < bound,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let values = self.values.join(",");
        match self.operator {
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::Equals => write!(f, "{key}={values}"),
            Operator::DoubleEquals => write!(f, "{key}=={values}"),
            Operator::NotEquals => write!(f, "{key}!={values}"),
            Operator::GreaterThan => write!(f, "{key}>{values}"),
            Operator::LessThan => write!(f, "{key}<{values}"),
            Operator::In => write!(f, "{key} in ({values})"),
            Operator::NotIn => write!(f, "{key} notin ({values})"),
        }
    }
}

/// A parsed label selector: the AND of its requirements. The default matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses `labelSelector`; `""` selects everything.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(selector).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this selector restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether these labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object (its JSON) satisfies the selector, reading `metadata.labels`.
    pub fn matches_object(&self, object: &Value) -> bool {
        let labels: BTreeMap<String, String> = object["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        self.matches(&labels)
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(selector: &str) -> Result<Self, Self::Err> {
        Self::parse(selector)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

// === lexer ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
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
fn lex(input: &str) -> Vec<(Token, String)> {
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

// === parser ===

/// In value position `in` and `notin` are ordinary identifiers (`x in (in)`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

type Step<T> = Result<T, String>;

impl Parser {
    fn new(input: &str) -> Self {
        Self {
            items: lex(input),
            position: 0,
        }
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        let (token, literal) = self.items[self.position].clone();
        match (context, token) {
            (Context::Values, Token::In | Token::NotIn) => (Token::Identifier, literal),
            _ => (token, literal),
        }
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position = (self.position + 1).min(self.items.len() - 1);
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {}
                Token::End => return Ok(requirements),
                _ => return Err(found(&literal, "!, identifier, or 'end of string'")),
            }
            let requirement = self
                .requirement()
                .map_err(|e| SelectorError(format!("unable to parse requirement: {e}")))?;
            requirements.push(requirement);
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::End => return Ok(requirements),
                Token::Comma => {
                    let (next, literal) = self.lookahead(Context::Values);
                    if !matches!(next, Token::Identifier | Token::DoesNotExist) {
                        return Err(found(&literal, "identifier after ','"));
                    }
                }
                _ => return Err(found(&literal, "',' or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Step<Requirement> {
        let (key, inferred) = self.key_and_inferred_operator()?;
        if let Some(operator) = inferred {
            return new_requirement(key, operator, Vec::new());
        }
        let operator = self.operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        new_requirement(key, operator, values.into_iter().collect())
    }

    fn key_and_inferred_operator(&mut self) -> Step<(String, Option<Operator>)> {
        let (mut token, mut literal) = self.consume(Context::Values);
        let negated = token == Token::DoesNotExist;
        if negated {
            (token, literal) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        if let Some(error) = validate_key(&literal, "<nil>") {
            return Err(error.to_string());
        }
        let (next, _) = self.lookahead(Context::Values);
        let operator = match (negated, next) {
            (true, _) => Some(Operator::DoesNotExist),
            (false, Token::End | Token::Comma) => Some(Operator::Exists),
            _ => None,
        };
        Ok((literal, operator))
    }

    fn operator(&mut self) -> Step<Operator> {
        let (token, literal) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            // apimachinery's message really has this unbalanced quote.
            _ => {
                return Err(format!(
                    "found '{literal}', expected: '=', '!=', '==', 'in', notin'"
                ))
            }
        })
    }

    fn value_set(&mut self) -> Step<BTreeSet<String>> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let values = self.identifiers()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    return Err(format!("found '{literal}', expected: ')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!(
                "found '{literal}', expected: ',', ')' or identifier"
            )),
        }
    }

    /// A comma-separated list in which empty members are the empty value (`(a,,b)`, `(,)`).
    fn identifiers(&mut self) -> Step<BTreeSet<String>> {
        let mut values = BTreeSet::new();
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    values.insert(literal);
                    let (next, literal) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{literal}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            values.insert(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.consume(Context::Values);
                            values.insert(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Step<BTreeSet<String>> {
        if matches!(self.lookahead(Context::Values).0, Token::End | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        match self.consume(Context::Values) {
            (Token::Identifier, literal) => Ok(BTreeSet::from([literal])),
            (_, literal) => Err(format!("found '{literal}', expected: identifier")),
        }
    }
}

fn found(literal: &str, expected: &str) -> SelectorError {
    SelectorError(format!("found '{literal}', expected: {expected}"))
}

/// apimachinery's `NewRequirement` checks, aggregated like `ErrorList.ToAggregate`.
fn new_requirement(key: String, operator: Operator, values: Vec<String>) -> Step<Requirement> {
    let mut errors: Vec<FieldError> = validate_key(&key, "key").into_iter().collect();
    if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
        for (i, value) in values.iter().enumerate() {
            if value.parse::<i64>().is_err() {
                let detail = "for 'Gt', 'Lt' operators, the value must be an integer";
                errors.push(FieldError::invalid(
                    format!("values[{i}]"),
                    value.as_str(),
                    detail,
                ));
            }
        }
    }
    for (i, value) in values.iter().enumerate() {
        let problems = label_value_problems(value);
        if !problems.is_empty() {
            let field = format!("values[{i}][{key}]");
            errors.push(FieldError::invalid(
                field,
                value.as_str(),
                problems.join("; "),
            ));
        }
    }
    if errors.is_empty() {
        Ok(Requirement {
            key,
            operator,
            values,
        })
    } else {
        Err(aggregate_message(&errors))
    }
}

// === validation (k8s.io/apimachinery/pkg/util/validation) ===

const QUALIFIED_NAME_MESSAGE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const DNS_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn validate_key(key: &str, field: &str) -> Option<FieldError> {
    let problems = qualified_name_problems(key);
    (!problems.is_empty()).then(|| FieldError::invalid(field, key, problems.join("; ")))
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn qualified_name_problems(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let mut problems = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                problems.push("prefix part must be non-empty".to_string());
            } else {
                let prefixed = dns_subdomain_problems(prefix).into_iter();
                problems.extend(prefixed.map(|p| format!("prefix part {p}")));
            }
            *name
        }
        _ => {
            return vec![format!("a qualified name {QUALIFIED_NAME_MESSAGE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")];
        }
    };
    if name.is_empty() {
        problems.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        problems.push("name part must be no more than 63 characters".into());
    }
    if !is_qualified_name_part(name) {
        problems.push(format!("name part {QUALIFIED_NAME_MESSAGE}"));
    }
    problems
}

fn label_value_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > 63 {
        problems.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        problems.push(LABEL_VALUE_MESSAGE.to_string());
    }
    problems
}

fn dns_subdomain_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > 253 {
        problems.push("must be no more than 253 characters".to_string());
    }
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        matches!((bytes.first(), bytes.last()), (Some(f), Some(l))
            if (f.is_ascii_lowercase() || f.is_ascii_digit()) && (l.is_ascii_lowercase() || l.is_ascii_digit()))
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    };
    if !value.split('.').all(label_ok) {
        problems.push(DNS_SUBDOMAIN_MESSAGE.to_string());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Parses `selector` and checks it against each label set.
    fn check(selector: &str, cases: &[(&[(&str, &str)], bool)]) {
        let parsed = LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
        for (set, expected) in cases {
            assert_eq!(
                parsed.matches(&labels(set)),
                *expected,
                "{selector} on {set:?}"
            );
        }
    }

    fn check_error(selector: &str, expected: &str) {
        assert_eq!(
            LabelSelector::parse(selector).unwrap_err().to_string(),
            expected,
            "{selector}"
        );
    }

    #[test]
    fn equality_operators_match_exact_values() {
        let app = [("app", "demo")];
        let other = [("app", "web")];
        for selector in ["app=demo", "app==demo", " app = demo ", "app in (demo)"] {
            check(selector, &[(&app, true), (&other, false), (&[], false)]);
        }
    }

    #[test]
    fn negative_operators_match_objects_without_the_key() {
        let app = [("app", "demo")];
        let other = [("app", "web")];
        for selector in ["app!=demo", "app notin (demo,x)"] {
            check(selector, &[(&app, false), (&other, true), (&[], true)]);
        }
    }

    #[test]
    fn existence_operators_look_only_at_the_key() {
        let set = [("tier", "")];
        check("tier", &[(&set, true), (&[], false)]);
        check("!tier", &[(&set, false), (&[], true)]);
    }

    #[test]
    fn commas_are_and() {
        let both = [("a", "1"), ("b", "2")];
        let one = [("a", "1")];
        check(
            "a=1,b in (2,3),!c",
            &[
                (&both, true),
                (&one, false),
                (&[("a", "1"), ("b", "2"), ("c", "")], false),
            ],
        );
    }

    #[test]
    fn numeric_comparisons_need_integer_labels() {
        let five = [("n", "5")];
        let word = [("n", "five")];
        check("n>4", &[(&five, true), (&word, false), (&[], false)]);
        check("n<5", &[(&five, false), (&[("n", "-3")], true)]);
    }

    #[test]
    fn empty_values_are_allowed() {
        check("a=", &[(&[("a", "")], true), (&[("a", "x")], false)]);
        check("a in ()", &[(&[("a", "")], true)]);
        check("a in (,x)", &[(&[("a", "")], true), (&[("a", "x")], true)]);
    }

    #[test]
    fn keywords_are_identifiers_in_value_position() {
        check("in in (in,notin)", &[(&[("in", "notin")], true)]);
    }

    #[test]
    fn prefixed_keys_are_accepted() {
        check(
            "app.kubernetes.io/name=demo",
            &[(&[("app.kubernetes.io/name", "demo")], true)],
        );
    }

    #[test]
    fn empty_selector_matches_everything() {
        let everything = LabelSelector::parse("  ").unwrap();
        assert!(everything.is_empty());
        assert!(everything.matches(&labels(&[("x", "y")])));
    }

    #[test]
    fn display_is_canonical_and_sorted_by_key() {
        let parsed = LabelSelector::parse("z notin (b,a), a==1, !x, y").unwrap();
        assert_eq!(parsed.to_string(), "a==1,!x,y,z notin (a,b)");
    }

    #[test]
    fn matches_object_reads_metadata_labels() {
        let parsed = LabelSelector::parse("app=demo").unwrap();
        assert!(parsed.matches_object(&json!({"metadata": {"labels": {"app": "demo"}}})));
        assert!(!parsed.matches_object(&json!({"metadata": {}})));
    }

    #[test]
    fn structural_errors_mirror_apimachinery() {
        check_error("app=demo,", "found '', expected: identifier after ','");
        check_error(
            "=demo",
            "found '=', expected: !, identifier, or 'end of string'",
        );
        check_error("!a=b", "found '=', expected: ',' or 'end of string'");
        check_error("a=b c", "found 'c', expected: ',' or 'end of string'");
    }

    #[test]
    fn requirement_errors_are_prefixed() {
        check_error(
            "a b",
            "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'",
        );
        check_error(
            "a in b",
            "unable to parse requirement: found 'b' expected: '('",
        );
        check_error(
            "a in (b",
            "unable to parse requirement: found '', expected: ',' or ')'",
        );
        check_error(
            "a in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
        );
        check_error(
            "a==!",
            "unable to parse requirement: found '!', expected: identifier",
        );
        check_error(
            "!",
            "unable to parse requirement: found '', expected: identifier",
        );
    }

    #[test]
    fn invalid_keys_name_the_nil_path_like_apimachinery() {
        check_error("app:monolith", "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
        check_error("a/b/c=d", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
        check_error("Bad_Prefix/x", "unable to parse requirement: <nil>: Invalid value: \"Bad_Prefix/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
        let long = "k".repeat(64);
        check_error(
            &long,
            &format!("unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 characters"),
        );
    }

    #[test]
    fn invalid_values_name_the_value_path() {
        check_error("app=-x", "unable to parse requirement: values[0][app]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
        check_error(
            "n>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer",
        );
        let single = LabelSelector::parse("n<-1").unwrap_err().to_string();
        assert!(
            single.starts_with(
                "unable to parse requirement: values[0][n]: Invalid value: \"-1\": a valid label"
            ),
            "{single}"
        );
        let several = LabelSelector::parse("n>-x").unwrap_err().to_string();
        assert!(several.starts_with("unable to parse requirement: [values[0]: Invalid value: \"-x\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][n]: Invalid value: \"-x\""), "{several}");
    }

    #[test]
    fn selector_errors_become_bad_requests() {
        let error: ApiError = LabelSelector::parse("a b").unwrap_err().into();
        assert_eq!(error.code(), 400);
    }
}
