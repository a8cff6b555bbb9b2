//! The adapter against moto: every trait implementation doing real SDK
//! calls to a local AWS, started by the test itself on a free loopback port.
//!
//! The tests share one moto per test binary and keep to their own resource
//! names, so they can run in parallel.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb as dynamodb;
use aws_sdk_ec2 as ec2_sdk;
use aws_sdk_s3 as s3;
use aws_sdk_sns as sns;
use aws_sdk_sqs as sqs;
use chrono::Utc;
use local_aws::Moto;
use moat_aws::ec2::{Ec2SecurityGroups, SecurityGroups};
use moat_aws::policy_store::{PolicySource, S3PolicySource};
use moat_aws::publish::{Publisher, SnsPublisher};
use moat_aws::records::{Claim, DynamoRecords, PublishClaims, Records, Stored};
use moat_aws::{Accounts, Aws, MemberAccess};
use moat_domain::event::{Change, EventName, GroupRef};
use moat_domain::notification::Notification;
use moat_domain::plan::RemediationPlan;
use moat_domain::records::BackupRecord;
use moat_domain::snapshot::{Direction, Peer};

const REGION: &str = "us-east-1";
/// moto's default account.
const ACCOUNT: &str = "123456789012";

async fn config() -> SdkConfig {
    let moto = Moto::shared(REGION).unwrap_or_else(|error| panic!("{error}"));
    moto.sdk_config().await
}

/// A VPC and an empty group in it; returns the group id.
async fn new_group(ec2: &ec2_sdk::Client, name: &str) -> String {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    ec2.create_security_group()
        .group_name(name)
        .description("test group")
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap()
}

/// Opens `port` to `cidr` and returns the new rule's id.
async fn open(ec2: &ec2_sdk::Client, group_id: &str, port: i32, cidr: &str) -> String {
    let permission = ec2_sdk::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    let permission = if cidr.contains(':') {
        permission.ipv6_ranges(ec2_sdk::types::Ipv6Range::builder().cidr_ipv6(cidr).build())
    } else {
        permission.ip_ranges(ec2_sdk::types::IpRange::builder().cidr_ip(cidr).build())
    };
    ec2.authorize_security_group_ingress()
        .group_id(group_id)
        .ip_permissions(permission.build())
        .send()
        .await
        .unwrap()
        .security_group_rules
        .unwrap()
        .remove(0)
        .security_group_rule_id
        .unwrap()
}

fn groups(config: &SdkConfig) -> Ec2SecurityGroups {
    Ec2SecurityGroups::new(Accounts::new(
        &Aws::from_sdk_config(config.clone()),
        MemberAccess::default(),
    ))
}

