//! `cargo xtask drill`: a region failure rehearsed on the local stack.
//!
//! Both regions run, each with its moto, its Step Functions endpoint and
//! the real function binaries, reaching AWS through the replicator
//! (`local_stack::replicator`), which stands in for the global table and
//! the policy bucket's replication, with `--lag-ms` of lag. Every group
//! lives in the secondary's moto (the workload's region), and every change
//! is delivered to both regions' buses, as member accounts forward to both.
//! The primary is active at epoch 1.
//!
//! The drill streams `--changes` violating changes, kills the primary's
//! moto halfway (a real `SIGKILL`: its table, queues and topic are gone
//! with it), runs `failover` to the secondary while the stream goes on,
//! and then checks against what survives: every violation fixed, every
//! revoke backed up, no rule revoked twice, no change announced twice.
//! RTO is the kill to the failover's canary fixed; RPO is the age of the
//! oldest write the replicator had not copied when the primary died.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use local_stack::changes::{Actor, Changes, Opening};
use local_stack::pipeline::{Pipeline, PipelineOptions, Started};
use local_stack::replicator::Replicator;
use local_stack::{LocalStack, RegionStack};
use moat_aws::records::ActiveRegions;
use moat_domain::fencing::next;
use serde::Serialize;
use serde_json::Value;

use super::failover::{FailoverRequest, failover};
use super::{LocalEndpoints, Regions};

const USAGE: &str = "\
usage: cargo xtask drill [--changes N] [--lag-ms MS] [--fence] [--json]
       cargo xtask drill --account ACCOUNT_ID --yes

On the local stack (the default): streams N violating changes (default
100) to both regions, kills the primary's moto halfway, fails over to the
secondary, and checks that every violation was fixed exactly once, every
revoke backed up and nothing announced twice; reports RTO and RPO.
With --account and --yes, in that AWS account: the same stream into new
groups of the secondary's default VPC, the primary fenced rather than
killed, the same checks (but notifications), then the groups deleted and a
failback to the primary.
--lag-ms is the replication lag between the regions (default 0: each write
reaches the other region before it is answered). --fence rehearses as one
would in AWS: the primary stays up and the failover fences it.";

/// How long apart the changes are made.
const CHANGE_INTERVAL: Duration = Duration::from_millis(40);

/// How long the drill waits for the last executions to end.
const PATIENCE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) changes: usize,
    pub(crate) lag: Duration,
    /// Fence the primary (it stays up, as in a rehearsal in AWS) instead
    /// of killing it.
    pub(crate) fence: bool,
    pub(crate) account: Option<String>,
    pub(crate) yes: bool,
    pub(crate) json: bool,
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Request>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut request = Request {
        changes: 100,
        lag: Duration::ZERO,
        fence: false,
        account: None,
        yes: false,
        json: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("changes") => {
                request.changes = parser.value()?.parse()?;
                if request.changes < 2 {
                    bail!(
                        "--changes {}: at least 2, one on each side of the kill",
                        request.changes
                    );
                }
            }
            Long("lag-ms") => request.lag = Duration::from_millis(parser.value()?.parse()?),
            Long("fence") => request.fence = true,
            Long("account") => request.account = Some(parser.value()?.string()?),
            Long("yes") => request.yes = true,
            Long("json") => request.json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    if request.account.is_some() != request.yes {
        bail!(
            "a drill against AWS needs both --account ACCOUNT_ID and --yes; without them it runs on the local stack"
        );
    }
    Ok(Some(request))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(request) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    let findings = match &request.account {
        Some(account) => crate::executions::runtime()?.block_on(drill_aws(&request, account))?,
        None => {
            crate::build::function_binaries("drill")?;
            let runtime = crate::executions::runtime()?;
            if request.fence {
                runtime.block_on(drill_local_fenced(&request))?
            } else {
                runtime.block_on(drill_local(&request))?
            }
        }
    };
    if request.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        print!("{}", findings.text());
    }
    if findings.clean() {
        Ok(())
    } else {
        bail!(
            "the drill found {} missed, {} lost, {} doubled",
            findings.missed.len(),
            findings.lost_backups.len(),
            findings.doubled()
        )
    }
}

