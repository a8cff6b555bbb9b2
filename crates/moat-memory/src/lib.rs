//! In-memory implementations of moat-aws's adapter traits, for tests whose
//! point is a function's logic rather than AWS. They keep the same contracts
//! as the AWS implementations (idempotent backups, claims, already-gone
//! rules), and can be told to fail an operation to test error paths.
//!
//! A crate of its own, used only as a dev-dependency, so that no Lambda
//! binary carries test doubles.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use moat_domain::ErrorType;
use moat_domain::notification::Notification;
use moat_domain::records::{AuditRecord, BackupRecord};
use moat_domain::snapshot::{Direction, GroupSnapshot};

use moat_aws::Error;
use moat_aws::ec2::{Revoked, SecurityGroups};
use moat_aws::policy_store::{PolicyObject, PolicySource};
use moat_aws::publish::Publisher;
use moat_aws::records::{
    CLAIM_STALE_AFTER_SECONDS, Claim, OpenFindings, PublishClaims, Records, Stored,
};
use moat_aws::security_hub::FindingsSink;
use moat_domain::security_hub::SecurityHubFinding;

/// Failures to inject, by operation name (`"revoke"`, `"publish"`, ...):
/// each queued error is returned once, in order.
#[derive(Debug, Default)]
pub struct Faults {
    queued: Mutex<HashMap<&'static str, Vec<ErrorType>>>,
}

impl Faults {
    /// Makes the next call of `operation` fail with `error_type`.
    pub fn fail_next(&self, operation: &'static str, error_type: ErrorType) {
        lock(&self.queued)
            .entry(operation)
            .or_default()
            .push(error_type);
    }

