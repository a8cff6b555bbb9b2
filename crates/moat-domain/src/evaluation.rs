//! The outcome of judging one security group against the policy set: the
//! findings, each explained, and the verdict that picks the pipeline's path.
//!
//! These types are the seam between the policy engine (`crate::policy`) and
//! everything after it: planning, backups, notifications and the state
//! machine's Choice on `verdict`.

use serde::{Deserialize, Serialize};

use crate::event::Change;
use crate::snapshot::{Direction, GroupSnapshot};

/// The policy rule id of an operator lockdown's finding; no policy rule
/// may take it, since policy ids are what exemptions name.
pub const OPERATOR_LOCKDOWN_RULE_ID: &str = "operator-lockdown";

/// How bad a finding is, weakest first, so `max()` picks the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a policy rule asks for when it matches, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Tell people; change nothing.
    Notify,
    /// A person decides: escalate with the findings.
    Review,
    /// Revoke exactly the offending rules.
    Remediate,
    /// Revoke every ingress rule of the group.
    Lockdown,
}

/// The pipeline's path for one group, weakest first: the verdict is the
/// strongest action across the findings, or `Compliant` when there are none.
/// An exemption that let something through, or that was capped, makes it at
/// least `Notify` (see [`Evaluation::announce_exemptions`]): a change must
/// never pass silently because of a tag.
///
/// `Review` ranks below `Remediate` on purpose: when one finding can be fixed
/// safely and another needs a person, Moat fixes the first and still
/// escalates the second (see [`Evaluation::needs_review`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Compliant,
    Notify,
    Review,
    Remediate,
    Lockdown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Compliant => "compliant",
            Verdict::Notify => "notify",
            Verdict::Review => "review",
            Verdict::Remediate => "remediate",
            Verdict::Lockdown => "lockdown",
        }
    }

    /// The verdict a finding with this action asks for on its own.
    pub fn for_action(action: Action) -> Verdict {
        match action {
            Action::Notify => Verdict::Notify,
            Action::Review => Verdict::Review,
            Action::Remediate => Verdict::Remediate,
            Action::Lockdown => Verdict::Lockdown,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One policy rule matched by one or more security-group rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The policy rule's id, such as `ec2-13-ssh-open`.
    pub policy_rule_id: String,
    /// The policy rule's title, for people.
    pub title: String,
    /// Control ids this rule maps to, such as `EC2.13` or `CIS-5.2`.
    pub controls: Vec<String>,
    pub severity: Severity,
    /// What the policy asks for; may be weaker than the rule's own action
    /// when auto-remediation is switched off (then it is `Review`).
    pub action: Action,
    /// The offending `sgr-...` ids, in snapshot order.
    pub security_group_rule_ids: Vec<String>,
    /// One line a person can act on: `tcp/22 open to 0.0.0.0/0 (EC2.13)`.
    pub reason: String,
}

/// An exemption tag that no longer counts because its date has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredExemption {
    pub policy_rule_id: String,
    /// The expiry date as written on the tag.
    pub expired_on: String,
}

/// A finding that an in-date exemption tag suppressed, kept for the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemptedFinding {
    pub policy_rule_id: String,
    pub security_group_rule_ids: Vec<String>,
    /// The last day the exemption holds, `YYYY-MM-DD`: the tag's date, or
    /// the policy's maximum when the tag asks for longer (then the tag's
    /// date is in [`Evaluation::capped_exemptions`]).
    #[serde(default)]
    pub until: Option<String>,
}

/// An exemption whose tag asks for longer than the policy's
/// `exemptions.maxDays`: it holds only until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CappedExemption {
    pub policy_rule_id: String,
    /// The expiry date as written on the tag.
    pub requested_until: String,
    /// The date it holds until instead: the evaluation day plus `maxDays`.
    pub until: String,
}

