//! The real `detect` binary refuses to start without a usable
//! MOAT_SELF_ROLE_ARNS, and says which variable is wrong before it touches
//! AWS or the Lambda Runtime API.
//!
//! Missing and empty count as wrong: without its own role Moat would judge
//! its own revokes and react to them.

/// Runs the binary with only `MOAT_SELF_ROLE_ARNS` set (or nothing) and
/// returns its stderr, checking that it failed.
fn cold_start(self_role_arns: Option<&str>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_detect"));
    command.env_clear();
    if let Some(value) = self_role_arns {
        command.env("MOAT_SELF_ROLE_ARNS", value);
    }
    let output = command.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{self_role_arns:?} must stop the cold start: {stderr}"
    );
    stderr
}

#[test]
fn a_missing_or_bad_setting_stops_the_cold_start_and_is_named() {
    for (value, says) in [
        (Some("not-an-arn"), "not of the form"),
        (None, "MOAT_SELF_ROLE_ARNS is not set"),
        (Some(""), "MOAT_SELF_ROLE_ARNS is set but empty"),
        (Some(" , "), "is empty"),
    ] {
        let stderr = cold_start(value);
        assert!(
            stderr.contains("MOAT_SELF_ROLE_ARNS") && stderr.contains(says),
            "stderr for {value:?} names MOAT_SELF_ROLE_ARNS and says `{says}`: {stderr}"
        );
    }
}
