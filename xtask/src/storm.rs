//! `cargo xtask storm`: Moat under load and under faults on the local stack,
//! measured rather than timed in a test (a loaded machine would make a timed
//! test flaky). Three storms, each on a fresh stack:
//!
//! - **duplicates**: one change delivered N times at once (EventBridge is
//!   at-least-once). Exactly one backup, one revoke and one notification
//!   must come of it, and no execution may fail.
//! - **changes**: M different violating changes within seconds, with EC2
//!   throttling (`RequestLimitExceeded`) on a share of every EC2 call. Every
//!   one must be fixed and none escalated; the figure is the time to drain.
//! - **crash**: remediate's process is killed mid-handler, after the revoke
//!   and before the audit record (its `CreateTags` call is held unanswered
//!   by the fault proxy until the process is killed). The state machine's
//!   retry must complete the run with nothing doubled.
//!
//! Each storm checks its outcome against moto, the records table and the
//! inboxes, and the command fails naming the storm whose checks failed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use local_stack::changes::{Actor, Changes, Made, Opening};
use local_stack::demo;
use local_stack::faults::{Fault, FaultProxy};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{LocalStack, RegionStack, StackSpec};
use moat_aws::Aws;
use moat_aws::records::{DynamoRecords, Records};
use serde_json::{Value, json};
use sfn_local::{ExecutionResult, ExecutionStatus};

use crate::{build, setup};

const USAGE: &str = "\
usage: cargo xtask storm [--duplicates N] [--changes M] [--throttle PERCENT]
                         [--max-environments K] [--only duplicates|changes|crash] [--json]

  --duplicates N        deliveries of one change, all at once (default 1000)
  --changes M           different violating changes within seconds (default 500)
  --throttle PERCENT    share of EC2 calls throttled during the changes storm (default 30)
  --max-environments K  environments per function at once: this machine's bound (default 8)
  --only STORM          run one storm
  --json                print one JSON object with every figure";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    duplicates: usize,
    changes: usize,
    throttle: u8,
    max_environments: usize,
    only: Option<String>,
    json: bool,
}

const STORMS: [&str; 3] = ["duplicates", "changes", "crash"];

fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        duplicates: 1000,
        changes: 500,
        throttle: 30,
        max_environments: 8,
        only: None,
        json: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("duplicates") => options.duplicates = number(&mut parser, "--duplicates")?,
            Long("changes") => options.changes = number(&mut parser, "--changes")?,
            Long("throttle") => {
                let percent: usize = number(&mut parser, "--throttle")?;
                options.throttle = u8::try_from(percent)
                    .ok()
                    .filter(|percent| *percent < 100)
                    .ok_or_else(|| anyhow!("--throttle {percent}: a percentage below 100"))?;
            }
            Long("max-environments") => {
                options.max_environments = number(&mut parser, "--max-environments")?
            }
            Long("only") => {
                let storm = parser.value()?.string()?;
                if !STORMS.contains(&storm.as_str()) {
                    bail!("--only {storm}: one of {}", STORMS.join(", "));
                }
                options.only = Some(storm);
            }
            Long("json") => options.json = true,
            Long("help") | Short('h') => return Ok(None),
            other => bail!("{}", other.unexpected()),
        }
    }
    if options.duplicates < 2 || options.changes < 1 || options.max_environments < 1 {
        bail!("--duplicates needs at least 2, --changes and --max-environments at least 1");
    }
    Ok(Some(options))
}

fn number(parser: &mut lexopt::Parser, flag: &str) -> anyhow::Result<usize> {
    use lexopt::ValueExt;
    let value = parser.value()?.string()?;
    value
        .parse()
        .map_err(|_| anyhow!("{flag} {value} is not a number"))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    build::function_binaries("storm")?;
    setup::ensure_moto()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let reports = runtime.block_on(storms(&options))?;
    if options.json {
        let object: serde_json::Map<String, Value> = reports
            .iter()
            .map(|report| (report.storm.to_owned(), report.to_json()))
            .collect();
        println!("{}", serde_json::to_string_pretty(&object)?);
    } else {
        for report in &reports {
            report.print();
        }
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|report| !report.passed())
        .map(|report| report.storm)
        .collect();
    if !failed.is_empty() {
        bail!(
            "the checks of storm(s) {} failed (see above)",
            failed.join(", ")
        );
    }
    Ok(())
}

async fn storms(options: &Options) -> anyhow::Result<Vec<Report>> {
    let wanted = |storm: &str| options.only.as_deref().is_none_or(|only| only == storm);
    let mut reports = Vec::new();
    if wanted("duplicates") {
        reports.push(duplicates(options).await?);
    }
    if wanted("changes") {
        reports.push(changes(options).await?);
    }
    if wanted("crash") {
        reports.push(crash(options).await?);
    }
    Ok(reports)
}

