//! The policy document format: the shipped pack is valid, a broken document
//! is rejected with every problem located, and the JSON Schema in
//! `policies/` agrees with the parser.

mod common;

use std::collections::BTreeSet;

use common::fixture;
use moat_domain::evaluation::Action;
use moat_domain::policy::{
    ACTIONS, BUILTIN_JSON, CIDR_WIDTH_KEYWORDS, DEFAULT_EXEMPTION_MAX_DAYS, DirectionMatch, Field,
    MAX_EXEMPTION_MAX_DAYS, MAX_POLICY_BYTES, PeerKind, Policy, PortMode, ProtocolKind, SEVERITIES,
    fields,
};
use moat_domain::{Error, ErrorType};
use serde_json::Value;

#[test]
fn the_builtin_pack_is_valid_and_covers_the_promised_controls() {
    let policy = Policy::builtin();
    assert_eq!(policy.id(), "moat-default");
    assert!(!policy.version().is_empty());
    let primaries: BTreeSet<&str> = policy
        .rules()
        .iter()
        .map(|rule| rule.controls[0].as_str())
        .collect();
    for control in ["EC2.2", "EC2.13", "EC2.14", "EC2.18", "EC2.19"] {
        assert!(
            primaries.contains(control),
            "{control} is missing from the default pack"
        );
    }
    assert!(policy.settings().auto_remediate);
    assert!(!policy.settings().dry_run);
    assert_eq!(policy.settings().exemption_tag, "moat:exempt");
    let risky = policy.rule("ec2-19-high-risk-ports").expect("EC2.19 rule");
    let ports: Vec<u16> = risky
        .ports
        .as_ref()
        .expect("ports")
        .ranges
        .iter()
        .map(|r| r.from)
        .collect();
    assert_eq!(
        ports,
        [
            20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432,
            5500, 5601, 8080, 8088, 8888, 9200, 9300
        ]
    );
}

#[test]
fn an_invalid_policy_reports_every_problem_with_its_path() {
    let error =
        Policy::from_json(&fixture("invalid-policy.json")).expect_err("the fixture is invalid");
    assert_eq!(error.error_type(), ErrorType::Invalid);
    let Error::InvalidPolicy { problems } = &error else {
        panic!("expected InvalidPolicy, got {error:?}")
    };
    let listed: String = problems
        .iter()
        .map(|problem| format!("{problem}\n"))
        .collect();
    expect_test::expect_file!["fixtures/invalid-policy.problems"].assert_eq(&listed);
    assert!(
        error
            .to_string()
            .starts_with(&format!("invalid policy: {} problems: $.", problems.len()))
    );
}

#[test]
fn json_syntax_errors_are_reported_too() {
    let error = Policy::from_json("{\"id\": ").expect_err("not JSON");
    assert!(
        error
            .to_string()
            .starts_with("invalid policy: 1 problem: $: not valid JSON"),
        "{error}"
    );
}

fn schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/policy.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, found {value}"))
        .iter()
        .map(|item| item.as_str().expect("string").to_owned())
        .collect()
}

/// The schema object at `pointer` declares exactly the parser's fields, the
/// same required ones, and no others.
fn assert_object_agrees(schema: &Value, pointer: &str, declared: &[Field]) {
    let object = schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("schema has no {pointer}"));
    assert_eq!(
        object["additionalProperties"],
        Value::Bool(false),
        "{pointer} must reject unknown fields"
    );
    let properties: BTreeSet<String> = object["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{pointer} has no properties"))
        .keys()
        .cloned()
        .collect();
    let parser: BTreeSet<String> = declared.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(properties, parser, "fields of {pointer}");
    let required = strings(&object["required"]);
    let parser_required: BTreeSet<String> = declared
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.to_owned())
        .collect();
    assert_eq!(required, parser_required, "required fields of {pointer}");
}

#[test]
fn the_schema_declares_the_parsers_fields() {
    let schema = schema();
    assert_object_agrees(&schema, "", fields::POLICY);
    assert_object_agrees(&schema, "/$defs/settings", fields::SETTINGS);
    assert_object_agrees(&schema, "/$defs/rule", fields::RULE);
    assert_object_agrees(&schema, "/$defs/peers", fields::PEERS);
    assert_object_agrees(&schema, "/$defs/cidrWidth", fields::CIDR_WIDTH);
    assert_object_agrees(&schema, "/$defs/scope", fields::SCOPE);
    assert_object_agrees(&schema, "/$defs/exemptions", fields::EXEMPTIONS);
}

