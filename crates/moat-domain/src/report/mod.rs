//! The daily compliance report: what a day's sweep found, in the numbers a
//! person and an auditor ask for, as JSON for the reports bucket
//! ([`DailyReport`]) and as one self-contained HTML page ([`render_html`]).
//!
//! [`DailyReport::build`] is pure: the sweep's lines and summary, the day's
//! executions and usage and the earlier days' reports come in as a
//! [`ReportInput`], and the day is an argument, never the clock. The
//! framework mapping (`policies/frameworks.json`) and the price table
//! (`infra/pricing.json`) are compiled in, and the report names the pages
//! their figures were copied from.
//!
//! The reports bucket is laid out as follows; the sweep writes the first
//! two, whoever collects the day's executions and usage writes the third,
//! and the report's writer the last two:
//!
//! ```text
//! sweeps/<sweepId>/results.jsonl   one SweepLine per group (JSON Lines)
//! sweeps/<sweepId>/summary.json    the SweepSummary
//! reports/<date>/activity.json     the day's Activity: executions and usage
//! reports/<date>/report.json       the DailyReport
//! reports/<date>/report.html       render_html of it
//! ```

mod html;
mod tables;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::evaluation::Finding;
use crate::sweep::{SweepAction, SweepLine, SweepSummary};

pub use html::render_html;
pub use tables::{
    ControlMapping, FRAMEWORKS_JSON, Frameworks, PRICING_JSON, Price, Prices, Pricing, SourceRef,
};

/// The folder of every sweep's files in the reports bucket.
pub const SWEEPS_PREFIX: &str = "sweeps/";
/// The folder of every day's report files in the reports bucket.
pub const REPORTS_PREFIX: &str = "reports/";
/// A sweep's lines, one JSON object per line.
pub const RESULTS_FILE: &str = "results.jsonl";
/// A sweep's [`SweepSummary`].
pub const SUMMARY_FILE: &str = "summary.json";
/// A day's [`Activity`].
pub const ACTIVITY_FILE: &str = "activity.json";
/// A day's [`DailyReport`].
pub const REPORT_JSON_FILE: &str = "report.json";
/// A day's rendered page.
pub const REPORT_HTML_FILE: &str = "report.html";

/// The key of one of a sweep's files: `sweeps/<sweepId>/<file>`.
pub fn sweep_key(sweep_id: &str, file: &str) -> String {
    format!("{SWEEPS_PREFIX}{sweep_id}/{file}")
}

/// The key of one of a day's report files: `reports/<date>/<file>`.
pub fn report_key(date: NaiveDate, file: &str) -> String {
    format!("{REPORTS_PREFIX}{date}/{file}")
}

/// How many days the trend covers, the report's own day included.
pub const TREND_DAYS: u64 = 30;

/// How many of the slowest executions the report lists.
pub const SLOWEST_EXECUTIONS: usize = 5;

/// The Security Hub controls Moat's built-in pack enforces; the report
/// lists each of them, failing or not, so a zero is visible as a zero.
pub const REPORTED_CONTROLS: [&str; 5] = ["EC2.2", "EC2.13", "EC2.14", "EC2.18", "EC2.19"];

/// The frameworks the report groups requirements by, in the page's order.
pub const FSBP: &str = "AWS FSBP";
pub const CIS: &str = "CIS AWS Foundations";
pub const NIST: &str = "NIST 800-53";
pub const PCI_DSS: &str = "PCI DSS v3.2.1";

/// Everything one day's report is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportInput {
    /// The day reported on.
    pub date: NaiveDate,
    pub summary: SweepSummary,
    pub lines: Vec<SweepLine>,
    #[serde(default)]
    pub executions: Vec<ExecutionStat>,
    #[serde(default)]
    pub usage: Usage,
    /// Earlier days' reports, for the trend; for a date given twice the
    /// later one in the list counts.
    #[serde(default)]
    pub earlier: Vec<DailyReport>,
}

/// A day's executions and usage: `reports/<date>/activity.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(default)]
    pub executions: Vec<ExecutionStat>,
    #[serde(default)]
    pub usage: Usage,
}

