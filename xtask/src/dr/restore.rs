//! `cargo xtask restore policy (--version ID | --at TIME)` and `cargo xtask
//! restore records --at TIME`: put back the policy or the records as they
//! were, without losing what is there now.
//!
//! - **policy**: the policy object is versioned in each region's bucket. The
//!   chosen content (a named version, or in each bucket the version current
//!   at TIME) is validated as `policy validate` does, then written as a new
//!   version in every region's bucket, so the history keeps everything and
//!   a bucket that holds that content already is left alone. A region that
//!   cannot be read or written is a failed step naming it, after the other
//!   region was done: the policies must not silently diverge, and a rerun
//!   completes the restore.
//! - **records**: DynamoDB point-in-time restore of the records table in the
//!   active region into a new table `<table>-restored-<YYYYMMDDTHHMMZ>`,
//!   then what a restore does not carry over (point-in-time recovery, TTL,
//!   tags, deletion protection, the stream) set like the source, then every
//!   function that reads the table switched to the new one. The source table
//!   is never touched. Terraform still names the old table until its
//!   records-table override is set, and its next apply would switch the
//!   functions back.
//!
//! Without `--yes` only the plan is printed (the reads run, nothing is
//! written). Every step is idempotent, so rerunning a finished restore
//! reports each step as already done.
//!
//! On the local stack moto's `RestoreTableToPointInTime` copies the source
//! table as it is now: moto keeps no history, so a local restore shows the
//! steps and the settings, not the time travel.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use aws_sdk_dynamodb as dynamodb;
use aws_sdk_lambda as lambda;
use aws_sdk_s3 as s3;
use chrono::{DateTime, SecondsFormat, Utc};
use moat_domain::fencing::{Standing, standing};
use moat_domain::policy::Policy;
use moat_stack::StackSpec;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dr::{Did, Region, Regions, Runner};
use crate::executions::sdk_error;

const USAGE: &str = "\
usage: cargo xtask restore policy (--version ID | --at TIME) [--yes] [--json]
       cargo xtask restore records --at TIME [--yes] [--json]

Puts back an earlier policy or an earlier state of the records. Without
--yes only the plan is printed; rerunning a finished restore does nothing.

  policy             write the chosen policy as a new version in both regions'
                     buckets (history kept), after validating it
    --version ID     a version id of the policy object, from either bucket
    --at TIME        in each bucket, the version that was current at TIME
  records            restore the records table of the active region at TIME
                     into a new table, set it up like the source, and switch
                     the functions to it (then tell Terraform: see the output)
    --at TIME        the point in time, within the table's recovery window

  TIME               RFC 3339, such as 2026-12-01T03:00:00Z
  --yes              act
  --json             one JSON document instead of text";

/// What Terraform must be told after `restore records`.
const TERRAFORM_NOTE: &str = "set records_table_overrides = { REGION = NEW TABLE } in the Terraform root (infra/examples/two-regions) and apply, or the next apply switches the functions back; until then their roles grant only the old table";

/// How long a restore may take to become ACTIVE: large tables take hours.
/// A rerun goes on waiting where this one stopped.
const RESTORE_WAIT: Duration = Duration::from_secs(4 * 60 * 60);
/// How long an `UpdateTable` or `UpdateFunctionConfiguration` may take.
const UPDATE_WAIT: Duration = Duration::from_secs(10 * 60);
const POLL: Duration = Duration::from_secs(5);

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub what: What,
    pub yes: bool,
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum What {
    Policy(PolicyFrom),
    Records { at: DateTime<Utc> },
}

/// Which policy to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyFrom {
    Version(String),
    At(DateTime<Utc>),
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Request>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut target: Option<String> = None;
    let mut version = None;
    let mut at = None;
    let (mut yes, mut json) = (false, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Value(value) if target.is_none() => target = Some(value.string()?),
            Long("version") => version = Some(parser.value()?.string()?),
            Long("at") => at = Some(parse_time("--at", &parser.value()?.string()?)?),
            Long("yes") => yes = true,
            Long("json") => json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    let what = match target.as_deref() {
        Some("policy") => match (version, at) {
            (Some(version), None) => What::Policy(PolicyFrom::Version(version)),
            (None, Some(at)) => What::Policy(PolicyFrom::At(at)),
            _ => bail!("restore policy: name the version: --version ID or --at TIME (one of them)"),
        },
        Some("records") => {
            if version.is_some() {
                bail!(
                    "restore records: --version is for `restore policy`; records restore --at TIME"
                );
            }
            let Some(at) = at else {
                bail!(
                    "restore records: --at TIME is required (RFC 3339, such as 2026-12-01T03:00:00Z)"
                );
            };
            What::Records { at }
        }
        Some(other) => bail!("restore what? `{other}` is neither `policy` nor `records`"),
        None => bail!("restore what? `policy` or `records`"),
    };
    Ok(Some(Request { what, yes, json }))
}

fn parse_time(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| anyhow!("{flag} {text}: an RFC 3339 time such as 2026-12-01T03:00:00Z"))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(request) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    crate::executions::runtime()?.block_on(async {
        let regions = Regions::load().await?;
        restore(&regions, &request).await.map(drop)
    })
}

