//! Backups, audit records and publish claims in one DynamoDB table.
//!
//! Layout (partition key `pk`, sort key `sk`, both strings):
//!
//! | item            | pk                    | sk                   |
//! |-----------------|-----------------------|----------------------|
//! | backup          | `GROUP#<group id>`    | `BACKUP#<event id>`  |
//! | audit record    | `GROUP#<group id>`    | `AUDIT#<event id>`   |
//! | observation     | `GROUP#<group id>`    | `OBSERVED#<event id>`|
//! | publish claim   | `CLAIM#<dedup key>`   | `CLAIM`              |
//! | open findings   | `GROUP#<group id>`    | `FINDINGS`           |
//! | sweep summary   | `SWEEP#<sweep id>`    | `SUMMARY`            |
//! | active region   | `ACTIVE_REGION`       | `RECORD`             |
//!
//! An observation is the audit record of a passive region, which saw the
//! change and did nothing. It has a key of its own because the table is
//! global and both regions see every change: under one key, replication's
//! last writer wins, and a passive region's record arriving after the
//! active one's would erase what was revoked.
//!
//! One partition per group keeps a group's whole history in one `Query`.
//! Records are stored as a JSON document in `record`, so the table never
//! needs a migration when a record gains a field.

use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use moat_domain::records::{AuditRecord, BackupRecord};
use moat_domain::security_hub::SecurityHubFinding;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::config::Aws;

/// How long a publish claim blocks others before it is presumed dead: twice
/// the notify and escalate functions' timeout (30 s), so a live publisher is
/// never raced. The state machine's `Busy` retry waits longer than this.
pub const CLAIM_STALE_AFTER_SECONDS: i64 = 60;

/// How often an audit write is merged and retried when other runs for the
/// same change write at the same time.
const AUDIT_WRITE_ATTEMPTS: usize = 5;

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<T> {
    /// This call wrote it.
    Created,
    /// An earlier call wrote it; here is what it wrote.
    Existing(T),
}

/// The outcome of claiming the right to publish one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Publish now, then [`PublishClaims::complete`] (or
    /// [`PublishClaims::release`] on failure).
    Claimed,
    /// Already published, with this message id.
    Done(String),
}

/// Storing what Moat did.
pub trait Records {
    /// Writes the backup unless one for the same group and change exists,
    /// in which case the existing one is returned and nothing is written.
    fn put_backup(
        &self,
        record: &BackupRecord,
    ) -> impl Future<Output = Result<Stored<BackupRecord>, Error>> + Send;

    fn get_backup(
        &self,
        backup_id: &str,
    ) -> impl Future<Output = Result<Option<BackupRecord>, Error>> + Send;

