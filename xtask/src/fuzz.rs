//! `cargo xtask fuzz`: runs each cargo-fuzz target in `fuzz/` for a
//! bounded time and reports, per target, how many inputs it ran, how fast,
//! how large its corpus grew, and whether it found a crash.
//!
//! cargo-fuzz comes pinned from crates.io into `.tools/cargo-fuzz` at the
//! workspace root, installed once ([`ensure_cargo_fuzz`]); the targets build
//! with rustup's nightly toolchain when it is installed, and otherwise with
//! the machine's own toolchain and `RUSTC_BOOTSTRAP=1` (a fresh CI machine
//! has one toolchain; with no sanitizer, cargo-fuzz needs no unstable
//! feature the bootstrap switch does not allow). Each run
//! starts from the committed seeds (`fuzz/seeds/<target>`) and keeps what
//! it finds in `fuzz/corpus/<target>` (ignored by git), so later runs go on
//! from there. A crash leaves its input in `fuzz/artifacts/<target>/`.
//!
//! [`smoke`] is the short form `cargo xtask test` runs: every target for a
//! few seconds, failing on a crash.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

const USAGE: &str = "\
usage: cargo xtask fuzz [--seconds N] [--target T]... [--json]

runs each cargo-fuzz target (fuzz/fuzz_targets) for N seconds, from the
seeds in fuzz/seeds/<target> and the corpus in fuzz/corpus/<target>, and
reports executions, executions per second, corpus size and crashes; fails
when a target crashes (the input is left in fuzz/artifacts/<target>/)

builds with rustup's nightly toolchain if installed, else with the default
toolchain and RUSTC_BOOTSTRAP=1 (--bootstrap forces that); installs
cargo-fuzz into .tools/cargo-fuzz

options:
  --seconds N   how long each target runs (default 60)
  --target T    run only this target; repeatable (default all: cloudtrail_event,
                policy, describe_eval, asl)
  --json        print the figures as one JSON object instead of a table
  --bootstrap   build with the default toolchain and RUSTC_BOOTSTRAP=1 even
                when a nightly toolchain is installed
";

/// The fuzz targets, in the order they run: the cheap domain readers first,
/// the ASL target (whose build brings in sfn-local's SDK crates) last.
const TARGETS: [&str; 4] = ["cloudtrail_event", "policy", "describe_eval", "asl"];

const DEFAULT_SECONDS: u64 = 60;

/// How long each target runs under `cargo xtask test`: long enough to get
/// past the seeds into mutated inputs, short next to the build.
const SMOKE_SECONDS: u64 = 10;

const CARGO_FUZZ_VERSION: &str = "0.13.2";
const CARGO_FUZZ_ROOT: &str = ".tools/cargo-fuzz";
const TOOLCHAIN: &str = "nightly";

#[derive(Debug, PartialEq)]
struct Options {
    seconds: u64,
    targets: Vec<&'static str>,
    json: bool,
    bootstrap: bool,
}

/// Which toolchain builds the instrumented targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolchain {
    /// rustup's nightly toolchain.
    Nightly,
    /// The default toolchain with `RUSTC_BOOTSTRAP=1`.
    Bootstrapped,
}

/// The options, or `None` when `--help` was asked for.
fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        targets: Vec::new(),
        json: false,
        bootstrap: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("seconds") => {
                let text = parser.value()?.string()?;
                options.seconds = match text.parse::<u64>() {
                    Ok(seconds) if seconds > 0 => seconds,
                    _ => bail!("--seconds {text}: expected a whole number of seconds above 0"),
                };
            }
            Long("target") => {
                let name = parser.value()?.string()?;
                let Some(target) = TARGETS.iter().find(|known| **known == name) else {
                    bail!(
                        "--target {name}: no such fuzz target (there are {})",
                        TARGETS.join(", ")
                    );
                };
                if !options.targets.contains(target) {
                    options.targets.push(target);
                }
            }
            Long("json") => options.json = true,
            Long("bootstrap") => options.bootstrap = true,
            Long("help") | Short('h') => return Ok(None),
            other => bail!("{}", other.unexpected()),
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.to_vec();
    }
    Ok(Some(options))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        print!("{USAGE}");
        return Ok(());
    };
    let reports = fuzz(&options.targets, options.seconds, options.bootstrap)?;
    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&reports, options.seconds))?
        );
    } else {
        print!("{}", table(&reports));
    }
    fail_on_crash(&reports)
}

