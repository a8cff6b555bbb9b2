//! One state visit: the `*StateEntered` and `*StateExited` events around
//! it, the Pass, Succeed, Choice, Wait and Fail types, and, for Task,
//! Parallel and Map, the input and output processing around the work, its
//! Retry loop and its Catchers.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::context::{StateContext, apply_result_path};
use super::task::TaskRequest;
use super::{Run, Thread, timestamp};
use crate::asl::{Kind, State, Text, WaitFor};
use crate::choice::Rule;
use crate::clock::Clock;
use crate::failure::{Failure, Origin};
use crate::intrinsics::IntrinsicError;
use crate::path::Path;
use crate::retry::{self, RetryDecision};

/// What a state does next.
pub(super) enum Step {
    Next(String, Value),
    End(Value),
}

/// The `Type` as the history's event names spell it.
fn type_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Pass { .. } => "Pass",
        Kind::Task { .. } => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map(_) => "Map",
    }
}

impl Run {
    /// Runs one state on `raw`, its raw input, and says where to go next.
    pub(super) async fn run_state(
        &self,
        state: &State,
        raw: Value,
        thread: &mut Thread,
        base: &Value,
    ) -> Result<Step, Failure> {
        let kind = type_name(&state.kind);
        let entered_at = thread.clock.now();
        let entered_id = self.record(
            thread,
            &format!("{kind}StateEntered"),
            Some(json!({"name": state.name, "input": raw.to_string(), "inputDetails": {"truncated": false}})),
        );
        let mut sc = StateContext::new(base, &state.name, timestamp(entered_at), entered_id);
        let (output, next) = match &state.kind {
            Kind::Fail { error, cause } => return Err(fail(error, cause, &raw, &sc)),
            Kind::Succeed => (succeed(state, &raw, &sc)?, None),
            Kind::Choice { choices, default } => choose(state, choices, default, &raw, &sc)?,
            Kind::Wait(wait) => {
                let output = run_wait(state, wait, &raw, &mut thread.clock, &sc).await?;
                (output, state.next.clone())
            }
            Kind::Pass { result } => (pass(state, result, &raw, &sc)?, state.next.clone()),
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map(_) => {
                self.run_work_or_catch(state, &raw, thread, &mut sc).await?
            }
        };
        self.record(
            thread,
            &format!("{kind}StateExited"),
            Some(json!({"name": state.name, "output": output.to_string(), "outputDetails": {"truncated": false}})),
        );
        Ok(match next {
            Some(next) => Step::Next(next, output),
            None => Step::End(output),
        })
    }

    /// A Task, Parallel or Map state: its work, or the Catcher that takes
    /// its failure, with the state to go to.
    async fn run_work_or_catch(
        &self,
        state: &State,
        raw: &Value,
        thread: &mut Thread,
        sc: &mut StateContext<'_>,
    ) -> Result<(Value, Option<String>), Failure> {
        let failure = match self.run_work(state, raw, thread, sc).await {
            Ok(output) => return Ok((output, state.next.clone())),
            Err(failure) => failure,
        };
        match retry::catcher(&state.catch, &failure) {
            Some(catcher) => {
                let output = apply_result_path(&catcher.result_path, raw, failure.error_output())?;
                Ok((output, Some(catcher.next.clone())))
            }
            None => Err(failure.seen_from(Origin::State)),
        }
    }

    /// Input processing, the work with its retries, and output processing
    /// of a Task, Parallel or Map state. Errors come back for the Catchers.
    async fn run_work(
        &self,
        state: &State,
        raw: &Value,
        thread: &mut Thread,
        sc: &mut StateContext<'_>,
    ) -> Result<Value, Failure> {
        let effective = sc.select(&state.input_path, raw)?;
        // A Task that waits for a callback gets its token before its
        // Parameters are filled, which pass it on (`$$.Task.Token`).
        if let Kind::Task { resource, .. } = &state.kind
            && crate::integrations::waiting_for_token(resource).is_some()
        {
            sc.set_task_token(uuid::Uuid::new_v4().to_string());
        }
        // Parameters are evaluated once, before the first attempt, so every
        // retry sends the same task input.
        let parameters = match &state.parameters {
            Some(t) => sc.fill(t, &effective)?,
            None => effective.clone(),
        };
        let result = self
            .with_retries(state, &parameters, &effective, thread, sc)
            .await?;
        let selected = match &state.result_selector {
            Some(t) => sc.fill(t, &result)?,
            None => result,
        };
        let combined = apply_result_path(&state.result_path, raw, selected)?;
        sc.select(&state.output_path, &combined)
    }

