//! The interpreter: runs a validated state machine from `StartAt` to a
//! terminal state, applying the input and output processing of each state
//! (InputPath, Parameters, ResultSelector, ResultPath, OutputPath), Retry and
//! Catch, and recording every event AWS would record.
//!
//! The order of processing is the developer guide's: InputPath selects the
//! effective input, Parameters builds the task input from it, the task runs,
//! ResultSelector shapes its result, ResultPath places the result into the
//! state's *raw* input, and OutputPath filters that. A Catcher's ResultPath
//! places the Error Output into the raw input, and OutputPath is not applied.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::asl::{Block, Dynamic, Kind, MapSpec, State, StateMachine, Text, WaitFor};
use crate::clock::Clock;
use crate::failure::{Failure, Origin};
use crate::history::{History, HistoryEvent};
use crate::integrations::{Integrations, Resource};
use crate::intrinsics::IntrinsicError;
use crate::lambda::{FunctionConfig, InvocationReport, LambdaOutcome, LambdaPool, LogSink};
use crate::path::Path;
use crate::retry::{self, RetryDecision};
use crate::template::{Template, TemplateError};

/// How the executor is set up.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The functions tasks may invoke.
    pub functions: Vec<FunctionConfig>,
    /// The region executions run in (ARNs, `AWS_REGION`, integrations).
    pub region: String,
    /// The account in ARNs.
    pub account_id: String,
    /// The local AWS endpoint (moto) per region, for service integrations.
    pub aws_endpoint_urls: HashMap<String, String>,
    /// Record Wait states and Retry intervals as elapsed without sleeping.
    pub virtual_time: bool,
    /// Where the functions' output goes.
    pub function_logs: LogSink,
    /// The execution role reported in `ExecutionStarted` and `$$`.
    pub role_arn: String,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            functions: Vec::new(),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            aws_endpoint_urls: HashMap::new(),
            virtual_time: false,
            function_logs: LogSink::Discard,
            role_arn: "arn:aws:iam::123456789012:role/sfn-local".to_owned(),
        }
    }
}

/// The status of an execution, as `DescribeExecution` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Reached a Succeed state or the end of a state.
    Succeeded,
    /// Failed with an error.
    Failed,
    /// Ran past the state machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped from outside.
    Aborted,
}

/// The `DescribeExecution` view of a finished execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeExecution {
    /// `arn:aws:states:<region>:<account>:execution:<machine>:<name>`.
    pub execution_arn: String,
    /// `arn:aws:states:<region>:<account>:stateMachine:<machine>`.
    pub state_machine_arn: String,
    /// The execution's name.
    pub name: String,
    /// How it ended.
    pub status: ExecutionStatus,
    /// When it started (RFC 3339).
    pub start_date: String,
    /// When it stopped (RFC 3339).
    pub stop_date: String,
    /// The input, as JSON text.
    pub input: String,
    /// The output as JSON text, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The error name, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The cause, when it failed and there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A finished execution: its description and its history.
#[derive(Debug, Clone)]
pub struct ExecutionResult {
    /// What `DescribeExecution` would return.
    pub description: DescribeExecution,
    /// What `GetExecutionHistory` would return.
    pub events: Vec<HistoryEvent>,
}

impl ExecutionResult {
    /// The output parsed back into JSON, when the execution succeeded.
    pub fn output(&self) -> Option<Value> {
        self.description
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
    }
}

/// A running execution.
pub struct Execution {
    arn: String,
    history: Arc<History>,
    handle: tokio::task::JoinHandle<ExecutionResult>,
}

impl Execution {
    /// The execution's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The events recorded so far.
    pub fn history(&self) -> Vec<HistoryEvent> {
        self.history.events()
    }

