//! The child executions of a Map Run: started in order while the
//! concurrency allows and the failures stay within what is tolerated,
//! each an execution of its own with its own history and clock, and the
//! end of the Map Run that they decide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::items::ChildInput;
use super::results::Destination;
use super::{
    AWS_MAX_CONCURRENCY, Child, LOCAL_CONCURRENCY, MapRunStatus, Plan, Ran, Started,
    threshold_exceeded,
};
use crate::asl::{Distributed, ExecutionType, State};
use crate::clock::Clock;
use crate::executor::context::StateContext;
use crate::executor::{
    DescribeExecution, ExecutionResult, ExecutionStatus, Run, Thread, timestamp,
    within_payload_quota,
};
use crate::failure::Failure;
use crate::history::History;

/// What a finished child's task gives back: its index, its result and
/// when it ended on its clock.
type Ended = (usize, ExecutionResult, DateTime<Utc>);

impl Plan {
    /// How many children run at once: `MaxConcurrency` (AWS's 10,000 for
    /// 0), at most `LOCAL_CONCURRENCY`, at least one.
    fn concurrency(&self) -> usize {
        let allowed = match self.limits.max_concurrency {
            0 => AWS_MAX_CONCURRENCY,
            n => n,
        };
        (allowed.min(LOCAL_CONCURRENCY as u64) as usize).max(1)
    }

    /// A child execution's ARN, by the Map Run's execution type.
    fn child_arn(&self, region: &str, account: &str, name: &str) -> String {
        let machine = &self.machine.name;
        match self.execution_type {
            ExecutionType::Standard => {
                format!("arn:aws:states:{region}:{account}:execution:{machine}:{name}")
            }
            ExecutionType::Express => format!(
                "arn:aws:states:{region}:{account}:express:{machine}:{}:{name}",
                self.id
            ),
        }
    }
}

/// The children's state while the Map Run goes on.
struct Progress {
    children: Vec<Child>,
    running: JoinSet<Ended>,
    started: HashMap<usize, Started>,
    next: usize,
    failed_items: usize,
    exceeded: bool,
    latest: DateTime<Utc>,
}

impl Run {
    /// Runs the children to their end, or until more fail than tolerated;
    /// the ones still running then are aborted, and the rest never start.
    pub(super) async fn run_children(
        &self,
        plan: &Plan,
        inputs: Vec<ChildInput>,
        start: DateTime<Utc>,
    ) -> Ran {
        let children = inputs
            .into_iter()
            .map(|c| Child {
                input: c.input,
                items: c.items,
                result: None,
            })
            .collect();
        let mut progress = Progress {
            children,
            running: JoinSet::new(),
            started: HashMap::new(),
            next: 0,
            failed_items: 0,
            exceeded: false,
            latest: start,
        };
        loop {
            while !progress.exceeded
                && progress.running.len() < plan.concurrency()
                && progress.next < progress.children.len()
            {
                self.start_child(plan, &mut progress);
            }
            match progress.running.join_next().await {
                None => break,
                Some(Ok(ended)) => self.child_ended(plan, &mut progress, ended),
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled only as the runtime shuts down; the child is
                // recorded as aborted below.
                Some(Err(_)) => {}
            }
            if progress.exceeded {
                break;
            }
        }
        progress.running.abort_all();
        self.record_aborted_children(plan, &mut progress);
        Ran {
            children: progress.children,
            exceeded: progress.exceeded,
            latest: progress.latest,
        }
    }

    /// Starts the next child on its own task, at the latest time a child
    /// has reached.
    fn start_child(&self, plan: &Plan, progress: &mut Progress) {
        let index = progress.next;
        progress.next += 1;
        let config = &self.inner.config;
        let name = uuid::Uuid::new_v4().to_string();
        let arn = plan.child_arn(&config.region, &config.account_id, &name);
        let history = Arc::new(History::default());
        let start = progress.latest;
        let child = Run {
            inner: self.inner.clone(),
            history: history.clone(),
            failed_at: Arc::new(Mutex::new(None)),
            machine: plan.machine.clone(),
            machine_arn: plan.machine_arn.clone(),
            arn: arn.clone(),
            name: name.clone(),
            start,
            map_runs: Arc::default(),
        };
        let input = progress.children[index].input.clone();
        let virtual_time = config.virtual_time;
        progress.running.spawn(async move {
            let mut clock = Clock::new(virtual_time);
            // Without a deadline the skip cannot fail.
            let _ = clock.sleep_until(start).await;
            // Nothing stops a child but its Map Run, which aborts its task.
            let (_, never) = oneshot::channel();
            let (result, end) = child.execute_on(clock, input, None, never).await;
            (index, result, end)
        });
        let items = progress.children[index].items as u64;
        plan.record.update(|run| {
            run.item_counts.start(items);
            run.execution_counts.start(1);
        });
        progress.started.insert(
            index,
            Started {
                history,
                arn,
                name,
                start,
            },
        );
    }

