//! The sweep bench's fleet: N security groups in one VPC of moto, about 98%
//! of them open to the world on SSH (tcp/22 from 0.0.0.0/0) and the rest
//! clean, chosen by a seeded shuffle so that every run (and both tools in
//! one run) meet the same groups. Groups are made with no event, as the
//! sweep's violations are: the sweep, not a change, must find them.
//!
//! Groups are named, not identified, across the two tools: moto gives the
//! recreated groups new ids, so the fleet and the read-back speak in names.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_ec2 as ec2;
use local_stack::ACCOUNT;
use local_stack::changes::{Actor, Changes, Opening};
use tokio::task::JoinSet;

/// The seed of the shuffle that picks the clean groups: fixed, so that the
/// fleet of a given size is the same in every run.
pub(super) const SEED: u64 = 0x6d6f_6174_7377_6570;

/// One clean group in this many; the rest are violators (2% clean).
const CLEAN_ONE_IN: usize = 50;

/// Requests to moto at once while the fleet is made: moto answers one at
/// a time, so more only queue there, but a few hide the round trips.
const CREATORS: usize = 8;

/// The VPC the fleet lives in, apart from moto's default one.
const VPC_CIDR: &str = "10.60.0.0/16";

/// The port and CIDR that make a violator.
const SSH: i32 = 22;
const WORLD: &str = "0.0.0.0/0";

/// Which groups to make, by name, and whether each is open to the world
/// on SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub groups: BTreeMap<String, bool>,
}

impl Plan {
    /// `count` groups, `count / 50` (at least one) of them clean, picked
    /// by a shuffle seeded with `seed`.
    pub(super) fn new(count: usize, seed: u64) -> Plan {
        let mut order: Vec<usize> = (0..count).collect();
        shuffle(&mut order, seed);
        let clean: BTreeSet<usize> = order
            .into_iter()
            .take(count.div_ceil(CLEAN_ONE_IN))
            .collect();
        let groups = (0..count)
            .map(|index| (format!("bench-sweep-{index:05}"), !clean.contains(&index)))
            .collect();
        Plan { groups }
    }

    /// The names of the groups made open to the world on SSH.
    pub(super) fn violators(&self) -> BTreeSet<String> {
        self.groups
            .iter()
            .filter(|(_, open)| **open)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The rule a group gets: SSH from anywhere for a violator, HTTPS from
    /// the private range (which no policy flags) for a clean group, so
    /// that a tool which revoked too much would be seen.
    fn opening(open: bool) -> Opening {
        if open {
            Opening::tcp(SSH, WORLD)
        } else {
            Opening::tcp(443, "10.0.0.0/8")
        }
    }
}

/// A Fisher-Yates shuffle driven by SplitMix64: deterministic for a seed,
/// and xtask needs no random-number crate for it.
fn shuffle(items: &mut [usize], seed: u64) {
    let mut state = seed;
    for last in (1..items.len()).rev() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^= mixed >> 31;
        let pick = usize::try_from(mixed % (last as u64 + 1)).unwrap_or(0);
        items.swap(last, pick);
    }
}

/// A fleet made in moto.
#[derive(Debug, Clone)]
pub(super) struct Made {
    pub vpc_id: String,
    pub took: Duration,
}

/// Makes the plan's groups in a new VPC, with no events, `CREATORS` at a
/// time.
pub(super) async fn make(config: &SdkConfig, plan: &Plan) -> anyhow::Result<Made> {
    let started = Instant::now();
    let changes = Changes::undelivered(config, ACCOUNT);
    let vpc_id = changes.create_vpc(VPC_CIDR).await?;
    let groups: Vec<(String, bool)> = plan.groups.clone().into_iter().collect();
    let mut creators = JoinSet::new();
    for worker in 0..CREATORS {
        let mine: Vec<(String, bool)> = groups
            .iter()
            .skip(worker)
            .step_by(CREATORS)
            .cloned()
            .collect();
        let (changes, vpc_id) = (changes.clone(), vpc_id.clone());
        creators.spawn(async move { make_groups(&changes, &vpc_id, mine).await });
    }
    while let Some(done) = creators.join_next().await {
        done.context("a group-making task panicked")??;
    }
    Ok(Made {
        vpc_id,
        took: started.elapsed(),
    })
}

async fn make_groups(
    changes: &Changes,
    vpc_id: &str,
    groups: Vec<(String, bool)>,
) -> anyhow::Result<()> {
    let actor = Actor::developer("bench");
    for (name, open) in groups {
        let group = changes
            .existing_group(vpc_id, &name, &BTreeMap::new())
            .await?;
        changes
            .authorize_ingress(&actor, &group, &Plan::opening(open))
            .await?;
    }
    Ok(())
}

