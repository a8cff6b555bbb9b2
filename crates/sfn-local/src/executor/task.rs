//! The Task state's work: a Lambda function called by its ARN, or a
//! resource of `arn:aws:states:::` (`lambda:invoke` and the service
//! integrations), each within its TimeoutSeconds and with the history
//! events AWS records for that kind of resource. A `.waitForTaskToken`
//! resource is called, then the Task waits for `SendTaskSuccess` or
//! `SendTaskFailure` with its token, within its `HeartbeatSeconds` between
//! heartbeats. A `.sync` child execution is `nested`'s.

use std::time::Duration;

use serde_json::{Value, json};

use super::context::StateContext;
use super::{Run, Thread, within};
use crate::asl::Dynamic;
use crate::failure::Failure;
use crate::integrations::{Pattern, Resource};
use crate::lambda::LambdaOutcome;

/// On the virtual clock, how long a `.waitForTaskToken` Task waits in real
/// time for `SendTaskSuccess` or `SendTaskFailure` before its timeout is
/// taken as elapsed.
pub(crate) const VIRTUAL_ANSWER_PATIENCE: Duration = Duration::from_secs(30);

/// One attempt of a Task: what it runs and the input it runs with.
pub(super) struct TaskRequest<'a> {
    /// The `Resource` ARN, as written in the definition.
    pub resource: &'a str,
    /// `TimeoutSeconds` or `TimeoutSecondsPath`.
    pub timeout: &'a Option<Dynamic<u64>>,
    /// `HeartbeatSeconds` or `HeartbeatSecondsPath`.
    pub heartbeat: &'a Option<Dynamic<u64>>,
    /// The task input: Parameters applied to the effective input.
    pub parameters: &'a Value,
    /// The effective input, which the `*SecondsPath` fields read.
    pub effective: &'a Value,
}

impl Run {
    pub(super) async fn run_task(
        &self,
        task: &TaskRequest<'_>,
        thread: &mut Thread,
        sc: &StateContext<'_>,
    ) -> Result<Value, Failure> {
        let timeout = resolve_seconds(task.timeout, task.effective, sc, "TimeoutSeconds")?;
        let heartbeat = resolve_seconds(task.heartbeat, task.effective, sc, "HeartbeatSeconds")?;
        if let (Some(base), Some(token)) = (
            crate::integrations::waiting_for_token(task.resource),
            sc.task_token(),
        ) {
            let resource = Resource::parse(base).map_err(|detail| sc.runtime_failure(&detail))?;
            let waiting = Waiting {
                resource: &resource,
                parameters: task.parameters,
                token,
                timeout,
                heartbeat,
            };
            // Boxed: its future holds the resource call and the wait, and
            // inline it takes the layout of `run_state`'s future past the
            // compiler's query depth limit (nightly rustc refuses it).
            return Box::pin(self.run_waiting(&waiting, thread)).await;
        }
        let resource =
            Resource::parse(task.resource).map_err(|detail| sc.runtime_failure(&detail))?;
        match &resource {
            Resource::LambdaArn(arn) => {
                self.run_lambda_arn(arn, task.parameters, timeout, thread)
                    .await
            }
            // Boxed for the same reason as `run_waiting`.
            Resource::StartExecution(pattern @ (Pattern::Sync | Pattern::Sync2)) => {
                let child =
                    self.run_child_execution(*pattern, task.parameters, timeout, heartbeat, thread);
                Box::pin(child).await
            }
            _ => {
                self.run_resource(&resource, task.parameters, timeout, heartbeat, thread)
                    .await
            }
        }
    }

    /// A function called by its ARN: the `LambdaFunction*` events, and the
    /// function's own result as the task result.
    async fn run_lambda_arn(
        &self,
        arn: &str,
        parameters: &Value,
        timeout: Option<u64>,
        thread: &mut Thread,
    ) -> Result<Value, Failure> {
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
        match within(timeout.map(Duration::from_secs), call).await {
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
        }
    }

    /// A resource of `arn:aws:states:::`: the `Task*` events, which name
    /// the resource by type and name. The heartbeat is only reported: no
    /// request-response integration sends heartbeats.
    async fn run_resource(
        &self,
        resource: &Resource,
        parameters: &Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
        thread: &mut Thread,
    ) -> Result<Value, Failure> {
        let region = &self.inner.config.region;
        let (resource_type, resource_name) = resource.type_and_name();
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
        let names = json!({"resourceType": resource_type, "resource": resource_name});
        self.record(thread, "TaskStarted", Some(names.clone()));
        let work = self.call_resource(resource, parameters, region);
        let outcome = within(timeout.map(Duration::from_secs), work).await;
        self.record_task_end(thread, names, outcome)
    }

