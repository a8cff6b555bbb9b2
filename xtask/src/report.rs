//! `cargo xtask report`: one day's compliance report, as the HTML page and
//! (with `--json`) the `DailyReport`, from a file, a directory laid out like
//! the reports bucket, or the reports bucket itself.
//!
//! The figures are `moat_domain::report`'s; this command only gathers the
//! inputs. A directory and the bucket are read by the same code through a
//! small [`Store`] trait, so what a test proves on a directory holds for
//! the bucket, and the bucket is read with `aws-sdk-s3` and the standard
//! AWS configuration (`AWS_ENDPOINT_URL` points it at moto). The command
//! reads and never writes the bucket.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Days, NaiveDate, Utc};
use moat_domain::report::{
    self, ACTIVITY_FILE, Activity, DailyReport, REPORT_JSON_FILE, RESULTS_FILE, ReportInput,
    SUMMARY_FILE, SWEEPS_PREFIX, TREND_DAYS,
};
use moat_domain::sweep::SweepSummary;

const USAGE: &str = "\
usage: cargo xtask report --from-file <input.json> [--out FILE] [--json]
       cargo xtask report --from-file <dir> --date YYYY-MM-DD [--sweep ID] [--out FILE] [--json]
       cargo xtask report --from-bucket <bucket> --date YYYY-MM-DD [--sweep ID] [--region R] [--out FILE] [--json]

  --from-file FILE  a ReportInput JSON document: date, summary, lines, executions, usage, earlier
  --from-file DIR   a directory laid out like the reports bucket (`aws s3 sync s3://<bucket> DIR`)
  --from-bucket B   the reports bucket, read with the standard AWS configuration
  --date DAY        the day to report on (UTC)
  --sweep ID        the sweep to report on (default: of the sweeps started that day, the last to finish)
  --region R        the bucket's region (default: the AWS configuration's)
  --out FILE        where the HTML page goes (default: report.html)
  --json            print the DailyReport as JSON on stdout (the page is still written)

The reports bucket, and a directory given to --from-file:
  sweeps/<sweepId>/results.jsonl   one SweepLine per group, written by the sweep
  sweeps/<sweepId>/summary.json    the sweep's SweepSummary
  reports/<date>/activity.json     the day's executions and usage; without it the cost is unknown
  reports/<date>/report.json       each day's DailyReport; the 29 days before DAY make the trend
  reports/<date>/report.html       each day's page
Nothing is written to the bucket.";

/// Where the input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    File(PathBuf),
    Bucket(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    source: Source,
    date: Option<NaiveDate>,
    sweep: Option<String>,
    region: Option<String>,
    out: PathBuf,
    json: bool,
}

pub(crate) fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let (mut file, mut bucket, mut date, mut sweep, mut region) = (None, None, None, None, None);
    let (mut out, mut json) = (PathBuf::from("report.html"), false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("from-file") => file = Some(PathBuf::from(parser.value()?)),
            Long("from-bucket") => bucket = Some(parser.value()?.string()?),
            Long("date") => date = Some(parse_date(&parser.value()?.string()?)?),
            Long("sweep") => sweep = Some(parse_sweep(parser.value()?.string()?)?),
            Long("region") => region = Some(parser.value()?.string()?),
            Long("out") => out = PathBuf::from(parser.value()?),
            Long("json") => json = true,
            other => bail!("{}", other.unexpected()),
        }
    }
    let source = match (file, bucket) {
        (Some(file), None) => Source::File(file),
        (None, Some(bucket)) => Source::Bucket(bucket),
        (Some(_), Some(_)) => bail!("--from-file and --from-bucket exclude each other"),
        (None, None) => bail!("say where the input is: --from-file or --from-bucket"),
    };
    if matches!(source, Source::Bucket(_)) && date.is_none() {
        bail!("--from-bucket needs --date");
    }
    if region.is_some() && !matches!(source, Source::Bucket(_)) {
        bail!("--region goes with --from-bucket");
    }
    Ok(Some(Options {
        source,
        date,
        sweep,
        region,
        out,
        json,
    }))
}

fn parse_date(text: &str) -> anyhow::Result<NaiveDate> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("--date {text}: a day as YYYY-MM-DD"))
}