    /// Waits for the execution to end.
    pub async fn wait(self) -> ExecutionResult {
        match self.handle.await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

struct Inner {
    config: ExecutorConfig,
    lambda: LambdaPool,
    integrations: Integrations,
}

/// Runs executions of state machines. Cheap to clone; clones share the
/// function environments. Dropping the last clone kills every function
/// process it started.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

impl Executor {
    /// An executor with these functions and endpoints.
    pub fn new(config: ExecutorConfig) -> Self {
        let lambda = LambdaPool::new(
            config.functions.clone(),
            &config.region,
            &config.account_id,
            config.function_logs,
        );
        let integrations = Integrations::new(config.aws_endpoint_urls.clone());
        Self {
            inner: Arc::new(Inner {
                config,
                lambda,
                integrations,
            }),
        }
    }

    /// Starts an execution on the current tokio runtime. Without a name a
    /// UUID is used, as the console does.
    pub fn start_execution(
        &self,
        machine: &StateMachine,
        name: Option<&str>,
        input: Value,
    ) -> Execution {
        let config = &self.inner.config;
        let name = name.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let machine_arn = format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            config.region, config.account_id, machine.name
        );
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{}",
            config.region, config.account_id, machine.name, name
        );
        let history = Arc::new(History::default());
        let run = Run {
            inner: self.inner.clone(),
            history: history.clone(),
            machine: Arc::new(machine.clone()),
            machine_arn,
            arn: arn.clone(),
            name,
        };
        let handle = tokio::spawn(run.execute(input));
        Execution {
            arn,
            history,
            handle,
        }
    }

    /// Starts an execution and waits for it to end.
    pub async fn run_to_completion(
        &self,
        machine: &StateMachine,
        name: Option<&str>,
        input: Value,
    ) -> ExecutionResult {
        self.start_execution(machine, name, input).wait().await
    }

    /// The REPORT records of every Lambda invocation so far.
    pub fn lambda_reports(&self) -> Vec<InvocationReport> {
        self.inner.lambda.reports()
    }

    /// The process ids of the warm function environments.
    pub fn warm_function_pids(&self) -> Vec<u32> {
        self.inner.lambda.warm_pids()
    }

    /// Kills every idle function process now.
    pub fn shutdown(&self) {
        self.inner.lambda.shutdown();
    }
}

/// One execution in progress.
struct Run {
    inner: Arc<Inner>,
    history: Arc<History>,
    machine: Arc<StateMachine>,
    machine_arn: String,
    arn: String,
    name: String,
}

/// A thread of the execution: the main flow, a branch or an iteration.
#[derive(Clone)]
struct Thread {
    clock: Clock,
    last: u64,
}

/// Per-state context: what `$$.State` and `$$.Map` hold.
struct StateContext {
    name: String,
    entered_time: String,
    entered_id: u64,
    retry_count: u64,
    map_item: Option<(usize, Value)>,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

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

/// What a state does next.
enum Step {
    Next(String, Value),
    End(Value),
}

impl Run {
    fn record(&self, thread: &mut Thread, event_type: &str, details: Option<Value>) -> u64 {
        let id = self
            .history
            .record(thread.last, thread.clock.now(), event_type, details);
        thread.last = id;
        id
    }

