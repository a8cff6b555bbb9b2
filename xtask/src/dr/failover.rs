//! `cargo xtask failover --to REGION` (the primary failed) and
//! `cargo xtask failback --to REGION` (the planned way back).
//!
//! Both move the active-region record's epoch to `REGION`, the one fence
//! every acting function checks (`moat_domain::fencing`), and then prove
//! the region acts: a reconciliation sweep and a canary change that must be
//! fixed. Failover fences the old region best effort, since it may not
//! answer, and replays the target bus's archive from before the outage;
//! failback pauses the active region and waits for replication first, since
//! both answer.
//!
//! Every step finds out whether it is done already, so a re-run after a
//! crash resumes where the first run stopped and a finished run does
//! nothing: the epoch is written only over a lower one, and the replay, the
//! sweep and the canary are named after the epoch they serve.

use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_sfn::types::ExecutionStatus;
use chrono::{DateTime, Utc};
use moat_aws::records::{ActiveRegions, Stored};
use moat_domain::fencing::{ActiveRegion, moved_to};
use serde_json::{Value, json};

use super::{Did, Region, Regions, Runner};
use crate::executions::sdk_error;

const FAILOVER_USAGE: &str = "\
usage: cargo xtask failover --to REGION [--outage-start TIME] [--yes] [--json]

The primary region failed: preflight REGION, fence the old region (best
effort: raise the epoch there, set its role parameter passive, disable its
rule, stop its running executions), activate REGION, replay its bus's
archive from the outage start minus 15 minutes, sweep, and fix a canary
change. Prints the plan; acts only with --yes. A re-run resumes.

  --to REGION          the region to make active
  --outage-start TIME  when the outage began, RFC 3339 (default: an hour ago)
  --json               one JSON document instead of text";

const FAILBACK_USAGE: &str = "\
usage: cargo xtask failback --to REGION [--yes] [--json]

The planned move back to REGION, both regions answering: pause the active
region (rule disabled, running executions finished), wait until the
records table and the policy bucket have replicated, move the epoch,
enable both rules, sweep, and fix a canary change. Prints the plan; acts
only with --yes. A re-run resumes.";

/// How far before the outage's start a failover replays: events in flight
/// when the region failed may have been stamped a little earlier.
const REPLAY_MARGIN: chrono::Duration = chrono::Duration::minutes(15);

/// How long a failover waits for a replay, the sweep or the canary.
const PATIENCE: Duration = Duration::from_secs(900);

/// The default outage start: an hour before the command runs.
const DEFAULT_OUTAGE: chrono::Duration = chrono::Duration::hours(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailoverRequest {
    pub(crate) to: String,
    pub(crate) outage_start: Option<DateTime<Utc>>,
    pub(crate) yes: bool,
    pub(crate) json: bool,
    /// Print nothing (the drill reports the run itself).
    pub(crate) quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailbackRequest {
    pub(crate) to: String,
    pub(crate) yes: bool,
    pub(crate) json: bool,
    /// Print nothing (the drill reports the run itself).
    pub(crate) quiet: bool,
}

pub(crate) fn parse_failover(args: Vec<String>) -> anyhow::Result<Option<FailoverRequest>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let (mut to, mut outage_start, mut yes, mut json) = (None, None, false, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("to") => to = Some(parser.value()?.string()?),
            Long("outage-start") => {
                let text = parser.value()?.string()?;
                outage_start = Some(parse_time("--outage-start", &text)?);
            }
            Long("yes") => yes = true,
            Long("json") => json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    let to = to.context("name the region to make active: --to REGION")?;
    Ok(Some(FailoverRequest {
        to,
        outage_start,
        yes,
        json,
        quiet: false,
    }))
}

pub(crate) fn parse_failback(args: Vec<String>) -> anyhow::Result<Option<FailbackRequest>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let (mut to, mut yes, mut json) = (None, false, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("to") => to = Some(parser.value()?.string()?),
            Long("yes") => yes = true,
            Long("json") => json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    let to = to.context("name the region to move back to: --to REGION")?;
    Ok(Some(FailbackRequest {
        to,
        yes,
        json,
        quiet: false,
    }))
}

/// An RFC 3339 time from a flag, or an error naming the flag.
pub(crate) fn parse_time(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            anyhow::anyhow!("{flag} {text}: an RFC 3339 time such as 2026-12-01T03:00:00Z")
        })
}