#[test]
fn the_schemas_enums_are_the_parsers_keywords() {
    let schema = schema();
    let rule = "/$defs/rule/properties";
    let enum_at = |pointer: &str| {
        strings(
            schema
                .pointer(pointer)
                .unwrap_or_else(|| panic!("schema has no {pointer}")),
        )
    };
    let set =
        |names: &mut dyn Iterator<Item = &str>| names.map(str::to_owned).collect::<BTreeSet<_>>();

    assert_eq!(
        enum_at(&format!("{rule}/severity/enum")),
        set(&mut SEVERITIES.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        enum_at(&format!("{rule}/action/enum")),
        set(&mut ACTIONS.iter().map(|(_, name)| *name))
    );
    assert_eq!(
        enum_at(&format!("{rule}/direction/enum")),
        set(&mut DirectionMatch::ALL.iter().map(|d| d.as_str()))
    );
    assert_eq!(
        enum_at(&format!("{rule}/protocols/items/enum")),
        set(&mut ProtocolKind::ALL.iter().map(|p| p.as_str()))
    );
    assert_eq!(
        enum_at(&format!("{rule}/portMode/enum")),
        set(&mut PortMode::ALL.iter().map(|m| m.as_str()))
    );
    assert_eq!(
        enum_at("/$defs/peers/properties/kinds/items/enum"),
        set(&mut PeerKind::ALL.iter().map(|k| k.as_str()))
    );
    assert_eq!(
        enum_at("/$defs/peers/properties/cidrWidth/oneOf/0/enum"),
        set(&mut CIDR_WIDTH_KEYWORDS.iter().copied())
    );
    // Every action the evaluation knows can be asked for by a policy.
    for action in [
        Action::Notify,
        Action::Review,
        Action::Remediate,
        Action::Lockdown,
    ] {
        assert!(
            ACTIONS.iter().any(|(known, _)| *known == action),
            "{action:?}"
        );
    }
}

#[test]
fn every_example_in_the_readme_is_a_valid_policy() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/README.md");
    let readme = std::fs::read_to_string(path).expect("README");
    let examples: Vec<&str> = readme
        .split("```json\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or_default())
        .collect();
    assert!(!examples.is_empty(), "the README shows an example");
    for example in examples {
        if let Err(error) = Policy::from_json(example) {
            panic!("README example is invalid: {error}");
        }
    }
}

/// The problems of a document, one per line.
fn problems(text: &str) -> Vec<String> {
    match Policy::from_json(text) {
        Ok(_) => panic!("the document should be invalid"),
        Err(Error::InvalidPolicy { problems }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        Err(other) => panic!("expected InvalidPolicy, got {other:?}"),
    }
}

/// A one-rule policy with `extra` merged into the rule.
fn one_rule(extra: &str) -> String {
    format!(
        r#"{{"id": "p", "version": "1", "rules": [{{"id": "r", "title": "t", "controls": ["C"],
            "severity": "high", "action": "remediate", "direction": "ingress"{extra}}}]}}"#
    )
}

#[test]
fn an_allowlist_that_trusts_the_whole_internet_is_refused() {
    let found = problems(&one_rule(
        r#", "peers": {"allowlist": ["10.0.0.0/8", "0.0.0.0/0", "::/0", "192.0.2.1/0"]}"#,
    ));
    assert_eq!(
        found,
        [
            "$.rules[0].peers.allowlist[1]: `0.0.0.0/0` trusts every address, which switches the rule off",
            "$.rules[0].peers.allowlist[2]: `::/0` trusts every address, which switches the rule off",
            "$.rules[0].peers.allowlist[3]: `192.0.2.1/0` trusts every address, which switches the rule off",
        ]
    );
}

