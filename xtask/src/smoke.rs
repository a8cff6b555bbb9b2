//! `cargo xtask smoke`: proves that a deployment fixes what it must, end
//! to end, with a throw-away security group.
//!
//! It opens SSH to the world on a new group, waits for Moat to revoke the
//! rule, checks that the group was backed up and the change announced (the
//! backup and the publish claim in the records table), deletes the group
//! and prints the time from change to fix. The same steps run against AWS
//! (the standard AWS configuration; real CloudTrail delivers the event) and,
//! with `--local`, against a local stack started for the run, where the
//! CloudTrail-shaped event is put by the local stack because moto emits
//! none. This is the "test the deployment" step of `infra/README.md`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_ec2 as ec2;
use local_stack::changes::{Actor, Changes, Opening};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use moat_aws::Aws;
use moat_aws::records::{DynamoRecords, Records};
use moat_stack::StackSpec;
use serde_json::json;

const USAGE: &str = "\
usage: cargo xtask smoke --region R [--vpc VPC_ID] [--timeout SECONDS] [--yes] [--json]
       cargo xtask smoke --local [--timeout SECONDS] [--json]

Creates a throw-away security group with tcp/22 open to 0.0.0.0/0, waits
for Moat to revoke the rule, checks the backup and the notification in the
records table, deletes the group and prints the time from change to fix.

  --region R         the region of the deployment under test (AWS: the
                     standard AWS configuration and credentials)
  --vpc VPC_ID       the VPC for the group (default: the region's default VPC)
  --timeout SECONDS  how long to wait for the fix (default 120)
  --yes              act; without it, print the plan only (AWS)
  --local            run against a local stack started for this run (moto
                     and the local executor); nothing outside it changes
  --json             print the report as one JSON object
";

/// What the command was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    region: Option<String>,
    vpc: Option<String>,
    timeout: Duration,
    yes: bool,
    local: bool,
    json: bool,
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        region: None,
        vpc: None,
        timeout: Duration::from_secs(120),
        yes: false,
        local: false,
        json: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("region") => options.region = Some(parser.value()?.string()?),
            Long("vpc") => options.vpc = Some(parser.value()?.string()?),
            Long("timeout") => {
                let value = parser.value()?.string()?;
                let seconds: u64 = value
                    .parse()
                    .with_context(|| format!("--timeout {value} is not a number of seconds"))?;
                options.timeout = Duration::from_secs(seconds);
            }
            Long("yes") => options.yes = true,
            Long("local") => options.local = true,
            Long("json") => options.json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    if !options.local && options.region.is_none() {
        bail!("--region is required (or --local for the local stack)");
    }
    if options.local && options.vpc.is_some() {
        bail!("--vpc goes with --region: the local stack makes its own VPC");
    }
    Ok(Some(options))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let options = match parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return Ok(());
        }
        Err(error) => return Err(crate::usage_error(format!("{error:#}"), USAGE)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        if options.local {
            smoke_local(&options).await
        } else {
            smoke_aws(&options).await
        }
    })?;
    let Some(report) = report else {
        return Ok(());
    };
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.print();
    }
    Ok(())
}

/// Against a deployment in AWS: plan first, act only with `--yes`.
async fn smoke_aws(options: &Options) -> anyhow::Result<Option<Report>> {
    let spec = StackSpec::load()?;
    let region = options.region.clone().expect("parse requires --region");
    let name = format!("moat-smoke-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
    let vpc = options.vpc.as_deref().unwrap_or("the default VPC");
    // The plan is printed before any AWS call, so a dry run touches nothing.
    eprintln!("smoke: plan, in {region}:");
    eprintln!("  1. create security group {name} in {vpc}");
    eprintln!("  2. authorize tcp/22 from 0.0.0.0/0 on it");
    eprintln!(
        "  3. wait up to {} s for Moat to revoke that rule",
        options.timeout.as_secs()
    );
    eprintln!(
        "  4. check its backup and notification in the records table {}",
        spec.records_table
    );
    eprintln!("  5. delete the group (also when a check fails)");
    if !options.yes {
        eprintln!("smoke: dry run; add --yes to do it");
        return Ok(None);
    }
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.clone()))
        .load()
        .await;
    let ec2 = ec2::Client::new(&config);
    let vpc_id = match &options.vpc {
        Some(vpc) => vpc.clone(),
        None => default_vpc(&ec2).await?,
    };
    let records = DynamoRecords::new(&Aws::from_sdk_config(config), &spec.records_table);
    let group = Group::Aws {
        ec2: ec2.clone(),
        vpc_id,
    };
    Ok(Some(
        check(&group, &ec2, &records, &name, options.timeout).await?,
    ))
}