/// What the drill found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Findings {
    pub(crate) changes: usize,
    pub(crate) lag_ms: u128,
    /// Whether the primary was fenced (alive) rather than killed.
    pub(crate) fenced: bool,
    /// Changes made before the primary was killed (or fenced).
    pub(crate) before_kill: usize,
    /// Rules still open at the end.
    pub(crate) missed: Vec<String>,
    /// Rules revoked with no backup left that holds them.
    pub(crate) lost_backups: Vec<String>,
    /// Rules more than one audit record says it revoked.
    pub(crate) doubled_revokes: Vec<String>,
    /// Changes announced more than once.
    pub(crate) doubled_notifications: Vec<String>,
    /// Kill to the failover's canary fixed.
    pub(crate) rto_ms: u128,
    /// The failover command alone, start to canary fixed.
    pub(crate) failover_ms: u128,
    /// The epoch the failover raised.
    pub(crate) epoch: u64,
    /// The oldest write not yet replicated when the primary died; `None`
    /// when it was fenced instead, and lost nothing.
    pub(crate) rpo_ms: Option<u128>,
    /// Writes the replicator still held for the secondary at the kill.
    pub(crate) unreplicated_at_kill: usize,
    pub(crate) executions: BTreeMap<String, usize>,
    pub(crate) failover: Value,
    /// The failback that ends a drill by fencing.
    pub(crate) failback: Value,
}

impl Findings {
    pub(crate) fn doubled(&self) -> usize {
        self.doubled_revokes.len() + self.doubled_notifications.len()
    }

    pub(crate) fn clean(&self) -> bool {
        self.missed.is_empty() && self.lost_backups.is_empty() && self.doubled() == 0
    }

    fn text(&self) -> String {
        format!(
            "drill: {} changes, replication lag {} ms, primary {} after {}\n  missed:  {} {:?}\n  lost:    {} backups {:?}\n  doubled: {} revokes {:?}, {} notifications {:?}\n  RTO:     {:.1} s (kill to canary fixed; the failover itself {:.1} s, to epoch {})\n  RPO:     {} ({} writes unreplicated at the kill)\n  executions: {:?}\n",
            self.changes,
            self.lag_ms,
            if self.fenced { "fenced" } else { "killed" },
            self.before_kill,
            self.missed.len(),
            self.missed,
            self.lost_backups.len(),
            self.lost_backups,
            self.doubled_revokes.len(),
            self.doubled_revokes,
            self.doubled_notifications.len(),
            self.doubled_notifications,
            self.rto_ms as f64 / 1000.0,
            self.failover_ms as f64 / 1000.0,
            self.epoch,
            self.rpo_ms.map_or_else(
                || "none (fenced, not killed)".to_owned(),
                |ms| format!("{ms} ms")
            ),
            self.unreplicated_at_kill,
            self.executions,
        )
    }
}

/// A region of the drill: its stack, its pipeline behind the replicator,
/// and the executions its pump started.
struct DrillRegion {
    pipeline: Arc<Pipeline>,
    started: Arc<tokio::sync::Mutex<Vec<Started>>>,
    notifications: Arc<tokio::sync::Mutex<Vec<Value>>>,
    pump: tokio::task::JoinHandle<()>,
}

/// Both regions of the local stack as the drill and the DR tests run
/// them: replicated, each with its pipeline and pump, the primary active
/// at epoch 1.
pub(crate) struct TwoRegions {
    pub(crate) stack: LocalStack,
    pub(crate) replicator: Replicator,
    pub(crate) regions: Arc<Regions>,
    sides: Vec<DrillRegion>,
    stopping: Arc<AtomicBool>,
}

