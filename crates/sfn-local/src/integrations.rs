//! Task resources other than Lambda: the optimized integrations Moat uses
//! (`sqs:sendMessage`, `sns:publish`, `dynamodb:putItem|getItem|updateItem|
//! deleteItem`) and the same actions through `arn:aws:states:::aws-sdk:*`,
//! sent with the AWS SDK for Rust to the local endpoint of the region, and
//! `states:startExecution` (nested executions), sent to the region's Step
//! Functions endpoint (a `Server` is its own).
//!
//! There is no default endpoint: a region without a configured local
//! endpoint fails the task, so nothing can ever reach real AWS. Errors are
//! named as Step Functions names them: `SQS.QueueDoesNotExistException` for
//! an optimized integration, `Sqs.QueueDoesNotExistException` for the SDK
//! form (service and error in PascalCase, with the `Exception` suffix), and
//! `StepFunctions.StateMachineDoesNotExistException` for a nested execution.
//! The S3 reads and writes of a Distributed Map (its ItemReader and
//! ResultWriter) go to the same local endpoint, with errors named
//! `S3.NoSuchKeyException` and the like.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::failure::Failure;

/// What a Task's `Resource` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    /// A Lambda function ARN used directly.
    LambdaArn(String),
    /// `arn:aws:states:::lambda:invoke`.
    LambdaInvoke,
    /// An optimized integration, `arn:aws:states:::sqs:sendMessage`.
    Optimized { service: String, action: String },
    /// `arn:aws:states:::aws-sdk:<service>:<action>`.
    Sdk { service: String, action: String },
    /// `arn:aws:states:::states:startExecution`, with the pattern of its
    /// suffix: it starts a child execution, and with `.sync` or `.sync:2`
    /// waits for it to end.
    StartExecution(Pattern),
}

/// How a `states:startExecution` Task waits for its child execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// No suffix: the Task ends once the child has started.
    RequestResponse,
    /// `.sync`: the Task ends with the child; its input and output are
    /// JSON text in the result.
    Sync,
    /// `.sync:2`: the Task ends with the child; its input and output are
    /// JSON values in the result.
    Sync2,
}

impl Pattern {
    /// The suffix of the resource, as the Task* events name it.
    fn suffix(self) -> &'static str {
        match self {
            Self::RequestResponse => "",
            Self::Sync => ".sync",
            Self::Sync2 => ".sync:2",
        }
    }
}

/// The suffix of the "wait for a callback with the task token" pattern.
pub(crate) const WAIT_FOR_TASK_TOKEN: &str = ".waitForTaskToken";

/// The resource a `.waitForTaskToken` Resource calls, without the suffix;
/// `None` for any other pattern.
pub(crate) fn waiting_for_token(text: &str) -> Option<&str> {
    text.strip_suffix(WAIT_FOR_TASK_TOKEN)
        .filter(|base| base.starts_with("arn:aws:states:::"))
}

impl Resource {
    /// Reads a Resource ARN. Integration patterns other than request-response
    /// are refused here, except `.sync` and `.sync:2` of
    /// `states:startExecution`; a `.waitForTaskToken` resource reaches this
    /// without its suffix (`waiting_for_token`).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("arn:aws:lambda:") {
            return Ok(Self::LambdaArn(text.to_owned()));
        }
        let Some(rest) = text.strip_prefix("arn:aws:states:::") else {
            return Err(format!(
                "The resource '{text}' is not supported by sfn-local"
            ));
        };
        let pattern = match rest {
            "states:startExecution" => Some(Pattern::RequestResponse),
            "states:startExecution.sync" => Some(Pattern::Sync),
            "states:startExecution.sync:2" => Some(Pattern::Sync2),
            _ => None,
        };
        if let Some(pattern) = pattern {
            return Ok(Self::StartExecution(pattern));
        }
        if rest.ends_with(".sync") || rest.contains(".sync:") || rest.ends_with(".waitForTaskToken")
        {
            return Err(format!(
                "The integration pattern of '{text}' is not supported by sfn-local (only request-response is)"
            ));
        }
        if rest == "lambda:invoke" {
            return Ok(Self::LambdaInvoke);
        }
        if let Some(sdk) = rest.strip_prefix("aws-sdk:") {
            let (service, action) = sdk
                .split_once(':')
                .ok_or_else(|| format!("The resource '{text}' has no action"))?;
            return Ok(Self::Sdk {
                service: service.to_owned(),
                action: action.to_owned(),
            });
        }
        let (service, action) = rest
            .split_once(':')
            .ok_or_else(|| format!("The resource '{text}' has no action"))?;
        Ok(Self::Optimized {
            service: service.to_owned(),
            action: action.to_owned(),
        })
    }

    /// The `resourceType` and `resource` of the Task* history events.
    pub(crate) fn type_and_name(&self) -> (String, String) {
        match self {
            Self::LambdaArn(arn) => ("lambda".to_owned(), arn.clone()),
            Self::LambdaInvoke => ("lambda".to_owned(), "invoke".to_owned()),
            Self::Optimized { service, action } => (service.clone(), action.clone()),
            Self::Sdk { service, action } => (format!("aws-sdk:{service}"), action.clone()),
            Self::StartExecution(pattern) => (
                "states".to_owned(),
                format!("startExecution{}", pattern.suffix()),
            ),
        }
    }
}

