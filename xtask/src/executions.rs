//! `cargo xtask executions list | show | redrive`: the Step Functions
//! console's views of the remediation state machine's executions, in a
//! terminal, and its Redrive button.
//!
//! Everything goes through `aws-sdk-sfn` with the standard AWS
//! configuration, so the same code reads a real account and a local
//! `cargo xtask sfn serve` (point the SDK at it with `AWS_ENDPOINT_URL_SFN`).
//! The state machine is found by the name `infra/stack.json` gives it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::primitives::{DateTime, DateTimeFormat};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use moat_stack::StackSpec;
use serde_json::{Value, json};

const USAGE: &str = "\
usage: cargo xtask executions list [--status STATUS] [--since DURATION] [COMMON]
       cargo xtask executions show <execution arn|name> [COMMON]
       cargo xtask executions redrive <execution arn|name> [--yes] [COMMON]

  --status STATUS   RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE
  --since DURATION  only executions started within it: 30m, 1h, 2d
  --yes             redrive: act on the plan (without it, only the plan is printed)
COMMON:
  --region R        the region (default: the AWS configuration's)
  --state-machine NAME|ARN
                    default: the state machine infra/stack.json names
  --json            one JSON document instead of tables

Reads the standard AWS configuration; AWS_ENDPOINT_URL_SFN points it at a
local `cargo xtask sfn serve`.";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    List {
        status: Option<ExecutionStatus>,
        since: Option<Duration>,
    },
    Show {
        execution: String,
    },
    Redrive {
        execution: String,
        yes: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    command: Command,
    region: Option<String>,
    state_machine: Option<String>,
    json: bool,
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut subcommand: Option<String> = None;
    let mut execution = None;
    let (mut status, mut since) = (None, None);
    let (mut region, mut state_machine, mut json, mut yes) = (None, None, false, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("status") => status = Some(parse_status(&parser.value()?.string()?)?),
            Long("since") => since = Some(parse_duration(&parser.value()?.string()?)?),
            Long("region") => region = Some(parser.value()?.string()?),
            Long("state-machine") => state_machine = Some(parser.value()?.string()?),
            Long("json") => json = true,
            Long("yes") => yes = true,
            Value(value) if subcommand.is_none() => subcommand = Some(value.string()?),
            Value(value) if execution.is_none() => execution = Some(value.string()?),
            other => bail!("{}", other.unexpected()),
        }
    }
    if subcommand.as_deref() != Some("list") && (status.is_some() || since.is_some()) {
        bail!("--status and --since go with list");
    }
    if yes && subcommand.as_deref() != Some("redrive") {
        bail!("--yes goes with redrive");
    }
    let command = match subcommand.as_deref() {
        Some("list") if execution.is_none() => Command::List { status, since },
        Some("show") => Command::Show {
            execution: execution.context("show needs an execution ARN or name")?,
        },
        Some("redrive") => Command::Redrive {
            execution: execution.context("redrive needs an execution ARN or name")?,
            yes,
        },
        Some("list") => bail!("list takes no execution"),
        Some(other) => bail!("unknown `executions` command `{other}`"),
        None => bail!("missing subcommand: list, show or redrive"),
    };
    Ok(Some(Options {
        command,
        region,
        state_machine,
        json,
    }))
}

fn parse_status(text: &str) -> anyhow::Result<ExecutionStatus> {
    let upper = text.to_ascii_uppercase();
    if !ExecutionStatus::values().contains(&upper.as_str()) {
        bail!(
            "--status {text}: one of {}",
            ExecutionStatus::values().join(", ")
        );
    }
    Ok(ExecutionStatus::from(upper.as_str()))
}

/// `30s`, `30m`, `1h`, `2d`.
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let bad = || anyhow!("--since {text}: a number and a unit, such as 30m, 1h or 2d");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(number * seconds))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    runtime()?.block_on(async {
        let client = Client::new(&aws_config(options.region.as_deref()).await);
        let machine = match &options.state_machine {
            Some(machine) => machine.clone(),
            None => StackSpec::load()?.state_machine,
        };
        let machine_arn = state_machine_arn(&client, &machine).await?;
        match &options.command {
            Command::List { status, since } => {
                let rows = list(&client, &machine_arn, status.as_ref(), *since).await?;
                print_list(&rows, options.json)
            }
            Command::Show { execution } => {
                let arn = execution_arn(&machine_arn, execution);
                let view = show(&client, &arn).await?;
                print_view(&view, options.json)
            }
            Command::Redrive { execution, yes } => {
                let arn = execution_arn(&machine_arn, execution);
                let done = redrive(&client, &arn, *yes).await?;
                print_redrive(&done, options.json)
            }
        }
    })
}

