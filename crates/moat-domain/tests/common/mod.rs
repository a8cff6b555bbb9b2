//! Builders shared by the integration tests: small security groups and rules
//! written the way AWS returns them.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use chrono::NaiveDate;
use moat_domain::snapshot::{Direction, GroupSnapshot, Peer, SecurityGroupRule};

pub const GROUP_ID: &str = "sg-0123456789abcdef0";

/// The date every test evaluates on, so expiry tests never depend on the
/// clock.
pub fn today() -> NaiveDate {
    date("2025-06-01")
}

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
}

pub fn group(name: &str, rules: Vec<SecurityGroupRule>) -> GroupSnapshot {
    GroupSnapshot {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        group_id: GROUP_ID.into(),
        group_name: name.into(),
        description: String::new(),
        vpc_id: Some("vpc-0aaa".into()),
        tags: BTreeMap::new(),
        rules,
        prefix_lists: BTreeMap::new(),
    }
}

pub fn rule(
    id: &str,
    direction: Direction,
    protocol: &str,
    from: i32,
    to: i32,
    peer: Peer,
) -> SecurityGroupRule {
    SecurityGroupRule {
        rule_id: id.into(),
        direction,
        ip_protocol: protocol.into(),
        from_port: Some(from),
        to_port: Some(to),
        peer,
        description: None,
        tags: BTreeMap::new(),
    }
}

pub fn ingress(id: &str, protocol: &str, from: i32, to: i32, peer: Peer) -> SecurityGroupRule {
    rule(id, Direction::Ingress, protocol, from, to, peer)
}

pub fn egress(id: &str, protocol: &str, from: i32, to: i32, peer: Peer) -> SecurityGroupRule {
    rule(id, Direction::Egress, protocol, from, to, peer)
}

/// A CIDR peer of the right family.
pub fn cidr(text: &str) -> Peer {
    if text.contains(':') {
        Peer::Ipv6 { cidr: text.into() }
    } else {
        Peer::Ipv4 { cidr: text.into() }
    }
}

pub fn prefix_list(id: &str) -> Peer {
    Peer::PrefixList {
        prefix_list_id: id.into(),
    }
}

pub fn group_peer(id: &str) -> Peer {
    Peer::Group {
        group_id: id.into(),
        user_id: Some("111122223333".into()),
        vpc_id: None,
    }
}

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}
