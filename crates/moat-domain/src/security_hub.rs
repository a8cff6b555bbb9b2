//! Security Hub findings in the AWS Security Finding Format (ASFF), one per
//! policy rule a group broke, so Moat's judgements sit beside AWS's own
//! controls in the Security Hub console.
//!
//! A finding's id is stable per account, region, group and policy rule, so
//! importing again updates the same finding: it is `NEW` and `FAILED` while
//! the rule is broken, and `RESOLVED` and `PASSED` once Moat has revoked the
//! offending rules.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::partition_of;
use crate::evaluation::{Evaluation, Finding, Severity};
use crate::event::Change;
use crate::notification::truncate;
use crate::records::RemediationOutcome;
use crate::snapshot::GroupSnapshot;

/// The ASFF version Security Hub accepts.
pub const SCHEMA_VERSION: &str = "2018-10-08";

/// ASFF limits `Description` to 1024 characters.
const MAX_DESCRIPTION: usize = 1024;

/// The fields of one ASFF finding that Moat fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityHubFinding {
    pub id: String,
    /// The account's default product ARN, which accepts custom findings.
    pub product_arn: String,
    pub generator_id: String,
    pub account: String,
    pub region: String,
    pub types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `CRITICAL`, `HIGH`, `MEDIUM` or `LOW`.
    pub severity_label: String,
    pub title: String,
    pub description: String,
    /// `arn:<partition>:ec2:<region>:<account>:security-group/<id>`.
    pub resource_arn: String,
    pub partition: String,
    /// `PASSED` or `FAILED`.
    pub compliance_status: String,
    /// Control ids, such as `EC2.13`.
    pub related_requirements: Vec<String>,
    /// `NEW` or `RESOLVED`.
    pub workflow_status: String,
    pub recommendation: String,
}

/// The findings for one judged change: one per policy finding.
pub fn findings_for(
    change: &Change,
    group: &GroupSnapshot,
    evaluation: &Evaluation,
    outcome: Option<&RemediationOutcome>,
    now: DateTime<Utc>,
) -> Vec<SecurityHubFinding> {
    let partition = partition_of(&group.region);
    let time = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    evaluation
        .findings
        .iter()
        .map(|finding| {
            let fixed = outcome.is_some_and(|outcome| {
                !outcome.dry_run
                    && finding
                        .security_group_rule_ids
                        .iter()
                        .all(|id| outcome.after.rule(id).is_none())
            });
            SecurityHubFinding {
                id: format!(
                    "moat/{}/{}/{}/{}",
                    group.account, group.region, group.group_id, finding.policy_rule_id
                ),
                product_arn: format!(
                    "arn:{partition}:securityhub:{}:{}:product/{}/default",
                    group.region, group.account, group.account
                ),
                generator_id: format!("moat/{}", finding.policy_rule_id),
                account: group.account.clone(),
                region: group.region.clone(),
                types: vec!["Software and Configuration Checks/AWS Security Best Practices".into()],
                created_at: time.clone(),
                updated_at: time.clone(),
                severity_label: label(finding.severity).into(),
                title: finding.title.clone(),
                description: truncate(&description(change, group, finding, fixed), MAX_DESCRIPTION),
                resource_arn: format!(
                    "arn:{partition}:ec2:{}:{}:security-group/{}",
                    group.region, group.account, group.group_id
                ),
                partition: partition.into(),
                compliance_status: if fixed { "PASSED" } else { "FAILED" }.into(),
                related_requirements: finding.controls.clone(),
                workflow_status: if fixed { "RESOLVED" } else { "NEW" }.into(),
                recommendation: format!(
                    "Remove {} from {} or exempt it with a dated moat:exempt tag.",
                    finding.security_group_rule_ids.join(", "),
                    group.group_id
                ),
            }
        })
        .collect()
}

/// The findings an earlier judgement of the group left open that this
/// judgement no longer raises, updated to resolved: the offending rule was
/// removed, changed or exempted since, or the group became compliant.
pub fn resolved_since(
    open_before: &[SecurityHubFinding],
    raised_now: &[SecurityHubFinding],
    change: &Change,
    now: DateTime<Utc>,
) -> Vec<SecurityHubFinding> {
    let time = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    open_before
        .iter()
        .filter(|open| raised_now.iter().all(|raised| raised.id != open.id))
        .map(|open| SecurityHubFinding {
            updated_at: time.clone(),
            compliance_status: "PASSED".into(),
            workflow_status: "RESOLVED".into(),
            description: truncate(
                &format!(
                    "No longer found after {} by {}. Earlier: {}",
                    change.event_name, change.actor, open.description
                ),
                MAX_DESCRIPTION,
            ),
            ..open.clone()
        })
        .collect()
}

/// The findings still open (`FAILED`) among those imported.
pub fn still_open(findings: &[SecurityHubFinding]) -> Vec<SecurityHubFinding> {
    findings
        .iter()
        .filter(|finding| finding.compliance_status == "FAILED")
        .cloned()
        .collect()
}