impl TwoRegions {
    pub(crate) async fn start(lag: Duration) -> anyhow::Result<TwoRegions> {
        let stack = LocalStack::start().await?;
        let spec = stack.spec.clone();
        let workload = stack.secondary.moto.endpoint_url();
        let replicator =
            Replicator::start(&spec, &stack.primary, &stack.secondary, &workload, lag).await?;
        let functions_dir = local_stack::pipeline::functions_dir();
        let mut endpoints = BTreeMap::new();
        let mut sides = Vec::new();
        let stopping = Arc::new(AtomicBool::new(false));
        for region in [&stack.primary, &stack.secondary] {
            local_stack::lambda::register_functions(&spec, region, &functions_dir).await?;
            let proxy = replicator
                .endpoint_url(region.region())
                .context("the replicator serves both regions")?;
            let options = PipelineOptions {
                extra_env: vec![("AWS_ENDPOINT_URL".to_owned(), proxy.clone())],
                ..PipelineOptions::default()
            };
            let pipeline = Arc::new(Pipeline::new(&spec, region, &options).await?);
            endpoints.insert(
                region.region().to_owned(),
                LocalEndpoints {
                    aws: proxy,
                    sfn: pipeline.endpoint().url().to_owned(),
                },
            );
            sides.push(start_pump(region, pipeline, stopping.clone()));
        }
        let regions = Regions::local(spec.clone(), &endpoints).await?;
        let primary = regions.get(&spec.regions.primary)?.clone();
        let epoch_one = next(
            None,
            &spec.regions.primary,
            "cargo xtask drill",
            chrono::Utc::now(),
        );
        regions
            .records(&primary)
            .put_active_region(&epoch_one)
            .await?;
        replicator.drained(Duration::from_secs(30)).await;
        Ok(TwoRegions {
            stack,
            replicator,
            regions: Arc::new(regions),
            sides,
            stopping,
        })
    }

    /// The pipeline of the primary (0) or the secondary (1).
    #[cfg(test)]
    pub(crate) fn pipeline(&self, index: usize) -> &Pipeline {
        &self.sides[index].pipeline
    }

    /// Stops the pumps and both pipelines.
    pub(crate) async fn shutdown(self) {
        self.stopping.store(true, Ordering::Relaxed);
        for side in self.sides {
            side.pump.abort();
            let _ = side.pump.await;
            if let Ok(pipeline) = Arc::try_unwrap(side.pipeline) {
                pipeline.shutdown().await;
            }
        }
    }
}

/// The drill by fencing against AWS, in the account the credentials are
/// for, which must be `account`.
async fn drill_aws(request: &Request, account: &str) -> anyhow::Result<Findings> {
    let regions = Arc::new(Regions::load().await?);
    let target = regions.get(&regions.spec.regions.secondary)?.clone();
    let caller = crate::sweep::caller_account(&target.aws).await?;
    if caller != account {
        bail!("--account {account}, but these credentials are account {caller}'s: no drill here");
    }
    // In AWS, CloudTrail delivers each change's event to both regions.
    let changes = Changes::undelivered(&target.aws, account);
    fenced::drill_by_fencing(regions, &changes, request).await
}

/// The drill by fencing on the local stack: the code a drill against AWS
/// runs, with the local stack delivering the events CloudTrail would.
pub(crate) async fn drill_local_fenced(request: &Request) -> anyhow::Result<Findings> {
    let two = TwoRegions::start(request.lag).await?;
    let changes = Changes::delivered_to(
        &two.stack.secondary.config,
        &[&two.stack.primary, &two.stack.secondary],
    );
    let drilled = fenced::drill_by_fencing(two.regions.clone(), &changes, request).await;
    let doubled = doubled_notifications(&two.sides).await;
    two.shutdown().await;
    let mut findings = drilled?;
    findings.doubled_notifications = doubled;
    Ok(findings)
}

