//! A security group as it is now: the group and every one of its rules, read
//! from `DescribeSecurityGroups` and `DescribeSecurityGroupRules`.
//!
//! The snapshot is the single input of policy evaluation and the content of a
//! backup, so it keeps everything needed to judge a rule and to put it back:
//! rule ids, direction, protocol, ports, the one source or destination a rule
//! has, its description and tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One security group and all of its rules at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSnapshot {
    /// The account that owns the group (12 digits).
    pub account: String,
    /// The region the group lives in, such as `us-east-1`.
    pub region: String,
    /// `sg-...`.
    pub group_id: String,
    pub group_name: String,
    #[serde(default)]
    pub description: String,
    /// `None` only for EC2-Classic groups, which no longer exist, but the
    /// API still models the field as optional.
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Ingress and egress rules, in the order the API returned them.
    #[serde(default)]
    pub rules: Vec<SecurityGroupRule>,
    /// The CIDR entries of every managed prefix list a rule names, keyed by
    /// prefix-list id, resolved when the snapshot was taken: a rule that names
    /// `pl-...` is only as open as the widest entry of that list.
    #[serde(default)]
    pub prefix_lists: BTreeMap<String, Vec<String>>,
}

impl GroupSnapshot {
    /// Every VPC has exactly one group named `default`, which cannot be
    /// deleted; AWS Security Hub control EC2.2 is about it.
    pub fn is_default(&self) -> bool {
        self.group_name == "default"
    }

    /// The rules in one direction.
    pub fn rules_in(&self, direction: Direction) -> impl Iterator<Item = &SecurityGroupRule> {
        self.rules
            .iter()
            .filter(move |rule| rule.direction == direction)
    }

    /// The rule with this id, if the group has it.
    pub fn rule(&self, rule_id: &str) -> Option<&SecurityGroupRule> {
        self.rules.iter().find(|rule| rule.rule_id == rule_id)
    }
}

/// Whether a rule lets traffic in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One security-group rule, as `DescribeSecurityGroupRules` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRule {
    /// `sgr-...`: the id `RevokeSecurityGroupIngress/Egress` accepts.
    pub rule_id: String,
    pub direction: Direction,
    /// The protocol as AWS spells it: `tcp`, `udp`, `icmp`, `icmpv6`, `-1`
    /// (all), or an IP protocol number such as `50`.
    pub ip_protocol: String,
    /// Start of the port range, or the ICMP type; `-1` means all.
    #[serde(default)]
    pub from_port: Option<i32>,
    /// End of the port range, or the ICMP code; `-1` means all.
    #[serde(default)]
    pub to_port: Option<i32>,
    /// Where traffic comes from (ingress) or goes to (egress).
    pub peer: Peer,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl SecurityGroupRule {
    /// The protocol, with AWS's numeric spellings folded into names.
    pub fn protocol(&self) -> Protocol {
        Protocol::parse(&self.ip_protocol)
    }

    /// The ports this rule opens, as an inclusive range. All protocols
    /// (`-1`) and protocols without ports open every port; `-1` bounds on
    /// TCP or UDP mean every port too.
    pub fn port_range(&self) -> Option<(u16, u16)> {
        match self.protocol() {
            Protocol::Tcp | Protocol::Udp => {
                let from = self.from_port.unwrap_or(-1);
                let to = self.to_port.unwrap_or(-1);
                if from < 0 || to < 0 {
                    Some((0, u16::MAX))
                } else {
                    let clamp = |port: i32| port.clamp(0, i32::from(u16::MAX)) as u16;
                    Some((clamp(from), clamp(to)))
                }
            }
            Protocol::All => Some((0, u16::MAX)),
            Protocol::Icmp | Protocol::Icmpv6 | Protocol::Other(_) => None,
        }
    }

    /// Why Moat cannot read this rule's ports, if it cannot: a TCP or UDP
    /// range that ends before it starts, or a bound outside `-1..=65535`.
    /// Read as written, such a range holds no port at all, so every port
    /// rule would pass it; [`port_range`](Self::port_range) must not be
    /// trusted for it.
    pub fn ports_problem(&self) -> Option<String> {
        if !matches!(self.protocol(), Protocol::Tcp | Protocol::Udp) {
            return None;
        }
        let (from, to) = (self.from_port.unwrap_or(-1), self.to_port.unwrap_or(-1));
        let shown = |port: Option<i32>| port.map_or("none".to_owned(), |port| port.to_string());
        let range = format!(
            "{} ports {}-{}",
            self.protocol(),
            shown(self.from_port),
            shown(self.to_port)
        );
        let out_of_range = [from, to]
            .into_iter()
            .find(|port| !(-1..=i32::from(u16::MAX)).contains(port));
        if let Some(port) = out_of_range {
            return Some(format!("{range} ({port} is not a port from -1 to 65535)"));
        }
        (from >= 0 && to >= 0 && from > to)
            .then(|| format!("{range} (the range ends before it starts)"))
    }

    /// A short human description of what the rule allows, such as
    /// `tcp/22 from 0.0.0.0/0` or `all traffic to ::/0`.
    pub fn describe(&self) -> String {
        let what = match (self.protocol(), self.port_range()) {
            (Protocol::All, _) => "all traffic".to_owned(),
            (protocol, Some((0, u16::MAX))) => format!("{protocol}/all ports"),
            (protocol, Some((from, to))) if from == to => format!("{protocol}/{from}"),
            (protocol, Some((from, to))) => format!("{protocol}/{from}-{to}"),
            (protocol, None) => protocol.to_string(),
        };
        let preposition = match self.direction {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        };
        format!("{what} {preposition} {}", self.peer)
    }
}