pub(crate) fn run_failover(args: Vec<String>) -> anyhow::Result<()> {
    let Some(request) = parse_failover(args)
        .map_err(|error| crate::usage_error(format!("{error:#}"), FAILOVER_USAGE))?
    else {
        println!("{FAILOVER_USAGE}");
        return Ok(());
    };
    crate::executions::runtime()?.block_on(async {
        let regions = Regions::load().await?;
        failover(&regions, &request).await.map(drop)
    })
}

pub(crate) fn run_failback(args: Vec<String>) -> anyhow::Result<()> {
    let Some(request) = parse_failback(args)
        .map_err(|error| crate::usage_error(format!("{error:#}"), FAILBACK_USAGE))?
    else {
        println!("{FAILBACK_USAGE}");
        return Ok(());
    };
    crate::executions::runtime()?.block_on(async {
        let regions = Regions::load().await?;
        failback(&regions, &request).await.map(drop)
    })
}

/// What a failover or failback did, for the drill and the tests.
#[derive(Debug, Clone)]
pub(crate) struct Moved {
    pub(crate) epoch: u64,
    /// From the command's start to the canary fixed, when it ran.
    pub(crate) rto: Option<Duration>,
    pub(crate) document: Value,
}

/// Runs the failover's steps; the report is printed as it goes (or as one
/// JSON document at the end, also on failure).
pub(crate) async fn failover(
    regions: &Regions,
    request: &FailoverRequest,
) -> anyhow::Result<Moved> {
    let started = std::time::Instant::now();
    let mut runner = Runner::new("failover", request.yes, request.json);
    runner.quiet = request.quiet;
    runner.quiet = request.quiet;
    let result = failover_steps(regions, request, &mut runner).await;
    conclude(&mut runner, result, started, &request.to)
}

pub(crate) async fn failback(
    regions: &Regions,
    request: &FailbackRequest,
) -> anyhow::Result<Moved> {
    let started = std::time::Instant::now();
    let mut runner = Runner::new("failback", request.yes, request.json);
    runner.quiet = request.quiet;
    let result = failback_steps(regions, request, &mut runner).await;
    conclude(&mut runner, result, started, &request.to)
}

/// The report at the end: what the run moved and how long until the
/// canary was fixed, or the failing step.
fn conclude(
    runner: &mut Runner,
    result: anyhow::Result<u64>,
    started: std::time::Instant,
    to: &str,
) -> anyhow::Result<Moved> {
    match result {
        Ok(epoch) => {
            let canary_done = runner.steps.iter().any(|step| {
                step.name.starts_with("canary") && step.outcome != super::Outcome::Planned
            });
            let rto = canary_done.then(|| started.elapsed());
            let extra = json!({
                "to": to,
                "epoch": epoch,
                "rtoMs": rto.map(|rto| rto.as_millis()),
            });
            let summary = match rto {
                Some(rto) => format!(
                    "{to} active at epoch {epoch}; RTO {:.1} s (start to canary fixed)",
                    rto.as_secs_f64()
                ),
                None => format!("plan for {to} at epoch {epoch}; nothing changed (add --yes)"),
            };
            runner.finish(&summary, extra.clone())?;
            Ok(Moved {
                epoch,
                rto,
                document: runner.document(extra),
            })
        }
        Err(error) => {
            if runner.json_output() && !runner.quiet {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &runner.document(json!({"to": to, "error": format!("{error:#}")}))
                    )?
                );
            }
            Err(error)
        }
    }
}

