//! The real `detect` binary refuses to start with a bad MOAT_SELF_ROLE_ARNS, and says which
//! variable is wrong before it touches AWS or the Lambda Runtime API.

#[test]
fn a_missing_or_bad_setting_stops_the_cold_start_and_is_named() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_detect"))
        .env_clear()
        .env("MOAT_SELF_ROLE_ARNS", "not-an-arn")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MOAT_SELF_ROLE_ARNS"),
        "stderr names MOAT_SELF_ROLE_ARNS: {stderr}"
    );
}
