//! A local AWS Step Functions endpoint: AWS's JSON protocol on loopback,
//! so `aws-sdk-sfn`, the AWS CLI and Terraform create state machines and
//! run executions here as they would in AWS. Executions run on the same
//! `Executor` as `cargo xtask sfn run`, so their histories are the same.
//!
//! `protocol` reads requests and writes answers and errors; `machines`,
//! `tags` and `executions` hold one function per action; `registry` is
//! what the endpoint remembers. Actions outside `ACTIONS` are refused with
//! `UnknownOperationException`, naming the action.
//!
//! Invariants: the endpoint adds no way to reach AWS (tasks go through the
//! executor, which never calls real AWS); when `serve` returns, every
//! running execution has been stopped and every function process killed.

mod console;
mod executions;
mod machines;
mod map_runs;
mod protocol;
mod registry;
mod tags;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::executor::{Executor, ExecutorConfig};
use protocol::{ApiError, Body, Reply};
use registry::Registry;

/// The actions served; any other is `UnknownOperationException`.
pub const ACTIONS: &[&str] = &[
    "CreateStateMachine",
    "DescribeStateMachine",
    "ListStateMachines",
    "UpdateStateMachine",
    "DeleteStateMachine",
    "ValidateStateMachineDefinition",
    "ListStateMachineVersions",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "StartExecution",
    "DescribeExecution",
    "DescribeStateMachineForExecution",
    "ListExecutions",
    "GetExecutionHistory",
    "StopExecution",
    "RedriveExecution",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "ListMapRuns",
    "DescribeMapRun",
];

/// What every action works on: the executor, the region and account of
/// the ARNs, and the registry.
pub(super) struct Service {
    executor: Executor,
    config: ExecutorConfig,
    registry: Mutex<Registry>,
}

impl Service {
    /// The registry. Actions take it for a moment and never across an
    /// `await`, so a long request cannot block the others.
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn dispatch(&self, action: &str, body: &Body) -> Reply {
        match action {
            "CreateStateMachine" => machines::create(self, body),
            "DescribeStateMachine" => machines::describe(self, body),
            "ListStateMachines" => machines::list(self, body),
            "UpdateStateMachine" => machines::update(self, body),
            "DeleteStateMachine" => machines::delete(self, body),
            "ValidateStateMachineDefinition" => machines::validate(body),
            "ListStateMachineVersions" => machines::list_versions(self, body),
            "TagResource" => tags::tag(self, body),
            "UntagResource" => tags::untag(self, body),
            "ListTagsForResource" => tags::list(self, body),
            "StartExecution" => executions::start(self, body),
            "DescribeExecution" if map_runs::names_child(body) => {
                map_runs::describe_child(self, body)
            }
            "DescribeExecution" => executions::describe(self, body),
            "DescribeStateMachineForExecution" => executions::describe_machine(self, body),
            "ListExecutions" if body.string("mapRunArn").ok().flatten().is_some() => {
                map_runs::list_children(self, body)
            }
            "ListExecutions" => executions::list(self, body),
            "ListMapRuns" => map_runs::list(self, body),
            "DescribeMapRun" => map_runs::describe(self, body),
            "GetExecutionHistory" if map_runs::names_child(body) => {
                map_runs::child_history(self, body)
            }
            "GetExecutionHistory" => executions::history(self, body),
            "StopExecution" => executions::stop(self, body).await,
            "RedriveExecution" => executions::redrive(self, body),
            "SendTaskSuccess" => executions::task_success(self, body),
            "SendTaskFailure" => executions::task_failure(self, body),
            "SendTaskHeartbeat" => executions::task_heartbeat(self, body),
            other => Err(ApiError::new(
                "UnknownOperationException",
                format!("sfn-local does not serve the action {other}; it serves {ACTIONS:?}"),
            )),
        }
    }

    /// Stops every running execution and waits for each to end, so that
    /// no function is left inside an invocation.
    async fn stop_all(&self) {
        let running: Vec<_> = self
            .registry()
            .executions
            .values()
            .filter(|e| e.result().is_none())
            .cloned()
            .collect();
        for entry in &running {
            let cause = "the sfn-local endpoint shut down".to_owned();
            entry.control.stop(None, Some(cause));
        }
        for entry in running {
            entry.ended().await;
        }
    }
}

