//! Where a state runs and how its input and output are processed: the
//! context object (`$$`) of one state visit, and the InputPath, Parameters,
//! ResultSelector, ResultPath and OutputPath steps with AWS's failure
//! messages.
//!
//! Each step is a plain function of a value and the state's context, so
//! that every state type applies it the same way and it can be tested
//! without running an execution.

use serde_json::{Value, json};

use crate::failure::Failure;
use crate::path::Path;
use crate::template::{Template, TemplateError};

/// One visit of a state: what `$$.State` (and, inside a Map iteration,
/// `$$.Map`) holds, and the whole context object built from it.
#[derive(Debug, Clone)]
pub(super) struct StateContext<'a> {
    /// The execution's part of the context object (`Execution`,
    /// `StateMachine`), shared by every state.
    base: &'a Value,
    name: &'a str,
    entered_time: String,
    entered_id: u64,
    retry_count: u64,
    map_item: Option<(usize, Value)>,
    /// `$$.Task.Token`, in a Task state that waits for a task token.
    task_token: Option<String>,
    /// `base` with `State` (and `Map`) added, rebuilt whenever they change
    /// so that each step reads it without building it again.
    context: Value,
}

impl<'a> StateContext<'a> {
    /// The context of a state entered at `entered_time` by event `entered_id`.
    pub(super) fn new(
        base: &'a Value,
        name: &'a str,
        entered_time: String,
        entered_id: u64,
    ) -> Self {
        let mut state = Self {
            base,
            name,
            entered_time,
            entered_id,
            retry_count: 0,
            map_item: None,
            task_token: None,
            context: Value::Null,
        };
        state.context = state.build();
        state
    }

    /// The same visit as seen by one Map iteration: `$$.Map.Item` is set.
    pub(super) fn for_item(&self, index: usize, item: Value) -> Self {
        let mut state = Self {
            map_item: Some((index, item)),
            context: Value::Null,
            ..self.clone()
        };
        state.context = state.build();
        state
    }

    /// Sets `$$.Task.Token` for a Task that waits for a task token.
    pub(super) fn set_task_token(&mut self, token: String) {
        self.task_token = Some(token);
        self.context = self.build();
    }

    /// `$$.Task.Token`, when the state waits for one.
    pub(super) fn task_token(&self) -> Option<&str> {
        self.task_token.as_deref()
    }

    /// Counts one more retry in `$$.State.RetryCount`.
    pub(super) fn retried(&mut self) {
        self.retry_count += 1;
        self.context = self.build();
    }

    fn build(&self) -> Value {
        let mut context = self.base.clone();
        context["State"] = json!({
            "EnteredTime": self.entered_time,
            "Name": self.name,
            "RetryCount": self.retry_count,
        });
        if let Some((index, value)) = &self.map_item {
            context["Map"] = json!({"Item": {"Index": index, "Value": value}});
        }
        if let Some(token) = &self.task_token {
            context["Task"] = json!({"Token": token});
        }
        context
    }

    /// The context object, `$$`.
    pub(super) fn context(&self) -> &Value {
        &self.context
    }

    /// The execution's part of the context object, which a Parallel
    /// branch or a Map iteration starts from.
    pub(super) fn base(&self) -> &'a Value {
        self.base
    }

    /// `States.Runtime`, with AWS's prefix naming the state and the event
    /// that entered it.
    pub(super) fn runtime_failure(&self, detail: &str) -> Failure {
        Failure::runtime(format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {detail}",
            self.name, self.entered_id
        ))
    }

    /// `States.IntrinsicFailure` for the intrinsic function in `field`.
    pub(super) fn intrinsic_failure(&self, field: &str, message: &str) -> Failure {
        Failure::new(
            "States.IntrinsicFailure",
            Some(format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). The field '{field}' could not be evaluated: {message}",
                self.name, self.entered_id
            )),
        )
    }

    /// The failure for a `.$` field, ErrorPath or CausePath whose path
    /// matched nothing in `data`.
    pub(super) fn path_not_found(&self, path: &str, field: &str, data: &Value) -> Failure {
        self.runtime_failure(&format!(
            "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{data}'"
        ))
    }

    /// InputPath or OutputPath (or any path that must match): `None` is
    /// `null`, which gives `{}`.
    pub(super) fn select(&self, path: &Option<Path>, value: &Value) -> Result<Value, Failure> {
        match path {
            None => Ok(json!({})),
            Some(p) => p.select(value, &self.context).ok_or_else(|| {
                self.runtime_failure(&format!(
                    "Invalid path '{}' : {}",
                    p.text(),
                    p.missing_detail(value, &self.context)
                ))
            }),
        }
    }

    /// Parameters, ResultSelector or ItemSelector filled from `data`.
    pub(super) fn fill(&self, template: &Template, data: &Value) -> Result<Value, Failure> {
        template.evaluate(data, &self.context).map_err(|e| match e {
            TemplateError::PathNotFound { key, path } => self.path_not_found(&path, &key, data),
            TemplateError::Intrinsic { key, message } => self.intrinsic_failure(&key, &message),
        })
    }
}

/// ResultPath: places `result` into the state's raw input; `None` is
/// `null`, which keeps the input as it was.
pub(super) fn apply_result_path(
    path: &Option<Path>,
    raw: &Value,
    result: Value,
) -> Result<Value, Failure> {
    match path {
        None => Ok(raw.clone()),
        Some(p) => p.write(raw.clone(), result).map_err(|step| {
            Failure::new(
                "States.ReferencePathConflict",
                Some(format!("Unable to apply step \"{step}\" to input {raw}")),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Option<Path> {
        Some(Path::parse(text).unwrap())
    }

    #[test]
    fn the_context_object_holds_the_state_the_retry_count_and_the_item() {
        let base = json!({"Execution": {"Name": "run"}});
        let mut state = StateContext::new(&base, "Check", "2024-01-01T00:00:00.000Z".to_owned(), 4);
        state.retried();
        assert_eq!(
            state.context(),
            &json!({"Execution": {"Name": "run"}, "State": {"EnteredTime": "2024-01-01T00:00:00.000Z", "Name": "Check", "RetryCount": 1}})
        );
        let item = state.for_item(2, json!("b"));
        assert_eq!(
            item.context()["Map"],
            json!({"Item": {"Index": 2, "Value": "b"}})
        );
        assert_eq!(item.context()["State"]["RetryCount"], 1);
    }

    #[test]
    fn a_missing_path_fails_the_state_by_name_and_event() {
        let base = json!({});
        let state = StateContext::new(&base, "Check", String::new(), 7);
        assert_eq!(state.select(&None, &json!({"a": 1})), Ok(json!({})));
        let failure = state.select(&path("$.b"), &json!({"a": 1})).unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
        assert!(
            failure.cause.as_deref().is_some_and(|c| c.starts_with(
                "An error occurred while executing the state 'Check' (entered at the event id #7). Invalid path '$.b'"
            )),
            "{failure:?}"
        );
    }

    #[test]
    fn result_path_null_keeps_the_input_and_a_conflict_is_named() {
        assert_eq!(
            apply_result_path(&None, &json!({"a": 1}), json!(2)),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            apply_result_path(&path("$.r"), &json!({"a": 1}), json!(2)),
            Ok(json!({"a": 1, "r": 2}))
        );
        let conflict = apply_result_path(&path("$.a.b"), &json!({"a": 1}), json!(2)).unwrap_err();
        assert_eq!(conflict.error, "States.ReferencePathConflict");
    }
}
