//! `restore` on the local stack, both regions: an overwritten policy put
//! back as new versions in both buckets (an invalid one refused), and the
//! records table restored into a new table, set up like the source, with
//! the functions switched to it; every rerun does nothing.
//!
//! moto's `RestoreTableToPointInTime` copies the table as it is now, so the
//! records test checks the new table, its settings and the switch, not the
//! time travel.

use std::collections::BTreeMap;

use local_stack::LocalStack;
use serde_json::Value;

use super::*;
use crate::dr::LocalEndpoints;

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn parse_error(text: &str) -> String {
    format!("{:#}", parse(args(text)).unwrap_err())
}

#[test]
fn the_command_line_names_what_to_restore_and_a_real_time() {
    assert!(parse_error("").contains("`policy` or `records`"));
    assert!(parse_error("groups --at 2026-12-01T03:00:00Z").contains("`groups`"));
    assert!(parse_error("policy --yes").contains("--version ID or --at TIME"));
    assert!(parse_error("policy --version a --at 2026-12-01T03:00:00Z").contains("one of them"));
    let error = parse_error("policy --at yesterday");
    assert!(
        error.contains("--at yesterday") && error.contains("RFC 3339"),
        "{error}"
    );
    assert!(parse_error("records").contains("--at TIME is required"));
    assert!(parse_error("records --at 2026-12-01T03:00:00Z --version a").contains("--version"));
    assert!(parse_error("policy --at 2026-12-01T03:00:00Z --frobnicate").contains("--frobnicate"));
    assert_eq!(parse(args("policy --help")).unwrap(), None);

    let at: DateTime<Utc> = "2026-12-01T03:00:00Z".parse().unwrap();
    assert_eq!(
        parse(args("records --at 2026-12-01T04:00:00+01:00 --yes --json")).unwrap(),
        Some(Request {
            what: What::Records { at },
            yes: true,
            json: true
        })
    );
    assert_eq!(
        parse(args("policy --version abc")).unwrap(),
        Some(Request {
            what: What::Policy(PolicyFrom::Version("abc".into())),
            yes: false,
            json: false
        })
    );
    assert_eq!(
        restored_table_name("moat-records", at),
        "moat-records-restored-20261201T0300Z"
    );
}

/// Both regions of the local stack as the DR commands reach them.
async fn regions_of(stack: &LocalStack) -> Regions {
    let endpoints: BTreeMap<String, LocalEndpoints> = [&stack.primary, &stack.secondary]
        .into_iter()
        .map(|region| {
            let url = region.moto.endpoint_url();
            (
                region.region().to_owned(),
                LocalEndpoints {
                    aws: url.clone(),
                    sfn: url,
                },
            )
        })
        .collect();
    Regions::local(stack.spec.clone(), &endpoints)
        .await
        .unwrap()
}

fn policy_request(from: PolicyFrom, yes: bool) -> Request {
    Request {
        what: What::Policy(from),
        yes,
        json: true,
    }
}

/// Each step's outcome, by name.
fn outcomes(document: &Value) -> BTreeMap<String, String> {
    document["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["name"].as_str().unwrap().to_owned(),
                step["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The outcomes of the steps whose name starts with `prefix`.
fn outcomes_of(document: &Value, prefix: &str) -> Vec<String> {
    outcomes(document)
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, outcome)| outcome)
        .collect()
}

/// The policy object's version ids in one region's bucket, newest first,
/// and its current content.
async fn policy_versions(stack: &local_stack::RegionStack, key: &str) -> (Vec<String>, String) {
    let s3 = s3::Client::new(&stack.config);
    let bucket = &stack.resources.policy_bucket;
    let versions = list_versions(&s3, bucket, key)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.version_id)
        .collect();
    let current = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .to_vec();
    (versions, String::from_utf8(current).unwrap())
}

