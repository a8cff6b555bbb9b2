//! The demo scenario: realistic security-group changes in one region, the
//! pipeline's executions, and the checks that prove Moat did the right
//! thing. `cargo xtask demo` prints it; the end-to-end tests assert it.
//!
//! Verifying is two steps, so that the judging can be tested without moto:
//! `collect` reads what the run left behind (the notification inbox,
//! Security Hub, EC2 and the records table) into plain data, and pure
//! functions build the summary and make the checks from that data.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use moat_aws::ec2::{Ec2SecurityGroups, SecurityGroups};
use moat_aws::records::{DynamoRecords, Records};
use moat_aws::{Accounts, Aws, MemberAccess};
use moat_domain::records::BackupRecord;
use moat_domain::snapshot::{Direction, SecurityGroupRule};
use serde_json::Value;
use sfn_local::{ExecutionResult, ExecutionStatus};

use crate::changes::{Actor, Changes, Made, Opening};
use crate::{ACCOUNT, Error, RegionStack, StackSpec};

/// What a group in the scenario should end up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Left alone, quietly: compliant.
    Untouched,
    /// Left alone, but announced once: an exemption is in force, and an
    /// exemption is never silent.
    Exempted,
    /// The opened rule is revoked.
    Revoked,
}

/// One group of the scenario and the change made to it.
#[derive(Debug, Clone)]
pub struct DemoGroup {
    pub label: &'static str,
    pub group_id: String,
    pub opening: Opening,
    pub expect: Expect,
    pub made: Made,
    pub made_at: DateTime<Utc>,
}

/// The scenario as played.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub vpc_id: String,
    pub groups: Vec<DemoGroup>,
    /// The label of the group whose event was delivered twice.
    pub duplicated: &'static str,
}

impl Scenario {
    /// How many executions the scenario starts: one per delivery.
    pub fn expected_executions(&self) -> usize {
        self.groups.len() + 1
    }
}

/// The exemption tag value that exempts SSH on the `exempt` group from
/// every rule it trips, until a date far away.
const EXEMPT_SSH: &str = "ec2-13-ssh-open:2099-12-31 ec2-18-tcp-unauthorized:2099-12-31 ec2-19-high-risk-ports:2099-12-31";

/// Where a scenario is played and read back: the account whose groups
/// change, and the central account's records table and notification inbox.
/// Locally both accounts are moto's one; on the Terraform-made stack the
/// groups are in a member account.
#[derive(Debug, Clone)]
pub struct Site {
    pub region: String,
    /// The account that owns the groups.
    pub account: String,
    /// Credentials in that account, for EC2 and its Security Hub.
    pub member: SdkConfig,
    /// Credentials in the central account, for the records table and the
    /// notification inbox.
    pub central: SdkConfig,
    pub records_table: String,
    /// The SQS queue subscribed to the notification topic.
    pub notification_inbox_url: String,
}

impl RegionStack {
    /// This region of the local stack as a scenario's site.
    pub fn site(&self, spec: &StackSpec) -> Site {
        Site {
            region: self.region().to_owned(),
            account: ACCOUNT.to_owned(),
            member: self.config.clone(),
            central: self.config.clone(),
            records_table: spec.records_table.clone(),
            notification_inbox_url: self.resources.notification_inbox_url.clone(),
        }
    }
}

/// Plays the scenario in one region of the local stack, every event put on
/// its default bus.
pub async fn play(stack: &RegionStack) -> Result<Scenario, Error> {
    play_with(&Changes::new(stack)).await
}

/// Sets up a VPC with five groups, makes one change to each as an engineer
/// would, and delivers one of the events twice (if `changes` delivers).
pub async fn play_with(changes: &Changes) -> Result<Scenario, Error> {
    let alice = Actor::developer("alice");
    let vpc_id = changes.create_vpc("10.20.0.0/16").await?;
    let plan: [(&'static str, Opening, Expect, Option<&str>); 5] = [
        (
            "web",
            Opening::tcp(443, "0.0.0.0/0"),
            Expect::Untouched,
            None,
        ),
        ("ssh", Opening::tcp(22, "0.0.0.0/0"), Expect::Revoked, None),
        ("rdp", Opening::tcp(3389, "::/0"), Expect::Revoked, None),
        (
            "wide-open",
            Opening::all_traffic("0.0.0.0/0"),
            Expect::Revoked,
            None,
        ),
        (
            "exempt",
            Opening::tcp(22, "0.0.0.0/0"),
            Expect::Exempted,
            Some(EXEMPT_SSH),
        ),
    ];
    let mut groups = Vec::new();
    for (label, opening, expect, exemption) in plan {
        let tags: BTreeMap<String, String> = exemption
            .map(|value| BTreeMap::from([("moat:exempt".to_owned(), value.to_owned())]))
            .unwrap_or_default();
        let group_id = changes.existing_group(&vpc_id, label, &tags).await?;
        let made_at = Utc::now();
        let made = changes
            .authorize_ingress(&alice, &group_id, &opening)
            .await?;
        groups.push(DemoGroup {
            label,
            group_id,
            opening,
            expect,
            made,
            made_at,
        });
    }
    let duplicated = "ssh";
    let again = groups
        .iter()
        .find(|group| group.label == duplicated)
        .expect("the ssh group is in the plan");
    changes.deliver_again(&again.made).await?;
    Ok(Scenario {
        vpc_id,
        groups,
        duplicated,
    })
}

/// How long one state of an execution took.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTime {
    pub name: String,
    pub milliseconds: i64,
}

