//! Races through the real state machine and function binaries on moto:
//! deliveries that overlap with other changes to the same group. Each must
//! end with every offending rule revoked once, from a backup that holds it,
//! and an audit record per change.

use std::collections::BTreeMap;
use std::time::Duration;

use local_stack::changes::{Actor, Changes, Made, Opening};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{LocalStack, RegionStack, StackSpec};
use moat_aws::Aws;
use moat_aws::records::{DynamoRecords, Records};
use serde_json::Value;
use sfn_local::{ExecutionResult, ExecutionStatus};

/// How long to wait for EventBridge to deliver the expected events.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(60);

/// One region of the local stack, its pipeline, and a group to change.
struct Stage {
    spec: StackSpec,
    stack: RegionStack,
    pipeline: Pipeline,
    changes: Changes,
    group_id: String,
}

impl Stage {
    async fn new() -> Stage {
        let (spec, stack) = LocalStack::start_primary()
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let changes = Changes::new(&stack);
        let vpc = changes.create_vpc("10.40.0.0/16").await.unwrap();
        let group_id = changes
            .existing_group(&vpc, "jump-hosts", &BTreeMap::new())
            .await
            .unwrap();
        Stage {
            spec,
            stack,
            pipeline,
            changes,
            group_id,
        }
    }

    async fn open(&self, port: i32) -> Made {
        self.changes
            .authorize_ingress(
                &Actor::developer("carol"),
                &self.group_id,
                &Opening::tcp(port, "0.0.0.0/0"),
            )
            .await
            .unwrap()
    }

    async fn run_delivered(&self, expected: usize) -> Vec<ExecutionResult> {
        let results = self
            .pipeline
            .run_delivered(&self.stack, expected, DELIVERY_PATIENCE)
            .await
            .unwrap();
        assert_eq!(results.len(), expected, "every change was delivered");
        results
    }

    fn records(&self) -> DynamoRecords {
        DynamoRecords::new(
            &Aws::from_sdk_config(self.stack.config.clone()),
            &self.spec.records_table,
        )
    }

    /// The ids of the group's rules in EC2 now, egress included.
    async fn rule_ids(&self) -> Vec<String> {
        aws_sdk_ec2::Client::new(&self.stack.config)
            .describe_security_group_rules()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("group-id")
                    .values(&self.group_id)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .security_group_rules
            .unwrap_or_default()
            .into_iter()
            .filter_map(|rule| rule.security_group_rule_id)
            .collect()
    }
}

fn assert_succeeded(result: &ExecutionResult) {
    assert_eq!(
        result.description.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        result.description.error,
        result.description.cause
    );
}

/// The rule ids at `pointer` in an execution's output.
fn ids_at(result: &ExecutionResult, pointer: &str) -> Vec<String> {
    result
        .output()
        .and_then(|output| output.pointer(pointer).cloned())
        .and_then(|ids| serde_json::from_value::<Vec<String>>(ids).ok())
        .unwrap_or_default()
}

/// EventBridge delivers an SSH change a second time, after RDP was opened
/// on the same group: the repeated run must not fail with `BackupMissing`
/// (a false alarm), must not revoke RDP without a backup that holds it, and
/// RDP's own event then fixes it from its own backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_delivery_after_a_new_open_rule_defers_it_to_its_own_event() {
    let stage = Stage::new().await;
    let ssh = stage.open(22).await;
    assert_succeeded(&stage.run_delivered(1).await[0]);

    let rdp = stage.open(3389).await;
    let repeated = stage
        .pipeline
        .start(ssh.eventbridge_event())
        .await
        .unwrap()
        .wait()
        .await;
    assert_succeeded(&repeated);
    assert_eq!(ids_at(&repeated, "/remediation/deferred"), rdp.rule_ids);
    assert!(ids_at(&repeated, "/remediation/revoked").is_empty());
    assert!(
        stage.rule_ids().await.contains(&rdp.rule_ids[0]),
        "RDP is not revoked by a run whose backup does not hold it"
    );

    let own = stage.run_delivered(1).await;
    assert_succeeded(&own[0]);
    assert_eq!(ids_at(&own[0], "/remediation/revoked"), rdp.rule_ids);
    assert!(!stage.rule_ids().await.contains(&rdp.rule_ids[0]));
    let backups = stage.records().backups_of(&stage.group_id).await.unwrap();
    assert_eq!(backups.len(), 2, "one backup per change");
    // CloudTrail times are to the second, so both changes may share one:
    // the RDP change's backup is found by its event, not by its place.
    let rdp_backup = backups
        .iter()
        .find(|backup| backup.change.event_id == rdp.event_id())
        .expect("the RDP change has its own backup");
    assert!(rdp_backup.snapshot.rule(&rdp.rule_ids[0]).is_some());
    stage.pipeline.shutdown().await;
}

/// Two changes to one group at the same moment, both executions in flight
/// together: each change keeps its backup and its audit record, and no rule
/// is revoked by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_changes_to_one_group_at_once_lose_no_backup_and_revoke_nothing_twice() {
    let stage = Stage::new().await;
    let ssh = stage.open(22).await;
    let rdp = stage.open(3389).await;
    let results = stage.run_delivered(2).await;
    results.iter().for_each(assert_succeeded);

    let mut revoked: Vec<String> = results
        .iter()
        .flat_map(|result| ids_at(result, "/remediation/revoked"))
        .collect();
    revoked.sort();
    let mut opened: Vec<String> = ssh.rule_ids.iter().chain(&rdp.rule_ids).cloned().collect();
    opened.sort();
    assert_eq!(revoked, opened, "each rule revoked exactly once");
    let left = stage.rule_ids().await;
    assert!(opened.iter().all(|id| !left.contains(id)), "{left:?}");

    // Which execution acts depends on timing: one may find the group
    // already fixed by the other and be compliant. Whatever the order, each
    // revoke came from a backup of its own change that holds the rule.
    let records = stage.records();
    let backups = records.backups_of(&stage.group_id).await.unwrap();
    let backed_up: Vec<&ExecutionResult> = results
        .iter()
        .filter(|result| {
            result
                .output()
                .is_some_and(|output| output["backup"].is_object())
        })
        .collect();
    assert_eq!(
        backups.len(),
        backed_up.len(),
        "no backup lost: {backups:?}"
    );
    for result in backed_up {
        let output = result.output().unwrap_or(Value::Null);
        let backup_id = output["backup"]["backupId"].as_str().unwrap_or_default();
        let backup = backups
            .iter()
            .find(|backup| backup.backup_id == backup_id)
            .unwrap_or_else(|| panic!("{backup_id} is kept"));
        assert_eq!(
            Some(backup.change.event_id.as_str()),
            output.pointer("/change/eventId").and_then(Value::as_str),
            "the backup is of the execution's own change"
        );
        for rule_id in ids_at(result, "/remediation/revoked") {
            assert!(
                backup.snapshot.rule(&rule_id).is_some(),
                "{rule_id} was revoked from a backup that holds it"
            );
        }
    }
    for made in [&ssh, &rdp] {
        let audit = records
            .get_audit(&stage.group_id, made.event_id())
            .await
            .unwrap();
        assert!(audit.is_some(), "the audit trail has {}", made.event_id());
    }
    stage.pipeline.shutdown().await;
}
