//! Fuzzes `moat_domain::describe::snapshot_from_cli_json`, the reader of
//! `aws ec2 describe-security-group-rules` / `describe-security-groups`
//! output behind `cargo xtask policy eval`, and the evaluation of what it
//! reads against the built-in policy (`policies/default.json`). Checks that
//! neither panics; that a refusal is an `Invalid` error; that an accepted
//! document gives one rule per `SecurityGroupRules` entry, in order and
//! with its `sgr-` id; that the snapshot survives the JSON round trip a
//! backup makes and re-evaluates identically after it; and that every
//! evaluation keeps the invariants of `moat_fuzz::check_evaluation`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_domain::ErrorType;
use moat_domain::describe::snapshot_from_cli_json;
use moat_domain::policy::evaluate;
use moat_domain::snapshot::GroupSnapshot;
use moat_fuzz::{ACCOUNT, REGION, builtin, check_evaluation, days};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let snapshot = match snapshot_from_cli_json(&document, ACCOUNT, REGION) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            assert_eq!(error.error_type(), ErrorType::Invalid);
            return;
        }
    };
    assert_eq!(snapshot.region, REGION);
    let entries = document
        .get("SecurityGroupRules")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    assert_eq!(
        snapshot.rules.len(),
        entries.len(),
        "not one rule per SecurityGroupRules entry"
    );
    for (rule, entry) in snapshot.rules.iter().zip(entries) {
        assert_eq!(
            Some(rule.rule_id.as_str()),
            entry.get("SecurityGroupRuleId").and_then(Value::as_str),
            "a rule lost its sgr- id or its place"
        );
    }

    // Backups store the snapshot as JSON and remediation reads it back to
    // restore rules: it must come back exactly.
    let json = serde_json::to_string(&snapshot).expect("a snapshot serialises");
    let back: GroupSnapshot = serde_json::from_str(&json)
        .unwrap_or_else(|error| panic!("a snapshot does not read back ({error}): {json}"));
    assert_eq!(back, snapshot, "a snapshot changed on its JSON round trip");

    for today in days() {
        let evaluation = check_evaluation(builtin(), &snapshot, today);
        assert_eq!(
            evaluate(builtin(), &back, today),
            evaluation,
            "the backed-up snapshot is judged differently"
        );
    }
});
