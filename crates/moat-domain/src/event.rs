//! From an EventBridge "AWS API Call via CloudTrail" event to a [`Change`]:
//! which security group changed, how, by whom and when, or why the event is
//! skipped.
//!
//! The event says what happened; it never says what is true now (a later
//! call may already have undone it). So a `Change` only names the group, and
//! the detect function reads the group's current rules before anything is
//! judged.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// The CloudTrail event names Moat acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventName {
    CreateSecurityGroup,
    AuthorizeSecurityGroupIngress,
    AuthorizeSecurityGroupEgress,
    RevokeSecurityGroupIngress,
    RevokeSecurityGroupEgress,
    ModifySecurityGroupRules,
    UpdateSecurityGroupRuleDescriptionsIngress,
    UpdateSecurityGroupRuleDescriptionsEgress,
    /// Not a CloudTrail call: an operator's `cargo xtask lockdown`, which
    /// starts the state machine with an [`OperatorLockdown`] input.
    OperatorLockdown,
    /// Not a CloudTrail call: a sweep found the group violating policy and
    /// started the state machine with a [`SweepFinding`] input.
    SweepFinding,
}

impl EventName {
    /// Every name, in the order the EventBridge rule pattern lists them.
    pub const ALL: [EventName; 8] = [
        EventName::CreateSecurityGroup,
        EventName::AuthorizeSecurityGroupIngress,
        EventName::AuthorizeSecurityGroupEgress,
        EventName::RevokeSecurityGroupIngress,
        EventName::RevokeSecurityGroupEgress,
        EventName::ModifySecurityGroupRules,
        EventName::UpdateSecurityGroupRuleDescriptionsIngress,
        EventName::UpdateSecurityGroupRuleDescriptionsEgress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::CreateSecurityGroup => "CreateSecurityGroup",
            EventName::AuthorizeSecurityGroupIngress => "AuthorizeSecurityGroupIngress",
            EventName::AuthorizeSecurityGroupEgress => "AuthorizeSecurityGroupEgress",
            EventName::RevokeSecurityGroupIngress => "RevokeSecurityGroupIngress",
            EventName::RevokeSecurityGroupEgress => "RevokeSecurityGroupEgress",
            EventName::ModifySecurityGroupRules => "ModifySecurityGroupRules",
            EventName::UpdateSecurityGroupRuleDescriptionsIngress => {
                "UpdateSecurityGroupRuleDescriptionsIngress"
            }
            EventName::UpdateSecurityGroupRuleDescriptionsEgress => {
                "UpdateSecurityGroupRuleDescriptionsEgress"
            }
            EventName::OperatorLockdown => "OperatorLockdown",
            EventName::SweepFinding => "SweepFinding",
        }
    }

    /// The CloudTrail event name, if Moat handles it. `OperatorLockdown` is
    /// not one: it never comes from CloudTrail.
    pub fn parse(name: &str) -> Option<EventName> {
        EventName::ALL
            .into_iter()
            .find(|known| known.as_str() == name)
    }
}

impl std::fmt::Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the event names the group. In a default VPC, EC2 still accepts a
/// group by name alone, and then CloudTrail records only the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "by")]
pub enum GroupRef {
    Id { group_id: String },
    Name { group_name: String },
}

/// A security-group change worth looking at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// CloudTrail's `eventID`: unique per API call, and the key that makes
    /// every later step idempotent.
    pub event_id: String,
    pub event_name: EventName,
    pub event_time: DateTime<Utc>,
    /// The account the group lives in (`recipientAccountId`).
    pub account: String,
    pub region: String,
    /// Who made the call: `userIdentity.arn`.
    pub actor: String,
    pub group: GroupRef,
    /// Why, when a person says so: the reason of an operator lockdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Change {
    /// The group id, when the event carries one.
    pub fn group_id(&self) -> Option<&str> {
        match &self.group {
            GroupRef::Id { group_id } => Some(group_id),
            GroupRef::Name { .. } => None,
        }
    }
}

