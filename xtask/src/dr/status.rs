//! `cargo xtask status [--json]`: where Moat stands in each region, read
//! only, for the operator deciding whether (and where) to fail over.
//!
//! Per region: the active-region record its table copy holds, its role
//! parameter, the EventBridge rule, the last executions of both state
//! machines, the dead-letter depth and the replication metrics; across the
//! regions: the standing (the highest epoch seen wins, as the functions
//! decide it), drift (policy, function code, state machine definitions) and
//! the problems an operator should look at. It is run when a region is
//! down, so a region that does not answer is reported, never fatal: every
//! call is bounded and every check fails on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_sfn::primitives::{DateTime, DateTimeFormat};
use chrono::Utc;
use moat_aws::Aws;
use moat_aws::records::{ActiveRegions, DynamoRecords};
use moat_domain::error::display_chain;
use moat_domain::fencing::{self, ActiveRegion};
use moat_stack::StackSpec;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dr::{Region, Regions};
use crate::executions::sdk_error;

const USAGE: &str = "\
usage: cargo xtask status [--executions N] [--json]

Where Moat stands in each region, read only: which region is active and at
which epoch (and each region's copy of that record), the role parameter,
the EventBridge rule, the state machines' last executions, the dead-letter
depth, replication lag, and drift between the regions (policy, function
code, state machine definitions). A region that does not answer is reported
as unreachable; the command still reports the others.

  --executions N   how many of each state machine's last executions to count (default 20, at most 1000)
  --json           one JSON document instead of tables

Reads the standard AWS configuration in both regions of infra/stack.json;
MOAT_LOCAL_REGIONS names the local stack's endpoints instead.";

/// ListExecutions answers at most this many in one page.
const MAX_EXECUTIONS: i32 = 1000;

/// How long one check (several calls, each bounded by the regions'
/// configuration) may take before it is reported as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// How far back the replication metrics are read.
const REPLICATION_WINDOW_SECONDS: i64 = 600;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub json: bool,
    /// How many of each state machine's last executions to count.
    pub executions: i32,
}

impl Default for Request {
    fn default() -> Request {
        Request {
            json: false,
            executions: 20,
        }
    }
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Request>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut request = Request::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("json") => request.json = true,
            Long("executions") => {
                let text = parser.value()?.string()?;
                request.executions = match text.parse::<i32>() {
                    Ok(n) if (1..=MAX_EXECUTIONS).contains(&n) => n,
                    _ => bail!("--executions {text}: a number from 1 to {MAX_EXECUTIONS}"),
                };
            }
            other => bail!("{}", other.unexpected()),
        }
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
    crate::executions::runtime()?.block_on(async {
        let regions = Regions::load().await?;
        let status = status(&regions, &request).await?;
        if request.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{}", render(&status));
        }
        Ok(())
    })
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    pub checked_at: chrono::DateTime<Utc>,
    /// The region the highest epoch seen names; `None` when no copy of the
    /// record exists (unfenced) or none could be read.
    pub active_region: Option<String>,
    pub epoch: Option<u64>,
    /// In `infra/stack.json`'s order, primary first.
    pub regions: Vec<RegionStatus>,
    /// What differs between the reachable regions, one sentence each.
    pub drift: Vec<String>,
    /// What the operator should look at, one sentence each.
    pub problems: Vec<String>,
}

/// What a region may do, as its functions decide it from the copies read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Standing {
    Active,
    Passive,
    /// No copy of the record exists: every region acts.
    Unfenced,
    /// No region's copy could be read.
    Unknown,
}

impl Standing {
    fn may_act(self) -> bool {
        matches!(self, Standing::Active | Standing::Unfenced)
    }

