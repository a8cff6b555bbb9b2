//! `cargo xtask lockdown --group sg-... --account A --region R`: an
//! operator's emergency close of one security group, through the very
//! pipeline Moat runs for a change: the remediation state machine starts
//! with an operator lockdown input, backs the group up, revokes every
//! ingress rule, tags, announces and audits it with the operator as actor.
//!
//! The plan (every ingress rule that will go) is read with the same adapter
//! the functions use, so it is what the pipeline will see. The execution's
//! name comes from the group and the rules it closes, so a second run while
//! the first still runs finds it, and a run after it finds nothing open.
//! It is undone from the backup the pipeline writes.

use anyhow::{Context, bail};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use moat_aws::ec2::{Ec2SecurityGroups, SecurityGroups};
use moat_aws::{Accounts, Aws, MemberAccess};
use moat_domain::event::{LOCKDOWN_INPUT_KEY, OperatorLockdown};
use moat_domain::snapshot::{Direction, GroupSnapshot};
use moat_stack::StackSpec;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::executions::{execution_arn, sdk_error, state_machine_arn};

const USAGE: &str = "\
usage: cargo xtask lockdown --group sg-... --account ACCOUNT --region R [--reason TEXT] [--yes] [OPTIONS]

Closes the group to all inbound traffic through the remediation state
machine: backup first, revoke every ingress rule, tag, notify, audit with
your identity and the reason. Without --yes only the plan is printed.

  --reason TEXT        why (goes into the audit record and the notification)
  --member-role NAME   read the group through this role in ACCOUNT, as Moat does
  --external-id ID     the member role's external id
  --state-machine NAME|ARN
                       default: the state machine infra/stack.json names
  --json               one JSON document instead of text

Reads the standard AWS configuration; AWS_ENDPOINT_URL points it at a local
stack (AWS_ENDPOINT_URL_SFN at a local `cargo xtask sfn serve`).";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub group_id: String,
    pub account: String,
    pub region: String,
    pub reason: String,
    pub member_role: Option<String>,
    pub external_id: Option<String>,
    pub state_machine: Option<String>,
    pub yes: bool,
    pub json: bool,
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Request>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let (mut group, mut account, mut region, mut reason) = (None, None, None, None);
    let (mut member_role, mut external_id, mut state_machine) = (None, None, None);
    let (mut yes, mut json) = (false, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("group") => group = Some(parser.value()?.string()?),
            Long("account") => account = Some(parser.value()?.string()?),
            Long("region") => region = Some(parser.value()?.string()?),
            Long("reason") => reason = Some(parser.value()?.string()?),
            Long("member-role") => member_role = Some(parser.value()?.string()?),
            Long("external-id") => external_id = Some(parser.value()?.string()?),
            Long("state-machine") => state_machine = Some(parser.value()?.string()?),
            Long("yes") => yes = true,
            Long("json") => json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    let group_id = group.context("--group sg-... is required")?;
    if !group_id.starts_with("sg-") {
        bail!("--group {group_id}: a security group id starts with sg-");
    }
    let account = account.context("--account is required")?;
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        bail!("--account {account}: a 12-digit account id");
    }
    Ok(Some(Request {
        group_id,
        account,
        region: region.context("--region is required")?,
        reason: reason.unwrap_or_else(|| "no reason given".to_owned()),
        member_role,
        external_id,
        state_machine,
        yes,
        json,
    }))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(request) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    crate::executions::runtime()?.block_on(async {
        let config = crate::executions::aws_config(Some(&request.region)).await;
        let outcome = lockdown_with(&config, &config, &request).await?;
        print_outcome(&outcome, request.json)
    })
}

/// What `lockdown` found and did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub group_id: String,
    /// `sgr-... (what it opens)` for every ingress rule the lockdown closes.
    pub closes: Vec<String>,
    pub action: Action,
    pub execution_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// The group has no ingress rule: nothing to close.
    NothingToDo,
    /// Printed without `--yes`.
    Planned,
    /// The execution was started now.
    Started,
    /// The same lockdown is already running (or ran): nothing started.
    AlreadyStarted,
}