/// The runtime the operator commands run their AWS calls on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The standard AWS configuration, in `region` when one is given.
pub(crate) async fn aws_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// The ARN of the state machine with this name (or this ARN), which must
/// exist.
pub(crate) async fn state_machine_arn(client: &Client, machine: &str) -> anyhow::Result<String> {
    if machine.starts_with("arn:") {
        return Ok(machine.to_owned());
    }
    let mut pages = client.list_state_machines().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| sdk_error("ListStateMachines", error))?;
        if let Some(found) = page
            .state_machines()
            .iter()
            .find(|listed| listed.name() == machine)
        {
            return Ok(found.state_machine_arn().to_owned());
        }
    }
    bail!(
        "no state machine named {machine} here: is Moat deployed in this region? (or pass --state-machine)"
    )
}

/// An execution's ARN from its name, or the ARN given.
pub(crate) fn execution_arn(machine_arn: &str, execution: &str) -> String {
    if execution.starts_with("arn:") {
        execution.to_owned()
    } else {
        format!(
            "{}:{execution}",
            machine_arn.replacen(":stateMachine:", ":execution:", 1)
        )
    }
}

pub(crate) fn sdk_error(
    operation: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> anyhow::Error {
    anyhow!("{operation}: {}", moat_domain::error::display_chain(&error))
}

/// What `redrive` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Redrive {
    arn: String,
    /// The status before acting.
    status: String,
    /// The top-level state it stopped in, which a redrive runs again.
    from: Option<String>,
    redrive_count: i32,
    action: RedriveAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RedriveAction {
    /// It succeeded or runs already (a redrive in progress included).
    NothingToDo,
    /// The plan, printed without `--yes`.
    Planned,
    /// Redriven now.
    Redriven,
}

/// Redrives an execution that failed, timed out or was aborted: plans it,
/// and acts only with `yes`. Running it again once the execution runs (or
/// has succeeded) does nothing, so it is safe to repeat.
async fn redrive(client: &Client, arn: &str, yes: bool) -> anyhow::Result<Redrive> {
    let description = client
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeExecution", error))?;
    let status = description.status().clone();
    let mut found = Redrive {
        arn: arn.to_owned(),
        status: status.as_str().to_owned(),
        from: None,
        redrive_count: description.redrive_count().unwrap_or_default(),
        action: RedriveAction::NothingToDo,
    };
    if matches!(
        status,
        ExecutionStatus::Running | ExecutionStatus::Succeeded
    ) {
        return Ok(found);
    }
    found.from = show(client, arn)
        .await?
        .states
        .into_iter()
        .find(|(_, outcome)| *outcome == Outcome::Failed)
        .map(|(state, _)| state);
    if !yes {
        found.action = RedriveAction::Planned;
        return Ok(found);
    }
    client
        .redrive_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|error| sdk_error("RedriveExecution", error))?;
    found.action = RedriveAction::Redriven;
    Ok(found)
}