#[tokio::test]
async fn snapshot_reads_every_rule_and_tag() {
    let config = config().await;
    let ec2 = ec2_sdk::Client::new(&config);
    let group_id = new_group(&ec2, "snapshot-test").await;
    let ssh = open(&ec2, &group_id, 22, "0.0.0.0/0").await;
    let https6 = open(&ec2, &group_id, 443, "::/0").await;
    ec2.create_tags()
        .resources(&group_id)
        .tags(
            ec2_sdk::types::Tag::builder()
                .key("team")
                .value("payments")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let snapshot = groups(&config)
        .snapshot(ACCOUNT, REGION, &group_id)
        .await
        .unwrap()
        .expect("the group exists");

    assert_eq!(snapshot.group_name, "snapshot-test");
    assert_eq!(snapshot.account, ACCOUNT);
    assert_eq!(
        snapshot.tags.get("team").map(String::as_str),
        Some("payments")
    );
    let ssh_rule = snapshot
        .rule(&ssh)
        .expect("the ssh rule is in the snapshot");
    assert_eq!(ssh_rule.direction, Direction::Ingress);
    assert_eq!(ssh_rule.port_range(), Some((22, 22)));
    assert_eq!(
        ssh_rule.peer,
        Peer::Ipv4 {
            cidr: "0.0.0.0/0".into()
        }
    );
    assert_eq!(
        snapshot.rule(&https6).unwrap().peer,
        Peer::Ipv6 {
            cidr: "::/0".into()
        }
    );
    // A new group comes with the default allow-all egress rule.
    assert!(snapshot.rules_in(Direction::Egress).count() >= 1);
}

#[tokio::test]
async fn a_deleted_group_has_no_snapshot() {
    let config = config().await;
    let snapshot = groups(&config)
        .snapshot(ACCOUNT, REGION, "sg-00000000000000000")
        .await
        .unwrap();
    assert_eq!(snapshot, None);
}

#[tokio::test]
async fn revoke_is_idempotent_and_reports_what_was_already_gone() {
    let config = config().await;
    let ec2 = ec2_sdk::Client::new(&config);
    let group_id = new_group(&ec2, "revoke-test").await;
    let ssh = open(&ec2, &group_id, 22, "0.0.0.0/0").await;
    let rdp = open(&ec2, &group_id, 3389, "0.0.0.0/0").await;
    let https = open(&ec2, &group_id, 443, "0.0.0.0/0").await;
    let groups = groups(&config);

    let first = groups
        .revoke(
            ACCOUNT,
            REGION,
            &group_id,
            Direction::Ingress,
            std::slice::from_ref(&ssh),
        )
        .await
        .unwrap();
    assert_eq!(first.revoked, std::slice::from_ref(&ssh));

    let second = groups
        .revoke(
            ACCOUNT,
            REGION,
            &group_id,
            Direction::Ingress,
            &[ssh.clone(), rdp.clone()],
        )
        .await
        .unwrap();
    assert_eq!(second.revoked, std::slice::from_ref(&rdp));
    assert_eq!(second.already_gone, std::slice::from_ref(&ssh));

    let after = groups
        .snapshot(ACCOUNT, REGION, &group_id)
        .await
        .unwrap()
        .unwrap();
    assert!(after.rule(&ssh).is_none() && after.rule(&rdp).is_none());
    assert!(
        after.rule(&https).is_some(),
        "only the named rules are revoked"
    );
}

#[tokio::test]
async fn tags_land_on_the_group() {
    let config = config().await;
    let ec2 = ec2_sdk::Client::new(&config);
    let group_id = new_group(&ec2, "tag-test").await;
    let groups = groups(&config);
    let tags = BTreeMap::from([("moat:remediated".to_owned(), "evt-1".to_owned())]);
    groups.tag(ACCOUNT, REGION, &group_id, &tags).await.unwrap();
    let snapshot = groups
        .snapshot(ACCOUNT, REGION, &group_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        snapshot.tags.get("moat:remediated").map(String::as_str),
        Some("evt-1")
    );
}

#[tokio::test]
async fn default_vpc_groups_are_found_by_name() {
    let config = config().await;
    let ec2 = ec2_sdk::Client::new(&config);
    // moto's default VPC exists from the start; a group created without a
    // VPC id lands there.
    let created = ec2
        .create_security_group()
        .group_name("launch-wizard-7")
        .description("by name")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let groups = groups(&config);
    let found = groups
        .default_vpc_group_id(ACCOUNT, REGION, "launch-wizard-7")
        .await
        .unwrap();
    assert_eq!(found, Some(created));
    let missing = groups
        .default_vpc_group_id(ACCOUNT, REGION, "no-such-group")
        .await
        .unwrap();
    assert_eq!(missing, None);
}

async fn table(config: &SdkConfig, name: &str) -> DynamoRecords {
    let client = dynamodb::Client::new(config);
    let key = |name: &str, kind| {
        dynamodb::types::KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str| {
        dynamodb::types::AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(dynamodb::types::ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .key_schema(key("pk", dynamodb::types::KeyType::Hash))
        .key_schema(key("sk", dynamodb::types::KeyType::Range))
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .billing_mode(dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    DynamoRecords::new(&Aws::from_sdk_config(config.clone()), name)
}

fn backup(group_id: &str, event_id: &str, rule_ids: &[&str]) -> BackupRecord {
    let change = Change {
        event_id: event_id.into(),
        event_name: EventName::AuthorizeSecurityGroupIngress,
        event_time: "2026-11-20T09:14:03Z".parse().unwrap(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        actor: "arn:aws:iam::123456789012:user/alice".into(),
        group: GroupRef::Id {
            group_id: group_id.into(),
        },
        reason: None,
    };
    let snapshot = moat_domain::snapshot::GroupSnapshot {
        account: ACCOUNT.into(),
        region: REGION.into(),
        group_id: group_id.into(),
        group_name: "g".into(),
        description: String::new(),
        vpc_id: None,
        tags: BTreeMap::new(),
        rules: Vec::new(),
        prefix_lists: BTreeMap::new(),
    };
    let plan = RemediationPlan {
        account: ACCOUNT.into(),
        region: REGION.into(),
        group_id: group_id.into(),
        revoke_ingress: rule_ids.iter().map(|id| id.to_string()).collect(),
        revoke_egress: vec![],
        lockdown: false,
        dry_run: false,
    };
    BackupRecord::new(change, snapshot, plan, Utc::now())
}

#[tokio::test]
async fn a_backup_is_written_once_per_group_and_change() {
    let config = config().await;
    let records = table(&config, "backups-test").await;
    let first = backup("sg-1", "evt-1", &["sgr-1"]);
    assert_eq!(records.put_backup(&first).await.unwrap(), Stored::Created);

    // A second delivery with a different plan must not overwrite the first.
    let second = backup("sg-1", "evt-1", &["sgr-2"]);
    assert_eq!(
        records.put_backup(&second).await.unwrap(),
        Stored::Existing(first.clone())
    );

    assert_eq!(
        records.get_backup("sg-1/evt-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(records.get_backup("sg-1/evt-404").await.unwrap(), None);

    let later = backup("sg-1", "evt-2", &["sgr-3"]);
    records.put_backup(&later).await.unwrap();
    let all = records.backups_of("sg-1").await.unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn a_claim_lets_one_run_publish_and_tells_the_others() {
    let config = config().await;
    let records = table(&config, "claims-test").await;
    let now = Utc::now();
    assert_eq!(
        records
            .claim("notify/sg-1/evt-1", "run-a", now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    // Another run while the first is publishing: busy, retried later.
    let busy = records
        .claim("notify/sg-1/evt-1", "run-b", now)
        .await
        .unwrap_err();
    assert_eq!(busy.error_type(), moat_domain::ErrorType::Busy);
    // The same run retrying its own claim may go on.
    assert_eq!(
        records
            .claim("notify/sg-1/evt-1", "run-a", now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    records
        .complete("notify/sg-1/evt-1", "msg-1")
        .await
        .unwrap();
    assert_eq!(
        records
            .claim("notify/sg-1/evt-1", "run-b", now)
            .await
            .unwrap(),
        Claim::Done("msg-1".into())
    );

    // A released claim can be taken by the next run.
    records
        .claim("notify/sg-2/evt-1", "run-a", now)
        .await
        .unwrap();
    records.release("notify/sg-2/evt-1", "run-a").await.unwrap();
    assert_eq!(
        records
            .claim("notify/sg-2/evt-1", "run-b", now)
            .await
            .unwrap(),
        Claim::Claimed
    );

    // A claim left by a run that died is taken over once stale.
    let later = now + chrono::Duration::seconds(moat_aws::records::CLAIM_STALE_AFTER_SECONDS + 1);
    assert_eq!(
        records
            .claim("notify/sg-2/evt-1", "run-c", later)
            .await
            .unwrap(),
        Claim::Claimed
    );
}

#[tokio::test]
async fn notifications_reach_an_sqs_subscriber_with_attributes() {
    let config = config().await;
    let sns_client = sns::Client::new(&config);
    let sqs_client = sqs::Client::new(&config);
    let topic_arn = sns_client
        .create_topic()
        .name("publish-test")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = sqs_client
        .create_queue()
        .queue_name("publish-test")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:publish-test");
    sns_client
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "false")
        .send()
        .await
        .unwrap();

    let notification = Notification {
        subject: "[Moat] remediated sg-1".into(),
        summary: "alice opened ssh; Moat closed it".into(),
        body: serde_json::json!({"kind": "change", "verdict": "remediate"}),
        attributes: BTreeMap::from([("severity".to_owned(), "high".to_owned())]),
        dedup_key: "notify/sg-1/evt-1".into(),
    };
    let message_id = SnsPublisher::new(&Aws::from_sdk_config(config.clone()))
        .publish(&topic_arn, &notification)
        .await
        .unwrap();
    assert!(!message_id.is_empty());

    let received = sqs_client
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(received[0].body().unwrap()).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        body, notification.body,
        "SQS gets the JSON body, not the e-mail text"
    );
    assert_eq!(envelope["Subject"], "[Moat] remediated sg-1");
    assert_eq!(envelope["MessageAttributes"]["severity"]["Value"], "high");
}

#[tokio::test]
async fn policies_come_from_a_versioned_bucket() {
    let config = config().await;
    let client = s3::Client::new(&config);
    client
        .create_bucket()
        .bucket("policy-test")
        .send()
        .await
        .unwrap();
    client
        .put_bucket_versioning()
        .bucket("policy-test")
        .versioning_configuration(
            s3::types::VersioningConfiguration::builder()
                .status(s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let source = S3PolicySource::new(&Aws::from_sdk_config(config.clone()));
    let first = source
        .put("policy-test", "policy.json", "{\"v\":1}")
        .await
        .unwrap();
    let second = source
        .put("policy-test", "policy.json", "{\"v\":2}")
        .await
        .unwrap();
    assert_ne!(first.etag, second.etag);

    assert_eq!(
        source.etag("policy-test", "policy.json").await.unwrap(),
        second.etag
    );
    assert_eq!(
        source
            .fetch("policy-test", "policy.json")
            .await
            .unwrap()
            .body,
        "{\"v\":2}"
    );
    let versions = source.versions("policy-test", "policy.json").await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        Some(&versions[0]),
        second.version_id.as_ref(),
        "newest first"
    );
    let old = source
        .fetch_version("policy-test", "policy.json", &versions[1])
        .await
        .unwrap();
    assert_eq!(old.body, "{\"v\":1}");

    let missing = source.fetch("policy-test", "nope.json").await.unwrap_err();
    assert_eq!(missing.error_type(), moat_domain::ErrorType::NotFound);
}

#[tokio::test]
async fn with_a_member_role_calls_run_in_the_groups_account() {
    let config = config().await;
    let ec2 = ec2_sdk::Client::new(&config);
    let group_id = new_group(&ec2, "assume-role-test").await;
    let access = MemberAccess {
        role_name: Some("moat-member".into()),
        external_id: Some("moat-external-id".into()),
        session_name: "moat-test".into(),
    };
    let groups =
        Ec2SecurityGroups::new(Accounts::new(&Aws::from_sdk_config(config.clone()), access));

    // The role is assumed in the group's own account: the group is there.
    let own = groups.snapshot(ACCOUNT, REGION, &group_id).await.unwrap();
    assert!(
        own.is_some(),
        "the assumed role sees the group in its account"
    );
    // In another account the assumed role sees that account, where this
    // group does not exist: proof the calls used the assumed credentials.
    let other = groups
        .snapshot("111111111111", REGION, &group_id)
        .await
        .unwrap();
    assert_eq!(other, None);

    let error = groups
        .snapshot("not-an-account", REGION, &group_id)
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), moat_domain::ErrorType::Config);
}

#[tokio::test]
async fn findings_are_imported_into_security_hub_and_updated_in_place() {
    use moat_aws::security_hub::{FindingsSink, SecurityHub};
    use moat_domain::evaluation::{Action, Evaluation, Finding, Severity};

    let config = config().await;
    let client = aws_sdk_securityhub::Client::new(&config);
    let sink = SecurityHub::new(Accounts::new(
        &Aws::from_sdk_config(config.clone()),
        MemberAccess::default(),
    ));
    let group = backup("sg-0hub", "evt-hub", &[]).snapshot;
    let change = backup("sg-0hub", "evt-hub", &[]).change;
    let evaluation = Evaluation::from_findings(vec![Finding {
        policy_rule_id: "ec2-13-ssh-open".into(),
        title: "SSH from the internet".into(),
        controls: vec!["EC2.13".into()],
        severity: Severity::High,
        action: Action::Remediate,
        security_group_rule_ids: vec!["sgr-22".into()],
        reason: "tcp/22 open to 0.0.0.0/0 (EC2.13)".into(),
    }]);
    let open =
        moat_domain::security_hub::findings_for(&change, &group, &evaluation, None, Utc::now());
    sink.import(&open).await.unwrap();
    let mut resolved = open.clone();
    resolved[0].workflow_status = "RESOLVED".into();
    resolved[0].compliance_status = "PASSED".into();
    sink.import(&resolved).await.unwrap();

    let found = client
        .get_findings()
        .send()
        .await
        .unwrap()
        .findings
        .unwrap_or_default();
    let ours: Vec<_> = found
        .iter()
        .filter(|finding| finding.id() == Some(open[0].id.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "the second import updated the first finding");
    assert_eq!(
        ours[0]
            .workflow()
            .and_then(|workflow| workflow.status())
            .map(|status| status.as_str()),
        Some("RESOLVED")
    );
    assert_eq!(ours[0].resources()[0].r#type(), Some("AwsEc2SecurityGroup"));
}

#[tokio::test]
async fn audit_records_of_one_change_merge_instead_of_overwriting() {
    use moat_domain::evaluation::Evaluation;
    use moat_domain::records::{AuditRecord, RemediationOutcome};

    let config = config().await;
    let records = table(&config, "audit-test").await;
    let first_backup = backup("sg-audit", "evt-a", &["sgr-1"]);
    let outcome = |revoked: &[&str], gone: &[&str]| RemediationOutcome {
        group_id: "sg-audit".into(),
        planned: vec!["sgr-1".into()],
        revoked: revoked.iter().map(|id| id.to_string()).collect(),
        already_gone: gone.iter().map(|id| id.to_string()).collect(),
        deferred: vec![],
        dry_run: false,
        backup_id: first_backup.backup_id.clone(),
        after: first_backup.snapshot.clone(),
        finished_at: Utc::now(),
    };
    let audit = |outcome: &RemediationOutcome| {
        AuditRecord::new(
            &first_backup.change,
            &first_backup.snapshot,
            &Evaluation::compliant(),
            Some(outcome),
            Utc::now(),
        )
    };
    records
        .put_audit(&audit(&outcome(&["sgr-1"], &[])))
        .await
        .unwrap();
    records
        .put_audit(&audit(&outcome(&[], &["sgr-1"])))
        .await
        .unwrap();
    let stored = records
        .get_audit("sg-audit", "evt-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.revoked,
        ["sgr-1"],
        "the duplicate run did not erase the revoke"
    );
    assert!(stored.already_gone.is_empty());
}

#[tokio::test]
async fn a_groups_open_findings_are_kept_replaced_and_cleared() {
    use moat_aws::records::OpenFindings;
    use moat_domain::evaluation::{Action, Evaluation, Finding, Severity};

    let config = config().await;
    let records = table(&config, "open-findings-test").await;
    let before = backup("sg-0open", "evt-open", &["sgr-22"]);
    let evaluation = Evaluation::from_findings(vec![Finding {
        policy_rule_id: "ec2-13-ssh-open".into(),
        title: "SSH from the internet".into(),
        controls: vec!["EC2.13".into()],
        severity: Severity::High,
        action: Action::Notify,
        security_group_rule_ids: vec!["sgr-22".into()],
        reason: "tcp/22 open to 0.0.0.0/0 (EC2.13)".into(),
    }]);
    let open = moat_domain::security_hub::findings_for(
        &before.change,
        &before.snapshot,
        &evaluation,
        None,
        Utc::now(),
    );
    assert!(records.open_findings("sg-0open").await.unwrap().is_empty());
    records.put_open_findings("sg-0open", &open).await.unwrap();
    assert_eq!(records.open_findings("sg-0open").await.unwrap(), open);
    assert!(
        records.backups_of("sg-0open").await.unwrap().is_empty(),
        "open findings are not read as backups"
    );
    records.put_open_findings("sg-0open", &[]).await.unwrap();
    assert!(records.open_findings("sg-0open").await.unwrap().is_empty());
}