/// One Step Functions execution of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStat {
    pub name: String,
    pub arn: String,
    /// As Step Functions says it: `SUCCEEDED`, `FAILED`, `TIMED_OUT`, ...
    pub status: String,
    pub started_at: DateTime<Utc>,
    /// None while it runs.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The error name of a failed execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ExecutionStat {
    /// Whether the execution ended without succeeding.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED")
    }
}

/// What the day used of each billed dimension.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Usage {
    pub state_transitions: u64,
    pub lambda_requests: u64,
    pub lambda_gb_seconds: f64,
    pub dynamodb_read_requests: u64,
    pub dynamodb_write_requests: u64,
    pub s3_get_requests: u64,
    pub s3_put_requests: u64,
}

/// One day's report: `reports/<date>/report.json`.
///
/// Every field but `date` has a default, so that an earlier report written
/// by an older Moat still gives its trend point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyReport {
    pub date: NaiveDate,
    #[serde(default)]
    pub sweep_id: String,
    #[serde(default)]
    pub sweep_started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sweep_finished_at: Option<DateTime<Utc>>,
    /// Groups judged (skipped ones not counted).
    #[serde(default)]
    pub groups_scanned: usize,
    /// Groups the sweep could not judge.
    #[serde(default)]
    pub groups_skipped: usize,
    /// Groups with at least one finding; exempted findings do not count.
    #[serde(default)]
    pub violations: usize,
    /// Groups a remediation execution was started (or found) for.
    #[serde(default)]
    pub remediations: usize,
    /// Groups whose remediation waits for a person.
    #[serde(default)]
    pub reviews_pending: usize,
    /// Compliant groups per group scanned, in percent with one decimal;
    /// None when nothing was scanned.
    #[serde(default)]
    pub compliance_score: Option<f64>,
    #[serde(default)]
    pub accounts: Vec<AccountScore>,
    #[serde(default)]
    pub controls: Vec<ControlCount>,
    #[serde(default)]
    pub frameworks: Vec<FrameworkSummary>,
    /// Every group with a finding, for the people who fix them.
    #[serde(default)]
    pub violating_groups: Vec<ViolatingGroup>,
    #[serde(default)]
    pub exemptions: Vec<ActiveExemption>,
    #[serde(default)]
    pub expired_exemptions: Vec<LapsedExemption>,
    #[serde(default)]
    pub slowest_executions: Vec<ExecutionStat>,
    #[serde(default)]
    pub failed_executions: Vec<ExecutionStat>,
    #[serde(default)]
    pub cost: Cost,
    #[serde(default)]
    pub trend: Vec<TrendPoint>,
    /// Where the PCI DSS and FSBP mapping comes from.
    #[serde(default)]
    pub mapping_source: SourceRef,
    /// What a reader should know before trusting the figures.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One account's compliance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountScore {
    pub account: String,
    pub groups: usize,
    pub compliant: usize,
    pub compliance_score: Option<f64>,
}

/// How many groups fail one Security Hub control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlCount {
    pub control: String,
    /// The control's title, when the mapping table knows it.
    #[serde(default)]
    pub title: String,
    pub failing_groups: usize,
}

/// The failing requirements of one framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkSummary {
    pub framework: String,
    pub requirements: Vec<RequirementCount>,
}

/// How many groups fail one requirement, and through which controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequirementCount {
    pub requirement: String,
    pub controls: Vec<String>,
    pub failing_groups: usize,
}

/// A group with at least one finding, and what the sweep did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolatingGroup {
    pub account: String,
    pub region: String,
    pub group_id: String,
    pub group_name: String,
    /// The Security Hub controls its findings fail.
    pub controls: Vec<String>,
    /// The sweep's action, as in the results (`remediationStarted`, ...).
    pub action: String,
}

/// An in-date exemption that suppressed a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveExemption {
    pub account: String,
    pub region: String,
    pub group_id: String,
    pub group_name: String,
    pub policy_rule_id: String,
    pub security_group_rule_ids: Vec<String>,
    pub until: Option<String>,
}

/// An exemption tag whose date has passed, so it no longer counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LapsedExemption {
    pub account: String,
    pub region: String,
    pub group_id: String,
    pub group_name: String,
    pub policy_rule_id: String,
    /// The date as written on the tag.
    pub expired_on: String,
}

