//! The built-in pack against each control's boundary cases, table-driven:
//! every row is a group and the exact set of policy rules it must break.

mod common;

use common::*;
use moat_domain::evaluation::{Action, Verdict};
use moat_domain::policy::{Policy, evaluate};
use moat_domain::snapshot::{GroupSnapshot, SecurityGroupRule};

const SSH: &str = "ec2-13-ssh-open";
const RDP: &str = "ec2-14-rdp-open";
const TCP18: &str = "ec2-18-tcp-unauthorized";
const UDP18: &str = "ec2-18-udp-unauthorized";
const RISKY: &str = "ec2-19-high-risk-ports";
const ALL: &str = "all-traffic-open";
const DEFAULT: &str = "ec2-2-default-sg-closed";

/// The policy rule ids with findings, in policy order, each with its action.
fn findings(group: &GroupSnapshot) -> Vec<(String, Action)> {
    evaluate(&Policy::builtin(), group, today())
        .findings
        .into_iter()
        .map(|finding| (finding.policy_rule_id, finding.action))
        .collect()
}

fn check(cases: &[(&str, SecurityGroupRule, &[&str])]) {
    for (name, sg_rule, expected) in cases {
        let found: Vec<String> = findings(&group("web", vec![sg_rule.clone()]))
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(found, *expected, "case `{name}`");
    }
}

#[test]
fn ec2_13_ssh_from_the_internet() {
    check(&[
        (
            "tcp/22 from 0.0.0.0/0",
            ingress("sgr-1", "tcp", 22, 22, cidr("0.0.0.0/0")),
            &[SSH, TCP18, RISKY],
        ),
        (
            "tcp/22 from ::/0",
            ingress("sgr-1", "tcp", 22, 22, cidr("::/0")),
            &[SSH, TCP18, RISKY],
        ),
        (
            "tcp/22 from ::/1 is not open",
            ingress("sgr-1", "tcp", 22, 22, cidr("::/1")),
            &[],
        ),
        (
            "tcp/22 from 0.0.0.0/1 is not open",
            ingress("sgr-1", "tcp", 22, 22, cidr("0.0.0.0/1")),
            &[],
        ),
        (
            "tcp/22 from a private range",
            ingress("sgr-1", "tcp", 22, 22, cidr("10.0.0.0/8")),
            &[],
        ),
        (
            "tcp/21-23 contains 22",
            ingress("sgr-1", "tcp", 21, 23, cidr("0.0.0.0/0")),
            &[SSH, TCP18, RISKY],
        ),
        (
            "tcp/23-25 does not",
            ingress("sgr-1", "tcp", 23, 25, cidr("0.0.0.0/0")),
            &[TCP18, RISKY],
        ),
        (
            "tcp/0-21 does not",
            ingress("sgr-1", "tcp", 0, 21, cidr("0.0.0.0/0")),
            &[TCP18, RISKY],
        ),
        (
            "tcp/0-65535",
            ingress("sgr-1", "tcp", 0, 65535, cidr("0.0.0.0/0")),
            &[SSH, RDP, TCP18, RISKY],
        ),
        (
            "tcp with ports -1",
            ingress("sgr-1", "tcp", -1, -1, cidr("0.0.0.0/0")),
            &[SSH, RDP, TCP18, RISKY],
        ),
        (
            "protocol 6 is tcp",
            ingress("sgr-1", "6", 22, 22, cidr("0.0.0.0/0")),
            &[SSH, TCP18, RISKY],
        ),
        (
            "udp/22 is not ssh",
            ingress("sgr-1", "udp", 22, 22, cidr("0.0.0.0/0")),
            &[UDP18, RISKY],
        ),
        (
            "egress tcp/22",
            egress("sgr-1", "tcp", 22, 22, cidr("0.0.0.0/0")),
            &[],
        ),
        (
            "referenced group",
            ingress("sgr-1", "tcp", 22, 22, group_peer("sg-0other")),
            &[],
        ),
        (
            "self-reference",
            ingress("sgr-1", "tcp", 22, 22, group_peer(GROUP_ID)),
            &[],
        ),
    ]);
}

