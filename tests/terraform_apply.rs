//! Moat's Terraform applied for real, to the local stack only: moto for each
//! region of `infra/stack.json` and sfn-local's Step Functions endpoint (moto
//! cannot validate state machine definitions), with the root
//! `infra/tests/local-apply` composing the real central and member modules.
//! The test checks what Terraform made through the SDK, plays the demo's
//! scenario (`local_stack::demo`) in the member account through the state
//! machine Terraform made, with the real function binaries and the
//! environment Terraform gave each function, checks its outcome as the demo
//! does, and destroys it all. The sweep (its state machine, its daily
//! schedule and the reports bucket) is checked as made, never run.
//!
//! What moto cannot do, and how the test gets around it:
//! - global tables: the root stands in for `modules/data` with one table per
//!   region (see its `main.tf`);
//! - delivering EventBridge events to Step Functions (a rule with a Step
//!   Functions target makes `PutEvents` fail): the test starts the execution
//!   through the Step Functions endpoint, as the rule's target would;
//! - running Lambda code: moto stores stand-in zips; the endpoint runs the
//!   `target/debug` binaries instead, each through a small launcher that sets
//!   exactly the variables moto's Lambda holds for it (read back with
//!   `GetFunctionConfiguration` after the apply);
//! - running schedules: moto's EventBridge Scheduler stores the schedule and
//!   never fires it, which is what the test wants (it reads the schedule
//!   back, through Scheduler's REST API, since the workspace has no
//!   Scheduler SDK crate).
//!
//! Every endpoint is on 127.0.0.1, and Terraform gets an `AWS_ENDPOINT_URL`
//! on a closed loopback port, so a service the root forgot can only fail,
//! never reach AWS. Every wait has a timeout; nothing asserts on timing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use local_aws::Moto;
use local_stack::changes::{Changes, Made};
use local_stack::demo::{self, Scenario, Site};
use local_stack::{ACCOUNT, StackSpec};
use moat_aws::Aws;
use serde_json::{Value, json};
use sfn_local::{
    DescribeExecution, ExecutionResult, ExecutionStatus, ExecutorConfig, FunctionConfig, LogSink,
    Server,
};
use tokio::process::Command;

/// The root this test applies, relative to `infra/`.
const ROOT: &str = "tests/local-apply";
/// The member account and the role its provider assumes (the root's defaults).
const MEMBER_ACCOUNT: &str = "111111111111";
const MEMBER_ADMIN_ROLE: &str = "moat-local-apply-member-admin";
/// The root's default external id.
const EXTERNAL_ID: &str = "moat-local-apply-external-id";

const INIT_TIMEOUT: Duration = Duration::from_secs(180);
const APPLY_TIMEOUT: Duration = Duration::from_secs(900);
const OUTPUT_TIMEOUT: Duration = Duration::from_secs(120);
const DESTROY_TIMEOUT: Duration = Duration::from_secs(600);
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(240);
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_applies_both_regions_and_its_state_machine_plays_the_demo_scenario() {
    let spec = StackSpec::load().unwrap_or_else(|error| panic!("{error}"));
    assert_function_binaries_built(&spec);
    let work = WorkDir::new();
    let stack = LocalStack::start(&spec, &work).await;
    let terraform = Terraform::prepare(&work, &spec, &stack);
    terraform.init().await;
    terraform.apply().await;
    let outputs = terraform.outputs().await;

    let member_config = member_config(&stack.primary_config).await;
    let regions = stack.regions();
    let mut checks = Checks::default();
    for region in &regions {
        check_region(&mut checks, &InRegion::new(&spec, &outputs, region)).await;
    }
    check_member(&mut checks, &spec, &outputs, &member_config).await;
    let resources_ok = checks.failures.is_empty();
    // A change through resources already known to be wrong would only add
    // failures that say nothing new, so it runs on a correct stack only.
    if resources_ok {
        let primary = InRegion::new(&spec, &outputs, &regions[0]);
        let started = Instant::now();
        run_scenario(&mut checks, &primary, &member_config, &stack.launchers).await;
        eprintln!(
            "the demo scenario through the Terraform-made state machine: {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    tear_down(&terraform, &outputs, &regions).await;
    stack.stop().await;
    report(&checks, resources_ok);
}

/// Fails before minutes of apply if a function binary is missing, since the
/// change at the end runs every one of them.
fn assert_function_binaries_built(spec: &StackSpec) {
    for function in spec.functions.keys() {
        let binary = function_binary(function);
        assert!(
            binary.is_file(),
            "{}: function binary not built: run `cargo build --workspace --bins` (cargo xtask test does)",
            binary.display()
        );
    }
}

/// Takes down what Terraform made, as far as it goes. This is best effort,
/// because the stack is thrown away with moto whatever happens here. The
/// policy the test uploaded goes first, because Terraform keeps a bucket
/// that still holds objects.
async fn tear_down(terraform: &Terraform, outputs: &Value, regions: &[Region<'_>]) {
    for region in regions {
        for bucket in ["policy_bucket", "reports_bucket"] {
            remove_objects(region.config, output(outputs, region.key, bucket)).await;
        }
    }
    terraform.destroy().await;
}

/// Fails the test with every failed check, or tells how many passed.
fn report(checks: &Checks, resources_ok: bool) {
    assert!(
        checks.failures.is_empty(),
        "{} of {} checks failed{}:\n{}",
        checks.failures.len(),
        checks.count,
        if resources_ok {
            ""
        } else {
            " (the resources were wrong, so no change was run)"
        },
        checks.failures.join("\n")
    );
    eprintln!("{} checks passed", checks.count);
}

/// The local stack Terraform applies to: moto and a Step Functions endpoint
/// for each region, and the folder of the primary functions' launchers.
struct LocalStack {
    primary: Moto,
    dr: Moto,
    primary_config: aws_config::SdkConfig,
    dr_config: aws_config::SdkConfig,
    primary_states: StatesEndpoint,
    dr_states: StatesEndpoint,
    launchers: PathBuf,
}

impl LocalStack {
    async fn start(spec: &StackSpec, work: &WorkDir) -> LocalStack {
        let primary = Moto::start(&spec.regions.primary).unwrap_or_else(|error| panic!("{error}"));
        let dr = Moto::start(&spec.regions.secondary).unwrap_or_else(|error| panic!("{error}"));
        let primary_config = primary.sdk_config().await;
        let dr_config = dr.sdk_config().await;

        // The primary endpoint runs the functions through launchers, which
        // are written once Terraform has given each function its
        // environment; the DR endpoint runs no function.
        let launchers = work.path.join("functions");
        std::fs::create_dir_all(&launchers).unwrap();
        let primary_states =
            StatesEndpoint::start(primary_executor(spec, &primary, &launchers)).await;
        let dr_states = StatesEndpoint::start(dr_executor(spec, &dr)).await;
        LocalStack {
            primary,
            dr,
            primary_config,
            dr_config,
            primary_states,
            dr_states,
            launchers,
        }
    }

    /// Both regions, the primary first, as the root's `regions` output
    /// names them.
    fn regions(&self) -> [Region<'_>; 2] {
        [
            Region {
                key: "primary",
                role: "active",
                config: &self.primary_config,
                states: &self.primary_states,
            },
            Region {
                key: "dr",
                role: "passive",
                config: &self.dr_config,
                states: &self.dr_states,
            },
        ]
    }

    /// Stops the Step Functions endpoints before moto, so that no function
    /// or execution is left calling a moto that has gone.
    async fn stop(self) {
        self.primary_states.stop().await;
        self.dr_states.stop().await;
        drop((self.primary, self.dr));
    }
}

/// One region's SDK configuration, Step Functions endpoint and the key of
/// its entry in the root's `regions` output.
struct Region<'a> {
    key: &'static str,
    role: &'static str,
    config: &'a aws_config::SdkConfig,
    states: &'a StatesEndpoint,
}

/// What the checks of one region compare against, and the region's name,
/// which every message starts with.
struct InRegion<'a> {
    spec: &'a StackSpec,
    outputs: &'a Value,
    region: &'a Region<'a>,
    name: String,
}

impl<'a> InRegion<'a> {
    fn new(spec: &'a StackSpec, outputs: &'a Value, region: &'a Region<'a>) -> InRegion<'a> {
        let name = output(outputs, region.key, "region").to_owned();
        InRegion {
            spec,
            outputs,
            region,
            name,
        }
    }

    /// `regions.<key>.<field>` of the root's outputs for this region.
    fn output(&self, field: &str) -> &'a str {
        output(self.outputs, self.region.key, field)
    }
}
#[derive(Default)]
struct Checks {
    count: usize,
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, passed: bool, what: impl FnOnce() -> String) {
        self.count += 1;
        if !passed {
            self.failures.push(what());
        }
    }

    fn equal<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, actual: T, expected: T) {
        self.check(actual == expected, || {
            format!("{what}: got {actual:?}, expected {expected:?}")
        });
    }

    /// A failed call is a failed check, named by what it was for.
    fn ok<T, E: std::fmt::Debug>(&mut self, what: &str, result: Result<T, E>) -> Option<T> {
        self.count += 1;
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.failures.push(format!("{what}: {error:?}"));
                None
            }
        }
    }
}

