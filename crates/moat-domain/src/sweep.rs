//! What a sweep writes: one [`SweepLine`] per security group it judged (the
//! JSON Lines object in the reports bucket) and one [`SweepSummary`] per
//! sweep (the records table item and the daily report's input).
//!
//! A sweep judges every group with the same policy engine and exemptions
//! as a change does; these types only say what it saw and what it started,
//! so the report, the DR commands and a person reading the bucket agree on
//! one shape.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::evaluation::{Evaluation, ExemptedFinding, ExpiredExemption, Finding, Verdict};

/// What the sweep did about one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SweepAction {
    /// Compliant and nothing open from earlier: nothing to do.
    Compliant,
    /// Compliant, with findings an earlier run left open: they are resolved.
    Resolved,
    /// A `notify` verdict: announced, nothing revoked.
    Notified,
    /// A remediation execution was started for it (backup first).
    RemediationStarted,
    /// A remediation execution of this sweep for this group already ran or
    /// runs: nothing started twice.
    AlreadyStarted,
    /// A `review` verdict: the remediation execution waits for a person.
    ReviewPending,
    /// `--dry-run` or a policy preview: judged, nothing started.
    WouldRemediate,
    /// Not judged: the group went away mid-sweep, or could not be read.
    Skipped,
}

impl SweepAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SweepAction::Compliant => "compliant",
            SweepAction::Resolved => "resolved",
            SweepAction::Notified => "notified",
            SweepAction::RemediationStarted => "remediationStarted",
            SweepAction::AlreadyStarted => "alreadyStarted",
            SweepAction::ReviewPending => "reviewPending",
            SweepAction::WouldRemediate => "wouldRemediate",
            SweepAction::Skipped => "skipped",
        }
    }
}

/// One group as the sweep judged it: a line of the sweep's JSON Lines file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepLine {
    pub sweep_id: String,
    pub account: String,
    pub region: String,
    pub group_id: String,
    #[serde(default)]
    pub group_name: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub exempted: Vec<ExemptedFinding>,
    #[serde(default)]
    pub expired_exemptions: Vec<ExpiredExemption>,
    pub action: SweepAction,
    /// The remediation execution started (or found) for this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// Why the group was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    pub judged_at: DateTime<Utc>,
}

impl SweepLine {
    /// The line for a judged group; `action` says what follows from it.
    pub fn judged(
        sweep_id: &str,
        group: GroupRef<'_>,
        evaluation: &Evaluation,
        action: SweepAction,
        judged_at: DateTime<Utc>,
    ) -> SweepLine {
        SweepLine {
            sweep_id: sweep_id.to_owned(),
            account: group.account.to_owned(),
            region: group.region.to_owned(),
            group_id: group.group_id.to_owned(),
            group_name: group.group_name.to_owned(),
            verdict: evaluation.verdict,
            findings: evaluation.findings.clone(),
            exempted: evaluation.exempted.clone(),
            expired_exemptions: evaluation.expired_exemptions.clone(),
            action,
            execution_arn: None,
            skip_reason: None,
            judged_at,
        }
    }
}

/// Where a group is, for [`SweepLine::judged`].
#[derive(Debug, Clone, Copy)]
pub struct GroupRef<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub group_id: &'a str,
    pub group_name: &'a str,
}

/// The name of the remediation execution a sweep starts for a group:
/// a re-run of the same sweep finds it instead of starting another.
/// Step Functions names are at most 80 characters of `[A-Za-z0-9-_]`.
pub fn remediation_execution_name(sweep_id: &str, group_id: &str) -> String {
    let name: String = format!("{sweep_id}-{group_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.chars().take(80).collect()
}

/// What one sweep saw, in numbers: the records table's sweep item and the
/// daily report's main input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    pub sweep_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub groups_scanned: usize,
    /// Groups with at least one finding (exempted ones not counted).
    pub violations: usize,
    /// Groups per action.
    pub actions: BTreeMap<String, usize>,
    /// Groups with a finding per control id (`EC2.13`, ...).
    pub by_control: BTreeMap<String, usize>,
    /// Groups judged per account, and how many of them had no finding.
    pub per_account: BTreeMap<String, AccountCounts>,
}