/// Plans the lockdown from the group as it is and, with `--yes`, starts it:
/// EC2 and STS through `config`, Step Functions through `sfn_config` (the
/// same configuration, but for tests that serve Step Functions apart).
pub(crate) async fn lockdown_with(
    config: &aws_config::SdkConfig,
    sfn_config: &aws_config::SdkConfig,
    request: &Request,
) -> anyhow::Result<Outcome> {
    let snapshot = read_group(config, request).await?;
    let ingress: Vec<_> = snapshot.rules_in(Direction::Ingress).collect();
    let mut outcome = Outcome {
        group_id: request.group_id.clone(),
        closes: ingress
            .iter()
            .map(|rule| format!("{} ({})", rule.rule_id, rule.describe()))
            .collect(),
        action: Action::Planned,
        execution_arn: None,
    };
    if ingress.is_empty() {
        outcome.action = Action::NothingToDo;
        return Ok(outcome);
    }
    if !request.yes {
        return Ok(outcome);
    }
    let ids: Vec<&str> = ingress.iter().map(|rule| rule.rule_id.as_str()).collect();
    let name = execution_name(&request.group_id, &ids);
    let actor = crate::review::caller_identity(config).await?;
    let (arn, started) = start(sfn_config, request, &name, actor).await?;
    outcome.execution_arn = Some(arn);
    outcome.action = if started {
        Action::Started
    } else {
        Action::AlreadyStarted
    };
    Ok(outcome)
}

/// The group through the functions' own adapter (and member role).
async fn read_group(
    config: &aws_config::SdkConfig,
    request: &Request,
) -> anyhow::Result<GroupSnapshot> {
    let access = MemberAccess {
        role_name: request.member_role.clone(),
        external_id: request.external_id.clone(),
        session_name: "moat-lockdown".to_owned(),
    };
    let groups =
        Ec2SecurityGroups::new(Accounts::new(&Aws::from_sdk_config(config.clone()), access));
    groups
        .snapshot(&request.account, &request.region, &request.group_id)
        .await
        .with_context(|| {
            format!(
                "reading {} in {}/{}",
                request.group_id, request.account, request.region
            )
        })?
        .with_context(|| {
            format!(
                "{} does not exist in {}/{}",
                request.group_id, request.account, request.region
            )
        })
}

/// `lockdown-<group>-<digest of the rules it closes>`: the same lockdown
/// of the same rules is one execution.
fn execution_name(group_id: &str, rule_ids: &[&str]) -> String {
    let mut sorted = rule_ids.to_vec();
    sorted.sort_unstable();
    let digest = Sha256::digest(sorted.join(",").as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("lockdown-{group_id}-{hex}")
}

/// Starts the execution named `name`; an execution of that name that
/// exists already is the same lockdown, reported instead of started.
async fn start(
    config: &aws_config::SdkConfig,
    request: &Request,
    name: &str,
    actor: String,
) -> anyhow::Result<(String, bool)> {
    let client = Client::new(config);
    let machine = match &request.state_machine {
        Some(machine) => machine.clone(),
        None => StackSpec::load()?.state_machine,
    };
    let machine_arn = state_machine_arn(&client, &machine).await?;
    let input = OperatorLockdown {
        request_id: name.to_owned(),
        group_id: request.group_id.clone(),
        account: request.account.clone(),
        region: request.region.clone(),
        actor,
        reason: request.reason.clone(),
        requested_at: chrono::Utc::now(),
    };
    let started = client
        .start_execution()
        .state_machine_arn(&machine_arn)
        .name(name)
        .input(json!({ LOCKDOWN_INPUT_KEY: input }).to_string())
        .send()
        .await;
    match started {
        Ok(started) => Ok((started.execution_arn().to_owned(), true)),
        Err(error) if error.code() == Some("ExecutionAlreadyExists") => {
            Ok((execution_arn(&machine_arn, name), false))
        }
        Err(error) => Err(sdk_error("StartExecution", error)),
    }
}

fn print_outcome(outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    let action = match outcome.action {
        Action::NothingToDo => "nothing to do",
        Action::Planned => "planned",
        Action::Started => "started",
        Action::AlreadyStarted => "already started",
    };
    if json {
        let document = json!({"groupId": outcome.group_id, "closes": outcome.closes,
            "action": action, "executionArn": outcome.execution_arn});
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    if outcome.action == Action::NothingToDo {
        println!(
            "{}: no ingress rule is open; nothing to do",
            outcome.group_id
        );
        return Ok(());
    }
    println!("plan, for {}:", outcome.group_id);
    println!("  1. back up the group as it is");
    println!("  2. revoke every ingress rule:");
    for rule in &outcome.closes {
        println!("       {rule}");
    }
    println!("  3. tag it, announce it and audit it with you as the actor and your reason");
    match (&outcome.action, &outcome.execution_arn) {
        (Action::Planned, _) => println!("dry run; add --yes to lock it down"),
        (_, Some(arn)) => {
            println!("{action}: {arn}; follow it with `cargo xtask executions show {arn}`")
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