/// The states an execution went through, with durations, as the console's
/// event view shows them: from each `*StateEntered` to its `*StateExited`.
pub fn timeline(result: &ExecutionResult) -> Vec<StateTime> {
    let mut entered: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut states = Vec::new();
    for event in &result.events {
        let name = event
            .details
            .as_ref()
            .and_then(|details| details.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(name) = name else { continue };
        if event.event_type.ends_with("StateEntered") {
            entered.insert(name, event.timestamp);
        } else if event.event_type.ends_with("StateExited")
            && let Some(start) = entered.remove(&name)
        {
            states.push(StateTime {
                milliseconds: (event.timestamp - start).num_milliseconds(),
                name,
            });
        }
    }
    states
}

/// The change event id an execution was started for.
pub fn event_id_of(result: &ExecutionResult) -> Option<String> {
    let input: Value = serde_json::from_str(&result.description.input).ok()?;
    input
        .pointer("/detail/eventID")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// When an execution ended, unless its stop date is not RFC 3339.
pub fn stopped_at(result: &ExecutionResult) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&result.description.stop_date)
        .ok()
        .map(|stop| stop.with_timezone(&Utc))
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The group's label in the scenario.
    pub group: String,
    pub group_id: String,
    pub violation: String,
    pub action: String,
    pub rules_before: usize,
    pub rules_after: usize,
    pub backup_id: String,
    pub notifications: usize,
}

/// One verified claim about the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub claim: String,
    pub passed: bool,
    pub detail: String,
}

/// What the demo found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    /// Per change: from the API call to the end of its first execution.
    pub latencies_ms: Vec<(String, i64)>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }
}

/// Checks the outcome in one region of the local stack.
pub async fn verify(
    stack: &RegionStack,
    spec: &StackSpec,
    scenario: &Scenario,
    results: &[ExecutionResult],
) -> Result<Outcome, Error> {
    verify_at(&stack.site(spec), scenario, results).await
}

/// Checks the outcome against AWS itself (moto), the records table and the
/// notification inbox, not against what the executions claim.
pub async fn verify_at(
    site: &Site,
    scenario: &Scenario,
    results: &[ExecutionResult],
) -> Result<Outcome, Error> {
    let collected = collect(site, scenario).await?;
    Ok(judge(scenario, results, &collected))
}

/// What the run left behind, read from moto: the plain data that the
/// summary and the checks are made from.
#[derive(Debug, Clone, Default)]
struct Collected {
    /// The body of every notification that reached the inbox.
    notifications: Vec<Value>,
    /// Every Security Hub finding.
    findings: Vec<HubFinding>,
    /// What EC2 and the records table hold for each group, by group id.
    groups: BTreeMap<String, Stored>,
}

/// A Security Hub finding, reduced to what the checks read.
#[derive(Debug, Clone, Default)]
struct HubFinding {
    /// The ids (ARNs) of the resources it is about.
    resource_ids: Vec<String>,
    /// Its workflow status, such as `NEW` or `RESOLVED`, when it has one.
    workflow_status: Option<String>,
}

/// One group as EC2 and the records table hold it after the run.
#[derive(Debug, Clone, Default)]
struct Stored {
    /// Its rules now.
    rules: Vec<SecurityGroupRule>,
    /// Its backups, oldest change first.
    backups: Vec<Backup>,
}

/// A backup, reduced to what the checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Backup {
    backup_id: String,
    /// The ids of the rules the group had when it was backed up.
    rule_ids: Vec<String>,
}

impl From<BackupRecord> for Backup {
    fn from(record: BackupRecord) -> Backup {
        Backup {
            backup_id: record.backup_id,
            rule_ids: record
                .snapshot
                .rules
                .into_iter()
                .map(|rule| rule.rule_id)
                .collect(),
        }
    }
}

