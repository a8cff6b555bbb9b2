//! Unit tests of the daily report: what it counts, how it scores, what the
//! day costs, how the trend is cut, and that the page escapes what it shows.

use chrono::{Days, NaiveDate};

use super::*;
use crate::evaluation::{Action, Evaluation, ExemptedFinding, ExpiredExemption, Finding, Severity};
use crate::sweep::{GroupRef, SweepAction, SweepLine, SweepSummary};

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn finding(rule: &str, controls: &[&str]) -> Finding {
    Finding {
        policy_rule_id: rule.into(),
        title: "t".into(),
        controls: controls.iter().map(|c| (*c).to_owned()).collect(),
        severity: Severity::High,
        action: Action::Remediate,
        security_group_rule_ids: vec!["sgr-1".into()],
        reason: "why".into(),
    }
}

fn line(account: &str, group: &str, findings: Vec<Finding>, action: SweepAction) -> SweepLine {
    let evaluation = Evaluation::from_findings(findings);
    let group = GroupRef {
        account,
        region: "us-east-1",
        group_id: group,
        group_name: "web",
    };
    SweepLine::judged(
        "sweep-1",
        group,
        &evaluation,
        action,
        "2026-12-01T02:00:00Z".parse().unwrap(),
    )
}

fn ssh() -> Finding {
    finding(
        "ec2-13-ssh-open",
        &[
            "EC2.13",
            "CIS AWS 1.2.0 4.1",
            "NIST 800-53 r5 AC-4",
            "NIST 800-53 r5 SC-7",
        ],
    )
}

fn all_traffic() -> Finding {
    finding(
        "all-traffic-open",
        &["EC2.19", "EC2.18", "NIST 800-53 r5 SC-7"],
    )
}

fn input(lines: Vec<SweepLine>) -> ReportInput {
    ReportInput {
        date: day("2026-12-01"),
        summary: SweepSummary::of("sweep-1", &lines),
        lines,
        executions: Vec::new(),
        usage: Usage {
            state_transitions: 1,
            ..Usage::default()
        },
        earlier: Vec::new(),
    }
}

fn sample() -> Vec<SweepLine> {
    vec![
        line(
            "111111111111",
            "sg-1",
            vec![ssh()],
            SweepAction::RemediationStarted,
        ),
        line("111111111111", "sg-2", vec![], SweepAction::Compliant),
        line(
            "111111111111",
            "sg-3",
            vec![all_traffic()],
            SweepAction::AlreadyStarted,
        ),
        line(
            "222222222222",
            "sg-4",
            vec![ssh(), all_traffic()],
            SweepAction::ReviewPending,
        ),
        line("222222222222", "sg-5", vec![], SweepAction::Resolved),
        line("222222222222", "sg-6", vec![], SweepAction::Skipped),
    ]
}

#[test]
fn counts_groups_violations_remediations_and_reviews() {
    let report = DailyReport::build(&input(sample()));
    assert_eq!(report.groups_scanned, 5, "the skipped group is not scanned");
    assert_eq!(report.groups_skipped, 1);
    assert_eq!(report.violations, 3);
    assert_eq!(report.remediations, 2, "started and already started");
    assert_eq!(report.reviews_pending, 1);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let violating: Vec<(&str, &[String], &str)> = report
        .violating_groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.controls.as_slice(),
                g.action.as_str(),
            )
        })
        .collect();
    let controls = |ids: &[&str]| ids.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        violating,
        [
            ("sg-1", &controls(&["EC2.13"])[..], "remediationStarted"),
            (
                "sg-3",
                &controls(&["EC2.18", "EC2.19"])[..],
                "alreadyStarted"
            ),
            (
                "sg-4",
                &controls(&["EC2.13", "EC2.18", "EC2.19"])[..],
                "reviewPending"
            ),
        ]
    );
}

#[test]
fn scores_are_percentages_with_one_decimal_per_account_and_overall() {
    let report = DailyReport::build(&input(sample()));
    assert_eq!(report.compliance_score, Some(40.0), "2 of 5");
    let scores: Vec<(&str, Option<f64>)> = report
        .accounts
        .iter()
        .map(|a| (a.account.as_str(), a.compliance_score))
        .collect();
    assert_eq!(
        scores,
        [("111111111111", Some(33.3)), ("222222222222", Some(50.0))]
    );
    assert_eq!(score(2, 3), Some(66.7), "rounded half up");
    assert_eq!(score(1, 8), Some(12.5));
    assert_eq!(score(1, 16), Some(6.3), "6.25 rounds up");
    assert_eq!(score(7, 7), Some(100.0));
    assert_eq!(score(0, 0), None, "nothing scanned is no score, not 100%");
}