/// Against a local stack made for this run: the pipeline consumes what
/// the production rule delivers while the check waits for the fix.
async fn smoke_local(options: &Options) -> anyhow::Result<Option<Report>> {
    crate::setup::ensure_moto()?;
    crate::build::function_binaries("smoke")?;
    let (spec, stack) = local_stack::LocalStack::start_primary().await?;
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default()).await?;
    let changes = Changes::new(&stack);
    let vpc_id = changes.create_vpc("10.99.0.0/16").await?;
    let ec2 = ec2::Client::new(&stack.config);
    let records = DynamoRecords::new(
        &Aws::from_sdk_config(stack.config.clone()),
        &spec.records_table,
    );
    let group = Group::Local { changes, vpc_id };
    let report = async {
        let executions = pipeline.run_delivered(&stack, 1, options.timeout);
        let checked = check(&group, &ec2, &records, "moat-smoke", options.timeout);
        let (executions, checked) = tokio::join!(executions, checked);
        executions?;
        checked
    }
    .await;
    pipeline.shutdown().await;
    report.map(Some)
}

/// The group under test, and how it is made and removed.
enum Group {
    Aws { ec2: ec2::Client, vpc_id: String },
    Local { changes: Changes, vpc_id: String },
}

impl Group {
    /// Creates the group with SSH open to the world; gives its id and the
    /// rule's id. On the local stack this also puts the CloudTrail event.
    async fn open_ssh(&self, name: &str) -> anyhow::Result<(String, String)> {
        match self {
            Group::Aws { ec2, vpc_id } => {
                let group_id = ec2
                    .create_security_group()
                    .group_name(name)
                    .description("Moat smoke test: deleted when the test ends")
                    .vpc_id(vpc_id)
                    .send()
                    .await
                    .context("CreateSecurityGroup")?
                    .group_id
                    .unwrap_or_default();
                let permission = ec2::types::IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(22)
                    .to_port(22)
                    .ip_ranges(ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build();
                let output = ec2
                    .authorize_security_group_ingress()
                    .group_id(&group_id)
                    .ip_permissions(permission)
                    .send()
                    .await
                    .context("AuthorizeSecurityGroupIngress")?;
                let rule_id = output
                    .security_group_rules
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|rule| rule.security_group_rule_id)
                    .context("AuthorizeSecurityGroupIngress returned no rule id")?;
                Ok((group_id, rule_id))
            }
            Group::Local { changes, vpc_id } => {
                let group_id = changes
                    .existing_group(vpc_id, name, &Default::default())
                    .await?;
                let made = changes
                    .authorize_ingress(
                        &Actor::developer("smoke"),
                        &group_id,
                        &Opening::tcp(22, "0.0.0.0/0"),
                    )
                    .await?;
                let rule_id = made.rule_ids.first().cloned().unwrap_or_default();
                Ok((group_id, rule_id))
            }
        }
    }
}

/// What the smoke test found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    group_id: String,
    rule_id: String,
    fixed_after: Duration,
    backup_id: String,
    message_id: String,
}

impl Report {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "groupId": self.group_id,
            "ruleId": self.rule_id,
            "fixedAfterMs": self.fixed_after.as_millis() as u64,
            "backupId": self.backup_id,
            "messageId": self.message_id,
        })
    }

    fn print(&self) {
        println!(
            "smoke: passed: {} on {} revoked {} ms after the change",
            self.rule_id,
            self.group_id,
            self.fixed_after.as_millis()
        );
        println!("  backup       {}", self.backup_id);
        println!("  notification {}", self.message_id);
    }
}

