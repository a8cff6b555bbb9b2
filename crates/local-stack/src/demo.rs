//! The demo scenario: realistic security-group changes in one region, the
//! pipeline's executions, and the checks that prove Moat did the right
//! thing. `cargo xtask demo` prints it; the end-to-end tests assert it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use moat_aws::ec2::{Ec2SecurityGroups, SecurityGroups};
use moat_aws::records::{DynamoRecords, Records};
use moat_aws::{Accounts, MemberAccess};
use serde_json::Value;
use sfn_local::{ExecutionResult, ExecutionStatus};

use crate::changes::{Actor, Changes, Made, Opening};
use crate::{ACCOUNT, Error, RegionStack, StackSpec};

/// What a group in the scenario should end up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Left alone: compliant or exempted.
    Untouched,
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

/// Sets up a VPC with five groups, makes one change to each as an engineer
/// would, and delivers one of the events twice.
pub async fn play(stack: &RegionStack) -> Result<Scenario, Error> {
    let changes = Changes::new(stack);
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
            Expect::Untouched,
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

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub group: String,
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

/// Checks the outcome against AWS itself (moto), the records table and the
/// notification inbox, not against what the executions claim.
pub async fn verify(
    stack: &RegionStack,
    spec: &StackSpec,
    scenario: &Scenario,
    results: &[ExecutionResult],
) -> Result<Outcome, Error> {
    let groups =
        Ec2SecurityGroups::new(Accounts::new(stack.config.clone(), MemberAccess::default()));
    let records = DynamoRecords::new(
        moat_aws::dynamodb::Client::new(&stack.config),
        &spec.records_table,
    );
    // Notifications arrive through SNS -> SQS; read until the inbox is dry.
    let mut notifications: Vec<Value> = Vec::new();
    loop {
        let batch = stack.take_notifications(1).await?;
        if batch.is_empty() {
            break;
        }
        notifications.extend(batch);
    }
    let notified = |event_id: &str| {
        notifications
            .iter()
            .filter_map(|envelope| envelope.get("Message").and_then(Value::as_str))
            .filter_map(|message| serde_json::from_str::<Value>(message).ok())
            .filter(|body| {
                body.pointer("/change/eventId").and_then(Value::as_str) == Some(event_id)
            })
            .count()
    };

    let hub_findings = moat_aws::securityhub::Client::new(&stack.config)
        .get_findings()
        .send()
        .await
        .map_err(|error| stack.aws_error("GetFindings", error))?
        .findings
        .unwrap_or_default();
    let hub_states = |group_id: &str| -> Vec<String> {
        hub_findings
            .iter()
            .filter(|finding| {
                finding
                    .resources()
                    .iter()
                    .any(|resource| resource.id().is_some_and(|id| id.ends_with(group_id)))
            })
            .filter_map(|finding| {
                finding
                    .workflow()?
                    .status()
                    .map(|status| status.as_str().to_owned())
            })
            .collect()
    };

    let mut checks = Vec::new();
    let mut check = |claim: String, passed: bool, detail: String| {
        checks.push(Check {
            claim,
            passed,
            detail,
        })
    };

    let failed: Vec<_> = results
        .iter()
        .filter(|result| result.description.status != ExecutionStatus::Succeeded)
        .map(|result| {
            format!(
                "{} {:?} {:?}",
                result.description.name, result.description.status, result.description.error
            )
        })
        .collect();
    check(
        format!(
            "all {} executions succeeded",
            scenario.expected_executions()
        ),
        failed.is_empty() && results.len() == scenario.expected_executions(),
        if failed.is_empty() {
            format!("{} executions", results.len())
        } else {
            failed.join("; ")
        },
    );

    let mut rows = Vec::new();
    let mut latencies_ms = Vec::new();
    for group in &scenario.groups {
        let event_id = group.made.event_id();
        let now = groups
            .snapshot(ACCOUNT, stack.region(), &group.group_id)
            .await
            .map_err(|error| stack.aws_error("DescribeSecurityGroups", error))?
            .ok_or_else(|| Error::Aws {
                operation: "DescribeSecurityGroups",
                region: stack.region().to_owned(),
                message: format!("{} ({}) disappeared", group.group_id, group.label),
            })?;
        let opened = &group.made.rule_ids;
        let still_open = opened.iter().any(|id| now.rule(id).is_some());
        let backups = records
            .backups_of(&group.group_id)
            .await
            .map_err(|error| stack.aws_error("Query", error))?;
        let count = notified(event_id);
        let executions: Vec<&ExecutionResult> = results
            .iter()
            .filter(|result| event_id_of(result).as_deref() == Some(event_id))
            .collect();
        let outputs: Vec<Value> = executions
            .iter()
            .filter_map(|result| result.output())
            .collect();
        let first_output = outputs.first().cloned().unwrap_or(Value::Null);
        let verdict = first_output
            .pointer("/evaluation/verdict")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_owned();
        let controls: Vec<String> = first_output
            .pointer("/evaluation/findings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|finding| {
                finding
                    .pointer("/controls/0")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        let exempted = first_output
            .pointer("/evaluation/exempted")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let violation = if !controls.is_empty() {
            format!(
                "{} ({})",
                describe(&group.opening),
                dedup(controls).join(", ")
            )
        } else if exempted > 0 {
            format!("{} (exempted)", describe(&group.opening))
        } else {
            format!("{} (allowed)", describe(&group.opening))
        };
        let revoked: usize = outputs
            .iter()
            .filter_map(|output| {
                output
                    .pointer("/remediation/revoked")
                    .and_then(Value::as_array)
            })
            .map(Vec::len)
            .sum();
        let action = match (verdict.as_str(), revoked) {
            (_, n) if n > 0 => format!("{verdict}: revoked {n}"),
            ("compliant", _) if exempted > 0 => "none (exempt)".to_owned(),
            (verdict, _) => format!("none ({verdict})"),
        };
        // The backup holds the group as remediation found it; a group
        // without one was never changed, so its rules now are its rules then.
        let rules_before = backups
            .first()
            .map_or(now.rules.len(), |backup| backup.snapshot.rules.len());
        rows.push(Row {
            group: format!("{} {}", group.label, group.group_id),
            violation,
            action,
            rules_before,
            rules_after: now.rules.len(),
            backup_id: backups
                .first()
                .map(|backup| backup.backup_id.clone())
                .unwrap_or_else(|| "-".into()),
            notifications: count,
        });
        if let Some(stop) = executions
            .iter()
            .filter_map(|result| DateTime::parse_from_rfc3339(&result.description.stop_date).ok())
            .min()
        {
            latencies_ms.push((
                group.label.to_owned(),
                (stop.with_timezone(&Utc) - group.made_at).num_milliseconds(),
            ));
        }

        match group.expect {
            Expect::Revoked => {
                check(
                    format!("{}: the opened rule is revoked in EC2", group.label),
                    !still_open,
                    format!(
                        "rules now: {}",
                        now.rules
                            .iter()
                            .map(|rule| rule.describe())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                check(
                    format!("{}: one backup holds the rules as they were", group.label),
                    backups.len() == 1
                        && backups[0]
                            .snapshot
                            .rules
                            .iter()
                            .any(|rule| opened.contains(&rule.rule_id)),
                    format!("{} backup(s)", backups.len()),
                );
                check(
                    format!("{}: exactly one notification", group.label),
                    count == 1,
                    format!("{count} received"),
                );
                let states = hub_states(&group.group_id);
                check(
                    format!("{}: its Security Hub findings are resolved", group.label),
                    !states.is_empty() && states.iter().all(|state| state == "RESOLVED"),
                    format!("workflow states {states:?}"),
                );
            }
            Expect::Untouched => {
                check(
                    format!("{}: untouched", group.label),
                    still_open && backups.is_empty(),
                    format!(
                        "{} rule(s), {} backup(s), verdict {verdict}",
                        now.rules.len(),
                        backups.len()
                    ),
                );
                check(
                    format!("{}: no notification", group.label),
                    count == 0,
                    format!("{count} received"),
                );
                let states = hub_states(&group.group_id);
                check(
                    format!("{}: no Security Hub finding", group.label),
                    states.is_empty(),
                    format!("workflow states {states:?}"),
                );
            }
        }
        if group.label == scenario.duplicated {
            check(
                format!(
                    "{}: the duplicate delivery ran but did not remediate twice",
                    group.label
                ),
                executions.len() == 2
                    && revoked == opened.len()
                    && backups.len() == 1
                    && count == 1,
                format!(
                    "{} executions, {revoked} rule(s) revoked in all, {} backup(s), {count} notification(s)",
                    executions.len(),
                    backups.len()
                ),
            );
        }
    }
    Ok(Outcome {
        rows,
        checks,
        latencies_ms,
    })
}

fn describe(opening: &Opening) -> String {
    if opening.protocol == "-1" {
        format!("all traffic from {}", opening.cidr)
    } else {
        format!(
            "{}/{} from {}",
            opening.protocol, opening.from_port, opening.cidr
        )
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