#[test]
fn each_control_counts_the_groups_failing_it_zeros_included() {
    let report = DailyReport::build(&input(sample()));
    let failing: Vec<(&str, usize)> = report
        .controls
        .iter()
        .map(|c| (c.control.as_str(), c.failing_groups))
        .collect();
    assert_eq!(
        failing,
        [
            ("EC2.2", 0),
            ("EC2.13", 2),
            ("EC2.14", 0),
            ("EC2.18", 2),
            ("EC2.19", 2)
        ],
        "all-traffic counts against EC2.18 as well as EC2.19"
    );
    assert!(report.controls[1].title.contains("port 22"));
}

fn requirements<'a>(report: &'a DailyReport, framework: &str) -> Vec<(&'a str, usize)> {
    report
        .frameworks
        .iter()
        .find(|f| f.framework == framework)
        .unwrap_or_else(|| panic!("no {framework}"))
        .requirements
        .iter()
        .map(|r| (r.requirement.as_str(), r.failing_groups))
        .collect()
}

#[test]
fn frameworks_list_the_failing_requirements_from_findings_and_the_mapping() {
    let report = DailyReport::build(&input(sample()));
    let names: Vec<&str> = report
        .frameworks
        .iter()
        .map(|f| f.framework.as_str())
        .collect();
    assert_eq!(names, [FSBP, CIS, NIST, PCI_DSS]);
    assert_eq!(
        requirements(&report, FSBP),
        [("EC2.18", 2), ("EC2.19", 2)],
        "EC2.13 is not an FSBP control"
    );
    assert_eq!(requirements(&report, CIS), [("CIS AWS 1.2.0 4.1", 2)]);
    assert_eq!(
        requirements(&report, NIST),
        [("NIST 800-53 r5 AC-4", 2), ("NIST 800-53 r5 SC-7", 3)],
        "sg-4 fails SC-7 through two findings and counts once"
    );
    assert_eq!(
        requirements(&report, PCI_DSS),
        [("1.2.1", 2), ("1.3.1", 2), ("2.2.2", 2)]
    );
    let sc7 = &report.frameworks[2].requirements[1];
    assert_eq!(
        sc7.controls,
        ["EC2.13", "EC2.18", "EC2.19"],
        "ordered as people count"
    );
}

#[test]
fn exemptions_in_force_and_expired_are_listed_with_their_group() {
    let mut lines = sample();
    lines[1].exempted = vec![ExemptedFinding {
        policy_rule_id: "ec2-13-ssh-open".into(),
        security_group_rule_ids: vec!["sgr-9".into()],
        until: Some("2026-12-24".into()),
    }];
    lines[4].expired_exemptions = vec![ExpiredExemption {
        policy_rule_id: "ec2-14-rdp-open".into(),
        expired_on: "2026-11-30".into(),
    }];
    let report = DailyReport::build(&input(lines));
    assert_eq!(report.exemptions.len(), 1);
    assert_eq!(report.exemptions[0].group_id, "sg-2");
    assert_eq!(report.exemptions[0].until.as_deref(), Some("2026-12-24"));
    assert_eq!(report.expired_exemptions.len(), 1);
    assert_eq!(report.expired_exemptions[0].account, "222222222222");
    assert_eq!(report.expired_exemptions[0].expired_on, "2026-11-30");
}

fn execution(name: &str, status: &str, minute: u32, ms: Option<u64>) -> ExecutionStat {
    ExecutionStat {
        name: name.into(),
        arn: format!("arn:aws:states:us-east-1:123456789012:execution:moat-remediation:{name}"),
        status: status.into(),
        started_at: format!("2026-12-01T03:{minute:02}:00Z").parse().unwrap(),
        duration_ms: ms,
        error: (status != "SUCCEEDED").then(|| "Boom".to_owned()),
    }
}

