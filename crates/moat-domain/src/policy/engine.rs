//! Judging one group: each policy rule against each security-group rule,
//! then exemptions, then the verdict.
//!
//! `evaluate` is total: every input, however odd (an unreadable CIDR, a
//! prefix list that was not resolved, a garbled exemption tag), produces an
//! evaluation. What Moat cannot judge it does not ignore: it becomes a
//! `review` finding, so a person looks at it.

use chrono::NaiveDate;

use super::exemption::{EXEMPTION_PROBLEM_RULE_ID, Exemption, ExemptionEntry, parse_exemption_tag};
use super::{Cidr, CidrWidth, PeerKind, Policy, ProtocolKind, Rule, Scope, Settings};
use crate::evaluation::{Action, Evaluation, ExemptedFinding, ExpiredExemption, Finding, Severity};
use crate::snapshot::{Direction, GroupSnapshot, Peer, Protocol, SecurityGroupRule};

/// At most this many offending rules are spelled out in a reason; the rest
/// are counted, so a reason stays one readable line even for a group with
/// sixty offending rules. Every id is still listed in the finding.
const REASON_DETAIL_LIMIT: usize = 3;

/// Judges `group` against `policy` on the UTC calendar day `today`.
///
/// `today` only decides which exemptions are still in force; it is a date
/// rather than a timestamp because exemptions are written as dates and hold
/// through their whole last day.
pub fn evaluate(policy: &Policy, group: &GroupSnapshot, today: NaiveDate) -> Evaluation {
    let settings = policy.settings();
    let exemptions = Exemptions::read(policy, group, today);
    let mut findings = Vec::new();
    let mut exempted = Vec::new();

    for rule in policy.rules() {
        if !in_scope(&rule.scope, group) {
            continue;
        }
        let mut offending = Vec::new();
        let mut unjudged = Vec::new();
        for sg_rule in &group.rules {
            match judge(rule, group, sg_rule) {
                Judgement::Clear => {}
                Judgement::Offends(detail) => offending.push((sg_rule, detail)),
                Judgement::Unjudged(detail) => unjudged.push((sg_rule, detail)),
            }
        }
        if offending.is_empty() && unjudged.is_empty() {
            continue;
        }
        if let Some(exemption) = exemptions.holding(&rule.id) {
            exempted.push(ExemptedFinding {
                policy_rule_id: rule.id.clone(),
                security_group_rule_ids: offending
                    .iter()
                    .chain(&unjudged)
                    .map(|(sg_rule, _)| sg_rule.rule_id.clone())
                    .collect(),
                until: Some(exemption.until_text.clone()),
            });
            continue;
        }
        if !offending.is_empty() {
            findings.push(finding(
                rule,
                effective_action(rule, settings),
                &offending,
                "",
            ));
        }
        if !unjudged.is_empty() {
            // A person must look: Moat could not tell whether these rules
            // break the policy, and revoking on a guess is not safe.
            findings.push(finding(rule, Action::Review, &unjudged, "cannot judge "));
        }
    }

    if let Some(problem) = exemptions.problem_finding() {
        findings.push(problem);
    }
    let mut evaluation = Evaluation::from_findings(findings);
    evaluation.exempted = exempted;
    evaluation.expired_exemptions = exemptions.expired;
    evaluation.dry_run = settings.dry_run;
    evaluation
}

/// The action a finding of `rule` asks for once the switches are applied.
fn effective_action(rule: &Rule, settings: &Settings) -> Action {
    let automatic = matches!(rule.action, Action::Remediate | Action::Lockdown);
    if automatic && !(settings.auto_remediate && rule.auto_remediate) {
        Action::Review
    } else {
        rule.action
    }
}

fn finding(
    rule: &Rule,
    action: Action,
    matches: &[(&SecurityGroupRule, String)],
    prefix: &str,
) -> Finding {
    let mut details: Vec<&str> = matches
        .iter()
        .take(REASON_DETAIL_LIMIT)
        .map(|(_, detail)| detail.as_str())
        .collect();
    let more = matches.len().saturating_sub(REASON_DETAIL_LIMIT);
    let more_text = format!("{more} more");
    if more > 0 {
        details.push(&more_text);
    }
    let control = rule
        .controls
        .first()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    Finding {
        policy_rule_id: rule.id.clone(),
        title: rule.title.clone(),
        controls: rule.controls.clone(),
        severity: rule.severity,
        action,
        security_group_rule_ids: matches
            .iter()
            .map(|(sg_rule, _)| sg_rule.rule_id.clone())
            .collect(),
        reason: format!("{prefix}{}{control}", details.join(", ")),
    }
}