/// A Step Functions endpoint bound to a local address.
pub struct Server {
    listener: TcpListener,
    service: Arc<Service>,
}

impl Server {
    /// Binds `address` (port 0 picks a free one) and sets up the executor
    /// that will run every execution. Unless `config` names another
    /// Step Functions endpoint for its region, `states:startExecution`
    /// Tasks start their child executions here, on this endpoint.
    pub async fn bind(address: SocketAddr, mut config: ExecutorConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        // A wildcard address is not one to connect to; loopback reaches it.
        let host = match bound.ip() {
            ip if !ip.is_unspecified() => ip,
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        let itself = format!("http://{}", SocketAddr::new(host, bound.port()));
        config
            .sfn_endpoint_urls
            .entry(config.region.clone())
            .or_insert(itself);
        let service = Arc::new(Service {
            executor: Executor::new(config.clone()),
            config,
            registry: Mutex::new(Registry::default()),
        });
        Ok(Self { listener, service })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The executor that runs the executions (for its Lambda reports).
    pub fn executor(&self) -> &Executor {
        &self.service.executor
    }

    /// A view of the executions this endpoint runs, which outlives `serve`'s
    /// start: the process that runs the endpoint waits on results with it
    /// instead of polling its own API.
    pub fn executions(&self) -> Executions {
        Executions {
            service: self.service.clone(),
        }
    }

    /// Serves until `shutdown` completes, then stops the running
    /// executions and kills every function process.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // A failed accept (out of descriptors, a reset) is
                    // one lost connection, not the end of the endpoint.
                    Err(_) => continue,
                },
            };
            let service = self.service.clone();
            tokio::spawn(async move {
                let handler = service_fn(move |request| handle(service.clone(), request));
                // A connection error is the client's going away.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handler)
                    .await;
            });
        }
        self.service.stop_all().await;
        self.service.executor.shutdown();
    }
}

/// The results of a serving endpoint's executions, by ARN.
#[derive(Clone)]
pub struct Executions {
    service: Arc<Service>,
}

impl Executions {
    /// Waits until the execution has ended (a redrive included) and gives
    /// its result; `None` for an ARN this endpoint never started.
    pub async fn ended(&self, execution_arn: &str) -> Option<Arc<crate::ExecutionResult>> {
        let entry = self
            .service
            .registry()
            .executions
            .get(execution_arn)
            .cloned()?;
        entry.ended().await
    }
}

/// Serves one request: a GET is a page of the console; anything else is
/// an API call, whose action and body are read and run, and answered in
/// the protocol's shape whatever happened.
async fn handle(
    service: Arc<Service>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // The API is POST only, so a GET can only be a browser.
    if request.method() == hyper::Method::GET {
        return Ok(console::respond(&service, request.uri().path()));
    }
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reply = match request.into_body().collect().await {
        Err(e) => Err(ApiError::serialization(format!(
            "the request body could not be read: {e}"
        ))),
        Ok(body) => match protocol::read_request(target.as_deref(), &body.to_bytes()) {
            Ok((action, body)) => {
                let reply = service.dispatch(&action, &body).await;
                if let Err(error) = &reply {
                    tracing::debug!(action = %action, error = error.kind, message = %error.message, "refused");
                }
                reply
            }
            Err(error) => Err(error),
        },
    };
    Ok(protocol::response(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        Service {
            executor: Executor::new(ExecutorConfig::default()),
            config: ExecutorConfig::default(),
            registry: Mutex::new(Registry::default()),
        }
    }

    #[tokio::test]
    async fn an_action_not_served_is_unknown_and_named() {
        let error = service()
            .dispatch("StartSyncExecution", &Body::default())
            .await
            .unwrap_err();
        assert_eq!(error.kind, "UnknownOperationException");
        assert!(
            error.message.contains("StartSyncExecution"),
            "{}",
            error.message
        );
    }

    #[tokio::test]
    async fn every_listed_action_is_dispatched() {
        let service = service();
        for action in ACTIONS {
            let reply = service.dispatch(action, &Body::default()).await;
            assert!(
                !matches!(&reply, Err(e) if e.kind == "UnknownOperationException"),
                "{action}: {reply:?}"
            );
        }
    }
}