/// The local endpoint of each region, and the Step Functions endpoint of
/// each region; every call builds its SDK client from the endpoint of its
/// region, and a region without one fails.
pub(crate) struct Integrations {
    endpoints: HashMap<String, String>,
    step_functions: HashMap<String, String>,
}

fn sdk_prefix(service: &str) -> String {
    match service {
        "dynamodb" => "DynamoDb".to_owned(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
                .collect()
        }
    }
}

fn optimized_prefix(service: &str) -> String {
    match service {
        "sqs" => "SQS".to_owned(),
        "sns" => "SNS".to_owned(),
        "dynamodb" => "DynamoDB".to_owned(),
        "states" => "StepFunctions".to_owned(),
        other => sdk_prefix(other),
    }
}

/// Turns an SDK error into the Step Functions error: the service prefix and
/// the error code with the `Exception` suffix.
fn sdk_failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    prefix: &str,
    service_name: &str,
    error: E,
) -> Failure {
    let code = error.code().map(|c| {
        // SQS's query-protocol codes name the queue error differently.
        let c = if c.contains("NonExistentQueue") {
            "QueueDoesNotExist"
        } else {
            c.rsplit('.').next().unwrap_or(c)
        };
        if c.ends_with("Exception") {
            c.to_owned()
        } else {
            format!("{c}Exception")
        }
    });
    let message = error
        .message()
        .map_or_else(|| format!("{error:?}"), str::to_owned);
    match code {
        Some(code) => Failure::new(
            format!("{prefix}.{code}"),
            Some(format!(
                "{message} (Service: {service_name}, Error Code: {code})"
            )),
        ),
        None => Failure::new(
            format!("{prefix}.SdkClientException"),
            Some(format!("Unable to execute HTTP request: {message}")),
        ),
    }
}

/// The metadata the optimized integrations add to an SDK response.
fn with_metadata(mut output: Map<String, Value>) -> Value {
    let request_id = uuid::Uuid::new_v4().to_string();
    output.insert(
        "SdkHttpMetadata".to_owned(),
        json!({"HttpHeaders": {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}, "HttpStatusCode": 200}),
    );
    output.insert(
        "SdkResponseMetadata".to_owned(),
        json!({"RequestId": request_id}),
    );
    Value::Object(output)
}

/// A parameter as the SDK takes text: a string as it is, anything else as
/// its JSON.
fn text_param(parameters: &Value, field: &str) -> Option<String> {
    parameters.get(field).map(crate::unquoted)
}

fn missing(prefix: &str, field: &str) -> Failure {
    Failure::new(
        format!("{prefix}.ValidationException"),
        Some(format!("The parameter '{field}' is required")),
    )
}

impl Integrations {
    /// Integrations that use these endpoints (the local AWS and the Step
    /// Functions endpoint), keyed by region.
    pub(crate) fn new(
        endpoints: HashMap<String, String>,
        step_functions: HashMap<String, String>,
    ) -> Self {
        Self {
            endpoints,
            step_functions,
        }
    }

    fn endpoint(&self, region: &str) -> Result<&str, Failure> {
        self.endpoints.get(region).map(String::as_str).ok_or_else(|| {
            Failure::runtime(format!("No local AWS endpoint is configured for region {region}; sfn-local never calls real AWS"))
        })
    }

