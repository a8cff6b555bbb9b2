//! What Moat writes down: the backup taken before a change, the outcome of
//! a remediation, and the audit record that ties them together.
//!
//! A backup holds the whole before-state of the group, so a person can put
//! back any rule Moat revoked, and remediation refuses to run without one
//! (see [`verify_backup`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::evaluation::{Evaluation, Verdict};
use crate::event::Change;
use crate::plan::RemediationPlan;
use crate::snapshot::GroupSnapshot;

/// The id of the one backup per group and change: a second delivery of the
/// same CloudTrail event finds the backup the first one wrote.
pub fn backup_id(group_id: &str, event_id: &str) -> String {
    format!("{group_id}/{event_id}")
}

/// The full before-state of a group, written before any revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    pub backup_id: String,
    pub created_at: DateTime<Utc>,
    pub change: Change,
    pub snapshot: GroupSnapshot,
    pub plan: RemediationPlan,
}

impl BackupRecord {
    pub fn new(
        change: Change,
        snapshot: GroupSnapshot,
        plan: RemediationPlan,
        created_at: DateTime<Utc>,
    ) -> BackupRecord {
        BackupRecord {
            backup_id: backup_id(&snapshot.group_id, &change.event_id),
            created_at,
            change,
            snapshot,
            plan,
        }
    }

    /// The short form passed along the state machine.
    pub fn reference(&self, already_existed: bool) -> BackupRef {
        BackupRef {
            backup_id: self.backup_id.clone(),
            group_id: self.snapshot.group_id.clone(),
            created_at: self.created_at,
            rule_count: self.snapshot.rules.len(),
            already_existed,
        }
    }
}

/// Where a backup is, as the backup step reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRef {
    pub backup_id: String,
    pub group_id: String,
    pub created_at: DateTime<Utc>,
    /// How many rules the group had when it was backed up.
    pub rule_count: usize,
    /// Set when an earlier delivery of the same change wrote it.
    pub already_existed: bool,
}

/// Checks that a backup covers a plan: same group, and every rule the plan
/// would revoke is in the backed-up snapshot, so it can be put back.
pub fn verify_backup(backup: &BackupRecord, plan: &RemediationPlan) -> Result<(), Error> {
    let invalid = |reason: String| Err(Error::invalid("backup", backup.backup_id.clone(), reason));
    if backup.snapshot.group_id != plan.group_id {
        return invalid(format!(
            "backup is of group {} but the plan revokes from {}",
            backup.snapshot.group_id, plan.group_id
        ));
    }
    if backup.snapshot.account != plan.account || backup.snapshot.region != plan.region {
        return invalid(format!(
            "backup is from {}/{} but the plan is for {}/{}",
            backup.snapshot.account, backup.snapshot.region, plan.account, plan.region
        ));
    }
    if let Some(missing) = plan
        .rule_ids()
        .find(|id| backup.snapshot.rule(id).is_none())
    {
        return invalid(format!(
            "rule {missing} is planned for revoking but is not in the backup"
        ));
    }
    Ok(())
}

/// Splits a plan into the part a backup covers and the rules it does not
/// hold. Used for a second delivery of a change whose backup an earlier
/// delivery wrote: a rule opened since then is not in that backup, and it
/// is left for its own change's event (whose backup holds it) or the sweep,
/// because an unbacked rule is never revoked.
pub fn covered_by(backup: &BackupRecord, plan: &RemediationPlan) -> (RemediationPlan, Vec<String>) {
    let mut uncovered = Vec::new();
    let mut keep = |rule_ids: &[String]| -> Vec<String> {
        let (held, not_held): (Vec<String>, Vec<String>) = rule_ids
            .iter()
            .cloned()
            .partition(|id| backup.snapshot.rule(id).is_some());
        uncovered.extend(not_held);
        held
    };
    let covered = RemediationPlan {
        revoke_ingress: keep(&plan.revoke_ingress),
        revoke_egress: keep(&plan.revoke_egress),
        ..plan.clone()
    };
    (covered, uncovered)
}

/// What remediation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationOutcome {
    pub group_id: String,
    /// Every rule the plan named, whether or not this run revoked it.
    pub planned: Vec<String>,
    /// Rules this run revoked.
    pub revoked: Vec<String>,
    /// Rules that were already gone (`InvalidPermission.NotFound`): revoked
    /// by an earlier delivery or by a person, which is the goal either way.
    pub already_gone: Vec<String>,
    /// Rules the plan named that a repeated delivery left alone, because the
    /// backup the first delivery wrote does not hold them (`covered_by`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    /// Set when nothing was revoked because policy asked for a dry run.
    pub dry_run: bool,
    pub backup_id: String,
    /// The group as re-read after the revokes.
    pub after: GroupSnapshot,
    pub finished_at: DateTime<Utc>,
}