/// `regions.<key>.<field>` of the root's outputs, as text.
fn output<'a>(outputs: &'a Value, key: &str, field: &str) -> &'a str {
    outputs["regions"]["value"][key][field]
        .as_str()
        .unwrap_or_else(|| panic!("output regions.{key}.{field} is missing: {outputs:#}"))
}

/// What each function's environment must hold in a region: the settings
/// infra/stack.json names, with this deployment's values.
fn expected_environment(
    spec: &StackSpec,
    outputs: &Value,
    key: &str,
    function: &str,
) -> BTreeMap<String, String> {
    let settings: BTreeMap<&str, String> = BTreeMap::from([
        (
            "recordsTable",
            output(outputs, key, "records_table").to_owned(),
        ),
        (
            "policyBucket",
            output(outputs, key, "policy_bucket").to_owned(),
        ),
        (
            "reportsBucket",
            output(outputs, key, "reports_bucket").to_owned(),
        ),
        ("policyKey", spec.policy_key.clone()),
        (
            "notificationTopicArn",
            output(outputs, key, "notification_topic_arn").to_owned(),
        ),
        (
            "escalationTopicArn",
            output(outputs, key, "escalation_topic_arn").to_owned(),
        ),
        ("selfRoleArns", spec.self_role_pattern()),
        ("memberRoleName", spec.remediation_role.clone()),
        ("externalId", EXTERNAL_ID.to_owned()),
        ("securityHub", "enabled".to_owned()),
    ]);
    spec.functions[function]
        .environment
        .iter()
        .map(|(variable, setting)| {
            let value = settings.get(setting.as_str()).unwrap_or_else(|| {
                panic!("stack.json names a setting the test does not know: {setting}")
            });
            (variable.clone(), value.clone())
        })
        .collect()
}

/// Everything the central module made in one region.
/// Everything the central module made in one region.
async fn check_region(checks: &mut Checks, at: &InRegion<'_>) {
    check_functions(checks, at).await;
    check_events(checks, at).await;
    check_messaging(checks, at).await;
    check_parameter_and_alarms(checks, at).await;
    check_data(checks, at).await;
    check_state_machine(checks, at).await;
    check_sweep(checks, at).await;
    check_sweep_schedule(checks, at).await;
}

/// The functions of the central module: each with its `live` alias on a
/// published version and exactly the environment stack.json declares.
async fn check_functions(checks: &mut Checks, at: &InRegion<'_>) {
    let spec = at.spec;
    let lambda = aws_sdk_lambda::Client::new(at.region.config);
    let aliases = &at.outputs["regions"]["value"][at.region.key]["function_alias_arns"];
    for function in spec.functions.keys() {
        let name = spec.function_name_of(function);
        let what = format!("{}: function {name}", at.name);
        let configuration = lambda
            .get_function_configuration()
            .function_name(&name)
            .send()
            .await;
        if let Some(configuration) = checks.ok(&what, configuration) {
            checks.equal(
                &format!("{what}: environment"),
                lambda_environment(configuration),
                expected_environment(spec, at.outputs, at.region.key, function),
            );
        }
        let alias = lambda
            .get_alias()
            .function_name(&name)
            .name(&spec.function_alias)
            .send()
            .await;
        if let Some(alias) = checks.ok(&format!("{what}: alias {}", spec.function_alias), alias) {
            checks.equal(
                &format!("{what}: alias ARN"),
                alias.alias_arn.as_deref(),
                aliases[function].as_str(),
            );
            checks.check(
                alias
                    .function_version
                    .as_deref()
                    .is_some_and(|v| v != "$LATEST"),
                || {
                    format!(
                        "{what}: the alias points at {:?}, not a published version",
                        alias.function_version
                    )
                },
            );
        }
    }
}

