//! The evaluate function: judges a group's snapshot against the policy set
//! and plans the revokes.
//!
//! The policy set lives in a versioned S3 object. A warm function keeps the
//! parsed policy and asks S3 only for the ETag, downloading again when it
//! changes. A new version that does not validate is never used: the last
//! good version stays in force (on a cold start, the newest valid version
//! of the object), and the output says which version was rejected and why,
//! so the state machine escalates it.
//!
//! A sweep's Distributed Map calls it too, with a batch of groups: each is
//! judged by the same engine, and the output says what the sweep starts.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use moat_aws::policy_store::{PolicyObject, PolicySource};
use moat_domain::ErrorType;
use moat_domain::evaluation::Evaluation;
use moat_domain::event::{Change, EventName};
use moat_domain::metrics::{GROUPS_JUDGED, Metrics, VIOLATIONS_FOUND};
use moat_domain::plan::{self, RemediationPlan};
use moat_domain::policy::{self, Policy};
use moat_domain::snapshot::GroupSnapshot;
use moat_domain::sweep::{self, SweepItem, SweepLine, SweepOptions, SweepStart};
use serde::{Deserialize, Serialize};

/// The Evaluate state's `Parameters`: the change and the group as detect
/// read them (`$.change`, `$.snapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub change: Change,
    pub snapshot: GroupSnapshot,
}

/// The judgement: the evaluation, the plan that follows from it, and the
/// policy version that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// Some finding needs a person even if others are fixed automatically.
    pub needs_review: bool,
    pub plan: RemediationPlan,
    /// What an approved review revokes; only when some finding needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_plan: Option<RemediationPlan>,
    /// How long the review waits for a person (the state machine's
    /// `TimeoutSecondsPath`), from the policy's `reviewTimeoutHours`.
    pub review_timeout_seconds: u64,
    pub policy: PolicyInUse,
}

/// Which policy version judged, and any newer version that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInUse {
    pub id: String,
    pub version: String,
    pub etag: String,
    pub version_id: Option<String>,
    /// Present when the current object is invalid and an older version
    /// judged instead.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rejected: Option<RejectedPolicy>,
}

/// A policy version that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedPolicy {
    pub location: String,
    pub etag: String,
    pub version_id: Option<String>,
    pub error: String,
}

/// Everything evaluate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] moat_domain::Error),
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
    #[error("no valid policy in {location}: {reason}")]
    NoValidPolicy { location: String, reason: String },
}

impl Error {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Domain(error) => error.error_type(),
            Error::Aws(error) if error.is_not_found() => ErrorType::Config,
            Error::Aws(error) => error.error_type(),
            Error::NoValidPolicy { .. } => ErrorType::Config,
        }
    }
}

moat_aws::lambda_diagnostic!(Error);

/// The policy in force, as cached between invocations.
#[derive(Debug, Clone)]
struct Loaded {
    policy: Arc<Policy>,
    /// The ETag of the object this policy was read from.
    etag: String,
    version_id: Option<String>,
    /// Set when the object's current version is invalid: its ETag and why.
    rejected: Option<RejectedPolicy>,
    /// The current object's ETag when it was last checked.
    current_etag: String,
}

/// What evaluate needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<S> {
    pub policies: S,
    pub bucket: String,
    pub key: String,
    pub clock: fn() -> DateTime<Utc>,
    cache: Mutex<Option<Loaded>>,
}

impl<S: PolicySource> Deps<S> {
    pub fn new(policies: S, bucket: String, key: String, clock: fn() -> DateTime<Utc>) -> Deps<S> {
        Deps {
            policies,
            bucket,
            key,
            clock,
            cache: Mutex::new(None),
        }
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn cached(&self) -> Option<Loaded> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn remember(&self, loaded: &Loaded) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(loaded.clone());
    }