#[test]
fn ec2_14_rdp_from_the_internet() {
    check(&[
        (
            "tcp/3389 from 0.0.0.0/0",
            ingress("sgr-1", "tcp", 3389, 3389, cidr("0.0.0.0/0")),
            &[RDP, TCP18, RISKY],
        ),
        (
            "tcp/3389 from ::/0",
            ingress("sgr-1", "tcp", 3389, 3389, cidr("::/0")),
            &[RDP, TCP18, RISKY],
        ),
        (
            "tcp/3388-3390",
            ingress("sgr-1", "tcp", 3388, 3390, cidr("0.0.0.0/0")),
            &[RDP, TCP18, RISKY],
        ),
        (
            "tcp/3390",
            ingress("sgr-1", "tcp", 3390, 3390, cidr("0.0.0.0/0")),
            &[TCP18],
        ),
        (
            "udp/3389 is not checked by restricted-rdp",
            ingress("sgr-1", "udp", 3389, 3389, cidr("0.0.0.0/0")),
            &[UDP18, RISKY],
        ),
        (
            "tcp/3389 from a /32",
            ingress("sgr-1", "tcp", 3389, 3389, cidr("203.0.113.9/32")),
            &[],
        ),
    ]);
}

#[test]
fn ec2_18_only_authorized_ports_open_to_the_internet() {
    check(&[
        (
            "tcp/80",
            ingress("sgr-1", "tcp", 80, 80, cidr("0.0.0.0/0")),
            &[],
        ),
        (
            "tcp/443 over ipv6",
            ingress("sgr-1", "tcp", 443, 443, cidr("::/0")),
            &[],
        ),
        (
            "tcp/81",
            ingress("sgr-1", "tcp", 81, 81, cidr("0.0.0.0/0")),
            &[TCP18],
        ),
        (
            "tcp/79-80 leaves the set",
            ingress("sgr-1", "tcp", 79, 80, cidr("0.0.0.0/0")),
            &[TCP18],
        ),
        (
            "tcp/80-443 contains 110",
            ingress("sgr-1", "tcp", 80, 443, cidr("0.0.0.0/0")),
            &[TCP18, RISKY],
        ),
        (
            "udp/53: no udp port is authorized",
            ingress("sgr-1", "udp", 53, 53, cidr("0.0.0.0/0")),
            &[UDP18],
        ),
        (
            "udp/443 is not tcp/443",
            ingress("sgr-1", "udp", 443, 443, cidr("::/0")),
            &[UDP18],
        ),
        (
            "icmp is neither tcp nor udp",
            ingress("sgr-1", "icmp", -1, -1, cidr("0.0.0.0/0")),
            &[],
        ),
        (
            "icmpv6 echo",
            ingress("sgr-1", "icmpv6", 128, 0, cidr("::/0")),
            &[],
        ),
        (
            "esp (50)",
            ingress("sgr-1", "50", -1, -1, cidr("0.0.0.0/0")),
            &[],
        ),
        (
            "tcp/8443 from a /16",
            ingress("sgr-1", "tcp", 8443, 8443, cidr("172.16.0.0/16")),
            &[],
        ),
    ]);
}

#[test]
fn ec2_19_high_risk_ports() {
    let open = |port: i32| ingress("sgr-1", "tcp", port, port, cidr("0.0.0.0/0"));
    // Every listed port on its own, and its neighbours, which are not listed.
    for port in [
        20, 21, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 4333, 5000, 5432, 5500, 5601,
        8080, 8088, 8888, 9200, 9300,
    ] {
        check(&[(&format!("tcp/{port}"), open(port), &[TCP18, RISKY])]);
    }
    check(&[
        ("tcp/9301", open(9301), &[TCP18]),
        ("tcp/8081", open(8081), &[TCP18]),
        (
            "udp/1434 over ipv6",
            ingress("sgr-1", "udp", 1434, 1434, cidr("::/0")),
            &[UDP18, RISKY],
        ),
        (
            "tcp/5432 from a vpc range",
            ingress("sgr-1", "tcp", 5432, 5432, cidr("10.1.0.0/16")),
            &[],
        ),
    ]);
}

#[test]
fn all_traffic_from_the_internet_is_critical() {
    let everything = [SSH, RDP, TCP18, UDP18, RISKY, ALL];
    check(&[
        (
            "-1 with ports -1 from 0.0.0.0/0",
            ingress("sgr-1", "-1", -1, -1, cidr("0.0.0.0/0")),
            &everything,
        ),
        (
            "-1 from ::/0",
            ingress("sgr-1", "-1", -1, -1, cidr("::/0")),
            &everything,
        ),
        (
            "-1 from ::/1",
            ingress("sgr-1", "-1", -1, -1, cidr("::/1")),
            &[],
        ),
        (
            "-1 egress to the internet is normal",
            egress("sgr-1", "-1", -1, -1, cidr("0.0.0.0/0")),
            &[],
        ),
        (
            "-1 from a referenced group",
            ingress("sgr-1", "-1", -1, -1, group_peer("sg-0other")),
            &[],
        ),
    ]);
    let evaluation = evaluate(
        &Policy::builtin(),
        &group(
            "web",
            vec![ingress("sgr-1", "-1", -1, -1, cidr("0.0.0.0/0"))],
        ),
        today(),
    );
    let all = evaluation
        .findings
        .iter()
        .find(|f| f.policy_rule_id == ALL)
        .expect("all-traffic finding");
    assert_eq!(all.severity, moat_domain::evaluation::Severity::Critical);
    assert_eq!(all.reason, "all traffic open to 0.0.0.0/0 (EC2.19)");
    assert_eq!(evaluation.verdict, Verdict::Remediate);
}

