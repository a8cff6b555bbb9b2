//! A test stand-in for what moto stores but never performs: DynamoDB
//! global-table replication of the records table and S3 replication of the
//! policy bucket between the local stack's two regions.
//!
//! Each region's clients (the functions, the operator commands) talk to
//! that region's [`Replicator`] proxy instead of its moto. The proxy
//! forwards every call, and after each successful write to the records
//! table or the policy bucket it queues the written key for the other
//! region. A background task copies each queued key once it is `lag` old:
//! it reads the item (or object) from the source as it is then and writes
//! it to the other region as is, last writer wins, as a global table and S3
//! replication do. With no lag the copy is made before the write is
//! answered, as in a multi-Region strongly consistent global table. [`Replicator::cut`] stops the copying, so the queue
//! grows as it would while a region is isolated; a copy whose source no
//! longer answers stays queued. [`Replicator::backlog`] tells each
//! direction's queue and latency. (DynamoDB publishes these as CloudWatch's
//! `ReplicationLatency` and `PendingReplicationCount`, which `cargo xtask
//! status` reads in AWS; the pinned moto cannot take CloudWatch's CBOR
//! protocol, so the replicator does not publish them.)
//!
//! The proxy also sends every EC2 call to one place, the workload's region:
//! both regions' Moat then fix the same groups, as both central regions
//! reach the same member accounts in AWS.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::{ACCOUNT, Error, RegionStack, StackSpec, aws_error};

/// The records table's key attributes (`moat_aws::records`' layout).
const KEY_ATTRIBUTES: [&str; 2] = ["pk", "sk"];

/// How often the copier looks for keys old enough to copy.
const COPY_TICK: Duration = Duration::from_millis(5);

/// At most this many queued writes are copied at once.
const COPY_BATCH: usize = 32;

/// One key written in one region and not yet copied to the other.
#[derive(Debug, Clone, PartialEq)]
enum Written {
    Item(Vec<(String, String)>),
    Object(String),
}

#[derive(Debug)]
struct Pending {
    written: Written,
    at: Instant,
}

/// One direction of replication: from `from` to `to`.
#[derive(Debug, Default)]
struct Direction {
    queue: VecDeque<Pending>,
    copied: usize,
    /// How long the newest copy took from write to copy.
    last_latency: Option<Duration>,
}

#[derive(Debug)]
struct State {
    lag: Duration,
    cut: bool,
    /// Index 0: primary → secondary; 1: secondary → primary.
    directions: [Direction; 2],
}

/// What one direction of replication looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub from: String,
    pub to: String,
    pub pending: usize,
    pub oldest: Option<Duration>,
    pub copied: usize,
    /// How long the newest copy took from write to copy.
    pub last_latency: Option<Duration>,
}

/// One region's side: its moto and names.
#[derive(Debug, Clone)]
struct Side {
    region: String,
    moto_url: String,
    config: SdkConfig,
    table: String,
    bucket: String,
}

/// The two proxies and the copier. Dropping it stops them.
#[derive(Debug)]
pub struct Replicator {
    sides: [Side; 2],
    addresses: [SocketAddr; 2],
    state: Arc<Mutex<State>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Replicator {
    /// Proxies for `primary` and `secondary`, sending EC2 to `ec2_url`,
    /// copying after `lag`.
    pub async fn start(
        spec: &StackSpec,
        primary: &RegionStack,
        secondary: &RegionStack,
        ec2_url: &str,
        lag: Duration,
    ) -> Result<Replicator, Error> {
        let side = |stack: &RegionStack| Side {
            region: stack.region().to_owned(),
            moto_url: stack.moto.endpoint_url(),
            config: stack.config.clone(),
            table: spec.records_table.clone(),
            bucket: spec.policy_bucket_in(ACCOUNT, stack.region()),
        };
        let sides = [side(primary), side(secondary)];
        let state = Arc::new(Mutex::new(State {
            lag,
            cut: false,
            directions: Default::default(),
        }));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut tasks = Vec::new();
        let mut addresses = Vec::new();
        for index in 0..2 {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|error| {
                aws_error("binding the replicator", &sides[index].region, error)
            })?;
            addresses.push(listener.local_addr().map_err(|error| {
                aws_error("binding the replicator", &sides[index].region, error)
            })?);
            let route = Route {
                side: sides[index].clone(),
                peer: sides[1 - index].clone(),
                ec2_url: ec2_url.trim_end_matches('/').to_owned(),
                direction: index,
                state: state.clone(),
                client: client.clone(),
            };
            tasks.push(tokio::spawn(serve(listener, route)));
        }
        tasks.push(tokio::spawn(copy_forever(sides.clone(), state.clone())));
        Ok(Replicator {
            sides,
            addresses: [addresses[0], addresses[1]],
            state,
            tasks,
        })
    }

