//! `cargo xtask bench sweep [--groups N] [--json]`: Moat's sweep against
//! Cloud Custodian on the same fleet, in one run.
//!
//! The fleet ([`fleet`]) is made in the local stack's moto with no events.
//! Moat sweeps it first ([`moat`]): one sweep execution through the local
//! Step Functions endpoint, timed to the end of the last remediation it
//! started. moto is then reset and the same groups made again, and c7n's
//! `custodian run` of `bench/custodian-sweep.yml` is timed on them
//! ([`custodian`]). After each tool, moto is read back; the command fails
//! unless both fixed exactly the same groups and neither touched a clean
//! one. Last, the per-change bench runs a few changes on a fresh stack, so
//! the report also carries Moat's warm latency for one change.
//!
//! Creating the fleet is not part of either tool's time; it is printed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use local_stack::LocalStack;
use local_stack::pipeline::{Pipeline, PipelineOptions};
use serde_json::{Value, json};

use super::{custodian, fleet, moat};
use crate::{build, setup};

pub(super) const USAGE: &str = "\
usage: cargo xtask bench sweep [--groups N] [--changes M] [--max-environments K] [--json]

  --groups N            security groups in the fleet, about 98% open to SSH (default 5000)
  --changes M           changes for the per-change warm median (default 5, at least 2)
  --max-environments K  environments per function at once: this machine's bound (default 8)
  --json                print one JSON object with every figure";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Options {
    pub groups: usize,
    pub changes: usize,
    pub max_environments: usize,
    pub json: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            groups: 5000,
            changes: 5,
            max_environments: 8,
            json: false,
        }
    }
}

pub(super) fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("groups") => options.groups = number(&mut parser, "--groups")?,
            Long("changes") => options.changes = number(&mut parser, "--changes")?,
            Long("max-environments") => {
                options.max_environments = number(&mut parser, "--max-environments")?
            }
            Long("json") => options.json = true,
            Long("help") | Short('h') => return Ok(None),
            other => return Err(other.unexpected().into()),
        }
    }
    if options.groups < 2 || options.changes < 2 || options.max_environments < 1 {
        bail!(
            "--groups and --changes need at least 2 (a violator and a clean group; a cold change and a warm one), --max-environments at least 1"
        );
    }
    Ok(Some(options))
}

fn number(parser: &mut lexopt::Parser, flag: &str) -> anyhow::Result<usize> {
    use lexopt::ValueExt;
    let value = parser.value()?.string()?;
    value
        .parse()
        .map_err(|_| anyhow!("{flag} {value} is not a number"))
}

pub(super) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        println!("{USAGE}");
        return Ok(());
    };
    build::function_binaries("bench sweep")?;
    let custodian = tools()?;
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(bench(&options, &custodian))?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.print();
    }
    if !report.problems.is_empty() {
        bail!("the sweep bench failed:\n{}", report.problems.join("\n"));
    }
    Ok(())
}

