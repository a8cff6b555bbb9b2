//! `cargo xtask ... | head`: when the reader goes away, the command stops
//! quietly (no panic, no backtrace) with the closed-pipe status.

use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_stops_the_command_quietly() {
    // The read end is closed before the command starts, so its first
    // write fails with EPIPE, as `| head` makes a later one fail.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("help")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(output.status.code(), Some(141), "stderr: {stderr}");
}