/// Why an event leads to no evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// Made by Moat's own remediation role: acting on it would loop.
    #[serde(rename = "self")]
    SelfMade,
    /// The API call failed (`errorCode` is set), so nothing changed.
    FailedCall,
    /// The group no longer exists when Moat looks at it.
    Deleted,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::SelfMade => "self",
            SkipReason::FailedCall => "failedCall",
            SkipReason::Deleted => "deleted",
        }
    }
}

/// A skipped event, with what a person needs to see why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skip {
    pub reason: SkipReason,
    pub detail: String,
    pub event_id: String,
    pub event_name: String,
}

/// What detection makes of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    Change(Change),
    Skip(Skip),
}

/// An IAM principal ARN, as a pattern: `*` in the account field matches any
/// account, because Moat's roles have the same name in every member account.
/// `*` anywhere else is refused rather than taken literally, since such a
/// pattern would silently match nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPattern(String);

impl PrincipalPattern {
    /// Reads one pattern whose resource is one of `kinds` (`role/`,
    /// `user/`); the error is a sentence naming the pattern.
    pub fn parse(raw: &str, kinds: &[&str]) -> Result<PrincipalPattern, String> {
        let fields: Vec<&str> = raw.splitn(6, ':').collect();
        let valid = fields.len() == 6
            && fields[0] == "arn"
            && !fields[1].is_empty()
            && fields[2] == "iam"
            && fields[3].is_empty()
            && kinds.iter().any(|kind| {
                fields[5]
                    .strip_prefix(kind)
                    .is_some_and(|name| !name.is_empty())
            });
        if !valid {
            let forms: Vec<String> = kinds
                .iter()
                .map(|kind| format!("arn:<partition>:iam::<account or *>:{kind}<name>"))
                .collect();
            return Err(format!("`{raw}` is not of the form {}", forms.join(" or ")));
        }
        let star_elsewhere = fields
            .iter()
            .enumerate()
            .any(|(index, field)| index != 4 && field.contains('*'));
        let account = fields[4];
        if star_elsewhere || (account.contains('*') && account != "*") {
            return Err(format!("`{raw}` may hold `*` only as the account"));
        }
        if account != "*" && (account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!(
                "`{raw}` names account `{account}`, which is neither a 12-digit id nor `*`"
            ));
        }
        Ok(PrincipalPattern(raw.to_owned()))
    }

    /// Whether `arn` is this principal, field by field.
    pub fn matches(&self, arn: &str) -> bool {
        arn_matches(&self.0, arn)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who Moat is: the role ARNs whose changes are Moat's own. A pattern may
/// put `*` in the account field (`arn:aws:iam::*:role/moat-remediation`),
/// because the remediation role has the same name in every member account.
///
/// There is no empty identity: a Moat that cannot recognise its own revokes
/// would judge them and react to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfIdentity {
    role_arns: Vec<PrincipalPattern>,
}

impl SelfIdentity {
    /// Reads a comma-separated list of role ARN patterns; it must name at
    /// least one.
    pub fn parse(list: &str) -> Result<SelfIdentity, Error> {
        let mut role_arns = Vec::new();
        for (index, raw) in list.split(',').map(str::trim).enumerate() {
            if raw.is_empty() {
                continue;
            }
            let pattern = PrincipalPattern::parse(raw, &["role/"]).map_err(|reason| {
                Error::invalid(
                    "role ARN pattern",
                    format!("entry {index} of the self-role list"),
                    reason,
                )
            })?;
            role_arns.push(pattern);
        }
        if role_arns.is_empty() {
            return Err(Error::invalid(
                "role ARN pattern",
                "the self-role list",
                "is empty; Moat would not recognise its own revokes and would react to them",
            ));
        }
        Ok(SelfIdentity { role_arns })
    }

    /// Whether the caller is one of Moat's roles: either the role itself,
    /// or an assumed-role session whose issuer is the role.
    fn is_self(&self, identity: &Value) -> bool {
        let issuer = identity
            .pointer("/sessionContext/sessionIssuer/arn")
            .and_then(Value::as_str);
        let arn = identity.get("arn").and_then(Value::as_str);
        [issuer, arn].into_iter().flatten().any(|candidate| {
            self.role_arns
                .iter()
                .any(|pattern| pattern.matches(candidate))
        })
    }
}