/// What `cargo xtask test` runs: every target for [`SMOKE_SECONDS`].
pub(crate) fn smoke() -> anyhow::Result<()> {
    let reports = fuzz(&TARGETS, SMOKE_SECONDS, false)?;
    print!("{}", table(&reports));
    fail_on_crash(&reports)
}

fn fail_on_crash(reports: &[Report]) -> anyhow::Result<()> {
    let crashed: Vec<String> = reports
        .iter()
        .filter_map(|report| {
            let crash = report.stats.crash.as_ref()?;
            Some(format!("{} ({})", report.target, crash.describe()))
        })
        .collect();
    if !crashed.is_empty() {
        bail!(
            "fuzz target crashed: {}; reproduce with `cargo +nightly fuzz run --fuzz-dir fuzz --sanitizer none <target> <input>` \
             (with .tools/cargo-fuzz/bin on PATH)",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// Installs what the runs need, then runs each target in turn. A crash is
/// part of the report; a target that cannot be built or started stops the
/// whole run.
fn fuzz(targets: &[&'static str], seconds: u64, bootstrap: bool) -> anyhow::Result<Vec<Report>> {
    let root = moat_stack::workspace_root();
    let toolchain = choose_toolchain(bootstrap);
    let bin = ensure_cargo_fuzz(&root)?;
    let mut reports = Vec::new();
    for target in targets {
        reports.push(run_target(&root, &bin, toolchain, target, seconds)?);
    }
    Ok(reports)
}

/// Nightly when rustup has it (and `--bootstrap` was not given), else the
/// default toolchain with `RUSTC_BOOTSTRAP=1`; says which in one line.
fn choose_toolchain(bootstrap: bool) -> Toolchain {
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned());
    let nightly = listed.as_deref().is_some_and(has_nightly);
    if nightly && !bootstrap {
        eprintln!("fuzz: building with the {TOOLCHAIN} toolchain");
        Toolchain::Nightly
    } else {
        eprintln!(
            "fuzz: building with the default toolchain and RUSTC_BOOTSTRAP=1 ({})",
            if bootstrap {
                "--bootstrap"
            } else {
                "rustup lists no nightly toolchain"
            }
        );
        Toolchain::Bootstrapped
    }
}

/// Whether `rustup toolchain list` shows a nightly toolchain, such as
/// `nightly-x86_64-unknown-linux-gnu` or a dated `nightly-2026-05-01-...`.
fn has_nightly(list: &str) -> bool {
    list.lines()
        .filter_map(|line| line.split_whitespace().next())
        .any(|name| name == TOOLCHAIN || name.starts_with("nightly-"))
}

/// Installs the pinned cargo-fuzz into `.tools/cargo-fuzz` unless it is
/// already there, and returns its `bin` directory.
fn ensure_cargo_fuzz(root: &Path) -> anyhow::Result<PathBuf> {
    let tool = crate::setup::CargoTool {
        name: "cargo-fuzz",
        version: CARGO_FUZZ_VERSION,
        root: CARGO_FUZZ_ROOT,
        asked_by: "fuzz",
    };
    crate::setup::ensure_cargo_tool(root, &tool)
}

/// One target's run.
#[derive(Debug, Clone, PartialEq)]
struct Report {
    target: &'static str,
    stats: Stats,
    /// The whole of cargo-fuzz's and libFuzzer's output.
    log: PathBuf,
    /// Build and run, as the caller waited for them.
    wall: Duration,
}

/// What libFuzzer printed about a run.
#[derive(Debug, Clone, Default, PartialEq)]
struct Stats {
    executions: Option<u64>,
    execs_per_second: Option<u64>,
    /// Inputs in the corpus at the end, and their total size in bytes, as
    /// the last status line gives them.
    corpus_units: Option<u64>,
    corpus_bytes: Option<u64>,
    /// Coverage points (`cov:`) at the end.
    coverage: Option<u64>,
    new_units: Option<u64>,
    crash: Option<Crash>,
}

#[derive(Debug, Clone, PartialEq)]
struct Crash {
    /// Where libFuzzer wrote the input; `None` when the process died
    /// before libFuzzer could write it.
    artifact: Option<String>,
    /// The panic's location and message when the crash was a Rust panic,
    /// else how the target exited.
    detail: Option<String>,
}

impl Crash {
    fn describe(&self) -> String {
        let input = match &self.artifact {
            Some(path) => format!("input {path}"),
            // Without a sanitizer nothing catches a stack overflow: the
            // process dies of SIGSEGV with no handler left to save the input.
            None => {
                "input not saved: libFuzzer died before writing it, as it does on a stack overflow"
                    .to_owned()
            }
        };
        match &self.detail {
            Some(detail) => format!("{detail}; {input}"),
            None => input,
        }
    }
}

/// Runs one target with `cargo +nightly fuzz run`, its output going to a
/// log file (only cargo's build lines and a crash's report are shown).
fn run_target(
    root: &Path,
    cargo_fuzz_bin: &Path,
    toolchain: Toolchain,
    target: &'static str,
    seconds: u64,
) -> anyhow::Result<Report> {
    let fuzz_dir = root.join("fuzz");
    let seeds = fuzz_dir.join("seeds").join(target);
    let corpus = fuzz_dir.join("corpus").join(target);
    if !seeds.is_dir() {
        bail!(
            "{} is missing: every target has committed seeds",
            seeds.display()
        );
    }
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let logs = fuzz_dir.join("target").join("xtask-fuzz");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let log_path = logs.join(format!("{target}.log"));
    let mut log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;

    let mut path = std::ffi::OsString::from(cargo_fuzz_bin);
    if let Some(inherited) = std::env::var_os("PATH") {
        path.push(":");
        path.push(inherited);
    }
    let mut command = Command::new("cargo");
    match toolchain {
        Toolchain::Nightly => {
            command.arg(format!("+{TOOLCHAIN}"));
        }
        Toolchain::Bootstrapped => {
            command.env("RUSTC_BOOTSTRAP", "1");
        }
    }
    command
        .args(["fuzz", "run", "--fuzz-dir"])
        .arg(&fuzz_dir)
        // No sanitizer: the workspace forbids `unsafe`, so AddressSanitizer
        // would look for memory errors only in the standard library and
        // C dependencies, at about twice the build time and a slower run.
        // The targets find panics and broken properties, which need none.
        .args(["--sanitizer", "none", target])
        .arg(&corpus)
        .arg(&seeds);
    // Inputs that once crashed a target run first on every run, so a fixed
    // crash stays fixed.
    let regressions = fuzz_dir.join("regressions").join(target);
    if regressions.is_dir() {
        command.arg(&regressions);
    }
    command
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .current_dir(root)
        .env("PATH", path)
        // `cargo xtask` runs under the stable cargo, whose variables would
        // point the nested nightly build at the stable tools, or (the
        // encoded flags) replace cargo-fuzz's instrumentation flags.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    eprintln!(
        "fuzz: {target}: building, then fuzzing for {seconds} s (log {})",
        relative(root, &log_path)
    );
    let started = Instant::now();
    let mut child = command.spawn().context("starting cargo fuzz run")?;
    // libFuzzer writes to stderr; stdout gets only what a target prints.
    let stdout = child.stdout.take().context("the child's stdout")?;
    let stdout_thread = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let stderr = child.stderr.take().context("the child's stderr")?;
    let mut output = String::new();
    let mut phase = Phase::Building;
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading cargo fuzz's output")?;
        writeln!(log, "{line}").with_context(|| format!("writing {}", log_path.display()))?;
        phase = phase.after(&line);
        if phase.shows(&line) {
            eprintln!("  {line}");
        }
        output.push_str(&line);
        output.push('\n');
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    let printed = stdout_thread.join().unwrap_or_default();
    if !printed.is_empty() {
        write!(log, "{printed}").with_context(|| format!("writing {}", log_path.display()))?;
    }
    let wall = started.elapsed();
    let stats = parse_libfuzzer(&output);
    if !status.success() && stats.crash.is_none() {
        bail!(
            "cargo fuzz run {target} failed ({status}) without a crash report: see {}",
            log_path.display()
        );
    }
    if status.success() && stats.executions.is_none() {
        bail!(
            "cargo fuzz run {target} printed no libFuzzer statistics: see {}",
            log_path.display()
        );
    }
    let report = Report {
        target,
        stats,
        log: log_path,
        wall,
    };
    eprintln!("fuzz: {target}: {} in {}", summary(&report), elapsed(wall));
    Ok(report)
}

/// Where the output of `cargo fuzz run` is, for deciding what to show.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// cargo builds the target: its lines (warnings, errors) are shown.
    Building,
    /// libFuzzer runs: its many lines go to the log only.
    Fuzzing,
    /// The target crashed: the panic and cargo-fuzz's advice are shown.
    Crashed,
}

impl Phase {
    fn after(self, line: &str) -> Phase {
        match self {
            Phase::Building if line.trim_start().starts_with("Running `") => Phase::Fuzzing,
            Phase::Building | Phase::Fuzzing if is_crash_start(line) => Phase::Crashed,
            other => other,
        }
    }

    fn shows(self, line: &str) -> bool {
        match self {
            // cargo's progress is noise here; what it warns about is not.
            Phase::Building => {
                let trimmed = line.trim_start();
                !trimmed.starts_with("Compiling ") && !trimmed.starts_with("Finished ")
            }
            Phase::Fuzzing => false,
            // libFuzzer's dictionary and stack of hex addresses say nothing
            // a person can act on; the panic, the input and cargo-fuzz's
            // reproduction advice do.
            // cargo-fuzz's own backtrace (`   0: anyhow::...`) is noise too.
            Phase::Crashed => {
                let trimmed = line.trim_start();
                let frame = trimmed.starts_with("at ")
                    || trimmed
                        .split_once(": ")
                        .is_some_and(|(number, _)| number.parse::<u32>().is_ok());
                !line.starts_with('"') && !trimmed.starts_with('#') && !frame
            }
        }
    }
}

fn is_crash_start(line: &str) -> bool {
    line.contains(" panicked at ")
        || line.contains("ERROR: libFuzzer:")
        || line.contains(FUZZ_TARGET_EXITED)
}

/// How cargo-fuzz reports a target that stopped on its own, such as
/// `Error: Fuzz target exited with signal: 11 (SIGSEGV)`.
const FUZZ_TARGET_EXITED: &str = "Fuzz target exited with ";

/// Reads libFuzzer's output: the `stat::` lines `-print_final_stats=1`
/// adds, the last status line (`#N DONE cov: ... corp: A/BKb ... exec/s:
/// ...`), and a crash's input (`Test unit written to PATH`) and panic.
/// Each figure falls back on the status lines when the stats are missing,
/// as they are when libFuzzer dies before printing them.
fn parse_libfuzzer(output: &str) -> Stats {
    let mut stats = Stats::default();
    let mut status_executions = None;
    let mut status_rate = None;
    let mut artifact = None;
    let mut panic = None;
    let mut exit = None;
    let mut lines = output.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_end();
        if let Some((key, value)) = line
            .strip_prefix("stat::")
            .and_then(|rest| rest.split_once(':'))
        {
            let value = value.trim().parse::<u64>().ok();
            match key {
                "number_of_executed_units" => stats.executions = value,
                "average_exec_per_sec" => stats.execs_per_second = value,
                "new_units_added" => stats.new_units = value,
                _ => {}
            }
        } else if let Some(status) = status_line(line) {
            status_executions = Some(status.executions);
            if let Some(rate) = status.execs_per_second {
                status_rate = Some(rate);
            }
            if status.corpus_units.is_some() {
                stats.corpus_units = status.corpus_units;
                stats.corpus_bytes = status.corpus_bytes;
            }
            if status.coverage.is_some() {
                stats.coverage = status.coverage;
            }
        } else if let Some((_, path)) = line.split_once("Test unit written to ") {
            artifact = Some(path.trim().to_owned());
        } else if let Some((_, how)) = line.split_once(FUZZ_TARGET_EXITED) {
            exit = Some(format!("exited with {}", how.trim()));
        } else if panic.is_none()
            && let Some((_, location)) = line.split_once(" panicked at ")
        {
            // `thread '<unnamed>' panicked at src/x.rs:1:2:` then the
            // message on the next line (older Rust: on the same line).
            let location = location.trim_end_matches(':');
            let message = match lines.peek() {
                Some(next) if !next.trim().is_empty() && !next.starts_with("note:") => {
                    format!("{location}: {}", next.trim())
                }
                _ => location.to_owned(),
            };
            panic = Some(message);
        }
    }
    if stats.executions.is_none() {
        stats.executions = status_executions;
    }
    if stats.execs_per_second.is_none() {
        stats.execs_per_second = status_rate;
    }
    if artifact.is_some() || exit.is_some() || panic.is_some() {
        stats.crash = Some(Crash {
            artifact,
            detail: panic.or(exit),
        });
    }
    stats
}

