//! The interpreter's public face and its main loop: `Executor` starts
//! executions of a validated state machine, each runs from `StartAt` to a
//! terminal state on its own tokio task, and ends as an `ExecutionResult`
//! in the shapes of `DescribeExecution` and `GetExecutionHistory`.
//!
//! The order of processing inside a state is the developer guide's:
//! InputPath selects the effective input, Parameters builds the task input
//! from it, the task runs, ResultSelector shapes its result, ResultPath
//! places the result into the state's *raw* input, and OutputPath filters
//! that. A Catcher's ResultPath places the Error Output into the raw input,
//! and OutputPath is not applied. The submodules hold the parts:
//! `context` (the `$$` object and the path steps), `states` (each state
//! type, Retry and Catch), `task` (Lambda and the service integrations),
//! `nested` (the `.sync` child executions of `states:startExecution`),
//! `parallel` and `map` (the states that run threads of their own) and
//! `distributed` (a Distributed Map: its Map Run of child executions, each
//! with a history of its own, and its S3 reader and writer).
//!
//! A running execution can be watched and stopped from outside through its
//! `ExecutionControl`, which is what the Step Functions endpoint
//! (`server`) serves `DescribeExecution`, `GetExecutionHistory` and
//! `StopExecution` from while the execution runs.

mod context;
mod distributed;
mod map;
mod nested;
mod parallel;
mod states;
mod task;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::asl::{Block, StateMachine};
use crate::clock::Clock;
use crate::failure::{Failure, Origin};
use crate::history::{History, HistoryEvent, MAX_HISTORY_EVENTS};
use crate::integrations::Integrations;
use crate::lambda::{FunctionConfig, InvocationReport, LambdaPool, LogSink};
use distributed::MapRuns;
pub use distributed::{MapRunCounts, MapRunDescription, MapRunStatus};

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
    /// The Step Functions endpoint per region that `states:startExecution`
    /// Tasks start their child executions on; `Server::bind` adds its own
    /// address for its region. A region without one fails the Task.
    pub sfn_endpoint_urls: HashMap<String, String>,
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
            sfn_endpoint_urls: HashMap::new(),
            virtual_time: false,
            function_logs: LogSink::Discard,
            role_arn: "arn:aws:iam::123456789012:role/sfn-local".to_owned(),
        }
    }
}

/// How a finished execution ended, as `DescribeExecution` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Reached a Succeed state or the end of a state.
    Succeeded,
    /// Failed with an error.
    Failed,
    /// Ran past the state machine's `TimeoutSeconds`.
    TimedOut,
    /// Stopped by `ExecutionControl::stop` (`StopExecution`).
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
    handle: tokio::task::JoinHandle<ExecutionResult>,
    control: ExecutionControl,
}

impl Execution {
    /// Waits for the execution to end.
    pub async fn wait(self) -> ExecutionResult {
        match self.handle.await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// A handle that watches and stops the execution, and outlives `wait`.
    pub fn control(&self) -> ExecutionControl {
        self.control.clone()
    }
}

/// Where a redrive starts: a top-level state and the input it was given.
#[derive(Debug, Clone)]
struct RedrivePoint {
    state: String,
    input: Value,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why an execution was stopped: the `error` and `cause` of `StopExecution`.
#[derive(Debug)]
struct Abort {
    error: Option<String>,
    cause: Option<String>,
}

/// What can be seen of and done to an execution while it runs: its ARN,
/// its start, the history so far, and stopping it. Cheap to clone.
#[derive(Clone)]
pub struct ExecutionControl {
    arn: Arc<str>,
    name: Arc<str>,
    start: DateTime<Utc>,
    /// The input the execution was started with, which `$$.Execution.Input`
    /// keeps through a redrive.
    input: Arc<Value>,
    history: Arc<History>,
    /// The top-level state the execution was in when it failed, and that
    /// state's input: where a redrive starts again.
    failed_at: Arc<Mutex<Option<RedrivePoint>>>,
    // Taken by the first `stop`; a closed channel (the execution ended)
    // makes `stop` a no-op, so stopping twice or too late is harmless.
    stop: Arc<Mutex<Option<oneshot::Sender<Abort>>>>,
    /// The Map Runs its Distributed Map states started.
    map_runs: Arc<MapRuns>,
}

impl ExecutionControl {
    /// The execution's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// When the execution started.
    pub fn start_date(&self) -> DateTime<Utc> {
        self.start
    }

