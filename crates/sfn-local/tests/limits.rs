//! Step Functions' limits that keep a runaway definition bounded: an
//! execution that loops forever ends at the history quota, its memory
//! bounded by the quota.

use std::collections::HashMap;

use serde_json::json;
use sfn_local::{ExecutionStatus, Executor, ExecutorConfig, MAX_HISTORY_EVENTS, StateMachine};

fn machine(definition: serde_json::Value) -> StateMachine {
    StateMachine::new("Runaway", &definition.to_string(), &HashMap::new()).unwrap()
}

#[tokio::test]
async fn a_loop_of_pass_states_fails_at_the_history_quota() {
    let executor = Executor::new(ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    let forever = machine(json!({
        "StartAt": "Again",
        "States": {
            "Again": {"Type": "Pass", "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.stop", "IsPresent": true, "Next": "Done"}
            ], "Default": "Again"},
            "Done": {"Type": "Succeed"}
        }
    }));
    let result = executor.run_to_completion(&forever, None, json!({})).await;
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    assert_eq!(result.description.error.as_deref(), Some("States.Runtime"));
    assert!(
        result
            .description
            .cause
            .as_deref()
            .is_some_and(|cause| cause.contains("maximum number of history events")),
        "{:?}",
        result.description.cause
    );
    assert!(
        result.events.len() <= MAX_HISTORY_EVENTS,
        "{}",
        result.events.len()
    );
    assert!(result.events.len() > MAX_HISTORY_EVENTS - 20);
}