/// Compares two IAM principal ARNs field by field, where `*` in the
/// pattern's account matches any account.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    pattern.len() == 6
        && arn.len() == 6
        && pattern
            .iter()
            .zip(&arn)
            .enumerate()
            .all(|(index, (want, have))| (index == 4 && *want == "*") || want == have)
}

/// The CloudTrail record inside the EventBridge envelope; only the fields
/// Moat reads, everything else ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudTrailDetail {
    event_name: String,
    #[serde(rename = "eventID")]
    event_id: String,
    event_time: DateTime<Utc>,
    aws_region: String,
    #[serde(default)]
    recipient_account_id: Option<String>,
    #[serde(default)]
    user_identity: Value,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    request_parameters: Value,
    #[serde(default)]
    response_elements: Value,
}

/// The state machine input `cargo xtask lockdown` starts an execution
/// with: `{"lockdown": {...}}`. The request id is the execution's name, so
/// a second start of the same lockdown is the same execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperatorLockdown {
    pub request_id: String,
    pub group_id: String,
    pub account: String,
    pub region: String,
    /// The operator's IAM identity (`sts:GetCallerIdentity`).
    pub actor: String,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
}

/// The key of an operator lockdown input.
pub const LOCKDOWN_INPUT_KEY: &str = "lockdown";

impl OperatorLockdown {
    /// The lockdown in an execution input, if the input is one.
    pub fn from_input(input: &Value) -> Option<Result<OperatorLockdown, Error>> {
        let request = input.get(LOCKDOWN_INPUT_KEY)?;
        Some(
            serde_json::from_value(request.clone()).map_err(|error| {
                Error::invalid("operator lockdown", "$.lockdown", error.to_string())
            }),
        )
    }

    /// The change the rest of the pipeline works on.
    pub fn change(&self) -> Change {
        Change {
            event_id: self.request_id.clone(),
            event_name: EventName::OperatorLockdown,
            event_time: self.requested_at,
            account: self.account.clone(),
            region: self.region.clone(),
            actor: self.actor.clone(),
            group: GroupRef::Id {
                group_id: self.group_id.clone(),
            },
            reason: Some(self.reason.clone()),
        }
    }
}

/// The key of a sweep's input to the remediation state machine.
pub const SWEEP_INPUT_KEY: &str = "sweep";

/// Who a sweep's changes are by, in audit records and notifications.
pub const SWEEP_ACTOR: &str = "moat-sweep";

/// The remediation state machine input a sweep starts an execution with
/// for a group it found violating policy: `{"sweep": {...}}`. The request
/// id is the execution's name (`sweep::remediation_execution_name`), so a
/// re-run of the sweep starts nothing twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SweepFinding {
    pub request_id: String,
    pub sweep_id: String,
    pub group_id: String,
    pub account: String,
    pub region: String,
    pub judged_at: DateTime<Utc>,
}

impl SweepFinding {
    /// The sweep finding in an execution input, if the input is one.
    pub fn from_input(input: &Value) -> Option<Result<SweepFinding, Error>> {
        let request = input.get(SWEEP_INPUT_KEY)?;
        Some(
            serde_json::from_value(request.clone())
                .map_err(|error| Error::invalid("sweep finding", "$.sweep", error.to_string())),
        )
    }

    /// The change the rest of the pipeline works on.
    pub fn change(&self) -> Change {
        Change {
            event_id: self.request_id.clone(),
            event_name: EventName::SweepFinding,
            event_time: self.judged_at,
            account: self.account.clone(),
            region: self.region.clone(),
            actor: SWEEP_ACTOR.to_owned(),
            group: GroupRef::Id {
                group_id: self.group_id.clone(),
            },
            reason: Some(format!("found by sweep {}", self.sweep_id)),
        }
    }
}

