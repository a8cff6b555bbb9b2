//! `undo` end to end on the local stack: a remediation made by the real
//! pipeline, undone from its backup (refused until exempted), audited,
//! left alone by Moat afterwards, and a second undo does nothing.

use std::collections::BTreeMap;

use local_stack::changes::{Actor, Changes, Opening};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{ACCOUNT, LocalStack};

use super::*;

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_command_line_names_one_remediation_and_a_real_date() {
    assert!(
        parse(args("--yes"))
            .unwrap_err()
            .to_string()
            .contains("--backup ID or --execution ARN")
    );
    let error = parse(args("--backup sg-1/e --exempt-until soon")).unwrap_err();
    assert!(error.to_string().contains("--exempt-until soon"), "{error}");
}

/// The group's ingress rules now, as `protocol:from port`.
async fn ingress(changes: &Changes, group: &str) -> Vec<String> {
    changes
        .rules_of(group)
        .await
        .unwrap()
        .iter()
        .filter(|rule| rule.is_egress() == Some(false))
        .map(|rule| {
            format!(
                "{}:{:?}",
                rule.ip_protocol().unwrap_or(""),
                rule.from_port()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remediation_is_undone_from_its_backup_once_and_moat_leaves_it() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap();
    let changes = Changes::undelivered(&stack.config, ACCOUNT);
    let vpc = changes.create_vpc("10.95.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "bastion", &BTreeMap::new())
        .await
        .unwrap();
    let opened = changes
        .authorize_ingress(
            &Actor::developer("kim"),
            &group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    let fixed = pipeline
        .start(opened.eventbridge_event())
        .await
        .unwrap()
        .wait()
        .await;
    assert_eq!(
        fixed.description.status,
        sfn_local::ExecutionStatus::Succeeded
    );
    assert!(ingress(&changes, &group).await.is_empty(), "remediated");

    let mut request = Request {
        execution: Some(fixed.description.execution_arn.clone()),
        reason: Some("the bastion, by design".into()),
        yes: true,
        ..Request::default()
    };
    let sfn_config = local_aws::sdk_config(pipeline.endpoint().url(), stack.region()).await;
    let refused = undo(&stack.config, &sfn_config, &request)
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("ec2-13-ssh-open"),
        "{refused:#}"
    );
    assert!(
        ingress(&changes, &group).await.is_empty(),
        "nothing restored"
    );

    request.exempt_until = Some(chrono::Utc::now().date_naive() + chrono::Days::new(30));
    let done = undo(&stack.config, &sfn_config, &request).await.unwrap();
    assert!(done.applied);
    assert_eq!(
        ingress(&changes, &group).await,
        ["tcp:Some(22)"],
        "exactly the revoked rule is back"
    );
    let records = DynamoRecords::new(
        &Aws::from_sdk_config(stack.config.clone()),
        &spec.records_table,
    );
    let audit = records
        .get_audit(&group, &format!("undo-{}", opened.event_id()))
        .await
        .unwrap()
        .expect("the undo is audited");
    assert!(audit.actor.starts_with("arn:aws:"), "{}", audit.actor);
    assert!(audit.finding_reasons[0].contains("the bastion, by design"));

    // Moat sees the change again: the exemption keeps the rule.
    let again = pipeline
        .start(opened.eventbridge_event())
        .await
        .unwrap()
        .wait()
        .await;
    assert_eq!(
        again.description.status,
        sfn_local::ExecutionStatus::Succeeded
    );
    assert_eq!(ingress(&changes, &group).await.len(), 1, "left alone");

    let second = undo(&stack.config, &sfn_config, &request).await.unwrap();
    assert!(
        second.plan.restore.is_empty() && !second.applied,
        "nothing twice"
    );
    pipeline.shutdown().await;
}
