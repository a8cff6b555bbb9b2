//! `cargo xtask deny`: cargo-deny over the workspace's dependency tree,
//! against `deny.toml`: licenses, bans and sources, offline.
//!
//! The advisories check needs the RustSec database from the network, so it
//! runs only with `--advisories` (the CI workflow passes it; `cargo xtask
//! test` does not). cargo-deny comes pinned from crates.io into
//! `.tools/cargo-deny` at the workspace root, installed once
//! ([`ensure_cargo_deny`]), as `cargo xtask fuzz` installs cargo-fuzz.
//! `--report FILE` keeps cargo-deny's JSON diagnostics for `cargo xtask
//! asff`, and then leaves judging them to it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

const USAGE: &str = "\
usage: cargo xtask deny [--advisories] [--report FILE]

checks the dependency tree against deny.toml with cargo-deny (installed into
.tools/cargo-deny): licenses, bans and sources, offline

options:
  --advisories   check the RustSec advisories too (fetches the advisory
                 database: needs the network)
  --report FILE  write cargo-deny's diagnostics as JSON lines to FILE (for
                 `cargo xtask asff --from FILE`) and succeed when they were
                 written, whatever they found
";

const CARGO_DENY_VERSION: &str = "0.20.2";
const CARGO_DENY_ROOT: &str = ".tools/cargo-deny";

/// The checks that need nothing but the lock file and the registry cache.
const OFFLINE_CHECKS: [&str; 3] = ["bans", "licenses", "sources"];

#[derive(Debug, PartialEq)]
struct Options {
    advisories: bool,
    report: Option<PathBuf>,
}

fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        advisories: false,
        report: None,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("advisories") => options.advisories = true,
            Long("report") => options.report = Some(parser.value()?.into()),
            other => bail!("{}", other.unexpected()),
        }
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
    let root = moat_stack::workspace_root();
    let bin = ensure_cargo_deny(&root)?;
    fetch_every_target(&root)?;
    let json = options.report.is_some();
    let mut command = deny_command(&root, &bin, options.advisories, json);
    match &options.report {
        None => run_checks(&mut command),
        Some(report) => write_report(&mut command, &root.join(report)),
    }
}

/// What `cargo xtask test` runs: the offline checks.
pub(crate) fn check() -> anyhow::Result<()> {
    let root = moat_stack::workspace_root();
    let bin = ensure_cargo_deny(&root)?;
    fetch_every_target(&root)?;
    run_checks(&mut deny_command(&root, &bin, false, false))
}

/// Downloads the sources of every dependency, for every target: cargo-deny
/// reads the whole graph offline, and a build fetches only the host's
/// (aws-smithy-cbor's `half` needs `crunchy` only on SPIR-V, say). A no-op
/// when everything is there.
fn fetch_every_target(root: &Path) -> anyhow::Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(root)
        .args(["fetch", "--locked", "--quiet"])
        .status()
        .context("starting cargo fetch")?;
    if !status.success() {
        bail!(
            "cargo fetch --locked failed ({status}): cargo-deny needs every dependency's sources"
        );
    }
    Ok(())
}

/// `cargo-deny deny [--format json] [--offline] check [CHECKS]`: the
/// format and the network are cargo-deny's own options, before `check`.
fn deny_command(root: &Path, bin: &Path, advisories: bool, json: bool) -> Command {
    let mut command = Command::new(bin.join("cargo-deny"));
    command
        .current_dir(root)
        .arg("deny")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    if json {
        command.args(["--format", "json"]);
    }
    if advisories {
        // Every check, with the database fetched: only where there is a
        // network (the CI workflow).
        command.arg("check");
    } else {
        command.args(["--offline", "check"]).args(OFFLINE_CHECKS);
    }
    if !json {
        // Each duplicate's whole inclusion tree is hundreds of lines; the
        // JSON report keeps it, for the crate a finding is about.
        command.arg("--hide-inclusion-graph");
    }
    command
}

fn run_checks(command: &mut Command) -> anyhow::Result<()> {
    let started = Instant::now();
    let status = command.status().context("starting cargo-deny")?;
    if !status.success() {
        bail!("cargo deny found problems ({status}); see deny.toml for the policy");
    }
    eprintln!(
        "deny: dependency tree accepted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// cargo-deny writes its diagnostics to stderr; with `--format json` one
/// object a line. A failing exit is what its findings cause, so it is
/// accepted when the report holds an error diagnostic to explain it; a
/// failure without one (a bad deny.toml, a crash) is still an error.
fn write_report(command: &mut Command, report: &Path) -> anyhow::Result<()> {
    let output = command
        .stdout(Stdio::inherit())
        .output()
        .context("starting cargo-deny")?;
    let lines = String::from_utf8_lossy(&output.stderr);
    std::fs::write(report, lines.as_bytes())
        .with_context(|| format!("writing {}", report.display()))?;
    let errors = error_count(&lines);
    eprintln!(
        "deny: {} error diagnostic(s) written to {}",
        errors,
        report.display()
    );
    if !output.status.success() && errors == 0 {
        bail!(
            "cargo deny failed ({}) without a diagnostic to explain it:\n{lines}",
            output.status
        );
    }
    Ok(())
}

/// How many diagnostics of severity error cargo-deny's JSON lines hold.
fn error_count(lines: &str) -> usize {
    lines
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["type"] == "diagnostic" && entry["fields"]["severity"] == "error")
        .count()
}

/// Installs the pinned cargo-deny into `.tools/cargo-deny` unless it is
/// already there, and returns its `bin` directory.
fn ensure_cargo_deny(root: &Path) -> anyhow::Result<PathBuf> {
    let tool = crate::setup::CargoTool {
        name: "cargo-deny",
        version: CARGO_DENY_VERSION,
        root: CARGO_DENY_ROOT,
        asked_by: "deny",
    };
    crate::setup::ensure_cargo_tool(root, &tool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn offline_by_default_advisories_on_request() {
        let options = parse(args(&[])).unwrap().unwrap();
        assert_eq!(
            options,
            Options {
                advisories: false,
                report: None
            }
        );
        let root = Path::new("/w");
        let words = |advisories, json| -> Vec<String> {
            deny_command(root, root, advisories, json)
                .get_args()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            words(false, false)[3..],
            [
                "--offline",
                "check",
                "bans",
                "licenses",
                "sources",
                "--hide-inclusion-graph"
            ]
        );
        assert_eq!(words(true, true)[3..], ["--format", "json", "check"]);
        let options = parse(args(&["--advisories", "--report", "deny.json"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.report, Some(PathBuf::from("deny.json")));
        assert!(parse(args(&["--fix"])).is_err());
    }

    #[test]
    fn only_error_diagnostics_count() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asff/deny.json");
        let lines = std::fs::read_to_string(fixture).unwrap();
        assert_eq!(error_count(&lines), 2);
        assert_eq!(error_count("not json\n"), 0);
    }
}