fn print_redrive(done: &Redrive, json: bool) -> anyhow::Result<()> {
    let action = match done.action {
        RedriveAction::NothingToDo => "nothing to do",
        RedriveAction::Planned => "planned",
        RedriveAction::Redriven => "redriven",
    };
    if json {
        let document = json!({"executionArn": done.arn, "status": done.status,
            "from": done.from, "redriveCount": done.redrive_count, "action": action});
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    match done.action {
        RedriveAction::NothingToDo => println!(
            "{}: {}; nothing to redrive (redrives so far: {})",
            done.arn, done.status, done.redrive_count
        ),
        RedriveAction::Planned | RedriveAction::Redriven => {
            println!("plan, for {} ({}):", done.arn, done.status);
            println!(
                "  1. run it again from state {} with that state's input; steps that succeeded are not run again",
                done.from.as_deref().unwrap_or("(the one it stopped in)")
            );
            println!(
                "  2. its redrive count goes from {} to {}",
                done.redrive_count,
                done.redrive_count + 1
            );
            if done.action == RedriveAction::Planned {
                println!("dry run; add --yes to redrive");
            } else {
                println!(
                    "redriven: follow it with `cargo xtask executions show {}`",
                    done.arn
                );
            }
        }
    }
    Ok(())
}

/// One execution in the list.
#[derive(Debug, Clone, PartialEq)]
struct Listed {
    name: String,
    arn: String,
    status: String,
    started: String,
    duration_ms: Option<i64>,
}

async fn list(
    client: &Client,
    machine_arn: &str,
    status: Option<&ExecutionStatus>,
    since: Option<Duration>,
) -> anyhow::Result<Vec<Listed>> {
    let oldest = since.map(|since| chrono::Utc::now() - since);
    let mut request = client.list_executions().state_machine_arn(machine_arn);
    if let Some(status) = status {
        request = request.status_filter(status.clone());
    }
    let mut rows = Vec::new();
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| sdk_error("ListExecutions", error))?;
        for execution in page.executions() {
            let started = millis(execution.start_date());
            if oldest.is_some_and(|oldest| started < oldest.timestamp_millis()) {
                continue;
            }
            rows.push(Listed {
                name: execution.name().to_owned(),
                arn: execution.execution_arn().to_owned(),
                status: execution.status().as_str().to_owned(),
                started: rfc3339(execution.start_date()),
                duration_ms: execution.stop_date().map(|stop| millis(stop) - started),
            });
        }
    }
    Ok(rows)
}

fn millis(date: &DateTime) -> i64 {
    date.to_millis().unwrap_or_default()
}

fn rfc3339(date: &DateTime) -> String {
    date.fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

fn print_list(rows: &[Listed], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<Value> = rows
            .iter()
            .map(|row| {
                json!({"name": row.name, "executionArn": row.arn, "status": row.status,
                       "startDate": row.started, "durationMs": row.duration_ms})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no executions");
        return Ok(());
    }
    println!(
        "{:<36}  {:<15}  {:<24}  {:>9}",
        "name", "status", "started", "ms"
    );
    for row in rows {
        let duration = row
            .duration_ms
            .map_or_else(|| "-".to_owned(), |ms| ms.to_string());
        println!(
            "{:<36}  {:<15}  {:<24}  {duration:>9}",
            row.name, row.status, row.started
        );
    }
    Ok(())
}

/// One execution as the console shows it.
#[derive(Debug, Clone, PartialEq)]
struct View {
    name: String,
    arn: String,
    status: String,
    started: String,
    stopped: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    /// Every state of the definition, in its order, with what happened.
    states: Vec<(String, Outcome)>,
    events: Vec<EventRow>,
}

/// What became of one state of the definition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    NotRun,
    Running,
    Succeeded {
        retries: usize,
    },
    /// Failed, and a Catch (or the next state) took over.
    Caught,
    Failed,
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::NotRun => "not run".to_owned(),
            Outcome::Running => "running".to_owned(),
            Outcome::Succeeded { retries: 0 } => "succeeded".to_owned(),
            Outcome::Succeeded { retries } => format!(
                "succeeded after {retries} retr{}",
                if *retries == 1 { "y" } else { "ies" }
            ),
            Outcome::Caught => "failed, caught".to_owned(),
            Outcome::Failed => "failed".to_owned(),
        }
    }
}

/// One line of the event table.
#[derive(Debug, Clone, PartialEq)]
struct EventRow {
    id: i64,
    event_type: String,
    /// The state the event belongs to, when it belongs to one.
    state: Option<String>,
    /// Since the execution started.
    elapsed_ms: i64,
    time: String,
}

async fn show(client: &Client, arn: &str) -> anyhow::Result<View> {
    let description = client
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeExecution", error))?;
    let definition = client
        .describe_state_machine_for_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeStateMachineForExecution", error))?
        .definition()
        .to_owned();
    let mut events = Vec::new();
    let mut pages = client
        .get_execution_history()
        .execution_arn(arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| sdk_error("GetExecutionHistory", error))?;
        events.extend(page.events().iter().cloned());
    }
    let start = millis(description.start_date());
    let rows = event_rows(&events, start);
    let running = description.status() == &ExecutionStatus::Running;
    Ok(View {
        name: description.name().unwrap_or_default().to_owned(),
        arn: arn.to_owned(),
        status: description.status().as_str().to_owned(),
        started: rfc3339(description.start_date()),
        stopped: description.stop_date().map(rfc3339),
        error: description.error().map(str::to_owned),
        cause: description.cause().map(str::to_owned),
        states: outcomes(&state_names(&definition)?, &rows, running),
        events: rows,
    })
}

