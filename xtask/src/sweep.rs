//! `cargo xtask sweep`: judge every group of the given accounts and
//! regions now, as the daily schedule does, or preview what a policy file
//! that is not pushed yet would change.
//!
//! - Without `--policy`, it starts the sweep state machine with
//!   `aws-sdk-sfn` (the same state machine the schedule and the DR commands
//!   start), after printing the plan; it acts only with `--yes`, or at once
//!   with `--dry-run`, which judges and reports but starts no remediation.
//!   `--wait` follows the execution to its end and prints the summary.
//! - With `--policy FILE --dry-run`, nothing is started and nothing is
//!   written: every group is listed here (through the functions' own
//!   adapter, paced as the inventory function paces it) and judged against
//!   the file, and the command prints what would change, by control.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus;
use moat_aws::ec2::Ec2SecurityGroups;
use moat_aws::inventory::GroupInventory;
use moat_aws::{Accounts, Aws, MemberAccess};
use moat_domain::policy::Policy;
use moat_domain::sweep::{SweepAction, SweepItem, SweepLine, SweepOptions, SweepSummary, judge};
use moat_stack::StackSpec;
use serde_json::json;

use crate::executions::{sdk_error, state_machine_arn};

const USAGE: &str = "\
usage: cargo xtask sweep [--account A]... [--region R]... [--dry-run] [--yes] [--wait] [OPTIONS]
       cargo xtask sweep --policy FILE --dry-run [--account A]... [--region R]... [OPTIONS]

Judges every security group of each account in each region. Without
--policy it starts the sweep state machine (plan first; --yes to fix what
it finds, --dry-run to only judge and report). With --policy FILE --dry-run
it judges every group here against a policy that is not pushed yet and
prints what would change, by control; nothing is started or written.

  --account A          an account to sweep (repeatable; default: the caller's)
  --region R           a region to sweep (repeatable; default: the configuration's)
  --dry-run            judge and report only
  --yes                start a sweep that fixes what it finds
  --wait               follow the execution to its end and print the summary
  --policy FILE        preview this policy file (with --dry-run)
  --member-role NAME   read member accounts through this role, as Moat does
  --external-id ID     the member role's external id
  --state-machine NAME|ARN
                       default: the sweep state machine infra/stack.json names
  --json               one JSON document instead of text

Reads the standard AWS configuration; AWS_ENDPOINT_URL points it at a local
stack, AWS_ENDPOINT_URL_SFN at a local `cargo xtask sfn serve`.";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Request {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub dry_run: bool,
    pub yes: bool,
    pub wait: bool,
    pub policy: Option<PathBuf>,
    pub member_role: Option<String>,
    pub external_id: Option<String>,
    pub state_machine: Option<String>,
    pub json: bool,
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Request>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut request = Request::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("account") => request.accounts.push(parser.value()?.string()?),
            Long("region") => request.regions.push(parser.value()?.string()?),
            Long("dry-run") => request.dry_run = true,
            Long("yes") => request.yes = true,
            Long("wait") => request.wait = true,
            Long("policy") => request.policy = Some(parser.value()?.into()),
            Long("member-role") => request.member_role = Some(parser.value()?.string()?),
            Long("external-id") => request.external_id = Some(parser.value()?.string()?),
            Long("state-machine") => request.state_machine = Some(parser.value()?.string()?),
            Long("json") => request.json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    for account in &request.accounts {
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            bail!("--account {account}: a 12-digit account id");
        }
    }
    if request.policy.is_some() && !request.dry_run {
        bail!(
            "--policy previews a policy and needs --dry-run; `cargo xtask policy push` puts it in force"
        );
    }
    if request.dry_run && request.yes {
        bail!("--dry-run and --yes contradict each other");
    }
    Ok(Some(request))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(request) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    crate::executions::runtime()?.block_on(async {
        let config =
            crate::executions::aws_config(request.regions.first().map(String::as_str)).await;
        let targets = targets(&config, &request).await?;
        match &request.policy {
            Some(path) => {
                let lines = preview(&config, &request, path, &targets).await?;
                print_preview(&lines, request.json)
            }
            None => start(&config, &request, &targets).await,
        }
    })
}

/// Every account and region pair the sweep covers.
async fn targets(
    config: &aws_config::SdkConfig,
    request: &Request,
) -> anyhow::Result<Vec<(String, String)>> {
    let accounts = if request.accounts.is_empty() {
        vec![caller_account(config).await?]
    } else {
        request.accounts.clone()
    };
    let regions = if request.regions.is_empty() {
        let region = config
            .region()
            .context("no region: pass --region or set AWS_REGION")?;
        vec![region.to_string()]
    } else {
        request.regions.clone()
    };
    Ok(accounts
        .iter()
        .flat_map(|account| {
            regions
                .iter()
                .map(move |region| (account.clone(), region.clone()))
        })
        .collect())
}

pub(crate) async fn caller_account(config: &aws_config::SdkConfig) -> anyhow::Result<String> {
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| sdk_error("GetCallerIdentity", error))?;
    identity
        .account()
        .map(str::to_owned)
        .context("GetCallerIdentity answered without an account")
}