    /// The SDK configuration for the local endpoint of `region`; every
    /// integration's client but Step Functions' is built from it.
    fn sdk_config(&self, region: &str) -> Result<aws_config::SdkConfig, Failure> {
        Ok(sdk_config_for(region, self.endpoint(region)?))
    }

    /// A client for `region`'s Step Functions endpoint, which starts,
    /// watches and stops the child executions of `states:startExecution`.
    pub(crate) fn step_functions(&self, region: &str) -> Result<aws_sdk_sfn::Client, Failure> {
        let endpoint = self.step_functions.get(region).ok_or_else(|| {
            Failure::runtime(format!("No Step Functions endpoint is configured for region {region}, so states:startExecution cannot start the child execution; sfn-local never calls real AWS"))
        })?;
        Ok(aws_sdk_sfn::Client::new(&sdk_config_for(region, endpoint)))
    }

    /// Runs one integration call.
    pub(crate) async fn call(
        &self,
        resource: &Resource,
        parameters: &Value,
        region: &str,
    ) -> Result<Value, Failure> {
        let (service, action, optimized) = match resource {
            Resource::Optimized { service, action } => (service.as_str(), action.as_str(), true),
            Resource::Sdk { service, action } => (service.as_str(), action.as_str(), false),
            Resource::StartExecution(_) => {
                let started = self.start_execution(region, parameters).await?;
                return Ok(started.output);
            }
            Resource::LambdaArn(_) | Resource::LambdaInvoke => {
                unreachable!("Lambda is invoked by the executor")
            }
        };
        let prefix = if optimized {
            optimized_prefix(service)
        } else {
            sdk_prefix(service)
        };
        let output = match (service, action) {
            ("sqs", "sendMessage") => self.sqs_send_message(region, parameters, &prefix).await?,
            ("sns", "publish") => self.sns_publish(region, parameters, &prefix).await?,
            ("dynamodb", "putItem" | "getItem" | "updateItem" | "deleteItem") => {
                self.dynamodb(region, action, parameters, &prefix).await?
            }
            _ => {
                return Err(Failure::runtime(format!(
                    "The resource '{service}:{action}' is not implemented by sfn-local's local integrations"
                )));
            }
        };
        Ok(if optimized {
            with_metadata(output)
        } else {
            Value::Object(output)
        })
    }

    async fn sqs_send_message(
        &self,
        region: &str,
        p: &Value,
        prefix: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let client = aws_sdk_sqs::Client::new(&self.sdk_config(region)?);
        let queue_url = text_param(p, "QueueUrl").ok_or_else(|| missing(prefix, "QueueUrl"))?;
        let body = text_param(p, "MessageBody").ok_or_else(|| missing(prefix, "MessageBody"))?;
        let mut request = client
            .send_message()
            .queue_url(queue_url)
            .message_body(body);
        if let Some(delay) = p.get("DelaySeconds").and_then(Value::as_i64) {
            request = request.delay_seconds(delay as i32);
        }
        if let Some(group) = text_param(p, "MessageGroupId") {
            request = request.message_group_id(group);
        }
        if let Some(dedup) = text_param(p, "MessageDeduplicationId") {
            request = request.message_deduplication_id(dedup);
        }
        if let Some(Value::Object(attributes)) = p.get("MessageAttributes") {
            for (name, attribute) in attributes {
                let value = aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type(
                        attribute
                            .get("DataType")
                            .and_then(Value::as_str)
                            .unwrap_or("String"),
                    )
                    .set_string_value(
                        attribute
                            .get("StringValue")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    )
                    .build()
                    .map_err(|e| {
                        Failure::new(
                            format!("{prefix}.InvalidParameterValueException"),
                            Some(e.to_string()),
                        )
                    })?;
                request = request.message_attributes(name, value);
            }
        }
        let out = request
            .send()
            .await
            .map_err(|e| sdk_failure(prefix, "Sqs", e))?;
        let mut output = Map::new();
        for (key, value) in [
            ("MD5OfMessageBody", out.md5_of_message_body()),
            ("MD5OfMessageAttributes", out.md5_of_message_attributes()),
            ("MessageId", out.message_id()),
            ("SequenceNumber", out.sequence_number()),
        ] {
            if let Some(v) = value {
                output.insert(key.to_owned(), json!(v));
            }
        }
        Ok(output)
    }

