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
use crate::event::{SWEEP_INPUT_KEY, SweepFinding};
use crate::policy::{self, Policy};
use crate::snapshot::GroupSnapshot;

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
    /// `--dry-run` or a policy preview of a `review` verdict.
    WouldReview,
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
            SweepAction::WouldReview => "wouldReview",
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

/// Where a sweep's inventory goes in the reports bucket (the rest of the
/// layout is `report`'s).
pub fn inventory_key(sweep_id: &str) -> String {
    crate::report::sweep_key(sweep_id, "inventory.jsonl")
}

/// The prefix the Distributed Map's `ResultWriter` writes under; the sweep
/// state machine spells it with `States.Format` (a tidy test compares).
pub fn map_results_prefix(sweep_id: &str) -> String {
    crate::report::sweep_key(sweep_id, "map")
}

/// The `manifest.json` a Distributed Map's `ResultWriter` writes: where
/// the results of its child executions are, by how they ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapResultManifest {
    #[serde(default)]
    pub destination_bucket: String,
    #[serde(default)]
    pub map_run_arn: String,
    #[serde(default)]
    pub result_files: MapResultFiles,
}

/// The result files of a Map Run, by status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct MapResultFiles {
    #[serde(default)]
    pub succeeded: Vec<MapResultFile>,
    #[serde(default)]
    pub failed: Vec<MapResultFile>,
    #[serde(default)]
    pub pending: Vec<MapResultFile>,
}

/// One result file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapResultFile {
    pub key: String,
    #[serde(default)]
    pub size: u64,
}

/// One child execution in a result file: its status, and its output as
/// JSON text (absent for one that failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapChildResult {
    #[serde(default)]
    pub execution_arn: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// The lines in one result file's children's outputs: each child judged a
/// batch and handed back `{"lines": [...], ...}`.
pub fn lines_of_results(file_text: &str) -> Result<Vec<SweepLine>, crate::Error> {
    let children: Vec<MapChildResult> = serde_json::from_str(file_text)
        .map_err(|error| crate::Error::invalid("map result file", "$", error.to_string()))?;
    let mut lines = Vec::new();
    for (index, child) in children.iter().enumerate() {
        let Some(output) = &child.output else {
            continue;
        };
        #[derive(Deserialize)]
        struct Judged {
            lines: Vec<SweepLine>,
        }
        let judged: Judged = serde_json::from_str(output).map_err(|error| {
            crate::Error::invalid(
                "map result file",
                format!("$[{index}].Output"),
                error.to_string(),
            )
        })?;
        lines.extend(judged.lines);
    }
    Ok(lines)
}

/// One group to judge, as the sweep's inventory lists it (a line of the
/// inventory's JSON Lines file, which the Distributed Map reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepItem {
    pub snapshot: GroupSnapshot,
    /// The records table holds Security Hub findings an earlier run left
    /// open on the group, which a compliant judgement must resolve.
    #[serde(default)]
    pub open_findings: bool,
}

/// A remediation execution a sweep starts: its name and its input, and
/// whether the sweep waits for it. It waits for those that end on their
/// own, which paces the sweep to what the account's functions can take;
/// one that asks a person (a review) may wait a day, and is only started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepStart {
    pub name: String,
    pub input: serde_json::Value,
    pub waits: bool,
}

/// How a sweep judges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepOptions {
    pub sweep_id: String,
    /// Judge and report only: start nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Judges one group as a change would be judged (the same engine, the same
/// exemptions), and says what the sweep does about it: the line it
/// reports, and the remediation execution to start, if any. The execution
/// reads the group again before it acts, so a group changed or deleted
/// since the inventory is judged as it is then.
pub fn judge(
    policy: &Policy,
    item: &SweepItem,
    options: &SweepOptions,
    judged_at: DateTime<Utc>,
) -> (SweepLine, Option<SweepStart>) {
    let snapshot = &item.snapshot;
    let evaluation = policy::evaluate(policy, snapshot, judged_at.date_naive());
    let (action, starts) = action_for(evaluation.verdict, item.open_findings, options.dry_run);
    let group = GroupRef {
        account: &snapshot.account,
        region: &snapshot.region,
        group_id: &snapshot.group_id,
        group_name: &snapshot.group_name,
    };
    let line = SweepLine::judged(&options.sweep_id, group, &evaluation, action, judged_at);
    if !starts {
        return (line, None);
    }
    let name = remediation_execution_name(&options.sweep_id, &snapshot.group_id);
    let finding = SweepFinding {
        request_id: name.clone(),
        sweep_id: options.sweep_id.clone(),
        group_id: snapshot.group_id.clone(),
        account: snapshot.account.clone(),
        region: snapshot.region.clone(),
        judged_at,
    };
    let input = serde_json::json!({ SWEEP_INPUT_KEY: finding });
    let waits = !evaluation.needs_review();
    (line, Some(SweepStart { name, input, waits }))
}