/// One account's share of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountCounts {
    pub groups: usize,
    pub compliant: usize,
}

impl SweepSummary {
    /// Counts `lines` into a summary.
    pub fn of(sweep_id: &str, lines: &[SweepLine]) -> SweepSummary {
        let mut summary = SweepSummary {
            sweep_id: sweep_id.to_owned(),
            started_at: lines.iter().map(|line| line.judged_at).min(),
            finished_at: lines.iter().map(|line| line.judged_at).max(),
            ..SweepSummary::default()
        };
        for line in lines {
            summary.add(line);
        }
        summary
    }

    fn add(&mut self, line: &SweepLine) {
        *self
            .actions
            .entry(line.action.as_str().to_owned())
            .or_default() += 1;
        if line.action == SweepAction::Skipped {
            return;
        }
        self.groups_scanned += 1;
        let account = self.per_account.entry(line.account.clone()).or_default();
        account.groups += 1;
        if line.findings.is_empty() {
            account.compliant += 1;
            return;
        }
        self.violations += 1;
        let controls: std::collections::BTreeSet<&String> = line
            .findings
            .iter()
            .filter_map(|finding| finding.controls.first())
            .collect();
        for control in controls {
            *self.by_control.entry(control.clone()).or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::{Action, Severity};

    fn line(group: &str, account: &str, controls: &[&str], action: SweepAction) -> SweepLine {
        let findings: Vec<Finding> = controls
            .iter()
            .map(|control| Finding {
                policy_rule_id: "r".into(),
                title: "t".into(),
                controls: vec![(*control).into()],
                severity: Severity::High,
                action: Action::Remediate,
                security_group_rule_ids: vec!["sgr-1".into()],
                reason: "why".into(),
            })
            .collect();
        let evaluation = Evaluation::from_findings(findings);
        let at = "2026-12-01T02:00:00Z".parse().unwrap();
        let group = GroupRef {
            account,
            region: "us-east-1",
            group_id: group,
            group_name: "g",
        };
        SweepLine::judged("sweep-1", group, &evaluation, action, at)
    }

    #[test]
    fn a_summary_counts_groups_violations_controls_and_accounts() {
        let lines = [
            line(
                "sg-1",
                "111111111111",
                &["EC2.13", "EC2.13"],
                SweepAction::RemediationStarted,
            ),
            line("sg-2", "111111111111", &[], SweepAction::Compliant),
            line(
                "sg-3",
                "222222222222",
                &["EC2.14"],
                SweepAction::ReviewPending,
            ),
            line("sg-4", "222222222222", &[], SweepAction::Skipped),
        ];
        let summary = SweepSummary::of("sweep-1", &lines);
        assert_eq!(summary.groups_scanned, 3, "a skipped group was not scanned");
        assert_eq!(summary.violations, 2);
        assert_eq!(summary.by_control["EC2.13"], 1, "one group, counted once");
        assert_eq!(summary.by_control["EC2.14"], 1);
        assert_eq!(
            summary.per_account["111111111111"],
            AccountCounts {
                groups: 2,
                compliant: 1
            }
        );
        assert_eq!(summary.actions["skipped"], 1);
    }

    #[test]
    fn execution_names_are_valid_and_stable() {
        let name = remediation_execution_name("sweep-2026-12-01T02:00Z", "sg-0123");
        assert_eq!(name, "sweep-2026-12-01T02-00Z-sg-0123");
        assert!(remediation_execution_name(&"x".repeat(100), "sg-1").len() <= 80);
    }

    #[test]
    fn a_line_round_trips_as_one_json_line() {
        let text = serde_json::to_string(&line(
            "sg-1",
            "1",
            &["EC2.13"],
            SweepAction::RemediationStarted,
        ))
        .unwrap();
        assert!(!text.contains('\n'));
        let back: SweepLine = serde_json::from_str(&text).unwrap();
        assert_eq!(back.action, SweepAction::RemediationStarted);
        assert!(text.contains("\"action\":\"remediationStarted\""), "{text}");
    }
}