/// What a person decided on a `review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// Revoke the rules the review findings name, as a remediation would.
    Approved,
    /// Leave the group as it is.
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

/// A person's answer to a review request: the output `cargo xtask approve`
/// and `reject` send with the waiting task's token, which the state machine
/// places at `$.review`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewDecision {
    pub decision: Decision,
    /// The reviewer's IAM identity (`sts:GetCallerIdentity`).
    pub reviewer: String,
    #[serde(default)]
    pub reason: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// One line in the audit trail of a group: what was seen, judged and done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub group_id: String,
    pub account: String,
    pub region: String,
    pub event_id: String,
    pub event_name: String,
    pub actor: String,
    pub verdict: Verdict,
    pub finding_reasons: Vec<String>,
    pub backup_id: Option<String>,
    pub revoked: Vec<String>,
    pub already_gone: Vec<String>,
    pub dry_run: bool,
    pub rules_before: usize,
    pub rules_after: Option<usize>,
    pub recorded_at: DateTime<Utc>,
    /// The person's decision, when the change needed a review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewDecision>,
    /// Seen by a passive region, which records and does nothing else.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed_while_passive: bool,
}

impl AuditRecord {
    pub fn new(
        change: &Change,
        before: &GroupSnapshot,
        evaluation: &Evaluation,
        outcome: Option<&RemediationOutcome>,
        recorded_at: DateTime<Utc>,
    ) -> AuditRecord {
        AuditRecord {
            group_id: before.group_id.clone(),
            account: before.account.clone(),
            region: before.region.clone(),
            event_id: change.event_id.clone(),
            event_name: change.event_name.to_string(),
            actor: change.actor.clone(),
            verdict: evaluation.verdict,
            finding_reasons: evaluation
                .findings
                .iter()
                .map(|f| f.reason.clone())
                .collect(),
            backup_id: outcome.map(|outcome| outcome.backup_id.clone()),
            revoked: outcome
                .map(|outcome| outcome.revoked.clone())
                .unwrap_or_default(),
            already_gone: outcome
                .map(|outcome| outcome.already_gone.clone())
                .unwrap_or_default(),
            dry_run: outcome.is_some_and(|outcome| outcome.dry_run) || evaluation.dry_run,
            rules_before: before.rules.len(),
            rules_after: outcome.map(|outcome| outcome.after.rules.len()),
            recorded_at,
            review: None,
            observed_while_passive: false,
        }
    }
}