    fn as_str(self) -> &'static str {
        match self {
            Standing::Active => "active",
            Standing::Passive => "passive",
            Standing::Unfenced => "unfenced",
            Standing::Unknown => "unknown",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Check<T> {
    Found(T),
    /// The region answered: there is no such thing.
    Missing,
    /// The call failed, with why.
    Failed(String),
    /// Not asked: the region did not answer its first call.
    NotRead,
}

impl<T> Check<T> {
    fn found(&self) -> Option<&T> {
        match self {
            Check::Found(value) => Some(value),
            _ => None,
        }
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Check<U> {
        match self {
            Check::Found(value) => Check::Found(f(value)),
            Check::Missing => Check::Missing,
            Check::Failed(error) => Check::Failed(error),
            Check::NotRead => Check::NotRead,
        }
    }

    /// Whether the region answered this check (found or missing).
    fn answered(&self) -> bool {
        matches!(self, Check::Found(_) | Check::Missing)
    }

    fn failure(&self) -> Option<&str> {
        match self {
            Check::Failed(error) => Some(error),
            _ => None,
        }
    }
}

/// One region's report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegionStatus {
    pub name: String,
    /// Whether the region answered at all (its first call,
    /// GetCallerIdentity); when not, nothing else was asked.
    pub reachable: bool,
    pub error: Option<String>,
    pub account: Option<String>,
    pub standing: Standing,
    /// This region's copy of the active-region record.
    pub record: Check<ActiveRegion>,
    /// Its copy shows a lower epoch than another region's (or none while
    /// another has one): replication lags, or the regions are split.
    pub behind: bool,
    /// The role parameter's value (`active` or `passive`).
    pub parameter: Check<String>,
    /// The rule's state: `ENABLED` or `DISABLED`.
    pub event_rule: Check<String>,
    pub remediation: Check<Machine>,
    pub sweep: Check<Machine>,
    /// ApproximateNumberOfMessages of the dead-letter queue.
    pub dead_letters: Check<u64>,
    pub replication: Check<Vec<Replication>>,
    pub policy: Check<PolicyObject>,
    /// By the function's key in `infra/stack.json`.
    pub functions: BTreeMap<String, Check<FunctionCode>>,
    pub duration_ms: u128,
}

impl RegionStatus {
    /// A region nothing has been read from yet.
    fn unread(name: &str) -> RegionStatus {
        RegionStatus {
            name: name.to_owned(),
            reachable: false,
            error: None,
            account: None,
            standing: Standing::Unknown,
            record: Check::NotRead,
            behind: false,
            parameter: Check::NotRead,
            event_rule: Check::NotRead,
            remediation: Check::NotRead,
            sweep: Check::NotRead,
            dead_letters: Check::NotRead,
            replication: Check::NotRead,
            policy: Check::NotRead,
            functions: BTreeMap::new(),
            duration_ms: 0,
        }
    }

    /// The remediation and the sweep state machine.
    fn machines(&self) -> [&Check<Machine>; 2] {
        [&self.remediation, &self.sweep]
    }
}

/// A state machine and its last executions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Machine {
    pub name: String,
    pub arn: String,
    /// SHA-256 of the definition with the region, the account and the
    /// region's dead-letter queue URL replaced by placeholders, so the two
    /// regions' definitions compare.
    pub definition_sha256: String,
    /// How many executions were counted (at most `--executions`).
    pub recent: usize,
    /// The counted executions by status.
    pub counts: BTreeMap<String, usize>,
    /// The counted executions that failed, timed out or were aborted.
    pub failures: Vec<FailedExecution>,
    /// Every execution running now.
    pub running: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FailedExecution {
    pub name: String,
    pub status: String,
    pub stop_date: Option<String>,
}

/// The records table's replication towards one other region, the newest
/// datapoint of the last ten minutes; `None` where there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Replication {
    pub receiving_region: String,
    pub latency_ms: Option<f64>,
    pub pending_count: Option<f64>,
}

/// The policy object in force in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyObject {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub sha256: String,
}

/// A function's deployed code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCode {
    pub function_name: String,
    /// The alias read, or `$LATEST` when the alias is missing.
    pub qualifier: String,
    pub code_sha256: String,
}

/// Reads every region at once and puts the reports together.
pub(crate) async fn status(regions: &Regions, request: &Request) -> anyhow::Result<Status> {
    let mut reads = tokio::task::JoinSet::new();
    for (index, region) in regions.all.iter().enumerate() {
        let spec = regions.spec.clone();
        let region = region.clone();
        let others: Vec<String> = regions
            .others(&region.name)
            .iter()
            .map(|other| other.name.clone())
            .collect();
        let executions = request.executions;
        reads.spawn(async move {
            let read = read_region(&spec, &region, &others, executions).await;
            (index, read)
        });
    }
    let mut read = Vec::new();
    while let Some(joined) = reads.join_next().await {
        read.push(joined?);
    }
    read.sort_by_key(|(index, _)| *index);
    Ok(combine(
        &regions.spec,
        read.into_iter().map(|(_, region)| region).collect(),
    ))
}