async fn failover_steps(
    regions: &Regions,
    request: &FailoverRequest,
    runner: &mut Runner,
) -> anyhow::Result<u64> {
    let target = regions.get(&request.to)?;
    let by = caller_arn(target).await?;
    let outage_start = request
        .outage_start
        .unwrap_or_else(|| Utc::now() - DEFAULT_OUTAGE);
    let moved = plan_move(runner, regions, &request.to, &by).await?;
    let epoch = moved.epoch;
    runner
        .check(
            &format!("preflight {}", target.name),
            preflight(regions, target),
        )
        .await?;
    for old in regions.others(&target.name) {
        fence(runner, regions, old, &moved).await;
    }
    activate(runner, regions, target, &moved).await?;
    let from = outage_start - REPLAY_MARGIN;
    runner
        .act(
            &format!("replay {}'s archive", target.name),
            format!(
                "replay every event since {} into {}'s bus",
                from.to_rfc3339(),
                target.name
            ),
            replay(regions, target, epoch, from),
        )
        .await?;
    sweep_and_canary(runner, regions, target, epoch, "failover").await?;
    Ok(epoch)
}

async fn failback_steps(
    regions: &Regions,
    request: &FailbackRequest,
    runner: &mut Runner,
) -> anyhow::Result<u64> {
    let target = regions.get(&request.to)?;
    let by = caller_arn(target).await?;
    let moved = plan_move(runner, regions, &request.to, &by).await?;
    let epoch = moved.epoch;
    runner
        .check(
            &format!("preflight {}", target.name),
            preflight(regions, target),
        )
        .await?;
    for old in regions.others(&target.name) {
        runner
            .act(
                &format!("pause {}", old.name),
                format!(
                    "disable {}'s rule and wait for its running executions",
                    old.name
                ),
                pause(regions, old),
            )
            .await?;
        runner
            .act(
                &format!("wait for replication from {}", old.name),
                format!(
                    "a barrier item and the policy from {} must reach {}",
                    old.name, target.name
                ),
                replicated(regions, old, target, epoch),
            )
            .await?;
    }
    activate(runner, regions, target, &moved).await?;
    for old in regions.others(&target.name) {
        runner
            .act(
                &format!("epoch in {}", old.name),
                format!(
                    "write epoch {epoch} naming {} into {}'s table",
                    target.name, old.name
                ),
                write_epoch(regions, old, &moved),
            )
            .await?;
        runner
            .act(
                &format!("{}'s parameter passive", old.name),
                format!(
                    "set {} to passive in {}",
                    regions.spec.active_region_parameter, old.name
                ),
                set_role(regions, old, "passive"),
            )
            .await?;
        runner
            .act(
                &format!("enable {}'s rule", old.name),
                format!("{} observes again, passive", old.name),
                set_rule(regions, old, true),
            )
            .await?;
    }
    sweep_and_canary(runner, regions, target, epoch, "failback").await?;
    Ok(epoch)
}

/// Raises the epoch in the target, makes its parameter `active` and
/// enables its rule.
async fn activate(
    runner: &mut Runner,
    regions: &Regions,
    target: &Region,
    moved: &ActiveRegion,
) -> anyhow::Result<()> {
    runner
        .act(
            &format!("activate {}: epoch {}", target.name, moved.epoch),
            format!(
                "write epoch {} naming {} into {}'s table",
                moved.epoch, target.name, target.name
            ),
            write_epoch(regions, target, moved),
        )
        .await?;
    runner
        .act(
            &format!("{}'s parameter active", target.name),
            format!(
                "set {} to active in {}",
                regions.spec.active_region_parameter, target.name
            ),
            set_role(regions, target, "active"),
        )
        .await?;
    runner
        .act(
            &format!("enable {}'s rule", target.name),
            format!("{} hears every change again", target.name),
            set_rule(regions, target, true),
        )
        .await
}

