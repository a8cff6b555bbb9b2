//! Reads and validates a definition the way `CreateStateMachine` does, and
//! builds the model from it.
//!
//! Problems are collected rather than stopping at the first, and reported in
//! AWS's form: `Invalid State Machine Definition: 'CODE: message at /pointer',
//! ...` with the codes AWS uses (`SCHEMA_VALIDATION_FAILED`,
//! `MISSING_TRANSITION_TARGET`, `UNREACHABLE_STATE`, `MISSING_END_STATE`,
//! `INVALID_JSON_DESCRIPTION`). `distributed` holds the checks of a Map's
//! processing mode and of the fields of a Distributed Map.

mod distributed;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Block, Dynamic, Kind, MapSpec, State, StateMachine, Text, WaitFor, graph};
use crate::choice::{self, Rule};
use crate::intrinsics::{self, Call};
use crate::path::Path;
use crate::retry::{Catcher, Jitter, Retrier};
use crate::template::Template;

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];

fn allowed(kind: &str) -> Option<Vec<&'static str>> {
    let own: &[&str] = match kind {
        "Pass" => &["Parameters", "Result", "ResultPath"],
        "Task" => &[
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        "Succeed" => &[],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Branches",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "Iterator",
            "ItemProcessor",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "Label",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        _ => return None,
    };
    let mut fields: Vec<&str> = COMMON.iter().chain(own).copied().collect();
    if kind != "Fail" {
        fields.extend(IO);
    }
    if !matches!(kind, "Choice" | "Succeed" | "Fail") {
        fields.extend(FLOW);
    }
    Some(fields)
}

/// A `Retry` or `Catch` array: its field, the name of what it holds, and
/// the fields each entry may have.
struct Handlers {
    field: &'static str,
    what: &'static str,
    fields: &'static [&'static str],
}

/// Reads the rest of one `Retry` or `Catch` entry, given its `ErrorEquals`.
type ReadHandler<T> = fn(&mut Checker, &Map<String, Value>, Vec<String>, &str) -> Option<T>;

const RETRY: Handlers = Handlers {
    field: "Retry",
    what: "Retrier",
    fields: &[
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    ],
};

const CATCH: Handlers = Handlers {
    field: "Catch",
    what: "Catcher",
    fields: &["ErrorEquals", "Next", "ResultPath", "Comment"],
};

struct Checker {
    problems: Vec<String>,
}

impl Checker {
    fn schema(&mut self, message: impl std::fmt::Display, at: &str) {
        let at = if at.is_empty() { "/" } else { at };
        self.problems
            .push(format!("SCHEMA_VALIDATION_FAILED: {message} at {at}"));
    }