    /// Every backup of a group, oldest change first.
    fn backups_of(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<BackupRecord>, Error>> + Send;

    /// Writes the audit record of one change, merged with what earlier runs
    /// for the same change recorded ([`AuditRecord::merged_with`]), so a
    /// retry or a duplicate delivery never erases what was revoked.
    fn put_audit(&self, record: &AuditRecord) -> impl Future<Output = Result<(), Error>> + Send;

    /// The change's audit record: the acting region's, or, when no region
    /// acted on it, a passive region's observation.
    fn get_audit(
        &self,
        group_id: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<AuditRecord>, Error>> + Send;
}

/// The locks that make a message go out at most once: a claim per dedup
/// key, taken before publishing and marked once the message is sent. They
/// live in the records table but are a separate need: only notify and
/// escalate publish.
pub trait PublishClaims {
    /// Claims the right to publish the message with this key. A live claim
    /// held by another run is `Error::ClaimBusy` (error type `Busy`).
    fn claim(
        &self,
        key: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, Error>> + Send;

    /// Marks a claimed message as published.
    fn complete(
        &self,
        key: &str,
        message_id: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Gives a claim up after a failed publish, so a retry can publish.
    fn release(&self, key: &str, owner: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The Security Hub findings Moat last left open (`FAILED`) on each group,
/// so that a later judgement that no longer raises one resolves it. Only
/// notify keeps them. Two notifies of one group at the same moment write
/// last-wins; a finding that race drops stays open until the group's next
/// judgement or the sweep re-raises it, which is safe (nothing is hidden).
pub trait OpenFindings {
    fn open_findings(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<SecurityHubFinding>, Error>> + Send;

    /// Replaces the group's open findings; none removes the item.
    fn put_open_findings(
        &self,
        group_id: &str,
        findings: &[SecurityHubFinding],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Every group with open findings: what a sweep must resolve when it
    /// finds the group compliant.
    fn groups_with_open_findings(
        &self,
    ) -> impl Future<Output = Result<std::collections::BTreeSet<String>, Error>> + Send;
}

/// The active-region record (`moat_domain::fencing`), in the global table
/// both regions read.
pub trait ActiveRegions {
    fn active_region(
        &self,
    ) -> impl Future<Output = Result<Option<moat_domain::fencing::ActiveRegion>, Error>> + Send;

    /// Writes `record` only over a lower epoch (or none): the epoch only
    /// grows, whoever writes. `Stored::Existing` gives the record that won.
    fn put_active_region(
        &self,
        record: &moat_domain::fencing::ActiveRegion,
    ) -> impl Future<Output = Result<Stored<moat_domain::fencing::ActiveRegion>, Error>> + Send;
}

/// Where a sweep's summary is kept.
pub trait SweepRecords {
    fn put_sweep_summary(
        &self,
        summary: &moat_domain::sweep::SweepSummary,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    fn get_sweep_summary(
        &self,
        sweep_id: &str,
    ) -> impl Future<Output = Result<Option<moat_domain::sweep::SweepSummary>, Error>> + Send;
}

/// [`Records`], [`PublishClaims`] and [`OpenFindings`] in one DynamoDB
/// table.
#[derive(Debug, Clone)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

impl DynamoRecords {
    pub fn new(aws: &Aws, table: impl Into<String>) -> DynamoRecords {
        DynamoRecords {
            client: Client::new(aws.sdk_config()),
            table: table.into(),
        }
    }

    /// One item, read consistently: every read here decides what to write.
    async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| Error::from_sdk("GetItem", error))?;
        Ok(output.item)
    }

    /// The SNS message id of a message that was published under `key`, if
    /// one was: what operators (`cargo xtask smoke`) read to prove that a
    /// change was announced.
    pub async fn sent_message_id(&self, key: &str) -> Result<Option<String>, Error> {
        let item = self.get_item(&format!("CLAIM#{key}"), "CLAIM").await?;
        Ok(item.and_then(|item| {
            (string_attribute(&item, "state").as_deref() == Some("sent"))
                .then(|| string_attribute(&item, "messageId"))
                .flatten()
        }))
    }

    async fn get_record<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, Error> {
        self.get_item(&pk, &sk)
            .await?
            .map(|item| decode(&item, &format!("{pk}/{sk}")))
            .transpose()
    }
}

/// Splits a backup id (`<group id>/<event id>`) into its key.
fn backup_key(backup_id: &str) -> Result<(String, String), Error> {
    match backup_id.split_once('/') {
        Some((group_id, event_id)) if !group_id.is_empty() && !event_id.is_empty() => {
            Ok((format!("GROUP#{group_id}"), format!("BACKUP#{event_id}")))
        }
        _ => Err(moat_domain::Error::invalid(
            "backup id",
            backup_id.to_owned(),
            "expected <group id>/<event id>",
        )
        .into()),
    }
}

fn encode<T: Serialize>(record: &T) -> AttributeValue {
    // Serialising our own plain structs to JSON cannot fail.
    AttributeValue::S(serde_json::to_string(record).expect("records serialise to JSON"))
}

/// A DynamoDB item as the SDK returns it.
type Item = std::collections::HashMap<String, AttributeValue>;

fn decode<T: DeserializeOwned>(item: &Item, key: &str) -> Result<T, Error> {
    let corrupt = |message: String| Error::Corrupt {
        what: "record",
        key: key.to_owned(),
        message,
    };
    let text = item
        .get("record")
        .and_then(|value| value.as_s().ok())
        .ok_or_else(|| corrupt("no `record` string attribute".into()))?;
    serde_json::from_str(text).map_err(|error| corrupt(error.to_string()))
}

fn string_attribute(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|value| value.as_s().ok()).cloned()
}

impl Records for DynamoRecords {
    async fn put_backup(&self, record: &BackupRecord) -> Result<Stored<BackupRecord>, Error> {
        let (pk, sk) = backup_key(&record.backup_id)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("sk", AttributeValue::S(sk.clone()))
            .item("kind", AttributeValue::S("backup".into()))
            .item(
                "createdAt",
                AttributeValue::S(record.created_at.to_rfc3339()),
            )
            .item("record", encode(record))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Stored::Created),
            Err(error) if is_condition_failure(&error) => {
                let existing = self
                    .get_record(pk.clone(), sk.clone())
                    .await?
                    .ok_or_else(|| Error::Corrupt {
                        what: "backup",
                        key: format!("{pk}/{sk}"),
                        message: "the conditional write said it exists, but it cannot be read"
                            .into(),
                    })?;
                Ok(Stored::Existing(existing))
            }
            Err(error) => Err(Error::from_sdk("PutItem", error)),
        }
    }

    async fn get_backup(&self, backup_id: &str) -> Result<Option<BackupRecord>, Error> {
        let (pk, sk) = backup_key(backup_id)?;
        self.get_record(pk, sk).await
    }

    async fn backups_of(&self, group_id: &str) -> Result<Vec<BackupRecord>, Error> {
        let pk = format!("GROUP#{group_id}");
        let mut backups = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":prefix", AttributeValue::S("BACKUP#".into()))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(|error| Error::from_sdk("Query", error))?;
            for item in page.items() {
                backups.push(decode::<BackupRecord>(item, &pk)?);
            }
            start = page.last_evaluated_key.filter(|key| !key.is_empty());
            if start.is_none() {
                break;
            }
        }
        backups.sort_by_key(|backup| backup.change.event_time);
        Ok(backups)
    }

    async fn put_audit(&self, record: &AuditRecord) -> Result<(), Error> {
        let (pk, sk) = (
            format!("GROUP#{}", record.group_id),
            audit_sort_key(record.observed_while_passive, &record.event_id),
        );
        // Optimistic concurrency: write only over the version we merged with,
        // and merge again when another run got there first.
        for _ in 0..AUDIT_WRITE_ATTEMPTS {
            let existing = self.get_item(&pk, &sk).await?;
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(pk.clone()))
                .item("sk", AttributeValue::S(sk.clone()))
                .item("kind", AttributeValue::S("audit".into()));
            let merged = match &existing {
                Some(item) => {
                    let old: AuditRecord = decode(item, &format!("{pk}/{sk}"))?;
                    let old_text = item
                        .get("record")
                        .cloned()
                        .unwrap_or(AttributeValue::Null(true));
                    put = put
                        .condition_expression("#record = :old")
                        .expression_attribute_names("#record", "record")
                        .expression_attribute_values(":old", old_text);
                    old.merged_with(record)
                }
                None => {
                    put = put.condition_expression("attribute_not_exists(pk)");
                    record.clone()
                }
            };
            let put = put
                .item(
                    "createdAt",
                    AttributeValue::S(merged.recorded_at.to_rfc3339()),
                )
                .item("record", encode(&merged));
            match put.send().await {
                Ok(_) => return Ok(()),
                Err(error) if is_condition_failure(&error) => continue,
                Err(error) => return Err(Error::from_sdk("PutItem", error)),
            }
        }
        Err(Error::Transport {
            operation: "PutItem",
            message: format!(
                "audit record {pk}/{sk} kept changing during {AUDIT_WRITE_ATTEMPTS} attempts to merge"
            ),
        })
    }

    async fn get_audit(
        &self,
        group_id: &str,
        event_id: &str,
    ) -> Result<Option<AuditRecord>, Error> {
        let pk = format!("GROUP#{group_id}");
        match self
            .get_record(pk.clone(), audit_sort_key(false, event_id))
            .await?
        {
            Some(acted) => Ok(Some(acted)),
            None => self.get_record(pk, audit_sort_key(true, event_id)).await,
        }
    }
}

impl PublishClaims for DynamoRecords {
    async fn claim(&self, key: &str, owner: &str, now: DateTime<Utc>) -> Result<Claim, Error> {
        let pk = format!("CLAIM#{key}");
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("sk", AttributeValue::S("CLAIM".into()))
            .item("kind", AttributeValue::S("claim".into()))
            .item("state", AttributeValue::S("pending".into()))
            .item("owner", AttributeValue::S(owner.to_owned()))
            .item("claimedAt", AttributeValue::N(now.timestamp().to_string()))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :pending AND (#owner = :owner OR claimedAt < :stale))",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(
                ":stale",
                AttributeValue::N((now.timestamp() - CLAIM_STALE_AFTER_SECONDS).to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(error) if is_condition_failure(&error) => {
                let item = self.get_item(&pk, "CLAIM").await?.unwrap_or_default();
                match (
                    string_attribute(&item, "state").as_deref(),
                    string_attribute(&item, "messageId"),
                ) {
                    (Some("sent"), Some(message_id)) => Ok(Claim::Done(message_id)),
                    _ => Err(Error::ClaimBusy {
                        key: key.to_owned(),
                    }),
                }
            }
            Err(error) => Err(Error::from_sdk("PutItem", error)),
        }
    }

    async fn complete(&self, key: &str, message_id: &str) -> Result<(), Error> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("CLAIM#{key}")))
            .key("sk", AttributeValue::S("CLAIM".into()))
            .update_expression("SET #state = :sent, messageId = :id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sent", AttributeValue::S("sent".into()))
            .expression_attribute_values(":id", AttributeValue::S(message_id.to_owned()))
            .send()
            .await
            .map_err(|error| Error::from_sdk("UpdateItem", error))?;
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), Error> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("CLAIM#{key}")))
            .key("sk", AttributeValue::S("CLAIM".into()))
            .condition_expression("#owner = :owner AND #state = :pending")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .send()
            .await;
        match result {
            // Someone else's claim, or already sent: nothing of ours to release.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(Error::from_sdk("DeleteItem", error)),
            Ok(_) => Ok(()),
        }
    }
}

