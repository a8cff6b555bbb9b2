//! `cargo xtask approve | reject <execution>`: a person's decision on a
//! `review`, sent to the execution waiting for it in the remediation
//! state machine's `moat_stack::REVIEW_STATE`.
//!
//! The waiting task's token is read from the execution's history (the
//! `TaskScheduled` event's parameters), so nothing but Step Functions
//! holds it and the same `aws-sdk-sfn` calls work in AWS and against a
//! local `cargo xtask sfn serve`. Without `--yes` the command prints what
//! the decision would do; a decision already made is reported, not sent
//! again, and the opposite decision is refused: a decision is final.

use anyhow::{Context, bail};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::HistoryEvent;
use chrono::{DateTime, Utc};
use moat_domain::records::{Decision, ReviewDecision};
use moat_stack::StackSpec;
use serde_json::{Value, json};

use crate::executions::{execution_arn, sdk_error, state_machine_arn};

fn usage(command: &str) -> String {
    let reason = if command == "reject" {
        "--reason TEXT  why the rules stay (required; goes into the audit record)"
    } else {
        "--reason TEXT  why the fix is right (goes into the audit record)"
    };
    format!(
        "\
usage: cargo xtask {command} <execution arn|name> [--reason TEXT] [--yes] [COMMON]

  {reason}
  --yes          send the decision (without it, only the plan is printed)
COMMON:
  --region R     the region (default: the AWS configuration's)
  --state-machine NAME|ARN
                 default: the state machine infra/stack.json names
  --json         one JSON document instead of text

The execution must be waiting in `{}`. Reads the standard AWS
configuration; AWS_ENDPOINT_URL_SFN points it at a local `cargo xtask sfn serve`.",
        moat_stack::REVIEW_STATE
    )
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub execution: String,
    pub decision: Decision,
    pub reason: Option<String>,
    pub yes: bool,
    pub region: Option<String>,
    pub state_machine: Option<String>,
    pub json: bool,
}

pub(crate) fn parse(decision: Decision, args: Vec<String>) -> anyhow::Result<Option<Request>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let (mut execution, mut reason, mut region, mut state_machine) = (None, None, None, None);
    let (mut yes, mut json) = (false, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("reason") => reason = Some(parser.value()?.string()?),
            Long("region") => region = Some(parser.value()?.string()?),
            Long("state-machine") => state_machine = Some(parser.value()?.string()?),
            Long("yes") => yes = true,
            Long("json") => json = true,
            Value(value) if execution.is_none() => execution = Some(value.string()?),
            other => bail!("{}", other.unexpected()),
        }
    }
    let execution = execution.context("needs the execution's ARN or name")?;
    if reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        bail!("--reason is empty");
    }
    if decision == Decision::Rejected && reason.is_none() {
        bail!("reject needs --reason: the audit record says why the rules stay");
    }
    Ok(Some(Request {
        execution,
        decision,
        reason,
        yes,
        region,
        state_machine,
        json,
    }))
}

pub(crate) fn run(decision: Decision, args: Vec<String>) -> anyhow::Result<()> {
    let command = if decision == Decision::Approved {
        "approve"
    } else {
        "reject"
    };
    let usage = usage(command);
    let Some(request) =
        parse(decision, args).map_err(|error| crate::usage_error(format!("{error:#}"), &usage))?
    else {
        println!("{usage}");
        return Ok(());
    };
    let runtime = crate::executions::runtime()?;
    runtime.block_on(async {
        let config = crate::executions::aws_config(request.region.as_deref()).await;
        let client = Client::new(&config);
        let machine = match &request.state_machine {
            Some(machine) => machine.clone(),
            None => StackSpec::load()?.state_machine,
        };
        let machine_arn = state_machine_arn(&client, &machine).await?;
        let arn = execution_arn(&machine_arn, &request.execution);
        let reviewer = || caller_identity(&config);
        let outcome = decide(&client, &arn, &request, reviewer).await?;
        print_outcome(&outcome, request.json)
    })
}

