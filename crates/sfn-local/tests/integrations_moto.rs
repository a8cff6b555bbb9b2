//! Service integrations against a real moto server (started by
//! `local-aws`): the optimized `sqs:sendMessage`, `sns:publish` and
//! `dynamodb:*Item` integrations, the `aws-sdk:` form, and AWS's error names
//! (`SQS.QueueDoesNotExistException`,
//! `DynamoDB.ConditionalCheckFailedException`) caught by name.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, KeySchemaElement, KeyType, ProvisionedThroughput, ScalarAttributeType,
};
use serde_json::{Value, json};
use sfn_local::{ExecutionStatus, Executor, ExecutorConfig, StateMachine};

const REGION: &str = "us-east-1";

fn sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn sns(endpoint: &str) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread")]
async fn integrations_reach_moto_and_name_errors_as_aws_does() {
    let moto = tokio::task::spawn_blocking(|| local_aws::Moto::start(REGION))
        .await
        .expect("join")
        .expect("moto starts");
    let endpoint = moto.endpoint_url();
    let queue_url = sqs(&endpoint)
        .create_queue()
        .queue_name("findings")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_owned();
    let topic_arn = sns(&endpoint)
        .create_topic()
        .name("alerts")
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .unwrap()
        .to_owned();
    dynamodb(&endpoint)
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

    let definition = json!({
        "StartAt": "Put",
        "States": {
            "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "Records", "Item": {"id": {"S.$": "$.id"}, "count": {"N": "1"}}},
                "ResultPath": null, "Next": "Get"},
            "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": "Records", "Key": {"id": {"S.$": "$.id"}}},
                "ResultSelector": {"count.$": "$.Item.count.N"}, "ResultPath": "$.got", "Next": "Update"},
            "Update": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {"TableName": "Records", "Key": {"id": {"S.$": "$.id"}},
                    "UpdateExpression": "SET #c = :two", "ConditionExpression": "#c = :zero",
                    "ExpressionAttributeNames": {"#c": "count"},
                    "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}}},
                "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": "$.conditional", "Next": "SdkGet"}],
                "End": true},
            "SdkGet": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName": "Records", "Key": {"id": {"S.$": "$.id"}}},
                "ResultSelector": {"id.$": "$.Item.id.S"}, "ResultPath": "$.sdk", "Next": "Send"},
            "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"finding.$": "$.id"}},
                "ResultSelector": {"hasId.$": "$.MessageId", "md5.$": "$.MD5OfMessageBody"}, "ResultPath": "$.sent", "Next": "Publish"},
            "Publish": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic_arn, "Message.$": "$.id", "Subject": "finding"},
                "ResultSelector": {"id.$": "$.MessageId"}, "ResultPath": "$.published", "Next": "Missing"},
            "Missing": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": format!("{endpoint}/123456789012/no-such-queue"), "MessageBody": "x"},
                "Catch": [{"ErrorEquals": ["SQS.QueueDoesNotExistException"], "ResultPath": "$.missing", "Next": "Done"}],
                "End": true},
            "Done": {"Type": "Succeed"}
        }
    });
    let machine =
        StateMachine::new("Integrations", &definition.to_string(), &HashMap::new()).expect("valid");
    let executor = Executor::new(ExecutorConfig {
        aws_endpoint_urls: HashMap::from([(REGION.to_owned(), endpoint.clone())]),
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    let result = executor
        .run_to_completion(&machine, Some("it"), json!({"id": "sg-0abc"}))
        .await;
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
    let received = sqs(&endpoint)
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