impl OpenFindings for DynamoRecords {
    async fn groups_with_open_findings(&self) -> Result<std::collections::BTreeSet<String>, Error> {
        let mut groups = std::collections::BTreeSet::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :findings")
            .expression_attribute_values(":findings", AttributeValue::S(FINDINGS_SK.to_owned()))
            .projection_expression("pk")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| Error::from_sdk("Scan", error))?;
            for item in page.items() {
                if let Some(group) = item
                    .get("pk")
                    .and_then(|pk| pk.as_s().ok())
                    .and_then(|pk| pk.strip_prefix("GROUP#"))
                {
                    groups.insert(group.to_owned());
                }
            }
        }
        Ok(groups)
    }

    async fn open_findings(&self, group_id: &str) -> Result<Vec<SecurityHubFinding>, Error> {
        Ok(self
            .get_record(format!("GROUP#{group_id}"), FINDINGS_SK.to_owned())
            .await?
            .unwrap_or_default())
    }

    async fn put_open_findings(
        &self,
        group_id: &str,
        findings: &[SecurityHubFinding],
    ) -> Result<(), Error> {
        let pk = AttributeValue::S(format!("GROUP#{group_id}"));
        let sk = AttributeValue::S(FINDINGS_SK.to_owned());
        if findings.is_empty() {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", pk)
                .key("sk", sk)
                .send()
                .await
                .map_err(|error| Error::from_sdk("DeleteItem", error))?;
        } else {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", pk)
                .item("sk", sk)
                .item("record", encode(&findings))
                .send()
                .await
                .map_err(|error| Error::from_sdk("PutItem", error))?;
        }
        Ok(())
    }
}

