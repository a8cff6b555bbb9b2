//! The `States.*` intrinsic functions of the JSONPath query language: their
//! parser (string literals with `\'`-style escapes, numbers, booleans, null,
//! paths and nested calls) and their evaluation with AWS's argument checks.
//!
//! The argument rules follow the "Intrinsic functions for JSONPath states"
//! page of the developer guide: an argument of the wrong type or count, an
//! index out of range or an unsupported hash algorithm is a
//! `States.IntrinsicFailure`, while a path that matches nothing is reported
//! the way a payload template reports it.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::path::Path;

/// A parsed intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    name: String,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Literal(Value),
    Path(Path),
    Call(Call),
}

/// Why an intrinsic could not be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IntrinsicError {
    /// A path argument matched nothing in the input.
    PathNotFound(String),
    /// An argument broke the function's rules; the text says which.
    Invalid(String),
}

/// Stand-ins for escaped `\{` and `\}` inside string literals (Unicode
/// private-use characters, which never come from a definition's escapes).
const OPEN_BRACE: char = '\u{E000}';
const CLOSE_BRACE: char = '\u{E001}';

fn restore_braces(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains([OPEN_BRACE, CLOSE_BRACE]) => {
            Value::String(s.replace(OPEN_BRACE, "{").replace(CLOSE_BRACE, "}"))
        }
        other => other,
    }
}

/// The most intrinsics AWS lets one field nest.
const MAX_NESTING: usize = 10;

/// Every intrinsic function of the JSONPath query language. A definition
/// naming any other is refused when it is created, as `CreateStateMachine`
/// refuses it, rather than failing the execution that reaches it.
const FUNCTIONS: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

/// Whether a `.$` value is an intrinsic call rather than a path.
pub(crate) fn is_intrinsic(text: &str) -> bool {
    text.starts_with("States.")
}

impl Call {
    /// Parses `States.Name(arg, ...)`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let call = parser.call(0)?;
        parser.skip_spaces();
        if parser.pos != parser.chars.len() {
            return Err(format!(
                "unexpected text after the intrinsic function in '{text}'"
            ));
        }
        Ok(call)
    }

    /// Evaluates the call against the state's data and the context object.
    pub(crate) fn evaluate(&self, data: &Value, context: &Value) -> Result<Value, IntrinsicError> {
        let mut args = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            args.push(match arg {
                Arg::Literal(v) if self.name == "States.Format" && args.is_empty() => v.clone(),
                Arg::Literal(v) => restore_braces(v.clone()),
                Arg::Path(p) => p
                    .select(data, context)
                    .ok_or_else(|| IntrinsicError::PathNotFound(p.text().to_owned()))?,
                Arg::Call(c) => c.evaluate(data, context)?,
            });
        }
        apply(&self.name, args)
            .map(restore_braces)
            .map_err(IntrinsicError::Invalid)
    }
}

fn invalid_args(name: &str, detail: &str) -> String {
    format!("Invalid arguments in {name}: {detail}")
}

fn expect_count(
    name: &str,
    args: &[Value],
    range: std::ops::RangeInclusive<usize>,
) -> Result<(), String> {
    if range.contains(&args.len()) {
        Ok(())
    } else if range.start() == range.end() {
        Err(invalid_args(
            name,
            &format!(
                "expected {} argument(s) but got {}",
                range.start(),
                args.len()
            ),
        ))
    } else {
        Err(invalid_args(
            name,
            &format!(
                "expected {} to {} arguments but got {}",
                range.start(),
                range.end(),
                args.len()
            ),
        ))
    }
}

fn as_str<'a>(name: &str, value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| invalid_args(name, &format!("{what} must be a string")))
}

fn as_array<'a>(name: &str, value: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| invalid_args(name, &format!("{what} must be an array")))
}

/// Reads an integer argument. AWS accepts a JSON number with no fraction
/// (`3` or `3.0`) and rejects anything else.
fn as_int(name: &str, value: &Value, what: &str) -> Result<i64, String> {
    let err = || invalid_args(name, &format!("{what} must be an integer"));
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(err),
        _ => Err(err()),
    }
}

