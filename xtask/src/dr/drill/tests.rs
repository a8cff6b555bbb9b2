//! The DR commands end to end on both regions of the local stack: the
//! drill, a failover planned then made then made again, an old primary
//! that comes back and replays, and a failover that stops midway and is
//! resumed.

use super::super::failover::{FailbackRequest, FailoverRequest, failback, failover};
use super::*;

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_drill_runs_locally_unless_told_an_account_and_yes() {
    let local = parse(args("--changes 10 --lag-ms 250")).unwrap().unwrap();
    assert_eq!((local.changes, local.lag), (10, Duration::from_millis(250)));
    assert!(
        parse(args("--account 123456789012"))
            .unwrap_err()
            .to_string()
            .contains("--yes")
    );
    assert!(
        parse(args("--changes 1"))
            .unwrap_err()
            .to_string()
            .contains("at least 2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_misses_loses_and_doubles_nothing() {
    let findings = drill_local(&Request {
        changes: 16,
        lag: Duration::ZERO,
        fence: false,
        account: None,
        yes: false,
        json: true,
    })
    .await
    .unwrap();
    assert!(findings.clean(), "{findings:#?}");
    assert_eq!(findings.before_kill, 8);
    assert!(findings.rto_ms > 0);
    let steps = findings.failover["steps"].as_array().unwrap();
    let canary = steps
        .iter()
        .find(|step| step["name"].as_str().unwrap().starts_with("canary"))
        .unwrap();
    assert_eq!(canary["outcome"], "done", "{canary}");
    let fenced_epoch = steps
        .iter()
        .find(|step| step["name"] == "fence us-east-1: epoch")
        .unwrap();
    assert_eq!(
        fenced_epoch["outcome"], "unreachable",
        "the killed primary cannot be fenced: {fenced_epoch}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_that_fences_the_primary_instead_misses_loses_and_doubles_nothing() {
    let findings = drill_local_fenced(&Request {
        changes: 10,
        lag: Duration::ZERO,
        fence: true,
        account: None,
        yes: false,
        json: true,
    })
    .await
    .unwrap();
    assert!(findings.clean() && findings.fenced, "{findings:#?}");
    assert_eq!(findings.rpo_ms, None, "nothing was lost with the primary");
    assert_eq!(
        findings.failback["epoch"], 3,
        "the drill ends with the primary active again: {}",
        findings.failback
    );
    let steps = findings.failover["steps"].as_array().unwrap();
    for part in ["epoch", "parameter passive", "disable its rule"] {
        let step = steps
            .iter()
            .find(|step| step["name"] == format!("fence us-east-1: {part}"))
            .unwrap();
        assert_eq!(
            step["outcome"], "done",
            "the live primary is fenced: {step}"
        );
    }
}

fn failover_to(region: &str, yes: bool) -> FailoverRequest {
    FailoverRequest {
        to: region.to_owned(),
        outage_start: None,
        yes,
        json: false,
        quiet: true,
    }
}

/// The state the failover changes, in every region: record, parameter, rule.
async fn fence_state(regions: &Regions) -> Vec<String> {
    let mut state = Vec::new();
    for region in &regions.all {
        let record = regions
            .read_record(region)
            .await
            .unwrap()
            .map(|r| (r.region, r.epoch));
        let parameter = aws_sdk_ssm::Client::new(&region.aws)
            .get_parameter()
            .name(&regions.spec.active_region_parameter)
            .send()
            .await
            .unwrap()
            .parameter
            .and_then(|p| p.value);
        let rule = aws_sdk_eventbridge::Client::new(&region.aws)
            .describe_rule()
            .name(&regions.spec.event_rule)
            .event_bus_name(&regions.spec.event_bus)
            .send()
            .await
            .unwrap()
            .state
            .map(|s| s.as_str().to_owned());
        state.push(format!(
            "{}: {record:?} {parameter:?} {rule:?}",
            region.name
        ));
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_planned_made_resumed_and_the_old_primary_is_fenced() {
    let two = TwoRegions::start(Duration::ZERO).await.unwrap();
    let regions = two.regions.clone();
    let (primary, secondary) = (
        regions.spec.regions.primary.clone(),
        regions.spec.regions.secondary.clone(),
    );
    let before = fence_state(&regions).await;

    let planned = failover(&regions, &failover_to(&secondary, false))
        .await
        .unwrap();
    assert!(planned.rto.is_none());
    assert_eq!(
        fence_state(&regions).await,
        before,
        "a dry run changes nothing"
    );
    assert!(
        planned.document["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["outcome"] == "planned")
    );

    // A failover that stops midway: the target's archive is gone, so the
    // replay fails after the epoch moved. The run names the step.
    let events = aws_sdk_eventbridge::Client::new(&regions.get(&secondary).unwrap().aws);
    let archive = events
        .describe_archive()
        .archive_name(&regions.spec.event_archive)
        .send()
        .await
        .unwrap();
    let bus = archive.event_source_arn().unwrap().to_owned();
    events
        .delete_archive()
        .archive_name(&regions.spec.event_archive)
        .send()
        .await
        .unwrap();
    let stopped = failover(&regions, &failover_to(&secondary, true))
        .await
        .unwrap_err();
    assert!(
        format!("{stopped:#}").contains("step `replay us-west-2's archive` failed"),
        "{stopped:#}"
    );
    let record = regions
        .read_record(regions.get(&secondary).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.region.as_str(), record.epoch),
        (secondary.as_str(), 2)
    );

    // Resumed: what was done is found done, the rest is done.
    events
        .create_archive()
        .archive_name(&regions.spec.event_archive)
        .event_source_arn(bus)
        .send()
        .await
        .unwrap();
    let resumed = failover(&regions, &failover_to(&secondary, true))
        .await
        .unwrap();
    assert_eq!(
        resumed.epoch, 2,
        "the resumed run keeps the epoch it raised"
    );
    let outcome = |document: &Value, name: &str| {
        document["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["outcome"].clone())
    };
    assert_eq!(
        outcome(&resumed.document, "activate us-west-2: epoch 2"),
        Some(Value::from("alreadyDone"))
    );
    assert_eq!(
        outcome(&resumed.document, "canary in us-west-2"),
        Some(Value::from("done"))
    );
    let after = fence_state(&regions).await;
    assert!(
        after[0].contains("Some(\"passive\") Some(\"DISABLED\")"),
        "{after:?}"
    );
    assert!(
        after[1].contains("(\"us-west-2\", 2)) Some(\"active\") Some(\"ENABLED\")"),
        "{after:?}"
    );

    // Finished: a re-run does nothing.
    let again = failover(&regions, &failover_to(&secondary, true))
        .await
        .unwrap();
    for step in again.document["steps"].as_array().unwrap() {
        assert!(
            ["alreadyDone", "done"].contains(&step["outcome"].as_str().unwrap())
                && (step["outcome"] == "alreadyDone"
                    || !step["name"].as_str().unwrap().starts_with("activate")),
            "{step}"
        );
    }
    assert_eq!(
        outcome(&again.document, "canary in us-west-2"),
        Some(Value::from("alreadyDone"))
    );

    // The old primary comes back and replays a change it had queued: it is
    // fenced, and revokes nothing.
    let changes = Changes::delivered_to(&two.stack.secondary.config, &[]);
    let vpc = changes.create_vpc("10.78.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "replayed", &BTreeMap::new())
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
    let replayed = two
        .pipeline(0)
        .start(opened.eventbridge_event())
        .await
        .unwrap()
        .wait()
        .await;
    let last = replayed
        .events
        .iter()
        .rev()
        .find_map(|e| e.details.as_ref()?.get("name")?.as_str().map(str::to_owned));
    assert_eq!(last.as_deref(), Some("Fenced, nothing done"));
    assert_eq!(
        changes.ingress_rule_ids(&group).await.unwrap(),
        opened.rule_ids,
        "nothing revoked"
    );

    // And back: the planned direction, both regions answering; planned
    // first, which changes nothing.
    let fenced = fence_state(&regions).await;
    let plan = FailbackRequest {
        to: primary.clone(),
        yes: false,
        json: false,
        quiet: true,
    };
    assert!(failback(&regions, &plan).await.unwrap().rto.is_none());
    assert_eq!(
        fence_state(&regions).await,
        fenced,
        "a dry run changes nothing"
    );
    let back = failback(
        &regions,
        &FailbackRequest {
            to: primary.clone(),
            yes: true,
            json: false,
            quiet: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(back.epoch, 3);
    let after = fence_state(&regions).await;
    assert!(
        after[0].contains("(\"us-east-1\", 3)) Some(\"active\") Some(\"ENABLED\")"),
        "{after:?}"
    );
    assert!(
        after[1].contains("(\"us-east-1\", 3)) Some(\"passive\") Some(\"ENABLED\")"),
        "{after:?}"
    );
    two.shutdown().await;
}