/// Reads the notification inbox, Security Hub, EC2 and the records table.
async fn collect(site: &Site, scenario: &Scenario) -> Result<Collected, Error> {
    Ok(Collected {
        notifications: notification_bodies(site).await?,
        findings: hub_findings(site).await?,
        groups: stored_groups(site, scenario).await?,
    })
}

/// Every notification in the inbox, as the bodies Moat published. They
/// arrive through SNS -> SQS, so this reads until the inbox is dry.
pub async fn notification_bodies(site: &Site) -> Result<Vec<Value>, Error> {
    let mut envelopes: Vec<Value> = Vec::new();
    loop {
        let batch =
            crate::take_messages(&site.central, &site.region, &site.notification_inbox_url, 1)
                .await?;
        if batch.is_empty() {
            break;
        }
        envelopes.extend(batch);
    }
    Ok(envelopes
        .iter()
        .filter_map(|envelope| envelope.get("Message").and_then(Value::as_str))
        .filter_map(|message| serde_json::from_str(message).ok())
        .collect())
}

async fn hub_findings(site: &Site) -> Result<Vec<HubFinding>, Error> {
    let client = aws_sdk_securityhub::Client::new(&site.member);
    // In a debug build the SDK's deserializer of ASFF findings takes about
    // 1.8 MB of stack, nearly all of a test thread's 2 MiB, so under the
    // caller's futures it overflows. A task of its own runs it from the top
    // of a runtime thread's stack instead.
    let findings = tokio::spawn(async move { client.get_findings().send().await })
        .await
        .map_err(|error| crate::aws_error("GetFindings", &site.region, error))?
        .map_err(|error| crate::aws_error("GetFindings", &site.region, error))?
        .findings
        .unwrap_or_default();
    Ok(findings
        .iter()
        .map(|finding| HubFinding {
            resource_ids: finding
                .resources()
                .iter()
                .filter_map(|resource| resource.id())
                .map(str::to_owned)
                .collect(),
            workflow_status: finding
                .workflow()
                .and_then(|workflow| workflow.status())
                .map(|status| status.as_str().to_owned()),
        })
        .collect())
}

/// Each scenario group's rules now and its backups. A group that is gone
/// from EC2 is an error: nothing in the scenario deletes one.
async fn stored_groups(
    site: &Site,
    scenario: &Scenario,
) -> Result<BTreeMap<String, Stored>, Error> {
    let member = Aws::from_sdk_config(site.member.clone());
    let groups = Ec2SecurityGroups::new(Accounts::new(&member, MemberAccess::default()));
    let records = DynamoRecords::new(
        &Aws::from_sdk_config(site.central.clone()),
        &site.records_table,
    );
    let mut stored = BTreeMap::new();
    for group in &scenario.groups {
        let now = groups
            .snapshot(&site.account, &site.region, &group.group_id)
            .await
            .map_err(|error| crate::aws_error("DescribeSecurityGroups", &site.region, error))?
            .ok_or_else(|| Error::Aws {
                operation: "DescribeSecurityGroups",
                region: site.region.clone(),
                message: format!("{} ({}) disappeared", group.group_id, group.label),
            })?;
        let backups = records
            .backups_of(&group.group_id)
            .await
            .map_err(|error| crate::aws_error("Query", &site.region, error))?;
        stored.insert(
            group.group_id.clone(),
            Stored {
                rules: now.rules,
                backups: backups.into_iter().map(Backup::from).collect(),
            },
        );
    }
    Ok(stored)
}

/// Builds the summary and makes every check from what was collected.
fn judge(scenario: &Scenario, results: &[ExecutionResult], collected: &Collected) -> Outcome {
    let mut checks = vec![check_executions(scenario.expected_executions(), results)];
    let mut rows = Vec::new();
    let mut latencies_ms = Vec::new();
    for group in &scenario.groups {
        let outcome = collected.outcome_of(group, results);
        rows.push(row(group, &outcome));
        if let Some(stop) = outcome.runs.first_stop {
            latencies_ms.push((
                group.label.to_owned(),
                (stop - group.made_at).num_milliseconds(),
            ));
        }
        checks.extend(match group.expect {
            Expect::Revoked => check_revoked(group, &outcome),
            Expect::Untouched => check_untouched(group, &outcome),
            Expect::Exempted => check_exempted(group, &outcome),
        });
        if group.label == scenario.duplicated {
            checks.push(check_duplicate(group, &outcome));
        }
    }
    Outcome {
        rows,
        checks,
        latencies_ms,
    }
}

/// One group's outcome: what AWS and the records table hold for it, and
/// what its executions reported.
#[derive(Debug, Clone, Default)]
struct GroupOutcome {
    stored: Stored,
    /// How many notifications are about the group's change.
    notifications: usize,
    /// The workflow states of the group's Security Hub findings.
    finding_states: Vec<String>,
    runs: Runs,
}

