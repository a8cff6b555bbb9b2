//! `cargo xtask sfn run` and `cargo xtask sfn serve`: the local Step
//! Functions executor (sfn-local) with real function binaries, either for
//! one execution of a definition file or as a Step Functions endpoint.
//!
//! `run` prints one JSON object `{"status", "output", "error", "cause",
//! "events"}` on stdout. Its exit code is 0 whenever the execution ran,
//! whatever its status, so a rehearsal can inspect a failed execution; it
//! is non-zero only when the definition or the input is invalid.
//!
//! `serve` serves AWS's Step Functions API on 127.0.0.1, prints
//! `listening on http://127.0.0.1:<port>` on stdout once it accepts
//! requests, and serves until Ctrl-C or SIGTERM, when it stops the running
//! executions and kills the function processes. Both commands build the
//! executor the same way, so an execution records the same history in
//! either. Function logs go to stderr, so stdout stays machine-readable.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use sfn_local::{
    ExecutionResult, Executor, ExecutorConfig, FunctionConfig, LogSink, Server, StateMachine,
};

const USAGE: &str = "\
usage: cargo xtask sfn run <definition.json> [options]
       cargo xtask sfn serve [options]

options of both:
  --function NAME=PATH        a function binary, the NAME in the Lambda ARN; repeatable
  --env NAME:KEY=VALUE        an environment variable of function NAME; repeatable
  --region REGION             the executions' region (default us-east-1)
  --timeout SECONDS           the functions' timeout (default 3)
  --virtual-time              record Wait and Retry delays without sleeping

run:
  --input <json|@file>        execution input (default {})
  --sub NAME=VALUE            a ${NAME} placeholder substitution; repeatable.
                              --function also defines ${<Name>FunctionArn} (detect -> DetectFunctionArn)
  --aws-endpoint-url URL      the local AWS endpoint (moto) of --region, for service integrations

serve:
  --port PORT                 the port on 127.0.0.1 (default 8083; 0 picks a free one)
  --aws-endpoint REGION=URL   the local AWS endpoint (moto) of a region; repeatable.
                              A task in a region without one fails: nothing reaches AWS
";

/// What both commands take: the functions and how executions run.
struct Common {
    functions: Vec<(String, PathBuf)>,
    env: Vec<(String, String, String)>,
    region: String,
    timeout: u64,
    virtual_time: bool,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            functions: Vec::new(),
            env: Vec::new(),
            region: "us-east-1".to_owned(),
            timeout: 3,
            virtual_time: false,
        }
    }
}

struct RunOptions {
    common: Common,
    definition: PathBuf,
    input: String,
    substitutions: HashMap<String, String>,
    endpoint: Option<String>,
}

struct ServeOptions {
    common: Common,
    port: u16,
    endpoints: HashMap<String, String>,
}

fn pair(value: &str, what: &str) -> anyhow::Result<(String, String)> {
    value
        .split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .with_context(|| format!("{what} must be written NAME=VALUE, not `{value}`"))
}

/// `--env NAME:KEY=VALUE`.
fn function_env(value: &str) -> anyhow::Result<(String, String, String)> {
    let (function, setting) = value
        .split_once(':')
        .with_context(|| format!("--env must be written NAME:KEY=VALUE, not `{value}`"))?;
    let (key, value) = pair(setting, "--env")?;
    Ok((function.to_owned(), key, value))
}

fn parse_run(args: Vec<String>) -> anyhow::Result<RunOptions> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut definition = None;
    let mut options = RunOptions {
        common: Common::default(),
        definition: PathBuf::new(),
        input: "{}".to_owned(),
        substitutions: HashMap::new(),
        endpoint: None,
    };
    let common = &mut options.common;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("input") => options.input = parser.value()?.string()?,
            Long("sub") => {
                let (name, value) = pair(&parser.value()?.string()?, "--sub")?;
                options.substitutions.insert(name, value);
            }
            Long("aws-endpoint-url") => options.endpoint = Some(parser.value()?.string()?),
            Long("function") => {
                let (name, path) = pair(&parser.value()?.string()?, "--function")?;
                common.functions.push((name, PathBuf::from(path)));
            }
            Long("env") => common.env.push(function_env(&parser.value()?.string()?)?),
            Long("region") => common.region = parser.value()?.string()?,
            Long("timeout") => common.timeout = parser.value()?.parse()?,
            Long("virtual-time") => common.virtual_time = true,
            Long("help") | Short('h') => help(),
            Value(path) if definition.is_none() => definition = Some(PathBuf::from(path)),
            other => bail!("{}", other.unexpected()),
        }
    }
    options.definition = definition.context("missing <definition.json>")?;
    Ok(options)
}

