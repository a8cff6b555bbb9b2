//! The detect function: turns the EventBridge CloudTrail event that started
//! the execution into a [`Change`] and reads the group's current rules.
//!
//! The event says what happened; the API says what is true now. Everything
//! after this step judges the snapshot read here, never the event.
//!
//! An operator's `cargo xtask lockdown` starts the same state machine with
//! an `{"lockdown": ...}` input instead of an event; it becomes a change of
//! its own kind (`OperatorLockdown`) and is never skipped as self-made. A
//! sweep starts it with `{"sweep": ...}` for a group it found violating;
//! that is a `SweepFinding`, and the group is read again here, so a group
//! deleted since the sweep listed it is skipped with its reason.

use moat_aws::ec2::SecurityGroups;
use moat_domain::ErrorType;
use moat_domain::event::{
    self, Change, Detection, GroupRef, OperatorLockdown, SelfIdentity, Skip, SkipReason,
    SweepFinding,
};
use moat_domain::snapshot::GroupSnapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What detect hands to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detected {
    /// `changed` or `skipped`: the state machine's first Choice.
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skip: Option<Skip>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub change: Option<Change>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub snapshot: Option<GroupSnapshot>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Changed,
    Skipped,
}

/// Everything detect can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] moat_domain::Error),
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
}

impl Error {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Domain(error) => error.error_type(),
            Error::Aws(error) => error.error_type(),
        }
    }
}

moat_aws::lambda_diagnostic!(Error);

/// What detect needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<G> {
    pub groups: G,
    pub me: SelfIdentity,
}

/// Detects one event.
pub async fn handler<G: SecurityGroups>(
    deps: &Deps<G>,
    event: lambda_runtime::LambdaEvent<Value>,
) -> Result<Detected, Error> {
    detect(deps, &event.payload).await
}

pub async fn detect<G: SecurityGroups>(deps: &Deps<G>, event: &Value) -> Result<Detected, Error> {
    let mut change = match change_of(event, &deps.me)? {
        Detection::Skip(skip) => {
            tracing::info!(reason = skip.reason.as_str(), event_id = %skip.event_id, "skipped");
            return Ok(skipped(skip));
        }
        Detection::Change(change) => change,
    };
    let group_id = match &change.group {
        GroupRef::Id { group_id } => group_id.clone(),
        GroupRef::Name { group_name } => {
            match deps
                .groups
                .default_vpc_group_id(&change.account, &change.region, group_name)
                .await?
            {
                Some(group_id) => group_id,
                None => {
                    let detail = format!(
                        "no group named {group_name} in the default VPC of {}/{}",
                        change.account, change.region
                    );
                    return Ok(skipped(deleted(&change, detail)));
                }
            }
        }
    };
    change.group = GroupRef::Id {
        group_id: group_id.clone(),
    };
    let Some(snapshot) = deps
        .groups
        .snapshot(&change.account, &change.region, &group_id)
        .await?
    else {
        let detail = format!(
            "group {group_id} no longer exists in {}/{}",
            change.account, change.region
        );
        return Ok(skipped(deleted(&change, detail)));
    };
    tracing::info!(
        group_id = %group_id,
        event_name = %change.event_name,
        actor = %change.actor,
        rules = snapshot.rules.len(),
        "detected"
    );
    Ok(Detected {
        status: Status::Changed,
        skip: None,
        change: Some(change),
        snapshot: Some(snapshot),
    })
}

/// The change an execution input names: an operator's lockdown, a sweep's
/// finding, or the CloudTrail event EventBridge delivered.
fn change_of(input: &Value, me: &SelfIdentity) -> Result<Detection, Error> {
    if let Some(request) = OperatorLockdown::from_input(input) {
        return Ok(Detection::Change(request?.change()));
    }
    if let Some(finding) = SweepFinding::from_input(input) {
        return Ok(Detection::Change(finding?.change()));
    }
    Ok(event::detect(input, me)?)
}

fn skipped(skip: Skip) -> Detected {
    Detected {
        status: Status::Skipped,
        skip: Some(skip),
        change: None,
        snapshot: None,
    }
}

fn deleted(change: &Change, detail: String) -> Skip {
    Skip {
        reason: SkipReason::Deleted,
        detail,
        event_id: change.event_id.clone(),
        event_name: change.event_name.to_string(),
    }
}

#[cfg(test)]
mod tests;
