//! `cargo xtask sfn run`: runs a state machine definition on the local
//! executor (sfn-local) with real function binaries, and prints one JSON
//! object `{"status", "output", "error", "cause", "events"}` on stdout.
//!
//! The exit code is 0 whenever the execution ran, whatever its status, so a
//! rehearsal can inspect a failed execution; it is non-zero only when the
//! definition or the input is invalid. Function logs go to stderr, so stdout
//! stays one JSON document.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use sfn_local::{Executor, ExecutorConfig, FunctionConfig, LogSink, StateMachine};

const USAGE: &str = "\
usage: cargo xtask sfn run <definition.json> [options]

options:
  --input <json|@file>        execution input (default {})
  --function NAME=PATH        a function binary; repeatable. Also defines the
                              placeholder ${<Name>FunctionArn} (detect -> DetectFunctionArn)
  --sub NAME=VALUE            a ${NAME} placeholder substitution; repeatable
  --aws-endpoint-url URL      the local AWS endpoint (moto) for service integrations
  --region REGION             the execution's region (default us-east-1)
  --timeout SECONDS           the functions' timeout (default 3)
  --virtual-time              record Wait and Retry delays without sleeping
";

struct Options {
    definition: PathBuf,
    input: String,
    functions: Vec<(String, PathBuf)>,
    substitutions: HashMap<String, String>,
    endpoint: Option<String>,
    region: String,
    timeout: u64,
    virtual_time: bool,
}

fn pair(value: &str, what: &str) -> anyhow::Result<(String, String)> {
    value
        .split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .with_context(|| format!("{what} must be written NAME=VALUE, not `{value}`"))
}

fn parse(args: Vec<String>) -> anyhow::Result<Options> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut definition = None;
    let mut options = Options {
        definition: PathBuf::new(),
        input: "{}".to_owned(),
        functions: Vec::new(),
        substitutions: HashMap::new(),
        endpoint: None,
        region: "us-east-1".to_owned(),
        timeout: 3,
        virtual_time: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("input") => options.input = parser.value()?.string()?,
            Long("function") => {
                let (name, path) = pair(&parser.value()?.string()?, "--function")?;
                options.functions.push((name, PathBuf::from(path)));
            }
            Long("sub") => {
                let (name, value) = pair(&parser.value()?.string()?, "--sub")?;
                options.substitutions.insert(name, value);
            }
            Long("aws-endpoint-url") => options.endpoint = Some(parser.value()?.string()?),
            Long("region") => options.region = parser.value()?.string()?,
            Long("timeout") => options.timeout = parser.value()?.parse()?,
            Long("virtual-time") => options.virtual_time = true,
            Long("help") | Short('h') => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Value(path) if definition.is_none() => definition = Some(PathBuf::from(path)),
            other => bail!("{}\n\n{USAGE}", other.unexpected()),
        }
    }
    options.definition =
        definition.with_context(|| format!("missing <definition.json>\n\n{USAGE}"))?;
    Ok(options)
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("run") => {}
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            return Ok(());
        }
        Some(other) => bail!("unknown `sfn` command `{other}`\n\n{USAGE}"),
    }
    let options = parse(args.collect())?;
    let text = std::fs::read_to_string(&options.definition).with_context(|| {
        format!(
            "cannot read the definition {}",
            options.definition.display()
        )
    })?;
    let input_text = match options.input.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the input file {file}"))?,
        None => options.input.clone(),
    };
    let input = sfn_local::parse_input(&input_text)?;
    let config = ExecutorConfig::default();
    let mut substitutions = options.substitutions.clone();
    let mut functions = Vec::new();
    for (name, path) in &options.functions {
        if !path.exists() {
            bail!(
                "the binary of function `{name}` does not exist: {}",
                path.display()
            );
        }
        substitutions
            .entry(moat_stack::function_placeholder(name))
            .or_insert_with(|| {
                format!(
                    "arn:aws:lambda:{}:{}:function:{name}",
                    options.region, config.account_id
                )
            });
        functions.push(
            FunctionConfig::new(name.clone(), path.clone())
                .timeout(std::time::Duration::from_secs(options.timeout)),
        );
    }
    let name = options
        .definition
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("StateMachine");
    let name = name.strip_suffix(".asl").unwrap_or(name);
    let machine = StateMachine::new(name, &text, &substitutions)?;
    let endpoints = options
        .endpoint
        .iter()
        .map(|url| (options.region.clone(), url.clone()))
        .collect();
    let executor = Executor::new(ExecutorConfig {
        functions,
        region: options.region.clone(),
        aws_endpoint_urls: endpoints,
        virtual_time: options.virtual_time,
        function_logs: LogSink::Stderr,
        ..config
    });
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(executor.run_to_completion(&machine, None, input));
    executor.shutdown();
    let report = serde_json::json!({
        "status": result.description.status,
        "output": result.output(),
        "error": result.description.error,
        "cause": result.description.cause,
        "events": result.events,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