    fn check(&self, operation: &'static str) -> Result<(), Error> {
        let mut queued = lock(&self.queued);
        match queued.get_mut(operation) {
            Some(errors) if !errors.is_empty() => {
                let error_type = errors.remove(0);
                Err(Error::Service {
                    operation,
                    code: format!("Injected{error_type}"),
                    message: format!("injected {error_type} failure"),
                    error_type,
                })
            }
            _ => Ok(()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Security groups held in memory.
#[derive(Debug, Default)]
pub struct MemorySecurityGroups {
    groups: Mutex<BTreeMap<String, GroupSnapshot>>,
    pub faults: Faults,
}

impl MemorySecurityGroups {
    pub fn with(groups: impl IntoIterator<Item = GroupSnapshot>) -> MemorySecurityGroups {
        let memory = MemorySecurityGroups::default();
        for group in groups {
            memory.put(group);
        }
        memory
    }

    pub fn put(&self, group: GroupSnapshot) {
        lock(&self.groups).insert(group.group_id.clone(), group);
    }

    pub fn get(&self, group_id: &str) -> Option<GroupSnapshot> {
        lock(&self.groups).get(group_id).cloned()
    }
}

impl SecurityGroups for MemorySecurityGroups {
    async fn snapshot(
        &self,
        _account: &str,
        _region: &str,
        group_id: &str,
    ) -> Result<Option<GroupSnapshot>, Error> {
        self.faults.check("snapshot")?;
        Ok(self.get(group_id))
    }

    async fn default_vpc_group_id(
        &self,
        _account: &str,
        _region: &str,
        group_name: &str,
    ) -> Result<Option<String>, Error> {
        self.faults.check("default_vpc_group_id")?;
        Ok(lock(&self.groups)
            .values()
            .find(|group| group.group_name == group_name)
            .map(|group| group.group_id.clone()))
    }

    async fn revoke(
        &self,
        _account: &str,
        _region: &str,
        group_id: &str,
        direction: Direction,
        rule_ids: &[String],
    ) -> Result<Revoked, Error> {
        self.faults.check("revoke")?;
        let mut groups = lock(&self.groups);
        let group = groups.get_mut(group_id).ok_or_else(|| Error::Service {
            operation: "revoke",
            code: "InvalidGroup.NotFound".into(),
            message: format!("group {group_id} does not exist"),
            error_type: ErrorType::NotFound,
        })?;
        let mut outcome = Revoked::default();
        for rule_id in rule_ids {
            let before = group.rules.len();
            group
                .rules
                .retain(|rule| !(rule.rule_id == *rule_id && rule.direction == direction));
            if group.rules.len() < before {
                outcome.revoked.push(rule_id.clone());
            } else {
                outcome.already_gone.push(rule_id.clone());
            }
        }
        Ok(outcome)
    }

    async fn tag(
        &self,
        _account: &str,
        _region: &str,
        group_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.faults.check("tag")?;
        if let Some(group) = lock(&self.groups).get_mut(group_id) {
            group.tags.extend(tags.clone());
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct ClaimState {
    owner: String,
    claimed_at: DateTime<Utc>,
    message_id: Option<String>,
}

/// Records held in memory.
#[derive(Debug, Default)]
pub struct MemoryRecords {
    backups: Mutex<BTreeMap<String, BackupRecord>>,
    audits: Mutex<BTreeMap<(String, String), AuditRecord>>,
    claims: Mutex<HashMap<String, ClaimState>>,
    open_findings: Mutex<BTreeMap<String, Vec<SecurityHubFinding>>>,
    sweeps: Mutex<BTreeMap<String, moat_domain::sweep::SweepSummary>>,
    active_region: Mutex<Option<moat_domain::fencing::ActiveRegion>>,
    pub faults: Faults,
}

impl OpenFindings for MemoryRecords {
    async fn groups_with_open_findings(&self) -> Result<std::collections::BTreeSet<String>, Error> {
        self.faults.check("groups_with_open_findings")?;
        Ok(lock(&self.open_findings).keys().cloned().collect())
    }

    async fn open_findings(&self, group_id: &str) -> Result<Vec<SecurityHubFinding>, Error> {
        self.faults.check("open_findings")?;
        Ok(lock(&self.open_findings)
            .get(group_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn put_open_findings(
        &self,
        group_id: &str,
        findings: &[SecurityHubFinding],
    ) -> Result<(), Error> {
        self.faults.check("put_open_findings")?;
        let mut open = lock(&self.open_findings);
        if findings.is_empty() {
            open.remove(group_id);
        } else {
            open.insert(group_id.to_owned(), findings.to_vec());
        }
        Ok(())
    }
}

impl MemoryRecords {
    pub fn audits(&self) -> Vec<AuditRecord> {
        lock(&self.audits).values().cloned().collect()
    }
}

impl Records for MemoryRecords {
    async fn put_backup(&self, record: &BackupRecord) -> Result<Stored<BackupRecord>, Error> {
        self.faults.check("put_backup")?;
        let mut backups = lock(&self.backups);
        match backups.get(&record.backup_id) {
            Some(existing) => Ok(Stored::Existing(existing.clone())),
            None => {
                backups.insert(record.backup_id.clone(), record.clone());
                Ok(Stored::Created)
            }
        }
    }

    async fn get_backup(&self, backup_id: &str) -> Result<Option<BackupRecord>, Error> {
        self.faults.check("get_backup")?;
        Ok(lock(&self.backups).get(backup_id).cloned())
    }

    async fn backups_of(&self, group_id: &str) -> Result<Vec<BackupRecord>, Error> {
        self.faults.check("backups_of")?;
        let mut backups: Vec<_> = lock(&self.backups)
            .values()
            .filter(|backup| backup.snapshot.group_id == group_id)
            .cloned()
            .collect();
        backups.sort_by_key(|backup| backup.change.event_time);
        Ok(backups)
    }

    async fn put_audit(&self, record: &AuditRecord) -> Result<(), Error> {
        self.faults.check("put_audit")?;
        let mut audits = lock(&self.audits);
        let key = (record.group_id.clone(), record.event_id.clone());
        let merged = match audits.get(&key) {
            Some(existing) => existing.merged_with(record),
            None => record.clone(),
        };
        audits.insert(key, merged);
        Ok(())
    }

    async fn get_audit(
        &self,
        group_id: &str,
        event_id: &str,
    ) -> Result<Option<AuditRecord>, Error> {
        self.faults.check("get_audit")?;
        Ok(lock(&self.audits)
            .get(&(group_id.to_owned(), event_id.to_owned()))
            .cloned())
    }
}

impl PublishClaims for MemoryRecords {
    async fn claim(&self, key: &str, owner: &str, now: DateTime<Utc>) -> Result<Claim, Error> {
        self.faults.check("claim")?;
        let mut claims = lock(&self.claims);
        if let Some(existing) = claims.get(key) {
            if let Some(message_id) = &existing.message_id {
                return Ok(Claim::Done(message_id.clone()));
            }
            let stale = (now - existing.claimed_at).num_seconds() > CLAIM_STALE_AFTER_SECONDS;
            if existing.owner != owner && !stale {
                return Err(Error::ClaimBusy {
                    key: key.to_owned(),
                });
            }
        }
        claims.insert(
            key.to_owned(),
            ClaimState {
                owner: owner.to_owned(),
                claimed_at: now,
                message_id: None,
            },
        );
        Ok(Claim::Claimed)
    }

    async fn complete(&self, key: &str, message_id: &str) -> Result<(), Error> {
        self.faults.check("complete")?;
        if let Some(claim) = lock(&self.claims).get_mut(key) {
            claim.message_id = Some(message_id.to_owned());
        }
        Ok(())
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), Error> {
        self.faults.check("release")?;
        let mut claims = lock(&self.claims);
        if claims
            .get(key)
            .is_some_and(|claim| claim.owner == owner && claim.message_id.is_none())
        {
            claims.remove(key);
        }
        Ok(())
    }
}

/// A publisher that keeps what it was asked to publish.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<(String, Notification)>>,
    pub faults: Faults,
}

impl MemoryPublisher {
    /// Every (topic, notification) published, in order.
    pub fn published(&self) -> Vec<(String, Notification)> {
        lock(&self.published).clone()
    }
}

impl Publisher for MemoryPublisher {
    async fn publish(&self, topic_arn: &str, notification: &Notification) -> Result<String, Error> {
        self.faults.check("publish")?;
        let mut published = lock(&self.published);
        published.push((topic_arn.to_owned(), notification.clone()));
        Ok(format!("message-{}", published.len()))
    }
}

/// A versioned object store for policies, in memory.
#[derive(Debug, Default)]
pub struct MemoryPolicySource {
    /// Versions of each `bucket/key`, oldest first.
    objects: Mutex<HashMap<String, Vec<PolicyObject>>>,
    /// Version ids whose bytes are not text, as a binary upload would be.
    unreadable: Mutex<Vec<String>>,
    pub faults: Faults,
}

impl MemoryPolicySource {
    fn not_found(bucket: &str, key: &str) -> Error {
        Error::Service {
            operation: "GetObject",
            code: "NoSuchKey".into(),
            message: format!("s3://{bucket}/{key} does not exist"),
            error_type: ErrorType::NotFound,
        }
    }

    /// The newest version, whether or not its bytes are text: what
    /// `HeadObject` sees.
    fn latest(&self, bucket: &str, key: &str) -> Result<PolicyObject, Error> {
        lock(&self.objects)
            .get(&format!("{bucket}/{key}"))
            .and_then(|versions| versions.last().cloned())
            .ok_or_else(|| Self::not_found(bucket, key))
    }

    /// Uploads a version whose bytes are not UTF-8 text.
    pub async fn put_unreadable(&self, bucket: &str, key: &str) -> PolicyObject {
        let object = self
            .put(bucket, key, "")
            .await
            .expect("in-memory puts succeed");
        if let Some(version_id) = &object.version_id {
            lock(&self.unreadable).push(version_id.clone());
        }
        object
    }

    fn readable(
        &self,
        bucket: &str,
        key: &str,
        object: PolicyObject,
    ) -> Result<PolicyObject, Error> {
        let unreadable = object
            .version_id
            .as_ref()
            .is_some_and(|id| lock(&self.unreadable).contains(id));
        if unreadable {
            return Err(Error::Corrupt {
                what: "policy object",
                key: format!("s3://{bucket}/{key}"),
                message: "not UTF-8 text".into(),
            });
        }
        Ok(object)
    }
}

impl MemoryPolicySource {
    /// Uploads a new version, as `S3PolicySource::put` does.
    pub async fn put(&self, bucket: &str, key: &str, body: &str) -> Result<PolicyObject, Error> {
        self.faults.check("put")?;
        let mut objects = lock(&self.objects);
        let versions = objects.entry(format!("{bucket}/{key}")).or_default();
        let number = versions.len() + 1;
        let object = PolicyObject {
            body: body.to_owned(),
            etag: format!("\"etag-{number}\""),
            version_id: Some(format!("v{number}")),
        };
        versions.push(object.clone());
        Ok(object)
    }
}

impl PolicySource for MemoryPolicySource {
    async fn etag(&self, bucket: &str, key: &str) -> Result<String, Error> {
        self.faults.check("etag")?;
        Ok(self.latest(bucket, key)?.etag)
    }

    async fn fetch(&self, bucket: &str, key: &str) -> Result<PolicyObject, Error> {
        self.faults.check("fetch")?;
        let object = self.latest(bucket, key)?;
        self.readable(bucket, key, object)
    }

    async fn versions(&self, bucket: &str, key: &str) -> Result<Vec<String>, Error> {
        self.faults.check("versions")?;
        Ok(lock(&self.objects)
            .get(&format!("{bucket}/{key}"))
            .map(|versions| {
                versions
                    .iter()
                    .rev()
                    .filter_map(|object| object.version_id.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn fetch_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<PolicyObject, Error> {
        self.faults.check("fetch_version")?;
        lock(&self.objects)
            .get(&format!("{bucket}/{key}"))
            .and_then(|versions| {
                versions
                    .iter()
                    .find(|object| object.version_id.as_deref() == Some(version_id))
                    .cloned()
            })
            .ok_or_else(|| Self::not_found(bucket, key))
            .and_then(|object| self.readable(bucket, key, object))
    }
}

/// A Security Hub that keeps the findings by id, as an import would.
#[derive(Debug, Default)]
pub struct MemoryFindings {
    findings: Mutex<BTreeMap<String, SecurityHubFinding>>,
    pub faults: Faults,
}

impl MemoryFindings {
    pub fn findings(&self) -> Vec<SecurityHubFinding> {
        lock(&self.findings).values().cloned().collect()
    }
}

impl FindingsSink for MemoryFindings {
    async fn import(&self, findings: &[SecurityHubFinding]) -> Result<(), Error> {
        self.faults.check("import")?;
        let mut stored = lock(&self.findings);
        for finding in findings {
            stored.insert(finding.id.clone(), finding.clone());
        }
        Ok(())
    }
}

/// [`SweepRecords`](moat_aws::records::SweepRecords) in memory.
impl moat_aws::records::SweepRecords for MemoryRecords {
    async fn put_sweep_summary(
        &self,
        summary: &moat_domain::sweep::SweepSummary,
    ) -> Result<(), Error> {
        self.faults.check("put_sweep_summary")?;
        lock(&self.sweeps).insert(summary.sweep_id.clone(), summary.clone());
        Ok(())
    }

    async fn get_sweep_summary(
        &self,
        sweep_id: &str,
    ) -> Result<Option<moat_domain::sweep::SweepSummary>, Error> {
        self.faults.check("get_sweep_summary")?;
        Ok(lock(&self.sweeps).get(sweep_id).cloned())
    }
}

/// [`ReportStore`](moat_aws::reports::ReportStore) in memory: objects by key.
#[derive(Debug, Default)]
pub struct MemoryReports {
    objects: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
    pub faults: Faults,
}

impl MemoryReports {
    /// The object at `key` and its content type.
    pub fn object(&self, key: &str) -> Option<(Vec<u8>, String)> {
        lock(&self.objects).get(key).cloned()
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }
}

impl moat_aws::reports::ReportStore for MemoryReports {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), Error> {
        self.faults.check("put")?;
        lock(&self.objects).insert(key.to_owned(), (body, content_type.to_owned()));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.faults.check("get")?;
        Ok(lock(&self.objects)
            .get(key)
            .map(|(body, _)| String::from_utf8_lossy(body).into_owned()))
    }

    fn bucket(&self) -> &str {
        "memory-reports"
    }
}

impl moat_aws::inventory::GroupInventory for MemorySecurityGroups {
    async fn all_groups(&self, account: &str, region: &str) -> Result<Vec<GroupSnapshot>, Error> {
        self.faults.check("all_groups")?;
        Ok(lock(&self.groups)
            .values()
            .filter(|group| group.account == account && group.region == region)
            .cloned()
            .collect())
    }
}

impl moat_aws::records::ActiveRegions for MemoryRecords {
    async fn active_region(&self) -> Result<Option<moat_domain::fencing::ActiveRegion>, Error> {
        self.faults.check("active_region")?;
        Ok(lock(&self.active_region).clone())
    }

    async fn put_active_region(
        &self,
        record: &moat_domain::fencing::ActiveRegion,
    ) -> Result<moat_aws::records::Stored<moat_domain::fencing::ActiveRegion>, Error> {
        self.faults.check("put_active_region")?;
        let mut current = lock(&self.active_region);
        match current.as_ref() {
            Some(existing) if existing.epoch >= record.epoch => {
                Ok(moat_aws::records::Stored::Existing(existing.clone()))
            }
            _ => {
                *current = Some(record.clone());
                Ok(moat_aws::records::Stored::Created)
            }
        }
    }
}