    /// The history events recorded so far.
    pub fn events(&self) -> Vec<HistoryEvent> {
        self.history.events()
    }

    /// The state a redrive would start again from, once the execution has
    /// failed, timed out or been stopped inside a state.
    pub fn redrive_state(&self) -> Option<String> {
        lock(&self.failed_at)
            .as_ref()
            .map(|point| point.state.clone())
    }

    /// The Map Runs of its Distributed Map states so far, each with its
    /// child executions, as `ListMapRuns` and `DescribeMapRun` show them.
    pub fn map_runs(&self) -> Vec<MapRunDescription> {
        self.map_runs.descriptions()
    }

    /// Stops the execution as `StopExecution` does: the state in progress
    /// is abandoned (a function inside an invocation is killed with its
    /// environment) and `ExecutionAborted` ends the history. Returns false
    /// when the execution had already ended or been stopped.
    pub fn stop(&self, error: Option<String>, cause: Option<String>) -> bool {
        let sender = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        sender.is_some_and(|s| s.send(Abort { error, cause }).is_ok())
    }
}

struct Inner {
    config: ExecutorConfig,
    lambda: LambdaPool,
    integrations: Integrations,
    /// The task tokens of the Tasks waiting for one, each with the channel
    /// its answer goes to.
    tokens: Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<TokenAnswer>>>,
}

/// What `SendTaskSuccess`, `SendTaskFailure` or `SendTaskHeartbeat` said.
#[derive(Debug)]
pub(crate) enum TokenAnswer {
    Success(Value),
    Failure {
        error: Option<String>,
        cause: Option<String>,
    },
    Heartbeat,
}

/// A task token no waiting Task holds: unknown, or its Task has ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Task Does Not Exist: no task is waiting for the token '{0}'")]
pub struct TaskDoesNotExist(pub String);

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
        let integrations = Integrations::new(
            config.aws_endpoint_urls.clone(),
            config.sfn_endpoint_urls.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                config,
                lambda,
                integrations,
                tokens: Mutex::new(HashMap::new()),
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
        let control = ExecutionControl {
            arn: execution_arn(config, &machine.name, &name).into(),
            name: name.into(),
            start: Utc::now(),
            input: Arc::new(input),
            history: Arc::new(History::default()),
            failed_at: Arc::new(Mutex::new(None)),
            stop: Arc::new(Mutex::new(None)),
            map_runs: Arc::default(),
        };
        self.launch(machine, control, None)
    }

    /// Redrives an execution that failed, timed out or was stopped, as
    /// `RedriveExecution` does: its history goes on (`ExecutionRedriven`),
    /// and it runs again from the top-level state it stopped in, with that
    /// state's input; a Parallel or Map state runs again whole. `None` when
    /// it did not stop inside a state (it succeeded, or is still running).
    pub fn redrive_execution(
        &self,
        machine: &StateMachine,
        control: &ExecutionControl,
        redrive_count: u32,
    ) -> Option<Execution> {
        let point = lock(&control.failed_at).take()?;
        let control = ExecutionControl {
            stop: Arc::new(Mutex::new(None)),
            ..control.clone()
        };
        Some(self.launch(machine, control, Some((point, redrive_count))))
    }

    /// Runs an execution from its start, or from a redrive point.
    fn launch(
        &self,
        machine: &StateMachine,
        control: ExecutionControl,
        redrive: Option<(RedrivePoint, u32)>,
    ) -> Execution {
        let (stop, stopped) = oneshot::channel();
        *lock(&control.stop) = Some(stop);
        let run = Run {
            inner: self.inner.clone(),
            history: control.history.clone(),
            failed_at: control.failed_at.clone(),
            machine: Arc::new(machine.clone()),
            machine_arn: machine_arn(&self.inner.config, &machine.name),
            arn: control.arn.to_string(),
            name: control.name.to_string(),
            start: control.start,
            map_runs: control.map_runs.clone(),
        };
        let input = (*control.input).clone();
        Execution {
            handle: tokio::spawn(run.execute(input, redrive, stopped)),
            control,
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

    /// `SendTaskSuccess`: the Task waiting for `token` succeeds with
    /// `output` as its result.
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), TaskDoesNotExist> {
        self.answer(token, TokenAnswer::Success(output))
    }

    /// `SendTaskFailure`: the Task waiting for `token` fails with `error`
    /// (`States.TaskFailed` when none) and `cause`.
    pub fn send_task_failure(
        &self,
        token: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), TaskDoesNotExist> {
        self.answer(token, TokenAnswer::Failure { error, cause })
    }

    /// `SendTaskHeartbeat`: the Task waiting for `token` is still being
    /// worked on, so its `HeartbeatSeconds` start again.
    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), TaskDoesNotExist> {
        self.answer(token, TokenAnswer::Heartbeat)
    }

