//! `cargo xtask setup`: installs what the tests and the demo need and the
//! repository cannot carry, idempotently: moto in the project's virtualenv,
//! and Debian's `chromium`, which the sfn-local console test drives
//! headless ([`ensure_chromium`]).
//!
//! Every Python tool the project uses (moto, checkov, cargo-lambda) lives in
//! a virtualenv of its own at the workspace root, because their pins clash
//! (checkov's boto3 is not moto's). [`ensure_venv`] is the one installer:
//! a marker file in the venv records the exact requirements installed, so a
//! second run with everything in place does nothing but say so, and a
//! changed pin reinstalls.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    if let Some(extra) = args.first() {
        if matches!(extra.as_str(), "--help" | "-h") {
            println!(
                "usage: cargo xtask setup\n\ninstalls moto into .moto-venv and chromium with apt (idempotent)"
            );
            return Ok(());
        }
        bail!("`setup` takes no arguments, got `{extra}`");
    }
    ensure_moto()?;
    ensure_chromium()
}

/// Where the console test looks for the browser: Debian's `chromium`.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs Debian's `chromium` package with apt unless `/usr/bin/chromium`
/// already answers `--version`. As root apt runs directly; otherwise
/// through `sudo -n`, which fails at once rather than waiting for a
/// password nobody will type.
pub(crate) fn ensure_chromium() -> anyhow::Result<()> {
    if let Some(version) = chromium_version() {
        eprintln!("setup: {version} already installed at {CHROMIUM}");
        return Ok(());
    }
    eprintln!("setup: installing chromium with apt-get");
    let install = ["install", "-y", "--no-install-recommends", "chromium"];
    // Package lists that are missing or stale make the first attempt fail;
    // refreshing them once is what a person would do next.
    run_checked(&mut apt(&install))
        .or_else(|_| {
            run_checked(&mut apt(&["update"]))?;
            run_checked(&mut apt(&install))
        })
        .context(
            "installing chromium failed: install Debian's `chromium` package yourself \
             (`sudo apt-get install chromium`) so that /usr/bin/chromium exists",
        )?;
    let version = chromium_version()
        .with_context(|| format!("chromium was installed but {CHROMIUM} --version does not run"))?;
    eprintln!("setup: {version} ready at {CHROMIUM}");
    Ok(())
}

/// `apt-get` with `args`, as root directly and otherwise through `sudo -n`.
fn apt(args: &[&str]) -> Command {
    let mut command = if is_root() {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "apt-get"]);
        sudo
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    command
}

/// What `chromium --version` prints, if it runs.
fn chromium_version() -> Option<String> {
    let output = Command::new(CHROMIUM).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Whether this process runs as root, read from `id -u` so that xtask needs
/// no libc binding for it.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Installs the pinned moto into `.moto-venv` unless it is already there.
pub(crate) fn ensure_moto() -> anyhow::Result<()> {
    ensure_venv(
        &local_aws::venv_dir(),
        &[local_aws::MOTO_REQUIREMENT],
        local_aws::MOTO_MARKER,
    )?;
    local_aws::installed_python()
        .context("moto was installed but is not found where the tests look")?;
    Ok(())
}

/// The Cloud Custodian release `cargo xtask bench sweep` measures Moat
/// against. It pins a boto3 that is neither checkov's nor moto's, so it has
/// a virtualenv of its own (`.c7n-venv`).
pub(crate) const C7N_REQUIREMENT: &str = "c7n==0.9.53";

/// Installs the pinned Cloud Custodian into `.c7n-venv` unless it is
/// already there, and returns the path of its `custodian` command.
pub(crate) fn ensure_c7n() -> anyhow::Result<std::path::PathBuf> {
    let venv = local_aws::workspace_root().join(".c7n-venv");
    let bin = ensure_venv(&venv, &[C7N_REQUIREMENT], "moat-c7n-requirement.txt")?;
    let custodian = bin.join("custodian");
    if !custodian.exists() {
        bail!(
            "{C7N_REQUIREMENT} is recorded as installed in {} but {} is missing: delete the venv and run again",
            venv.display(),
            custodian.display()
        );
    }
    Ok(custodian)
}

/// Makes `venv` a virtualenv holding exactly `requirements`, unless its
/// marker file (`marker`, inside the venv) already records them. Returns the
/// venv's `bin` directory.
pub(crate) fn ensure_venv(
    venv: &Path,
    requirements: &[&str],
    marker: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let bin = venv.join("bin");
    let marker = venv.join(marker);
    let wanted = format!("{}\n", requirements.join("\n"));
    let listed = requirements.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|installed| installed == wanted) {
        eprintln!("setup: {listed} already installed in {}", venv.display());
        return Ok(bin);
    }
    let python = std::env::var("MOAT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    // A venv that `python3 -m venv` left half made (no pip, as on systems
    // without ensurepip) is made again rather than trusted.
    let venv_python = bin.join("python");
    let has_pip = Command::new(&venv_python)
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_pip {
        eprintln!("setup: creating {}", venv.display());
        run_checked(Command::new(&python).args(["-m", "venv", "--clear"]).arg(venv)).with_context(|| {
            format!(
                "creating the virtualenv {} with `{python} -m venv` (install python3 with its venv module, \
                 e.g. `apt-get install python3-venv`, or point MOAT_PYTHON at another python3)",
                venv.display()
            )
        })?;
    }
    eprintln!("setup: installing {listed} into {}", venv.display());
    run_checked(
        Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(requirements),
    )
    .with_context(|| format!("installing {listed} into {}", venv.display()))?;
    std::fs::write(&marker, wanted).with_context(|| format!("writing {}", marker.display()))?;
    eprintln!("setup: {listed} ready in {}", venv.display());
    Ok(bin)
}

pub(crate) fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// A cargo-installed tool the project pins: its crate (which is also its
/// binary), version, and install root under the workspace.
pub(crate) struct CargoTool {
    pub name: &'static str,
    pub version: &'static str,
    /// Relative to the workspace root, e.g. `.tools/cargo-fuzz`.
    pub root: &'static str,
    /// The command that asks for it, which prefixes its messages.
    pub asked_by: &'static str,
}

/// Installs `tool` with `cargo install --locked` into its root under
/// `workspace` unless that version is there already, and returns the
/// root's `bin` directory.
pub(crate) fn ensure_cargo_tool(
    workspace: &Path,
    tool: &CargoTool,
) -> anyhow::Result<std::path::PathBuf> {
    let install_root = workspace.join(tool.root);
    let bin = install_root.join("bin");
    let (name, version, asked_by) = (tool.name, tool.version, tool.asked_by);
    let wanted = format!("{name} {version}");
    let installed = Command::new(bin.join(name))
        .arg("--version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == wanted);
    if installed {
        eprintln!("{asked_by}: {wanted} already installed in {}", tool.root);
        return Ok(bin);
    }
    eprint!(
        "{asked_by}: installing {wanted} into {} (cargo install --locked) ... ",
        tool.root
    );
    let started = std::time::Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["install", "--quiet", "--locked", name, "--version", version])
        .arg("--root")
        .arg(&install_root)
        .status()
        .context("starting cargo install")?;
    if !status.success() {
        eprintln!("failed");
        bail!("cargo install {name} {version} failed: {status}");
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(bin)
}