/// The figures of one libFuzzer status line.
#[derive(Debug, PartialEq)]
struct StatusLine {
    executions: u64,
    coverage: Option<u64>,
    corpus_units: Option<u64>,
    corpus_bytes: Option<u64>,
    execs_per_second: Option<u64>,
}

/// Reads `#1234\tNEW    cov: 90 ft: 120 corp: 15/35Kb lim: 2708 exec/s:
/// 617 rss: 75Mb ...`; `None` for any other line.
fn status_line(line: &str) -> Option<StatusLine> {
    let rest = line.strip_prefix('#')?;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    let executions = digits.parse::<u64>().ok()?;
    let fields: Vec<&str> = rest[digits.len()..].split_whitespace().collect();
    // The event word (INITED, NEW, REDUCE, pulse, DONE, ...) comes first.
    if fields.len() < 2 || !fields[1..].contains(&"cov:") {
        return None;
    }
    let after = |key: &str| {
        fields
            .iter()
            .position(|field| *field == key)
            .and_then(|at| fields.get(at + 1).copied())
    };
    let number = |key: &str| after(key).and_then(|value| value.parse::<u64>().ok());
    let (corpus_units, corpus_bytes) = match after("corp:").and_then(|value| value.split_once('/'))
    {
        Some((units, size)) => (units.parse().ok(), size_in_bytes(size)),
        None => (None, None),
    };
    Some(StatusLine {
        executions,
        coverage: number("cov:"),
        corpus_units,
        corpus_bytes,
        execs_per_second: number("exec/s:"),
    })
}

