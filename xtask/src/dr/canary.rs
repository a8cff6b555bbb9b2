//! The canary a failover or failback ends with: a throw-away group opened
//! to SSH from anywhere in the newly active region, handed to its
//! remediation state machine as the CloudTrail event EventBridge delivers,
//! and read back until the rule is gone. It proves the region acts (the
//! fence lets it, the functions answer, the policy revokes), then the group
//! is deleted.
//!
//! The execution is started directly rather than waited for from
//! CloudTrail, so the same command works on the local stack, where moto
//! records no CloudTrail; in AWS the change's own event starts a second
//! execution, which finds the rule already gone.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_ec2 as ec2;
use chrono::{SecondsFormat, Utc};
use serde_json::json;

use super::{Did, Region, Regions};
use crate::executions::sdk_error;

/// Opens a canary group named after `label`, has Moat fix it and deletes it.
/// A canary of that label already fixed (a re-run) is only cleaned up.
pub(crate) async fn canary(regions: &Regions, target: &Region, label: &str) -> anyhow::Result<Did> {
    let started = Instant::now();
    let ec2 = ec2::Client::new(&target.aws);
    let name = format!("moat-canary-{label}");
    let execution = format!("canary-{label}");
    let sfn = aws_sdk_sfn::Client::new(&target.sfn);
    let machine = crate::executions::state_machine_arn(&sfn, &regions.spec.state_machine).await?;
    let execution_arn = format!(
        "{}:{execution}",
        machine.replacen(":stateMachine:", ":execution:", 1)
    );
    if sfn
        .describe_execution()
        .execution_arn(&execution_arn)
        .send()
        .await
        .is_ok()
    {
        crate::sweep::follow(&sfn, &execution_arn).await?;
        if let Some(group) = find_group(&ec2, &name).await? {
            ensure_closed(&ec2, &group).await?;
            delete(&ec2, &group).await?;
        }
        return Ok(Did::already(format!(
            "{execution} ran already; canary cleaned up"
        )));
    }
    let group = match find_group(&ec2, &name).await? {
        Some(group) => group,
        None => create_group(&ec2, &name).await?,
    };
    let (rule_id, detail) = open_ssh(&ec2, &group, target).await?;
    let event = json!({
        "version": "0",
        "id": uuid_like(&execution),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": detail["recipientAccountId"],
        "time": detail["eventTime"],
        "region": target.name,
        "resources": [],
        "detail": detail,
    });
    sfn.start_execution()
        .state_machine_arn(&machine)
        .name(&execution)
        .input(event.to_string())
        .send()
        .await
        .map_err(|error| sdk_error("StartExecution", error))?;
    let output = crate::sweep::follow(&sfn, &execution_arn).await?;
    ensure_closed(&ec2, &group).await?;
    delete(&ec2, &group).await?;
    Ok(Did::now(format!(
        "{group} opened {rule_id} to 0.0.0.0/0:22, fixed by {execution} ({}) in {:.1} s, deleted",
        output["evaluation"]["verdict"].as_str().unwrap_or("done"),
        started.elapsed().as_secs_f64()
    )))
}

async fn find_group(ec2: &ec2::Client, name: &str) -> anyhow::Result<Option<String>> {
    let found = ec2
        .describe_security_groups()
        .filters(
            ec2::types::Filter::builder()
                .name("group-name")
                .values(name)
                .build(),
        )
        .send()
        .await
        .map_err(|error| sdk_error("DescribeSecurityGroups", error))?;
    Ok(found
        .security_groups()
        .first()
        .and_then(|group| group.group_id())
        .map(str::to_owned))
}

async fn create_group(ec2: &ec2::Client, name: &str) -> anyhow::Result<String> {
    let vpc = crate::smoke::default_vpc(ec2).await?;
    let created = ec2
        .create_security_group()
        .group_name(name)
        .description("Moat failover canary: opened to SSH on purpose, fixed and deleted at once")
        .vpc_id(vpc)
        .send()
        .await
        .map_err(|error| sdk_error("CreateSecurityGroup", error))?;
    created
        .group_id()
        .map(str::to_owned)
        .context("CreateSecurityGroup gave no id")
}

/// Opens the canary rule and gives its id and the CloudTrail record of the
/// call, as CloudTrail would write it.
async fn open_ssh(
    ec2: &ec2::Client,
    group: &str,
    target: &Region,
) -> anyhow::Result<(String, serde_json::Value)> {
    let permission = ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    let opened = ec2
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(permission)
        .send()
        .await
        .map_err(|error| sdk_error("AuthorizeSecurityGroupIngress", error))?;
    let rule_id = opened
        .security_group_rules()
        .first()
        .and_then(|rule| rule.security_group_rule_id())
        .context("AuthorizeSecurityGroupIngress gave no rule id")?
        .to_owned();
    let identity = aws_sdk_sts::Client::new(&target.aws)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| sdk_error("GetCallerIdentity", error))?;
    let account = identity.account().unwrap_or_default();
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let detail = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": identity.arn(), "accountId": account},
        "eventTime": now,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": target.name,
        "sourceIPAddress": "cargo-xtask",
        "userAgent": "moat-canary",
        "requestParameters": {
            "groupId": group,
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                "ipv6Ranges": {}, "prefixListIds": {}}]}
        },
        "responseElements": {"_return": true, "securityGroupRuleSet": {"items": [{
            "groupOwnerId": account, "groupId": group, "securityGroupRuleId": rule_id,
            "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "cidrIpv4": "0.0.0.0/0"}]}},
        "eventID": uuid_like(&format!("{group}/{rule_id}")),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    });
    Ok((rule_id, detail))
}

/// Fails unless the group has no ingress rule open to the world.
async fn ensure_closed(ec2: &ec2::Client, group: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rules = ec2
            .describe_security_group_rules()
            .filters(
                ec2::types::Filter::builder()
                    .name("group-id")
                    .values(group)
                    .build(),
            )
            .send()
            .await
            .map_err(|error| sdk_error("DescribeSecurityGroupRules", error))?;
        let open: Vec<_> = rules
            .security_group_rules()
            .iter()
            .filter(|rule| rule.is_egress() == Some(false) && rule.cidr_ipv4() == Some("0.0.0.0/0"))
            .filter_map(|rule| rule.security_group_rule_id())
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the canary {group} is still open ({open:?}): the region does not fix changes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn delete(ec2: &ec2::Client, group: &str) -> anyhow::Result<()> {
    ec2.delete_security_group()
        .group_id(group)
        .send()
        .await
        .map_err(|error| sdk_error("DeleteSecurityGroup", error))?;
    Ok(())
}

/// A stable id in UUID shape from a name, so a re-run's event is the same
/// event.
fn uuid_like(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let hex = format!("{:x}", Sha256::digest(name.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
