//! Reading the JSON the AWS CLI prints for one security group into a
//! [`GroupSnapshot`], so that operators can judge a real group offline
//! (`cargo xtask policy eval`) and tests can use captured CLI output.
//!
//! The input is `aws ec2 describe-security-group-rules` output
//! (`{"SecurityGroupRules": [...]}`), optionally with the group's
//! `aws ec2 describe-security-groups` entries merged in under
//! `SecurityGroups`. Without that entry the group's name is unknown and left
//! empty, so EC2.2 (which is about the group named `default`) cannot apply.
//!
//! The CLI does not print a prefix list's entries next to the rule that
//! names it. Moat accepts them under an optional `PrefixLists` object keyed
//! by `pl-` id, each value shaped like the output of
//! `aws ec2 get-managed-prefix-list-entries` (`{"Entries": [{"Cidr": ...}]}`).
//!
//! Anything else is refused with the path and the expected shape, never
//! read as a group without rules: JSON with neither key, and a
//! `SecurityGroups` entry whose `IpPermissions` list rules that no
//! `SecurityGroupRules` give with their `sgr-` ids.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::Error;
use crate::snapshot::{Direction, GroupSnapshot, Peer, SecurityGroupRule};

const WHAT: &str = "describe-security-group-rules output";

/// What the document must look like, quoted by every error about its shape
/// so that someone who passed the wrong file learns what to pass instead.
const SHAPE: &str = "expected the AWS CLI's JSON: {\"SecurityGroupRules\": [...]} \
    (aws ec2 describe-security-group-rules) and/or {\"SecurityGroups\": [...]} \
    (aws ec2 describe-security-groups)";

/// The keys of a `SecurityGroups` entry that list its rules without ids.
const PERMISSION_KEYS: [&str; 2] = ["IpPermissions", "IpPermissionsEgress"];

/// A `SecurityGroups` entry with its JSON path, for error messages.
type GroupEntry<'v> = (String, &'v Map<String, Value>);

/// Builds a snapshot of one group from CLI output.
///
/// The account is the group's owner as the CLI reports it (`GroupOwnerId`,
/// else `OwnerId`); `account` is used only when neither is present. The CLI
/// prints no region, so `region` is always used.
///
/// One function on purpose: it reads the CLI's two output shapes field by
/// field, and every error names the JSON path it came from, which reads
/// best as one walk over the document.
pub fn snapshot_from_cli_json(
    value: &Value,
    account: &str,
    region: &str,
) -> Result<GroupSnapshot, Error> {
    let root = cli_root(value)?;
    let rule_values = match root.get("SecurityGroupRules") {
        Some(Value::Array(items)) => items.as_slice(),
        Some(other) => return Err(wrong_shape("$.SecurityGroupRules", other)),
        None => &[],
    };
    let mut rules = Vec::with_capacity(rule_values.len());
    let mut group_id: Option<String> = None;
    let mut owner: Option<String> = None;
    for (index, rule_value) in rule_values.iter().enumerate() {
        let path = format!("$.SecurityGroupRules[{index}]");
        let object = rule_value
            .as_object()
            .ok_or_else(|| Error::invalid(WHAT, &path, "must be an object"))?;
        let rule_group = required_string(object, &path, "GroupId")?;
        match &group_id {
            Some(first) if *first != rule_group => {
                return Err(Error::invalid(
                    WHAT,
                    format!("{path}.GroupId"),
                    format!(
                        "rule belongs to {rule_group}, but earlier rules belong to {first}; give one group at a time"
                    ),
                ));
            }
            Some(_) => {}
            None => group_id = Some(rule_group),
        }
        if owner.is_none() {
            owner = optional_string(object, &path, "GroupOwnerId")?;
        }
        rules.push(rule(object, &path)?);
    }

    let group = group_entry(root, group_id.as_deref())?;
    if rules.is_empty()
        && let Some((path, entry)) = &group
    {
        refuse_rules_without_ids(path, entry)?;
    }
    let group_id = match (group_id, &group) {
        (Some(id), _) => id,
        (None, Some((path, entry))) => required_string(entry, path, "GroupId")?,
        (None, None) => {
            return Err(Error::invalid(
                WHAT,
                "$",
                "names no group: no SecurityGroupRules and no SecurityGroups entry",
            ));
        }
    };
    let mut snapshot = GroupSnapshot {
        account: account.to_owned(),
        region: region.to_owned(),
        group_id,
        group_name: String::new(),
        description: String::new(),
        vpc_id: None,
        tags: BTreeMap::new(),
        rules,
        prefix_lists: prefix_lists(root)?,
    };
    if let Some((path, entry)) = group {
        snapshot.group_name = optional_string(entry, &path, "GroupName")?.unwrap_or_default();
        snapshot.description = optional_string(entry, &path, "Description")?.unwrap_or_default();
        snapshot.vpc_id = optional_string(entry, &path, "VpcId")?;
        snapshot.tags = tags(entry, &path)?;
        if owner.is_none() {
            owner = optional_string(entry, &path, "OwnerId")?;
        }
    }
    if let Some(owner) = owner {
        snapshot.account = owner;
    }
    Ok(snapshot)
}

