//! `publish_once` with in-memory records and publisher: one message per key,
//! and a failed publish can be retried.

use chrono::Utc;
use moat_aws::publish::publish_once;
use moat_domain::ErrorType;
use moat_domain::notification::Notification;
use moat_memory::{MemoryPublisher, MemoryRecords};

fn notification(key: &str) -> Notification {
    Notification {
        subject: "s".into(),
        summary: "summary".into(),
        body: serde_json::json!({"kind": "change"}),
        attributes: Default::default(),
        dedup_key: key.into(),
    }
}

#[tokio::test]
async fn a_second_delivery_publishes_nothing_and_returns_the_first_message_id() {
    let (records, publisher) = (MemoryRecords::default(), MemoryPublisher::default());
    let first = publish_once(
        &records,
        &publisher,
        "topic",
        &notification("k"),
        "run-1",
        Utc::now(),
    )
    .await
    .unwrap();
    let second = publish_once(
        &records,
        &publisher,
        "topic",
        &notification("k"),
        "run-2",
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(!first.deduplicated);
    assert!(second.deduplicated);
    assert_eq!(first.message_id, second.message_id);
    assert_eq!(publisher.published().len(), 1);
}

#[tokio::test]
async fn a_failed_publish_can_be_retried_by_the_same_or_another_run() {
    let (records, publisher) = (MemoryRecords::default(), MemoryPublisher::default());
    publisher.faults.fail_next("publish", ErrorType::Retryable);
    let error = publish_once(
        &records,
        &publisher,
        "topic",
        &notification("k"),
        "run-1",
        Utc::now(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.error_type(), ErrorType::Retryable);
    let retried = publish_once(
        &records,
        &publisher,
        "topic",
        &notification("k"),
        "run-2",
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(!retried.deduplicated);
    assert_eq!(publisher.published().len(), 1);
}

#[tokio::test]
async fn once_sns_has_the_message_a_failure_to_mark_it_sent_is_not_an_error() {
    let (records, publisher) = (MemoryRecords::default(), MemoryPublisher::default());
    records.faults.fail_next("complete", ErrorType::Throttled);
    let published = publish_once(
        &records,
        &publisher,
        "topic",
        &notification("k"),
        "run-1",
        Utc::now(),
    )
    .await
    .expect("the message went out, so the step succeeds");
    let again = publish_once(
        &records,
        &publisher,
        "topic",
        &notification("k"),
        "run-1",
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        again.deduplicated,
        "the second attempt to mark it sent succeeded"
    );
    assert_eq!(again.message_id, published.message_id);
    assert_eq!(publisher.published().len(), 1);
}
