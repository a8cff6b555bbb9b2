//! Moat's operator and developer commands, run as `cargo xtask <command>`.
//!
//! One binary: `main` reads the command name and hands the remaining
//! arguments to that command's module, which parses them itself.

mod asff;
mod bench;
mod build;
mod demo;
mod deny;
mod dr;
mod executions;
mod fuzz;
mod infra;
mod lockdown;
mod package;
mod policy;
mod report;
mod review;
mod setup;
mod sfn;
mod smoke;
mod storm;
mod sweep;
mod test;
#[cfg(test)]
mod tidy;
mod undo;
mod workflows;

use std::fmt;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  demo [--logs]          the whole pipeline on one machine: a scenario, its executions, checks
  test [args]            install what the tests need, then run every test (args go to cargo test)
  setup                  install what the tests and the demo need (moto, in .moto-venv)
  bench [--changes N]    change -> remediated latency on the local stack, cold and warm, per state
  smoke --region R [--yes] | --local
                         a throw-away group opened to SSH: fixed, backed up, announced, deleted
  storm [--duplicates N] [--changes M] [--throttle PERCENT] [--only STORM] [--json]
                         Moat under load and faults on the local stack: duplicates, throttling, a crash
  sfn run <definition.json> [--input <json|@file>] [--function NAME=PATH]... [--virtual-time]
                         run a state machine on the local executor
  sfn serve [--port P] [--virtual-time] [--function NAME=PATH]... [--aws-endpoint REGION=URL]...
                         the Step Functions API on 127.0.0.1, for aws-sdk-sfn, the AWS CLI and Terraform
  fuzz [--seconds N] [--target T]... [--json] [--bootstrap]
                         run each cargo-fuzz target for a bounded time (cargo-fuzz in .tools)
  executions list [--status S] [--since 1h] | show <arn|name>   [--json]
                         the console's views of the executions, over aws-sdk-sfn (AWS or sfn serve)
  approve <arn|name> [--reason TEXT] [--yes] | reject <arn|name> --reason TEXT [--yes]
                         decide a review an execution waits for: back up and revoke, or keep the rules
  sweep [--account A]... [--region R]... [--dry-run | --yes] [--wait] | --policy FILE --dry-run
                         judge every group now (the sweep state machine), or preview a policy file
  undo --backup ID | --execution ARN [--exempt-until DATE] [--reason TEXT] [--yes]
                         put back exactly what one remediation revoked, from its backup
  status [--json]        both regions: which is active, epoch, rules, executions, dead letters, replication, drift
  failover --to REGION [--outage-start TIME] [--yes]
                         the primary failed: fence it, activate REGION, replay, sweep, canary, RTO
  failback --to REGION [--yes]
                         planned move back: pause, wait for replication, move the epoch, sweep, canary
  restore policy (--version ID | --at TIME) [--yes] | restore records --at TIME [--yes]
                         put back an earlier policy in both regions, or the records table as it was
  drill [--changes N] [--lag-ms MS] [--json] | --account A --yes
                         rehearse a region failure on the local stack: missed, lost, doubled, RTO, RPO
  lockdown --group sg-... --account A --region R [--reason TEXT] [--yes]
                         emergency: close a group to all inbound traffic through the pipeline
  infra check            check infra/ offline: fmt, validate, terraform test (mocked AWS), checkov
  deny [--advisories] [--report FILE]
                         the dependency tree against deny.toml: licenses, bans, sources (cargo-deny in .tools)
  workflows              lint .github/workflows offline: actionlint and zizmor (nothing above low)
  asff --from FILE... [--commit SHA] [--repository OWNER/NAME] [--region R] [--yes] [--json]
                         scan results as Security Hub findings: import, resolve the vanished, gate on HIGH
  package [--arch arm64|x86_64] [--out DIR] [--function NAME]... [--measure]
                         build the functions for Lambda: reproducible zips and target/lambda/manifest.json
  report (--from-file <input.json|dir> | --from-bucket <bucket> --date D) [--out FILE] [--json]
  policy validate <file>
  policy eval --policy <file> --group <file> [--today YYYY-MM-DD]
  policy push <file> --bucket <name> [--key <key>] [--yes]
