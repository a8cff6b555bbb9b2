//! The local stack end to end without the state machine: provisioning,
//! a change and its CloudTrail event through the production rule.

use std::collections::BTreeMap;

use local_stack::LocalStack;
use local_stack::changes::{Actor, Changes, Opening};
use moat_domain::event::{Detection, SelfIdentity, detect};

#[tokio::test]
async fn a_developers_change_reaches_moat_as_a_cloudtrail_event_and_moats_own_does_not() {
    let (spec, primary) = LocalStack::start_primary()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let changes = Changes::new(&primary);
    let vpc = changes.create_vpc("10.1.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "bastion", &BTreeMap::new())
        .await
        .unwrap();

    let made = changes
        .authorize_ingress(
            &Actor::developer("alice"),
            &group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    assert_eq!(made.rule_ids.len(), 1);
    changes
        .authorize_ingress(
            &Actor::moat(&spec.remediation_role),
            &group,
            &Opening::tcp(8443, "10.0.0.0/8"),
        )
        .await
        .unwrap();

    let mut events = Vec::new();
    for _ in 0..5 {
        events.extend(primary.take_events(1).await.unwrap());
        if !events.is_empty() {
            break;
        }
    }
    // Give a wrongly delivered second event a moment to show up.
    events.extend(primary.take_events(1).await.unwrap());
    assert_eq!(
        events.len(),
        1,
        "only the developer's change passes the rule: {events:#?}"
    );

    let me = SelfIdentity::parse(&spec.self_role_pattern()).unwrap();
    let Detection::Change(change) = detect(&events[0], &me).unwrap() else {
        panic!("the event is a change");
    };
    assert_eq!(change.group_id(), Some(group.as_str()));
    assert_eq!(change.event_id, made.event_id());
    assert!(change.actor.ends_with("assumed-role/Developer/alice"));
}

#[tokio::test]
async fn the_policy_bucket_holds_the_default_policy_under_versioning() {
    let (spec, primary) = LocalStack::start_primary()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    use moat_aws::policy_store::{PolicySource, S3PolicySource};
    let source = S3PolicySource::new(&moat_aws::Aws::from_sdk_config(primary.config.clone()));
    let object = source
        .fetch(&primary.resources.policy_bucket, &spec.policy_key)
        .await
        .unwrap();
    assert!(object.version_id.is_some(), "the bucket is versioned");
    moat_domain::policy::Policy::from_json(&object.body).unwrap();
}