/// A sweep id names a folder: it may not climb out of it.
fn parse_sweep(id: String) -> anyhow::Result<String> {
    if id.is_empty() || id.contains('/') || id.contains("..") {
        bail!("--sweep {id}: a sweep id, without `/` or `..`");
    }
    Ok(id)
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    let input = load(&options)?;
    let report = DailyReport::build(&input);
    let page = report::render_html(&report);
    std::fs::write(&options.out, page)
        .with_context(|| format!("writing {}", options.out.display()))?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let written = format!(
        "report for {} written to {}",
        report.date,
        options.out.display()
    );
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        eprintln!("{written}");
    } else {
        println!("{written}");
    }
    Ok(())
}

/// The report's input, from wherever the options say.
fn load(options: &Options) -> anyhow::Result<ReportInput> {
    let sweep = options.sweep.as_deref();
    match &options.source {
        Source::File(path) if path.is_dir() => {
            let Some(date) = options.date else {
                return Err(crate::usage_error("a directory needs --date", USAGE));
            };
            let store = DirStore(path.clone());
            crate::executions::runtime()?.block_on(gather(&store, date, sweep))
        }
        Source::File(path) => {
            if options.date.is_some() || sweep.is_some() {
                let problem = "--date and --sweep go with a directory or --from-bucket: a ReportInput file names its day";
                return Err(crate::usage_error(problem, USAGE));
            }
            read_input(path)
        }
        Source::Bucket(bucket) => {
            let date = options.date.context("--from-bucket needs --date")?;
            crate::executions::runtime()?.block_on(async {
                let config = crate::executions::aws_config(options.region.as_deref()).await;
                let store = S3Store {
                    client: aws_sdk_s3::Client::new(&config),
                    bucket: bucket.clone(),
                };
                gather(&store, date, sweep).await
            })
        }
    }
}

fn read_input(path: &Path) -> anyhow::Result<ReportInput> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a ReportInput document", path.display()))
}

/// A summary object found in a store, and when it was last written if the
/// store knows.
struct Listed {
    key: String,
    modified: Option<DateTime<Utc>>,
}

/// The reports bucket's objects, by key, wherever they are kept.
trait Store {
    /// The object at `key`, or None when there is none.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Every `sweeps/<id>/summary.json`.
    async fn summaries(&self) -> anyhow::Result<Vec<Listed>>;
    /// Where the objects are, for messages.
    fn name(&self) -> String;
}

/// The message for an object that is not the JSON document it should be.
fn not_json(store: &impl Store, key: &str) -> String {
    format!("{key} in {} is not what it should be", store.name())
}

/// Everything the report of `date` needs, from `store`.
async fn gather(
    store: &impl Store,
    date: NaiveDate,
    sweep: Option<&str>,
) -> anyhow::Result<ReportInput> {
    let (sweep_id, summary) = match sweep {
        Some(id) => {
            let key = report::sweep_key(id, SUMMARY_FILE);
            let bytes = store.get(&key).await?;
            let bytes = bytes.with_context(|| format!("{} has no {key}", store.name()))?;
            let summary: SweepSummary =
                serde_json::from_slice(&bytes).with_context(|| not_json(store, &key))?;
            (id.to_owned(), summary)
        }
        None => sweep_of_day(store, date).await?,
    };
    let key = report::sweep_key(&sweep_id, RESULTS_FILE);
    let results = store
        .get(&key)
        .await?
        .with_context(|| format!("{} has no {key}", store.name()))?;
    let lines = report::parse_results(&String::from_utf8_lossy(&results))
        .with_context(|| format!("reading {key} in {}", store.name()))?;
    let activity_key = report::report_key(date, ACTIVITY_FILE);
    let activity: Activity = match store.get(&activity_key).await? {
        Some(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| not_json(store, &activity_key))?
        }
        None => Activity::default(),
    };
    Ok(ReportInput {
        date,
        summary,
        lines,
        executions: activity.executions,
        usage: activity.usage,
        earlier: earlier_reports(store, date).await?,
    })
}

