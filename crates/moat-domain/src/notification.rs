//! The messages people read: a notice for every judged change, and an
//! escalation when a person must decide or something failed.
//!
//! Each message has a machine-readable JSON body, a one-paragraph summary a
//! person can act on without opening the console, and message attributes so
//! subscribers can filter (only `critical`, only one account, ...).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::evaluation::{Evaluation, Verdict};
use crate::event::Change;
use crate::records::{BackupRef, Decision, RemediationOutcome, ReviewDecision};
use crate::snapshot::GroupSnapshot;

/// SNS wants subjects shorter than 100 characters, in printable ASCII.
const MAX_SUBJECT: usize = 99;

/// One message, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub subject: String,
    pub summary: String,
    pub body: Value,
    pub attributes: BTreeMap<String, String>,
    /// The key that makes publishing idempotent: one message per key.
    pub dedup_key: String,
}

/// The notice for one judged change.
///
/// Long because the JSON body, the summary a person reads and the filter
/// attributes are three views of the same facts; building them together
/// keeps them from disagreeing.
pub fn change_notice(
    change: &Change,
    before: &GroupSnapshot,
    evaluation: &Evaluation,
    backup: Option<&BackupRef>,
    outcome: Option<&RemediationOutcome>,
    review: Option<&ReviewDecision>,
) -> Notification {
    let group = format!("{} ({})", before.group_id, before.group_name);
    let place = format!("{}/{}", before.account, before.region);
    let reasons = reasons(evaluation);
    let what_moat_did = match outcome {
        Some(outcome) if outcome.dry_run => format!(
            "Dry run: Moat would have revoked {}, and changed nothing.",
            count(outcome.planned.len(), "rule")
        ),
        Some(outcome) => {
            let mut text = format!("Moat revoked {}", count(outcome.revoked.len(), "rule"));
            if !outcome.already_gone.is_empty() {
                text.push_str(&format!(
                    " ({} already gone)",
                    count(outcome.already_gone.len(), "more")
                ));
            }
            if !outcome.deferred.is_empty() {
                text.push_str(&format!(
                    "; {} opened since this change {} left to {} own change",
                    count(outcome.deferred.len(), "rule"),
                    if outcome.deferred.len() == 1 {
                        "is"
                    } else {
                        "are"
                    },
                    if outcome.deferred.len() == 1 {
                        "its"
                    } else {
                        "their"
                    },
                ));
            }
            let left = outcome.after.rules.len();
            let verb = if left == 1 { "remains" } else { "remain" };
            text.push_str(&format!("; {} {verb}.", count(left, "rule")));
            text
        }
        None if review.is_some_and(|r| r.decision == Decision::Rejected) => {
            "Nothing was changed: the reviewer rejected the fix.".to_owned()
        }
        None => match evaluation.verdict {
            Verdict::Compliant => "The group is compliant; nothing to do.".to_owned(),
            Verdict::Review => "Nothing was changed: a person must review it.".to_owned(),
            _ => "Nothing was changed.".to_owned(),
        },
    };
    let undo = backup
        .map(|backup| format!(" Backup {} holds the rules as they were.", backup.backup_id))
        .unwrap_or_default();
    let decided = review.map(review_sentence).unwrap_or_default();
    let summary = format!(
        "{actor} called {event} on {group} in {place} at {time}: {reasons}.{decided} {what_moat_did}{undo}",
        actor = change.actor,
        event = change.event_name,
        time = change.event_time.to_rfc3339(),
    );
    let subject = sns_subject(&format!(
        "[Moat] {} {} in {}",
        verdict_word(evaluation, outcome, review),
        before.group_id,
        place
    ));
    let severity = evaluation
        .max_severity()
        .map(|s| s.as_str())
        .unwrap_or("none");
    let body = json!({
        "kind": "change",
        "verdict": evaluation.verdict,
        "severity": severity,
        "change": change,
        "group": {"groupId": before.group_id, "groupName": before.group_name, "vpcId": before.vpc_id},
        "findings": evaluation.findings,
        "exempted": evaluation.exempted,
        "expiredExemptions": evaluation.expired_exemptions,
        "cappedExemptions": evaluation.capped_exemptions,
        "backup": backup,
        "review": review,
        "remediation": outcome.map(|outcome| json!({
            "revoked": outcome.revoked,
            "alreadyGone": outcome.already_gone,
            "dryRun": outcome.dry_run,
            "rulesAfter": outcome.after.rules.len(),
        })),
        "summary": summary,
    });
    Notification {
        subject,
        summary,
        body,
        attributes: attributes(&[
            ("kind", "change"),
            ("verdict", evaluation.verdict.as_str()),
            ("severity", severity),
            ("account", &before.account),
            ("region", &before.region),
            ("groupId", &before.group_id),
            ("eventName", change.event_name.as_str()),
        ]),
        dedup_key: match review {
            // The decision is news of its own: the change's first notice
            // (of what was fixed without a person) has gone out already.
            Some(review) => format!(
                "{}/review-{}",
                change_dedup_key(&before.group_id, &change.event_id),
                review.decision.as_str()
            ),
            None => change_dedup_key(&before.group_id, &change.event_id),
        },
    }
}