";

fn main() -> ExitCode {
    exit_quietly_when_stdout_closes();
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(USAGE_STATUS);
    };
    let rest: Vec<String> = args.collect();
    let result = match command.as_str() {
        "sfn" => sfn::run(rest),
        "bench" => bench::run(rest),
        "demo" => demo::run(rest),
        "executions" => executions::run(rest),
        "approve" => review::run(moat_domain::records::Decision::Approved, rest),
        "reject" => review::run(moat_domain::records::Decision::Rejected, rest),
        "lockdown" => lockdown::run(rest),
        "undo" => undo::run(rest),
        "status" => dr::status::run(rest),
        "failover" => dr::failover::run_failover(rest),
        "failback" => dr::failover::run_failback(rest),
        "restore" => dr::restore::run(rest),
        "drill" => dr::drill::run(rest),
        "fuzz" => fuzz::run(rest),
        "infra" => infra::run(rest),
        "deny" => deny::run(rest),
        "workflows" => workflows::run(rest),
        "asff" => asff::run(rest),
        "package" => package::run(rest),
        "policy" => policy::run(rest),
        "report" => report::run(rest),
        "setup" => setup::run(rest),
        "smoke" => smoke::run(rest),
        "storm" => storm::run(rest),
        "sweep" => sweep::run(rest),
        "test" => test::run(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(usage_error(format!("unknown command `{other}`"), USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(USAGE_STATUS)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether an operator command line (without `cargo xtask`) names a
/// command and its flags parse, without running anything: what the
/// runbooks' tidy test proves of every command they show.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn command_line_parses(args: &[String]) -> anyhow::Result<()> {
    let Some((command, rest)) = args.split_first() else {
        anyhow::bail!("no command");
    };
    let rest = rest.to_vec();
    match command.as_str() {
        "status" => dr::status::parse(rest).map(drop),
        "failover" => dr::failover::parse_failover(rest).map(drop),
        "failback" => dr::failover::parse_failback(rest).map(drop),
        "restore" => dr::restore::parse(rest).map(drop),
        "drill" => dr::drill::parse(rest).map(drop),
        "undo" => undo::parse(rest).map(drop),
        "lockdown" => lockdown::parse(rest).map(drop),
        "approve" => review::parse(moat_domain::records::Decision::Approved, rest).map(drop),
        "reject" => review::parse(moat_domain::records::Decision::Rejected, rest).map(drop),
        "executions" => executions::parse(rest).map(drop),
        "sweep" => sweep::parse(rest).map(drop),
        "smoke" => smoke::parse(rest).map(drop),
        "report" => report::parse(rest).map(drop),
        "policy" => policy::parses(rest),
        other => anyhow::bail!("`{other}` is not a command the runbooks may use"),
    }
}

/// The status of a command line that could not be read, as Unix tools exit
/// on a usage error; a command that ran and failed exits 1.
const USAGE_STATUS: u8 = 2;

/// A command line a command could not read: what was wrong, then the
/// command's usage.
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The error for a bad command line: `problem`, then `usage`. `main`
/// exits 2 for it.
pub(crate) fn usage_error(problem: impl fmt::Display, usage: &str) -> anyhow::Error {
    let usage = usage.trim_end();
    let usage = if usage.starts_with("usage:") {
        usage.to_owned()
    } else {
        format!("usage: {usage}")
    };
    anyhow::Error::new(UsageError(format!("{problem}\n\n{usage}")))
}

/// The status of a Unix tool that stopped because its reader went away
/// (128 + SIGPIPE).
const CLOSED_PIPE_STATUS: i32 = 141;

/// `cargo xtask ... | head` closes stdout early, and Rust's `print!` then
/// panics with a backtrace, because Rust ignores SIGPIPE. A closed pipe
/// only means the reader has seen enough, so the command stops quietly, as
/// a Unix tool killed by SIGPIPE would. Restoring SIGPIPE itself would need
/// `unsafe`, which the workspace forbids; a hook catches every `print!` at
/// once, including those of commands written later.
fn exit_quietly_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE_STATUS);
        }
        default(info);
    }));
}
