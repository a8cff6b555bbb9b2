//! Every command and subcommand reads its command line the same way:
//! `--help` prints its usage and exits 0, and a flag it does not know is
//! named, followed by the usage, with exit status 2. None of these starts
//! anything: a bad command line is refused before any build or server.

use std::process::{Command, Output};

/// Every command line that takes flags, as its words before the flag.
const COMMANDS: &[&[&str]] = &[
    &["demo"],
    &["bench"],
    &["smoke"],
    &["sfn", "run"],
    &["sfn", "serve"],
    &["infra"],
    &["package"],
    &["policy", "validate"],
    &["policy", "eval"],
    &["policy", "push"],
    &["fuzz"],
    &["storm"],
    &["executions", "list"],
    &["executions", "show"],
    &["executions", "redrive"],
    &["approve"],
    &["reject"],
    &["lockdown"],
    &["sweep"],
    &["undo"],
    &["status"],
    &["failover"],
    &["failback"],
    &["restore", "policy"],
    &["restore", "records"],
    &["drill"],
    &["report"],
    &["deny"],
    &["workflows"],
    &["asff"],
];

fn xtask(words: &[&str], last: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(words)
        .arg(last)
        .output()
        .expect("xtask runs")
}

#[test]
fn help_prints_the_usage_and_succeeds() {
    for words in COMMANDS.iter().chain(&[&["test"][..]]) {
        let output = xtask(words, "--help");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{words:?} --help");
        assert!(stdout.contains("usage:"), "{words:?} --help: {stdout}");
    }
}

#[test]
fn an_unknown_flag_is_named_with_the_usage_and_exits_2() {
    for words in COMMANDS {
        let output = xtask(words, "--no-such-flag");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{words:?}: {stderr}");
        assert!(stderr.contains("--no-such-flag"), "{words:?}: {stderr}");
        assert!(stderr.contains("usage:"), "{words:?}: {stderr}");
    }
}

#[test]
fn an_unknown_command_exits_2() {
    for words in [&["no-such-command"][..], &["sfn"], &["policy"], &["infra"]] {
        let output = xtask(words, "no-such-subcommand");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{words:?}: {stderr}");
        assert!(stderr.contains("no-such"), "{words:?}: {stderr}");
    }
}
