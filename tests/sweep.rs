//! The sweep end to end on the local stack: the real sweep and remediation
//! state machines and function binaries behind the stack's Step Functions
//! endpoint. Violations made with no event are found and fixed (through
//! the remediation path, backup first), an exempted group is reported and
//! left alone, and a second sweep changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use local_stack::changes::{Actor, Changes, Opening};
use local_stack::faults::{Fault, FaultProxy};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{ACCOUNT, LocalStack, RegionStack};
use moat_aws::records::{DynamoRecords, OpenFindings};
use moat_domain::report::{RESULTS_FILE, sweep_key};
use moat_domain::sweep::{SweepAction, SweepLine};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(300);

struct Stage<'a> {
    stack: &'a RegionStack,
    pipeline: Pipeline,
}

impl Stage<'_> {
    fn spec_records_table(&self) -> String {
        self.stack.resources.records_table.clone()
    }

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
        Changes::undelivered(&self.stack.config, ACCOUNT)
            .ingress_rule_ids(group_id)
            .await
            .unwrap()
            .len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_fixes_violations_no_event_reported_and_a_second_sweep_changes_nothing() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap();
    let stage = Stage {
        stack: &stack,
        pipeline,
    };
    // No events: these changes reach Moat only through the sweep.
    let changes = Changes::undelivered(&stage.stack.config, ACCOUNT);
    let vpc = changes.create_vpc("10.70.0.0/16").await.unwrap();
    let mut groups = BTreeMap::new();
    let exempt_tag = BTreeMap::from([("moat:exempt".to_owned(), "ec2-13-ssh-open:2099-12-31 ec2-18-tcp-unauthorized:2099-12-31 ec2-19-high-risk-ports:2099-12-31".to_owned())]);
    for (name, tags, port, cidr) in [
        ("open-a", BTreeMap::new(), 22, "0.0.0.0/0"),
        ("open-b", BTreeMap::new(), 22, "0.0.0.0/0"),
        ("clean", BTreeMap::new(), 443, "10.0.0.0/8"),
        ("fixed-by-hand", BTreeMap::new(), 443, "10.0.0.0/8"),
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

    // An earlier run left a finding open on a group someone has fixed by
    // hand since: the sweep must resolve it.
    let records = DynamoRecords::new(
        &moat_aws::Aws::from_sdk_config(stage.stack.config.clone()),
        stage.spec_records_table(),
    );
    let left_open = open_finding(&groups["fixed-by-hand"]);
    records
        .put_open_findings(&groups["fixed-by-hand"], &[left_open])
        .await
        .unwrap();

    let first = stage.sweep("sweep-e2e-1").await;
    let lines = stage.lines("sweep-e2e-1").await;
    assert_eq!(
        lines[&groups["fixed-by-hand"]].action,
        SweepAction::Resolved
    );
    assert!(
        records
            .open_findings(&groups["fixed-by-hand"])
            .await
            .unwrap()
            .is_empty(),
        "the remediation path resolved the finding left open"
    );
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
    report_page_matches_its_json(&stage, again.len()).await;
    stage.pipeline.shutdown().await;
}