/// Plans the restore and, with `--yes`, does it; prints the steps as they
/// end and gives the run's JSON document. On failure with `--json` the
/// document is printed all the same, with an `error` field.
pub(crate) async fn restore(regions: &Regions, request: &Request) -> anyhow::Result<Value> {
    let command = match request.what {
        What::Policy(_) => "restore policy",
        What::Records { .. } => "restore records",
    };
    let mut runner = Runner::new(command, request.yes, request.json);
    let mut extra = json!({});
    let result = match &request.what {
        What::Policy(from) => restore_policy(regions, from, &mut runner, &mut extra).await,
        What::Records { at } => restore_records(regions, *at, &mut runner, &mut extra).await,
    };
    match result {
        Ok(summary) => {
            runner.finish(&summary, extra.clone())?;
            Ok(runner.document(extra))
        }
        Err(error) => {
            if request.json {
                let mut document = runner.document(extra);
                document["error"] = json!(format!("{error:#}"));
                println!("{}", serde_json::to_string_pretty(&document)?);
            }
            Err(error)
        }
    }
}

// --- restore policy -------------------------------------------------------

/// One version (or delete marker) of the policy object.
#[derive(Debug, Clone)]
struct Entry {
    version_id: String,
    last_modified: DateTime<Utc>,
    deleted: bool,
    latest: bool,
}

/// The bytes of one version.
#[derive(Debug, Clone)]
struct Content {
    region: String,
    version_id: String,
    last_modified: DateTime<Utc>,
    bytes: Vec<u8>,
    sha256: String,
}

/// One region's policy bucket as read before anything is written.
struct PolicyBucket<'a> {
    region: &'a Region,
    s3: s3::Client,
    bucket: String,
    key: String,
    /// Every version and delete marker of the key, newest first.
    entries: Vec<Entry>,
    /// The current version; `None` when the object is deleted or was
    /// never written.
    current: Option<Content>,
}

impl<'a> PolicyBucket<'a> {
    async fn read(region: &'a Region, spec: &StackSpec) -> anyhow::Result<PolicyBucket<'a>> {
        let account = crate::sweep::caller_account(&region.aws).await?;
        let s3 = s3::Client::new(&region.aws);
        let bucket = spec.policy_bucket_in(&account, &region.name);
        let key = spec.policy_key.clone();
        let entries = list_versions(&s3, &bucket, &key)
            .await
            .with_context(|| format!("s3://{bucket}/{key} in {}", region.name))?;
        let mut read = PolicyBucket {
            region,
            s3,
            bucket,
            key,
            entries,
            current: None,
        };
        // A current version without an id ("null") was written while the
        // bucket did not version, so a write now would replace it for good.
        // (This, not GetBucketVersioning, because moto 5.2.5 answers that
        // with a root element the SDK refuses.)
        if let Some(latest) = read.entries.iter().find(|entry| entry.latest).cloned() {
            if latest.version_id == "null" {
                bail!(
                    "{} in {} has a current version without a version id: the bucket does not version (or has not since that write), so a restore could overwrite the policy for good; turn versioning on and push the policy once first",
                    read.url(),
                    region.name
                );
            }
            if !latest.deleted {
                read.current = Some(read.fetch(&latest).await?);
            }
        }
        Ok(read)
    }

    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn fetch(&self, entry: &Entry) -> anyhow::Result<Content> {
        let output = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .version_id(&entry.version_id)
            .send()
            .await
            .map_err(|error| sdk_error("GetObject", error))
            .with_context(|| format!("{} version {}", self.url(), entry.version_id))?;
        let bytes = output
            .body
            .collect()
            .await
            .with_context(|| format!("reading {} version {}", self.url(), entry.version_id))?
            .to_vec();
        Ok(Content {
            region: self.region.name.clone(),
            version_id: entry.version_id.clone(),
            last_modified: entry.last_modified,
            sha256: sha256(&bytes),
            bytes,
        })
    }

    fn describe_current(&self) -> String {
        match &self.current {
            Some(current) => format!(
                "{}: {} versions; current {} of {} (sha256 {})",
                self.url(),
                self.entries.len(),
                current.version_id,
                time(current.last_modified),
                short(&current.sha256)
            ),
            None => format!(
                "{}: {} versions; no current version (deleted or never written)",
                self.url(),
                self.entries.len()
            ),
        }
    }

    /// The version that was current at `at`: the newest written then or
    /// before.
    fn current_at(&self, at: DateTime<Utc>) -> anyhow::Result<&Entry> {
        let Some(entry) = self.entries.iter().find(|entry| entry.last_modified <= at) else {
            let oldest = self
                .entries
                .last()
                .map(|entry| format!("its oldest version is of {}", time(entry.last_modified)))
                .unwrap_or_else(|| "it has no version at all".to_owned());
            bail!(
                "{} in {} had no version yet at {}: {oldest}",
                self.url(),
                self.region.name,
                time(at)
            );
        };
        if entry.deleted {
            bail!(
                "{} in {} was deleted at {} (delete marker {}): there was no policy at {}",
                self.url(),
                self.region.name,
                time(entry.last_modified),
                entry.version_id,
                time(at)
            );
        }
        Ok(entry)
    }
}

/// Every version and delete marker of `key` (exactly), newest first.
async fn list_versions(s3: &s3::Client, bucket: &str, key: &str) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|error| sdk_error("ListObjectVersions", error))?;
        for version in page.versions() {
            if version.key() == Some(key) {
                entries.push(entry(
                    version.version_id(),
                    version.last_modified(),
                    version.is_latest(),
                    false,
                )?);
            }
        }
        for marker in page.delete_markers() {
            if marker.key() == Some(key) {
                entries.push(entry(
                    marker.version_id(),
                    marker.last_modified(),
                    marker.is_latest(),
                    true,
                )?);
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    // S3 lists a key's versions newest first; a stable sort keeps that
    // order for versions written within the same second.
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.last_modified));
    Ok(entries)
}

