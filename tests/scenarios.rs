//! The demo's scenario as a test: five groups, five changes, one duplicate
//! delivery, through the production EventBridge rule, the exact state
//! machine and the real function binaries, checked against moto.

use std::time::Duration;

use local_stack::LocalStack;
use local_stack::demo::{self, timeline};
use local_stack::pipeline::{Pipeline, PipelineOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenario_is_caught_fixed_backed_up_and_announced_once() {
    let (spec, stack) = LocalStack::start_primary()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap_or_else(|error| panic!("{error}"));

    let scenario = demo::play(&stack).await.unwrap();
    let results = pipeline
        .run_delivered(
            &stack,
            scenario.expected_executions(),
            Duration::from_secs(120),
        )
        .await
        .unwrap();
    let outcome = demo::verify(&stack, &spec, &scenario, &results)
        .await
        .unwrap();

    let failed: Vec<_> = outcome
        .checks
        .iter()
        .filter(|check| !check.passed)
        .collect();
    assert!(
        failed.is_empty(),
        "failed checks: {failed:#?}\nrows: {:#?}",
        outcome.rows
    );
    for result in &results {
        let states: Vec<String> = timeline(result)
            .into_iter()
            .map(|state| state.name)
            .collect();
        assert_eq!(
            states.first().map(String::as_str),
            Some("Detect"),
            "{states:?}"
        );
    }
    pipeline.shutdown().await;
}
