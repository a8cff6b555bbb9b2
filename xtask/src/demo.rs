//! `cargo xtask demo`: the whole pipeline on one machine. It builds the
//! functions, starts moto for both regions, provisions the stack, plays the
//! demo scenario, shows each execution as the console's event view would,
//! checks the outcome against moto itself, and tears everything down.
//!
//! Everything it starts is stopped when it ends, fails, or is interrupted
//! (Ctrl-C, SIGTERM): moto processes by PID when the stack is dropped,
//! function processes when the executor is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use local_stack::demo::{self, Outcome, Row, Scenario, timeline};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{LocalStack, RegionStack};
use serde_json::Value;
use sfn_local::{ExecutionResult, LogSink};
use tokio::task::JoinSet;

use crate::{build, setup};

const USAGE: &str = "usage: cargo xtask demo [--logs]

  --logs   show the functions' own log lines as they run";

/// How long to wait for EventBridge to deliver every event.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(60);

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Args {
    Help,
    Demo { show_logs: bool },
}

fn parse(args: Vec<String>) -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut show_logs = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("logs") => show_logs = true,
            Long("help") | Short('h') => return Ok(Args::Help),
            other => return Err(other.unexpected()),
        }
    }
    Ok(Args::Demo { show_logs })
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let show_logs = match parse(args).map_err(|error| crate::usage_error(error, USAGE))? {
        Args::Help => {
            println!("{USAGE}");
            return Ok(());
        }
        Args::Demo { show_logs } => show_logs,
    };
    let started = Instant::now();
    build::function_binaries("demo")?;
    setup::ensure_moto()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?;
        tokio::select! {
            outcome = play(show_logs) => outcome,
            _ = tokio::signal::ctrl_c() => bail!("interrupted; the local stack was stopped"),
            _ = terminate.recv() => bail!("terminated; the local stack was stopped"),
        }
    })?;
    println!("\ndemo wall time: {:.1} s", started.elapsed().as_secs_f64());
    if !outcome.passed() {
        bail!("the demo's checks failed (see above)");
    }
    Ok(())
}

async fn play(show_logs: bool) -> anyhow::Result<Outcome> {
    eprintln!("demo: starting moto for both regions and provisioning infra/stack.json");
    let stack = LocalStack::start().await?;
    println!(
        "local AWS: {} at {} (moto pid {}), {} at {} (moto pid {})",
        stack.primary.region(),
        stack.primary.moto.endpoint_url(),
        stack.primary.moto.pid(),
        stack.secondary.region(),
        stack.secondary.moto.endpoint_url(),
        stack.secondary.moto.pid(),
    );
    let options = PipelineOptions {
        function_logs: if show_logs {
            LogSink::Stderr
        } else {
            LogSink::Discard
        },
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&stack.spec, &stack.primary, &options).await?;

    let scenario = demo::play(&stack.primary).await?;
    print_scenario(stack.primary.region(), &scenario);
    println!(
        "\nExecutions of {} (state, time in state):",
        stack.spec.state_machine
    );
    let labels: BTreeMap<String, &str> = scenario
        .groups
        .iter()
        .map(|group| (group.group_id.clone(), group.label))
        .collect();
    let results = run_and_show(&pipeline, &stack.primary, &scenario, &labels).await?;
    let history_dir = save_histories(&results)?;

    let outcome = demo::verify(&stack.primary, &stack.spec, &scenario, &results).await?;
    print_summary(&outcome.rows);
    print_checks(&outcome);
    print_starts(&pipeline);
    print_where_next(&history_dir);
    pipeline.shutdown().await;
    eprintln!(
        "demo: stopping moto (pids {} and {})",
        stack.primary.moto.pid(),
        stack.secondary.moto.pid()
    );
    Ok(outcome)
}

fn print_scenario(region: &str, scenario: &Scenario) {
    println!("\nThe scenario, in {region} (alice works through the Developer role):");
    for group in &scenario.groups {
        println!(
            "  {:<10} {}  alice allows {}",
            group.label,
            group.group_id,
            group.opening.describe()
        );
    }
    println!(
        "  EventBridge delivers the `{}` change twice, as it may.",
        scenario.duplicated
    );
}