/// What the day cost at list price.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// The day the prices were read.
    pub as_of: NaiveDate,
    pub region: String,
    pub currency: String,
    pub items: Vec<CostItem>,
    /// The sum of the items, in dollars rounded to a millionth.
    pub total_usd: f64,
}

/// One usage figure times its price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostItem {
    /// The usage field's name, such as `stateTransitions`.
    pub item: String,
    pub label: String,
    pub quantity: f64,
    /// `price_usd` dollars per `per` units.
    pub price_usd: f64,
    pub per: f64,
    /// In dollars, rounded to a millionth.
    pub usd: f64,
}

/// One day of the trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    pub date: NaiveDate,
    pub groups_scanned: usize,
    pub violations: usize,
    pub compliance_score: Option<f64>,
}

impl DailyReport {
    /// The report of `input.date`.
    pub fn build(input: &ReportInput) -> DailyReport {
        let counted = SweepSummary::of(&input.summary.sweep_id, &input.lines);
        let judged: Vec<&SweepLine> = input
            .lines
            .iter()
            .filter(|line| line.action != SweepAction::Skipped)
            .collect();
        let compliant = counted.per_account.values().map(|a| a.compliant).sum();
        let frameworks = Frameworks::builtin();
        let mut report = DailyReport {
            date: input.date,
            sweep_id: input.summary.sweep_id.clone(),
            sweep_started_at: input.summary.started_at,
            sweep_finished_at: input.summary.finished_at,
            groups_scanned: counted.groups_scanned,
            groups_skipped: input.lines.len() - judged.len(),
            violations: counted.violations,
            remediations: count_actions(
                &judged,
                &[SweepAction::RemediationStarted, SweepAction::AlreadyStarted],
            ),
            reviews_pending: count_actions(&judged, &[SweepAction::ReviewPending]),
            compliance_score: score(compliant, counted.groups_scanned),
            accounts: account_scores(&counted),
            controls: control_counts(&judged, frameworks),
            frameworks: framework_summaries(&judged, frameworks),
            violating_groups: violating_groups(&judged),
            exemptions: active_exemptions(&input.lines),
            expired_exemptions: lapsed_exemptions(&input.lines),
            slowest_executions: slowest(&input.executions),
            failed_executions: failed(&input.executions),
            cost: Cost::of(&input.usage, Pricing::builtin()),
            trend: Vec::new(),
            mapping_source: frameworks.source.clone(),
            warnings: warnings(input, &counted),
        };
        report.trend = trend(&report, &input.earlier);
        report
    }

    /// This report's point of the trend.
    pub fn trend_point(&self) -> TrendPoint {
        TrendPoint {
            date: self.date,
            groups_scanned: self.groups_scanned,
            violations: self.violations,
            compliance_score: self.compliance_score,
        }
    }
}

/// `compliant` of `groups` in percent, rounded half up to one decimal;
/// None for no groups, where a score would claim what nobody checked.
pub fn score(compliant: usize, groups: usize) -> Option<f64> {
    if groups == 0 {
        return None;
    }
    // Integer tenths of a percent, so that the rounding never depends on
    // how a float happens to represent the ratio.
    let tenths = (compliant as u128 * 1000 + groups as u128 / 2) / groups as u128;
    Some(tenths as f64 / 10.0)
}

fn count_actions(lines: &[&SweepLine], actions: &[SweepAction]) -> usize {
    lines
        .iter()
        .filter(|line| actions.contains(&line.action))
        .count()
}

fn account_scores(counted: &SweepSummary) -> Vec<AccountScore> {
    counted
        .per_account
        .iter()
        .map(|(account, counts)| AccountScore {
            account: account.clone(),
            groups: counts.groups,
            compliant: counts.compliant,
            compliance_score: score(counts.compliant, counts.groups),
        })
        .collect()
}

/// Whether `control` reads as a Security Hub control id: a service, a dot
/// and a number, such as `EC2.13`. CIS and NIST ids carry spaces.
pub fn is_security_hub_control(control: &str) -> bool {
    control.split_once('.').is_some_and(|(service, number)| {
        service.starts_with(|c: char| c.is_ascii_uppercase())
            && service.chars().all(|c| c.is_ascii_alphanumeric())
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
    })
}