/// One region read, before the regions are compared.
async fn read_region(
    spec: &StackSpec,
    region: &Region,
    others: &[String],
    executions: i32,
) -> RegionStatus {
    let began = Instant::now();
    let mut status = RegionStatus::unread(&region.name);
    // One call first, so a region that hangs costs one call's timeout,
    // not one per check.
    let account = match bounded(crate::sweep::caller_account(&region.aws)).await {
        Ok(account) => account,
        Err(error) => {
            status.error = Some(error);
            status.duration_ms = began.elapsed().as_millis();
            return status;
        }
    };
    status.reachable = true;
    let sfn = aws_sdk_sfn::Client::new(&region.sfn);
    // Everything at once: a region that answers slowly costs one check's
    // bound, not the sum of them.
    let (
        record,
        parameter,
        event_rule,
        dead_letters,
        replication,
        policy,
        functions,
        remediation,
        sweep,
    ) = tokio::join!(
        check(active_region_record(spec, region)),
        check(role_parameter(spec, region)),
        check(event_rule(spec, region)),
        check(dead_letters(spec, region)),
        check(replication(spec, region, others)),
        check(policy_object(spec, region, &account)),
        functions(spec, region),
        check(machine(&sfn, &spec.state_machine, executions)),
        check(machine(&sfn, &spec.sweep_state_machine, executions)),
    );
    let normalise = Normalise {
        region: &region.name,
        account: &account,
        dead_letter_url: dead_letters.found().map(|(url, _)| url.as_str()),
    };
    let hashed = |(machine, definition): (Machine, String)| Machine {
        definition_sha256: sha256_hex(normalise.apply(&definition).as_bytes()),
        ..machine
    };
    status.remediation = remediation.map(hashed);
    status.sweep = sweep.map(hashed);
    status.dead_letters = dead_letters.map(|(_, depth)| depth);
    status.account = Some(account);
    status.record = record;
    status.parameter = parameter;
    status.event_rule = event_rule;
    status.replication = replication;
    status.policy = policy;
    status.functions = functions;
    status.duration_ms = began.elapsed().as_millis();
    status
}

/// A read bounded by [`CHECK_TIMEOUT`], its error as text.
async fn bounded<T>(read: impl Future<Output = anyhow::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(CHECK_TIMEOUT, read).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}

/// A bounded read that gives `None` for "there is no such thing".
async fn check<T>(read: impl Future<Output = anyhow::Result<Option<T>>>) -> Check<T> {
    match bounded(read).await {
        Ok(Some(value)) => Check::Found(value),
        Ok(None) => Check::Missing,
        Err(error) => Check::Failed(error),
    }
}

/// Whether an SDK error says the thing asked for does not exist.
fn not_found(error: &impl ProvideErrorMetadata, codes: &[&str]) -> bool {
    error.code().is_some_and(|code| codes.contains(&code))
}

async fn active_region_record(
    spec: &StackSpec,
    region: &Region,
) -> anyhow::Result<Option<ActiveRegion>> {
    let records = DynamoRecords::new(
        &Aws::from_sdk_config(region.aws.clone()),
        &spec.records_table,
    );
    records.active_region().await.map_err(|error| {
        anyhow::anyhow!(
            "reading the active-region record from {}: {}",
            spec.records_table,
            display_chain(&error)
        )
    })
}

async fn role_parameter(spec: &StackSpec, region: &Region) -> anyhow::Result<Option<String>> {
    let got = aws_sdk_ssm::Client::new(&region.aws)
        .get_parameter()
        .name(&spec.active_region_parameter)
        .send()
        .await;
    match got {
        Ok(got) => Ok(Some(
            got.parameter()
                .and_then(|parameter| parameter.value())
                .unwrap_or_default()
                .to_owned(),
        )),
        Err(error) if not_found(&error, &["ParameterNotFound"]) => Ok(None),
        Err(error) => Err(sdk_error("GetParameter", error)),
    }
}

async fn event_rule(spec: &StackSpec, region: &Region) -> anyhow::Result<Option<String>> {
    let described = aws_sdk_eventbridge::Client::new(&region.aws)
        .describe_rule()
        .name(&spec.event_rule)
        .event_bus_name(&spec.event_bus)
        .send()
        .await;
    match described {
        Ok(rule) => Ok(Some(
            rule.state()
                .map_or("UNKNOWN", |state| state.as_str())
                .to_owned(),
        )),
        Err(error) if not_found(&error, &["ResourceNotFoundException"]) => Ok(None),
        Err(error) => Err(sdk_error("DescribeRule", error)),
    }
}

