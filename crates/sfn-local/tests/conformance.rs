//! The conformance suite: every `tests/conformance/<feature>/*.json` fixture
//! holds a definition, an input and what AWS gives for them (taken from the
//! worked examples of the developer guide where it has them; each fixture
//! names its source). One test runs them all and reports every mismatch.
//!
//! A fixture's `expected` may hold `status`, `output`, `error`, `cause`,
//! `causeContains`, `eventTypes` (the full list of history event types),
//! `retryDelays` (seconds between a failure and the next attempt, read from
//! the virtual clock's timestamps) and `events` (partial events: the first
//! event of each one's `type` must hold its fields with its values).
//! `definitionError` instead expects the definition to be refused with a
//! message containing that text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sfn_local::{ExecutionResult, Executor, ExecutorConfig, StateMachine};

fn fixtures(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            fixtures(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn timestamp(event: &Value) -> chrono::DateTime<chrono::Utc> {
    event["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("event timestamp")
}

/// Seconds from each failure event to the next attempt's first event.
fn retry_delays(events: &[Value]) -> Vec<f64> {
    let failure = [
        "TaskFailed",
        "LambdaFunctionFailed",
        "ParallelStateFailed",
        "MapStateFailed",
        "TaskTimedOut",
    ];
    let attempt = [
        "TaskScheduled",
        "LambdaFunctionScheduled",
        "ParallelStateStarted",
        "MapStateStarted",
    ];
    let mut delays = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if failure.contains(&event["type"].as_str().unwrap_or_default())
            && let Some(next) = events[i + 1..]
                .iter()
                .find(|e| attempt.contains(&e["type"].as_str().unwrap_or_default()))
            && events[i + 1..].iter().position(|e| e == next) == Some(0)
        {
            let seconds = (timestamp(next) - timestamp(event)).num_milliseconds() as f64 / 1000.0;
            delays.push(seconds);
        }
    }
    delays
}

/// Runs one fixture and lists how the outcome differs from `expected`.
async fn check(path: &Path, executor: &Executor) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("fixture");
    let fixture: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let definition = fixture["definition"].to_string();
    let machine = StateMachine::new("Conformance", &definition, &HashMap::new());
    if let Some(expected) = fixture["definitionError"].as_str() {
        return refusal_problems(machine, expected);
    }
    let machine = match machine {
        Ok(m) => m,
        Err(e) => return vec![format!("the definition was refused: {e}")],
    };
    let input = fixture
        .get("input")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let result = executor
        .run_to_completion(&machine, Some("conformance"), input)
        .await;
    let events: Vec<Value> = result
        .events
        .iter()
        .map(|e| serde_json::to_value(e).expect("event"))
        .collect();
    let expected = &fixture["expected"];
    let mut problems = description_problems(expected, &result);
    problems.extend(history_problems(expected, &events));
    problems
}

/// A definition that must be refused with a message containing `expected`.
fn refusal_problems(
    machine: Result<StateMachine, sfn_local::Error>,
    expected: &str,
) -> Vec<String> {
    match machine {
        Ok(_) => vec![format!(
            "expected the definition to be refused with '{expected}'"
        )],
        Err(e) if !e.to_string().contains(expected) => {
            vec![format!("expected '{expected}' in '{e}'")]
        }
        Err(_) => Vec::new(),
    }
}

/// `status`, `output`, `error`, `cause` and `causeContains`.
fn description_problems(expected: &Value, result: &ExecutionResult) -> Vec<String> {
    let mut problems = Vec::new();
    let description = serde_json::to_value(&result.description).expect("description");
    if let Some(status) = expected.get("status")
        && description["status"] != *status
    {
        problems.push(format!(
            "status {} (error {}, cause {}), expected {status}",
            description["status"], description["error"], description["cause"]
        ));
    }
    if let Some(output) = expected.get("output") {
        let actual = result.output().unwrap_or(Value::Null);
        if actual != *output {
            problems.push(format!("output {actual}, expected {output}"));
        }
    }
    for field in ["error", "cause"] {
        if let Some(want) = expected.get(field)
            && description[field] != *want
        {
            problems.push(format!("{field} {}, expected {want}", description[field]));
        }
    }
    if let Some(want) = expected.get("causeContains").and_then(Value::as_str)
        && !description["cause"]
            .as_str()
            .unwrap_or_default()
            .contains(want)
    {
        problems.push(format!(
            "cause {}, expected it to contain '{want}'",
            description["cause"]
        ));
    }
    problems
}

/// `eventTypes`, `retryDelays` and `events`.
fn history_problems(expected: &Value, events: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(want) = expected.get("eventTypes") {
        let types: Vec<Value> = events.iter().map(|e| e["type"].clone()).collect();
        if Value::Array(types.clone()) != *want {
            problems.push(format!(
                "event types {}, expected {want}",
                Value::Array(types)
            ));
        }
    }
    if let Some(want) = expected.get("retryDelays").and_then(Value::as_array) {
        let actual = retry_delays(events);
        let matches = actual.len() == want.len()
            && actual.iter().zip(want).all(|(a, w)| {
                let w = w.as_f64().unwrap_or(-1.0);
                // The virtual clock adds the exact delay; real time adds
                // the microseconds the executor itself took.
                *a >= w && *a < w + 0.5
            });
        if !matches {
            problems.push(format!("retry delays {actual:?}, expected {want:?}"));
        }
    }
    if let Some(checks) = expected.get("events").and_then(Value::as_array) {
        for check in checks {
            problems.extend(event_problems(check, events));
        }
    }
    problems
}

/// One entry of `events`: a partial event, whose fields the first event of
/// its type must hold with these values.
fn event_problems(check: &Value, events: &[Value]) -> Vec<String> {
    let wanted_type = &check["type"];
    let Some(event) = events.iter().find(|e| e["type"] == *wanted_type) else {
        return vec![format!("no {wanted_type} event")];
    };
    let mut problems = Vec::new();
    for (key, value) in check.as_object().expect("event check") {
        if event.get(key) != Some(value) {
            problems.push(format!(
                "{wanted_type}.{key} is {:?}, expected {value}",
                event.get(key)
            ));
        }
    }
    problems
}

#[tokio::test]
async fn conformance_fixtures_match_aws() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut paths = Vec::new();
    fixtures(&root, &mut paths);
    assert!(
        paths.len() >= 50,
        "the suite lost fixtures: {}",
        paths.len()
    );
    let executor = Executor::new(ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    let mut failures = Vec::new();
    for path in &paths {
        for problem in check(path, &executor).await {
            failures.push(format!(
                "{}: {problem}",
                path.strip_prefix(&root).unwrap_or(path).display()
            ));
        }
    }
    println!("{} fixtures checked", paths.len());
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
