//! Tests of `cargo xtask bench sweep`: its command line, the comparison that
//! fails it, and the whole command path end to end on a small fleet (moto,
//! the local stack, Moat's sweep, c7n installed by `setup::ensure_c7n` and
//! run against moto, the read-backs and the per-change bench).

use std::collections::BTreeSet;

use super::sweep::{Options, USAGE, bench, compare, parse, tools};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| (*arg).to_owned()).collect()
}

#[test]
fn flags_parse_and_bad_ones_are_named() {
    assert_eq!(parse(args(&[])).unwrap(), Some(Options::default()));
    let options = parse(args(&["--groups", "20", "--json", "--changes=3"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        (options.groups, options.changes, options.json),
        (20, 3, true)
    );
    assert_eq!(parse(args(&["--help"])).unwrap(), None);
    let error = parse(args(&["--groups", "lots"])).unwrap_err().to_string();
    assert_eq!(error, "--groups lots is not a number");
    let error = parse(args(&["--groups", "1"])).unwrap_err().to_string();
    assert!(error.contains("at least 2"), "{error}");
    let error = parse(args(&["--group", "3"])).unwrap_err().to_string();
    assert!(error.contains("--group"), "{error}");
    assert!(USAGE.contains("--groups N"));
}

#[test]
fn different_fixes_fail_naming_each_tools_extra_groups() {
    let set = |names: &[&str]| -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    };
    compare(&set(&["a", "b"]), &set(&["a", "b"])).unwrap();
    let error = compare(&set(&["a", "b"]), &set(&["a", "c"]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("only Moat fixed [b]"), "{error}");
    assert!(error.contains("only Custodian fixed [c]"), "{error}");
    let many: BTreeSet<String> = (0..25).map(|index| format!("g{index:02}")).collect();
    let error = compare(&many, &BTreeSet::new()).unwrap_err().to_string();
    assert!(error.contains("g09 and 15 more"), "{error}");
}

/// The command's path on 20 groups: the run fails (and so this test) if
/// Moat and Custodian fixed different groups, touched a clean one, or a
/// remediation failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_groups_are_fixed_alike_by_moat_and_custodian() {
    let custodian = tokio::task::spawn_blocking(tools)
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("{error:#}"));
    let options = Options {
        groups: 20,
        changes: 2,
        max_environments: 4,
        json: true,
    };
    let report = bench(&options, &custodian)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.violators, 19);
    assert_eq!(report.moat_fixed.len(), 19, "every violator fixed");
    assert_eq!(report.moat_fixed, report.custodian_fixed);
    assert_eq!(
        report.custodian.matched, 19,
        "c7n matched exactly the violators"
    );
    assert!(
        report.moat.remediations >= 19,
        "{}",
        report.moat.remediations
    );
    assert!(report.moat.sweep_events > 0 && report.moat.children >= 1);
    let json = report.to_json();
    for field in ["moat", "custodian", "ratioMoatToCustodian", "perChange"] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
    assert!(json["perChange"]["warmMedianMs"].as_i64().unwrap() > 0);
}