#[test]
fn a_duplicate_key_is_refused_with_its_path() {
    // serde_json keeps the last of two equal keys: the `ports` below would
    // silently become "no ports" and the second `rules` would drop a rule.
    let text = r#"{"id": "p", "version": "1", "rules": [{"id": "r", "title": "t", "controls": ["C"],
        "severity": "high", "action": "remediate", "direction": "ingress",
        "ports": [22], "peers": {"kinds": ["ipv4"], "k\u0069nds": ["ipv6"]}, "ports": []}],
        "settings": {"dryRun": false, "dryRun": true}}"#;
    assert_eq!(
        problems(text),
        [
            "$.rules[0].peers.kinds: appears twice in the same object; JSON readers keep only the last, so the first would be silently ignored",
            "$.rules[0].ports: appears twice in the same object; JSON readers keep only the last, so the first would be silently ignored",
            "$.settings.dryRun: appears twice in the same object; JSON readers keep only the last, so the first would be silently ignored",
        ]
    );
}

#[test]
fn a_document_over_the_size_limit_is_refused_naming_limit_and_size() {
    assert_eq!(MAX_POLICY_BYTES, 1024 * 1024);
    let mut text = BUILTIN_JSON.to_owned();
    let padding = MAX_POLICY_BYTES + 1 - text.len();
    text.insert_str(1, &" ".repeat(padding));
    assert_eq!(text.len(), MAX_POLICY_BYTES + 1);
    assert_eq!(
        problems(&text),
        ["$: the document is 1048577 bytes, over the limit of 1048576 bytes"]
    );
    // Exactly at the limit is fine.
    text.remove(1);
    Policy::from_json(&text).expect("a document of exactly 1 MiB is accepted");
}

#[test]
fn a_leading_byte_order_mark_is_accepted_and_ignored() {
    let text = format!("\u{feff}{BUILTIN_JSON}");
    assert_eq!(Policy::from_json(&text), Ok(Policy::builtin()));
    // Only one, and only at the start: anywhere else it is not JSON.
    assert!(Policy::from_json(&format!("\u{feff}{text}")).is_err());
}

#[test]
fn the_exemption_settings_are_read_and_validated() {
    let policy = Policy::from_json(&format!(
        r#"{{"id": "p", "version": "1", "exemptions": {{"maxDays": 30,
            "allowedTaggers": ["arn:aws:iam::*:role/SecurityAdmin", "arn:aws-us-gov:iam::111122223333:user/carol"]}},
            "rules": {}}}"#,
        serde_json::to_string(&serde_json::from_str::<Value>(BUILTIN_JSON).unwrap()["rules"])
            .unwrap()
    ))
    .expect("valid");
    assert_eq!(policy.exemptions().max_days, 30);
    let taggers: Vec<&str> = policy
        .exemptions()
        .allowed_taggers
        .as_ref()
        .expect("set")
        .iter()
        .map(|pattern| pattern.as_str())
        .collect();
    assert_eq!(
        taggers,
        [
            "arn:aws:iam::*:role/SecurityAdmin",
            "arn:aws-us-gov:iam::111122223333:user/carol"
        ]
    );
    assert_eq!(Policy::builtin().exemptions().allowed_taggers, None);

    let found = problems(
        r#"{"id": "p", "version": "1", "rules": [], "exemptions": {"maxDays": 0, "allowedTaggers": ["alice", "arn:aws:iam::*:role/ops-*", "arn:aws:iam::*:group/admins"], "maxDay": 1}}"#,
    );
    assert_eq!(
        found,
        [
            "$.exemptions.maxDay: unknown field (known fields: maxDays, allowedTaggers)",
            "$.exemptions.maxDays: must be a whole number of days from 1 to 3650, found 0",
            "$.exemptions.allowedTaggers[0]: `alice` is not of the form arn:<partition>:iam::<account or *>:role/<name> or arn:<partition>:iam::<account or *>:user/<name>",
            "$.exemptions.allowedTaggers[1]: `arn:aws:iam::*:role/ops-*` may hold `*` only as the account",
            "$.exemptions.allowedTaggers[2]: `arn:aws:iam::*:group/admins` is not of the form arn:<partition>:iam::<account or *>:role/<name> or arn:<partition>:iam::<account or *>:user/<name>",
            "$.rules: must hold at least one rule",
        ]
    );
}

#[test]
fn the_schema_states_the_exemption_limits_the_parser_enforces() {
    let schema = schema();
    let max_days = schema
        .pointer("/$defs/exemptions/properties/maxDays")
        .expect("maxDays in the schema");
    assert_eq!(max_days["default"], DEFAULT_EXEMPTION_MAX_DAYS);
    assert_eq!(max_days["minimum"], 1);
    assert_eq!(max_days["maximum"], MAX_EXEMPTION_MAX_DAYS);
}
