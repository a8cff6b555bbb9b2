//! Choice rules: every comparison operator and its `*Path` variant, the type
//! tests (`IsPresent`, `IsNull`, ...), `StringMatches` and the `And`, `Or`
//! and `Not` combinators, compiled from the definition and evaluated against
//! a Choice state's effective input.
//!
//! As in AWS, a comparison between values of different types is simply
//! false, while a `Variable` that points at nothing is a runtime error
//! (except for `IsPresent`, whose whole point is to ask).

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::path::Path;

/// A compiled Choice rule.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// All of the rules hold.
    And(Vec<Rule>),
    /// At least one rule holds.
    Or(Vec<Rule>),
    /// The rule does not hold.
    Not(Box<Rule>),
    /// A test on the value at `variable`.
    Test {
        variable: Path,
        op: Op,
        operand: Operand,
    },
}

/// The value a comparison is made against.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// A literal from the definition.
    Literal(Value),
    /// A `*Path` operand, read from the input (or `$$`) at evaluation time.
    Path(Path),
}

/// A comparison or type test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

const OPERATORS: &[(&str, Op)] = &[
    ("StringEquals", Op::StringEquals),
    ("StringLessThan", Op::StringLessThan),
    ("StringGreaterThan", Op::StringGreaterThan),
    ("StringLessThanEquals", Op::StringLessThanEquals),
    ("StringGreaterThanEquals", Op::StringGreaterThanEquals),
    ("StringMatches", Op::StringMatches),
    ("NumericEquals", Op::NumericEquals),
    ("NumericLessThan", Op::NumericLessThan),
    ("NumericGreaterThan", Op::NumericGreaterThan),
    ("NumericLessThanEquals", Op::NumericLessThanEquals),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals),
    ("BooleanEquals", Op::BooleanEquals),
    ("TimestampEquals", Op::TimestampEquals),
    ("TimestampLessThan", Op::TimestampLessThan),
    ("TimestampGreaterThan", Op::TimestampGreaterThan),
    ("TimestampLessThanEquals", Op::TimestampLessThanEquals),
    ("TimestampGreaterThanEquals", Op::TimestampGreaterThanEquals),
    ("IsNull", Op::IsNull),
    ("IsPresent", Op::IsPresent),
    ("IsNumeric", Op::IsNumeric),
    ("IsString", Op::IsString),
    ("IsBoolean", Op::IsBoolean),
    ("IsTimestamp", Op::IsTimestamp),
];

impl Op {
    fn is_type_test(self) -> bool {
        matches!(
            self,
            Op::IsNull
                | Op::IsPresent
                | Op::IsNumeric
                | Op::IsString
                | Op::IsBoolean
                | Op::IsTimestamp
        )
    }
}

