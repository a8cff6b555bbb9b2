//! A tiny Lambda function for the executor's tests, built with
//! `lambda_runtime` exactly as Moat's functions are. What it does depends on
//! its input's `action`: `succeed`, `fail` (a typed error), `panic`, `sleep`
//! (past the timeout), `exit` (a crash) and `env` (reports its environment).
//! Every answer says whether the environment was cold or warm.

use std::sync::atomic::{AtomicU64, Ordering};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let count = INVOCATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    let input = event.payload;
    let warmth = json!({"cold": count == 1, "invocations": count, "pid": std::process::id()});
    match input
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("succeed")
    {
        "fail" => Err(Diagnostic {
            error_type: input
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("TestError")
                .to_owned(),
            error_message: input
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("it failed")
                .to_owned(),
        }),
        "fail-until" => {
            // Fails until the environment has seen `attempts` invocations.
            let attempts = input.get("attempts").and_then(Value::as_u64).unwrap_or(2);
            if count < attempts {
                Err(Diagnostic {
                    error_type: "Flaky".to_owned(),
                    error_message: format!("attempt {count}"),
                })
            } else {
                Ok(json!({"succeededOn": count}))
            }
        }
        "panic" => panic!("the test function panicked on purpose"),
        "sleep" => {
            let seconds = input.get("seconds").and_then(Value::as_u64).unwrap_or(60);
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            Ok(json!({"slept": seconds}))
        }
        "exit" => std::process::exit(3),
        "env" => {
            let names = [
                "AWS_LAMBDA_RUNTIME_API",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_FUNCTION_TIMEOUT",
                "AWS_REGION",
                "MOAT_SETTING",
            ];
            let env: serde_json::Map<String, Value> = names
                .iter()
                .map(|n| {
                    (
                        (*n).to_owned(),
                        std::env::var(n).map_or(Value::Null, Value::String),
                    )
                })
                .collect();
            Ok(
                json!({"env": env, "functionArn": event.context.invoked_function_arn, "warmth": warmth}),
            )
        }
        _ => Ok(
            json!({"echo": input.get("value").cloned().unwrap_or(Value::Null), "warmth": warmth}),
        ),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handler)).await
}
