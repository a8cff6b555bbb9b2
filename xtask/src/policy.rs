//! `cargo xtask policy`: check a policy document, and judge a group with it
//! offline.
//!
//! - `validate <file>` prints every problem with its JSON path and fails
//!   when there is one.
//! - `eval --policy <file> --group <file> [--today YYYY-MM-DD]
//!   [--account ID] [--region NAME]` prints the evaluation as pretty JSON.
//!   The group file is either a Moat snapshot (as backups store it) or the
//!   JSON printed by `aws ec2 describe-security-group-rules`, optionally with
//!   the group's `describe-security-groups` entry under `SecurityGroups`.
//! - `push` uploads to the policy bucket; it needs the AWS adapter.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use lexopt::prelude::*;
use moat_domain::Error;
use moat_domain::describe::snapshot_from_cli_json;
use moat_domain::policy::{Policy, evaluate};
use moat_domain::snapshot::GroupSnapshot;

const USAGE: &str = "\
usage: cargo xtask policy validate <file>
       cargo xtask policy eval --policy <file> --group <file> [--today YYYY-MM-DD] [--account ID] [--region NAME]
       cargo xtask policy push <file>";

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        bail!("missing subcommand\n\n{USAGE}");
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "validate" => Validate::parse(rest)?.run(),
        "eval" => Eval::parse(rest)?.run(),
        "push" => anyhow::bail!("policy push needs the AWS adapter; not wired yet"),
        other => bail!("unknown subcommand `policy {other}`\n\n{USAGE}"),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads a policy file, printing every problem on its own line before
/// failing, because one long error line is hard to act on.
fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    match Policy::from_json(&read(path)?) {
        Ok(policy) => Ok(policy),
        Err(Error::InvalidPolicy { problems }) => {
            for problem in &problems {
                eprintln!("{}: {problem}", path.display());
            }
            bail!(
                "{} is not a valid policy: {} problem(s)",
                path.display(),
                problems.len()
            )
        }
        Err(other) => Err(other.into()),
    }
}

struct Validate {
    file: PathBuf,
}

impl Validate {
    fn parse(args: Vec<String>) -> anyhow::Result<Validate> {
        let mut parser = lexopt::Parser::from_args(args);
        let mut file = None;
        while let Some(arg) = parser.next()? {
            match arg {
                Value(value) if file.is_none() => file = Some(PathBuf::from(value)),
                other => return Err(other.unexpected().into()),
            }
        }
        let Some(file) = file else {
            bail!("missing <file>\n\n{USAGE}");
        };
        Ok(Validate { file })
    }

    fn run(self) -> anyhow::Result<()> {
        let policy = load_policy(&self.file)?;
        println!(
            "{}: ok, policy {} version {}, {} rules",
            self.file.display(),
            policy.id(),
            policy.version(),
            policy.rules().len()
        );
        Ok(())
    }
}

struct Eval {
    policy: PathBuf,
    group: PathBuf,
    today: Option<NaiveDate>,
    account: String,
    region: String,
}

impl Eval {
    fn parse(args: Vec<String>) -> anyhow::Result<Eval> {
        let mut parser = lexopt::Parser::from_args(args);
        let (mut policy, mut group, mut today) = (None, None, None);
        let mut account = String::new();
        let mut region = "us-east-1".to_owned();
        while let Some(arg) = parser.next()? {
            match arg {
                Long("policy") => policy = Some(PathBuf::from(parser.value()?)),
                Long("group") => group = Some(PathBuf::from(parser.value()?)),
                Long("today") => {
                    let text: String = parser.value()?.parse()?;
                    let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .with_context(|| format!("--today {text} is not a date YYYY-MM-DD"))?;
                    today = Some(date);
                }
                Long("account") => account = parser.value()?.parse()?,
                Long("region") => region = parser.value()?.parse()?,
                other => return Err(other.unexpected().into()),
            }
        }
        let (Some(policy), Some(group)) = (policy, group) else {
            bail!("eval needs --policy and --group\n\n{USAGE}");
        };
        Ok(Eval {
            policy,
            group,
            today,
            account,
            region,
        })
    }

    fn run(self) -> anyhow::Result<()> {
        let policy = load_policy(&self.policy)?;
        let text = read(&self.group)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", self.group.display()))?;
        let group = self.snapshot(value)?;
        // The domain never reads the clock; this edge does, unless the
        // operator pins the date to replay a past decision.
        let today = self
            .today
            .unwrap_or_else(|| chrono::Utc::now().date_naive());
        let evaluation = evaluate(&policy, &group, today);
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
        Ok(())
    }

    fn snapshot(&self, value: serde_json::Value) -> anyhow::Result<GroupSnapshot> {
        let from_cli =
            value.get("SecurityGroupRules").is_some() || value.get("SecurityGroups").is_some();
        if from_cli {
            snapshot_from_cli_json(&value, &self.account, &self.region)
                .with_context(|| format!("reading {}", self.group.display()))
        } else {
            serde_json::from_value(value).with_context(|| {
                format!(
                    "{} is neither CLI output nor a Moat snapshot",
                    self.group.display()
                )
            })
        }
    }
}