#[test]
fn prefix_lists_are_as_open_as_their_widest_entry() {
    let sg_rule = ingress("sgr-1", "tcp", 22, 22, prefix_list("pl-0abc"));
    let mut open = group("web", vec![sg_rule.clone()]);
    open.prefix_lists.insert(
        "pl-0abc".into(),
        vec!["10.0.0.0/8".into(), "0.0.0.0/0".into()],
    );
    let ids: Vec<String> = findings(&open).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [SSH, TCP18, RISKY]);
    let evaluation = evaluate(&Policy::builtin(), &open, today());
    assert_eq!(
        evaluation.findings[0].reason,
        "tcp/22 open to 0.0.0.0/0 via pl-0abc (EC2.13)"
    );

    let mut private = group("web", vec![sg_rule.clone()]);
    private
        .prefix_lists
        .insert("pl-0abc".into(), vec!["10.0.0.0/8".into(), "::/1".into()]);
    assert_eq!(findings(&private), []);

    // Not resolved: Moat cannot tell, so a person must look; nothing is
    // revoked on a guess.
    let unresolved = group("web", vec![sg_rule]);
    let found = findings(&unresolved);
    assert_eq!(
        found,
        [
            (SSH.into(), Action::Review),
            (TCP18.into(), Action::Review),
            (RISKY.into(), Action::Review)
        ]
    );
    let evaluation = evaluate(&Policy::builtin(), &unresolved, today());
    assert_eq!(evaluation.verdict, Verdict::Review);
    assert_eq!(
        evaluation.findings[0].reason,
        "cannot judge sgr-1: tcp/22 open to pl-0abc (prefix list entries not resolved) (EC2.13)"
    );
}

#[test]
fn an_unreadable_cidr_is_escalated_not_ignored() {
    let found = findings(&group(
        "web",
        vec![ingress("sgr-1", "tcp", 22, 22, cidr("0.0.0.0/banana"))],
    ));
    assert_eq!(
        found,
        [
            (SSH.into(), Action::Review),
            (TCP18.into(), Action::Review),
            (RISKY.into(), Action::Review)
        ]
    );
}

#[test]
fn an_unreadable_cidr_reason_names_the_rule() {
    let evaluation = evaluate(
        &Policy::builtin(),
        &group(
            "web",
            vec![ingress("sgr-1", "tcp", 22, 22, cidr("0.0.0.0/banana"))],
        ),
        today(),
    );
    assert_eq!(
        evaluation.findings[0].reason,
        "cannot judge sgr-1: tcp/22 open to 0.0.0.0/banana (not a readable CIDR) (EC2.13)"
    );
}

/// The review findings of a one-rule group, each with its reason.
fn reviews(sg_rule: SecurityGroupRule) -> Vec<(String, String)> {
    let evaluation = evaluate(&Policy::builtin(), &group("web", vec![sg_rule]), today());
    assert_eq!(evaluation.verdict, Verdict::Review, "{evaluation:?}");
    evaluation
        .findings
        .into_iter()
        .map(|finding| {
            assert_eq!(finding.action, Action::Review, "{finding:?}");
            assert_eq!(finding.security_group_rule_ids, ["sgr-odd"]);
            (finding.policy_rule_id, finding.reason)
        })
        .collect()
}

#[test]
fn a_port_range_that_ends_before_it_starts_is_escalated_not_ignored() {
    // Read as written, 30-20 contains no port at all, so every port rule
    // would pass it: compliant by accident.
    let found = reviews(ingress("sgr-odd", "tcp", 30, 20, cidr("0.0.0.0/0")));
    let rules: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(rules, [SSH, RDP, TCP18, RISKY]);
    assert_eq!(
        found[0].1,
        "cannot judge sgr-odd: tcp ports 30-20 (the range ends before it starts) open to 0.0.0.0/0 (EC2.13)"
    );
    let beyond = reviews(ingress("sgr-odd", "udp", 53, 70000, cidr("::/0")));
    assert_eq!(
        beyond[0].1,
        "cannot judge sgr-odd: udp ports 53-70000 (70000 is not a port from -1 to 65535) open to ::/0 (EC2.18)"
    );
    // A range Moat cannot read from a narrow source is still not a finding.
    assert_eq!(
        findings(&group(
            "web",
            vec![ingress("sgr-odd", "tcp", 30, 20, cidr("10.0.0.0/8"))]
        )),
        []
    );
}

