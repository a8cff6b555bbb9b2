//! Building the function binaries that the local commands run. `demo` and
//! `bench` both need them, and they build them here, one way, so that
//! neither reaches into the other and both build what the tests built.

use std::process::Command;

use crate::setup;

/// Builds every binary of the workspace with the same features as the
/// tests, so a run after the tests (or before) builds nothing twice.
/// `command` names the xtask command in the progress line.
pub(crate) fn function_binaries(command: &str) -> anyhow::Result<()> {
    eprintln!("{command}: building the functions (cargo build --workspace --bins)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    setup::run_checked(Command::new(cargo).args(["build", "--workspace", "--bins"]))
}