    async fn sns_publish(
        &self,
        region: &str,
        p: &Value,
        prefix: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let client = aws_sdk_sns::Client::new(&self.sdk_config(region)?);
        let message = text_param(p, "Message").ok_or_else(|| missing(prefix, "Message"))?;
        let request = client
            .publish()
            .message(message)
            .set_topic_arn(text_param(p, "TopicArn"))
            .set_target_arn(text_param(p, "TargetArn"))
            .set_phone_number(text_param(p, "PhoneNumber"))
            .set_subject(text_param(p, "Subject"))
            .set_message_structure(text_param(p, "MessageStructure"))
            .set_message_group_id(text_param(p, "MessageGroupId"))
            .set_message_deduplication_id(text_param(p, "MessageDeduplicationId"));
        let out = request
            .send()
            .await
            .map_err(|e| sdk_failure(prefix, "Sns", e))?;
        let mut output = Map::new();
        if let Some(id) = out.message_id() {
            output.insert("MessageId".to_owned(), json!(id));
        }
        if let Some(n) = out.sequence_number() {
            output.insert("SequenceNumber".to_owned(), json!(n));
        }
        Ok(output)
    }

    /// `putItem`, `getItem`, `updateItem` or `deleteItem`: the one item (or
    /// the attributes the action returns) as DynamoDB JSON.
    async fn dynamodb(
        &self,
        region: &str,
        action: &str,
        p: &Value,
        prefix: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk_config(region)?);
        let request = ItemRequest::read(p, prefix)?;
        let (field, found) = match action {
            "putItem" => ("Attributes", put_item(&client, request).await?),
            "getItem" => ("Item", get_item(&client, request).await?),
            "updateItem" => ("Attributes", update_item(&client, request).await?),
            _ => ("Attributes", delete_item(&client, request).await?),
        };
        let mut output = Map::new();
        if let Some(value) = found {
            output.insert(field.to_owned(), value);
        }
        Ok(output)
    }
}

/// The prefix of the S3 errors, as the optimized S3 integration names them.
const S3: &str = "S3";

impl Integrations {
    /// An S3 client for the local endpoint of `region`. Path-style
    /// addressing, because a bucket cannot be a subdomain of a loopback
    /// address.
    fn s3(&self, region: &str) -> Result<aws_sdk_s3::Client, Failure> {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config(region)?)
            .force_path_style(true)
            .build();
        Ok(aws_sdk_s3::Client::from_conf(config))
    }

    /// `GetObject`: the object's bytes.
    pub(crate) async fn s3_get_object(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        version: Option<String>,
    ) -> Result<Vec<u8>, Failure> {
        let out = self
            .s3(region)?
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version)
            .send()
            .await
            .map_err(|e| sdk_failure(S3, "Amazon S3", e))?;
        let body = out.body.collect().await.map_err(|e| {
            Failure::new(
                "S3.SdkClientException",
                Some(format!("reading s3://{bucket}/{key} failed: {e}")),
            )
        })?;
        Ok(body.into_bytes().to_vec())
    }

    /// `ListObjectsV2`, every page: one description per object under
    /// `prefix`, in the shape a Distributed Map's ItemReader gives it
    /// (`Etag`, `Key`, `LastModified` in epoch seconds, `Size`,
    /// `StorageClass`).
    pub(crate) async fn s3_list_objects(
        &self,
        region: &str,
        bucket: &str,
        prefix: Option<String>,
    ) -> Result<Vec<Value>, Failure> {
        let client = self.s3(region)?;
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let out = client
                .list_objects_v2()
                .bucket(bucket)
                .set_prefix(prefix.clone())
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| sdk_failure(S3, "Amazon S3", e))?;
            objects.extend(out.contents().iter().map(object_description));
            token = out.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return Ok(objects);
            }
        }
    }

    /// `PutObject` of a JSON document.
    pub(crate) async fn s3_put_object(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<(), Failure> {
        self.s3(region)?
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| sdk_failure(S3, "Amazon S3", e))?;
        Ok(())
    }
}