fn parse_serve(args: Vec<String>) -> anyhow::Result<ServeOptions> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = ServeOptions {
        common: Common::default(),
        port: 8083,
        endpoints: HashMap::new(),
    };
    let common = &mut options.common;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("port") => options.port = parser.value()?.parse()?,
            Long("aws-endpoint") => {
                let (region, url) = pair(&parser.value()?.string()?, "--aws-endpoint")?;
                options.endpoints.insert(region, url);
            }
            Long("function") => {
                let (name, path) = pair(&parser.value()?.string()?, "--function")?;
                common.functions.push((name, PathBuf::from(path)));
            }
            Long("env") => common.env.push(function_env(&parser.value()?.string()?)?),
            Long("region") => common.region = parser.value()?.string()?,
            Long("timeout") => common.timeout = parser.value()?.parse()?,
            Long("virtual-time") => common.virtual_time = true,
            Long("help") | Short('h') => help(),
            other => bail!("{}", other.unexpected()),
        }
    }
    Ok(options)
}

fn help() -> ! {
    print!("{USAGE}");
    std::process::exit(0);
}

/// A function started here talks to the region's local endpoint, never to
/// AWS: it gets `AWS_ENDPOINT_URL` from `--aws-endpoint(-url)` unless its
/// own `--env` sets one, and without either the command refuses.
fn with_local_endpoint(
    function: FunctionConfig,
    region: &str,
    endpoints: &HashMap<String, String>,
) -> anyhow::Result<FunctionConfig> {
    const ENDPOINT: &str = "AWS_ENDPOINT_URL";
    if function.environment.contains_key(ENDPOINT) {
        return Ok(function);
    }
    match endpoints.get(region) {
        Some(url) => Ok(function.env(ENDPOINT, url)),
        None => bail!(
            "function `{}` would reach real AWS: give the local endpoint of {region} \
             (sfn run --aws-endpoint-url URL, sfn serve --aws-endpoint {region}=URL) \
             or --env {}:{ENDPOINT}=URL",
            function.name,
            function.name
        ),
    }
}

/// The executor both commands use: the functions with their settings,
/// the region, the local endpoints, the clock, logs on stderr.
fn executor_config(
    common: &Common,
    endpoints: HashMap<String, String>,
) -> anyhow::Result<ExecutorConfig> {
    let mut functions = Vec::new();
    for (name, path) in &common.functions {
        if !path.exists() {
            bail!(
                "the binary of function `{name}` does not exist: {}",
                path.display()
            );
        }
        let mut function = FunctionConfig::new(name.clone(), path.clone())
            .timeout(std::time::Duration::from_secs(common.timeout));
        for (_, key, value) in common.env.iter().filter(|(f, _, _)| f == name) {
            function = function.env(key, value);
        }
        functions.push(with_local_endpoint(function, &common.region, &endpoints)?);
    }
    if let Some((function, _, _)) = common
        .env
        .iter()
        .find(|(f, _, _)| !common.functions.iter().any(|(n, _)| n == f))
    {
        bail!("--env names `{function}`, which no --function defines");
    }
    Ok(ExecutorConfig {
        functions,
        region: common.region.clone(),
        aws_endpoint_urls: endpoints,
        virtual_time: common.virtual_time,
        function_logs: LogSink::Stderr,
        ..ExecutorConfig::default()
    })
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("run") => run_definition(&parse_run(args.collect()).map_err(usage)?),
        Some("serve") => serve(parse_serve(args.collect()).map_err(usage)?),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(crate::usage_error(
            format!("unknown `sfn` command `{other}`"),
            USAGE,
        )),
    }
}

/// A bad `sfn` command line, with the usage.
fn usage(error: anyhow::Error) -> anyhow::Error {
    crate::usage_error(format!("{error:#}"), USAGE)
}