    fn answer(&self, token: &str, answer: TokenAnswer) -> Result<(), TaskDoesNotExist> {
        let tokens = lock(&self.inner.tokens);
        let sender = tokens
            .get(token)
            .ok_or_else(|| TaskDoesNotExist(token.to_owned()))?;
        sender
            .send(answer)
            .map_err(|_| TaskDoesNotExist(token.to_owned()))
    }

    /// The REPORT records of every Lambda invocation so far.
    pub fn lambda_reports(&self) -> Vec<InvocationReport> {
        self.inner.lambda.reports()
    }

    /// The process ids of the warm function environments.
    pub fn warm_function_pids(&self) -> Vec<u32> {
        self.inner.lambda.warm_pids()
    }

    /// Kills every idle function process now. An environment busy with an
    /// invocation goes back to the pool when it answers, and is killed by
    /// the next `shutdown` or when the last clone of the executor is dropped.
    pub fn shutdown(&self) {
        self.inner.lambda.shutdown();
    }
}

/// `arn:aws:states:<region>:<account>:stateMachine:<machine>`.
pub(crate) fn machine_arn(config: &ExecutorConfig, machine: &str) -> String {
    format!(
        "arn:aws:states:{}:{}:stateMachine:{machine}",
        config.region, config.account_id
    )
}

/// `arn:aws:states:<region>:<account>:execution:<machine>:<name>`.
pub(crate) fn execution_arn(config: &ExecutorConfig, machine: &str, name: &str) -> String {
    format!(
        "arn:aws:states:{}:{}:execution:{machine}:{name}",
        config.region, config.account_id
    )
}

/// One execution in progress.
struct Run {
    inner: Arc<Inner>,
    history: Arc<History>,
    failed_at: Arc<Mutex<Option<RedrivePoint>>>,
    machine: Arc<StateMachine>,
    machine_arn: String,
    arn: String,
    name: String,
    start: DateTime<Utc>,
    map_runs: Arc<MapRuns>,
}

/// A thread of the execution: the main flow, a branch or an iteration.
/// Each has its own clock and links its events to its own previous event.
#[derive(Clone)]
struct Thread {
    clock: Clock,
    last: u64,
}

/// How the main flow ended: it ran to its end, ran past the machine's
/// TimeoutSeconds, or was stopped from outside.
enum Outcome {
    Ended(Result<Value, Failure>),
    TimedOut,
    Aborted(Abort),
}

/// How an execution stopped, as `DescribeExecution` reports it.
struct Stop {
    status: ExecutionStatus,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A time as the history and `$$` write it: RFC 3339 in milliseconds.
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Step Functions' quota on the data a state passes on: 256 KiB of JSON.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Fails with `States.DataLimitExceeded` (which no `States.ALL` catches)
/// when a state's output is over the quota, in AWS's words.
fn within_payload_quota(state: &str, output: &Value) -> Result<(), Failure> {
    let bytes = output.to_string().len();
    if bytes > MAX_PAYLOAD_BYTES {
        return Err(Failure::new(
            "States.DataLimitExceeded",
            Some(format!(
                "The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit ({bytes} > {MAX_PAYLOAD_BYTES})."
            )),
        ));
    }
    Ok(())
}

/// Runs `work` to its end, or gives `None` once `limit` (when there is one)
/// has passed; the work is then dropped, which stops it.
async fn within<T>(limit: Option<Duration>, work: impl Future<Output = T>) -> Option<T> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
}

impl Run {
    /// Appends an event to `thread`'s chain and returns its id.
    fn record(&self, thread: &mut Thread, event_type: &str, details: Option<Value>) -> u64 {
        let id = self
            .history
            .record(thread.last, thread.clock.now(), event_type, details);
        thread.last = id;
        id
    }