/// Opens SSH on a new group, waits for the fix, checks its traces, and
/// deletes the group whatever happened.
async fn check(
    group: &Group,
    ec2: &ec2::Client,
    records: &DynamoRecords,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Report> {
    let (group_id, rule_id) = group.open_ssh(name).await?;
    eprintln!("smoke: opened tcp/22 to 0.0.0.0/0 as {rule_id} on {group_id}");
    let result = traces(ec2, records, &group_id, &rule_id, timeout).await;
    let deleted = ec2.delete_security_group().group_id(&group_id).send().await;
    match (&result, deleted) {
        (_, Ok(_)) => eprintln!("smoke: deleted {group_id}"),
        (Ok(_), Err(error)) => {
            bail!(
                "the checks passed but {group_id} could not be deleted: {}",
                moat_domain::error::display_chain(&error)
            )
        }
        (Err(_), Err(error)) => eprintln!(
            "smoke: could not delete {group_id} either: {}",
            moat_domain::error::display_chain(&error)
        ),
    }
    result
}

/// The rule revoked, the backup that covers it, the notification sent.
async fn traces(
    ec2: &ec2::Client,
    records: &DynamoRecords,
    group_id: &str,
    rule_id: &str,
    timeout: Duration,
) -> anyhow::Result<Report> {
    let fixed_after = wait_until_revoked(ec2, group_id, rule_id, timeout).await?;
    eprintln!(
        "smoke: {rule_id} revoked after {} ms",
        fixed_after.as_millis()
    );
    let backup = records
        .backups_of(group_id)
        .await?
        .into_iter()
        .find(|backup| {
            backup
                .snapshot
                .rules
                .iter()
                .any(|rule| rule.rule_id == rule_id)
        })
        .with_context(|| format!("no backup of {group_id} holds {rule_id}"))?;
    let key = moat_domain::notification::change_dedup_key(group_id, &backup.change.event_id);
    let message_id = wait_for(timeout, || records.sent_message_id(&key))
        .await?
        .with_context(|| format!("no notification was sent for {key}"))?;
    Ok(Report {
        group_id: group_id.to_owned(),
        rule_id: rule_id.to_owned(),
        fixed_after,
        backup_id: backup.backup_id,
        message_id,
    })
}

/// Polls the group's rules until `rule_id` is gone; gives how long it took.
async fn wait_until_revoked(
    ec2: &ec2::Client,
    group_id: &str,
    rule_id: &str,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let rules = ec2
            .describe_security_group_rules()
            .filters(
                ec2::types::Filter::builder()
                    .name("group-id")
                    .values(group_id)
                    .build(),
            )
            .send()
            .await
            .context("DescribeSecurityGroupRules")?
            .security_group_rules
            .unwrap_or_default();
        if !rules
            .iter()
            .any(|rule| rule.security_group_rule_id.as_deref() == Some(rule_id))
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(
        "{rule_id} on {group_id} was not revoked within {} s: is Moat deployed and active in this region?",
        timeout.as_secs()
    )
}

/// Polls `read` until it gives `Some`, or gives `None` after `timeout`.
async fn wait_for<T, F, Fut>(timeout: Duration, mut read: F) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, moat_aws::Error>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = read().await? {
            return Ok(Some(value));
        }
        if started.elapsed() >= timeout {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The region's default VPC, where a throw-away group goes: a smoke group
/// unless `--vpc` says, the failover canary, the drill's groups.
pub(crate) async fn default_vpc(ec2: &ec2::Client) -> anyhow::Result<String> {
    let vpcs = ec2
        .describe_vpcs()
        .filters(
            ec2::types::Filter::builder()
                .name("is-default")
                .values("true")
                .build(),
        )
        .send()
        .await
        .context("DescribeVpcs")?
        .vpcs
        .unwrap_or_default();
    vpcs.into_iter().find_map(|vpc| vpc.vpc_id).context(
        "this region has no default VPC for a throw-away group (smoke: name one with --vpc)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn flags_parse_and_bad_ones_are_named() {
        let options = parse(args(&["--region", "eu-west-1", "--timeout", "30", "--yes"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.region.as_deref(), Some("eu-west-1"));
        assert_eq!(options.timeout, Duration::from_secs(30));
        assert!(options.yes && !options.local);
        assert!(parse(args(&["--help"])).unwrap().is_none());
        let error = parse(args(&["--timeout", "soon", "--local"])).unwrap_err();
        assert!(error.to_string().contains("--timeout soon"), "{error}");
        let error = parse(args(&["--yes"])).unwrap_err();
        assert!(error.to_string().contains("--region"), "{error}");
        let error = parse(args(&["--local", "--frobnicate"])).unwrap_err();
        assert!(error.to_string().contains("--frobnicate"), "{error}");
    }

    /// The whole smoke test on a local stack: Moat really revokes, backs up
    /// and announces, and the group is gone afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_local_stack_passes_the_smoke_test() {
        let (spec, stack) = local_stack::LocalStack::start_primary()
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let changes = Changes::new(&stack);
        let vpc_id = changes.create_vpc("10.98.0.0/16").await.unwrap();
        let ec2 = ec2::Client::new(&stack.config);
        let records = DynamoRecords::new(
            &Aws::from_sdk_config(stack.config.clone()),
            &spec.records_table,
        );
        let group = Group::Local { changes, vpc_id };
        let timeout = Duration::from_secs(120);
        let (executions, report) = tokio::join!(
            pipeline.run_delivered(&stack, 1, timeout),
            check(&group, &ec2, &records, "smoke-test", timeout)
        );
        executions.unwrap();
        let report = report.unwrap_or_else(|error| panic!("{error:#}"));
        assert!(report.backup_id.starts_with(&report.group_id));
        assert!(!report.message_id.is_empty());
        let left = ec2
            .describe_security_groups()
            .group_ids(&report.group_id)
            .send()
            .await;
        assert!(left.is_err(), "the smoke group was deleted");
        pipeline.shutdown().await;
    }
}