fn run_definition(options: &RunOptions) -> anyhow::Result<()> {
    let result = execute(options)?;
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

/// `sfn run`'s execution: the definition with its placeholders filled,
/// run to its end.
fn execute(options: &RunOptions) -> anyhow::Result<ExecutionResult> {
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
    let common = &options.common;
    let endpoints = options
        .endpoint
        .iter()
        .map(|url| (common.region.clone(), url.clone()))
        .collect();
    let config = executor_config(common, endpoints)?;
    let mut substitutions = options.substitutions.clone();
    for (name, _) in &common.functions {
        substitutions
            .entry(moat_stack::function_placeholder(name))
            .or_insert_with(|| {
                format!(
                    "arn:aws:lambda:{}:{}:function:{name}",
                    config.region, config.account_id
                )
            });
    }
    let name = options
        .definition
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("StateMachine");
    let name = name.strip_suffix(".asl").unwrap_or(name);
    let machine = StateMachine::new(name, &text, &substitutions)?;
    let executor = Executor::new(config);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(executor.run_to_completion(&machine, None, input));
    executor.shutdown();
    Ok(result)
}

fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let config = executor_config(&options.common, options.endpoints)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let address = SocketAddr::from(([127, 0, 0, 1], options.port));
        let server = Server::bind(address, config)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let local = server.local_addr()?;
        println!("listening on http://{local}");
        println!("console at http://{local}/");
        // A parent reading the pipe waits for this line before it connects.
        std::io::stdout().flush()?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?;
        server
            .serve(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            })
            .await;
        eprintln!("sfn serve: stopped; running executions were aborted and functions killed");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};

    use super::*;

    const FIXTURE: &str = "crates/sfn-local/tests/fixtures/server.asl.json";

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn serve_takes_ports_endpoints_functions_and_their_environment() {
        let options = parse_serve(args(
            "--port 0 --aws-endpoint us-east-1=http://127.0.0.1:5000 --function detect=/bin/true --env detect:TABLE=records --virtual-time",
        ))
        .unwrap();
        assert_eq!(options.port, 0);
        assert_eq!(options.endpoints["us-east-1"], "http://127.0.0.1:5000");
        assert!(options.common.virtual_time);
        let config = executor_config(&options.common, options.endpoints).unwrap();
        assert_eq!(config.functions[0].environment["TABLE"], "records");
        assert_eq!(
            config.functions[0].environment["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000",
            "a function gets the region's local endpoint"
        );
        let nowhere = parse_serve(args("--function detect=/bin/true")).unwrap();
        let refused = executor_config(&nowhere.common, HashMap::new()).unwrap_err();
        assert!(
            refused.to_string().contains("would reach real AWS"),
            "{refused}"
        );
        let own = parse_serve(args(
            "--function detect=/bin/true --env detect:AWS_ENDPOINT_URL=http://127.0.0.1:1",
        ))
        .unwrap();
        assert!(executor_config(&own.common, HashMap::new()).is_ok());
        let stray = parse_serve(args("--env notify:A=B")).unwrap();
        assert!(executor_config(&stray.common, HashMap::new()).is_err());
        assert!(parse_serve(args("--aws-endpoint http://127.0.0.1:5000")).is_err());
    }

    /// The fixture's Task names a function neither command is given, so
    /// both record the same caught `Lambda.ResourceNotFoundException`
    /// without a binary to build.
    #[test]
    fn run_and_serve_record_the_same_history() {
        let root = local_aws::workspace_root();
        let common = Common {
            virtual_time: true,
            ..Common::default()
        };
        let options = RunOptions {
            common,
            definition: root.join(FIXTURE),
            input: r#"{"action": "probe", "value": 1}"#.to_owned(),
            substitutions: HashMap::new(),
            endpoint: None,
        };
        let ran = execute(&options).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let served = runtime.block_on(serve_once(&options)).unwrap();
        let shape: Vec<(i64, i64, String)> = ran
            .events
            .iter()
            .map(|e| {
                (
                    e.id as i64,
                    e.previous_event_id as i64,
                    e.event_type.clone(),
                )
            })
            .collect();
        assert_eq!(shape, served);
        assert!(shape.iter().any(|(_, _, t)| t == "LambdaFunctionFailed"));
    }

    /// The same execution through `serve`'s endpoint, driven by the SDK.
    async fn serve_once(options: &RunOptions) -> anyhow::Result<Vec<(i64, i64, String)>> {
        let config = executor_config(&options.common, HashMap::new())?;
        let role = config.role_arn.clone();
        let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await?;
        let sdk = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://{}", server.local_addr()?))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "xtask"))
            .build();
        let client = aws_sdk_sfn::Client::from_conf(sdk);
        tokio::spawn(server.serve(std::future::pending()));
        let definition = std::fs::read_to_string(&options.definition)?;
        let machine = client
            .create_state_machine()
            .name("server")
            .definition(definition)
            .role_arn(role)
            .send()
            .await?
            .state_machine_arn;
        let execution = client
            .start_execution()
            .state_machine_arn(machine)
            .input(&options.input)
            .send()
            .await?
            .execution_arn;
        for _ in 0..200 {
            let history = client
                .get_execution_history()
                .execution_arn(&execution)
                .send()
                .await?;
            let last = history.events.last().map(|e| e.r#type.as_str().to_owned());
            if last.is_some_and(|t| t.starts_with("Execution") && t != "ExecutionStarted") {
                let shape = history.events.iter();
                return Ok(shape
                    .map(|e| (e.id, e.previous_event_id, e.r#type.as_str().to_owned()))
                    .collect());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the served execution did not end within 200 polls")
    }
}