/// Fences `old`, each part best effort: it may not answer.
async fn fence(runner: &mut Runner, regions: &Regions, old: &Region, moved: &ActiveRegion) {
    let name = &old.name;
    runner
        .best_effort(
            &format!("fence {name}: epoch"),
            format!(
                "write epoch {} naming {} into {name}'s table",
                moved.epoch, moved.region
            ),
            write_epoch(regions, old, moved),
        )
        .await;
    runner
        .best_effort(
            &format!("fence {name}: parameter passive"),
            format!(
                "set {} to passive in {name}",
                regions.spec.active_region_parameter
            ),
            set_role(regions, old, "passive"),
        )
        .await;
    runner
        .best_effort(
            &format!("fence {name}: disable its rule"),
            format!("disable {} in {name}", regions.spec.event_rule),
            set_rule(regions, old, false),
        )
        .await;
    runner
        .best_effort(
            &format!("fence {name}: stop its running executions"),
            format!(
                "stop every running execution of {} in {name}",
                regions.spec.state_machine
            ),
            stop_running(regions, old),
        )
        .await;
}

async fn sweep_and_canary(
    runner: &mut Runner,
    regions: &Regions,
    target: &Region,
    epoch: u64,
    command: &str,
) -> anyhow::Result<()> {
    let sweep_name = format!("{command}-epoch-{epoch}");
    runner
        .act(
            &format!("sweep {}", target.name),
            format!(
                "start {sweep_name} on {} and wait for it",
                regions.spec.sweep_state_machine
            ),
            sweep(regions, target, &sweep_name),
        )
        .await?;
    runner
        .act(
            &format!("canary in {}", target.name),
            format!(
                "open a throw-away group to SSH in {} and wait until Moat closes it",
                target.name
            ),
            super::canary::canary(regions, target, &format!("{command}-epoch-{epoch}")),
        )
        .await
}

/// Reads every region's copy of the active-region record once, reports
/// them, and gives the record this move to `to` writes
/// (`fencing::moved_to`: the next epoch, or the current one on a re-run).
async fn plan_move(
    runner: &mut Runner,
    regions: &Regions,
    to: &str,
    by: &str,
) -> anyhow::Result<ActiveRegion> {
    let mut highest: Option<ActiveRegion> = None;
    runner
        .check("read the active-region records", async {
            let mut parts = Vec::new();
            for region in &regions.all {
                parts.push(match regions.read_record(region).await {
                    Ok(Some(record)) => {
                        let text = format!(
                            "{}: epoch {} names {}",
                            region.name, record.epoch, record.region
                        );
                        if highest
                            .as_ref()
                            .is_none_or(|seen| record.epoch > seen.epoch)
                        {
                            highest = Some(record);
                        }
                        text
                    }
                    Ok(None) => format!("{}: no record (unfenced)", region.name),
                    Err(error) => format!("{}: unreachable ({error:#})", region.name),
                });
            }
            Ok(parts.join("; "))
        })
        .await?;
    Ok(moved_to(highest.as_ref(), to, by, Utc::now()))
}

/// Writes `moved` into `region`'s table, only over a lower epoch.
async fn write_epoch(
    regions: &Regions,
    region: &Region,
    moved: &ActiveRegion,
) -> anyhow::Result<Did> {
    match regions.records(region).put_active_region(moved).await? {
        Stored::Created => Ok(Did::now(format!(
            "epoch {} names {}",
            moved.epoch, moved.region
        ))),
        Stored::Existing(existing)
            if existing.epoch == moved.epoch && existing.region == moved.region =>
        {
            Ok(Did::already(format!(
                "epoch {} names {} already",
                existing.epoch, existing.region
            )))
        }
        Stored::Existing(existing) => bail!(
            "{} holds epoch {} naming {} (by {} at {}): another failover got there first; run `cargo xtask status`",
            region.name,
            existing.epoch,
            existing.region,
            existing.by,
            existing.since.to_rfc3339()
        ),
    }
}