/// The caller's IAM identity, the reviewer the audit record names.
pub(crate) async fn caller_identity(config: &aws_config::SdkConfig) -> anyhow::Result<String> {
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| sdk_error("GetCallerIdentity", error))?;
    identity
        .arn()
        .map(str::to_owned)
        .context("GetCallerIdentity answered without an ARN")
}

/// Where an execution stands with its review.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReviewState {
    /// Waiting in the review state: the token to answer with, the state
    /// the review was asked on, and since when.
    Waiting {
        token: String,
        state: Value,
        since: DateTime<Utc>,
    },
    /// A person has decided.
    Decided(ReviewDecision),
    /// Not waiting and never decided: ended, or never asked for a review.
    NotWaiting,
}

/// Reads the review's progress from the execution's history: the review
/// state's latest `TaskScheduled` (its parameters carry the token), then
/// how that task ended.
pub(crate) async fn review_state(client: &Client, arn: &str) -> anyhow::Result<ReviewState> {
    let mut pages = client
        .get_execution_history()
        .execution_arn(arn)
        .include_execution_data(true)
        .into_paginator()
        .send();
    let mut current_state = String::new();
    let mut found = ReviewState::NotWaiting;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| sdk_error("GetExecutionHistory", error))?;
        for event in page.events() {
            if let Some(entered) = event.state_entered_event_details() {
                current_state = entered.name().to_owned();
            }
            if current_state == moat_stack::REVIEW_STATE {
                found = next_review_state(found, event)?;
            }
        }
    }
    Ok(found)
}

/// How one history event of the review state moves its progress on.
fn next_review_state(found: ReviewState, event: &HistoryEvent) -> anyhow::Result<ReviewState> {
    use aws_sdk_sfn::types::HistoryEventType as Type;
    let when = || {
        DateTime::<Utc>::from_timestamp(event.timestamp().secs(), event.timestamp().subsec_nanos())
            .unwrap_or_default()
    };
    Ok(match event.r#type() {
        Type::TaskScheduled => {
            let parameters = event
                .task_scheduled_event_details()
                .map(|details| details.parameters())
                .unwrap_or_default();
            let parameters: Value = serde_json::from_str(parameters)
                .context("the review task's parameters are not JSON")?;
            let payload = &parameters["Payload"];
            let token = payload["taskToken"]
                .as_str()
                .context("the review task's parameters carry no Payload.taskToken")?;
            ReviewState::Waiting {
                token: token.to_owned(),
                state: payload["state"].clone(),
                since: when(),
            }
        }
        Type::TaskSucceeded => {
            let output = event
                .task_succeeded_event_details()
                .and_then(|details| details.output())
                .unwrap_or_default();
            match serde_json::from_str::<ReviewDecision>(output) {
                Ok(decision) => ReviewState::Decided(decision),
                // An answer that is not a decision changed nothing.
                Err(_) => ReviewState::NotWaiting,
            }
        }
        Type::TaskFailed | Type::TaskTimedOut => ReviewState::NotWaiting,
        _ => found,
    })
}

/// What `decide` found and did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub arn: String,
    pub action: Action,
    /// The decision sent, or the one already made.
    pub decision: ReviewDecision,
    /// The rules an approval revokes (the review plan), as `sgr-... (text)`.
    pub revokes: Vec<String>,
    pub group: String,
    pub deadline: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Printed without `--yes`.
    Planned,
    /// Sent now.
    Sent,
    /// The same decision was made before; nothing was sent.
    AlreadyDecided,
}