    fn path(&mut self, object: &Map<String, Value>, field: &str, at: &str) -> Option<Option<Path>> {
        match object.get(field) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(text)) => match Path::parse(text) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    self.schema(
                        format!("The value for the field '{field}' must be a valid JSONPath: {e}"),
                        &format!("{at}/{field}"),
                    );
                    None
                }
            },
            Some(_) => {
                self.schema(
                    format!("The value for the field '{field}' must be a STRING or null"),
                    &format!("{at}/{field}"),
                );
                None
            }
        }
    }

    fn reference_path(
        &mut self,
        object: &Map<String, Value>,
        field: &str,
        at: &str,
    ) -> Option<Option<Path>> {
        let path = self.path(object, field, at)?;
        if let Some(p) = &path
            && !p.is_reference()
        {
            self.schema(
                format!("The value for the field '{field}' must be a valid ReferencePath"),
                &format!("{at}/{field}"),
            );
        }
        Some(path)
    }

    fn template(&mut self, object: &Map<String, Value>, field: &str, at: &str) -> Option<Template> {
        let value = object.get(field)?;
        match Template::compile(value) {
            Ok(t) => Some(t),
            Err(e) => {
                self.schema(e, &format!("{at}/{field}"));
                None
            }
        }
    }

    fn positive_int(
        &mut self,
        object: &Map<String, Value>,
        field: &str,
        at: &str,
        allow_zero: bool,
    ) -> Option<u64> {
        let value = object.get(field)?;
        match value.as_u64() {
            Some(n) if allow_zero || n > 0 => Some(n),
            _ => {
                let what = if allow_zero {
                    "a non-negative integer"
                } else {
                    "a positive integer"
                };
                self.schema(
                    format!("The value for the field '{field}' must be {what}"),
                    &format!("{at}/{field}"),
                );
                None
            }
        }
    }

    fn dynamic_int(
        &mut self,
        object: &Map<String, Value>,
        field: &str,
        at: &str,
        allow_zero: bool,
    ) -> Option<Dynamic<u64>> {
        let path_field = format!("{field}Path");
        match (object.contains_key(field), object.contains_key(&path_field)) {
            (true, true) => {
                self.schema(
                    format!("The fields '{field}' and '{path_field}' cannot both be set"),
                    at,
                );
                None
            }
            (true, false) => self
                .positive_int(object, field, at, allow_zero)
                .map(Dynamic::Fixed),
            (false, true) => self
                .reference_path(object, &path_field, at)
                .flatten()
                .map(Dynamic::Path),
            (false, false) => None,
        }
    }

    fn error_equals(&mut self, object: &Map<String, Value>, at: &str) -> Vec<String> {
        let Some(list) = self.required_array(object, "ErrorEquals", at) else {
            return Vec::new();
        };
        let names: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if names.len() != list.len() {
            self.schema(
                "ErrorEquals must hold strings",
                &format!("{at}/ErrorEquals"),
            );
        }
        if names.iter().any(|n| n == "States.ALL") && names.len() > 1 {
            self.schema(
                "States.ALL must appear alone in ErrorEquals",
                &format!("{at}/ErrorEquals"),
            );
        }
        names
    }

    /// The elements of an optional array field; a field that is not an
    /// array is a problem and gives none.
    fn array<'v>(&mut self, object: &'v Map<String, Value>, field: &str, at: &str) -> &'v [Value] {
        match object.get(field) {
            None => &[],
            Some(Value::Array(list)) => list,
            Some(_) => {
                self.schema(
                    format!("The value for the field '{field}' must be an ARRAY"),
                    &format!("{at}/{field}"),
                );
                &[]
            }
        }
    }

    /// The elements of a field that must be a non-empty array.
    fn required_array<'v>(
        &mut self,
        object: &'v Map<String, Value>,
        field: &str,
        at: &str,
    ) -> Option<&'v Vec<Value>> {
        let list = object
            .get(field)
            .and_then(Value::as_array)
            .filter(|list| !list.is_empty());
        if list.is_none() {
            self.schema(format!("These fields are required: [{field}]"), at);
        }
        list
    }

    /// Reports every field of `object` that is not one of `known`.
    fn known_fields(&mut self, object: &Map<String, Value>, known: &[&str], at: &str) {
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                self.schema(
                    format!("The field \"{key}\" is not supported by Step Functions"),
                    at,
                );
            }
        }
    }

    /// The entries of a `Retry` or `Catch` array, each checked for the
    /// fields and the `ErrorEquals` that both kinds share and then read by
    /// `read` with its `ErrorEquals`.
    fn handlers<T>(
        &mut self,
        object: &Map<String, Value>,
        kind: &Handlers,
        at: &str,
        read: ReadHandler<T>,
    ) -> Vec<T> {
        let list = self.array(object, kind.field, at);
        let mut out = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let at = format!("{at}/{}[{i}]", kind.field);
            let what = kind.what;
            let Some(handler) = item.as_object() else {
                self.schema(format!("A {what} must be an object"), &at);
                continue;
            };
            self.known_fields(handler, kind.fields, &at);
            let error_equals = self.error_equals(handler, &at);
            if error_equals.iter().any(|n| n == "States.ALL") && i + 1 != list.len() {
                self.schema(
                    format!("A {what} with States.ALL must be the last {what}"),
                    &at,
                );
            }
            out.extend(read(self, handler, error_equals, &at));
        }
        out
    }

    /// One Retrier, with the defaults AWS documents for what it leaves out.
    fn retrier(
        &mut self,
        r: &Map<String, Value>,
        error_equals: Vec<String>,
        at: &str,
    ) -> Option<Retrier> {
        let interval = self
            .positive_int(r, "IntervalSeconds", at, false)
            .unwrap_or(1);
        let attempts = self.positive_int(r, "MaxAttempts", at, true).unwrap_or(3);
        let backoff = match r.get("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64() {
                Some(rate) if rate >= 1.0 => rate,
                _ => {
                    self.schema(
                        "The value for the field 'BackoffRate' must be a number >= 1.0",
                        &format!("{at}/BackoffRate"),
                    );
                    2.0
                }
            },
        };
        let max_delay = self.positive_int(r, "MaxDelaySeconds", at, false);
        let jitter = match r.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => Jitter::None,
            Some(Some("FULL")) => Jitter::Full,
            _ => {
                self.schema(
                    "The value for the field 'JitterStrategy' must be FULL or NONE",
                    &format!("{at}/JitterStrategy"),
                );
                Jitter::None
            }
        };
        Some(Retrier {
            error_equals,
            interval_seconds: interval as f64,
            max_attempts: attempts,
            backoff_rate: backoff,
            max_delay_seconds: max_delay.map(|d| d as f64),
            jitter,
        })
    }

    /// One Catcher; without a `Next` it is a problem and is left out.
    fn catcher(
        &mut self,
        c: &Map<String, Value>,
        error_equals: Vec<String>,
        at: &str,
    ) -> Option<Catcher> {
        let Some(next) = c.get("Next").and_then(Value::as_str) else {
            self.schema("These fields are required: [Next]", at);
            return None;
        };
        let result_path = self
            .reference_path(c, "ResultPath", at)
            .unwrap_or_else(|| Some(root_path()));
        Some(Catcher {
            error_equals,
            result_path,
            next: next.to_owned(),
        })
    }

    fn text(&mut self, object: &Map<String, Value>, field: &str, at: &str) -> Option<Text> {
        let path_field = format!("{field}Path");
        match (object.get(field), object.get(&path_field)) {
            (Some(_), Some(_)) => {
                self.schema(
                    format!("The fields '{field}' and '{path_field}' cannot both be set"),
                    at,
                );
                None
            }
            (Some(Value::String(s)), None) => Some(Text::Fixed(s.clone())),
            (Some(_), None) => {
                self.schema(
                    format!("The value for the field '{field}' must be a STRING"),
                    &format!("{at}/{field}"),
                );
                None
            }
            (None, Some(Value::String(s))) if intrinsics::is_intrinsic(s) => match Call::parse(s) {
                Ok(call) => Some(Text::Intrinsic(call)),
                Err(e) => {
                    self.schema(e, &format!("{at}/{path_field}"));
                    None
                }
            },
            (None, Some(_)) => self.path(object, &path_field, at).flatten().map(Text::Path),
            (None, None) => None,
        }
    }

    fn block(&mut self, value: &Value, at: &str) -> Option<Block> {
        let Some(object) = value.as_object() else {
            self.schema("must be an object", at);
            return None;
        };
        self.known_fields(
            object,
            &[
                "StartAt",
                "States",
                "Comment",
                "Version",
                "TimeoutSeconds",
                "ProcessorConfig",
                "QueryLanguage",
            ],
            at,
        );
        let start_at = object.get("StartAt").and_then(Value::as_str);
        let states = object.get("States").and_then(Value::as_object);
        let (Some(start_at), Some(states)) = (start_at, states) else {
            let mut missing = Vec::new();
            if start_at.is_none() {
                missing.push("StartAt");
            }
            if states.is_none() {
                missing.push("States");
            }
            self.schema(
                format!("These fields are required: [{}]", missing.join(", ")),
                at,
            );
            return None;
        };
        if !states.contains_key(start_at) {
            self.problems
                .push(graph::missing_target(start_at, &format!("{at}/StartAt")));
        }
        let mut built = HashMap::new();
        for (name, state) in states {
            let state_at = format!("{at}/States/{name}");
            if name.chars().count() > 80 {
                self.schema("State names cannot be longer than 80 characters", &state_at);
            }
            if let Some(state) = self.state(name, state, &state_at) {
                built.insert(name.clone(), state);
            }
        }
        self.graph(start_at, states, &built, at);
        Some(Block {
            start_at: start_at.to_owned(),
            states: built,
        })
    }

    /// Every transition target must exist in the block, every state must be
    /// reachable from StartAt, and at least one state must end the block.
    /// The last two are only judged once every state has been built and
    /// every target exists, as AWS does.
    fn graph(
        &mut self,
        start_at: &str,
        states: &Map<String, Value>,
        built: &HashMap<String, State>,
        at: &str,
    ) {
        let missing = graph::missing_targets(states, |name| built.contains_key(name), at);
        let targets_ok = missing.is_empty();
        self.problems.extend(missing);
        if !(targets_ok && built.len() == states.len() && states.contains_key(start_at)) {
            return;
        }
        for name in graph::unreachable(start_at, states) {
            self.problems.push(format!(
                "UNREACHABLE_STATE: State \"{name}\" is not reachable. at {at}/States/{name}"
            ));
        }
        if !built
            .values()
            .any(|s| s.next.is_none() && !matches!(s.kind, Kind::Choice { .. }))
        {
            let at = if at.is_empty() { "/" } else { at };
            self.problems.push(format!(
                "MISSING_END_STATE: Workflow has no terminal state. at {at}"
            ));
        }
    }

    fn state(&mut self, name: &str, value: &Value, at: &str) -> Option<State> {
        let (object, kind) = self.state_type(value, at)?;
        // Unknown fields and the query language are reported but still let
        // the state be built, so that the block's transitions are checked
        // and reported with them; any problem from here on means the state
        // is not built.
        let before = self.problems.len();
        let next = self.next(kind, object, at);
        let input_path = self
            .path(object, "InputPath", at)
            .unwrap_or_else(|| Some(root_path()));
        let output_path = self
            .path(object, "OutputPath", at)
            .unwrap_or_else(|| Some(root_path()));
        let result_path = self
            .reference_path(object, "ResultPath", at)
            .unwrap_or_else(|| Some(root_path()));
        let parameters = if kind == "Map" {
            None
        } else {
            self.template(object, "Parameters", at)
        };
        let result_selector = self.template(object, "ResultSelector", at);
        let retry = self.handlers(object, &RETRY, at, Self::retrier);
        let catch = self.handlers(object, &CATCH, at, Self::catcher);
        let kind = self.kind(kind, object, at)?;
        if self.problems.len() > before {
            return None;
        }
        Some(State {
            name: name.to_owned(),
            kind,
            input_path,
            output_path,
            result_path,
            parameters,
            result_selector,
            next,
            retry,
            catch,
        })
    }

    /// A state's object and its `Type`, with the fields that type allows.
    fn state_type<'v>(
        &mut self,
        value: &'v Value,
        at: &str,
    ) -> Option<(&'v Map<String, Value>, &'v str)> {
        let Some(object) = value.as_object() else {
            self.schema("A state must be an object", at);
            return None;
        };
        let Some(kind) = object.get("Type").and_then(Value::as_str) else {
            self.schema("These fields are required: [Type]", at);
            return None;
        };
        let Some(fields) = allowed(kind) else {
            self.schema(
                format!("The value for the field 'Type' must be one of [Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map] but was '{kind}'"),
                &format!("{at}/Type"),
            );
            return None;
        };
        for key in object.keys() {
            if !fields.contains(&key.as_str()) {
                self.schema(
                    format!(
                        "The field \"{key}\" is not supported by Step Functions for a {kind} state"
                    ),
                    at,
                );
            }
        }
        if let Some(language) = object.get("QueryLanguage")
            && language != "JSONPath"
        {
            self.schema(
                "Only the JSONPath query language is supported by this executor",
                &format!("{at}/QueryLanguage"),
            );
        }
        Some((object, kind))
    }

    /// `Next`, or `None` for `"End": true` and for the types that have
    /// neither.
    fn next(&mut self, kind: &str, object: &Map<String, Value>, at: &str) -> Option<String> {
        match (kind, object.get("Next"), object.get("End")) {
            ("Choice" | "Succeed" | "Fail", _, _) => None,
            (_, Some(Value::String(n)), None) => Some(n.clone()),
            (_, None, Some(Value::Bool(true))) => None,
            (_, Some(_), Some(_)) => {
                self.schema("Only one of the fields [Next, End] can be set", at);
                None
            }
            (_, None, Some(_)) => {
                self.schema(
                    "The value for the field 'End' must be true",
                    &format!("{at}/End"),
                );
                None
            }
            (_, Some(_), None) => {
                self.schema(
                    "The value for the field 'Next' must be a STRING",
                    &format!("{at}/Next"),
                );
                None
            }
            (_, None, None) => {
                self.schema(
                    "These fields are required: [Next, End] (exactly one of them)",
                    at,
                );
                None
            }
        }
    }

    /// What the state's type needs; `kind` was checked by `allowed`.
    fn kind(&mut self, kind: &str, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        Some(match kind {
            "Pass" => Kind::Pass {
                result: object.get("Result").cloned(),
            },
            "Task" => self.task(object, at)?,
            "Choice" => self.choice(object, at)?,
            "Wait" => self.wait(object, at)?,
            "Succeed" => Kind::Succeed,
            "Fail" => Kind::Fail {
                error: self.text(object, "Error", at),
                cause: self.text(object, "Cause", at),
            },
            "Parallel" => self.parallel(object, at)?,
            "Map" => self.map(object, at)?,
            _ => unreachable!("the type was checked against the allowed list"),
        })
    }

    fn task(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let Some(resource) = object.get("Resource").and_then(Value::as_str) else {
            self.schema("These fields are required: [Resource]", at);
            return None;
        };
        if !resource.starts_with("arn:") {
            self.schema(
                format!("Value is not a valid resource ARN: {resource}"),
                &format!("{at}/Resource"),
            );
        }
        let timeout = self.dynamic_int(object, "TimeoutSeconds", at, false);
        let heartbeat = self.dynamic_int(object, "HeartbeatSeconds", at, false);
        if let (Some(Dynamic::Fixed(t)), Some(Dynamic::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.schema(
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
                &format!("{at}/HeartbeatSeconds"),
            );
        }
        Some(Kind::Task {
            resource: resource.to_owned(),
            timeout,
            heartbeat,
        })
    }

    fn parallel(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let list = self.required_array(object, "Branches", at)?;
        let branches: Vec<Block> = list
            .iter()
            .enumerate()
            .filter_map(|(i, b)| self.block(b, &format!("{at}/Branches[{i}]")))
            .collect();
        Some(Kind::Parallel { branches })
    }

    fn choice(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let list = self.required_array(object, "Choices", at)?;
        let mut choices = Vec::new();
        for (i, rule) in list.iter().enumerate() {
            let rule_at = format!("{at}/Choices[{i}]");
            let Some(next) = rule.get("Next").and_then(Value::as_str) else {
                self.schema("These fields are required: [Next]", &rule_at);
                continue;
            };
            if let Some(unknown) = rule.as_object().map(choice::unknown_fields)
                && let Some(field) = unknown.first()
            {
                self.schema(
                    format!("The field \"{field}\" is not supported by Step Functions"),
                    &rule_at,
                );
                continue;
            }
            match Rule::compile(rule, &rule_at) {
                Ok(r) => choices.push((r, next.to_owned())),
                Err(e) => self.problems.push(e),
            }
        }
        let default = object
            .get("Default")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(Kind::Choice { choices, default })
    }

    fn wait(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let present: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
            .into_iter()
            .filter(|f| object.contains_key(*f))
            .collect();
        if present.len() != 1 {
            self.schema("Exactly one of the fields [Seconds, Timestamp, SecondsPath, TimestampPath] must be set", at);
            return None;
        }
        Some(Kind::Wait(match present[0] {
            "Seconds" => WaitFor::Seconds(self.positive_int(object, "Seconds", at, true)?),
            "Timestamp" => {
                let Some(ts) = object
                    .get("Timestamp")
                    .and_then(Value::as_str)
                    .and_then(choice::timestamp)
                else {
                    self.schema(
                        "The value for the field 'Timestamp' must be a valid timestamp",
                        &format!("{at}/Timestamp"),
                    );
                    return None;
                };
                WaitFor::Timestamp(ts)
            }
            "SecondsPath" => {
                WaitFor::SecondsPath(self.reference_path(object, "SecondsPath", at).flatten()?)
            }
            _ => {
                WaitFor::TimestampPath(self.reference_path(object, "TimestampPath", at).flatten()?)
            }
        }))
    }

    fn map(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let (processor, mode) = self.map_processor(object, at)?;
        if object.contains_key("ItemSelector") && object.contains_key("Parameters") {
            self.schema(
                "Only one of the fields [ItemSelector, Parameters] can be set",
                at,
            );
        }
        let item_selector = self
            .template(object, "ItemSelector", at)
            .or_else(|| self.template(object, "Parameters", at));
        let items_path = self
            .path(object, "ItemsPath", at)
            .flatten()
            .unwrap_or_else(root_path);
        let max_concurrency = self
            .dynamic_int(object, "MaxConcurrency", at, true)
            .unwrap_or(Dynamic::Fixed(0));
        let tolerated_count = self.dynamic_int(object, "ToleratedFailureCount", at, true);
        let tolerated_percentage = self.tolerated_percentage(object, at);
        let distributed = match mode {
            Some(execution_type) => Some(Box::new(self.distributed(object, execution_type, at)?)),
            None => {
                self.inline_only(object, at);
                None
            }
        };
        Some(Kind::Map(Box::new(MapSpec {
            items_path,
            item_selector,
            processor,
            max_concurrency,
            tolerated_count,
            tolerated_percentage,
            distributed,
        })))
    }

    /// A Map's `ItemProcessor` (or the older `Iterator`) and its mode:
    /// `None` for `INLINE`, the child execution type for `DISTRIBUTED`.
    fn map_processor(
        &mut self,
        object: &Map<String, Value>,
        at: &str,
    ) -> Option<(Block, Option<crate::asl::ExecutionType>)> {
        match (object.get("ItemProcessor"), object.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.schema(
                    "Only one of the fields [ItemProcessor, Iterator] can be set",
                    at,
                );
                None
            }
            (Some(p), None) => {
                let at = format!("{at}/ItemProcessor");
                let mode = self.processor_mode(p, &at)?;
                Some((self.block(p, &at)?, mode))
            }
            (None, Some(i)) => Some((self.block(i, &format!("{at}/Iterator"))?, None)),
            (None, None) => {
                self.schema("These fields are required: [ItemProcessor]", at);
                None
            }
        }
    }

    /// `ToleratedFailurePercentage`, a number from 0 to 100, or its `*Path`.
    fn tolerated_percentage(
        &mut self,
        object: &Map<String, Value>,
        at: &str,
    ) -> Option<Dynamic<f64>> {
        match (
            object.get("ToleratedFailurePercentage"),
            object.get("ToleratedFailurePercentagePath"),
        ) {
            (Some(v), None) => match v.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Some(Dynamic::Fixed(p)),
                _ => {
                    self.schema(
                        "ToleratedFailurePercentage must be a number between 0 and 100",
                        &format!("{at}/ToleratedFailurePercentage"),
                    );
                    None
                }
            },
            (None, Some(_)) => self
                .reference_path(object, "ToleratedFailurePercentagePath", at)
                .flatten()
                .map(Dynamic::Path),
            (Some(_), Some(_)) => {
                self.schema("The fields 'ToleratedFailurePercentage' and 'ToleratedFailurePercentagePath' cannot both be set", at);
                None
            }
            (None, None) => None,
        }
    }
}

