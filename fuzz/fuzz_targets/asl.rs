//! Fuzzes `sfn_local::StateMachine::new`, the Amazon States Language
//! parser and validator that `cargo xtask sfn` and the local Step Functions
//! endpoint's `CreateStateMachine` run on every definition (its paths,
//! templates, intrinsic functions, Choice rules, Retry and Catch). Checks
//! that it never panics and decides the same way twice, with the same
//! message; that an accepted definition agrees with the transition checker
//! the tidy tests use (`sfn_local::asl::unreachable_states` finds no
//! unreachable state and no missing target); and that its compact
//! re-serialisation is accepted too.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sfn_local::StateMachine;
use sfn_local::asl::unreachable_states;

fuzz_target!(|data: &[u8]| {
    // A definition is a string in the API.
    let Ok(definition) = std::str::from_utf8(data) else {
        return;
    };
    let substitutions = HashMap::new();
    let first = StateMachine::new("fuzz", definition, &substitutions);
    let second = StateMachine::new("fuzz", definition, &substitutions);
    match (&first, &second) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(
            a.to_string(),
            b.to_string(),
            "two messages for one definition"
        ),
        _ => panic!("accepted once and refused once: {first:?} / {second:?}"),
    }
    if first.is_err() {
        return;
    }
    let value: Value = serde_json::from_str(definition).expect("an accepted definition is JSON");
    assert_eq!(
        unreachable_states(&value),
        Ok(Vec::new()),
        "the validator accepted a definition the transition checker faults"
    );
    // Written back, an escaped `\u0024{` would become a placeholder, which
    // the substitution step refuses before parsing; such text is skipped.
    let compact = serde_json::to_string(&value).expect("a Value serialises");
    if !compact.contains("${")
        && let Err(error) = StateMachine::new("fuzz", &compact, &substitutions)
    {
        panic!("the compact form of an accepted definition is refused ({error}): {compact}");
    }
});
