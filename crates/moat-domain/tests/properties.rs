//! Properties of evaluation over arbitrary groups: it never panics, it is
//! deterministic, and adding a rule can only make a group less compliant.

mod common;

use std::collections::BTreeMap;

use common::*;
use moat_domain::evaluation::Verdict;
use moat_domain::policy::{Policy, evaluate};
use moat_domain::snapshot::{Direction, GroupSnapshot, Peer, SecurityGroupRule};
use proptest::prelude::*;

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        (any::<[u8; 4]>(), 0u8..=32)
            .prop_map(|(a, p)| cidr(&format!("{}.{}.{}.{}/{p}", a[0], a[1], a[2], a[3]))),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, p)| cidr(&format!("{}/{p}", std::net::Ipv6Addr::from(a)))),
        Just(cidr("0.0.0.0/0")),
        Just(cidr("::/0")),
        // Text that is not a CIDR at all must not trip the engine either.
        "[0-9a-f:./]{0,12}".prop_map(|text| Peer::Ipv4 { cidr: text }),
        prop_oneof![
            Just("pl-open"),
            Just("pl-private"),
            Just("pl-unresolved"),
            Just("pl-garbled")
        ]
        .prop_map(prefix_list),
        prop_oneof![Just(GROUP_ID), Just("sg-0other")].prop_map(group_peer),
    ]
}

fn port() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        Just(None),
        Just(Some(-1)),
        (-5i32..70000).prop_map(Some),
        (0i32..=65535).prop_map(Some)
    ]
}

fn sg_rule() -> impl Strategy<Value = SecurityGroupRule> {
    (
        any::<bool>(),
        prop_oneof![
            Just("tcp"),
            Just("udp"),
            Just("icmp"),
            Just("icmpv6"),
            Just("-1"),
            Just("6"),
            Just("17"),
            Just("50"),
            Just("")
        ],
        port(),
        port(),
        peer(),
        0u32..1000,
    )
        .prop_map(
            |(egress, protocol, from_port, to_port, peer, n)| SecurityGroupRule {
                rule_id: format!("sgr-{n}"),
                direction: if egress {
                    Direction::Egress
                } else {
                    Direction::Ingress
                },
                ip_protocol: protocol.to_owned(),
                from_port,
                to_port,
                peer,
                description: None,
                tags: BTreeMap::new(),
            },
        )
}

fn snapshot() -> impl Strategy<Value = GroupSnapshot> {
    (
        prop_oneof![Just("default"), Just("web")],
        proptest::collection::vec(sg_rule(), 0..12),
        prop_oneof![
            Just(None),
            Just(Some("ec2-13-ssh-open:2025-06-01".to_owned())),
            Just(Some(
                "ec2-19-high-risk-ports:2020-01-01, all-traffic-open:2030-12-31".to_owned()
            )),
            "[a-z0-9:,\\- ]{0,30}".prop_map(Some),
        ],
    )
        .prop_map(|(name, rules, exemption)| {
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
            if let Some(value) = exemption {
                group.tags.insert("moat:exempt".into(), value);
            }
            group
        })
}

/// A rule that breaks EC2.13 however it is drawn: TCP or all traffic, a
/// range containing 22, from the whole internet.
fn violating_rule() -> impl Strategy<Value = SecurityGroupRule> {
    (
        prop_oneof![Just("tcp"), Just("-1")],
        0i32..=22,
        22i32..=65535,
        prop_oneof![Just("0.0.0.0/0"), Just("::/0")],
    )
        .prop_map(|(protocol, from, to, open)| ingress("sgr-added", protocol, from, to, cidr(open)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluation_never_panics_and_is_deterministic(group in snapshot(), day in 0i64..4000) {
        let today = date("2020-01-01") + chrono::Duration::days(day);
        let policy = Policy::builtin();
        let first = evaluate(&policy, &group, today);
        prop_assert_eq!(&first, &evaluate(&policy, &group, today));
        // Every finding is explainable: it names its rule, a reason and,
        // unless it is about the exemption tag, the offending rules.
        for finding in &first.findings {
            prop_assert!(!finding.reason.is_empty());
            prop_assert!(!finding.policy_rule_id.is_empty());
        }
    }

    #[test]
    fn adding_any_rule_never_makes_a_group_more_compliant(group in snapshot(), extra in sg_rule()) {
        let policy = Policy::builtin();
        let before = evaluate(&policy, &group, today());
        let mut more = group.clone();
        more.rules.push(extra);
        let after = evaluate(&policy, &more, today());
        prop_assert!(after.verdict >= before.verdict, "{:?} -> {:?}", before.verdict, after.verdict);
        for finding in &before.findings {
            prop_assert!(
                after.findings.iter().any(|f| f.policy_rule_id == finding.policy_rule_id && f.action == finding.action),
                "finding {} disappeared", finding.policy_rule_id
            );
        }
    }

    #[test]
    fn adding_a_violating_rule_is_always_caught(group in snapshot(), extra in violating_rule()) {
        let policy = Policy::builtin();
        let mut more = group.clone();
        more.tags.remove("moat:exempt");
        more.rules.push(extra);
        let after = evaluate(&policy, &more, today());
        prop_assert!(after.verdict >= Verdict::Remediate);
        let ssh = after.findings.iter().find(|f| f.policy_rule_id == "ec2-13-ssh-open");
        prop_assert!(ssh.is_some_and(|f| f.security_group_rule_ids.iter().any(|id| id == "sgr-added")));
    }
}
