//! The remediation pipeline behind a local Step Functions endpoint: an
//! `sfn_local::Server` on loopback with the region's functions, both state
//! machines (remediation and sweep) created in it through `aws-sdk-sfn` as
//! Terraform creates them, and
//! executions started through the API as EventBridge's target starts them.
//!
//! This is what makes the operator commands (`executions`, `approve`,
//! `reject`, `lockdown`) testable end to end: they reach the endpoint with
//! `AWS_ENDPOINT_URL_SFN` and the same `aws-sdk-sfn` calls they make in AWS.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::pipeline::{
    PipelineOptions, definition, executor_config, state_machine_role_arn, sweep_definition,
    sweep_state_machine_role_arn,
};
use crate::{Error, RegionStack, StackSpec};

/// How often `wait` asks whether an execution has ended.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A running endpoint with the stack's state machine in it.
pub struct Endpoint {
    /// The executor behind the endpoint: its Lambda reports, its functions.
    pub executor: sfn_local::Executor,
    executions: sfn_local::server::Executions,
    url: String,
    region: String,
    machine_arn: String,
    sweep_machine_arn: String,
    client: Client,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl Endpoint {
    /// Serves `stack`'s region on a free loopback port and creates the
    /// state machine there.
    pub async fn start(
        spec: &StackSpec,
        stack: &RegionStack,
        options: &PipelineOptions,
    ) -> Result<Endpoint, Error> {
        let region = stack.region().to_owned();
        let aws_error = |operation: &'static str, message: String| Error::Aws {
            operation,
            region: region.clone(),
            message,
        };
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = sfn_local::Server::bind(address, executor_config(spec, stack, options)?)
            .await
            .map_err(|e| aws_error("binding the Step Functions endpoint", e.to_string()))?;
        let bound = server
            .local_addr()
            .map_err(|e| aws_error("binding the Step Functions endpoint", e.to_string()))?;
        let url = format!("http://{bound}");
        let executor = server.executor().clone();
        let executions = server.executions();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        let client = Client::new(&local_aws::sdk_config(&url, &region).await);
        let create = |name: &str, definition: String, role: String| {
            let client = client.clone();
            let name = name.to_owned();
            async move {
                let created = client
                    .create_state_machine()
                    .name(name)
                    .definition(definition)
                    .role_arn(role)
                    .send()
                    .await;
                created.map(|created| created.state_machine_arn().to_owned())
            }
        };
        let machine_arn = create(
            &spec.state_machine,
            definition(spec, stack)?,
            state_machine_role_arn(spec, stack),
        )
        .await
        .map_err(|e| aws_error("CreateStateMachine", moat_domain::error::display_chain(&e)))?;
        let sweep_machine_arn = create(
            &spec.sweep_state_machine,
            sweep_definition(spec, stack)?,
            sweep_state_machine_role_arn(spec, stack),
        )
        .await
        .map_err(|e| aws_error("CreateStateMachine", moat_domain::error::display_chain(&e)))?;
        Ok(Endpoint {
            executor,
            executions,
            url,
            region,
            machine_arn,
            sweep_machine_arn,
            client,
            shutdown,
            serving,
        })
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_SFN`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The remediation state machine's ARN.
    pub fn machine_arn(&self) -> &str {
        &self.machine_arn
    }

    /// The sweep state machine's ARN.
    pub fn sweep_machine_arn(&self) -> &str {
        &self.sweep_machine_arn
    }

    /// A client of the endpoint, with the local credentials.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Starts an execution with `input` (named `name`, or a fresh name as
    /// EventBridge gives) and returns its ARN.
    pub async fn start_execution(
        &self,
        input: &Value,
        name: Option<&str>,
    ) -> Result<String, Error> {
        let started = self
            .client
            .start_execution()
            .state_machine_arn(&self.machine_arn)
            .input(input.to_string())
            .set_name(name.map(str::to_owned))
            .send()
            .await
            .map_err(|e| self.error("StartExecution", &e))?;
        Ok(started.execution_arn().to_owned())
    }

    /// The results of the executions this endpoint runs.
    pub fn executions(&self) -> sfn_local::server::Executions {
        self.executions.clone()
    }

    /// The finished execution as the executor recorded it (description and
    /// history), once it has ended; `None` for an ARN it never started.
    pub async fn result(&self, execution_arn: &str) -> Option<sfn_local::ExecutionResult> {
        let result = self.executions.ended(execution_arn).await?;
        Some(result.as_ref().clone())
    }

    /// Waits until the execution has ended, at most `patience`.
    pub async fn wait(
        &self,
        execution_arn: &str,
        patience: Duration,
    ) -> Result<DescribeExecutionOutput, Error> {
        let started = Instant::now();
        loop {
            let described = self.describe(execution_arn).await?;
            if *described.status() != ExecutionStatus::Running {
                return Ok(described);
            }
            if started.elapsed() > patience {
                return Err(Error::Aws {
                    operation: "waiting for an execution",
                    region: self.region.clone(),
                    message: format!("{execution_arn} still runs after {patience:?}"),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `DescribeExecution`.
    pub async fn describe(&self, execution_arn: &str) -> Result<DescribeExecutionOutput, Error> {
        self.client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| self.error("DescribeExecution", &e))
    }

    /// Stops the endpoint: running executions are stopped and every
    /// function process is killed before this returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.serving.await;
    }

    fn error(&self, operation: &'static str, error: &dyn std::error::Error) -> Error {
        Error::Aws {
            operation,
            region: self.region.clone(),
            message: moat_domain::error::display_chain(error),
        }
    }
}