/// Runs the intrinsic `name` on its evaluated arguments. Each function's
/// argument checks are its own, below; this only dispatches.
fn apply(name: &str, args: Vec<Value>) -> Result<Value, String> {
    match name {
        "States.Format" => format(args),
        "States.StringToJson" => string_to_json(name, &args),
        "States.JsonToString" => {
            expect_count(name, &args, 1..=1)?;
            Ok(Value::String(args[0].to_string()))
        }
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => array_partition(name, &args),
        "States.ArrayContains" => {
            expect_count(name, &args, 2..=2)?;
            let items = as_array(name, &args[0], "the first argument")?;
            Ok(Value::Bool(items.iter().any(|v| json_equal(v, &args[1]))))
        }
        "States.ArrayRange" => array_range(name, &args),
        "States.ArrayGetItem" => array_get_item(name, &args),
        "States.ArrayLength" => {
            expect_count(name, &args, 1..=1)?;
            Ok(Value::from(as_array(name, &args[0], "the argument")?.len()))
        }
        "States.ArrayUnique" => array_unique(name, &args),
        "States.Base64Encode" => base64_encode(name, &args),
        "States.Base64Decode" => base64_decode(name, &args),
        "States.Hash" => hash_of(name, &args),
        "States.JsonMerge" => json_merge(name, &args),
        "States.MathRandom" => math_random(name, &args),
        "States.MathAdd" => math_add(name, &args),
        "States.StringSplit" => string_split(name, &args),
        "States.UUID" => {
            expect_count(name, &args, 0..=0)?;
            Ok(Value::String(uuid::Uuid::new_v4().to_string()))
        }
        // The parser refuses unknown names, so this is only a safety net.
        other => Err(format!("the intrinsic function {other} is not supported")),
    }
}

/// The longest text the encoding and hashing functions take.
const MAX_INPUT_CHARS: usize = 10_000;

fn check_input_length(name: &str, text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_INPUT_CHARS {
        return Err(invalid_args(
            name,
            "the input cannot be longer than 10000 characters",
        ));
    }
    Ok(())
}

/// `States.StringToJson`: an empty (or blank) string gives `null`, as
/// AWS's parser does.
fn string_to_json(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 1..=1)?;
    let text = as_str(name, &args[0], "the argument")?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|e| invalid_args(name, &format!("the string is not JSON: {e}")))
}

fn array_partition(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 2..=2)?;
    let items = as_array(name, &args[0], "the first argument")?;
    let size = as_int(name, &args[1], "the chunk size")?;
    if size <= 0 {
        return Err(invalid_args(name, "the chunk size must be greater than 0"));
    }
    Ok(Value::Array(
        items
            .chunks(size as usize)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

fn array_range(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 3..=3)?;
    let start = as_int(name, &args[0], "the first argument")?;
    let end = as_int(name, &args[1], "the second argument")?;
    let step = as_int(name, &args[2], "the step")?;
    if step == 0 {
        return Err(invalid_args(name, "the step cannot be 0"));
    }
    let mut items = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        items.push(Value::from(i));
        if items.len() > 1000 {
            return Err(invalid_args(
                name,
                "the array cannot have more than 1000 items",
            ));
        }
        i += step;
    }
    Ok(Value::Array(items))
}

fn array_get_item(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 2..=2)?;
    let items = as_array(name, &args[0], "the first argument")?;
    let index = as_int(name, &args[1], "the index")?;
    usize::try_from(index)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| invalid_args(name, &format!("index {index} is out of bounds")))
}

fn array_unique(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 1..=1)?;
    let mut unique: Vec<Value> = Vec::new();
    for item in as_array(name, &args[0], "the argument")? {
        if !unique.iter().any(|u| json_equal(u, item)) {
            unique.push(item.clone());
        }
    }
    Ok(Value::Array(unique))
}