/// One object of a `ListObjectsV2` answer as an ItemReader item.
fn object_description(object: &aws_sdk_s3::types::Object) -> Value {
    let mut item = Map::new();
    let fields = [
        ("Etag", object.e_tag().map(|v| json!(v))),
        ("Key", object.key().map(|v| json!(v))),
        (
            "LastModified",
            object.last_modified().map(|d| json!(d.secs())),
        ),
        ("Size", object.size().map(|v| json!(v))),
        (
            "StorageClass",
            object.storage_class().map(|v| json!(v.as_str())),
        ),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    }
    Value::Object(item)
}

/// A child execution that `states:startExecution` started.
pub(crate) struct Started {
    /// The child's execution ARN.
    pub(crate) arn: String,
    /// What AWS gives the Task for it: `ExecutionArn` and `StartDate` (in
    /// epoch milliseconds), with the SDK's HTTP metadata.
    pub(crate) output: Value,
}

/// A child execution that has ended: the Task's result (or failure) and
/// how long the child ran, from its start to its stop on its own clock.
pub(crate) struct Finished {
    pub(crate) result: Result<Value, Failure>,
    pub(crate) ran: chrono::Duration,
}

/// The prefix of the errors of the optimized Step Functions integration.
const STEP_FUNCTIONS: &str = "StepFunctions";

impl Integrations {
    /// `StartExecution` of the machine the Task's `StateMachineArn` names,
    /// with its `Input` (JSON text as it is, any other value as its JSON)
    /// and `Name` (a UUID when there is none).
    pub(crate) async fn start_execution(
        &self,
        region: &str,
        p: &Value,
    ) -> Result<Started, Failure> {
        let client = self.step_functions(region)?;
        let machine = text_param(p, "StateMachineArn")
            .ok_or_else(|| missing(STEP_FUNCTIONS, "StateMachineArn"))?;
        let out = client
            .start_execution()
            .state_machine_arn(machine)
            .set_name(text_param(p, "Name"))
            .set_input(text_param(p, "Input"))
            .send()
            .await
            .map_err(|e| sdk_failure(STEP_FUNCTIONS, "AWSStepFunctions", e))?;
        let mut output = Map::new();
        output.insert("ExecutionArn".to_owned(), json!(out.execution_arn()));
        output.insert("StartDate".to_owned(), json!(millis(out.start_date())));
        Ok(Started {
            arn: out.execution_arn().to_owned(),
            output: with_metadata(output),
        })
    }
}

/// `DescribeExecution` of a child: `None` while it runs, and once it has
/// ended the result of a `.sync` Task that waited for it.
pub(crate) async fn describe_child(
    client: &aws_sdk_sfn::Client,
    arn: &str,
    pattern: Pattern,
) -> Result<Option<Finished>, Failure> {
    let out = client
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(|e| sdk_failure(STEP_FUNCTIONS, "AWSStepFunctions", e))?;
    Ok(child_outcome(&out, pattern))
}

/// `StopExecution` of a child whose Task was abandoned; a child that has
/// ended meanwhile is left as it is.
pub(crate) async fn stop_child(client: &aws_sdk_sfn::Client, arn: &str, cause: String) {
    // Nothing is waiting for the answer: the Task that managed the child is
    // gone, and a child that already ended needs no stopping.
    let _ = client
        .stop_execution()
        .execution_arn(arn)
        .cause(cause)
        .send()
        .await;
}

/// How a `.sync` Task ends with its child: the child's `DescribeExecution`
/// in PascalCase as its result when it succeeded, and `States.TaskFailed`
/// with that description as the cause when it failed, timed out or was
/// aborted. `None` while the child runs.
fn child_outcome(
    out: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    pattern: Pattern,
) -> Option<Finished> {
    use aws_sdk_sfn::types::ExecutionStatus;
    if matches!(
        out.status(),
        ExecutionStatus::Running | ExecutionStatus::PendingRedrive
    ) {
        return None;
    }
    let description = child_description(out, pattern);
    let result = if *out.status() == ExecutionStatus::Succeeded {
        Ok(description)
    } else {
        Err(Failure::new(
            "States.TaskFailed",
            Some(description.to_string()),
        ))
    };
    let stop = out.stop_date().map_or(0, millis);
    let ran = chrono::Duration::milliseconds((stop - millis(out.start_date())).max(0));
    Some(Finished { result, ran })
}

