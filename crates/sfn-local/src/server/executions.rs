//! The execution actions: `StartExecution` (idempotent by name while the
//! execution runs, as in AWS), `DescribeExecution`,
//! `DescribeStateMachineForExecution`, `ListExecutions`,
//! `GetExecutionHistory`, `StopExecution` and `RedriveExecution`, and the
//! answers to a waiting task token: `SendTaskSuccess`, `SendTaskFailure`
//! and `SendTaskHeartbeat`.
//!
//! Executions run on the endpoint's executor; each is watched by a task
//! that keeps its result, so the actions read a running execution's
//! history live and a finished one's description from its result.

use std::cmp::Reverse;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Service;
use super::machines::with_token;
use super::protocol::{ApiError, Body, Reply, check_name, epoch, page, page_size};
use super::registry::{ExecutionEntry, status};
use crate::executor::execution_arn;
use crate::history::HistoryEvent;

const STATUSES: &[&str] = &[
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
    "PENDING_REDRIVE",
];

pub(super) fn start(service: &Service, body: &Body) -> Reply {
    let machine_arn = body.required("stateMachineArn")?;
    let name = match body.string("name")? {
        Some(name) => name.to_owned(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    check_name(&name)?;
    let input_text = body.string("input")?.unwrap_or("{}");
    let input = serde_json::from_str(input_text).map_err(|e| {
        ApiError::new(
            "InvalidExecutionInput",
            format!("Invalid State Machine Execution Input: '{e}'"),
        )
    })?;
    // Held from the name check to the insert, so two starts of one name
    // cannot both run.
    let mut registry = service.registry();
    let machine = registry.machine(machine_arn)?.clone();
    let arn = execution_arn(&service.config, &machine.name, &name);
    if let Some(existing) = registry.executions.get(&arn) {
        if existing.result().is_none() && existing.input == input_text {
            return Ok(started(existing));
        }
        return Err(ApiError::new(
            "ExecutionAlreadyExists",
            format!("Execution Already Exists: '{arn}'"),
        ));
    }
    let execution = service
        .executor
        .start_execution(&machine.parsed, Some(&name), input);
    let entry = Arc::new(ExecutionEntry {
        seq: registry.seq(),
        name,
        machine,
        input: input_text.to_owned(),
        control: execution.control(),
        done: watch_result(execution),
        redrive_count: 0,
        redrive_date: None,
    });
    registry.executions.insert(arn, entry.clone());
    Ok(started(&entry))
}

/// A receiver that gets the execution's result when it ends.
fn watch_result(
    execution: crate::executor::Execution,
) -> watch::Receiver<Option<Arc<crate::executor::ExecutionResult>>> {
    let (keep, done) = watch::channel(None);
    tokio::spawn(async move {
        keep.send_replace(Some(Arc::new(execution.wait().await)));
    });
    done
}

/// `RedriveExecution`: an execution that failed, timed out or was stopped
/// runs again from the state it stopped in (see
/// `Executor::redrive_execution`); a running or succeeded one is
/// `ExecutionNotRedrivable`, as in AWS.
pub(super) fn redrive(service: &Service, body: &Body) -> Reply {
    let arn = body.required("executionArn")?;
    let mut registry = service.registry();
    let entry = registry.execution(arn)?.clone();
    let not_redrivable = |why: &str| {
        ApiError::new(
            "ExecutionNotRedrivable",
            format!("Execution is {why} and cannot be redriven: '{arn}'"),
        )
    };
    let Some(result) = entry.result() else {
        return Err(not_redrivable("RUNNING"));
    };
    if result.description.status == crate::executor::ExecutionStatus::Succeeded {
        return Err(not_redrivable("SUCCEEDED"));
    }
    let redrive_count = entry.redrive_count + 1;
    let execution = service
        .executor
        .redrive_execution(&entry.machine.parsed, &entry.control, redrive_count)
        .ok_or_else(|| not_redrivable("not stopped inside a state"))?;
    let now = Utc::now();
    let redriven = ExecutionEntry {
        seq: entry.seq,
        name: entry.name.clone(),
        machine: entry.machine.clone(),
        input: entry.input.clone(),
        control: execution.control(),
        done: watch_result(execution),
        redrive_count,
        redrive_date: Some(now),
    };
    registry
        .executions
        .insert(arn.to_owned(), Arc::new(redriven));
    Ok(json!({"redriveDate": epoch(now)}))
}

/// `SendTaskSuccess`: the Task waiting for `taskToken` succeeds with
/// `output`, which must be JSON.
pub(super) fn task_success(service: &Service, body: &Body) -> Reply {
    let token = body.required("taskToken")?;
    let output = body.required("output")?;
    let output: Value = serde_json::from_str(output)
        .map_err(|e| ApiError::new("InvalidOutput", format!("Invalid Output: '{e}'")))?;
    service
        .executor
        .send_task_success(token, output)
        .map_err(task_does_not_exist)?;
    Ok(json!({}))
}

/// `SendTaskFailure`: the Task waiting for `taskToken` fails with `error`
/// and `cause`.
pub(super) fn task_failure(service: &Service, body: &Body) -> Reply {
    let token = body.required("taskToken")?;
    let error = body.string("error")?.map(str::to_owned);
    let cause = body.string("cause")?.map(str::to_owned);
    service
        .executor
        .send_task_failure(token, error, cause)
        .map_err(task_does_not_exist)?;
    Ok(json!({}))
}

/// `SendTaskHeartbeat`: the Task waiting for `taskToken` is alive.
pub(super) fn task_heartbeat(service: &Service, body: &Body) -> Reply {
    let token = body.required("taskToken")?;
    service
        .executor
        .send_task_heartbeat(token)
        .map_err(task_does_not_exist)?;
    Ok(json!({}))
}

fn task_does_not_exist(error: crate::executor::TaskDoesNotExist) -> ApiError {
    ApiError::new("TaskDoesNotExist", error.to_string())
}

/// `REDRIVABLE` once an execution stopped inside a state without
/// succeeding.
fn redrive_status(
    entry: &ExecutionEntry,
    result: Option<&crate::executor::ExecutionResult>,
) -> &'static str {
    let stopped_in_a_state = entry.control.redrive_state().is_some();
    match result {
        Some(result)
            if result.description.status != crate::executor::ExecutionStatus::Succeeded
                && stopped_in_a_state =>
        {
            "REDRIVABLE"
        }
        _ => "NOT_REDRIVABLE",
    }
}

fn started(entry: &ExecutionEntry) -> Value {
    json!({"executionArn": entry.control.arn(), "startDate": epoch(entry.control.start_date())})
}

pub(super) fn describe(service: &Service, body: &Body) -> Reply {
    let registry = service.registry();
    let entry = registry.execution(body.required("executionArn")?)?;
    let with_data = include_data(body)?;
    let result = entry.result();
    // What ListExecutions shows of it (including stopDate and
    // redriveDate), plus what only DescribeExecution adds.
    let mut reply = list_item(entry);
    reply["redriveStatus"] = json!(redrive_status(entry, result.as_deref()));
    if with_data {
        reply["input"] = json!(entry.input);
        reply["inputDetails"] = json!({"included": true});
    }
    if let Some(result) = result {
        let description = &result.description;
        if let (Some(output), true) = (&description.output, with_data) {
            reply["output"] = json!(output);
            reply["outputDetails"] = json!({"included": true});
        }
        if let Some(error) = &description.error {
            reply["error"] = json!(error);
        }
        if let Some(cause) = &description.cause {
            reply["cause"] = json!(cause);
        }
    }
    Ok(reply)
}

/// `DescribeStateMachineForExecution`: the machine as the execution ran it.
pub(super) fn describe_machine(service: &Service, body: &Body) -> Reply {
    let registry = service.registry();
    let machine = &registry.execution(body.required("executionArn")?)?.machine;
    Ok(json!({
        "stateMachineArn": machine.arn,
        "name": machine.name,
        "definition": machine.definition,
        "roleArn": machine.role_arn,
        "updateDate": epoch(machine.updated),
        "loggingConfiguration": machine.logging,
        "tracingConfiguration": machine.tracing,
        "encryptionConfiguration": machine.encryption,
        "revisionId": machine.revision_id,
    }))
}

/// `ListExecutions`: newest first, optionally of one status.
pub(super) fn list(service: &Service, body: &Body) -> Reply {
    if body.string("mapRunArn")?.is_some() {
        return Err(ApiError::unsupported(
            "sfn-local runs inline Map states only, so there are no Map Runs to list",
        ));
    }
    let machine_arn = body.required("stateMachineArn")?;
    let filter = body.string("statusFilter")?;
    if let Some(filter) = filter.filter(|f| !STATUSES.contains(f)) {
        return Err(ApiError::validation(
            &format!("'{filter}'"),
            "statusFilter",
            &format!("Member must satisfy enum value set: {STATUSES:?}"),
        ));
    }
    let size = page_size(body, 100, 1000)?;
    let registry = service.registry();
    registry.machine(machine_arn)?;
    let mut entries: Vec<&Arc<ExecutionEntry>> = registry
        .executions
        .values()
        .filter(|e| e.machine.arn == machine_arn)
        .collect();
    entries.sort_by_key(|e| Reverse(e.seq));
    let items = entries
        .into_iter()
        .map(|e| (e.seq, list_item(e)))
        .filter(|(_, item)| filter.is_none_or(|f| item["status"] == f))
        .collect();
    let (page, next) = page(items, body.string("nextToken")?, size, true)?;
    Ok(with_token(json!({"executions": page}), next))
}

fn list_item(entry: &ExecutionEntry) -> Value {
    let result = entry.result();
    let mut item = json!({
        "executionArn": entry.control.arn(),
        "stateMachineArn": entry.machine.arn,
        "name": entry.name,
        "status": status(result.as_deref()),
        "startDate": epoch(entry.control.start_date()),
        "redriveCount": entry.redrive_count,
    });
    if let Some(date) = entry.redrive_date {
        item["redriveDate"] = epoch(date);
    }
    if let Some(result) = result {
        item["stopDate"] = epoch(date(&result.description.stop_date));
    }
    item
}

/// `GetExecutionHistory`: the events so far, oldest or newest first, in
/// pages whose tokens stay right while the execution adds events.
pub(super) fn history(service: &Service, body: &Body) -> Reply {
    let control = service
        .registry()
        .execution(body.required("executionArn")?)?
        .control
        .clone();
    history_page(&control.events(), body)
}

/// One page of `events` in `GetExecutionHistory`'s shape, as `body` asks
/// (order, page size, execution data), for an execution or a Map Run's
/// child.
pub(super) fn history_page(events: &[HistoryEvent], body: &Body) -> Reply {
    let reverse = body.boolean("reverseOrder")?.unwrap_or(false);
    let with_data = body.boolean("includeExecutionData")?.unwrap_or(true);
    let size = page_size(body, 100, 1000)?;
    let mut events: Vec<(u64, Value)> = events
        .iter()
        .map(|e| (e.id, api_event(e, with_data)))
        .collect();
    if reverse {
        events.reverse();
    }
    let (page, next) = page(events, body.string("nextToken")?, size, reverse)?;
    Ok(with_token(json!({"events": page}), next))
}

/// `StopExecution`: stops a running execution and answers once it has
/// ended; a closed one is left as it is, with its own stop date.
pub(super) async fn stop(service: &Service, body: &Body) -> Reply {
    let entry = service
        .registry()
        .execution(body.required("executionArn")?)?
        .clone();
    let error = body.string("error")?.map(str::to_owned);
    let cause = body.string("cause")?.map(str::to_owned);
    entry.control.stop(error, cause);
    let stopped = entry
        .ended()
        .await
        .map_or_else(Utc::now, |r| date(&r.description.stop_date));
    Ok(json!({"stopDate": epoch(stopped)}))
}

/// `includedData`: `ALL_DATA` (the default) or `METADATA_ONLY`.
fn include_data(body: &Body) -> Result<bool, ApiError> {
    match body.string("includedData")? {
        None | Some("ALL_DATA") => Ok(true),
        Some("METADATA_ONLY") => Ok(false),
        Some(other) => Err(ApiError::validation(
            &format!("'{other}'"),
            "includedData",
            "Member must satisfy enum value set: [ALL_DATA, METADATA_ONLY]",
        )),
    }
}

/// One history event in the JSON protocol: the timestamp in epoch
/// seconds, and without `input` and `output` unless execution data is
/// included.
fn api_event(event: &HistoryEvent, with_data: bool) -> Value {
    let mut value = json!({
        "timestamp": epoch(event.timestamp),
        "type": event.event_type,
        "id": event.id,
        "previousEventId": event.previous_event_id,
    });
    if let Some(details) = &event.details {
        let mut details = details.clone();
        if let (Some(object), false) = (details.as_object_mut(), with_data) {
            object.remove("input");
            object.remove("output");
        }
        value[event.details_key()] = details;
    }
    value
}

/// A date the executor wrote (RFC 3339) read back.
fn date(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_epoch_timestamps_and_drop_data_on_request() {
        let event = HistoryEvent {
            id: 2,
            previous_event_id: 1,
            timestamp: DateTime::parse_from_rfc3339("2024-01-01T00:00:00.250Z")
                .unwrap()
                .with_timezone(&Utc),
            event_type: "PassStateEntered".to_owned(),
            details: Some(
                json!({"name": "A", "input": "{}", "inputDetails": {"truncated": false}}),
            ),
        };
        let full = api_event(&event, true);
        assert_eq!(full["timestamp"], json!(1704067200.25));
        assert_eq!(full["stateEnteredEventDetails"]["input"], "{}");
        let bare = api_event(&event, false);
        assert_eq!(
            bare["stateEnteredEventDetails"],
            json!({"name": "A", "inputDetails": {"truncated": false}})
        );
    }
}