async fn push(stack: &local_stack::RegionStack, key: &str, body: &str) -> String {
    s3::Client::new(&stack.config)
        .put_object()
        .bucket(&stack.resources.policy_bucket)
        .key(key)
        .body(s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap()
}

/// Overwrites the policy in both buckets with another valid policy, in a
/// later second than the time it gives (S3 times have whole seconds).
async fn overwrite_policy(stack: &LocalStack) -> (DateTime<Utc>, String) {
    let key = &stack.spec.policy_key;
    let mut second: Value = serde_json::from_str(moat_domain::policy::BUILTIN_JSON).unwrap();
    second["version"] = json!("2026.12-overwrite");
    let second = serde_json::to_string_pretty(&second).unwrap();
    Policy::from_json(&second).expect("the overwrite is a valid policy");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before_overwrite = Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for region in [&stack.primary, &stack.secondary] {
        push(region, key, &second).await;
    }
    (before_overwrite, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwritten_policy_comes_back_as_a_new_version_in_both_buckets_once() {
    let stack = LocalStack::start().await.unwrap();
    let regions = regions_of(&stack).await;
    let key = stack.spec.policy_key.clone();
    let first = moat_domain::policy::BUILTIN_JSON;
    let (before_overwrite, second) = overwrite_policy(&stack).await;
    let overwritten = [
        policy_versions(&stack.primary, &key).await,
        policy_versions(&stack.secondary, &key).await,
    ];
    for (versions, current) in &overwritten {
        assert_eq!((versions.len(), current.as_str()), (2, second.as_str()));
    }

    let plan = restore(
        &regions,
        &policy_request(PolicyFrom::At(before_overwrite), false),
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes_of(&plan, "restore the policy"),
        ["planned", "planned"]
    );
    assert_eq!(policy_versions(&stack.primary, &key).await, overwritten[0]);
    assert_eq!(
        policy_versions(&stack.secondary, &key).await,
        overwritten[1]
    );

    let done = restore(
        &regions,
        &policy_request(PolicyFrom::At(before_overwrite), true),
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes_of(&done, "restore the policy"),
        ["done", "done"],
        "{done:#}"
    );
    for (region, before) in [&stack.primary, &stack.secondary].iter().zip(&overwritten) {
        let (versions, current) = policy_versions(region, &key).await;
        assert_eq!(
            current,
            first,
            "{}: the first content is back",
            region.region()
        );
        assert_eq!(versions.len(), 3, "{}: a new version", region.region());
        assert_eq!(&versions[1..], &before.0[..], "the history is kept");
    }

    let again = restore(
        &regions,
        &policy_request(PolicyFrom::At(before_overwrite), true),
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes_of(&again, "restore the policy"),
        ["alreadyDone", "alreadyDone"]
    );
    assert_eq!(policy_versions(&stack.primary, &key).await.0.len(), 3);

    // An invalid version is refused, naming why, and nothing is written.
    let broken = push(&stack.primary, &key, r#"{"id": "broken"}"#).await;
    let counts = |versions: &[(Vec<String>, String)]| {
        versions
            .iter()
            .map(|(ids, _)| ids.len())
            .collect::<Vec<_>>()
    };
    let before_refusal = [
        policy_versions(&stack.primary, &key).await,
        policy_versions(&stack.secondary, &key).await,
    ];
    let refused = restore(
        &regions,
        &policy_request(PolicyFrom::Version(broken.clone()), true),
    )
    .await
    .unwrap_err();
    let refused = format!("{refused:#}");
    assert!(
        refused.contains(&format!("version {broken} from {}", stack.primary.region()))
            && refused.contains("is not a valid policy")
            && refused.contains("problem"),
        "{refused}"
    );
    let after_refusal = [
        policy_versions(&stack.primary, &key).await,
        policy_versions(&stack.secondary, &key).await,
    ];
    assert_eq!(counts(&after_refusal), counts(&before_refusal));
    assert_eq!(counts(&after_refusal), [4, 3]);

    // A version named from one bucket restores both, each only if needed.
    let secondary_first = overwritten[1].0[1].clone();
    let by_version = restore(
        &regions,
        &policy_request(PolicyFrom::Version(secondary_first.clone()), true),
    )
    .await
    .unwrap();
    let found = &by_version["steps"][2];
    assert!(
        found["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("is in {}", stack.secondary.region())),
        "{found}"
    );
    assert_eq!(
        outcomes_of(&by_version, "restore the policy"),
        ["done", "alreadyDone"]
    );
    assert_eq!(policy_versions(&stack.primary, &key).await.1, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_does_not_answer_fails_the_restore_after_the_other_is_done() {
    let stack = LocalStack::start().await.unwrap();
    let regions = regions_of(&stack).await;
    let key = stack.spec.policy_key.clone();
    let (before_overwrite, _) = overwrite_policy(&stack).await;
    let LocalStack {
        primary, secondary, ..
    } = stack;
    let down = secondary.region().to_owned();
    secondary.moto.stop();

    let failed = restore(
        &regions,
        &policy_request(PolicyFrom::At(before_overwrite), true),
    )
    .await
    .unwrap_err();
    let failed = format!("{failed:#}");
    assert!(
        failed.contains(&format!("the policy is not restored in {down}"))
            && failed.contains("rerun"),
        "{failed}"
    );
    let (versions, current) = policy_versions(&primary, &key).await;
    assert_eq!(
        (versions.len(), current.as_str()),
        (3, moat_domain::policy::BUILTIN_JSON),
        "the region that answered is restored, and stays so"
    );
}

fn records_request(at: DateTime<Utc>, yes: bool) -> Request {
    Request {
        what: What::Records { at },
        yes,
        json: true,
    }
}

/// A function's environment as its `live` alias runs it.
async fn live_environment(
    lambda: &lambda::Client,
    name: &str,
    alias: &str,
) -> HashMap<String, String> {
    let live = lambda
        .get_function_configuration()
        .function_name(name)
        .qualifier(alias)
        .send()
        .await
        .unwrap();
    environment_of(live.environment())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_table_is_restored_set_up_like_the_source_and_the_functions_switch_once() {
    let stack = LocalStack::start().await.unwrap();
    let spec = stack.spec.clone();
    let regions = regions_of(&stack).await;
    let primary = &stack.primary;
    // Nothing runs the registered code, so no built binaries are needed:
    // hashing the real debug builds (400 MB) would take most of the test.
    let functions_dir = std::env::temp_dir().join(format!("moat-restore-{}", std::process::id()));
    std::fs::create_dir_all(&functions_dir).unwrap();
    std::fs::write(
        functions_dir.join("backup"),
        b"a stand-in for the backup binary",
    )
    .unwrap();
    local_stack::lambda::register_functions(&spec, primary, &functions_dir)
        .await
        .unwrap();
    std::fs::remove_dir_all(&functions_dir).unwrap();
    let dynamo = dynamodb::Client::new(&primary.config);
    let lambda = lambda::Client::new(&primary.config);
    let source = spec.records_table.clone();

    let refused = restore(&regions, &records_request(Utc::now(), true))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("point-in-time recovery is not enabled"),
        "{refused:#}"
    );

    // The source as Terraform sets it up, plus a TTL and a tag.
    dynamo
        .update_continuous_backups()
        .table_name(&source)
        .point_in_time_recovery_specification(
            dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    dynamo
        .update_time_to_live()
        .table_name(&source)
        .time_to_live_specification(
            dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expiresAt")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    dynamo
        .update_table()
        .table_name(&source)
        .deletion_protection_enabled(true)
        .stream_specification(
            dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let source_arn = describe_table(&dynamo, &source)
        .await
        .unwrap()
        .unwrap()
        .table_arn
        .unwrap();
    dynamo
        .tag_resource()
        .resource_arn(&source_arn)
        .tags(
            dynamodb::types::Tag::builder()
                .key("team")
                .value("security")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let item = |pk: &str| {
        [
            (
                "pk".to_owned(),
                dynamodb::types::AttributeValue::S(pk.to_owned()),
            ),
            (
                "sk".to_owned(),
                dynamodb::types::AttributeValue::S("item".to_owned()),
            ),
        ]
        .into_iter()
        .collect::<HashMap<_, _>>()
    };
    dynamo
        .put_item()
        .table_name(&source)
        .set_item(Some(item("restore-test#1")))
        .send()
        .await
        .unwrap();
    // moto's recovery window is the one instant PITR was enabled at.
    let window = dynamo
        .describe_continuous_backups()
        .table_name(&source)
        .send()
        .await
        .unwrap();
    let at = window
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|r| r.earliest_restorable_date_time())
        .and_then(chrono_of)
        .unwrap();
    let target = restored_table_name(&source, at);

    let outside = restore(
        &regions,
        &records_request(at - chrono::Duration::hours(1), true),
    )
    .await
    .unwrap_err();
    assert!(format!("{outside:#}").contains("outside"), "{outside:#}");

    let readers = records_readers(&spec);
    assert!(readers.iter().any(|(function, _)| *function == "backup"));
    let before: BTreeMap<String, HashMap<String, String>> = {
        let mut before = BTreeMap::new();
        for function in spec.functions.keys() {
            let name = spec.function_name_of(function);
            let env = live_environment(&lambda, &name, &spec.function_alias).await;
            before.insert(name, env);
        }
        before
    };

    let plan = restore(&regions, &records_request(at, false))
        .await
        .unwrap();
    assert!(
        outcomes(&plan)
            .iter()
            .filter(|(name, _)| name.starts_with("switch") || name.starts_with("restore"))
            .all(|(_, outcome)| outcome == "planned"),
        "{plan:#}"
    );
    assert!(
        describe_table(&dynamo, &target).await.unwrap().is_none(),
        "a dry run creates no table"
    );

    let done = restore(&regions, &records_request(at, true)).await.unwrap();
    assert!(
        outcomes(&done).values().all(|outcome| outcome == "done"),
        "{done:#}"
    );
    assert_eq!(done["records"]["activeRegion"], json!(primary.region()));
    assert!(
        done["records"]["terraform"]
            .as_str()
            .unwrap()
            .contains("override")
    );

    let restored = describe_table(&dynamo, &target).await.unwrap().unwrap();
    assert_eq!(
        restored.table_status(),
        Some(&dynamodb::types::TableStatus::Active)
    );
    assert_eq!(restored.deletion_protection_enabled(), Some(true));
    assert_eq!(
        stream_of(&restored),
        Some(dynamodb::types::StreamViewType::NewAndOldImages)
    );
    let got = dynamo
        .get_item()
        .table_name(&target)
        .set_key(Some(item("restore-test#1")))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_some(), "the source's item is in {target}");
    let recovery = dynamo
        .describe_continuous_backups()
        .table_name(&target)
        .send()
        .await
        .unwrap();
    assert_eq!(
        recovery
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|r| r.point_in_time_recovery_status()),
        Some(&dynamodb::types::PointInTimeRecoveryStatus::Enabled)
    );
    assert_eq!(
        ttl_of(&dynamo, &target).await.unwrap().as_deref(),
        Some("expiresAt")
    );
    let tags = tags_of(&dynamo, restored.table_arn().unwrap())
        .await
        .unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("security"));

    for (name, env) in &before {
        let now = live_environment(&lambda, name, &spec.function_alias).await;
        let mut expected = env.clone();
        if env.contains_key("MOAT_TABLE") {
            expected.insert("MOAT_TABLE".into(), target.clone());
        }
        assert_eq!(&now, &expected, "{name}: only MOAT_TABLE changes");
    }

    let again = restore(&regions, &records_request(at, true)).await.unwrap();
    for (name, outcome) in outcomes(&again) {
        let read_only =
            name.starts_with("find") || name.starts_with("check") || name.starts_with("read");
        let expected = if read_only { "done" } else { "alreadyDone" };
        assert_eq!(outcome, expected, "{name}");
    }
}