/// The environment variables moto's Lambda holds for a function.
fn lambda_environment(
    configuration: aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> BTreeMap<String, String> {
    configuration
        .environment
        .and_then(|environment| environment.variables)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// The central bus, its archive and its rule with the production pattern
/// (the remediation role filled in), targeting the state machine.
async fn check_events(checks: &mut Checks, at: &InRegion<'_>) {
    let (spec, region_name) = (at.spec, &at.name);
    let events = aws_sdk_eventbridge::Client::new(at.region.config);
    let bus = events
        .describe_event_bus()
        .name(&spec.event_bus)
        .send()
        .await;
    if let Some(bus) = checks.ok(&format!("{region_name}: event bus"), bus) {
        checks.equal(
            &format!("{region_name}: event bus ARN"),
            bus.arn.as_deref(),
            Some(at.output("event_bus_arn")),
        );
    }
    let archive = events
        .describe_archive()
        .archive_name(&spec.event_archive)
        .send()
        .await;
    if let Some(archive) = checks.ok(&format!("{region_name}: event archive"), archive) {
        checks.equal(
            &format!("{region_name}: archive source"),
            archive.event_source_arn.as_deref(),
            Some(at.output("event_bus_arn")),
        );
    }
    let rule = Rule {
        events: &events,
        name: &spec.event_rule,
        bus: Some(&spec.event_bus),
        what: format!("{region_name}: central rule"),
    };
    rule.check_pattern(checks, spec).await;
    let what = format!("{region_name}: central rule targets");
    if let Some(arns) = rule.targets(checks, &what).await {
        checks.equal(&what, arns, vec![at.output("state_machine_arn").to_owned()]);
    }
}

/// An EventBridge rule to check: on a named bus, or on the default one, and
/// what the checks' messages call it.
struct Rule<'a> {
    events: &'a aws_sdk_eventbridge::Client,
    name: &'a str,
    bus: Option<&'a str>,
    what: String,
}

impl Rule<'_> {
    /// Checks that the rule holds the production pattern, and gives the rule
    /// for any further check.
    async fn check_pattern(
        &self,
        checks: &mut Checks,
        spec: &StackSpec,
    ) -> Option<aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput> {
        let expected: Value = serde_json::from_str(&spec.event_pattern().unwrap()).unwrap();
        let rule = self
            .events
            .describe_rule()
            .name(self.name)
            .set_event_bus_name(self.bus.map(str::to_owned))
            .send()
            .await;
        let rule = checks.ok(&self.what, rule)?;
        let pattern: Option<Value> = rule
            .event_pattern
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok());
        checks.equal(
            &format!("{} pattern", self.what),
            pattern.as_ref(),
            Some(&expected),
        );
        Some(rule)
    }

    /// The ARNs of the rule's targets, in the order EventBridge lists them;
    /// `what` names the call's check.
    async fn targets(&self, checks: &mut Checks, what: &str) -> Option<Vec<String>> {
        let targets = self
            .events
            .list_targets_by_rule()
            .rule(self.name)
            .set_event_bus_name(self.bus.map(str::to_owned))
            .send()
            .await;
        let targets = checks.ok(what, targets)?;
        Some(
            targets
                .targets()
                .iter()
                .map(|target| target.arn().to_owned())
                .collect(),
        )
    }
}

/// Both topics, each with a KMS key, and the dead-letter queue.
async fn check_messaging(checks: &mut Checks, at: &InRegion<'_>) {
    let (spec, region_name) = (at.spec, &at.name);
    let sns = aws_sdk_sns::Client::new(at.region.config);
    for (field, name) in [
        ("notification_topic_arn", &spec.notification_topic),
        ("escalation_topic_arn", &spec.escalation_topic),
    ] {
        checks.equal(
            &format!("{region_name}: {field}"),
            at.output(field),
            format!("arn:aws:sns:{region_name}:{ACCOUNT}:{name}").as_str(),
        );
        let topic = sns
            .get_topic_attributes()
            .topic_arn(at.output(field))
            .send()
            .await;
        if let Some(topic) = checks.ok(&format!("{region_name}: topic {field}"), topic) {
            let attributes = topic.attributes.unwrap_or_default();
            checks.check(
                attributes
                    .get("KmsMasterKeyId")
                    .is_some_and(|id| !id.is_empty()),
                || format!("{region_name}: topic {field} has no KMS key: {attributes:?}"),
            );
        }
    }
    check_dead_letter_queue(
        checks,
        at.region.config,
        &spec.dead_letter_queue,
        region_name,
        Some(at.output("dead_letter_queue_url")),
    )
    .await;
}

/// Checks that the dead-letter queue exists where `config` points, with the
/// URL the outputs give; `owner` starts the checks' messages.
async fn check_dead_letter_queue(
    checks: &mut Checks,
    config: &aws_config::SdkConfig,
    queue_name: &str,
    owner: &str,
    expected_url: Option<&str>,
) {
    let sqs = aws_sdk_sqs::Client::new(config);
    let queue = sqs.get_queue_url().queue_name(queue_name).send().await;
    if let Some(queue) = checks.ok(&format!("{owner}: dead-letter queue"), queue) {
        checks.equal(
            &format!("{owner}: dead-letter queue URL"),
            queue.queue_url.as_deref(),
            expected_url,
        );
    }
}

/// The region-role parameter and the alarms. They are read through moto's
/// JSON protocol, because the workspace has no SSM SDK crate and
/// CloudWatch's SDK crate speaks CBOR, which moto does not.
async fn check_parameter_and_alarms(checks: &mut Checks, at: &InRegion<'_>) {
    let endpoint = at
        .region
        .config
        .endpoint_url()
        .expect("a local SDK configuration has an endpoint")
        .to_owned();
    check_region_role(checks, at, &endpoint).await;
    check_alarms(checks, at, &endpoint).await;
}

/// The parameter that tells the functions whether their region is the
/// active or the passive one.
async fn check_region_role(checks: &mut Checks, at: &InRegion<'_>, endpoint: &str) {
    let (spec, region_name) = (at.spec, &at.name);
    let parameter = json_rpc(
        endpoint,
        region_name,
        "ssm",
        "1.1",
        "AmazonSSM.GetParameter",
        json!({"Name": spec.active_region_parameter}),
    )
    .await;
    if let Some(parameter) = checks.ok(
        &format!("{region_name}: parameter {}", spec.active_region_parameter),
        parameter,
    ) {
        checks.equal(
            &format!("{region_name}: region role"),
            parameter["Parameter"]["Value"].as_str(),
            Some(at.region.role),
        );
    }
}

/// Exactly the expected alarms, each of which escalates.
async fn check_alarms(checks: &mut Checks, at: &InRegion<'_>, endpoint: &str) {
    let region_name = &at.name;
    let alarms = json_rpc(
        endpoint,
        region_name,
        "monitoring",
        "1.0",
        "GraniteServiceVersion20100801.DescribeAlarms",
        json!({"MaxRecords": 100}),
    )
    .await;
    let Some(alarms) = checks.ok(&format!("{region_name}: alarms"), alarms) else {
        return;
    };
    let escalations = at.output("escalation_topic_arn");
    let mut names = BTreeSet::new();
    for alarm in alarms["MetricAlarms"].as_array().into_iter().flatten() {
        let name = alarm["AlarmName"].as_str().unwrap_or_default().to_owned();
        let actions: Vec<&str> = alarm["AlarmActions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        checks.equal(
            &format!("{region_name}: alarm {name} actions"),
            actions,
            vec![escalations],
        );
        names.insert(name);
    }
    checks.equal(
        &format!("{region_name}: alarm names"),
        names,
        expected_alarm_names(at.spec),
    );
}