    /// Counts a child that ended, and whether the failures now exceed what
    /// is tolerated.
    fn child_ended(&self, plan: &Plan, progress: &mut Progress, ended: Ended) {
        let (index, result, end) = ended;
        progress.started.remove(&index);
        progress.latest = progress.latest.max(end);
        let status = result.description.status;
        let items = progress.children[index].items;
        if status != ExecutionStatus::Succeeded {
            progress.failed_items += items;
            progress.exceeded = plan
                .limits
                .exceeded(progress.failed_items, plan.total_items);
        }
        plan.record.update(|run| {
            run.item_counts.end(items as u64, status);
            run.execution_counts.end(1, status);
            run.children.push(result.clone());
        });
        progress.children[index].result = Some(result);
    }

    /// Ends the history of every child still running as aborted.
    fn record_aborted_children(&self, plan: &Plan, progress: &mut Progress) {
        let now = progress.latest;
        for (index, started) in progress.started.drain() {
            let previous = started.history.len() as u64;
            let details = json!({"cause": "The Map Run of this execution ended"});
            started
                .history
                .record(previous, now, "ExecutionAborted", Some(details));
            let child = &mut progress.children[index];
            let result = ExecutionResult {
                description: DescribeExecution {
                    execution_arn: started.arn,
                    state_machine_arn: plan.machine_arn.clone(),
                    name: started.name,
                    status: ExecutionStatus::Aborted,
                    start_date: timestamp(started.start),
                    stop_date: timestamp(now),
                    input: child.input.to_string(),
                    output: None,
                    error: None,
                    cause: Some("The Map Run of this execution ended".to_owned()),
                },
                events: started.history.events(),
            };
            let items = child.items as u64;
            plan.record.update(|run| {
                run.item_counts.end(items, ExecutionStatus::Aborted);
                run.execution_counts.end(1, ExecutionStatus::Aborted);
                run.children.push(result.clone());
            });
            child.result = Some(result);
        }
    }

    /// The Map's result once its children have ended: the ResultWriter's
    /// manifest (written even when the Map Run fails, as AWS does), or the
    /// children's outputs; or the failure past the tolerated threshold.
    pub(super) async fn finish(
        &self,
        state: &State,
        plan: &Plan,
        distributed: &Distributed,
        ran: &Ran,
        effective: &Value,
        sc: &StateContext<'_>,
    ) -> Result<Value, Failure> {
        let result = match &distributed.result_writer {
            Some(parameters) => {
                let destination = Destination::resolve(parameters, effective, sc, &plan.id)?;
                let written = self
                    .write_results(&ran.children, &destination, &plan.arn)
                    .await?;
                let count = ran.children.iter().filter(|c| c.result.is_some()).count();
                plan.record.update(|run| {
                    run.execution_counts.results_written = count as u64;
                    run.item_counts.results_written = ran
                        .children
                        .iter()
                        .filter(|c| c.result.is_some())
                        .map(|c| c.items as u64)
                        .sum();
                });
                written
            }
            None => outputs(&ran.children),
        };
        if ran.exceeded {
            return Err(threshold_exceeded());
        }
        if distributed.result_writer.is_none() {
            within_payload_quota(&state.name, &result)?;
        }
        Ok(result)
    }

    /// Records how the Map Run and the Map state ended.
    pub(super) fn record_map_run_end(
        &self,
        plan: &Plan,
        outcome: Result<Value, Failure>,
        thread: &mut Thread,
    ) -> Result<Value, Failure> {
        let status = match &outcome {
            Ok(_) => {
                self.record(thread, "MapRunSucceeded", None);
                self.record(thread, "MapStateSucceeded", None);
                MapRunStatus::Succeeded
            }
            Err(failure) => {
                let mut details = json!({"error": failure.error});
                if let Some(cause) = &failure.cause {
                    details["cause"] = json!(cause);
                }
                self.record(thread, "MapRunFailed", Some(details));
                self.record(thread, "MapStateFailed", None);
                MapRunStatus::Failed
            }
        };
        let now = thread.clock.now();
        plan.record.update(|run| {
            run.status = status;
            run.stop_date = Some(now);
        });
        outcome
    }
}

/// The children's outputs in order; a failed child (when tolerated) gives
/// its Error Output, as an inline Map's iteration does.
fn outputs(children: &[Child]) -> Value {
    children
        .iter()
        .map(|child| match &child.result {
            Some(result) if result.description.status == ExecutionStatus::Succeeded => {
                result.output().unwrap_or(Value::Null)
            }
            Some(result) => {
                let d = &result.description;
                let error = Failure::new(d.error.clone().unwrap_or_default(), d.cause.clone());
                error.error_output()
            }
            None => Value::Null,
        })
        .collect()
}