/// The drill on the local stack.
pub(crate) async fn drill_local(request: &Request) -> anyhow::Result<Findings> {
    let two = TwoRegions::start(request.lag).await?;
    let (stack, replicator, spec) = (&two.stack, &two.replicator, two.stack.spec.clone());
    let both = Changes::delivered_to(&stack.secondary.config, &[&stack.primary, &stack.secondary]);
    let survivor = Changes::delivered_to(&stack.secondary.config, &[&stack.secondary]);
    let vpc = survivor.create_vpc("10.77.0.0/16").await?;
    let mut groups = Vec::new();
    for index in 0..request.changes {
        groups.push(
            survivor
                .existing_group(&vpc, &format!("drill-{index}"), &BTreeMap::new())
                .await?,
        );
    }
    let kill_at = request.changes / 2;
    let streamed = stream(two.regions.clone(), &groups, &both, &survivor, || {
        let backlog = replicator.backlog();
        kill(stack.primary.moto.pid())?;
        Ok(backlog)
    })
    .await?;
    let (opened, moved, backlog_at_kill) = (streamed.opened, streamed.moved, streamed.at_outage);
    let rto = streamed.canary_fixed.duration_since(streamed.outage_at);
    let executions = settle(&two.sides, &stack.secondary, &two.stopping).await?;
    let survived = check_survivor(
        &stack.secondary.config,
        &spec.records_table,
        &survivor,
        &opened,
    )
    .await?;
    let doubled_notifications = doubled_notifications(&two.sides).await;
    let pending = backlog_at_kill
        .iter()
        .find(|direction| direction.from == spec.regions.primary)
        .cloned();
    two.shutdown().await;
    Ok(Findings {
        changes: request.changes,
        lag_ms: request.lag.as_millis(),
        fenced: false,
        before_kill: kill_at,
        rto_ms: rto.as_millis(),
        failover_ms: moved.rto.map_or(0, |rto| rto.as_millis()),
        epoch: moved.epoch,
        rpo_ms: Some(
            pending
                .as_ref()
                .and_then(|p| p.oldest)
                .map_or(0, |oldest| oldest.as_millis()),
        ),
        unreplicated_at_kill: pending.map_or(0, |p| p.pending),
        executions,
        failover: moved.document,
        missed: survived.missed,
        lost_backups: survived.lost_backups,
        doubled_revokes: survived.doubled_revokes,
        doubled_notifications,
        failback: Value::Null,
    })
}

/// What streaming the drill's changes saw.
pub(crate) struct Streamed<T> {
    /// Every rule opened, with its group.
    pub(crate) opened: Vec<(String, String)>,
    /// What `outage` gave, and when it ran.
    pub(crate) at_outage: T,
    pub(crate) outage_at: Instant,
    pub(crate) moved: super::failover::Moved,
    /// When the failover ended: its last step is the canary, fixed.
    pub(crate) canary_fixed: Instant,
}

