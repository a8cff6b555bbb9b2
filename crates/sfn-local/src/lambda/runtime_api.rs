//! A local implementation of the Lambda Runtime API, one server per
//! execution environment, serving exactly what `lambda_runtime` 1.5 calls:
//! `GET /2018-06-01/runtime/invocation/next`,
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error` and
//! `POST .../init/error`.
//!
//! The server hands out one invocation at a time from its queue, as Lambda
//! does, and routes the function's answer back to whoever queued it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// An invocation waiting for the function to ask for it.
pub(crate) struct Pending {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: i64,
    pub function_arn: String,
    pub trace_id: String,
    /// Told when the runtime picks the invocation up.
    pub picked: oneshot::Sender<Instant>,
    /// Told the function's answer.
    pub reply: oneshot::Sender<Reply>,
}

/// What the function answered.
#[derive(Debug)]
pub(crate) enum Reply {
    /// `POST .../response`: the result payload.
    Response(Bytes),
    /// `POST .../error`: the `{errorType, errorMessage}` body.
    Error(Bytes),
}

struct State {
    queue: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    init_error: Mutex<Option<Bytes>>,
}

/// The handle the process pool keeps on a running server.
pub(crate) struct RuntimeApi {
    pub address: SocketAddr,
    pub queue: mpsc::Sender<Pending>,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Binds a server on a free loopback port.
    pub(crate) async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (queue, receiver) = mpsc::channel(1);
        let state = Arc::new(State {
            queue: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let served = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    // A connection error only means the function went away,
                    // which the process watcher reports on its own.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            address,
            queue,
            state,
            server,
        })
    }

    /// The body the function posted to `/init/error`, if it did.
    pub(crate) fn init_error(&self) -> Option<Bytes> {
        self.state
            .init_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// Serves one request of the function's runtime.
async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            r#"{"errorType":"NotFound","errorMessage":"unknown path"}"#,
        ));
    };
    if method == Method::GET && rest == "invocation/next" {
        return Ok(next_invocation(&state).await);
    }
    if method != Method::POST {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, ""));
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, "")),
    };
    if rest == "init/error" {
        *state.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
        return Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#));
    }
    Ok(answer(&state, rest, body))
}

/// `GET .../invocation/next`: waits for the next invocation and hands it
/// over with Lambda's headers.
async fn next_invocation(state: &State) -> Response<Full<Bytes>> {
    // Only one poller gets each invocation; a closed queue means the
    // environment is being shut down, and an error makes the runtime exit.
    let pending = state.queue.lock().await.recv().await;
    let Some(pending) = pending else {
        return reply(
            StatusCode::GONE,
            r#"{"errorType":"Shutdown","errorMessage":"the environment is shutting down"}"#,
        );
    };
    let _ = pending.picked.send(Instant::now());
    state
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pending.request_id.clone(), pending.reply);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &pending.request_id)
        .header(
            "lambda-runtime-deadline-ms",
            pending.deadline_ms.to_string(),
        )
        .header("lambda-runtime-invoked-function-arn", &pending.function_arn)
        .header("lambda-runtime-trace-id", &pending.trace_id)
        .body(Full::new(pending.payload))
        .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, ""))
}

/// `POST .../invocation/{id}/response` or `.../error`: routes the answer
/// (`body`) to whoever queued invocation `id`; `rest` is the path after
/// `/runtime/`.
fn answer(state: &State, rest: &str, body: Bytes) -> Response<Full<Bytes>> {
    let Some(rest) = rest.strip_prefix("invocation/") else {
        return reply(StatusCode::NOT_FOUND, "");
    };
    let (id, outcome) = if let Some(id) = rest.strip_suffix("/response") {
        (id, Reply::Response(body))
    } else if let Some(id) = rest.strip_suffix("/error") {
        (id, Reply::Error(body))
    } else {
        return reply(StatusCode::NOT_FOUND, "");
    };
    let waiting = state
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match waiting {
        Some(sender) => {
            let _ = sender.send(outcome);
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        None => reply(
            StatusCode::BAD_REQUEST,
            r#"{"errorType":"InvalidRequestID","errorMessage":"the request id is not in flight"}"#,
        ),
    }
}