/// The two alarms of each state machine, the dead-letter queue's, and the
/// errors and throttles alarms of every function.
fn expected_alarm_names(spec: &StackSpec) -> BTreeSet<String> {
    let mut expected: BTreeSet<String> = [
        format!("{}-executions-failed", spec.state_machine),
        format!("{}-executions-timed-out", spec.state_machine),
        format!("{}-executions-failed", spec.sweep_state_machine),
        format!("{}-executions-timed-out", spec.sweep_state_machine),
        format!("{}-not-empty", spec.dead_letter_queue),
    ]
    .into();
    for function in spec.functions.keys() {
        for metric in ["errors", "throttles"] {
            expected.insert(format!("{}-{metric}", spec.function_name_of(function)));
        }
    }
    expected
}

/// The stand-in data: the table, the policy bucket and the reports bucket.
/// A bucket's versioning is not read with GetBucketVersioning, because moto
/// 5.2.5 answers it with a root element the SDK refuses; the upload before
/// the change shows a version id instead.
async fn check_data(checks: &mut Checks, at: &InRegion<'_>) {
    check_records_table(checks, at).await;
    let s3 = aws_sdk_s3::Client::new(at.region.config);
    for bucket in [
        Bucket::new(at, "policy_bucket"),
        Bucket::new(at, "reports_bucket"),
    ] {
        check_bucket_encryption(checks, &bucket, &s3).await;
        check_public_access_block(checks, &bucket, &s3).await;
        check_bucket_policy(checks, &bucket, &s3).await;
    }
    checks.equal(
        &format!("{}: reports bucket name", at.name),
        at.output("reports_bucket").to_owned(),
        at.spec.reports_bucket_in(ACCOUNT, &at.name),
    );
}

/// A bucket to check: its name, from the output `field`, and what the
/// checks' messages call it (the region and the field).
struct Bucket<'a> {
    name: &'a str,
    what: String,
}