/// The dead-letter queue's URL and depth.
async fn dead_letters(spec: &StackSpec, region: &Region) -> anyhow::Result<Option<(String, u64)>> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(&region.aws);
    let got = sqs
        .get_queue_url()
        .queue_name(&spec.dead_letter_queue)
        .send()
        .await;
    let url = match got {
        Ok(got) => got.queue_url().unwrap_or_default().to_owned(),
        Err(error)
            if not_found(
                &error,
                &[
                    "QueueDoesNotExist",
                    "AWS.SimpleQueueService.NonExistentQueue",
                ],
            ) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(sdk_error("GetQueueUrl", error)),
    };
    let got = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|error| sdk_error("GetQueueAttributes", error))?;
    let depth = got
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .map_or(Ok(0), |text| text.parse::<u64>())
        .map_err(|error| anyhow::anyhow!("ApproximateNumberOfMessages of {url}: {error}"))?;
    Ok(Some((url, depth)))
}

async fn replication(
    spec: &StackSpec,
    region: &Region,
    others: &[String],
) -> anyhow::Result<Option<Vec<Replication>>> {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&region.aws);
    let mut all = Vec::new();
    for other in others {
        let newest =
            |metric: &'static str| newest_maximum(&cloudwatch, metric, &spec.records_table, other);
        let (latency_ms, pending_count) = tokio::try_join!(
            newest("ReplicationLatency"),
            newest("PendingReplicationCount")
        )?;
        all.push(Replication {
            receiving_region: other.clone(),
            latency_ms,
            pending_count,
        });
    }
    Ok(Some(all))
}

/// The Maximum of the newest datapoint of the last ten minutes.
async fn newest_maximum(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    metric: &str,
    table: &str,
    receiving_region: &str,
) -> anyhow::Result<Option<f64>> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let now = Utc::now().timestamp();
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    let got = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/DynamoDB")
        .metric_name(metric)
        .dimensions(dimension("TableName", table))
        .dimensions(dimension("ReceivingRegion", receiving_region))
        .start_time(DateTime::from_secs(now - REPLICATION_WINDOW_SECONDS))
        .end_time(DateTime::from_secs(now))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|error| sdk_error("GetMetricStatistics", error))?;
    Ok(got
        .datapoints()
        .iter()
        .filter(|point| point.maximum().is_some())
        .max_by_key(|point| point.timestamp().map(|at| (at.secs(), at.subsec_nanos())))
        .and_then(|point| point.maximum()))
}

async fn policy_object(
    spec: &StackSpec,
    region: &Region,
    account: &str,
) -> anyhow::Result<Option<PolicyObject>> {
    let bucket = spec.policy_bucket_in(account, &region.name);
    let got = aws_sdk_s3::Client::new(&region.aws)
        .get_object()
        .bucket(&bucket)
        .key(&spec.policy_key)
        .send()
        .await;
    let object = match got {
        Ok(object) => object,
        Err(error) if not_found(&error, &["NoSuchKey", "NoSuchBucket"]) => return Ok(None),
        Err(error) => {
            return Err(
                sdk_error("GetObject", error).context(format!("s3://{bucket}/{}", spec.policy_key))
            );
        }
    };
    let version_id = object.version_id().map(str::to_owned);
    let body = object
        .body
        .collect()
        .await
        .map_err(|error| sdk_error("GetObject body", error))?
        .into_bytes();
    Ok(Some(PolicyObject {
        bucket,
        key: spec.policy_key.clone(),
        version_id,
        sha256: sha256_hex(&body),
    }))
}

/// Every function's code, read at once (each call bounded on its own).
async fn functions(spec: &StackSpec, region: &Region) -> BTreeMap<String, Check<FunctionCode>> {
    let lambda = aws_sdk_lambda::Client::new(&region.aws);
    let mut reads = tokio::task::JoinSet::new();
    for function in spec.functions.keys() {
        let lambda = lambda.clone();
        let key = function.clone();
        let name = spec.function_name_of(function);
        let alias = spec.function_alias.clone();
        reads.spawn(async move { (key, check(function_code(lambda, name, alias)).await) });
    }
    let mut all = BTreeMap::new();
    while let Some(joined) = reads.join_next().await {
        // A read that panicked is reported below as not finished.
        if let Ok((key, code)) = joined {
            all.insert(key, code);
        }
    }
    for function in spec.functions.keys() {
        all.entry(function.clone())
            .or_insert_with(|| Check::Failed("the read did not finish".to_owned()));
    }
    all
}