/// The sort key of a group's open findings.
const FINDINGS_SK: &str = "FINDINGS";

/// The sort key of a change's audit record: the acting region's, or a
/// passive region's observation.
fn audit_sort_key(observed_while_passive: bool, event_id: &str) -> String {
    if observed_while_passive {
        format!("OBSERVED#{event_id}")
    } else {
        format!("AUDIT#{event_id}")
    }
}

const ACTIVE_REGION_PK: &str = "ACTIVE_REGION";
const ACTIVE_REGION_SK: &str = "RECORD";

impl ActiveRegions for DynamoRecords {
    async fn active_region(&self) -> Result<Option<moat_domain::fencing::ActiveRegion>, Error> {
        self.get_record(ACTIVE_REGION_PK.to_owned(), ACTIVE_REGION_SK.to_owned())
            .await
    }

    async fn put_active_region(
        &self,
        record: &moat_domain::fencing::ActiveRegion,
    ) -> Result<Stored<moat_domain::fencing::ActiveRegion>, Error> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(ACTIVE_REGION_PK.to_owned()))
            .item("sk", AttributeValue::S(ACTIVE_REGION_SK.to_owned()))
            .item("record", encode(record))
            .item("epoch", AttributeValue::N(record.epoch.to_string()))
            .condition_expression("attribute_not_exists(pk) OR epoch < :epoch")
            .expression_attribute_values(":epoch", AttributeValue::N(record.epoch.to_string()))
            .send()
            .await;
        match written {
            Ok(_) => Ok(Stored::Created),
            Err(error) => {
                let error = Error::from_sdk("PutItem", error);
                if error.code() != Some("ConditionalCheckFailedException") {
                    return Err(error);
                }
                match self.active_region().await? {
                    Some(existing) => Ok(Stored::Existing(existing)),
                    None => Err(error),
                }
            }
        }
    }
}

