//! Reading a policy document: JSON text in, a validated [`Policy`] or every
//! problem with its JSON path out.
//!
//! The document is walked as a `serde_json::Value` rather than derived with
//! serde, because serde stops at the first error and reports line and
//! column; an operator fixing a policy wants all problems at once, named by
//! where they are in the document.
//!
//! Before that walk the raw text is checked for what a `Value` cannot show:
//! its size, and keys given twice in one object (serde_json keeps the last
//! one silently). A leading UTF-8 byte-order mark, which some editors write,
//! is accepted and ignored.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    ACTIONS, CIDR_WIDTH_KEYWORDS, Cidr, CidrWidth, DEFAULT_EXEMPTION_MAX_DAYS, DirectionMatch,
    ExemptionRules, Field, MAX_EXEMPTION_MAX_DAYS, MAX_POLICY_BYTES, MAX_REVIEW_TIMEOUT_HOURS,
    PeerKind, PeerMatch, Policy, PortMatch, PortMode, PortRange, Problem, ProtocolKind, Rule,
    SEVERITIES, Scope, Settings, TAGGER_KINDS, fields,
};
use crate::Error;
use crate::evaluation::{OPERATOR_LOCKDOWN_RULE_ID, Severity};
use crate::event::PrincipalPattern;

/// The byte-order mark Windows editors put before UTF-8 text.
const BOM: char = '\u{feff}';

pub(super) fn policy_from_json(text: &str) -> Result<Policy, Error> {
    let refuse = |message: String| Error::InvalidPolicy {
        problems: vec![Problem {
            path: "$".to_owned(),
            message,
        }],
    };
    if text.len() > MAX_POLICY_BYTES {
        return Err(refuse(format!(
            "the document is {} bytes, over the limit of {MAX_POLICY_BYTES} bytes",
            text.len()
        )));
    }
    // The mark says "this is UTF-8" and nothing else. RFC 8259 lets a
    // parser ignore it, and refusing a policy for an invisible character
    // helps no one.
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let value: Value =
        serde_json::from_str(text).map_err(|error| refuse(format!("not valid JSON: {error}")))?;
    let mut reader = Reader {
        problems: duplicate_keys(text),
    };
    let policy = reader.policy(&value);
    match policy {
        Some(policy) if reader.problems.is_empty() => Ok(policy),
        _ => Err(Error::InvalidPolicy {
            problems: reader.problems,
        }),
    }
}

/// Collects problems while reading; every reading method returns `None` when
/// its part is unusable, after recording why.
struct Reader {
    problems: Vec<Problem>,
}

/// Every key given twice in one object, with its path, in document order.
/// `{"ports": [22], "ports": []}` reads as a rule about no ports, so a
/// duplicate is refused rather than resolved.
fn duplicate_keys(text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // The text has already parsed as JSON, so the walk cannot fail; were it
    // to, the parse before it would have reported the error.
    let _ = KeyWalk {
        path: "$".to_owned(),
        problems: &mut problems,
    }
    .deserialize(&mut deserializer);
    problems
}

/// A walk over raw JSON that keeps nothing but the duplicate keys it meets.
struct KeyWalk<'p> {
    path: String,
    problems: &'p mut Vec<Problem>,
}

impl<'de> DeserializeSeed<'de> for KeyWalk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyWalk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut i = 0;
        while items
            .next_element_seed(KeyWalk {
                path: index(&self.path, i),
                problems: &mut *self.problems,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = entries.next_key::<String>()? {
            let path = child(&self.path, &key);
            if !seen.insert(key) {
                self.problems.push(Problem {
                    path: path.clone(),
                    message: "appears twice in the same object; JSON readers keep only the last, so the first would be silently ignored".to_owned(),
                });
            }
            entries.next_value_seed(KeyWalk {
                path,
                problems: &mut *self.problems,
            })?;
        }
        Ok(())
    }
}

/// `$.a` for plain keys, `$["moat:env"]` for the rest, so every path can be
/// pasted into a JSONPath tool.
fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

