//! Reading `aws ec2 describe-security-group-rules` output (with the group's
//! `describe-security-groups` entry merged in) into a snapshot, and judging it.

mod common;

use common::{date, fixture};
use moat_domain::describe::snapshot_from_cli_json;
use moat_domain::policy::{Policy, evaluate};
use moat_domain::snapshot::{Direction, Peer};
use moat_domain::{Error, ErrorType};
use serde_json::{Value, json};

fn web() -> Value {
    serde_json::from_str(&fixture("cli-web-group.json")).expect("fixture is JSON")
}

#[test]
fn reads_every_field_the_cli_prints() {
    let snapshot =
        snapshot_from_cli_json(&web(), "000000000000", "eu-west-1").expect("valid capture");
    assert_eq!(
        snapshot.account, "210987654321",
        "the owner in the capture wins over the fallback"
    );
    assert_eq!(snapshot.region, "eu-west-1");
    assert_eq!(snapshot.group_id, "sg-0web");
    assert_eq!(snapshot.group_name, "web");
    assert_eq!(snapshot.description, "web tier");
    assert_eq!(snapshot.vpc_id.as_deref(), Some("vpc-0main"));
    assert_eq!(snapshot.tags["moat:exempt"], "ec2-13-ssh-open:2025-12-31");
    assert_eq!(snapshot.rules.len(), 5);
    let first = &snapshot.rules[0];
    assert_eq!(
        (first.direction, first.from_port, first.to_port),
        (Direction::Ingress, Some(21), Some(23))
    );
    assert_eq!(first.description.as_deref(), Some("legacy ftp and ssh"));
    assert_eq!(
        snapshot.rules[1].peer,
        Peer::Ipv6 {
            cidr: "::/0".into()
        }
    );
    assert_eq!(snapshot.rules[1].tags["purpose"], "https");
    assert_eq!(
        snapshot.rules[2].peer,
        Peer::PrefixList {
            prefix_list_id: "pl-0partners".into()
        }
    );
    assert!(
        matches!(&snapshot.rules[3].peer, Peer::Group { group_id, .. } if group_id == "sg-0web")
    );
    assert_eq!(snapshot.rules[4].direction, Direction::Egress);
    assert_eq!(
        snapshot.prefix_lists["pl-0partners"],
        ["198.51.100.0/24", "0.0.0.0/0"]
    );
}

#[test]
fn a_captured_group_is_judged_like_a_live_one() {
    let snapshot = snapshot_from_cli_json(&web(), "", "eu-west-1").expect("valid capture");
    let evaluation = evaluate(&Policy::builtin(), &snapshot, date("2025-06-01"));
    let found: Vec<(&str, &[String])> = evaluation
        .findings
        .iter()
        .map(|f| {
            (
                f.policy_rule_id.as_str(),
                f.security_group_rule_ids.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "ec2-18-tcp-unauthorized",
                &[
                    "sgr-0aaa1111111111111".to_owned(),
                    "sgr-0ccc3333333333333".to_owned()
                ][..]
            ),
            (
                "ec2-19-high-risk-ports",
                &[
                    "sgr-0aaa1111111111111".to_owned(),
                    "sgr-0ccc3333333333333".to_owned()
                ][..]
            ),
        ]
    );
    assert_eq!(evaluation.exempted[0].policy_rule_id, "ec2-13-ssh-open");
}

#[test]
fn rules_alone_are_enough_and_the_fallback_account_is_used_without_an_owner() {
    let value = json!({"SecurityGroupRules": [{
        "SecurityGroupRuleId": "sgr-1", "GroupId": "sg-1", "IsEgress": false,
        "IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "CidrIpv4": "0.0.0.0/0"
    }]});
    let snapshot = snapshot_from_cli_json(&value, "111122223333", "us-east-2").expect("valid");
    assert_eq!(
        (snapshot.account.as_str(), snapshot.group_name.as_str()),
        ("111122223333", "")
    );
}