/// One storm's figures and checks.
#[derive(Debug)]
struct Report {
    storm: &'static str,
    /// Named figures, in the order they are printed.
    figures: Vec<(&'static str, Value)>,
    /// Each claim and whether it held.
    checks: Vec<(String, bool)>,
}

impl Report {
    fn new(storm: &'static str) -> Report {
        Report {
            storm,
            figures: Vec::new(),
            checks: Vec::new(),
        }
    }

    fn figure(&mut self, name: &'static str, value: impl Into<Value>) {
        self.figures.push((name, value.into()));
    }

    fn check(&mut self, claim: String, holds: bool) {
        self.checks.push((claim, holds));
    }

    fn passed(&self) -> bool {
        self.checks.iter().all(|(_, holds)| *holds)
    }

    fn print(&self) {
        println!("\nstorm: {}", self.storm);
        for (name, value) in &self.figures {
            println!("  {name:<28} {value}");
        }
        for (claim, holds) in &self.checks {
            println!("  {} {claim}", if *holds { "ok  " } else { "FAIL" });
        }
    }

    fn to_json(&self) -> Value {
        let figures: serde_json::Map<String, Value> = self
            .figures
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|(claim, holds)| json!({"claim": claim, "passed": holds}))
            .collect();
        json!({"figures": figures, "checks": checks, "passed": self.passed()})
    }
}

/// A fresh primary region, its pipeline (real time: retries wait as they
/// would in AWS), and the fault proxy every function talks to AWS through.
struct Stage {
    spec: StackSpec,
    stack: RegionStack,
    proxy: FaultProxy,
    pipeline: Pipeline,
    changes: Changes,
    vpc_id: String,
}

impl Stage {
    async fn new(options: &Options) -> anyhow::Result<Stage> {
        let (spec, stack) = LocalStack::start_primary().await?;
        let proxy = FaultProxy::start(&stack.moto.endpoint_url())
            .await
            .context("starting the fault proxy")?;
        let pipeline_options = PipelineOptions {
            virtual_time: false,
            extra_env: vec![("AWS_ENDPOINT_URL".into(), proxy.endpoint_url())],
            max_environments: Some(options.max_environments),
            ..PipelineOptions::default()
        };
        let pipeline = Pipeline::new(&spec, &stack, &pipeline_options).await?;
        let changes = Changes::undelivered(&stack.config, local_stack::ACCOUNT);
        let vpc_id = changes.create_vpc("10.60.0.0/16").await?;
        Ok(Stage {
            spec,
            stack,
            proxy,
            pipeline,
            changes,
            vpc_id,
        })
    }

    /// A new group with SSH opened to the world by a developer.
    async fn open_ssh(&self, name: &str) -> anyhow::Result<Made> {
        let group_id = self
            .changes
            .existing_group(&self.vpc_id, name, &BTreeMap::new())
            .await?;
        Ok(self
            .changes
            .authorize_ingress(
                &Actor::developer("storm"),
                &group_id,
                &Opening::tcp(22, "0.0.0.0/0"),
            )
            .await?)
    }

    fn records(&self) -> DynamoRecords {
        DynamoRecords::new(
            &Aws::from_sdk_config(self.stack.config.clone()),
            &self.spec.records_table,
        )
    }

    /// Whether the change's opened rule is still on its group.
    async fn still_open(&self, made: &Made) -> anyhow::Result<bool> {
        let rules = aws_sdk_ec2::Client::new(&self.stack.config)
            .describe_security_group_rules()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-id")
                    .values(&made.group_id)
                    .build(),
            )
            .send()
            .await
            .context("DescribeSecurityGroupRules")?;
        Ok(rules.security_group_rules().iter().any(|rule| {
            rule.security_group_rule_id()
                .is_some_and(|id| made.rule_ids.iter().any(|opened| opened == id))
        }))
    }

    /// Every escalation in its inbox, read until it is dry.
    async fn escalations(&self) -> anyhow::Result<Vec<Value>> {
        let mut messages = Vec::new();
        loop {
            let batch = self.stack.take_escalations(1).await?;
            if batch.is_empty() {
                return Ok(messages);
            }
            messages.extend(batch);
        }
    }

    /// How many notifications in the inbox announce this change.
    async fn notified(&self, made: &Made) -> anyhow::Result<usize> {
        let bodies = demo::notification_bodies(&self.stack.site(&self.spec)).await?;
        Ok(demo::notifications_about(&bodies, made.event_id()))
    }

    async fn finish(self) {
        self.pipeline.shutdown().await;
    }
}

/// The debug binary of one of Moat's functions, as the pipeline runs it.
fn function_binary(function: &str) -> std::path::PathBuf {
    local_stack::pipeline::functions_dir().join(function)
}

