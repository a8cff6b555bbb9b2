//! What remediation will revoke, decided before anything is touched.
//!
//! The plan names rules by their `sgr-` id, never by their contents, so
//! revoking it twice is harmless and revoking it never removes a rule that
//! was added after the snapshot was taken.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::evaluation::{Action, Evaluation, Verdict};
use crate::snapshot::{Direction, GroupSnapshot};

/// The exact rules to revoke from one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationPlan {
    pub account: String,
    pub region: String,
    pub group_id: String,
    /// Ingress rule ids to revoke, in snapshot order, each once.
    pub revoke_ingress: Vec<String>,
    /// Egress rule ids to revoke, in snapshot order, each once.
    pub revoke_egress: Vec<String>,
    /// Set for a lockdown: every ingress rule goes, not only the offenders.
    pub lockdown: bool,
    /// Set when policy asks to report, not act.
    pub dry_run: bool,
}

impl RemediationPlan {
    /// Whether the plan revokes nothing.
    pub fn is_empty(&self) -> bool {
        self.revoke_ingress.is_empty() && self.revoke_egress.is_empty()
    }

    /// Every rule id the plan revokes, ingress first.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.revoke_ingress
            .iter()
            .chain(&self.revoke_egress)
            .map(String::as_str)
    }
}

/// Plans the revokes an evaluation asks for.
///
/// Only findings whose action is `Remediate` contribute rules; `Notify` and
/// `Review` findings are for people. A `Lockdown` verdict revokes every
/// ingress rule, plus the egress rules of remediate findings.
///
/// A finding that names a rule id the snapshot does not have is an error:
/// evaluation and snapshot disagree, and revoking by a guessed direction
/// could fail or, worse, succeed on the wrong rule.
pub fn plan(snapshot: &GroupSnapshot, evaluation: &Evaluation) -> Result<RemediationPlan, Error> {
    let lockdown = evaluation.verdict == Verdict::Lockdown;
    plan_for(snapshot, evaluation, lockdown, |action| {
        matches!(action, Action::Remediate | Action::Lockdown)
    })
}

/// Plans what an approved review revokes: the rules the `Review` findings
/// name, in both directions, and nothing else. A lockdown that policy
/// turned into a review revokes its matched rules, not every ingress rule:
/// a person approved those findings, not the group's whole ingress.
pub fn review_plan(
    snapshot: &GroupSnapshot,
    evaluation: &Evaluation,
) -> Result<RemediationPlan, Error> {
    plan_for(snapshot, evaluation, false, |action| {
        action == Action::Review
    })
}

