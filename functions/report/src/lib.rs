//! The report function: a sweep's last step. It collects what the sweep's
//! Distributed Map judged (the `ResultWriter`'s manifest and result files),
//! writes the results as JSON Lines and the summary to the reports bucket,
//! keeps the summary in the records table, and writes the day's compliance
//! report (JSON and one HTML page) with the trend of the earlier days.

use chrono::{DateTime, Days, Utc};
use moat_aws::records::SweepRecords;
use moat_aws::reports::ReportStore;
use moat_domain::ErrorType;
use moat_domain::report::{
    ACTIVITY_FILE, Activity, DailyReport, REPORT_HTML_FILE, REPORT_JSON_FILE, RESULTS_FILE,
    ReportInput, SUMMARY_FILE, TREND_DAYS, render_html, report_key, sweep_key,
};
use moat_domain::sweep::{
    MapResultManifest, SweepAction, SweepLine, SweepSummary, lines_of_results,
    remediation_execution_name,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where the Distributed Map's `ResultWriter` put its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Judged {
    #[serde(default)]
    pub map_run_arn: String,
    pub result_writer_details: ResultWriterDetails,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultWriterDetails {
    pub bucket: String,
    pub key: String,
}

/// The Report state's `Parameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub sweep_id: String,
    pub judged: Judged,
    /// The remediation state machine, whose executions the sweep started
    /// by name; their ARNs go into the results.
    pub remediation_state_machine_arn: String,
}

/// What the sweep found, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reported {
    #[serde(flatten)]
    pub summary: SweepSummary,
    pub results_key: String,
    pub report_key: String,
}

/// Everything report can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
    #[error(transparent)]
    Domain(#[from] moat_domain::Error),
    #[error("{key}: {reason}")]
    Missing { key: String, reason: String },
}

impl Error {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Aws(error) => error.error_type(),
            Error::Domain(error) => error.error_type(),
            // The Map wrote its files before this step ran: their absence
            // is a bug or a bucket emptied under us, not a thing to retry.
            Error::Missing { .. } => ErrorType::NotFound,
        }
    }
}

moat_aws::lambda_diagnostic!(Error);

/// What report needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<S, R> {
    pub reports: S,
    pub records: R,
    pub clock: fn() -> DateTime<Utc>,
}

pub async fn handler<S: ReportStore, R: SweepRecords>(
    deps: &Deps<S, R>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<Reported, Error> {
    report(deps, &event.payload).await
}

pub async fn report<S: ReportStore, R: SweepRecords>(
    deps: &Deps<S, R>,
    input: &Input,
) -> Result<Reported, Error> {
    let mut lines = collect_lines(&deps.reports, &input.judged).await?;
    name_executions(&mut lines, input);
    let summary = SweepSummary::of(&input.sweep_id, &lines);
    let results_key = sweep_key(&input.sweep_id, RESULTS_FILE);
    deps.reports
        .put(
            &results_key,
            json_lines(&lines).into_bytes(),
            "application/x-ndjson",
        )
        .await?;
    let summary_text = serde_json::to_vec(&summary).unwrap_or_default();
    let summary_key = sweep_key(&input.sweep_id, SUMMARY_FILE);
    deps.reports
        .put(&summary_key, summary_text, "application/json")
        .await?;
    deps.records.put_sweep_summary(&summary).await?;
    let report_key = write_daily_report(deps, &summary, lines).await?;
    tracing::info!(
        sweep_id = %input.sweep_id,
        groups = summary.groups_scanned,
        violations = summary.violations,
        "reported"
    );
    Ok(Reported {
        summary,
        results_key,
        report_key,
    })
}

/// Every line the Map's children handed back, in account, region and
/// group order, so two reports of the same sweep are the same bytes.
async fn collect_lines<S: ReportStore>(
    reports: &S,
    judged: &Judged,
) -> Result<Vec<SweepLine>, Error> {
    let manifest: MapResultManifest = read_json(reports, &judged.result_writer_details.key).await?;
    let mut lines = Vec::new();
    for file in &manifest.result_files.succeeded {
        let text = read(reports, &file.key).await?;
        lines.extend(lines_of_results(&text)?);
    }
    lines.sort_by(|a, b| {
        (&a.account, &a.region, &a.group_id).cmp(&(&b.account, &b.region, &b.group_id))
    });
    Ok(lines)
}

/// The ARN of each remediation execution the sweep started, from its name.
fn name_executions(lines: &mut [SweepLine], input: &Input) {
    let executions =
        input
            .remediation_state_machine_arn
            .replacen(":stateMachine:", ":execution:", 1);
    for line in lines.iter_mut() {
        if matches!(
            line.action,
            SweepAction::RemediationStarted | SweepAction::ReviewPending | SweepAction::Resolved
        ) {
            let name = remediation_execution_name(&line.sweep_id, &line.group_id);
            line.execution_arn = Some(format!("{executions}:{name}"));
        }
    }
}

/// The day's report with the trend of the days before it.
async fn write_daily_report<S: ReportStore, R>(
    deps: &Deps<S, R>,
    summary: &SweepSummary,
    lines: Vec<SweepLine>,
) -> Result<String, Error> {
    let date = (deps.clock)().date_naive();
    let mut earlier = Vec::new();
    for days in (1..TREND_DAYS).rev() {
        let Some(day) = date.checked_sub_days(Days::new(days)) else {
            continue;
        };
        if let Some(text) = deps.reports.get(&report_key(day, REPORT_JSON_FILE)).await? {
            // An unreadable old report loses its point of the trend, not
            // today's report.
            if let Ok(report) = serde_json::from_str::<DailyReport>(&text) {
                earlier.push(report);
            }
        }
    }
    let activity: Activity = match deps.reports.get(&report_key(date, ACTIVITY_FILE)).await? {
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => Activity::default(),
    };
    let input = ReportInput {
        date,
        summary: summary.clone(),
        lines,
        executions: activity.executions,
        usage: activity.usage,
        earlier,
    };
    let daily = DailyReport::build(&input);
    let key = report_key(date, REPORT_JSON_FILE);
    let json = serde_json::to_vec_pretty(&daily).unwrap_or_default();
    deps.reports.put(&key, json, "application/json").await?;
    let html = render_html(&daily).into_bytes();
    deps.reports
        .put(
            &report_key(date, REPORT_HTML_FILE),
            html,
            "text/html; charset=utf-8",
        )
        .await?;
    Ok(key)
}

fn json_lines(lines: &[SweepLine]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).unwrap_or_default());
        text.push('\n');
    }
    text
}

async fn read<S: ReportStore>(reports: &S, key: &str) -> Result<String, Error> {
    reports.get(key).await?.ok_or_else(|| Error::Missing {
        key: format!("s3://{}/{key}", reports.bucket()),
        reason: "the Map's result file is not there".into(),
    })
}

async fn read_json<S: ReportStore, T: DeserializeOwned>(
    reports: &S,
    key: &str,
) -> Result<T, Error> {
    let text = read(reports, key).await?;
    serde_json::from_str(&text).map_err(|error| {
        Error::Domain(moat_domain::Error::invalid(
            "map result manifest",
            "$",
            error.to_string(),
        ))
    })
}

#[cfg(test)]
mod tests;
