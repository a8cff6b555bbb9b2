//! Every security group of one account and region, as snapshots: what a
//! sweep judges.
//!
//! Two paginated listings (`DescribeSecurityGroups`, then every rule with
//! `DescribeSecurityGroupRules`) instead of two calls per group, paced by a
//! token bucket and retried with backoff when EC2 throttles anyway. EC2
//! throttles per API, account and region; AWS documents the bucket for
//! non-mutating calls as 100 tokens refilled at 20 per second ("Request
//! throttling for the Amazon EC2 API"), so the pacer spends from a bucket
//! of that shape and a sweep never fails for being fast.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::Client;
use moat_domain::ErrorType;
use moat_domain::snapshot::{GroupSnapshot, Peer, SecurityGroupRule};
use tokio::time::Instant;

use crate::Error;
use crate::ec2::{Ec2SecurityGroups, prefix_list_cidrs, rule_from_sdk, tags_from_sdk};

/// EC2's bucket for non-mutating calls: its size and refill per second.
pub const EC2_READ_BURST: f64 = 100.0;
pub const EC2_READ_REFILL_PER_SECOND: f64 = 20.0;

/// How often one call is tried when EC2 throttles it.
const THROTTLED_ATTEMPTS: u32 = 8;

/// Reading every group of an account and region.
pub trait GroupInventory {
    /// Every group with its rules, in EC2's order.
    fn all_groups(
        &self,
        account: &str,
        region: &str,
    ) -> impl Future<Output = Result<Vec<GroupSnapshot>, Error>> + Send;
}

/// A token bucket: `take` waits until a token is there.
#[derive(Debug)]
pub struct Pacer {
    burst: f64,
    refill_per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    pub fn new(burst: f64, refill_per_second: f64) -> Pacer {
        Pacer {
            burst,
            refill_per_second,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// EC2's bucket for non-mutating calls.
    pub fn ec2_reads() -> Pacer {
        Pacer::new(EC2_READ_BURST, EC2_READ_REFILL_PER_SECOND)
    }

    /// Takes one token, sleeping until one has refilled if need be.
    pub async fn take(&mut self) {
        let now = Instant::now();
        let refilled = now.duration_since(self.at).as_secs_f64() * self.refill_per_second;
        self.tokens = (self.tokens + refilled).min(self.burst);
        self.at = now;
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / self.refill_per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// Runs `call` paced by `pacer`, again with exponential backoff while EC2
/// answers that it throttles, up to `THROTTLED_ATTEMPTS` times.
pub async fn paced<T, F, Fut>(pacer: &mut Pacer, mut call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        pacer.take().await;
        match call().await {
            Err(error)
                if error.error_type() == ErrorType::Throttled && attempt < THROTTLED_ATTEMPTS =>
            {
                tracing::debug!(attempt, ?delay, "EC2 throttled a sweep call; backing off");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            other => return other,
        }
    }
}

impl GroupInventory for Ec2SecurityGroups {
    async fn all_groups(&self, account: &str, region: &str) -> Result<Vec<GroupSnapshot>, Error> {
        let client = self.client(account, region).await?;
        let mut pacer = Pacer::ec2_reads();
        let mut rules = all_rules(&client, &mut pacer).await?;
        let mut prefix_lists = BTreeMap::new();
        for rule in rules.values().flatten() {
            if let Peer::PrefixList { prefix_list_id } = &rule.peer
                && !prefix_lists.contains_key(prefix_list_id)
            {
                let cidrs =
                    paced(&mut pacer, || prefix_list_cidrs(&client, prefix_list_id)).await?;
                prefix_lists.insert(prefix_list_id.clone(), cidrs);
            }
        }
        let mut snapshots = Vec::new();
        let mut next_token = None;
        loop {
            let page = paced(&mut pacer, || async {
                client
                    .describe_security_groups()
                    .set_next_token(next_token.clone())
                    .send()
                    .await
                    .map_err(|error| Error::from_sdk("DescribeSecurityGroups", error))
            })
            .await?;
            for group in page.security_groups() {
                let group_id = group.group_id().unwrap_or_default().to_owned();
                let own_rules = rules.remove(&group_id).unwrap_or_default();
                let used: BTreeMap<String, Vec<String>> = prefix_lists
                    .iter()
                    .filter(|(id, _)| own_rules.iter().any(|rule| matches!(&rule.peer, Peer::PrefixList { prefix_list_id } if prefix_list_id == *id)))
                    .map(|(id, cidrs)| (id.clone(), cidrs.clone()))
                    .collect();
                snapshots.push(GroupSnapshot {
                    account: group.owner_id().unwrap_or(account).to_owned(),
                    region: region.to_owned(),
                    group_id,
                    group_name: group.group_name().unwrap_or_default().to_owned(),
                    description: group.description().unwrap_or_default().to_owned(),
                    vpc_id: group.vpc_id().map(str::to_owned),
                    tags: tags_from_sdk(group.tags()),
                    rules: own_rules,
                    prefix_lists: used,
                });
            }
            next_token = page
                .next_token()
                .filter(|token| !token.is_empty())
                .map(str::to_owned);
            if next_token.is_none() {
                return Ok(snapshots);
            }
        }
    }
}

/// Every rule of every group in the region, by group id.
async fn all_rules(
    client: &Client,
    pacer: &mut Pacer,
) -> Result<BTreeMap<String, Vec<SecurityGroupRule>>, Error> {
    let mut by_group: BTreeMap<String, Vec<SecurityGroupRule>> = BTreeMap::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = paced(pacer, || async {
            client
                .describe_security_group_rules()
                .set_next_token(next_token.clone())
                .send()
                .await
                .map_err(|error| Error::from_sdk("DescribeSecurityGroupRules", error))
        })
        .await?;
        for rule in page.security_group_rules() {
            let group_id = rule.group_id().unwrap_or_default().to_owned();
            let read = rule_from_sdk(&group_id, rule.clone())?;
            by_group.entry(group_id).or_default().push(read);
        }
        next_token = page
            .next_token()
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        if next_token.is_none() {
            return Ok(by_group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only lower bounds on time: a loaded machine is slower, never faster.
    #[tokio::test]
    async fn the_pacer_spends_its_burst_then_refills_at_its_rate() {
        let mut pacer = Pacer::new(5.0, 100.0);
        let started = Instant::now();
        for _ in 0..15 {
            pacer.take().await;
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(95),
            "ten tokens past the burst at a hundred a second take 100 ms: {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn a_throttled_call_is_retried_with_backoff_and_other_errors_are_not() {
        let mut pacer = Pacer::new(100.0, 20.0);
        let mut calls = 0;
        let result: Result<u32, Error> = paced(&mut pacer, || {
            calls += 1;
            let attempt = calls;
            async move {
                if attempt < 3 {
                    Err(Error::Service {
                        operation: "DescribeSecurityGroups",
                        code: "RequestLimitExceeded".into(),
                        message: "Request limit exceeded.".into(),
                        error_type: ErrorType::Throttled,
                    })
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        let mut calls = 0;
        let result: Result<(), Error> = paced(&mut pacer, || {
            calls += 1;
            async { Err(Error::Config("no".into())) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1, "only throttling is retried");
    }
}
