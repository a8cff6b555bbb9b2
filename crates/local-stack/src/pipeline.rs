//! The remediation pipeline on one machine: the exact state machine in
//! `statemachines/`, created in a local Step Functions endpoint whose
//! executor runs the real function binaries, and started through the
//! endpoint's API (`aws-sdk-sfn`) for each event the EventBridge rule
//! delivers, as the rule's Step Functions target would start it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use sfn_local::server::Executions;
use sfn_local::{ExecutionResult, Executor, ExecutorConfig, FunctionConfig, LogSink};

use crate::endpoint::Endpoint;

use crate::{ACCOUNT, Error, RegionStack, StackSpec};

/// The directory holding the function binaries: `MOAT_FUNCTIONS_DIR`, or the
/// workspace's `target/debug` (honouring `CARGO_TARGET_DIR`).
pub fn functions_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOAT_FUNCTIONS_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| local_aws::workspace_root().join("target"));
    target.join("debug")
}

/// How to run the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub functions_dir: PathBuf,
    /// Record Wait and Retry intervals without sleeping them.
    pub virtual_time: bool,
    pub function_logs: LogSink,
    /// Extra environment for every function, after the stack's own (for
    /// instance `AWS_ENDPOINT_URL` pointing at a fault-injecting proxy).
    pub extra_env: Vec<(String, String)>,
    /// At most this many environments of each function at once (a storm
    /// bounded to what this machine can run); `None` for no bound.
    pub max_environments: Option<usize>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            functions_dir: functions_dir(),
            virtual_time: true,
            function_logs: LogSink::Discard,
            extra_env: Vec::new(),
            max_environments: None,
        }
    }
}

/// The state machine in a local Step Functions endpoint with Moat's
/// functions, for one region; executions start through the endpoint's API.
pub struct Pipeline {
    /// The executor behind the endpoint (its Lambda reports).
    pub executor: Executor,
    endpoint: Endpoint,
}

/// An execution started through the endpoint; it owns what it waits
/// with, so a waiting task may outlive the borrow of the pipeline.
pub struct Started {
    pub execution_arn: String,
    executions: Executions,
}

impl Started {
    /// Waits for the execution to end.
    pub async fn wait(self) -> ExecutionResult {
        match self.executions.ended(&self.execution_arn).await {
            Some(result) => result.as_ref().clone(),
            // The endpoint answered StartExecution with this ARN, so it
            // knows it; anything else is a bug in the endpoint.
            None => panic!("the endpoint forgot {}", self.execution_arn),
        }
    }
}

impl Pipeline {
    /// Serves `stack`'s region and creates the state machine in it. Fails
    /// with the command to run when a function binary has not been built.
    pub async fn new(
        spec: &StackSpec,
        stack: &RegionStack,
        options: &PipelineOptions,
    ) -> Result<Pipeline, Error> {
        let endpoint = Endpoint::start(spec, stack, options).await?;
        Ok(Pipeline {
            executor: endpoint.executor.clone(),
            endpoint,
        })
    }

    /// The endpoint, for operator commands and their tests.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Starts one execution for an EventBridge event with `StartExecution`,
    /// as the rule's Step Functions target would.
    pub async fn start(&self, event: Value) -> Result<Started, Error> {
        let execution_arn = self.endpoint.start_execution(&event, None).await?;
        Ok(Started {
            execution_arn,
            executions: self.endpoint.executions(),
        })
    }

    /// Takes the events the rule delivered until `expected` have arrived or
    /// `patience` has passed, starting an execution for each as it arrives,
    /// then waits for all of them.
    pub async fn run_delivered(
        &self,
        stack: &RegionStack,
        expected: usize,
        patience: Duration,
    ) -> Result<Vec<ExecutionResult>, Error> {
        let started_at = Instant::now();
        let mut running = Vec::new();
        while running.len() < expected && started_at.elapsed() < patience {
            for event in stack.take_events(1).await? {
                running.push(self.start(event).await?);
            }
        }
        let mut results = Vec::new();
        for execution in running {
            results.push(execution.wait().await);
        }
        Ok(results)
    }

    /// Stops the endpoint and every function process.
    pub async fn shutdown(self) {
        self.executor.shutdown();
        self.endpoint.stop().await;
    }
}

/// The remediation state machine's definition for `stack`'s region, its
/// placeholders filled in, as Terraform would create it.
pub fn definition(spec: &StackSpec, stack: &RegionStack) -> Result<String, Error> {
    fill(
        spec.state_machine_path(),
        &spec.state_machine_definition()?,
        spec,
        stack,
    )
}

/// The sweep state machine's definition for `stack`'s region.
pub fn sweep_definition(spec: &StackSpec, stack: &RegionStack) -> Result<String, Error> {
    fill(
        spec.sweep_state_machine_path(),
        &spec.sweep_state_machine_definition()?,
        spec,
        stack,
    )
}

fn fill(
    path: std::path::PathBuf,
    text: &str,
    spec: &StackSpec,
    stack: &RegionStack,
) -> Result<String, Error> {
    let placeholders: HashMap<String, String> = stack.placeholders(spec).into_iter().collect();
    sfn_local::substitute(text, &placeholders).map_err(|error| Error::Definition {
        path,
        message: error.to_string(),
    })
}

/// The executor's setup for `stack`'s region: every function with its
/// settings and environment, and the region's moto for integrations.
pub fn executor_config(
    spec: &StackSpec,
    stack: &RegionStack,
    options: &PipelineOptions,
) -> Result<ExecutorConfig, Error> {
    let mut functions = Vec::new();
    for (name, function) in &spec.functions {
        let binary = options.functions_dir.join(name);
        if !binary.exists() {
            return Err(missing_binary(&binary));
        }
        let mut config = FunctionConfig::new(spec.function_name_of(name), binary)
            .timeout(Duration::from_secs(function.timeout_seconds))
            .memory_mb(u32::try_from(function.memory_mb).unwrap_or(u32::MAX));
        if let Some(max) = options.max_environments {
            config = config.max_environments(max);
        }
        let mut environment = stack.function_env(spec, name)?;
        environment.extend(options.extra_env.iter().cloned());
        for (key, value) in &environment {
            config = config.env(key, value);
        }
        functions.push(config);
    }
    Ok(ExecutorConfig {
        functions,
        region: stack.region().to_owned(),
        account_id: ACCOUNT.to_owned(),
        aws_endpoint_urls: HashMap::from([(stack.region().to_owned(), stack.moto.endpoint_url())]),
        virtual_time: options.virtual_time,
        function_logs: options.function_logs,
        role_arn: state_machine_role_arn(spec, stack),
        ..ExecutorConfig::default()
    })
}

/// The role the sweep state machine runs as in `stack`'s region.
pub fn sweep_state_machine_role_arn(spec: &StackSpec, stack: &RegionStack) -> String {
    format!(
        "arn:aws:iam::{ACCOUNT}:role/{}",
        spec.sweep_state_machine_role_in(stack.region())
    )
}

/// The role the state machine runs as in `stack`'s region.
pub fn state_machine_role_arn(spec: &StackSpec, stack: &RegionStack) -> String {
    format!(
        "arn:aws:iam::{ACCOUNT}:role/{}",
        spec.state_machine_role_in(stack.region())
    )
}

fn missing_binary(binary: &Path) -> Error {
    Error::MissingBinary {
        path: binary.to_owned(),
    }
}