/// The names of a definition's top-level states in the order the graph
/// reaches them from `StartAt` (breadth first through `Next`, `Default`,
/// each Choice and each Catch), as the console's graph reads top to bottom;
/// states nothing reaches come last.
fn state_names(definition: &str) -> anyhow::Result<Vec<String>> {
    let definition: Value =
        serde_json::from_str(definition).context("the state machine's definition is not JSON")?;
    let states = definition["States"]
        .as_object()
        .context("the state machine's definition has no States")?;
    let mut order: Vec<String> = Vec::new();
    let mut queue: std::collections::VecDeque<String> = definition["StartAt"]
        .as_str()
        .map(str::to_owned)
        .into_iter()
        .collect();
    while let Some(name) = queue.pop_front() {
        if order.contains(&name) || !states.contains_key(&name) {
            continue;
        }
        queue.extend(transitions(&states[&name]));
        order.push(name);
    }
    order.extend(
        states
            .keys()
            .filter(|name| !order.contains(name))
            .cloned()
            .collect::<Vec<_>>(),
    );
    Ok(order)
}

/// The states one state can go to next.
fn transitions(state: &Value) -> Vec<String> {
    let mut next: Vec<String> = ["Next", "Default"]
        .iter()
        .filter_map(|field| state[field].as_str().map(str::to_owned))
        .collect();
    for list in ["Choices", "Catch"] {
        for item in state[list].as_array().into_iter().flatten() {
            next.extend(item["Next"].as_str().map(str::to_owned));
        }
    }
    next
}

/// The table of events, each with the state it belongs to: a
/// `*StateEntered` names it, and every later event of the same thread
/// (linked by `previousEventId`) belongs to it until its `*StateExited`.
fn event_rows(events: &[HistoryEvent], start_ms: i64) -> Vec<EventRow> {
    let mut state_of: HashMap<i64, Option<String>> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let event_type = event.r#type().as_str().to_owned();
        let entered = event
            .state_entered_event_details()
            .map(|details| details.name().to_owned());
        let exited = event
            .state_exited_event_details()
            .map(|details| details.name().to_owned());
        let inherited = state_of.get(&event.previous_event_id()).cloned().flatten();
        let state = entered.clone().or(exited.clone()).or(inherited);
        // After an exit the thread is between states until the next entry.
        let carried = if exited.is_some() {
            None
        } else {
            state.clone()
        };
        state_of.insert(event.id(), carried);
        rows.push(EventRow {
            id: event.id(),
            event_type,
            state,
            elapsed_ms: millis(event.timestamp()) - start_ms,
            time: rfc3339(event.timestamp()),
        });
    }
    rows
}

/// What became of each state, from its events.
fn outcomes(states: &[String], rows: &[EventRow], running: bool) -> Vec<(String, Outcome)> {
    let mut by_state: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in rows {
        if let Some(state) = &row.state {
            by_state.entry(state).or_default().push(&row.event_type);
        }
    }
    states
        .iter()
        .map(|state| {
            let outcome = match by_state.get(state.as_str()) {
                None => Outcome::NotRun,
                Some(types) => outcome_of(types, running),
            };
            (state.clone(), outcome)
        })
        .collect()
}

fn outcome_of(types: &[&str], running: bool) -> Outcome {
    let failures = types
        .iter()
        .filter(|kind| kind.ends_with("Failed") || kind.ends_with("TimedOut"))
        .count();
    let exited = types.iter().any(|kind| kind.ends_with("StateExited"));
    let last_work = types
        .iter()
        .rev()
        .find(|kind| !kind.ends_with("StateExited") && !kind.ends_with("StateEntered"));
    let ended_well = last_work.is_none_or(|kind| kind.ends_with("Succeeded"));
    match (exited, ended_well) {
        (true, true) => Outcome::Succeeded { retries: failures },
        (true, false) => Outcome::Caught,
        (false, _) if running => Outcome::Running,
        (false, _) => Outcome::Failed,
    }
}