/// Orders `EC2.2` before `EC2.13`, as people count.
fn control_order(control: &str) -> (String, u64) {
    match control.split_once('.') {
        Some((service, number)) if is_security_hub_control(control) => {
            (service.to_owned(), number.parse().unwrap_or(u64::MAX))
        }
        _ => (control.to_owned(), 0),
    }
}

/// The Security Hub controls a finding names. A finding counts against
/// every one of them, not only the first: the all-traffic rule names
/// EC2.19 and EC2.18, and such a group fails both in Security Hub.
fn security_hub_controls(finding: &Finding) -> impl Iterator<Item = &str> {
    finding
        .controls
        .iter()
        .map(String::as_str)
        .filter(|control| is_security_hub_control(control))
}

/// The groups failing each control: the reported ones always, zero or not,
/// then any other control a finding names.
fn control_counts(lines: &[&SweepLine], frameworks: &Frameworks) -> Vec<ControlCount> {
    let mut failing: BTreeMap<&str, usize> = REPORTED_CONTROLS
        .iter()
        .map(|control| (*control, 0))
        .collect();
    for line in lines {
        let controls: BTreeSet<&str> = line
            .findings
            .iter()
            .flat_map(security_hub_controls)
            .collect();
        for control in controls {
            *failing.entry(control).or_default() += 1;
        }
    }
    let mut counts: Vec<ControlCount> = failing
        .into_iter()
        .map(|(control, failing_groups)| ControlCount {
            control: control.to_owned(),
            title: frameworks
                .control(control)
                .map(|mapping| mapping.title.clone())
                .unwrap_or_default(),
            failing_groups,
        })
        .collect();
    counts.sort_by_key(|count| {
        let reported = REPORTED_CONTROLS.iter().position(|c| *c == count.control);
        (
            reported.unwrap_or(usize::MAX),
            control_order(&count.control),
        )
    });
    counts
}

/// A group's place, to count it once per requirement.
type GroupKey<'a> = (&'a str, &'a str, &'a str);

/// What the tally knows of one requirement: the controls that lead to it
/// and the groups failing it.
#[derive(Default)]
struct Failing<'a> {
    controls: BTreeSet<String>,
    groups: BTreeSet<GroupKey<'a>>,
}

/// Per framework and requirement, what fails it.
#[derive(Default)]
struct Tally<'a> {
    requirements: BTreeMap<(&'static str, String), Failing<'a>>,
}

impl<'a> Tally<'a> {
    fn add(
        &mut self,
        framework: &'static str,
        requirement: &str,
        controls: &[&str],
        group: GroupKey<'a>,
    ) {
        let entry = self
            .requirements
            .entry((framework, requirement.to_owned()))
            .or_default();
        entry
            .controls
            .extend(controls.iter().map(|c| (*c).to_owned()));
        entry.groups.insert(group);
    }

    fn finding(&mut self, finding: &Finding, frameworks: &Frameworks, group: GroupKey<'a>) {
        let hub: Vec<&str> = security_hub_controls(finding).collect();
        for control in &hub {
            let Some(mapping) = frameworks.control(control) else {
                continue;
            };
            if mapping.fsbp {
                self.add(FSBP, control, &[control], group);
            }
            for requirement in &mapping.pci_dss_321 {
                self.add(PCI_DSS, requirement, &[control], group);
            }
        }
        for control in &finding.controls {
            if control.starts_with("CIS ") {
                self.add(CIS, control, &hub, group);
            } else if control.starts_with("NIST 800-53") {
                self.add(NIST, control, &hub, group);
            }
        }
    }

    fn summaries(self) -> Vec<FrameworkSummary> {
        [FSBP, CIS, NIST, PCI_DSS]
            .into_iter()
            .map(|framework| FrameworkSummary {
                framework: framework.to_owned(),
                requirements: self
                    .requirements
                    .iter()
                    .filter(|((name, _), _)| *name == framework)
                    .map(|((_, requirement), failing)| RequirementCount {
                        requirement: requirement.clone(),
                        controls: sorted_controls(&failing.controls),
                        failing_groups: failing.groups.len(),
                    })
                    .collect(),
            })
            .collect()
    }
}

