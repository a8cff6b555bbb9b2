//! Security-group changes as an engineer makes them, with the CloudTrail
//! event AWS would deliver for each.
//!
//! moto performs the EC2 call but records no CloudTrail, so after each call
//! this module puts the event EventBridge would have received, shaped as
//! CloudTrail shapes it (`userIdentity`, `eventID`, `requestParameters`,
//! `responseElements`), on the central bus (`infra/stack.json`'s `eventBus`,
//! where member accounts forward their events). The production rule
//! then decides, as in AWS, whether Moat hears of it. Where no bus stands
//! in (the Terraform-made stack, whose rules moto cannot deliver), the
//! caller hands each change's `Made::eventbridge_event` to Moat itself.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_ec2 as ec2_sdk;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::{ACCOUNT, Error, RegionStack};

/// Who makes a change: an assumed-role session, as most humans and tools
/// appear in CloudTrail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub role_name: String,
    pub session_name: String,
}

impl Actor {
    /// A person working through the `Developer` role.
    pub fn developer(name: &str) -> Actor {
        Actor {
            role_name: "Developer".into(),
            session_name: name.into(),
        }
    }

    /// Moat's own remediation role: the production rule filters it out.
    pub fn moat(role_name: &str) -> Actor {
        Actor {
            role_name: role_name.into(),
            session_name: "moat-remediate".into(),
        }
    }

    fn user_identity(&self, account: &str) -> Value {
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROAMOATLOCAL{}:{}", self.role_name.len(), self.session_name),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{}/{}", self.role_name, self.session_name),
            "accountId": account,
            "accessKeyId": "ASIAMOATLOCALEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": format!("AROAMOATLOCAL{}", self.role_name.len()),
                    "arn": format!("arn:aws:iam::{account}:role/{}", self.role_name),
                    "accountId": account,
                    "userName": self.role_name,
                },
                "attributes": {"creationDate": now(), "mfaAuthenticated": "false"}
            }
        })
    }
}

/// One ingress opening: a protocol, a port range and one CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// `tcp`, `udp`, `icmp` or `-1`.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: String,
}

impl Opening {
    pub fn tcp(port: i32, cidr: &str) -> Opening {
        Opening {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            cidr: cidr.into(),
        }
    }

    pub fn all_traffic(cidr: &str) -> Opening {
        Opening {
            protocol: "-1".into(),
            from_port: -1,
            to_port: -1,
            cidr: cidr.into(),
        }
    }

    fn is_ipv6(&self) -> bool {
        self.cidr.contains(':')
    }

    /// The opening in the words the demo's scenario and summary both use:
    /// `tcp/22 from 0.0.0.0/0`, `all traffic from ::/0`.
    pub fn describe(&self) -> String {
        if self.protocol == "-1" {
            format!("all traffic from {}", self.cidr)
        } else if self.from_port == self.to_port {
            format!("{}/{} from {}", self.protocol, self.from_port, self.cidr)
        } else {
            format!(
                "{}/{}-{} from {}",
                self.protocol, self.from_port, self.to_port, self.cidr
            )
        }
    }
}

/// A change that was made, and the CloudTrail event put for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub group_id: String,
    pub rule_ids: Vec<String>,
    /// The CloudTrail record (the EventBridge event's `detail`).
    pub detail: Value,
}

impl Made {
    pub fn event_id(&self) -> &str {
        self.detail["eventID"].as_str().unwrap_or_default()
    }

    /// The envelope EventBridge hands its targets for this change, such as
    /// the input a Step Functions target starts its execution with.
    pub fn eventbridge_event(&self) -> Value {
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": DETAIL_TYPE,
            "source": SOURCE,
            "account": self.detail["recipientAccountId"],
            "time": self.detail["eventTime"],
            "region": self.detail["awsRegion"],
            "resources": [],
            "detail": self.detail,
        })
    }
}

/// The `source` and `detail-type` of EventBridge's CloudTrail events.
const SOURCE: &str = "aws.ec2";
const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// Makes changes in one account and region.
#[derive(Debug, Clone)]
pub struct Changes {
    region: String,
    /// The account that owns the groups, and that CloudTrail records.
    account: String,
    ec2: ec2_sdk::Client,
    /// The buses each event is put on (the central bus of every region
    /// that receives it), if any.
    events: Vec<(aws_sdk_eventbridge::Client, String)>,
}