/// The protocol of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// `-1`: every protocol and every port.
    All,
    /// Any other IP protocol, by its number or name as AWS gave it.
    Other(String),
}

impl Protocol {
    /// Whether Moat knows what this protocol is: a name, `-1`, or an IANA
    /// protocol number from 0 to 255 written as AWS writes it (`50`, not
    /// `050`). Anything else (`banana`, `256`, an empty string) cannot be
    /// judged, because Moat cannot tell which policy rules it concerns.
    pub fn is_readable(&self) -> bool {
        match self {
            Protocol::Other(raw) => raw.parse::<u8>().is_ok_and(|n| n.to_string() == *raw),
            _ => true,
        }
    }

    /// Reads AWS's spelling: names in any case, or IANA numbers.
    pub fn parse(raw: &str) -> Protocol {
        match raw.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            "icmpv6" | "58" => Protocol::Icmpv6,
            "-1" | "all" => Protocol::All,
            other => Protocol::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("tcp"),
            Protocol::Udp => f.write_str("udp"),
            Protocol::Icmp => f.write_str("icmp"),
            Protocol::Icmpv6 => f.write_str("icmpv6"),
            Protocol::All => f.write_str("all"),
            Protocol::Other(raw) => write!(f, "proto-{raw}"),
        }
    }
}