fn sorted_controls(controls: &BTreeSet<String>) -> Vec<String> {
    let mut sorted: Vec<String> = controls.iter().cloned().collect();
    sorted.sort_by_key(|control| control_order(control));
    sorted
}

/// The failing requirements of each framework: FSBP, CIS and NIST 800-53
/// as the findings' `controls` name them (FSBP only for controls AWS counts
/// in it), PCI DSS through the mapping table.
fn framework_summaries(lines: &[&SweepLine], frameworks: &Frameworks) -> Vec<FrameworkSummary> {
    let mut tally = Tally::default();
    for line in lines {
        let group = (
            line.account.as_str(),
            line.region.as_str(),
            line.group_id.as_str(),
        );
        for finding in &line.findings {
            tally.finding(finding, frameworks, group);
        }
    }
    tally.summaries()
}

fn violating_groups(lines: &[&SweepLine]) -> Vec<ViolatingGroup> {
    let mut groups: Vec<ViolatingGroup> = lines
        .iter()
        .filter(|line| !line.findings.is_empty())
        .map(|line| {
            let controls: BTreeSet<String> = line
                .findings
                .iter()
                .flat_map(security_hub_controls)
                .map(str::to_owned)
                .collect();
            ViolatingGroup {
                account: line.account.clone(),
                region: line.region.clone(),
                group_id: line.group_id.clone(),
                group_name: line.group_name.clone(),
                controls: sorted_controls(&controls),
                action: line.action.as_str().to_owned(),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        (&a.account, &a.region, &a.group_id).cmp(&(&b.account, &b.region, &b.group_id))
    });
    groups
}

fn active_exemptions(lines: &[SweepLine]) -> Vec<ActiveExemption> {
    lines
        .iter()
        .flat_map(|line| {
            line.exempted.iter().map(move |exempted| ActiveExemption {
                account: line.account.clone(),
                region: line.region.clone(),
                group_id: line.group_id.clone(),
                group_name: line.group_name.clone(),
                policy_rule_id: exempted.policy_rule_id.clone(),
                security_group_rule_ids: exempted.security_group_rule_ids.clone(),
                until: exempted.until.clone(),
            })
        })
        .collect()
}

fn lapsed_exemptions(lines: &[SweepLine]) -> Vec<LapsedExemption> {
    lines
        .iter()
        .flat_map(|line| {
            line.expired_exemptions
                .iter()
                .map(move |expired| LapsedExemption {
                    account: line.account.clone(),
                    region: line.region.clone(),
                    group_id: line.group_id.clone(),
                    group_name: line.group_name.clone(),
                    policy_rule_id: expired.policy_rule_id.clone(),
                    expired_on: expired.expired_on.clone(),
                })
        })
        .collect()
}

/// The slowest executions that have ended, slowest first; ties in start
/// order, so the list is stable.
fn slowest(executions: &[ExecutionStat]) -> Vec<ExecutionStat> {
    let mut ended: Vec<&ExecutionStat> = executions
        .iter()
        .filter(|execution| execution.duration_ms.is_some())
        .collect();
    ended.sort_by(|a, b| {
        b.duration_ms
            .cmp(&a.duration_ms)
            .then(a.started_at.cmp(&b.started_at))
            .then(a.name.cmp(&b.name))
    });
    ended
        .into_iter()
        .take(SLOWEST_EXECUTIONS)
        .cloned()
        .collect()
}

/// Every execution that failed, timed out or was aborted, in start order.
fn failed(executions: &[ExecutionStat]) -> Vec<ExecutionStat> {
    let mut failed: Vec<ExecutionStat> = executions
        .iter()
        .filter(|execution| execution.failed())
        .cloned()
        .collect();
    failed.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.name.cmp(&b.name)));
    failed
}

