//! Fuzzes `Policy::from_json`, the parser and validator that `cargo xtask
//! policy validate`, `policy push` and the policy store use on every
//! document. Checks that it never panics and decides the same way twice;
//! that a refusal is an `InvalidPolicy` listing at least one problem, each
//! at a JSON path; and that an accepted policy is well formed (unique rule
//! ids, each found by `Policy::rule`), reads back identically when
//! re-serialised compactly or given a byte-order mark, and judges the
//! fixture groups with evaluations that keep every evaluation invariant
//! (see `moat_fuzz::check_evaluation`).

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use moat_domain::Error;
use moat_domain::policy::{MAX_POLICY_BYTES, Policy};
use moat_fuzz::{check_evaluation, days, fixture_groups};
use serde_json::Value;

const BOM: char = '\u{feff}';

fuzz_target!(|data: &[u8]| {
    // The policy store reads the object body as UTF-8 text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Policy::from_json(text);
    assert_eq!(
        parsed,
        Policy::from_json(text),
        "two verdicts on one document"
    );
    if !text.starts_with(BOM) && text.len() + BOM.len_utf8() <= MAX_POLICY_BYTES {
        let marked = format!("{BOM}{text}");
        assert_eq!(
            Policy::from_json(&marked),
            parsed,
            "a byte-order mark changed the verdict"
        );
    }
    match parsed {
        Ok(policy) => check_accepted(text, &policy),
        Err(Error::InvalidPolicy { problems }) => {
            assert!(!problems.is_empty(), "refused without a problem");
            for problem in &problems {
                assert!(
                    problem.path.starts_with('$'),
                    "a problem without a JSON path: {problem}"
                );
            }
        }
        Err(other) => panic!("refused with something other than InvalidPolicy: {other}"),
    }
});

fn check_accepted(text: &str, policy: &Policy) {
    let mut ids = BTreeSet::new();
    for rule in policy.rules() {
        assert!(
            ids.insert(rule.id.as_str()),
            "rule id {} accepted twice",
            rule.id
        );
        assert_eq!(policy.rule(&rule.id), Some(rule));
    }
    // An accepted document has no duplicate keys, so its `Value` is all of
    // it: written back compactly it must mean the same policy.
    let value: Value = serde_json::from_str(text.strip_prefix(BOM).unwrap_or(text))
        .expect("an accepted policy is JSON");
    let compact = serde_json::to_string(&value).expect("a Value serialises");
    if compact.len() <= MAX_POLICY_BYTES {
        assert_eq!(
            Policy::from_json(&compact).as_ref(),
            Ok(policy),
            "the compact form of an accepted policy reads differently: {compact}"
        );
    }
    for group in fixture_groups() {
        for today in days() {
            check_evaluation(policy, group, today);
        }
    }
}