impl Changes {
    /// Changes in one region of the local stack, each event put on its
    /// central bus.
    pub fn new(stack: &RegionStack) -> Changes {
        Changes::delivered_to(&stack.config, &[stack])
    }

    /// Changes made with `config` (the region the groups live in), each
    /// event put on the central bus of every one of `stacks`, as both
    /// regions of a two-region deployment receive every member event.
    pub fn delivered_to(config: &SdkConfig, stacks: &[&RegionStack]) -> Changes {
        Changes {
            region: config.region().map(ToString::to_string).unwrap_or_default(),
            account: ACCOUNT.to_owned(),
            ec2: ec2_sdk::Client::new(config),
            events: stacks
                .iter()
                .map(|stack| {
                    (
                        aws_sdk_eventbridge::Client::new(&stack.config),
                        stack.resources.event_bus.clone(),
                    )
                })
                .collect(),
        }
    }

    /// Changes made with `config` in `account`, whose events go nowhere:
    /// the caller delivers `Made::eventbridge_event` itself.
    pub fn undelivered(config: &SdkConfig, account: &str) -> Changes {
        Changes {
            region: config.region().map(ToString::to_string).unwrap_or_default(),
            account: account.to_owned(),
            ec2: ec2_sdk::Client::new(config),
            events: Vec::new(),
        }
    }

    /// A VPC to put groups in. Infrastructure set-up: no event.
    pub async fn create_vpc(&self, cidr: &str) -> Result<String, Error> {
        let output = self
            .ec2
            .create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .map_err(|error| self.error("CreateVpc", error))?;
        Ok(output.vpc.and_then(|vpc| vpc.vpc_id).unwrap_or_default())
    }

