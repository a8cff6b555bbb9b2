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
//! - `push <file> --bucket <name> [--key <key>] [--yes]` validates the file,
//!   shows what the bucket holds now and what would change, and uploads only
//!   with `--yes`. AWS access comes from the standard environment (profile,
//!   `AWS_REGION`, `AWS_ENDPOINT_URL` for a local stack).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use lexopt::prelude::*;
use moat_domain::Error;
use moat_domain::describe::snapshot_from_cli_json;
use moat_domain::policy::{Policy, evaluate};
use moat_domain::snapshot::GroupSnapshot;

const VALIDATE_USAGE: &str = "cargo xtask policy validate <file>";
const EVAL_USAGE: &str = "cargo xtask policy eval --policy <file> --group <file> [--today YYYY-MM-DD] [--account ID] [--region NAME]";
const PUSH_USAGE: &str = "cargo xtask policy push <file> --bucket <name> [--key <key>] [--yes]";

fn usage() -> String {
    format!("usage: {VALIDATE_USAGE}\n       {EVAL_USAGE}\n       {PUSH_USAGE}")
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Err(crate::usage_error("missing subcommand", &usage()));
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "validate" => parse_then_run(rest, VALIDATE_USAGE, Validate::parse, Validate::run),
        "eval" => parse_then_run(rest, EVAL_USAGE, Eval::parse, Eval::run),
        "push" => parse_then_run(rest, PUSH_USAGE, Push::parse, Push::run),
        "help" | "--help" | "-h" => {
            println!("{}", usage());
            Ok(())
        }
        other => Err(crate::usage_error(
            format!("unknown subcommand `policy {other}`"),
            &usage(),
        )),
    }
}

/// Whether a `policy` command line parses, without running it (the
/// runbooks' tidy test).
pub(crate) fn parses(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "validate" => Validate::parse(rest).map(drop),
        "eval" => Eval::parse(rest).map(drop),
        "push" => Push::parse(rest).map(drop),
        other => anyhow::bail!("unknown subcommand `policy {other}`"),
    }
}

/// A subcommand's arguments, or a request for its usage.
enum Parsed<T> {
    Help,
    Run(T),
}

