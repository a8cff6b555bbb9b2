//! `cargo xtask undo --backup ID | --execution ARN`: puts back exactly what
//! one remediation revoked, from the backup taken before it.
//!
//! The plan (`moat_domain::undo`) restores only the rules that
//! remediation's audit record says it revoked and the group does not hold
//! again, and refuses rules the policy in force would revoke again unless
//! `--exempt-until` writes the exemption tag first, since Moat sees the
//! restoring call like any other change. The undo is audited with the
//! operator as actor. Without `--yes` only the plan is printed; running it
//! twice restores nothing the second time.

use anyhow::{Context, bail};
use aws_sdk_ec2 as ec2;
use chrono::NaiveDate;
use moat_aws::ec2::{Ec2SecurityGroups, SecurityGroups};
use moat_aws::policy_store::{PolicySource, S3PolicySource};
use moat_aws::records::{DynamoRecords, Records};
use moat_aws::{Accounts, Aws, MemberAccess};
use moat_domain::policy::Policy;
use moat_domain::records::{AuditRecord, BackupRecord};
use moat_domain::snapshot::{Direction, Peer, SecurityGroupRule};
use moat_domain::undo::UndoPlan;
use moat_stack::StackSpec;
use serde_json::json;

use crate::executions::sdk_error;

const USAGE: &str = "\
usage: cargo xtask undo (--backup GROUP/EVENT | --execution ARN) [--exempt-until YYYY-MM-DD] [--reason TEXT] [--yes] [OPTIONS]

Re-authorizes exactly what one remediation revoked, from its backup, and
audits it with you as the actor. Rules the policy in force would revoke
again are refused unless --exempt-until adds the exemption tag first.
Without --yes only the plan is printed.

  --backup ID          the backup id (the notification and the group's moat:backup tag name it)
  --execution ARN      or the remediation execution, whose output names its backup
  --exempt-until DATE  exempt the restored rules until this day first
  --reason TEXT        why (goes into the audit record)
  --region R           the region Moat runs in (default: the configuration's)
  --policy-bucket B    default: infra/stack.json's name for the caller's account and region
  --member-role NAME   reach the group's account through this role, as Moat does
  --external-id ID     the member role's external id
  --json               one JSON document instead of text";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Request {
    pub backup: Option<String>,
    pub execution: Option<String>,
    pub exempt_until: Option<NaiveDate>,
    pub reason: Option<String>,
    pub region: Option<String>,
    pub policy_bucket: Option<String>,
    pub member_role: Option<String>,
    pub external_id: Option<String>,
    pub yes: bool,
    pub json: bool,
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Request>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut request = Request::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("backup") => request.backup = Some(parser.value()?.string()?),
            Long("execution") => request.execution = Some(parser.value()?.string()?),
            Long("exempt-until") => {
                let text = parser.value()?.string()?;
                let date = text.parse().map_err(|_| {
                    anyhow::anyhow!("--exempt-until {text}: a date such as 2026-12-31")
                })?;
                request.exempt_until = Some(date);
            }
            Long("reason") => request.reason = Some(parser.value()?.string()?),
            Long("region") => request.region = Some(parser.value()?.string()?),
            Long("policy-bucket") => request.policy_bucket = Some(parser.value()?.string()?),
            Long("member-role") => request.member_role = Some(parser.value()?.string()?),
            Long("external-id") => request.external_id = Some(parser.value()?.string()?),
            Long("yes") => request.yes = true,
            Long("json") => request.json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    if request.backup.is_some() == request.execution.is_some() {
        bail!("name the remediation: --backup ID or --execution ARN (one of them)");
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
        let config = crate::executions::aws_config(request.region.as_deref()).await;
        let done = undo(&config, &config, &request).await?;
        print_outcome(&done, request.json)
    })
}

/// What `undo` found and did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub backup_id: String,
    pub plan: UndoPlan,
    pub applied: bool,
}