/// " Approved by arn:...: reason." for the summary.
fn review_sentence(review: &ReviewDecision) -> String {
    let verb = match review.decision {
        Decision::Approved => "Approved",
        Decision::Rejected => "Rejected",
    };
    match &review.reason {
        Some(reason) => format!(" {verb} by {}: {reason}.", review.reviewer),
        None => format!(" {verb} by {}.", review.reviewer),
    }
}

/// The key that keeps one change to one notification; `cargo xtask smoke`
/// reads it back to prove the change was announced.
pub fn change_dedup_key(group_id: &str, event_id: &str) -> String {
    format!("notify/{group_id}/{event_id}")
}

/// Every finding's reason, then what exemptions let through or were cut
/// to: an exempted change is announced, and the notice must say why.
fn reasons(evaluation: &Evaluation) -> String {
    let findings = evaluation
        .findings
        .iter()
        .map(|finding| finding.reason.clone());
    let exempted = evaluation.exempted.iter().map(|exempted| {
        format!(
            "exempted {} ({}) until {}",
            exempted.policy_rule_id,
            exempted.security_group_rule_ids.join(", "),
            exempted.until.as_deref().unwrap_or("an unknown date")
        )
    });
    let capped = evaluation.capped_exemptions.iter().map(|capped| {
        format!(
            "exemption {} capped to {} (the tag asks for {})",
            capped.policy_rule_id, capped.until, capped.requested_until
        )
    });
    let all: Vec<String> = findings.chain(exempted).chain(capped).collect();
    if all.is_empty() {
        "no policy rule matched".to_owned()
    } else {
        all.join("; ")
    }
}

fn verdict_word(
    evaluation: &Evaluation,
    outcome: Option<&RemediationOutcome>,
    review: Option<&ReviewDecision>,
) -> &'static str {
    if let Some(review) = review {
        return match (review.decision, outcome) {
            (Decision::Approved, Some(outcome)) if outcome.dry_run => "would remediate (approved)",
            (Decision::Approved, _) => "remediated (approved)",
            (Decision::Rejected, _) => "review rejected for",
        };
    }
    match (evaluation.verdict, outcome) {
        (_, Some(outcome)) if outcome.dry_run => "would remediate",
        (Verdict::Lockdown, Some(_)) => "locked down",
        (_, Some(_)) => "remediated",
        (Verdict::Compliant, None) => "compliant",
        // Only an exemption raised the verdict: no finding to speak of.
        (Verdict::Notify, None) if evaluation.findings.is_empty() => "exemption in force on",
        (Verdict::Notify, None) => "finding on",
        (Verdict::Review, None) => "review needed for",
        (Verdict::Remediate | Verdict::Lockdown, None) => "not remediated",
    }
}

