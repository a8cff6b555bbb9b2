//! `cargo xtask asff`: turns the CI scanners' results (checkov's JSON,
//! cargo-deny's JSON lines, SARIF from clippy-sarif or CodeQL) into AWS
//! Security Hub findings about the repository, imports them with
//! `BatchImportFindings`, and resolves the findings an earlier run raised
//! that this run no longer sees.
//!
//! Each finding's id is made of the tool, the rule and the location (never
//! the commit), so the same problem seen on the next commit updates the
//! same finding instead of adding one. The resource of every finding is the
//! repository at the commit (`https://github.com/OWNER/NAME/commit/SHA`),
//! and the repository, commit, tool and location are in its
//! ProductFields. Without `--yes` the command
//! only reads (the account from STS, the earlier findings from Security Hub)
//! and prints what it would import and resolve. Either way it fails when a
//! CRITICAL or HIGH finding is open for the commit, after importing, so
//! that the deploy workflow stops there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, Compliance, ComplianceStatus,
    FindingProviderFields, FindingProviderSeverity, RecordState, Resource, Severity, SeverityLabel,
    StringFilter, StringFilterComparison, Workflow, WorkflowStatus,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const USAGE: &str = "\
usage: cargo xtask asff --from FILE... [--commit SHA] [--repository OWNER/NAME]
                        [--region R] [--yes] [--json]

converts scan results into AWS Security Hub findings (ASFF) about the
repository, imports them (BatchImportFindings) and resolves the findings an
earlier run for the same repository raised that are gone now; fails when a
CRITICAL or HIGH finding is open for the commit (after importing)

options:
  --from FILE              a scan result, repeatable: checkov JSON (-o json),
                           cargo-deny JSON lines (--format json), or SARIF
                           (clippy-sarif, CodeQL); the format is read from the file
  --commit SHA             the commit scanned (default $GITHUB_SHA)
  --repository OWNER/NAME  the repository scanned (default $GITHUB_REPOSITORY)
  --region R               Security Hub's region (default: the AWS configuration's)
  --yes                    import and resolve; without it, only read and print the plan
  --json                   print the plan as JSON: the ASFF findings to import
                           and the ids to resolve
";

/// What every finding's GeneratorId starts with: how this command finds
/// its own earlier findings among everything else in Security Hub.
const GENERATOR_PREFIX: &str = "moat-ci/";

/// Security Hub accepts at most 100 findings per `BatchImportFindings`.
const BATCH: usize = 100;

/// The ASFF attributes AWS requires in every imported finding.
#[cfg(test)]
const REQUIRED: [&str; 12] = [
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
];

#[derive(Debug, PartialEq)]
struct Options {
    from: Vec<PathBuf>,
    commit: Option<String>,
    repository: Option<String>,
    region: Option<String>,
    yes: bool,
    json: bool,
}

/// ASFF's severity labels, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Label {
    fn as_str(self) -> &'static str {
        match self {
            Label::Informational => "INFORMATIONAL",
            Label::Low => "LOW",
            Label::Medium => "MEDIUM",
            Label::High => "HIGH",
            Label::Critical => "CRITICAL",
        }
    }

    /// Whether a finding of this severity stops a deployment.
    fn blocks(self) -> bool {
        self >= Label::High
    }

    /// SARIF's `level`, as GitHub code scanning ranks it.
    fn from_sarif_level(level: &str) -> Label {
        match level {
            "error" => Label::High,
            "warning" => Label::Medium,
            "note" => Label::Low,
            _ => Label::Informational,
        }
    }

    /// A CVSS-like score, as CodeQL gives in `security-severity`, with
    /// GitHub's bands.
    fn from_score(score: f64) -> Label {
        match score {
            s if s >= 9.0 => Label::Critical,
            s if s >= 7.0 => Label::High,
            s if s >= 4.0 => Label::Medium,
            s if s > 0.0 => Label::Low,
            _ => Label::Informational,
        }
    }

    /// checkov's `severity`; checkov leaves it null without a Prisma Cloud
    /// key, and a failed check is then taken as MEDIUM: worth a finding,
    /// not a stopped deploy (`infra check` already fails on it in CI).
    fn from_checkov(severity: Option<&str>) -> Label {
        match severity.map(str::to_ascii_uppercase).as_deref() {
            Some("CRITICAL") => Label::Critical,
            Some("HIGH") => Label::High,
            Some("LOW") => Label::Low,
            Some("INFO") => Label::Informational,
            _ => Label::Medium,
        }
    }
}

/// One problem a scanner reported, before it becomes an ASFF finding.
#[derive(Debug, Clone, PartialEq)]
struct ScanFinding {
    tool: String,
    rule: String,
    title: String,
    description: String,
    severity: Label,
    /// Where the problem is (a path and line, a Terraform resource, a
    /// crate): with the tool and the rule, what makes the finding's id.
    location: String,
    /// The ASFF type: namespace/category/classifier.
    kind: String,
}

