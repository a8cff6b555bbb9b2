//! `cargo xtask infra check`: proves the Terraform in `infra/` offline, in
//! seconds, with no AWS account: formatting, `init` + `validate` of every
//! module and example root, `terraform test` against a mocked AWS, and
//! checkov.
//!
//! Providers come only from the filesystem mirror named in
//! `infra/terraformrc.hcl`, never from the registry. Terraform runs in a copy
//! of `infra/` (and the `statemachines/` it reads) under
//! `target/infra-check/`, with its data directories there too, so the source
//! tree never gets `.terraform/` directories, lock files or test state.
//! checkov comes pinned from PyPI into `.checkov-venv` at the workspace root
//! (its boto3 pin is not moto's), through [`setup::ensure_venv`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::setup;

const USAGE: &str = "\
usage: cargo xtask infra check

checks infra/ offline: terraform fmt, init + validate of every module and
example, terraform test (mocked AWS), and checkov (installed into .checkov-venv)
";

/// checkov, pinned: a new release brings new checks, which should arrive
/// as a reviewed change of this line, not as a surprise failure.
const CHECKOV_REQUIREMENT: &str = "checkov==3.3.30";
const CHECKOV_VENV: &str = ".checkov-venv";
const CHECKOV_MARKER: &str = "moat-checkov-requirement.txt";

/// The Terraform CLI configuration the check runs with (relative to the
/// workspace root): the provider mirror, and nothing from the network.
const CLI_CONFIG: &str = "infra/terraformrc.hcl";

/// The one provider the modules need, as the mirror lays it out.
const AWS_PROVIDER: &str = "registry.terraform.io/hashicorp/aws";

/// What Terraform reads outside `infra/` (stack.json names the state
/// machine by a path relative to itself), copied beside it.
const COPIED: &[&str] = &["infra", "statemachines"];

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut command = None;
    let usage = |error: lexopt::Error| crate::usage_error(error, USAGE);
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            Value(value) if command.is_none() => command = Some(value.string().map_err(usage)?),
            other => return Err(usage(other.unexpected())),
        }
    }
    match command.as_deref() {
        Some("check") => check(),
        Some("help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(crate::usage_error(
            format!("unknown `infra` command `{other}`"),
            USAGE,
        )),
    }
}