    /// The policy to judge with now: cached while the ETag is unchanged.
    async fn policy(&self) -> Result<Loaded, Error> {
        let current_etag = self.policies.etag(&self.bucket, &self.key).await?;
        let cached = self.cached();
        if let Some(loaded) = cached
            .as_ref()
            .filter(|loaded| loaded.current_etag == current_etag)
        {
            return Ok(loaded.clone());
        }
        let fetched = self.policies.fetch(&self.bucket, &self.key).await;
        let candidate = Candidate::judge(fetched, &current_etag)?;
        let loaded = match candidate.policy {
            Ok(policy) => candidate.meta.loaded(policy, None),
            Err(error) => {
                let rejected = RejectedPolicy {
                    location: self.location(),
                    etag: candidate.meta.etag.clone(),
                    version_id: candidate.meta.version_id.clone(),
                    error,
                };
                tracing::warn!(etag = %rejected.etag, error = %rejected.error, "refusing an unusable policy version");
                match cached {
                    Some(last_good) => Loaded {
                        current_etag: rejected.etag.clone(),
                        rejected: Some(rejected),
                        ..last_good
                    },
                    None => self.newest_valid_version(rejected).await?,
                }
            }
        };
        self.remember(&loaded);
        Ok(loaded)
    }

    /// On a cold start with an unusable current version: the newest older
    /// version that validates.
    async fn newest_valid_version(&self, rejected: RejectedPolicy) -> Result<Loaded, Error> {
        let versions = self.policies.versions(&self.bucket, &self.key).await?;
        // The newest version is the one just refused, whether or not its id
        // could be read.
        let older = versions
            .iter()
            .enumerate()
            .filter(|(index, id)| match &rejected.version_id {
                Some(refused) => *id != refused,
                None => *index > 0,
            })
            .map(|(_, id)| id);
        for version_id in older {
            let fetched = self
                .policies
                .fetch_version(&self.bucket, &self.key, version_id)
                .await;
            let candidate = Candidate::judge(fetched, &rejected.etag)?;
            if let Ok(policy) = candidate.policy {
                let mut loaded = candidate.meta.loaded(policy, None);
                loaded.current_etag = rejected.etag.clone();
                loaded.rejected = Some(rejected);
                return Ok(loaded);
            }
        }
        Err(Error::NoValidPolicy {
            location: self.location(),
            reason: format!(
                "the current version is unusable ({}) and no older version is valid",
                rejected.error
            ),
        })
    }
}

/// Where a policy version came from.
#[derive(Debug, Clone)]
struct ObjectMeta {
    etag: String,
    version_id: Option<String>,
}

impl ObjectMeta {
    fn loaded(self, policy: Policy, rejected: Option<RejectedPolicy>) -> Loaded {
        Loaded {
            policy: Arc::new(policy),
            current_etag: self.etag.clone(),
            etag: self.etag,
            version_id: self.version_id,
            rejected,
        }
    }
}

/// A fetched policy version and whether it can be used.
struct Candidate {
    meta: ObjectMeta,
    policy: Result<Policy, String>,
}

impl Candidate {
    /// An object that cannot even be read as text is as unusable as an
    /// invalid policy; any other fetch failure is an error of its own.
    fn judge(
        fetched: Result<PolicyObject, moat_aws::Error>,
        etag: &str,
    ) -> Result<Candidate, Error> {
        match fetched {
            Ok(object) => Ok(Candidate {
                policy: Policy::from_json(&object.body).map_err(|error| error.to_string()),
                meta: ObjectMeta {
                    etag: object.etag,
                    version_id: object.version_id,
                },
            }),
            Err(error @ moat_aws::Error::Corrupt { .. }) => Ok(Candidate {
                policy: Err(error.to_string()),
                meta: ObjectMeta {
                    etag: etag.to_owned(),
                    version_id: None,
                },
            }),
            Err(error) => Err(error.into()),
        }
    }
}

pub async fn handler<S: PolicySource>(
    deps: &Deps<S>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<Judgement, Error> {
    evaluate(deps, &event.payload).await
}

/// The step's own metrics: judgements with findings, and for a sweep's
/// batch the groups it judged.
pub fn count(outcome: &Result<serde_json::Value, Error>, metrics: &mut Metrics) {
    let Ok(output) = outcome else { return };
    let has_findings = |value: &serde_json::Value| {
        value["findings"]
            .as_array()
            .is_some_and(|findings| !findings.is_empty())
    };
    match output["lines"].as_array() {
        Some(lines) => {
            metrics.set(GROUPS_JUDGED, lines.len() as f64);
            let violations = lines.iter().filter(|line| has_findings(line)).count();
            metrics.set(VIOLATIONS_FOUND, violations as f64);
        }
        None => {
            metrics.set(VIOLATIONS_FOUND, f64::from(u8::from(has_findings(output))));
        }
    }
}

/// A sweep's batch, as the Distributed Map's `ItemBatcher` hands it over:
/// the sweep's options in `BatchInput`, the groups in `Items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    #[serde(rename = "BatchInput")]
    pub options: SweepOptions,
    #[serde(rename = "Items")]
    pub items: Vec<SweepItem>,
}

