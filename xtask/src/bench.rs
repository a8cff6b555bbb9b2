//! `cargo xtask bench [--changes N]`: how fast a change is remediated on the
//! local stack, end to end: from the EC2 call to the end of its execution,
//! for a cold pipeline (first change) and a warm one (the rest), and how long
//! each state takes.
//!
//! The changes are made one after another, each waiting for the previous
//! execution, so the first meets cold functions and the others warm ones, as
//! a quiet production account would. Times are real (no virtual clock).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use local_stack::LocalStack;
use local_stack::changes::{Actor, Changes, Opening};
use local_stack::demo::timeline;
use local_stack::pipeline::{Pipeline, PipelineOptions};
use sfn_local::ExecutionStatus;

use crate::setup;

const USAGE: &str = "usage: cargo xtask bench [--changes N]   (N >= 2, default 10)";

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut changes = 10usize;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--changes" => {
                let value = args.next().context("--changes needs a number")?;
                changes = value
                    .parse()
                    .with_context(|| format!("--changes {value} is not a number"))?;
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if changes < 2 {
        bail!("--changes must be at least 2 (one cold, one warm)\n\n{USAGE}");
    }
    crate::demo::build_functions()?;
    setup::ensure_moto()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(measure(changes))
}

async fn measure(count: usize) -> anyhow::Result<()> {
    let (spec, stack) = LocalStack::start_primary().await?;
    let options = PipelineOptions {
        virtual_time: false,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&spec, &stack, &options)?;
    let changes = Changes::new(&stack);
    let vpc = changes.create_vpc("10.50.0.0/16").await?;
    let mut latencies = Vec::new();
    // In the order the states ran, as the console lists them.
    let mut per_state: Vec<(String, Vec<i64>)> = Vec::new();
    for index in 0..count {
        let group = changes
            .existing_group(&vpc, &format!("bench-{index}"), &BTreeMap::new())
            .await?;
        let made_at = Utc::now();
        changes
            .authorize_ingress(
                &Actor::developer("bench"),
                &group,
                &Opening::tcp(22, "0.0.0.0/0"),
            )
            .await?;
        let results = pipeline
            .run_delivered(&stack, 1, Duration::from_secs(60))
            .await?;
        let Some(result) = results.first() else {
            bail!("change {index} was not delivered within 60 s");
        };
        if result.description.status != ExecutionStatus::Succeeded {
            bail!(
                "change {index} ended {:?}: {:?}",
                result.description.status,
                result.description.error
            );
        }
        let stop = chrono::DateTime::parse_from_rfc3339(&result.description.stop_date)?;
        latencies.push((stop.with_timezone(&Utc) - made_at).num_milliseconds());
        if index > 0 {
            for state in timeline(result) {
                match per_state.iter_mut().find(|(name, _)| *name == state.name) {
                    Some((_, times)) => times.push(state.milliseconds),
                    None => per_state.push((state.name, vec![state.milliseconds])),
                }
            }
        }
    }
    pipeline.executor.shutdown();
    let mut warm = latencies[1..].to_vec();
    warm.sort_unstable();
    println!("change -> remediated and announced, {count} changes, one at a time:");
    println!("  cold (first change): {} ms", latencies[0]);
    println!(
        "  warm: median {} ms, p90 {} ms, min {} ms, max {} ms",
        percentile(&warm, 50),
        percentile(&warm, 90),
        warm[0],
        warm[warm.len() - 1]
    );
    println!("per state, warm (median ms):");
    for (state, mut times) in per_state {
        times.sort_unstable();
        println!("  {state:<30} {:>5}", percentile(&times, 50));
    }
    Ok(())
}

fn percentile(sorted: &[i64], percent: usize) -> i64 {
    let index = (sorted.len() * percent).div_ceil(100).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}
