//! Fuzzes `moat_domain::event::detect`, the reader that turns the
//! EventBridge "AWS API Call via CloudTrail" event starting every execution
//! into a `Change` (or a skip, or an error). Checks that it never panics,
//! that it decides the same way twice, and that what it accepts is what the
//! rest of the pipeline can use: a `Change` names a non-empty group, its
//! event name is one Moat knows, and it survives the JSON round trip it
//! makes through the state machine to the later functions unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_domain::event::{Change, Detection, EventName, GroupRef, SelfIdentity, detect};
use serde_json::Value;

/// The self-role pattern the detect function is deployed with.
const SELF_ROLES: &str = "arn:aws:iam::*:role/moat-remediation";

fuzz_target!(|data: &[u8]| {
    // detect reads a parsed event (lambda_runtime hands it a Value), so
    // bytes that are not JSON never reach it.
    let Ok(event) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let me = SelfIdentity::parse(SELF_ROLES).expect("the deployed self-role pattern parses");
    let first = detect(&event, &me);
    let second = detect(&event, &me);
    assert_eq!(first, second, "detect decided the same event two ways");
    match first {
        Ok(Detection::Change(change)) => check_change(&event, &change),
        Ok(Detection::Skip(skip)) => {
            assert_eq!(
                Some(skip.event_id.as_str()),
                event.pointer("/detail/eventID").and_then(Value::as_str),
                "a skip names another event than the one read"
            );
            assert!(
                EventName::parse(&skip.event_name).is_some(),
                "skipped an event name Moat does not handle: {}",
                skip.event_name
            );
        }
        Err(error) => {
            // Every refusal is an `Invalid` error (the state machine's
            // Catch routes it by that name), never something else.
            assert_eq!(error.error_type(), moat_domain::ErrorType::Invalid);
        }
    }
});

fn check_change(event: &Value, change: &Change) {
    assert_eq!(
        EventName::parse(change.event_name.as_str()),
        Some(change.event_name)
    );
    assert_eq!(
        Some(change.event_id.as_str()),
        event.pointer("/detail/eventID").and_then(Value::as_str),
        "the change carries another event id than the event's"
    );
    match &change.group {
        GroupRef::Id { group_id } => assert!(!group_id.is_empty(), "empty group id"),
        GroupRef::Name { group_name } => assert!(!group_name.is_empty(), "empty group name"),
    }
    // detect's output goes into the execution's JSON and is read back by
    // evaluate, backup, remediate and notify: it must come back the same.
    let json = serde_json::to_string(change).expect("a change serialises");
    let back: Change = serde_json::from_str(&json)
        .unwrap_or_else(|error| panic!("a change does not read back ({error}): {json}"));
    assert_eq!(&back, change, "a change changed on its JSON round trip");
}
