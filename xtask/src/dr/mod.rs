//! The disaster-recovery commands: `status`, `failover`, `failback`,
//! `restore` and `drill`, and what they share: each region's AWS
//! configuration and the step runner that prints a plan, acts only with
//! `--yes`, times every step and reports it as text or JSON.
//!
//! Every command reaches both regions of `infra/stack.json` with the
//! standard AWS configuration, one per region. On the local stack the two
//! regions are two moto processes (and two Step Functions endpoints), which
//! no single `AWS_ENDPOINT_URL` can name: `MOAT_LOCAL_REGIONS` then names a
//! JSON file with each region's endpoints (`{"us-east-1": {"aws": URL,
//! "sfn": URL}, ...}`); the drill and the tests build the same map from the
//! stack they start, with [`Regions::local`].

mod canary;
pub(crate) mod drill;
pub(crate) mod failover;
pub(crate) mod restore;
pub(crate) mod status;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use moat_aws::records::{ActiveRegions, DynamoRecords};
use moat_domain::fencing::ActiveRegion;
use moat_stack::StackSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The environment variable naming the local stack's endpoints file.
pub(crate) const LOCAL_REGIONS_ENV: &str = "MOAT_LOCAL_REGIONS";

/// How long a call to a region may take before that region counts as
/// unreachable: a failing region often hangs rather than refusing, and an
/// operator at 3 a.m. must not wait on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One region's endpoints on the local stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LocalEndpoints {
    /// Every AWS service but Step Functions (moto, or a proxy in front).
    pub(crate) aws: String,
    /// Step Functions (an `sfn-local` endpoint).
    pub(crate) sfn: String,
}

/// One region as the commands reach it.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    pub(crate) name: String,
    /// Every service but Step Functions.
    pub(crate) aws: SdkConfig,
    /// Step Functions.
    pub(crate) sfn: SdkConfig,
}

/// Both regions of the stack, primary first as `infra/stack.json` lists
/// them.
#[derive(Debug, Clone)]
pub(crate) struct Regions {
    pub(crate) spec: StackSpec,
    pub(crate) all: Vec<Region>,
}

impl Regions {
    /// The standard AWS configuration in each region, or the local stack's
    /// endpoints when `MOAT_LOCAL_REGIONS` names them.
    pub(crate) async fn load() -> anyhow::Result<Regions> {
        let spec = StackSpec::load()?;
        match std::env::var_os(LOCAL_REGIONS_ENV) {
            Some(path) => {
                let path = Path::new(&path);
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("{LOCAL_REGIONS_ENV}={}", path.display()))?;
                let endpoints: BTreeMap<String, LocalEndpoints> = serde_json::from_str(&text)
                    .with_context(|| {
                        format!(
                            "{LOCAL_REGIONS_ENV}={}: not a map of region to {{\"aws\", \"sfn\"}} URLs",
                            path.display()
                        )
                    })?;
                Regions::local(spec, &endpoints).await
            }
            None => {
                let mut all = Vec::new();
                for name in [&spec.regions.primary, &spec.regions.secondary] {
                    let config = bounded(crate::executions::aws_config(Some(name)).await);
                    all.push(Region {
                        name: name.clone(),
                        aws: config.clone(),
                        sfn: config,
                    });
                }
                Ok(Regions { spec, all })
            }
        }
    }

    /// The regions at these local endpoints; every region of the stack must
    /// have one, so nothing reaches for real AWS.
    pub(crate) async fn local(
        spec: StackSpec,
        endpoints: &BTreeMap<String, LocalEndpoints>,
    ) -> anyhow::Result<Regions> {
        let mut all = Vec::new();
        for name in [&spec.regions.primary, &spec.regions.secondary] {
            let Some(at) = endpoints.get(name) else {
                bail!(
                    "{LOCAL_REGIONS_ENV} names no endpoints for {name}; it has {:?}",
                    endpoints.keys().collect::<Vec<_>>()
                );
            };
            all.push(Region {
                name: name.clone(),
                aws: bounded(local_aws::sdk_config(&at.aws, name).await),
                sfn: bounded(local_aws::sdk_config(&at.sfn, name).await),
            });
        }
        Ok(Regions { spec, all })
    }

    /// The region called `name`, which must be one of the stack's.
    pub(crate) fn get(&self, name: &str) -> anyhow::Result<&Region> {
        self.all
            .iter()
            .find(|region| region.name == name)
            .with_context(|| {
                format!(
                    "{name} is not one of Moat's regions ({}); infra/stack.json lists them",
                    self.names().join(", ")
                )
            })
    }

    /// Every region but `name`.
    pub(crate) fn others(&self, name: &str) -> Vec<&Region> {
        self.all
            .iter()
            .filter(|region| region.name != name)
            .collect()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.all.iter().map(|region| region.name.clone()).collect()
    }

    /// The records table as `region` sees it (its replica).
    pub(crate) fn records(&self, region: &Region) -> DynamoRecords {
        DynamoRecords::new(
            &moat_aws::Aws::from_sdk_config(region.aws.clone()),
            &self.spec.records_table,
        )
    }

    /// `region`'s copy of the active-region record.
    pub(crate) async fn read_record(
        &self,
        region: &Region,
    ) -> anyhow::Result<Option<ActiveRegion>> {
        Ok(self.records(region).active_region().await?)
    }
}