/// libFuzzer's `35Kb`, `3Mb` or `812b`.
fn size_in_bytes(text: &str) -> Option<u64> {
    let (digits, scale) = if let Some(kb) = text.strip_suffix("Kb") {
        (kb, 1 << 10)
    } else if let Some(mb) = text.strip_suffix("Mb") {
        (mb, 1 << 20)
    } else {
        (text.strip_suffix('b')?, 1)
    };
    digits.parse::<u64>().ok().map(|n| n * scale)
}

fn figure(value: Option<u64>) -> String {
    value.map_or_else(|| "?".to_owned(), |value| value.to_string())
}

fn summary(report: &Report) -> String {
    let stats = &report.stats;
    let outcome = match &report.stats.crash {
        Some(crash) => format!("CRASH: {}", crash.describe()),
        None => "no crash".to_owned(),
    };
    format!(
        "{} executions, {} exec/s, corpus {}, {outcome}",
        figure(stats.executions),
        figure(stats.execs_per_second),
        figure(stats.corpus_units)
    )
}

fn table(reports: &[Report]) -> String {
    let mut out = format!(
        "\n{:<18} {:>12} {:>9} {:>7} {:>9} {:>6}  {}\n",
        "target", "executions", "exec/s", "corpus", "cov", "wall", "crash"
    );
    for report in reports {
        let stats = &report.stats;
        let crash = match &report.stats.crash {
            None => "none".to_owned(),
            Some(crash) => crash.describe(),
        };
        out.push_str(&format!(
            "{:<18} {:>12} {:>9} {:>7} {:>9} {:>6}  {crash}\n",
            report.target,
            figure(stats.executions),
            figure(stats.execs_per_second),
            figure(stats.corpus_units),
            figure(stats.coverage),
            format!("{:.0}s", report.wall.as_secs_f64()),
        ));
    }
    out
}