fn root_path() -> Path {
    Path::parse("$").expect("'$' is a path")
}

/// Replaces `${Name}` placeholders, as CloudFormation's
/// `DefinitionSubstitutions` does. A placeholder with no value is an error,
/// so that a typo cannot become a resource ARN with `${` in it.
pub(crate) fn substitute(
    text: &str,
    substitutions: &HashMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        match substitutions.get(name) {
            Some(value) => out.push_str(value),
            None => return Err(format!("the placeholder ${{{name}}} has no substitution")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads a definition and validates it. `Err` holds AWS's message.
pub(crate) fn parse(name: &str, text: &str) -> Result<StateMachine, String> {
    check(name, text).map_err(|problems| {
        let quoted: Vec<String> = problems.iter().map(|p| format!("'{p}'")).collect();
        format!("Invalid State Machine Definition: {}", quoted.join(", "))
    })
}

/// `parse` with the problems as a list, each `CODE: message at /pointer`
/// (a JSON syntax error has no pointer), for `ValidateStateMachineDefinition`'s
/// diagnostics.
pub(crate) fn check(name: &str, text: &str) -> Result<StateMachine, Vec<String>> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| vec![format!("INVALID_JSON_DESCRIPTION: {e}")])?;
    let mut checker = Checker {
        problems: Vec::new(),
    };
    if let Some(language) = value.get("QueryLanguage")
        && language != "JSONPath"
    {
        checker.schema(
            "Only the JSONPath query language is supported by this executor",
            "/QueryLanguage",
        );
    }
    let timeout = match value.get("TimeoutSeconds") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(s) if s > 0 => Some(Duration::from_secs(s)),
            _ => {
                checker.schema(
                    "The value for the field 'TimeoutSeconds' must be a positive integer",
                    "/TimeoutSeconds",
                );
                None
            }
        },
    };
    let root = checker.block(&value, "");
    match root {
        Some(root) if checker.problems.is_empty() => Ok(StateMachine {
            name: name.to_owned(),
            root,
            timeout,
            role_arn: None,
        }),
        _ => Err(checker.problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> String {
        parse("sm", text).unwrap_err()
    }

    #[test]
    fn unknown_next_is_a_missing_transition_target() {
        let message = problems(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#);
        assert_eq!(
            message,
            "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next'"
        );
    }

    #[test]
    fn unreachable_states_and_bad_fields_are_reported_together() {
        let message = problems(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}"#,
        );
        assert!(
            message.contains("UNREACHABLE_STATE: State \"B\" is not reachable."),
            "{message}"
        );
        let message = problems(
            r#"{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":1,"Result":1,"End":true}}}"#,
        );
        assert!(message.contains("The field \"Result\" is not supported by Step Functions for a Wait state at /States/A"), "{message}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let message = problems(r#"{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}"#);
        assert!(
            message.contains("These fields are required: [Resource] at /States/A"),
            "{message}"
        );
    }

    #[test]
    fn states_all_must_be_alone_and_last() {
        let message = problems(
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true,
               "Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}],
               "Catch":[{"ErrorEquals":["States.ALL","X"],"Next":"A"}]}}}"#,
        );
        assert!(
            message.contains("A Retrier with States.ALL must be the last Retrier"),
            "{message}"
        );
        assert!(
            message.contains("States.ALL must appear alone in ErrorEquals"),
            "{message}"
        );
    }

    #[test]
    fn placeholders_are_substituted_or_refused() {
        let map = HashMap::from([("Fn".to_owned(), "arn:x".to_owned())]);
        assert_eq!(substitute("a ${Fn} b", &map), Ok("a arn:x b".to_owned()));
        assert!(substitute("${Other}", &map).is_err());
    }
}
