//! Judging one group: each policy rule against each security-group rule,
//! then exemptions, then the verdict.
//!
//! `evaluate` is total: every input, however odd (an unreadable CIDR,
//! protocol or port range, a prefix list that was not resolved, a garbled
//! exemption tag), produces an evaluation. What Moat cannot judge it does
//! not ignore: it becomes a `review` finding, so a person looks at it.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};

use super::exemption::{EXEMPTION_PROBLEM_RULE_ID, Exemption, ExemptionEntry, parse_exemption_tag};
use super::{Cidr, CidrWidth, PeerKind, Policy, ProtocolKind, Rule, Scope, Settings};
use crate::evaluation::{
    Action, CappedExemption, Evaluation, ExemptedFinding, ExpiredExemption, Finding, Severity,
};
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
///
/// Nothing here says who set the group's tags, so under a policy with
/// `exemptions.allowedTaggers` no exemption counts; see
/// [`evaluate_attributed`].
pub fn evaluate(policy: &Policy, group: &GroupSnapshot, today: NaiveDate) -> Evaluation {
    evaluate_attributed(policy, group, &BTreeMap::new(), today)
}

/// [`evaluate`], knowing who set some of the group's tags: `tag_authors`
/// maps a tag key to the IAM principal ARN (a role for an assumed-role
/// session, or a user) that set its current value. It must come from a
/// record Moat trusts, such as the CloudTrail event of the call that set
/// the tag, never from the group's tags, which anyone who may tag can write.
pub fn evaluate_attributed(
    policy: &Policy,
    group: &GroupSnapshot,
    tag_authors: &BTreeMap<String, String>,
    today: NaiveDate,
) -> Evaluation {
    let settings = policy.settings();
    let exemptions = Exemptions::read(policy, group, tag_authors, today);
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
                until: Some(exemption.until.format("%Y-%m-%d").to_string()),
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
    evaluation.capped_exemptions = exemptions.capped;
    evaluation.dry_run = settings.dry_run;
    evaluation.announce_exemptions();
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
    let doubt = match traffic_match(rule, sg_rule) {
        TrafficMatch::No => return Judgement::Clear,
        TrafficMatch::Yes => None,
        TrafficMatch::Unreadable(why) => Some(why),
    };
    let verb = match sg_rule.direction {
        Direction::Ingress => "open to",
        Direction::Egress => "allowed out to",
    };
    // Unjudged details name the rule, because its reason is all a person
    // gets to find what Moat could not read.
    let id = &sg_rule.rule_id;
    let what = traffic(sg_rule, &sg_rule.protocol());
    match (peer_match(rule, group, &sg_rule.peer), doubt) {
        (PeerVerdict::Clear, _) => Judgement::Clear,
        (PeerVerdict::Matches(peer), None) => Judgement::Offends(format!("{what} {verb} {peer}")),
        (PeerVerdict::Matches(peer) | PeerVerdict::Unknown(peer), Some(why)) => {
            Judgement::Unjudged(format!("{id}: {why} {verb} {peer}"))
        }
        (PeerVerdict::Unknown(peer), None) => {
            Judgement::Unjudged(format!("{id}: {what} {verb} {peer}"))
        }
    }
}

enum TrafficMatch {
    /// The rule's protocol or ports are outside what the policy rule is about.
    No,
    Yes,
    /// Moat cannot read the protocol or ports it would need; the text says
    /// what, with the values as written.
    Unreadable(String),
}