/// `config` with calls bounded in time.
fn bounded(config: SdkConfig) -> SdkConfig {
    let mut builder = config.into_builder();
    builder.set_timeout_config(Some(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_timeout(CALL_TIMEOUT)
            .build(),
    ));
    builder.build()
}

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Outcome {
    /// Dry run: what would be done.
    Planned,
    /// Done now.
    Done,
    /// Found done already (a re-run, or a resumed run).
    AlreadyDone,
    /// A best-effort step that could not be done (an unreachable region);
    /// the command goes on.
    Unreachable,
    /// Failed: the command stops here.
    Failed,
}

/// One step's report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepReport {
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
    pub(crate) detail: String,
    pub(crate) duration_ms: u128,
}

/// What a step found or did, for its report.
pub(crate) struct Did {
    pub(crate) already: bool,
    pub(crate) detail: String,
}

impl Did {
    pub(crate) fn now(detail: impl Into<String>) -> Did {
        Did {
            already: false,
            detail: detail.into(),
        }
    }

    pub(crate) fn already(detail: impl Into<String>) -> Did {
        Did {
            already: true,
            detail: detail.into(),
        }
    }

    fn outcome(&self) -> Outcome {
        if self.already {
            Outcome::AlreadyDone
        } else {
            Outcome::Done
        }
    }
}

/// Runs a command's steps in order: prints each as it starts and ends
/// with its duration, skips the acting ones on a dry run, and stops at the
/// first failure, naming it.
pub(crate) struct Runner {
    command: &'static str,
    yes: bool,
    json: bool,
    started: Instant,
    /// Print nothing: a caller reports the run itself.
    pub(crate) quiet: bool,
    pub(crate) steps: Vec<StepReport>,
}

impl Runner {
    pub(crate) fn new(command: &'static str, yes: bool, json: bool) -> Runner {
        Runner {
            command,
            yes,
            json,
            started: Instant::now(),
            quiet: false,
            steps: Vec::new(),
        }
    }

    pub(crate) fn acting(&self) -> bool {
        self.yes
    }

    pub(crate) fn json_output(&self) -> bool {
        self.json
    }

    /// A step that reads only: it runs on a dry run too.
    pub(crate) async fn check<F>(&mut self, name: &str, read: F) -> anyhow::Result<String>
    where
        F: std::future::IntoFuture<Output = anyhow::Result<String>>,
    {
        let began = Instant::now();
        match read.await {
            Ok(detail) => {
                self.record(name, Outcome::Done, detail.clone(), began);
                Ok(detail)
            }
            Err(error) => Err(self.fail(name, error, began)),
        }
    }

