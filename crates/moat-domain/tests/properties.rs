//! Properties of evaluation over arbitrary groups: it never panics, it is
//! deterministic, and adding a rule can only make a group less compliant.
//!
//! Groups are drawn from a small seeded generator rather than a property-test
//! crate: proptest's dev-only features (getrandom, regex-syntax) would give
//! `cargo test` a different feature set from `cargo build`, and every build
//! of the function binaries would then compile the AWS SDK a second time. A
//! failing case prints its seed and the group, which is all a person needs
//! to reproduce it.

mod common;

use std::collections::BTreeMap;

use common::*;
use moat_domain::evaluation::{Action, Evaluation, Verdict};
use moat_domain::policy::{Policy, evaluate};
use moat_domain::snapshot::{Direction, GroupSnapshot, Peer, SecurityGroupRule};
/// How many groups each property is checked on.
const CASES: u64 = 512;

/// xorshift64*: small, fast and deterministic, which is all a test needs.
struct Gen(u64);

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % ((high - low + 1) as u64)) as i64
    }

    fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as i64 - 1) as usize].clone()
    }

    /// Up to `max` characters drawn from `alphabet`.
    fn text(&mut self, alphabet: &str, max: i64) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..self.range(0, max)).map(|_| self.pick(&chars)).collect()
    }
}

fn peer(g: &mut Gen) -> Peer {
    match g.range(0, 6) {
        0 => {
            let octets: Vec<u64> = (0..4).map(|_| g.range(0, 255) as u64).collect();
            let prefix = g.range(0, 32);
            cidr(&format!(
                "{}.{}.{}.{}/{prefix}",
                octets[0], octets[1], octets[2], octets[3]
            ))
        }
        1 => {
            let address = (u128::from(g.next()) << 64) | u128::from(g.next());
            let prefix = g.range(0, 128);
            cidr(&format!("{}/{prefix}", std::net::Ipv6Addr::from(address)))
        }
        2 => cidr("0.0.0.0/0"),
        3 => cidr("::/0"),
        // Text that is not a CIDR at all must not trip the engine either.
        4 => Peer::Ipv4 {
            cidr: g.text("0123456789abcdef:./", 12),
        },
        5 => prefix_list(g.pick(&["pl-open", "pl-private", "pl-unresolved", "pl-garbled"])),
        _ => group_peer(g.pick(&[GROUP_ID, "sg-0other"])),
    }
}

fn port(g: &mut Gen) -> Option<i32> {
    match g.range(0, 3) {
        0 => None,
        1 => Some(-1),
        2 => Some(g.range(-5, 69_999) as i32),
        _ => Some(g.range(0, 65_535) as i32),
    }
}

