//! The Distributed Map state: a Map Run whose items (from `ItemsPath` or
//! an S3 `ItemReader`, each shaped by `ItemSelector` and grouped by
//! `ItemBatcher`) run as child executions, each with a history of its own
//! and so its own 25,000-event quota, while the parent records only
//! `MapStateStarted`, `MapRunStarted` and `MapRunSucceeded`,
//! `MapRunFailed` or `MapRunAborted` between its `MapState*` events.
//!
//! As in AWS: the Map Run's ARN is
//! `arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>` and a
//! Standard child's `...:execution:<machine>/<label>:<name>` (an Express
//! child's `...:express:<machine>/<label>:<id>:<name>`); a failed child
//! counts all of its items as failed, and once more items fail than
//! `ToleratedFailureCount`/`Percentage` allow (none by default) no more
//! children start, the running ones are aborted, and the state fails with
//! `States.ExceedToleratedFailureThreshold`. The result is the children's
//! outputs in order, or with a `ResultWriter` the place of its manifest.
//!
//! At most `LOCAL_CONCURRENCY` children run at once on this machine,
//! whatever `MaxConcurrency` allows. On the virtual clock each child
//! starts at the latest time a finished child reached (or the Map Run's
//! start), and the parent goes on from the latest child's end.

mod children;
mod items;
mod record;
mod results;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::context::StateContext;
use super::map::{MapLimits, items as items_at_path, resolve};
use super::{ExecutionResult, Run, Thread};
use crate::asl::{Distributed, ExecutionType, MapSpec, State, StateMachine};
use crate::clock::Clock;
use crate::failure::Failure;
use crate::history::History;
use items::{BatchLimits, ChildInput};
use record::SharedMapRun;

pub(crate) use record::MapRuns;
pub use record::{MapRunCounts, MapRunDescription, MapRunStatus};

/// How many child executions this machine runs at once, whatever
/// `MaxConcurrency` allows: each may hold a function environment.
const LOCAL_CONCURRENCY: usize = 32;

/// How many child executions AWS runs at once when `MaxConcurrency` is 0.
const AWS_MAX_CONCURRENCY: u64 = 10_000;

/// One child execution of a Map Run: its input, how many items it holds,
/// and how it ended (`None`: it never started).
#[derive(Debug, Clone)]
pub(super) struct Child {
    pub input: Value,
    pub items: usize,
    pub result: Option<ExecutionResult>,
}

/// What the children of one Map Run share.
struct Plan {
    arn: String,
    id: String,
    /// The children's machine: the ItemProcessor, named `<machine>/<label>`.
    machine: Arc<StateMachine>,
    machine_arn: String,
    execution_type: ExecutionType,
    limits: MapLimits,
    total_items: usize,
    record: SharedMapRun,
}

/// How the children of a Map Run ended.
struct Ran {
    children: Vec<Child>,
    exceeded: bool,
    latest: DateTime<Utc>,
}

/// A child that has started and not ended yet.
struct Started {
    history: Arc<History>,
    arn: String,
    name: String,
    start: DateTime<Utc>,
}

/// Records `MapRunAborted` when the Map Run is abandoned before it ends:
/// the parent execution was stopped or timed out, which drops the Map
/// Run's future (and with it every running child).
struct AbortGuard {
    history: Arc<History>,
    previous: u64,
    clock: Clock,
    record: SharedMapRun,
    ended: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let now = self.clock.now();
        self.history
            .record(self.previous, now, "MapRunAborted", None);
        self.record.update(|run| {
            run.status = MapRunStatus::Aborted;
            run.stop_date = Some(now);
        });
    }
}

/// A label AWS would accept, from the state's name: at most 40
/// characters, with those a label cannot hold replaced by `_`.
fn default_label(state: &str) -> String {
    state
        .chars()
        .take(40)
        .map(|c| {
            let forbidden =
                c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
            if forbidden { '_' } else { c }
        })
        .collect()
}

/// `States.ExceedToleratedFailureThreshold`, in AWS's words.
fn threshold_exceeded() -> Failure {
    Failure::new(
        "States.ExceedToleratedFailureThreshold",
        Some("The specified tolerated failure threshold was exceeded".to_owned()),
    )
}

