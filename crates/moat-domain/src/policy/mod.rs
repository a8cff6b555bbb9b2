//! The policy engine: what a policy document says, and how a security group is
//! judged against it.
//!
//! A policy is JSON (format in `policies/README.md`, schema in
//! `policies/policy.schema.json`). [`Policy::from_json`] validates it
//! completely and reports every problem with its JSON path, so the policy
//! store can refuse a bad upload and keep the last good version.
//! [`evaluate`] is a pure function of the policy, the snapshot and the date:
//! it never reads the clock, never fails and never panics, so the evaluate
//! Lambda can always produce a verdict.

pub mod cidr;
mod engine;
mod exemption;
mod parse;

use std::collections::BTreeMap;

use crate::evaluation::{Action, Severity};
use crate::event::PrincipalPattern;
use crate::snapshot::{Direction, Protocol};

pub use cidr::Cidr;
pub use engine::{evaluate, evaluate_attributed};
pub use exemption::{EXEMPTION_PROBLEM_RULE_ID, Exemption, ExemptionEntry, parse_exemption_tag};

/// The shipped default pack, compiled in so that Moat has a policy even
/// before the first upload to the policy bucket.
pub const BUILTIN_JSON: &str = include_str!("../../../../policies/default.json");

/// The tag key that carries exemptions unless a policy names another.
pub const DEFAULT_EXEMPTION_TAG: &str = "moat:exempt";

/// The largest policy document Moat reads. The default pack is a few KiB;
/// a document a thousand times larger is a mistake or an attack, and
/// refusing it keeps a bad upload from costing every evaluation its memory.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// How long a `review` waits for a person, in hours, unless the policy's
/// `settings.reviewTimeoutHours` says otherwise.
pub const DEFAULT_REVIEW_TIMEOUT_HOURS: u32 = 24;

/// The longest `settings.reviewTimeoutHours` a policy may set: a week. The
/// remediation state machine's own `TimeoutSeconds` is longer than this (a
/// tidy test checks it), so a review always ends by its own timeout.
pub const MAX_REVIEW_TIMEOUT_HOURS: u32 = 168;

/// How long an exemption may hold, in days from the evaluation day, unless
/// the policy's `exemptions.maxDays` says otherwise.
pub const DEFAULT_EXEMPTION_MAX_DAYS: u32 = 90;

/// The largest `exemptions.maxDays` a policy may set: ten years, which is
/// already "never" for a security exemption.
pub const MAX_EXEMPTION_MAX_DAYS: u32 = 3650;

/// The principals `exemptions.allowedTaggers` may name: IAM roles (an
/// assumed-role session is its issuing role) and IAM users.
pub const TAGGER_KINDS: [&str; 2] = ["role/", "user/"];

/// A parsed and validated policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    id: String,
    version: String,
    description: Option<String>,
    settings: Settings,
    exemptions: ExemptionRules,
    rules: Vec<Rule>,
}

impl Policy {
    /// Parses and validates a policy document. On failure the error lists
    /// every problem found, each with its JSON path.
    pub fn from_json(text: &str) -> Result<Policy, crate::Error> {
        parse::policy_from_json(text)
    }

    /// The default pack in `policies/default.json`.
    pub fn builtin() -> Policy {
        // A test proves the shipped pack is valid; should that ever be
        // broken, an empty policy that judges nothing would silently turn
        // Moat off, so the failure must be loud instead.
        match Policy::from_json(BUILTIN_JSON) {
            Ok(policy) => policy,
            Err(error) => panic!("policies/default.json is invalid: {error}"),
        }
    }

    /// The policy set's identifier, such as `moat-default`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The document's own version string, reported with every evaluation so
    /// a finding can be traced to the policy that produced it.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How far an exemption tag is trusted.
    pub fn exemptions(&self) -> &ExemptionRules {
        &self.exemptions
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.id == id)
    }

    /// Overrides the document's dry-run flag, for callers that take it from
    /// their own configuration (an environment variable, a CLI flag).
    pub fn set_dry_run(&mut self, dry_run: bool) {
        self.settings.dry_run = dry_run;
    }

    /// Overrides the document's global auto-remediation switch.
    pub fn set_auto_remediate(&mut self, auto_remediate: bool) {
        self.settings.auto_remediate = auto_remediate;
    }
}