/// The alias's code, or `$LATEST`'s when the alias is missing.
async fn function_code(
    lambda: aws_sdk_lambda::Client,
    name: String,
    alias: String,
) -> anyhow::Result<Option<FunctionCode>> {
    for qualifier in [alias.as_str(), "$LATEST"] {
        let got = lambda
            .get_function()
            .function_name(&name)
            .qualifier(qualifier)
            .send()
            .await;
        match got {
            Ok(got) => {
                return Ok(Some(FunctionCode {
                    function_name: name.clone(),
                    qualifier: qualifier.to_owned(),
                    code_sha256: got
                        .configuration()
                        .and_then(|configuration| configuration.code_sha256())
                        .unwrap_or_default()
                        .to_owned(),
                }));
            }
            Err(error) if not_found(&error, &["ResourceNotFoundException"]) => continue,
            Err(error) => {
                return Err(sdk_error("GetFunction", error).context(format!("{name}:{qualifier}")));
            }
        }
    }
    Ok(None)
}

/// What is per-region by design in a state machine's definition.
struct Normalise<'a> {
    region: &'a str,
    account: &'a str,
    dead_letter_url: Option<&'a str>,
}

impl Normalise<'_> {
    /// The definition with the region, the account and the dead-letter
    /// queue URL (which, on the local stack, also holds moto's port)
    /// replaced by placeholders.
    fn apply(&self, definition: &str) -> String {
        let mut text = definition.to_owned();
        if let Some(url) = self.dead_letter_url {
            text = text.replace(url, "{deadLetterQueueUrl}");
        }
        text.replace(self.region, "{region}")
            .replace(self.account, "{account}")
    }
}

/// The state machine called `name` and its last executions, with its
/// definition as it is (hashed once the region's names are known).
async fn machine(
    sfn: &aws_sdk_sfn::Client,
    name: &str,
    executions: i32,
) -> anyhow::Result<Option<(Machine, String)>> {
    let Some(arn) = find_machine(sfn, name).await? else {
        return Ok(None);
    };
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeStateMachine", error))?;
    let listed = sfn
        .list_executions()
        .state_machine_arn(&arn)
        .max_results(executions)
        .send()
        .await
        .map_err(|error| sdk_error("ListExecutions", error))?;
    let mut counts = BTreeMap::new();
    let mut failures = Vec::new();
    for execution in listed.executions() {
        let status = execution.status().as_str().to_owned();
        *counts.entry(status.clone()).or_insert(0) += 1;
        if matches!(status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED") {
            failures.push(FailedExecution {
                name: execution.name().to_owned(),
                status,
                stop_date: execution.stop_date().map(format_date),
            });
        }
    }
    let running = running(sfn, &arn).await?;
    let machine = Machine {
        name: name.to_owned(),
        arn: arn.clone(),
        definition_sha256: String::new(),
        recent: listed.executions().len(),
        counts,
        failures,
        running,
    };
    Ok(Some((machine, described.definition().to_owned())))
}

/// The ARN of the state machine called `name`, if there is one.
async fn find_machine(sfn: &aws_sdk_sfn::Client, name: &str) -> anyhow::Result<Option<String>> {
    let mut pages = sfn.list_state_machines().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| sdk_error("ListStateMachines", error))?;
        if let Some(found) = page.state_machines().iter().find(|m| m.name() == name) {
            return Ok(Some(found.state_machine_arn().to_owned()));
        }
    }
    Ok(None)
}

async fn running(sfn: &aws_sdk_sfn::Client, arn: &str) -> anyhow::Result<usize> {
    let mut pages = sfn
        .list_executions()
        .state_machine_arn(arn)
        .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
        .max_results(MAX_EXECUTIONS)
        .into_paginator()
        .send();
    let mut running = 0;
    while let Some(page) = pages.next().await {
        running += page
            .map_err(|error| sdk_error("ListExecutions", error))?
            .executions()
            .len();
    }
    Ok(running)
}

fn format_date(date: &DateTime) -> String {
    date.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| date.secs().to_string())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The regions compared: the standing from every copy read, who is
