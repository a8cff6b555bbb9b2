//! Tests of `cargo xtask report`: its command line, and that a directory
//! laid out like the reports bucket and the bucket itself (in moto) give the
//! same report input: the day's sweep, its lines, its activity and the
//! earlier reports of the trend.

use moat_domain::evaluation::{Action, Evaluation, Finding, Severity};
use moat_domain::report::{Usage, report_key, sweep_key};
use moat_domain::sweep::{GroupRef, SweepAction, SweepLine};

use super::*;

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

fn error(words: &[&str]) -> String {
    format!("{:#}", parse(args(words)).unwrap_err())
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[test]
fn parses_a_file_a_bucket_and_their_options() {
    let file = parse(args(&["--from-file", "in.json", "--json"]))
        .unwrap()
        .unwrap();
    assert_eq!(file.source, Source::File("in.json".into()));
    assert_eq!(file.out, PathBuf::from("report.html"));
    assert!(file.json);
    let bucket = parse(args(&[
        "--from-bucket",
        "b",
        "--date",
        "2026-12-01",
        "--sweep",
        "s-1",
        "--region",
        "us-west-2",
        "--out",
        "x.html",
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(bucket.source, Source::Bucket("b".into()));
    assert_eq!(bucket.date, Some(day("2026-12-01")));
    assert_eq!(bucket.sweep.as_deref(), Some("s-1"));
    assert_eq!(bucket.region.as_deref(), Some("us-west-2"));
    assert_eq!(bucket.out, PathBuf::from("x.html"));
    assert_eq!(parse(args(&["--help"])).unwrap(), None);
}

#[test]
fn bad_command_lines_are_named() {
    assert!(error(&[]).contains("--from-file or --from-bucket"));
    assert!(error(&["--from-file", "a", "--from-bucket", "b"]).contains("exclude each other"));
    assert!(error(&["--from-bucket", "b"]).contains("needs --date"));
    assert!(error(&["--from-file", "a", "--region", "r"]).contains("goes with --from-bucket"));
    assert!(error(&["--from-bucket", "b", "--date", "12/01"]).contains("--date 12/01"));
    assert!(error(&["--from-file", "d", "--sweep", "../x"]).contains("without `/`"));
}

const DATE: &str = "2026-12-01";

fn line(sweep: &str, account: &str, group: &str, open: bool) -> SweepLine {
    let findings = if open {
        vec![Finding {
            policy_rule_id: "ec2-13-ssh-open".into(),
            title: "t".into(),
            controls: vec!["EC2.13".into()],
            severity: Severity::High,
            action: Action::Remediate,
            security_group_rule_ids: vec!["sgr-1".into()],
            reason: "tcp/22 open to 0.0.0.0/0 (EC2.13)".into(),
        }]
    } else {
        Vec::new()
    };
    let action = if open {
        SweepAction::RemediationStarted
    } else {
        SweepAction::Compliant
    };
    let group = GroupRef {
        account,
        region: "us-east-1",
        group_id: group,
        group_name: "web",
    };
    let at = "2026-12-01T02:00:00Z".parse().unwrap();
    SweepLine::judged(
        sweep,
        group,
        &Evaluation::from_findings(findings),
        action,
        at,
    )
}

fn summary(id: &str, lines: &[SweepLine], started: &str, finished: &str) -> SweepSummary {
    SweepSummary {
        started_at: Some(started.parse().unwrap()),
        finished_at: Some(finished.parse().unwrap()),
        ..SweepSummary::of(id, lines)
    }
}

fn jsonl(lines: &[SweepLine]) -> Vec<u8> {
    lines
        .iter()
        .map(|line| format!("{}\n", serde_json::to_string(line).unwrap()))
        .collect::<String>()
        .into_bytes()
}

/// The bucket's objects for one day: the morning sweep and an earlier,
/// shorter re-run the same day, yesterday's sweep, the day's activity, two
/// earlier reports and an unreadable one.
fn objects() -> Vec<(String, Vec<u8>)> {
    let today = vec![
        line("daily", "111111111111", "sg-1", true),
        line("daily", "111111111111", "sg-2", false),
        line("daily", "222222222222", "sg-3", false),
    ];
    let rerun = vec![line("early", "111111111111", "sg-1", true)];
    let yesterday = vec![line("before", "111111111111", "sg-1", false)];
    let activity = Activity {
        executions: Vec::new(),
        usage: Usage {
            state_transitions: 40,
            ..Usage::default()
        },
    };
    let old = |date: &str, groups: usize| DailyReport {
        date: day(date),
        groups_scanned: groups,
        ..DailyReport::default()
    };
    vec![
        (
            sweep_key("daily", SUMMARY_FILE),
            serde_json::to_vec(&summary(
                "daily",
                &today,
                "2026-12-01T02:00:00Z",
                "2026-12-01T02:09:00Z",
            ))
            .unwrap(),
        ),
        (sweep_key("daily", RESULTS_FILE), jsonl(&today)),
        (
            sweep_key("early", SUMMARY_FILE),
            serde_json::to_vec(&summary(
                "early",
                &rerun,
                "2026-12-01T00:10:00Z",
                "2026-12-01T00:12:00Z",
            ))
            .unwrap(),
        ),
        (sweep_key("early", RESULTS_FILE), jsonl(&rerun)),
        (
            sweep_key("before", SUMMARY_FILE),
            serde_json::to_vec(&summary(
                "before",
                &yesterday,
                "2026-11-30T02:00:00Z",
                "2026-11-30T02:09:00Z",
            ))
            .unwrap(),
        ),
        (sweep_key("before", RESULTS_FILE), jsonl(&yesterday)),
        (
            report_key(day(DATE), ACTIVITY_FILE),
            serde_json::to_vec(&activity).unwrap(),
        ),
        (
            report_key(day("2026-11-30"), REPORT_JSON_FILE),
            serde_json::to_vec(&old("2026-11-30", 7)).unwrap(),
        ),
        (
            report_key(day("2026-11-02"), REPORT_JSON_FILE),
            serde_json::to_vec(&old("2026-11-02", 5)).unwrap(),
        ),
        (
            report_key(day("2026-11-01"), REPORT_JSON_FILE),
            serde_json::to_vec(&old("2026-11-01", 9)).unwrap(),
        ),
        (
            report_key(day("2026-11-20"), REPORT_JSON_FILE),
            b"{not json".to_vec(),
        ),
    ]
}

/// What every store must give for [`objects`] on [`DATE`].
fn check(input: &ReportInput) {
    assert_eq!(
        input.summary.sweep_id, "daily",
        "the last to finish of the day's sweeps"
    );
    assert_eq!(input.lines.len(), 3);
    assert_eq!(input.usage.state_transitions, 40);
    let earlier: Vec<(NaiveDate, usize)> = input
        .earlier
        .iter()
        .map(|r| (r.date, r.groups_scanned))
        .collect();
    assert_eq!(
        earlier,
        [(day("2026-11-02"), 5), (day("2026-11-30"), 7)],
        "the 29 days before, the unreadable one left out"
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_directory_laid_out_like_the_bucket_gives_the_day_s_input() {
    let dir = temp_dir("dir");
    for (key, body) in objects() {
        let path = dir.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let store = DirStore(dir.clone());
    check(&gather(&store, day(DATE), None).await.unwrap());
    let named = gather(&store, day(DATE), Some("early")).await.unwrap();
    assert_eq!(named.summary.sweep_id, "early", "--sweep names the sweep");
    let none = gather(&store, day("2026-12-05"), None).await.unwrap_err();
    assert!(format!("{none:#}").contains("no sweep"), "{none:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_bucket_gives_the_same_input_through_aws_sdk_s3() {
    let moto = local_aws::Moto::start("us-east-1").unwrap_or_else(|error| panic!("{error}"));
    let client = aws_sdk_s3::Client::new(&moto.sdk_config().await);
    client
        .create_bucket()
        .bucket("reports")
        .send()
        .await
        .unwrap();
    for (key, body) in objects() {
        let body = aws_sdk_s3::primitives::ByteStream::from(body);
        client
            .put_object()
            .bucket("reports")
            .key(key)
            .body(body)
            .send()
            .await
            .unwrap();
    }
    // moto stamps the objects with today's time, not the sweep's, so the
    // listing's dates cannot narrow the search here; the summaries decide.
    let store = S3Store {
        client,
        bucket: "reports".into(),
    };
    let listed = store.summaries().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|l| l.modified.is_some()),
        "S3 says when each was written"
    );
    let input = gather(&store, day(DATE), Some("daily")).await.unwrap();
    check(&input);
    assert!(store.get("reports/none.json").await.unwrap().is_none());
}

#[test]
fn a_key_names_its_sweep() {
    assert_eq!(sweep_id_of("sweeps/daily/summary.json"), Some("daily"));
    assert_eq!(sweep_id_of("sweeps/summary.json"), None);
    assert_eq!(sweep_id_of("sweeps/a/b/summary.json"), None);
    assert_eq!(sweep_id_of("reports/daily/summary.json"), None);
}