/// The verdict and everything behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub exempted: Vec<ExemptedFinding>,
    #[serde(default)]
    pub expired_exemptions: Vec<ExpiredExemption>,
    #[serde(default)]
    pub capped_exemptions: Vec<CappedExemption>,
    /// When set, Moat reports what it would revoke and revokes nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Evaluation {
    /// The evaluation of a group with no findings.
    pub fn compliant() -> Evaluation {
        Evaluation {
            verdict: Verdict::Compliant,
            findings: Vec::new(),
            exempted: Vec::new(),
            expired_exemptions: Vec::new(),
            capped_exemptions: Vec::new(),
            dry_run: false,
        }
    }

    /// Builds an evaluation from findings, deriving the verdict.
    pub fn from_findings(findings: Vec<Finding>) -> Evaluation {
        let verdict = findings
            .iter()
            .map(|finding| Verdict::for_action(finding.action))
            .max()
            .unwrap_or(Verdict::Compliant);
        Evaluation {
            verdict,
            findings,
            ..Evaluation::compliant()
        }
    }

    /// The evaluation of an operator's lockdown: one `Lockdown` finding over
    /// every ingress rule, whatever the policy says. Exemptions do not
    /// apply: the operator asked for the group to be closed, knowingly.
    pub fn operator_lockdown(change: &Change, snapshot: &GroupSnapshot) -> Evaluation {
        let ingress: Vec<String> = snapshot
            .rules_in(Direction::Ingress)
            .map(|rule| rule.rule_id.clone())
            .collect();
        let reason = format!(
            "operator lockdown by {}: {}",
            change.actor,
            change.reason.as_deref().unwrap_or("no reason given")
        );
        Evaluation {
            verdict: Verdict::Lockdown,
            findings: vec![Finding {
                policy_rule_id: OPERATOR_LOCKDOWN_RULE_ID.to_owned(),
                title: "An operator closed the group to all inbound traffic".to_owned(),
                controls: Vec::new(),
                severity: Severity::Critical,
                action: Action::Lockdown,
                security_group_rule_ids: ingress,
                reason,
            }],
            ..Evaluation::compliant()
        }
    }

    /// Raises the verdict to `Notify` when an exemption suppressed a finding
    /// or was capped. Anyone who may tag a group may write an exemption, so
    /// what it lets through is announced like a `notify` finding, never
    /// left `Compliant`; the findings themselves stay as they are.
    pub fn announce_exemptions(&mut self) {
        if !self.exempted.is_empty() || !self.capped_exemptions.is_empty() {
            self.verdict = self.verdict.max(Verdict::Notify);
        }
    }

    /// Whether some finding asks for a person, even when others are fixed
    /// automatically.
    pub fn needs_review(&self) -> bool {
        self.findings
            .iter()
            .any(|finding| finding.action == Action::Review)
    }

    /// The worst severity among the findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|finding| finding.severity).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_lockdown_closes_every_ingress_rule_whatever_the_policy() {
        let request = crate::event::OperatorLockdown {
            request_id: "lockdown-sg-1-abc".into(),
            group_id: "sg-1".into(),
            account: "210987654321".into(),
            region: "us-east-1".into(),
            actor: "arn:aws:iam::210987654321:user/oncall".into(),
            reason: "incident 42".into(),
            requested_at: "2026-11-20T09:00:00Z".parse().unwrap(),
        };
        let mut snapshot = crate::records::tests::snapshot(&["sgr-1", "sgr-2"]);
        snapshot.rules[1].direction = Direction::Egress;
        let evaluation = Evaluation::operator_lockdown(&request.change(), &snapshot);
        assert_eq!(evaluation.verdict, Verdict::Lockdown);
        assert_eq!(evaluation.findings[0].security_group_rule_ids, ["sgr-1"]);
        assert_eq!(
            evaluation.findings[0].reason,
            "operator lockdown by arn:aws:iam::210987654321:user/oncall: incident 42"
        );
        let plan = crate::plan::plan(&snapshot, &evaluation).unwrap();
        assert_eq!(plan.revoke_ingress, ["sgr-1"]);
        assert!(plan.revoke_egress.is_empty() && plan.lockdown);
    }

    #[test]
    fn a_lockdown_input_with_an_unknown_field_is_refused_by_name() {
        let input = serde_json::json!({"lockdown": {"requestId": "r", "groupId": "sg-1", "account": "1",
            "region": "us-east-1", "actor": "a", "reason": "x", "requestedAt": "2026-11-20T09:00:00Z", "force": true}});
        let error = crate::event::OperatorLockdown::from_input(&input)
            .unwrap()
            .unwrap_err();
        assert!(error.to_string().contains("force"), "{error}");
        assert!(
            crate::event::OperatorLockdown::from_input(&serde_json::json!({"detail": {}}))
                .is_none()
        );
    }

    fn finding(action: Action) -> Finding {
        Finding {
            policy_rule_id: "r".into(),
            title: "t".into(),
            controls: vec![],
            severity: Severity::High,
            action,
            security_group_rule_ids: vec!["sgr-1".into()],
            reason: "why".into(),
        }
    }

    #[test]
    fn verdict_is_the_strongest_action() {
        assert_eq!(
            Evaluation::from_findings(vec![]).verdict,
            Verdict::Compliant
        );
        let mixed =
            Evaluation::from_findings(vec![finding(Action::Review), finding(Action::Remediate)]);
        assert_eq!(mixed.verdict, Verdict::Remediate);
        assert!(mixed.needs_review());
        let notify = Evaluation::from_findings(vec![finding(Action::Notify)]);
        assert_eq!(notify.verdict, Verdict::Notify);
        assert!(!notify.needs_review());
    }

    #[test]
    fn verdict_serialises_in_lower_case_for_the_state_machine() {
        assert_eq!(
            serde_json::to_string(&Verdict::Lockdown).unwrap(),
            "\"lockdown\""
        );
    }
}