fn in_scope(scope: &Scope, group: &GroupSnapshot) -> bool {
    let listed =
        |list: &[String], value: &str| list.is_empty() || list.iter().any(|item| item == value);
    let vpc_ok = scope.vpc_ids.is_empty()
        || group
            .vpc_id
            .as_deref()
            .is_some_and(|vpc| scope.vpc_ids.iter().any(|item| item == vpc));
    let tags_ok = scope.group_tags.iter().all(|(key, values)| {
        group
            .tags
            .get(key)
            .is_some_and(|value| values.is_empty() || values.contains(value))
    });
    let default_ok = scope
        .default_group
        .is_none_or(|wanted| wanted == group.is_default());
    listed(&scope.accounts, &group.account)
        && listed(&scope.regions, &group.region)
        && vpc_ok
        && tags_ok
        && default_ok
}

enum Judgement {
    Clear,
    /// Breaks the rule; the detail reads like `tcp/22 open to 0.0.0.0/0`.
    Offends(String),
    /// Might break the rule, but the snapshot does not say enough.
    Unjudged(String),
}

fn judge(rule: &Rule, group: &GroupSnapshot, sg_rule: &SecurityGroupRule) -> Judgement {
    if !rule.direction.matches(sg_rule.direction) {
        return Judgement::Clear;
    }
    let protocol = sg_rule.protocol();
    if !rule.protocols.contains(&ProtocolKind::of(&protocol)) {
        return Judgement::Clear;
    }
    if let Some(ports) = &rule.ports {
        // ICMP and other port-less protocols neither contain a listed port
        // nor open one outside the allowed set.
        match sg_rule.port_range() {
            Some(range) if ports.matches(range) => {}
            _ => return Judgement::Clear,
        }
    }
    let what = traffic(sg_rule, &protocol);
    let verb = match sg_rule.direction {
        Direction::Ingress => "open to",
        Direction::Egress => "allowed out to",
    };
    match peer_match(rule, group, &sg_rule.peer) {
        PeerVerdict::Clear => Judgement::Clear,
        PeerVerdict::Matches(peer) => Judgement::Offends(format!("{what} {verb} {peer}")),
        PeerVerdict::Unknown(peer) => Judgement::Unjudged(format!("{what} {verb} {peer}")),
    }
}

/// `tcp/22`, `tcp/21-23`, `udp/all ports`, `all traffic`, `icmp`.
fn traffic(sg_rule: &SecurityGroupRule, protocol: &Protocol) -> String {
    match (protocol, sg_rule.port_range()) {
        (Protocol::All, _) => "all traffic".to_owned(),
        (protocol, Some((0, u16::MAX))) => format!("{protocol}/all ports"),
        (protocol, Some((from, to))) if from == to => format!("{protocol}/{from}"),
        (protocol, Some((from, to))) => format!("{protocol}/{from}-{to}"),
        (protocol, None) => protocol.to_string(),
    }
}

enum PeerVerdict {
    Clear,
    /// Matches; the text names the peer for the reason.
    Matches(String),
    /// Cannot tell; the text says why.
    Unknown(String),
}

fn peer_match(rule: &Rule, group: &GroupSnapshot, peer: &Peer) -> PeerVerdict {
    let peers = &rule.peers;
    let wants = |kind: PeerKind| peers.kinds.contains(&kind);
    match peer {
        Peer::Ipv4 { cidr } if wants(PeerKind::Ipv4) => cidr_match(rule, cidr),
        Peer::Ipv6 { cidr } if wants(PeerKind::Ipv6) => cidr_match(rule, cidr),
        Peer::PrefixList { prefix_list_id } if wants(PeerKind::PrefixList) => {
            prefix_list_match(rule, prefix_list_id, group.prefix_lists.get(prefix_list_id))
        }
        Peer::Group { group_id, .. } if *group_id == group.group_id => {
            if wants(PeerKind::SelfReference) {
                PeerVerdict::Matches(format!("{group_id} (itself)"))
            } else {
                PeerVerdict::Clear
            }
        }
        Peer::Group { group_id, .. } if wants(PeerKind::Group) => {
            PeerVerdict::Matches(group_id.clone())
        }
        _ => PeerVerdict::Clear,
    }
}