    /// The proxy's URL for `region`: what that region's clients use as
    /// their `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self, region: &str) -> Option<String> {
        let index = self.sides.iter().position(|side| side.region == region)?;
        Some(format!("http://{}", self.addresses[index]))
    }

    /// Stops copying: writes queue up until [`Replicator::resume`].
    pub fn cut(&self) {
        lock(&self.state).cut = true;
    }

    pub fn resume(&self) {
        lock(&self.state).cut = false;
    }

    pub fn set_lag(&self, lag: Duration) {
        lock(&self.state).lag = lag;
    }

    /// Each direction's queue now.
    pub fn backlog(&self) -> Vec<Backlog> {
        let state = lock(&self.state);
        (0..2)
            .map(|index| {
                let direction = &state.directions[index];
                Backlog {
                    from: self.sides[index].region.clone(),
                    to: self.sides[1 - index].region.clone(),
                    pending: direction.queue.len(),
                    oldest: direction.queue.front().map(|pending| pending.at.elapsed()),
                    copied: direction.copied,
                    last_latency: direction.last_latency,
                }
            })
            .collect()
    }

    /// Waits until nothing is queued (or `patience` passed); whether the
    /// queues drained.
    pub async fn drained(&self, patience: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < patience {
            if self
                .backlog()
                .iter()
                .all(|direction| direction.pending == 0)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where one region's proxy sends what.
#[derive(Clone)]
struct Route {
    side: Side,
    /// The other region, which this one's writes are copied to.
    peer: Side,
    ec2_url: String,
    /// Which direction this region's writes go in.
    direction: usize,
    state: Arc<Mutex<State>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn serve(listener: TcpListener, route: Route) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let route = route.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| forward(request, route.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The service a SigV4-signed request is for, from its credential scope
/// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`).
fn signed_service(authorization: &str) -> Option<&str> {
    let scope = authorization.split("Credential=").nth(1)?;
    scope.split(['/', ',']).nth(3)
}

async fn forward(
    request: Request<Incoming>,
    route: Route,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let service = signed_service(&header("authorization"))
        .unwrap_or_default()
        .to_owned();
    let upstream = if service == "ec2" {
        &route.ec2_url
    } else {
        &route.side.moto_url
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_owned();
    let mut upstream_request = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        upstream_request = upstream_request.header(name, value);
    }
    let Ok(upstream_request) = upstream_request.body(Full::new(body.clone())) else {
        return Ok(plain(
            StatusCode::BAD_GATEWAY,
            "could not build the request",
        ));
    };
    let response = match route.client.request(upstream_request).await {
        Ok(response) => response,
        // The region's moto is gone: drop the connection unanswered, as an
        // unreachable region does, rather than answer for it.
        Err(error) => return Err(std::io::Error::other(error)),
    };
    let (response_parts, response_body) = response.into_parts();
    let response_body = response_body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if response_parts.status.is_success() {
        let written = match service.as_str() {
            "dynamodb" => written_items(&header("x-amz-target"), &body, &route.side.table),
            "s3" if parts.method == hyper::Method::PUT => written_object(&path, &route.side.bucket)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        let at = Instant::now();
        let synchronous = {
            let state = lock(&route.state);
            state.lag.is_zero() && !state.cut
        };
        for written in written {
            // Without lag the write reaches the other region before its
            // caller hears back, as in a strongly consistent global table;
            // a copy that fails then waits in the queue like any other.
            if synchronous && copy(&route.side, &route.peer, &written).await.is_ok() {
                let mut state = lock(&route.state);
                let direction = &mut state.directions[route.direction];
                direction.copied += 1;
                direction.last_latency = Some(at.elapsed());
                continue;
            }
            lock(&route.state).directions[route.direction]
                .queue
                .push_back(Pending { written, at });
        }
    }
    Ok(Response::from_parts(
        response_parts,
        Full::new(response_body),
    ))
}

/// The keys of `table` a successful DynamoDB write request wrote.
fn written_items(target: &str, body: &[u8], table: &str) -> Vec<Written> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let operation = target.rsplit('.').next().unwrap_or_default();
    let key_of = |item: &Value| -> Option<Written> {
        let mut key = Vec::new();
        for name in KEY_ATTRIBUTES {
            key.push((
                name.to_owned(),
                item.get(name)?.get("S")?.as_str()?.to_owned(),
            ));
        }
        Some(Written::Item(key))
    };
    let of_table = |value: &Value| value["TableName"].as_str() == Some(table);
    match operation {
        "PutItem" if of_table(&request) => key_of(&request["Item"]).into_iter().collect(),
        "UpdateItem" | "DeleteItem" if of_table(&request) => {
            key_of(&request["Key"]).into_iter().collect()
        }
        "BatchWriteItem" => request["RequestItems"][table]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|write| {
                key_of(&write["PutRequest"]["Item"])
                    .or_else(|| key_of(&write["DeleteRequest"]["Key"]))
            })
            .collect(),
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                ["Put", "Update", "Delete"].iter().find_map(|kind| {
                    let write = &item[*kind];
                    if !of_table(write) {
                        return None;
                    }
                    key_of(&write["Item"]).or_else(|| key_of(&write["Key"]))
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The key of the policy bucket a successful path-style S3 `PUT` wrote
/// (`/<bucket>/<key>`, not a sub-resource such as `?tagging`).
fn written_object(path: &str, bucket: &str) -> Option<Written> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let sub_resource = query
        .split('&')
        .any(|pair| !pair.is_empty() && !pair.starts_with("x-id="));
    let key = path
        .strip_prefix('/')?
        .strip_prefix(bucket)?
        .strip_prefix('/')?;
    (!key.is_empty() && !sub_resource).then(|| Written::Object(key.to_owned()))
}

/// Copies every queued key once it is `lag` old, unless cut.
async fn copy_forever(sides: [Side; 2], state: Arc<Mutex<State>>) {
    loop {
        tokio::time::sleep(COPY_TICK).await;
        for index in 0..2 {
            copy_due(&sides[index], &sides[1 - index], index, &state).await;
        }
    }
}

/// Copies the writes at the front of one direction's queue that are `lag`
/// old, each distinct key once and up to `COPY_BATCH` at a time: a copy
/// reads the key as it is now, so one copy covers every write to it queued
/// before the copy began, and no two copies of one key can race.
async fn copy_due(from: &Side, to: &Side, index: usize, state: &Mutex<State>) {
    let (due, keys) = {
        let state = lock(state);
        if state.cut {
            return;
        }
        let due = state.directions[index]
            .queue
            .iter()
            .take(COPY_BATCH)
            .take_while(|pending| pending.at.elapsed() >= state.lag)
            .count();
        let mut keys: Vec<Written> = Vec::new();
        for pending in state.directions[index].queue.iter().take(due) {
            if !keys.contains(&pending.written) {
                keys.push(pending.written.clone());
            }
        }
        (due, keys)
    };
    if due == 0 {
        return;
    }
    let copies = keys.iter().map(|written| copy(from, to, written));
    let results = futures::future::join_all(copies).await;
    let failed: Vec<&Written> = keys
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_err())
        .map(|(written, _)| written)
        .collect();
    let mut state = lock(state);
    let direction = &mut state.directions[index];
    let batch: Vec<Pending> = direction.queue.drain(..due).collect();
    // A copy that failed (the source or the destination does not answer)
    // leaves its writes queued, first, as a global table keeps an isolated
    // region's writes until it is back.
    for pending in batch.into_iter().rev() {
        if failed.contains(&&pending.written) {
            direction.queue.push_front(pending);
        } else {
            direction.copied += 1;
            direction.last_latency = Some(pending.at.elapsed());
        }
    }
}

/// Copies one key from `from` to `to` as it is in `from` now.
async fn copy(from: &Side, to: &Side, written: &Written) -> Result<(), Error> {
    match written {
        Written::Item(key) => {
            let key: std::collections::HashMap<String, AttributeValue> = key
                .iter()
                .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
                .collect();
            let source = aws_sdk_dynamodb::Client::new(&from.config);
            let destination = aws_sdk_dynamodb::Client::new(&to.config);
            let item = source
                .get_item()
                .table_name(&from.table)
                .set_key(Some(key.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|error| aws_error("GetItem", &from.region, error))?
                .item;
            match item {
                Some(item) => destination
                    .put_item()
                    .table_name(&to.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|error| aws_error("PutItem", &to.region, error)),
                None => destination
                    .delete_item()
                    .table_name(&to.table)
                    .set_key(Some(key))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|error| aws_error("DeleteItem", &to.region, error)),
            }
        }
        Written::Object(key) => {
            let source = aws_sdk_s3::Client::new(&from.config);
            let object = source
                .get_object()
                .bucket(&from.bucket)
                .key(key)
                .send()
                .await
                .map_err(|error| aws_error("GetObject", &from.region, error))?;
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|error| aws_error("GetObject", &from.region, error))?
                .into_bytes();
            aws_sdk_s3::Client::new(&to.config)
                .put_object()
                .bucket(&to.bucket)
                .key(key)
                .body(bytes.into())
                .send()
                .await
                .map(drop)
                .map_err(|error| aws_error("PutObject", &to.region, error))
        }
    }
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
    fn the_service_is_read_from_the_credential_scope() {
        let header = "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(signed_service(header), Some("dynamodb"));
        assert_eq!(signed_service("none"), None);
    }

    #[test]
    fn writes_to_the_records_table_are_found_in_every_write_shape() {
        let item = r#"{"pk":{"S":"GROUP#sg-1"},"sk":{"S":"AUDIT#e"}}"#;
        let key = Written::Item(vec![
            ("pk".into(), "GROUP#sg-1".into()),
            ("sk".into(), "AUDIT#e".into()),
        ]);
        let put = format!(r#"{{"TableName":"t","Item":{item}}}"#);
        assert_eq!(
            written_items("DynamoDB_20120810.PutItem", put.as_bytes(), "t"),
            vec![key.clone()]
        );
        assert!(written_items("DynamoDB_20120810.PutItem", put.as_bytes(), "other").is_empty());
        let batch = format!(r#"{{"RequestItems":{{"t":[{{"DeleteRequest":{{"Key":{item}}}}}]}}}}"#);
        assert_eq!(
            written_items("DynamoDB_20120810.BatchWriteItem", batch.as_bytes(), "t"),
            vec![key.clone()]
        );
        let transact =
            format!(r#"{{"TransactItems":[{{"Update":{{"TableName":"t","Key":{item}}}}}]}}"#);
        assert_eq!(
            written_items(
                "DynamoDB_20120810.TransactWriteItems",
                transact.as_bytes(),
                "t"
            ),
            vec![key]
        );
        assert!(written_items("DynamoDB_20120810.GetItem", put.as_bytes(), "t").is_empty());
    }

    #[test]
    fn only_object_writes_to_the_policy_bucket_are_replicated() {
        assert_eq!(
            written_object("/bucket/policy.json?x-id=PutObject", "bucket"),
            Some(Written::Object("policy.json".into()))
        );
        assert_eq!(
            written_object("/bucket/policy.json?tagging", "bucket"),
            None
        );
        assert_eq!(written_object("/bucket", "bucket"), None);
        assert_eq!(written_object("/other/policy.json", "bucket"), None);
    }
}