/// Switches that apply to the whole policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// When false, every `remediate` or `lockdown` finding becomes `review`:
    /// a person decides, nothing is revoked automatically.
    pub auto_remediate: bool,
    /// When true, the evaluation is marked dry-run: the pipeline reports what
    /// it would revoke and revokes nothing.
    pub dry_run: bool,
    /// The group tag key that carries exemptions.
    pub exemption_tag: String,
    /// How long a `review` waits for `approve` or `reject` before it is
    /// escalated again and ends without a change.
    pub review_timeout_hours: u32,
}

impl Settings {
    /// The review timeout in seconds, as the state machine's
    /// `TimeoutSecondsPath` reads it.
    pub fn review_timeout_seconds(&self) -> u64 {
        u64::from(self.review_timeout_hours) * 3600
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            auto_remediate: true,
            dry_run: false,
            exemption_tag: DEFAULT_EXEMPTION_TAG.to_owned(),
            review_timeout_hours: DEFAULT_REVIEW_TIMEOUT_HOURS,
        }
    }
}

/// The limits on exemption tags (`exemptions` in the document). Anyone who
/// may tag a group can write an exemption, so the policy bounds how long
/// one holds and, optionally, whose exemptions count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExemptionRules {
    /// A tag date later than the evaluation day plus this many days is
    /// treated as that day, and reported as capped.
    pub max_days: u32,
    /// `Some`: an exemption counts only when a trusted record says who set
    /// the tag and it matches one of these. `None`: any tagger counts.
    pub allowed_taggers: Option<Vec<PrincipalPattern>>,
}

impl Default for ExemptionRules {
    fn default() -> ExemptionRules {
        ExemptionRules {
            max_days: DEFAULT_EXEMPTION_MAX_DAYS,
            allowed_taggers: None,
        }
    }
}

/// One policy rule: what it looks for and what to do when it finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, lower-case kebab (`ec2-13-ssh-open`), named by exemptions.
    pub id: String,
    pub title: String,
    /// Control ids, the primary one first: it is quoted in each reason.
    pub controls: Vec<String>,
    pub severity: Severity,
    pub action: Action,
    /// When false, this rule's `remediate`/`lockdown` becomes `review`.
    pub auto_remediate: bool,
    pub direction: DirectionMatch,
    pub peers: PeerMatch,
    /// The security-group-rule protocols this rule looks at.
    pub protocols: Vec<ProtocolKind>,
    /// Absent: any port (and port-less protocols) match.
    pub ports: Option<PortMatch>,
    pub scope: Scope,
}

/// Which rules of a group a policy rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectionMatch {
    Ingress,
    Egress,
    /// Both directions; used by EC2.2, which forbids every rule.
    Any,
}

impl DirectionMatch {
    pub const ALL: [DirectionMatch; 3] = [
        DirectionMatch::Ingress,
        DirectionMatch::Egress,
        DirectionMatch::Any,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DirectionMatch::Ingress => "ingress",
            DirectionMatch::Egress => "egress",
            DirectionMatch::Any => "any",
        }
    }

    pub fn matches(self, direction: Direction) -> bool {
        match self {
            DirectionMatch::Ingress => direction == Direction::Ingress,
            DirectionMatch::Egress => direction == Direction::Egress,
            DirectionMatch::Any => true,
        }
    }
}

/// The kinds of peer a security-group rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    Ipv4,
    Ipv6,
    /// A managed prefix list, judged by its resolved entries.
    PrefixList,
    /// Another security group.
    Group,
    /// The group itself.
    SelfReference,
}

impl PeerKind {
    pub const ALL: [PeerKind; 5] = [
        PeerKind::Ipv4,
        PeerKind::Ipv6,
        PeerKind::PrefixList,
        PeerKind::Group,
        PeerKind::SelfReference,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Ipv4 => "ipv4",
            PeerKind::Ipv6 => "ipv6",
            PeerKind::PrefixList => "prefixList",
            PeerKind::Group => "group",
            PeerKind::SelfReference => "self",
        }
    }
}

/// How wide a CIDR must be for a rule to care about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrWidth {
    /// Only `/0`: the whole internet, as AWS's controls define "unrestricted".
    Open,
    /// Every CIDR, however narrow.
    Any,
    /// "Too wide": a CIDR whose prefix length is at most these numbers.
    AtMost { ipv4: u8, ipv6: u8 },
}

impl CidrWidth {
    pub fn includes(self, cidr: Cidr) -> bool {
        match self {
            CidrWidth::Open => cidr.prefix() == 0,
            CidrWidth::Any => true,
            CidrWidth::AtMost { ipv4, ipv6 } => {
                cidr.prefix() <= if cidr.is_ipv6() { ipv6 } else { ipv4 }
            }
        }
    }
}

