//! The selector parser: requirements from tokens, with apimachinery's error wording.

use std::collections::BTreeSet;

use crate::field::{aggregate_message, FieldError};

use super::lex::{lex, Token};
use super::validate::{label_value_problems, validate_key};
use super::{Operator, Requirement, SelectorError};

/// In value position `in` and `notin` are ordinary identifiers (`x in (in)`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// A recursive-descent parser over the lexed tokens, as apimachinery's `Parser`.
pub(super) struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

type Step<T> = Result<T, String>;

impl Parser {
    pub(super) fn new(input: &str) -> Self {
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

    pub(super) fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
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
