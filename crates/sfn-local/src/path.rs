//! JSONPath as Step Functions reads it: Paths that select from the state input
//! or the context object, and Reference Paths that ResultPath writes into.
//!
//! Step Functions evaluates paths with Jayway JsonPath. A *definite* path (only
//! names and single indices) selects one node, and fails when that node is
//! missing; an *indefinite* path (wildcards, unions, slices, filters, `..`)
//! always yields an array of the nodes it matched, possibly empty. Both rules
//! are reproduced here because they decide whether a state fails.

use serde_json::{Map, Value};

/// What a path starts from: `$` (the state's data) or `$$` (the context object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// `$`: the effective input of the state, or the value being filtered.
    Data,
    /// `$$`: the context object of the execution.
    Context,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Child(String),
    Index(i64),
    Wildcard,
    Names(Vec<String>),
    Indices(Vec<i64>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Descendant(Box<Segment>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Exists(Vec<Segment>),
    Compare(Operand, CompareOp, Operand),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Current(Vec<Segment>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    root: Root,
    segments: Vec<Segment>,
    text: String,
}

impl Path {
    /// Parses a path that starts with `$` or `$$`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (root, rest) = if let Some(rest) = text.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = text.strip_prefix('$') {
            (Root::Data, rest)
        } else {
            return Err(format!("the path '{text}' does not start with '$'"));
        };
        let mut parser = Parser {
            chars: rest.chars().collect(),
            pos: 0,
            depth: 0,
        };
        let segments = parser
            .segments(false)
            .map_err(|reason| format!("invalid path '{text}': {reason}"))?;
        if parser.pos != parser.chars.len() {
            return Err(format!(
                "invalid path '{text}': unexpected '{}'",
                parser.chars[parser.pos]
            ));
        }
        Ok(Self {
            root,
            segments,
            text: text.to_owned(),
        })
    }

    /// The path as it was written.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The path in Jayway's normalised form (`$['a'][0]`), as AWS quotes it
    /// in "No results for path" messages.
    pub(crate) fn normalized(&self) -> String {
        let mut out = String::from(if self.root == Root::Context {
            "$$"
        } else {
            "$"
        });
        for segment in &self.segments {
            match segment {
                Segment::Child(name) => out.push_str(&format!("['{name}']")),
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
                _ => return self.text.clone(),
            }
        }
        out
    }

    /// Whether the path can select at most one node.
    pub(crate) fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Child(_) | Segment::Index(_)))
    }

    /// Whether the path is a Reference Path: names and non-negative indices
    /// only, as ResultPath and the `Variable` of a Choice rule require.
    pub(crate) fn is_reference(&self) -> bool {
        self.segments.iter().all(|s| match s {
            Segment::Child(_) => true,
            Segment::Index(i) => *i >= 0,
            _ => false,
        })
    }

    /// Selects from `data` (for `$`) or `context` (for `$$`). A definite path
    /// gives `None` when its node is missing; an indefinite path gives the
    /// array of every node it matched.
    pub(crate) fn select(&self, data: &Value, context: &Value) -> Option<Value> {
        let root = match self.root {
            Root::Data => data,
            Root::Context => context,
        };
        if self.is_definite() {
            let mut node = root;
            for segment in &self.segments {
                node = match segment {
                    Segment::Child(name) => node.as_object()?.get(name)?,
                    Segment::Index(i) => {
                        let items = node.as_array()?;
                        items.get(resolve_index(*i, items.len())?)?
                    }
                    _ => unreachable!("a definite path has names and indices only"),
                };
            }
            return Some(node.clone());
        }
        let nodes = evaluate(&self.segments, vec![root], root);
        Some(Value::Array(nodes.into_iter().cloned().collect()))
    }

    /// Why a definite path selected nothing, in Jayway's words as AWS
    /// quotes them after "Invalid path '...' : ": a missing property on the
    /// way is "Missing property in path $['a']" (the path up to it), a
    /// missing last node is "No results for path: $['a']['b']".
    pub(crate) fn missing_detail(&self, data: &Value, context: &Value) -> String {
        let mut node = match self.root {
            Root::Data => data,
            Root::Context => context,
        };
        let mut walked = String::from(if self.root == Root::Context {
            "$$"
        } else {
            "$"
        });
        let last = self.segments.len().saturating_sub(1);
        for (i, segment) in self.segments.iter().enumerate() {
            let next = match segment {
                Segment::Child(name) => {
                    walked.push_str(&format!("['{name}']"));
                    node.as_object().and_then(|o| o.get(name))
                }
                Segment::Index(index) => {
                    walked.push_str(&format!("[{index}]"));
                    node.as_array()
                        .and_then(|items| items.get(resolve_index(*index, items.len())?))
                }
                _ => break,
            };
            match next {
                Some(child) => node = child,
                None if i < last && matches!(segment, Segment::Child(_)) && node.is_object() => {
                    return format!("Missing property in path {walked}");
                }
                None => break,
            }
        }
        format!("No results for path: {}", self.normalized())
    }

    /// Writes `value` at this Reference Path inside `target`, creating the
    /// objects on the way, as ResultPath does. Fails when the way goes
    /// through something that is not an object, or an index out of range;
    /// the error is the step (field name or index) that could not be
    /// applied, which AWS names in "Unable to apply step ...".
    pub(crate) fn write(&self, target: Value, value: Value) -> Result<Value, String> {
        fn write_at(node: &mut Value, segments: &[Segment], value: Value) -> Result<(), String> {
            let Some((first, rest)) = segments.split_first() else {
                *node = value;
                return Ok(());
            };
            match first {
                Segment::Child(name) => {
                    let object = node.as_object_mut().ok_or_else(|| name.clone())?;
                    let child = object
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !rest.is_empty() && child.is_null() {
                        *child = Value::Object(Map::new());
                    }
                    write_at(child, rest, value)
                }
                Segment::Index(i) => {
                    let step = || i.to_string();
                    let items = node.as_array_mut().ok_or_else(step)?;
                    let index = usize::try_from(*i).map_err(|_| step())?;
                    let child = items.get_mut(index).ok_or_else(step)?;
                    write_at(child, rest, value)
                }
                _ => Err(String::new()),
            }
        }
        let mut target = target;
        write_at(&mut target, &self.segments, value)?;
        Ok(target)
    }
}

fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let resolved = if index < 0 { len + index } else { index };
    (0..len).contains(&resolved).then_some(resolved as usize)
}

fn evaluate<'a>(
    segments: &[Segment],
    mut nodes: Vec<&'a Value>,
    root: &'a Value,
) -> Vec<&'a Value> {
    for segment in segments {
        let mut next = Vec::new();
        for node in nodes {
            apply(segment, node, root, &mut next);
        }
        nodes = next;
    }
    nodes
}

/// Adds what `segment` selects from `node` to `out`. One arm per kind of
/// segment, each a few lines: the match is kept whole because side by side
/// the arms show how each kind treats objects, arrays and misses.
fn apply<'a>(segment: &Segment, node: &'a Value, root: &'a Value, out: &mut Vec<&'a Value>) {
    match segment {
        Segment::Child(name) => {
            if let Some(child) = node.as_object().and_then(|o| o.get(name)) {
                out.push(child);
            }
        }
        Segment::Index(i) => {
            if let Some(items) = node.as_array()
                && let Some(index) = resolve_index(*i, items.len())
            {
                out.push(&items[index]);
            }
        }
        Segment::Wildcard => match node {
            Value::Object(o) => out.extend(o.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Segment::Names(names) => {
            if let Some(object) = node.as_object() {
                out.extend(names.iter().filter_map(|n| object.get(n)));
            }
        }
        Segment::Indices(indices) => {
            if let Some(items) = node.as_array() {
                out.extend(
                    indices
                        .iter()
                        .filter_map(|i| resolve_index(*i, items.len()).map(|i| &items[i])),
                );
            }
        }
        Segment::Slice(start, end, step) => {
            if let Some(items) = node.as_array() {
                let len = items.len() as i64;
                let clamp = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
                let step = step.unwrap_or(1).max(1);
                let start = start.map_or(0, clamp);
                let end = end.map_or(len, clamp);
                let mut i = start;
                while i < end {
                    out.push(&items[i as usize]);
                    i += step;
                }
            }
        }
        Segment::Descendant(inner) => {
            let mut stack = vec![node];
            while let Some(current) = stack.pop() {
                apply(inner, current, root, out);
                let children: Vec<&Value> = match current {
                    Value::Object(o) => o.values().collect(),
                    Value::Array(a) => a.iter().collect(),
                    _ => Vec::new(),
                };
                stack.extend(children.into_iter().rev());
            }
        }
        Segment::Filter(filter) => {
            let candidates: Vec<&Value> = match node {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                _ => Vec::new(),
            };
            out.extend(
                candidates
                    .into_iter()
                    .filter(|c| filter_matches(filter, c, root)),
            );
        }
    }
}

fn filter_matches(filter: &Filter, current: &Value, root: &Value) -> bool {
    match filter {
        Filter::Exists(segments) => !evaluate(segments, vec![current], root).is_empty(),
        Filter::And(a, b) => filter_matches(a, current, root) && filter_matches(b, current, root),
        Filter::Or(a, b) => filter_matches(a, current, root) || filter_matches(b, current, root),
        Filter::Not(a) => !filter_matches(a, current, root),
        Filter::Compare(left, op, right) => {
            let resolve = |operand: &Operand| -> Option<Value> {
                match operand {
                    Operand::Literal(v) => Some(v.clone()),
                    Operand::Current(segments) => evaluate(segments, vec![current], root)
                        .first()
                        .map(|v| (*v).clone()),
                }
            };
            let (Some(l), Some(r)) = (resolve(left), resolve(right)) else {
                return false;
            };
            let ordering = match (&l, &r) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => None,
            };
            match op {
                CompareOp::Eq => ordering.map_or(l == r, |o| o.is_eq()),
                CompareOp::Ne => ordering.map_or(l != r, |o| o.is_ne()),
                CompareOp::Lt => ordering.is_some_and(|o| o.is_lt()),
                CompareOp::Le => ordering.is_some_and(|o| o.is_le()),
                CompareOp::Gt => ordering.is_some_and(|o| o.is_gt()),
                CompareOp::Ge => ordering.is_some_and(|o| o.is_ge()),
            }
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// How deep the filter being read is nested (parentheses, `!`, and
    /// filters inside filters), bounded by `MAX_FILTER_DEPTH`.
    depth: usize,
}

/// How deeply a filter may nest. Real paths nest a handful of levels; the
/// bound keeps a hostile definition from exhausting the stack (found by the
/// `asl` fuzz target: 2,000 nested parentheses overflowed it).
const MAX_FILTER_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }

    /// Reads segments until the end, or (inside a filter) until an operator.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, String> {
        let mut segments = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some('.') => {
                    self.pos += 1;
                    if self.eat('.') {
                        let inner = if self.peek() == Some('[') {
                            self.bracket()?
                        } else {
                            self.dotted()?
                        };
                        segments.push(Segment::Descendant(Box::new(inner)));
                    } else {
                        segments.push(self.dotted()?);
                    }
                }
                Some('[') => segments.push(self.bracket()?),
                Some(_) if in_filter => break,
                Some(c) => return Err(format!("unexpected '{c}'")),
            }
        }
        Ok(segments)
    }

    fn dotted(&mut self) -> Result<Segment, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '.'
                || c == '['
                || c == ' '
                || c == ')'
                || c == '='
                || c == '!'
                || c == '<'
                || c == '>'
                || c == '&'
                || c == '|'
            {
                break;
            }
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        match name.as_str() {
            "" => Err("empty field name".to_owned()),
            "*" => Ok(Segment::Wildcard),
            _ => Ok(Segment::Child(name)),
        }
    }

    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("unterminated string")?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.pos += 1;
            if c == '\\' {
                let escaped = self.peek().ok_or("unterminated string")?;
                self.pos += 1;
                out.push(escaped);
            } else if c == quote {
                return Ok(out);
            } else {
                out.push(c);
            }
        }
    }

    fn integer(&mut self) -> Result<i64, String> {
        self.skip_spaces();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        self.skip_spaces();
        text.parse()
            .map_err(|_| format!("'{text}' is not an integer"))
    }

    fn bracket(&mut self) -> Result<Segment, String> {
        self.pos += 1; // '['
        self.skip_spaces();
        let segment = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.skip_spaces();
                if !self.eat('(') {
                    return Err("a filter must be written [?(...)]".to_owned());
                }
                let filter = self.filter_or()?;
                self.skip_spaces();
                if !self.eat(')') {
                    return Err("unterminated filter".to_owned());
                }
                Segment::Filter(filter)
            }
            Some('\'' | '"') => {
                let mut names = vec![self.quoted()?];
                self.skip_spaces();
                while self.eat(',') {
                    self.skip_spaces();
                    names.push(self.quoted()?);
                    self.skip_spaces();
                }
                if names.len() == 1 {
                    Segment::Child(names.remove(0))
                } else {
                    Segment::Names(names)
                }
            }
            _ => {
                let number = |p: &mut Self| -> Result<Option<i64>, String> {
                    p.skip_spaces();
                    if matches!(p.peek(), Some(':' | ']')) {
                        Ok(None)
                    } else {
                        p.integer().map(Some)
                    }
                };
                let first = number(self)?;
                if self.eat(':') {
                    let end = number(self)?;
                    let step = if self.eat(':') { number(self)? } else { None };
                    Segment::Slice(first, end, step)
                } else {
                    let mut indices = vec![first.ok_or("empty brackets")?];
                    while self.eat(',') {
                        indices.push(self.integer()?);
                    }
                    if indices.len() == 1 {
                        Segment::Index(indices[0])
                    } else {
                        Segment::Indices(indices)
                    }
                }
            }
        };
        self.skip_spaces();
        if !self.eat(']') {
            return Err("missing ']'".to_owned());
        }
        Ok(segment)
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_spaces();
            if self.peek() == Some('|') && self.chars.get(self.pos + 1) == Some(&'|') {
                self.pos += 2;
                left = Filter::Or(Box::new(left), Box::new(self.filter_and()?));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_atom()?;
        loop {
            self.skip_spaces();
            if self.peek() == Some('&') && self.chars.get(self.pos + 1) == Some(&'&') {
                self.pos += 2;
                left = Filter::And(Box::new(left), Box::new(self.filter_atom()?));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_atom(&mut self) -> Result<Filter, String> {
        self.depth += 1;
        let atom = self.filter_atom_within_depth();
        self.depth -= 1;
        atom
    }

    fn filter_atom_within_depth(&mut self) -> Result<Filter, String> {
        if self.depth > MAX_FILTER_DEPTH {
            return Err(format!(
                "the filter nests deeper than {MAX_FILTER_DEPTH} levels"
            ));
        }
        self.skip_spaces();
        if self.eat('!') {
            return Ok(Filter::Not(Box::new(self.filter_atom()?)));
        }
        if self.eat('(') {
            let inner = self.filter_or()?;
            self.skip_spaces();
            if !self.eat(')') {
                return Err("unbalanced parentheses in filter".to_owned());
            }
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_spaces();
        let op = match (self.peek(), self.chars.get(self.pos + 1)) {
            (Some('='), Some('=')) => Some((CompareOp::Eq, 2)),
            (Some('!'), Some('=')) => Some((CompareOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CompareOp::Le, 2)),
            (Some('>'), Some('=')) => Some((CompareOp::Ge, 2)),
            (Some('<'), _) => Some((CompareOp::Lt, 1)),
            (Some('>'), _) => Some((CompareOp::Gt, 1)),
            _ => None,
        };
        match (op, left) {
            (Some((op, width)), left) => {
                self.pos += width;
                let right = self.operand()?;
                Ok(Filter::Compare(left, op, right))
            }
            (None, Operand::Current(segments)) => Ok(Filter::Exists(segments)),
            (None, Operand::Literal(_)) => Err("a filter needs a comparison".to_owned()),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_spaces();
        match self.peek() {
            Some('@') => {
                self.pos += 1;
                Ok(Operand::Current(self.segments(true)?))
            }
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            _ => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+')
                {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                serde_json::from_str(&text)
                    .map(Operand::Literal)
                    .map_err(|_| format!("'{text}' is not a literal"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select(path: &str, data: Value) -> Option<Value> {
        Path::parse(path).unwrap().select(&data, &Value::Null)
    }

    #[test]
    fn definite_paths_select_one_node_or_nothing() {
        let data = json!({"a": {"b": [10, 20, 30]}, "error-info": 1});
        assert_eq!(select("$", data.clone()), Some(data.clone()));
        assert_eq!(select("$.a.b[1]", data.clone()), Some(json!(20)));
        assert_eq!(select("$['a']['b'][-1]", data.clone()), Some(json!(30)));
        assert_eq!(select("$.error-info", data.clone()), Some(json!(1)));
        assert_eq!(select("$.a.c", data.clone()), None);
        assert_eq!(select("$.a.b[5]", data), None);
    }

    // The examples of the Paths page of the developer guide
    // (https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html).
    #[test]
    fn indefinite_paths_follow_the_developer_guide_examples() {
        let data = json!({
            "foo": 123,
            "bar": ["a", "b", "c"],
            "car": {"cdr": true}
        });
        assert_eq!(select("$.foo", data.clone()), Some(json!(123)));
        assert_eq!(select("$.bar", data.clone()), Some(json!(["a", "b", "c"])));
        assert_eq!(select("$.car.cdr", data.clone()), Some(json!(true)));
        let store = json!({"a": [{"x": 1, "y": "p"}, {"x": 5, "y": "q"}, {"x": 9}]});
        assert_eq!(select("$.a[*].x", store.clone()), Some(json!([1, 5, 9])));
        assert_eq!(
            select("$.a[?(@.x > 2)].x", store.clone()),
            Some(json!([5, 9]))
        );
        assert_eq!(
            select("$.a[?(@.y)].y", store.clone()),
            Some(json!(["p", "q"]))
        );
        assert_eq!(
            select("$.a[?(@.y == 'q')].x", store.clone()),
            Some(json!([5]))
        );
        assert_eq!(select("$.a[0:2].x", store.clone()), Some(json!([1, 5])));
        assert_eq!(select("$..x", store.clone()), Some(json!([1, 5, 9])));
        assert_eq!(select("$.a[0,2].x", store.clone()), Some(json!([1, 9])));
        assert_eq!(select("$.missing[*]", store), Some(json!([])));
    }

    #[test]
    fn reference_paths_write_and_create_objects() {
        let path = Path::parse("$.a.b").unwrap();
        assert!(path.is_reference());
        assert_eq!(path.write(json!({}), json!(1)), Ok(json!({"a": {"b": 1}})));
        assert_eq!(
            path.write(json!({"a": {"c": 2}}), json!(1)),
            Ok(json!({"a": {"b": 1, "c": 2}}))
        );
        assert_eq!(path.write(json!("text"), json!(1)), Err("a".to_owned()));
        assert_eq!(path.write(json!({"a": [1]}), json!(1)), Err("b".to_owned()));
        assert_eq!(
            Path::parse("$").unwrap().write(json!({"x": 1}), json!(2)),
            Ok(json!(2))
        );
        assert!(!Path::parse("$.a[*]").unwrap().is_reference());
    }

    // "Invalid path '$.no.such.result.path' : Missing property in path
    // $['no']" and "Invalid path '$.NoSuchInputPath' : No results for path:
    // $['NoSuchInputPath']", as AWS reports them (recorded in LocalStack's
    // AWS snapshots, tests/aws/services/stepfunctions/v2/scenarios).
    #[test]
    fn missing_nodes_are_described_as_jayway_does() {
        let detail = |path: &str, data: Value| {
            Path::parse(path)
                .unwrap()
                .missing_detail(&data, &Value::Null)
        };
        assert_eq!(
            detail("$.no.such.result.path", json!({})),
            "Missing property in path $['no']"
        );
        assert_eq!(
            detail("$.a.b.c", json!({"a": {}})),
            "Missing property in path $['a']['b']"
        );
        assert_eq!(
            detail("$.NoSuchInputPath", json!({})),
            "No results for path: $['NoSuchInputPath']"
        );
        assert_eq!(
            detail("$.a.b", json!({"a": {}})),
            "No results for path: $['a']['b']"
        );
    }

    #[test]
    fn malformed_paths_are_rejected() {
        assert!(Path::parse("a.b").is_err());
        assert!(Path::parse("$.a[").is_err());
        assert!(Path::parse("$.").is_err());
    }

    /// Found by the `asl` fuzz target (fuzz/regressions/asl): deep nesting
    /// overflowed the stack instead of being refused.
    #[test]
    fn deeply_nested_filters_are_refused_not_overflowed() {
        let deep = |depth: usize, open: &str| {
            format!("$[?({}@.a == 1{})]", open.repeat(depth), ")".repeat(depth))
        };
        let refused = Path::parse(&deep(2000, "(")).unwrap_err();
        assert!(refused.contains("deeper than 64"), "{refused}");
        let negations = format!("$[?({}@.a)]", "!".repeat(8000));
        assert!(Path::parse(&negations).is_err());
        assert!(Path::parse(&deep(10, "(")).is_ok());
    }
}