/// Why a person must step in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum EscalationCause {
    /// Policy asks a person to decide on these findings.
    Review,
    /// No one decided within the policy's review timeout; nothing changed.
    ReviewExpired,
    /// A step failed after its retries; `error` is the state machine's
    /// error name and `cause` its message.
    Failure {
        state: Option<String>,
        error: String,
        cause: String,
    },
    /// A new policy version failed validation; an older one is in force.
    PolicyRejected {
        location: String,
        version_id: Option<String>,
        error: String,
    },
}

/// What the escalate function is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Escalation {
    pub cause: EscalationCause,
    pub execution_arn: String,
    /// A key unique to what is escalated (change event id, or execution),
    /// so a retried escalation publishes once.
    pub dedup_id: String,
    #[serde(default)]
    pub change: Option<Change>,
    #[serde(default)]
    pub evaluation: Option<Evaluation>,
    /// For a review: when it expires (the policy's review timeout).
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
}

/// The command that approves a review, as the escalation quotes it.
pub fn approve_command(execution_arn: &str) -> String {
    format!("cargo xtask approve {execution_arn} --reason '...' --yes")
}

/// The command that rejects a review, as the escalation quotes it.
pub fn reject_command(execution_arn: &str) -> String {
    format!("cargo xtask reject {execution_arn} --reason '...' --yes")
}

/// The Step Functions console page of an execution.
pub fn console_link(execution_arn: &str) -> String {
    let region = execution_arn.split(':').nth(3).unwrap_or("us-east-1");
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    )
}

/// The reasons of the findings that wait for a person.
fn review_reasons(escalation: &Escalation) -> String {
    escalation
        .evaluation
        .iter()
        .flat_map(|evaluation| &evaluation.findings)
        .filter(|finding| finding.action == crate::evaluation::Action::Review)
        .map(|finding| finding.reason.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The escalation message.
pub fn escalation_notice(escalation: &Escalation) -> Notification {
    let link = console_link(&escalation.execution_arn);
    let group = escalation
        .change
        .as_ref()
        .map(|change| match change.group_id() {
            Some(id) => format!("{id} in {}/{}", change.account, change.region),
            None => format!("a group in {}/{}", change.account, change.region),
        })
        .unwrap_or_else(|| "an unknown group".to_owned());
    let (headline, detail, kind) = match &escalation.cause {
        EscalationCause::Review => {
            let by = escalation
                .deadline
                .map(|deadline| format!(" by {}", deadline.to_rfc3339()))
                .unwrap_or_default();
            (
                format!("review needed for {group}"),
                format!(
                    "Policy asks a person to decide{by}: {}. Approve (back up, then revoke those rules) with `{}`, or keep them with `{}`.",
                    review_reasons(escalation),
                    approve_command(&escalation.execution_arn),
                    reject_command(&escalation.execution_arn),
                ),
                "review",
            )
        }
        EscalationCause::ReviewExpired => (
            format!("review expired for {group}"),
            format!(
                "No one approved or rejected in time: {}. Nothing was changed; the findings stay open.",
                review_reasons(escalation)
            ),
            "reviewExpired",
        ),
        EscalationCause::Failure {
            state,
            error,
            cause,
        } => (
            format!("failure on {group}"),
            format!(
                "{} failed with {error}: {cause}. Nothing after that step ran.",
                state.as_deref().unwrap_or("A step")
            ),
            "failure",
        ),
        EscalationCause::PolicyRejected {
            location,
            version_id,
            error,
        } => (
            format!("policy {location} rejected"),
            format!(
                "Version {} of {location} is invalid and is not used; the last valid version stays in force until it is fixed. {error}.",
                version_id.as_deref().unwrap_or("(unversioned)")
            ),
            "policyRejected",
        ),
    };
    let summary = format!("Moat needs a person: {headline}. {detail} Execution: {link}");
    let body = json!({
        "kind": "escalation",
        "cause": escalation.cause,
        "executionArn": escalation.execution_arn,
        "consoleUrl": link,
        "change": escalation.change,
        "evaluation": escalation.evaluation,
        "deadline": escalation.deadline,
        "decide": matches!(escalation.cause, EscalationCause::Review).then(|| json!({
            "approve": approve_command(&escalation.execution_arn),
            "reject": reject_command(&escalation.execution_arn),
        })),
        "summary": summary,
    });
    let (account, region) = escalation
        .change
        .as_ref()
        .map(|change| (change.account.as_str(), change.region.as_str()))
        .unwrap_or(("unknown", "unknown"));
    Notification {
        subject: sns_subject(&format!("[Moat] {headline}")),
        summary,
        body,
        attributes: attributes(&[
            ("kind", "escalation"),
            ("cause", kind),
            ("account", account),
            ("region", region),
        ]),
        dedup_key: format!("escalate/{kind}/{}", escalation.dedup_id),
    }
}

fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn count(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) | (_, "more") => format!("{n} {noun}"),
        _ => format!("{n} {noun}s"),
    }
}