/// Who imports the findings and about what.
#[derive(Debug, Clone)]
struct Scope {
    account: String,
    region: String,
    partition: String,
    repository: String,
    commit: String,
    now: String,
}

impl Scope {
    /// The one resource every finding is about: the repository.
    fn resource_id(&self) -> String {
        format!("{}{}", self.repository_prefix(), self.commit)
    }

    /// What the resource ids of every commit of the repository start with.
    fn repository_prefix(&self) -> String {
        format!("https://github.com/{}/commit/", self.repository)
    }

    fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition, self.region, self.account, self.account
        )
    }
}

/// A finding as it will be imported. [`AsffFinding::document`] is its ASFF
/// JSON (printed by `--json`, checked by the tests); [`AsffFinding::sdk`]
/// is the same finding for the SDK.
#[derive(Debug, Clone, PartialEq)]
struct AsffFinding {
    id: String,
    generator_id: String,
    product_arn: String,
    account: String,
    region: String,
    partition: String,
    kind: String,
    created_at: String,
    severity: Label,
    title: String,
    description: String,
    resource_id: String,
    /// The provider's own fields: repository, commit, tool, location.
    /// ASFF's place for a provider's own name/value pairs; the resource
    /// id names the repository and the commit as well.
    product_fields: Vec<(&'static str, String)>,
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        print!("{USAGE}");
        return Ok(());
    };
    let repository = options
        .repository
        .clone()
        .or_else(|| std::env::var("GITHUB_REPOSITORY").ok())
        .context("--repository is missing and GITHUB_REPOSITORY is not set")?;
    let commit = options
        .commit
        .clone()
        .or_else(|| std::env::var("GITHUB_SHA").ok())
        .context("--commit is missing and GITHUB_SHA is not set")?;
    let mut scanned = Vec::new();
    for path in &options.from {
        scanned.extend(read_scan(path)?);
    }
    block_on_big_stack(async move {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let config = loader.load().await;
        let context = scope(&config, repository, commit).await?;
        let outcome =
            Box::pin(sync(&config, &context, &scanned, options.yes, options.json)).await?;
        outcome.gate(&context)
    })
}

/// How much stack the thread that talks to Security Hub gets. The SDK's
/// `Resource` shape holds every AWS resource type's details inline, and
/// its debug-built deserializer (`cargo xtask` is a debug build) needs
/// more than a main thread's 8 MiB; the memory is only reserved, not used.
const STACK_BYTES: usize = 256 << 20;

/// Runs `future` to completion on a current-thread runtime, on a thread of
/// its own with [`STACK_BYTES`] of stack.
fn block_on_big_stack<T: Send + 'static>(
    future: impl Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    std::thread::Builder::new()
        .name("asff".to_owned())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(future)
        })
        .context("starting the Security Hub thread")?
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        from: Vec::new(),
        commit: None,
        repository: None,
        region: None,
        yes: false,
        json: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("from") => options.from.push(parser.value()?.into()),
            Long("commit") => options.commit = Some(parser.value()?.string()?),
            Long("repository") => {
                let repository = parser.value()?.string()?;
                if repository
                    .split('/')
                    .filter(|part| !part.is_empty())
                    .count()
                    != 2
                {
                    bail!("--repository {repository}: expected OWNER/NAME");
                }
                options.repository = Some(repository);
            }
            Long("region") => options.region = Some(parser.value()?.string()?),
            Long("yes") => options.yes = true,
            Long("json") => options.json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    if options.from.is_empty() {
        bail!("at least one --from FILE is required");
    }
    Ok(Some(options))
}

