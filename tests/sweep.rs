//! The sweep end to end on the local stack: the real sweep and remediation
//! state machines and function binaries behind the stack's Step Functions
//! endpoint. Violations made with no event are found and fixed (through
//! the remediation path, backup first), an exempted group is reported and
//! left alone, and a second sweep changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2 as ec2;
use aws_sdk_sfn::types::ExecutionStatus;
use local_stack::changes::{Actor, Changes, Opening};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{ACCOUNT, LocalStack, RegionStack};
use moat_domain::report::{RESULTS_FILE, sweep_key};
use moat_domain::sweep::{SweepAction, SweepLine};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(300);

struct Stage {
    stack: RegionStack,
    pipeline: Pipeline,
}

impl Stage {
    /// Runs one sweep of the stack's account and region to its end, then
    /// waits for every remediation execution it started; gives their number.
    async fn sweep(&self, name: &str) -> usize {
        let endpoint = self.pipeline.endpoint();
        let input = json!({"targets": [{"account": ACCOUNT, "region": self.stack.region()}], "dryRun": false});
        let started = endpoint
            .client()
            .start_execution()
            .state_machine_arn(endpoint.sweep_machine_arn())
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap();
        let ended = endpoint
            .wait(started.execution_arn(), PATIENCE)
            .await
            .unwrap();
        assert_eq!(
            *ended.status(),
            ExecutionStatus::Succeeded,
            "{name}: {ended:?}"
        );
        let listed = endpoint
            .client()
            .list_executions()
            .state_machine_arn(endpoint.machine_arn())
            .send()
            .await
            .unwrap();
        let mine: Vec<_> = listed
            .executions()
            .iter()
            .filter(|execution| execution.name().starts_with(&format!("{name}-")))
            .map(|execution| execution.execution_arn().to_owned())
            .collect();
        for arn in &mine {
            let done = endpoint.wait(arn, PATIENCE).await.unwrap();
            assert_eq!(
                *done.status(),
                ExecutionStatus::Succeeded,
                "{arn}: {done:?}"
            );
        }
        mine.len()
    }

    async fn lines(&self, sweep: &str) -> BTreeMap<String, SweepLine> {
        let object = aws_sdk_s3::Client::new(&self.stack.config)
            .get_object()
            .bucket(&self.stack.resources.reports_bucket)
            .key(sweep_key(sweep, RESULTS_FILE))
            .send()
            .await
            .unwrap();
        let text = String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<SweepLine>(line).unwrap())
            .map(|line| (line.group_id.clone(), line))
            .collect()
    }

    async fn ingress(&self, group_id: &str) -> usize {
        let rules = ec2::Client::new(&self.stack.config)
            .describe_security_group_rules()
            .filters(
                ec2::types::Filter::builder()
                    .name("group-id")
                    .values(group_id)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        rules
            .security_group_rules()
            .iter()
            .filter(|rule| rule.is_egress() == Some(false))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_fixes_violations_no_event_reported_and_a_second_sweep_changes_nothing() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap();
    let stage = Stage { stack, pipeline };
    // No events: these changes reach Moat only through the sweep.
    let changes = Changes::undelivered(&stage.stack.config, ACCOUNT);
    let vpc = changes.create_vpc("10.70.0.0/16").await.unwrap();
    let mut groups = BTreeMap::new();
    let exempt_tag = BTreeMap::from([("moat:exempt".to_owned(), "ec2-13-ssh-open:2099-12-31 ec2-18-tcp-unauthorized:2099-12-31 ec2-19-high-risk-ports:2099-12-31".to_owned())]);
    for (name, tags, port, cidr) in [
        ("open-a", BTreeMap::new(), 22, "0.0.0.0/0"),
        ("open-b", BTreeMap::new(), 22, "0.0.0.0/0"),
        ("clean", BTreeMap::new(), 443, "10.0.0.0/8"),
        ("exempt", exempt_tag, 22, "0.0.0.0/0"),
    ] {
        let group = changes.existing_group(&vpc, name, &tags).await.unwrap();
        changes
            .authorize_ingress(
                &Actor::developer("frank"),
                &group,
                &Opening::tcp(port, cidr),
            )
            .await
            .unwrap();
        groups.insert(name, group);
    }

    let first = stage.sweep("sweep-e2e-1").await;
    let lines = stage.lines("sweep-e2e-1").await;
    let action = |name: &str| lines[&groups[name]].action;
    assert_eq!(action("open-a"), SweepAction::RemediationStarted);
    assert_eq!(action("open-b"), SweepAction::RemediationStarted);
    assert_eq!(action("clean"), SweepAction::Compliant);
    assert_eq!(
        action("exempt"),
        SweepAction::Notified,
        "an exempted group is reported"
    );
    assert!(first >= 2, "one remediation per violator: {first}");
    assert_eq!(
        stage.ingress(&groups["open-a"]).await,
        0,
        "fixed without an event"
    );
    assert_eq!(stage.ingress(&groups["open-b"]).await, 0);
    assert_eq!(
        stage.ingress(&groups["clean"]).await,
        1,
        "a compliant group is left alone"
    );
    assert_eq!(
        stage.ingress(&groups["exempt"]).await,
        1,
        "an exempted group is not touched"
    );
    assert!(
        lines[&groups["open-a"]]
            .execution_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(&format!("sweep-e2e-1-{}", groups["open-a"]))),
        "the line names its remediation execution"
    );

    let second = stage.sweep("sweep-e2e-2").await;
    assert_eq!(
        second, 0,
        "a second sweep starts nothing: no backup, revoke or notification"
    );
    let again = stage.lines("sweep-e2e-2").await;
    assert!(
        again
            .values()
            .all(|line| line.action != SweepAction::RemediationStarted)
    );
    stage.pipeline.shutdown().await;
}