/// Runs a subcommand, or prints its usage when `--help` asks for it. A
/// usage error ends with the subcommand's usage, so every subcommand
/// reports bad arguments the same way.
fn parse_then_run<T>(
    args: Vec<String>,
    usage: &str,
    parse: fn(Vec<String>) -> anyhow::Result<Parsed<T>>,
    run: fn(T) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), usage))? {
        Parsed::Help => {
            println!("usage: {usage}");
            Ok(())
        }
        Parsed::Run(command) => run(command),
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
    fn parse(args: Vec<String>) -> anyhow::Result<Parsed<Validate>> {
        let mut parser = lexopt::Parser::from_args(args);
        let mut file = None;
        while let Some(arg) = parser.next()? {
            match arg {
                Value(value) if file.is_none() => file = Some(PathBuf::from(value)),
                Long("help") | Short('h') => return Ok(Parsed::Help),
                other => return Err(other.unexpected().into()),
            }
        }
        let Some(file) = file else {
            bail!("missing <file>");
        };
        Ok(Parsed::Run(Validate { file }))
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
    fn parse(args: Vec<String>) -> anyhow::Result<Parsed<Eval>> {
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
                Long("help") | Short('h') => return Ok(Parsed::Help),
                other => return Err(other.unexpected().into()),
            }
        }
        let (Some(policy), Some(group)) = (policy, group) else {
            bail!("eval needs --policy and --group");
        };
        Ok(Parsed::Run(Eval {
            policy,
            group,
            today,
            account,
            region,
        }))
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

struct Push {
    file: PathBuf,
    bucket: String,
    key: String,
    yes: bool,
}

impl Push {
    fn parse(args: Vec<String>) -> anyhow::Result<Parsed<Push>> {
        let mut parser = lexopt::Parser::from_args(args);
        let (mut file, mut bucket, mut key, mut yes) =
            (None, None, "policy.json".to_owned(), false);
        while let Some(arg) = parser.next()? {
            match arg {
                Long("bucket") => bucket = Some(parser.value()?.parse()?),
                Long("key") => key = parser.value()?.parse()?,
                Long("yes") => yes = true,
                Value(value) if file.is_none() => file = Some(PathBuf::from(value)),
                Long("help") | Short('h') => return Ok(Parsed::Help),
                other => return Err(other.unexpected().into()),
            }
        }
        let (Some(file), Some(bucket)) = (file, bucket) else {
            bail!("push needs <file> and --bucket");
        };
        Ok(Parsed::Run(Push {
            file,
            bucket,
            key,
            yes,
        }))
    }

    fn run(self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async { self.push_with(&moat_aws::Aws::load().await).await })
    }

    /// Validates, shows the plan, and uploads only with `--yes`.
    async fn push_with(&self, aws: &moat_aws::Aws) -> anyhow::Result<()> {
        // Validate before anything touches AWS: a bad file never leaves.
        let policy = load_policy(&self.file)?;
        let body = read(&self.file)?;
        let location = format!("s3://{}/{}", self.bucket, self.key);
        {
            use moat_aws::policy_store::{PolicySource, S3PolicySource};
            let source = S3PolicySource::new(aws);
            let current = match source.fetch(&self.bucket, &self.key).await {
                Ok(object) => Some(object),
                Err(error) if error.is_not_found() => None,
                Err(error) => {
                    return Err(anyhow::Error::new(error).context(format!("reading {location}")));
                }
            };
            match &current {
                Some(object) if object.body == body => {
                    println!(
                        "{location} already holds this file (etag {}); nothing to do",
                        object.etag
                    );
                    return Ok(());
                }
                Some(object) => match Policy::from_json(&object.body) {
                    Ok(old) => println!(
                        "{location} now: policy {} version {}, {} rules (etag {})",
                        old.id(),
                        old.version(),
                        old.rules().len(),
                        object.etag
                    ),
                    Err(_) => println!("{location} now: an invalid policy (etag {})", object.etag),
                },
                None => println!("{location} does not exist yet"),
            }
            println!(
                "would upload {}: policy {} version {}, {} rules",
                self.file.display(),
                policy.id(),
                policy.version(),
                policy.rules().len()
            );
            if !self.yes {
                println!("dry run: nothing uploaded; run again with --yes to upload");
                return Ok(());
            }
            let object = source
                .put(&self.bucket, &self.key, &body)
                .await
                .with_context(|| format!("uploading to {location}"))?;
            println!(
                "uploaded: etag {}, version {}",
                object.etag,
                object
                    .version_id
                    .as_deref()
                    .unwrap_or("(bucket not versioned)")
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use moat_aws::policy_store::{PolicySource, S3PolicySource};

    use super::*;

    fn args(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    /// The usage error of a subcommand's arguments.
    fn usage_error<T>(parsed: anyhow::Result<Parsed<T>>) -> String {
        match parsed {
            Err(error) => format!("{error:#}"),
            Ok(_) => panic!("the arguments were accepted"),
        }
    }

    #[test]
    fn every_subcommand_takes_help() {
        assert!(matches!(
            Validate::parse(args(&["--help"])),
            Ok(Parsed::Help)
        ));
        assert!(matches!(Eval::parse(args(&["-h"])), Ok(Parsed::Help)));
        assert!(matches!(
            Push::parse(args(&["p.json", "--help"])),
            Ok(Parsed::Help)
        ));
    }

    #[test]
    fn subcommands_parse_their_arguments() {
        let Ok(Parsed::Run(eval)) = Eval::parse(args(&[
            "--policy",
            "p.json",
            "--group",
            "g.json",
            "--today",
            "2030-01-02",
        ])) else {
            panic!("eval did not parse");
        };
        assert_eq!(eval.policy, PathBuf::from("p.json"));
        assert_eq!(eval.group, PathBuf::from("g.json"));
        assert_eq!(eval.today, NaiveDate::from_ymd_opt(2030, 1, 2));
        assert_eq!(eval.region, "us-east-1");

        let Ok(Parsed::Run(push)) = Push::parse(args(&["p.json", "--bucket", "b"])) else {
            panic!("push did not parse");
        };
        assert_eq!(
            (push.file, push.bucket.as_str(), push.key.as_str(), push.yes),
            (PathBuf::from("p.json"), "b", "policy.json", false)
        );
    }

    #[test]
    fn usage_errors_name_the_bad_flag_or_value() {
        let missing = usage_error(Eval::parse(args(&["--policy"])));
        assert!(missing.contains("--policy"), "{missing}");
        let unknown = usage_error(Push::parse(args(&["p.json", "--bucket", "b", "--force"])));
        assert!(unknown.contains("--force"), "{unknown}");
        let bad_date = usage_error(Eval::parse(args(&["--today", "tomorrow"])));
        assert!(bad_date.contains("--today tomorrow"), "{bad_date}");
        let no_file = usage_error(Validate::parse(args(&[])));
        assert!(no_file.contains("<file>"), "{no_file}");
    }

    fn push(file: &str, yes: bool) -> Push {
        Push {
            file: local_aws::workspace_root().join(file),
            bucket: "push-test".into(),
            key: "policy.json".into(),
            yes,
        }
    }

    #[tokio::test]
    async fn push_is_a_dry_run_until_yes_and_never_uploads_an_invalid_file() {
        let moto = local_aws::Moto::start("us-east-1").unwrap_or_else(|error| panic!("{error}"));
        let config = moto.sdk_config().await;
        let s3 = aws_sdk_s3::Client::new(&config);
        s3.create_bucket().bucket("push-test").send().await.unwrap();
        let aws = moat_aws::Aws::from_sdk_config(config);
        let source = S3PolicySource::new(&aws);

        push("policies/default.json", false)
            .push_with(&aws)
            .await
            .unwrap();
        assert!(
            source.fetch("push-test", "policy.json").await.is_err(),
            "a dry run uploads nothing"
        );

        push("policies/default.json", true)
            .push_with(&aws)
            .await
            .unwrap();
        let uploaded = source.fetch("push-test", "policy.json").await.unwrap();
        assert_eq!(uploaded.body, moat_domain::policy::BUILTIN_JSON);

        let invalid = push("xtask/Cargo.toml", true)
            .push_with(&aws)
            .await
            .unwrap_err();
        assert!(
            invalid.to_string().contains("not a valid policy"),
            "{invalid:#}"
        );
        let still = source.fetch("push-test", "policy.json").await.unwrap();
        assert_eq!(
            still.etag, uploaded.etag,
            "the invalid file was not uploaded"
        );
    }
}
