//! `cargo xtask test`: every test of the project, from a fresh clone.
//!
//! It installs what the tests need (moto, through `setup`), checks the
//! Terraform offline (`infra check`, which installs checkov), checks the
//! dependency tree (`deny`, cargo-deny offline) and the GitHub workflows
//! (`workflows`: actionlint and zizmor), installs chromium for the console
//! test (`setup::ensure_chromium`), then runs the unit, adapter and end-to-end tests of the whole workspace in one `cargo
//! test`, so the SDK crates are built once with one feature set, and
//! last runs every fuzz target briefly (`fuzz::smoke`).

use std::process::Command;

use anyhow::bail;

use crate::{deny, fuzz, infra, setup, workflows};

const USAGE: &str = "\
usage: cargo xtask test [ARGS]...

installs moto (.moto-venv), runs `cargo xtask infra check`, `cargo xtask deny`
and `cargo xtask workflows`, then
`cargo test --workspace ARGS` (ARGS go to cargo test unchanged), then a
short run of every fuzz target (`cargo xtask fuzz`, 10 s each)
";

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    if args
        .first()
        .is_some_and(|arg| arg == "--help" || arg == "-h")
    {
        print!("{USAGE}");
        return Ok(());
    }
    setup::ensure_moto()?;
    infra::check()?;
    deny::check()?;
    workflows::check()?;
    setup::ensure_chromium()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(["test", "--workspace"]).args(&args);
    let status = command.status()?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    fuzz::smoke()
}
