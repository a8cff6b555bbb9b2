//! `cargo xtask test`: every test of the project, from a fresh clone.
//!
//! It installs what the tests need (moto, through `setup`), then runs the
//! unit, adapter and end-to-end tests of the whole workspace in one `cargo
//! test`, so the SDK crates are built once with one feature set.

use std::process::Command;

use anyhow::bail;

use crate::setup;

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    setup::ensure_moto()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(["test", "--workspace"]).args(&args);
    let status = command.status()?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