fn entry(
    version_id: Option<&str>,
    last_modified: Option<&aws_sdk_s3::primitives::DateTime>,
    latest: Option<bool>,
    deleted: bool,
) -> anyhow::Result<Entry> {
    Ok(Entry {
        version_id: version_id
            .context("ListObjectVersions answered a version without an id")?
            .to_owned(),
        last_modified: last_modified
            .and_then(chrono_of)
            .context("ListObjectVersions answered a version without a time")?,
        deleted,
        latest: latest.unwrap_or(false),
    })
}

async fn restore_policy(
    regions: &Regions,
    from: &PolicyFrom,
    runner: &mut Runner,
    extra: &mut Value,
) -> anyhow::Result<String> {
    let spec = &regions.spec;
    // A region that cannot be read is a failed step; the other region goes
    // on, and the command fails at the end naming it.
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    let mut buckets = Vec::new();
    for region in &regions.all {
        let mut read = None;
        let step = format!("read the policy's versions in {}", region.name);
        let checked = runner
            .check(&step, async {
                let bucket = PolicyBucket::read(region, spec).await?;
                let detail = bucket.describe_current();
                read = Some(bucket);
                Ok(detail)
            })
            .await;
        match (checked, read) {
            (Ok(_), Some(bucket)) => buckets.push(bucket),
            (Err(error), _) => failed.push((region.name.clone(), error)),
            (Ok(_), None) => unreachable!("a read that succeeded gave its bucket"),
        }
    }
    if buckets.is_empty() {
        return Err(all_failed(failed));
    }

    // What each bucket gets back, in the order of `buckets`.
    let mut chosen: Vec<Content> = Vec::new();
    match from {
        PolicyFrom::Version(id) => {
            let mut found = None;
            runner
                .check(&format!("find version {id}"), async {
                    let holders: Vec<&PolicyBucket<'_>> = buckets
                        .iter()
                        .filter(|bucket| bucket.entries.iter().any(|e| &e.version_id == id))
                        .collect();
                    let Some(first) = holders.first() else {
                        let searched: Vec<String> =
                            buckets.iter().map(|bucket| bucket.url()).collect();
                        let mut message =
                            format!("no version {id} of the policy in {}", searched.join(" or "));
                        if !failed.is_empty() {
                            let names: Vec<&str> =
                                failed.iter().map(|(name, _)| name.as_str()).collect();
                            message.push_str(&format!(
                                " ({} could not be searched)",
                                names.join(", ")
                            ));
                        }
                        bail!(message);
                    };
                    let entry = first
                        .entries
                        .iter()
                        .find(|e| &e.version_id == id)
                        .expect("the holder has it");
                    if entry.deleted {
                        bail!(
                            "version {id} of {} is a delete marker, not a policy",
                            first.url()
                        );
                    }
                    let content = first.fetch(entry).await?;
                    let names: Vec<&str> = holders
                        .iter()
                        .map(|bucket| bucket.region.name.as_str())
                        .collect();
                    let detail = format!(
                        "version {id} of {} is in {} (taken from {}), sha256 {}",
                        time(content.last_modified),
                        names.join(" and "),
                        first.url(),
                        short(&content.sha256)
                    );
                    found = Some(content);
                    Ok(detail)
                })
                .await?;
            let content = found.expect("the step found it");
            chosen = buckets.iter().map(|_| content.clone()).collect();
        }
        PolicyFrom::At(at) => {
            for bucket in &buckets {
                let mut found = None;
                runner
                    .check(
                        &format!(
                            "find the version current at {} in {}",
                            time(*at),
                            bucket.region.name
                        ),
                        async {
                            let entry = bucket.current_at(*at)?;
                            let content = bucket.fetch(entry).await?;
                            let detail = format!(
                                "{}: version {} of {} (sha256 {})",
                                bucket.url(),
                                content.version_id,
                                time(content.last_modified),
                                short(&content.sha256)
                            );
                            found = Some(content);
                            Ok(detail)
                        },
                    )
                    .await?;
                chosen.push(found.expect("the step found it"));
            }
        }
    }

    let differ = chosen
        .iter()
        .any(|content| content.sha256 != chosen[0].sha256);
    runner
        .check("validate the policy", async {
            let mut seen = Vec::new();
            let mut details = Vec::new();
            for content in &chosen {
                if seen.contains(&content.sha256) {
                    continue;
                }
                seen.push(content.sha256.clone());
                let source = format!(
                    "version {} from {}",
                    content.version_id, content.region
                );
                let text = std::str::from_utf8(&content.bytes).map_err(|_| {
                    anyhow!("{source} is not a valid policy: it is not UTF-8 text; refusing to restore it")
                })?;
                let policy = Policy::from_json(text).map_err(|error| {
                    anyhow!("{source} is not a valid policy ({error}); refusing to restore it")
                })?;
                details.push(format!(
                    "{source}: policy {} version {}, {} rules",
                    policy.id(),
                    policy.version(),
                    policy.rules().len()
                ));
            }
            let mut detail = details.join("; ");
            if differ {
                detail.push_str(
                    "; note: the buckets held different policies at that time, and each gets its own back",
                );
            }
            Ok(detail)
        })
        .await?;

    let mut reports = Vec::new();
    for (bucket, content) in buckets.iter().zip(&chosen) {
        let current = bucket.current.as_ref();
        let now = match current {
            Some(current) => format!(
                "current {} of {} (sha256 {})",
                current.version_id,
                time(current.last_modified),
                short(&current.sha256)
            ),
            None => "no current version".to_owned(),
        };
        let back = format!(
            "the content of version {} from {} (sha256 {})",
            content.version_id,
            content.region,
            short(&content.sha256)
        );
        let same = current.is_some_and(|current| current.sha256 == content.sha256);
        let plan = if same {
            format!(
                "{}: {now} holds {back} already; nothing to write",
                bucket.url()
            )
        } else {
            let differ_note = if differ {
                " (this bucket's own version)"
            } else {
                ""
            };
            format!(
                "{}: {now} → a new version with {back}{differ_note}; every version stays in the history",
                bucket.url()
            )
        };
        let step = format!("restore the policy in {}", bucket.region.name);
        let acted = runner
            .act(&step, plan, async {
                if same {
                    return Ok(Did::already(format!(
                        "{}: {now} holds {back} already",
                        bucket.url()
                    )));
                }
                let written = bucket
                    .s3
                    .put_object()
                    .bucket(&bucket.bucket)
                    .key(&bucket.key)
                    .content_type("application/json")
                    .body(s3::primitives::ByteStream::from(content.bytes.clone()))
                    .send()
                    .await
                    .map_err(|error| sdk_error("PutObject", error))
                    .with_context(|| format!("{} in {}", bucket.url(), bucket.region.name))?;
                Ok(Did::now(format!(
                    "{}: new version {} with {back}; the former {now} stays in the history",
                    bucket.url(),
                    written.version_id().unwrap_or("(no id)")
                )))
            })
            .await;
        if let Err(error) = acted {
            failed.push((bucket.region.name.clone(), error));
        }
        reports.push(json!({
            "region": bucket.region.name,
            "bucket": bucket.bucket,
            "key": bucket.key,
            "current": current.map(|current| json!({
                "versionId": current.version_id,
                "lastModified": time(current.last_modified),
                "sha256": current.sha256,
            })),
            "restore": {
                "fromRegion": content.region,
                "fromVersion": content.version_id,
                "fromLastModified": time(content.last_modified),
                "sha256": content.sha256,
            },
        }));
    }
    extra["policy"] = json!({
        "from": match from {
            PolicyFrom::Version(id) => json!({"version": id}),
            PolicyFrom::At(at) => json!({"at": time(*at)}),
        },
        "regions": reports,
        "failedRegions": failed.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(),
    });
    if !failed.is_empty() {
        return Err(some_failed(failed, regions));
    }
    Ok(if runner.acting() {
        "the policy is restored in every region".to_owned()
    } else {
        "plan only: nothing written; add --yes to restore".to_owned()
    })
}