/// Turns one EventBridge event into a change or a skip.
///
/// An event that is not a CloudTrail security-group call Moat knows is an
/// error, not a skip: the EventBridge rule should never have sent it, so a
/// person must look at the rule.
///
/// The steps (envelope, failed call, self-made change, group id from the
/// place each event name keeps it) stay in one function because their
/// order is the rule: a skip must be decided before the group id is read.
pub fn detect(event: &Value, me: &SelfIdentity) -> Result<Detection, Error> {
    let envelope: EventBridgeEvent<CloudTrailDetail> = serde_json::from_value(event.clone())
        .map_err(|error| {
            Error::invalid(
                "CloudTrail event",
                "$",
                format!("not an EventBridge CloudTrail event: {error}"),
            )
        })?;
    if envelope.detail_type != "AWS API Call via CloudTrail" {
        return Err(Error::invalid(
            "CloudTrail event",
            "$.detail-type",
            format!(
                "expected `AWS API Call via CloudTrail`, got `{}`",
                envelope.detail_type
            ),
        ));
    }
    let detail = envelope.detail;
    let event_name = EventName::parse(&detail.event_name).ok_or_else(|| {
        Error::invalid(
            "CloudTrail event",
            "$.detail.eventName",
            format!(
                "`{}` is not a security-group change Moat handles",
                detail.event_name
            ),
        )
    })?;
    let skip = |reason: SkipReason, text: String| {
        Ok(Detection::Skip(Skip {
            reason,
            detail: text,
            event_id: detail.event_id.clone(),
            event_name: detail.event_name.clone(),
        }))
    };
    if let Some(code) = &detail.error_code {
        let message = detail.error_message.as_deref().unwrap_or("no message");
        return skip(
            SkipReason::FailedCall,
            format!("{event_name} failed with {code} ({message}); nothing changed"),
        );
    }
    if me.is_self(&detail.user_identity) {
        return skip(
            SkipReason::SelfMade,
            format!("{event_name} was made by Moat's own remediation role"),
        );
    }
    let account = detail
        .recipient_account_id
        .clone()
        .or(envelope.account)
        .or_else(|| string_at(&detail.user_identity, "/accountId"))
        .ok_or_else(|| {
            Error::invalid(
                "CloudTrail event",
                "$.detail.recipientAccountId",
                "no account in the event",
            )
        })?;
    let actor = string_at(&detail.user_identity, "/arn")
        .or_else(|| string_at(&detail.user_identity, "/invokedBy"))
        .unwrap_or_else(|| "unknown".to_owned());
    let group = group_ref(
        event_name,
        &detail.request_parameters,
        &detail.response_elements,
    )?;
    Ok(Detection::Change(Change {
        event_id: detail.event_id,
        event_name,
        event_time: detail.event_time,
        account,
        region: detail.aws_region,
        actor,
        group,
        reason: None,
    }))
}

/// Finds the group wherever this event puts it. The id wins over the name
/// because names are only unique within a VPC.
fn group_ref(event_name: EventName, request: &Value, response: &Value) -> Result<GroupRef, Error> {
    let candidates: &[(&Value, &str)] = &[
        (request, "/groupId"),
        (request, "/ModifySecurityGroupRulesRequest/GroupId"),
        (response, "/groupId"),
        (response, "/securityGroupRuleSet/items/0/groupId"),
    ];
    if let Some(group_id) = candidates
        .iter()
        .find_map(|(root, pointer)| string_at(root, pointer))
    {
        return Ok(GroupRef::Id { group_id });
    }
    if let Some(group_name) = string_at(request, "/groupName") {
        return Ok(GroupRef::Name { group_name });
    }
    Err(Error::invalid(
        "CloudTrail event",
        "$.detail.requestParameters",
        format!(
            "{event_name} names no security group (looked at requestParameters.groupId, \
             requestParameters.ModifySecurityGroupRulesRequest.GroupId, responseElements.groupId, \
             responseElements.securityGroupRuleSet.items[].groupId and requestParameters.groupName)"
        ),
    ))
}