/// A child's `DescribeExecution` as a `.sync` Task gives it: PascalCase
/// fields, dates in epoch milliseconds, and the input and output as JSON
/// text (`.sync`) or parsed (`.sync:2`).
fn child_description(
    out: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    pattern: Pattern,
) -> Value {
    let payload = |text: &str| match pattern {
        Pattern::Sync2 => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
        _ => json!(text),
    };
    let mut d = Map::new();
    d.insert("ExecutionArn".to_owned(), json!(out.execution_arn()));
    d.insert("StateMachineArn".to_owned(), json!(out.state_machine_arn()));
    d.insert("Status".to_owned(), json!(out.status().as_str()));
    d.insert("StartDate".to_owned(), json!(millis(out.start_date())));
    let optional = [
        ("Name", out.name().map(|v| json!(v))),
        ("Input", out.input().map(payload)),
        ("Output", out.output().map(payload)),
        ("Error", out.error().map(|v| json!(v))),
        ("Cause", out.cause().map(|v| json!(v))),
        ("StopDate", out.stop_date().map(|v| json!(millis(v)))),
        ("RedriveCount", out.redrive_count().map(|v| json!(v))),
        (
            "RedriveStatus",
            out.redrive_status().map(|v| json!(v.as_str())),
        ),
        (
            "RedriveStatusReason",
            out.redrive_status_reason().map(|v| json!(v)),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            d.insert(key.to_owned(), value);
        }
    }
    if out.input().is_some() {
        d.insert("InputDetails".to_owned(), json!({"Included": true}));
    }
    if out.output().is_some() {
        d.insert("OutputDetails".to_owned(), json!({"Included": true}));
    }
    Value::Object(d)
}

/// An SDK date in epoch milliseconds, as Step Functions writes dates in
/// the results of its own integration.
fn millis(date: &aws_sdk_sfn::primitives::DateTime) -> i64 {
    date.to_millis().unwrap_or_default()
}

/// The SDK configuration for `endpoint` in `region`, with the fixed test
/// credentials the local endpoints accept.
fn sdk_config_for(region: &str, endpoint: &str) -> aws_config::SdkConfig {
    let credentials = aws_sdk_sqs::config::Credentials::new(
        local_aws::ACCESS_KEY_ID,
        local_aws::SECRET_ACCESS_KEY,
        None,
        None,
        "sfn-local",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

type Item = HashMap<String, AttributeValue>;

/// The parameters of one DynamoDB item action, with the fields the actions
/// share read once.
struct ItemRequest<'a> {
    parameters: &'a Value,
    prefix: &'a str,
    table: String,
    names: Option<HashMap<String, String>>,
    values: Option<Item>,
    return_values: Option<ReturnValue>,
    condition: Option<String>,
}

impl<'a> ItemRequest<'a> {
    fn read(p: &'a Value, prefix: &'a str) -> Result<Self, Failure> {
        let table = text_param(p, "TableName").ok_or_else(|| missing(prefix, "TableName"))?;
        let names = p
            .get("ExpressionAttributeNames")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            });
        let mut request = Self {
            parameters: p,
            prefix,
            table,
            names,
            values: None,
            return_values: text_param(p, "ReturnValues").map(|r| ReturnValue::from(r.as_str())),
            condition: text_param(p, "ConditionExpression"),
        };
        request.values = request.item("ExpressionAttributeValues")?;
        Ok(request)
    }

    /// A parameter holding a map of attribute values, such as `Item` or `Key`.
    fn item(&self, field: &str) -> Result<Option<Item>, Failure> {
        self.parameters
            .get(field)
            .map(|v| {
                to_attribute_map(v).map_err(|e| {
                    Failure::new(format!("{}.ValidationException", self.prefix), Some(e))
                })
            })
            .transpose()
    }
}

async fn put_item(
    client: &aws_sdk_dynamodb::Client,
    r: ItemRequest<'_>,
) -> Result<Option<Value>, Failure> {
    let item = r.item("Item")?;
    let out = client
        .put_item()
        .table_name(r.table)
        .set_item(item)
        .set_condition_expression(r.condition)
        .set_expression_attribute_names(r.names)
        .set_expression_attribute_values(r.values)
        .set_return_values(r.return_values)
        .send()
        .await
        .map_err(|e| sdk_failure(r.prefix, "DynamoDb", e))?;
    Ok(out.attributes().map(from_attribute_map))
}