    /// Ends the execution before the next state once it has run past its
    /// `TimeoutSeconds` on `thread`'s clock (which on the virtual clock
    /// only this check sees), and fails it once its history is full. Yields
    /// first, so that a loop of states that never wait (Pass and Choice)
    /// still lets the real-time timeout and `StopExecution` in. Whichever
    /// limit comes first ends a loop that never waits; memory stays bounded
    /// by the history quota either way.
    async fn before_state(&self, thread: &Thread) -> Result<(), Failure> {
        tokio::task::yield_now().await;
        if thread.clock.past_deadline() {
            return Err(Failure::execution_timed_out());
        }
        // Room for the events that end the execution.
        if self.history.len() + 8 >= MAX_HISTORY_EVENTS {
            return Err(Failure::runtime(format!(
                "The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS})."
            )));
        }
        Ok(())
    }

    /// The role executions of this machine run as.
    fn role_arn(&self) -> &str {
        self.machine
            .role_arn
            .as_deref()
            .unwrap_or(&self.inner.config.role_arn)
    }

    async fn execute(
        self,
        input: Value,
        redrive: Option<(RedrivePoint, u32)>,
        stopped: oneshot::Receiver<Abort>,
    ) -> ExecutionResult {
        let clock = Clock::new(self.inner.config.virtual_time);
        self.execute_on(clock, input, redrive, stopped).await.0
    }

    /// Runs the execution on `clock`, which a Map Run's child execution
    /// starts at its parent's time, and gives its result and the time it
    /// ended on that clock.
    async fn execute_on(
        self,
        clock: Clock,
        input: Value,
        redrive: Option<(RedrivePoint, u32)>,
        stopped: oneshot::Receiver<Abort>,
    ) -> (ExecutionResult, DateTime<Utc>) {
        let mut thread = Thread {
            clock,
            last: self.history.len() as u64,
        };
        let start = self.start;
        let input_text = input.to_string();
        let redrive_count = redrive.as_ref().map_or(0, |(_, count)| *count);
        let base = self.base_context(&input, start, redrive_count);
        let machine = self.machine.clone();
        let (from, state_input) = match redrive {
            None => {
                self.record(
                    &mut thread,
                    "ExecutionStarted",
                    Some(json!({"input": input_text, "inputDetails": {"truncated": false}, "roleArn": self.role_arn()})),
                );
                (machine.root.start_at.clone(), input)
            }
            Some((point, redrive_count)) => {
                self.record(
                    &mut thread,
                    "ExecutionRedriven",
                    Some(json!({"redriveCount": redrive_count})),
                );
                (point.state, point.input)
            }
        };
        // The deadline counts from the event just recorded, so an execution
        // never times out before its own start plus TimeoutSeconds, however
        // long it took to get here on a loaded machine.
        thread.clock = thread.clock.clone().with_timeout(machine.timeout);
        let run = within(
            machine.timeout,
            self.run_block_from(&machine.root, from, state_input, &mut thread, &base),
        );
        // A closed channel (nobody can stop the execution any more) only
        // disables the stop branch; dropping `run` on a stop abandons the
        // state in progress, as AWS does.
        let outcome = tokio::select! {
            outcome = run => match outcome {
                None => Outcome::TimedOut,
                Some(Err(failure)) if failure.origin == Origin::Execution => Outcome::TimedOut,
                Some(ended) => Outcome::Ended(ended),
            },
            Ok(abort) = stopped => Outcome::Aborted(abort),
        };
        let stop = self.record_stop(&mut thread, outcome);
        let end = thread.clock.now();
        let result = ExecutionResult {
            description: DescribeExecution {
                execution_arn: self.arn.clone(),
                state_machine_arn: self.machine_arn.clone(),
                name: self.name.clone(),
                status: stop.status,
                start_date: timestamp(start),
                stop_date: timestamp(end),
                input: input_text,
                output: stop.output,
                error: stop.error,
                cause: stop.cause,
            },
            events: self.history.events(),
        };
        (result, end)
    }