/// What follows from a verdict, and whether a remediation execution runs
/// it: every verdict that changes or asks something, and a compliant group
/// whose earlier findings must be resolved. A `notify` verdict is reported
/// in the sweep's results only: announcing it again every day would teach
/// people to ignore the notifications.
fn action_for(verdict: Verdict, open_findings: bool, dry_run: bool) -> (SweepAction, bool) {
    let (action, starts) = match verdict {
        Verdict::Remediate | Verdict::Lockdown if dry_run => (SweepAction::WouldRemediate, false),
        Verdict::Remediate | Verdict::Lockdown => (SweepAction::RemediationStarted, true),
        Verdict::Review if dry_run => (SweepAction::WouldReview, false),
        Verdict::Review => (SweepAction::ReviewPending, true),
        Verdict::Notify => (SweepAction::Notified, false),
        Verdict::Compliant if open_findings && !dry_run => (SweepAction::Resolved, true),
        Verdict::Compliant => (SweepAction::Compliant, false),
    };
    (action, starts)
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

    fn item(ports: &[i32], open_findings: bool) -> SweepItem {
        let mut snapshot = crate::records::tests::snapshot(&[]);
        for (i, port) in ports.iter().enumerate() {
            let mut rule = crate::records::tests::snapshot(&["x"]).rules.remove(0);
            rule.rule_id = format!("sgr-{i}");
            rule.from_port = Some(*port);
            rule.to_port = Some(*port);
            snapshot.rules.push(rule);
        }
        SweepItem {
            snapshot,
            open_findings,
        }
    }

    fn options(dry_run: bool) -> SweepOptions {
        SweepOptions {
            sweep_id: "sweep-1".into(),
            dry_run,
        }
    }

    #[test]
    fn a_violating_group_starts_one_named_remediation_with_a_sweep_input() {
        let at = "2026-12-01T02:00:00Z".parse().unwrap();
        let (line, start) = judge(&Policy::builtin(), &item(&[22], false), &options(false), at);
        assert_eq!(line.verdict, Verdict::Remediate);
        assert_eq!(line.action, SweepAction::RemediationStarted);
        let start = start.expect("a remediation starts");
        assert_eq!(start.name, "sweep-1-sg-1");
        assert!(start.waits, "a remediation with no review is waited for");
        let finding = SweepFinding::from_input(&start.input).unwrap().unwrap();
        assert_eq!(finding.request_id, start.name);
        assert_eq!(finding.group_id, "sg-1");
    }

    #[test]
    fn dry_runs_start_nothing_and_compliant_groups_start_only_to_resolve() {
        let at = "2026-12-01T02:00:00Z".parse().unwrap();
        let policy = Policy::builtin();
        let (line, start) = judge(&policy, &item(&[22], false), &options(true), at);
        assert_eq!((line.action, start), (SweepAction::WouldRemediate, None));
        let (line, start) = judge(&policy, &item(&[443], false), &options(false), at);
        assert_eq!((line.action, start), (SweepAction::Compliant, None));
        let (line, start) = judge(&policy, &item(&[443], true), &options(false), at);
        assert_eq!(line.action, SweepAction::Resolved);
        assert!(
            start.is_some(),
            "the remediation path resolves earlier findings"
        );
    }

    #[test]
    fn a_result_files_children_give_their_lines_and_a_bad_output_is_named() {
        let judged = line("sg-1", "1", &["EC2.13"], SweepAction::RemediationStarted);
        let output = serde_json::json!({"lines": [judged], "starts": []}).to_string();
        let file = serde_json::json!([
            {"ExecutionArn": "arn:1", "Status": "SUCCEEDED", "Output": output},
            {"ExecutionArn": "arn:2", "Status": "FAILED", "Error": "Boom"},
        ]);
        let lines = lines_of_results(&file.to_string()).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].group_id, "sg-1");
        let bad = serde_json::json!([{"Status": "SUCCEEDED", "Output": "{}"}]);
        let error = lines_of_results(&bad.to_string()).unwrap_err();
        assert!(error.to_string().contains("$[0].Output"), "{error}");
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