fn print_checks(outcome: &Outcome) {
    println!("\nChecks (against moto, the records table and the notification inbox):");
    for check in &outcome.checks {
        let mark = if check.passed { "ok  " } else { "FAIL" };
        println!("  {mark} {} ({})", check.claim, check.detail);
    }
    let latencies: Vec<String> = outcome
        .latencies_ms
        .iter()
        .map(|(label, ms)| format!("{label} {ms} ms"))
        .collect();
    println!("\nchange -> end of execution: {}", latencies.join(", "));
}

/// Prints the functions' cold starts and the count of warm invocations.
fn print_starts(pipeline: &Pipeline) {
    // Concurrent executions each get an environment, as Lambda scales out,
    // so a function can have several cold starts.
    let mut cold: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut warm = 0;
    for report in pipeline.executor.lambda_reports() {
        match report.init_duration_ms {
            Some(init) => cold.entry(report.function_name).or_default().push(init),
            None => warm += 1,
        }
    }
    let cold: Vec<String> = cold
        .iter()
        .map(|(function, inits)| {
            let low = inits.iter().copied().fold(f64::MAX, f64::min);
            let high = inits.iter().copied().fold(0.0, f64::max);
            format!("{function} {}x {low:.0}-{high:.0} ms", inits.len())
        })
        .collect();
    println!(
        "cold starts (init duration): {}; warm invocations: {warm}",
        cold.join(", ")
    );
}

fn print_where_next(history_dir: &Path) {
    println!("\nWhere to look next:");
    println!(
        "  - each execution's history, in GetExecutionHistory's shape: {}",
        history_dir.display()
    );
    println!("  - the state machine they ran: statemachines/remediation.asl.json");
    println!(
        "  - run any state machine on the local executor: cargo xtask sfn run <definition.json> --input @<input.json> --function NAME=PATH"
    );
    println!(
        "  - judge a group offline: cargo xtask policy eval --policy policies/default.json --group <file>"
    );
    println!("  - how the pieces fit: ARCHITECTURE.md");
}

/// Starts an execution for each delivered event and prints each one's
/// states as soon as it ends.
async fn run_and_show(
    pipeline: &Pipeline,
    stack: &RegionStack,
    scenario: &Scenario,
    labels: &BTreeMap<String, &str>,
) -> anyhow::Result<Vec<ExecutionResult>> {
    let expected = scenario.expected_executions();
    let deadline = Instant::now() + DELIVERY_PATIENCE;
    let mut waiting = JoinSet::new();
    let mut started = 0;
    let mut results = Vec::new();
    while started < expected && Instant::now() < deadline {
        for event in stack.take_events(1).await? {
            waiting.spawn(pipeline.start(event).await?.wait());
            started += 1;
        }
        while let Some(done) = waiting.try_join_next() {
            results.push(show(done?, labels));
        }
    }
    while let Some(done) = waiting.join_next().await {
        results.push(show(done?, labels));
    }
    if started < expected {
        eprintln!(
            "demo: only {started} of {expected} events were delivered within {DELIVERY_PATIENCE:?}"
        );
    }
    Ok(results)
}

/// Prints one execution as a header naming the scenario's group, then
/// each state with its time.
fn show(result: ExecutionResult, labels: &BTreeMap<String, &str>) -> ExecutionResult {
    let input: Value = serde_json::from_str(&result.description.input).unwrap_or(Value::Null);
    let group_id = input
        .pointer("/detail/requestParameters/groupId")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let group = match labels.get(group_id) {
        Some(label) => format!("{label} {group_id}"),
        None => group_id.to_owned(),
    };
    let total = timeline(&result)
        .iter()
        .map(|state| state.milliseconds)
        .sum::<i64>();
    println!(
        "\n  {} {:?}  ({} on {group}, {total} ms)",
        &result.description.name[..8.min(result.description.name.len())],
        result.description.status,
        input
            .pointer("/detail/eventName")
            .and_then(Value::as_str)
            .unwrap_or("?"),
    );
    for state in timeline(&result) {
        println!("    {:<30} {:>6} ms", state.name, state.milliseconds);
    }
    if let Some(error) = &result.description.error {
        println!(
            "    error: {error}: {}",
            result.description.cause.as_deref().unwrap_or("")
        );
    }
    result
}

fn save_histories(results: &[ExecutionResult]) -> anyhow::Result<PathBuf> {
    let dir = local_aws::workspace_root().join("target").join("moat-demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for result in results {
        let document = serde_json::json!({
            "execution": result.description,
            "events": result.events,
        });
        write(
            &dir.join(format!("{}.json", result.description.name)),
            &document,
        )?;
    }
    Ok(dir)
}

