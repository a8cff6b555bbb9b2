//! The Map Runs of the executions the endpoint ran: `ListMapRuns`,
//! `DescribeMapRun`, `ListExecutions` with a `mapRunArn` (the child
//! executions of one Map Run) and `DescribeExecution` of a child, which
//! the registry does not hold since its parent's Map state started it.
//!
//! A child is listed once it has ended: the Map Run keeps its children's
//! results as they end.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Service;
use super::machines::with_token;
use super::protocol::{ApiError, Body, Reply, epoch, page, page_size};
use crate::executor::{ExecutionResult, MapRunDescription};

/// The Map Run an ARN names, from whichever execution started it.
fn find(service: &Service, arn: &str) -> Result<MapRunDescription, ApiError> {
    let controls: Vec<_> = service
        .registry()
        .executions
        .values()
        .map(|entry| entry.control.clone())
        .collect();
    controls
        .iter()
        .flat_map(|control| control.map_runs())
        .find(|run| run.map_run_arn == arn)
        .ok_or_else(|| ApiError::resource_not_found(arn))
}

/// Whether a request names a child execution of a Map Run: its
/// `executionArn` has the `<machine>/<label>` form of one.
pub(super) fn names_child(body: &Body) -> bool {
    body.string("executionArn")
        .ok()
        .flatten()
        .and_then(|arn| arn.split(':').nth(6))
        .is_some_and(|machine| machine.contains('/'))
}

/// `ListMapRuns`: the Map Runs an execution started, in start order.
pub(super) fn list(service: &Service, body: &Body) -> Reply {
    let execution = body.required("executionArn")?;
    let (control, machine_arn) = {
        let registry = service.registry();
        let entry = registry.execution(execution)?;
        (entry.control.clone(), entry.machine.arn.clone())
    };
    let items = control
        .map_runs()
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let mut item = json!({
                "executionArn": run.execution_arn,
                "mapRunArn": run.map_run_arn,
                "stateMachineArn": machine_arn,
                "startDate": epoch(run.start_date),
            });
            if let Some(stop) = run.stop_date {
                item["stopDate"] = epoch(stop);
            }
            (i as u64, item)
        })
        .collect();
    let size = page_size(body, 100, 1000)?;
    let (page, next) = page(items, body.string("nextToken")?, size, false)?;
    Ok(with_token(json!({"mapRuns": page}), next))
}

/// `DescribeMapRun`.
pub(super) fn describe(service: &Service, body: &Body) -> Reply {
    let run = find(service, body.required("mapRunArn")?)?;
    let mut reply = json!({
        "mapRunArn": run.map_run_arn,
        "executionArn": run.execution_arn,
        "status": run.status,
        "startDate": epoch(run.start_date),
        "maxConcurrency": run.max_concurrency,
        "toleratedFailureCount": run.tolerated_failure_count,
        "toleratedFailurePercentage": run.tolerated_failure_percentage,
        "itemCounts": run.item_counts,
        "executionCounts": run.execution_counts,
        "redriveCount": 0,
    });
    if let Some(stop) = run.stop_date {
        reply["stopDate"] = epoch(stop);
    }
    Ok(reply)
}

/// `ListExecutions` with a `mapRunArn`: the Map Run's children that have
/// ended, in the order they ended.
pub(super) fn list_children(service: &Service, body: &Body) -> Reply {
    let map_run = body.required("mapRunArn")?;
    if body.string("stateMachineArn")?.is_some() {
        return Err(ApiError::new(
            "InvalidArn",
            "Specify either a stateMachineArn or a mapRunArn, not both",
        ));
    }
    let run = find(service, map_run)?;
    let filter = body.string("statusFilter")?;
    let items = run
        .children
        .iter()
        .enumerate()
        .map(|(i, child)| (i as u64, child_item(child, &run.map_run_arn)))
        .filter(|(_, item)| filter.is_none_or(|f| item["status"] == f))
        .collect();
    let size = page_size(body, 100, 1000)?;
    let (page, next) = page(items, body.string("nextToken")?, size, false)?;
    Ok(with_token(json!({"executions": page}), next))
}

/// `DescribeExecution` of a child execution.
pub(super) fn describe_child(service: &Service, body: &Body) -> Reply {
    let arn = body.required("executionArn")?;
    let controls: Vec<_> = service
        .registry()
        .executions
        .values()
        .map(|entry| entry.control.clone())
        .collect();
    let found = controls.iter().flat_map(|c| c.map_runs()).find_map(|run| {
        let child = run
            .children
            .into_iter()
            .find(|c| c.description.execution_arn == arn)?;
        Some((child, run.map_run_arn))
    });
    let (child, map_run) = found.ok_or_else(|| {
        ApiError::new(
            "ExecutionDoesNotExist",
            format!("Execution Does Not Exist: '{arn}'"),
        )
    })?;
    let d = &child.description;
    let mut reply = child_item(&child, &map_run);
    reply["input"] = json!(d.input);
    reply["inputDetails"] = json!({"included": true});
    let optional = [
        ("output", &d.output),
        ("error", &d.error),
        ("cause", &d.cause),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            reply[field] = json!(value);
        }
    }
    if d.output.is_some() {
        reply["outputDetails"] = json!({"included": true});
    }
    Ok(reply)
}

/// `GetExecutionHistory` of a child execution: its own history.
pub(super) fn child_history(service: &Service, body: &Body) -> Reply {
    let arn = body.required("executionArn")?;
    let controls: Vec<_> = service
        .registry()
        .executions
        .values()
        .map(|entry| entry.control.clone())
        .collect();
    let child = controls
        .iter()
        .flat_map(|c| c.map_runs())
        .find_map(|run| {
            run.children
                .into_iter()
                .find(|c| c.description.execution_arn == arn)
        })
        .ok_or_else(|| {
            ApiError::new(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })?;
    super::executions::history_page(&child.events, body)
}

/// A child as `ListExecutions` lists it.
fn child_item(child: &ExecutionResult, map_run: &str) -> Value {
    let d = &child.description;
    json!({
        "executionArn": d.execution_arn,
        "stateMachineArn": d.state_machine_arn,
        "name": d.name,
        "status": d.status,
        "startDate": epoch(date(&d.start_date)),
        "stopDate": epoch(date(&d.stop_date)),
        "mapRunArn": map_run,
        "redriveCount": 0,
    })
}

fn date(text: &str) -> DateTime<Utc> {
    text.parse().unwrap_or_else(|_| Utc::now())
}