/// Dollars rounded to a millionth: finer than any figure the page shows,
/// coarse enough that sums of float products print as the sums they are.
fn round_usd(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

impl Cost {
    /// `usage` at `pricing`'s prices.
    pub fn of(usage: &Usage, pricing: &Pricing) -> Cost {
        let prices = &pricing.prices;
        let figures: [(&str, f64, &Price); 7] = [
            (
                "stateTransitions",
                usage.state_transitions as f64,
                &prices.state_transitions,
            ),
            (
                "lambdaRequests",
                usage.lambda_requests as f64,
                &prices.lambda_requests,
            ),
            (
                "lambdaGbSeconds",
                usage.lambda_gb_seconds,
                &prices.lambda_gb_seconds,
            ),
            (
                "dynamodbReadRequests",
                usage.dynamodb_read_requests as f64,
                &prices.dynamodb_read_requests,
            ),
            (
                "dynamodbWriteRequests",
                usage.dynamodb_write_requests as f64,
                &prices.dynamodb_write_requests,
            ),
            (
                "s3GetRequests",
                usage.s3_get_requests as f64,
                &prices.s3_get_requests,
            ),
            (
                "s3PutRequests",
                usage.s3_put_requests as f64,
                &prices.s3_put_requests,
            ),
        ];
        let items: Vec<CostItem> = figures
            .into_iter()
            .map(|(item, quantity, price)| CostItem {
                item: item.to_owned(),
                label: price.label.clone(),
                quantity,
                price_usd: price.usd,
                per: price.per,
                usd: round_usd(quantity * price.usd / price.per),
            })
            .collect();
        let total_usd = round_usd(items.iter().map(|item| item.usd).sum());
        Cost {
            as_of: pricing.as_of,
            region: pricing.region.clone(),
            currency: pricing.currency.clone(),
            items,
            total_usd,
        }
    }
}

/// The days from `TREND_DAYS - 1` days before `today` up to `today`, one
/// point per date: later reports in `earlier` replace earlier ones for the
/// same date, and `today` replaces them all for its own. Reports dated
/// after `today` are left out, so a report made again for a past day shows
/// the trend as it stood then.
fn trend(today: &DailyReport, earlier: &[DailyReport]) -> Vec<TrendPoint> {
    let first = today
        .date
        .checked_sub_days(Days::new(TREND_DAYS - 1))
        .unwrap_or(NaiveDate::MIN);
    let mut by_date: BTreeMap<NaiveDate, TrendPoint> = BTreeMap::new();
    for report in earlier.iter().chain(std::iter::once(today)) {
        by_date.insert(report.date, report.trend_point());
    }
    by_date
        .range(first..=today.date)
        .map(|(_, point)| point.clone())
        .collect()
}

/// Where the inputs disagree with each other or are missing, in words.
fn warnings(input: &ReportInput, counted: &SweepSummary) -> Vec<String> {
    let summary = &input.summary;
    let mut warnings = Vec::new();
    if summary.groups_scanned != counted.groups_scanned || summary.violations != counted.violations
    {
        warnings.push(format!(
            "the sweep summary counts {} groups and {} violations, its results {} and {}: \
             the results may be incomplete; the report counts the results",
            summary.groups_scanned, summary.violations, counted.groups_scanned, counted.violations
        ));
    }
    let foreign = input
        .lines
        .iter()
        .filter(|line| line.sweep_id != summary.sweep_id)
        .count();
    if foreign > 0 {
        warnings.push(format!(
            "{foreign} result lines belong to another sweep than {}",
            summary.sweep_id
        ));
    }
    if input.usage == Usage::default() {
        warnings.push("no usage figures were given: the cost is unknown, not zero".to_owned());
    }
    warnings
}

/// Reads a sweep's `results.jsonl`: one [`SweepLine`] per non-blank line.
/// A line that is not one is named by its number.
pub fn parse_results(text: &str) -> Result<Vec<SweepLine>, crate::Error> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|error| {
                crate::Error::invalid(
                    "sweep results",
                    format!("line {}", index + 1),
                    error.to_string(),
                )
            })
        })
        .collect()
}

/// The sweep a day's report is about, among `summaries`: the one started
/// that day (UTC) that finished last; a sweep still without a finish time
/// counts as finishing after every finished one, since it is the newest.
pub fn sweep_of_day(date: NaiveDate, summaries: &[SweepSummary]) -> Option<&SweepSummary> {
    summaries
        .iter()
        .filter(|summary| summary.started_at.is_some_and(|at| at.date_naive() == date))
        .max_by_key(|summary| {
            (
                summary.finished_at.is_none(),
                summary.finished_at,
                summary.started_at,
            )
        })
}

#[cfg(test)]
mod tests;
