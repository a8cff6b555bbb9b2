//! The drill by fencing: what `cargo xtask drill --account A --yes` runs
//! against AWS, and `cargo xtask drill --fence` on the local stack.
//!
//! Nothing is killed: halfway through the stream of violating changes,
//! `failover` moves the epoch to the secondary and fences the primary,
//! which still answers (its rule disabled, its running executions stopped,
//! its own table copy naming the secondary). The drill then waits until
//! neither region runs anything, checks the survivor's EC2 and records
//! table as the local drill does, deletes its groups and fails back to the
//! primary, so the account ends as it began. The groups live in the
//! secondary region's default VPC and are named `moat-drill-<time>-<n>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use local_stack::changes::Changes;

use super::super::Regions;
use super::super::failover::{FailbackRequest, failback, running};
use super::{Findings, Request, check_survivor};

/// How long the drill waits for both regions to be idle.
const IDLE_PATIENCE: Duration = Duration::from_secs(900);

/// How long apart, and how many times in a row, both regions must show no
/// running execution to count as idle (events still on their way start
/// executions within seconds).
const IDLE_POLL: Duration = Duration::from_secs(2);
const IDLE_ROUNDS: usize = 3;

/// Streams `request.changes` violating changes through `changes`, fails
/// over to the secondary halfway by fencing, checks, cleans up and fails
/// back.
pub(crate) async fn drill_by_fencing(
    regions: Arc<Regions>,
    changes: &Changes,
    request: &Request,
) -> anyhow::Result<Findings> {
    let spec = regions.spec.clone();
    let target = regions.get(&spec.regions.secondary)?.clone();
    let ec2 = aws_sdk_ec2::Client::new(&target.aws);
    let vpc = crate::smoke::default_vpc(&ec2).await?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let mut groups = Vec::new();
    for index in 0..request.changes {
        let name = format!("moat-drill-{stamp}-{index}");
        groups.push(
            changes
                .existing_group(&vpc, &name, &BTreeMap::new())
                .await?,
        );
    }
    let half = request.changes / 2;
    let streamed = super::stream(regions.clone(), &groups, changes, changes, || Ok(())).await?;
    let (opened, moved) = (streamed.opened, streamed.moved);
    let rto = streamed.canary_fixed.duration_since(streamed.outage_at);
    let executions = wait_until_idle(&regions).await?;
    let survived = check_survivor(&target.aws, &spec.records_table, changes, &opened).await?;
    delete_groups(&ec2, &groups).await?;
    let back = failback(
        &regions,
        &FailbackRequest {
            to: spec.regions.primary.clone(),
            yes: true,
            json: false,
            quiet: true,
        },
    )
    .await
    .context("failing back to the primary after the drill")?;
    Ok(Findings {
        changes: request.changes,
        lag_ms: request.lag.as_millis(),
        fenced: true,
        before_kill: half,
        missed: survived.missed,
        lost_backups: survived.lost_backups,
        doubled_revokes: survived.doubled_revokes,
        doubled_notifications: Vec::new(),
        rto_ms: rto.as_millis(),
        failover_ms: moved.rto.map_or(0, |rto| rto.as_millis()),
        epoch: moved.epoch,
        rpo_ms: None,
        unreplicated_at_kill: 0,
        executions,
        failover: moved.document,
        failback: back.document,
    })
}

/// Waits until no region runs a remediation; how many ran, by region.
async fn wait_until_idle(regions: &Regions) -> anyhow::Result<BTreeMap<String, usize>> {
    let began = Instant::now();
    let mut quiet = 0;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while quiet < IDLE_ROUNDS {
        if began.elapsed() > IDLE_PATIENCE {
            bail!("executions still running after {IDLE_PATIENCE:?}: {seen:?}");
        }
        tokio::time::sleep(IDLE_POLL).await;
        let mut busy = 0;
        for region in &regions.all {
            let now = running(regions, region).await?.len();
            busy += now;
            let most = seen
                .entry(format!("{} running at most", region.name))
                .or_default();
            *most = (*most).max(now);
        }
        quiet = if busy == 0 { quiet + 1 } else { 0 };
    }
    Ok(seen)
}

/// Deletes the drill's groups; every one must go.
async fn delete_groups(ec2: &aws_sdk_ec2::Client, groups: &[String]) -> anyhow::Result<()> {
    for group in groups {
        ec2.delete_security_group()
            .group_id(group)
            .send()
            .await
            .map_err(|error| crate::executions::sdk_error("DeleteSecurityGroup", error))
            .with_context(|| format!("deleting the drill's group {group}"))?;
    }
    Ok(())
}