/// The document as an object holding at least one of the CLI's two keys.
fn cli_root(value: &Value) -> Result<&Map<String, Value>, Error> {
    let root = match value {
        Value::Object(root) => root,
        other => return Err(wrong_shape("$", other)),
    };
    if root.contains_key("SecurityGroupRules") || root.contains_key("SecurityGroups") {
        return Ok(root);
    }
    let found = if root.is_empty() {
        "found an object with no keys".to_owned()
    } else {
        let keys: Vec<&str> = root.keys().map(String::as_str).collect();
        format!("found an object with keys {}", keys.join(", "))
    };
    Err(Error::invalid(WHAT, "$", format!("{found}; {SHAPE}")))
}

fn wrong_shape(path: &str, value: &Value) -> Error {
    let found = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::invalid(WHAT, path, format!("found {found}; {SHAPE}"))
}

/// `describe-security-groups` alone lists a group's rules as
/// `IpPermissions`, without the `sgr-` ids Moat judges and revokes by.
/// Reading none of them would judge an open group as one without rules, so
/// a group entry that lists rules the document does not give is refused.
fn refuse_rules_without_ids(path: &str, entry: &Map<String, Value>) -> Result<(), Error> {
    for key in PERMISSION_KEYS {
        let listed = entry
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|permissions| !permissions.is_empty());
        if listed {
            let id = optional_string(entry, path, "GroupId")?.unwrap_or_else(|| "<id>".into());
            return Err(Error::invalid(
                WHAT,
                format!("{path}.{key}"),
                format!(
                    "lists rules, but no SecurityGroupRules say which sgr- ids they have; \
                     add the output of aws ec2 describe-security-group-rules --filters Name=group-id,Values={id}"
                ),
            ));
        }
    }
    Ok(())
}

/// The `SecurityGroups` entry for the group, with its path.
fn group_entry<'v>(
    root: &'v Map<String, Value>,
    group_id: Option<&str>,
) -> Result<Option<GroupEntry<'v>>, Error> {
    let entries = match root.get("SecurityGroups") {
        None => return Ok(None),
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(wrong_shape("$.SecurityGroups", other)),
    };
    let mut objects = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("$.SecurityGroups[{index}]");
        let object = entry
            .as_object()
            .ok_or_else(|| Error::invalid(WHAT, &path, "must be an object"))?;
        objects.push((path, object));
    }
    match group_id {
        Some(id) => {
            for (path, object) in objects {
                if optional_string(object, &path, "GroupId")?.as_deref() == Some(id) {
                    return Ok(Some((path, object)));
                }
            }
            Err(Error::invalid(
                WHAT,
                "$.SecurityGroups",
                format!("has no entry for {id}, the group the rules belong to"),
            ))
        }
        None if objects.len() > 1 => Err(Error::invalid(
            WHAT,
            "$.SecurityGroups",
            "holds several groups and no rule says which one is meant",
        )),
        None => Ok(objects.into_iter().next()),
    }
}

