//! The transitions between the states of a block, read from the
//! definition's JSON: where each state can go, which of those targets name
//! no state, and which states cannot be reached from `StartAt`.
//!
//! This is the one place that knows these facts. The validator reports
//! them as `MISSING_TRANSITION_TARGET` and `UNREACHABLE_STATE`;
//! `unreachable_states` gives them to callers that hold a definition whose
//! `${...}` placeholders are not filled in, such as the workspace's tidy
//! test, which the full validation would refuse.

use std::collections::HashSet;

use serde_json::{Map, Value};

/// Where one state can go: each target with the field that names it
/// (`Next`, `Choices[0]/Next`, `Default`, `Catch[1]/Next`).
///
/// `Next` counts only on the types that may have it: Choice, Succeed and
/// Fail states end or branch by their own rules, and the validator refuses
/// a `Next` on them without following it.
pub(super) fn transitions(state: &Value) -> Vec<(&str, String)> {
    let kind = state
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut out = Vec::new();
    if !matches!(kind, "Choice" | "Succeed" | "Fail")
        && let Some(next) = state.get("Next").and_then(Value::as_str)
    {
        out.push((next, "Next".to_owned()));
    }
    if kind == "Choice" {
        for (i, rule) in list(state, "Choices").iter().enumerate() {
            if let Some(next) = rule.get("Next").and_then(Value::as_str) {
                out.push((next, format!("Choices[{i}]/Next")));
            }
        }
        if let Some(default) = state.get("Default").and_then(Value::as_str) {
            out.push((default, "Default".to_owned()));
        }
    }
    for (i, catcher) in list(state, "Catch").iter().enumerate() {
        if let Some(next) = catcher.get("Next").and_then(Value::as_str) {
            out.push((next, format!("Catch[{i}]/Next")));
        }
    }
    out
}

fn list<'a>(state: &'a Value, field: &str) -> &'a [Value] {
    state
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// AWS's problem for a `StartAt` or a transition (at the JSON pointer
/// `at`) that names no state of its block.
pub(super) fn missing_target(target: &str, at: &str) -> String {
    format!("MISSING_TRANSITION_TARGET: Missing 'Next' target: {target} at {at}")
}

/// The problems of the transitions of the states `names` (in the order of
/// `states`) of the block at `at`.
pub(super) fn missing_targets(
    states: &Map<String, Value>,
    mut names: impl FnMut(&str) -> bool,
    at: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, state) in states.iter().filter(|(name, _)| names(name)) {
        for (target, field) in transitions(state) {
            if !states.contains_key(target) {
                problems.push(missing_target(
                    target,
                    &format!("{at}/States/{name}/{field}"),
                ));
            }
        }
    }
    problems
}

/// The states of a block that cannot be reached from `start_at`, sorted
/// by name.
pub(super) fn unreachable<'a>(start_at: &str, states: &'a Map<String, Value>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    let mut stack = vec![start_at];
    while let Some(name) = stack.pop() {
        if seen.insert(name)
            && let Some(state) = states.get(name)
        {
            stack.extend(transitions(state).into_iter().map(|(target, _)| target));
        }
    }
    let mut names: Vec<&str> = states
        .keys()
        .map(String::as_str)
        .filter(|name| !seen.contains(name))
        .collect();
    names.sort_unstable();
    names
}

/// The names of the states that cannot be reached from their block's
/// `StartAt`, in every block of a definition: the machine, each Parallel
/// branch and each Map's `ItemProcessor` (or `Iterator`), block by block.
///
/// `Err` lists, in AWS's words, every `StartAt` or transition that names a
/// state its block does not hold, and every block without `StartAt` or
/// `States`. Placeholders such as `${DetectFunctionArn}` need not be
/// filled in, and nothing else about the definition is checked.
pub fn unreachable_states(definition: &Value) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    check_block(definition, "", &mut found, &mut problems);
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems.join(", "))
    }
}