#[test]
fn the_five_slowest_and_every_failed_execution_are_listed() {
    let mut input = input(sample());
    input.executions = vec![
        execution("a", "SUCCEEDED", 1, Some(100)),
        execution("b", "SUCCEEDED", 2, Some(900)),
        execution("c", "FAILED", 3, Some(50)),
        execution("d", "SUCCEEDED", 4, Some(700)),
        execution("e", "TIMED_OUT", 5, Some(3_600_000)),
        execution("f", "RUNNING", 6, None),
        execution("g", "SUCCEEDED", 7, Some(700)),
        execution("h", "ABORTED", 8, Some(10)),
    ];
    let report = DailyReport::build(&input);
    let slowest: Vec<&str> = report
        .slowest_executions
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        slowest,
        ["e", "b", "d", "g", "a"],
        "ties in start order, running left out"
    );
    let failed: Vec<&str> = report
        .failed_executions
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(failed, ["c", "e", "h"]);
}

#[test]
fn the_cost_is_each_figure_times_its_price_and_their_sum() {
    let usage = Usage {
        state_transitions: 12_000,
        lambda_requests: 2_000_000,
        lambda_gb_seconds: 1000.0,
        dynamodb_read_requests: 4_000_000,
        dynamodb_write_requests: 2_000_000,
        s3_get_requests: 10_000,
        s3_put_requests: 2_000,
    };
    let cost = Cost::of(&usage, Pricing::builtin());
    let usd: Vec<(&str, f64)> = cost
        .items
        .iter()
        .map(|i| (i.item.as_str(), i.usd))
        .collect();
    assert_eq!(
        usd,
        [
            ("stateTransitions", 0.3),
            ("lambdaRequests", 0.4),
            ("lambdaGbSeconds", 0.013333),
            ("dynamodbReadRequests", 0.5),
            ("dynamodbWriteRequests", 1.25),
            ("s3GetRequests", 0.004),
            ("s3PutRequests", 0.01),
        ]
    );
    assert_eq!(cost.total_usd, 2.477333);
    assert_eq!(cost.region, "us-east-1");
    assert_eq!(cost.as_of, day("2026-12-01"));
}

#[test]
fn missing_usage_and_a_disagreeing_summary_are_warned_about() {
    let mut input = input(sample());
    input.usage = Usage::default();
    input.summary.groups_scanned = 9;
    input.lines[0].sweep_id = "sweep-0".into();
    let warnings = DailyReport::build(&input).warnings;
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("counts 9 groups"), "{}", warnings[0]);
    assert!(warnings[1].contains("1 result lines"), "{}", warnings[1]);
    assert!(warnings[2].contains("unknown, not zero"), "{}", warnings[2]);
}

fn earlier(date: NaiveDate, groups: usize) -> DailyReport {
    DailyReport {
        date,
        groups_scanned: groups,
        violations: 1,
        compliance_score: Some(90.0),
        ..DailyReport::default()
    }
}

#[test]
fn the_trend_has_one_point_per_date_later_reports_winning() {
    let today = day("2026-12-01");
    let mut input = input(sample());
    input.earlier = vec![
        earlier(day("2026-11-29"), 10),
        earlier(day("2026-11-30"), 11),
        earlier(day("2026-11-29"), 12),
        earlier(today, 99),
    ];
    let trend = DailyReport::build(&input).trend;
    let points: Vec<(NaiveDate, usize)> =
        trend.iter().map(|p| (p.date, p.groups_scanned)).collect();
    assert_eq!(
        points,
        [(day("2026-11-29"), 12), (day("2026-11-30"), 11), (today, 5)],
        "the later 11-29 report and today's own figures win"
    );
}

#[test]
fn the_trend_keeps_thirty_days_and_nothing_after_the_day() {
    let today = day("2026-12-01");
    let mut input = input(sample());
    input.earlier = (1..=40)
        .map(|back| {
            earlier(
                today.checked_sub_days(Days::new(back)).unwrap(),
                back as usize,
            )
        })
        .chain([earlier(day("2026-12-02"), 1)])
        .collect();
    let trend = DailyReport::build(&input).trend;
    assert_eq!(trend.len(), 30);
    assert_eq!(trend[0].date, day("2026-11-02"), "29 days back");
    assert_eq!(trend.last().unwrap().date, today);
}