    /// The execution's part of the context object, `$$` without `State`.
    fn base_context(&self, input: &Value, start: DateTime<Utc>, redrive_count: u32) -> Value {
        json!({
            "Execution": {
                "Id": self.arn,
                "Input": input,
                "Name": self.name,
                "RoleArn": self.role_arn(),
                "StartTime": timestamp(start),
                "RedriveCount": redrive_count,
            },
            "StateMachine": {"Id": self.machine_arn, "Name": self.machine.name},
        })
    }

    /// Records the last event: `ExecutionSucceeded`, `ExecutionFailed`,
    /// `ExecutionTimedOut` or `ExecutionAborted`.
    fn record_stop(&self, thread: &mut Thread, outcome: Outcome) -> Stop {
        match outcome {
            Outcome::Ended(Ok(output)) => {
                // A succeeded execution cannot be redriven.
                *lock(&self.failed_at) = None;
                let text = output.to_string();
                self.record(
                    thread,
                    "ExecutionSucceeded",
                    Some(json!({"output": text, "outputDetails": {"truncated": false}})),
                );
                Stop {
                    status: ExecutionStatus::Succeeded,
                    output: Some(text),
                    error: None,
                    cause: None,
                }
            }
            Outcome::Ended(Err(failure)) => {
                // A Fail state without Error fails with no error name at
                // all: AWS records `"executionFailedEventDetails": {}`.
                let mut details = json!({});
                if !failure.error.is_empty() {
                    details["error"] = json!(failure.error);
                }
                if let Some(cause) = &failure.cause {
                    details["cause"] = json!(cause);
                }
                self.record(thread, "ExecutionFailed", Some(details));
                Stop {
                    status: ExecutionStatus::Failed,
                    output: None,
                    error: Some(failure.error).filter(|e| !e.is_empty()),
                    cause: failure.cause,
                }
            }
            Outcome::Aborted(abort) => self.record_abort(thread, abort),
            Outcome::TimedOut => {
                self.record(
                    thread,
                    "ExecutionTimedOut",
                    Some(json!({"error": "States.Timeout"})),
                );
                Stop {
                    status: ExecutionStatus::TimedOut,
                    output: None,
                    error: Some("States.Timeout".to_owned()),
                    cause: None,
                }
            }
        }
    }

    /// `ExecutionAborted`, with the error and cause `StopExecution` gave.
    fn record_abort(&self, thread: &mut Thread, abort: Abort) -> Stop {
        let mut details = json!({});
        if let Some(error) = &abort.error {
            details["error"] = json!(error);
        }
        if let Some(cause) = &abort.cause {
            details["cause"] = json!(cause);
        }
        self.record(thread, "ExecutionAborted", Some(details));
        Stop {
            status: ExecutionStatus::Aborted,
            output: None,
            error: abort.error,
            cause: abort.cause,
        }
    }

    /// Runs a block (the machine, a branch or an iteration) from its
    /// `StartAt` to the state that ends it. Boxed because a block's states
    /// may hold blocks of their own.
    fn run_block<'a>(
        &'a self,
        block: &'a Block,
        input: Value,
        thread: &'a mut Thread,
        base: &'a Value,
    ) -> BoxFuture<'a, Result<Value, Failure>> {
        self.run_block_from(block, block.start_at.clone(), input, thread, base)
    }

    /// Runs a block from the state `from` to the state that ends it. For the
    /// machine's own states, it keeps where it is (and with what input), so
    /// an execution that stops can be redriven from there.
    fn run_block_from<'a>(
        &'a self,
        block: &'a Block,
        from: String,
        input: Value,
        thread: &'a mut Thread,
        base: &'a Value,
    ) -> BoxFuture<'a, Result<Value, Failure>> {
        let top_level = std::ptr::eq(block, &self.machine.root);
        Box::pin(async move {
            let mut current = from;
            let mut input = input;
            loop {
                self.before_state(thread).await?;
                if top_level {
                    *lock(&self.failed_at) = Some(RedrivePoint {
                        state: current.clone(),
                        input: input.clone(),
                    });
                }
                let state = block
                    .states
                    .get(&current)
                    .expect("transitions were validated");
                let step = self.run_state(state, input, thread, base).await?;
                let (states::Step::Next(_, output) | states::Step::End(output)) = &step;
                within_payload_quota(&current, output)?;
                match step {
                    states::Step::Next(next, output) => {
                        current = next;
                        input = output;
                    }
                    states::Step::End(output) => return Ok(output),
                }
            }
        })
    }
}
