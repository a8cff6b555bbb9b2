//! The daily report as a browser shows it: `cargo xtask report --from-file`
//! turns a day of three dozen groups in two accounts and ten earlier
//! reports into a page, and headless Chromium renders it. The page must
//! load with its title intact, draw one point of the trend per day, and
//! show the same numbers as the JSON the command prints, while the
//! attacker-controlled group names and exemption dates stay text.
//!
//! Needs Debian's `chromium` (`cargo xtask setup` installs it).
//! `MOAT_REPORT_PNG=<path>` also writes the screenshot test's picture
//! there; `docs/report-example.png` is made that way.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Days, NaiveDate};
use moat_domain::evaluation::{
    Action, Evaluation, ExemptedFinding, ExpiredExemption, Finding, Severity,
};
use moat_domain::report::{DailyReport, ExecutionStat, ReportInput, Usage};
use moat_domain::sweep::{GroupRef, SweepAction, SweepLine, SweepSummary};

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";
/// Markup in a group's name, which anyone who may create a group controls.
const HOSTILE_NAME: &str = "<script>document.title='pwned'</script>";
/// Markup in an exemption tag's date, which anyone who may tag controls.
const HOSTILE_DATE: &str = "<img src=x onerror=alert(1)>";

fn day() -> NaiveDate {
    "2026-12-01".parse().unwrap()
}

fn finding(rule: &str, controls: &[&str], action: Action) -> Finding {
    Finding {
        policy_rule_id: rule.into(),
        title: rule.into(),
        controls: controls.iter().map(|c| (*c).to_owned()).collect(),
        severity: Severity::High,
        action,
        security_group_rule_ids: vec!["sgr-0abc".into()],
        reason: format!("{rule} matched"),
    }
}

/// The findings and action of group `index`: a mix of every reported
/// control, compliant groups and a review, as the default pack judges them.
fn judgement(index: usize) -> (Vec<Finding>, SweepAction) {
    let remediate = Action::Remediate;
    match index % 8 {
        1 => (
            vec![finding(
                "ec2-13-ssh-open",
                &[
                    "EC2.13",
                    "CIS AWS 1.2.0 4.1",
                    "NIST 800-53 r5 AC-4",
                    "NIST 800-53 r5 CM-7",
                    "NIST 800-53 r5 SC-7",
                ],
                remediate,
            )],
            SweepAction::RemediationStarted,
        ),
        3 if index % 16 == 3 => (
            vec![finding(
                "all-traffic-open",
                &["EC2.19", "EC2.18", "NIST 800-53 r5 SC-7"],
                remediate,
            )],
            SweepAction::AlreadyStarted,
        ),
        5 => (
            vec![finding(
                "ec2-14-rdp-open",
                &["EC2.14", "CIS AWS 1.2.0 4.2", "NIST 800-53 r5 SC-7"],
                Action::Review,
            )],
            SweepAction::ReviewPending,
        ),
        6 if index % 24 == 6 => (
            vec![finding(
                "ec2-2-default-sg-closed",
                &[
                    "EC2.2",
                    "CIS AWS 1.2.0 4.3",
                    "CIS AWS 1.4.0 5.3",
                    "NIST 800-53 r5 AC-4",
                    "NIST 800-53 r5 SC-7",
                ],
                remediate,
            )],
            SweepAction::RemediationStarted,
        ),
        _ => (Vec::new(), SweepAction::Compliant),
    }
}

fn lines() -> Vec<SweepLine> {
    let at = "2026-12-01T02:00:00Z".parse().unwrap();
    let mut lines: Vec<SweepLine> = (0..36)
        .map(|index| {
            let (findings, action) = judgement(index);
            let group_id = format!("sg-{index:04}");
            let name = format!("app-{index}");
            let group = GroupRef {
                account: if index < 20 { ACCOUNT_A } else { ACCOUNT_B },
                region: if index % 2 == 0 {
                    "us-east-1"
                } else {
                    "us-west-2"
                },
                group_id: &group_id,
                group_name: &name,
            };
            SweepLine::judged(
                "sweep-2026-12-01",
                group,
                &Evaluation::from_findings(findings),
                action,
                at,
            )
        })
        .collect();
    lines[1].group_name = HOSTILE_NAME.into();
    lines[2].exempted = vec![ExemptedFinding {
        policy_rule_id: "ec2-13-ssh-open".into(),
        security_group_rule_ids: vec!["sgr-0bastion".into()],
        until: Some("2026-12-24".into()),
    }];
    lines[26].expired_exemptions = vec![ExpiredExemption {
        policy_rule_id: "ec2-14-rdp-open".into(),
        expired_on: HOSTILE_DATE.into(),
    }];
    lines[35].findings.clear();
    lines[35].verdict = moat_domain::evaluation::Verdict::Compliant;
    lines[35].action = SweepAction::Skipped;
    lines[35].skip_reason = Some("the group went away mid-sweep".into());
    lines
}

