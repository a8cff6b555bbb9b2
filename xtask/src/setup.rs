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
    // A venv that `python3 -m venv` left half made (no pip, as on systems
    // without ensurepip) is made again rather than trusted.
    let venv_python = venv.join("bin").join("python");
    let has_pip = Command::new(&venv_python)
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_pip {
        eprintln!("setup: creating {}", venv.display());
        run_checked(Command::new(&python).args(["-m", "venv", "--clear"]).arg(&venv)).with_context(|| {
            format!(
                "creating the moto virtualenv with `{python} -m venv` (install python3 with its venv module, \
                 e.g. `apt-get install python3-venv`, or point MOAT_PYTHON at another python3)"
            )
        })?;
    }
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
