//! The escalate function: tells a person when Moat cannot or must not act
//! alone: a `review` verdict, a step that failed after its retries, or a
//! policy version that was refused. Each message links to the execution in
//! the Step Functions console and goes out once per cause.
//!
//! A review is called from a `.waitForTaskToken` state: the execution waits
//! for `cargo xtask approve` or `reject`, which find the task token in the
//! execution's history. The token is a capability to decide, so it is never
//! put into the message.

use chrono::{DateTime, Utc};
use moat_aws::fencing::standing_of;
use moat_aws::publish::{Published, Publisher, publish_once};
use moat_aws::records::{ActiveRegions, PublishClaims};
use moat_domain::ErrorType;
use moat_domain::metrics::{ESCALATED, Metrics};
use moat_domain::notification::{Escalation, EscalationCause, escalation_notice};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why the state machine escalates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Review,
    /// A review that no one answered within the policy's timeout.
    ReviewExpired,
    Failure,
    PolicyRejected,
}

/// An Escalate state's `Parameters`: why (`kind`), the execution's ARN, and
/// the whole state document, so the escalation reports whatever is known so
/// far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub kind: Kind,
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    pub state: Value,
    /// `$$.Task.Token` of a waiting review; read from the history by the
    /// decision commands, never published.
    #[serde(default, skip_serializing)]
    pub task_token: Option<String>,
}

/// Everything escalate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
    #[error("cannot escalate {kind:?}: {reason}")]
    Invalid { kind: Kind, reason: String },
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

/// What escalate needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<C, P> {
    /// The publish claims that keep an escalation to one message, and the
    /// active-region record.
    pub claims: C,
    pub publisher: P,
    pub topic_arn: String,
    /// The region this function runs in, which the fence is checked for.
    pub region: String,
    pub clock: fn() -> DateTime<Utc>,
}

/// What escalate did: the message, or nothing in a passive region, whose
/// escalations the active region sends for the same change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Escalated {
    #[serde(flatten)]
    pub published: Option<Published>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed_while_passive: bool,
}

/// The step's own metric: an escalation published (not a repeat).
pub fn count(outcome: &Result<Escalated, Error>, metrics: &mut Metrics) {
    if let Ok(Escalated {
        published: Some(published),
        ..
    }) = outcome
    {
        metrics.set(ESCALATED, f64::from(u8::from(!published.deduplicated)));
    }
}

pub async fn handler<C: PublishClaims + ActiveRegions, P: Publisher>(
    deps: &Deps<C, P>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<Escalated, Error> {
    escalate(deps, &event.payload).await
}

pub async fn escalate<C: PublishClaims + ActiveRegions, P: Publisher>(
    deps: &Deps<C, P>,
    input: &Input,
) -> Result<Escalated, Error> {
    let standing = Box::pin(standing_of(&deps.claims, &deps.region)).await?;
    if !standing.may_act() {
        tracing::info!(kind = ?input.kind, execution_arn = %input.execution_arn, "observed while passive; not escalated");
        return Ok(Escalated {
            published: None,
            observed_while_passive: true,
        });
    }
    let escalation = escalation_from(input, (deps.clock)())?;
    let notice = escalation_notice(&escalation);
    let published = publish_once(
        &deps.claims,
        &deps.publisher,
        &deps.topic_arn,
        &notice,
        &input.execution_arn,
        (deps.clock)(),
    )
    .await?;
    tracing::warn!(
        kind = ?input.kind,
        execution_arn = %input.execution_arn,
        message_id = %published.message_id,
        deduplicated = published.deduplicated,
        "escalated"
    );
    Ok(Escalated {
        published: Some(published),
        observed_while_passive: false,
    })
}

/// Reads what is known from the state. A failure may come from any step,
/// so everything but the kind's own fields is optional.
pub fn escalation_from(input: &Input, now: DateTime<Utc>) -> Result<Escalation, Error> {
    let state = &input.state;
    let change = state
        .get("change")
        .and_then(|value| serde_json::from_value(value.clone()).ok());
    let evaluation = state
        .get("evaluation")
        .and_then(|value| serde_json::from_value(value.clone()).ok());
    let invalid = |reason: &str| Error::Invalid {
        kind: input.kind,
        reason: reason.to_owned(),
    };
    let event_id = change
        .as_ref()
        .map(|change: &moat_domain::event::Change| change.event_id.clone());
    let mut deadline = None;
    let (cause, dedup_id) = match input.kind {
        Kind::Review => {
            deadline = state
                .pointer("/evaluation/reviewTimeoutSeconds")
                .and_then(Value::as_i64)
                .and_then(chrono::Duration::try_seconds)
                .map(|timeout| now + timeout);
            (
                EscalationCause::Review,
                event_id.unwrap_or_else(|| input.execution_arn.clone()),
            )
        }
        Kind::ReviewExpired => (
            EscalationCause::ReviewExpired,
            event_id.unwrap_or_else(|| input.execution_arn.clone()),
        ),
        Kind::Failure => {
            let error = state
                .pointer("/error/Error")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("the state has no error.Error"))?;
            let cause = state
                .pointer("/error/Cause")
                .and_then(Value::as_str)
                .unwrap_or("");
            (
                EscalationCause::Failure {
                    state: state
                        .get("failedState")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    error: error.to_owned(),
                    cause: readable_cause(cause),
                },
                input.execution_arn.clone(),
            )
        }
        Kind::PolicyRejected => {
            let rejected = state
                .pointer("/evaluation/policy/rejected")
                .ok_or_else(|| invalid("the state has no evaluation.policy.rejected"))?;
            let text = |name: &str| {
                rejected
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            (
                EscalationCause::PolicyRejected {
                    location: text("location").unwrap_or_else(|| "the policy store".into()),
                    version_id: text("versionId"),
                    error: text("error").unwrap_or_default(),
                },
                // Once per bad version, not once per execution it shows in.
                format!("policy/{}", text("etag").unwrap_or_default()),
            )
        }
    };
    Ok(Escalation {
        cause,
        execution_arn: input.execution_arn.clone(),
        dedup_id,
        change,
        evaluation,
        deadline,
    })
}

/// Lambda's `Cause` is a JSON document whose `errorMessage` is what a
/// person wants; other causes are shown as they are.
fn readable_cause(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|value| {
            value
                .get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| cause.to_owned())
}

#[cfg(test)]
mod tests;