/// behind, drift and problems.
fn combine(spec: &StackSpec, mut regions: Vec<RegionStatus>) -> Status {
    let seen: Vec<ActiveRegion> = regions
        .iter()
        .filter_map(|region| region.record.found().cloned())
        .collect();
    let any_read = regions.iter().any(|region| region.record.answered());
    let highest = seen.iter().max_by_key(|record| record.epoch).cloned();
    for region in &mut regions {
        region.standing = if !any_read {
            Standing::Unknown
        } else {
            match fencing::standing(&region.name, &seen) {
                fencing::Standing::Active { .. } => Standing::Active,
                fencing::Standing::Passive { .. } => Standing::Passive,
                fencing::Standing::Unfenced => Standing::Unfenced,
            }
        };
        region.behind = match (&region.record, &highest) {
            (Check::Found(copy), Some(highest)) => copy.epoch < highest.epoch,
            (Check::Missing, Some(_)) => true,
            _ => false,
        };
    }
    let problems = problems(spec, &regions, highest.as_ref());
    let drift = drift(spec, &regions);
    Status {
        checked_at: Utc::now(),
        active_region: highest.as_ref().map(|record| record.region.clone()),
        epoch: highest.as_ref().map(|record| record.epoch),
        regions,
        drift,
        problems,
    }
}

fn problems(
    spec: &StackSpec,
    regions: &[RegionStatus],
    highest: Option<&ActiveRegion>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for region in regions {
        let name = &region.name;
        if !region.reachable {
            problems.push(format!(
                "{name} is unreachable: {}",
                region.error.as_deref().unwrap_or("no answer")
            ));
            continue;
        }
        let failed = [
            ("the active-region record", region.record.failure()),
            ("the role parameter", region.parameter.failure()),
            ("the event rule", region.event_rule.failure()),
            (
                "the remediation state machine",
                region.remediation.failure(),
            ),
            ("the sweep state machine", region.sweep.failure()),
            ("the dead-letter queue", region.dead_letters.failure()),
            ("the replication metrics", region.replication.failure()),
            ("the policy object", region.policy.failure()),
        ];
        for (what, error) in failed {
            if let Some(error) = error {
                problems.push(format!("{name}: could not read {what}: {error}"));
            }
        }
        for (function, code) in &region.functions {
            if let Some(error) = code.failure() {
                problems.push(format!(
                    "{name}: could not read function {function}: {error}"
                ));
            }
        }
        if let (true, Some(highest)) = (region.behind, highest) {
            let copy = match &region.record {
                Check::Found(copy) => format!("epoch {} naming {}", copy.epoch, copy.region),
                _ => "no record".to_owned(),
            };
            problems.push(format!(
                "{name}'s table copy is behind: it holds {copy}, another copy holds epoch {} naming {} (replication lags, or the regions are split)",
                highest.epoch, highest.region
            ));
        }
        problems.extend(parameter_problem(spec, region, highest));
        if region.standing.may_act() {
            match &region.event_rule {
                Check::Found(state) if state != "ENABLED" => problems.push(format!(
                    "{name} is {} but its rule {} is {state}: its events are not handled",
                    region.standing.as_str(),
                    spec.event_rule
                )),
                Check::Missing => problems.push(format!(
                    "{name} is {} but its rule {} on bus {} is missing",
                    region.standing.as_str(),
                    spec.event_rule,
                    spec.event_bus
                )),
                _ => {}
            }
        }
        match &region.dead_letters {
            Check::Found(depth) if *depth > 0 => problems.push(format!(
                "{name}: {depth} message(s) in the dead-letter queue {}",
                spec.dead_letter_queue
            )),
            Check::Missing => problems.push(format!(
                "{name}: the dead-letter queue {} is missing",
                spec.dead_letter_queue
            )),
            _ => {}
        }
        for (machine, check) in [
            (&spec.state_machine, &region.remediation),
            (&spec.sweep_state_machine, &region.sweep),
        ] {
            if *check == Check::Missing {
                problems.push(format!("{name}: the state machine {machine} is missing"));
            }
        }
        if region.policy == Check::Missing {
            problems.push(format!(
                "{name}: the policy object s3://{}/{} is missing",
                spec.policy_bucket_in(region.account.as_deref().unwrap_or("{account}"), name),
                spec.policy_key
            ));
        }
        let missing: Vec<&str> = region
            .functions
            .iter()
            .filter(|(_, code)| **code == Check::Missing)
            .map(|(function, _)| function.as_str())
            .collect();
        if !missing.is_empty() {
            problems.push(format!("{name}: functions missing: {}", missing.join(", ")));
        }
    }
    // Split brain as each region would see it alone: a region whose own
    // copy names it, or whose parameter says active, acts (or looks as if
    // it does) whatever the other copies say.
    let looking_active: Vec<&str> = regions
        .iter()
        .filter(|region| {
            region
                .record
                .found()
                .is_some_and(|copy| copy.region == region.name)
                || region
                    .parameter
                    .found()
                    .is_some_and(|value| value == "active")
        })
        .map(|region| region.name.as_str())
        .collect();
    if looking_active.len() > 1 {
        problems.push(format!(
            "more than one region looks active (by its own table copy or its parameter): {}",
            looking_active.join(", ")
        ));
    }
    let copies: Vec<&ActiveRegion> = regions
        .iter()
        .filter_map(|region| region.record.found())
        .collect();
    for (index, one) in copies.iter().enumerate() {
        for other in &copies[index + 1..] {
            if one.epoch == other.epoch && one.region != other.region {
                problems.push(format!(
                    "two copies of the active-region record hold epoch {} naming different regions: {} and {}",
                    one.epoch, one.region, other.region
                ));
            }
        }
    }
    problems
}

