//! Security groups in EC2: read a group as a [`GroupSnapshot`], revoke rules
//! by id, tag the group.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Tag};
use moat_domain::snapshot::{Direction, GroupSnapshot, Peer, SecurityGroupRule};

use crate::{Accounts, Error};

/// What a revoke did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    pub revoked: Vec<String>,
    /// Ids EC2 no longer knows: already revoked, which is the goal.
    pub already_gone: Vec<String>,
}

/// Reading and changing security groups.
pub trait SecurityGroups {
    /// The group as it is now, or `None` when it no longer exists.
    fn snapshot(
        &self,
        account: &str,
        region: &str,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<GroupSnapshot>, Error>> + Send;

    /// The id of the group with this name in the default VPC, which is the
    /// only place EC2 accepts a group by name alone.
    fn default_vpc_group_id(
        &self,
        account: &str,
        region: &str,
        group_name: &str,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Revokes rules by id. Ids that are already gone are reported, not
    /// failed on, so a retried remediation succeeds.
    fn revoke(
        &self,
        account: &str,
        region: &str,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> impl Future<Output = Result<Revoked, Error>> + Send;

    /// Adds or overwrites tags on the group.
    fn tag(
        &self,
        account: &str,
        region: &str,
        group_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// [`SecurityGroups`] on the EC2 API, in whichever account the group is.
#[derive(Debug)]
pub struct Ec2SecurityGroups {
    accounts: Accounts,
}

impl Ec2SecurityGroups {
    pub fn new(accounts: Accounts) -> Ec2SecurityGroups {
        Ec2SecurityGroups { accounts }
    }

    pub(crate) async fn client(&self, account: &str, region: &str) -> Result<Client, Error> {
        Ok(Client::new(
            &self.accounts.config_for(account, region).await?,
        ))
    }
}

impl SecurityGroups for Ec2SecurityGroups {
    async fn snapshot(
        &self,
        account: &str,
        region: &str,
        group_id: &str,
    ) -> Result<Option<GroupSnapshot>, Error> {
        let client = self.client(account, region).await?;
        let groups = match client
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
        {
            Ok(output) => output.security_groups.unwrap_or_default(),
            Err(error) => {
                let error = Error::from_sdk("DescribeSecurityGroups", error);
                return if error.is_not_found() {
                    Ok(None)
                } else {
                    Err(error)
                };
            }
        };
        let Some(group) = groups
            .into_iter()
            .find(|group| group.group_id() == Some(group_id))
        else {
            return Ok(None);
        };
        let mut rules = Vec::new();
        let mut next_token = None;
        loop {
            let page = client
                .describe_security_group_rules()
                .filters(Filter::builder().name("group-id").values(group_id).build())
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|error| Error::from_sdk("DescribeSecurityGroupRules", error))?;
            for rule in page.security_group_rules.unwrap_or_default() {
                rules.push(rule_from_sdk(group_id, rule)?);
            }
            next_token = page.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                break;
            }
        }
        let mut prefix_lists = BTreeMap::new();
        for rule in &rules {
            if let Peer::PrefixList { prefix_list_id } = &rule.peer
                && !prefix_lists.contains_key(prefix_list_id)
            {
                let cidrs = prefix_list_cidrs(&client, prefix_list_id).await?;
                prefix_lists.insert(prefix_list_id.clone(), cidrs);
            }
        }
        Ok(Some(GroupSnapshot {
            account: group.owner_id.clone().unwrap_or_else(|| account.to_owned()),
            region: region.to_owned(),
            group_id: group_id.to_owned(),
            group_name: group.group_name.clone().unwrap_or_default(),
            description: group.description.clone().unwrap_or_default(),
            vpc_id: group.vpc_id.clone(),
            tags: tags_from_sdk(group.tags()),
            rules,
            prefix_lists,
        }))
    }

    async fn default_vpc_group_id(
        &self,
        account: &str,
        region: &str,
        group_name: &str,
    ) -> Result<Option<String>, Error> {
        let client = self.client(account, region).await?;
        match client
            .describe_security_groups()
            .group_names(group_name)
            .send()
            .await
        {
            Ok(output) => Ok(output
                .security_groups
                .unwrap_or_default()
                .into_iter()
                .find_map(|group| group.group_id)),
            Err(error) => {
                let error = Error::from_sdk("DescribeSecurityGroups", error);
                if error.is_not_found() {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    async fn revoke(
        &self,
        account: &str,
        region: &str,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> Result<Revoked, Error> {
        if rule_ids.is_empty() {
            return Ok(Revoked::default());
        }
        let client = self.client(account, region).await?;
        // One call for all rules is the common case. EC2 fails the whole
        // call when one id is unknown, so on NotFound fall back to one call
        // per rule to learn exactly which ones were already gone.
        match revoke_call(&client, group_id, direction, rule_ids).await {
            Ok(()) => Ok(Revoked {
                revoked: rule_ids.to_vec(),
                already_gone: Vec::new(),
            }),
            Err(error) if error.is_not_found() && rule_ids.len() > 1 => {
                let mut outcome = Revoked::default();
                for rule_id in rule_ids {
                    match revoke_call(&client, group_id, direction, std::slice::from_ref(rule_id))
                        .await
                    {
                        Ok(()) => outcome.revoked.push(rule_id.clone()),
                        Err(error) if is_rule_gone(&error) => {
                            outcome.already_gone.push(rule_id.clone())
                        }
                        Err(error) => return Err(error),
                    }
                }
                Ok(outcome)
            }
            Err(error) if is_rule_gone(&error) => Ok(Revoked {
                revoked: Vec::new(),
                already_gone: rule_ids.to_vec(),
            }),
            Err(error) => Err(error),
        }
    }

    async fn tag(
        &self,
        account: &str,
        region: &str,
        group_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let client = self.client(account, region).await?;
        let tags = tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect();
        client
            .create_tags()
            .resources(group_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|error| Error::from_sdk("CreateTags", error))?;
        Ok(())
    }
}

/// A revoke failed because the rule is no longer there. A vanished group
/// is not this: it is reported as NotFound for the caller to decide.
fn is_rule_gone(error: &Error) -> bool {
    matches!(
        error.code(),
        Some("InvalidPermission.NotFound" | "InvalidSecurityGroupRuleId.NotFound")
    )
}

async fn revoke_call(
    client: &Client,
    group_id: &str,
    direction: Direction,
    rule_ids: &[String],
) -> Result<(), Error> {
    let ids = Some(rule_ids.to_vec());
    match direction {
        Direction::Ingress => client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_security_group_rule_ids(ids)
            .send()
            .await
            .map(drop)
            .map_err(|error| Error::from_sdk("RevokeSecurityGroupIngress", error)),
        Direction::Egress => client
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_security_group_rule_ids(ids)
            .send()
            .await
            .map(drop)
            .map_err(|error| Error::from_sdk("RevokeSecurityGroupEgress", error)),
    }
}

pub(crate) async fn prefix_list_cidrs(
    client: &Client,
    prefix_list_id: &str,
) -> Result<Vec<String>, Error> {
    let mut cidrs = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .get_managed_prefix_list_entries()
            .prefix_list_id(prefix_list_id)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| Error::from_sdk("GetManagedPrefixListEntries", error))?;
        cidrs.extend(
            page.entries
                .unwrap_or_default()
                .into_iter()
                .filter_map(|entry| entry.cidr),
        );
        next_token = page.next_token.filter(|token| !token.is_empty());
        if next_token.is_none() {
            return Ok(cidrs);
        }
    }
}

pub(crate) fn rule_from_sdk(
    group_id: &str,
    rule: aws_sdk_ec2::types::SecurityGroupRule,
) -> Result<SecurityGroupRule, Error> {
    let rule_id = rule.security_group_rule_id.clone().unwrap_or_default();
    let peer = if let Some(cidr) = rule.cidr_ipv4.clone() {
        Peer::Ipv4 { cidr }
    } else if let Some(cidr) = rule.cidr_ipv6.clone() {
        Peer::Ipv6 { cidr }
    } else if let Some(prefix_list_id) = rule.prefix_list_id.clone() {
        Peer::PrefixList { prefix_list_id }
    } else if let Some(group) = rule.referenced_group_info.clone() {
        Peer::Group {
            group_id: group.group_id.unwrap_or_default(),
            user_id: group.user_id,
            vpc_id: group.vpc_id,
        }
    } else {
        return Err(Error::Corrupt {
            what: "security group rule",
            key: format!("{group_id}/{rule_id}"),
            message: "EC2 returned a rule with no CIDR, prefix list or referenced group".into(),
        });
    };
    if rule_id.is_empty() {
        return Err(Error::Corrupt {
            what: "security group rule",
            key: group_id.to_owned(),
            message: "EC2 returned a rule without a SecurityGroupRuleId".into(),
        });
    }
    Ok(SecurityGroupRule {
        rule_id,
        direction: if rule.is_egress == Some(true) {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        ip_protocol: rule.ip_protocol.clone().unwrap_or_else(|| "-1".into()),
        from_port: rule.from_port,
        to_port: rule.to_port,
        peer,
        description: rule.description.clone().filter(|text| !text.is_empty()),
        tags: tags_from_sdk(rule.tags()),
    })
}

pub(crate) fn tags_from_sdk(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|tag| Some((tag.key.clone()?, tag.value.clone().unwrap_or_default())))
        .collect()
}