fn string_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/fixtures/cloudtrail/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn me() -> SelfIdentity {
        SelfIdentity::parse("arn:aws:iam::*:role/moat-remediation").unwrap()
    }

    fn change(name: &str) -> Change {
        match detect(&fixture(name), &me()).unwrap() {
            Detection::Change(change) => change,
            Detection::Skip(skip) => panic!("{name} was skipped: {skip:?}"),
        }
    }

    fn skip(name: &str) -> Skip {
        match detect(&fixture(name), &me()).unwrap() {
            Detection::Skip(skip) => skip,
            Detection::Change(change) => panic!("{name} was not skipped: {change:?}"),
        }
    }

    fn by_id(id: &str) -> GroupRef {
        GroupRef::Id {
            group_id: id.into(),
        }
    }

    #[test]
    fn every_event_name_finds_its_group() {
        let cases = [
            (
                "create-security-group",
                EventName::CreateSecurityGroup,
                by_id("sg-0f1e2d3c4b5a69788"),
            ),
            (
                "authorize-ingress",
                EventName::AuthorizeSecurityGroupIngress,
                by_id("sg-0123456789abcdef0"),
            ),
            (
                "authorize-egress",
                EventName::AuthorizeSecurityGroupEgress,
                by_id("sg-0123456789abcdef0"),
            ),
            (
                "revoke-ingress",
                EventName::RevokeSecurityGroupIngress,
                by_id("sg-0123456789abcdef0"),
            ),
            (
                "revoke-egress",
                EventName::RevokeSecurityGroupEgress,
                by_id("sg-0123456789abcdef0"),
            ),
            (
                "modify-security-group-rules",
                EventName::ModifySecurityGroupRules,
                by_id("sg-0aa11bb22cc33dd44"),
            ),
            (
                "update-descriptions-ingress",
                EventName::UpdateSecurityGroupRuleDescriptionsIngress,
                by_id("sg-0123456789abcdef0"),
            ),
            (
                "update-descriptions-egress",
                EventName::UpdateSecurityGroupRuleDescriptionsEgress,
                by_id("sg-0123456789abcdef0"),
            ),
            (
                "authorize-ingress-rule-set-only",
                EventName::AuthorizeSecurityGroupIngress,
                by_id("sg-0bb22cc33dd44ee55"),
            ),
            (
                "authorize-ingress-default-vpc-by-name",
                EventName::AuthorizeSecurityGroupIngress,
                GroupRef::Name {
                    group_name: "launch-wizard-1".into(),
                },
            ),
        ];
        for (name, event_name, group) in cases {
            let change = change(name);
            assert_eq!(change.event_name, event_name, "{name}");
            assert_eq!(change.group, group, "{name}");
        }
    }

    #[test]
    fn a_change_keeps_who_when_and_where() {
        let change = change("authorize-ingress");
        assert_eq!(change.event_id, "6d0f0a5c-1b0e-4b5e-9c1a-2f3e4d5c6b7a");
        assert_eq!(change.account, "210987654321");
        assert_eq!(change.region, "us-east-1");
        assert_eq!(
            change.actor,
            "arn:aws:sts::210987654321:assumed-role/Developer/alice"
        );
        assert_eq!(change.event_time.to_rfc3339(), "2026-11-20T09:14:03+00:00");
    }

    #[test]
    fn a_failed_call_is_skipped_with_its_error_code() {
        let skip = skip("authorize-ingress-failed");
        assert_eq!(skip.reason, SkipReason::FailedCall);
        assert!(
            skip.detail.contains("Client.UnauthorizedOperation"),
            "{}",
            skip.detail
        );
    }

    #[test]
    fn moats_own_change_is_skipped_as_self() {
        let skip = skip("revoke-ingress-by-moat");
        assert_eq!(skip.reason, SkipReason::SelfMade);
        assert_eq!(serde_json::to_value(skip.reason).unwrap(), "self");
    }

    #[test]
    fn with_another_self_role_moats_change_is_a_change() {
        let other = SelfIdentity::parse("arn:aws:iam::*:role/someone-else").unwrap();
        let detection = detect(&fixture("revoke-ingress-by-moat"), &other).unwrap();
        assert!(matches!(detection, Detection::Change(_)));
    }

    #[test]
    fn an_empty_self_role_list_is_refused() {
        // With no role of its own, Moat would judge its own revokes and
        // react to them: the list must name at least one role.
        for empty in ["", "  ", " , ,"] {
            let error = SelfIdentity::parse(empty).unwrap_err();
            assert_eq!(error.error_type(), crate::ErrorType::Invalid);
            assert_eq!(
                error.to_string(),
                "invalid role ARN pattern at the self-role list: is empty; \
                 Moat would not recognise its own revokes and would react to them"
            );
        }
    }

    #[test]
    fn principal_patterns_take_a_star_only_as_the_account() {
        let kinds = &["role/", "user/"];
        let pattern = PrincipalPattern::parse("arn:aws:iam::*:user/carol", kinds).unwrap();
        assert!(pattern.matches("arn:aws:iam::111122223333:user/carol"));
        assert!(!pattern.matches("arn:aws:iam::111122223333:role/carol"));
        assert_eq!(pattern.as_str(), "arn:aws:iam::*:user/carol");
        assert_eq!(
            PrincipalPattern::parse("arn:aws:iam::*:role/moat-*", kinds).unwrap_err(),
            "`arn:aws:iam::*:role/moat-*` may hold `*` only as the account"
        );
        assert_eq!(
            PrincipalPattern::parse("arn:aws:iam::1234:role/ops", kinds).unwrap_err(),
            "`arn:aws:iam::1234:role/ops` names account `1234`, which is neither a 12-digit id nor `*`"
        );
        assert_eq!(
            PrincipalPattern::parse("arn:aws:iam::*:user/carol", &["role/"]).unwrap_err(),
            "`arn:aws:iam::*:user/carol` is not of the form arn:<partition>:iam::<account or *>:role/<name>"
        );
    }

    #[test]
    fn self_role_patterns_match_exact_and_any_account() {
        assert!(arn_matches(
            "arn:aws:iam::*:role/moat-remediation",
            "arn:aws:iam::210987654321:role/moat-remediation"
        ));
        assert!(arn_matches(
            "arn:aws:iam::111122223333:role/moat-remediation",
            "arn:aws:iam::111122223333:role/moat-remediation"
        ));
        assert!(!arn_matches(
            "arn:aws:iam::111122223333:role/moat-remediation",
            "arn:aws:iam::210987654321:role/moat-remediation"
        ));
        assert!(!arn_matches(
            "arn:aws:iam::*:role/moat-remediation",
            "arn:aws:iam::210987654321:role/moat-remediation-other"
        ));
    }

    #[test]
    fn a_bad_self_role_pattern_names_the_entry() {
        let error = SelfIdentity::parse("arn:aws:iam::*:role/ok, moat-remediation").unwrap_err();
        assert_eq!(error.error_type(), crate::ErrorType::Invalid);
        assert!(error.to_string().contains("entry 1"), "{error}");
    }

    #[test]
    fn an_unknown_event_name_is_invalid_and_says_where() {
        let mut event = fixture("authorize-ingress");
        event["detail"]["eventName"] = "DeleteSecurityGroup".into();
        let error = detect(&event, &me()).unwrap_err();
        assert!(error.to_string().contains("$.detail.eventName"), "{error}");
        assert!(error.to_string().contains("DeleteSecurityGroup"), "{error}");
    }

    #[test]
    fn an_event_without_a_group_is_invalid() {
        let mut event = fixture("revoke-ingress");
        event["detail"]["requestParameters"] = serde_json::json!({});
        event["detail"]["responseElements"] = Value::Null;
        let error = detect(&event, &me()).unwrap_err();
        assert!(
            error.to_string().contains("names no security group"),
            "{error}"
        );
    }

    #[test]
    fn something_that_is_not_an_eventbridge_event_is_invalid() {
        let error = detect(&serde_json::json!({"hello": "world"}), &me()).unwrap_err();
        assert_eq!(error.error_type(), crate::ErrorType::Invalid);
    }

    #[test]
    fn every_event_name_round_trips() {
        for name in EventName::ALL {
            assert_eq!(EventName::parse(name.as_str()), Some(name));
        }
    }
}
