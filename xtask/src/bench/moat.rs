//! Moat's side of the sweep bench: one sweep of the stack's account and
//! region, started through the local Step Functions endpoint as the daily
//! schedule starts it in AWS, followed to its end and to the end of every
//! remediation execution it started. Moat's time runs from just before
//! `StartExecution` to the latest stop date among the sweep and those
//! remediations, read from the executions themselves rather than from when
//! this process noticed.
//!
//! It also says where the time went: the sweep's own states, the median
//! time in each state of a remediation, and the Lambda invocations of every
//! function (count, total and cold-start time), from the executor's reports.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use local_stack::ACCOUNT;
use local_stack::demo::{StateTime, stopped_at, timeline};
use local_stack::pipeline::Pipeline;
use serde_json::json;
use sfn_local::{ExecutionResult, ExecutionStatus};

/// One sweep's figures.
#[derive(Debug, Clone)]
pub(super) struct Run {
    /// From `StartExecution` to the last remediation's end.
    pub took: Duration,
    /// The sweep execution's history events.
    pub sweep_events: usize,
    /// The Distributed Map's child executions (batches).
    pub children: usize,
    /// The history events of the largest child, when the endpoint serves
    /// children's histories (sfn-local's `GetExecutionHistory` answers only
    /// for executions it started through `StartExecution`).
    pub largest_child_events: Option<usize>,
    /// The longest child's run, from its start to its stop.
    pub longest_child: Duration,
    /// The remediation executions the sweep started.
    pub remediations: usize,
    /// The remediation executions that did not succeed, by error name, and
    /// the first one's ARN, error and cause.
    pub failed: BTreeMap<String, usize>,
    pub first_failure: Option<String>,
    /// The sweep's states and how long each took, in order.
    pub sweep_states: Vec<StateTime>,
    /// The median time in each state of a remediation, in the order the
    /// states first ran.
    pub remediation_states: Vec<(String, i64)>,
    /// Per function: invocations, total milliseconds, cold-start milliseconds.
    pub functions: BTreeMap<String, (usize, f64, f64)>,
}

/// How long a sweep of `groups` groups may take before the bench gives up.
pub(super) fn patience(groups: usize) -> Duration {
    Duration::from_secs(300 + u64::try_from(groups).unwrap_or(u64::MAX))
}

/// Runs the sweep `name` of the stack's account and `region` to its end,
/// and waits for every remediation it started.
pub(super) async fn sweep(
    pipeline: &Pipeline,
    region: &str,
    name: &str,
    patience: Duration,
) -> anyhow::Result<Run> {
    let endpoint = pipeline.endpoint();
    let input = json!({"targets": [{"account": ACCOUNT, "region": region}], "dryRun": false});
    let started_at = Utc::now();
    let started = endpoint
        .client()
        .start_execution()
        .state_machine_arn(endpoint.sweep_machine_arn())
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .map_err(|error| sdk("StartExecution", &error))?;
    let arn = started.execution_arn().to_owned();
    let sweep = ended(pipeline, &arn, patience).await?;
    if let Some(failure) = failure(&sweep) {
        bail!("the sweep did not succeed: {failure}");
    }
    let remediations = remediations(pipeline, name, patience).await?;
    let failures: Vec<&ExecutionResult> = remediations
        .iter()
        .filter(|result| result.description.status != ExecutionStatus::Succeeded)
        .collect();
    let last = remediations
        .iter()
        .chain(std::iter::once(&sweep))
        .map(stop_of)
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(started_at);
    let (children, largest_child_events, longest_child) = children(pipeline, &arn).await?;
    Ok(Run {
        took: (last - started_at).to_std().unwrap_or_default(),
        sweep_events: sweep.events.len(),
        children,
        largest_child_events,
        longest_child,
        remediations: remediations.len(),
        failed: failures.iter().fold(BTreeMap::new(), |mut counts, result| {
            let error = result.description.error.clone().unwrap_or_default();
            *counts.entry(error).or_default() += 1;
            counts
        }),
        first_failure: failures.first().and_then(|result| failure(result)),
        sweep_states: timeline(&sweep),
        remediation_states: median_states(&remediations),
        functions: functions(pipeline),
    })
}

/// Waits for an execution the endpoint started to end, at most
/// `patience`, however it ended.
async fn ended(
    pipeline: &Pipeline,
    arn: &str,
    patience: Duration,
) -> anyhow::Result<ExecutionResult> {
    tokio::time::timeout(patience, pipeline.endpoint().result(arn))
        .await
        .map_err(|_| anyhow!("{arn} still runs after {patience:?}"))?
        .with_context(|| format!("the endpoint does not know {arn}"))
}