#[test]
fn a_protocol_moat_cannot_read_is_escalated_not_ignored() {
    for protocol in ["banana", "", "256", "-2", "006", " tcp"] {
        let found = reviews(ingress("sgr-odd", protocol, 22, 22, cidr("0.0.0.0/0")));
        let rules: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            rules,
            [SSH, RDP, TCP18, UDP18, RISKY, ALL],
            "protocol `{protocol}`"
        );
        assert_eq!(
            found[0].1,
            format!(
                "cannot judge sgr-odd: protocol `{protocol}` (not a protocol name or a number from 0 to 255) open to 0.0.0.0/0 (EC2.13)"
            )
        );
    }
    // An IANA number Moat has no name for is read, as `other`: ESP is not
    // TCP, so it does not open port 22.
    assert_eq!(
        findings(&group(
            "web",
            vec![ingress("sgr-esp", "50", -1, -1, cidr("0.0.0.0/0"))]
        )),
        []
    );
    // A rule about every protocol and no ports (EC2.2) needs neither.
    assert_eq!(
        findings(&group(
            "default",
            vec![ingress("sgr-odd", "banana", 30, 20, cidr("10.0.0.0/8"))]
        )),
        [(DEFAULT.into(), Action::Remediate)]
    );
}

#[test]
fn ec2_2_default_group_has_no_rules_at_all() {
    let aws_default = vec![
        ingress("sgr-self", "-1", -1, -1, group_peer(GROUP_ID)),
        egress("sgr-out", "-1", -1, -1, cidr("0.0.0.0/0")),
        egress("sgr-out6", "-1", -1, -1, cidr("::/0")),
    ];
    let evaluation = evaluate(
        &Policy::builtin(),
        &group("default", aws_default.clone()),
        today(),
    );
    assert_eq!(evaluation.findings.len(), 1);
    assert_eq!(evaluation.findings[0].policy_rule_id, DEFAULT);
    assert_eq!(
        evaluation.findings[0].security_group_rule_ids,
        ["sgr-self", "sgr-out", "sgr-out6"]
    );
    assert_eq!(
        evaluation.findings[0].reason,
        format!(
            "all traffic open to {GROUP_ID} (itself), all traffic allowed out to 0.0.0.0/0, all traffic allowed out to ::/0 (EC2.2)"
        )
    );

    assert_eq!(findings(&group("web", aws_default)), []);
    assert_eq!(findings(&group("default", vec![])), []);
    let narrow = vec![ingress("sgr-1", "tcp", 443, 443, cidr("10.0.0.0/8"))];
    assert_eq!(
        findings(&group("default", narrow)),
        [(DEFAULT.into(), Action::Remediate)]
    );
    let via_list = vec![egress(
        "sgr-1",
        "tcp",
        443,
        443,
        prefix_list("pl-0unresolved"),
    )];
    assert_eq!(
        findings(&group("default", via_list)),
        [(DEFAULT.into(), Action::Remediate)]
    );
}

#[test]
fn a_finding_lists_every_offending_rule_and_summarises_the_rest() {
    let rules = (0..5)
        .map(|i| ingress(&format!("sgr-{i}"), "tcp", 22, 22, cidr("0.0.0.0/0")))
        .chain([ingress("sgr-fine", "tcp", 22, 22, cidr("10.0.0.0/8"))])
        .collect();
    let evaluation = evaluate(&Policy::builtin(), &group("web", rules), today());
    let ssh = &evaluation.findings[0];
    assert_eq!(ssh.policy_rule_id, SSH);
    assert_eq!(
        ssh.security_group_rule_ids,
        ["sgr-0", "sgr-1", "sgr-2", "sgr-3", "sgr-4"]
    );
    assert_eq!(
        ssh.reason,
        "tcp/22 open to 0.0.0.0/0, tcp/22 open to 0.0.0.0/0, tcp/22 open to 0.0.0.0/0, 2 more (EC2.13)"
    );
    assert_eq!(ssh.controls[0], "EC2.13");
}