/// Opens one group each to SSH from anywhere, `CHANGE_INTERVAL` apart,
/// through `before` and, from the middle of the stream on, through `after`.
/// At the middle `outage` runs (the kill, or nothing when the primary is
/// fenced instead) and a failover to the secondary starts while the stream
/// goes on.
pub(crate) async fn stream<T>(
    regions: Arc<Regions>,
    groups: &[String],
    before: &Changes,
    after: &Changes,
    outage: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<Streamed<T>> {
    let half = groups.len() / 2;
    let mut opened = Vec::new();
    let mut outage = Some(outage);
    let mut failed = None;
    for (index, group) in groups.iter().enumerate() {
        if index == half
            && let Some(outage) = outage.take()
        {
            let at_outage = outage()?;
            let outage_at = Instant::now();
            let (regions, to) = (regions.clone(), regions.spec.regions.secondary.clone());
            let failing_over = tokio::spawn(async move {
                let request = FailoverRequest {
                    to,
                    outage_start: Some(chrono::Utc::now()),
                    yes: true,
                    json: false,
                    quiet: true,
                };
                let moved = failover(&regions, &request).await;
                (moved, Instant::now())
            });
            failed = Some((at_outage, outage_at, failing_over));
        }
        let changes = if failed.is_some() { after } else { before };
        let made = changes
            .authorize_ingress(
                &Actor::developer("moat-drill"),
                group,
                &Opening::tcp(22, "0.0.0.0/0"),
            )
            .await?;
        opened.extend(
            made.rule_ids
                .iter()
                .map(|rule| (group.clone(), rule.clone())),
        );
        tokio::time::sleep(CHANGE_INTERVAL).await;
    }
    let (at_outage, outage_at, failing_over) = failed.context("the stream reached its middle")?;
    let (moved, canary_fixed) = failing_over.await.context("the failover task")?;
    Ok(Streamed {
        opened,
        at_outage,
        outage_at,
        moved: moved?,
        canary_fixed,
    })
}

/// Starts the region's pump: every event its rule delivers starts an
/// execution, as the rule's Step Functions target would, until the region
/// dies or the drill stops; its notifications are read as they come.
fn start_pump(
    region: &RegionStack,
    pipeline: Arc<Pipeline>,
    stopping: Arc<AtomicBool>,
) -> DrillRegion {
    let started = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let notifications = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let (config, region_name) = (region.config.clone(), region.region().to_owned());
    let (events, inbox) = (
        region.resources.event_queue_url.clone(),
        region.resources.notification_inbox_url.clone(),
    );
    let pump = {
        let (pipeline, started, notifications) =
            (pipeline.clone(), started.clone(), notifications.clone());
        tokio::spawn(async move {
            while !stopping.load(Ordering::Relaxed) {
                let Ok(delivered) =
                    local_stack::take_messages(&config, &region_name, &events, 0).await
                else {
                    return;
                };
                for event in delivered {
                    match pipeline.start(event).await {
                        Ok(execution) => started.lock().await.push(execution),
                        Err(_) => return,
                    }
                }
                let Ok(read) = local_stack::take_messages(&config, &region_name, &inbox, 0).await
                else {
                    return;
                };
                notifications.lock().await.extend(read);
            }
        })
    };
    DrillRegion {
        pipeline,
        started,
        notifications,
        pump,
    }
}

/// Kills a process the way a region dies: at once, with no cleanup.
fn kill(pid: u32) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -KILL {pid} failed: {status}");
    }
    Ok(())
}

/// Waits until the survivor's queue is empty and every execution either
/// region started has ended; how they ended, by region and status.
async fn settle(
    regions: &[DrillRegion],
    survivor: &RegionStack,
    stopping: &AtomicBool,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let began = Instant::now();
    // The pumps run until the survivor's event queue is drained and its
    // executions are all started; a replay may still be delivering.
    let mut quiet_rounds = 0;
    while quiet_rounds < 3 && began.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let attributes = aws_sdk_sqs::Client::new(&survivor.config)
            .get_queue_attributes()
            .queue_url(&survivor.resources.event_queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|error| crate::executions::sdk_error("GetQueueAttributes", error))?;
        let waiting = attributes
            .attributes()
            .and_then(|map| {
                map.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|count| count.parse::<usize>().ok())
            .unwrap_or(0);
        quiet_rounds = if waiting == 0 { quiet_rounds + 1 } else { 0 };
    }
    let mut ended = BTreeMap::new();
    for (index, region) in regions.iter().enumerate() {
        let executions: Vec<Started> = std::mem::take(&mut *region.started.lock().await);
        for execution in executions {
            let result = tokio::time::timeout(PATIENCE, execution.wait())
                .await
                .context("an execution did not end")?;
            let side = if index == 0 { "primary" } else { "secondary" };
            *ended
                .entry(format!("{side} {:?}", result.description.status))
                .or_insert(0) += 1;
        }
    }
    // One more read of the survivor's notifications, then the pumps stop.
    tokio::time::sleep(Duration::from_millis(800)).await;
    stopping.store(true, Ordering::Relaxed);
    Ok(ended)
}