/// Adds the unreachable states of the block at `at`, and of the blocks its
/// states hold, to `found`, or what stops them being known to `problems`.
fn check_block(block: &Value, at: &str, found: &mut Vec<String>, problems: &mut Vec<String>) {
    let start_at = block.get("StartAt").and_then(Value::as_str);
    let states = block.get("States").and_then(Value::as_object);
    let (Some(start_at), Some(states)) = (start_at, states) else {
        let at = if at.is_empty() { "/" } else { at };
        problems.push(format!("the block at {at} needs StartAt and States"));
        return;
    };
    let mut missing = missing_targets(states, |_| true, at);
    if !states.contains_key(start_at) {
        missing.insert(0, missing_target(start_at, &format!("{at}/StartAt")));
    }
    if missing.is_empty() {
        found.extend(unreachable(start_at, states).into_iter().map(str::to_owned));
    }
    problems.append(&mut missing);
    for (name, state) in states {
        for (field, inner) in blocks_in(state) {
            check_block(
                inner,
                &format!("{at}/States/{name}/{field}"),
                found,
                problems,
            );
        }
    }
}

/// The blocks a state holds, with the field that holds each.
fn blocks_in(state: &Value) -> Vec<(String, &Value)> {
    match state.get("Type").and_then(Value::as_str) {
        Some("Parallel") => list(state, "Branches")
            .iter()
            .enumerate()
            .map(|(i, branch)| (format!("Branches[{i}]"), branch))
            .collect(),
        Some("Map") => ["ItemProcessor", "Iterator"]
            .into_iter()
            .filter_map(|field| state.get(field).map(|block| (field.to_owned(), block)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_of_transition_makes_a_state_reachable() {
        let definition = json!({"StartAt": "Task", "States": {
            "Task": {"Type": "Task", "Resource": "${DetectFunctionArn}", "Next": "Route",
                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]},
            "Route": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "Done"}],
                      "Default": "Wait"},
            "Wait": {"Type": "Wait", "Seconds": 1, "End": true},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail"}
        }});
        assert_eq!(unreachable_states(&definition), Ok(Vec::new()));
    }

    #[test]
    fn unreachable_states_are_named_in_every_block() {
        let definition = json!({"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}}
            ]},
            "Lost": {"Type": "Pass", "End": true},
            "Also lost": {"Type": "Map", "End": true, "ItemProcessor":
                {"StartAt": "B", "States": {"B": {"Type": "Succeed"}, "Stray": {"Type": "Succeed"}}}}
        }});
        assert_eq!(
            unreachable_states(&definition),
            Ok(vec![
                "Also lost".to_owned(),
                "Lost".to_owned(),
                "Stray".to_owned(),
                "Orphan".to_owned()
            ])
        );
    }

    #[test]
    fn a_next_or_start_at_that_names_no_state_is_an_error() {
        let definition = json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "D"}], "Default": "A"}
        }});
        assert_eq!(
            unreachable_states(&definition),
            Err("MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next, MISSING_TRANSITION_TARGET: Missing 'Next' target: D at /States/C/Choices[0]/Next".to_owned())
        );
        let definition = json!({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}});
        assert_eq!(
            unreachable_states(&definition),
            Err("MISSING_TRANSITION_TARGET: Missing 'Next' target: Z at /StartAt".to_owned())
        );
        assert_eq!(
            unreachable_states(&json!({"States": {}})),
            Err("the block at / needs StartAt and States".to_owned())
        );
    }

    #[test]
    fn next_counts_only_where_the_type_allows_it() {
        let succeed = json!({"Type": "Succeed", "Next": "X"});
        assert!(transitions(&succeed).is_empty());
        let pass = json!({"Type": "Pass", "Next": "X", "Default": "Y"});
        assert_eq!(transitions(&pass), vec![("X", "Next".to_owned())]);
    }
}