    async fn execute(self, input: Value) -> ExecutionResult {
        let mut thread = Thread {
            clock: Clock::new(self.inner.config.virtual_time),
            last: 0,
        };
        let start = thread.clock.now();
        let input_text = input.to_string();
        self.record(
            &mut thread,
            "ExecutionStarted",
            Some(json!({"input": input_text, "inputDetails": {"truncated": false}, "roleArn": self.inner.config.role_arn})),
        );
        let context = json!({
            "Execution": {
                "Id": self.arn,
                "Input": input,
                "Name": self.name,
                "RoleArn": self.inner.config.role_arn,
                "StartTime": timestamp(start),
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": self.machine_arn, "Name": self.machine.name},
        });
        let machine = self.machine.clone();
        let run = self.run_block(&machine.root, input, &mut thread, &context);
        let outcome = match machine.timeout {
            Some(limit) => tokio::time::timeout(limit, run).await.ok(),
            None => Some(run.await),
        };
        let (status, output, error, cause) = match outcome {
            Some(Ok(output)) => {
                let text = output.to_string();
                self.record(
                    &mut thread,
                    "ExecutionSucceeded",
                    Some(json!({"output": text, "outputDetails": {"truncated": false}})),
                );
                (ExecutionStatus::Succeeded, Some(text), None, None)
            }
            Some(Err(failure)) => {
                let mut details = json!({});
                if !failure.error.is_empty() {
                    details["error"] = json!(failure.error);
                }
                if let Some(cause) = &failure.cause {
                    details["cause"] = json!(cause);
                }
                self.record(&mut thread, "ExecutionFailed", Some(details));
                let error = Some(failure.error).filter(|e| !e.is_empty());
                (ExecutionStatus::Failed, None, error, failure.cause)
            }
            None => {
                self.record(
                    &mut thread,
                    "ExecutionTimedOut",
                    Some(json!({"error": "States.Timeout"})),
                );
                (
                    ExecutionStatus::TimedOut,
                    None,
                    Some("States.Timeout".to_owned()),
                    None,
                )
            }
        };
        ExecutionResult {
            description: DescribeExecution {
                execution_arn: self.arn.clone(),
                state_machine_arn: self.machine_arn.clone(),
                name: self.name.clone(),
                status,
                start_date: timestamp(start),
                stop_date: timestamp(thread.clock.now()),
                input: input_text,
                output,
                error,
                cause,
            },
            events: self.history.events(),
        }
    }

    fn run_block<'a>(
        &'a self,
        block: &'a Block,
        input: Value,
        thread: &'a mut Thread,
        context: &'a Value,
    ) -> BoxFuture<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let mut current = block.start_at.clone();
            let mut input = input;
            loop {
                let state = block
                    .states
                    .get(&current)
                    .expect("transitions were validated");
                match self.run_state(state, input, thread, context).await? {
                    Step::Next(next, output) => {
                        current = next;
                        input = output;
                    }
                    Step::End(output) => return Ok(output),
                }
            }
        })
    }

    fn state_context(&self, base: &Value, state: &StateContext) -> Value {
        let mut context = base.clone();
        context["State"] = json!({
            "EnteredTime": state.entered_time,
            "Name": state.name,
            "RetryCount": state.retry_count,
        });
        if let Some((index, value)) = &state.map_item {
            context["Map"] = json!({"Item": {"Index": index, "Value": value}});
        }
        context
    }

    fn runtime_failure(&self, state: &StateContext, detail: &str) -> Failure {
        Failure::runtime(format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {detail}",
            state.name, state.entered_id
        ))
    }

    fn apply_path(
        &self,
        path: &Option<Path>,
        value: &Value,
        context: &Value,
        state: &StateContext,
    ) -> Result<Value, Failure> {
        match path {
            None => Ok(json!({})),
            Some(p) => p.select(value, context).ok_or_else(|| {
                self.runtime_failure(
                    state,
                    &format!(
                        "Invalid path '{}' : {}",
                        p.text(),
                        p.missing_detail(value, context)
                    ),
                )
            }),
        }
    }

    fn apply_template(
        &self,
        template: &Template,
        data: &Value,
        context: &Value,
        state: &StateContext,
    ) -> Result<Value, Failure> {
        template.evaluate(data, context).map_err(|e| match e {
            TemplateError::PathNotFound { key, path } => self.runtime_failure(
                state,
                &format!("The JSONPath '{path}' specified for the field '{key}' could not be found in the input '{data}'"),
            ),
            TemplateError::Intrinsic { key, message } => Failure::new(
                "States.IntrinsicFailure",
                Some(format!(
                    "An error occurred while executing the state '{}' (entered at the event id #{}). The field '{key}' could not be evaluated: {message}",
                    state.name, state.entered_id
                )),
            ),
        })
    }

    fn apply_result_path(
        &self,
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

    async fn run_state(
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
        let mut sc = StateContext {
            name: state.name.clone(),
            entered_time: timestamp(entered_at),
            entered_id,
            retry_count: 0,
            map_item: None,
        };
        let exit = |this: &Self,
                    thread: &mut Thread,
                    output: Value,
                    next: Option<String>|
         -> Step {
            this.record(
                thread,
                &format!("{kind}StateExited"),
                Some(json!({"name": state.name, "output": output.to_string(), "outputDetails": {"truncated": false}})),
            );
            match next {
                Some(next) => Step::Next(next, output),
                None => Step::End(output),
            }
        };
        match &state.kind {
            Kind::Fail { error, cause } => {
                let context = self.state_context(base, &sc);
                // AWS: "The JSONPath '$.ErrorX' specified for the field
                // 'ErrorPath' could not be found in the input '{...}'".
                let not_found = |path: &str, field: &str| {
                    self.runtime_failure(
                        &sc,
                        &format!("The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{raw}'"),
                    )
                };
                let text = |t: &Option<Text>, field: &str| -> Result<Option<String>, Failure> {
                    let value = match t {
                        None => return Ok(None),
                        Some(Text::Fixed(s)) => return Ok(Some(s.clone())),
                        Some(Text::Path(p)) => p
                            .select(&raw, &context)
                            .ok_or_else(|| not_found(p.text(), field))?,
                        Some(Text::Intrinsic(call)) => {
                            call.evaluate(&raw, &context).map_err(|e| match e {
                                IntrinsicError::PathNotFound(path) => not_found(&path, field),
                                IntrinsicError::Invalid(message) => Failure::new(
                                    "States.IntrinsicFailure",
                                    Some(format!(
                                        "An error occurred while executing the state '{}' (entered at the event id #{}). The field '{field}' could not be evaluated: {message}",
                                        sc.name, sc.entered_id
                                    )),
                                ),
                            })?
                        }
                    };
                    match value {
                        Value::String(s) => Ok(Some(s)),
                        other => Err(self.runtime_failure(
                            &sc,
                            &format!(
                                "The ErrorPath or CausePath must resolve to a string, not {other}"
                            ),
                        )),
                    }
                };
                let error = text(error, "ErrorPath")?;
                let cause = text(cause, "CausePath")?;
                // A Fail state without Error fails with no error name at
                // all: AWS records `"executionFailedEventDetails": {}`.
                Err(Failure::new(error.unwrap_or_default(), cause))
            }
            Kind::Succeed => {
                let context = self.state_context(base, &sc);
                let effective = self.apply_path(&state.input_path, &raw, &context, &sc)?;
                let output = self.apply_path(&state.output_path, &effective, &context, &sc)?;
                Ok(exit(self, thread, output, None))
            }
            Kind::Choice { choices, default } => {
                let context = self.state_context(base, &sc);
                let effective = self.apply_path(&state.input_path, &raw, &context, &sc)?;
                let mut chosen = None;
                for (rule, next) in choices {
                    if rule
                        .evaluate(&effective, &context)
                        .map_err(|detail| self.runtime_failure(&sc, &detail))?
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
                let output = self.apply_path(&state.output_path, &effective, &context, &sc)?;
                Ok(exit(self, thread, output, Some(next)))
            }
            Kind::Wait(wait) => {
                let context = self.state_context(base, &sc);
                let effective = self.apply_path(&state.input_path, &raw, &context, &sc)?;
                match wait {
                    WaitFor::Seconds(s) => thread.clock.sleep(Duration::from_secs(*s)).await,
                    WaitFor::Timestamp(t) => thread.clock.sleep_until(t.with_timezone(&Utc)).await,
                    WaitFor::SecondsPath(p) => {
                        // AWS's three messages: no value, a negative value,
                        // and anything that is not a whole number.
                        let path = p.text();
                        let Some(value) = p.select(&effective, &context) else {
                            return Err(self.runtime_failure(&sc, &format!("The SecondsPath parameter does not reference an input value: {path}")));
                        };
                        let shown = match &value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let seconds = match &value {
                            Value::Number(n) if n.as_i64().is_some_and(|s| s < 0) => {
                                return Err(self.runtime_failure(&sc, &format!("The SecondsPath parameter references a negative value: {path} == {shown}")));
                            }
                            Value::Number(n) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
                            _ => {
                                return Err(self.runtime_failure(&sc, &format!("The SecondsPath parameter cannot be parsed as a long value: {path} == {shown}")));
                            }
                        };
                        thread.clock.sleep(Duration::from_secs(seconds)).await;
                    }
                    WaitFor::TimestampPath(p) => {
                        let value = self.apply_path(&Some(p.clone()), &effective, &context, &sc)?;
                        let Some(t) = value.as_str().and_then(crate::choice::timestamp) else {
                            let shown = match &value {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            return Err(self.runtime_failure(&sc, &format!("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {shown}", p.text())));
                        };
                        thread.clock.sleep_until(t.with_timezone(&Utc)).await;
                    }
                }
                let output = self.apply_path(&state.output_path, &effective, &context, &sc)?;
                Ok(exit(self, thread, output, state.next.clone()))
            }
            Kind::Pass { result } => {
                let context = self.state_context(base, &sc);
                let effective = self.apply_path(&state.input_path, &raw, &context, &sc)?;
                let effective = match &state.parameters {
                    Some(t) => self.apply_template(t, &effective, &context, &sc)?,
                    None => effective,
                };
                let result = result.clone().unwrap_or(effective);
                let combined = self.apply_result_path(&state.result_path, &raw, result)?;
                let output = self.apply_path(&state.output_path, &combined, &context, &sc)?;
                Ok(exit(self, thread, output, state.next.clone()))
            }
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map(_) => {
                let outcome = self.run_work(state, &raw, thread, base, &mut sc).await;
                let failure = match outcome {
                    Ok(output) => return Ok(exit(self, thread, output, state.next.clone())),
                    Err(failure) => failure,
                };
                match retry::catcher(&state.catch, &failure) {
                    Some(catcher) => {
                        let output = self.apply_result_path(
                            &catcher.result_path,
                            &raw,
                            failure.error_output(),
                        )?;
                        Ok(exit(self, thread, output, Some(catcher.next.clone())))
                    }
                    None => Err(Failure {
                        origin: Origin::State,
                        ..failure
                    }),
                }
            }
        }
    }

    /// Input processing, the work with its retries, and output processing
    /// of a Task, Parallel or Map state. Errors come back for the Catchers.
    async fn run_work(
        &self,
        state: &State,
        raw: &Value,
        thread: &mut Thread,
        base: &Value,
        sc: &mut StateContext,
    ) -> Result<Value, Failure> {
        let context = self.state_context(base, sc);
        let effective = self.apply_path(&state.input_path, raw, &context, sc)?;
        let parameters = match &state.parameters {
            Some(t) => self.apply_template(t, &effective, &context, sc)?,
            None => effective.clone(),
        };
        let mut counts = vec![0; state.retry.len()];
        let result = loop {
            let context = self.state_context(base, sc);
            let attempt = match &state.kind {
                Kind::Task {
                    resource,
                    timeout,
                    heartbeat,
                } => {
                    self.run_task(
                        resource,
                        timeout,
                        heartbeat,
                        &parameters,
                        &effective,
                        thread,
                        &context,
                        sc,
                    )
                    .await
                }
                Kind::Parallel { branches } => {
                    self.run_parallel(branches, &parameters, thread, base).await
                }
                Kind::Map(spec) => {
                    self.run_map(state, spec, &effective, thread, base, sc)
                        .await
                }
                _ => unreachable!("only work states come here"),
            };
            match attempt {
                Ok(result) => break result,
                Err(failure) => match retry::decide(&state.retry, &mut counts, &failure) {
                    RetryDecision::Retry { delay, .. } => {
                        thread.clock.sleep(delay).await;
                        sc.retry_count += 1;
                    }
                    RetryDecision::GiveUp => return Err(failure),
                },
            }
        };
        let context = self.state_context(base, sc);
        let selected = match &state.result_selector {
            Some(t) => self.apply_template(t, &result, &context, sc)?,
            None => result,
        };
        let combined = self.apply_result_path(&state.result_path, raw, selected)?;
        self.apply_path(&state.output_path, &combined, &context, sc)
    }

    fn resolve_seconds(
        &self,
        value: &Option<Dynamic<u64>>,
        data: &Value,
        context: &Value,
        sc: &StateContext,
        field: &str,
    ) -> Result<Option<u64>, Failure> {
        match value {
            None => Ok(None),
            Some(Dynamic::Fixed(n)) => Ok(Some(*n)),
            Some(Dynamic::Path(p)) => {
                let v = self.apply_path(&Some(p.clone()), data, context, sc)?;
                match v.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(self.runtime_failure(sc, &format!("The {field}Path parameter does not reference a valid positive integer: {v}"))),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_task(
        &self,
        resource: &str,
        timeout: &Option<Dynamic<u64>>,
        heartbeat: &Option<Dynamic<u64>>,
        parameters: &Value,
        effective: &Value,
        thread: &mut Thread,
        context: &Value,
        sc: &StateContext,
    ) -> Result<Value, Failure> {
        let timeout = self.resolve_seconds(timeout, effective, context, sc, "TimeoutSeconds")?;
        let heartbeat =
            self.resolve_seconds(heartbeat, effective, context, sc, "HeartbeatSeconds")?;
        let region = self.inner.config.region.clone();
        let parsed =
            Resource::parse(resource).map_err(|detail| self.runtime_failure(sc, &detail))?;
        let limit = timeout.map(Duration::from_secs);
        if let Resource::LambdaArn(arn) = &parsed {
            let mut details = json!({"resource": arn, "input": parameters.to_string(), "inputDetails": {"truncated": false}});
            if let Some(t) = timeout {
                details["timeoutInSeconds"] = json!(t);
            }
            self.record(thread, "LambdaFunctionScheduled", Some(details));
            self.record(thread, "LambdaFunctionStarted", None);
            let call = self
                .inner
                .lambda
                .invoke(arn, bytes::Bytes::from(parameters.to_string()));
            let outcome = match limit {
                Some(limit) => tokio::time::timeout(limit, call).await.ok(),
                None => Some(call.await),
            };
            return match outcome {
                None => {
                    self.record(
                        thread,
                        "LambdaFunctionTimedOut",
                        Some(json!({"error": "States.Timeout"})),
                    );
                    Err(Failure::new("States.Timeout", None))
                }
                Some(LambdaOutcome::Payload(body)) => {
                    let output = parse_payload(&body);
                    self.record(
                        thread,
                        "LambdaFunctionSucceeded",
                        Some(json!({"output": output.to_string(), "outputDetails": {"truncated": false}})),
                    );
                    Ok(output)
                }
                Some(LambdaOutcome::Failed { error, cause }) => {
                    self.record(
                        thread,
                        "LambdaFunctionFailed",
                        Some(json!({"error": error, "cause": cause})),
                    );
                    Err(Failure::new(error, Some(cause)))
                }
            };
        }
        let (resource_type, resource_name) = parsed.type_and_name();
        let mut details = json!({
            "resourceType": resource_type,
            "resource": resource_name,
            "region": region,
            "parameters": parameters.to_string(),
        });
        if let Some(t) = timeout {
            details["timeoutInSeconds"] = json!(t);
        }
        if let Some(h) = heartbeat {
            details["heartbeatInSeconds"] = json!(h);
        }
        self.record(thread, "TaskScheduled", Some(details));
        self.record(
            thread,
            "TaskStarted",
            Some(json!({"resourceType": resource_type, "resource": resource_name})),
        );
        let work = self.call_resource(&parsed, parameters, &region);
        let outcome = match limit {
            Some(limit) => tokio::time::timeout(limit, work).await.ok(),
            None => Some(work.await),
        };
        match outcome {
            None => {
                self.record(
                    thread,
                    "TaskTimedOut",
                    Some(json!({"resourceType": resource_type, "resource": resource_name, "error": "States.Timeout"})),
                );
                Err(Failure::new("States.Timeout", None))
            }
            Some(Ok(output)) => {
                self.record(
                    thread,
                    "TaskSucceeded",
                    Some(json!({
                        "resourceType": resource_type,
                        "resource": resource_name,
                        "output": output.to_string(),
                        "outputDetails": {"truncated": false},
                    })),
                );
                Ok(output)
            }
            Some(Err(failure)) => {
                let mut details = json!({"resourceType": resource_type, "resource": resource_name, "error": failure.error});
                if let Some(cause) = &failure.cause {
                    details["cause"] = json!(cause);
                }
                self.record(thread, "TaskFailed", Some(details));
                Err(failure)
            }
        }
    }

    async fn call_resource(
        &self,
        resource: &Resource,
        parameters: &Value,
        region: &str,
    ) -> Result<Value, Failure> {
        match resource {
            Resource::LambdaInvoke => {
                let Some(function) = parameters.get("FunctionName").and_then(Value::as_str) else {
                    return Err(Failure::new(
                        "States.Runtime",
                        Some("The field 'FunctionName' is required by arn:aws:states:::lambda:invoke".to_owned()),
                    ));
                };
                let payload = parameters
                    .get("Payload")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let request_id = uuid::Uuid::new_v4().to_string();
                match self
                    .inner
                    .lambda
                    .invoke(function, bytes::Bytes::from(payload.to_string()))
                    .await
                {
                    LambdaOutcome::Payload(body) => Ok(json!({
                        "ExecutedVersion": "$LATEST",
                        "Payload": parse_payload(&body),
                        "SdkHttpMetadata": {
                            "AllHttpHeaders": {
                                "X-Amz-Executed-Version": ["$LATEST"],
                                "x-amzn-RequestId": [request_id],
                                "Content-Type": ["application/json"],
                            },
                            "HttpHeaders": {
                                "X-Amz-Executed-Version": "$LATEST",
                                "x-amzn-RequestId": request_id,
                                "Content-Type": "application/json",
                            },
                            "HttpStatusCode": 200,
                        },
                        "SdkResponseMetadata": {"RequestId": request_id},
                        "StatusCode": 200,
                    })),
                    LambdaOutcome::Failed { error, cause } => Err(Failure::new(error, Some(cause))),
                }
            }
            other => {
                self.inner
                    .integrations
                    .call(other, parameters, region)
                    .await
            }
        }
    }

    async fn run_parallel(
        &self,
        branches: &[Block],
        input: &Value,
        thread: &mut Thread,
        base: &Value,
    ) -> Result<Value, Failure> {
        self.record(thread, "ParallelStateStarted", None);
        let started = thread.clone();
        let runs = branches.iter().map(|branch| {
            let mut branch_thread = started.clone();
            let input = input.clone();
            async move {
                let result = self
                    .run_block(branch, input, &mut branch_thread, base)
                    .await;
                (result, branch_thread)
            }
        });
        // A failing branch stops the others, as in AWS; the futures of the
        // other branches are dropped, which also stops their functions.
        let results = futures::future::try_join_all(runs.map(|f| async move {
            match f.await {
                (Ok(v), branch_thread) => Ok((v, branch_thread)),
                (Err(e), branch_thread) => Err((e, branch_thread)),
            }
        }))
        .await;
        match results {
            Ok(done) => {
                let mut outputs = Vec::with_capacity(done.len());
                for (output, branch_thread) in done {
                    thread.clock.join(&branch_thread.clock);
                    outputs.push(output);
                }
                self.record(thread, "ParallelStateSucceeded", None);
                Ok(Value::Array(outputs))
            }
            Err((failure, branch_thread)) => {
                thread.clock.join(&branch_thread.clock);
                self.record(thread, "ParallelStateFailed", None);
                Err(Failure {
                    origin: Origin::Branch,
                    ..failure
                })
            }
        }
    }

    async fn run_map(
        &self,
        state: &State,
        spec: &MapSpec,
        effective: &Value,
        thread: &mut Thread,
        base: &Value,
        sc: &StateContext,
    ) -> Result<Value, Failure> {
        let context = self.state_context(base, sc);
        let items = match spec.items_path.select(effective, &context) {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.runtime_failure(
                    sc,
                    &format!("Unable to apply ItemsPath '{}': the ItemsPath field must point to a JSON array, not {other}", spec.items_path.text()),
                ));
            }
            None => {
                return Err(self.runtime_failure(
                    sc,
                    &format!(
                        "Invalid path '{}' : No results for path: {}",
                        spec.items_path.text(),
                        spec.items_path.normalized()
                    ),
                ));
            }
        };
        // AWS: "The MaxConcurrencyPath field refers to value "NoNumber"
        // which is not a valid integer: $.MaxConcurrencyValue".
        let not_valid = |field: &str, value: &Value, kind: &str, p: &Path| {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            self.runtime_failure(
                sc,
                &format!(
                    "The {field} field refers to value \"{shown}\" which is not a valid {kind}: {}",
                    p.text()
                ),
            )
        };
        let resolve = |d: &Dynamic<u64>, field: &str| -> Result<u64, Failure> {
            match d {
                Dynamic::Fixed(n) => Ok(*n),
                Dynamic::Path(p) => {
                    let value = self.apply_path(&Some(p.clone()), effective, &context, sc)?;
                    value
                        .as_u64()
                        .ok_or_else(|| not_valid(field, &value, "integer", p))
                }
            }
        };
        let max_concurrency = resolve(&spec.max_concurrency, "MaxConcurrencyPath")?;
        let tolerated_count = spec
            .tolerated_count
            .as_ref()
            .map(|d| resolve(d, "ToleratedFailureCountPath"))
            .transpose()?;
        let tolerated_percentage = match &spec.tolerated_percentage {
            None => None,
            Some(Dynamic::Fixed(p)) => Some(*p),
            Some(Dynamic::Path(p)) => {
                let value = self.apply_path(&Some(p.clone()), effective, &context, sc)?;
                Some(value.as_f64().ok_or_else(|| {
                    not_valid("ToleratedFailurePercentagePath", &value, "float", p)
                })?)
            }
        };
        let tolerant = tolerated_count.is_some() || tolerated_percentage.is_some();
        self.record(
            thread,
            "MapStateStarted",
            Some(json!({"length": items.len()})),
        );
        let limit = if max_concurrency == 0 {
            items.len().max(1)
        } else {
            max_concurrency as usize
        };
        let permits = Arc::new(tokio::sync::Semaphore::new(limit));
        let running: Arc<Mutex<HashMap<usize, u64>>> = Arc::new(Mutex::new(HashMap::new()));
        let started = thread.clone();
        let iterations = items.into_iter().enumerate().map(|(index, item)| {
            let permits = permits.clone();
            let running = running.clone();
            let mut iteration_thread = started.clone();
            let item_context = StateContext {
                name: sc.name.clone(),
                entered_time: sc.entered_time.clone(),
                entered_id: sc.entered_id,
                retry_count: sc.retry_count,
                map_item: Some((index, item.clone())),
            };
            async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let iteration_input = match &spec.item_selector {
                    Some(t) => {
                        let context = self.state_context(base, &item_context);
                        self.apply_template(t, effective, &context, &item_context)
                    }
                    None => Ok(item),
                };
                let details = json!({"name": state.name, "index": index});
                let id = self.record(
                    &mut iteration_thread,
                    "MapIterationStarted",
                    Some(details.clone()),
                );
                running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(index, id);
                let result = match iteration_input {
                    Ok(input) => {
                        self.run_block(&spec.processor, input, &mut iteration_thread, base)
                            .await
                    }
                    Err(failure) => Err(failure),
                };
                running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&index);
                let event = if result.is_ok() {
                    "MapIterationSucceeded"
                } else {
                    "MapIterationFailed"
                };
                self.record(&mut iteration_thread, event, Some(details));
                (result, iteration_thread)
            }
        });
        if tolerant {
            let done = futures::future::join_all(iterations).await;
            let count = done.len();
            let mut failures = 0usize;
            let mut outputs = Vec::with_capacity(count);
            for (result, iteration_thread) in done {
                thread.clock.join(&iteration_thread.clock);
                outputs.push(result.unwrap_or_else(|failure| {
                    failures += 1;
                    failure.error_output()
                }));
            }
            let over_count = tolerated_count.is_some_and(|c| failures as u64 > c);
            let over_percentage = tolerated_percentage
                .is_some_and(|p| count > 0 && failures as f64 * 100.0 / count as f64 > p);
            let exceeded = match (tolerated_count, tolerated_percentage) {
                (Some(_), Some(_)) => over_count && over_percentage,
                _ => over_count || over_percentage,
            };
            if exceeded {
                self.record(thread, "MapStateFailed", None);
                return Err(Failure::new(
                    "States.ExceedToleratedFailureThreshold",
                    Some("The specified tolerated failure threshold was exceeded".to_owned()),
                ));
            }
            self.record(thread, "MapStateSucceeded", None);
            return Ok(Value::Array(outputs));
        }
        let results = futures::future::try_join_all(iterations.map(|f| async move {
            match f.await {
                (Ok(v), iteration_thread) => Ok((v, iteration_thread)),
                (Err(e), iteration_thread) => Err((e, iteration_thread)),
            }
        }))
        .await;
        match results {
            Ok(done) => {
                let mut outputs = Vec::with_capacity(done.len());
                for (output, iteration_thread) in done {
                    thread.clock.join(&iteration_thread.clock);
                    outputs.push(output);
                }
                self.record(thread, "MapStateSucceeded", None);
                Ok(Value::Array(outputs))
            }
            Err((failure, iteration_thread)) => {
                thread.clock.join(&iteration_thread.clock);
                // Iterations still running when one failed are aborted.
                let mut aborted: Vec<(usize, u64)> = running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain()
                    .collect();
                aborted.sort_unstable();
                for (index, started_id) in aborted {
                    let mut aborted_thread = Thread {
                        clock: thread.clock.clone(),
                        last: started_id,
                    };
                    self.record(
                        &mut aborted_thread,
                        "MapIterationAborted",
                        Some(json!({"name": state.name, "index": index})),
                    );
                }
                self.record(thread, "MapStateFailed", None);
                Err(Failure {
                    origin: Origin::Branch,
                    ..failure
                })
            }
        }
    }
}

/// A function's result as JSON; a payload that is not JSON is kept as text.
fn parse_payload(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