async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    r: ItemRequest<'_>,
) -> Result<Option<Value>, Failure> {
    let key = r.item("Key")?;
    let out = client
        .get_item()
        .table_name(r.table)
        .set_key(key)
        .set_consistent_read(r.parameters.get("ConsistentRead").and_then(Value::as_bool))
        .set_projection_expression(text_param(r.parameters, "ProjectionExpression"))
        .set_expression_attribute_names(r.names)
        .send()
        .await
        .map_err(|e| sdk_failure(r.prefix, "DynamoDb", e))?;
    Ok(out.item().map(from_attribute_map))
}

async fn update_item(
    client: &aws_sdk_dynamodb::Client,
    r: ItemRequest<'_>,
) -> Result<Option<Value>, Failure> {
    let key = r.item("Key")?;
    let out = client
        .update_item()
        .table_name(r.table)
        .set_key(key)
        .set_update_expression(text_param(r.parameters, "UpdateExpression"))
        .set_condition_expression(r.condition)
        .set_expression_attribute_names(r.names)
        .set_expression_attribute_values(r.values)
        .set_return_values(r.return_values)
        .send()
        .await
        .map_err(|e| sdk_failure(r.prefix, "DynamoDb", e))?;
    Ok(out.attributes().map(from_attribute_map))
}

async fn delete_item(
    client: &aws_sdk_dynamodb::Client,
    r: ItemRequest<'_>,
) -> Result<Option<Value>, Failure> {
    let key = r.item("Key")?;
    let out = client
        .delete_item()
        .table_name(r.table)
        .set_key(key)
        .set_condition_expression(r.condition)
        .set_expression_attribute_names(r.names)
        .set_expression_attribute_values(r.values)
        .set_return_values(r.return_values)
        .send()
        .await
        .map_err(|e| sdk_failure(r.prefix, "DynamoDb", e))?;
    Ok(out.attributes().map(from_attribute_map))
}

/// Reads DynamoDB JSON (`{"S": "x"}`, `{"N": "1"}`, ...) into SDK values.
fn to_attribute(value: &Value) -> Result<AttributeValue, String> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("{value} is not a DynamoDB attribute value"))?;
    let (tag, inner) = object.iter().next().expect("one entry");
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        v.as_array()
            .ok_or_else(|| format!("{tag} must be an array"))?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{tag} must hold strings"))
            })
            .collect()
    };
    let blob = |s: &str| -> Result<Blob, String> {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Blob::new)
            .map_err(|e| format!("B is not base64: {e}"))
    };
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(inner.as_str().ok_or("S must be a string")?.to_owned()),
        "N" => AttributeValue::N(match inner {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err("N must be a string".to_owned()),
        }),
        "B" => AttributeValue::B(blob(inner.as_str().ok_or("B must be a string")?)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL must be a boolean")?),
        "NULL" => AttributeValue::Null(inner.as_bool().unwrap_or(true)),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(
            strings(inner)?
                .iter()
                .map(|s| blob(s))
                .collect::<Result<_, _>>()?,
        ),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .ok_or("L must be an array")?
                .iter()
                .map(to_attribute)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(to_attribute_map(inner)?),
        other => return Err(format!("'{other}' is not a DynamoDB type")),
    })
}

fn to_attribute_map(value: &Value) -> Result<HashMap<String, AttributeValue>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{value} is not a map of attribute values"))?
        .iter()
        .map(|(k, v)| to_attribute(v).map(|a| (k.clone(), a)))
        .collect()
}

/// Writes SDK values back as DynamoDB JSON, as the integration returns them.
fn from_attribute(value: &AttributeValue) -> Value {
    let b64 = |b: &Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": b64(b)}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(n) => json!({"NULL": n}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        AttributeValue::L(v) => json!({"L": v.iter().map(from_attribute).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": from_attribute_map(m)}),
        _ => Value::Null,
    }
}