/// Plans the undo and, with `--yes`, tags, re-authorizes and audits. EC2,
/// S3, DynamoDB and STS go through `config`; Step Functions (for
/// `--execution`) through `sfn_config`.
pub(crate) async fn undo(
    config: &aws_config::SdkConfig,
    sfn_config: &aws_config::SdkConfig,
    request: &Request,
) -> anyhow::Result<Outcome> {
    let spec = StackSpec::load()?;
    let aws = Aws::from_sdk_config(config.clone());
    let records = DynamoRecords::new(&aws, &spec.records_table);
    let backup_id = match (&request.backup, &request.execution) {
        (Some(id), _) => id.clone(),
        (None, Some(arn)) => backup_of_execution(sfn_config, arn).await?,
        (None, None) => unreachable!("parse requires one"),
    };
    let backup = records
        .get_backup(&backup_id)
        .await?
        .with_context(|| format!("no backup {backup_id} in {}", spec.records_table))?;
    let audit = records
        .get_audit(&backup.snapshot.group_id, &backup.change.event_id)
        .await?
        .with_context(|| format!("no audit record for {backup_id}: that remediation did not finish, so there is nothing to undo"))?;
    let groups = Ec2SecurityGroups::new(Accounts::new(&aws, member_access(request)));
    let (account, region) = (&backup.snapshot.account, &backup.snapshot.region);
    let current = groups
        .snapshot(account, region, &backup.snapshot.group_id)
        .await?
        .with_context(|| format!("{} no longer exists", backup.snapshot.group_id))?;
    let policy = policy_in_force(config, &spec, request).await?;
    let today = chrono::Utc::now().date_naive();
    let plan = moat_domain::undo::plan(
        &backup,
        &audit.revoked,
        &current,
        &policy,
        today,
        request.exempt_until,
    )?;
    let mut outcome = Outcome {
        backup_id,
        plan,
        applied: false,
    };
    if request.yes && !outcome.plan.restore.is_empty() {
        apply(config, &groups, &records, &backup, &outcome.plan, request).await?;
        outcome.applied = true;
    }
    Ok(outcome)
}

fn member_access(request: &Request) -> MemberAccess {
    MemberAccess {
        role_name: request.member_role.clone(),
        external_id: request.external_id.clone(),
        session_name: "moat-undo".to_owned(),
    }
}

/// The backup a remediation execution wrote, from its output.
async fn backup_of_execution(config: &aws_config::SdkConfig, arn: &str) -> anyhow::Result<String> {
    let described = aws_sdk_sfn::Client::new(config)
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeExecution", error))?;
    let output: serde_json::Value = serde_json::from_str(described.output().unwrap_or("{}"))
        .context("the execution's output is not JSON")?;
    output["backup"]["backupId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{arn} has no backup in its output: it revoked nothing"))
}

/// The policy the evaluate function judges with now.
async fn policy_in_force(
    config: &aws_config::SdkConfig,
    spec: &StackSpec,
    request: &Request,
) -> anyhow::Result<Policy> {
    let bucket = match &request.policy_bucket {
        Some(bucket) => bucket.clone(),
        None => {
            let account = crate::sweep::caller_account(config).await?;
            let region = config
                .region()
                .context("no region: pass --region")?
                .to_string();
            spec.policy_bucket_in(&account, &region)
        }
    };
    let object = S3PolicySource::new(&Aws::from_sdk_config(config.clone()))
        .fetch(&bucket, &spec.policy_key)
        .await?;
    Policy::from_json(&object.body)
        .with_context(|| format!("s3://{bucket}/{} is not a valid policy", spec.policy_key))
}

/// Tags first (so the restoring change meets its exemption), then
/// re-authorizes, then audits.
async fn apply(
    config: &aws_config::SdkConfig,
    groups: &Ec2SecurityGroups,
    records: &DynamoRecords,
    backup: &BackupRecord,
    plan: &UndoPlan,
    request: &Request,
) -> anyhow::Result<()> {
    let (account, region) = (&backup.snapshot.account, &backup.snapshot.region);
    if let Some((key, value)) = &plan.exemption_tag {
        let tags = [(key.clone(), value.clone())].into_iter().collect();
        groups.tag(account, region, &plan.group_id, &tags).await?;
    }
    let member = Accounts::new(
        &Aws::from_sdk_config(config.clone()),
        member_access(request),
    )
    .config_for(account, region)
    .await?;
    let client = ec2::Client::new(&member);
    for rule in &plan.restore {
        authorize(&client, &plan.group_id, rule).await?;
    }
    let actor = crate::review::caller_identity(config).await?;
    records
        .put_audit(&undo_audit(backup, plan, actor, request))
        .await?;
    Ok(())
}