/// Which peers a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMatch {
    pub kinds: Vec<PeerKind>,
    pub width: CidrWidth,
    /// CIDRs that never match: a peer block wholly inside one is trusted.
    pub allowlist: Vec<Cidr>,
}

impl Default for PeerMatch {
    fn default() -> PeerMatch {
        PeerMatch {
            kinds: vec![PeerKind::Ipv4, PeerKind::Ipv6, PeerKind::PrefixList],
            width: CidrWidth::Open,
            allowlist: Vec::new(),
        }
    }
}

/// A protocol as a policy names it; `all` is AWS's `-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolKind {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Rules with protocol `-1`: every protocol, every port.
    All,
    /// Any other IP protocol (GRE, ESP, ...).
    Other,
}

impl ProtocolKind {
    pub const ALL: [ProtocolKind; 6] = [
        ProtocolKind::Tcp,
        ProtocolKind::Udp,
        ProtocolKind::Icmp,
        ProtocolKind::Icmpv6,
        ProtocolKind::All,
        ProtocolKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolKind::Tcp => "tcp",
            ProtocolKind::Udp => "udp",
            ProtocolKind::Icmp => "icmp",
            ProtocolKind::Icmpv6 => "icmpv6",
            ProtocolKind::All => "all",
            ProtocolKind::Other => "other",
        }
    }

    /// The kind of a snapshot rule's protocol.
    pub fn of(protocol: &Protocol) -> ProtocolKind {
        match protocol {
            Protocol::Tcp => ProtocolKind::Tcp,
            Protocol::Udp => ProtocolKind::Udp,
            Protocol::Icmp => ProtocolKind::Icmp,
            Protocol::Icmpv6 => ProtocolKind::Icmpv6,
            Protocol::All => ProtocolKind::All,
            Protocol::Other(_) => ProtocolKind::Other,
        }
    }

    /// Whether rules of this protocol open ports at all.
    pub fn has_ports(self) -> bool {
        matches!(
            self,
            ProtocolKind::Tcp | ProtocolKind::Udp | ProtocolKind::All
        )
    }
}

/// How a rule's listed ports are compared with a security-group rule's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMode {
    /// Match when the rule's range contains at least one listed port: a
    /// `21-23` rule matches a policy about port 22.
    Any,
    /// Match when the rule's range contains a port that is *not* listed:
    /// the listed ports are the only ones allowed.
    Only,
}

impl PortMode {
    pub const ALL: [PortMode; 2] = [PortMode::Any, PortMode::Only];

    pub fn as_str(self) -> &'static str {
        match self {
            PortMode::Any => "any",
            PortMode::Only => "only",
        }
    }
}

/// An inclusive port range; a single port is `from == to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

/// The ports part of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMatch {
    pub mode: PortMode,
    pub ranges: Vec<PortRange>,
}

impl PortMatch {
    /// Whether a security-group rule opening `from..=to` matches.
    pub fn matches(&self, (from, to): (u16, u16)) -> bool {
        match self.mode {
            PortMode::Any => self
                .ranges
                .iter()
                .any(|range| range.from <= to && from <= range.to),
            PortMode::Only => !covers(&self.ranges, from, to),
        }
    }
}

/// Whether the union of `ranges` contains every port of `from..=to`.
fn covers(ranges: &[PortRange], from: u16, to: u16) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    // Walk the sorted ranges, advancing the first uncovered port; u32 keeps
    // `to + 1` from overflowing at 65535.
    let mut next = u32::from(from);
    for range in sorted {
        if u32::from(range.from) > next {
            break;
        }
        next = next.max(u32::from(range.to) + 1);
        if next > u32::from(to) {
            return true;
        }
    }
    next > u32::from(to)
}

/// Which groups a rule applies to; an empty list means "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub vpc_ids: Vec<String>,
    /// Every key must be on the group; when its list of values is not
    /// empty, the group's value must be one of them.
    pub group_tags: BTreeMap<String, Vec<String>>,
    /// `Some(true)`: only default groups; `Some(false)`: only the others.
    pub default_group: Option<bool>,
}

/// One thing wrong with a policy document, located by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// `$.rules[3].ports[0]`.
    pub path: String,
    pub message: String,
}