/// The error when no region could be read.
fn all_failed(failed: Vec<(String, anyhow::Error)>) -> anyhow::Error {
    let names: Vec<String> = failed.iter().map(|(name, _)| name.clone()).collect();
    let first = failed.into_iter().next().map(|(_, error)| error);
    match first {
        Some(error) => error.context(format!("no region answered ({})", names.join(", "))),
        None => anyhow!("no region to restore in"),
    }
}

/// The error when some regions failed and the others were done.
fn some_failed(failed: Vec<(String, anyhow::Error)>, regions: &Regions) -> anyhow::Error {
    let names: Vec<String> = failed.iter().map(|(name, _)| name.clone()).collect();
    let others: Vec<String> = regions
        .names()
        .into_iter()
        .filter(|name| !names.contains(name))
        .collect();
    let (_, error) = failed.into_iter().next().expect("some failed");
    let done = if others.is_empty() {
        String::new()
    } else {
        format!(", while {} went as its steps say", others.join(", "))
    };
    error.context(format!(
        "the policy is not restored in {} (see the failed step){done}: the regions' policies may differ until a rerun completes the restore once {} answers",
        names.join(", "),
        names.join(", ")
    ))
}

// --- restore records ------------------------------------------------------

/// What a restore does not carry over, as the source table has it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TableSettings {
    arn: String,
    billing_mode: Option<dynamodb::types::BillingMode>,
    deletion_protection: bool,
    /// The stream's view type when the stream is on.
    stream: Option<dynamodb::types::StreamViewType>,
    /// The TTL attribute when TTL is on.
    ttl: Option<String>,
    recovery_period_days: Option<i32>,
    tags: BTreeMap<String, String>,
}

impl TableSettings {
    fn describe(&self) -> String {
        format!(
            "TTL {}; {} tag(s); deletion protection {}; stream {}",
            self.ttl
                .as_deref()
                .map(|attribute| format!("on `{attribute}`"))
                .unwrap_or_else(|| "off".to_owned()),
            self.tags.len(),
            on_off(self.deletion_protection),
            self.stream
                .as_ref()
                .map(|view| view.as_str().to_owned())
                .unwrap_or_else(|| "off".to_owned()),
        )
    }
}

/// The name of the table restored at `at`.
pub(crate) fn restored_table_name(table: &str, at: DateTime<Utc>) -> String {
    format!("{table}-restored-{}", at.format("%Y%m%dT%H%MZ"))
}

/// The region whose table the functions use now: the active region's
/// record, read in every region that answers (the highest epoch wins, as
/// in the functions' fence); with no record, the primary.
async fn active_region(regions: &Regions) -> anyhow::Result<(String, String)> {
    let spec = &regions.spec;
    let mut seen = Vec::new();
    let mut unread = Vec::new();
    for region in &regions.all {
        match regions.read_record(region).await {
            Ok(record) => seen.extend(record),
            Err(error) => unread.push(format!("{}: {error}", region.name)),
        }
    }
    if unread.len() == regions.all.len() {
        bail!(
            "the active-region record could be read in no region: {}",
            unread.join("; ")
        );
    }
    let primary = &spec.regions.primary;
    let (region, mut detail) = match standing(primary, &seen) {
        Standing::Unfenced => (
            primary.clone(),
            format!("{primary}: no active-region record, so the primary"),
        ),
        Standing::Active { epoch } => (primary.clone(), format!("{primary} (epoch {epoch})")),
        Standing::Passive { active } => (
            active.region.clone(),
            format!(
                "{} (epoch {}, since {} by {})",
                active.region,
                active.epoch,
                time(active.since),
                active.by
            ),
        ),
    };
    if !unread.is_empty() {
        detail.push_str(&format!("; unread, so not counted: {}", unread.join("; ")));
    }
    Ok((region, detail))
}

