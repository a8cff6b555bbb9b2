//! A fault-injecting proxy in front of moto, so tests can make AWS throttle
//! or fail the way it does in production: the functions talk to the proxy
//! (their `AWS_ENDPOINT_URL`), which forwards everything to moto except the
//! calls a test told it to fail.
//!
//! Faults are injected on the wire, so the functions under test are the
//! exact binaries that ship, with no test-only code paths.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// Which calls a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// An EC2 query-protocol action, such as `RevokeSecurityGroupIngress`.
    Ec2(String),
    /// A JSON-protocol operation by its `X-Amz-Target`, such as
    /// `DynamoDB_20120810.PutItem`.
    Target(String),
}

/// What the proxy answers instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub call: Call,
    pub status: u16,
    /// The AWS error code, such as `RequestLimitExceeded`.
    pub code: String,
    /// How many matching calls fail; `usize::MAX` for every one.
    pub times: usize,
}

impl Fault {
    /// EC2 throttling, as AWS sends it.
    pub fn ec2_throttling(action: &str, times: usize) -> Fault {
        Fault {
            call: Call::Ec2(action.into()),
            status: 503,
            code: "RequestLimitExceeded".into(),
            times,
        }
    }

    /// EC2 refusing the caller, for good.
    pub fn ec2_unauthorized(action: &str) -> Fault {
        Fault {
            call: Call::Ec2(action.into()),
            status: 403,
            code: "UnauthorizedOperation".into(),
            times: usize::MAX,
        }
    }

    /// A DynamoDB server error.
    pub fn dynamodb_internal_error(operation: &str, times: usize) -> Fault {
        Fault {
            call: Call::Target(format!("DynamoDB_20120810.{operation}")),
            status: 500,
            code: "InternalServerError".into(),
            times,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Fault>,
    /// Codes answered, in order.
    injected: Vec<String>,
}

/// The running proxy. Dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (moto).
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let task_state = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, client, upstream) =
                    (task_state.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(request, state.clone(), client.clone(), upstream.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy {
            address,
            state,
            task,
        })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.state).faults.push(fault);
    }

    /// The error codes the proxy answered with so far.
    pub fn injected(&self) -> Vec<String> {
        lock(&self.state).injected.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let action = form_action(&body);
    let fault = {
        let mut state = lock(&state);
        let index = state.faults.iter().position(|fault| {
            fault.times > 0
                && match &fault.call {
                    Call::Ec2(name) => action.as_deref() == Some(name.as_str()),
                    Call::Target(name) => target.as_deref() == Some(name.as_str()),
                }
        });
        index.map(|index| {
            let fault = &mut state.faults[index];
            fault.times = fault.times.saturating_sub(1);
            let fault = fault.clone();
            state.injected.push(fault.code.clone());
            fault
        })
    };
    if let Some(fault) = fault {
        return Ok(error_response(&fault));
    }
    let uri = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
    );
    let mut forward = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    let Ok(forward) = forward.body(Full::new(body)) else {
        return Ok(plain(
            StatusCode::BAD_GATEWAY,
            "could not build the upstream request",
        ));
    };
    match client.request(forward).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(error) => Ok(plain(
            StatusCode::BAD_GATEWAY,
            &format!("upstream: {error}"),
        )),
    }
}

/// The `Action` of a query-protocol (form-encoded) request.
fn form_action(body: &[u8]) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_owned)
}

fn error_response(fault: &Fault) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = match &fault.call {
        Call::Ec2(_) => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>injected by the fault proxy</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>",
                fault.code
            ),
        ),
        Call::Target(target) => {
            let service = target.split('.').next().unwrap_or_default();
            let namespace = match service {
                "DynamoDB_20120810" => "com.amazonaws.dynamodb.v20120810",
                other => other,
            };
            (
                "application/x-amz-json-1.0",
                format!(
                    "{{\"__type\":\"{namespace}#{}\",\"message\":\"injected by the fault proxy\"}}",
                    fault.code
                ),
            )
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_is_read_from_a_form_body() {
        assert_eq!(
            form_action(b"Action=RevokeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1")
                .as_deref(),
            Some("RevokeSecurityGroupIngress")
        );
        assert_eq!(form_action(b"{\"TableName\":\"t\"}"), None);
    }
}
