//! The fence through the real state machine and binaries: a region that a
//! higher epoch names passive records a change and does nothing else, and
//! acts again once the epoch names it.

use std::collections::BTreeMap;

use local_stack::changes::{Actor, Changes, Opening};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{ACCOUNT, LocalStack};
use moat_aws::records::{ActiveRegions, DynamoRecords, Records};
use moat_domain::fencing::next;
use sfn_local::ExecutionStatus;

/// The last state an execution entered.
fn last_state(result: &sfn_local::ExecutionResult) -> String {
    result
        .events
        .iter()
        .rev()
        .find_map(|event| {
            event
                .details
                .as_ref()?
                .get("name")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_region_records_and_does_nothing_until_the_epoch_names_it() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap();
    let records = DynamoRecords::new(
        &moat_aws::Aws::from_sdk_config(stack.config.clone()),
        &spec.records_table,
    );
    let now = chrono::Utc::now();
    let moved = next(None, &spec.regions.secondary, "failover", now);
    records.put_active_region(&moved).await.unwrap();

    let changes = Changes::undelivered(&stack.config, ACCOUNT);
    let vpc = changes.create_vpc("10.90.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "fenced", &BTreeMap::new())
        .await
        .unwrap();
    let opened = changes
        .authorize_ingress(
            &Actor::developer("jo"),
            &group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    let fenced = pipeline
        .start(opened.eventbridge_event())
        .await
        .unwrap()
        .wait()
        .await;
    assert_eq!(fenced.description.status, ExecutionStatus::Succeeded);
    assert_eq!(last_state(&fenced), "Fenced, nothing done");
    let audit = records
        .get_audit(&group, opened.event_id())
        .await
        .unwrap()
        .expect("recorded");
    assert!(audit.observed_while_passive);
    assert!(
        audit.revoked.is_empty() && audit.backup_id.is_none(),
        "{audit:?}"
    );
    assert!(
        records.backups_of(&group).await.unwrap().is_empty(),
        "no backup"
    );
    assert!(
        stack.take_notifications(1).await.unwrap().is_empty(),
        "nothing announced"
    );

    let back = next(Some(&moved), &spec.regions.primary, "failback", now);
    records.put_active_region(&back).await.unwrap();
    let again = changes
        .authorize_ingress(
            &Actor::developer("jo"),
            &group,
            &Opening::tcp(3389, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    let acted = pipeline
        .start(again.eventbridge_event())
        .await
        .unwrap()
        .wait()
        .await;
    assert_eq!(last_state(&acted), "Done", "active again at a higher epoch");
    let audit = records
        .get_audit(&group, again.event_id())
        .await
        .unwrap()
        .unwrap();
    assert!(!audit.observed_while_passive);
    assert!(!audit.revoked.is_empty());
    pipeline.shutdown().await;
}