fn execution(index: u32, status: &str, ms: Option<u64>) -> ExecutionStat {
    let name = format!("sweep-2026-12-01-sg-{index:04}");
    ExecutionStat {
        arn: format!("arn:aws:states:us-east-1:123456789012:execution:moat-remediation:{name}"),
        name,
        status: status.into(),
        started_at: format!("2026-12-01T02:{:02}:00Z", index + 1)
            .parse()
            .unwrap(),
        duration_ms: ms,
        error: (status == "FAILED" || status == "TIMED_OUT").then(|| "Throttled".to_owned()),
    }
}

/// Ten earlier days, two of them missing in between, improving slowly.
fn earlier() -> Vec<DailyReport> {
    [12, 11, 10, 9, 8, 7, 5, 4, 2, 1]
        .into_iter()
        .map(|back: u64| DailyReport {
            date: day().checked_sub_days(Days::new(back)).unwrap(),
            groups_scanned: 31 + (12 - back as usize) / 3,
            violations: 13 + back as usize / 2,
            compliance_score: Some(48.0 + (12 - back) as f64 * 1.2),
            ..DailyReport::default()
        })
        .collect()
}

fn input() -> ReportInput {
    let lines = lines();
    let mut summary = SweepSummary::of("sweep-2026-12-01", &lines);
    summary.started_at = Some("2026-12-01T02:00:00Z".parse().unwrap());
    summary.finished_at = Some("2026-12-01T02:09:41Z".parse().unwrap());
    ReportInput {
        date: day(),
        summary,
        lines,
        executions: vec![
            execution(1, "SUCCEEDED", Some(4_210)),
            execution(3, "SUCCEEDED", Some(3_870)),
            execution(4, "FAILED", Some(1_020)),
            execution(7, "SUCCEEDED", Some(12_400)),
            execution(9, "SUCCEEDED", Some(2_950)),
            execution(13, "TIMED_OUT", Some(300_000)),
            execution(15, "SUCCEEDED", Some(5_600)),
            execution(17, "RUNNING", None),
            execution(21, "SUCCEEDED", Some(990)),
        ],
        usage: Usage {
            state_transitions: 1_840,
            lambda_requests: 412,
            lambda_gb_seconds: 96.5,
            dynamodb_read_requests: 1_210,
            dynamodb_write_requests: 388,
            s3_get_requests: 64,
            s3_put_requests: 38,
        },
        earlier: earlier(),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-report-page-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cargo xtask report --from-file` on [`input`] in `dir` and gives the
/// page's path and the report the command printed.
fn render(dir: &Path) -> (PathBuf, DailyReport) {
    let input_path = dir.join("input.json");
    std::fs::write(&input_path, serde_json::to_vec_pretty(&input()).unwrap()).unwrap();
    let page = dir.join("report.html");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("report")
        .arg("--from-file")
        .arg(&input_path)
        .arg("--out")
        .arg(&page)
        .arg("--json")
        .output()
        .expect("xtask runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: DailyReport =
        serde_json::from_slice(&output.stdout).expect("--json prints a DailyReport");
    assert_eq!(
        report,
        DailyReport::build(&input()),
        "the command reports what the domain computes"
    );
    (page, report)
}

/// The text of the element with `id`, as Chromium serialised it.
fn text_of_id(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let end = start + dom[start..].find('<').unwrap();
    dom[start..end].to_owned()
}

/// The table row that starts with `<tr {attribute}>`.
fn row<'a>(dom: &'a str, attribute: &str) -> &'a str {
    let start = dom
        .find(&format!("<tr {attribute}>"))
        .unwrap_or_else(|| panic!("no row {attribute}"));
    let end = start + dom[start..].find("</tr>").unwrap();
    &dom[start..end]
}

/// The text of the cell of `class` in `row`.
fn cell(row: &str, class: &str) -> String {
    text_of_id(
        &row.replace(&format!("class=\"{class}\""), "id=\"cell\""),
        "cell",
    )
}

fn dump(page: &Path) -> String {
    local_aws::chromium::dump_dom(&format!("file://{}", page.display()))
        .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn the_rendered_page_shows_the_json_s_numbers_and_one_point_per_day() {
    let dir = temp_dir("dom");
    let (page, report) = render(&dir);
    let dom = dump(&page);
    assert!(
        dom.contains("<title>Moat compliance report 2026-12-01</title>"),
        "the page loaded"
    );

    assert_eq!(report.trend.len(), 11, "ten earlier days and this one");
    let dates: Vec<String> = dom
        .match_indices("<circle class=\"point")
        .map(|(at, _)| {
            let circle = &dom[at..at + dom[at..].find('>').unwrap()];
            let date = circle.split("data-date=\"").nth(1).unwrap();
            date[..10].to_owned()
        })
        .collect();
    let expected: Vec<String> = report.trend.iter().map(|p| p.date.to_string()).collect();
    assert_eq!(dates, expected, "one point per day, in order");

    assert_eq!(
        text_of_id(&dom, "groups-scanned"),
        report.groups_scanned.to_string()
    );
    assert_eq!(
        text_of_id(&dom, "violations"),
        report.violations.to_string()
    );
    assert_eq!(
        text_of_id(&dom, "remediations"),
        report.remediations.to_string()
    );
    assert_eq!(
        text_of_id(&dom, "reviews-pending"),
        report.reviews_pending.to_string()
    );
    assert_eq!(text_of_id(&dom, "groups-skipped"), "1");
    let score = text_of_id(&dom, "compliance-score");
    assert_eq!(
        score.trim_end_matches('%').parse::<f64>().ok(),
        report.compliance_score
    );
    let cost = text_of_id(&dom, "cost-total");
    assert_eq!(
        cost.trim_start_matches('$').parse::<f64>().unwrap(),
        report.cost.total_usd
    );
    assert!(report.cost.total_usd > 0.0);

    for account in &report.accounts {
        let tr = row(&dom, &format!("data-account=\"{}\"", account.account));
        let shown = cell(tr, "score").trim_end_matches('%').parse::<f64>().ok();
        assert_eq!(shown, account.compliance_score, "{}", account.account);
        assert_eq!(cell(tr, "num groups"), account.groups.to_string());
    }
    for control in &report.controls {
        let tr = row(&dom, &format!("data-control=\"{}\"", control.control));
        let zero = if control.failing_groups == 0 {
            " zero"
        } else {
            ""
        };
        assert_eq!(
            cell(tr, &format!("num failing{zero}")),
            control.failing_groups.to_string()
        );
    }
    let pci = dom
        .split("data-framework=\"PCI DSS v3.2.1\"")
        .nth(1)
        .unwrap();
    let pci = &pci[..pci.find("</table>").unwrap()];
    for requirement in &report.frameworks[3].requirements {
        let tr = row(
            pci,
            &format!("data-requirement=\"{}\"", requirement.requirement),
        );
        assert!(
            tr.contains(&format!(">{}</td>", requirement.failing_groups)),
            "{tr}"
        );
    }
    assert_eq!(
        text_of_id(&dom, "failed-count"),
        report.failed_executions.len().to_string()
    );
    assert_eq!(report.failed_executions.len(), 2);

    assert!(!dom.contains("<script"), "a group name became markup");
    assert!(!dom.contains("<img"), "an exemption date became markup");
    assert!(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"));
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_screenshot_of_the_page_is_a_png() {
    let dir = temp_dir("png");
    let (page, _) = render(&dir);
    let png = dir.join("report.png");
    let url = format!("file://{}", page.display());
    local_aws::chromium::screenshot(&url, &png, (1280, 2880))
        .unwrap_or_else(|error| panic!("{error}"));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 50_000, "a blank page? {} bytes", bytes.len());
    if let Some(target) = std::env::var_os("MOAT_REPORT_PNG") {
        std::fs::copy(&png, &target).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
