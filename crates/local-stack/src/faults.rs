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
    /// Every EC2 query-protocol action.
    AnyEc2,
    /// A JSON-protocol operation by its `X-Amz-Target`, such as
    /// `DynamoDB_20120810.PutItem`.
    Target(String),
}

/// What the proxy answers instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub call: Call,
    pub status: u16,
    /// The AWS error code, such as `RequestLimitExceeded`; empty for a held
    /// call, which gets no answer at all.
    pub code: String,
    /// How many matching calls fail; `usize::MAX` for every one.
    pub times: usize,
    /// Of the matching calls, the percentage that fail, spread evenly (30:
    /// three in every ten); 100 for every one.
    pub percent: u8,
    /// How many matching calls the fault has seen, for `percent`.
    seen: usize,
}

impl Fault {
    fn answer(call: Call, status: u16, code: &str, times: usize) -> Fault {
        Fault {
            call,
            status,
            code: code.into(),
            times,
            percent: 100,
            seen: 0,
        }
    }

    /// EC2 throttling, as AWS sends it.
    pub fn ec2_throttling(action: &str, times: usize) -> Fault {
        Fault::answer(Call::Ec2(action.into()), 503, "RequestLimitExceeded", times)
    }

    /// EC2 throttling on `percent` of every EC2 call, spread evenly, as a
    /// busy account's token buckets run dry.
    pub fn ec2_throttling_share(percent: u8) -> Fault {
        Fault {
            percent: percent.min(100),
            ..Fault::answer(Call::AnyEc2, 503, "RequestLimitExceeded", usize::MAX)
        }
    }

    /// EC2 refusing the caller, for good.
    pub fn ec2_unauthorized(action: &str) -> Fault {
        Fault::answer(
            Call::Ec2(action.into()),
            403,
            "UnauthorizedOperation",
            usize::MAX,
        )
    }

    /// A DynamoDB server error.
    pub fn dynamodb_internal_error(operation: &str, times: usize) -> Fault {
        Fault::answer(
            Call::Target(format!("DynamoDB_20120810.{operation}")),
            500,
            "InternalServerError",
            times,
        )
    }

    /// Holds the next `times` calls of an EC2 action unanswered, so the
    /// caller is stuck there until something kills it: a crash mid-handler,
    /// at a known point. `FaultProxy::held` counts them.
    pub fn ec2_hold(action: &str, times: usize) -> Fault {
        Fault::answer(Call::Ec2(action.into()), 0, "", times)
    }

    fn matches(&self, action: Option<&str>, target: Option<&str>) -> bool {
        self.times > 0
            && match &self.call {
                Call::Ec2(name) => action == Some(name.as_str()),
                Call::AnyEc2 => action.is_some(),
                Call::Target(name) => target == Some(name.as_str()),
            }
    }

    /// Counts a matching call; whether this one fails.
    fn strikes(&mut self) -> bool {
        let before = self.seen * usize::from(self.percent) / 100;
        self.seen += 1;
        let after = self.seen * usize::from(self.percent) / 100;
        let strikes = after > before;
        if strikes {
            self.times = self.times.saturating_sub(1);
        }
        strikes
    }

    fn holds(&self) -> bool {
        self.code.is_empty()
    }
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Fault>,
    /// Codes answered, in order (`held` for a held call).
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

    /// How many calls the proxy is holding or has held unanswered.
    pub fn held(&self) -> usize {
        lock(&self.state)
            .injected
            .iter()
            .filter(|code| *code == HELD)
            .count()
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
        let index = state
            .faults
            .iter()
            .position(|fault| fault.matches(action.as_deref(), target.as_deref()));
        index.and_then(|index| {
            let fault = &mut state.faults[index];
            let fault = fault.strikes().then(|| fault.clone())?;
            let code = if fault.holds() { HELD } else { &fault.code };
            state.injected.push(code.to_owned());
            Some(fault)
        })
    };
    if let Some(fault) = fault {
        if fault.holds() {
            // Never answered: the caller is killed while it waits.
            std::future::pending::<()>().await;
        }
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

/// What `injected` records for a held call.
const HELD: &str = "held";

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
        Call::Ec2(_) | Call::AnyEc2 => (
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

    #[test]
    fn a_share_of_calls_fails_spread_evenly() {
        let mut fault = Fault::ec2_throttling_share(30);
        let struck: Vec<bool> = (0..10).map(|_| fault.strikes()).collect();
        assert_eq!(struck.iter().filter(|s| **s).count(), 3, "{struck:?}");
        assert!(!struck[0] && !struck[1], "spread, not bunched: {struck:?}");
        assert!(fault.matches(Some("DescribeSecurityGroups"), None));
        assert!(!fault.matches(None, Some("DynamoDB_20120810.PutItem")));
    }
}