async fn restore_records(
    regions: &Regions,
    at: DateTime<Utc>,
    runner: &mut Runner,
    extra: &mut Value,
) -> anyhow::Result<String> {
    let spec = &regions.spec;
    let source = spec.records_table.clone();
    let target = restored_table_name(&source, at);
    extra["records"] = json!({
        "sourceTable": source,
        "restoredTable": target,
        "at": time(at),
    });

    let mut active = None;
    runner
        .check("find the active region", async {
            let (region, detail) = active_region(regions).await?;
            active = Some(region);
            Ok(detail)
        })
        .await?;
    let region = regions.get(&active.expect("the step found it"))?;
    extra["records"]["activeRegion"] = json!(region.name);
    let dynamo = dynamodb::Client::new(&region.aws);

    let mut source_settings = None;
    runner
        .check(
            &format!(
                "check point-in-time recovery of {source} in {}",
                region.name
            ),
            async {
                let (settings, window) =
                    recovery_window(&dynamo, &source, &region.name, at).await?;
                source_settings = Some(settings);
                Ok(window)
            },
        )
        .await?;
    let mut source_settings = source_settings.expect("the step read it");
    runner
        .check(&format!("read the settings of {source}"), async {
            read_settings(&dynamo, &source, &mut source_settings).await?;
            Ok(source_settings.describe())
        })
        .await?;
    let wanted = source_settings;

    // A restore started by an earlier run that is ACTIVE now was waited
    // for already.
    let mut created = false;
    runner
        .act(
            &format!("restore {source} at {} as {target}", time(at)),
            format!(
                "RestoreTableToPointInTime {source} at {} into the new table {target} in {}; {source} is not touched",
                time(at),
                region.name
            ),
            async {
                let did = restore_table(&dynamo, &source, &target, at, &wanted).await?;
                created = !did.already;
                Ok(did)
            },
        )
        .await?;
    runner
        .act(
            &format!("wait for {target} to be ACTIVE"),
            format!(
                "wait up to {} h for the restore to finish",
                RESTORE_WAIT.as_secs() / 3600
            ),
            async {
                let waited = wait_active(&dynamo, &target, RESTORE_WAIT).await?;
                let detail = format!("{target} is ACTIVE after {:.0} s", waited.as_secs_f64());
                Ok(if waited.is_zero() && !created {
                    Did::already(format!("{target} is ACTIVE"))
                } else {
                    Did::now(detail)
                })
            },
        )
        .await?;
    runner
        .act(
            &format!("point-in-time recovery on {target}"),
            format!(
                "enable point-in-time recovery on {target}{}",
                wanted
                    .recovery_period_days
                    .map(|days| format!(" ({days} days, as on {source})"))
                    .unwrap_or_default()
            ),
            enable_recovery(&dynamo, &target, &wanted),
        )
        .await?;
    runner
        .act(
            &format!("TTL on {target} like {source}"),
            match &wanted.ttl {
                Some(attribute) => format!("enable TTL on `{attribute}`"),
                None => format!("{source} has no TTL: nothing to set"),
            },
            apply_ttl(&dynamo, &target, &wanted),
        )
        .await?;
    runner
        .act(
            &format!("tags on {target} like {source}"),
            if wanted.tags.is_empty() {
                format!("{source} has no tags: nothing to set")
            } else {
                format!("tag {target} with {}", tag_list(&wanted.tags))
            },
            apply_tags(&dynamo, &target, &wanted),
        )
        .await?;
    runner
        .act(
            &format!("stream on {target} like {source}"),
            match &wanted.stream {
                Some(view) => format!("enable the stream ({})", view.as_str()),
                None => format!("{source} has no stream: nothing to set"),
            },
            apply_stream(&dynamo, &target, &wanted),
        )
        .await?;
    runner
        .act(
            &format!("deletion protection on {target} like {source}"),
            if wanted.deletion_protection {
                format!("enable deletion protection on {target}")
            } else {
                format!("{source} has no deletion protection: nothing to set")
            },
            apply_deletion_protection(&dynamo, &target, &wanted),
        )
        .await?;

    let lambda = lambda::Client::new(&region.aws);
    let mut switched = Vec::new();
    for (function, variables) in records_readers(spec) {
        let name = spec.function_name_of(function);
        runner
            .act(
                &format!("switch {name} to {target} in {}", region.name),
                format!(
                    "set {} to {target} on {name}, publish it and move `{}` to it; every other variable kept",
                    variables.join(", "),
                    spec.function_alias
                ),
                switch_function(&lambda, &name, &spec.function_alias, &variables, &target),
            )
            .await?;
        switched.push(name);
    }
    extra["records"]["functions"] = json!(switched);
    extra["records"]["terraform"] = json!(TERRAFORM_NOTE);
    Ok(if runner.acting() {
        format!(
            "{source} as of {} is {target} in {}, set up like {source}, and the functions use it; \
             {TERRAFORM_NOTE}. The functions' roles grant the records table's ARN only, so that \
             apply is also what lets them reach {target}; the other region's functions keep {source}",
            time(at),
            region.name
        )
    } else {
        "plan only: nothing restored, no table created; add --yes to restore".to_owned()
    })
}

