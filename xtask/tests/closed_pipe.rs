//! `cargo xtask ... | head`: when the reader goes away, the command stops
//! quietly (no panic, no backtrace) with the closed-pipe status.

use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_stops_the_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("help")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    // Closing the read end before the command prints makes its first
    // write fail with EPIPE, as `| head` does after the first lines.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("xtask ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(output.status.code(), Some(141), "stderr: {stderr}");
}