fn print_view(view: &View, json: bool) -> anyhow::Result<()> {
    if json {
        let document = json!({
            "name": view.name,
            "executionArn": view.arn,
            "status": view.status,
            "startDate": view.started,
            "stopDate": view.stopped,
            "error": view.error,
            "cause": view.cause,
            "states": view.states.iter().map(|(state, outcome)| json!({"name": state, "outcome": outcome.describe()})).collect::<Vec<_>>(),
            "events": view.events.iter().map(|row| json!({"id": row.id, "type": row.event_type, "state": row.state, "elapsedMs": row.elapsed_ms, "timestamp": row.time})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    println!("{}  {}", view.name, view.status);
    println!("  started {}", view.started);
    if let Some(stopped) = &view.stopped {
        println!("  stopped {stopped}");
    }
    if let Some(error) = &view.error {
        println!(
            "  error   {error}: {}",
            view.cause.as_deref().unwrap_or("(no cause)")
        );
    }
    println!("\nstates:");
    for (state, outcome) in &view.states {
        println!("  {state:<32} {}", outcome.describe());
    }
    println!("\nevents:");
    println!(
        "  {:>4}  {:<32}  {:<28}  {:>8}  time",
        "id", "type", "state", "ms"
    );
    for row in &view.events {
        println!(
            "  {:>4}  {:<32}  {:<28}  {:>8}  {}",
            row.id,
            row.event_type,
            row.state.as_deref().unwrap_or("-"),
            row.elapsed_ms,
            row.time
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
    use sfn_local::{ExecutorConfig, Server};

    use super::*;

    fn args(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn parses_list_and_show() {
        let list = parse(args(&[
            "list", "--status", "failed", "--since", "2h", "--json",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            list.command,
            Command::List {
                status: Some(ExecutionStatus::Failed),
                since: Some(Duration::from_secs(7200)),
            }
        );
        assert!(list.json);
        let show = parse(args(&["show", "abc", "--region", "us-west-2"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            show.command,
            Command::Show {
                execution: "abc".into()
            }
        );
        assert_eq!(show.region.as_deref(), Some("us-west-2"));
        assert_eq!(parse(args(&["--help"])).unwrap(), None);
    }

    #[test]
    fn bad_command_lines_are_named() {
        let error = |words: &[&str]| format!("{:#}", parse(args(words)).unwrap_err());
        assert!(error(&["list", "--status", "odd"]).contains("--status odd"));
        assert!(error(&["list", "--since", "an hour"]).contains("--since an hour"));
        assert!(error(&["show"]).contains("needs an execution"));
        assert!(error(&["show", "x", "--since", "1h"]).contains("go with list"));
        assert!(error(&["stop"]).contains("`stop`"));
        assert!(error(&[]).contains("missing subcommand"));
    }

    #[test]
    fn redrive_takes_yes_and_nothing_else_does() {
        let redrive = parse(args(&["redrive", "run-1", "--yes"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            redrive.command,
            Command::Redrive {
                execution: "run-1".into(),
                yes: true
            }
        );
        let error = format!("{:#}", parse(args(&["show", "x", "--yes"])).unwrap_err());
        assert!(error.contains("--yes goes with redrive"), "{error}");
    }

    #[test]
    fn names_become_execution_arns() {
        let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:moat-remediation";
        assert_eq!(
            execution_arn(machine, "run-1"),
            "arn:aws:states:us-east-1:123456789012:execution:moat-remediation:run-1"
        );
        assert_eq!(execution_arn(machine, "arn:x"), "arn:x");
    }

    /// A client of sfn-local's Step Functions endpoint, served on a free
    /// loopback port until the test's runtime ends.
    async fn local_client() -> Client {
        let server = Server::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ExecutorConfig {
                virtual_time: true,
                ..ExecutorConfig::default()
            },
        )
        .await
        .unwrap();
        let address = server.local_addr().unwrap();
        tokio::spawn(server.serve(std::future::pending()));
        Client::from_conf(
            aws_sdk_sfn::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(format!("http://{address}"))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .build(),
        )
    }

    async fn create_machine(client: &Client, definition: &Value) -> String {
        client
            .create_state_machine()
            .name("moat-remediation")
            .definition(definition.to_string())
            .role_arn("arn:aws:iam::123456789012:role/sfn-local")
            .send()
            .await
            .unwrap()
            .state_machine_arn()
            .to_owned()
    }

    async fn start_and_wait(client: &Client, machine_arn: &str, name: &str) -> View {
        client
            .start_execution()
            .state_machine_arn(machine_arn)
            .name(name)
            .input("{}")
            .send()
            .await
            .unwrap();
        until_ended(client, &execution_arn(machine_arn, name)).await
    }

    async fn until_ended(client: &Client, arn: &str) -> View {
        for _ in 0..200 {
            let view = show(client, arn).await.unwrap();
            if view.status != "RUNNING" {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{arn} still runs after 200 polls");
    }

    /// A caught failure, a retried success and a state never run, read
    /// back through aws-sdk-sfn from sfn-local's Step Functions endpoint.
    #[tokio::test]
    async fn show_tells_each_state_what_became_of_it() {
        let client = local_client().await;
        let definition = json!({
            "StartAt": "Start",
            "States": {
                "Start": {"Type": "Pass", "Next": "Try"},
                "Try": {"Type": "Parallel", "Branches": [{
                    "StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}
                }], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}], "Next": "Never"},
                "Never": {"Type": "Succeed"},
                "Handled": {"Type": "Succeed"}
            }
        });
        let machine_arn = create_machine(&client, &definition).await;
        assert_eq!(
            state_machine_arn(&client, "moat-remediation")
                .await
                .unwrap(),
            machine_arn
        );
        let view = start_and_wait(&client, &machine_arn, "run-1").await;
        assert_eq!(view.status, "SUCCEEDED");
        let outcome = |name: &str| {
            view.states
                .iter()
                .find(|(state, _)| state == name)
                .map(|(_, outcome)| outcome.clone())
                .unwrap()
        };
        let order: Vec<&str> = view.states.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(order, ["Start", "Try", "Never", "Handled"]);
        assert_eq!(outcome("Start"), Outcome::Succeeded { retries: 0 });
        assert_eq!(outcome("Try"), Outcome::Caught);
        assert_eq!(outcome("Never"), Outcome::NotRun);
        assert_eq!(outcome("Handled"), Outcome::Succeeded { retries: 0 });
        assert!(view.events.iter().all(|row| row.elapsed_ms >= 0));
        let listed = list(
            &client,
            &machine_arn,
            Some(&ExecutionStatus::Succeeded),
            None,
        )
        .await
        .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "run-1");
        let failed = list(&client, &machine_arn, Some(&ExecutionStatus::Failed), None)
            .await
            .unwrap();
        assert!(failed.is_empty());
    }

    /// A plan without `--yes`, the redrive with it, and nothing more to do
    /// once it has succeeded.
    #[tokio::test]
    async fn redrive_plans_acts_with_yes_and_then_has_nothing_to_do() {
        let client = local_client().await;
        let definition = json!({
            "StartAt": "Start",
            "States": {
                "Start": {"Type": "Pass", "Next": "Guarded"},
                "Guarded": {"Type": "Parallel", "End": true, "Branches": [{
                    "StartAt": "Redriven?",
                    "States": {
                        "Redriven?": {"Type": "Choice", "Choices": [{
                            "Variable": "$$.Execution.RedriveCount",
                            "NumericGreaterThan": 0,
                            "Next": "Done"
                        }], "Default": "Boom"},
                        "Boom": {"Type": "Fail", "Error": "Boom"},
                        "Done": {"Type": "Succeed"}
                    }
                }]}
            }
        });
        let machine_arn = create_machine(&client, &definition).await;
        let failed = start_and_wait(&client, &machine_arn, "once").await;
        assert_eq!(failed.status, "FAILED");
        let arn = execution_arn(&machine_arn, "once");

        let plan = redrive(&client, &arn, false).await.unwrap();
        assert_eq!(plan.action, RedriveAction::Planned);
        assert_eq!(plan.from.as_deref(), Some("Guarded"));
        assert_eq!(
            until_ended(&client, &arn).await.status,
            "FAILED",
            "a plan changes nothing"
        );

        let done = redrive(&client, &arn, true).await.unwrap();
        assert_eq!(done.action, RedriveAction::Redriven);
        assert_eq!(until_ended(&client, &arn).await.status, "SUCCEEDED");
        let again = redrive(&client, &arn, true).await.unwrap();
        assert_eq!(again.action, RedriveAction::NothingToDo);
        assert_eq!(again.redrive_count, 1);
    }
}