async fn authorize(
    client: &ec2::Client,
    group_id: &str,
    rule: &SecurityGroupRule,
) -> anyhow::Result<()> {
    let permission = permission_of(rule);
    match rule.direction {
        Direction::Ingress => client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(permission)
            .send()
            .await
            .map(drop)
            .map_err(|error| sdk_error("AuthorizeSecurityGroupIngress", error)),
        Direction::Egress => client
            .authorize_security_group_egress()
            .group_id(group_id)
            .ip_permissions(permission)
            .send()
            .await
            .map(drop)
            .map_err(|error| sdk_error("AuthorizeSecurityGroupEgress", error)),
    }
}

/// The rule as the `IpPermission` that allows exactly it again.
fn permission_of(rule: &SecurityGroupRule) -> ec2::types::IpPermission {
    let mut permission = ec2::types::IpPermission::builder()
        .ip_protocol(&rule.ip_protocol)
        .set_from_port(rule.from_port)
        .set_to_port(rule.to_port);
    let description = rule.description.clone();
    permission = match &rule.peer {
        Peer::Ipv4 { cidr } => permission.ip_ranges(
            ec2::types::IpRange::builder()
                .cidr_ip(cidr)
                .set_description(description)
                .build(),
        ),
        Peer::Ipv6 { cidr } => permission.ipv6_ranges(
            ec2::types::Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .set_description(description)
                .build(),
        ),
        Peer::PrefixList { prefix_list_id } => permission.prefix_list_ids(
            ec2::types::PrefixListId::builder()
                .prefix_list_id(prefix_list_id)
                .set_description(description)
                .build(),
        ),
        Peer::Group {
            group_id, user_id, ..
        } => permission.user_id_group_pairs(
            ec2::types::UserIdGroupPair::builder()
                .group_id(group_id)
                .set_user_id(user_id.clone())
                .set_description(description)
                .build(),
        ),
    };
    permission.build()
}

fn undo_audit(
    backup: &BackupRecord,
    plan: &UndoPlan,
    actor: String,
    request: &Request,
) -> AuditRecord {
    let restored: Vec<String> = plan.restore.iter().map(|rule| rule.describe()).collect();
    let reason = request
        .reason
        .clone()
        .unwrap_or_else(|| "no reason given".to_owned());
    AuditRecord {
        group_id: plan.group_id.clone(),
        account: backup.snapshot.account.clone(),
        region: backup.snapshot.region.clone(),
        event_id: format!("undo-{}", backup.change.event_id),
        event_name: "OperatorUndo".to_owned(),
        actor,
        verdict: moat_domain::evaluation::Verdict::Compliant,
        finding_reasons: vec![format!(
            "undo of {}: {reason}; restored {}",
            backup.backup_id,
            restored.join(", ")
        )],
        backup_id: Some(backup.backup_id.clone()),
        revoked: Vec::new(),
        already_gone: Vec::new(),
        dry_run: false,
        rules_before: 0,
        rules_after: None,
        recorded_at: chrono::Utc::now(),
        review: None,
        observed_while_passive: false,
    }
}

fn print_outcome(done: &Outcome, json: bool) -> anyhow::Result<()> {
    let plan = &done.plan;
    let restore: Vec<String> = plan
        .restore
        .iter()
        .map(|r| format!("{} ({})", r.rule_id, r.describe()))
        .collect();
    if json {
        let document = json!({"backupId": done.backup_id, "groupId": plan.group_id, "restore": restore,
            "alreadyBack": plan.already_back, "exemptionTag": plan.exemption_tag, "applied": done.applied});
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    if plan.restore.is_empty() {
        println!(
            "{}: everything {} revoked is back already; nothing to do",
            plan.group_id, done.backup_id
        );
        return Ok(());
    }
    println!("plan, undoing {} on {}:", done.backup_id, plan.group_id);
    if let Some((key, value)) = &plan.exemption_tag {
        println!("  1. tag {key}={value}, so Moat leaves the restored rules alone");
    }
    println!("  2. authorize again:");
    for rule in &restore {
        println!("       {rule}");
    }
    println!("  3. audit the undo with you as the actor");
    println!(
        "{}",
        if done.applied {
            "undone"
        } else {
            "dry run; add --yes to undo"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests;
