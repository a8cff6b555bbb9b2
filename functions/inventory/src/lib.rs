//! The inventory function: a sweep's first step. It lists every security
//! group of every account and region the sweep covers, with its rules, and
//! writes them as JSON Lines (one `SweepItem` per group) to the reports
//! bucket, where the sweep's Distributed Map reads them.
//!
//! The groups go to S3 rather than into the state: 5,000 snapshots are
//! megabytes, and a state holds 256 KiB. Each item says whether the records
//! table holds findings an earlier run left open on the group, so a
//! compliant judgement knows to resolve them.

use std::collections::BTreeSet;

use moat_aws::inventory::GroupInventory;
use moat_aws::records::OpenFindings;
use moat_aws::reports::ReportStore;
use moat_domain::ErrorType;
use moat_domain::sweep::{SweepItem, inventory_key};
use serde::{Deserialize, Serialize};

/// One account and region to sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub account: String,
    pub region: String,
}

/// The sweep's input, as the schedule, `cargo xtask sweep` or a DR command
/// starts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    pub sweep_id: String,
    pub targets: Vec<Target>,
}

/// Where the inventory is, for the Distributed Map's `ItemReader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub bucket: String,
    pub key: String,
    /// Groups listed, over every target.
    pub groups: usize,
    /// Groups per `account/region`.
    pub per_target: Vec<(String, usize)>,
}

/// Everything inventory can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
    #[error("sweep {sweep_id}: {reason}")]
    Invalid { sweep_id: String, reason: String },
}

impl Error {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Aws(error) => error.error_type(),
            Error::Invalid { .. } => ErrorType::Invalid,
        }
    }
}

moat_aws::lambda_diagnostic!(Error);

/// What inventory needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<G, R, S> {
    pub groups: G,
    pub records: R,
    pub reports: S,
}

pub async fn handler<G: GroupInventory, R: OpenFindings, S: ReportStore>(
    deps: &Deps<G, R, S>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<Listed, Error> {
    inventory(deps, &event.payload).await
}

pub async fn inventory<G: GroupInventory, R: OpenFindings, S: ReportStore>(
    deps: &Deps<G, R, S>,
    input: &Input,
) -> Result<Listed, Error> {
    check(input)?;
    let open: BTreeSet<String> = deps.records.groups_with_open_findings().await?;
    let mut lines = String::new();
    let mut listed = Listed {
        bucket: deps.reports.bucket().to_owned(),
        key: inventory_key(&input.sweep_id),
        groups: 0,
        per_target: Vec::new(),
    };
    for target in &input.targets {
        let groups = deps
            .groups
            .all_groups(&target.account, &target.region)
            .await?;
        listed.per_target.push((
            format!("{}/{}", target.account, target.region),
            groups.len(),
        ));
        for snapshot in groups {
            let open_findings = open.contains(&snapshot.group_id);
            let item = SweepItem {
                snapshot,
                open_findings,
            };
            // A snapshot is plain data: serializing it cannot fail.
            lines.push_str(&serde_json::to_string(&item).unwrap_or_default());
            lines.push('\n');
            listed.groups += 1;
        }
    }
    deps.reports
        .put(&listed.key, lines.into_bytes(), "application/x-ndjson")
        .await?;
    tracing::info!(sweep_id = %input.sweep_id, groups = listed.groups, key = %listed.key, "listed");
    Ok(listed)
}

/// A sweep id names S3 keys and execution names, and a sweep needs a
/// target: anything else is refused before any AWS call.
fn check(input: &Input) -> Result<(), Error> {
    let invalid = |reason: &str| Error::Invalid {
        sweep_id: input.sweep_id.clone(),
        reason: reason.to_owned(),
    };
    let id = &input.sweep_id;
    if id.is_empty() || id.len() > 40 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(invalid("a sweep id is 1 to 40 letters, digits and `-`"));
    }
    if input.targets.is_empty() {
        return Err(invalid("no account and region to sweep"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
