//! `arn:aws:states:::states:startExecution.sync` and `.sync:2`: a Task that
//! starts a child execution on the region's Step Functions endpoint and
//! ends when the child ends, with the events AWS records for it:
//! `TaskScheduled`, `TaskStarted`, `TaskSubmitted` (the `StartExecution`
//! answer), then `TaskSucceeded` with the child's description, or
//! `TaskFailed` with `States.TaskFailed` and the description as the cause.
//!
//! The Task manages its child: when the Task is abandoned before the child
//! ends (its TimeoutSeconds pass, or the parent execution is stopped or
//! times out) the child is stopped too, as AWS stops it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Run, Thread, within};
use crate::failure::Failure;
use crate::integrations::{self, Finished, Pattern, Resource};

/// How often the Task asks the endpoint whether its child has ended.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A child execution that a Task waits for. Dropped while `running`, it
/// stops the child: the Task that managed it is gone.
struct ManagedChild {
    client: aws_sdk_sfn::Client,
    arn: String,
    parent: String,
    running: bool,
}

impl ManagedChild {
    /// Polls the child until it ends.
    async fn ended(&mut self, pattern: Pattern) -> Result<Finished, Failure> {
        loop {
            if let Some(finished) =
                integrations::describe_child(&self.client, &self.arn, pattern).await?
            {
                self.running = false;
                return Ok(finished);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        // Drop cannot wait, so the stop is sent on its own task; outside a
        // runtime (the process is ending) there is nothing left to stop it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let arn = std::mem::take(&mut self.arn);
        let cause = format!(
            "The Task state of the execution {} that managed this execution was abandoned",
            self.parent
        );
        runtime.spawn(async move { integrations::stop_child(&client, &arn, cause).await });
    }
}

impl Run {
    /// A `.sync` or `.sync:2` `states:startExecution` Task, within its
    /// TimeoutSeconds. The heartbeat is only reported: a child execution
    /// sends none.
    pub(super) async fn run_child_execution(
        &self,
        pattern: Pattern,
        parameters: &Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
        thread: &mut Thread,
    ) -> Result<Value, Failure> {
        let names = self.record_child_scheduled(pattern, parameters, timeout, heartbeat, thread);
        // `TaskSubmitted` is recorded inside `work`, which cannot borrow
        // the thread mutably; its event id comes out through `submitted`.
        let submitted = AtomicU64::new(0);
        let (previous, now) = (thread.last, thread.clock.now());
        let work = async {
            let region = &self.inner.config.region;
            let client = self.inner.integrations.step_functions(region)?;
            let started = self
                .inner
                .integrations
                .start_execution(region, parameters)
                .await?;
            let mut details = names.clone();
            details["output"] = json!(started.output.to_string());
            details["outputDetails"] = json!({"truncated": false});
            let id = self
                .history
                .record(previous, now, "TaskSubmitted", Some(details));
            submitted.store(id, Ordering::Relaxed);
            let mut child = ManagedChild {
                client,
                arn: started.arn,
                parent: self.arn.clone(),
                running: true,
            };
            child.ended(pattern).await
        };
        let outcome = within(timeout.map(Duration::from_secs), work).await;
        let submitted = submitted.load(Ordering::Relaxed);
        if submitted != 0 {
            thread.last = submitted;
        }
        let outcome = match outcome {
            Some(Ok(finished)) => {
                catch_up(thread, now + finished.ran).await;
                Some(finished.result)
            }
            Some(Err(failure)) => Some(Err(failure)),
            None => None,
        };
        self.record_task_end(thread, names, outcome)
    }

    /// Records `TaskScheduled` and `TaskStarted`, and gives the names of
    /// the resource that the later Task* events carry.
    fn record_child_scheduled(
        &self,
        pattern: Pattern,
        parameters: &Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
        thread: &mut Thread,
    ) -> Value {
        let (resource_type, resource_name) = Resource::StartExecution(pattern).type_and_name();
        let mut details = json!({
            "resourceType": resource_type,
            "resource": resource_name,
            "region": self.inner.config.region,
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
        names
    }
}

/// Brings the parent's clock to `until`, the time its child ran after the
/// Task started it. On the virtual clock the child's Wait states were
/// skipped, not slept, so the parent skips the same time; in real time
/// that moment has passed and there is nothing to wait for.
async fn catch_up(thread: &mut Thread, until: DateTime<Utc>) {
    // A skip past the execution's deadline needs no handling here: the
    // main loop ends the execution as timed out before the next state.
    let _ = thread.clock.sleep_until(until).await;
}