fn from_attribute_map(map: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), from_attribute(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_into_their_kind() {
        assert_eq!(
            Resource::parse("arn:aws:states:::lambda:invoke"),
            Ok(Resource::LambdaInvoke)
        );
        assert_eq!(
            Resource::parse("arn:aws:states:::aws-sdk:dynamodb:getItem").map(|r| r.type_and_name()),
            Ok(("aws-sdk:dynamodb".to_owned(), "getItem".to_owned()))
        );
        assert_eq!(
            Resource::parse("arn:aws:states:::sqs:sendMessage"),
            Ok(Resource::Optimized {
                service: "sqs".to_owned(),
                action: "sendMessage".to_owned()
            })
        );
        assert!(Resource::parse("arn:aws:states:::lambda:invoke.waitForTaskToken").is_err());
    }

    #[test]
    fn start_execution_takes_its_patterns_and_no_other_sync_is_accepted() {
        let named = |text: &str| Resource::parse(text).map(|r| r.type_and_name());
        let states = |name: &str| Ok(("states".to_owned(), name.to_owned()));
        assert_eq!(
            named("arn:aws:states:::states:startExecution"),
            states("startExecution")
        );
        assert_eq!(
            named("arn:aws:states:::states:startExecution.sync"),
            states("startExecution.sync")
        );
        assert_eq!(
            named("arn:aws:states:::states:startExecution.sync:2"),
            states("startExecution.sync:2")
        );
        assert!(Resource::parse("arn:aws:states:::glue:startJobRun.sync").is_err());
        assert!(Resource::parse("arn:aws:states:::states:startExecution.sync:3").is_err());
    }

    fn child(status: &str) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        use aws_sdk_sfn::primitives::DateTime;
        let mut out =
            aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput::builder()
                .execution_arn("arn:aws:states:us-east-1:1:execution:child:c")
                .state_machine_arn("arn:aws:states:us-east-1:1:stateMachine:child")
                .name("c")
                .status(aws_sdk_sfn::types::ExecutionStatus::from(status))
                .start_date(DateTime::from_millis(1_000))
                .input(r#"{"k":1}"#);
        if status != "RUNNING" {
            out = out.stop_date(DateTime::from_millis(61_000));
        }
        if status == "SUCCEEDED" {
            out = out.output(r#"{"ok":true}"#);
        }
        if status == "FAILED" {
            out = out.error("E").cause("why");
        }
        out.build().unwrap()
    }

    #[test]
    fn a_sync_task_ends_with_its_child_in_the_shape_of_its_pattern() {
        assert!(child_outcome(&child("RUNNING"), Pattern::Sync2).is_none());
        let done = child_outcome(&child("SUCCEEDED"), Pattern::Sync2).unwrap();
        assert_eq!(done.ran, chrono::Duration::seconds(60));
        let output = done.result.unwrap();
        assert_eq!(output["Output"], json!({"ok": true}));
        assert_eq!(output["Input"], json!({"k": 1}));
        assert_eq!(output["StartDate"], 1_000);
        assert_eq!(output["StopDate"], 61_000);
        assert_eq!(output["InputDetails"], json!({"Included": true}));
        let text = child_outcome(&child("SUCCEEDED"), Pattern::Sync).unwrap();
        assert_eq!(text.result.unwrap()["Output"], json!(r#"{"ok":true}"#));
        for status in ["FAILED", "TIMED_OUT", "ABORTED"] {
            let failed = child_outcome(&child(status), Pattern::Sync2).unwrap();
            let failure = failed.result.unwrap_err();
            assert_eq!(failure.error, "States.TaskFailed");
            let cause: Value = serde_json::from_str(failure.cause.as_deref().unwrap()).unwrap();
            assert_eq!(cause["Status"], status);
            assert!(cause.get("Output").is_none());
        }
    }

    #[test]
    fn dynamodb_json_round_trips() {
        let item = json!({"id": {"S": "sg-1"}, "n": {"N": "3"}, "tags": {"SS": ["a"]}, "m": {"M": {"ok": {"BOOL": true}}}, "l": {"L": [{"NULL": true}]}});
        let map = to_attribute_map(&item).unwrap();
        assert_eq!(from_attribute_map(&map), item);
    }

    #[tokio::test]
    async fn a_region_without_a_local_endpoint_is_refused() {
        let integrations = Integrations::new(HashMap::new(), HashMap::new());
        let resource = Resource::parse("arn:aws:states:::sqs:sendMessage").unwrap();
        let failure = integrations
            .call(
                &resource,
                &json!({"QueueUrl": "q", "MessageBody": "m"}),
                "us-east-1",
            )
            .await
            .unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
    }
}