/// Checks that the source can be restored at `at`, and gives what the
/// restore needs of it and the recovery window.
async fn recovery_window(
    dynamo: &dynamodb::Client,
    source: &str,
    region: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<(TableSettings, String)> {
    let backups = dynamo
        .describe_continuous_backups()
        .table_name(source)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeContinuousBackups", error))
        .with_context(|| format!("{source} in {region}"))?;
    let recovery = backups
        .continuous_backups_description()
        .and_then(|description| description.point_in_time_recovery_description());
    let enabled = recovery.and_then(|recovery| recovery.point_in_time_recovery_status())
        == Some(&dynamodb::types::PointInTimeRecoveryStatus::Enabled);
    let Some(recovery) = recovery.filter(|_| enabled) else {
        bail!(
            "point-in-time recovery is not enabled on {source} in {region}: there is no earlier state to restore (Terraform's data module enables it; once on, it keeps up to 35 days)"
        );
    };
    let earliest = recovery
        .earliest_restorable_date_time()
        .and_then(chrono_of)
        .context("DescribeContinuousBackups gave no earliest restorable time")?;
    let latest = recovery
        .latest_restorable_date_time()
        .and_then(chrono_of)
        .context("DescribeContinuousBackups gave no latest restorable time")?;
    if at < earliest || at > latest {
        bail!(
            "{} is outside {source}'s recovery window in {region}, {} to {}: pick a time within it",
            time(at),
            time(earliest),
            time(latest)
        );
    }
    let settings = TableSettings {
        arn: String::new(),
        billing_mode: None,
        deletion_protection: false,
        stream: None,
        ttl: None,
        recovery_period_days: recovery.recovery_period_in_days(),
        tags: BTreeMap::new(),
    };
    Ok((
        settings,
        format!(
            "enabled; restorable from {} to {}",
            time(earliest),
            time(latest)
        ),
    ))
}

/// Fills in the source's table description, TTL and tags.
async fn read_settings(
    dynamo: &dynamodb::Client,
    source: &str,
    settings: &mut TableSettings,
) -> anyhow::Result<()> {
    let table = describe_table(dynamo, source)
        .await?
        .with_context(|| format!("{source} does not exist"))?;
    settings.arn = table.table_arn().unwrap_or_default().to_owned();
    settings.billing_mode = table
        .billing_mode_summary()
        .and_then(|summary| summary.billing_mode())
        .cloned();
    settings.deletion_protection = table.deletion_protection_enabled() == Some(true);
    settings.stream = stream_of(&table);
    settings.ttl = ttl_of(dynamo, source).await?;
    settings.tags = tags_of(dynamo, &settings.arn).await?;
    Ok(())
}

async fn describe_table(
    dynamo: &dynamodb::Client,
    table: &str,
) -> anyhow::Result<Option<dynamodb::types::TableDescription>> {
    match dynamo.describe_table().table_name(table).send().await {
        Ok(output) => Ok(output.table),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(error) => Err(sdk_error("DescribeTable", error).context(table.to_owned())),
    }
}

fn stream_of(table: &dynamodb::types::TableDescription) -> Option<dynamodb::types::StreamViewType> {
    table
        .stream_specification()
        .filter(|stream| stream.stream_enabled())
        .map(|stream| {
            stream
                .stream_view_type()
                .cloned()
                .unwrap_or(dynamodb::types::StreamViewType::NewAndOldImages)
        })
}

async fn ttl_of(dynamo: &dynamodb::Client, table: &str) -> anyhow::Result<Option<String>> {
    let output = dynamo
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeTimeToLive", error))
        .with_context(|| table.to_owned())?;
    let Some(description) = output.time_to_live_description() else {
        return Ok(None);
    };
    use dynamodb::types::TimeToLiveStatus;
    Ok(match description.time_to_live_status() {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            description.attribute_name().map(str::to_owned)
        }
        _ => None,
    })
}

async fn tags_of(dynamo: &dynamodb::Client, arn: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    let mut next = None;
    loop {
        let page = dynamo
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|error| sdk_error("ListTagsOfResource", error))
            .with_context(|| arn.to_owned())?;
        for tag in page.tags() {
            tags.insert(tag.key().to_owned(), tag.value().to_owned());
        }
        match page.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => return Ok(tags),
        }
    }
}

async fn restore_table(
    dynamo: &dynamodb::Client,
    source: &str,
    target: &str,
    at: DateTime<Utc>,
    wanted: &TableSettings,
) -> anyhow::Result<Did> {
    if let Some(existing) = describe_table(dynamo, target).await? {
        let from = existing
            .restore_summary()
            .and_then(|summary| summary.source_table_arn());
        if from != Some(wanted.arn.as_str()) {
            bail!(
                "{target} exists and is not a restore of {source} ({}): refusing to use it; delete or rename it, or restore at another minute",
                from.map(|arn| format!("restored from {arn}"))
                    .unwrap_or_else(|| "no restore summary".to_owned())
            );
        }
        let restored_at = existing
            .restore_summary()
            .and_then(|summary| chrono_of(summary.restore_date_time()))
            .map(time)
            .unwrap_or_else(|| "an unknown time".to_owned());
        return Ok(Did::already(format!(
            "{target} exists, restored from {source} at {restored_at} ({})",
            existing
                .table_status()
                .map(|status| status.as_str())
                .unwrap_or("status unknown")
        )));
    }
    let restored = dynamo
        .restore_table_to_point_in_time()
        .source_table_name(source)
        .target_table_name(target)
        .restore_date_time(smithy_of(at))
        .set_billing_mode_override(wanted.billing_mode.clone())
        .send()
        .await
        .map_err(|error| sdk_error("RestoreTableToPointInTime", error))
        .with_context(|| format!("{source} → {target}"))?;
    let status = restored
        .table_description()
        .and_then(|table| table.table_status())
        .map(|status| status.as_str().to_owned())
        .unwrap_or_else(|| "status unknown".to_owned());
    Ok(Did::now(format!(
        "restoring {source} as of {} into {target} ({status})",
        time(at)
    )))
}

