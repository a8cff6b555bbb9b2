//! Undoing a remediation: which rules to put back, from the backup taken
//! before them, and whether the policy in force would revoke them again.
//!
//! Only what that remediation revoked comes back (its audit record's
//! `revoked`), and only rules the group does not hold already, so undoing
//! twice does nothing. A rule the policy still forbids would be revoked
//! again by the very change that restores it, so the undo is refused for
//! it unless an exemption is added first, and the exemption is what the
//! plan then writes on the group.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::Error;
use crate::policy::{Policy, evaluate};
use crate::records::BackupRecord;
use crate::snapshot::{GroupSnapshot, SecurityGroupRule};

/// What an undo does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoPlan {
    pub group_id: String,
    /// The rules to authorize again, as the backup holds them.
    pub restore: Vec<SecurityGroupRule>,
    /// Rules of the remediation that the group holds again already.
    pub already_back: Vec<String>,
    /// The policy rules that would revoke a restored rule again.
    pub would_revoke_again: Vec<String>,
    /// The exemption tag to write first (key, new value), when asked for.
    pub exemption_tag: Option<(String, String)>,
}

/// Plans the undo of the remediation backed up in `backup`, which revoked
/// `revoked`, on the group as it is now. With `exempt_until`, the rules the
/// policy would revoke again get an exemption until that day; without it,
/// they make the plan an error that names them.
pub fn plan(
    backup: &BackupRecord,
    revoked: &[String],
    current: &GroupSnapshot,
    policy: &Policy,
    today: NaiveDate,
    exempt_until: Option<NaiveDate>,
) -> Result<UndoPlan, Error> {
    let (restore, already_back): (Vec<SecurityGroupRule>, Vec<SecurityGroupRule>) = backup
        .snapshot
        .rules
        .iter()
        .filter(|rule| revoked.contains(&rule.rule_id))
        .cloned()
        .partition(|rule| !current.rules.iter().any(|now| same_permission(now, rule)));
    let would_revoke_again = revoking_policy_rules(current, &restore, policy, today);
    let mut plan = UndoPlan {
        group_id: backup.snapshot.group_id.clone(),
        restore,
        already_back: already_back.into_iter().map(|rule| rule.rule_id).collect(),
        would_revoke_again,
        exemption_tag: None,
    };
    if plan.would_revoke_again.is_empty() {
        return Ok(plan);
    }
    let Some(until) = exempt_until else {
        return Err(Error::invalid(
            "undo",
            "--exempt-until",
            format!(
                "the policy in force would revoke the restored rules again ({}): add --exempt-until YYYY-MM-DD to exempt them first",
                plan.would_revoke_again.join(", ")
            ),
        ));
    };
    let key = policy.settings().exemption_tag.clone();
    let mut value = current.tags.get(&key).cloned().unwrap_or_default();
    for rule_id in &plan.would_revoke_again {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(&format!("{rule_id}:{until}"));
    }
    plan.exemption_tag = Some((key, value));
    Ok(plan)
}

/// The policy rules whose findings name a restored rule, judging the group
/// as it would be with them back.
fn revoking_policy_rules(
    current: &GroupSnapshot,
    restore: &[SecurityGroupRule],
    policy: &Policy,
    today: NaiveDate,
) -> Vec<String> {
    let mut restored = current.clone();
    restored.rules.extend(restore.iter().cloned());
    let ids: BTreeSet<&str> = restore.iter().map(|rule| rule.rule_id.as_str()).collect();
    let evaluation = evaluate(policy, &restored, today);
    let mut rules: Vec<String> = evaluation
        .findings
        .iter()
        .filter(|finding| finding.action != crate::evaluation::Action::Notify)
        .filter(|finding| {
            finding
                .security_group_rule_ids
                .iter()
                .any(|id| ids.contains(id.as_str()))
        })
        .map(|finding| finding.policy_rule_id.clone())
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

/// Two rules that allow the same traffic, whatever their ids.
pub fn same_permission(a: &SecurityGroupRule, b: &SecurityGroupRule) -> bool {
    a.direction == b.direction
        && a.ip_protocol == b.ip_protocol
        && a.from_port == b.from_port
        && a.to_port == b.to_port
        && a.peer == b.peer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::{change, plan as revoke_plan, snapshot};

    fn backed_up() -> BackupRecord {
        BackupRecord::new(
            change(),
            snapshot(&["sgr-22", "sgr-other"]),
            revoke_plan(&["sgr-22"]),
            "2026-11-20T09:14:05Z".parse().unwrap(),
        )
    }

    fn today() -> NaiveDate {
        "2026-11-21".parse().unwrap()
    }

    #[test]
    fn a_rule_policy_forbids_is_refused_unless_exempted_first() {
        let backup = backed_up();
        let now = snapshot(&[]);
        let error = plan(
            &backup,
            &["sgr-22".into()],
            &now,
            &Policy::builtin(),
            today(),
            None,
        )
        .unwrap_err();
        assert!(error.to_string().contains("ec2-13-ssh-open"), "{error}");
        let until = "2026-12-31".parse().unwrap();
        let undo = plan(
            &backup,
            &["sgr-22".into()],
            &now,
            &Policy::builtin(),
            today(),
            Some(until),
        )
        .unwrap();
        assert_eq!(undo.restore.len(), 1, "only what the remediation revoked");
        assert_eq!(undo.restore[0].rule_id, "sgr-22");
        let (key, value) = undo.exemption_tag.unwrap();
        assert_eq!(key, "moat:exempt");
        assert!(value.contains("ec2-13-ssh-open:2026-12-31"), "{value}");
    }

    #[test]
    fn a_rule_the_group_holds_again_is_not_restored_twice() {
        let backup = backed_up();
        let mut now = snapshot(&["sgr-new-id"]);
        now.rules[0].rule_id = "sgr-new-id".into();
        let undo = plan(
            &backup,
            &["sgr-22".into()],
            &now,
            &Policy::builtin(),
            today(),
            None,
        )
        .unwrap();
        assert!(undo.restore.is_empty());
        assert_eq!(undo.already_back, ["sgr-22"]);
        assert!(undo.would_revoke_again.is_empty());
    }
}