fn base64_encode(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 1..=1)?;
    let text = as_str(name, &args[0], "the argument")?;
    check_input_length(name, text)?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(text),
    ))
}

fn base64_decode(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 1..=1)?;
    let text = as_str(name, &args[0], "the argument")?;
    check_input_length(name, text)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| invalid_args(name, &format!("the input is not base64: {e}")))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| invalid_args(name, "the decoded data is not UTF-8 text"))
}

/// `States.Hash`: a string is hashed as it is, any other value as its JSON.
fn hash_of(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 2..=2)?;
    let data = crate::unquoted(&args[0]);
    check_input_length(name, &data)?;
    let algorithm = as_str(name, &args[1], "the algorithm")?;
    Ok(Value::String(hash(algorithm, data.as_bytes()).ok_or_else(|| {
        invalid_args(name, &format!("the algorithm '{algorithm}' is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"))
    })?))
}

/// `States.JsonMerge`: only the shallow merge, as AWS supports.
fn json_merge(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 3..=3)?;
    let (Value::Object(left), Value::Object(right)) = (&args[0], &args[1]) else {
        return Err(invalid_args(
            name,
            "the first two arguments must be JSON objects",
        ));
    };
    match args[2] {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            return Err(invalid_args(
                name,
                "only the shallow merge (false) is supported",
            ));
        }
        _ => return Err(invalid_args(name, "the third argument must be a boolean")),
    }
    let mut merged: Map<String, Value> = left.clone();
    for (k, v) in right {
        merged.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(merged))
}

/// `States.MathRandom`: from the start (inclusive) to the end
/// (exclusive), repeatable with a seed.
fn math_random(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 2..=3)?;
    let start = as_int(name, &args[0], "the start")?;
    let end = as_int(name, &args[1], "the end")?;
    if start >= end {
        return Err(invalid_args(name, "the start must be less than the end"));
    }
    let value = match args.get(2) {
        Some(seed) => {
            let seed = as_int(name, seed, "the seed")?;
            use rand::{Rng, SeedableRng};
            rand::rngs::StdRng::seed_from_u64(seed as u64).random_range(start..end)
        }
        None => rand::random_range(start..end),
    };
    Ok(Value::from(value))
}

/// Reads a number and rounds it to the nearest integer as Java's
/// `Math.round` does (halves go up: 2.5 is 3, -2.5 is -2). The developer
/// guide: "If you specify a non-integer value for one or both the
/// arguments, Step Functions will round it off to the nearest integer."
fn as_rounded_int(name: &str, value: &Value, what: &str) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| (f + 0.5).floor() as i64))
            .ok_or_else(|| invalid_args(name, &format!("{what} must be a number"))),
        _ => Err(invalid_args(name, &format!("{what} must be a number"))),
    }
}

/// `States.MathAdd`: both arguments, rounded to integers, must fit a Java
/// `int`.
fn math_add(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 2..=2)?;
    let a = as_rounded_int(name, &args[0], "the first argument")?;
    let b = as_rounded_int(name, &args[1], "the second argument")?;
    let range = i64::from(i32::MIN)..=i64::from(i32::MAX);
    if !range.contains(&a) || !range.contains(&b) {
        return Err(invalid_args(
            name,
            "the arguments must be between -2147483648 and 2147483647",
        ));
    }
    Ok(Value::from(a + b))
}

/// `States.StringSplit`: every character of the splitter is a delimiter,
/// and empty parts are dropped.
fn string_split(name: &str, args: &[Value]) -> Result<Value, String> {
    expect_count(name, args, 2..=2)?;
    let text = as_str(name, &args[0], "the first argument")?;
    let delimiters: Vec<char> = as_str(name, &args[1], "the splitter")?.chars().collect();
    Ok(Value::Array(
        text.split(|c| delimiters.contains(&c))
            .filter(|part| !part.is_empty())
            .map(|part| Value::String(part.to_owned()))
            .collect(),
    ))
}