impl Rule {
    /// Compiles one rule. `at` is the rule's location, for messages; nested
    /// rules may not carry `Next`, top-level ones must (checked by the caller).
    pub(crate) fn compile(value: &Value, at: &str) -> Result<Self, String> {
        let object = value.as_object().ok_or_else(|| {
            format!("SCHEMA_VALIDATION_FAILED: a Choice Rule must be an object at {at}")
        })?;
        let mut found: Vec<Rule> = Vec::new();
        if let Some(list) = object.get("And").or_else(|| object.get("Or")) {
            let items = list.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                format!(
                    "SCHEMA_VALIDATION_FAILED: And and Or take a non-empty array of rules at {at}"
                )
            })?;
            let rules = items
                .iter()
                .enumerate()
                .map(|(i, r)| Self::compile(r, &format!("{at}/{i}")))
                .collect::<Result<Vec<_>, _>>()?;
            found.push(if object.contains_key("And") {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            });
        }
        if let Some(inner) = object.get("Not") {
            found.push(Rule::Not(Box::new(Self::compile(
                inner,
                &format!("{at}/Not"),
            )?)));
        }
        for (key, operand) in object {
            if let Some(test) = Self::compile_test(object, key, operand, at)? {
                found.push(test);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(format!(
                "SCHEMA_VALIDATION_FAILED: The Choice Rule has no comparison operator at {at}"
            )),
            _ => Err(format!(
                "SCHEMA_VALIDATION_FAILED: The Choice Rule has more than one comparison operator at {at}"
            )),
        }
    }

    /// The test that the field `key` of a rule makes, when `key` names a
    /// comparison operator or type test (or the `*Path` form of one).
    fn compile_test(
        object: &Map<String, Value>,
        key: &str,
        operand: &Value,
        at: &str,
    ) -> Result<Option<Self>, String> {
        let (name, is_path) = match key.strip_suffix("Path") {
            Some(base) if OPERATORS.iter().any(|(n, _)| *n == base) => (base, true),
            _ => (key, false),
        };
        let Some((_, op)) = OPERATORS.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        if is_path && (op.is_type_test() || *op == Op::StringMatches) {
            return Err(format!(
                "SCHEMA_VALIDATION_FAILED: The field '{key}' is not supported by Step Functions at {at}"
            ));
        }
        let variable = object
            .get("Variable")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                format!("SCHEMA_VALIDATION_FAILED: These fields are required: [Variable] at {at}")
            })
            .and_then(|v| {
                Path::parse(v)
                    .map_err(|e| format!("SCHEMA_VALIDATION_FAILED: {e} at {at}/Variable"))
            })?;
        let operand = if is_path {
            let text = operand.as_str().ok_or_else(|| {
                format!("SCHEMA_VALIDATION_FAILED: The value of '{key}' must be a path at {at}")
            })?;
            Operand::Path(
                Path::parse(text)
                    .map_err(|e| format!("SCHEMA_VALIDATION_FAILED: {e} at {at}/{key}"))?,
            )
        } else if literal_fits(*op, operand) {
            Operand::Literal(operand.clone())
        } else {
            return Err(format!(
                "SCHEMA_VALIDATION_FAILED: The value of '{key}' has the wrong type at {at}/{key}"
            ));
        };
        Ok(Some(Rule::Test {
            variable,
            op: *op,
            operand,
        }))
    }

    /// Evaluates the rule. The error is the detail of the `States.Runtime`
    /// failure AWS reports for a `Variable` that matches nothing.
    pub(crate) fn evaluate(&self, data: &Value, context: &Value) -> Result<bool, String> {
        match self {
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.evaluate(data, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for rule in rules {
                    if rule.evaluate(data, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.evaluate(data, context)?),
            Rule::Test {
                variable,
                op,
                operand,
            } => {
                let value = variable.select(data, context);
                if *op == Op::IsPresent {
                    let present = value.is_some_and(|v| !matches!(&v, Value::Array(a) if a.is_empty() && !variable.is_definite()));
                    return Ok(Some(present) == literal_bool(operand));
                }
                let Some(value) = value else {
                    return Err(format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        variable.text()
                    ));
                };
                let expected = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(p) => p.select(data, context).ok_or_else(|| {
                        format!("Invalid path '{}': The choice state's condition path references an invalid value.", p.text())
                    })?,
                };
                Ok(test(*op, &value, &expected))
            }
        }
    }
}

/// Whether a literal operand has the type its operator compares: a string,
/// a number, a timestamp string, or a boolean for BooleanEquals and the
/// type tests.
fn literal_fits(op: Op, operand: &Value) -> bool {
    match op {
        Op::StringEquals
        | Op::StringLessThan
        | Op::StringGreaterThan
        | Op::StringLessThanEquals
        | Op::StringGreaterThanEquals
        | Op::StringMatches => operand.is_string(),
        Op::NumericEquals
        | Op::NumericLessThan
        | Op::NumericGreaterThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThanEquals => operand.is_number(),
        Op::TimestampEquals
        | Op::TimestampLessThan
        | Op::TimestampGreaterThan
        | Op::TimestampLessThanEquals
        | Op::TimestampGreaterThanEquals => {
            operand.as_str().is_some_and(|s| timestamp(s).is_some())
        }
        _ => operand.is_boolean(),
    }
}

