//! `sweep` on the local stack: a policy preview against groups in moto,
//! and a dry-run sweep started and followed through the stack's endpoint.

use std::collections::BTreeMap;

use local_stack::changes::{Actor, Changes, Opening};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{ACCOUNT, LocalStack};

use super::*;

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn a_preview_needs_dry_run_and_dry_run_refuses_yes() {
    let error = parse(args("--policy new.json")).unwrap_err();
    assert!(error.to_string().contains("needs --dry-run"), "{error}");
    let error = parse(args("--dry-run --yes")).unwrap_err();
    assert!(error.to_string().contains("contradict"), "{error}");
    let error = parse(args("--account 42")).unwrap_err();
    assert!(error.to_string().contains("--account 42"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_judges_every_group_against_the_file_and_changes_nothing() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let changes = Changes::undelivered(&stack.config, ACCOUNT);
    let vpc = changes.create_vpc("10.80.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "postgres", &BTreeMap::new())
        .await
        .unwrap();
    changes
        .authorize_ingress(
            &Actor::developer("gina"),
            &group,
            &Opening::tcp(5432, "10.0.0.0/8"),
        )
        .await
        .unwrap();
    // A stricter policy than the one in force: any tcp/5432 from a /8 is
    // a remediate finding. The built-in pack leaves that group alone.
    let mut policy: serde_json::Value =
        serde_json::from_str(moat_domain::policy::BUILTIN_JSON).unwrap();
    policy["rules"].as_array_mut().unwrap().push(json!({
        "id": "postgres-wide", "title": "Postgres open to a wide network", "controls": ["ORG.1"],
        "severity": "medium", "action": "remediate", "direction": "ingress", "protocols": ["tcp"],
        "ports": [5432], "peers": {"kinds": ["ipv4"], "cidrWidth": {"ipv4": 16, "ipv6": 48}}
    }));
    let dir = std::env::temp_dir().join(format!("moat-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("new.json");
    std::fs::write(&path, policy.to_string()).unwrap();
    let request = Request {
        dry_run: true,
        policy: Some(path.clone()),
        ..Request::default()
    };
    let targets = vec![(ACCOUNT.to_owned(), stack.region().to_owned())];
    let lines = preview(&stack.config, &request, &path, &targets)
        .await
        .unwrap();
    let line = lines
        .iter()
        .find(|line| line.group_id == group)
        .expect("the group is judged");
    assert_eq!(line.action, SweepAction::WouldRemediate, "{line:?}");
    assert!(
        line.findings
            .iter()
            .any(|f| f.policy_rule_id == "postgres-wide")
    );
    let rules = changes.rules_of(&group).await.unwrap();
    assert_eq!(
        rules.len(),
        2,
        "a preview changes nothing (ingress + default egress)"
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(spec);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sweep_is_started_followed_and_fixes_nothing() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap();
    let changes = Changes::undelivered(&stack.config, ACCOUNT);
    let vpc = changes.create_vpc("10.81.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "open", &BTreeMap::new())
        .await
        .unwrap();
    changes
        .authorize_ingress(
            &Actor::developer("gina"),
            &group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    let sfn_config = local_aws::sdk_config(pipeline.endpoint().url(), stack.region()).await;
    let request = Request {
        dry_run: true,
        wait: true,
        state_machine: Some(pipeline.endpoint().sweep_machine_arn().to_owned()),
        ..Request::default()
    };
    let targets = vec![(ACCOUNT.to_owned(), stack.region().to_owned())];
    start(&sfn_config, &request, &targets).await.unwrap();
    let listed = pipeline
        .endpoint()
        .client()
        .list_executions()
        .state_machine_arn(pipeline.endpoint().machine_arn())
        .send()
        .await
        .unwrap();
    assert!(
        listed.executions().is_empty(),
        "a dry run starts no remediation"
    );
    pipeline.shutdown().await;
}