/// The sort key of a sweep's summary.
const SWEEP_SUMMARY_SK: &str = "SUMMARY";

impl SweepRecords for DynamoRecords {
    async fn put_sweep_summary(
        &self,
        summary: &moat_domain::sweep::SweepSummary,
    ) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(
                "pk",
                AttributeValue::S(format!("SWEEP#{}", summary.sweep_id)),
            )
            .item("sk", AttributeValue::S(SWEEP_SUMMARY_SK.to_owned()))
            .item("record", encode(summary))
            .send()
            .await
            .map_err(|error| Error::from_sdk("PutItem", error))?;
        Ok(())
    }

    async fn get_sweep_summary(
        &self,
        sweep_id: &str,
    ) -> Result<Option<moat_domain::sweep::SweepSummary>, Error> {
        self.get_record(format!("SWEEP#{sweep_id}"), SWEEP_SUMMARY_SK.to_owned())
            .await
    }
}

fn is_condition_failure<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|service| service.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_ids_split_into_group_and_event_keys() {
        assert_eq!(
            backup_key("sg-1/evt-1").unwrap(),
            ("GROUP#sg-1".to_owned(), "BACKUP#evt-1".to_owned())
        );
        assert!(backup_key("sg-1").is_err());
        assert!(backup_key("/evt").is_err());
    }
}