/// What the survivor's EC2 and records table say of the opened rules.
#[derive(Debug, Default)]
pub(crate) struct Survived {
    pub(crate) missed: Vec<String>,
    pub(crate) lost_backups: Vec<String>,
    pub(crate) doubled_revokes: Vec<String>,
}

/// Checks what survived: every opened rule is gone from the workload, each
/// gone rule is in a backup of its group, and no two audit records of a
/// group say they revoked the same rule. The survivor's table is read one
/// group's partition at a time (`GROUP#<id>`), as an account's table is
/// too large to scan.
pub(crate) async fn check_survivor(
    survivor: &SdkConfig,
    table: &str,
    changes: &Changes,
    opened: &[(String, String)],
) -> anyhow::Result<Survived> {
    let mut survived = Survived::default();
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (group, rule) in opened {
        by_group.entry(group).or_default().push(rule);
    }
    for (group, rules) in by_group {
        let now = changes.ingress_rule_ids(group).await?;
        let (audits, backups) = group_records(survivor, table, group).await?;
        let mut revokers: BTreeMap<String, usize> = BTreeMap::new();
        for audit in &audits {
            for rule in audit["revoked"].as_array().into_iter().flatten() {
                *revokers
                    .entry(rule.as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
        }
        let backed_up: BTreeSet<&str> = backups
            .iter()
            .flat_map(|backup| backup["snapshot"]["rules"].as_array().into_iter().flatten())
            .filter_map(|rule| rule["ruleId"].as_str())
            .collect();
        for rule in rules {
            if now.iter().any(|open| open == rule) {
                survived.missed.push(rule.to_owned());
            } else if !backed_up.contains(rule) {
                survived.lost_backups.push(rule.to_owned());
            }
            if revokers.get(rule).is_some_and(|count| *count > 1) {
                survived.doubled_revokes.push(rule.to_owned());
            }
        }
    }
    Ok(survived)
}

/// The acting audit records and the backups of one group, as JSON.
async fn group_records(
    config: &SdkConfig,
    table: &str,
    group: &str,
) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = aws_sdk_dynamodb::Client::new(config);
    let (mut audits, mut backups) = (Vec::new(), Vec::new());
    let mut pages = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("GROUP#{group}")))
        .consistent_read(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| crate::executions::sdk_error("Query", error))?;
        for item in page.items() {
            let sort_key = item
                .get("sk")
                .and_then(|sk| sk.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let Some(record) = item.get("record").and_then(|record| record.as_s().ok()) else {
                continue;
            };
            let record: Value = serde_json::from_str(record).unwrap_or(Value::Null);
            if sort_key.starts_with("AUDIT#") {
                audits.push(record);
            } else if sort_key.starts_with("BACKUP#") {
                backups.push(record);
            }
        }
    }
    Ok((audits, backups))
}

/// The changes either region announced more than once.
async fn doubled_notifications(regions: &[DrillRegion]) -> Vec<String> {
    let mut announced: BTreeMap<String, usize> = BTreeMap::new();
    for region in regions {
        for envelope in region.notifications.lock().await.iter() {
            if let Some(key) = announced_change(envelope) {
                *announced.entry(key).or_default() += 1;
            }
        }
    }
    announced
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(key, _)| key)
        .collect()
}

/// The group and change a notification announced, from the SNS envelope.
fn announced_change(envelope: &Value) -> Option<String> {
    let message = envelope["Message"].as_str()?;
    let mut body: Value = serde_json::from_str(message).ok()?;
    if let Some(default) = body.get("default").and_then(Value::as_str) {
        body = serde_json::from_str(default).ok()?;
    }
    if body["kind"] != "change" {
        return None;
    }
    let review = body["review"]["decision"].as_str().unwrap_or("");
    Some(format!(
        "{}/{}{}",
        body["group"]["groupId"].as_str()?,
        body["change"]["eventId"].as_str()?,
        review
    ))
}

mod fenced;
#[cfg(test)]
mod tests;