impl<'a> Bucket<'a> {
    fn new(at: &InRegion<'a>, field: &str) -> Bucket<'a> {
        Bucket {
            name: at.output(field),
            what: format!("{}: {}", at.name, field.replace('_', " ")),
        }
    }
}

/// The records table, keyed on `pk` and `sk`.
async fn check_records_table(checks: &mut Checks, at: &InRegion<'_>) {
    let region_name = &at.name;
    let dynamodb = aws_sdk_dynamodb::Client::new(at.region.config);
    let table = dynamodb
        .describe_table()
        .table_name(at.output("records_table"))
        .send()
        .await;
    if let Some(table) = checks.ok(&format!("{region_name}: records table"), table) {
        let keys: Vec<String> = table
            .table
            .map(|table| {
                table
                    .key_schema()
                    .iter()
                    .map(|key| key.attribute_name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        checks.equal(
            &format!("{region_name}: records table keys"),
            keys,
            vec!["pk".to_owned(), "sk".to_owned()],
        );
    }
}

/// A bucket is encrypted with KMS by default.
async fn check_bucket_encryption(
    checks: &mut Checks,
    bucket: &Bucket<'_>,
    s3: &aws_sdk_s3::Client,
) {
    let what = &bucket.what;
    let encryption = s3.get_bucket_encryption().bucket(bucket.name).send().await;
    if let Some(encryption) = checks.ok(&format!("{what} encryption"), encryption) {
        let algorithms: Vec<String> = encryption
            .server_side_encryption_configuration()
            .map(|configuration| {
                configuration
                    .rules()
                    .iter()
                    .filter_map(|rule| rule.apply_server_side_encryption_by_default())
                    .map(|default| default.sse_algorithm().as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        checks.equal(
            &format!("{what} encryption"),
            algorithms,
            vec!["aws:kms".to_owned()],
        );
    }
}

/// A bucket blocks every kind of public access.
async fn check_public_access_block(
    checks: &mut Checks,
    bucket: &Bucket<'_>,
    s3: &aws_sdk_s3::Client,
) {
    let what = &bucket.what;
    let block = s3
        .get_public_access_block()
        .bucket(bucket.name)
        .send()
        .await;
    if let Some(block) = checks.ok(&format!("{what} public access block"), block) {
        let all = block
            .public_access_block_configuration()
            .is_some_and(|block| {
                [
                    block.block_public_acls(),
                    block.ignore_public_acls(),
                    block.block_public_policy(),
                    block.restrict_public_buckets(),
                ]
                .iter()
                .all(|flag| *flag == Some(true))
            });
        checks.check(all, || format!("{what} is not fully private: {block:?}"));
    }
}

/// A bucket's policy denies plain HTTP.
async fn check_bucket_policy(checks: &mut Checks, bucket: &Bucket<'_>, s3: &aws_sdk_s3::Client) {
    let what = &bucket.what;
    let policy = s3.get_bucket_policy().bucket(bucket.name).send().await;
    if let Some(policy) = checks.ok(&format!("{what} policy"), policy) {
        let policy: Value =
            serde_json::from_str(policy.policy().unwrap_or_default()).unwrap_or_default();
        let statement = &policy["Statement"][0];
        checks.check(
            statement["Effect"] == "Deny"
                && statement["Condition"]["Bool"]["aws:SecureTransport"] == "false",
            || format!("{what} does not deny plain HTTP: {policy}"),
        );
    }
}

/// The remediation state machine, in the local Step Functions endpoint: its
/// definition calls the `live` aliases only, exactly those of the functions
/// its file names.
async fn check_state_machine(checks: &mut Checks, at: &InRegion<'_>) {
    let (spec, region_name) = (at.spec, &at.name);
    let sfn = aws_sdk_sfn::Client::new(&at.region.states.sdk_config(at.region.config));
    let machine = sfn
        .describe_state_machine()
        .state_machine_arn(at.output("state_machine_arn"))
        .send()
        .await;
    if let Some(machine) = checks.ok(&format!("{region_name}: state machine"), machine) {
        checks.equal(
            &format!("{region_name}: state machine name"),
            machine.name(),
            spec.state_machine.as_str(),
        );
        checks.equal(
            &format!("{region_name}: state machine role"),
            machine.role_arn(),
            format!(
                "arn:aws:iam::{ACCOUNT}:role/{}",
                spec.state_machine_role_in(region_name)
            )
            .as_str(),
        );
        let file = spec.state_machine_definition().unwrap();
        check_lambda_arns(checks, at, "the definition", machine.definition(), &file);
        checks.check(
            machine
                .definition()
                .contains(at.output("dead_letter_queue_url")),
            || format!("{region_name}: the definition does not name the dead-letter queue"),
        );
    }
}

/// Checks that a deployed definition names exactly the `live` aliases of
/// the functions whose placeholders its file (`template`) holds.
fn check_lambda_arns(
    checks: &mut Checks,
    at: &InRegion<'_>,
    what: &str,
    definition: &str,
    template: &str,
) {
    let (spec, region_name) = (at.spec, &at.name);
    let named = lambda_arns(definition);
    let live: BTreeSet<String> = spec
        .functions
        .keys()
        .filter(|function| template.contains(&format!("${{{}}}", function_placeholder(function))))
        .map(|function| {
            format!(
                "arn:aws:lambda:{region_name}:{ACCOUNT}:function:{}:{}",
                spec.function_name_of(function),
                spec.function_alias
            )
        })
        .collect();
    checks.check(!live.is_empty() && named == live, || {
        format!("{region_name}: {what} names {named:?}, not the live aliases of the functions its file calls ({live:?})")
    });
}

/// `detect` -> `DetectFunctionArn`: the placeholder a definition names a
/// function by (the rule of `moat_stack::function_placeholder`, which this
/// crate does not depend on).
fn function_placeholder(function: &str) -> String {
    let camel: String = function
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
                .collect::<String>()
        })
        .collect();
    format!("{camel}FunctionArn")
}

/// The sweep state machine, in the local Step Functions endpoint (which
/// validated its definition when Terraform created it): its name, its
/// role, the live aliases it calls, and the remediation state machine it
/// starts. The test never runs a sweep.
async fn check_sweep(checks: &mut Checks, at: &InRegion<'_>) {
    let (spec, region_name) = (at.spec, &at.name);
    let sfn = aws_sdk_sfn::Client::new(&at.region.states.sdk_config(at.region.config));
    let machine = sfn
        .describe_state_machine()
        .state_machine_arn(at.output("sweep_state_machine_arn"))
        .send()
        .await;
    let Some(machine) = checks.ok(&format!("{region_name}: sweep state machine"), machine) else {
        return;
    };
    checks.equal(
        &format!("{region_name}: sweep state machine name"),
        machine.name(),
        spec.sweep_state_machine.as_str(),
    );
    checks.equal(
        &format!("{region_name}: sweep state machine role"),
        machine.role_arn(),
        format!(
            "arn:aws:iam::{ACCOUNT}:role/{}",
            spec.sweep_state_machine_role_in(region_name)
        )
        .as_str(),
    );
    let file = spec.sweep_state_machine_definition().unwrap();
    check_lambda_arns(
        checks,
        at,
        "the sweep definition",
        machine.definition(),
        &file,
    );
    checks.check(
        machine
            .definition()
            .contains(at.output("state_machine_arn")),
        || {
            format!(
                "{region_name}: the sweep definition does not start the remediation state machine"
            )
        },
    );
}

/// The daily schedule that starts the sweep, as moto's Scheduler holds it:
/// enabled in the active region only, targeting the sweep with every
/// member account in the region.
async fn check_sweep_schedule(checks: &mut Checks, at: &InRegion<'_>) {
    let region_name = &at.name;
    let endpoint = at
        .region
        .config
        .endpoint_url()
        .expect("a local SDK configuration has an endpoint")
        .to_owned();
    let name = at.output("sweep_schedule_name");
    let schedule = rest_get(
        &endpoint,
        region_name,
        "scheduler",
        &format!("/schedules/{name}?groupName=default"),
    )
    .await;
    let Some(schedule) = checks.ok(&format!("{region_name}: sweep schedule {name}"), schedule)
    else {
        return;
    };
    let expected_state = if at.region.role == "active" {
        "ENABLED"
    } else {
        "DISABLED"
    };
    checks.equal(
        &format!("{region_name}: sweep schedule state"),
        schedule["State"].as_str(),
        Some(expected_state),
    );
    checks.equal(
        &format!("{region_name}: sweep schedule target"),
        schedule["Target"]["Arn"].as_str(),
        Some(at.output("sweep_state_machine_arn")),
    );
    let input: Value = schedule["Target"]["Input"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    checks.equal(
        &format!("{region_name}: sweep schedule input"),
        input,
        json!({"targets": [{"account": MEMBER_ACCOUNT, "region": region_name}], "dryRun": false}),
    );
}

/// Deletes every object version and delete marker in a bucket, ignoring
/// failures (the destroy that follows reports what is left).
async fn remove_objects(config: &aws_config::SdkConfig, bucket: &str) {
    let s3 = aws_sdk_s3::Client::new(config);
    let Ok(listed) = s3.list_object_versions().bucket(bucket).send().await else {
        return;
    };
    let versions = listed
        .versions()
        .iter()
        .map(|version| (version.key(), version.version_id()));
    let markers = listed
        .delete_markers()
        .iter()
        .map(|marker| (marker.key(), marker.version_id()));
    for (key, version) in versions.chain(markers) {
        if let Some(key) = key {
            let _ = s3
                .delete_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version.map(str::to_owned))
                .send()
                .await;
        }
    }
}

/// Every Lambda ARN a definition names, wherever it names one.
fn lambda_arns(definition: &str) -> BTreeSet<String> {
    fn walk(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::String(text) if text.starts_with("arn:aws:lambda:") => {
                found.insert(text.clone());
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, found)),
            Value::Object(fields) => fields.values().for_each(|item| walk(item, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    walk(
        &serde_json::from_str(definition).unwrap_or(Value::Null),
        &mut found,
    );
    found
}

/// The member account: its forwarding rule with the production pattern,
/// targeting both central buses, and its dead-letter queue.
async fn check_member(
    checks: &mut Checks,
    spec: &StackSpec,
    outputs: &Value,
    config: &aws_config::SdkConfig,
) {
    let member = &outputs["member"]["value"];
    let events = aws_sdk_eventbridge::Client::new(config);
    let rule = Rule {
        events: &events,
        name: &spec.member_event_rule,
        bus: None,
        what: "member: forwarding rule".to_owned(),
    };
    if let Some(described) = rule.check_pattern(checks, spec).await {
        checks.equal(
            "member: forwarding rule ARN",
            described.arn.as_deref(),
            member["rule_arn"].as_str(),
        );
    }
    if let Some(arns) = rule.targets(checks, "member: forwarding targets").await {
        let buses: BTreeSet<String> = ["primary", "dr"]
            .into_iter()
            .map(|key| output(outputs, key, "event_bus_arn").to_owned())
            .collect();
        checks.equal(
            "member: forwarding targets",
            arns.into_iter().collect(),
            buses,
        );
    }
    check_dead_letter_queue(
        checks,
        config,
        &spec.dead_letter_queue,
        "member",
        member["dead_letter_queue_url"].as_str(),
    )
    .await;
    checks.equal(
        "member: remediation role",
        member["remediation_role_arn"].as_str(),
        Some(
            format!(
                "arn:aws:iam::{MEMBER_ACCOUNT}:role/{}",
                spec.remediation_role
            )
            .as_str(),
        ),
    );
}

/// The demo's scenario on the stack Terraform made: five groups in the
/// member account changed as an engineer would, each change's event (one of
/// them twice) sent through the Terraform-made state machine, and the
/// outcome checked as `cargo xtask demo` checks it, from EC2, the table
/// Terraform made, its notification topic and the member's Security Hub.
async fn run_scenario(
    checks: &mut Checks,
    primary: &InRegion<'_>,
    member: &aws_config::SdkConfig,
    launchers: &Path,
) {
    write_launchers(primary, launchers).await;
    prepare_for_a_change(checks, primary, member).await;
    let site = scenario_site(primary, member).await;
    let scenario = demo::play_with(&Changes::undelivered(member, MEMBER_ACCOUNT))
        .await
        .unwrap_or_else(|error| panic!("playing the scenario: {error}"));
    let mut results = Vec::new();
    for made in deliveries(&scenario) {
        results.push(run_execution(primary, &made.eventbridge_event()).await);
    }
    let outcome = demo::verify_at(&site, &scenario, &results)
        .await
        .unwrap_or_else(|error| panic!("reading the scenario's outcome: {error}"));
    for check in outcome.checks {
        checks.check(check.passed, || {
            format!("{}: {}", check.claim, check.detail)
        });
    }
}

/// Every change of the scenario once, then the duplicated one again, as
/// EventBridge's at-least-once delivery would hand them to the rule's
/// target.
fn deliveries(scenario: &Scenario) -> Vec<&Made> {
    let mut made: Vec<&Made> = scenario.groups.iter().map(|group| &group.made).collect();
    made.extend(
        scenario
            .groups
            .iter()
            .filter(|group| group.label == scenario.duplicated)
            .map(|group| &group.made),
    );
    made
}

/// Where the scenario is read back: the member account's groups and
/// Security Hub, and in the central account the table Terraform made and a
/// queue subscribed to its notification topic, as an operator subscribes
/// (infra/README.md).
async fn scenario_site(primary: &InRegion<'_>, member: &aws_config::SdkConfig) -> Site {
    let central = primary.region.config.clone();
    let sqs = aws_sdk_sqs::Client::new(&central);
    let inbox = sqs
        .create_queue()
        .queue_name("terraform-apply-notification-inbox")
        .send()
        .await
        .unwrap_or_else(|error| panic!("CreateQueue: {error:?}"));
    let inbox_url = inbox
        .queue_url()
        .expect("CreateQueue gives a URL")
        .to_owned();
    let inbox_arn = sqs
        .get_queue_attributes()
        .queue_url(&inbox_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|error| panic!("GetQueueAttributes: {error:?}"))
        .attributes()
        .and_then(|attributes| attributes.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .expect("a queue has an ARN");
    aws_sdk_sns::Client::new(&central)
        .subscribe()
        .topic_arn(primary.output("notification_topic_arn"))
        .protocol("sqs")
        .endpoint(inbox_arn)
        .send()
        .await
        .unwrap_or_else(|error| panic!("Subscribe: {error:?}"));
    Site {
        region: primary.name.clone(),
        account: MEMBER_ACCOUNT.to_owned(),
        member: member.clone(),
        central,
        records_table: primary.output("records_table").to_owned(),
        notification_inbox_url: inbox_url,
    }
}

/// Writes each function's launcher, so that the functions run as Lambda
/// would run them: with what moto's Lambda holds for each, as Terraform set
/// it.
async fn write_launchers(primary: &InRegion<'_>, launchers: &Path) {
    let spec = primary.spec;
    let lambda = aws_sdk_lambda::Client::new(primary.region.config);
    for function in spec.functions.keys() {
        let binary = function_binary(function);
        let configuration = lambda
            .get_function_configuration()
            .function_name(spec.function_name_of(function))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GetFunctionConfiguration {function}: {error:?}"));
        write_launcher(
            &launchers.join(function),
            &binary,
            &lambda_environment(configuration),
        );
    }
}

/// What an operator does after the first apply (infra/README.md, step 7),
/// and the member account's Security Hub, which is a prerequisite.
async fn prepare_for_a_change(
    checks: &mut Checks,
    primary: &InRegion<'_>,
    member: &aws_config::SdkConfig,
) {
    let config = primary.region.config;
    let bucket = primary.output("policy_bucket");
    // moto 5.2.5 takes a bucket-policy statement whose Condition it cannot
    // evaluate (it passes no request context) for an explicit deny
    // (moto/iam/access_control.py, `is_action_permitted`), so the bucket's
    // DenyPlainHttp refuses every object request, TLS or not. It is checked
    // above as Terraform set it, and taken away here so the functions can
    // read.
    aws_sdk_s3::Client::new(config)
        .delete_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|error| panic!("DeleteBucketPolicy {bucket}: {error:?}"));
    let uploaded =
        moat_aws::policy_store::S3PolicySource::new(&Aws::from_sdk_config(config.clone()))
            .put(
                bucket,
                &primary.spec.policy_key,
                moat_domain::policy::BUILTIN_JSON,
            )
            .await
            .unwrap_or_else(|error| panic!("uploading the policy to {bucket}: {error}"));
    checks.check(
        uploaded
            .version_id
            .as_deref()
            .is_some_and(|id| id != "null"),
        || format!("{bucket} is not versioned: the policy was stored as {uploaded:?}"),
    );
    aws_sdk_securityhub::Client::new(member)
        .enable_security_hub()
        .send()
        .await
        .unwrap_or_else(|error| panic!("enabling Security Hub in the member account: {error:?}"));
}

/// Starts the Terraform-made state machine on the event, as the central
/// rule's target would, and waits for it to end. Gives the execution as
/// the local executor reports one, for the demo's checks; a failed one's
/// history goes to stderr.
async fn run_execution(primary: &InRegion<'_>, event: &Value) -> ExecutionResult {
    let sfn = aws_sdk_sfn::Client::new(&primary.region.states.sdk_config(primary.region.config));
    let started = sfn
        .start_execution()
        .state_machine_arn(primary.output("state_machine_arn"))
        .input(event.to_string())
        .send()
        .await
        .unwrap_or_else(|error| panic!("StartExecution: {error:?}"));
    let execution_arn = started.execution_arn();
    let description = wait_for_execution(&sfn, execution_arn).await;
    let status = execution_status(description.status());
    if status != ExecutionStatus::Succeeded {
        let steps = execution_steps(&sfn, execution_arn).await;
        eprintln!("{execution_arn} ended {status:?}; history {steps:?}");
    }
    let date = |date: Option<&aws_sdk_sfn::primitives::DateTime>| {
        date.and_then(|date| {
            date.fmt(aws_sdk_sfn::primitives::DateTimeFormat::DateTime)
                .ok()
        })
        .unwrap_or_default()
    };
    ExecutionResult {
        description: DescribeExecution {
            execution_arn: execution_arn.to_owned(),
            state_machine_arn: description.state_machine_arn().to_owned(),
            name: description.name().unwrap_or_default().to_owned(),
            status,
            start_date: date(Some(description.start_date())),
            stop_date: date(description.stop_date()),
            input: description.input().unwrap_or_default().to_owned(),
            output: description.output().map(str::to_owned),
            error: description.error().map(str::to_owned),
            cause: description.cause().map(str::to_owned),
        },
        events: Vec::new(),
    }
}

/// The local executor's status for one the Step Functions API reports
/// after the execution ended.
fn execution_status(status: &aws_sdk_sfn::types::ExecutionStatus) -> ExecutionStatus {
    use aws_sdk_sfn::types::ExecutionStatus as Api;
    match status {
        Api::Succeeded => ExecutionStatus::Succeeded,
        Api::TimedOut => ExecutionStatus::TimedOut,
        Api::Aborted => ExecutionStatus::Aborted,
        _ => ExecutionStatus::Failed,
    }
}

/// Polls an execution until it no longer runs, within `EXECUTION_TIMEOUT`.
async fn wait_for_execution(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let deadline = Instant::now() + EXECUTION_TIMEOUT;
    loop {
        let description = sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .unwrap_or_else(|error| panic!("DescribeExecution: {error:?}"));
        if description.status().as_str() != "RUNNING" {
            return description;
        }
        if Instant::now() > deadline {
            panic!(
                "the execution still runs after {} s",
                EXECUTION_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The types of an execution's history events, for a failure's message
/// (none if the history cannot be read).
async fn execution_steps(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> Vec<String> {
    let history = sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .send()
        .await;
    history
        .map(|history| {
            history
                .events()
                .iter()
                .map(|event| format!("{:?}", event.r#type()))
                .collect()
        })
        .unwrap_or_default()
}

/// The member account's SDK configuration: an assumed role in it.
async fn member_config(central: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    local_stack::assumed_config(
        central,
        MEMBER_ACCOUNT,
        MEMBER_ADMIN_ROLE,
        "moat-terraform-apply-test",
    )
    .await
    .unwrap_or_else(|error| panic!("AssumeRole into the member account: {error}"))
}

/// The primary region's executor: Moat's six functions, each started
/// through its launcher (written after the apply), with the primary moto for
/// the functions and the state machine's service integrations.
fn primary_executor(spec: &StackSpec, moto: &Moto, launchers: &Path) -> ExecutorConfig {
    let functions = spec
        .functions
        .iter()
        .map(|(function, settings)| {
            let mut config =
                FunctionConfig::new(spec.function_name_of(function), launchers.join(function))
                    .timeout(Duration::from_secs(settings.timeout_seconds))
                    .memory_mb(u32::try_from(settings.memory_mb).unwrap_or(u32::MAX));
            for (key, value) in moto.env() {
                config = config.env(key, value);
            }
            config.env("RUST_LOG", "info")
        })
        .collect();
    ExecutorConfig {
        functions,
        region: moto.region().to_owned(),
        account_id: ACCOUNT.to_owned(),
        aws_endpoint_urls: HashMap::from([(moto.region().to_owned(), moto.endpoint_url())]),
        sfn_endpoint_urls: HashMap::new(),
        virtual_time: true,
        function_logs: LogSink::Discard,
        role_arn: format!(
            "arn:aws:iam::{ACCOUNT}:role/{}",
            spec.state_machine_role_in(moto.region())
        ),
    }
}

/// The DR region's executor: no function, since the change runs in the
/// primary region only, and the DR moto for the service integrations.
fn dr_executor(spec: &StackSpec, moto: &Moto) -> ExecutorConfig {
    ExecutorConfig {
        region: spec.regions.secondary.clone(),
        account_id: ACCOUNT.to_owned(),
        role_arn: format!(
            "arn:aws:iam::{ACCOUNT}:role/{}",
            spec.state_machine_role_in(&spec.regions.secondary)
        ),
        aws_endpoint_urls: HashMap::from([(spec.regions.secondary.clone(), moto.endpoint_url())]),
        ..ExecutorConfig::default()
    }
}

/// The debug build of a function (`MOAT_FUNCTIONS_DIR` overrides where).
fn function_binary(function: &str) -> PathBuf {
    local_stack::pipeline::functions_dir().join(function)
}

/// A launcher: sets the function's Lambda environment variables, then
/// becomes the function binary (same process, so the executor's kill
/// reaches it).
fn write_launcher(path: &Path, binary: &Path, environment: &BTreeMap<String, String>) {
    use std::os::unix::fs::PermissionsExt;
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let mut script = String::from("#!/bin/sh\n");
    for (name, value) in environment {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "not a variable name: {name}"
        );
        script.push_str(&format!("export {name}={}\n", quote(value)));
    }
    script.push_str(&format!("exec {}\n", quote(&binary.display().to_string())));
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A JSON-protocol call to moto, unsigned but with the credential scope moto
/// reads the region and account from.
async fn json_rpc(
    endpoint: &str,
    region: &str,
    service: &str,
    version: &str,
    target: &str,
    body: Value,
) -> Result<Value, String> {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::post(endpoint)
        .header("content-type", format!("application/x-amz-json-{version}"))
        .header("x-amz-target", target)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0",
                local_aws::ACCESS_KEY_ID
            ),
        )
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .map_err(|error| error.to_string())?;
    let call = async {
        let response = client
            .request(request)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            return Err(format!("{target} answered {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|error| format!("{target}: {error}: {text}"))
    };
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .map_err(|_| format!("{target}: no answer in 30 s"))?
}

/// A REST-JSON GET to moto (EventBridge Scheduler's protocol), unsigned
/// but with the credential scope moto reads the service, region and
/// account from.
async fn rest_get(
    endpoint: &str,
    region: &str,
    service: &str,
    path: &str,
) -> Result<Value, String> {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::get(format!("{endpoint}{path}"))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0",
                local_aws::ACCESS_KEY_ID
            ),
        )
        .body(Full::new(bytes::Bytes::new()))
        .map_err(|error| error.to_string())?;
    let call = async {
        let response = client
            .request(request)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            return Err(format!("GET {path} answered {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|error| format!("GET {path}: {error}: {text}"))
    };
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .map_err(|_| format!("GET {path}: no answer in 30 s"))?
}

/// One region's local Step Functions endpoint, served in-process.
struct StatesEndpoint {
    address: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl StatesEndpoint {
    async fn start(config: ExecutorConfig) -> StatesEndpoint {
        let server = Server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)
            .await
            .unwrap_or_else(|error| panic!("binding the Step Functions endpoint: {error}"));
        let address = server.local_addr().unwrap();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stop.await;
        }));
        StatesEndpoint {
            address,
            shutdown,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The region's SDK configuration, pointed at this endpoint.
    fn sdk_config(&self, region: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        region.to_builder().endpoint_url(self.url()).build()
    }

    /// Stops serving, which stops any execution and kills every function
    /// process the endpoint started.
    async fn stop(self) {
        let _ = self.shutdown.send(());
        if tokio::time::timeout(SERVER_STOP_TIMEOUT, self.task)
            .await
            .is_err()
        {
            eprintln!(
                "the Step Functions endpoint {} did not stop within {} s",
                self.address,
                SERVER_STOP_TIMEOUT.as_secs()
            );
        }
    }
}

/// A temporary directory, removed when the test ends.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn new() -> WorkDir {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "moat-terraform-apply-{}-{unique}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        WorkDir { path }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Terraform on a copy of `infra/` and `statemachines/`, as `cargo xtask
/// infra check` runs it: providers from the mirror only, nothing in the tree.
struct Terraform {
    root: PathBuf,
    cli_config: PathBuf,
    vars: Vec<String>,
    /// Where Terraform's output goes, one file per command, kept for a
    /// failure's message.
    logs: PathBuf,
}

impl Terraform {
    fn prepare(work: &WorkDir, spec: &StackSpec, stack: &LocalStack) -> Terraform {
        let workspace = local_aws::workspace_root();
        let tree = work.path.join("tree");
        for dir in ["infra", "statemachines"] {
            copy_dir(&workspace.join(dir), &tree.join(dir));
        }
        // Stand-in zips: moto stores the code and never runs it.
        let artifacts = work.path.join("artifacts");
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(tree.join("infra").join(ROOT).join("fixtures/manifest.json"))
                .unwrap(),
        )
        .unwrap();
        for function in spec.functions.keys() {
            let zip = manifest["functions"][function]["zip"]
                .as_str()
                .unwrap_or_else(|| panic!("the manifest fixture lacks {function}"));
            write_stand_in_zip(&artifacts.join(zip), function);
        }
        let logs = work.path.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let vars = [
            ("primary_endpoint", stack.primary.endpoint_url()),
            ("dr_endpoint", stack.dr.endpoint_url()),
            ("primary_states_endpoint", stack.primary_states.url()),
            ("dr_states_endpoint", stack.dr_states.url()),
            ("artifacts_root", artifacts.display().to_string()),
        ]
        .into_iter()
        .map(|(name, value)| format!("-var={name}={value}"))
        .collect();
        Terraform {
            root: tree.join("infra").join(ROOT),
            cli_config: workspace.join("infra/terraformrc.hcl"),
            vars,
            logs,
        }
    }

    async fn init(&self) {
        self.run("init", &["init", "-input=false", "-no-color"], INIT_TIMEOUT)
            .await;
    }

    async fn apply(&self) {
        let started = Instant::now();
        self.run(
            "apply",
            &self.with_vars(&[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-parallelism=30",
            ]),
            APPLY_TIMEOUT,
        )
        .await;
        eprintln!("terraform apply: {:.1} s", started.elapsed().as_secs_f64());
    }

    /// Destroys what the apply made. A failure is reported, not a test
    /// failure, because moto throws the stack away anyway.
    async fn destroy(&self) {
        let started = Instant::now();
        let destroyed = self
            .try_run(
                "destroy",
                &self.with_vars(&[
                    "destroy",
                    "-auto-approve",
                    // Nothing changed behind Terraform's back but the bucket
                    // policy the change took away (deleting it again is a
                    // no-op), and refreshing ~150 resources first would
                    // double the time.
                    "-refresh=false",
                    "-input=false",
                    "-no-color",
                    "-parallelism=30",
                ]),
                DESTROY_TIMEOUT,
            )
            .await;
        match destroyed {
            Ok(()) => eprintln!(
                "terraform destroy: {:.1} s",
                started.elapsed().as_secs_f64()
            ),
            Err(error) => {
                eprintln!("terraform destroy failed (best effort, not a test failure): {error}")
            }
        }
    }

    fn with_vars(&self, args: &[&str]) -> Vec<String> {
        args.iter()
            .map(|arg| (*arg).to_owned())
            .chain(self.vars.iter().cloned())
            .collect()
    }

    /// A Terraform command in the root, its stdout to `stdout` and its
    /// stderr to `stderr` (both files).
    fn command(&self, args: &[impl AsRef<str>], stdout: &Path, stderr: &Path) -> Command {
        let stdout = std::fs::File::create(stdout).unwrap();
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr)
            .unwrap();
        let mut command = Command::new("terraform");
        command
            .current_dir(&self.root)
            .args(args.iter().map(AsRef::as_ref))
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            // Nothing from this machine's AWS configuration, and a closed
            // loopback port for any service the root has no endpoint for.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("TF_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own process group, so a timeout stops the providers too.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    async fn run(&self, name: &str, args: &[impl AsRef<str>], timeout: Duration) {
        self.try_run(name, args, timeout)
            .await
            .unwrap_or_else(|error| panic!("{error}"));
    }

    async fn try_run(
        &self,
        name: &str,
        args: &[impl AsRef<str>],
        timeout: Duration,
    ) -> Result<(), String> {
        let log = self.logs.join(format!("{name}.log"));
        let stderr = self.logs.join(format!("{name}.stderr.log"));
        let mut child = self.command(args, &log, &stderr).spawn().map_err(|error| {
            format!("starting terraform {name} (is terraform on PATH?): {error}")
        })?;
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => status.map_err(|error| error.to_string())?,
            Err(_) => {
                if let Some(pid) = child.id() {
                    kill_group(pid).await;
                }
                let _ = child.wait().await;
                return Err(format!(
                    "terraform {name} did not finish within {} s:\n{}\n{}",
                    timeout.as_secs(),
                    tail(&log),
                    tail(&stderr)
                ));
            }
        };
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "terraform {name} failed ({status}):\n{}\n{}",
                tail(&log),
                tail(&stderr)
            ))
        }
    }

    async fn outputs(&self) -> Value {
        self.run("output", &["output", "-json", "-no-color"], OUTPUT_TIMEOUT)
            .await;
        let text = std::fs::read_to_string(self.logs.join("output.log")).unwrap();
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("terraform output -json: {error}:\n{text}"))
    }
}

/// Stops a timed-out Terraform and the provider processes it started: the
/// process group of the child this test started, by its id.
async fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(format!("-{pid}"))
        .status()
        .await;
}

/// The last part of a log, for a failure's message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A zip holding one small `bootstrap`, written by the moto venv's Python
/// (`python -m zipfile`), which every local test already needs.
fn write_stand_in_zip(zip: &Path, function: &str) {
    let dir = zip.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let bootstrap = dir.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!("#!/bin/sh\n# stand-in for Moat's {function}: moto never runs it\n"),
    )
    .unwrap();
    let python = local_aws::installed_python().unwrap_or_else(|error| panic!("{error}"));
    let status = std::process::Command::new(python)
        .current_dir(dir)
        .args(["-m", "zipfile", "-c"])
        .arg(zip)
        .arg("bootstrap")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "python -m zipfile -c {}: {status}",
        zip.display()
    );
}

/// Copies a directory, leaving out what a local `terraform init` or an
/// operator may have left in `infra/` (as `cargo xtask infra check` does).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let local = name == ".terraform"
            || name == ".terraform.lock.hcl"
            || name.contains(".tfstate")
            || name.ends_with(".tfvars")
            || name.ends_with(".tfplan")
            || name == "backend.hcl";
        if local {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&*name));
        } else {
            std::fs::copy(entry.path(), to.join(&*name)).unwrap();
        }
    }
}