/// How an execution that did not succeed ended: its ARN, status, error
/// and cause; `None` for one that succeeded.
fn failure(result: &ExecutionResult) -> Option<String> {
    let description = &result.description;
    (description.status != ExecutionStatus::Succeeded).then(|| {
        format!(
            "{} ended {:?}: {} {}",
            description.execution_arn,
            description.status,
            description.error.as_deref().unwrap_or_default(),
            description.cause.as_deref().unwrap_or_default()
        )
    })
}

/// Every remediation execution of the sweep `name` (they are named
/// `<sweep>-<group>`), each waited for to its end, however it ended.
async fn remediations(
    pipeline: &Pipeline,
    name: &str,
    patience: Duration,
) -> anyhow::Result<Vec<ExecutionResult>> {
    let endpoint = pipeline.endpoint();
    let listed: Vec<_> = endpoint
        .client()
        .list_executions()
        .state_machine_arn(endpoint.machine_arn())
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|error| sdk("ListExecutions", &error))?;
    let prefix = format!("{name}-");
    let mut results = Vec::new();
    for execution in listed.iter().filter(|e| e.name().starts_with(&prefix)) {
        results.push(ended(pipeline, execution.execution_arn(), patience).await?);
    }
    Ok(results)
}

/// The Distributed Map's children: how many, the largest one's history
/// events when the endpoint serves them, and the longest one's run.
async fn children(
    pipeline: &Pipeline,
    sweep_arn: &str,
) -> anyhow::Result<(usize, Option<usize>, Duration)> {
    let client = pipeline.endpoint().client();
    let runs = client
        .list_map_runs()
        .execution_arn(sweep_arn)
        .send()
        .await
        .map_err(|error| sdk("ListMapRuns", &error))?;
    let mut children = Vec::new();
    for run in runs.map_runs() {
        let listed: Vec<_> = client
            .list_executions()
            .map_run_arn(run.map_run_arn())
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|error| sdk("ListExecutions", &error))?;
        children.extend(listed);
    }
    let longest = children
        .iter()
        .filter_map(|child| {
            let stop = child.stop_date()?.to_millis().ok()?;
            let start = child.start_date().to_millis().ok()?;
            u64::try_from(stop - start).ok()
        })
        .max()
        .unwrap_or(0);
    let mut largest = None;
    for child in &children {
        match history_length(pipeline, child.execution_arn()).await {
            Some(events) => largest = largest.max(Some(events)),
            // The endpoint does not serve children's histories: asking for
            // the others would only fail the same way.
            None => break,
        }
    }
    Ok((children.len(), largest, Duration::from_millis(longest)))
}

/// The number of events in an execution's history, or `None` when the
/// endpoint does not answer `GetExecutionHistory` for it.
async fn history_length(pipeline: &Pipeline, arn: &str) -> Option<usize> {
    let events: Vec<_> = pipeline
        .endpoint()
        .client()
        .get_execution_history()
        .execution_arn(arn)
        .max_results(1000)
        .include_execution_data(false)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ok()?;
    Some(events.len())
}

fn stop_of(result: &ExecutionResult) -> anyhow::Result<DateTime<Utc>> {
    stopped_at(result).with_context(|| {
        format!(
            "{}: the stop date `{}` is not RFC 3339",
            result.description.execution_arn, result.description.stop_date
        )
    })
}

/// The median time in each state over `results`, in first-run order.
fn median_states(results: &[ExecutionResult]) -> Vec<(String, i64)> {
    let mut per_state: Vec<(String, Vec<i64>)> = Vec::new();
    for state in results.iter().flat_map(timeline) {
        match per_state.iter_mut().find(|(name, _)| *name == state.name) {
            Some((_, times)) => times.push(state.milliseconds),
            None => per_state.push((state.name, vec![state.milliseconds])),
        }
    }
    per_state
        .into_iter()
        .map(|(name, mut times)| {
            times.sort_unstable();
            (name, super::percentile(&times, 50))
        })
        .collect()
}

/// Each function's invocations, total duration and cold-start time, from
/// the executor's Lambda reports (a fresh pipeline: this sweep's only).
fn functions(pipeline: &Pipeline) -> BTreeMap<String, (usize, f64, f64)> {
    let mut functions: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for report in pipeline.executor.lambda_reports() {
        let entry = functions.entry(report.function_name).or_default();
        entry.0 += 1;
        entry.1 += report.duration_ms;
        entry.2 += report.init_duration_ms.unwrap_or(0.0);
    }
    functions
}

fn sdk(operation: &str, error: &dyn std::error::Error) -> anyhow::Error {
    anyhow!(
        "{operation} on the local Step Functions endpoint: {}",
        moat_domain::error::display_chain(error)
    )
}