fn sg_rule(g: &mut Gen) -> SecurityGroupRule {
    SecurityGroupRule {
        rule_id: format!("sgr-{}", g.range(0, 999)),
        direction: if g.bool() {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        ip_protocol: g
            .pick(&[
                "tcp", "udp", "icmp", "icmpv6", "-1", "6", "17", "50", "", "banana", "256",
            ])
            .to_owned(),
        from_port: port(g),
        to_port: port(g),
        peer: peer(g),
        description: None,
        tags: BTreeMap::new(),
    }
}

fn snapshot(g: &mut Gen) -> GroupSnapshot {
    let name = g.pick(&["default", "web"]);
    let rules = (0..g.range(0, 11)).map(|_| sg_rule(g)).collect();
    let mut group = group(name, rules);
    group
        .prefix_lists
        .insert("pl-open".into(), vec!["10.0.0.0/8".into(), "::/0".into()]);
    group
        .prefix_lists
        .insert("pl-private".into(), vec!["10.0.0.0/8".into()]);
    group
        .prefix_lists
        .insert("pl-garbled".into(), vec!["not-a-cidr".into()]);
    let exemption = match g.range(0, 4) {
        0 => None,
        1 => Some("ec2-13-ssh-open:2025-06-01".to_owned()),
        2 => Some("ec2-19-high-risk-ports:2020-01-01, all-traffic-open:2030-12-31".to_owned()),
        // Far beyond any maximum: capped, never honoured as written.
        3 => Some("ec2-13-ssh-open:9999-12-31 ec2-18-tcp-unauthorized:2026-01-01".to_owned()),
        _ => Some(g.text("abcdefghijklmnopqrstuvwxyz0123456789:,- ", 30)),
    };
    if let Some(value) = exemption {
        group.tags.insert("moat:exempt".into(), value);
    }
    group
}

/// A rule that breaks EC2.13 however it is drawn: TCP or all traffic, a
/// range containing 22, from the whole internet.
fn violating_rule(g: &mut Gen) -> SecurityGroupRule {
    let protocol = g.pick(&["tcp", "-1"]);
    let from = g.range(0, 22) as i32;
    let to = g.range(22, 65_535) as i32;
    let open = g.pick(&["0.0.0.0/0", "::/0"]);
    ingress("sgr-added", protocol, from, to, cidr(open))
}

/// Runs `property` on `CASES` seeds, naming the seed of a failure.
fn check(name: &str, property: impl Fn(&mut Gen) -> Result<(), String>) {
    for seed in 0..CASES {
        if let Err(message) = property(&mut Gen::new(seed)) {
            panic!("{name} fails for seed {seed}: {message}");
        }
    }
}

#[test]
fn evaluation_never_panics_and_is_deterministic() {
    let policy = Policy::builtin();
    check("evaluation_never_panics_and_is_deterministic", |g| {
        let group = snapshot(g);
        let today = date("2020-01-01") + chrono::Duration::days(g.range(0, 3999));
        let first = evaluate(&policy, &group, today);
        if first != evaluate(&policy, &group, today) {
            return Err(format!("two evaluations differ for {group:?}"));
        }
        // Every finding is explainable: it names its rule and a reason.
        match first
            .findings
            .iter()
            .find(|finding| finding.reason.is_empty() || finding.policy_rule_id.is_empty())
        {
            Some(finding) => Err(format!("unexplained finding {finding:?} for {group:?}")),
            None => Ok(()),
        }
    });
}

#[test]
fn adding_any_rule_never_makes_a_group_more_compliant() {
    let policy = Policy::builtin();
    check("adding_any_rule_never_makes_a_group_more_compliant", |g| {
        let group = snapshot(g);
        let extra = sg_rule(g);
        let before = evaluate(&policy, &group, today());
        let mut more = group.clone();
        more.rules.push(extra.clone());
        let after = evaluate(&policy, &more, today());
        if after.verdict < before.verdict {
            return Err(format!(
                "{:?} -> {:?} adding {extra:?} to {group:?}",
                before.verdict, after.verdict
            ));
        }
        for finding in &before.findings {
            let kept = after
                .findings
                .iter()
                .any(|f| f.policy_rule_id == finding.policy_rule_id && f.action == finding.action);
            if !kept {
                return Err(format!(
                    "finding {} disappeared adding {extra:?} to {group:?}",
                    finding.policy_rule_id
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn adding_a_violating_rule_is_always_caught() {
    let policy = Policy::builtin();
    check("adding_a_violating_rule_is_always_caught", |g| {
        let mut more = snapshot(g);
        more.tags.remove("moat:exempt");
        let extra = violating_rule(g);
        more.rules.push(extra.clone());
        let after = evaluate(&policy, &more, today());
        if after.verdict < Verdict::Remediate {
            return Err(format!("verdict {:?} for {more:?}", after.verdict));
        }
        let ssh = after
            .findings
            .iter()
            .find(|f| f.policy_rule_id == "ec2-13-ssh-open");
        if ssh.is_some_and(|f| f.security_group_rule_ids.iter().any(|id| id == "sgr-added")) {
            Ok(())
        } else {
            Err(format!("{extra:?} not flagged by EC2.13 in {more:?}"))
        }
    });
}

/// A rule open to the internet that Moat cannot read: a protocol that is no
/// protocol, a port range that ends before it starts, or a port beyond
/// 65535.
fn unreadable_rule(g: &mut Gen) -> SecurityGroupRule {
    let open = cidr(g.pick(&["0.0.0.0/0", "::/0"]));
    match g.range(0, 2) {
        0 => {
            let protocol = g.pick(&["banana", "", "256", "-2", "6.0", "TCP "]);
            ingress("sgr-unreadable", protocol, 22, 22, open)
        }
        1 => {
            let from = g.range(1, 65_535);
            let to = g.range(0, from - 1);
            let protocol = g.pick(&["tcp", "udp", "6", "17"]);
            ingress("sgr-unreadable", protocol, from as i32, to as i32, open)
        }
        _ => {
            let to = g.range(65_536, 1_000_000) as i32;
            ingress("sgr-unreadable", g.pick(&["tcp", "udp"]), 22, to, open)
        }
    }
}

#[test]
fn an_open_rule_moat_cannot_read_is_never_compliant() {
    let policy = Policy::builtin();
    check("an_open_rule_moat_cannot_read_is_never_compliant", |g| {
        let mut group = snapshot(g);
        group.tags.remove("moat:exempt");
        let extra = unreadable_rule(g);
        group.rules.push(extra.clone());
        let evaluation = evaluate(&policy, &group, today());
        // A reason spells out the first few rules and counts the rest.
        let reviewed = evaluation.findings.iter().any(|finding| {
            let ids = &finding.security_group_rule_ids;
            finding.action == Action::Review
                && ids.iter().any(|id| id == "sgr-unreadable")
                && (ids.len() > 3 || finding.reason.contains("sgr-unreadable"))
        });
        if reviewed && evaluation.verdict >= Verdict::Review {
            Ok(())
        } else {
            Err(format!("{extra:?} was not escalated: {evaluation:?}"))
        }
    });
}

/// The exemption facts every evaluation keeps, whatever the tag says.
fn exemptions_are_announced_and_bounded(
    evaluation: &Evaluation,
    today: chrono::NaiveDate,
) -> Result<(), String> {
    let limit = today + chrono::Duration::days(90);
    let announced = !evaluation.exempted.is_empty() || !evaluation.capped_exemptions.is_empty();
    if announced && evaluation.verdict < Verdict::Notify {
        return Err(format!("an exemption in force is silent: {evaluation:?}"));
    }
    for exempted in &evaluation.exempted {
        let until = exempted.until.as_deref().map(date);
        if until.is_none_or(|until| until < today || until > limit) {
            return Err(format!("{exempted:?} holds outside {today}..={limit}"));
        }
    }
    for capped in &evaluation.capped_exemptions {
        if date(&capped.until) != limit || date(&capped.requested_until) <= limit {
            return Err(format!("{capped:?} is not capped at {limit}"));
        }
    }
    Ok(())
}

#[test]
fn exemptions_are_never_silent_and_never_longer_than_max_days() {
    let policy = Policy::builtin();
    check(
        "exemptions_are_never_silent_and_never_longer_than_max_days",
        |g| {
            let group = snapshot(g);
            let today = date("2020-01-01") + chrono::Duration::days(g.range(0, 3999));
            exemptions_are_announced_and_bounded(&evaluate(&policy, &group, today), today)
                .map_err(|message| format!("{message} for {group:?}"))
        },
    );
}