impl Run {
    pub(super) async fn run_distributed_map(
        &self,
        state: &State,
        spec: &MapSpec,
        distributed: &Distributed,
        effective: &Value,
        thread: &mut Thread,
        sc: &StateContext<'_>,
    ) -> Result<Value, Failure> {
        let limits = MapLimits::resolve(spec, effective, sc)?.strict_by_default();
        let items = self
            .distributed_items(spec, distributed, effective, sc)
            .await?;
        let inputs = child_inputs(spec, distributed, items, effective, sc)?;
        let total_items: usize = inputs.iter().map(|c| c.items).sum();
        self.record(
            thread,
            "MapStateStarted",
            Some(json!({"length": total_items})),
        );
        let plan = self.plan(
            state,
            spec,
            distributed,
            limits,
            &inputs,
            thread.clock.now(),
        );
        self.record(
            thread,
            "MapRunStarted",
            Some(json!({"mapRunArn": plan.arn})),
        );
        let mut guard = AbortGuard {
            history: self.history.clone(),
            previous: thread.last,
            clock: thread.clock.clone(),
            record: plan.record.clone(),
            ended: false,
        };
        let ran = self.run_children(&plan, inputs, thread.clock.now()).await;
        // A skip past the execution's deadline needs no handling here: the
        // main loop ends the execution as timed out before the next state.
        let _ = thread.clock.sleep_until(ran.latest).await;
        let outcome = self
            .finish(state, &plan, distributed, &ran, effective, sc)
            .await;
        guard.ended = true;
        self.record_map_run_end(&plan, outcome, thread)
    }

    /// The items: the ItemReader's (cut to its `MaxItems`), or those of
    /// `ItemsPath`.
    async fn distributed_items(
        &self,
        spec: &MapSpec,
        distributed: &Distributed,
        effective: &Value,
        sc: &StateContext<'_>,
    ) -> Result<Vec<Value>, Failure> {
        let Some(reader) = &distributed.item_reader else {
            return items_at_path(spec, effective, sc);
        };
        let mut items = self.read_items(reader, effective, sc).await?;
        if let Some(max) = &reader.max_items {
            let max = resolve(max, "MaxItemsPath", "integer", Value::as_u64, effective, sc)?;
            if max > 0 {
                items.truncate(max as usize);
            }
        }
        Ok(items)
    }

    /// Names the Map Run and its children's machine, and records it.
    fn plan(
        &self,
        state: &State,
        spec: &MapSpec,
        distributed: &Distributed,
        limits: MapLimits,
        inputs: &[ChildInput],
        start: DateTime<Utc>,
    ) -> Plan {
        let config = &self.inner.config;
        let label = distributed
            .label
            .clone()
            .unwrap_or_else(|| default_label(&state.name));
        let machine_name = format!("{}/{label}", self.machine.name);
        let id = uuid::Uuid::new_v4().to_string();
        let arn = format!(
            "arn:aws:states:{}:{}:mapRun:{machine_name}:{id}",
            config.region, config.account_id
        );
        let total_items = inputs.iter().map(|c| c.items).sum::<usize>();
        let record = self.map_runs.add(MapRunDescription {
            map_run_arn: arn.clone(),
            execution_arn: self.arn.clone(),
            status: MapRunStatus::Running,
            start_date: start,
            stop_date: None,
            max_concurrency: limits.max_concurrency,
            tolerated_failure_count: limits.tolerated_count.unwrap_or(0),
            tolerated_failure_percentage: limits.tolerated_percentage.unwrap_or(0.0),
            item_counts: MapRunCounts::pending(total_items as u64),
            execution_counts: MapRunCounts::pending(inputs.len() as u64),
            children: Vec::new(),
        });
        let machine = StateMachine {
            name: machine_name.clone(),
            root: spec.processor.clone(),
            timeout: None,
            role_arn: Some(self.role_arn().to_owned()),
        };
        Plan {
            arn,
            id,
            machine_arn: super::machine_arn(config, &machine_name),
            machine: Arc::new(machine),
            execution_type: distributed.execution_type,
            limits,
            total_items,
            record,
        }
    }
}

/// Each child's input: every item through `ItemSelector` (which sees
/// `$$.Map.Item`), then one per child or in the ItemBatcher's batches.
fn child_inputs(
    spec: &MapSpec,
    distributed: &Distributed,
    items: Vec<Value>,
    effective: &Value,
    sc: &StateContext<'_>,
) -> Result<Vec<ChildInput>, Failure> {
    let selected: Vec<Value> = match &spec.item_selector {
        Some(t) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| sc.for_item(index, item).fill(t, effective))
            .collect::<Result<_, _>>()?,
        None => items,
    };
    let Some(batcher) = &distributed.item_batcher else {
        return Ok(items::one_per_child(selected));
    };
    let limit = |d: &Option<crate::asl::Dynamic<u64>>, field: &str| {
        d.as_ref()
            .map(|d| resolve(d, field, "integer", Value::as_u64, effective, sc))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let limits = BatchLimits {
        max_items: limit(&batcher.max_items, "MaxItemsPerBatchPath")?,
        max_bytes: limit(&batcher.max_bytes, "MaxInputBytesPerBatchPath")?,
    };
    let batch_input = batcher
        .batch_input
        .as_ref()
        .map(|t| sc.fill(t, effective))
        .transpose()?;
    Ok(items::batches(selected, limits, batch_input.as_ref()))
}
