//! Local Lambda: the function registry, a pool of warm execution
//! environments per function, and the translation of what happened to an
//! invocation into the error names Step Functions reports.
//!
//! - a function error posted to the Runtime API becomes its `errorType`, with
//!   the error object as JSON text for the cause;
//! - a process that exits before answering is `Lambda.Unknown`, unless it
//!   posted an `/init/error` first, which then counts as its function error;
//! - a function that runs past its timeout (or whose init runs past
//!   Lambda's 10 seconds) is killed and fails with `Sandbox.Timedout`.

mod environment;
mod runtime_api;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use environment::{Ending, Environment, Timing};
use runtime_api::Reply;

/// How a function is run: its binary, its configuration and its limits.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The function name, the last part of its ARN.
    pub name: String,
    /// The executable built with `lambda_runtime` (the `bootstrap`).
    pub binary: PathBuf,
    /// The function's own environment variables.
    pub environment: BTreeMap<String, String>,
    /// The function timeout (Lambda's default is 3 seconds).
    pub timeout: Duration,
    /// The configured memory, reported to the function and in REPORT lines.
    pub memory_mb: u32,
    /// At most this many environments at once; further invocations wait for
    /// one to be free. Lambda scales out to the account's concurrency (1,000
    /// by default), but this machine cannot run a thousand processes of each
    /// function, so a storm on the local stack sets a bound. `None`: no bound.
    pub max_environments: Option<usize>,
}

impl FunctionConfig {
    /// A function with Lambda's defaults: 3 seconds and 128 MB.
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            environment: BTreeMap::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            max_environments: None,
        }
    }

    /// Bounds how many environments of the function run at once.
    pub fn max_environments(mut self, max: usize) -> Self {
        self.max_environments = Some(max.max(1));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Sets the function timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the memory size.
    pub fn memory_mb(mut self, memory_mb: u32) -> Self {
        self.memory_mb = memory_mb;
        self
    }
}

/// Where the functions' stdout and stderr go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogSink {
    /// Dropped.
    #[default]
    Discard,
    /// As `tracing` events with the function name.
    Tracing,
    /// To this process's stderr, each line prefixed by `[function]`.
    Stderr,
}

/// What Lambda's REPORT line records for one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationReport {
    /// The function's name.
    pub function_name: String,
    /// The invocation's request id.
    pub request_id: String,
    /// From the event's delivery to the answer.
    pub duration_ms: f64,
    /// The duration rounded up to the millisecond, as Lambda bills it.
    pub billed_duration_ms: u64,
    /// The configured memory.
    pub memory_size_mb: u32,
    /// The environment's peak resident memory.
    pub max_memory_used_mb: u64,
    /// From process start to the first poll, on a cold start only.
    pub init_duration_ms: Option<f64>,
}

/// The outcome of one invocation as Step Functions sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LambdaOutcome {
    /// The function's result payload.
    Payload(Bytes),
    /// An error name and cause.
    Failed { error: String, cause: String },
}

struct Slot {
    config: FunctionConfig,
    arn: String,
    idle: Mutex<Vec<Environment>>,
    /// One permit per environment allowed at once, when bounded.
    permits: Option<Arc<tokio::sync::Semaphore>>,
}

impl Slot {
    /// The function's idle environments.
    fn idle(&self) -> MutexGuard<'_, Vec<Environment>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The warm environments of every registered function.
pub(crate) struct LambdaPool {
    slots: HashMap<String, Arc<Slot>>,
    region: String,
    logs: LogSink,
    reports: Mutex<Vec<InvocationReport>>,
}

impl LambdaPool {
    /// A pool for these functions in this region and account.
    pub(crate) fn new(
        functions: Vec<FunctionConfig>,
        region: &str,
        account_id: &str,
        logs: LogSink,
    ) -> Self {
        let slots = functions
            .into_iter()
            .map(|config| {
                let arn = format!(
                    "arn:aws:lambda:{region}:{account_id}:function:{}",
                    config.name
                );
                (
                    config.name.clone(),
                    Arc::new(Slot {
                        permits: config
                            .max_environments
                            .map(|max| Arc::new(tokio::sync::Semaphore::new(max))),
                        config,
                        arn,
                        idle: Mutex::new(Vec::new()),
                    }),
                )
            })
            .collect();
        Self {
            slots,
            region: region.to_owned(),
            logs,
            reports: Mutex::new(Vec::new()),
        }
    }