/// What moto holds after a tool ran: which of the fleet's groups are still
/// open to the world on SSH, and which clean groups lost their rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Seen {
    pub still_open: BTreeSet<String>,
    pub clean_touched: BTreeSet<String>,
}

impl Seen {
    /// The violators no longer open to the world on SSH.
    pub(super) fn fixed(&self, plan: &Plan) -> BTreeSet<String> {
        plan.violators()
            .difference(&self.still_open)
            .cloned()
            .collect()
    }
}

/// Reads every group of the fleet's VPC back from moto.
pub(super) async fn read(config: &SdkConfig, plan: &Plan, vpc_id: &str) -> anyhow::Result<Seen> {
    let groups = ec2::Client::new(config)
        .describe_security_groups()
        .filters(
            ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc_id)
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "DescribeSecurityGroups in {vpc_id}: {}",
                moat_domain::error::display_chain(&error)
            )
        })?;
    let mut seen = Seen::default();
    for group in groups {
        let name = group.group_name().unwrap_or_default();
        let Some(open_before) = plan.groups.get(name) else {
            continue;
        };
        let permissions = group.ip_permissions();
        if permissions.iter().any(world_open_ssh) {
            seen.still_open.insert(name.to_owned());
        }
        if !open_before && !keeps_its_clean_rule(permissions) {
            seen.clean_touched.insert(name.to_owned());
        }
    }
    Ok(seen)
}

/// Whether a permission lets anyone (IPv4 or IPv6) reach TCP port 22.
fn world_open_ssh(permission: &ec2::types::IpPermission) -> bool {
    let protocol = permission.ip_protocol().unwrap_or_default();
    let covers_ssh = protocol == "-1"
        || (protocol == "tcp"
            && permission.from_port().unwrap_or(0) <= SSH
            && permission.to_port().unwrap_or(65535) >= SSH);
    let from_anywhere = permission
        .ip_ranges()
        .iter()
        .any(|range| range.cidr_ip() == Some(WORLD))
        || permission
            .ipv6_ranges()
            .iter()
            .any(|range| range.cidr_ipv6() == Some("::/0"));
    covers_ssh && from_anywhere
}

/// Whether a clean group still has exactly the one rule it was made with.
fn keeps_its_clean_rule(permissions: &[ec2::types::IpPermission]) -> bool {
    let clean = Plan::opening(false);
    matches!(permissions, [only] if only.from_port() == Some(clean.from_port)
        && only.ip_ranges().iter().any(|range| range.cidr_ip() == Some(clean.cidr.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_seeded_and_two_percent_clean() {
        let plan = Plan::new(5000, SEED);
        assert_eq!(plan, Plan::new(5000, SEED), "the same seed, the same fleet");
        assert_eq!(plan.violators().len(), 4900);
        assert_ne!(plan, Plan::new(5000, SEED + 1), "the seed picks the groups");
        let small = Plan::new(20, SEED);
        assert_eq!(small.violators().len(), 19, "at least one group is clean");
        assert!(small.groups.contains_key("bench-sweep-00019"));
    }

    #[test]
    fn only_ssh_from_anywhere_counts_as_open() {
        let permission = |protocol: &str, from: i32, to: i32, cidr: &str| {
            ec2::types::IpPermission::builder()
                .ip_protocol(protocol)
                .from_port(from)
                .to_port(to)
                .ip_ranges(ec2::types::IpRange::builder().cidr_ip(cidr).build())
                .build()
        };
        assert!(world_open_ssh(&permission("tcp", 22, 22, WORLD)));
        assert!(world_open_ssh(&permission("tcp", 0, 1024, WORLD)));
        assert!(world_open_ssh(&permission("-1", -1, -1, WORLD)));
        assert!(!world_open_ssh(&permission("tcp", 22, 22, "10.0.0.0/8")));
        assert!(!world_open_ssh(&permission("tcp", 443, 443, WORLD)));
        assert!(keeps_its_clean_rule(&[permission(
            "tcp",
            443,
            443,
            "10.0.0.0/8"
        )]));
        assert!(!keeps_its_clean_rule(&[]));
    }

    #[test]
    fn fixed_groups_are_the_violators_no_longer_open() {
        let plan = Plan::new(20, SEED);
        let mut seen = Seen::default();
        let first = plan.violators().into_iter().next().unwrap();
        seen.still_open.insert(first.clone());
        let fixed = seen.fixed(&plan);
        assert_eq!(fixed.len(), 18);
        assert!(!fixed.contains(&first));
    }
}