impl Problem {
    /// All problems on one line, for the error message.
    pub fn join(problems: &[Problem]) -> String {
        let mut text = match problems.len() {
            1 => "1 problem: ".to_owned(),
            n => format!("{n} problems: "),
        };
        for (index, problem) in problems.iter().enumerate() {
            if index > 0 {
                text.push_str("; ");
            }
            text.push_str(&problem.to_string());
        }
        text
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A field of a policy object, for validation and for the schema check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
}

const fn field(name: &'static str, required: bool) -> Field {
    Field { name, required }
}

/// The fields of each object in a policy document. The parser rejects any
/// other field (a typo such as `port` must not silently widen a rule), and a
/// test checks that the JSON Schema declares exactly these.
pub mod fields {
    use super::{Field, field};

    pub const POLICY: &[Field] = &[
        field("$schema", false),
        field("id", true),
        field("version", true),
        field("description", false),
        field("settings", false),
        field("exemptions", false),
        field("rules", true),
    ];
    pub const EXEMPTIONS: &[Field] = &[field("maxDays", false), field("allowedTaggers", false)];
    pub const SETTINGS: &[Field] = &[
        field("autoRemediate", false),
        field("dryRun", false),
        field("exemptionTag", false),
        field("reviewTimeoutHours", false),
    ];
    pub const RULE: &[Field] = &[
        field("id", true),
        field("title", true),
        field("description", false),
        field("controls", true),
        field("severity", true),
        field("action", true),
        field("autoRemediate", false),
        field("direction", true),
        field("peers", false),
        field("protocols", false),
        field("ports", false),
        field("portMode", false),
        field("scope", false),
    ];
    pub const PEERS: &[Field] = &[
        field("kinds", false),
        field("cidrWidth", false),
        field("allowlist", false),
    ];
    pub const CIDR_WIDTH: &[Field] = &[field("ipv4", true), field("ipv6", true)];
    pub const SCOPE: &[Field] = &[
        field("accounts", false),
        field("regions", false),
        field("vpcIds", false),
        field("groupTags", false),
        field("defaultGroup", false),
    ];
}

/// Severity names as a policy spells them, weakest first.
pub const SEVERITIES: [Severity; 4] = [
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

/// Actions a policy rule may ask for, with their spelling.
pub const ACTIONS: [(Action, &str); 4] = [
    (Action::Notify, "notify"),
    (Action::Review, "review"),
    (Action::Remediate, "remediate"),
    (Action::Lockdown, "lockdown"),
];

/// The `cidrWidth` keywords; the third form is an object.
pub const CIDR_WIDTH_KEYWORDS: [&str; 2] = ["open", "any"];

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(mode: PortMode, ranges: &[(u16, u16)]) -> PortMatch {
        PortMatch {
            mode,
            ranges: ranges
                .iter()
                .map(|&(from, to)| PortRange { from, to })
                .collect(),
        }
    }

    #[test]
    fn any_mode_matches_a_range_that_contains_a_listed_port() {
        let ssh = ports(PortMode::Any, &[(22, 22)]);
        assert!(ssh.matches((22, 22)));
        assert!(ssh.matches((21, 23)));
        assert!(ssh.matches((0, 65535)));
        assert!(!ssh.matches((23, 25)));
        assert!(!ssh.matches((0, 21)));
    }

    #[test]
    fn only_mode_matches_a_range_that_leaves_the_allowed_set() {
        let web = ports(PortMode::Only, &[(443, 443), (80, 80)]);
        assert!(!web.matches((80, 80)));
        assert!(!web.matches((443, 443)));
        assert!(web.matches((80, 81)));
        assert!(web.matches((0, 65535)));
        let adjacent = ports(PortMode::Only, &[(1000, 1999), (2000, 2999)]);
        assert!(!adjacent.matches((1500, 2500)));
        assert!(adjacent.matches((1500, 3000)));
        let everything = ports(PortMode::Only, &[(0, 65535)]);
        assert!(!everything.matches((0, 65535)));
        assert!(ports(PortMode::Only, &[]).matches((80, 80)));
    }

    #[test]
    fn problems_join_into_one_line() {
        let problems = vec![
            Problem {
                path: "$.id".into(),
                message: "must not be empty".into(),
            },
            Problem {
                path: "$.rules[0].ports[0]".into(),
                message: "bad".into(),
            },
        ];
        assert_eq!(
            Problem::join(&problems),
            "2 problems: $.id: must not be empty; $.rules[0].ports[0]: bad"
        );
    }
}