fn description(change: &Change, group: &GroupSnapshot, finding: &Finding, fixed: bool) -> String {
    let outcome = if fixed {
        "Moat revoked the offending rules; the group's backup holds them."
    } else {
        "The offending rules are still in place."
    };
    format!(
        "{} on {} ({}) after {} by {}. {outcome}",
        finding.reason, group.group_id, group.group_name, change.event_name, change.actor
    )
}

fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::Action;
    use crate::records::tests::{change, snapshot};

    fn ssh(ids: &[&str]) -> Finding {
        Finding {
            policy_rule_id: "ec2-13-ssh-open".into(),
            title: "SSH from the internet".into(),
            controls: vec!["EC2.13".into(), "CIS AWS 1.2.0 4.1".into()],
            severity: Severity::High,
            action: Action::Remediate,
            security_group_rule_ids: ids.iter().map(|id| id.to_string()).collect(),
            reason: "tcp/22 open to 0.0.0.0/0 (EC2.13)".into(),
        }
    }

    fn outcome(after: &[&str]) -> RemediationOutcome {
        RemediationOutcome {
            group_id: "sg-1".into(),
            planned: vec!["sgr-22".into()],
            revoked: vec!["sgr-22".into()],
            already_gone: vec![],
            deferred: vec![],
            dry_run: false,
            backup_id: "sg-1/evt-1".into(),
            after: snapshot(after),
            finished_at: "2026-11-20T09:14:07Z".parse().unwrap(),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-20T09:15:00Z".parse().unwrap()
    }

    #[test]
    fn a_remediated_finding_is_resolved_and_passed() {
        let evaluation = Evaluation::from_findings(vec![ssh(&["sgr-22"])]);
        let findings = findings_for(
            &change(),
            &snapshot(&["sgr-22"]),
            &evaluation,
            Some(&outcome(&["sgr-443"])),
            now(),
        );
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(
            finding.id,
            "moat/210987654321/us-east-1/sg-1/ec2-13-ssh-open"
        );
        assert_eq!(
            finding.product_arn,
            "arn:aws:securityhub:us-east-1:210987654321:product/210987654321/default"
        );
        assert_eq!(
            finding.resource_arn,
            "arn:aws:ec2:us-east-1:210987654321:security-group/sg-1"
        );
        assert_eq!(
            (
                finding.compliance_status.as_str(),
                finding.workflow_status.as_str()
            ),
            ("PASSED", "RESOLVED")
        );
        assert_eq!(finding.severity_label, "HIGH");
        assert_eq!(finding.related_requirements[0], "EC2.13");
        assert_eq!(finding.created_at, "2026-11-20T09:15:00.000Z");
    }

    #[test]
    fn a_finding_left_open_is_resolved_once_no_longer_raised() {
        let evaluation = Evaluation::from_findings(vec![ssh(&["sgr-22"])]);
        let open = findings_for(&change(), &snapshot(&["sgr-22"]), &evaluation, None, now());
        assert_eq!(still_open(&open), open);
        let later: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
        let resolved = resolved_since(&open, &[], &change(), later);
        assert_eq!(resolved.len(), 1);
        let finding = &resolved[0];
        assert_eq!(
            (
                finding.compliance_status.as_str(),
                finding.workflow_status.as_str()
            ),
            ("PASSED", "RESOLVED")
        );
        assert_eq!(finding.id, open[0].id);
        assert_eq!(finding.created_at, open[0].created_at);
        assert_eq!(finding.updated_at, "2026-11-21T10:00:00.000Z");
        assert!(still_open(&resolved).is_empty());
        assert!(
            resolved_since(&open, &open, &change(), later).is_empty(),
            "a finding raised again stays open"
        );
    }

    #[test]
    fn a_finding_left_in_place_is_new_and_failed() {
        let evaluation = Evaluation::from_findings(vec![ssh(&["sgr-22"])]);
        let findings = findings_for(&change(), &snapshot(&["sgr-22"]), &evaluation, None, now());
        assert_eq!(findings[0].compliance_status, "FAILED");
        assert_eq!(findings[0].workflow_status, "NEW");
        assert!(
            findings[0].description.contains("still in place"),
            "{}",
            findings[0].description
        );
    }

    #[test]
    fn a_dry_run_resolves_nothing() {
        let evaluation = Evaluation::from_findings(vec![ssh(&["sgr-22"])]);
        let mut dry = outcome(&["sgr-22"]);
        dry.dry_run = true;
        dry.revoked.clear();
        let findings = findings_for(
            &change(),
            &snapshot(&["sgr-22"]),
            &evaluation,
            Some(&dry),
            now(),
        );
        assert_eq!(findings[0].compliance_status, "FAILED");
    }

    #[test]
    fn descriptions_fit_asff() {
        assert_eq!(
            truncate(&"x".repeat(3000), MAX_DESCRIPTION).chars().count(),
            MAX_DESCRIPTION
        );
    }
}