impl GroupOutcome {
    /// Whether any rule the change opened is still in EC2.
    fn still_open(&self, opened: &[String]) -> bool {
        opened
            .iter()
            .any(|id| self.stored.rules.iter().any(|rule| rule.rule_id == *id))
    }
}

impl Collected {
    fn outcome_of(&self, group: &DemoGroup, results: &[ExecutionResult]) -> GroupOutcome {
        let event_id = group.made.event_id();
        GroupOutcome {
            // `collect` reads every scenario group or fails, so the default
            // (no rules, no backups) is never used for a scenario group.
            stored: self
                .groups
                .get(&group.group_id)
                .cloned()
                .unwrap_or_default(),
            notifications: notifications_about(&self.notifications, event_id),
            finding_states: finding_states_of(&self.findings, &group.group_id),
            runs: runs_of(results, event_id),
        }
    }
}

/// How many notification bodies announce the change with this event id.
pub fn notifications_about(bodies: &[Value], event_id: &str) -> usize {
    bodies
        .iter()
        .filter(|body| body.pointer("/change/eventId").and_then(Value::as_str) == Some(event_id))
        .count()
}

/// The workflow states of the findings about a group. A finding names the
/// group by ARN, which ends with the group id.
fn finding_states_of(findings: &[HubFinding], group_id: &str) -> Vec<String> {
    findings
        .iter()
        .filter(|finding| finding.resource_ids.iter().any(|id| id.ends_with(group_id)))
        .filter_map(|finding| finding.workflow_status.clone())
        .collect()
}

/// What the executions of one change reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Runs {
    /// How many executions ran for the change: two for a duplicate delivery.
    executions: usize,
    /// The first execution's verdict, `none` when no execution had output.
    verdict: String,
    /// The first control of each finding of the first execution, without
    /// repeats.
    controls: Vec<String>,
    /// How many exempted rules the first execution reported.
    exempted: usize,
    /// How many rules were revoked, over every execution.
    revoked: usize,
    /// When the first of the executions ended.
    first_stop: Option<DateTime<Utc>>,
}

/// Reads the executions started for one change. The verdict and findings
/// come from the first execution with output, because a duplicate delivery
/// judges the same change again.
fn runs_of(results: &[ExecutionResult], event_id: &str) -> Runs {
    let executions: Vec<&ExecutionResult> = results
        .iter()
        .filter(|result| event_id_of(result).as_deref() == Some(event_id))
        .collect();
    let outputs: Vec<Value> = executions
        .iter()
        .filter_map(|result| result.output())
        .collect();
    let first = outputs.first().unwrap_or(&Value::Null);
    let controls = array_at(first, "/evaluation/findings")
        .iter()
        .filter_map(|finding| finding.pointer("/controls/0").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    Runs {
        executions: executions.len(),
        verdict: first
            .pointer("/evaluation/verdict")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_owned(),
        controls: dedup(controls),
        exempted: array_at(first, "/evaluation/exempted").len(),
        revoked: outputs
            .iter()
            .map(|output| array_at(output, "/remediation/revoked").len())
            .sum(),
        first_stop: executions.iter().copied().filter_map(stopped_at).min(),
    }
}

/// The array at `pointer`, or none when the value has no array there.
fn array_at<'v>(value: &'v Value, pointer: &str) -> &'v [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn row(group: &DemoGroup, outcome: &GroupOutcome) -> Row {
    let Stored { rules, backups } = &outcome.stored;
    // The backup holds the group as remediation found it; a group without
    // one was never changed, so its rules now are its rules then.
    let rules_before = backups
        .first()
        .map_or(rules.len(), |backup| backup.rule_ids.len());
    Row {
        group: group.label.to_owned(),
        group_id: group.group_id.clone(),
        violation: violation(&group.opening, &outcome.runs),
        action: action(&outcome.runs),
        rules_before,
        rules_after: rules.len(),
        backup_id: backups
            .first()
            .map(|backup| backup.backup_id.clone())
            .unwrap_or_else(|| "-".into()),
        notifications: outcome.notifications,
    }
}

/// What the opening is and why it was or was not a violation.
fn violation(opening: &Opening, runs: &Runs) -> String {
    let why = if let Some((first, more)) = runs.controls.split_first() {
        // The first control and how many more, so the summary fits 100
        // columns; the notification lists them all.
        match more.len() {
            0 => first.clone(),
            n => format!("{first} +{n} more"),
        }
    } else if runs.exempted > 0 {
        "exempted".to_owned()
    } else {
        "allowed".to_owned()
    };
    format!("{} ({why})", opening.describe())
}

