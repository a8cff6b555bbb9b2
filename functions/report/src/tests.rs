//! Handler tests: a Map's result files in an in-memory reports bucket.

use moat_domain::report::report_key;
use moat_domain::sweep::{GroupRef, SweepAction};
use moat_memory::{MemoryRecords, MemoryReports};

use super::*;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:moat-remediation";

fn line(group_id: &str, action: SweepAction) -> SweepLine {
    let group = GroupRef {
        account: "111111111111",
        region: "us-east-1",
        group_id,
        group_name: "g",
    };
    let evaluation = moat_domain::evaluation::Evaluation::compliant();
    SweepLine::judged(
        "sweep-1",
        group,
        &evaluation,
        action,
        "2026-12-01T02:00:00Z".parse().unwrap(),
    )
}

async fn put(reports: &MemoryReports, key: &str, value: serde_json::Value) {
    reports
        .put(key, value.to_string().into_bytes(), "application/json")
        .await
        .unwrap();
}

async fn map_results(reports: &MemoryReports) -> Judged {
    let batch = |lines: Vec<SweepLine>| serde_json::json!({"Status": "SUCCEEDED", "Output": serde_json::json!({"lines": lines, "starts": []}).to_string()});
    put(
        reports,
        "sweeps/sweep-1/map/run/SUCCEEDED_0.json",
        serde_json::json!([
            batch(vec![line("sg-2", SweepAction::Compliant)]),
            batch(vec![line("sg-1", SweepAction::RemediationStarted)]),
        ]),
    )
    .await;
    put(reports, "sweeps/sweep-1/map/run/manifest.json", serde_json::json!({
        "DestinationBucket": "memory-reports", "MapRunArn": "arn:run",
        "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": "sweeps/sweep-1/map/run/SUCCEEDED_0.json", "Size": 1}]}
    }))
    .await;
    Judged {
        map_run_arn: "arn:run".into(),
        result_writer_details: ResultWriterDetails {
            bucket: "memory-reports".into(),
            key: "sweeps/sweep-1/map/run/manifest.json".into(),
        },
    }
}

fn deps() -> Deps<MemoryReports, MemoryRecords> {
    Deps {
        reports: MemoryReports::default(),
        records: MemoryRecords::default(),
        clock: || "2026-12-01T03:00:00Z".parse().unwrap(),
    }
}

#[tokio::test]
async fn the_maps_results_become_json_lines_a_summary_and_the_days_report() {
    let deps = deps();
    let judged = map_results(&deps.reports).await;
    let input = Input {
        sweep_id: "sweep-1".into(),
        judged,
        remediation_state_machine_arn: MACHINE.into(),
    };
    let reported = report(&deps, &input).await.unwrap();
    assert_eq!(reported.summary.groups_scanned, 2);
    let (results, _) = deps.reports.object("sweeps/sweep-1/results.jsonl").unwrap();
    let results: Vec<SweepLine> = String::from_utf8(results)
        .unwrap()
        .lines()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
    assert_eq!(results[0].group_id, "sg-1", "in group order");
    assert_eq!(
        results[0].execution_arn.as_deref(),
        Some("arn:aws:states:us-east-1:123456789012:execution:moat-remediation:sweep-1-sg-1")
    );
    assert_eq!(
        results[1].execution_arn, None,
        "nothing started for a compliant group"
    );
    let kept = moat_aws::records::SweepRecords::get_sweep_summary(&deps.records, "sweep-1")
        .await
        .unwrap();
    assert_eq!(kept, Some(reported.summary.clone()));
    let date = "2026-12-01".parse().unwrap();
    let (html, content_type) = deps
        .reports
        .object(&report_key(date, REPORT_HTML_FILE))
        .unwrap();
    assert!(content_type.starts_with("text/html"));
    assert!(String::from_utf8(html).unwrap().contains("<svg"));
    assert!(
        deps.reports
            .object(&report_key(date, REPORT_JSON_FILE))
            .is_some()
    );
}

#[tokio::test]
async fn a_missing_manifest_is_named() {
    let deps = deps();
    let mut judged = map_results(&deps.reports).await;
    judged.result_writer_details.key = "sweeps/sweep-1/map/gone/manifest.json".into();
    let input = Input {
        sweep_id: "sweep-1".into(),
        judged,
        remediation_state_machine_arn: MACHINE.into(),
    };
    let error = report(&deps, &input).await.unwrap_err();
    assert!(error.to_string().contains("gone/manifest.json"), "{error}");
    assert_eq!(error.error_type(), ErrorType::NotFound);
}
