//! `cargo xtask bench [--changes N]`: how fast a change is remediated on the
//! local stack, end to end: from the EC2 call to the end of its execution,
//! for a cold pipeline (first change) and a warm one (the rest), and how long
//! each state takes.
//!
//! `cargo xtask bench sweep` ([`sweep`]) is the other bench: one sweep of
//! a fleet of groups by Moat, against Cloud Custodian on the same fleet.
//!
//! The changes are made one after another, each waiting for the previous
//! execution, so the first meets cold functions and the others warm ones, as
//! a quiet production account would. Times are real (no virtual clock).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use local_stack::LocalStack;
use local_stack::changes::{Actor, Changes, Opening};
use local_stack::demo::{StateTime, stopped_at, timeline};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use sfn_local::ExecutionStatus;

use crate::{build, setup};

mod custodian;
mod fleet;
mod moat;
mod sweep;
#[cfg(test)]
mod sweep_tests;

const USAGE: &str = "\
usage: cargo xtask bench [--changes N]   (N >= 2, default 10)
       cargo xtask bench sweep [--groups N] [--json]   (Moat's sweep against Cloud Custodian; sweep --help)";

/// How long to wait for EventBridge to deliver one change.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(60);

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Args {
    Help,
    Bench { changes: usize },
}

fn parse(args: Vec<String>) -> anyhow::Result<Args> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut changes = 10usize;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("changes") => {
                let value = parser.value()?.string()?;
                changes = value
                    .parse()
                    .map_err(|_| anyhow!("--changes {value} is not a number"))?;
            }
            Long("help") | Short('h') => return Ok(Args::Help),
            other => return Err(other.unexpected().into()),
        }
    }
    if changes < 2 {
        bail!("--changes must be at least 2 (one cold, one warm)");
    }
    Ok(Args::Bench { changes })
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    if args.first().is_some_and(|command| command == "sweep") {
        return sweep::run(args[1..].to_vec());
    }
    let changes =
        match parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))? {
            Args::Help => {
                println!("{USAGE}");
                return Ok(());
            }
            Args::Bench { changes } => changes,
        };
    build::function_binaries("bench")?;
    setup::ensure_moto()?;
    let timings = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(measure(changes))?;
    timings.print();
    Ok(())
}

/// What the bench measured, change by change.
#[derive(Debug, Default)]
struct Timings {
    /// From each change's EC2 call to the end of its execution, in order.
    latencies: Vec<i64>,
    /// The time in each state of every warm execution, in the order the
    /// states ran, as the console lists them.
    per_state: Vec<(String, Vec<i64>)>,
}

async fn measure(count: usize) -> anyhow::Result<Timings> {
    let (spec, stack) = LocalStack::start_primary().await?;
    let options = PipelineOptions {
        virtual_time: false,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&spec, &stack, &options).await?;
    let changes = Changes::new(&stack);
    let vpc = changes.create_vpc("10.50.0.0/16").await?;
    let mut timings = Timings::default();
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
        let results = pipeline.run_delivered(&stack, 1, DELIVERY_PATIENCE).await?;
        let Some(result) = results.first() else {
            bail!("change {index} was not delivered within {DELIVERY_PATIENCE:?}");
        };
        if result.description.status != ExecutionStatus::Succeeded {
            bail!(
                "change {index} ended {:?}: {:?}",
                result.description.status,
                result.description.error
            );
        }
        let stop = stopped_at(result).with_context(|| {
            format!(
                "change {index}: the execution's stop date `{}` is not RFC 3339",
                result.description.stop_date
            )
        })?;
        timings.latencies.push((stop - made_at).num_milliseconds());
        if index > 0 {
            timings.add_states(timeline(result));
        }
    }
    pipeline.shutdown().await;
    Ok(timings)
}

impl Timings {
    /// The first change's latency: the cold pipeline's.
    fn cold(&self) -> i64 {
        self.latencies[0]
    }

    /// The median latency of the warm changes (all but the first).
    fn warm_median(&self) -> i64 {
        let mut warm = self.latencies[1..].to_vec();
        warm.sort_unstable();
        percentile(&warm, 50)
    }

    fn add_states(&mut self, states: Vec<StateTime>) {
        for state in states {
            match self
                .per_state
                .iter_mut()
                .find(|(name, _)| *name == state.name)
            {
                Some((_, times)) => times.push(state.milliseconds),
                None => self.per_state.push((state.name, vec![state.milliseconds])),
            }
        }
    }

    /// Prints the cold latency, the warm ones' spread, and the median time
    /// in each state. `measure` runs at least two changes, so there is a cold
    /// one and a warm one.
    fn print(&self) {
        let count = self.latencies.len();
        let mut warm = self.latencies[1..].to_vec();
        warm.sort_unstable();
        println!("change -> remediated and announced, {count} changes, one at a time:");
        println!("  cold (first change): {} ms", self.latencies[0]);
        println!(
            "  warm: median {} ms, p90 {} ms, min {} ms, max {} ms",
            percentile(&warm, 50),
            percentile(&warm, 90),
            warm[0],
            warm[warm.len() - 1]
        );
        println!("per state, warm (median ms):");
        for (state, times) in &self.per_state {
            let mut times = times.clone();
            times.sort_unstable();
            println!("  {state:<30} {:>5}", percentile(&times, 50));
        }
    }
}

fn percentile(sorted: &[i64], percent: usize) -> i64 {
    let index = (sorted.len() * percent).div_ceil(100).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    fn error(arguments: &[&str]) -> String {
        parse(args(arguments)).unwrap_err().to_string()
    }

    #[test]
    fn parses_changes_and_help() {
        assert_eq!(parse(args(&[])).unwrap(), Args::Bench { changes: 10 });
        assert_eq!(
            parse(args(&["--changes", "3"])).unwrap(),
            Args::Bench { changes: 3 }
        );
        assert_eq!(
            parse(args(&["--changes=4"])).unwrap(),
            Args::Bench { changes: 4 }
        );
        assert_eq!(parse(args(&["--help"])).unwrap(), Args::Help);
        assert_eq!(parse(args(&["-h"])).unwrap(), Args::Help);
    }

    #[test]
    fn usage_errors_name_the_bad_flag_or_value() {
        let missing = error(&["--changes"]);
        assert!(
            missing.contains("missing") && missing.contains("--changes"),
            "{missing}"
        );
        let unknown = error(&["--change", "3"]);
        assert!(unknown.contains("--change"), "{unknown}");
        let not_a_number = error(&["--changes", "many"]);
        assert_eq!(not_a_number, "--changes many is not a number");
        let too_few = error(&["--changes", "1"]);
        assert!(too_few.contains("at least 2"), "{too_few}");
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&sorted, 50), 50);
        assert_eq!(percentile(&sorted, 90), 90);
        assert_eq!(percentile(&[7], 90), 7);
    }
}
