//! The local execution console: HTML pages, served by plain GETs on the
//! endpoint's own port, that show what the API holds the way the AWS Step
//! Functions console does. `/` (or `/console`) lists every execution;
//! `/console/executions/<ARN>` shows one: its summary, the state machine
//! drawn with each state coloured by what happened to it, every step's
//! input and output, and the history's events.
//!
//! The pages read the registry, the same data `DescribeExecution` and
//! `GetExecutionHistory` answer from, at the moment of the request, and
//! are rendered here in Rust: no script, no external resources. A running
//! execution's page reloads itself every two seconds.
//!
//! `outcome` reads what happened to each state from the history, `diagram`
//! draws the machine with the boxes `layout` places, and `html` holds the
//! escaping and the page shell.

mod diagram;
mod html;
mod layout;
mod outcome;

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::Service;
use super::registry::{ExecutionEntry, status};
use crate::asl::StateMachine;
use crate::history::HistoryEvent;
use html::{escape, execution_path, status_class};
use outcome::{Outcome, Reading, Visit};

/// How many characters of a JSON value show before it is opened.
const PREVIEW_CHARS: usize = 80;

/// Answers a GET for `path`: the list, an execution's page, or a 404 page
/// that names what was not found.
pub(super) fn respond(service: &Service, path: &str) -> Response<Full<Bytes>> {
    if matches!(path, "/" | "/console" | "/console/") {
        return html::response(StatusCode::OK, list_page(&listed(service)));
    }
    let Some(segment) = path.strip_prefix(html::EXECUTION_PATH) else {
        return not_found(&format!("There is no console page at {path}."));
    };
    let Some(arn) = html::percent_decode(segment) else {
        return not_found(&format!(
            "The execution ARN in {path} is not percent-encoded UTF-8."
        ));
    };
    // Cloned so the registry is held for the look-up only, not the render.
    let found = service.registry().execution(&arn).cloned();
    match found {
        Ok(entry) => html::response(StatusCode::OK, execution_page(&ExecutionView::of(&entry))),
        Err(error) => not_found(&error.message),
    }
}

/// Every execution, newest first.
fn listed(service: &Service) -> Vec<Arc<ExecutionEntry>> {
    let mut entries: Vec<_> = service.registry().executions.values().cloned().collect();
    entries.sort_by_key(|e| Reverse(e.seq));
    entries
}

fn not_found(message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        r#"<section><h1>Not found</h1><p class="not-found">{}</p><p><a href="/">All executions</a></p></section>"#,
        escape(message)
    );
    html::response(StatusCode::NOT_FOUND, html::page("Not found", false, &body))
}