fn error_at(value: Value) -> String {
    match snapshot_from_cli_json(&value, "111122223333", "us-east-1") {
        Err(error @ Error::Invalid { .. }) => {
            assert_eq!(error.error_type(), ErrorType::Invalid);
            error.to_string()
        }
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn errors_name_the_json_path() {
    let rule = |extra: Value| {
        let mut rule = json!({"SecurityGroupRuleId": "sgr-1", "GroupId": "sg-1", "IsEgress": false, "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22});
        for (key, value) in extra.as_object().expect("object") {
            rule[key] = value.clone();
        }
        json!({"SecurityGroupRules": [rule]})
    };
    let cases = [
        (rule(json!({})), "at $.SecurityGroupRules[0]: names no peer"),
        (
            rule(json!({"CidrIpv4": "0.0.0.0/0", "CidrIpv6": "::/0"})),
            "at $.SecurityGroupRules[0]: names more than one peer",
        ),
        (
            rule(json!({"CidrIpv4": "0.0.0.0/0", "FromPort": 70000})),
            "at $.SecurityGroupRules[0].FromPort: 70000 is not a port",
        ),
        (
            rule(json!({"CidrIpv4": "0.0.0.0/0", "IsEgress": "no"})),
            "at $.SecurityGroupRules[0].IsEgress: must be true or false",
        ),
        (
            rule(json!({"CidrIpv4": "0.0.0.0/0", "Tags": [{"Value": "x"}]})),
            "at $.SecurityGroupRules[0].Tags[0].Key: is required",
        ),
        (
            rule(json!({"ReferencedGroupInfo": {"UserId": "1"}})),
            "at $.SecurityGroupRules[0].ReferencedGroupInfo.GroupId: is required",
        ),
        (
            json!({"SecurityGroups": []}),
            "at $: names no group: no SecurityGroupRules and no SecurityGroups entry",
        ),
    ];
    for (value, expected) in cases {
        let message = error_at(value);
        assert!(
            message.contains(expected),
            "`{message}` should contain `{expected}`"
        );
    }

    let mut two_groups = rule(json!({"CidrIpv4": "0.0.0.0/0"}));
    let mut second = two_groups["SecurityGroupRules"][0].clone();
    second["GroupId"] = json!("sg-2");
    two_groups["SecurityGroupRules"]
        .as_array_mut()
        .expect("array")
        .push(second);
    assert!(
        error_at(two_groups).contains("at $.SecurityGroupRules[1].GroupId: rule belongs to sg-2")
    );

    let mut wrong_entry = rule(json!({"CidrIpv4": "0.0.0.0/0"}));
    wrong_entry["SecurityGroups"] = json!([{"GroupId": "sg-9", "GroupName": "other"}]);
    assert!(error_at(wrong_entry).contains("at $.SecurityGroups: has no entry for sg-1"));
}

/// What every error about the document's overall shape says is expected.
const SHAPE: &str = "expected the AWS CLI's JSON: {\"SecurityGroupRules\": [...]} \
    (aws ec2 describe-security-group-rules) and/or {\"SecurityGroups\": [...]} \
    (aws ec2 describe-security-groups)";

#[test]
fn json_that_is_not_cli_output_names_the_expected_shape() {
    let cases = [
        (json!([]), "at $: found an array; "),
        (json!("sg-1"), "at $: found a string; "),
        (json!({}), "at $: found an object with no keys; "),
        (
            // Moat's own snapshot format, or a hand-written guess at one.
            json!({"groupId": "sg-1", "rules": []}),
            "at $: found an object with keys groupId, rules; ",
        ),
        (
            json!({"SecurityGroupRules": {"SecurityGroupRuleId": "sgr-1"}}),
            "at $.SecurityGroupRules: found an object; ",
        ),
        (
            json!({"SecurityGroups": "sg-1"}),
            "at $.SecurityGroups: found a string; ",
        ),
    ];
    for (value, expected) in cases {
        let message = error_at(value);
        assert!(
            message.contains(&format!("{expected}{SHAPE}")),
            "`{message}` should contain `{expected}{SHAPE}`"
        );
    }
}

#[test]
fn rules_listed_only_as_ip_permissions_are_refused_not_dropped() {
    // describe-security-groups alone prints the rules as IpPermissions,
    // without their sgr- ids. Reading none would judge an open group as
    // one without rules: compliant.
    let value = json!({"SecurityGroups": [{
        "GroupId": "sg-1", "GroupName": "web",
        "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                           "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        "IpPermissionsEgress": []
    }]});
    let message = error_at(value);
    assert!(
        message.contains(
            "at $.SecurityGroups[0].IpPermissions: lists rules, but no SecurityGroupRules \
             say which sgr- ids they have; add the output of \
             aws ec2 describe-security-group-rules --filters Name=group-id,Values=sg-1"
        ),
        "{message}"
    );
    let egress_only = json!({"SecurityGroupRules": [], "SecurityGroups": [{
        "GroupId": "sg-1", "IpPermissionsEgress": [{"IpProtocol": "-1"}]
    }]});
    assert!(
        error_at(egress_only).contains("at $.SecurityGroups[0].IpPermissionsEgress: lists rules"),
    );
    let empty = json!({"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [], "IpPermissionsEgress": []}]});
    assert!(snapshot_from_cli_json(&empty, "111122223333", "us-east-1").is_ok());
}
