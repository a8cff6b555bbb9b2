//! Service integrations against a real moto server (started by
//! `local-aws`): the optimized `sqs:sendMessage`, `sns:publish` and
//! `dynamodb:*Item` integrations, the `aws-sdk:` form, and AWS's error names
//! (`SQS.QueueDoesNotExistException`,
//! `DynamoDB.ConditionalCheckFailedException`) caught by name. The
//! definition is `tests/fixtures/integrations.asl.json`, with the queue, the
//! topic and the endpoint filled in as placeholders.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, KeySchemaElement, KeyType, ProvisionedThroughput, ScalarAttributeType,
};
use serde_json::{Value, json};
use sfn_local::{ExecutionResult, ExecutionStatus, Executor, ExecutorConfig, StateMachine};

const REGION: &str = "us-east-1";

/// Creates the queue, the topic and the table the definition uses, and
/// gives the queue's URL and the topic's ARN.
async fn create_resources(config: &aws_config::SdkConfig) -> (String, String) {
    let queue_url = aws_sdk_sqs::Client::new(config)
        .create_queue()
        .queue_name("findings")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_owned();
    let topic_arn = aws_sdk_sns::Client::new(config)
        .create_topic()
        .name("alerts")
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .unwrap()
        .to_owned();
    aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name("Records")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("table");
    (queue_url, topic_arn)
}

/// Runs `tests/fixtures/integrations.asl.json` against moto.
async fn run_fixture(endpoint: &str, queue_url: &str, topic_arn: &str) -> ExecutionResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/integrations.asl.json"
    );
    let definition = std::fs::read_to_string(path).expect("fixture");
    let subs = HashMap::from([
        ("QueueUrl".to_owned(), queue_url.to_owned()),
        ("TopicArn".to_owned(), topic_arn.to_owned()),
        ("Endpoint".to_owned(), endpoint.to_owned()),
    ]);
    let machine = StateMachine::new("Integrations", &definition, &subs).expect("valid");
    let executor = Executor::new(ExecutorConfig {
        aws_endpoint_urls: HashMap::from([(REGION.to_owned(), endpoint.to_owned())]),
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    executor
        .run_to_completion(&machine, Some("it"), json!({"id": "sg-0abc"}))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn integrations_reach_moto_and_name_errors_as_aws_does() {
    let moto = tokio::task::spawn_blocking(|| local_aws::Moto::start(REGION))
        .await
        .expect("join")
        .expect("moto starts");
    let endpoint = moto.endpoint_url();
    let config = moto.sdk_config().await;
    let (queue_url, topic_arn) = create_resources(&config).await;
    let result = run_fixture(&endpoint, &queue_url, &topic_arn).await;
    assert_eq!(
        result.description.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        result.description
    );
    let output = result.output().unwrap();
    assert_eq!(output["got"], json!({"count": "1"}));
    assert_eq!(
        output["conditional"]["Error"],
        "DynamoDB.ConditionalCheckFailedException"
    );
    assert_eq!(output["sdk"], json!({"id": "sg-0abc"}));
    assert_eq!(
        output["sent"]["md5"],
        format!("{:032x}", md5_of(r#"{"finding":"sg-0abc"}"#))
    );
    assert!(output["published"]["id"].is_string());
    assert_eq!(
        output["missing"]["Error"], "SQS.QueueDoesNotExistException",
        "{}",
        output["missing"]
    );
    let scheduled: Vec<&Value> = result
        .events
        .iter()
        .filter(|e| e.event_type == "TaskScheduled")
        .map(|e| e.details.as_ref().unwrap())
        .collect();
    assert_eq!(scheduled[0]["resourceType"], "dynamodb");
    assert_eq!(scheduled[0]["resource"], "putItem");
    assert_eq!(scheduled[3]["resourceType"], "aws-sdk:dynamodb");

    // The message really reached the queue.
    let received = aws_sdk_sqs::Client::new(&config)
        .receive_message()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("receive");
    assert_eq!(
        received.messages().first().and_then(|m| m.body()),
        Some(r#"{"finding":"sg-0abc"}"#)
    );
}

fn md5_of(text: &str) -> impl std::fmt::LowerHex {
    use md5::Digest as _;
    let digest = md5::Md5::digest(text.as_bytes());
    u128::from_be_bytes(digest.into())
}