fn literal_bool(operand: &Operand) -> Option<bool> {
    match operand {
        Operand::Literal(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn test(op: Op, value: &Value, expected: &Value) -> bool {
    let string_cmp = || match (value, expected) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let numeric_cmp = || match (value, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        _ => None,
    };
    let timestamp_cmp = || match (value, expected) {
        (Value::String(a), Value::String(b)) => Some(timestamp(a)?.cmp(&timestamp(b)?)),
        _ => None,
    };
    let holds = |ordering: Option<Ordering>, want: fn(Ordering) -> bool| ordering.is_some_and(want);
    match op {
        Op::StringEquals => holds(string_cmp(), Ordering::is_eq),
        Op::StringLessThan => holds(string_cmp(), Ordering::is_lt),
        Op::StringGreaterThan => holds(string_cmp(), Ordering::is_gt),
        Op::StringLessThanEquals => holds(string_cmp(), Ordering::is_le),
        Op::StringGreaterThanEquals => holds(string_cmp(), Ordering::is_ge),
        Op::StringMatches => match (value, expected) {
            (Value::String(text), Value::String(pattern)) => string_matches(text, pattern),
            _ => false,
        },
        Op::NumericEquals => holds(numeric_cmp(), Ordering::is_eq),
        Op::NumericLessThan => holds(numeric_cmp(), Ordering::is_lt),
        Op::NumericGreaterThan => holds(numeric_cmp(), Ordering::is_gt),
        Op::NumericLessThanEquals => holds(numeric_cmp(), Ordering::is_le),
        Op::NumericGreaterThanEquals => holds(numeric_cmp(), Ordering::is_ge),
        Op::BooleanEquals => {
            matches!((value, expected), (Value::Bool(a), Value::Bool(b)) if a == b)
        }
        Op::TimestampEquals => holds(timestamp_cmp(), Ordering::is_eq),
        Op::TimestampLessThan => holds(timestamp_cmp(), Ordering::is_lt),
        Op::TimestampGreaterThan => holds(timestamp_cmp(), Ordering::is_gt),
        Op::TimestampLessThanEquals => holds(timestamp_cmp(), Ordering::is_le),
        Op::TimestampGreaterThanEquals => holds(timestamp_cmp(), Ordering::is_ge),
        Op::IsNull => value.is_null() == (expected == &Value::Bool(true)),
        Op::IsNumeric => value.is_number() == (expected == &Value::Bool(true)),
        Op::IsString => value.is_string() == (expected == &Value::Bool(true)),
        Op::IsBoolean => value.is_boolean() == (expected == &Value::Bool(true)),
        Op::IsTimestamp => {
            value.as_str().is_some_and(|s| timestamp(s).is_some())
                == (expected == &Value::Bool(true))
        }
        Op::IsPresent => unreachable!("IsPresent is answered before the value is read"),
    }
}

/// Parses a timestamp as the States Language requires: RFC 3339 with an
/// uppercase `T` and a time zone (`Z` or an offset).
pub(crate) fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if !text.contains('T') || text.contains('t') || text.contains('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok()
}

/// `StringMatches`: `*` matches any run of characters; `\*` is a literal
/// star and `\\` a literal backslash.
fn string_matches(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        Star,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(Token::Star),
            c => tokens.push(Token::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic wildcard matching with backtracking to the last star.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < tokens.len() && tokens[p] == Token::Char(text[t]) {
            t += 1;
            p += 1;
        } else if p < tokens.len() && tokens[p] == Token::Star {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    tokens[p..].iter().all(|t| *t == Token::Star)
}

/// The fields a top-level Choice rule may hold besides its operator.
pub(crate) fn rule_fields() -> impl Iterator<Item = String> {
    OPERATORS
        .iter()
        .flat_map(|(n, op)| {
            let mut names = vec![(*n).to_owned()];
            if !op.is_type_test() && *op != Op::StringMatches {
                names.push(format!("{n}Path"));
            }
            names
        })
        .chain(["Variable", "And", "Or", "Not", "Next", "Comment"].map(str::to_owned))
}

/// Reports fields of a rule object that no rule may have.
pub(crate) fn unknown_fields(object: &Map<String, Value>) -> Vec<String> {
    let known: Vec<String> = rule_fields().collect();
    object
        .keys()
        .filter(|k| !known.contains(k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_matches_handles_stars_and_escapes() {
        assert!(string_matches("log-2024.txt", "log-*.txt"));
        assert!(string_matches("a*b", r"a\*b"));
        assert!(!string_matches("axb", r"a\*b"));
        assert!(string_matches("anything", "*"));
        assert!(!string_matches("log.csv", "*.txt"));
        assert!(string_matches(r"a\b", r"a\\b"));
    }

    #[test]
    fn timestamps_need_an_uppercase_t_and_a_zone() {
        assert!(timestamp("2016-03-14T01:59:00Z").is_some());
        assert!(timestamp("2016-03-14T01:59:00+01:00").is_some());
        assert!(timestamp("2016-03-14t01:59:00Z").is_none());
        assert!(timestamp("2016-03-14T01:59:00").is_none());
    }

    #[test]
    fn mismatched_types_are_false_and_missing_variables_fail() {
        let rule = Rule::compile(&json!({"Variable": "$.x", "NumericEquals": 1}), "/").unwrap();
        assert_eq!(rule.evaluate(&json!({"x": "1"}), &json!({})), Ok(false));
        assert_eq!(rule.evaluate(&json!({"x": 1.0}), &json!({})), Ok(true));
        assert!(rule.evaluate(&json!({}), &json!({})).is_err());
        let present = Rule::compile(&json!({"Variable": "$.x", "IsPresent": false}), "/").unwrap();
        assert_eq!(present.evaluate(&json!({}), &json!({})), Ok(true));
    }
}