/// The role parameter against the standing.
fn parameter_problem(
    spec: &StackSpec,
    region: &RegionStatus,
    highest: Option<&ActiveRegion>,
) -> Option<String> {
    let name = &region.name;
    let parameter = &spec.active_region_parameter;
    let (standing, epoch) = match (region.standing, highest) {
        (Standing::Active | Standing::Passive, Some(highest)) => {
            (region.standing.as_str(), highest.epoch)
        }
        _ => return None,
    };
    // The parameter spells the standing as the standing is named.
    match &region.parameter {
        Check::Found(value) if value == standing => None,
        Check::Found(value) => Some(format!(
            "{name}: parameter {parameter} says {value:?} but {name} is {standing} at epoch {epoch}"
        )),
        Check::Missing => Some(format!(
            "{name}: parameter {parameter} is missing; {name} is {standing} at epoch {epoch}"
        )),
        Check::Failed(_) | Check::NotRead => None,
    }
}

/// What differs between the regions that answered.
fn drift(spec: &StackSpec, regions: &[RegionStatus]) -> Vec<String> {
    let mut drift = Vec::new();
    let answered = || regions.iter().filter(|region| region.reachable);
    differs(
        &mut drift,
        &format!("the policy object {}", spec.policy_key),
        answered().filter_map(|region| {
            let shown = match &region.policy {
                Check::Found(policy) => format!(
                    "{} has version {} (sha256 {})",
                    region.name,
                    policy.version_id.as_deref().unwrap_or("none"),
                    short(&policy.sha256)
                ),
                Check::Missing => format!("{} has none", region.name),
                _ => return None,
            };
            let key = region.policy.found().map(|policy| policy.sha256.clone());
            Some((key, shown))
        }),
    );
    for function in spec.functions.keys() {
        differs(
            &mut drift,
            &format!("function {}", spec.function_name_of(function)),
            answered().filter_map(|region| {
                let code = region.functions.get(function)?;
                let shown = match code {
                    Check::Found(code) => format!(
                        "{} runs {} ({})",
                        region.name,
                        short(&code.code_sha256),
                        code.qualifier
                    ),
                    Check::Missing => format!("{} has none", region.name),
                    _ => return None,
                };
                Some((code.found().map(|code| code.code_sha256.clone()), shown))
            }),
        );
    }
    for (index, machine) in [&spec.state_machine, &spec.sweep_state_machine]
        .into_iter()
        .enumerate()
    {
        differs(
            &mut drift,
            &format!("state machine {machine}'s definition (region and account aside)"),
            answered().filter_map(|region| {
                let check = region.machines()[index];
                let shown = match check {
                    Check::Found(found) => {
                        format!("{} has {}", region.name, short(&found.definition_sha256))
                    }
                    Check::Missing => format!("{} has none", region.name),
                    _ => return None,
                };
                Some((
                    check.found().map(|found| found.definition_sha256.clone()),
                    shown,
                ))
            }),
        );
    }
    drift
}

/// Adds "`what` differs: ..." when the regions' keys are not all equal.
fn differs(
    drift: &mut Vec<String>,
    what: &str,
    values: impl Iterator<Item = (Option<String>, String)>,
) {
    let values: Vec<(Option<String>, String)> = values.collect();
    let distinct: BTreeSet<&Option<String>> = values.iter().map(|(key, _)| key).collect();
    if distinct.len() > 1 {
        let shown: Vec<&str> = values.iter().map(|(_, shown)| shown.as_str()).collect();
        drift.push(format!("{what} differs: {}", shown.join(", ")));
    }
}

