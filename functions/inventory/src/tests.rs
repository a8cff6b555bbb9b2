//! Handler tests: groups, open findings and the reports bucket in memory.

use std::collections::BTreeMap;

use moat_domain::security_hub::SecurityHubFinding;
use moat_domain::snapshot::GroupSnapshot;
use moat_memory::{MemoryRecords, MemoryReports, MemorySecurityGroups};

use super::*;

fn group(account: &str, region: &str, group_id: &str) -> GroupSnapshot {
    GroupSnapshot {
        account: account.into(),
        region: region.into(),
        group_id: group_id.into(),
        group_name: format!("name-of-{group_id}"),
        description: String::new(),
        vpc_id: Some("vpc-1".into()),
        tags: BTreeMap::new(),
        rules: Vec::new(),
        prefix_lists: BTreeMap::new(),
    }
}

fn target(account: &str, region: &str) -> Target {
    Target {
        account: account.into(),
        region: region.into(),
    }
}

fn deps() -> Deps<MemorySecurityGroups, MemoryRecords, MemoryReports> {
    Deps {
        groups: MemorySecurityGroups::with([
            group("111111111111", "us-east-1", "sg-a"),
            group("111111111111", "us-west-2", "sg-b"),
            group("222222222222", "us-east-1", "sg-c"),
        ]),
        records: MemoryRecords::default(),
        reports: MemoryReports::default(),
    }
}

#[tokio::test]
async fn every_target_is_listed_into_one_json_lines_inventory() {
    let deps = deps();
    let finding = SecurityHubFinding {
        id: "finding-1".into(),
        product_arn: String::new(),
        generator_id: String::new(),
        account: "222222222222".into(),
        region: "us-east-1".into(),
        types: Vec::new(),
        created_at: String::new(),
        updated_at: String::new(),
        severity_label: "HIGH".into(),
        title: String::new(),
        description: String::new(),
        resource_arn: String::new(),
        partition: "aws".into(),
        compliance_status: "FAILED".into(),
        related_requirements: Vec::new(),
        workflow_status: "NEW".into(),
        recommendation: String::new(),
    };
    moat_aws::records::OpenFindings::put_open_findings(&deps.records, "sg-c", &[finding])
        .await
        .unwrap();
    let input = Input {
        sweep_id: "sweep-1".into(),
        targets: vec![
            target("111111111111", "us-east-1"),
            target("222222222222", "us-east-1"),
        ],
    };
    let listed = inventory(&deps, &input).await.unwrap();
    assert_eq!(listed.groups, 2);
    assert_eq!(listed.key, "sweeps/sweep-1/inventory.jsonl");
    let (body, content_type) = deps.reports.object(&listed.key).unwrap();
    assert_eq!(content_type, "application/x-ndjson");
    let items: Vec<SweepItem> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let open: Vec<_> = items
        .iter()
        .map(|i| (i.snapshot.group_id.as_str(), i.open_findings))
        .collect();
    assert_eq!(open, [("sg-a", false), ("sg-c", true)]);
}

#[tokio::test]
async fn a_bad_sweep_id_or_no_target_is_refused_before_any_call() {
    let deps = deps();
    deps.groups
        .faults
        .fail_next("all_groups", ErrorType::Config);
    for (sweep_id, targets) in [("sweep 1", vec![target("1", "r")]), ("sweep-1", vec![])] {
        let input = Input {
            sweep_id: sweep_id.into(),
            targets,
        };
        let error = inventory(&deps, &input).await.unwrap_err();
        assert_eq!(error.error_type(), ErrorType::Invalid, "{error}");
    }
}