fn json_report(reports: &[Report], seconds: u64) -> Value {
    let targets: Vec<Value> = reports
        .iter()
        .map(|report| {
            let stats = &report.stats;
            json!({
                "target": report.target,
                "executions": stats.executions,
                "execsPerSecond": stats.execs_per_second,
                "corpusUnits": stats.corpus_units,
                "corpusBytes": stats.corpus_bytes,
                "newUnits": stats.new_units,
                "coverage": stats.coverage,
                "crash": report.stats.crash.as_ref().map(|crash| json!({
                    "artifact": crash.artifact,
                    "detail": crash.detail,
                })),
                "log": report.log.display().to_string(),
                "wallSeconds": (report.wall.as_secs_f64() * 10.0).round() / 10.0,
            })
        })
        .collect();
    json!({ "secondsPerTarget": seconds, "targets": targets })
}

fn elapsed(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    fn error(args_: &[&str]) -> String {
        match parse(args(args_)) {
            Err(error) => format!("{error:#}"),
            Ok(parsed) => panic!("{args_:?} was accepted: {parsed:?}"),
        }
    }

    #[test]
    fn defaults_are_every_target_for_a_minute() {
        assert_eq!(
            parse(args(&[])).unwrap(),
            Some(Options {
                seconds: 60,
                targets: TARGETS.to_vec(),
                json: false,
                bootstrap: false,
            })
        );
        assert_eq!(parse(args(&["--help"])).unwrap(), None);
        assert_eq!(parse(args(&["-h"])).unwrap(), None);
    }

    #[test]
    fn targets_and_seconds_are_read_once_each() {
        let options = parse(args(&[
            "--target",
            "asl",
            "--seconds",
            "5",
            "--target=policy",
            "--target",
            "asl",
            "--json",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            options,
            Options {
                seconds: 5,
                targets: vec!["asl", "policy"],
                json: true,
                bootstrap: false,
            }
        );
    }

    #[test]
    fn bad_arguments_are_named_with_the_usage() {
        let unknown = error(&["--sanitizer", "address"]);
        assert!(unknown.contains("--sanitizer"), "{unknown}");
        let target = error(&["--target", "parser"]);
        assert!(target.contains("--target parser"), "{target}");
        assert!(
            target.contains("cloudtrail_event, policy, describe_eval, asl"),
            "{target}"
        );
        assert!(error(&["--seconds", "0"]).contains("--seconds 0"));
        assert!(error(&["--seconds", "a minute"]).contains("--seconds a minute"));
        assert!(error(&["--seconds"]).contains("--seconds"));
        assert!(error(&["stray"]).contains("stray"));
    }

    #[test]
    fn nightly_is_found_in_rustups_list() {
        let list = "stable-x86_64-unknown-linux-gnu (active, default)\n\
                    nightly-x86_64-unknown-linux-gnu\n\
                    1.95.0-x86_64-unknown-linux-gnu\n";
        assert!(has_nightly(list));
        assert!(has_nightly("nightly-2026-05-01-x86_64-unknown-linux-gnu\n"));
        assert!(!has_nightly("stable-x86_64-unknown-linux-gnu (default)\n"));
        assert!(!has_nightly("no installed toolchains\n"));
    }

    #[test]
    fn status_lines_give_executions_corpus_and_rate() {
        assert_eq!(
            status_line(
                "#1013613\tDONE   cov: 950 ft: 3000 corp: 512/1210Kb lim: 4096 exec/s: 92146 rss: 75Mb"
            ),
            Some(StatusLine {
                executions: 1_013_613,
                coverage: Some(950),
                corpus_units: Some(512),
                corpus_bytes: Some(1210 * 1024),
                execs_per_second: Some(92146),
            })
        );
        let inited =
            status_line("#17\tINITED cov: 821 ft: 1094 corp: 15/35Kb exec/s: 0 rss: 75Mb").unwrap();
        assert_eq!((inited.executions, inited.corpus_units), (17, Some(15)));
        assert_eq!(
            status_line("#2 NEW cov: 3 ft: 3 corp: 2/812b lim: 4 exec/s: 0")
                .unwrap()
                .corpus_bytes,
            Some(812)
        );
        assert_eq!(status_line("###### Recommended dictionary. ######"), None);
        assert_eq!(status_line("#0 a comment"), None);
    }

    /// The end of a run that found nothing: the last status line and the
    /// final statistics (captured from a real run, trimmed).
    const CLEAN: &str = "\
INFO: Seed: 1961035525
INFO:       16 files found in fuzz/seeds/cloudtrail_event
#17\tINITED cov: 821 ft: 1094 corp: 15/35Kb exec/s: 0 rss: 75Mb
#1048576\tpulse  cov: 1203 ft: 5120 corp: 2301/1501Kb lim: 2708 exec/s: 95325 rss: 480Mb
#1013613\tDONE   cov: 1210 ft: 5201 corp: 2390/1554Kb lim: 2708 exec/s: 92146 rss: 480Mb
###### Recommended dictionary. ######
\"tlsDetails\" # Uses: 105
###### End of recommended dictionary. ######
Done 1013613 runs in 11 second(s)
stat::number_of_executed_units: 1013613
stat::average_exec_per_sec:     92146
stat::new_units_added:          7043
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              480
";

    #[test]
    fn a_clean_run_reports_its_figures() {
        assert_eq!(
            parse_libfuzzer(CLEAN),
            Stats {
                executions: Some(1_013_613),
                execs_per_second: Some(92146),
                corpus_units: Some(2390),
                corpus_bytes: Some(1554 * 1024),
                coverage: Some(1210),
                new_units: Some(7043),
                crash: None,
            }
        );
    }

    /// A Rust panic in a target, as libfuzzer-sys reports it (abort after
    /// the panic message), with no final statistics.
    const CRASHED: &str = "\
#4096\tpulse  cov: 900 ft: 1300 corp: 40/80Kb lim: 2708 exec/s: 2048 rss: 80Mb
#5210\tNEW    cov: 901 ft: 1301 corp: 41/82Kb lim: 2708 exec/s: 2605 rss: 80Mb L: 12/2708 MS: 1 ChangeByte-
thread '<unnamed>' panicked at fuzz_targets/policy.rs:30:9:
assertion `left == right` failed: a byte-order mark changed the verdict
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
==4242== ERROR: libFuzzer: deadly signal
    #0 0x55d0 in __sanitizer_print_stack_trace
NOTE: libFuzzer has rudimentary signal handlers.
SUMMARY: libFuzzer: deadly signal
MS: 2 InsertByte-CopyPart-; base unit: 0123abcd
artifact_prefix='fuzz/artifacts/policy/'; Test unit written to fuzz/artifacts/policy/crash-da39a3ee5e6b4b0d3255bfef95601890afd80709
Base64: e30=
";

    #[test]
    fn a_crash_names_its_input_and_panic() {
        let stats = parse_libfuzzer(CRASHED);
        assert_eq!(
            stats.crash,
            Some(Crash {
                artifact: Some(
                    "fuzz/artifacts/policy/crash-da39a3ee5e6b4b0d3255bfef95601890afd80709"
                        .to_owned()
                ),
                detail: Some(
                    "fuzz_targets/policy.rs:30:9: assertion `left == right` failed: a byte-order mark changed the verdict"
                        .to_owned()
                ),
            })
        );
        // Without final statistics the last status line stands in.
        assert_eq!(stats.executions, Some(5210));
        assert_eq!(stats.execs_per_second, Some(2605));
        assert_eq!(stats.corpus_units, Some(41));
    }

    /// A stack overflow without a sanitizer: the process dies of SIGSEGV
    /// with no handler left, and only cargo-fuzz says so (a real run's end).
    const OVERFLOWED: &str = "\
#2048\tpulse  cov: 2100 ft: 6000 corp: 900/400Kb lim: 4096 exec/s: 1024 rss: 90Mb
\u{2500}\u{2500}\u{2500}\u{2500}

Error: Fuzz target exited with signal: 11 (SIGSEGV)

Stack backtrace:
   0: anyhow::error::<impl anyhow::Error>::msg
             at ./csu/../sysdeps/nptl/libc_start_call_main.h:58:16
";

    #[test]
    fn a_death_without_an_input_is_still_a_crash() {
        let stats = parse_libfuzzer(OVERFLOWED);
        let crash = stats.crash.expect("a crash");
        assert_eq!(crash.artifact, None);
        assert_eq!(
            crash.detail.as_deref(),
            Some("exited with signal: 11 (SIGSEGV)")
        );
        assert!(
            crash.describe().contains("input not saved"),
            "{}",
            crash.describe()
        );
        assert_eq!(stats.executions, Some(2048));

        let mut phase = Phase::Fuzzing;
        let shown: Vec<&str> = OVERFLOWED
            .lines()
            .filter(|line| {
                phase = phase.after(line);
                phase.shows(line)
            })
            .collect();
        assert_eq!(
            shown,
            [
                "Error: Fuzz target exited with signal: 11 (SIGSEGV)",
                "",
                "Stack backtrace:"
            ]
        );
    }

    #[test]
    fn only_build_messages_and_crash_reports_are_shown() {
        let mut phase = Phase::Building;
        let mut shown = Vec::new();
        for line in [
            "   Compiling moat-domain v0.0.0",
            "warning: unused import",
            "     Running `fuzz/target/x86_64-unknown-linux-gnu/release/policy -max_total_time=1`",
            "#17\tINITED cov: 821 ft: 1094 corp: 15/35Kb exec/s: 0 rss: 75Mb",
            "thread '<unnamed>' panicked at fuzz_targets/policy.rs:30:9:",
            "    #0 0x55d0 in __sanitizer_print_stack_trace",
            "Failing input:",
        ] {
            phase = phase.after(line);
            if phase.shows(line) {
                shown.push(line);
            }
        }
        assert_eq!(
            shown,
            [
                "warning: unused import",
                "thread '<unnamed>' panicked at fuzz_targets/policy.rs:30:9:",
                "Failing input:",
            ]
        );
    }

    #[test]
    fn libfuzzer_sizes_are_read_in_bytes() {
        assert_eq!(size_in_bytes("812b"), Some(812));
        assert_eq!(size_in_bytes("35Kb"), Some(35 * 1024));
        assert_eq!(size_in_bytes("3Mb"), Some(3 << 20));
        assert_eq!(size_in_bytes("3MB"), None);
    }
}