/// Judges every group of `targets` against the policy file; starts nothing.
pub(crate) async fn preview(
    config: &aws_config::SdkConfig,
    request: &Request,
    path: &std::path::Path,
    targets: &[(String, String)],
) -> anyhow::Result<Vec<SweepLine>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let policy = Policy::from_json(&text)
        .with_context(|| format!("{} is not a valid policy", path.display()))?;
    let access = MemberAccess {
        role_name: request.member_role.clone(),
        external_id: request.external_id.clone(),
        session_name: "moat-sweep-preview".to_owned(),
    };
    let groups =
        Ec2SecurityGroups::new(Accounts::new(&Aws::from_sdk_config(config.clone()), access));
    let options = SweepOptions {
        sweep_id: "preview".to_owned(),
        dry_run: true,
    };
    let now = chrono::Utc::now();
    let mut lines = Vec::new();
    for (account, region) in targets {
        for snapshot in groups.all_groups(account, region).await? {
            let item = SweepItem {
                snapshot,
                open_findings: false,
            };
            lines.push(judge(&policy, &item, &options, now).0);
        }
    }
    Ok(lines)
}

fn print_preview(lines: &[SweepLine], json: bool) -> anyhow::Result<()> {
    let summary = SweepSummary::of("preview", lines);
    let changing: Vec<&SweepLine> = lines
        .iter()
        .filter(|line| {
            matches!(
                line.action,
                SweepAction::WouldRemediate | SweepAction::WouldReview
            )
        })
        .collect();
    if json {
        let document = json!({"summary": summary, "changes": changing});
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    println!(
        "preview: {} groups judged, {} with findings, {} would change",
        summary.groups_scanned,
        summary.violations,
        changing.len()
    );
    let mut by_control: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for line in &changing {
        for finding in &line.findings {
            let control = finding
                .controls
                .first()
                .map(String::as_str)
                .unwrap_or("(none)");
            let entry = by_control.entry(control).or_default();
            entry.0 += 1;
            entry.1 += finding.security_group_rule_ids.len();
        }
    }
    println!("by control (findings, rules):");
    for (control, (findings, rules)) in &by_control {
        println!("  {control:<10} {findings:>6} {rules:>6}");
    }
    for line in &changing {
        let verb = if line.action == SweepAction::WouldReview {
            "review"
        } else {
            "revoke"
        };
        println!(
            "  {}/{} {} ({}): {verb}",
            line.account, line.region, line.group_id, line.group_name
        );
        for finding in &line.findings {
            println!(
                "      {} [{}]",
                finding.reason,
                finding.security_group_rule_ids.join(", ")
            );
        }
    }
    Ok(())
}

/// Prints the plan and, with `--yes` or `--dry-run`, starts the sweep;
/// with `--wait`, follows it to its end, all through Step Functions at
/// `sfn_config`.
pub(crate) async fn start(
    sfn_config: &aws_config::SdkConfig,
    request: &Request,
    targets: &[(String, String)],
) -> anyhow::Result<()> {
    let client = Client::new(sfn_config);
    let machine = match &request.state_machine {
        Some(machine) => machine.clone(),
        None => StackSpec::load()?.sweep_state_machine,
    };
    let name = format!("sweep-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    let what = if request.dry_run {
        "judge and report (dry run)"
    } else {
        "judge, fix and report"
    };
    eprintln!("sweep: plan: start {name} on {machine}: {what}");
    for (account, region) in targets {
        eprintln!("  {account}/{region}: every security group");
    }
    if !request.dry_run && !request.yes {
        eprintln!("sweep: nothing started; add --yes to sweep and fix, or --dry-run to only judge");
        return Ok(());
    }
    let machine_arn = state_machine_arn(&client, &machine).await?;
    let input = json!({
        "targets": targets.iter().map(|(account, region)| json!({"account": account, "region": region})).collect::<Vec<_>>(),
        "dryRun": request.dry_run,
    });
    let started = client
        .start_execution()
        .state_machine_arn(&machine_arn)
        .name(&name)
        .input(input.to_string())
        .send()
        .await
        .map_err(|error| sdk_error("StartExecution", error))?;
    let arn = started.execution_arn().to_owned();
    eprintln!("sweep: started {arn}");
    if !request.wait {
        println!(
            "{}",
            if request.json {
                json!({"executionArn": arn}).to_string()
            } else {
                arn
            }
        );
        return Ok(());
    }
    let output = follow(&client, &arn).await?;
    if request.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"executionArn": arn, "output": output}))?
        );
    } else {
        let summary = &output["summary"];
        println!(
            "sweep: {arn} done: {} groups scanned, {} violations; results in {}",
            summary["groupsScanned"], summary["violations"], summary["resultsKey"]
        );
    }
    Ok(())
}

/// Polls the execution until it ends; its output, or the error it failed with.
pub(crate) async fn follow(client: &Client, arn: &str) -> anyhow::Result<serde_json::Value> {
    loop {
        let described = client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|error| sdk_error("DescribeExecution", error))?;
        match described.status() {
            ExecutionStatus::Running => tokio::time::sleep(Duration::from_millis(500)).await,
            ExecutionStatus::Succeeded => {
                let output = described.output().unwrap_or("{}");
                return serde_json::from_str(output).context("the sweep's output is not JSON");
            }
            other => bail!(
                "{arn} ended {}: {} {}",
                other.as_str(),
                described.error().unwrap_or_default(),
                described.cause().unwrap_or_default()
            ),
        }
    }
}

#[cfg(test)]
mod tests;