fn write(path: &Path, document: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(document)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn print_summary(rows: &[Row]) {
    println!("\nSummary:");
    for line in summary_lines(rows) {
        println!("{line}");
    }
}

/// The summary table, within 100 columns for the scenario's groups (so it
/// reads in a terminal or a CI log), then the full id of each backup (what a person needs to undo a
/// fix), which would not fit in the table.
fn summary_lines(rows: &[Row]) -> Vec<String> {
    let header = ["group", "violation", "action", "rules", "backup", "sent"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.group.clone(),
                row.violation.clone(),
                row.action.clone(),
                format!("{} -> {}", row.rules_before, row.rules_after),
                short_backup_id(&row.backup_id),
                row.notifications.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        format!("  {}", text.trim_end())
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        cells
            .iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    let backups: Vec<&Row> = rows.iter().filter(|row| row.backup_id != "-").collect();
    if !backups.is_empty() {
        lines.push("  backups, to undo a fix:".to_owned());
        lines.extend(
            backups
                .iter()
                .map(|row| format!("    {:<10} {}", row.group, row.backup_id)),
        );
    }
    lines
}

/// A backup id (`<group id>/<event id>`) as the table shows it: the first
/// eight characters of its event id, as the execution headers show names.
fn short_backup_id(backup_id: &str) -> String {
    match backup_id.split_once('/') {
        Some((_, event_id)) => event_id.chars().take(8).collect(),
        None => backup_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    /// The width the summary keeps to.
    const SUMMARY_WIDTH: usize = 100;

    /// The widest rows the demo's scenario makes.
    fn scenario_rows() -> Vec<Row> {
        let row = |group: &str, violation: &str, action: &str, backup: &str, sent| Row {
            group: group.into(),
            group_id: "sg-97c99b7419922a9b9".into(),
            violation: violation.into(),
            action: action.into(),
            rules_before: 2,
            rules_after: 1,
            backup_id: backup.into(),
            notifications: sent,
        };
        let backup = "sg-97c99b7419922a9b9/1defe00e-ce22-46cd-b125-5a006e041d20";
        vec![
            row(
                "web",
                "tcp/443 from 0.0.0.0/0 (allowed)",
                "none (compliant)",
                "-",
                0,
            ),
            row(
                "rdp",
                "tcp/3389 from ::/0 (EC2.14 +2 more)",
                "revoked 1",
                backup,
                1,
            ),
            row(
                "wide-open",
                "all traffic from 0.0.0.0/0 (EC2.13 +3 more)",
                "revoked 1",
                backup,
                1,
            ),
            row(
                "exempt",
                "tcp/22 from 0.0.0.0/0 (exempted)",
                "exempt, announced",
                "-",
                1,
            ),
        ]
    }

    #[test]
    fn the_summary_fits_100_columns_and_lists_the_full_backup_ids() {
        let lines = summary_lines(&scenario_rows());
        for line in &lines {
            assert!(
                line.chars().count() <= SUMMARY_WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(lines[2].contains("1defe00e"), "{}", lines[2]);
        assert!(
            lines
                .iter()
                .any(|line| line
                    .ends_with("sg-97c99b7419922a9b9/1defe00e-ce22-46cd-b125-5a006e041d20")),
            "{lines:#?}"
        );
    }

    #[test]
    fn parses_logs_and_help() {
        assert_eq!(parse(args(&[])).unwrap(), Args::Demo { show_logs: false });
        assert_eq!(
            parse(args(&["--logs"])).unwrap(),
            Args::Demo { show_logs: true }
        );
        assert_eq!(parse(args(&["--help"])).unwrap(), Args::Help);
        assert_eq!(parse(args(&["--logs", "-h"])).unwrap(), Args::Help);
    }

    #[test]
    fn usage_errors_name_the_bad_argument() {
        let unknown = parse(args(&["--log"])).unwrap_err().to_string();
        assert!(unknown.contains("--log"), "{unknown}");
        let stray = parse(args(&["now"])).unwrap_err().to_string();
        assert!(stray.contains("now"), "{stray}");
        let valued = parse(args(&["--logs=all"])).unwrap_err().to_string();
        assert!(
            valued.contains("--logs") && valued.contains("all"),
            "{valued}"
        );
    }
}