    /// The function a name, partial ARN or full ARN (with or without a
    /// qualifier) refers to.
    fn slot(&self, reference: &str) -> Option<&Arc<Slot>> {
        let name = match reference.split(':').collect::<Vec<_>>().as_slice() {
            [name] => *name,
            ["arn", "aws", "lambda", _, _, "function", name, ..] => *name,
            [_, "function", name, ..] => *name,
            [name, _qualifier] => *name,
            _ => return None,
        };
        self.slots.get(name)
    }

    /// The ARN the executor reports for a function reference, when known.
    #[cfg(test)]
    fn arn_of(&self, reference: &str) -> Option<String> {
        self.slot(reference).map(|s| s.arn.clone())
    }

    /// Invokes a function synchronously, reusing a warm environment when
    /// one is idle and starting a new one otherwise.
    pub(crate) async fn invoke(&self, reference: &str, payload: Bytes) -> LambdaOutcome {
        let request_id = uuid::Uuid::new_v4().to_string();
        let Some(slot) = self.slot(reference) else {
            return LambdaOutcome::Failed {
                error: "Lambda.ResourceNotFoundException".to_owned(),
                cause: format!(
                    "Function not found: {reference} (Service: Lambda, Status Code: 404, Request ID: {request_id})"
                ),
            };
        };
        // Held until the invocation ends; the semaphore is never closed.
        let _permit = match &slot.permits {
            Some(permits) => permits.clone().acquire_owned().await.ok(),
            None => None,
        };
        let mut env = match self.environment(slot).await {
            Ok(env) => env,
            Err(failed) => return failed,
        };
        let (ending, timing) = env
            .invoke(&request_id, payload, &slot.arn, slot.config.timeout)
            .await;
        self.report(slot, &request_id, timing);
        match ending {
            Ending::Replied(Reply::Response(body)) => {
                slot.idle().push(env);
                LambdaOutcome::Payload(body)
            }
            Ending::Replied(Reply::Error(body)) => {
                slot.idle().push(env);
                function_error(&body)
            }
            Ending::Exited(status) => match env.init_error() {
                Some(body) => function_error(&body),
                None => exited(&request_id, &status),
            },
            Ending::TimedOut => timed_out(&request_id, slot.config.timeout),
        }
    }

    /// An idle environment of the function, or a new one.
    async fn environment(&self, slot: &Slot) -> Result<Environment, LambdaOutcome> {
        let warm = {
            let mut idle = slot.idle();
            idle.retain(|env| !env.is_dead());
            idle.pop()
        };
        if let Some(env) = warm {
            return Ok(env);
        }
        Environment::start(&slot.config, &self.region, self.logs)
            .await
            .map_err(|e| LambdaOutcome::Failed {
                error: "Lambda.Unknown".to_owned(),
                cause: format!(
                    "the function {} could not be started from {}: {e}",
                    slot.config.name,
                    slot.config.binary.display()
                ),
            })
    }

    /// Keeps the REPORT record of one invocation.
    fn report(&self, slot: &Slot, request_id: &str, timing: Timing) {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(InvocationReport {
                function_name: slot.config.name.clone(),
                request_id: request_id.to_owned(),
                duration_ms: timing.duration.as_secs_f64() * 1000.0,
                billed_duration_ms: timing.duration.as_millis() as u64
                    + u64::from(!timing.duration.subsec_nanos().is_multiple_of(1_000_000)),
                memory_size_mb: slot.config.memory_mb,
                max_memory_used_mb: timing.max_memory_mb,
                init_duration_ms: timing.init.map(|d| d.as_secs_f64() * 1000.0),
            });
    }