/// The account (from STS: findings on the default product must name the
/// caller's own account), the region and the partition of the import.
async fn scope(
    config: &aws_config::SdkConfig,
    repository: String,
    commit: String,
) -> anyhow::Result<Scope> {
    let region = config
        .region()
        .context("no AWS region: pass --region or set AWS_REGION")?
        .to_string();
    let identity = Box::pin(
        aws_sdk_sts::Client::new(config)
            .get_caller_identity()
            .send(),
    )
    .await
    .context("STS GetCallerIdentity (which account imports the findings)")?;
    let account = identity
        .account()
        .context("STS returned no account")?
        .to_owned();
    let partition = identity
        .arn()
        .and_then(|arn| arn.split(':').nth(1))
        .unwrap_or("aws")
        .to_owned();
    Ok(Scope {
        account,
        region,
        partition,
        repository,
        commit,
        now: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// What a run found, so that the gate can judge it.
#[derive(Debug)]
struct Outcome {
    findings: Vec<AsffFinding>,
    resolved: Vec<String>,
}

impl Outcome {
    /// Fails when a CRITICAL or HIGH finding is open for the commit.
    fn gate(&self, context: &Scope) -> anyhow::Result<()> {
        let blocking: Vec<&AsffFinding> = self
            .findings
            .iter()
            .filter(|finding| finding.severity.blocks())
            .collect();
        if let Some(first) = blocking.first() {
            bail!(
                "{} CRITICAL or HIGH finding(s) open for {} at {}; first: {} ({})",
                blocking.len(),
                context.repository,
                context.commit,
                first.title,
                first.generator_id
            );
        }
        eprintln!(
            "asff: no CRITICAL or HIGH finding open for {} at {} ({} open, {} gone since the last run)",
            context.repository,
            context.commit,
            self.findings.len(),
            self.resolved.len()
        );
        Ok(())
    }
}

/// Plans and, with `yes`, imports the findings and resolves the vanished.
async fn sync(
    config: &aws_config::SdkConfig,
    context: &Scope,
    scanned: &[ScanFinding],
    yes: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    let client = Client::new(config);
    let findings = convert(scanned, context);
    let earlier = earlier_findings(&client, context).await?;
    let current: BTreeSet<&str> = findings.iter().map(|finding| finding.id.as_str()).collect();
    let vanished: Vec<AwsSecurityFinding> = earlier
        .into_iter()
        .filter(|finding| !current.contains(finding.id().unwrap_or_default()))
        .collect();
    let resolved: Vec<String> = vanished
        .iter()
        .filter_map(|finding| finding.id().map(str::to_owned))
        .collect();
    print_plan(context, &findings, &resolved, yes, json)?;
    if yes {
        let imports: Vec<AwsSecurityFinding> = findings.iter().map(AsffFinding::sdk).collect();
        import(&client, imports).await?;
        let resolutions = vanished
            .into_iter()
            .map(|finding| resolution(finding, &context.now))
            .collect();
        import(&client, resolutions).await?;
        eprintln!(
            "asff: imported {} finding(s), resolved {}",
            findings.len(),
            resolved.len()
        );
    }
    Ok(Outcome { findings, resolved })
}

fn print_plan(
    context: &Scope,
    findings: &[AsffFinding],
    resolved: &[String],
    yes: bool,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let document = json!({
            "repository": context.repository,
            "commit": context.commit,
            "import": findings.iter().map(AsffFinding::document).collect::<Vec<_>>(),
            "resolve": resolved,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    let verb = if yes {
        "importing"
    } else {
        "plan: would import"
    };
    println!(
        "asff: {verb} {} finding(s) about {} at {} into Security Hub ({}, {})",
        findings.len(),
        context.repository,
        context.commit,
        context.account,
        context.region
    );
    for finding in findings {
        println!(
            "  {:<13} {}  {}",
            finding.severity.as_str(),
            finding.generator_id,
            finding.title
        );
    }
    let verb = if yes { "resolving" } else { "would resolve" };
    println!("asff: {verb} {} finding(s) no longer seen", resolved.len());
    for id in resolved {
        println!("  {id}");
    }
    if !yes {
        println!("asff: nothing changed; run again with --yes to import");
    }
    Ok(())
}

/// Every still-open finding an earlier run imported about this repository.
/// The filters select them in Security Hub; the same test is applied to
/// what comes back, because a filter that a Security Hub (or moto, which
/// ignores filters) does not apply must not make this command resolve
/// another repository's findings.
async fn earlier_findings(
    client: &Client,
    context: &Scope,
) -> anyhow::Result<Vec<AwsSecurityFinding>> {
    let filter = |value: &str, comparison: StringFilterComparison| {
        StringFilter::builder()
            .value(value)
            .comparison(comparison)
            .build()
    };
    let resource = context.repository_prefix();
    let filters = AwsSecurityFindingFilters::builder()
        .generator_id(filter(GENERATOR_PREFIX, StringFilterComparison::Prefix))
        .resource_id(filter(&resource, StringFilterComparison::Prefix))
        .record_state(filter("ACTIVE", StringFilterComparison::Equals))
        .compliance_status(filter("PASSED", StringFilterComparison::NotEquals))
        .build();
    let mut pages = client
        .get_findings()
        .filters(filters)
        .max_results(100)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = Box::pin(pages.next()).await {
        let page = page.context("Security Hub GetFindings (the earlier findings)")?;
        found.extend(
            page.findings
                .unwrap_or_default()
                .into_iter()
                .filter(|finding| is_open_and_ours(finding, &resource)),
        );
    }
    Ok(found)
}

/// Whether the finding is this command's, about the repository whose
/// resource ids start with `resource`, and neither passed nor archived.
fn is_open_and_ours(finding: &AwsSecurityFinding, resource: &str) -> bool {
    let ours = finding
        .generator_id()
        .is_some_and(|generator| generator.starts_with(GENERATOR_PREFIX))
        && finding
            .resources()
            .iter()
            .any(|candidate| candidate.id().is_some_and(|id| id.starts_with(resource)));
    let passed = finding
        .compliance()
        .and_then(Compliance::status)
        .is_some_and(|status| *status == ComplianceStatus::Passed);
    let archived = finding.record_state() == Some(&RecordState::Archived);
    ours && !passed && !archived
}

/// The earlier finding, re-imported as fixed. Compliance PASSED is what a
/// finding provider may change with `BatchImportFindings`; Security Hub
/// then moves a NEW or NOTIFIED workflow to RESOLVED itself. The workflow
/// is set too, for a Security Hub that takes it (moto does).
fn resolution(mut finding: AwsSecurityFinding, now: &str) -> AwsSecurityFinding {
    finding.compliance = Some(
        Compliance::builder()
            .status(ComplianceStatus::Passed)
            .build(),
    );
    finding.workflow = Some(Workflow::builder().status(WorkflowStatus::Resolved).build());
    finding.updated_at = Some(now.to_owned());
    finding
}

async fn import(client: &Client, findings: Vec<AwsSecurityFinding>) -> anyhow::Result<()> {
    for batch in findings.chunks(BATCH) {
        // The SDK's futures are large; boxed, the caller's stays small.
        let request = client
            .batch_import_findings()
            .set_findings(Some(batch.to_vec()))
            .send();
        let output = Box::pin(request)
            .await
            .context("Security Hub BatchImportFindings")?;
        if let Some(failed) = output.failed_findings().first() {
            bail!(
                "Security Hub refused {} of {} findings; first {}: {} {}",
                output.failed_count().unwrap_or(1),
                batch.len(),
                failed.id().unwrap_or("?"),
                failed.error_code().unwrap_or("?"),
                failed.error_message().unwrap_or("")
            );
        }
    }
    Ok(())
}

/// The ASFF findings of a run, one per distinct id, in scan order.
fn convert(scanned: &[ScanFinding], context: &Scope) -> Vec<AsffFinding> {
    let mut seen = BTreeSet::new();
    scanned
        .iter()
        .map(|finding| AsffFinding::new(finding, context))
        .filter(|finding| seen.insert(finding.id.clone()))
        .collect()
}

impl AsffFinding {
    fn new(finding: &ScanFinding, context: &Scope) -> AsffFinding {
        let digest = Sha256::digest(
            [
                context.repository.as_str(),
                &finding.tool,
                &finding.rule,
                &finding.location,
            ]
            .join("\0"),
        );
        let hash: String = digest[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        AsffFinding {
            id: format!("moat-ci/{}/{}/{hash}", context.repository, finding.tool),
            generator_id: format!("{GENERATOR_PREFIX}{}/{}", finding.tool, finding.rule),
            product_arn: context.product_arn(),
            account: context.account.clone(),
            region: context.region.clone(),
            partition: context.partition.clone(),
            kind: finding.kind.clone(),
            created_at: context.now.clone(),
            severity: finding.severity,
            title: truncate(&finding.title, 256),
            description: truncate(&finding.description, 1024),
            resource_id: context.resource_id(),
            product_fields: vec![
                ("moat/repository", context.repository.clone()),
                ("moat/commit", context.commit.clone()),
                ("moat/tool", finding.tool.clone()),
                ("moat/location", truncate(&finding.location, 1024)),
            ],
        }
    }

    fn document(&self) -> Value {
        let product_fields: serde_json::Map<String, Value> = self
            .product_fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), Value::from(value.as_str())))
            .collect();
        json!({
            "SchemaVersion": moat_domain::security_hub::SCHEMA_VERSION,
            "Id": self.id,
            "ProductArn": self.product_arn,
            "GeneratorId": self.generator_id,
            "AwsAccountId": self.account,
            "Region": self.region,
            "Types": [self.kind],
            "CreatedAt": self.created_at,
            "UpdatedAt": self.created_at,
            "Severity": { "Label": self.severity.as_str() },
            "FindingProviderFields": {
                "Severity": { "Label": self.severity.as_str() },
                "Types": [self.kind],
            },
            "Title": self.title,
            "Description": self.description,
            "Resources": [{
                "Type": "Other",
                "Id": self.resource_id,
                "Partition": self.partition,
                "Region": self.region,
            }],
            "ProductFields": product_fields,
            "Compliance": { "Status": "FAILED" },
            "RecordState": "ACTIVE",
        })
    }

    /// The SDK form of [`AsffFinding::document`]. Severity and Types are
    /// given in FindingProviderFields as well, because on an update that
    /// is where Security Hub takes a provider's values from.
    fn sdk(&self) -> AwsSecurityFinding {
        let label = SeverityLabel::from(self.severity.as_str());
        let builder = self
            .product_fields
            .iter()
            .fold(AwsSecurityFinding::builder(), |builder, (key, value)| {
                builder.product_fields(*key, value)
            });
        builder
            .schema_version(moat_domain::security_hub::SCHEMA_VERSION)
            .id(&self.id)
            .product_arn(&self.product_arn)
            .generator_id(&self.generator_id)
            .aws_account_id(&self.account)
            .region(&self.region)
            .types(&self.kind)
            .created_at(&self.created_at)
            .updated_at(&self.created_at)
            .severity(Severity::builder().label(label.clone()).build())
            .finding_provider_fields(
                FindingProviderFields::builder()
                    .severity(FindingProviderSeverity::builder().label(label).build())
                    .types(&self.kind)
                    .build(),
            )
            .title(&self.title)
            .description(&self.description)
            .resources(
                Resource::builder()
                    .r#type("Other")
                    .id(&self.resource_id)
                    .partition(self.partition.as_str().into())
                    .region(&self.region)
                    .build(),
            )
            .compliance(
                Compliance::builder()
                    .status(ComplianceStatus::Failed)
                    .build(),
            )
            .record_state(RecordState::Active)
            .build()
    }
}

/// At most `limit` characters (ASFF's limits are in characters), ending
/// with an ellipsis when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

/// Reads one scan result, whichever of the three formats it is.
fn read_scan(path: &Path) -> anyhow::Result<Vec<ScanFinding>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_scan(&text).with_context(|| format!("reading the scan result {}", path.display()))
}

/// SARIF is an object with `runs`; checkov prints an object (one
/// framework) or an array (several) with `check_type`, or only its
/// summary (with `checkov_version`) when it found nothing to scan;
/// cargo-deny prints one JSON object per line, each with `type` and
/// `fields`.
fn parse_scan(text: &str) -> anyhow::Result<Vec<ScanFinding>> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if value.get("runs").is_some() => from_sarif(&value),
        Ok(Value::Array(reports)) => reports.iter().map(from_checkov).sum_vec(),
        Ok(value)
            if value.get("check_type").is_some() || value.get("checkov_version").is_some() =>
        {
            from_checkov(&value)
        }
        _ => from_deny(text),
    }
}

