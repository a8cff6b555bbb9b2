//! The Step Functions endpoint driven by a client nobody here wrote:
//! boto3 (from the project's moto venv, which moto itself needs), whose
//! botocore checks every response against the service model. A state
//! machine is validated, created and run; the execution is described,
//! listed and read back; a missing execution comes back as boto3's typed
//! `ExecutionDoesNotExist`.

use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;
use sfn_local::{ExecutorConfig, Server};

const CLIENT: &str = r#"
import json, sys, time
import boto3

client = boto3.client(
    "stepfunctions",
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
definition = json.dumps({
    "StartAt": "Double",
    "States": {
        "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"}, "Next": "Big?"},
        "Big?": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Done"}
        ], "Default": "Small"},
        "Small": {"Type": "Fail", "Error": "Small"},
        "Done": {"Type": "Succeed"},
    },
})
report = {}
report["valid"] = client.validate_state_machine_definition(definition=definition)["result"]
machine = client.create_state_machine(
    name="boto3", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn-local"
)["stateMachineArn"]
execution = client.start_execution(stateMachineArn=machine, name="b1", input=json.dumps({"n": 1}))["executionArn"]
for _ in range(200):
    described = client.describe_execution(executionArn=execution)
    if described["status"] != "RUNNING":
        break
    time.sleep(0.05)
report["status"] = described["status"]
report["output"] = json.loads(described["output"])
report["events"] = [event["type"] for event in client.get_execution_history(executionArn=execution)["events"]]
pages = client.get_paginator("list_executions").paginate(stateMachineArn=machine)
report["listed"] = [item["name"] for page in pages for item in page["executions"]]
try:
    client.describe_execution(executionArn=execution + "-missing")
    report["missing"] = "found"
except client.exceptions.ExecutionDoesNotExist:
    report["missing"] = "ExecutionDoesNotExist"
print(json.dumps(report))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_creates_runs_and_reads_back_an_execution() {
    let python = local_aws::installed_python().unwrap_or_else(|error| panic!("{error}"));
    let server = Server::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ExecutorConfig::default(),
    )
    .await
    .expect("bind");
    let endpoint = format!("http://{}", server.local_addr().expect("address"));
    tokio::spawn(server.serve(std::future::pending()));
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", CLIENT, &endpoint])
            // No profile, proxy or real endpoint may leak into the client.
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .expect("python runs")
    })
    .await
    .expect("the client finished");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "boto3 client failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(report["valid"], "OK", "{report}");
    assert_eq!(report["status"], "SUCCEEDED", "{report}");
    assert_eq!(report["output"], serde_json::json!({"n": 2}));
    assert_eq!(report["listed"], serde_json::json!(["b1"]));
    assert_eq!(report["missing"], "ExecutionDoesNotExist");
    let events: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(events.first(), Some(&"ExecutionStarted"));
    assert_eq!(events.last(), Some(&"ExecutionSucceeded"));
    assert!(events.contains(&"ChoiceStateEntered"), "{events:?}");
}