/// Installs what the bench runs besides Moat's binaries: moto and c7n,
/// each in its venv. Gives the `custodian` command.
pub(super) fn tools() -> anyhow::Result<PathBuf> {
    setup::ensure_moto()?;
    setup::ensure_c7n()
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub(super) struct Report {
    pub options: Options,
    pub violators: usize,
    /// Making the fleet, before Moat and again before Custodian.
    pub creation: [Duration; 2],
    pub moat: moat::Run,
    pub moat_fixed: BTreeSet<String>,
    pub custodian: custodian::Run,
    pub custodian_fixed: BTreeSet<String>,
    /// The per-change bench: the cold change and the warm median, in ms.
    pub change_cold_ms: i64,
    pub change_warm_median_ms: i64,
    /// What makes the run a failure: groups fixed by one tool only, clean
    /// groups touched, remediations that failed. Empty for a good run.
    pub problems: Vec<String>,
}

/// Runs the whole comparison. A run whose tools fixed different groups
/// (or touched a clean one, or whose remediations failed) still gives its
/// figures, with those problems named in `problems`.
pub(super) async fn bench(options: &Options, custodian_command: &Path) -> anyhow::Result<Report> {
    let plan = fleet::Plan::new(options.groups, fleet::SEED);
    let (spec, stack) = LocalStack::start_primary().await?;
    let pipeline_options = PipelineOptions {
        virtual_time: false,
        max_environments: Some(options.max_environments),
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&spec, &stack, &pipeline_options).await?;
    eprintln!("bench sweep: making {} groups in moto", options.groups);
    let made = fleet::make(&stack.config, &plan).await?;
    eprintln!(
        "bench sweep: made in {:.1} s; Moat sweeps",
        made.took.as_secs_f64()
    );
    let name = format!("bench-sweep-{}", std::process::id());
    let patience = moat::patience(options.groups);
    let moat_run = moat::sweep(&pipeline, stack.region(), &name, patience).await?;
    let moat_seen = fleet::read(&stack.config, &plan, &made.vpc_id).await?;
    pipeline.shutdown().await;
    stack
        .moto
        .reset()
        .context("resetting moto for Custodian's run")?;
    let again = fleet::make(&stack.config, &plan).await?;
    eprintln!(
        "bench sweep: Moat took {:.1} s; same groups made again in {:.1} s; Custodian runs",
        moat_run.took.as_secs_f64(),
        again.took.as_secs_f64()
    );
    let custodian_run = custodian::run(custodian_command, &stack.moto).await?;
    let custodian_seen = fleet::read(&stack.config, &plan, &again.vpc_id).await?;
    drop(stack);
    let moat_fixed = moat_seen.fixed(&plan);
    let custodian_fixed = custodian_seen.fixed(&plan);
    let problems: Vec<String> = [
        compare(&moat_fixed, &custodian_fixed),
        untouched("Moat", &moat_seen),
        untouched("Custodian", &custodian_seen),
        failed_remediations(&moat_run),
    ]
    .into_iter()
    .filter_map(|checked| checked.err().map(|error| error.to_string()))
    .collect();
    eprintln!(
        "bench sweep: compared ({} problems); the per-change bench runs",
        problems.len()
    );
    let changes = super::measure(options.changes).await?;
    Ok(Report {
        options: options.clone(),
        violators: plan.violators().len(),
        creation: [made.took, again.took],
        moat: moat_run,
        moat_fixed,
        custodian: custodian_run,
        custodian_fixed,
        change_cold_ms: changes.cold(),
        change_warm_median_ms: changes.warm_median(),
        problems,
    })
}

/// Fails when remediation executions of the sweep did not succeed, with
/// their number by error and the first one's story.
fn failed_remediations(run: &moat::Run) -> anyhow::Result<()> {
    let Some(first) = &run.first_failure else {
        return Ok(());
    };
    let count: usize = run.failed.values().sum();
    bail!(
        "{count} of {} remediation executions did not succeed {:?}; the first: {first}",
        run.remediations,
        run.failed
    )
}

/// Fails unless both tools fixed the same groups, naming those only one
/// of them fixed.
pub(super) fn compare(moat: &BTreeSet<String>, custodian: &BTreeSet<String>) -> anyhow::Result<()> {
    if moat == custodian {
        return Ok(());
    }
    // A handful of names says which groups; thousands would bury the rest
    // of the report.
    let only = |fixed: &BTreeSet<String>, other: &BTreeSet<String>| {
        let names: Vec<&String> = fixed.difference(other).collect();
        let shown: Vec<&str> = names.iter().take(10).map(|name| name.as_str()).collect();
        match names.len().saturating_sub(shown.len()) {
            0 => shown.join(", "),
            more => format!("{} and {more} more", shown.join(", ")),
        }
    };
    bail!(
        "Moat and Custodian fixed different groups: only Moat fixed [{}]; only Custodian fixed [{}]",
        only(moat, custodian),
        only(custodian, moat)
    )
}

/// Fails when a tool revoked the rule of a clean group.
fn untouched(tool: &str, seen: &fleet::Seen) -> anyhow::Result<()> {
    if seen.clean_touched.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = seen.clean_touched.iter().map(String::as_str).collect();
    bail!(
        "{tool} changed the rules of clean groups: {}",
        names.join(", ")
    )
}

impl Report {
    fn ratio(&self) -> f64 {
        self.moat.took.as_secs_f64() / self.custodian.took.as_secs_f64().max(f64::EPSILON)
    }

    fn moat_ms_per_thousand(&self) -> f64 {
        millis(self.moat.took) * 1000.0 / self.options.groups as f64
    }

    pub(super) fn to_json(&self) -> Value {
        let moat = &self.moat;
        json!({
            "groups": self.options.groups,
            "violators": self.violators,
            "seed": fleet::SEED,
            "maxEnvironments": self.options.max_environments,
            "creationMs": [millis(self.creation[0]), millis(self.creation[1])],
            "moat": {
                "ms": millis(moat.took),
                "fixed": self.moat_fixed.len(),
                "msPerThousandGroups": self.moat_ms_per_thousand(),
                "sweepHistoryEvents": moat.sweep_events,
                "mapChildren": moat.children,
                "largestChildHistoryEvents": moat.largest_child_events,
                "longestChildMs": millis(moat.longest_child),
                "remediationsStarted": moat.remediations,
                "remediationsFailed": moat.failed,
                "sweepStatesMs": moat.sweep_states.iter().map(|s| json!({"state": s.name, "ms": s.milliseconds})).collect::<Vec<_>>(),
                "remediationStatesMedianMs": moat.remediation_states.iter().map(|(name, ms)| json!({"state": name, "ms": ms})).collect::<Vec<_>>(),
                "functions": moat.functions.iter().map(|(name, (count, total, init))| json!({"function": name, "invocations": count, "totalMs": total, "coldStartMs": init})).collect::<Vec<_>>(),
            },
            "custodian": {
                "ms": millis(self.custodian.took),
                "fixed": self.custodian_fixed.len(),
                "matched": self.custodian.matched,
            },
            "ratioMoatToCustodian": self.ratio(),
            "problems": self.problems,
            "goalMet": self.ratio() <= 1.0 / 3.0,
            "perChange": {
                "changes": self.options.changes,
                "coldMs": self.change_cold_ms,
                "warmMedianMs": self.change_warm_median_ms,
            },
        })
    }

    fn print(&self) {
        let moat = &self.moat;
        println!(
            "sweep bench: {} groups, {} open to SSH from anywhere (seed {:#x}), debug binaries, {} environments per function",
            self.options.groups,
            self.violators,
            fleet::SEED,
            self.options.max_environments
        );
        println!(
            "  making the fleet: {:.1} s (Moat's), {:.1} s (Custodian's)",
            self.creation[0].as_secs_f64(),
            self.creation[1].as_secs_f64()
        );
        println!(
            "  Moat:      {:>9.1} s, fixed {}",
            moat.took.as_secs_f64(),
            self.moat_fixed.len()
        );
        println!(
            "  Custodian: {:>9.1} s, fixed {} (matched {})",
            self.custodian.took.as_secs_f64(),
            self.custodian_fixed.len(),
            self.custodian.matched
        );
        println!(
            "  Moat / Custodian: {:.2} (goal <= 0.33: {})",
            self.ratio(),
            if self.ratio() <= 1.0 / 3.0 {
                "met"
            } else {
                "not met"
            }
        );
        println!("Moat's sweep:");
        println!(
            "  {:.0} ms per 1,000 groups; {} remediation executions started",
            self.moat_ms_per_thousand(),
            moat.remediations
        );
        let largest = moat.largest_child_events.map_or_else(
            || "not served by the endpoint".to_owned(),
            |events| events.to_string(),
        );
        println!(
            "  history events: sweep {}, largest of {} map children {largest}; longest child {:.1} s",
            moat.sweep_events,
            moat.children,
            moat.longest_child.as_secs_f64()
        );
        println!("  sweep states:");
        for state in &moat.sweep_states {
            println!("    {:<30} {:>9} ms", state.name, state.milliseconds);
        }
        println!("  remediation states (median):");
        for (state, ms) in &moat.remediation_states {
            println!("    {state:<30} {ms:>9} ms");
        }
        println!("  functions (invocations, total, of which cold starts):");
        for (function, (count, total, init)) in &moat.functions {
            println!(
                "    {function:<30} {count:>6} {:>9.1} s {:>7.1} s",
                total / 1000.0,
                init / 1000.0
            );
        }
        println!(
            "per change ({} changes, one at a time): cold {} ms, warm median {} ms",
            self.options.changes, self.change_cold_ms, self.change_warm_median_ms
        );
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