fn index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Reader {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// An object with only the declared fields and all required ones.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        declared: &[Field],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = value else {
            self.problem(
                path,
                format!("must be an object, found {}", type_name(value)),
            );
            return None;
        };
        for key in map.keys() {
            if !declared.iter().any(|field| field.name == key) {
                let known: Vec<&str> = declared.iter().map(|field| field.name).collect();
                self.problem(
                    child(path, key),
                    format!("unknown field (known fields: {})", known.join(", ")),
                );
            }
        }
        for field in declared.iter().filter(|field| field.required) {
            if !map.contains_key(field.name) {
                self.problem(child(path, field.name), "is required");
            }
        }
        Some(map)
    }

    fn string(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(text) if text.trim().is_empty() => {
                self.problem(path, "must not be empty");
                None
            }
            Value::String(text) => Some(text.clone()),
            other => {
                self.problem(
                    path,
                    format!("must be a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, value: &Value, path: &str) -> Option<bool> {
        match value {
            Value::Bool(flag) => Some(*flag),
            other => {
                self.problem(
                    path,
                    format!("must be true or false, found {}", type_name(other)),
                );
                None
            }
        }
    }

    fn array<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.problem(
                    path,
                    format!("must be an array, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A list of strings; `None` when any element is unusable.
    fn strings(&mut self, value: &Value, path: &str) -> Option<Vec<String>> {
        let items = self.array(value, path)?;
        let mut ok = true;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match self.string(item, &index(path, i)) {
                Some(text) => out.push(text),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One of a fixed set of keywords.
    fn keyword<T: Copy>(&mut self, value: &Value, path: &str, choices: &[(T, &str)]) -> Option<T> {
        let names: Vec<&str> = choices.iter().map(|(_, name)| *name).collect();
        match value {
            Value::String(text) => match choices.iter().find(|(_, name)| name == text) {
                Some((choice, _)) => Some(*choice),
                None => {
                    self.problem(path, format!("`{text}` is not one of {}", names.join(", ")));
                    None
                }
            },
            other => {
                self.problem(
                    path,
                    format!(
                        "must be one of {}, found {}",
                        names.join(", "),
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    fn policy(&mut self, value: &Value) -> Option<Policy> {
        let map = self.object(value, "$", fields::POLICY)?;
        let id = map.get("id").and_then(|v| self.identifier(v, "$.id"));
        let version = map.get("version").and_then(|v| self.string(v, "$.version"));
        let description = map
            .get("description")
            .and_then(|v| self.string(v, "$.description"));
        if let Some(schema) = map.get("$schema") {
            self.string(schema, &child("$", "$schema"));
        }
        let settings = match map.get("settings") {
            Some(value) => self.settings(value, "$.settings"),
            None => Some(Settings::default()),
        };
        let exemptions = match map.get("exemptions") {
            Some(value) => self.exemptions(value, "$.exemptions"),
            None => Some(ExemptionRules::default()),
        };
        let rules = map.get("rules").and_then(|v| self.rules(v, "$.rules"));
        Some(Policy {
            id: id?,
            version: version?,
            description,
            settings: settings?,
            exemptions: exemptions?,
            rules: rules?,
        })
    }

    /// Rule and policy ids: lower-case letters, digits, `-` and `.`, so they
    /// fit in a tag value next to `,` and `:` without quoting.
    fn identifier(&mut self, value: &Value, path: &str) -> Option<String> {
        let text = self.string(value, path)?;
        let valid = text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid {
            self.problem(
                path,
                format!("`{text}` must be lower-case letters, digits, `-` and `.`, starting with a letter or digit"),
            );
            return None;
        }
        Some(text)
    }

    fn settings(&mut self, value: &Value, path: &str) -> Option<Settings> {
        let map = self.object(value, path, fields::SETTINGS)?;
        let mut settings = Settings::default();
        let mut ok = true;
        if let Some(value) = map.get("autoRemediate") {
            match self.boolean(value, &child(path, "autoRemediate")) {
                Some(flag) => settings.auto_remediate = flag,
                None => ok = false,
            }
        }
        if let Some(value) = map.get("dryRun") {
            match self.boolean(value, &child(path, "dryRun")) {
                Some(flag) => settings.dry_run = flag,
                None => ok = false,
            }
        }
        if let Some(value) = map.get("exemptionTag") {
            let tag_path = child(path, "exemptionTag");
            match self.string(value, &tag_path) {
                // EC2 tag keys are at most 128 characters.
                Some(key) if key.chars().count() > 128 => {
                    self.problem(tag_path, "a tag key has at most 128 characters");
                    ok = false;
                }
                Some(key) => settings.exemption_tag = key,
                None => ok = false,
            }
        }
        if let Some(value) = map.get("reviewTimeoutHours") {
            let hours = value
                .as_u64()
                .filter(|hours| (1..=u64::from(MAX_REVIEW_TIMEOUT_HOURS)).contains(hours))
                .and_then(|hours| u32::try_from(hours).ok());
            match hours {
                Some(hours) => settings.review_timeout_hours = hours,
                None => {
                    self.problem(
                        child(path, "reviewTimeoutHours"),
                        format!("must be a whole number of hours from 1 to {MAX_REVIEW_TIMEOUT_HOURS}, found {value}"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(settings)
    }

    fn exemptions(&mut self, value: &Value, path: &str) -> Option<ExemptionRules> {
        let map = self.object(value, path, fields::EXEMPTIONS)?;
        let max_days = match map.get("maxDays") {
            Some(value) => {
                let days = value
                    .as_u64()
                    .filter(|days| (1..=u64::from(MAX_EXEMPTION_MAX_DAYS)).contains(days))
                    .and_then(|days| u32::try_from(days).ok());
                if days.is_none() {
                    self.problem(
                        child(path, "maxDays"),
                        format!("must be a whole number of days from 1 to {MAX_EXEMPTION_MAX_DAYS}, found {value}"),
                    );
                }
                days
            }
            None => Some(DEFAULT_EXEMPTION_MAX_DAYS),
        };
        let allowed_taggers = match map.get("allowedTaggers") {
            Some(value) => self
                .taggers(value, &child(path, "allowedTaggers"))
                .map(Some),
            None => Some(None),
        };
        Some(ExemptionRules {
            max_days: max_days?,
            allowed_taggers: allowed_taggers?,
        })
    }

    fn taggers(&mut self, value: &Value, path: &str) -> Option<Vec<PrincipalPattern>> {
        let texts = self.strings(value, path)?;
        let mut ok = true;
        let mut out = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            match PrincipalPattern::parse(text, &TAGGER_KINDS) {
                Ok(pattern) => out.push(pattern),
                Err(reason) => {
                    self.problem(index(path, i), reason);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn rules(&mut self, value: &Value, path: &str) -> Option<Vec<Rule>> {
        let items = self.array(value, path)?;
        if items.is_empty() {
            self.problem(path, "must hold at least one rule");
            return None;
        }
        let mut rules = Vec::with_capacity(items.len());
        let mut ok = true;
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let rule_path = index(path, i);
            // Duplicates are checked on the raw ids, so that a duplicate is
            // reported even when the rule carrying it has other problems.
            if let Some(id) = item.get("id").and_then(Value::as_str) {
                if id == OPERATOR_LOCKDOWN_RULE_ID {
                    self.problem(
                        child(&rule_path, "id"),
                        format!("`{id}` is reserved for `cargo xtask lockdown`'s finding"),
                    );
                    ok = false;
                } else if let Some(first) = seen.get(id) {
                    self.problem(
                        child(&rule_path, "id"),
                        format!("`{id}` is already the id of {path}[{first}]"),
                    );
                    ok = false;
                } else {
                    seen.insert(id, i);
                }
            }
            match self.rule(item, &rule_path) {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }
        ok.then_some(rules)
    }

    /// One policy rule. A field-by-field read that collects every problem
    /// with its path instead of stopping at the first, so it stays one
    /// function: each field is a few lines and they share the problem list.
    fn rule(&mut self, value: &Value, path: &str) -> Option<Rule> {
        let map = self.object(value, path, fields::RULE)?;
        let at = |key: &str| child(path, key);
        let id = map.get("id").and_then(|v| self.identifier(v, &at("id")));
        let title = map.get("title").and_then(|v| self.string(v, &at("title")));
        if let Some(value) = map.get("description") {
            self.string(value, &at("description"));
        }
        let controls = map
            .get("controls")
            .and_then(|v| self.controls(v, &at("controls")));
        let severities: Vec<(Severity, &str)> =
            SEVERITIES.iter().map(|s| (*s, s.as_str())).collect();
        let severity = map
            .get("severity")
            .and_then(|v| self.keyword(v, &at("severity"), &severities));
        let action = map
            .get("action")
            .and_then(|v| self.keyword(v, &at("action"), &ACTIONS));
        let auto_remediate = match map.get("autoRemediate") {
            Some(value) => self.boolean(value, &at("autoRemediate")),
            None => Some(true),
        };
        let directions: Vec<(DirectionMatch, &str)> = DirectionMatch::ALL
            .iter()
            .map(|d| (*d, d.as_str()))
            .collect();
        let direction = map
            .get("direction")
            .and_then(|v| self.keyword(v, &at("direction"), &directions));
        let peers = match map.get("peers") {
            Some(value) => self.peers(value, &at("peers")),
            None => Some(PeerMatch::default()),
        };
        let protocols = match map.get("protocols") {
            Some(value) => self.protocols(value, &at("protocols")),
            None => Some(ProtocolKind::ALL.to_vec()),
        };
        let port_mode = match map.get("portMode") {
            Some(value) => {
                let modes: Vec<(PortMode, &str)> =
                    PortMode::ALL.iter().map(|m| (*m, m.as_str())).collect();
                self.keyword(value, &at("portMode"), &modes).map(Some)
            }
            None => Some(None),
        };
        let ranges = match map.get("ports") {
            Some(value) => self.ports(value, &at("ports")).map(Some),
            None => Some(None),
        };
        let scope = match map.get("scope") {
            Some(value) => self.scope(value, &at("scope")),
            None => Some(Scope::default()),
        };
        let (port_mode, ranges, protocols) = (port_mode?, ranges?, protocols?);
        let ports = match (ranges, port_mode) {
            (Some(ranges), mode) => Some(PortMatch {
                mode: mode.unwrap_or(PortMode::Any),
                ranges,
            }),
            (None, Some(_)) => {
                self.problem(at("portMode"), "has no effect without `ports`");
                return None;
            }
            (None, None) => None,
        };
        if ports.is_some() && !protocols.iter().any(|protocol| protocol.has_ports()) {
            // ICMP and other port-less protocols can never contain a port, so
            // such a rule would silently never match.
            self.problem(
                at("ports"),
                "can never match: none of the rule's protocols (tcp, udp, all) has ports",
            );
            return None;
        }
        Some(Rule {
            id: id?,
            title: title?,
            controls: controls?,
            severity: severity?,
            action: action?,
            auto_remediate: auto_remediate?,
            direction: direction?,
            peers: peers?,
            protocols,
            ports,
            scope: scope?,
        })
    }

    fn controls(&mut self, value: &Value, path: &str) -> Option<Vec<String>> {
        let controls = self.strings(value, path)?;
        if controls.is_empty() {
            self.problem(
                path,
                "must name at least one control, the primary one first",
            );
            return None;
        }
        Some(controls)
    }

    fn non_empty_set<T: Copy + PartialEq>(
        &mut self,
        value: &Value,
        path: &str,
        choices: &[(T, &str)],
        what: &str,
    ) -> Option<Vec<T>> {
        let items = self.array(value, path)?;
        if items.is_empty() {
            self.problem(path, format!("must list at least one {what}"));
            return None;
        }
        let mut ok = true;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match self.keyword(item, &index(path, i), choices) {
                Some(choice) if out.contains(&choice) => {
                    self.problem(index(path, i), format!("repeats a {what}"));
                    ok = false;
                }
                Some(choice) => out.push(choice),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn protocols(&mut self, value: &Value, path: &str) -> Option<Vec<ProtocolKind>> {
        let choices: Vec<(ProtocolKind, &str)> =
            ProtocolKind::ALL.iter().map(|p| (*p, p.as_str())).collect();
        self.non_empty_set(value, path, &choices, "protocol")
    }

    fn peers(&mut self, value: &Value, path: &str) -> Option<PeerMatch> {
        let map = self.object(value, path, fields::PEERS)?;
        let defaults = PeerMatch::default();
        let kinds = match map.get("kinds") {
            Some(value) => {
                let choices: Vec<(PeerKind, &str)> =
                    PeerKind::ALL.iter().map(|k| (*k, k.as_str())).collect();
                self.non_empty_set(value, &child(path, "kinds"), &choices, "peer kind")
            }
            None => Some(defaults.kinds),
        };
        let width = match map.get("cidrWidth") {
            Some(value) => self.cidr_width(value, &child(path, "cidrWidth")),
            None => Some(defaults.width),
        };
        let allowlist = match map.get("allowlist") {
            Some(value) => self.allowlist(value, &child(path, "allowlist")),
            None => Some(Vec::new()),
        };
        Some(PeerMatch {
            kinds: kinds?,
            width: width?,
            allowlist: allowlist?,
        })
    }

    fn cidr_width(&mut self, value: &Value, path: &str) -> Option<CidrWidth> {
        match value {
            Value::String(keyword) if keyword == CIDR_WIDTH_KEYWORDS[0] => Some(CidrWidth::Open),
            Value::String(keyword) if keyword == CIDR_WIDTH_KEYWORDS[1] => Some(CidrWidth::Any),
            Value::Object(_) => {
                let map = self.object(value, path, fields::CIDR_WIDTH)?;
                let ipv4 = map
                    .get("ipv4")
                    .and_then(|v| self.prefix_length(v, &child(path, "ipv4"), 32));
                let ipv6 = map
                    .get("ipv6")
                    .and_then(|v| self.prefix_length(v, &child(path, "ipv6"), 128));
                Some(CidrWidth::AtMost {
                    ipv4: ipv4?,
                    ipv6: ipv6?,
                })
            }
            other => {
                self.problem(
                    path,
                    format!(
                        "must be \"open\", \"any\" or {{\"ipv4\": <0-32>, \"ipv6\": <0-128>}}, found {}",
                        match other {
                            Value::String(text) => format!("`{text}`"),
                            other => type_name(other).to_owned(),
                        }
                    ),
                );
                None
            }
        }
    }

    fn prefix_length(&mut self, value: &Value, path: &str, max: u8) -> Option<u8> {
        match value.as_u64() {
            Some(length) if length <= u64::from(max) => u8::try_from(length).ok(),
            _ => {
                self.problem(
                    path,
                    format!("must be a prefix length from 0 to {max}, found {value}"),
                );
                None
            }
        }
    }

    /// Trusted CIDRs. A `/0` would trust every address of its family and
    /// so switch the rule off without saying so; it is refused.
    fn allowlist(&mut self, value: &Value, path: &str) -> Option<Vec<Cidr>> {
        let texts = self.strings(value, path)?;
        let mut ok = true;
        let mut out = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            match Cidr::parse(text) {
                Ok(cidr) if cidr.prefix() == 0 => {
                    self.problem(
                        index(path, i),
                        format!("`{text}` trusts every address, which switches the rule off"),
                    );
                    ok = false;
                }
                Ok(cidr) => out.push(cidr),
                Err(reason) => {
                    self.problem(index(path, i), reason);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn ports(&mut self, value: &Value, path: &str) -> Option<Vec<PortRange>> {
        let items = self.array(value, path)?;
        let mut ok = true;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match self.port_range(item, &index(path, i)) {
                Some(range) => out.push(range),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// `22`, `"22"` or `"8000-8100"`.
    fn port_range(&mut self, value: &Value, path: &str) -> Option<PortRange> {
        let (from, to) = match value {
            Value::Number(number) if number.as_i64().is_none() => {
                self.problem(path, format!("{number} is not a whole port number"));
                return None;
            }
            Value::Number(number) => {
                let port = self.port_number(number.as_i64(), &number.to_string(), path)?;
                (port, port)
            }
            Value::String(text) => {
                let (from, to) = text.split_once('-').unwrap_or((text, text));
                let parse = |part: &str| {
                    let part = part.trim();
                    (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| part.parse::<i64>().ok())
                        .flatten()
                };
                let (Some(from_number), Some(to_number)) = (parse(from), parse(to)) else {
                    self.problem(
                        path,
                        format!("`{text}` is not a port or a range such as \"8000-8100\""),
                    );
                    return None;
                };
                let from = self.port_number(Some(from_number), &from_number.to_string(), path);
                let to = self.port_number(Some(to_number), &to_number.to_string(), path);
                (from?, to?)
            }
            other => {
                self.problem(
                    path,
                    format!(
                        "must be a port number or a range string, found {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        if from > to {
            self.problem(path, format!("range {from}-{to} ends before it starts"));
            return None;
        }
        Some(PortRange { from, to })
    }

    fn port_number(&mut self, number: Option<i64>, shown: &str, path: &str) -> Option<u16> {
        match number.and_then(|n| u16::try_from(n).ok()) {
            Some(port) => Some(port),
            None => {
                self.problem(path, format!("port {shown} is out of range 0-65535"));
                None
            }
        }
    }

    fn scope(&mut self, value: &Value, path: &str) -> Option<Scope> {
        let map = self.object(value, path, fields::SCOPE)?;
        let list = |reader: &mut Reader, key: &str| match map.get(key) {
            Some(value) => reader.strings(value, &child(path, key)),
            None => Some(Vec::new()),
        };
        let accounts = list(self, "accounts");
        let regions = list(self, "regions");
        let vpc_ids = list(self, "vpcIds");
        if let Some(accounts) = &accounts {
            for (i, account) in accounts.iter().enumerate() {
                if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                    self.problem(
                        index(&child(path, "accounts"), i),
                        format!("`{account}` is not a 12-digit account id"),
                    );
                }
            }
        }
        let group_tags = match map.get("groupTags") {
            Some(value) => self.group_tags(value, &child(path, "groupTags")),
            None => Some(BTreeMap::new()),
        };
        let default_group = match map.get("defaultGroup") {
            Some(value) => self.boolean(value, &child(path, "defaultGroup")).map(Some),
            None => Some(None),
        };
        Some(Scope {
            accounts: accounts?,
            regions: regions?,
            vpc_ids: vpc_ids?,
            group_tags: group_tags?,
            default_group: default_group?,
        })
    }

    fn group_tags(&mut self, value: &Value, path: &str) -> Option<BTreeMap<String, Vec<String>>> {
        let Value::Object(map) = value else {
            self.problem(
                path,
                format!(
                    "must be an object of tag key to allowed values, found {}",
                    type_name(value)
                ),
            );
            return None;
        };
        let mut ok = true;
        let mut out = BTreeMap::new();
        for (key, values) in map {
            let key_path = child(path, key);
            match self.strings(values, &key_path) {
                Some(values) => {
                    let unique: BTreeSet<&String> = values.iter().collect();
                    if unique.len() != values.len() {
                        self.problem(key_path, "repeats a value");
                        ok = false;
                    }
                    out.insert(key.clone(), values);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match policy_from_json(text) {
            Ok(_) => Vec::new(),
            Err(Error::InvalidPolicy { problems }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(other) => vec![format!("unexpected error {other}")],
        }
    }

    #[test]
    fn paths_quote_keys_that_are_not_plain() {
        assert_eq!(child("$", "rules"), "$.rules");
        assert_eq!(
            child("$.scope.groupTags", "moat:env"),
            "$.scope.groupTags[\"moat:env\"]"
        );
        assert_eq!(child("$", "$schema"), "$.$schema");
    }

    #[test]
    fn syntax_errors_are_one_problem_at_the_root() {
        let found = problems("{ not json");
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("$: not valid JSON"), "{found:?}");
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let found = problems(
            r#"{"id": "x", "version": "1", "rules": [
                {"id": "a", "title": "t", "controls": ["C"], "severity": "severe", "action": "remediate",
                 "direction": "ingress", "ports": [70000, "30-20"], "port": 22}
            ]}"#,
        );
        assert_eq!(
            found,
            vec![
                "$.rules[0].port: unknown field (known fields: id, title, description, controls, severity, action, autoRemediate, direction, peers, protocols, ports, portMode, scope)",
                "$.rules[0].severity: `severe` is not one of low, medium, high, critical",
                "$.rules[0].ports[0]: port 70000 is out of range 0-65535",
                "$.rules[0].ports[1]: range 30-20 ends before it starts",
            ]
        );
    }
}