/// The rules of the findings whose action `counts`, checked against the
/// snapshot, plus every ingress rule when `lockdown`.
fn plan_for(
    snapshot: &GroupSnapshot,
    evaluation: &Evaluation,
    lockdown: bool,
    counts: impl Fn(Action) -> bool,
) -> Result<RemediationPlan, Error> {
    let mut wanted: Vec<&str> = Vec::new();
    for (index, finding) in evaluation.findings.iter().enumerate() {
        if !counts(finding.action) {
            continue;
        }
        for rule_id in &finding.security_group_rule_ids {
            if snapshot.rule(rule_id).is_none() {
                return Err(Error::invalid(
                    "evaluation",
                    format!("findings[{index}].securityGroupRuleIds"),
                    format!(
                        "rule {rule_id} is not in the snapshot of {}",
                        snapshot.group_id
                    ),
                ));
            }
            wanted.push(rule_id);
        }
    }
    // Walking the snapshot keeps its order and drops duplicates for free.
    let pick = |direction: Direction| -> Vec<String> {
        snapshot
            .rules_in(direction)
            .filter(|rule| {
                (lockdown && direction == Direction::Ingress)
                    || wanted.contains(&rule.rule_id.as_str())
            })
            .map(|rule| rule.rule_id.clone())
            .collect()
    };
    Ok(RemediationPlan {
        account: snapshot.account.clone(),
        region: snapshot.region.clone(),
        group_id: snapshot.group_id.clone(),
        revoke_ingress: pick(Direction::Ingress),
        revoke_egress: pick(Direction::Egress),
        lockdown,
        dry_run: evaluation.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::evaluation::{Finding, Severity};
    use crate::snapshot::{Peer, SecurityGroupRule};

    fn rule(id: &str, direction: Direction, port: i32) -> SecurityGroupRule {
        SecurityGroupRule {
            rule_id: id.into(),
            direction,
            ip_protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            peer: Peer::Ipv4 {
                cidr: "0.0.0.0/0".into(),
            },
            description: None,
            tags: BTreeMap::new(),
        }
    }

    fn snapshot() -> GroupSnapshot {
        GroupSnapshot {
            account: "210987654321".into(),
            region: "us-east-1".into(),
            group_id: "sg-1".into(),
            group_name: "app".into(),
            description: String::new(),
            vpc_id: Some("vpc-1".into()),
            tags: BTreeMap::new(),
            rules: vec![
                rule("sgr-443", Direction::Ingress, 443),
                rule("sgr-22", Direction::Ingress, 22),
                rule("sgr-3389", Direction::Ingress, 3389),
                rule("sgr-out", Direction::Egress, 25),
            ],
            prefix_lists: BTreeMap::new(),
        }
    }

    fn finding(action: Action, ids: &[&str]) -> Finding {
        Finding {
            policy_rule_id: "p".into(),
            title: "t".into(),
            controls: vec![],
            severity: Severity::High,
            action,
            security_group_rule_ids: ids.iter().map(|id| id.to_string()).collect(),
            reason: "r".into(),
        }
    }

    #[test]
    fn remediate_revokes_exactly_the_offenders_once_in_snapshot_order() {
        let evaluation = Evaluation::from_findings(vec![
            finding(Action::Remediate, &["sgr-3389", "sgr-22"]),
            finding(Action::Remediate, &["sgr-22", "sgr-out"]),
            finding(Action::Notify, &["sgr-443"]),
        ]);
        let plan = plan(&snapshot(), &evaluation).unwrap();
        assert_eq!(plan.revoke_ingress, ["sgr-22", "sgr-3389"]);
        assert_eq!(plan.revoke_egress, ["sgr-out"]);
        assert!(!plan.lockdown);
    }

    #[test]
    fn an_approved_review_revokes_only_the_review_findings_rules() {
        let evaluation = Evaluation::from_findings(vec![
            finding(Action::Review, &["sgr-22"]),
            finding(Action::Remediate, &["sgr-3389"]),
        ]);
        let approved = review_plan(&snapshot(), &evaluation).unwrap();
        assert_eq!(approved.revoke_ingress, ["sgr-22"]);
        assert!(approved.revoke_egress.is_empty());
        assert!(!approved.lockdown);
        assert_eq!(
            plan(&snapshot(), &evaluation).unwrap().revoke_ingress,
            ["sgr-3389"]
        );
    }

    #[test]
    fn review_and_notify_findings_revoke_nothing() {
        let evaluation = Evaluation::from_findings(vec![
            finding(Action::Review, &["sgr-22"]),
            finding(Action::Notify, &["sgr-443"]),
        ]);
        assert!(plan(&snapshot(), &evaluation).unwrap().is_empty());
    }

    #[test]
    fn lockdown_revokes_every_ingress_rule() {
        let evaluation = Evaluation::from_findings(vec![finding(Action::Lockdown, &["sgr-22"])]);
        let plan = plan(&snapshot(), &evaluation).unwrap();
        assert_eq!(plan.revoke_ingress, ["sgr-443", "sgr-22", "sgr-3389"]);
        assert!(plan.revoke_egress.is_empty());
        assert!(plan.lockdown);
    }

    #[test]
    fn dry_run_is_carried_into_the_plan() {
        let mut evaluation =
            Evaluation::from_findings(vec![finding(Action::Remediate, &["sgr-22"])]);
        evaluation.dry_run = true;
        assert!(plan(&snapshot(), &evaluation).unwrap().dry_run);
    }

    #[test]
    fn a_rule_missing_from_the_snapshot_is_an_error_naming_it() {
        let evaluation = Evaluation::from_findings(vec![finding(Action::Remediate, &["sgr-gone"])]);
        let error = plan(&snapshot(), &evaluation).unwrap_err();
        assert!(error.to_string().contains("sgr-gone"), "{error}");
        assert!(error.to_string().contains("findings[0]"), "{error}");
    }
}
