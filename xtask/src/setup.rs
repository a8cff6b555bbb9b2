//! `cargo xtask setup`: installs what the tests and the demo need and the
//! repository cannot carry, idempotently: moto in the project's virtualenv.
//!
//! A second run with everything in place does nothing but say so, so every
//! command that needs moto can call this first.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    if let Some(extra) = args.first() {
        bail!("`setup` takes no arguments, got `{extra}`");
    }
    ensure_moto()
}

/// Creates `.moto-venv` and installs the pinned moto unless the venv already
/// records that exact requirement.
pub(crate) fn ensure_moto() -> anyhow::Result<()> {
    if local_aws::installed_python().is_ok() {
        eprintln!("setup: {} already installed", local_aws::MOTO_REQUIREMENT);
        return Ok(());
    }
    let venv = local_aws::venv_dir();
    let python = std::env::var("MOAT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !venv.join("bin").join("python").exists() {
        eprintln!("setup: creating {}", venv.display());
        run_checked(Command::new(&python).arg("-m").arg("venv").arg(&venv))
            .with_context(|| format!("creating the moto virtualenv with `{python} -m venv` (is python3 with the venv module installed?)"))?;
    }
    let venv_python = venv.join("bin").join("python");
    eprintln!("setup: installing {}", local_aws::MOTO_REQUIREMENT);
    run_checked(
        Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(local_aws::MOTO_REQUIREMENT),
    )
    .context("installing moto into the project's virtualenv")?;
    write_marker(&venv)?;
    local_aws::installed_python()
        .context("moto was installed but is not found where the tests look")?;
    eprintln!("setup: moto ready in {}", venv.display());
    Ok(())
}

fn write_marker(venv: &Path) -> anyhow::Result<()> {
    let marker = venv.join("moat-moto-requirement.txt");
    std::fs::write(&marker, format!("{}\n", local_aws::MOTO_REQUIREMENT))
        .with_context(|| format!("writing {}", marker.display()))
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