fn list_page(entries: &[Arc<ExecutionEntry>]) -> String {
    let rows: String = entries.iter().map(|e| list_row(e)).collect();
    let table = if entries.is_empty() {
        r#"<p class="muted">No executions yet: start one with StartExecution.</p>"#.to_owned()
    } else {
        format!(
            "<table class=\"executions\"><thead><tr><th>Name</th><th>State machine</th><th>Status</th><th>Started</th><th>Stopped</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    let running = entries.iter().any(|e| e.result().is_none());
    let body = format!("<section><h1>Executions</h1>{table}</section>");
    html::page("Executions", running, &body)
}

fn list_row(entry: &ExecutionEntry) -> String {
    let result = entry.result();
    let status = status(result.as_deref());
    let stopped = result
        .as_ref()
        .and_then(|r| rfc3339(&r.description.stop_date))
        .map_or_else(|| "—".to_owned(), time);
    format!(
        r#"<tr class="execution"><td><a href="{href}">{name}</a></td><td>{machine}</td><td><span class="badge {class}">{status}</span></td><td>{started}</td><td>{stopped}</td></tr>"#,
        href = escape(&execution_path(entry.control.arn())),
        name = escape(&entry.name),
        machine = escape(&entry.machine.name),
        class = status_class(&status),
        started = time(entry.control.start_date()),
    )
}

/// What an execution's page shows, read from its registry entry at once.
struct ExecutionView<'a> {
    arn: &'a str,
    name: &'a str,
    machine_arn: &'a str,
    machine: &'a StateMachine,
    status: String,
    start: DateTime<Utc>,
    stop: Option<DateTime<Utc>>,
    input: &'a str,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    events: Vec<HistoryEvent>,
}

impl<'a> ExecutionView<'a> {
    fn of(entry: &'a ExecutionEntry) -> Self {
        let result = entry.result();
        let description = result.as_ref().map(|r| &r.description);
        Self {
            arn: entry.control.arn(),
            name: &entry.name,
            machine_arn: &entry.machine.arn,
            machine: &entry.machine.parsed,
            status: status(result.as_deref()),
            start: entry.control.start_date(),
            stop: description.and_then(|d| rfc3339(&d.stop_date)),
            input: &entry.input,
            output: description.and_then(|d| d.output.clone()),
            error: description.and_then(|d| d.error.clone()),
            cause: description.and_then(|d| d.cause.clone()),
            events: entry.control.events(),
        }
    }
}

fn execution_page(view: &ExecutionView<'_>) -> String {
    let reading = Reading::new(&view.events);
    let visits = reading.visits();
    let outcomes = outcome::by_state(&visits);
    let origin = view.events.first().map_or(view.start, |e| e.timestamp);
    let body = [
        summary(view),
        diagrams(view.machine, &outcomes),
        steps(&visits, origin),
        events(&view.events, &reading, origin),
    ]
    .concat();
    html::page(view.name, view.status == "RUNNING", &body)
}

fn summary(view: &ExecutionView<'_>) -> String {
    let stopped = view.stop.map_or_else(|| "still running".to_owned(), time);
    let mut rows = vec![
        ("Execution ARN", escape(view.arn)),
        ("State machine", escape(view.machine_arn)),
        ("Started", time(view.start)),
        ("Stopped", stopped),
    ];
    if let Some(stop) = view.stop {
        rows.push((
            "Duration",
            format!("{} ms", (stop - view.start).num_milliseconds()),
        ));
    }
    if let Some(error) = &view.error {
        rows.push(("Error", escape(error)));
    }
    if let Some(cause) = &view.cause {
        rows.push(("Cause", json_details(cause)));
    }
    rows.push(("Input", json_details(view.input)));
    if let Some(output) = &view.output {
        rows.push(("Output", json_details(output)));
    }
    let rows: String = rows
        .into_iter()
        .map(|(term, value)| format!("<dt>{term}</dt><dd>{value}</dd>"))
        .collect();
    format!(
        r#"<section><nav class="crumbs"><a href="/">Executions</a> / {machine}</nav><h1>{name} <span class="badge status {class}">{status}</span></h1><dl class="summary">{rows}</dl></section>"#,
        machine = escape(&view.machine.name),
        name = escape(view.name),
        class = status_class(&view.status),
        status = escape(&view.status),
    )
}

/// The legend and a diagram per block, the machine's first.
fn diagrams(machine: &StateMachine, outcomes: &HashMap<&str, Outcome>) -> String {
    let legend: String = Outcome::ALL
        .iter()
        .map(|o| {
            format!(
                r#"<li><span class="swatch {}"></span>{}</li>"#,
                o.class(),
                o.label()
            )
        })
        .collect();
    let figures: String = diagram::blocks(machine)
        .into_iter()
        .enumerate()
        .map(|(i, (heading, block))| {
            format!(
                "<figure><figcaption>{}</figcaption>{}</figure>",
                escape(&heading),
                diagram::svg(block, outcomes, i)
            )
        })
        .collect();
    format!(
        r#"<section><h2>Graph</h2><ul class="legend">{legend}</ul><div class="diagrams">{figures}</div></section>"#
    )
}

/// Every visit of a state, with its input and, once it left, its output.
fn steps(visits: &[Visit<'_>], origin: DateTime<Utc>) -> String {
    let rows: String = visits
        .iter()
        .enumerate()
        .map(|(i, visit)| step_row(i + 1, visit, origin))
        .collect();
    format!(
        "<section><h2>Steps</h2><table class=\"steps\"><thead><tr><th>#</th><th>State</th><th>Type</th><th>Outcome</th><th>Entered (ms)</th><th>Duration (ms)</th><th>Input</th><th>Output</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
}

fn step_row(number: usize, visit: &Visit<'_>, origin: DateTime<Utc>) -> String {
    let data = |event: &HistoryEvent, key: &str| {
        event
            .details
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .map_or_else(String::new, json_details)
    };
    let (duration, output) = match visit.exited {
        Some(exited) => (
            (exited.timestamp - visit.entered.timestamp)
                .num_milliseconds()
                .to_string(),
            data(exited, "output"),
        ),
        None => (String::new(), r#"<span class="muted">—</span>"#.to_owned()),
    };
    format!(
        r#"<tr class="step {class}" data-state="{name}"><td class="num">{number}</td><td>{name}</td><td>{kind}</td><td><span class="badge {class}">{label}</span></td><td class="num">{entered}</td><td class="num">{duration}</td><td>{input}</td><td>{output}</td></tr>"#,
        class = visit.outcome.class(),
        name = escape(visit.name),
        kind = escape(visit.kind),
        label = visit.outcome.label(),
        entered = (visit.entered.timestamp - origin).num_milliseconds(),
        input = data(visit.entered, "input"),
    )
}

/// The history, one row per event, as `GetExecutionHistory` lists it.
fn events(events: &[HistoryEvent], reading: &Reading<'_>, origin: DateTime<Utc>) -> String {
    let rows: String = events
        .iter()
        .map(|event| event_row(event, reading.state_of(event), origin))
        .collect();
    format!(
        "<section><h2>Events</h2><table class=\"events\"><thead><tr><th>ID</th><th>Type</th><th>State</th><th>Elapsed (ms)</th><th>Timestamp</th><th>Error</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
}

fn event_row(event: &HistoryEvent, state: Option<&str>, origin: DateTime<Utc>) -> String {
    let detail = |key: &str| {
        event
            .details
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
    };
    let error = detail("error").map(escape).unwrap_or_default();
    let cause = detail("cause").map(json_details).unwrap_or_default();
    format!(
        r#"<tr class="event"><td class="num">{id}</td><td>{kind}</td><td>{state}</td><td class="num">{elapsed}</td><td>{timestamp}</td><td>{error}{cause}</td></tr>"#,
        id = event.id,
        kind = escape(&event.event_type),
        state = escape(state.unwrap_or_default()),
        elapsed = (event.timestamp - origin).num_milliseconds(),
        timestamp = time(event.timestamp),
    )
}

/// JSON text (or any text) that shows its start and opens to the whole,
/// indented when it is JSON.
fn json_details(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let compact = parsed
        .as_ref()
        .map_or_else(|| text.to_owned(), Value::to_string);
    let whole = parsed
        .as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_else(|| text.to_owned());
    let mut preview: String = compact.chars().take(PREVIEW_CHARS).collect();
    if compact.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    format!(
        "<details><summary>{}</summary><pre>{}</pre></details>",
        escape(&preview),
        escape(&whole)
    )
}

/// A time as the console shows it, to the millisecond.
fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// A date the executor wrote (RFC 3339).
fn rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOSTILE: &str = "<script>alert('x')</script>";

    fn machine() -> StateMachine {
        let definition = json!({"StartAt": "Echo <b>", "States": {
            "Echo <b>": {"Type": "Pass", "End": true}
        }});
        StateMachine::new("m", &definition.to_string(), &HashMap::new()).expect("valid")
    }

    fn event(id: u64, event_type: &str, details: Option<Value>) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp: Utc::now(),
            event_type: event_type.to_owned(),
            details,
        }
    }

    /// A page for an execution whose input, state name and error carry
    /// markup, as an attacker could send them.
    fn hostile_page() -> String {
        let machine = machine();
        let input = json!({"note": HOSTILE}).to_string();
        let view = ExecutionView {
            arn: "arn:aws:states:us-east-1:123456789012:execution:m:run",
            name: "run",
            machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            machine: &machine,
            status: "FAILED".to_owned(),
            start: Utc::now(),
            stop: Some(Utc::now()),
            input: &input,
            output: None,
            error: Some(HOSTILE.to_owned()),
            cause: Some(HOSTILE.to_owned()),
            events: vec![
                event(1, "ExecutionStarted", Some(json!({"input": input}))),
                event(
                    2,
                    "PassStateEntered",
                    Some(json!({"name": "Echo <b>", "input": input})),
                ),
                event(
                    3,
                    "PassStateExited",
                    Some(json!({"name": "Echo <b>", "output": input})),
                ),
                event(
                    4,
                    "ExecutionFailed",
                    Some(json!({"error": HOSTILE, "cause": HOSTILE})),
                ),
            ],
        };
        execution_page(&view)
    }

    #[test]
    fn attacker_markup_is_shown_as_text() {
        let page = hostile_page();
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains(r#"data-state="Echo &lt;b&gt;""#));
    }

    #[test]
    fn the_page_has_a_row_per_event_and_per_visit() {
        let page = hostile_page();
        assert_eq!(page.matches(r#"<tr class="event">"#).count(), 4);
        assert_eq!(page.matches(r#"<tr class="step succeeded""#).count(), 1);
    }
}