    /// A `.waitForTaskToken` Task: the resource is called (`TaskSubmitted`
    /// records its answer), then the Task waits for its token's answer,
    /// failing with `States.HeartbeatTimeout` when no heartbeat comes
    /// within `HeartbeatSeconds` and `States.Timeout` past
    /// `TimeoutSeconds`. Both run on the real clock, since the answer comes
    /// from outside; only on the virtual clock is an unanswered timeout cut
    /// short (`answer_patience`).
    async fn run_waiting(
        &self,
        waiting: &Waiting<'_>,
        thread: &mut Thread,
    ) -> Result<Value, Failure> {
        let region = &self.inner.config.region;
        let (resource_type, resource_name) = waiting.resource.type_and_name();
        let resource_name = format!(
            "{resource_name}{}",
            crate::integrations::WAIT_FOR_TASK_TOKEN
        );
        let mut details = json!({
            "resourceType": resource_type,
            "resource": resource_name,
            "region": region,
            "parameters": waiting.parameters.to_string(),
        });
        if let Some(t) = waiting.timeout {
            details["timeoutInSeconds"] = json!(t);
        }
        if let Some(h) = waiting.heartbeat {
            details["heartbeatInSeconds"] = json!(h);
        }
        self.record(thread, "TaskScheduled", Some(details));
        let names = json!({"resourceType": resource_type, "resource": resource_name});
        self.record(thread, "TaskStarted", Some(names.clone()));
        let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
        super::lock(&self.inner.tokens).insert(waiting.token.to_owned(), sender);
        // The submission is recorded inside `work`, which cannot borrow the
        // thread mutably; its event id comes out through `submitted_id`.
        let submitted_id = std::sync::atomic::AtomicU64::new(0);
        let (previous, now) = (thread.last, thread.clock.now());
        let work = async {
            let submitted = self
                .call_resource(waiting.resource, waiting.parameters, region)
                .await?;
            let mut details = names.clone();
            details["output"] = json!(submitted.to_string());
            details["outputDetails"] = json!({"truncated": false});
            let id = self
                .history
                .record(previous, now, "TaskSubmitted", Some(details));
            submitted_id.store(id, std::sync::atomic::Ordering::Relaxed);
            wait_for_answer(&mut answers, waiting.heartbeat).await
        };
        let limit = waiting.timeout.map(Duration::from_secs);
        let patience = self.answer_patience(limit);
        let outcome = within(patience, work).await;
        super::lock(&self.inner.tokens).remove(waiting.token);
        if let (None, Some(limit), Some(patience)) = (&outcome, limit, patience) {
            // A skip past the execution's deadline needs no handling here:
            // the main loop ends the execution as timed out next.
            let _ = thread.clock.sleep(limit.saturating_sub(patience)).await;
        }
        let submitted = submitted_id.load(std::sync::atomic::Ordering::Relaxed);
        if submitted != 0 {
            thread.last = submitted;
        }
        self.record_task_end(thread, names, outcome)
    }

    /// How long a waiting Task waits for its answer in real time: its
    /// timeout, or on the virtual clock at most `VIRTUAL_ANSWER_PATIENCE`,
    /// after which the rest of the timeout is skipped as a Wait state's
    /// time is. A person still answers in real time, but no run can wait a
    /// day for a review that will never be answered.
    fn answer_patience(&self, limit: Option<Duration>) -> Option<Duration> {
        match limit {
            Some(limit) if self.inner.config.virtual_time => {
                Some(limit.min(VIRTUAL_ANSWER_PATIENCE))
            }
            other => other,
        }
    }