/// Sets the region's role parameter to `role`.
async fn set_role(regions: &Regions, region: &Region, role: &str) -> anyhow::Result<Did> {
    let ssm = aws_sdk_ssm::Client::new(&region.aws);
    let name = &regions.spec.active_region_parameter;
    let current = ssm
        .get_parameter()
        .name(name)
        .send()
        .await
        .ok()
        .and_then(|output| output.parameter?.value);
    if current.as_deref() == Some(role) {
        return Ok(Did::already(format!("{name} is {role}")));
    }
    ssm.put_parameter()
        .name(name)
        .value(role)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .map_err(|error| sdk_error("PutParameter", error))?;
    Ok(Did::now(format!(
        "{name}: {} -> {role}",
        current.as_deref().unwrap_or("missing")
    )))
}

/// Enables or disables the region's rule on the central bus.
pub(crate) async fn set_rule(
    regions: &Regions,
    region: &Region,
    enabled: bool,
) -> anyhow::Result<Did> {
    use aws_sdk_eventbridge::types::RuleState;
    let events = aws_sdk_eventbridge::Client::new(&region.aws);
    let (rule, bus) = (&regions.spec.event_rule, &regions.spec.event_bus);
    let state = events
        .describe_rule()
        .name(rule)
        .event_bus_name(bus)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeRule", error))?
        .state;
    let wanted = if enabled {
        RuleState::Enabled
    } else {
        RuleState::Disabled
    };
    if state.as_ref() == Some(&wanted) {
        return Ok(Did::already(format!("{rule} is {}", wanted.as_str())));
    }
    if enabled {
        events
            .enable_rule()
            .name(rule)
            .event_bus_name(bus)
            .send()
            .await
            .map(drop)
            .map_err(|error| sdk_error("EnableRule", error))?;
    } else {
        events
            .disable_rule()
            .name(rule)
            .event_bus_name(bus)
            .send()
            .await
            .map(drop)
            .map_err(|error| sdk_error("DisableRule", error))?;
    }
    Ok(Did::now(format!("{rule} {}", wanted.as_str())))
}

/// The running executions of the remediation machine in `region`.
pub(crate) async fn running(regions: &Regions, region: &Region) -> anyhow::Result<Vec<String>> {
    let client = aws_sdk_sfn::Client::new(&region.sfn);
    let machine =
        crate::executions::state_machine_arn(&client, &regions.spec.state_machine).await?;
    let mut arns = Vec::new();
    let mut pages = client
        .list_executions()
        .state_machine_arn(machine)
        .status_filter(ExecutionStatus::Running)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| sdk_error("ListExecutions", error))?;
        arns.extend(
            page.executions()
                .iter()
                .map(|execution| execution.execution_arn().to_owned()),
        );
    }
    Ok(arns)
}

/// Stops every running remediation execution in the old region: they
/// would only be fenced, and a stopped one cannot be redriven into acting.
async fn stop_running(regions: &Regions, region: &Region) -> anyhow::Result<Did> {
    let arns = running(regions, region).await?;
    if arns.is_empty() {
        return Ok(Did::already("nothing running"));
    }
    let client = aws_sdk_sfn::Client::new(&region.sfn);
    for arn in &arns {
        client
            .stop_execution()
            .execution_arn(arn)
            .error("Fenced")
            .cause("cargo xtask failover moved the active region")
            .send()
            .await
            .map_err(|error| sdk_error("StopExecution", error))?;
    }
    Ok(Did::now(format!("stopped {} execution(s)", arns.len())))
}