/// What a batch's judgement hands back: a line per group, and the
/// remediation executions to start: those the batch waits for (they end
/// on their own) and those it only starts (they ask a person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJudgement {
    pub lines: Vec<SweepLine>,
    pub remediations: Vec<SweepStart>,
    pub reviews: Vec<SweepStart>,
}

/// The function's entry point: a sweep's batch (it has `Items`) or one
/// change. Either is read here, so a bad input is named as the one it is.
pub async fn handle<S: PolicySource>(
    deps: &Deps<S>,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let payload = event.payload;
    let read = |what: &'static str, error: serde_json::Error| {
        Error::Domain(moat_domain::Error::invalid(what, "$", error.to_string()))
    };
    let output = if payload.get("Items").is_some() {
        let batch: Batch = serde_json::from_value(payload).map_err(|e| read("sweep batch", e))?;
        serde_json::to_value(judge_batch(deps, &batch).await?)
    } else {
        let input: Input =
            serde_json::from_value(payload).map_err(|e| read("evaluate input", e))?;
        serde_json::to_value(evaluate(deps, &input).await?)
    };
    // Both shapes are plain data, so serializing them cannot fail.
    Ok(output.unwrap_or_default())
}

/// Judges a sweep's batch with the policy in force, as `evaluate` judges a
/// change.
pub async fn judge_batch<S: PolicySource>(
    deps: &Deps<S>,
    batch: &Batch,
) -> Result<BatchJudgement, Error> {
    let loaded = deps.policy().await?;
    let now = (deps.clock)();
    let mut judged = BatchJudgement {
        lines: Vec::with_capacity(batch.items.len()),
        remediations: Vec::new(),
        reviews: Vec::new(),
    };
    for item in &batch.items {
        let (line, start) = sweep::judge(&loaded.policy, item, &batch.options, now);
        judged.lines.push(line);
        match start {
            Some(start) if start.waits => judged.remediations.push(start),
            Some(start) => judged.reviews.push(start),
            None => {}
        }
    }
    tracing::info!(
        sweep_id = %batch.options.sweep_id,
        groups = batch.items.len(),
        remediations = judged.remediations.len(),
        reviews = judged.reviews.len(),
        policy_version = %loaded.policy.version(),
        "judged a sweep batch"
    );
    Ok(judged)
}

pub async fn evaluate<S: PolicySource>(deps: &Deps<S>, input: &Input) -> Result<Judgement, Error> {
    let loaded = deps.policy().await?;
    let today = (deps.clock)().date_naive();
    let evaluation = if input.change.event_name == EventName::OperatorLockdown {
        Evaluation::operator_lockdown(&input.change, &input.snapshot)
    } else {
        policy::evaluate(&loaded.policy, &input.snapshot, today)
    };
    let plan = plan::plan(&input.snapshot, &evaluation)?;
    let review_plan = if evaluation.needs_review() {
        Some(plan::review_plan(&input.snapshot, &evaluation)?)
    } else {
        None
    };
    tracing::info!(
        group_id = %input.snapshot.group_id,
        verdict = %evaluation.verdict,
        findings = evaluation.findings.len(),
        revokes = plan.revoke_ingress.len() + plan.revoke_egress.len(),
        policy_version = %loaded.policy.version(),
        "evaluated"
    );
    Ok(Judgement {
        needs_review: evaluation.needs_review(),
        evaluation,
        plan,
        review_plan,
        review_timeout_seconds: loaded.policy.settings().review_timeout_seconds(),
        policy: PolicyInUse {
            id: loaded.policy.id().to_owned(),
            version: loaded.policy.version().to_owned(),
            etag: loaded.etag,
            version_id: loaded.version_id,
            rejected: loaded.rejected,
        },
    })
}

#[cfg(test)]
mod tests;