    /// Records `TaskTimedOut` (for `None`), `TaskSucceeded` or `TaskFailed`;
    /// `details` names the resource.
    pub(super) fn record_task_end(
        &self,
        thread: &mut Thread,
        mut details: Value,
        outcome: Option<Result<Value, Failure>>,
    ) -> Result<Value, Failure> {
        match outcome {
            None => {
                details["error"] = json!("States.Timeout");
                self.record(thread, "TaskTimedOut", Some(details));
                Err(Failure::new("States.Timeout", None))
            }
            Some(Ok(output)) => {
                details["output"] = json!(output.to_string());
                details["outputDetails"] = json!({"truncated": false});
                self.record(thread, "TaskSucceeded", Some(details));
                Ok(output)
            }
            Some(Err(failure)) => {
                details["error"] = json!(failure.error);
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
            Resource::LambdaInvoke => self.lambda_invoke(parameters).await,
            other => {
                self.inner
                    .integrations
                    .call(other, parameters, region)
                    .await
            }
        }
    }

    /// `arn:aws:states:::lambda:invoke`: calls `FunctionName` with
    /// `Payload` and answers in the shape of Lambda's Invoke response.
    async fn lambda_invoke(&self, parameters: &Value) -> Result<Value, Failure> {
        let Some(function) = parameters.get("FunctionName").and_then(Value::as_str) else {
            return Err(Failure::new(
                "States.Runtime",
                Some(
                    "The field 'FunctionName' is required by arn:aws:states:::lambda:invoke"
                        .to_owned(),
                ),
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
            LambdaOutcome::Payload(body) => Ok(invoke_response(&body, &request_id)),
            LambdaOutcome::Failed { error, cause } => Err(Failure::new(error, Some(cause))),
        }
    }
}

/// A Task waiting for its token's answer.
struct Waiting<'a> {
    resource: &'a Resource,
    parameters: &'a Value,
    token: &'a str,
    timeout: Option<u64>,
    heartbeat: Option<u64>,
}

/// Waits for the answer to a task token: its output, its failure, or
/// `States.HeartbeatTimeout` once `heartbeat` seconds pass without one.
async fn wait_for_answer(
    answers: &mut tokio::sync::mpsc::UnboundedReceiver<super::TokenAnswer>,
    heartbeat: Option<u64>,
) -> Result<Value, Failure> {
    loop {
        let next = within(heartbeat.map(Duration::from_secs), answers.recv()).await;
        match next {
            None => return Err(Failure::new("States.HeartbeatTimeout", None)),
            Some(None) => {
                return Err(Failure::runtime(
                    "the task token's channel closed".to_owned(),
                ));
            }
            Some(Some(super::TokenAnswer::Heartbeat)) => continue,
            Some(Some(super::TokenAnswer::Success(output))) => return Ok(output),
            Some(Some(super::TokenAnswer::Failure { error, cause })) => {
                return Err(Failure::new(
                    error.unwrap_or_else(|| "States.TaskFailed".to_owned()),
                    cause,
                ));
            }
        }
    }
}

/// A `TimeoutSeconds` or `HeartbeatSeconds` (`field`) given directly or
/// read from the effective input by its `*Path` form.
fn resolve_seconds(
    value: &Option<Dynamic<u64>>,
    effective: &Value,
    sc: &StateContext<'_>,
    field: &str,
) -> Result<Option<u64>, Failure> {
    match value {
        None => Ok(None),
        Some(Dynamic::Fixed(n)) => Ok(Some(*n)),
        Some(Dynamic::Path(p)) => {
            let v = sc.select(&Some(p.clone()), effective)?;
            match v.as_u64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(sc.runtime_failure(&format!(
                    "The {field}Path parameter does not reference a valid positive integer: {v}"
                ))),
            }
        }
    }
}

/// What `lambda:invoke` gives a state: the function's result under
/// `Payload`, with the metadata of Lambda's HTTP response.
fn invoke_response(body: &[u8], request_id: &str) -> Value {
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": parse_payload(body),
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
    })
}

/// A function's result as JSON; a payload that is not JSON is kept as text.
fn parse_payload(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_json_text_or_null() {
        assert_eq!(parse_payload(b""), Value::Null);
        assert_eq!(parse_payload(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(parse_payload(b"plain"), json!("plain"));
    }

    #[test]
    fn invoke_responses_carry_the_payload_and_the_request_id() {
        let response = invoke_response(br#"{"ok":true}"#, "req-1");
        assert_eq!(response["Payload"], json!({"ok": true}));
        assert_eq!(response["StatusCode"], 200);
        assert_eq!(response["SdkResponseMetadata"]["RequestId"], "req-1");
        assert_eq!(
            response["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"],
            "req-1"
        );
    }

    #[test]
    fn seconds_paths_must_give_a_positive_integer() {
        let base = json!({});
        let sc = StateContext::new(&base, "Task", String::new(), 2);
        let path = Some(Dynamic::Path(crate::path::Path::parse("$.t").unwrap()));
        let effective = json!({"t": 0, "ok": 4});
        assert_eq!(
            resolve_seconds(&None, &effective, &sc, "TimeoutSeconds"),
            Ok(None)
        );
        assert_eq!(
            resolve_seconds(&Some(Dynamic::Fixed(3)), &effective, &sc, "TimeoutSeconds"),
            Ok(Some(3))
        );
        let failure = resolve_seconds(&path, &effective, &sc, "TimeoutSeconds").unwrap_err();
        assert!(
            failure.cause.as_deref().is_some_and(|c| c.ends_with(
                "The TimeoutSecondsPath parameter does not reference a valid positive integer: 0"
            )),
            "{failure:?}"
        );
    }
}