/// Disables the active region's rule and waits until its executions
/// other than those waiting for a review have ended (a review may wait for
/// a day; it stays, fenced, and is answered in the new region by a sweep).
async fn pause(regions: &Regions, region: &Region) -> anyhow::Result<Did> {
    let disabled = set_rule(regions, region, false).await?;
    let client = aws_sdk_sfn::Client::new(&region.sfn);
    let started = std::time::Instant::now();
    loop {
        let mut busy = 0;
        for arn in running(regions, region).await? {
            if !waiting_for_review(&client, &arn).await? {
                busy += 1;
            }
        }
        if busy == 0 {
            return Ok(Did {
                already: disabled.already,
                detail: format!("{}; nothing running", disabled.detail),
            });
        }
        if started.elapsed() > PATIENCE {
            bail!(
                "{busy} execution(s) still running in {} after {PATIENCE:?}",
                region.name
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the execution's latest state is the review wait.
async fn waiting_for_review(client: &aws_sdk_sfn::Client, arn: &str) -> anyhow::Result<bool> {
    let history = client
        .get_execution_history()
        .execution_arn(arn)
        .reverse_order(true)
        .max_results(50)
        .send()
        .await
        .map_err(|error| sdk_error("GetExecutionHistory", error))?;
    Ok(history
        .events()
        .iter()
        .find_map(|event| event.state_entered_event_details())
        .is_some_and(|entered| entered.name() == moat_stack::REVIEW_STATE))
}

/// Writes a barrier item into `from`'s table and waits until it and the
/// policy object reached `to`.
async fn replicated(
    regions: &Regions,
    from: &Region,
    to: &Region,
    epoch: u64,
) -> anyhow::Result<Did> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let table = &regions.spec.records_table;
    let key = |client: aws_sdk_dynamodb::Client| {
        client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S("REPLICATION_BARRIER".into()))
            .key("sk", AttributeValue::S(format!("EPOCH#{epoch}")))
    };
    aws_sdk_dynamodb::Client::new(&from.aws)
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S("REPLICATION_BARRIER".into()))
        .item("sk", AttributeValue::S(format!("EPOCH#{epoch}")))
        .item("at", AttributeValue::S(Utc::now().to_rfc3339()))
        .send()
        .await
        .map_err(|error| sdk_error("PutItem", error))?;
    let started = std::time::Instant::now();
    let receiving = aws_sdk_dynamodb::Client::new(&to.aws);
    loop {
        let arrived = key(receiving.clone())
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error("GetItem", error))?
            .item
            .is_some();
        let policies = super::current_policy(regions, from).await?.0
            == super::current_policy(regions, to).await?.0;
        if arrived && policies {
            return Ok(Did::now(format!(
                "table and policy replicated to {} in {:.1} s",
                to.name,
                started.elapsed().as_secs_f64()
            )));
        }
        if started.elapsed() > PATIENCE {
            bail!(
                "replication from {} to {} has not caught up after {PATIENCE:?} (table: {}, policy: {}); see `cargo xtask status`",
                from.name,
                to.name,
                if arrived { "caught up" } else { "behind" },
                if policies { "same" } else { "differs" }
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The target is ready to act: both state machines, the records table,
/// a valid policy and every function.
async fn preflight(regions: &Regions, target: &Region) -> anyhow::Result<String> {
    let spec = &regions.spec;
    let sfn = aws_sdk_sfn::Client::new(&target.sfn);
    for machine in [&spec.state_machine, &spec.sweep_state_machine] {
        crate::executions::state_machine_arn(&sfn, machine).await?;
    }
    let table = aws_sdk_dynamodb::Client::new(&target.aws)
        .describe_table()
        .table_name(&spec.records_table)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeTable", error))?;
    let status = table
        .table()
        .and_then(|table| table.table_status())
        .map(|s| s.as_str().to_owned());
    if status.as_deref() != Some("ACTIVE") {
        bail!(
            "{} in {} is {status:?}, not ACTIVE",
            spec.records_table,
            target.name
        );
    }
    let (digest, policy) = super::current_policy(regions, target).await?;
    moat_domain::policy::Policy::from_json(&policy)
        .with_context(|| format!("the policy in {} is not valid", target.name))?;
    let lambda = aws_sdk_lambda::Client::new(&target.aws);
    for function in spec.functions.keys() {
        lambda
            .get_function()
            .function_name(spec.function_name_of(function))
            .qualifier(&spec.function_alias)
            .send()
            .await
            .map_err(|error| sdk_error("GetFunction", error))
            .with_context(|| {
                format!(
                    "function {} ({}) in {}",
                    spec.function_name_of(function),
                    spec.function_alias,
                    target.name
                )
            })?;
    }
    Ok(format!(
        "2 state machines, {} ACTIVE, policy sha256 {}, {} functions at {}",
        spec.records_table,
        &digest[..12.min(digest.len())],
        spec.functions.len(),
        spec.function_alias
    ))
}

/// Replays the target bus's archive from `from` until now, named after the
/// epoch so a re-run finds it instead of replaying twice.
async fn replay(
    regions: &Regions,
    target: &Region,
    epoch: u64,
    from: DateTime<Utc>,
) -> anyhow::Result<Did> {
    use aws_sdk_eventbridge::primitives::DateTime as AwsTime;
    use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
    let events = aws_sdk_eventbridge::Client::new(&target.aws);
    let name = format!("moat-failover-epoch-{epoch}");
    let existing = events
        .describe_replay()
        .replay_name(&name)
        .send()
        .await
        .ok();
    let already = existing.is_some();
    if existing.is_none() {
        let archive = events
            .describe_archive()
            .archive_name(&regions.spec.event_archive)
            .send()
            .await
            .map_err(|error| sdk_error("DescribeArchive", error))?;
        let bus = archive.event_source_arn().unwrap_or_default().to_owned();
        let archive_arn = archive.archive_arn().unwrap_or_default().to_owned();
        events
            .start_replay()
            .replay_name(&name)
            .event_source_arn(archive_arn)
            .event_start_time(AwsTime::from_secs(from.timestamp()))
            .event_end_time(AwsTime::from_secs(Utc::now().timestamp()))
            .destination(
                ReplayDestination::builder()
                    .arn(bus)
                    .build()
                    .context("replay destination")?,
            )
            .send()
            .await
            .map_err(|error| sdk_error("StartReplay", error))?;
    }
    let started = std::time::Instant::now();
    loop {
        let described = events
            .describe_replay()
            .replay_name(&name)
            .send()
            .await
            .map_err(|error| sdk_error("DescribeReplay", error))?;
        match described.state() {
            Some(ReplayState::Completed) => {
                let detail = format!("{name} completed, events since {}", from.to_rfc3339());
                return Ok(if already {
                    Did::already(detail)
                } else {
                    Did::now(detail)
                });
            }
            Some(ReplayState::Failed | ReplayState::Cancelled) => bail!(
                "{name} ended {:?}: {}",
                described.state(),
                described.state_reason().unwrap_or_default()
            ),
            _ if started.elapsed() > PATIENCE => bail!("{name} still running after {PATIENCE:?}"),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Starts the reconciliation sweep of every Moat region in the caller's
/// account and waits for it; a sweep of that name already started is
/// followed instead.
async fn sweep(regions: &Regions, target: &Region, name: &str) -> anyhow::Result<Did> {
    let client = aws_sdk_sfn::Client::new(&target.sfn);
    let machine =
        crate::executions::state_machine_arn(&client, &regions.spec.sweep_state_machine).await?;
    let account = crate::sweep::caller_account(&target.aws).await?;
    let input = json!({
        "targets": regions.names().iter().map(|region| json!({"account": account, "region": region})).collect::<Vec<_>>(),
        "dryRun": false,
    });
    let arn = format!(
        "{}:{name}",
        machine.replacen(":stateMachine:", ":execution:", 1)
    );
    let started = client
        .start_execution()
        .state_machine_arn(&machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await;
    let already = match started {
        Ok(_) => false,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_execution_already_exists()) =>
        {
            true
        }
        Err(error) => return Err(sdk_error("StartExecution", error)),
    };
    let output = crate::sweep::follow(&client, &arn).await?;
    let summary = &output["summary"];
    let detail = format!(
        "{name}: {} groups scanned, {} violations",
        summary["groupsScanned"], summary["violations"]
    );
    Ok(if already {
        Did::already(detail)
    } else {
        Did::now(detail)
    })
}

/// The caller's ARN, who the epoch record names.
async fn caller_arn(region: &Region) -> anyhow::Result<String> {
    let identity = aws_sdk_sts::Client::new(&region.aws)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| sdk_error("GetCallerIdentity", error))?;
    Ok(identity.arn().unwrap_or("unknown").to_owned())
}