/// The sweep of `date`: among the summaries written that day or the next
/// (a sweep started late may finish after midnight), the one
/// `moat_domain::report::sweep_of_day` picks.
async fn sweep_of_day(
    store: &impl Store,
    date: NaiveDate,
) -> anyhow::Result<(String, SweepSummary)> {
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    let mut found: Vec<(String, SweepSummary)> = Vec::new();
    for listed in store.summaries().await? {
        let day = listed.modified.map(|at| at.date_naive());
        if day.is_some_and(|day| day != date && day != next) {
            continue;
        }
        let Some(id) = sweep_id_of(&listed.key) else {
            continue;
        };
        if let Some(bytes) = store.get(&listed.key).await? {
            let summary: SweepSummary =
                serde_json::from_slice(&bytes).with_context(|| not_json(store, &listed.key))?;
            found.push((id.to_owned(), summary));
        }
    }
    let summaries: Vec<SweepSummary> = found.iter().map(|(_, summary)| summary.clone()).collect();
    let chosen = report::sweep_of_day(date, &summaries)
        .and_then(|chosen| found.iter().find(|(_, summary)| summary == chosen))
        .cloned();
    chosen.with_context(|| {
        format!(
            "no sweep in {} started on {date}: pass --sweep <id> to name one",
            store.name()
        )
    })
}

/// `sweeps/<id>/summary.json` to `<id>`.
fn sweep_id_of(key: &str) -> Option<&str> {
    key.strip_prefix(SWEEPS_PREFIX)?
        .strip_suffix(SUMMARY_FILE)?
        .strip_suffix('/')
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The reports of the days before `date` that the trend shows. A report
/// that cannot be read is left out of the trend, with a warning: one bad
/// old file must not stop today's report.
async fn earlier_reports(store: &impl Store, date: NaiveDate) -> anyhow::Result<Vec<DailyReport>> {
    let mut reports = Vec::new();
    for back in 1..TREND_DAYS {
        let Some(day) = date.checked_sub_days(Days::new(back)) else {
            break;
        };
        let key = report::report_key(day, REPORT_JSON_FILE);
        let Some(bytes) = store.get(&key).await? else {
            continue;
        };
        match serde_json::from_slice::<DailyReport>(&bytes) {
            Ok(report) => reports.push(report),
            Err(error) => eprintln!(
                "warning: {}: {error}; that day is left out of the trend",
                not_json(store, &key)
            ),
        }
    }
    reports.sort_by_key(|report| report.date);
    Ok(reports)
}

/// A directory laid out like the bucket.
struct DirStore(PathBuf);

impl Store for DirStore {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.0.join(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    async fn summaries(&self) -> anyhow::Result<Vec<Listed>> {
        let sweeps = self.0.join(SWEEPS_PREFIX);
        let entries = match std::fs::read_dir(&sweeps) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(error).with_context(|| format!("listing {}", sweeps.display()));
            }
        };
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", sweeps.display()))?;
            if entry.path().join(SUMMARY_FILE).is_file() {
                let id = entry.file_name().to_string_lossy().into_owned();
                // File times say when a file was copied, not when the sweep
                // wrote it, so a directory's summaries are all read.
                listed.push(Listed {
                    key: report::sweep_key(&id, SUMMARY_FILE),
                    modified: None,
                });
            }
        }
        Ok(listed)
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

/// The reports bucket.
struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Store for S3Store {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let object = match sent {
            Ok(object) => object,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(error) => return Err(crate::executions::sdk_error("GetObject", error)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .with_context(|| format!("reading s3://{}/{key}", self.bucket))?;
        Ok(Some(bytes.to_vec()))
    }

    async fn summaries(&self) -> anyhow::Result<Vec<Listed>> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(SWEEPS_PREFIX)
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|error| crate::executions::sdk_error("ListObjectsV2", error))?;
            for object in page.contents() {
                let Some(key) = object.key().filter(|key| key.ends_with(SUMMARY_FILE)) else {
                    continue;
                };
                let modified = object
                    .last_modified()
                    .and_then(|at| DateTime::<Utc>::from_timestamp(at.secs(), at.subsec_nanos()));
                listed.push(Listed {
                    key: key.to_owned(),
                    modified,
                });
            }
        }
        Ok(listed)
    }

    fn name(&self) -> String {
        format!("s3://{}", self.bucket)
    }
}

#[cfg(test)]
mod tests;