/// Plans the decision on `arn`'s review and, with `--yes`, sends it.
pub(crate) async fn decide<F, Fut>(
    client: &Client,
    arn: &str,
    request: &Request,
    reviewer: F,
) -> anyhow::Result<Outcome>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let (token, state, since) = match review_state(client, arn).await? {
        ReviewState::Decided(made) if made.decision == request.decision => {
            return Ok(Outcome {
                arn: arn.to_owned(),
                action: Action::AlreadyDecided,
                decision: made,
                revokes: Vec::new(),
                group: String::new(),
                deadline: None,
            });
        }
        ReviewState::Decided(made) => bail!(
            "{arn}: already {} by {} at {}; a decision is final",
            made.decision.as_str(),
            made.reviewer,
            made.decided_at.to_rfc3339()
        ),
        ReviewState::NotWaiting => bail!(
            "{arn} is not waiting for a review (it never reached `{}`, or its review ended); see `cargo xtask executions show {arn}`",
            moat_stack::REVIEW_STATE
        ),
        ReviewState::Waiting {
            token,
            state,
            since,
        } => (token, state, since),
    };
    let mut outcome = Outcome {
        arn: arn.to_owned(),
        action: Action::Planned,
        decision: ReviewDecision {
            decision: request.decision,
            reviewer: String::new(),
            reason: request.reason.clone(),
            decided_at: Utc::now(),
        },
        revokes: review_revokes(&state),
        group: state["snapshot"]["groupId"]
            .as_str()
            .unwrap_or("an unknown group")
            .to_owned(),
        deadline: state["evaluation"]["reviewTimeoutSeconds"]
            .as_i64()
            .and_then(chrono::Duration::try_seconds)
            .map(|timeout| since + timeout),
    };
    if !request.yes {
        return Ok(outcome);
    }
    outcome.decision.reviewer = reviewer().await?;
    let output = serde_json::to_string(&outcome.decision)?;
    client
        .send_task_success()
        .task_token(token)
        .output(output)
        .send()
        .await
        .map_err(|error| sdk_error("SendTaskSuccess", error))?;
    outcome.action = Action::Sent;
    Ok(outcome)
}

/// The rules the review plan revokes, each with what it opens.
fn review_revokes(state: &Value) -> Vec<String> {
    let plan = &state["evaluation"]["reviewPlan"];
    let rules = state["snapshot"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ["revokeIngress", "revokeEgress"]
        .iter()
        .flat_map(|direction| plan[direction].as_array().cloned().unwrap_or_default())
        .filter_map(|id| id.as_str().map(str::to_owned))
        .map(|id| {
            let described = rules
                .iter()
                .find(|rule| rule["ruleId"] == id.as_str())
                .and_then(|rule| {
                    serde_json::from_value::<moat_domain::snapshot::SecurityGroupRule>(rule.clone())
                        .ok()
                })
                .map(|rule| rule.describe())
                .unwrap_or_else(|| "not in the snapshot".to_owned());
            format!("{id} ({described})")
        })
        .collect()
}

fn print_outcome(outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    let action = match outcome.action {
        Action::Planned => "planned",
        Action::Sent => "sent",
        Action::AlreadyDecided => "already decided",
    };
    if json {
        let document = json!({"executionArn": outcome.arn, "action": action,
            "decision": outcome.decision, "group": outcome.group, "revokes": outcome.revokes,
            "deadline": outcome.deadline});
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    let decision = outcome.decision.decision.as_str();
    if outcome.action == Action::AlreadyDecided {
        println!(
            "{}: already {decision} by {} at {}; nothing to do",
            outcome.arn,
            outcome.decision.reviewer,
            outcome.decision.decided_at.to_rfc3339()
        );
        return Ok(());
    }
    println!("plan, for {} (review of {}):", outcome.arn, outcome.group);
    match outcome.decision.decision {
        Decision::Approved => {
            println!("  1. back up {}, then revoke:", outcome.group);
            for rule in &outcome.revokes {
                println!("       {rule}");
            }
            println!("  2. tag the group, announce the fix naming you, and audit it");
        }
        Decision::Rejected => {
            println!("  1. revoke nothing; the rules stay");
            println!("  2. audit the rejection with your reason, and announce it");
        }
    }
    if let Some(deadline) = outcome.deadline {
        println!("  (the review expires at {})", deadline.to_rfc3339());
    }
    match outcome.action {
        Action::Planned => println!("dry run; add --yes to send the decision"),
        _ => println!(
            "{decision}: follow it with `cargo xtask executions show {}`",
            outcome.arn
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
