//! Evaluations per second of a 60-rule group against the default pack:
//! `cargo bench -p moat-domain`.
//!
//! Plain timing with `std::time::Instant` rather than criterion keeps the
//! domain crate's dependencies small; the figure is a throughput to watch
//! over time, not a statistical study.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use moat_domain::policy::{Policy, evaluate};
use moat_domain::snapshot::{Direction, GroupSnapshot, Peer, SecurityGroupRule};

/// A busy but realistic group: mostly narrow rules, some open web ports,
/// a few offenders, IPv6, prefix lists and group references. A fixture:
/// one list of rules, long because the group is.
fn group_with_60_rules() -> GroupSnapshot {
    let mut rules = Vec::with_capacity(60);
    for i in 0..60u16 {
        let (protocol, from, to, peer) = match i % 6 {
            0 => (
                "tcp",
                443,
                443,
                Peer::Ipv4 {
                    cidr: "0.0.0.0/0".into(),
                },
            ),
            1 => (
                "tcp",
                8000 + i32::from(i),
                8000 + i32::from(i),
                Peer::Ipv4 {
                    cidr: format!("10.{i}.0.0/16"),
                },
            ),
            2 => (
                "udp",
                1000,
                2000,
                Peer::Ipv6 {
                    cidr: format!("2001:db8:{i:x}::/48"),
                },
            ),
            3 => (
                "tcp",
                5432,
                5432,
                Peer::PrefixList {
                    prefix_list_id: "pl-0partners".into(),
                },
            ),
            4 => (
                "-1",
                -1,
                -1,
                Peer::Group {
                    group_id: "sg-0app".into(),
                    user_id: None,
                    vpc_id: None,
                },
            ),
            _ => (
                "tcp",
                20,
                25,
                Peer::Ipv6 {
                    cidr: "::/0".into(),
                },
            ),
        };
        rules.push(SecurityGroupRule {
            rule_id: format!("sgr-{i:017}"),
            direction: if i % 10 == 9 {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            ip_protocol: protocol.into(),
            from_port: Some(from),
            to_port: Some(to),
            peer,
            description: None,
            tags: BTreeMap::new(),
        });
    }
    GroupSnapshot {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        group_id: "sg-0bench".into(),
        group_name: "bench".into(),
        description: String::new(),
        vpc_id: Some("vpc-0aaa".into()),
        tags: BTreeMap::from([("moat:exempt".into(), "ec2-14-rdp-open:2030-01-01".into())]),
        rules,
        prefix_lists: BTreeMap::from([(
            "pl-0partners".into(),
            vec!["198.51.100.0/24".into(), "203.0.113.0/24".into()],
        )]),
    }
}

fn main() {
    let policy = Policy::builtin();
    let group = group_with_60_rules();
    let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap_or_default();
    let findings = evaluate(&policy, &group, today).findings.len();

    // Warm up, then count whole evaluations for a fixed wall-clock budget.
    for _ in 0..1_000 {
        black_box(evaluate(black_box(&policy), black_box(&group), today));
    }
    let budget = Duration::from_secs(2);
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            black_box(evaluate(black_box(&policy), black_box(&group), today));
        }
        runs += 100;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let per_second = runs as f64 / elapsed;
    println!(
        "evaluate: 60-rule group x {} policy rules ({findings} findings): {per_second:.0} evaluations/s ({:.1} us each)",
        policy.rules().len(),
        1e6 / per_second
    );
}