/// Concatenates fallible lists, stopping at the first error.
trait SumVec {
    fn sum_vec(self) -> anyhow::Result<Vec<ScanFinding>>;
}

impl<I: Iterator<Item = anyhow::Result<Vec<ScanFinding>>>> SumVec for I {
    fn sum_vec(self) -> anyhow::Result<Vec<ScanFinding>> {
        let mut all = Vec::new();
        for part in self {
            all.extend(part?);
        }
        Ok(all)
    }
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// checkov's `-o json`: one report per framework, each failed check a
/// finding located at its file and resource (not its lines, which move
/// with every edit above them).
fn from_checkov(report: &Value) -> anyhow::Result<Vec<ScanFinding>> {
    let Some(failed) = report.pointer("/results/failed_checks") else {
        // A framework with nothing to scan reports only its summary.
        return Ok(Vec::new());
    };
    let failed = failed
        .as_array()
        .context("checkov: results.failed_checks is not a list")?;
    failed
        .iter()
        .map(|check| {
            let rule =
                text(check, "/check_id").context("checkov: a failed check has no check_id")?;
            let name = text(check, "/check_name").unwrap_or_else(|| rule.clone());
            let file = text(check, "/file_path").unwrap_or_default();
            let resource = text(check, "/resource").unwrap_or_default();
            let guideline = text(check, "/guideline")
                .map(|url| format!(" Guideline: {url}"))
                .unwrap_or_default();
            Ok(ScanFinding {
                tool: "checkov".to_owned(),
                title: format!("{rule}: {name}"),
                description: format!("checkov {rule} fails for {resource} in {file}.{guideline}"),
                severity: Label::from_checkov(check["severity"].as_str()),
                location: format!("{file}:{resource}"),
                kind: "Software and Configuration Checks/AWS Security Best Practices/checkov"
                    .to_owned(),
                rule,
            })
        })
        .collect()
}

/// SARIF 2.1.0 as clippy-sarif and CodeQL write it. A result's level comes
/// from the result, else its rule's default, else SARIF's default
/// (`warning`); a rule's `security-severity` (CodeQL) ranks above both.
/// Suppressed results and results of kind other than `fail` are not
/// problems.
fn from_sarif(sarif: &Value) -> anyhow::Result<Vec<ScanFinding>> {
    let runs = sarif["runs"]
        .as_array()
        .context("SARIF: runs is not a list")?;
    let mut found = Vec::new();
    for run in runs {
        let tool = text(run, "/tool/driver/name").context("SARIF: a run has no tool name")?;
        let rules = sarif_rules(run);
        for result in run["results"].as_array().into_iter().flatten() {
            if let Some(finding) = sarif_result(&tool, &rules, result)? {
                found.push(finding);
            }
        }
    }
    Ok(found)
}

/// Every rule a run describes, by id: the driver's and its extensions'.
fn sarif_rules(run: &Value) -> Vec<(String, Value)> {
    let extensions = run["tool"]["extensions"].as_array().into_iter().flatten();
    std::iter::once(&run["tool"]["driver"])
        .chain(extensions)
        .flat_map(|component| component["rules"].as_array().into_iter().flatten())
        .filter_map(|rule| Some((text(rule, "/id")?, rule.clone())))
        .collect()
}

fn sarif_result(
    tool: &str,
    rules: &[(String, Value)],
    result: &Value,
) -> anyhow::Result<Option<ScanFinding>> {
    let kind = result["kind"].as_str().unwrap_or("fail");
    let suppressed = result["suppressions"]
        .as_array()
        .is_some_and(|list| !list.is_empty());
    if kind != "fail" || suppressed {
        return Ok(None);
    }
    let rule_id = text(result, "/ruleId")
        .or_else(|| text(result, "/rule/id"))
        .context("SARIF: a result has no ruleId")?;
    let rule = rules
        .iter()
        .find(|(id, _)| *id == rule_id)
        .map(|(_, rule)| rule);
    let level = text(result, "/level")
        .or_else(|| rule.and_then(|rule| text(rule, "/defaultConfiguration/level")))
        .unwrap_or_else(|| "warning".to_owned());
    let score = rule
        .and_then(|rule| rule.pointer("/properties/security-severity"))
        .and_then(|score| {
            score
                .as_str()
                .and_then(|s| s.parse().ok())
                .or(score.as_f64())
        });
    let severity = score.map_or_else(|| Label::from_sarif_level(&level), Label::from_score);
    let location = &result["locations"][0]["physicalLocation"];
    let uri = text(location, "/artifactLocation/uri").unwrap_or_default();
    let line = location["region"]["startLine"].as_u64().unwrap_or(0);
    // CodeQL's fingerprint follows the code when lines above it move; a
    // tool without one (clippy-sarif) is located by its line.
    let place = text(result, "/partialFingerprints/primaryLocationLineHash")
        .map_or_else(|| format!("{uri}:{line}"), |hash| format!("{uri}#{hash}"));
    let message = text(result, "/message/text").unwrap_or_else(|| rule_id.clone());
    let title = rule
        .and_then(|rule| text(rule, "/shortDescription/text"))
        .unwrap_or_else(|| rule_id.clone());
    Ok(Some(ScanFinding {
        tool: tool.to_ascii_lowercase(),
        title: format!("{rule_id}: {title}"),
        description: format!("{message} ({uri}:{line})"),
        severity,
        location: place,
        kind: format!("Software and Configuration Checks/Vulnerabilities/{tool}"),
        rule: rule_id,
    }))
}

/// cargo-deny's `--format json`: one object per line; the diagnostics
/// with severity error or warning are findings (notes and help are
/// commentary on them), located at the crate they are about.
fn from_deny(text_lines: &str) -> anyhow::Result<Vec<ScanFinding>> {
    let mut found = Vec::new();
    for (number, line) in text_lines.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Value = serde_json::from_str(line).with_context(|| {
            format!(
                "line {}: neither SARIF, checkov JSON nor cargo-deny JSON lines",
                number + 1
            )
        })?;
        if entry["type"] != "diagnostic" {
            continue;
        }
        if let Some(finding) = deny_diagnostic(&entry["fields"]) {
            found.push(finding);
        }
    }
    Ok(found)
}

