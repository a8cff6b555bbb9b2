//! What the fuzz targets share: the fixed groups and dates that accepted
//! policies are judged with, and the properties every evaluation must have,
//! whichever policy and group produced it.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::NaiveDate;
use moat_domain::describe::snapshot_from_cli_json;
use moat_domain::evaluation::{Action, Evaluation, Verdict};
use moat_domain::policy::{EXEMPTION_PROBLEM_RULE_ID, Policy, evaluate};
use moat_domain::snapshot::GroupSnapshot;
use serde_json::Value;

/// The account and region a describe document is read with, as `cargo
/// xtask policy eval` does when the operator gives none.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// Evaluation days: one on which the fixtures' exemption tags hold, one
/// long after they expired.
pub fn days() -> [NaiveDate; 2] {
    [
        NaiveDate::from_ymd_opt(2025, 6, 1).expect("a date"),
        NaiveDate::from_ymd_opt(2031, 1, 1).expect("a date"),
    ]
}

/// The shipped default pack, parsed once.
pub fn builtin() -> &'static Policy {
    static BUILTIN: OnceLock<Policy> = OnceLock::new();
    BUILTIN.get_or_init(Policy::builtin)
}

/// Groups from the repository's fixtures, parsed once: a web group read
/// from CLI output (a prefix list, a self-reference, an exemption tag), the
/// pipeline's open-SSH snapshot, and the same group renamed `default` so
/// that EC2.2-style scopes apply.
pub fn fixture_groups() -> &'static [GroupSnapshot] {
    static GROUPS: OnceLock<Vec<GroupSnapshot>> = OnceLock::new();
    GROUPS.get_or_init(|| {
        let cli: Value = serde_json::from_str(include_str!(
            "../../crates/moat-domain/tests/fixtures/cli-web-group.json"
        ))
        .expect("the CLI fixture is JSON");
        let web = snapshot_from_cli_json(&cli, ACCOUNT, REGION).expect("the CLI fixture reads");
        let detected: Value = serde_json::from_str(include_str!(
            "../../crates/moat-domain/fixtures/pipeline/detected-ssh-open.json"
        ))
        .expect("the pipeline fixture is JSON");
        let ssh: GroupSnapshot = serde_json::from_value(detected["snapshot"].clone())
            .expect("the pipeline fixture holds a snapshot");
        let mut default = ssh.clone();
        default.group_name = "default".to_owned();
        vec![web, ssh, default]
    })
}

/// Evaluates `group` with `policy` on `today` and checks what must hold of
/// any evaluation, panicking (which libFuzzer reports as a crash) with the
/// broken property otherwise:
///
/// - evaluating is deterministic;
/// - the verdict is the strongest finding's action, raised to `notify`
///   when an exemption let something through, as the pipeline routes it;
/// - a finding never asks for more than its policy rule's action (the
///   switches only ever weaken `remediate`/`lockdown` to `review`), and
///   names only rules the group has and policy rules the policy has;
/// - `dryRun` is the policy's;
/// - the evaluation survives its JSON round trip (it is passed between
///   the state machine's steps as JSON).
pub fn check_evaluation(policy: &Policy, group: &GroupSnapshot, today: NaiveDate) -> Evaluation {
    let evaluation = evaluate(policy, group, today);
    assert_eq!(
        evaluation,
        evaluate(policy, group, today),
        "evaluate gave two answers for one input"
    );

    let strongest = evaluation
        .findings
        .iter()
        .map(|finding| Verdict::for_action(finding.action))
        .max()
        .unwrap_or(Verdict::Compliant);
    let announced = !evaluation.exempted.is_empty() || !evaluation.capped_exemptions.is_empty();
    let expected = if announced {
        strongest.max(Verdict::Notify)
    } else {
        strongest
    };
    assert_eq!(
        evaluation.verdict, expected,
        "the verdict is not the strongest finding's action: {evaluation:#?}"
    );
    assert_eq!(evaluation.dry_run, policy.settings().dry_run);

    let rule_ids: BTreeSet<&str> = group
        .rules
        .iter()
        .map(|rule| rule.rule_id.as_str())
        .collect();
    for finding in &evaluation.findings {
        for id in &finding.security_group_rule_ids {
            assert!(
                rule_ids.contains(id.as_str()),
                "finding {} names {id}, which the group does not have",
                finding.policy_rule_id
            );
        }
        if finding.policy_rule_id == EXEMPTION_PROBLEM_RULE_ID {
            assert_eq!(finding.action, Action::Notify);
            continue;
        }
        let rule = policy.rule(&finding.policy_rule_id).unwrap_or_else(|| {
            panic!(
                "finding for {}, which the policy does not have",
                finding.policy_rule_id
            )
        });
        assert!(
            !finding.security_group_rule_ids.is_empty(),
            "finding {} names no rule of the group",
            finding.policy_rule_id
        );
        assert!(
            finding.action == rule.action || finding.action == Action::Review,
            "finding {} asks for {:?}, but its rule says {:?}",
            finding.policy_rule_id,
            finding.action,
            rule.action
        );
    }
    for exempted in &evaluation.exempted {
        assert!(
            policy.rule(&exempted.policy_rule_id).is_some(),
            "exempted {}, which the policy does not have",
            exempted.policy_rule_id
        );
        for id in &exempted.security_group_rule_ids {
            assert!(
                rule_ids.contains(id.as_str()),
                "exempted {id}, which the group does not have"
            );
        }
    }

    let json = serde_json::to_string(&evaluation).expect("an evaluation serialises");
    let back: Evaluation = serde_json::from_str(&json)
        .unwrap_or_else(|error| panic!("an evaluation does not read back ({error}): {json}"));
    assert_eq!(
        back, evaluation,
        "an evaluation changed on its JSON round trip"
    );
    evaluation
}