    /// A step that changes something: on a dry run only `plan` is
    /// reported; with `--yes`, `act` runs and says what it did.
    pub(crate) async fn act<F>(&mut self, name: &str, plan: String, act: F) -> anyhow::Result<()>
    where
        F: std::future::IntoFuture<Output = anyhow::Result<Did>>,
    {
        let began = Instant::now();
        if !self.yes {
            self.record(name, Outcome::Planned, plan, began);
            return Ok(());
        }
        match act.await {
            Ok(did) => {
                self.record(name, did.outcome(), did.detail, began);
                Ok(())
            }
            Err(error) => Err(self.fail(name, error, began)),
        }
    }

    /// A step that may fail without stopping the command, such as fencing
    /// a region that does not answer.
    pub(crate) async fn best_effort<F>(&mut self, name: &str, plan: String, act: F)
    where
        F: std::future::IntoFuture<Output = anyhow::Result<Did>>,
    {
        let began = Instant::now();
        if !self.yes {
            self.record(name, Outcome::Planned, plan, began);
            return;
        }
        match act.await {
            Ok(did) => self.record(name, did.outcome(), did.detail, began),
            Err(error) => self.record(name, Outcome::Unreachable, format!("{error:#}"), began),
        }
    }

    fn fail(&mut self, name: &str, error: anyhow::Error, began: Instant) -> anyhow::Error {
        self.record(name, Outcome::Failed, format!("{error:#}"), began);
        error.context(format!("{}: step `{name}` failed", self.command))
    }

    fn record(&mut self, name: &str, outcome: Outcome, detail: String, began: Instant) {
        let report = StepReport {
            name: name.to_owned(),
            outcome,
            detail,
            duration_ms: began.elapsed().as_millis(),
        };
        if !self.json && !self.quiet {
            if self.steps.is_empty() {
                let mode = if self.yes {
                    "acting"
                } else {
                    "plan only (add --yes to act)"
                };
                println!("{}: {mode}", self.command);
            }
            let mark = match outcome {
                Outcome::Planned => "plan",
                Outcome::Done => "done",
                Outcome::AlreadyDone => "already done",
                Outcome::Unreachable => "UNREACHABLE (best effort, going on)",
                Outcome::Failed => "FAILED",
            };
            println!(
                "  [{:>6.1} s] {}: {mark}: {}",
                report.duration_ms as f64 / 1000.0,
                report.name,
                report.detail
            );
        }
        self.steps.push(report);
    }

    /// The whole run as one JSON document, with `extra` fields merged in.
    pub(crate) fn document(&self, extra: Value) -> Value {
        let mut document = json!({
            "command": self.command,
            "dryRun": !self.yes,
            "durationMs": self.started.elapsed().as_millis(),
            "steps": self.steps,
        });
        if let (Some(into), Value::Object(extra)) = (document.as_object_mut(), extra) {
            into.extend(extra);
        }
        document
    }

    /// Prints the closing line, or the JSON document.
    pub(crate) fn finish(&self, summary: &str, extra: Value) -> anyhow::Result<()> {
        if self.quiet {
            return Ok(());
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&self.document(extra))?);
        } else {
            println!(
                "{}: {summary} ({:.1} s)",
                self.command,
                self.started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }
}

/// The policy object in force in `region` now: the SHA-256 of its content
/// (hex) and the content.
pub(crate) async fn current_policy(
    regions: &Regions,
    region: &Region,
) -> anyhow::Result<(String, String)> {
    use sha2::{Digest, Sha256};
    let account = crate::sweep::caller_account(&region.aws).await?;
    let bucket = regions.spec.policy_bucket_in(&account, &region.name);
    let object = aws_sdk_s3::Client::new(&region.aws)
        .get_object()
        .bucket(&bucket)
        .key(&regions.spec.policy_key)
        .send()
        .await
        .map_err(|error| crate::executions::sdk_error("GetObject", error))
        .with_context(|| {
            format!(
                "s3://{bucket}/{} in {}",
                regions.spec.policy_key, region.name
            )
        })?;
    let bytes = object
        .body
        .collect()
        .await
        .with_context(|| format!("reading s3://{bucket}/{}", regions.spec.policy_key))?
        .into_bytes();
    let text = String::from_utf8(bytes.to_vec())
        .with_context(|| format!("s3://{bucket}/{} is not UTF-8", regions.spec.policy_key))?;
    Ok((format!("{:x}", Sha256::digest(text.as_bytes())), text))
}
