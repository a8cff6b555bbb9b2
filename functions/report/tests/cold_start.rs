//! The real `report` binary refuses to start with no MOAT_REPORTS_BUCKET, and says which
//! variable is wrong before it touches AWS or the Lambda Runtime API.

#[test]
fn a_missing_or_bad_setting_stops_the_cold_start_and_is_named() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_report"))
        .env_clear()
        .env("MOAT_TABLE", "moat-records")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MOAT_REPORTS_BUCKET"),
        "stderr names MOAT_REPORTS_BUCKET: {stderr}"
    );
}