/// Waits until `table` is ACTIVE; gives how long that took (zero when it
/// was at the first look).
async fn wait_active(
    dynamo: &dynamodb::Client,
    table: &str,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let began = Instant::now();
    loop {
        let description = describe_table(dynamo, table)
            .await?
            .with_context(|| format!("{table} does not exist"))?;
        let status = description.table_status().cloned();
        if status == Some(dynamodb::types::TableStatus::Active) {
            return Ok(if began.elapsed() < POLL {
                Duration::ZERO
            } else {
                began.elapsed()
            });
        }
        if began.elapsed() > limit {
            bail!(
                "{table} is still {} after {} s: rerun to go on waiting",
                status.as_ref().map(|s| s.as_str()).unwrap_or("unknown"),
                began.elapsed().as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn enable_recovery(
    dynamo: &dynamodb::Client,
    target: &str,
    wanted: &TableSettings,
) -> anyhow::Result<Did> {
    let backups = dynamo
        .describe_continuous_backups()
        .table_name(target)
        .send()
        .await
        .map_err(|error| sdk_error("DescribeContinuousBackups", error))
        .with_context(|| target.to_owned())?;
    let status = backups
        .continuous_backups_description()
        .and_then(|description| description.point_in_time_recovery_description())
        .and_then(|recovery| recovery.point_in_time_recovery_status());
    if status == Some(&dynamodb::types::PointInTimeRecoveryStatus::Enabled) {
        return Ok(Did::already(format!(
            "point-in-time recovery is on for {target}"
        )));
    }
    let specification = dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .set_recovery_period_in_days(wanted.recovery_period_days)
        .build()
        .context("a point-in-time recovery specification")?;
    dynamo
        .update_continuous_backups()
        .table_name(target)
        .point_in_time_recovery_specification(specification)
        .send()
        .await
        .map_err(|error| sdk_error("UpdateContinuousBackups", error))
        .with_context(|| target.to_owned())?;
    Ok(Did::now(format!("point-in-time recovery on for {target}")))
}

async fn apply_ttl(
    dynamo: &dynamodb::Client,
    target: &str,
    wanted: &TableSettings,
) -> anyhow::Result<Did> {
    let Some(attribute) = &wanted.ttl else {
        return Ok(Did::already("the source has no TTL: nothing to set"));
    };
    if ttl_of(dynamo, target).await?.as_ref() == Some(attribute) {
        return Ok(Did::already(format!("TTL is on `{attribute}`")));
    }
    let specification = dynamodb::types::TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attribute)
        .build()
        .context("a TTL specification")?;
    dynamo
        .update_time_to_live()
        .table_name(target)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(|error| sdk_error("UpdateTimeToLive", error))
        .with_context(|| target.to_owned())?;
    Ok(Did::now(format!("TTL on `{attribute}`")))
}

async fn apply_tags(
    dynamo: &dynamodb::Client,
    target: &str,
    wanted: &TableSettings,
) -> anyhow::Result<Did> {
    if wanted.tags.is_empty() {
        return Ok(Did::already("the source has no tags: nothing to set"));
    }
    let table = describe_table(dynamo, target)
        .await?
        .with_context(|| format!("{target} does not exist"))?;
    let arn = table.table_arn().unwrap_or_default();
    let have = tags_of(dynamo, arn).await?;
    let missing: BTreeMap<String, String> = wanted
        .tags
        .iter()
        .filter(|(key, value)| have.get(*key) != Some(value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if missing.is_empty() {
        return Ok(Did::already(format!(
            "tagged like the source: {}",
            tag_list(&wanted.tags)
        )));
    }
    let mut tag = dynamo.tag_resource().resource_arn(arn);
    for (key, value) in &missing {
        tag = tag.tags(
            dynamodb::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .context("a tag")?,
        );
    }
    tag.send()
        .await
        .map_err(|error| sdk_error("TagResource", error))
        .with_context(|| arn.to_owned())?;
    Ok(Did::now(format!("tagged {}", tag_list(&missing))))
}

async fn apply_stream(
    dynamo: &dynamodb::Client,
    target: &str,
    wanted: &TableSettings,
) -> anyhow::Result<Did> {
    let Some(view) = &wanted.stream else {
        return Ok(Did::already("the source has no stream: nothing to set"));
    };
    let table = describe_table(dynamo, target)
        .await?
        .with_context(|| format!("{target} does not exist"))?;
    if stream_of(&table).as_ref() == Some(view) {
        return Ok(Did::already(format!(
            "the stream is on ({})",
            view.as_str()
        )));
    }
    let specification = dynamodb::types::StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(view.clone())
        .build()
        .context("a stream specification")?;
    dynamo
        .update_table()
        .table_name(target)
        .stream_specification(specification)
        .send()
        .await
        .map_err(|error| sdk_error("UpdateTable", error))
        .with_context(|| format!("{target}: the stream"))?;
    wait_active(dynamo, target, UPDATE_WAIT).await?;
    Ok(Did::now(format!("the stream is on ({})", view.as_str())))
}

async fn apply_deletion_protection(
    dynamo: &dynamodb::Client,
    target: &str,
    wanted: &TableSettings,
) -> anyhow::Result<Did> {
    if !wanted.deletion_protection {
        return Ok(Did::already(
            "the source has no deletion protection: nothing to set",
        ));
    }
    let table = describe_table(dynamo, target)
        .await?
        .with_context(|| format!("{target} does not exist"))?;
    if table.deletion_protection_enabled() == Some(true) {
        return Ok(Did::already("deletion protection is on"));
    }
    dynamo
        .update_table()
        .table_name(target)
        .deletion_protection_enabled(true)
        .send()
        .await
        .map_err(|error| sdk_error("UpdateTable", error))
        .with_context(|| format!("{target}: deletion protection"))?;
    wait_active(dynamo, target, UPDATE_WAIT).await?;
    Ok(Did::now("deletion protection on"))
}

/// Every function that reads the records table, with the variables that
/// name it (`MOAT_TABLE`), as `infra/stack.json` declares them.
fn records_readers(spec: &StackSpec) -> Vec<(&str, Vec<String>)> {
    spec.functions
        .iter()
        .filter_map(|(function, function_spec)| {
            let variables: Vec<String> = function_spec
                .environment
                .iter()
                .filter(|(_, setting)| setting.as_str() == "recordsTable")
                .map(|(variable, _)| variable.clone())
                .collect();
            (!variables.is_empty()).then_some((function.as_str(), variables))
        })
        .collect()
}

/// Points the function's alias at a version whose `variables` name
/// `table`: what runs is the alias (the state machines call it), so the
/// change is made on `$LATEST` from the alias's own environment, published,
/// and the alias moved.
async fn switch_function(
    lambda: &lambda::Client,
    name: &str,
    alias: &str,
    variables: &[String],
    table: &str,
) -> anyhow::Result<Did> {
    let live = lambda
        .get_function_configuration()
        .function_name(name)
        .qualifier(alias)
        .send()
        .await
        .map_err(|error| sdk_error("GetFunctionConfiguration", error))
        .with_context(|| format!("{name}:{alias}"))?;
    let live_env = environment_of(live.environment());
    let names_it = |env: &HashMap<String, String>| {
        variables
            .iter()
            .all(|variable| env.get(variable).map(String::as_str) == Some(table))
    };
    let live_version = live.version().unwrap_or("?").to_owned();
    if names_it(&live_env) {
        return Ok(Did::already(format!(
            "{name}:{alias} (version {live_version}) uses {table}"
        )));
    }
    let was: Vec<String> = variables
        .iter()
        .map(|variable| {
            format!(
                "{variable}={}",
                live_env
                    .get(variable)
                    .map(String::as_str)
                    .unwrap_or("(unset)")
            )
        })
        .collect();

    let latest = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(|error| sdk_error("GetFunctionConfiguration", error))
        .with_context(|| name.to_owned())?;
    // Publishing ships $LATEST's code too: it must be the code that runs.
    if latest.code_sha256() != live.code_sha256() {
        bail!(
            "{name}: $LATEST's code ({}) is not the code {alias} runs ({}): publishing would deploy it; deploy or revert first",
            latest.code_sha256().unwrap_or("?"),
            live.code_sha256().unwrap_or("?")
        );
    }
    if !names_it(&environment_of(latest.environment())) {
        let mut env = live_env.clone();
        for variable in variables {
            env.insert(variable.clone(), table.to_owned());
        }
        lambda
            .update_function_configuration()
            .function_name(name)
            .environment(
                lambda::types::Environment::builder()
                    .set_variables(Some(env))
                    .build(),
            )
            .send()
            .await
            .map_err(|error| sdk_error("UpdateFunctionConfiguration", error))
            .with_context(|| name.to_owned())?;
        wait_updated(lambda, name).await?;
    }
    let version = lambda
        .publish_version()
        .function_name(name)
        .description(format!("restore records: uses {table}"))
        .send()
        .await
        .map_err(|error| sdk_error("PublishVersion", error))
        .with_context(|| name.to_owned())?
        .version
        .context("PublishVersion answered without a version")?;
    lambda
        .update_alias()
        .function_name(name)
        .name(alias)
        .function_version(&version)
        .send()
        .await
        .map_err(|error| sdk_error("UpdateAlias", error))
        .with_context(|| format!("{name}:{alias}"))?;
    Ok(Did::now(format!(
        "{name}: {} → {table}; version {version} published, {alias} moved from {live_version}; {} other variable(s) kept",
        was.join(", "),
        live_env.len().saturating_sub(variables.len())
    )))
}

fn environment_of(
    environment: Option<&lambda::types::EnvironmentResponse>,
) -> HashMap<String, String> {
    environment
        .and_then(|environment| environment.variables())
        .cloned()
        .unwrap_or_default()
}

/// Waits until a configuration update has been applied to `$LATEST`.
async fn wait_updated(lambda: &lambda::Client, name: &str) -> anyhow::Result<()> {
    use lambda::types::LastUpdateStatus;
    let began = Instant::now();
    loop {
        let configuration = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|error| sdk_error("GetFunctionConfiguration", error))
            .with_context(|| name.to_owned())?;
        match configuration.last_update_status() {
            Some(LastUpdateStatus::InProgress) => {}
            Some(LastUpdateStatus::Failed) => bail!(
                "{name}: the configuration update failed: {}",
                configuration
                    .last_update_status_reason()
                    .unwrap_or("no reason given")
            ),
            _ => return Ok(()),
        }
        if began.elapsed() > UPDATE_WAIT {
            bail!(
                "{name}: the configuration update is still in progress after {} s",
                began.elapsed().as_secs()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// --- small helpers --------------------------------------------------------

fn chrono_of(time: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

fn smithy_of(time: DateTime<Utc>) -> aws_sdk_dynamodb::primitives::DateTime {
    aws_sdk_dynamodb::primitives::DateTime::from_secs_and_nanos(
        time.timestamp(),
        time.timestamp_subsec_nanos(),
    )
}

/// A time as the command prints it: RFC 3339, with sub-seconds only
/// where it has them.
fn time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The first twelve hex digits, enough to tell versions apart in text.
fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn tag_list(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
