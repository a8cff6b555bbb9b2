//! Exemptions, scope, the remediation switches and dry-run: what decides a
//! verdict beyond whether a rule matches.

mod common;

use std::collections::BTreeMap;

use common::*;
use moat_domain::evaluation::{Action, CappedExemption, ExpiredExemption, Verdict};
use moat_domain::policy::{EXEMPTION_PROBLEM_RULE_ID, Policy, evaluate, evaluate_attributed};
use moat_domain::snapshot::GroupSnapshot;

fn ssh_open() -> GroupSnapshot {
    group(
        "web",
        vec![
            ingress("sgr-ssh", "tcp", 22, 22, cidr("0.0.0.0/0")),
            ingress("sgr-web", "tcp", 443, 443, cidr("0.0.0.0/0")),
        ],
    )
}

fn ids(evaluation: &moat_domain::evaluation::Evaluation) -> Vec<&str> {
    evaluation
        .findings
        .iter()
        .map(|f| f.policy_rule_id.as_str())
        .collect()
}

#[test]
fn an_exemption_suppresses_its_rule_through_its_last_day() {
    let mut group = ssh_open();
    group.tags.insert(
        "moat:exempt".into(),
        "ec2-13-ssh-open:2025-06-01, ec2-19-high-risk-ports:2025-05-31".into(),
    );

    let on_the_day = evaluate(&Policy::builtin(), &group, date("2025-06-01"));
    assert_eq!(
        ids(&on_the_day),
        ["ec2-18-tcp-unauthorized", "ec2-19-high-risk-ports"]
    );
    assert_eq!(on_the_day.exempted.len(), 1);
    assert_eq!(on_the_day.exempted[0].policy_rule_id, "ec2-13-ssh-open");
    assert_eq!(on_the_day.exempted[0].security_group_rule_ids, ["sgr-ssh"]);
    assert_eq!(on_the_day.exempted[0].until.as_deref(), Some("2025-06-01"));
    assert_eq!(
        on_the_day.expired_exemptions,
        [ExpiredExemption {
            policy_rule_id: "ec2-19-high-risk-ports".into(),
            expired_on: "2025-05-31".into()
        }]
    );

    let day_after = evaluate(&Policy::builtin(), &group, date("2025-06-02"));
    assert_eq!(
        ids(&day_after),
        [
            "ec2-13-ssh-open",
            "ec2-18-tcp-unauthorized",
            "ec2-19-high-risk-ports"
        ]
    );
    assert!(day_after.exempted.is_empty());
    assert_eq!(day_after.expired_exemptions.len(), 2);
}

#[test]
fn a_fully_exempted_group_is_announced_not_silently_compliant() {
    let mut group = ssh_open();
    group.tags.insert(
        "moat:exempt".into(),
        "ec2-13-ssh-open:2025-07-01 ec2-18-tcp-unauthorized:2025-07-01 ec2-19-high-risk-ports:2025-07-01".into(),
    );
    let evaluation = evaluate(&Policy::builtin(), &group, today());
    // No finding is left, but a change that an exemption let through must
    // reach people: `notify` is the verdict the state machine announces.
    assert!(evaluation.findings.is_empty());
    assert_eq!(evaluation.verdict, Verdict::Notify);
    assert_eq!(evaluation.exempted.len(), 3);

    // An exemption that suppresses nothing is not announced on its own.
    let mut clean = group.clone();
    clean.rules.clear();
    let quiet = evaluate(&Policy::builtin(), &clean, today());
    assert_eq!(quiet.verdict, Verdict::Compliant);
}

#[test]
fn an_exemption_longer_than_max_days_is_capped_and_reported() {
    let mut group = ssh_open();
    group.tags.insert(
        "moat:exempt".into(),
        "ec2-13-ssh-open:9999-12-31, ec2-19-high-risk-ports:2025-08-30".into(),
    );
    // The default maximum is 90 days: 2025-06-01 + 90 = 2025-08-30.
    assert_eq!(Policy::builtin().exemptions().max_days, 90);
    let evaluation = evaluate(&Policy::builtin(), &group, today());
    let until: Vec<(&str, Option<&str>)> = evaluation
        .exempted
        .iter()
        .map(|e| (e.policy_rule_id.as_str(), e.until.as_deref()))
        .collect();
    assert_eq!(
        until,
        [
            ("ec2-13-ssh-open", Some("2025-08-30")),
            ("ec2-19-high-risk-ports", Some("2025-08-30"))
        ]
    );
    assert_eq!(
        evaluation.capped_exemptions,
        [CappedExemption {
            policy_rule_id: "ec2-13-ssh-open".into(),
            requested_until: "9999-12-31".into(),
            until: "2025-08-30".into(),
        }]
    );
    assert_eq!(ids(&evaluation), ["ec2-18-tcp-unauthorized"]);

    // A capped exemption is reported even when it suppresses nothing, so
    // the group's owners learn that their tag asks for too much.
    let mut clean = group_with_tag("moat:exempt", "ec2-13-ssh-open:9999-12-31");
    clean.rules.clear();
    let evaluation = evaluate(&Policy::builtin(), &clean, today());
    assert_eq!(evaluation.capped_exemptions.len(), 1);
    assert_eq!(evaluation.verdict, Verdict::Notify);
}