/// A subject SNS accepts: printable ASCII only (anything else becomes `?`),
/// shorter than 100 characters, a cut marked with `...`.
fn sns_subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= MAX_SUBJECT {
        ascii
    } else {
        format!("{}...", &ascii[..MAX_SUBJECT - 3])
    }
}

/// Shortens `text` to `max` characters, marking the cut with an ellipsis.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::{Action, Finding, Severity};
    use crate::records::tests::{change, snapshot};

    fn ssh_finding() -> Finding {
        Finding {
            policy_rule_id: "ec2-13".into(),
            title: "SSH open to the internet".into(),
            controls: vec!["EC2.13".into()],
            severity: Severity::High,
            action: Action::Remediate,
            security_group_rule_ids: vec!["sgr-22".into()],
            reason: "tcp/22 open to 0.0.0.0/0 (EC2.13)".into(),
        }
    }

    fn outcome(dry_run: bool) -> RemediationOutcome {
        RemediationOutcome {
            group_id: "sg-1".into(),
            planned: vec!["sgr-22".into()],
            revoked: if dry_run {
                vec![]
            } else {
                vec!["sgr-22".into()]
            },
            already_gone: vec![],
            deferred: vec![],
            dry_run,
            backup_id: "sg-1/evt-1".into(),
            after: snapshot(&["sgr-443"]),
            finished_at: "2026-11-20T09:14:07Z".parse().unwrap(),
        }
    }

    fn backup() -> BackupRef {
        BackupRef {
            backup_id: "sg-1/evt-1".into(),
            group_id: "sg-1".into(),
            created_at: "2026-11-20T09:14:05Z".parse().unwrap(),
            rule_count: 2,
            already_existed: false,
        }
    }

    #[test]
    fn remediation_notice_reads_well() {
        let evaluation = Evaluation::from_findings(vec![ssh_finding()]);
        let notice = change_notice(
            &change(),
            &snapshot(&["sgr-22", "sgr-443"]),
            &evaluation,
            Some(&backup()),
            Some(&outcome(false)),
            None,
        );
        expect_test::expect![[r#"arn:aws:sts::210987654321:assumed-role/Developer/alice called AuthorizeSecurityGroupIngress on sg-1 (app) in 210987654321/us-east-1 at 2026-11-20T09:14:03+00:00: tcp/22 open to 0.0.0.0/0 (EC2.13). Moat revoked 1 rule; 1 rule remains. Backup sg-1/evt-1 holds the rules as they were."#]]
            .assert_eq(&notice.summary);
        assert_eq!(
            notice.subject,
            "[Moat] remediated sg-1 in 210987654321/us-east-1"
        );
        assert_eq!(notice.attributes["severity"], "high");
        assert_eq!(notice.attributes["verdict"], "remediate");
        assert_eq!(notice.dedup_key, "notify/sg-1/evt-1");
        assert_eq!(notice.body["remediation"]["revoked"][0], "sgr-22");
    }

    #[test]
    fn an_exempted_change_says_what_the_exemption_let_through() {
        let mut evaluation = Evaluation::from_findings(vec![]);
        evaluation.verdict = Verdict::Notify;
        evaluation.exempted = vec![crate::evaluation::ExemptedFinding {
            policy_rule_id: "ec2-13-ssh-open".into(),
            security_group_rule_ids: vec!["sgr-22".into()],
            until: Some("2026-12-31".into()),
        }];
        evaluation.capped_exemptions = vec![crate::evaluation::CappedExemption {
            policy_rule_id: "ec2-13-ssh-open".into(),
            requested_until: "9999-12-31".into(),
            until: "2026-12-31".into(),
        }];
        let notice = change_notice(
            &change(),
            &snapshot(&["sgr-22"]),
            &evaluation,
            None,
            None,
            None,
        );
        expect_test::expect![[r#"arn:aws:sts::210987654321:assumed-role/Developer/alice called AuthorizeSecurityGroupIngress on sg-1 (app) in 210987654321/us-east-1 at 2026-11-20T09:14:03+00:00: exempted ec2-13-ssh-open (sgr-22) until 2026-12-31; exemption ec2-13-ssh-open capped to 2026-12-31 (the tag asks for 9999-12-31). Nothing was changed."#]]
            .assert_eq(&notice.summary);
        assert_eq!(
            notice.subject,
            "[Moat] exemption in force on sg-1 in 210987654321/us-east-1"
        );
        assert_eq!(
            notice.body["cappedExemptions"][0]["requestedUntil"],
            "9999-12-31"
        );
    }

    #[test]
    fn dry_run_notice_says_nothing_changed() {
        let mut evaluation = Evaluation::from_findings(vec![ssh_finding()]);
        evaluation.dry_run = true;
        let notice = change_notice(
            &change(),
            &snapshot(&["sgr-22"]),
            &evaluation,
            None,
            Some(&outcome(true)),
            None,
        );
        assert!(
            notice.summary.contains("would have revoked 1 rule"),
            "{}",
            notice.summary
        );
        assert!(
            notice.subject.contains("would remediate"),
            "{}",
            notice.subject
        );
    }

    #[test]
    fn escalation_links_to_the_execution_and_dedups_per_change() {
        let escalation = Escalation {
            cause: EscalationCause::Failure {
                state: Some("Remediate".into()),
                error: "AccessDenied".into(),
                cause: "not authorized to revoke".into(),
            },
            execution_arn: "arn:aws:states:us-west-2:111122223333:execution:moat-remediation:evt-1"
                .into(),
            dedup_id: "evt-1".into(),
            change: Some(change()),
            evaluation: None,
            deadline: None,
        };
        let notice = escalation_notice(&escalation);
        assert!(notice.summary.contains(
            "https://us-west-2.console.aws.amazon.com/states/home?region=us-west-2#/v2/executions/details/arn:aws:states:us-west-2:111122223333:execution:moat-remediation:evt-1"
        ), "{}", notice.summary);
        assert!(
            notice
                .summary
                .contains("Remediate failed with AccessDenied"),
            "{}",
            notice.summary
        );
        assert_eq!(notice.dedup_key, "escalate/failure/evt-1");
        assert_eq!(notice.attributes["cause"], "failure");
    }

    #[test]
    fn a_rejected_policy_is_escalated_with_its_validation_error() {
        let escalation = Escalation {
            cause: EscalationCause::PolicyRejected {
                location: "s3://moat-policies/policy.json".into(),
                version_id: Some("v7".into()),
                error: "$.rules[0].ports[0]: port 70000 is out of range 0-65535".into(),
            },
            execution_arn: "arn:aws:states:us-east-1:111122223333:execution:moat-remediation:x"
                .into(),
            dedup_id: "\"etag-7\"".into(),
            change: None,
            evaluation: None,
            deadline: None,
        };
        let notice = escalation_notice(&escalation);
        assert!(
            notice
                .summary
                .contains("Version v7 of s3://moat-policies/policy.json is invalid"),
            "{}",
            notice.summary
        );
        assert!(notice.summary.contains("port 70000"), "{}", notice.summary);
        assert_eq!(notice.attributes["cause"], "policyRejected");
    }

    fn review_finding() -> Finding {
        Finding {
            action: Action::Review,
            ..ssh_finding()
        }
    }

    fn decision(decision: Decision) -> ReviewDecision {
        ReviewDecision {
            decision,
            reviewer: "arn:aws:iam::210987654321:user/bob".into(),
            reason: Some("bastion host".into()),
            decided_at: "2026-11-20T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_review_escalation_says_by_when_and_how_to_decide() {
        let arn = "arn:aws:states:us-east-1:111122223333:execution:moat-remediation:evt-1";
        let escalation = Escalation {
            cause: EscalationCause::Review,
            execution_arn: arn.into(),
            dedup_id: "evt-1".into(),
            change: Some(change()),
            evaluation: Some(Evaluation::from_findings(vec![review_finding()])),
            deadline: Some("2026-11-21T09:14:05Z".parse().unwrap()),
        };
        let notice = escalation_notice(&escalation);
        for expected in [
            "decide by 2026-11-21T09:14:05+00:00: tcp/22 open to 0.0.0.0/0 (EC2.13)",
            &format!("`cargo xtask approve {arn} --reason '...' --yes`"),
            &format!("`cargo xtask reject {arn} --reason '...' --yes`"),
        ] {
            assert!(
                notice.summary.contains(expected),
                "{expected}: {}",
                notice.summary
            );
        }
        assert_eq!(notice.body["decide"]["approve"], approve_command(arn));
        assert_eq!(notice.dedup_key, "escalate/review/evt-1");
        let expired = Escalation {
            cause: EscalationCause::ReviewExpired,
            ..escalation
        };
        let notice = escalation_notice(&expired);
        assert!(
            notice
                .summary
                .contains("No one approved or rejected in time"),
            "{}",
            notice.summary
        );
        assert_eq!(notice.dedup_key, "escalate/reviewExpired/evt-1");
        assert!(notice.body["decide"].is_null());
    }

    #[test]
    fn a_decided_review_is_a_notice_of_its_own_naming_the_reviewer() {
        let evaluation = Evaluation::from_findings(vec![review_finding()]);
        let rejected = decision(Decision::Rejected);
        let notice = change_notice(
            &change(),
            &snapshot(&["sgr-22"]),
            &evaluation,
            None,
            None,
            Some(&rejected),
        );
        assert!(
            notice.summary.contains(
                "Rejected by arn:aws:iam::210987654321:user/bob: bastion host. Nothing was changed: the reviewer rejected the fix."
            ),
            "{}",
            notice.summary
        );
        assert_eq!(
            notice.subject,
            "[Moat] review rejected for sg-1 in 210987654321/us-east-1"
        );
        assert_eq!(notice.dedup_key, "notify/sg-1/evt-1/review-rejected");
        let approved = decision(Decision::Approved);
        let notice = change_notice(
            &change(),
            &snapshot(&["sgr-22"]),
            &evaluation,
            Some(&backup()),
            Some(&outcome(false)),
            Some(&approved),
        );
        assert!(
            notice
                .summary
                .contains("Approved by arn:aws:iam::210987654321:user/bob"),
            "{}",
            notice.summary
        );
        assert!(
            notice.summary.contains("Moat revoked 1 rule"),
            "{}",
            notice.summary
        );
        assert_eq!(notice.body["review"]["decision"], "approved");
        assert_eq!(notice.dedup_key, "notify/sg-1/evt-1/review-approved");
    }

    #[test]
    fn subjects_fit_sns() {
        let long = sns_subject(&"x".repeat(300));
        assert!(long.len() < 100, "{}", long.len());
        assert!(long.ends_with("..."));
        assert_eq!(
            sns_subject("[Moat] policy s3://b/pölicy\n.json"),
            "[Moat] policy s3://b/p?licy?.json"
        );
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate(&"é".repeat(10), 5).chars().count(), 5);
    }
}
