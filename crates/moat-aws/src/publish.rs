//! Publishing notifications to SNS.
//!
//! Each message is sent with `MessageStructure=json`: SQS, Lambda and HTTP
//! subscribers get the JSON body (`default`), e-mail subscribers the readable
//! summary. Message attributes carry verdict, severity, account and the like
//! so a subscription's filter policy can pick what it wants.

use std::future::Future;

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use moat_domain::notification::Notification;
use serde_json::json;

use crate::Error;
use crate::config::Aws;
use crate::records::{Claim, PublishClaims};

/// Publishing one notification.
pub trait Publisher {
    /// Publishes and returns SNS's message id.
    fn publish(
        &self,
        topic_arn: &str,
        notification: &Notification,
    ) -> impl Future<Output = Result<String, Error>> + Send;
}

/// [`Publisher`] on SNS.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
}

impl SnsPublisher {
    pub fn new(aws: &Aws) -> SnsPublisher {
        SnsPublisher {
            client: Client::new(aws.sdk_config()),
        }
    }
}

/// The `Message` for `MessageStructure=json`: one text per protocol.
pub fn message_per_protocol(notification: &Notification) -> String {
    let body = notification.body.to_string();
    let readable = format!(
        "{}\n\n{}",
        notification.summary,
        serde_json::to_string_pretty(&notification.body).unwrap_or_else(|_| body.clone())
    );
    json!({ "default": body, "email": readable, "email-json": body }).to_string()
}

impl Publisher for SnsPublisher {
    async fn publish(&self, topic_arn: &str, notification: &Notification) -> Result<String, Error> {
        let mut request = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(&notification.subject)
            .message_structure("json")
            .message(message_per_protocol(notification));
        for (name, value) in &notification.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|error| Error::Config(format!("message attribute {name}: {error}")))?;
            request = request.message_attributes(name, attribute);
        }
        let output = request
            .send()
            .await
            .map_err(|error| Error::from_sdk("Publish", error))?;
        Ok(output.message_id.unwrap_or_default())
    }
}

/// A message that went out, now or earlier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub message_id: String,
    /// Set when an earlier run had already published it.
    pub deduplicated: bool,
    pub subject: String,
}

/// Publishes a notification at most once per `dedup_key`: claims the key,
/// publishes, and marks it sent. A failed publish releases the claim, so the
/// state machine's retry can publish. Once SNS has the message this never
/// fails: marking it sent is retried a few times and, should that still
/// fail, the claim stays pending and goes stale, the one case in which a
/// message can go out twice (as after a crash between publish and marking).
pub async fn publish_once<R, P>(
    records: &R,
    publisher: &P,
    topic_arn: &str,
    notification: &Notification,
    owner: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Published, Error>
where
    R: PublishClaims,
    P: Publisher,
{
    let key = &notification.dedup_key;
    let subject = notification.subject.clone();
    if let Claim::Done(message_id) = records.claim(key, owner, now).await? {
        return Ok(Published {
            message_id,
            deduplicated: true,
            subject,
        });
    }
    match publisher.publish(topic_arn, notification).await {
        Ok(message_id) => {
            mark_sent(records, key, &message_id).await;
            Ok(Published {
                message_id,
                deduplicated: false,
                subject,
            })
        }
        Err(error) => {
            // The publish error is the one worth reporting; a failed
            // release only delays the retry until the claim goes stale.
            if let Err(release) = records.release(key, owner).await {
                tracing::warn!(key = %key, error = %release, "could not release the publish claim");
            }
            Err(error)
        }
    }
}

/// How often marking a message sent is tried before giving up on it.
const MARK_SENT_ATTEMPTS: u32 = 3;

async fn mark_sent<R: PublishClaims>(records: &R, key: &str, message_id: &str) {
    for attempt in 1..=MARK_SENT_ATTEMPTS {
        match records.complete(key, message_id).await {
            Ok(()) => return,
            Err(error) if attempt < MARK_SENT_ATTEMPTS => {
                tracing::warn!(key = %key, attempt, error = %error, "could not mark the message sent; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)))
                    .await;
            }
            Err(error) => {
                // Failing now would make the state machine publish again at
                // once; a stale claim only risks that after a minute.
                tracing::error!(key = %key, message_id = %message_id, error = %error, "published, but could not mark the message sent");
            }
        }
    }
}