#[test]
fn a_report_round_trips_and_an_old_minimal_one_still_reads() {
    let report = DailyReport::build(&input(sample()));
    let text = serde_json::to_string(&report).unwrap();
    assert!(text.contains("\"groupsScanned\":5"), "{text}");
    assert!(text.contains("\"complianceScore\":40.0"), "{text}");
    let back: DailyReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    let old: DailyReport =
        serde_json::from_str(r#"{"date":"2026-11-01","groupsScanned":3,"violations":1}"#).unwrap();
    assert_eq!(old.trend_point().groups_scanned, 3);
    assert_eq!(old.compliance_score, None);
}

#[test]
fn results_parse_line_by_line_and_a_bad_line_is_named() {
    let lines = sample();
    let text: String = lines
        .iter()
        .map(|line| format!("{}\n", serde_json::to_string(line).unwrap()))
        .collect();
    assert_eq!(parse_results(&format!("{text}\n")).unwrap(), lines);
    let error = parse_results(&format!("{text}{{\"oops\": 1}}\n")).unwrap_err();
    assert!(error.to_string().contains("line 7"), "{error}");
}

fn summary(id: &str, started: &str, finished: Option<&str>) -> SweepSummary {
    SweepSummary {
        sweep_id: id.into(),
        started_at: Some(started.parse().unwrap()),
        finished_at: finished.map(|at| at.parse().unwrap()),
        ..SweepSummary::default()
    }
}

#[test]
fn the_day_s_sweep_is_the_last_to_finish_of_those_started_that_day() {
    let summaries = [
        summary("a", "2026-12-01T02:00:00Z", Some("2026-12-01T02:10:00Z")),
        summary("b", "2026-12-01T14:00:00Z", Some("2026-12-01T14:05:00Z")),
        summary("c", "2026-11-30T23:50:00Z", Some("2026-12-01T00:20:00Z")),
    ];
    let chosen = sweep_of_day(day("2026-12-01"), &summaries).unwrap();
    assert_eq!(chosen.sweep_id, "b");
    assert_eq!(
        sweep_of_day(day("2026-11-30"), &summaries)
            .unwrap()
            .sweep_id,
        "c"
    );
    assert!(sweep_of_day(day("2026-12-02"), &summaries).is_none());
}

#[test]
fn keys_follow_the_bucket_layout() {
    assert_eq!(
        sweep_key("sweep-1", RESULTS_FILE),
        "sweeps/sweep-1/results.jsonl"
    );
    assert_eq!(
        report_key(day("2026-12-01"), REPORT_JSON_FILE),
        "reports/2026-12-01/report.json"
    );
}

#[test]
fn security_hub_control_ids_are_told_from_cis_and_nist_ids() {
    assert!(is_security_hub_control("EC2.13"));
    assert!(is_security_hub_control("APIGateway.9"));
    assert!(!is_security_hub_control("CIS AWS 1.2.0 4.1"));
    assert!(!is_security_hub_control("NIST 800-53 r5 SC-7"));
    assert!(!is_security_hub_control("EC2."));
}

const HOSTILE: &str = "<script>alert(1)</script>\"'&";

#[test]
fn the_page_escapes_names_and_exemption_text() {
    let mut lines = sample();
    lines[0].group_name = HOSTILE.into();
    lines[4].expired_exemptions = vec![ExpiredExemption {
        policy_rule_id: "r\"><b>".into(),
        expired_on: HOSTILE.into(),
    }];
    let page = render_html(&DailyReport::build(&input(lines)));
    assert!(!page.contains("<script"), "raw markup reached the page");
    assert!(!page.contains("<b>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    assert!(page.contains("r&quot;&gt;&lt;b&gt;"));
}

#[test]
fn the_page_carries_the_report_s_figures_and_one_point_per_day() {
    let mut input = input(sample());
    input.earlier = (1..=3)
        .map(|back| earlier(input.date.checked_sub_days(Days::new(back)).unwrap(), 4))
        .collect();
    let report = DailyReport::build(&input);
    let page = render_html(&report);
    assert!(page.contains("id=\"groups-scanned\" data-value=\"5\">5<"));
    assert!(page.contains("id=\"compliance-score\" data-value=\"40\">40.0%<"));
    assert_eq!(page.matches("<circle class=\"point").count(), 4);
    assert!(page.contains("data-date=\"2026-11-28\""));
    assert!(page.contains("<tr data-control=\"EC2.13\"><td><code>EC2.13</code></td>"));
    assert!(!page.contains("http://"), "the page loads nothing");
    assert!(!page.contains("<script"));
}