    /// A group that already exists when the story starts: no event.
    pub async fn existing_group(
        &self,
        vpc_id: &str,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, Error> {
        let mut request = self
            .ec2
            .create_security_group()
            .group_name(name)
            .description(format!("{name} tier"))
            .vpc_id(vpc_id);
        if !tags.is_empty() {
            let tags = tags
                .iter()
                .map(|(key, value)| ec2_sdk::types::Tag::builder().key(key).value(value).build())
                .collect();
            request = request.tag_specifications(
                ec2_sdk::types::TagSpecification::builder()
                    .resource_type(ec2_sdk::types::ResourceType::SecurityGroup)
                    .set_tags(Some(tags))
                    .build(),
            );
        }
        let output = request
            .send()
            .await
            .map_err(|error| self.error("CreateSecurityGroup", error))?;
        Ok(output.group_id.unwrap_or_default())
    }

    /// `AuthorizeSecurityGroupIngress` by `actor`, and its CloudTrail event.
    ///
    /// Longer than most functions here because the request and the event
    /// AWS would record for it are built side by side: keeping them in one
    /// place is what keeps the event true to the call.
    pub async fn authorize_ingress(
        &self,
        actor: &Actor,
        group_id: &str,
        opening: &Opening,
    ) -> Result<Made, Error> {
        let mut permission = ec2_sdk::types::IpPermission::builder()
            .ip_protocol(&opening.protocol)
            .from_port(opening.from_port)
            .to_port(opening.to_port);
        permission = if opening.is_ipv6() {
            permission.ipv6_ranges(
                ec2_sdk::types::Ipv6Range::builder()
                    .cidr_ipv6(&opening.cidr)
                    .build(),
            )
        } else {
            permission.ip_ranges(
                ec2_sdk::types::IpRange::builder()
                    .cidr_ip(&opening.cidr)
                    .build(),
            )
        };
        let output = self
            .ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(permission.build())
            .send()
            .await
            .map_err(|error| self.error("AuthorizeSecurityGroupIngress", error))?;
        let rules = output.security_group_rules.unwrap_or_default();
        let rule_ids: Vec<String> = rules
            .iter()
            .filter_map(|rule| rule.security_group_rule_id.clone())
            .collect();
        let (ranges, ipv6_ranges) = if opening.is_ipv6() {
            (json!({}), json!({"items": [{"cidrIpv6": opening.cidr}]}))
        } else {
            (json!({"items": [{"cidrIp": opening.cidr}]}), json!({}))
        };
        let rule_set: Vec<Value> = rule_ids
            .iter()
            .map(|rule_id| {
                let mut item = json!({
                    "groupOwnerId": self.account,
                    "groupId": group_id,
                    "securityGroupRuleId": rule_id,
                    "isEgress": false,
                    "ipProtocol": opening.protocol,
                    "fromPort": opening.from_port,
                    "toPort": opening.to_port,
                });
                let cidr_field = if opening.is_ipv6() {
                    "cidrIpv6"
                } else {
                    "cidrIpv4"
                };
                item[cidr_field] = json!(opening.cidr);
                item
            })
            .collect();
        let request = json!({
            "groupId": group_id,
            "ipPermissions": {"items": [{
                "ipProtocol": opening.protocol,
                "fromPort": opening.from_port,
                "toPort": opening.to_port,
                "groups": {},
                "ipRanges": ranges,
                "ipv6Ranges": ipv6_ranges,
                "prefixListIds": {}
            }]}
        });
        let response = json!({
            "requestId": uuid::Uuid::new_v4().to_string(),
            "_return": true,
            "securityGroupRuleSet": {"items": rule_set}
        });
        let detail = self.cloudtrail(actor, "AuthorizeSecurityGroupIngress", request, response);
        self.put(&detail).await?;
        Ok(Made {
            group_id: group_id.to_owned(),
            rule_ids,
            detail,
        })
    }

    /// Puts a CloudTrail record on the bus again, as EventBridge's
    /// at-least-once delivery sometimes does. Without a bus this does
    /// nothing: the caller delivers the event twice itself.
    pub async fn deliver_again(&self, made: &Made) -> Result<(), Error> {
        self.put(&made.detail).await
    }

    fn cloudtrail(
        &self,
        actor: &Actor,
        event_name: &str,
        request: Value,
        response: Value,
    ) -> Value {
        json!({
            "eventVersion": "1.09",
            "userIdentity": actor.user_identity(&self.account),
            "eventTime": now(),
            "eventSource": "ec2.amazonaws.com",
            "eventName": event_name,
            "awsRegion": self.region,
            "sourceIPAddress": "198.51.100.23",
            "userAgent": "aws-cli/2.17.0 md/moat-local",
            "requestParameters": request,
            "responseElements": response,
            "requestID": uuid::Uuid::new_v4().to_string(),
            "eventID": uuid::Uuid::new_v4().to_string(),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account,
            "eventCategory": "Management"
        })
    }

    /// Puts the event on every bus this maker delivers to, if any.
    async fn put(&self, detail: &Value) -> Result<(), Error> {
        for (events, bus) in &self.events {
            let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(SOURCE)
                .detail_type(DETAIL_TYPE)
                .detail(detail.to_string())
                .event_bus_name(bus)
                .build();
            let output = events
                .put_events()
                .entries(entry)
                .send()
                .await
                .map_err(|error| self.error("PutEvents", error))?;
            if output.failed_entry_count > 0 {
                return Err(Error::Aws {
                    operation: "PutEvents",
                    region: self.region.clone(),
                    message: format!("{bus}: {:?}", output.entries),
                });
            }
        }
        Ok(())
    }

    /// The group's rules in EC2 now, both directions: what a test reads
    /// back to see what Moat (or nobody) changed.
    pub async fn rules_of(
        &self,
        group_id: &str,
    ) -> Result<Vec<ec2_sdk::types::SecurityGroupRule>, Error> {
        let output = self
            .ec2
            .describe_security_group_rules()
            .filters(
                ec2_sdk::types::Filter::builder()
                    .name("group-id")
                    .values(group_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|error| self.error("DescribeSecurityGroupRules", error))?;
        Ok(output.security_group_rules.unwrap_or_default())
    }

    /// The ids of the group's ingress rules now.
    pub async fn ingress_rule_ids(&self, group_id: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .rules_of(group_id)
            .await?
            .into_iter()
            .filter(|rule| rule.is_egress == Some(false))
            .filter_map(|rule| rule.security_group_rule_id)
            .collect())
    }

    fn error(&self, operation: &'static str, error: impl std::error::Error) -> Error {
        crate::aws_error(operation, &self.region, error)
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}