fn format(args: Vec<Value>) -> Result<Value, String> {
    let name = "States.Format";
    let Some((template, values)) = args.split_first() else {
        return Err(invalid_args(name, "expected at least 1 argument"));
    };
    let template = as_str(name, template, "the first argument")?;
    let placeholders = template.matches("{}").count();
    if placeholders != values.len() {
        return Err(invalid_args(
            name,
            &format!(
                "the template has {placeholders} placeholder(s) but {} value(s) were given",
                values.len()
            ),
        ));
    }
    let mut out = String::new();
    let mut values = values.iter();
    for (i, piece) in template.split("{}").enumerate() {
        if i > 0 {
            let value = values.next().expect("the placeholders were counted");
            out.push_str(&format_value(value));
        }
        out.push_str(piece);
    }
    Ok(Value::String(out))
}

/// A value as `States.Format` writes it in place of a `{}`: a string
/// without quotes, a number, boolean or null as JSON, and an array or
/// object as Java's `toString` writes its lists and maps (`[a, 1]`,
/// `{Arg1=1, Arg2=[]}`), which is what AWS's Java interpreter produces
/// (recorded against AWS in LocalStack's intrinsic function snapshots).
fn format_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(format_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", format_value(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

fn hash(algorithm: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest as _;
    let bytes: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// JSON equality where `1` and `1.0` are the same number, as in Java.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth >= MAX_NESTING {
            return Err(format!(
                "intrinsic functions cannot be nested more than {MAX_NESTING} deep"
            ));
        }
        self.skip_spaces();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if !name.starts_with("States.") {
            return Err(format!("'{name}' is not an intrinsic function"));
        }
        if !FUNCTIONS.contains(&name.as_str()) {
            return Err(format!("the intrinsic function {name} is not supported"));
        }
        if self.peek() != Some('(') {
            return Err(format!("missing '(' after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(Call { name, args });
        }
        loop {
            args.push(self.arg(depth)?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(Call { name, args });
                }
                _ => return Err(format!("expected ',' or ')' in the arguments of {name}")),
            }
        }
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        self.skip_spaces();
        match self.peek() {
            Some('\'') => self.string().map(|s| Arg::Literal(Value::String(s))),
            Some('$') => {
                // A path runs to the next ',' or ')' outside brackets and quotes.
                let start = self.pos;
                let mut depth_brackets = 0;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    match (quote, c) {
                        // An escaped character inside a quoted key (`\'`)
                        // neither ends the key nor ends the path.
                        (Some(_), '\\') => self.pos += 1,
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '\'' | '"') => quote = Some(c),
                        (None, '[' | '(') => depth_brackets += 1,
                        (None, ']') => depth_brackets -= 1,
                        (None, ')') if depth_brackets > 0 => depth_brackets -= 1,
                        (None, ',' | ')') if depth_brackets == 0 => break,
                        _ => {}
                    }
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                Path::parse(text.trim_end()).map(Arg::Path)
            }
            Some('S') => self.call(depth + 1).map(Arg::Call),
            _ => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | ')') && !c.is_whitespace())
                {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                match serde_json::from_str::<Value>(&text) {
                    Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                        Ok(Arg::Literal(normalise(v)))
                    }
                    _ => Err(format!(
                        "'{text}' is not a valid intrinsic function argument"
                    )),
                }
            }
        }
    }

    /// Reads a `'...'` literal. Inside it `\'`, `\{`, `\}` and `\\` stand for
    /// the character after the backslash; any other backslash is an error,
    /// as the developer guide says.
    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal in intrinsic function".to_owned()),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\'' | '\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        // Escaped braces must not count as `{}` placeholders, so
                        // they stay marked until States.Format has run.
                        Some('{') => {
                            out.push(OPEN_BRACE);
                            self.pos += 1;
                        }
                        Some('}') => {
                            out.push(CLOSE_BRACE);
                            self.pos += 1;
                        }
                        _ => {
                            return Err(
                                "an open escape backslash was found in the intrinsic function"
                                    .to_owned(),
                            );
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Keeps integral literals integral so that `States.MathAdd(1, 2)` gives `3`.
fn normalise(v: Value) -> Value {
    match &v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Value::Number(Number::from(f as i64)),
            _ => v,
        },
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, data: Value) -> Result<Value, IntrinsicError> {
        Call::parse(text).unwrap().evaluate(&data, &json!({}))
    }

    #[test]
    fn escapes_follow_the_reserved_character_rules() {
        assert_eq!(
            eval(r"States.Format('a \{\} b \' c \\ {}', 1)", json!({})),
            Ok(json!(r"a {} b ' c \ 1"))
        );
        assert!(Call::parse(r"States.Format('bad \n')").is_err());
    }

    #[test]
    fn nested_calls_and_paths_with_commas_parse() {
        let data = json!({"a": {"b,c": "x"}, "arn": "arn:aws:imagebuilder:us-east-1:1:image-recipe/my.recipe/1.0.0"});
        assert_eq!(
            eval("States.Array($.a['b,c'], States.Array(1))", data.clone()),
            Ok(json!(["x", [1]]))
        );
        assert_eq!(
            eval(
                "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.arn, '/'), 1), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.arn, '/'), 1), '.'), 1))",
                data
            ),
            Ok(json!("my.recipe"))
        );
    }

    #[test]
    fn argument_checks_fail_with_a_reason() {
        assert!(matches!(
            eval("States.ArrayGetItem(States.Array(1), 3)", json!({})),
            Err(IntrinsicError::Invalid(_))
        ));
        assert!(matches!(
            eval("States.MathAdd('1', 2)", json!({})),
            Err(IntrinsicError::Invalid(_))
        ));
        assert!(matches!(
            eval("States.Format('{} {}', 1)", json!({})),
            Err(IntrinsicError::Invalid(_))
        ));
        assert!(matches!(
            eval("States.Hash('x', 'SHA-3')", json!({})),
            Err(IntrinsicError::Invalid(_))
        ));
        assert_eq!(
            eval("States.Array($.nope)", json!({})),
            Err(IntrinsicError::PathNotFound("$.nope".to_owned()))
        );
    }

    #[test]
    fn math_random_with_a_seed_is_repeatable_and_in_range() {
        let a = eval("States.MathRandom(1, 999, 42)", json!({})).unwrap();
        let b = eval("States.MathRandom(1, 999, 42)", json!({})).unwrap();
        assert_eq!(a, b);
        assert!((1..999).contains(&a.as_i64().unwrap()));
    }

    #[test]
    fn math_add_rounds_halves_up_as_java_does() {
        assert_eq!(eval("States.MathAdd(1.5, 2)", json!({})), Ok(json!(4)));
        assert_eq!(eval("States.MathAdd(-2.5, 0)", json!({})), Ok(json!(-2)));
        assert_eq!(eval("States.MathAdd(2.4, 0.6)", json!({})), Ok(json!(3)));
    }

    #[test]
    fn unknown_functions_are_refused_when_parsed_even_nested() {
        let refused = Call::parse("States.Array(States.Nope(1))").unwrap_err();
        assert!(refused.contains("States.Nope"), "{refused}");
        assert!(Call::parse("States.Upper('a')").is_err());
        for name in FUNCTIONS {
            let text = format!("{name}()");
            assert!(Call::parse(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn format_writes_objects_and_arrays_as_java_does() {
        let data = json!({"o": {"a": [1, "x"], "b": null}, "e": [], "s": "t"});
        assert_eq!(
            eval("States.Format('{} {} {}', $.o, $.e, $.s)", data),
            Ok(json!("{a=[1, x], b=null} [] t"))
        );
    }

    #[test]
    fn string_to_json_of_nothing_is_null() {
        assert_eq!(eval("States.StringToJson('')", json!({})), Ok(Value::Null));
        assert!(matches!(
            eval("States.StringToJson('{')", json!({})),
            Err(IntrinsicError::Invalid(_))
        ));
    }
}