/// Whether a security-group rule's protocol and ports are what `rule` is
/// about. An unreadable protocol or port range is only a problem when the
/// policy rule needs it: a rule about every protocol does not need to know
/// which one it is, and a rule without ports does not look at them.
fn traffic_match(rule: &Rule, sg_rule: &SecurityGroupRule) -> TrafficMatch {
    let protocol = sg_rule.protocol();
    if !protocol.is_readable() {
        let every_protocol = ProtocolKind::ALL
            .iter()
            .all(|kind| rule.protocols.contains(kind));
        if every_protocol && rule.ports.is_none() {
            return TrafficMatch::Yes;
        }
        return TrafficMatch::Unreadable(format!(
            "protocol `{}` (not a protocol name or a number from 0 to 255)",
            sg_rule.ip_protocol
        ));
    }
    if !rule.protocols.contains(&ProtocolKind::of(&protocol)) {
        return TrafficMatch::No;
    }
    let Some(ports) = &rule.ports else {
        return TrafficMatch::Yes;
    };
    if let Some(why) = sg_rule.ports_problem() {
        return TrafficMatch::Unreadable(why);
    }
    // ICMP and other port-less protocols neither contain a listed port nor
    // open one outside the allowed set.
    match sg_rule.port_range() {
        Some(range) if ports.matches(range) => TrafficMatch::Yes,
        _ => TrafficMatch::No,
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
    /// In force on the day, each already capped to the policy's maximum.
    holding: Vec<Exemption>,
    expired: Vec<ExpiredExemption>,
    capped: Vec<CappedExemption>,
    problems: Vec<String>,
    tag: String,
}

impl Exemptions {
    fn read(
        policy: &Policy,
        group: &GroupSnapshot,
        tag_authors: &BTreeMap<String, String>,
        today: NaiveDate,
    ) -> Exemptions {
        let tag = policy.settings().exemption_tag.clone();
        let mut exemptions = Exemptions {
            holding: Vec::new(),
            expired: Vec::new(),
            capped: Vec::new(),
            problems: Vec::new(),
            tag,
        };
        let Some(value) = group.tags.get(&exemptions.tag) else {
            return exemptions;
        };
        let untrusted = untrusted_tagger(policy, tag_authors.get(&exemptions.tag));
        // Saturates at the last date chrono knows rather than failing:
        // evaluation never fails.
        let latest = today
            .checked_add_days(Days::new(u64::from(policy.exemptions().max_days)))
            .unwrap_or(NaiveDate::MAX);
        for entry in parse_exemption_tag(value) {
            let exemption = match entry {
                ExemptionEntry::Invalid { entry, reason } => {
                    exemptions.problems.push(format!("`{entry}` {reason}"));
                    continue;
                }
                ExemptionEntry::Valid(exemption) => exemption,
            };
            let written = format!("`{}:{}`", exemption.rule_id, exemption.until_text);
            if policy.rule(&exemption.rule_id).is_none() {
                let id = policy.id();
                exemptions
                    .problems
                    .push(format!("{written} names no rule of policy {id}"));
            } else if !exemption.holds_on(today) {
                exemptions.expired.push(ExpiredExemption {
                    policy_rule_id: exemption.rule_id,
                    expired_on: exemption.until_text,
                });
            } else if let Some(why) = &untrusted {
                exemptions
                    .problems
                    .push(format!("{written} is not counted: {why}"));
            } else {
                exemptions.hold(exemption, latest);
            }
        }
        exemptions
    }

    /// Keeps an in-force exemption, cut to `latest` when it asks for more.
    fn hold(&mut self, mut exemption: Exemption, latest: NaiveDate) {
        if exemption.until > latest {
            self.capped.push(CappedExemption {
                policy_rule_id: exemption.rule_id.clone(),
                requested_until: exemption.until_text.clone(),
                until: latest.format("%Y-%m-%d").to_string(),
            });
            exemption.until = latest;
        }
        self.holding.push(exemption);
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

/// Why the exemption tag's author is not good enough, if the policy limits
/// who may exempt: `None` when any tagger counts or the author is allowed.
fn untrusted_tagger(policy: &Policy, author: Option<&String>) -> Option<String> {
    let allowed = policy.exemptions().allowed_taggers.as_ref()?;
    match author {
        None => Some(
            "no trusted record says who set the tag, and the policy counts exemptions only from its allowedTaggers"
                .to_owned(),
        ),
        Some(author) if allowed.iter().any(|pattern| pattern.matches(author)) => None,
        Some(author) => Some(format!(
            "{author} set the tag, and it is not in allowedTaggers"
        )),
    }
}