/// What Moat did about the change.
fn action(runs: &Runs) -> String {
    match (runs.verdict.as_str(), runs.revoked) {
        (_, n) if n > 0 => format!("revoked {n}"),
        (_, _) if runs.exempted > 0 => "exempt, announced".to_owned(),
        (verdict, _) => format!("none ({verdict})"),
    }
}

fn check(claim: String, passed: bool, detail: String) -> Check {
    Check {
        claim,
        passed,
        detail,
    }
}

/// Every delivery started an execution, and every execution succeeded.
fn check_executions(expected: usize, results: &[ExecutionResult]) -> Check {
    let failed: Vec<String> = results
        .iter()
        .filter(|result| result.description.status != ExecutionStatus::Succeeded)
        .map(|result| {
            let description = &result.description;
            format!(
                "{} {:?} {:?}",
                description.name, description.status, description.error
            )
        })
        .collect();
    check(
        format!("all {expected} executions succeeded"),
        failed.is_empty() && results.len() == expected,
        if failed.is_empty() {
            format!("{} executions", results.len())
        } else {
            failed.join("; ")
        },
    )
}

/// A group whose opening breaks the policy: fixed, backed up first,
/// announced once, and its findings resolved.
fn check_revoked(group: &DemoGroup, outcome: &GroupOutcome) -> Vec<Check> {
    let label = group.label;
    let opened = &group.made.rule_ids;
    let Stored { rules, backups } = &outcome.stored;
    let count = outcome.notifications;
    let states = &outcome.finding_states;
    let rules_now: Vec<String> = rules
        .iter()
        .map(|rule| format!("{} {}", direction_word(rule.direction), rule.describe()))
        .collect();
    vec![
        check(
            format!("{label}: the opened rule is revoked in EC2"),
            !outcome.still_open(opened),
            format!("rules now: {}", rules_now.join(", ")),
        ),
        check(
            format!("{label}: one backup holds the rules as they were"),
            backups.len() == 1 && backups[0].rule_ids.iter().any(|id| opened.contains(id)),
            format!("{} backup(s)", backups.len()),
        ),
        check(
            format!("{label}: exactly one notification"),
            count == 1,
            format!("{count} received"),
        ),
        check(
            format!("{label}: its Security Hub findings are resolved"),
            !states.is_empty() && states.iter().all(|state| state == "RESOLVED"),
            format!("workflow states {states:?}"),
        ),
    ]
}

/// A group whose opening is allowed or exempted: left as it is, quietly.
fn check_untouched(group: &DemoGroup, outcome: &GroupOutcome) -> Vec<Check> {
    let label = group.label;
    let Stored { rules, backups } = &outcome.stored;
    let count = outcome.notifications;
    let states = &outcome.finding_states;
    vec![
        check(
            format!("{label}: untouched"),
            outcome.still_open(&group.made.rule_ids) && backups.is_empty(),
            format!(
                "{} rule(s), {} backup(s), verdict {}",
                rules.len(),
                backups.len(),
                outcome.runs.verdict
            ),
        ),
        check(
            format!("{label}: no notification"),
            count == 0,
            format!("{count} received"),
        ),
        check(
            format!("{label}: no Security Hub finding"),
            states.is_empty(),
            format!("workflow states {states:?}"),
        ),
    ]
}

/// A group whose opening is exempted: left as it is, no backup, and the
/// exemption announced exactly once.
fn check_exempted(group: &DemoGroup, outcome: &GroupOutcome) -> Vec<Check> {
    let label = group.label;
    let Stored { rules, backups } = &outcome.stored;
    let count = outcome.notifications;
    vec![
        check(
            format!("{label}: untouched"),
            outcome.still_open(&group.made.rule_ids) && backups.is_empty(),
            format!(
                "{} rule(s), {} backup(s), verdict {}",
                rules.len(),
                backups.len(),
                outcome.runs.verdict
            ),
        ),
        check(
            format!("{label}: the exemption is announced once"),
            count == 1 && outcome.runs.exempted > 0,
            format!("{count} received, {} exempted", outcome.runs.exempted),
        ),
    ]
}

/// The group whose event was delivered twice: both deliveries ran, but the
/// second found nothing left to do.
fn check_duplicate(group: &DemoGroup, outcome: &GroupOutcome) -> Check {
    let executions = outcome.runs.executions;
    let revoked = outcome.runs.revoked;
    let backups = outcome.stored.backups.len();
    let count = outcome.notifications;
    check(
        format!(
            "{}: the duplicate delivery ran but did not remediate twice",
            group.label
        ),
        executions == 2 && revoked == group.made.rule_ids.len() && backups == 1 && count == 1,
        format!(
            "{executions} executions, {revoked} rule(s) revoked in all, {backups} backup(s), {count} notification(s)"
        ),
    )
}