    /// Attempts the work until it succeeds or no Retrier takes the failure,
    /// waiting each Retrier's interval and counting in `$$.State.RetryCount`.
    async fn with_retries(
        &self,
        state: &State,
        parameters: &Value,
        effective: &Value,
        thread: &mut Thread,
        sc: &mut StateContext<'_>,
    ) -> Result<Value, Failure> {
        let mut counts = vec![0; state.retry.len()];
        loop {
            let failure = match self.attempt(state, parameters, effective, thread, sc).await {
                Ok(result) => return Ok(result),
                Err(failure) => failure,
            };
            match retry::decide(&state.retry, &mut counts, &failure) {
                RetryDecision::Retry { delay, .. } => {
                    thread
                        .clock
                        .sleep(delay)
                        .await
                        .map_err(|_| Failure::execution_timed_out())?;
                    sc.retried();
                }
                RetryDecision::GiveUp => return Err(failure),
            }
        }
    }

    /// One attempt of the work itself. A Map reads its items from the
    /// effective input (its Parameters are the per-item ItemSelector).
    async fn attempt(
        &self,
        state: &State,
        parameters: &Value,
        effective: &Value,
        thread: &mut Thread,
        sc: &StateContext<'_>,
    ) -> Result<Value, Failure> {
        match &state.kind {
            Kind::Task {
                resource,
                timeout,
                heartbeat,
            } => {
                let task = TaskRequest {
                    resource,
                    timeout,
                    heartbeat,
                    parameters,
                    effective,
                };
                self.run_task(&task, thread, sc).await
            }
            Kind::Parallel { branches } => {
                self.run_parallel(branches, parameters, thread, sc.base())
                    .await
            }
            Kind::Map(spec) => self.run_map(state, spec, effective, thread, sc).await,
            _ => unreachable!("only work states come here"),
        }
    }
}

/// The failure a Fail state raises: its Error and Cause, or the runtime
/// failure of reading them.
fn fail(error: &Option<Text>, cause: &Option<Text>, raw: &Value, sc: &StateContext<'_>) -> Failure {
    let error = match fail_text(error, "ErrorPath", raw, sc) {
        Ok(error) => error,
        Err(failure) => return failure,
    };
    let cause = match fail_text(cause, "CausePath", raw, sc) {
        Ok(cause) => cause,
        Err(failure) => return failure,
    };
    // Without Error the failure has no name at all, which the Catchers'
    // Error Output and `ExecutionFailed` then leave out, as AWS does.
    Failure::new(error.unwrap_or_default(), cause)
}

/// A Fail state's Error or Cause: fixed, or read from its input by a path
/// or an intrinsic function (`field` names which, for the messages).
fn fail_text(
    text: &Option<Text>,
    field: &str,
    raw: &Value,
    sc: &StateContext<'_>,
) -> Result<Option<String>, Failure> {
    let value = match text {
        None => return Ok(None),
        Some(Text::Fixed(s)) => return Ok(Some(s.clone())),
        Some(Text::Path(p)) => p
            .select(raw, sc.context())
            .ok_or_else(|| sc.path_not_found(p.text(), field, raw))?,
        Some(Text::Intrinsic(call)) => call.evaluate(raw, sc.context()).map_err(|e| match e {
            IntrinsicError::PathNotFound(path) => sc.path_not_found(&path, field, raw),
            IntrinsicError::Invalid(message) => sc.intrinsic_failure(field, &message),
        })?,
    };
    match value {
        Value::String(s) => Ok(Some(s)),
        other => Err(sc.runtime_failure(&format!(
            "The ErrorPath or CausePath must resolve to a string, not {other}"
        ))),
    }
}

/// A Succeed state's output.
fn succeed(state: &State, raw: &Value, sc: &StateContext<'_>) -> Result<Value, Failure> {
    let effective = sc.select(&state.input_path, raw)?;
    sc.select(&state.output_path, &effective)
}

/// A Choice state: the Next of the first rule that holds, or the Default.
fn choose(
    state: &State,
    choices: &[(Rule, String)],
    default: &Option<String>,
    raw: &Value,
    sc: &StateContext<'_>,
) -> Result<(Value, Option<String>), Failure> {
    let effective = sc.select(&state.input_path, raw)?;
    let mut chosen = None;
    for (rule, next) in choices {
        if rule
            .evaluate(&effective, sc.context())
            .map_err(|detail| sc.runtime_failure(&detail))?
        {
            chosen = Some(next.clone());
            break;
        }
    }
    let Some(next) = chosen.or_else(|| default.clone()) else {
        return Err(Failure::new(
            "States.NoChoiceMatched",
            Some(format!(
                "No Matches! at state '{}' with input {effective}",
                state.name
            )),
        ));
    };
    let output = sc.select(&state.output_path, &effective)?;
    Ok((output, Some(next)))
}