/// The first 12 hex digits of a digest, enough to tell two apart.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// The report as text: a block per region, then drift and problems.
pub(crate) fn render(status: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let standing = match (&status.active_region, status.epoch) {
        (Some(region), Some(epoch)) => format!("{region} is active at epoch {epoch}"),
        _ if status
            .regions
            .iter()
            .all(|region| region.standing == Standing::Unknown) =>
        {
            "no region's active-region record could be read".to_owned()
        }
        _ => "unfenced: no active-region record, every region acts".to_owned(),
    };
    let _ = writeln!(out, "status: {standing}");
    for region in &status.regions {
        let _ = writeln!(out);
        if !region.reachable {
            let _ = writeln!(
                out,
                "{}  UNREACHABLE ({:.1} s): {}",
                region.name,
                region.duration_ms as f64 / 1000.0,
                region.error.as_deref().unwrap_or("no answer")
            );
            continue;
        }
        let behind = if region.behind { ", copy BEHIND" } else { "" };
        let _ = writeln!(
            out,
            "{}  {}{behind} ({:.1} s)",
            region.name,
            region.standing.as_str(),
            region.duration_ms as f64 / 1000.0
        );
        let line = |out: &mut String, label: &str, text: String| {
            let _ = writeln!(out, "  {label:<16}{text}");
        };
        line(
            &mut out,
            "record",
            shown(&region.record, |record| {
                format!(
                    "{} at epoch {}, since {}, by {}",
                    record.region,
                    record.epoch,
                    record
                        .since
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    record.by
                )
            }),
        );
        line(
            &mut out,
            "parameter",
            shown(&region.parameter, Clone::clone),
        );
        line(
            &mut out,
            "event rule",
            shown(&region.event_rule, Clone::clone),
        );
        for (label, machine) in [
            ("remediation", &region.remediation),
            ("sweep", &region.sweep),
        ] {
            line(&mut out, label, shown(machine, machine_summary));
            if let Check::Found(machine) = machine {
                for failure in &machine.failures {
                    let _ = writeln!(
                        out,
                        "  {:<16}  {:<9} {} {}",
                        "",
                        failure.status,
                        failure.name,
                        failure.stop_date.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        line(
            &mut out,
            "dead letters",
            shown(&region.dead_letters, u64::to_string),
        );
        match &region.replication {
            Check::Found(all) => {
                for replication in all {
                    let value = |value: Option<f64>, unit: &str| {
                        value.map_or_else(|| "no data".to_owned(), |v| format!("{v}{unit}"))
                    };
                    line(
                        &mut out,
                        &format!("to {}", replication.receiving_region),
                        format!(
                            "latency {}, pending {}",
                            value(replication.latency_ms, " ms"),
                            value(replication.pending_count, "")
                        ),
                    );
                }
            }
            other => line(&mut out, "replication", shown(other, |_| String::new())),
        }
        line(
            &mut out,
            "policy",
            shown(&region.policy, |policy| {
                format!(
                    "version {}, sha256 {}",
                    policy.version_id.as_deref().unwrap_or("none"),
                    short(&policy.sha256)
                )
            }),
        );
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for (function, code) in &region.functions {
            match code {
                Check::Found(code) => found.push(format!(
                    "{function} {} ({})",
                    short(&code.code_sha256),
                    code.qualifier
                )),
                Check::Missing => missing.push(function.as_str()),
                other => found.push(format!("{function} {}", shown(other, |_| String::new()))),
            }
        }
        let mut functions = found.join(", ");
        if !missing.is_empty() {
            if !functions.is_empty() {
                functions.push_str("; ");
            }
            let _ = write!(functions, "missing: {}", missing.join(", "));
        }
        line(&mut out, "functions", functions);
    }
    for (title, items) in [("drift", &status.drift), ("problems", &status.problems)] {
        let _ = writeln!(out);
        if items.is_empty() {
            let _ = writeln!(out, "{title}: none");
        } else {
            let _ = writeln!(out, "{title}:");
            for item in items {
                let _ = writeln!(out, "  - {item}");
            }
        }
    }
    out
}

fn shown<T>(check: &Check<T>, found: impl Fn(&T) -> String) -> String {
    match check {
        Check::Found(value) => found(value),
        Check::Missing => "missing".to_owned(),
        Check::Failed(error) => format!("could not read: {error}"),
        Check::NotRead => "not read".to_owned(),
    }
}

fn machine_summary(machine: &Machine) -> String {
    let counts: Vec<String> = machine
        .counts
        .iter()
        .map(|(status, count)| format!("{count} {status}"))
        .collect();
    let counts = if counts.is_empty() {
        "no executions".to_owned()
    } else {
        counts.join(", ")
    };
    format!(
        "{}: last {}: {counts}; {} running",
        machine.name, machine.recent, machine.running
    )
}

#[cfg(test)]
mod tests;