fn with_exemptions(exemptions: &str) -> Policy {
    let mut document: serde_json::Value =
        serde_json::from_str(moat_domain::policy::BUILTIN_JSON).expect("builtin is JSON");
    document["exemptions"] = serde_json::from_str(exemptions).expect("exemptions are JSON");
    Policy::from_json(&document.to_string()).expect("policy with exemptions is valid")
}

#[test]
fn max_days_is_a_policy_setting() {
    let policy = with_exemptions(r#"{"maxDays": 7}"#);
    let group = group_with_tag("moat:exempt", "ec2-13-ssh-open:2025-12-31");
    let evaluation = evaluate(&policy, &group, today());
    assert_eq!(evaluation.exempted[0].until.as_deref(), Some("2025-06-08"));
    assert_eq!(
        evaluation.capped_exemptions[0].requested_until,
        "2025-12-31"
    );
}

#[test]
fn with_allowed_taggers_an_exemption_of_unknown_authorship_counts_for_nothing() {
    let policy = with_exemptions(
        r#"{"allowedTaggers": ["arn:aws:iam::*:role/SecurityAdmin", "arn:aws:iam::111122223333:user/carol"]}"#,
    );
    let group = group_with_tag("moat:exempt", "ec2-13-ssh-open:2025-07-01");

    // Nothing Moat reads says who set the tag: fail closed, and say so.
    let evaluation = evaluate(&policy, &group, today());
    assert!(evaluation.exempted.is_empty());
    assert_eq!(
        ids(&evaluation),
        [
            "ec2-13-ssh-open",
            "ec2-18-tcp-unauthorized",
            "ec2-19-high-risk-ports",
            EXEMPTION_PROBLEM_RULE_ID
        ]
    );
    assert_eq!(
        evaluation.findings[3].reason,
        "tag moat:exempt exempts nothing from: `ec2-13-ssh-open:2025-07-01` is not counted: \
         no trusted record says who set the tag, and the policy counts exemptions only from its allowedTaggers"
    );

    let authored = |arn: &str| {
        let authors = BTreeMap::from([("moat:exempt".to_owned(), arn.to_owned())]);
        evaluate_attributed(&policy, &group, &authors, today())
    };
    let allowed = authored("arn:aws:iam::444455556666:role/SecurityAdmin");
    assert_eq!(allowed.exempted[0].policy_rule_id, "ec2-13-ssh-open");
    assert!(!ids(&allowed).contains(&EXEMPTION_PROBLEM_RULE_ID));
    assert!(
        !authored("arn:aws:iam::111122223333:user/carol")
            .exempted
            .is_empty()
    );

    let refused = authored("arn:aws:iam::111122223333:role/Developer");
    assert!(refused.exempted.is_empty());
    assert!(
        refused.findings.last().expect("problem").reason.contains(
            "`ec2-13-ssh-open:2025-07-01` is not counted: arn:aws:iam::111122223333:role/Developer set the tag, and it is not in allowedTaggers"
        ),
        "{:?}",
        refused.findings
    );

    // Without allowedTaggers, authorship does not matter.
    let open = evaluate(&Policy::builtin(), &group, today());
    assert_eq!(open.exempted[0].policy_rule_id, "ec2-13-ssh-open");
}

#[test]
fn an_unreadable_exemption_tag_exempts_nothing_and_is_reported() {
    let mut group = ssh_open();
    group.tags.insert(
        "moat:exempt".into(),
        "ec2-13-ssh-open, no-such-rule:2030-01-01,ec2-19-high-risk-ports:soon".into(),
    );
    let evaluation = evaluate(&Policy::builtin(), &group, today());
    assert_eq!(
        ids(&evaluation),
        [
            "ec2-13-ssh-open",
            "ec2-18-tcp-unauthorized",
            "ec2-19-high-risk-ports",
            EXEMPTION_PROBLEM_RULE_ID
        ]
    );
    let problem = evaluation.findings.last().expect("problem finding");
    assert_eq!(problem.action, Action::Notify);
    assert_eq!(
        problem.reason,
        "tag moat:exempt exempts nothing from: `ec2-13-ssh-open` has no expiry date (write <rule-id>:<YYYY-MM-DD>); \
         `no-such-rule:2030-01-01` names no rule of policy moat-default; \
         `ec2-19-high-risk-ports:soon` has an expiry that is not a date YYYY-MM-DD"
    );
    assert!(evaluation.exempted.is_empty());
    assert_eq!(evaluation.verdict, Verdict::Remediate);

    // A bad tag on an otherwise clean group still only notifies.
    let mut clean = group_with_tag("moat:exempt", "garbage");
    clean.rules.clear();
    assert_eq!(
        evaluate(&Policy::builtin(), &clean, today()).verdict,
        Verdict::Notify
    );
}

fn group_with_tag(key: &str, value: &str) -> GroupSnapshot {
    let mut group = ssh_open();
    group.tags.insert(key.into(), value.into());
    group
}

#[test]
fn switching_auto_remediation_off_turns_remediate_into_review() {
    let mut policy = Policy::builtin();
    assert_eq!(
        evaluate(&policy, &ssh_open(), today()).verdict,
        Verdict::Remediate
    );
    policy.set_auto_remediate(false);
    let evaluation = evaluate(&policy, &ssh_open(), today());
    assert_eq!(evaluation.verdict, Verdict::Review);
    assert!(
        evaluation
            .findings
            .iter()
            .all(|f| f.action == Action::Review)
    );
    assert!(!evaluation.dry_run);
}

#[test]
fn dry_run_is_reported_and_changes_no_decision() {
    let mut policy = Policy::builtin();
    policy.set_dry_run(true);
    let evaluation = evaluate(&policy, &ssh_open(), today());
    assert!(evaluation.dry_run);
    assert_eq!(evaluation.verdict, Verdict::Remediate);
    assert_eq!(evaluation.findings[0].security_group_rule_ids, ["sgr-ssh"]);
}

fn scoped() -> Policy {
    Policy::from_json(&fixture("scoped-policy.json")).expect("scoped policy is valid")
}

fn prod_group() -> GroupSnapshot {
    let mut group = group("api", vec![ingress("sgr-ssh", "tcp", 22, 22, cidr("::/0"))]);
    group.tags.insert("env".into(), "prod".into());
    group.tags.insert("owner".into(), "payments".into());
    group
}

#[test]
fn scope_limits_a_rule_to_accounts_regions_vpcs_and_tags() {
    let policy = scoped();
    assert!(policy.settings().dry_run);
    assert_eq!(
        ids(&evaluate(&policy, &prod_group(), today())),
        ["prod-ssh"]
    );

    type Change = Box<dyn Fn(&mut GroupSnapshot)>;
    let out_of_scope: Vec<(&str, Change)> = vec![
        (
            "other account",
            Box::new(|g| g.account = "444455556666".into()),
        ),
        ("other region", Box::new(|g| g.region = "eu-west-1".into())),
        (
            "other vpc",
            Box::new(|g| g.vpc_id = Some("vpc-0bbb".into())),
        ),
        ("no vpc", Box::new(|g| g.vpc_id = None)),
        (
            "env not listed",
            Box::new(|g| {
                g.tags.insert("env".into(), "dev".into());
            }),
        ),
        (
            "owner tag missing",
            Box::new(|g| {
                g.tags.remove("owner");
            }),
        ),
    ];
    for (name, change) in out_of_scope {
        let mut group = prod_group();
        change(&mut group);
        assert_eq!(
            ids(&evaluate(&policy, &group, today())),
            Vec::<&str>::new(),
            "{name}"
        );
    }
}

#[test]
fn too_wide_sources_with_an_allowlist_and_a_per_rule_switch() {
    let policy = scoped();
    let db = |peer| group("db", vec![ingress("sgr-db", "tcp", 5432, 5432, peer)]);
    let judged = |peer| {
        evaluate(&policy, &db(peer), today())
            .findings
            .into_iter()
            .map(|f| (f.policy_rule_id, f.action))
            .collect::<Vec<_>>()
    };
    let review = vec![("wide-db".to_owned(), Action::Review)];
    assert_eq!(judged(cidr("172.16.0.0/12")), review, "wider than /16");
    assert_eq!(judged(cidr("172.16.0.0/16")), review, "exactly /16");
    assert_eq!(judged(cidr("172.16.0.0/17")), vec![], "narrower than /16");
    assert_eq!(judged(cidr("10.0.0.0/8")), vec![], "allowlisted");
    assert_eq!(judged(cidr("2001:db8::/32")), review, "ipv6 wider than /48");
    assert_eq!(
        judged(cidr("2001:db8::/56")),
        vec![],
        "ipv6 narrower than /48"
    );
}

#[test]
fn peer_kinds_tell_referenced_groups_from_self_references() {
    let policy = scoped();
    let other = group(
        "app",
        vec![egress("sgr-1", "tcp", 5432, 5432, group_peer("sg-0db"))],
    );
    assert_eq!(ids(&evaluate(&policy, &other, today())), ["peer-groups"]);
    let itself = group(
        "app",
        vec![egress("sgr-1", "tcp", 5432, 5432, group_peer(GROUP_ID))],
    );
    assert_eq!(
        ids(&evaluate(&policy, &itself, today())),
        Vec::<&str>::new()
    );
}

#[test]
fn the_policy_names_its_own_exemption_tag() {
    let mut group = prod_group();
    group
        .tags
        .insert("moat:exempt".into(), "prod-ssh:2030-01-01".into());
    assert_eq!(ids(&evaluate(&scoped(), &group, today())), ["prod-ssh"]);
    group
        .tags
        .insert("team:exempt".into(), "prod-ssh:2030-01-01".into());
    let evaluation = evaluate(&scoped(), &group, today());
    assert_eq!(ids(&evaluation), Vec::<&str>::new());
    assert_eq!(evaluation.exempted[0].policy_rule_id, "prod-ssh");
}