/// Runs every step, printing each with its duration; the first failure
/// stops the check and names its step.
pub(crate) fn check() -> anyhow::Result<()> {
    let root = local_aws::workspace_root();
    let started = Instant::now();
    let terraform = Terraform::find(&root)?;
    let roots = terraform_roots(&root.join("infra"))?;

    step("terraform fmt", || {
        terraform
            .fmt_check(&root.join("infra"))
            .map(|()| String::new())
    })?;
    let tree = terraform.work.join("tree");
    let copy = tree.join("infra");
    step("terraform init + validate", || {
        copy_tree(&root, &tree)?;
        for dir in &roots {
            terraform.init(&copy, dir)?;
            terraform.validate(&copy, dir)?;
        }
        Ok(format!("{} roots", roots.len()))
    })?;
    step("terraform test", || {
        let (mut runs, mut assertions) = (0, 0);
        for dir in roots.iter().filter(|dir| has_tests(&copy.join(dir))) {
            let passed = terraform.test(&copy, dir)?;
            let asserted = count_assertions(&copy.join(dir).join("tests"))?;
            eprintln!("    infra/{dir}: {passed} runs passed, {asserted} assertions");
            runs += passed;
            assertions += asserted;
        }
        Ok(format!("{runs} runs passed, {assertions} assertions"))
    })?;
    step("checkov", || checkov(&root))?;
    eprintln!(
        "infra check: all passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs one step, printing its name, then its duration and summary.
fn step(name: &str, body: impl FnOnce() -> anyhow::Result<String>) -> anyhow::Result<()> {
    eprintln!("infra check: {name} ...");
    let started = Instant::now();
    let summary = body().with_context(|| format!("infra check failed at step `{name}`"))?;
    let summary = if summary.is_empty() {
        summary
    } else {
        format!(", {summary}")
    };
    eprintln!(
        "infra check: {name} ok ({:.1} s{summary})",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The Terraform binary and where the check keeps its state.
struct Terraform {
    binary: PathBuf,
    cli_config: PathBuf,
    work: PathBuf,
}

impl Terraform {
    /// Finds `terraform` on PATH and the provider mirror the CLI
    /// configuration names; either missing is one line saying where it
    /// looked.
    fn find(root: &Path) -> anyhow::Result<Terraform> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let Some(binary) = std::env::split_paths(&path)
            .map(|dir| dir.join("terraform"))
            .find(|candidate| candidate.is_file())
        else {
            bail!(
                "terraform is missing: no `terraform` in PATH ({}); install Terraform 1.9 or later",
                path.to_string_lossy()
            );
        };
        let cli_config = root.join(CLI_CONFIG);
        let text = std::fs::read_to_string(&cli_config).with_context(|| {
            format!(
                "reading the Terraform CLI configuration {}",
                cli_config.display()
            )
        })?;
        let mirror = mirror_path(&text)
            .with_context(|| format!("{} names no filesystem_mirror path", cli_config.display()))?;
        let provider = Path::new(&mirror).join(AWS_PROVIDER);
        if !provider.is_dir() {
            bail!(
                "the Terraform provider mirror is missing: no {} (the filesystem_mirror of {CLI_CONFIG})",
                provider.display()
            );
        }
        Ok(Terraform {
            binary,
            cli_config,
            work: root.join("target").join("infra-check"),
        })
    }

    fn command(&self, dir: &Path, data_dir: Option<&str>) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .current_dir(dir)
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            // No call home for version announcements: the check is offline.
            .env("CHECKPOINT_DISABLE", "1");
        if let Some(name) = data_dir {
            // One data directory per root (it records that root's modules),
            // kept between runs so `init` only checks what it linked before.
            command.env(
                "TF_DATA_DIR",
                self.work.join("data").join(name.replace('/', "-")),
            );
        }
        command
    }

    fn fmt_check(&self, infra: &Path) -> anyhow::Result<()> {
        let output = self
            .command(infra, None)
            .args(["fmt", "-check", "-recursive", "-diff", "-no-color", "."])
            .output()
            .context("starting terraform fmt")?;
        checked(
            output,
            "terraform fmt -check (run `terraform fmt -recursive infra` to fix)",
        )
        .map(drop)
    }

    fn init(&self, infra: &Path, dir: &str) -> anyhow::Result<()> {
        let output = self
            .command(&infra.join(dir), Some(dir))
            .args(["init", "-backend=false", "-input=false", "-no-color"])
            .output()
            .context("starting terraform init")?;
        checked(output, &format!("terraform init in infra/{dir}")).map(drop)
    }

    /// Validates one root. A module that only receives aliased providers
    /// (`configuration_aliases`) cannot be validated alone, so it gets
    /// empty provider blocks for the run, in the copy only.
    fn validate(&self, infra: &Path, dir: &str) -> anyhow::Result<()> {
        let module = infra.join(dir);
        let aliases = configuration_aliases(&module)?;
        let providers = module.join("zz_infra_check_providers.tf");
        if !aliases.is_empty() {
            let blocks: String = aliases
                .iter()
                .map(|(name, alias)| format!("provider \"{name}\" {{\n  alias = \"{alias}\"\n}}\n"))
                .collect();
            std::fs::write(&providers, blocks)
                .with_context(|| format!("writing {}", providers.display()))?;
        }
        let output = self
            .command(&module, Some(dir))
            .args(["validate", "-no-color"])
            .output()
            .context("starting terraform validate");
        if !aliases.is_empty() {
            std::fs::remove_file(&providers)
                .with_context(|| format!("removing {}", providers.display()))?;
        }
        checked(output?, &format!("terraform validate in infra/{dir}")).map(drop)
    }

    fn test(&self, infra: &Path, dir: &str) -> anyhow::Result<u64> {
        let output = self
            .command(&infra.join(dir), Some(dir))
            .args(["test", "-no-color"])
            .output()
            .context("starting terraform test")?;
        let stdout = checked(output, &format!("terraform test in infra/{dir}"))?;
        passed_runs(&stdout).with_context(|| {
            format!("terraform test in infra/{dir} printed no `N passed, N failed` line:\n{stdout}")
        })
    }
}

/// The `path` of the `filesystem_mirror` block of a Terraform CLI
/// configuration: the first `path = "..."` line, which is all ours has.
fn mirror_path(cli_config: &str) -> Option<String> {
    cli_config.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        (key.trim() == "path").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The `configuration_aliases = [aws.primary, aws.dr]` of a module's `.tf`
/// files, as (provider, alias) pairs.
fn configuration_aliases(module: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut aliases = Vec::new();
    for file in tf_files(module)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let Some((_, rest)) = text.split_once("configuration_aliases") else {
            continue;
        };
        let list = rest
            .split_once('[')
            .and_then(|(_, tail)| tail.split_once(']'))
            .map(|(list, _)| list)
            .with_context(|| {
                format!(
                    "{}: configuration_aliases is not a [...] list",
                    file.display()
                )
            })?;
        for item in list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (name, alias) = item.split_once('.').with_context(|| {
                format!("{}: `{item}` is not <provider>.<alias>", file.display())
            })?;
            aliases.push((name.to_owned(), alias.to_owned()));
        }
    }
    Ok(aliases)
}

fn tf_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "tf"));
    files.sort();
    Ok(files)
}