/// Starts one execution per event at once and waits for them all.
async fn run_all(pipeline: &Pipeline, events: Vec<Value>) -> anyhow::Result<Vec<ExecutionResult>> {
    let mut running = Vec::with_capacity(events.len());
    for event in events {
        running.push(pipeline.start(event).await?);
    }
    let mut results = Vec::with_capacity(running.len());
    for execution in running {
        results.push(execution.wait().await);
    }
    Ok(results)
}

fn not_succeeded(results: &[ExecutionResult]) -> usize {
    results
        .iter()
        .filter(|result| result.description.status != ExecutionStatus::Succeeded)
        .count()
}

/// How many rules the executions revoked, in all.
fn revoked(results: &[ExecutionResult]) -> usize {
    results
        .iter()
        .filter_map(ExecutionResult::output)
        .filter_map(|output| {
            output
                .pointer("/remediation/revoked")
                .and_then(Value::as_array)
                .map(Vec::len)
        })
        .sum()
}

fn seconds(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 10.0).round() / 10.0
}

async fn duplicates(options: &Options) -> anyhow::Result<Report> {
    eprintln!(
        "storm: duplicates: one change delivered {} times at once",
        options.duplicates
    );
    let stage = Stage::new(options).await?;
    let made = stage.open_ssh("storm-duplicates").await?;
    let started = Instant::now();
    let events = vec![made.eventbridge_event(); options.duplicates];
    let results = run_all(&stage.pipeline, events).await?;
    let elapsed = started.elapsed();
    let backups = stage.records().backups_of(&made.group_id).await?.len();
    let notified = stage.notified(&made).await?;
    let escalated = stage.escalations().await?.len();
    let mut report = Report::new("duplicates");
    report.figure("deliveries", options.duplicates);
    report.figure("wall time (s)", seconds(elapsed));
    report.figure(
        "executions per second",
        (options.duplicates as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0,
    );
    report.check(
        format!(
            "every execution succeeded ({} did not)",
            not_succeeded(&results)
        ),
        not_succeeded(&results) == 0,
    );
    report.check(format!("exactly 1 backup ({backups})"), backups == 1);
    let revoked = revoked(&results);
    report.check(format!("exactly 1 revoke ({revoked})"), revoked == 1);
    report.check(
        format!("exactly 1 notification ({notified})"),
        notified == 1,
    );
    report.check(format!("nothing escalated ({escalated})"), escalated == 0);
    report.check(
        "the rule is revoked in EC2".to_owned(),
        !stage.still_open(&made).await?,
    );
    stage.finish().await;
    Ok(report)
}

/// How many changes are made at once in the changes storm, as several
/// engineers and pipelines would make them.
const MAKERS: usize = 16;

async fn changes(options: &Options) -> anyhow::Result<Report> {
    eprintln!(
        "storm: changes: {} violating changes, {}% of EC2 calls throttled",
        options.changes, options.throttle
    );
    let stage = Stage::new(options).await?;
    stage
        .proxy
        .inject(Fault::ec2_throttling_share(options.throttle));
    // The groups exist beforehand; the storm is the changes to them, made
    // as fast as the account allows and delivered as they are made.
    let mut groups = Vec::with_capacity(options.changes);
    for index in 0..options.changes {
        groups.push(
            stage
                .changes
                .existing_group(&stage.vpc_id, &format!("storm-{index}"), &BTreeMap::new())
                .await?,
        );
    }
    let started = Instant::now();
    let mut running = Vec::with_capacity(options.changes);
    let mut made = Vec::with_capacity(options.changes);
    for batch in groups.chunks(MAKERS) {
        let mut makers = tokio::task::JoinSet::new();
        for group_id in batch {
            let (changes, group_id) = (stage.changes.clone(), group_id.clone());
            makers.spawn(async move {
                changes
                    .authorize_ingress(
                        &Actor::developer("storm"),
                        &group_id,
                        &Opening::tcp(22, "0.0.0.0/0"),
                    )
                    .await
            });
        }
        while let Some(change) = makers.join_next().await {
            let change = change.context("a change maker panicked")??;
            running.push(stage.pipeline.start(change.eventbridge_event()).await?);
            made.push(change);
        }
    }
    let made_in = started.elapsed();
    let mut results = Vec::with_capacity(running.len());
    for execution in running {
        results.push(execution.wait().await);
    }
    let drained_in = started.elapsed();
    let mut still_open = 0;
    for change in &made {
        still_open += usize::from(stage.still_open(change).await?);
    }
    let throttled = stage.proxy.injected().len();
    let escalated = stage.escalations().await?.len();
    let mut report = Report::new("changes");
    report.figure("changes", options.changes);
    report.figure("made within (s)", seconds(made_in));
    report.figure("drained after (s)", seconds(drained_in));
    report.figure("EC2 calls throttled", throttled);
    report.figure("throttled share (%)", options.throttle);
    report.check(
        format!(
            "every execution succeeded ({} did not)",
            not_succeeded(&results)
        ),
        not_succeeded(&results) == 0,
    );
    report.check(
        format!("every rule is revoked in EC2 ({still_open} still open)"),
        still_open == 0,
    );
    report.check(format!("nothing escalated ({escalated})"), escalated == 0);
    report.check(
        format!("throttling was injected ({throttled} calls)"),
        throttled > 0,
    );
    stage.finish().await;
    Ok(report)
}

async fn crash(options: &Options) -> anyhow::Result<Report> {
    eprintln!("storm: crash: remediate killed between its revoke and its audit record");
    let stage = Stage::new(options).await?;
    // Remediate tags the group after the revoke and before the audit record:
    // holding that call pins its process between the two.
    stage.proxy.inject(Fault::ec2_hold("CreateTags", 1));
    let made = stage.open_ssh("storm-crash").await?;
    let started = Instant::now();
    let execution = stage.pipeline.start(made.eventbridge_event()).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while stage.proxy.held() == 0 {
        if Instant::now() > deadline {
            bail!("crash: remediate never reached CreateTags within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let revoked_before_crash = !stage.still_open(&made).await?;
    let killed = kill_processes_of(&function_binary("remediate"))?;
    let result = execution.wait().await;
    let elapsed = started.elapsed();
    let crashes = result
        .events
        .iter()
        .filter(|event| {
            event.event_type == "LambdaFunctionFailed"
                && event
                    .details
                    .as_ref()
                    .and_then(|details| details.get("error"))
                    .and_then(Value::as_str)
                    == Some("Lambda.Unknown")
        })
        .count();
    let records = stage.records();
    let backups = records.backups_of(&made.group_id).await?.len();
    let audit = records.get_audit(&made.group_id, made.event_id()).await?;
    let notified = stage.notified(&made).await?;
    let mut report = Report::new("crash");
    report.figure("processes killed", killed);
    report.figure("execution time (s)", seconds(elapsed));
    report.check(
        "the rule was revoked before the crash".to_owned(),
        revoked_before_crash,
    );
    report.check(
        format!("the crash was seen and retried ({crashes} crash(es))"),
        crashes == 1,
    );
    report.check(
        format!("the execution succeeded ({:?})", result.description.status),
        result.description.status == ExecutionStatus::Succeeded,
    );
    report.check(
        "the rule is revoked in EC2".to_owned(),
        !stage.still_open(&made).await?,
    );
    let audited = audit.as_ref().is_some_and(|audit| {
        made.rule_ids
            .iter()
            .all(|id| audit.revoked.contains(id) || audit.already_gone.contains(id))
    });
    report.check(
        "the audit record is complete: the rule is in it".to_owned(),
        audited,
    );
    report.check(format!("exactly 1 backup ({backups})"), backups == 1);
    report.check(
        format!("exactly 1 notification ({notified})"),
        notified == 1,
    );
    stage.finish().await;
    Ok(report)
}

/// Kills (SIGKILL) every process running `binary`, as a crash would end
/// it. Gives how many there were.
fn kill_processes_of(binary: &Path) -> anyhow::Result<usize> {
    let binary = binary
        .canonicalize()
        .with_context(|| format!("{} does not exist", binary.display()))?;
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let runs_binary =
            std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == binary);
        if runs_binary {
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .context("running kill")?;
            killed += usize::from(status.success());
        }
    }
    Ok(killed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn parses_the_defaults_and_every_flag() {
        let defaults = parse(args(&[])).unwrap().unwrap();
        assert_eq!(
            (defaults.duplicates, defaults.changes, defaults.throttle),
            (1000, 500, 30)
        );
        let set = parse(args(&[
            "--duplicates",
            "10",
            "--changes=5",
            "--throttle",
            "50",
            "--max-environments",
            "2",
            "--only",
            "crash",
            "--json",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            set,
            Options {
                duplicates: 10,
                changes: 5,
                throttle: 50,
                max_environments: 2,
                only: Some("crash".into()),
                json: true,
            }
        );
        assert_eq!(parse(args(&["--help"])).unwrap(), None);
    }

    #[test]
    fn bad_values_are_named() {
        let error = |words: &[&str]| parse(args(words)).unwrap_err().to_string();
        assert!(error(&["--throttle", "100"]).contains("--throttle 100"));
        assert!(error(&["--only", "everything"]).contains("duplicates, changes, crash"));
        assert!(error(&["--changes", "many"]).contains("--changes many"));
        assert!(error(&["--duplicates", "1"]).contains("at least 2"));
    }
}