    /// The REPORT records of every invocation so far.
    pub(crate) fn reports(&self) -> Vec<InvocationReport> {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The process ids of the idle (warm) environments.
    pub(crate) fn warm_pids(&self) -> Vec<u32> {
        self.slots
            .values()
            .flat_map(|s| {
                s.idle()
                    .iter()
                    .filter_map(Environment::pid)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Kills every idle environment. A busy one that answers (with a result
    /// or an error) goes back to the pool, to be killed by the next shutdown
    /// or when the pool is dropped; one whose process exits or runs past
    /// its timeout is killed at once.
    pub(crate) fn shutdown(&self) {
        for slot in self.slots.values() {
            let mut idle = slot.idle();
            for env in idle.iter_mut() {
                env.kill();
            }
            idle.clear();
        }
    }
}

impl Drop for LambdaPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A process that exited before answering: Lambda reports
/// `Runtime.ExitError` in a payload without an error type of its own.
fn exited(request_id: &str, status: &str) -> LambdaOutcome {
    let payload = serde_json::json!({
        "errorMessage": format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
        "errorType": "Runtime.ExitError",
    });
    LambdaOutcome::Failed {
        error: "Lambda.Unknown".to_owned(),
        cause: format!(
            "The cause could not be determined because Lambda did not return an error type. Returned payload: {payload}"
        ),
    }
}

/// A function killed at its timeout.
fn timed_out(request_id: &str, timeout: Duration) -> LambdaOutcome {
    let payload = serde_json::json!({
        "errorMessage": format!(
            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
            timeout.as_secs_f64()
        ),
        "errorType": "Sandbox.Timedout",
    });
    LambdaOutcome::Failed {
        error: "Sandbox.Timedout".to_owned(),
        cause: payload.to_string(),
    }
}

/// Turns a function error body into the task's error and cause. AWS names
/// the error after `errorType` and gives the error object, as JSON text, as
/// the cause; without an `errorType` the error is `Lambda.Unknown`.
fn function_error(body: &[u8]) -> LambdaOutcome {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) if object.get("errorType").is_some_and(Value::is_string) => {
            let error = object["errorType"].as_str().unwrap_or_default().to_owned();
            LambdaOutcome::Failed {
                error,
                cause: Value::Object(object).to_string(),
            }
        }
        _ => LambdaOutcome::Failed {
            error: "Lambda.Unknown".to_owned(),
            cause: format!(
                "The cause could not be determined because Lambda did not return an error type. Returned payload: {}",
                String::from_utf8_lossy(body)
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_errors_keep_their_type_and_cause() {
        let outcome = function_error(br#"{"errorType":"Throttled","errorMessage":"slow down"}"#);
        assert_eq!(
            outcome,
            LambdaOutcome::Failed {
                error: "Throttled".to_owned(),
                cause: r#"{"errorMessage":"slow down","errorType":"Throttled"}"#.to_owned()
            }
        );
        assert!(
            matches!(function_error(b"oops"), LambdaOutcome::Failed { error, .. } if error == "Lambda.Unknown")
        );
    }

    #[test]
    fn references_resolve_by_name_and_arn() {
        let pool = LambdaPool::new(
            vec![FunctionConfig::new("detect", "/bin/true")],
            "us-east-1",
            "123456789012",
            LogSink::Discard,
        );
        for reference in [
            "detect",
            "arn:aws:lambda:us-east-1:123456789012:function:detect",
            "arn:aws:lambda:us-east-1:123456789012:function:detect:$LATEST",
            "123456789012:function:detect",
            "detect:prod",
        ] {
            assert_eq!(
                pool.arn_of(reference).as_deref(),
                Some("arn:aws:lambda:us-east-1:123456789012:function:detect"),
                "{reference}"
            );
        }
        assert_eq!(pool.arn_of("other"), None);
    }
}