/// A Wait state: lets the time pass on this thread's clock.
async fn run_wait(
    state: &State,
    wait: &WaitFor,
    raw: &Value,
    clock: &mut Clock,
    sc: &StateContext<'_>,
) -> Result<Value, Failure> {
    let effective = sc.select(&state.input_path, raw)?;
    let waited = match wait {
        WaitFor::Seconds(s) => clock.sleep(Duration::from_secs(*s)).await,
        WaitFor::Timestamp(t) => clock.sleep_until(t.with_timezone(&Utc)).await,
        WaitFor::SecondsPath(p) => {
            let seconds = seconds_at(p, &effective, sc)?;
            clock.sleep(Duration::from_secs(seconds)).await
        }
        WaitFor::TimestampPath(p) => {
            let value = sc.select(&Some(p.clone()), &effective)?;
            let Some(t) = value.as_str().and_then(crate::choice::timestamp) else {
                return Err(sc.runtime_failure(&format!("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}", p.text(), crate::unquoted(&value))));
            };
            clock.sleep_until(t.with_timezone(&Utc)).await
        }
    };
    waited.map_err(|_| Failure::execution_timed_out())?;
    sc.select(&state.output_path, &effective)
}

/// The seconds a `SecondsPath` reads, with AWS's three messages: no value,
/// a negative value, and anything that is not a whole number.
fn seconds_at(path: &Path, effective: &Value, sc: &StateContext<'_>) -> Result<u64, Failure> {
    let text = path.text();
    let Some(value) = path.select(effective, sc.context()) else {
        return Err(sc.runtime_failure(&format!(
            "The SecondsPath parameter does not reference an input value: {text}"
        )));
    };
    let shown = crate::unquoted(&value);
    match &value {
        Value::Number(n) if n.as_i64().is_some_and(|s| s < 0) => Err(sc.runtime_failure(&format!(
            "The SecondsPath parameter references a negative value: {text} == {shown}"
        ))),
        Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0)),
        _ => Err(sc.runtime_failure(&format!(
            "The SecondsPath parameter cannot be parsed as a long value: {text} == {shown}"
        ))),
    }
}

/// A Pass state's output: its Result, or its (Parameters-shaped) input,
/// placed by ResultPath.
fn pass(
    state: &State,
    result: &Option<Value>,
    raw: &Value,
    sc: &StateContext<'_>,
) -> Result<Value, Failure> {
    let effective = sc.select(&state.input_path, raw)?;
    let effective = match &state.parameters {
        Some(t) => sc.fill(t, &effective)?,
        None => effective,
    };
    let result = result.clone().unwrap_or(effective);
    let combined = apply_result_path(&state.result_path, raw, result)?;
    sc.select(&state.output_path, &combined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(value: Value) -> Result<u64, String> {
        let base = json!({});
        let sc = StateContext::new(&base, "Wait", String::new(), 2);
        let path = Path::parse("$.s").unwrap();
        seconds_at(&path, &json!({ "s": value }), &sc).map_err(|f| f.cause.unwrap_or_default())
    }

    #[test]
    fn seconds_path_takes_whole_non_negative_numbers_only() {
        assert_eq!(seconds(json!(5)), Ok(5));
        assert!(
            seconds(json!(-1))
                .unwrap_err()
                .ends_with("references a negative value: $.s == -1")
        );
        assert!(
            seconds(json!("5"))
                .unwrap_err()
                .ends_with("cannot be parsed as a long value: $.s == 5")
        );
        assert!(
            seconds(json!(1.5))
                .unwrap_err()
                .ends_with("cannot be parsed as a long value: $.s == 1.5")
        );
    }

    #[test]
    fn a_fail_state_without_error_raises_no_error_name() {
        let base = json!({});
        let sc = StateContext::new(&base, "Stop", String::new(), 2);
        let cause = Some(Text::Path(Path::parse("$.why").unwrap()));
        let failure = fail(&None, &cause, &json!({"why": "gone"}), &sc);
        assert_eq!(failure, Failure::new("", Some("gone".to_owned())));
        let missing = fail(&None, &cause, &json!({}), &sc);
        assert_eq!(missing.error, "States.Runtime");
    }
}