/// Every module and example root: each directory of `infra/modules/` and
/// `infra/examples/` with `.tf` files, as `modules/<name>` paths.
fn terraform_roots(infra: &Path) -> anyhow::Result<Vec<String>> {
    let mut roots = Vec::new();
    for parent in ["modules", "examples"] {
        for entry in std::fs::read_dir(infra.join(parent))
            .with_context(|| format!("listing infra/{parent}"))?
        {
            let path = entry?.path();
            if path.is_dir() && !tf_files(&path)?.is_empty() {
                let name = path
                    .file_name()
                    .expect("a listed entry has a name")
                    .to_string_lossy();
                roots.push(format!("{parent}/{name}"));
            }
        }
    }
    roots.sort();
    if roots.is_empty() {
        bail!(
            "no Terraform roots under {}/modules or examples",
            infra.display()
        );
    }
    Ok(roots)
}

fn has_tests(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("tests")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".tftest.hcl"))
    })
}

/// Copies what Terraform reads into `tree`, fresh each run, leaving
/// out what a local `terraform init` or an operator may have left in
/// `infra/` (their data directories, lock files, state, variables).
fn copy_tree(root: &Path, tree: &Path) -> anyhow::Result<()> {
    if tree.exists() {
        std::fs::remove_dir_all(tree).with_context(|| format!("removing {}", tree.display()))?;
    }
    for dir in COPIED {
        copy_dir(&root.join(dir), &tree.join(dir))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
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
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            copy_dir(&path, &to.join(&*name))?;
        } else {
            std::fs::copy(&path, to.join(&*name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

/// The stdout of a command that succeeded, or an error with all it printed.
fn checked(output: Output, what: &str) -> anyhow::Result<String> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("{what} failed ({}):\n{stdout}{stderr}", output.status);
    }
    Ok(stdout)
}

/// The runs passed, from terraform test's closing `Success! 4 passed, 0 failed.`.
fn passed_runs(stdout: &str) -> Option<u64> {
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.contains(" passed, "))?;
    let before = line.split(" passed, ").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// The `assert` blocks of a root's test files. terraform test reports runs,
/// not assertions; a passed run passed every assertion in it.
fn count_assertions(tests: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir(tests).with_context(|| format!("listing {}", tests.display()))? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(".tftest.hcl") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            count += text
                .lines()
                .filter(|line| line.trim() == "assert {")
                .count();
        }
    }
    Ok(count)
}

/// checkov over `infra/`, offline (`--skip-download`): zero failed checks,
/// every skip inline in the `.tf` files with its reason. The tests'
/// `.tftest.hcl` files are not deployed configuration, so they are left
/// out (and checkov's HCL parser times out on them).
fn checkov(root: &Path) -> anyhow::Result<String> {
    let bin = setup::ensure_venv(
        &root.join(CHECKOV_VENV),
        &[CHECKOV_REQUIREMENT],
        CHECKOV_MARKER,
    )?;
    let output = Command::new(bin.join("checkov"))
        .current_dir(root)
        .args([
            "--directory",
            "infra",
            "--framework",
            "terraform",
            "--skip-download",
            "--skip-path",
            "/tests/",
            "--skip-path",
            r"\.terraform",
            "--compact",
            "--output",
            "json",
        ])
        .output()
        .context("starting checkov")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).with_context(|| {
        format!(
            "checkov printed no JSON report ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    // One framework gives one report object; checkov wraps several in a list.
    let report = report
        .as_array()
        .and_then(|reports| reports.first())
        .unwrap_or(&report);
    let count = |key: &str| report["summary"][key].as_u64().unwrap_or(0);
    let (passed, failed, skipped, parse_errors) = (
        count("passed"),
        count("failed"),
        count("skipped"),
        count("parsing_errors"),
    );
    let failures: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|check| {
            format!(
                "  {} {} ({}:{}): {}",
                check["check_id"].as_str().unwrap_or("?"),
                check["resource"].as_str().unwrap_or("?"),
                check["file_path"].as_str().unwrap_or("?"),
                check["file_line_range"][0],
                check["check_name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    if failed > 0 || parse_errors > 0 {
        bail!(
            "checkov: {failed} failed, {parse_errors} files unparsed (fix, or skip inline with \
             `#checkov:skip=CKV_...:<the true reason>`):\n{}",
            failures.join("\n")
        );
    }
    Ok(format!(
        "{passed} passed, {failed} failed, {skipped} skipped inline"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_is_read_from_the_shipped_cli_config() {
        let root = local_aws::workspace_root();
        let text = std::fs::read_to_string(root.join(CLI_CONFIG)).unwrap();
        assert_eq!(mirror_path(&text).as_deref(), Some("/opt/tf-plugins"));
    }

    #[test]
    fn configuration_aliases_are_found_in_the_data_module() {
        let root = local_aws::workspace_root();
        let aliases = configuration_aliases(&root.join("infra/modules/data")).unwrap();
        assert_eq!(
            aliases,
            [
                ("aws".to_owned(), "primary".to_owned()),
                ("aws".to_owned(), "dr".to_owned())
            ]
        );
    }

    #[test]
    fn passed_runs_come_from_the_closing_line() {
        let stdout = "tests/a.tftest.hcl... pass\n\nSuccess! 4 passed, 0 failed.\n";
        assert_eq!(passed_runs(stdout), Some(4));
        assert_eq!(passed_runs("nothing"), None);
    }
}