impl AuditRecord {
    /// One record of everything several runs did for the same change: a
    /// duplicate delivery finds the rules already gone, and its record must
    /// not erase that the first run revoked them.
    pub fn merged_with(&self, newer: &AuditRecord) -> AuditRecord {
        let mut revoked = self.revoked.clone();
        for rule_id in &newer.revoked {
            if !revoked.contains(rule_id) {
                revoked.push(rule_id.clone());
            }
        }
        let mut already_gone: Vec<String> = Vec::new();
        for rule_id in self.already_gone.iter().chain(&newer.already_gone) {
            if !revoked.contains(rule_id) && !already_gone.contains(rule_id) {
                already_gone.push(rule_id.clone());
            }
        }
        AuditRecord {
            backup_id: newer.backup_id.clone().or_else(|| self.backup_id.clone()),
            revoked,
            already_gone,
            dry_run: self.dry_run && newer.dry_run,
            rules_after: newer.rules_after.or(self.rules_after),
            recorded_at: self.recorded_at.max(newer.recorded_at),
            review: newer.review.clone().or_else(|| self.review.clone()),
            ..newer.clone()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event::{EventName, GroupRef};
    use crate::snapshot::{Direction, Peer, SecurityGroupRule};

    pub(crate) fn change() -> Change {
        Change {
            event_id: "evt-1".into(),
            event_name: EventName::AuthorizeSecurityGroupIngress,
            event_time: "2026-11-20T09:14:03Z".parse().unwrap(),
            account: "210987654321".into(),
            region: "us-east-1".into(),
            actor: "arn:aws:sts::210987654321:assumed-role/Developer/alice".into(),
            group: GroupRef::Id {
                group_id: "sg-1".into(),
            },
            reason: None,
        }
    }

    pub(crate) fn snapshot(rule_ids: &[&str]) -> GroupSnapshot {
        GroupSnapshot {
            account: "210987654321".into(),
            region: "us-east-1".into(),
            group_id: "sg-1".into(),
            group_name: "app".into(),
            description: String::new(),
            vpc_id: Some("vpc-1".into()),
            tags: BTreeMap::new(),
            rules: rule_ids
                .iter()
                .map(|id| SecurityGroupRule {
                    rule_id: id.to_string(),
                    direction: Direction::Ingress,
                    ip_protocol: "tcp".into(),
                    from_port: Some(22),
                    to_port: Some(22),
                    peer: Peer::Ipv4 {
                        cidr: "0.0.0.0/0".into(),
                    },
                    description: None,
                    tags: BTreeMap::new(),
                })
                .collect(),
            prefix_lists: BTreeMap::new(),
        }
    }

    pub(crate) fn plan(rule_ids: &[&str]) -> RemediationPlan {
        RemediationPlan {
            account: "210987654321".into(),
            region: "us-east-1".into(),
            group_id: "sg-1".into(),
            revoke_ingress: rule_ids.iter().map(|id| id.to_string()).collect(),
            revoke_egress: vec![],
            lockdown: false,
            dry_run: false,
        }
    }

    fn backup(rule_ids: &[&str], planned: &[&str]) -> BackupRecord {
        BackupRecord::new(
            change(),
            snapshot(rule_ids),
            plan(planned),
            "2026-11-20T09:14:05Z".parse().unwrap(),
        )
    }

    #[test]
    fn backup_id_is_stable_per_group_and_change() {
        assert_eq!(backup(&["sgr-1"], &["sgr-1"]).backup_id, "sg-1/evt-1");
    }

    #[test]
    fn a_backup_covering_the_plan_verifies() {
        let record = backup(&["sgr-1", "sgr-2"], &["sgr-2"]);
        assert_eq!(verify_backup(&record, &plan(&["sgr-2"])), Ok(()));
    }

    #[test]
    fn a_backup_of_another_group_does_not_verify() {
        let record = backup(&["sgr-1"], &["sgr-1"]);
        let mut other = plan(&["sgr-1"]);
        other.group_id = "sg-2".into();
        let error = verify_backup(&record, &other).unwrap_err();
        assert!(error.to_string().contains("sg-2"), "{error}");
    }

    #[test]
    fn a_duplicate_runs_audit_keeps_what_the_first_run_revoked() {
        let outcome = |revoked: &[&str], gone: &[&str]| RemediationOutcome {
            group_id: "sg-1".into(),
            planned: vec!["sgr-1".into(), "sgr-2".into()],
            revoked: revoked.iter().map(|id| id.to_string()).collect(),
            already_gone: gone.iter().map(|id| id.to_string()).collect(),
            deferred: vec![],
            dry_run: false,
            backup_id: "sg-1/evt-1".into(),
            after: snapshot(&[]),
            finished_at: "2026-11-20T09:14:07Z".parse().unwrap(),
        };
        let evaluation = Evaluation::compliant();
        let first = AuditRecord::new(
            &change(),
            &snapshot(&["sgr-1", "sgr-2"]),
            &evaluation,
            Some(&outcome(&["sgr-1"], &["sgr-2"])),
            "2026-11-20T09:14:07Z".parse().unwrap(),
        );
        let second = AuditRecord::new(
            &change(),
            &snapshot(&["sgr-1", "sgr-2"]),
            &evaluation,
            Some(&outcome(&[], &["sgr-1", "sgr-2"])),
            "2026-11-20T09:14:09Z".parse().unwrap(),
        );
        let merged = first.merged_with(&second);
        assert_eq!(merged.revoked, ["sgr-1"]);
        assert_eq!(merged.already_gone, ["sgr-2"]);
        assert_eq!(merged.recorded_at, second.recorded_at);
        assert_eq!(
            second.merged_with(&first).revoked,
            ["sgr-1"],
            "order does not lose a revoke"
        );
    }

    #[test]
    fn a_review_decision_survives_a_later_record_without_one() {
        let at = "2026-11-20T09:14:07Z".parse().unwrap();
        let record = |review: Option<ReviewDecision>| AuditRecord {
            review,
            ..AuditRecord::new(
                &change(),
                &snapshot(&["sgr-1"]),
                &Evaluation::compliant(),
                None,
                at,
            )
        };
        let rejected = ReviewDecision {
            decision: Decision::Rejected,
            reviewer: "arn:aws:iam::210987654321:user/bob".into(),
            reason: Some("a bastion, accepted risk".into()),
            decided_at: at,
        };
        let merged = record(Some(rejected.clone())).merged_with(&record(None));
        assert_eq!(merged.review, Some(rejected.clone()));
        let text = serde_json::to_value(&merged).unwrap();
        assert_eq!(text["review"]["decision"], "rejected");
        assert_eq!(
            record(None)
                .merged_with(&record(Some(rejected.clone())))
                .review,
            Some(rejected)
        );
    }

    #[test]
    fn a_backup_missing_a_planned_rule_does_not_verify() {
        let record = backup(&["sgr-1"], &["sgr-1"]);
        let error = verify_backup(&record, &plan(&["sgr-1", "sgr-9"])).unwrap_err();
        assert!(error.to_string().contains("sgr-9"), "{error}");
    }
}