/// The day's report the report function wrote, opened in headless
/// Chromium: it loads, its chart has one point for its one day, and its
/// numbers are the JSON's.
async fn report_page_matches_its_json(stage: &Stage<'_>, groups: usize) {
    let date = chrono::Utc::now().date_naive();
    let read = |file: &'static str| {
        let key = moat_domain::report::report_key(date, file);
        async move {
            let object = aws_sdk_s3::Client::new(&stage.stack.config)
                .get_object()
                .bucket(&stage.stack.resources.reports_bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            object.body.collect().await.unwrap().to_vec()
        }
    };
    let report: serde_json::Value =
        serde_json::from_slice(&read(moat_domain::report::REPORT_JSON_FILE).await).unwrap();
    assert_eq!(report["groupsScanned"], groups, "the second sweep's report");
    let dir = std::env::temp_dir().join(format!("moat-sweep-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    std::fs::write(&page, read(moat_domain::report::REPORT_HTML_FILE).await).unwrap();
    let dom = local_aws::chromium::dump_dom(&format!("file://{}", page.display())).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        dom.matches("class=\"point").count(),
        1,
        "one point for the one day"
    );
    assert!(
        dom.contains(&format!("data-date=\"{date}\"")),
        "the point is today's"
    );
    let shown = format!("id=\"groups-scanned\" data-value=\"{groups}\"");
    assert!(
        dom.contains(&shown),
        "the page shows the JSON's groups scanned: {shown}"
    );
}

/// Groups opened to SSH with no event, by name.
async fn open_groups(stage: &Stage<'_>, cidr: &str, names: &[&str]) -> BTreeMap<String, String> {
    let changes = Changes::undelivered(&stage.stack.config, ACCOUNT);
    let vpc = changes.create_vpc(cidr).await.unwrap();
    let mut groups = BTreeMap::new();
    for name in names {
        let group = changes
            .existing_group(&vpc, name, &BTreeMap::new())
            .await
            .unwrap();
        changes
            .authorize_ingress(
                &Actor::developer("frank"),
                &group,
                &Opening::tcp(22, "0.0.0.0/0"),
            )
            .await
            .unwrap();
        groups.insert((*name).to_owned(), group);
    }
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_under_ec2_throttling_still_fixes_every_violator() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let proxy = FaultProxy::start(&stack.moto.endpoint_url()).await.unwrap();
    let options = PipelineOptions {
        extra_env: vec![("AWS_ENDPOINT_URL".into(), proxy.endpoint_url())],
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&spec, &stack, &options).await.unwrap();
    let stage = Stage {
        stack: &stack,
        pipeline,
    };
    let names = ["t-1", "t-2", "t-3", "t-4", "t-5", "t-6"];
    let groups = open_groups(&stage, "10.71.0.0/16", &names).await;
    // The inventory's listings are throttled first, then a share of every
    // EC2 call of every function: pacing, backoff and the state machine's
    // retries must still get every violator fixed.
    proxy.inject(Fault::ec2_throttling("DescribeSecurityGroups", 2));
    proxy.inject(Fault::ec2_throttling("DescribeSecurityGroupRules", 2));
    proxy.inject(Fault::ec2_throttling_share(20));
    let started = stage.sweep("sweep-throttled").await;
    assert!(started >= names.len(), "{started}");
    assert!(!proxy.injected().is_empty(), "throttling was injected");
    for name in names {
        assert_eq!(stage.ingress(&groups[name]).await, 0, "{name} is fixed");
    }
    stage.pipeline.shutdown().await;
}

/// A second account, reached as Moat reaches members: an assumed role,
/// which moto (like AWS) answers with that account's credentials.
const MEMBER: &str = "111111111111";
const MEMBER_ROLE: &str = "moat-member";

async fn member_config(central: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    local_stack::assumed_config(central, MEMBER, MEMBER_ROLE, "moat-sweep-test")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sweep_covers_two_accounts_through_the_member_role() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    let options = PipelineOptions {
        extra_env: vec![("MOAT_MEMBER_ROLE_NAME".into(), MEMBER_ROLE.into())],
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&spec, &stack, &options).await.unwrap();
    let stage = Stage {
        stack: &stack,
        pipeline,
    };
    let central = open_groups(&stage, "10.72.0.0/16", &["central"]).await;
    let member = member_config(&stage.stack.config).await;
    let changes = Changes::undelivered(&member, MEMBER);
    let vpc = changes.create_vpc("10.73.0.0/16").await.unwrap();
    let member_group = changes
        .existing_group(&vpc, "member", &BTreeMap::new())
        .await
        .unwrap();
    changes
        .authorize_ingress(
            &Actor::developer("hana"),
            &member_group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    let endpoint = stage.pipeline.endpoint();
    let region = stage.stack.region();
    let input = json!({"targets": [{"account": ACCOUNT, "region": region}, {"account": MEMBER, "region": region}], "dryRun": false});
    let started = endpoint
        .client()
        .start_execution()
        .state_machine_arn(endpoint.sweep_machine_arn())
        .name("sweep-two-accounts")
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let ended = endpoint
        .wait(started.execution_arn(), PATIENCE)
        .await
        .unwrap();
    assert_eq!(*ended.status(), ExecutionStatus::Succeeded, "{ended:?}");
    let lines = stage.lines("sweep-two-accounts").await;
    assert_eq!(lines[&member_group].account, MEMBER);
    assert_eq!(lines[&member_group].action, SweepAction::RemediationStarted);
    assert_eq!(lines[&central["central"]].account, ACCOUNT);
    let name = moat_domain::sweep::remediation_execution_name("sweep-two-accounts", &member_group);
    let arn = endpoint
        .machine_arn()
        .replacen(":stateMachine:", ":execution:", 1)
        + ":"
        + &name;
    let done = endpoint.wait(&arn, PATIENCE).await.unwrap();
    assert_eq!(*done.status(), ExecutionStatus::Succeeded, "{done:?}");
    let ingress = changes.ingress_rule_ids(&member_group).await.unwrap().len();
    assert_eq!(
        ingress, 0,
        "the member account's group is fixed through the member role"
    );
    stage.pipeline.shutdown().await;
}

/// Each region's deployment sweeps its own region, as its schedule does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_region_sweeps_its_own_groups() {
    let local = LocalStack::start().await.unwrap();
    for (stack, cidr) in [
        (&local.primary, "10.74.0.0/16"),
        (&local.secondary, "10.75.0.0/16"),
    ] {
        let region = stack.region().to_owned();
        let pipeline = Pipeline::new(&local.spec, stack, &PipelineOptions::default())
            .await
            .unwrap();
        let changes = Changes::undelivered(&stack.config, ACCOUNT);
        let vpc = changes.create_vpc(cidr).await.unwrap();
        let group = changes
            .existing_group(&vpc, "open", &BTreeMap::new())
            .await
            .unwrap();
        changes
            .authorize_ingress(
                &Actor::developer("ivan"),
                &group,
                &Opening::tcp(22, "0.0.0.0/0"),
            )
            .await
            .unwrap();
        let stage = Stage { stack, pipeline };
        let name = format!("sweep-{region}");
        assert!(stage.sweep(&name).await >= 1, "{region}");
        assert_eq!(stage.ingress(&group).await, 0, "{region}: fixed");
        assert_eq!(stage.lines(&name).await[&group].region, region);
        stage.pipeline.shutdown().await;
    }
}

/// A Security Hub finding as an earlier run would have left it open.
fn open_finding(group_id: &str) -> moat_domain::security_hub::SecurityHubFinding {
    serde_json::from_value(json!({
        "id": format!("moat/{group_id}/ec2-13-ssh-open"),
        "productArn": format!("arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"),
        "generatorId": "moat/ec2-13-ssh-open", "account": ACCOUNT, "region": "us-east-1",
        "types": ["Software and Configuration Checks"], "createdAt": "2026-11-30T00:00:00Z",
        "updatedAt": "2026-11-30T00:00:00Z", "severityLabel": "HIGH", "title": "SSH open",
        "description": "tcp/22 open to 0.0.0.0/0", "resourceArn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{group_id}"),
        "partition": "aws", "complianceStatus": "FAILED", "relatedRequirements": ["EC2.13"],
        "workflowStatus": "NEW", "recommendation": "Close it."
    }))
    .unwrap()
}