fn rule(object: &Map<String, Value>, path: &str) -> Result<SecurityGroupRule, Error> {
    let rule_id = required_string(object, path, "SecurityGroupRuleId")?;
    let direction = match object.get("IsEgress") {
        Some(Value::Bool(true)) => Direction::Egress,
        Some(Value::Bool(false)) => Direction::Ingress,
        Some(_) => {
            return Err(Error::invalid(
                WHAT,
                format!("{path}.IsEgress"),
                "must be true or false",
            ));
        }
        None => {
            return Err(Error::invalid(
                WHAT,
                format!("{path}.IsEgress"),
                "is required",
            ));
        }
    };
    let ip_protocol = required_string(object, path, "IpProtocol")?;
    let from_port = optional_port(object, path, "FromPort")?;
    let to_port = optional_port(object, path, "ToPort")?;

    let mut peers = Vec::new();
    if let Some(cidr) = optional_string(object, path, "CidrIpv4")? {
        peers.push(Peer::Ipv4 { cidr });
    }
    if let Some(cidr) = optional_string(object, path, "CidrIpv6")? {
        peers.push(Peer::Ipv6 { cidr });
    }
    if let Some(prefix_list_id) = optional_string(object, path, "PrefixListId")? {
        peers.push(Peer::PrefixList { prefix_list_id });
    }
    if let Some(info) = object.get("ReferencedGroupInfo") {
        let info_path = format!("{path}.ReferencedGroupInfo");
        let info = info
            .as_object()
            .ok_or_else(|| Error::invalid(WHAT, &info_path, "must be an object"))?;
        peers.push(Peer::Group {
            group_id: required_string(info, &info_path, "GroupId")?,
            user_id: optional_string(info, &info_path, "UserId")?,
            vpc_id: optional_string(info, &info_path, "VpcId")?,
        });
    }
    // A security-group rule has exactly one peer; anything else is a
    // malformed capture, and guessing which peer counts could hide an open one.
    let peer = match peers.len() {
        1 => peers.remove(0),
        0 => {
            return Err(Error::invalid(
                WHAT,
                path,
                "names no peer (CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupInfo)",
            ));
        }
        _ => return Err(Error::invalid(WHAT, path, "names more than one peer")),
    };
    Ok(SecurityGroupRule {
        rule_id,
        direction,
        ip_protocol,
        from_port,
        to_port,
        peer,
        description: optional_string(object, path, "Description")?,
        tags: tags(object, path)?,
    })
}

fn required_string(object: &Map<String, Value>, path: &str, key: &str) -> Result<String, Error> {
    optional_string(object, path, key)?
        .ok_or_else(|| Error::invalid(WHAT, format!("{path}.{key}"), "is required"))
}

fn optional_string(
    object: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<String>, Error> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Error::invalid(
            WHAT,
            format!("{path}.{key}"),
            "must be a string",
        )),
    }
}

fn optional_port(object: &Map<String, Value>, path: &str, key: &str) -> Result<Option<i32>, Error> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_i64()
            .and_then(|port| i32::try_from(port).ok())
            .filter(|port| (-1..=65535).contains(port))
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(
                    WHAT,
                    format!("{path}.{key}"),
                    format!("{value} is not a port from -1 to 65535"),
                )
            }),
    }
}

/// `[{"Key": ..., "Value": ...}]` into a map.
fn tags(object: &Map<String, Value>, path: &str) -> Result<BTreeMap<String, String>, Error> {
    let items = match object.get("Tags") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Error::invalid(
                WHAT,
                format!("{path}.Tags"),
                "must be an array",
            ));
        }
    };
    let mut tags = BTreeMap::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}.Tags[{index}]");
        let item = item
            .as_object()
            .ok_or_else(|| Error::invalid(WHAT, &item_path, "must be an object"))?;
        let key = required_string(item, &item_path, "Key")?;
        let value = optional_string(item, &item_path, "Value")?.unwrap_or_default();
        tags.insert(key, value);
    }
    Ok(tags)
}

fn prefix_lists(root: &Map<String, Value>) -> Result<BTreeMap<String, Vec<String>>, Error> {
    let lists = match root.get("PrefixLists") {
        None => return Ok(BTreeMap::new()),
        Some(Value::Object(lists)) => lists,
        Some(_) => {
            return Err(Error::invalid(
                WHAT,
                "$.PrefixLists",
                "must be an object keyed by prefix-list id",
            ));
        }
    };
    let mut out = BTreeMap::new();
    for (id, list) in lists {
        let path = format!("$.PrefixLists[{}]", Value::String(id.clone()));
        let entries = list
            .get("Entries")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid(WHAT, format!("{path}.Entries"), "must be an array"))?;
        let mut cidrs = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let entry_path = format!("{path}.Entries[{index}]");
            let entry = entry
                .as_object()
                .ok_or_else(|| Error::invalid(WHAT, &entry_path, "must be an object"))?;
            cidrs.push(required_string(entry, &entry_path, "Cidr")?);
        }
        out.insert(id.clone(), cidrs);
    }
    Ok(out)
}
