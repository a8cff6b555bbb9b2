//! `lockdown` end to end on the local stack: the plan names every ingress
//! rule, `--yes` closes them through the remediation state machine (backup
//! first, the operator as actor), and running it again does nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use local_stack::changes::{Actor, Changes, Opening};
use local_stack::endpoint::Endpoint;
use local_stack::pipeline::PipelineOptions;
use local_stack::{ACCOUNT, LocalStack};
use moat_aws::records::{DynamoRecords, Records};

use super::*;

#[test]
fn the_execution_name_depends_on_the_rules_not_their_order() {
    let name = execution_name("sg-1", &["sgr-b", "sgr-a"]);
    assert_eq!(name, execution_name("sg-1", &["sgr-a", "sgr-b"]));
    assert_ne!(name, execution_name("sg-1", &["sgr-a"]));
    assert!(
        name.starts_with("lockdown-sg-1-") && name.len() <= 80,
        "{name}"
    );
}

#[test]
fn a_bad_group_or_account_is_refused_by_name() {
    let args = |extra: &[&str]| extra.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let error = parse(args(&[
        "--group",
        "web",
        "--account",
        "123456789012",
        "--region",
        "r",
    ]))
    .unwrap_err();
    assert!(error.to_string().contains("--group web"), "{error}");
    let error = parse(args(&[
        "--group",
        "sg-1",
        "--account",
        "1234",
        "--region",
        "r",
    ]))
    .unwrap_err();
    assert!(error.to_string().contains("--account 1234"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockdown_closes_every_ingress_rule_through_the_pipeline_once() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let endpoint = Endpoint::start(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap();
    let changes = Changes::new(&stack);
    let vpc = changes.create_vpc("10.61.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "under-attack", &BTreeMap::new())
        .await
        .unwrap();
    // A rule no policy forbids: a lockdown closes it all the same.
    for opening in [
        Opening::tcp(443, "10.0.0.0/8"),
        Opening::tcp(8080, "10.1.0.0/16"),
    ] {
        changes
            .authorize_ingress(&Actor::developer("erin"), &group, &opening)
            .await
            .unwrap();
    }
    let sfn_config = local_aws::sdk_config(endpoint.url(), stack.region()).await;
    // EC2 and STS on moto, Step Functions on the endpoint, as the
    // environment variables AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_SFN say.
    let config = stack.config.to_builder().build();
    let mut request = Request {
        group_id: group.clone(),
        account: ACCOUNT.to_owned(),
        region: stack.region().to_owned(),
        reason: "incident 42: credentials leaked".to_owned(),
        member_role: None,
        external_id: None,
        state_machine: Some(endpoint.machine_arn().to_owned()),
        yes: false,
        json: false,
    };
    let plan = lockdown_with(&config, &sfn_config, &request).await.unwrap();
    assert_eq!(plan.action, Action::Planned);
    assert_eq!(plan.closes.len(), 2, "{:?}", plan.closes);

    request.yes = true;
    let started = lockdown_with(&config, &sfn_config, &request).await.unwrap();
    assert_eq!(started.action, Action::Started);
    let arn = started.execution_arn.clone().unwrap();
    let again = lockdown_with(&config, &sfn_config, &request).await.unwrap();
    assert!(
        matches!(again.action, Action::AlreadyStarted | Action::NothingToDo),
        "a second run starts nothing: {again:?}"
    );
    let ended = endpoint.wait(&arn, Duration::from_secs(120)).await.unwrap();
    assert_eq!(ended.status().as_str(), "SUCCEEDED", "{ended:?}");
    let after = lockdown_with(&config, &sfn_config, &request).await.unwrap();
    assert_eq!(
        after.action,
        Action::NothingToDo,
        "every ingress rule is gone"
    );

    let records = DynamoRecords::new(
        &Aws::from_sdk_config(stack.config.clone()),
        &spec.records_table,
    );
    let request_id = arn.rsplit(':').next().unwrap();
    let audit = records
        .get_audit(&group, request_id)
        .await
        .unwrap()
        .expect("an audit record");
    assert!(
        audit.actor.starts_with("arn:aws:"),
        "the operator is the actor: {}",
        audit.actor
    );
    assert_eq!(audit.event_name, "OperatorLockdown");
    assert_eq!(audit.revoked.len(), 2, "{audit:?}");
    assert!(
        audit.finding_reasons[0].contains("incident 42"),
        "{:?}",
        audit.finding_reasons
    );
    let backup = audit.backup_id.expect("backed up first");
    let backup = records
        .get_backup(&backup)
        .await
        .unwrap()
        .expect("the backup exists");
    assert_eq!(
        backup.snapshot.rules_in(Direction::Ingress).count(),
        2,
        "the backup holds what was closed"
    );
    endpoint.stop().await;
}