fn deny_diagnostic(fields: &Value) -> Option<ScanFinding> {
    let severity = match fields["severity"].as_str()? {
        "error" => Label::High,
        "warning" => Label::Medium,
        _ => return None,
    };
    let code = text(fields, "/code").unwrap_or_else(|| "diagnostic".to_owned());
    let advisory = text(fields, "/advisory/id");
    let krate = fields["graphs"][0]["Krate"]
        .as_object()
        .map(|krate| {
            let field = |key: &str| krate.get(key).and_then(Value::as_str).unwrap_or("?");
            format!("{}@{}", field("name"), field("version"))
        })
        .or_else(|| text(fields, "/labels/0/span"))
        .unwrap_or_default();
    let message = text(fields, "/message").unwrap_or_else(|| code.clone());
    let title = match (&advisory, text(fields, "/advisory/title")) {
        (Some(id), Some(title)) => format!("{id}: {title} ({krate})"),
        _ => format!("{message} ({krate})"),
    };
    let notes: Vec<&str> = fields["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let kind = if advisory.is_some() {
        "Software and Configuration Checks/Vulnerabilities/RustSec"
    } else {
        "Software and Configuration Checks/Industry and Regulatory Standards/cargo-deny"
    };
    Some(ScanFinding {
        tool: "cargo-deny".to_owned(),
        rule: advisory.unwrap_or(code),
        title,
        description: format!("{message}. {}", notes.join(" ")).trim().to_owned(),
        severity,
        location: krate,
        kind: kind.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/asff")
            .join(name)
    }

    fn context() -> Scope {
        Scope {
            account: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            partition: "aws".to_owned(),
            repository: "example/moat".to_owned(),
            commit: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            now: "2026-12-01T12:00:00.000Z".to_owned(),
        }
    }

    fn scan(name: &str) -> Vec<ScanFinding> {
        read_scan(&fixture(name)).unwrap()
    }

    #[test]
    fn checkov_failed_checks_become_findings_at_their_resource() {
        let found = scan("checkov.json");
        let rules: Vec<(&str, Label, &str)> = found
            .iter()
            .map(|f| (f.rule.as_str(), f.severity, f.location.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                (
                    "CKV_AWS_117",
                    Label::Medium,
                    "/modules/central/lambda.tf:aws_lambda_function.detect"
                ),
                (
                    "CKV_AWS_272",
                    Label::High,
                    "/modules/central/lambda.tf:aws_lambda_function.detect"
                ),
                (
                    "CKV_GHA_7",
                    Label::Low,
                    "/.github/workflows/deploy.yml:on(deploy)"
                ),
            ]
        );
    }

    #[test]
    fn sarif_levels_rules_and_suppressions_are_honoured() {
        let clippy = scan("clippy.sarif");
        let clippy: Vec<(&str, Label, &str)> = clippy
            .iter()
            .map(|f| (f.rule.as_str(), f.severity, f.location.as_str()))
            .collect();
        assert_eq!(
            clippy,
            [
                ("clippy::unwrap_used", Label::Medium, "xtask/src/demo.rs:42"),
                (
                    "clippy::panic",
                    Label::High,
                    "crates/moat-domain/src/plan.rs:7"
                ),
            ],
            "the suppressed result and the `pass` result are no findings"
        );
        let codeql = scan("codeql.sarif");
        assert_eq!(codeql.len(), 2);
        // security-severity 9.8 outranks the rule's `warning` level.
        assert_eq!(codeql[0].severity, Label::Critical);
        assert_eq!(codeql[0].tool, "codeql");
        assert_eq!(
            codeql[0].location,
            ".github/workflows/ci.yml#2b9e1c0a5f3d7e11:1"
        );
        // A rule known only by its extension, without a score: the level.
        assert_eq!(codeql[1].severity, Label::Low);
    }

    #[test]
    fn deny_errors_and_warnings_become_findings_at_their_crate() {
        let found = scan("deny.json");
        let rules: Vec<(&str, Label, &str)> = found
            .iter()
            .map(|f| (f.rule.as_str(), f.severity, f.location.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("rejected", Label::High, "untrusted@0.9.0"),
                ("RUSTSEC-2023-0071", Label::High, "rsa@0.9.8"),
                ("duplicate", Label::Medium, "syn@2.0.119"),
            ]
        );
        assert!(
            found[1].title.contains("RUSTSEC-2023-0071"),
            "{:?}",
            found[1]
        );
        assert!(found[1].kind.ends_with("/RustSec"));
    }

    #[test]
    fn a_file_in_no_known_format_is_named() {
        let error = parse_scan("<html>not a scan</html>").unwrap_err();
        assert!(format!("{error:#}").contains("line 1"), "{error:#}");
    }

    #[test]
    fn every_finding_has_every_field_asff_requires() {
        let context = context();
        let scanned: Vec<ScanFinding> =
            ["checkov.json", "clippy.sarif", "codeql.sarif", "deny.json"]
                .iter()
                .flat_map(|name| scan(name))
                .collect();
        let findings = convert(&scanned, &context);
        assert_eq!(findings.len(), 10);
        for finding in &findings {
            let document = finding.document();
            for field in REQUIRED {
                let value = &document[field];
                let present = match value {
                    Value::String(text) => !text.trim().is_empty(),
                    Value::Array(items) => !items.is_empty(),
                    Value::Object(fields) => !fields.is_empty(),
                    _ => false,
                };
                assert!(present, "{field} missing in {document:#}");
            }
            assert_eq!(document["AwsAccountId"].as_str().unwrap().len(), 12);
            assert!(document["Title"].as_str().unwrap().chars().count() <= 256);
            assert!(document["Description"].as_str().unwrap().chars().count() <= 1024);
            let resource = &document["Resources"][0];
            assert_eq!(resource["Type"], "Other");
            assert_eq!(
                resource["Id"],
                format!("https://github.com/example/moat/commit/{}", context.commit)
            );
            assert_eq!(document["ProductFields"]["moat/commit"], context.commit);
            let types = document["Types"][0].as_str().unwrap();
            assert_eq!(
                types.split('/').count(),
                3,
                "namespace/category/classifier: {types}"
            );
            chrono::DateTime::parse_from_rfc3339(document["CreatedAt"].as_str().unwrap()).unwrap();
        }
    }

    #[test]
    fn ids_depend_on_tool_rule_and_location_but_not_on_the_commit() {
        let scanned = scan("checkov.json");
        let first = convert(&scanned, &context());
        let mut later = context();
        later.commit = "fedcba9876543210fedcba9876543210fedcba98".to_owned();
        let second = convert(&scanned, &later);
        let ids = |findings: &[AsffFinding]| -> Vec<String> {
            findings.iter().map(|f| f.id.clone()).collect()
        };
        assert_eq!(ids(&first), ids(&second));
        // Two rules on one resource are two findings.
        assert_ne!(first[0].id, first[1].id);
        let mut other = context();
        other.repository = "example/other".to_owned();
        assert_ne!(ids(&first), ids(&convert(&scanned, &other)));
    }

    #[test]
    fn only_critical_and_high_block() {
        let context = context();
        let outcome = |severity| Outcome {
            findings: convert(
                &[ScanFinding {
                    tool: "t".into(),
                    rule: "r".into(),
                    title: "a title".into(),
                    description: "a description".into(),
                    severity,
                    location: "here".into(),
                    kind: "a/b/c".into(),
                }],
                &context,
            ),
            resolved: Vec::new(),
        };
        assert!(outcome(Label::Medium).gate(&context).is_ok());
        assert!(outcome(Label::High).gate(&context).is_err());
        assert!(outcome(Label::Critical).gate(&context).is_err());
    }

    #[test]
    fn arguments_are_read_and_checked() {
        let args = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        let options = parse(args(&[
            "--from",
            "a.json",
            "--from=b.sarif",
            "--repository",
            "o/n",
            "--commit",
            "abc",
            "--yes",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            options.from,
            [PathBuf::from("a.json"), PathBuf::from("b.sarif")]
        );
        assert!(options.yes && !options.json);
        assert!(parse(args(&[])).is_err(), "no --from");
        assert!(parse(args(&["--from", "a", "--repository", "noslash"])).is_err());
        assert_eq!(parse(args(&["--help"])).unwrap(), None);
    }

    /// Against moto's Security Hub: a first run imports every finding; a
    /// second run, where one scan no longer reports anything, updates the
    /// findings still seen and resolves the vanished ones, and leaves
    /// another repository's finding alone.
    #[test]
    fn findings_are_imported_then_resolved_when_they_disappear() {
        let moto = local_aws::Moto::start("us-east-1").expect("moto (cargo xtask setup)");
        let endpoint = moto.endpoint_url();
        block_on_big_stack(async move {
            let config = local_aws::sdk_config(&endpoint, "us-east-1").await;
            let client = Client::new(&config);
            let first = context_for(&config, "example/moat", "1111111").await;
            let all = [scan("checkov.json"), scan("deny.json")].concat();
            let imported = sync(&config, &first, &all, true, false).await.unwrap();
            assert_eq!(imported.findings.len(), 6);
            assert!(imported.resolved.is_empty());
            assert!(imported.gate(&first).is_err(), "HIGH findings block");

            let other = context_for(&config, "example/other", "2222222").await;
            sync(&config, &other, &scan("deny.json")[..1], true, false)
                .await
                .unwrap();

            let plan_only = context_for(&config, "example/moat", "3333333").await;
            let planned = sync(&config, &plan_only, &scan("checkov.json"), false, false)
                .await
                .unwrap();
            assert_eq!(
                planned.resolved.len(),
                3,
                "the plan names the deny findings"
            );
            assert_eq!(stored(&client).await.len(), 7, "a plan imports nothing");
            assert!(
                open(&client, "example/moat").await.len() == 6,
                "a plan resolves nothing"
            );

            let second = context_for(&config, "example/moat", "4444444").await;
            let outcome = sync(&config, &second, &scan("checkov.json"), true, false)
                .await
                .unwrap();
            let deny_ids: BTreeSet<String> = convert(&scan("deny.json"), &first)
                .into_iter()
                .map(|finding| finding.id)
                .collect();
            assert_eq!(
                outcome.resolved.iter().cloned().collect::<BTreeSet<_>>(),
                deny_ids
            );

            let stored = stored(&client).await;
            assert_eq!(stored.len(), 7, "updated in place, none added");
            for finding in &stored {
                let id = finding.id().unwrap();
                let ours = is_ours(finding, "example/moat");
                let status = finding.compliance().and_then(|c| c.status()).unwrap();
                let workflow = finding.workflow().and_then(|w| w.status());
                if ours && deny_ids.contains(id) {
                    assert_eq!(status, &ComplianceStatus::Passed, "{id}");
                    assert_eq!(workflow, Some(&WorkflowStatus::Resolved), "{id}");
                } else {
                    assert_eq!(status, &ComplianceStatus::Failed, "{id}");
                }
                if ours && !deny_ids.contains(id) {
                    let commit = finding
                        .product_fields()
                        .and_then(|fields| fields.get("moat/commit"));
                    assert_eq!(commit.map(String::as_str), Some("4444444"), "{id}");
                    assert_eq!(
                        finding.resources()[0].id(),
                        Some("https://github.com/example/moat/commit/4444444")
                    );
                }
            }
            assert_eq!(open(&client, "example/other").await.len(), 1);
            Ok(())
        })
        .unwrap();
        drop(moto);
    }

    async fn context_for(config: &aws_config::SdkConfig, repository: &str, commit: &str) -> Scope {
        super::scope(config, repository.to_owned(), commit.to_owned())
            .await
            .unwrap()
    }

    async fn stored(client: &Client) -> Vec<AwsSecurityFinding> {
        client
            .get_findings()
            .send()
            .await
            .unwrap()
            .findings
            .unwrap_or_default()
    }

    fn is_ours(finding: &AwsSecurityFinding, repository: &str) -> bool {
        let prefix = format!("https://github.com/{repository}/commit/");
        finding.resources()[0]
            .id()
            .is_some_and(|id| id.starts_with(&prefix))
    }

    async fn open(client: &Client, repository: &str) -> Vec<AwsSecurityFinding> {
        let resource = format!("https://github.com/{repository}/commit/");
        stored(client)
            .await
            .into_iter()
            .filter(|finding| is_open_and_ours(finding, &resource))
            .collect()
    }
}