fn cidr_match(rule: &Rule, text: &str) -> PeerVerdict {
    match Cidr::parse(text) {
        Ok(cidr) if cidr_offends(rule, cidr) => PeerVerdict::Matches(text.to_owned()),
        Ok(_) => PeerVerdict::Clear,
        Err(_) if rule.peers.width == CidrWidth::Any && rule.peers.allowlist.is_empty() => {
            PeerVerdict::Matches(text.to_owned())
        }
        Err(_) => PeerVerdict::Unknown(format!("{text} (not a readable CIDR)")),
    }
}

fn cidr_offends(rule: &Rule, cidr: Cidr) -> bool {
    rule.peers.width.includes(cidr)
        && !rule
            .peers
            .allowlist
            .iter()
            .any(|allowed| cidr.is_within(*allowed))
}

/// A prefix list is as open as its widest entry: a `pl-` whose entries
/// include `0.0.0.0/0` opens the rule to the internet just as the CIDR would.
fn prefix_list_match(rule: &Rule, id: &str, entries: Option<&Vec<String>>) -> PeerVerdict {
    // A rule about every peer (EC2.2) matches any prefix list, resolved or
    // not, empty or not: the rule exists, and that alone breaks it.
    if rule.peers.width == CidrWidth::Any && rule.peers.allowlist.is_empty() {
        return PeerVerdict::Matches(id.to_owned());
    }
    let Some(entries) = entries else {
        return PeerVerdict::Unknown(format!("{id} (prefix list entries not resolved)"));
    };
    let mut unreadable = None;
    for entry in entries {
        match Cidr::parse(entry) {
            Ok(cidr) if cidr_offends(rule, cidr) => {
                return PeerVerdict::Matches(format!("{entry} via {id}"));
            }
            Ok(_) => {}
            Err(_) => unreadable = unreadable.or(Some(entry)),
        }
    }
    match unreadable {
        Some(entry) => PeerVerdict::Unknown(format!("{id} (entry {entry} is not a readable CIDR)")),
        None => PeerVerdict::Clear,
    }
}

/// The group's exemption tag, read once per evaluation.
struct Exemptions {
    holding: Vec<Exemption>,
    expired: Vec<ExpiredExemption>,
    problems: Vec<String>,
    tag: String,
}

impl Exemptions {
    fn read(policy: &Policy, group: &GroupSnapshot, today: NaiveDate) -> Exemptions {
        let tag = policy.settings().exemption_tag.clone();
        let mut exemptions = Exemptions {
            holding: Vec::new(),
            expired: Vec::new(),
            problems: Vec::new(),
            tag,
        };
        let Some(value) = group.tags.get(&exemptions.tag) else {
            return exemptions;
        };
        for entry in parse_exemption_tag(value) {
            match entry {
                ExemptionEntry::Invalid { entry, reason } => {
                    exemptions.problems.push(format!("`{entry}` {reason}"))
                }
                ExemptionEntry::Valid(exemption) if policy.rule(&exemption.rule_id).is_none() => {
                    exemptions.problems.push(format!(
                        "`{}:{}` names no rule of policy {}",
                        exemption.rule_id,
                        exemption.until_text,
                        policy.id()
                    ));
                }
                ExemptionEntry::Valid(exemption) if exemption.holds_on(today) => {
                    exemptions.holding.push(exemption)
                }
                ExemptionEntry::Valid(exemption) => exemptions.expired.push(ExpiredExemption {
                    policy_rule_id: exemption.rule_id,
                    expired_on: exemption.until_text,
                }),
            }
        }
        exemptions
    }

    /// The in-force exemption for a rule; with several, the latest.
    fn holding(&self, rule_id: &str) -> Option<&Exemption> {
        self.holding
            .iter()
            .filter(|exemption| exemption.rule_id == rule_id)
            .max_by_key(|exemption| exemption.until)
    }

    /// Unreadable entries become one `notify` finding: they exempt nothing,
    /// and the group's owners should learn that before they rely on them.
    fn problem_finding(&self) -> Option<Finding> {
        if self.problems.is_empty() {
            return None;
        }
        Some(Finding {
            policy_rule_id: EXEMPTION_PROBLEM_RULE_ID.to_owned(),
            title: "Exemption tag cannot be read".to_owned(),
            controls: Vec::new(),
            severity: Severity::Low,
            action: Action::Notify,
            security_group_rule_ids: Vec::new(),
            reason: format!(
                "tag {} exempts nothing from: {}",
                self.tag,
                self.problems.join("; ")
            ),
        })
    }
}