fn direction_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use moat_domain::snapshot::{Direction, Peer};
    use serde_json::json;
    use sfn_local::DescribeExecution;

    use super::*;

    const SSH_EVENT: &str = "event-ssh";

    fn rule(rule_id: &str) -> SecurityGroupRule {
        SecurityGroupRule {
            rule_id: rule_id.into(),
            direction: Direction::Ingress,
            ip_protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            peer: Peer::Ipv4 {
                cidr: "0.0.0.0/0".into(),
            },
            description: None,
            tags: BTreeMap::new(),
        }
    }

    fn group(label: &'static str, expect: Expect, event_id: &str) -> DemoGroup {
        let group_id = format!("sg-{label}");
        DemoGroup {
            label,
            group_id: group_id.clone(),
            opening: Opening::tcp(22, "0.0.0.0/0"),
            expect,
            made: Made {
                group_id,
                rule_ids: vec!["sgr-opened".into()],
                detail: json!({ "eventID": event_id }),
            },
            made_at: "2030-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn execution(name: &str, event_id: &str, output: Value, stop: &str) -> ExecutionResult {
        ExecutionResult {
            description: DescribeExecution {
                execution_arn: format!("arn:aws:states:us-east-1:{ACCOUNT}:execution:m:{name}"),
                state_machine_arn: format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:m"),
                name: name.into(),
                status: ExecutionStatus::Succeeded,
                start_date: "2030-01-01T00:00:00Z".into(),
                stop_date: stop.into(),
                input: json!({ "detail": { "eventID": event_id } }).to_string(),
                output: Some(output.to_string()),
                error: None,
                cause: None,
            },
            events: Vec::new(),
        }
    }

    fn remediated(revoked: usize) -> Value {
        json!({
            "evaluation": {
                "verdict": "remediate",
                "findings": [{ "controls": ["EC2.13"] }, { "controls": ["EC2.13", "EC2.18"] }],
                "exempted": [],
            },
            "remediation": { "revoked": vec!["sgr-opened"; revoked] },
        })
    }

    fn backup(rule_ids: &[&str]) -> Backup {
        Backup {
            backup_id: "backup-1".into(),
            rule_ids: rule_ids.iter().map(|id| (*id).to_owned()).collect(),
        }
    }

    /// A broken rule as Moat should leave it: revoked, one backup, one
    /// notification, resolved findings, and the duplicate delivery a no-op.
    fn fixed() -> GroupOutcome {
        GroupOutcome {
            stored: Stored {
                rules: vec![rule("sgr-egress")],
                backups: vec![backup(&["sgr-egress", "sgr-opened"])],
            },
            notifications: 1,
            finding_states: vec!["RESOLVED".into()],
            runs: Runs {
                executions: 2,
                verdict: "remediate".into(),
                revoked: 1,
                ..Runs::default()
            },
        }
    }

    /// An allowed rule as Moat should leave it: in place and unannounced.
    fn left_alone() -> GroupOutcome {
        GroupOutcome {
            stored: Stored {
                rules: vec![rule("sgr-opened")],
                backups: Vec::new(),
            },
            runs: Runs {
                executions: 1,
                verdict: "compliant".into(),
                ..Runs::default()
            },
            ..GroupOutcome::default()
        }
    }

    fn passed(checks: &[Check]) -> Vec<bool> {
        checks.iter().map(|check| check.passed).collect()
    }

    #[test]
    fn an_exempted_group_must_be_announced_once_and_left_open() {
        let exempt = group("exempt", Expect::Exempted, "event-exempt");
        let mut announced = left_alone();
        announced.runs.exempted = 1;
        announced.runs.verdict = "notify".into();
        announced.notifications = 1;
        assert_eq!(passed(&check_exempted(&exempt, &announced)), [true, true]);
        let mut silent = announced.clone();
        silent.notifications = 0;
        assert_eq!(passed(&check_exempted(&exempt, &silent)), [true, false]);
    }

    #[test]
    fn a_fixed_group_passes_every_revoked_check() {
        let checks = check_revoked(&group("ssh", Expect::Revoked, SSH_EVENT), &fixed());
        assert_eq!(passed(&checks), [true; 4], "{checks:#?}");
    }

    #[test]
    fn each_revoked_check_fails_on_its_own_fault() {
        let ssh = group("ssh", Expect::Revoked, SSH_EVENT);
        let mut still_open = fixed();
        still_open.stored.rules.push(rule("sgr-opened"));
        let mut two_backups = fixed();
        two_backups.stored.backups.push(backup(&["sgr-opened"]));
        let mut backup_without_the_rule = fixed();
        backup_without_the_rule.stored.backups = vec![backup(&["sgr-egress"])];
        let mut silent = fixed();
        silent.notifications = 0;
        let mut twice = fixed();
        twice.notifications = 2;
        let mut unresolved = fixed();
        unresolved.finding_states.push("NEW".into());
        let mut no_findings = fixed();
        no_findings.finding_states.clear();
        for (outcome, expected) in [
            (still_open, [false, true, true, true]),
            (two_backups, [true, false, true, true]),
            (backup_without_the_rule, [true, false, true, true]),
            (silent, [true, true, false, true]),
            (twice, [true, true, false, true]),
            (unresolved, [true, true, true, false]),
            (no_findings, [true, true, true, false]),
        ] {
            let checks = check_revoked(&ssh, &outcome);
            assert_eq!(passed(&checks), expected, "{outcome:#?}\n{checks:#?}");
        }
    }

    #[test]
    fn an_untouched_group_passes_and_each_fault_fails_its_check() {
        let web = group("web", Expect::Untouched, "event-web");
        let checks = check_untouched(&web, &left_alone());
        assert_eq!(passed(&checks), [true; 3], "{checks:#?}");

        let mut revoked = left_alone();
        revoked.stored.rules.clear();
        let mut backed_up = left_alone();
        backed_up.stored.backups.push(backup(&["sgr-opened"]));
        let mut announced = left_alone();
        announced.notifications = 1;
        let mut found = left_alone();
        found.finding_states.push("NEW".into());
        for (outcome, expected) in [
            (revoked, [false, true, true]),
            (backed_up, [false, true, true]),
            (announced, [true, false, true]),
            (found, [true, true, false]),
        ] {
            let checks = check_untouched(&web, &outcome);
            assert_eq!(passed(&checks), expected, "{outcome:#?}\n{checks:#?}");
        }
    }

    #[test]
    fn a_duplicate_delivery_must_run_twice_and_remediate_once() {
        let ssh = group("ssh", Expect::Revoked, SSH_EVENT);
        assert!(check_duplicate(&ssh, &fixed()).passed);

        let mut once = fixed();
        once.runs.executions = 1;
        let mut revoked_twice = fixed();
        revoked_twice.runs.revoked = 2;
        let mut two_backups = fixed();
        two_backups.stored.backups.push(backup(&["sgr-opened"]));
        let mut announced_twice = fixed();
        announced_twice.notifications = 2;
        for outcome in [once, revoked_twice, two_backups, announced_twice] {
            let check = check_duplicate(&ssh, &outcome);
            assert!(!check.passed, "{outcome:#?}\n{check:#?}");
        }
    }

    #[test]
    fn every_execution_must_run_and_succeed() {
        let results = vec![
            execution("one", "a", json!({}), "2030-01-01T00:00:01Z"),
            execution("two", "b", json!({}), "2030-01-01T00:00:01Z"),
        ];
        assert!(check_executions(2, &results).passed);

        let too_few = check_executions(3, &results);
        assert!(!too_few.passed, "{too_few:#?}");
        assert_eq!(too_few.detail, "2 executions");

        let mut failing = results.clone();
        failing[1].description.status = ExecutionStatus::Failed;
        failing[1].description.error = Some("Remediate failed".into());
        let failed = check_executions(2, &failing);
        assert!(!failed.passed, "{failed:#?}");
        assert_eq!(failed.detail, "two Failed Some(\"Remediate failed\")");
    }

    #[test]
    fn runs_are_read_from_the_executions_of_their_change_only() {
        let results = vec![
            execution("first", SSH_EVENT, remediated(1), "2030-01-01T00:00:02Z"),
            execution("other", "event-web", remediated(5), "2030-01-01T00:00:01Z"),
            execution("again", SSH_EVENT, remediated(0), "2030-01-01T00:00:03Z"),
        ];
        let runs = runs_of(&results, SSH_EVENT);
        assert_eq!(
            runs,
            Runs {
                executions: 2,
                verdict: "remediate".into(),
                controls: vec!["EC2.13".into()],
                exempted: 0,
                revoked: 1,
                first_stop: Some("2030-01-01T00:00:02Z".parse().unwrap()),
            }
        );
        assert_eq!(
            runs_of(&results, "event-none"),
            Runs {
                verdict: "none".into(),
                ..Runs::default()
            }
        );
    }

    #[test]
    fn notifications_and_findings_are_matched_to_their_group() {
        let bodies = [
            json!({ "change": { "eventId": SSH_EVENT } }),
            json!({ "change": { "eventId": "event-rdp" } }),
            json!({ "no": "change" }),
        ];
        assert_eq!(notifications_about(&bodies, SSH_EVENT), 1);
        assert_eq!(notifications_about(&bodies, "event-web"), 0);

        let finding = |group_id: &str, status: Option<&str>| HubFinding {
            resource_ids: vec![format!(
                "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{group_id}"
            )],
            workflow_status: status.map(str::to_owned),
        };
        let findings = [
            finding("sg-ssh", Some("RESOLVED")),
            finding("sg-rdp", Some("NEW")),
            finding("sg-ssh", None),
        ];
        assert_eq!(finding_states_of(&findings, "sg-ssh"), ["RESOLVED"]);
        assert!(finding_states_of(&findings, "sg-web").is_empty());
    }

    #[test]
    fn the_rules_left_are_named_with_their_direction() {
        let ssh = group("ssh", Expect::Revoked, SSH_EVENT);
        let mut outcome = fixed();
        outcome.stored.rules[0].direction = Direction::Egress;
        let checks = check_revoked(&ssh, &outcome);
        assert_eq!(
            checks[0].detail, "rules now: egress tcp/22 to 0.0.0.0/0",
            "{checks:?}"
        );
    }

    #[test]
    fn the_summary_row_says_what_was_found_and_done() {
        let ssh = group("ssh", Expect::Revoked, SSH_EVENT);
        let mut outcome = fixed();
        outcome.runs.controls = vec!["EC2.13".into(), "EC2.18".into()];
        assert_eq!(
            row(&ssh, &outcome),
            Row {
                group: "ssh".into(),
                group_id: "sg-ssh".into(),
                violation: "tcp/22 from 0.0.0.0/0 (EC2.13 +1 more)".into(),
                action: "revoked 1".into(),
                rules_before: 2,
                rules_after: 1,
                backup_id: "backup-1".into(),
                notifications: 1,
            }
        );

        let mut exempt = left_alone();
        exempt.runs.exempted = 1;
        let exempt_row = row(&group("exempt", Expect::Exempted, "e"), &exempt);
        assert_eq!(exempt_row.violation, "tcp/22 from 0.0.0.0/0 (exempted)");
        assert_eq!(exempt_row.action, "exempt, announced");
        assert_eq!((exempt_row.rules_before, exempt_row.rules_after), (1, 1));
        assert_eq!(exempt_row.backup_id, "-");

        let allowed = row(&group("web", Expect::Untouched, "w"), &left_alone());
        assert_eq!(allowed.violation, "tcp/22 from 0.0.0.0/0 (allowed)");
        assert_eq!(allowed.action, "none (compliant)");
    }

    #[test]
    fn judging_checks_every_group_and_fails_on_any_fault() {
        let ssh = group("ssh", Expect::Revoked, SSH_EVENT);
        let web = group("web", Expect::Untouched, "event-web");
        let scenario = Scenario {
            vpc_id: "vpc-1".into(),
            groups: vec![ssh, web],
            duplicated: "ssh",
        };
        let results = vec![
            execution("first", SSH_EVENT, remediated(1), "2030-01-01T00:00:02Z"),
            execution("again", SSH_EVENT, remediated(0), "2030-01-01T00:00:03Z"),
            execution(
                "web",
                "event-web",
                json!({ "evaluation": { "verdict": "compliant" } }),
                "2030-01-01T00:00:01Z",
            ),
        ];
        let collected = Collected {
            notifications: vec![json!({ "change": { "eventId": SSH_EVENT } })],
            findings: vec![HubFinding {
                resource_ids: vec!["arn:aws:ec2:us-east-1:1:security-group/sg-ssh".into()],
                workflow_status: Some("RESOLVED".into()),
            }],
            groups: BTreeMap::from([
                ("sg-ssh".to_owned(), fixed().stored),
                ("sg-web".to_owned(), left_alone().stored),
            ]),
        };
        let outcome = judge(&scenario, &results, &collected);
        assert!(outcome.passed(), "{:#?}", outcome.checks);
        // One for the executions, four for ssh, its duplicate, three for web.
        assert_eq!(outcome.checks.len(), 1 + 4 + 1 + 3);
        assert_eq!(outcome.rows.len(), 2);
        assert_eq!(
            outcome.latencies_ms,
            [("ssh".to_owned(), 2000), ("web".to_owned(), 1000)]
        );

        let mut announced_twice = collected.clone();
        announced_twice
            .notifications
            .push(json!({ "change": { "eventId": SSH_EVENT } }));
        let outcome = judge(&scenario, &results, &announced_twice);
        let failed: Vec<&str> = outcome
            .checks
            .iter()
            .filter(|check| !check.passed)
            .map(|check| check.claim.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "ssh: exactly one notification",
                "ssh: the duplicate delivery ran but did not remediate twice"
            ]
        );
    }
}