/// The one peer a security-group rule names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum Peer {
    /// An IPv4 CIDR block such as `0.0.0.0/0`.
    Ipv4 { cidr: String },
    /// An IPv6 CIDR block such as `::/0`.
    Ipv6 { cidr: String },
    /// A managed prefix list, `pl-...`. Its entries are resolved separately
    /// (see [`GroupSnapshot`] consumers) because the rule only names it.
    PrefixList { prefix_list_id: String },
    /// Another security group (or this one: a self-reference).
    Group {
        group_id: String,
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        vpc_id: Option<String>,
    },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ipv4 { cidr } | Peer::Ipv6 { cidr } => f.write_str(cidr),
            Peer::PrefixList { prefix_list_id } => f.write_str(prefix_list_id),
            Peer::Group { group_id, .. } => f.write_str(group_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from: i32, to: i32, cidr: &str) -> SecurityGroupRule {
        SecurityGroupRule {
            rule_id: "sgr-1".into(),
            direction: Direction::Ingress,
            ip_protocol: protocol.into(),
            from_port: Some(from),
            to_port: Some(to),
            peer: Peer::Ipv4 { cidr: cidr.into() },
            description: None,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn numeric_protocols_fold_into_names() {
        assert_eq!(Protocol::parse("6"), Protocol::Tcp);
        assert_eq!(Protocol::parse("17"), Protocol::Udp);
        assert_eq!(Protocol::parse("-1"), Protocol::All);
        assert_eq!(Protocol::parse("TCP"), Protocol::Tcp);
        assert_eq!(Protocol::parse("50"), Protocol::Other("50".into()));
    }

    #[test]
    fn protocols_outside_names_and_numbers_are_unreadable() {
        for readable in ["tcp", "UDP", "-1", "all", "6", "50", "0", "255"] {
            assert!(Protocol::parse(readable).is_readable(), "{readable}");
        }
        for unreadable in ["", "banana", "256", "-2", "050", "6.0", " tcp"] {
            assert!(!Protocol::parse(unreadable).is_readable(), "{unreadable}");
        }
    }

    #[test]
    fn ports_that_hold_no_port_are_a_problem() {
        assert_eq!(rule("tcp", 22, 22, "0.0.0.0/0").ports_problem(), None);
        assert_eq!(rule("tcp", -1, -1, "0.0.0.0/0").ports_problem(), None);
        assert_eq!(rule("icmp", 8, -1, "0.0.0.0/0").ports_problem(), None);
        assert_eq!(
            rule("tcp", 30, 20, "0.0.0.0/0").ports_problem().as_deref(),
            Some("tcp ports 30-20 (the range ends before it starts)")
        );
        assert_eq!(
            rule("17", -5, 20, "0.0.0.0/0").ports_problem().as_deref(),
            Some("udp ports -5-20 (-5 is not a port from -1 to 65535)")
        );
    }

    #[test]
    fn port_ranges_cover_all_ports_for_all_traffic_and_minus_one() {
        assert_eq!(
            rule("-1", -1, -1, "0.0.0.0/0").port_range(),
            Some((0, 65535))
        );
        assert_eq!(
            rule("tcp", -1, -1, "0.0.0.0/0").port_range(),
            Some((0, 65535))
        );
        assert_eq!(
            rule("tcp", 21, 23, "0.0.0.0/0").port_range(),
            Some((21, 23))
        );
        assert_eq!(rule("icmp", 8, -1, "0.0.0.0/0").port_range(), None);
    }

    #[test]
    fn rules_describe_themselves_for_people() {
        assert_eq!(
            rule("tcp", 22, 22, "0.0.0.0/0").describe(),
            "tcp/22 from 0.0.0.0/0"
        );
        assert_eq!(
            rule("tcp", 21, 23, "10.0.0.0/8").describe(),
            "tcp/21-23 from 10.0.0.0/8"
        );
        assert_eq!(
            rule("-1", -1, -1, "0.0.0.0/0").describe(),
            "all traffic from 0.0.0.0/0"
        );
        assert_eq!(
            rule("udp", 0, 65535, "::/0").describe(),
            "udp/all ports from ::/0"
        );
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let snapshot = GroupSnapshot {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            group_id: "sg-0abc".into(),
            group_name: "web".into(),
            description: "web tier".into(),
            vpc_id: Some("vpc-1".into()),
            tags: BTreeMap::from([("team".into(), "web".into())]),
            rules: vec![rule("tcp", 443, 443, "0.0.0.0/0")],
            prefix_lists: BTreeMap::new(),
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(
            serde_json::from_str::<GroupSnapshot>(&json).unwrap(),
            snapshot
        );
    }
}
