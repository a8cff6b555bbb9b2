//! Tidy checks: facts that span files and that no compiler checks, run by
//! `cargo test`. The state machine names functions and error types as
//! strings; these tests keep those strings true.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn definitions() -> Vec<(PathBuf, Value)> {
    let dir = root().join("statemachines");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".asl.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let definition = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
            found.push((path, definition));
        }
    }
    assert!(!found.is_empty(), "no *.asl.json in {}", dir.display());
    found
}

/// Every state a state can go to next.
fn successors(state: &Value) -> Vec<&str> {
    let nested = ["Choices", "Catch"]
        .into_iter()
        .flat_map(|list| {
            state
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|item| item.get("Next"));
    [state.get("Next"), state.get("Default")]
        .into_iter()
        .chain(nested)
        .filter_map(|value| value.and_then(Value::as_str))
        .collect()
}

fn states(definition: &Value) -> &serde_json::Map<String, Value> {
    definition["States"]
        .as_object()
        .expect("States is an object")
}

#[test]
fn every_state_is_reachable_and_every_next_exists() {
    for (path, definition) in definitions() {
        let states = states(&definition);
        let start = definition["StartAt"].as_str().expect("StartAt is a string");
        assert!(
            states.contains_key(start),
            "{}: StartAt {start} is not a state",
            path.display()
        );
        let mut seen = BTreeSet::from([start]);
        let mut queue = vec![start];
        while let Some(name) = queue.pop() {
            for next in successors(&states[name]) {
                assert!(
                    states.contains_key(next),
                    "{}: {name} goes to unknown state {next}",
                    path.display()
                );
                if seen.insert(next) {
                    queue.push(next);
                }
            }
        }
        let unreachable: Vec<_> = states
            .keys()
            .filter(|name| !seen.contains(name.as_str()))
            .collect();
        assert!(
            unreachable.is_empty(),
            "{}: unreachable states {unreachable:?}",
            path.display()
        );
    }
}

#[test]
fn every_non_terminal_state_says_where_to_go() {
    for (path, definition) in definitions() {
        for (name, state) in states(&definition) {
            let kind = state["Type"].as_str().unwrap_or_default();
            let terminal =
                matches!(kind, "Succeed" | "Fail") || state.get("End") == Some(&Value::Bool(true));
            let routes = match kind {
                "Choice" => state.get("Choices").is_some(),
                _ => state.get("Next").is_some(),
            };
            assert!(
                terminal || routes,
                "{}: {name} ({kind}) has no Next and is not terminal",
                path.display()
            );
            assert!(
                state
                    .get("Comment")
                    .and_then(Value::as_str)
                    .is_some_and(|c| !c.is_empty()),
                "{}: {name} has no Comment for the console reader",
                path.display()
            );
        }
    }
}

#[test]
fn every_function_placeholder_names_a_function_and_every_function_is_used() {
    let functions: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut used = BTreeSet::new();
    for (path, definition) in definitions() {
        let text = definition.to_string();
        for placeholder in text
            .split("${")
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
        {
            if let Some(function) = placeholder.strip_suffix("FunctionArn") {
                let function = function.to_lowercase();
                assert!(
                    functions.contains(&function),
                    "{}: ${{{placeholder}}} names no directory functions/{function}",
                    path.display()
                );
                used.insert(function);
            }
        }
    }
    let unused: Vec<_> = functions.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "functions no state machine runs: {unused:?}"
    );
}

#[test]
fn every_error_name_in_retry_and_catch_can_happen() {
    let known: BTreeSet<&str> = moat_domain::ErrorType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    for (path, definition) in definitions() {
        for (name, state) in states(&definition) {
            for list in ["Retry", "Catch"] {
                for rule in state
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for error in rule["ErrorEquals"].as_array().unwrap() {
                        let error = error.as_str().unwrap();
                        let ok = error.starts_with("States.")
                            || error.starts_with("Lambda.")
                            || known.contains(error);
                        assert!(
                            ok,
                            "{}: {name}.{list} matches `{error}`, which no function returns (known: {known:?})",
                            path.display()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_task_retries_transient_errors_and_catches_the_rest() {
    for (path, definition) in definitions() {
        for (name, state) in states(&definition) {
            if state["Type"] != "Task" {
                continue;
            }
            let retried: BTreeSet<&str> = state["Retry"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|rule| rule["ErrorEquals"].as_array().unwrap())
                .filter_map(Value::as_str)
                .collect();
            let resource = state["Resource"].as_str().unwrap_or_default();
            if resource.contains("FunctionArn") {
                for error in [
                    "Throttled",
                    "Retryable",
                    "Lambda.ServiceException",
                    "Lambda.TooManyRequestsException",
                ] {
                    assert!(
                        retried.contains(error),
                        "{}: {name} does not retry {error}",
                        path.display()
                    );
                }
                for rule in state["Retry"].as_array().unwrap() {
                    assert_eq!(
                        rule["JitterStrategy"],
                        "FULL",
                        "{}: {name} retries without jitter",
                        path.display()
                    );
                    assert!(
                        rule.get("MaxDelaySeconds").is_some(),
                        "{}: {name} has no MaxDelaySeconds",
                        path.display()
                    );
                }
            }
            let catches_all = state["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| rule["ErrorEquals"] == serde_json::json!(["States.ALL"]));
            assert!(
                catches_all,
                "{}: {name} does not catch States.ALL",
                path.display()
            );
        }
    }
}

/// Every Rust file says what it is for in its first line.
#[test]
fn every_rust_file_opens_with_a_doc_comment() {
    let mut missing = Vec::new();
    for dir in ["crates", "functions", "xtask", "tests"] {
        for path in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.trim_start().starts_with("//!") {
                missing.push(path);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a //! header: {missing:#?}"
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "target") {
                continue;
            }
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// Every SDK crate is declared once, without default features, with the
/// same features: a member with another feature set would compile the SDK
/// again.
#[test]
fn sdk_crates_share_one_feature_set() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut features: HashMap<&str, &str> = HashMap::new();
    for line in manifest.lines() {
        if line.starts_with("aws-config") || line.starts_with("aws-sdk-") {
            let name = line.split_whitespace().next().unwrap();
            assert!(
                line.contains("default-features = false"),
                "{name} keeps its default features"
            );
            let list = line.split("features = ").nth(1).expect("features listed");
            features.insert(name, list);
        }
    }
    let distinct: BTreeSet<&&str> = features.values().collect();
    assert_eq!(
        distinct.len(),
        1,
        "SDK crates have different features: {features:#?}"
    );
    for member in std::fs::read_dir(root().join("crates"))
        .unwrap()
        .chain(std::fs::read_dir(root().join("functions")).unwrap())
    {
        let manifest = std::fs::read_to_string(member.unwrap().path().join("Cargo.toml")).unwrap();
        for line in manifest.lines().filter(|line| line.starts_with("aws-")) {
            assert!(
                line.contains(".workspace = true"),
                "a member declares its own SDK crate: {line}"
            );
        }
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "a member opts out of the workspace lints"
        );
    }
}

/// `cargo xtask` builds only xtask's dependency graph. If any crate in it
/// resolved other features than in the workspace build, a fresh clone would
/// compile it (and the AWS SDK above it) twice.
#[test]
fn xtask_builds_with_the_workspace_features() {
    let features = |selection: &[&str], edges: &str| -> BTreeSet<String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = std::process::Command::new(cargo)
            .current_dir(root())
            .args([
                "tree",
                "--offline",
                "--locked",
                "--prefix",
                "none",
                "-e",
                edges,
            ])
            .args(selection)
            .output()
            .expect("cargo tree runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains(" feature \"") && !line.contains("(command-line)"))
            .map(|line| line.trim_end_matches(" (*)").to_owned())
            .collect()
    };
    let xtask = features(&["-p", "xtask"], "features,normal,build");
    let workspace = features(&["--workspace"], "features,normal,build,dev");
    let packages: BTreeSet<&str> = xtask
        .iter()
        .filter_map(|line| line.split(' ').next())
        .collect();
    let missing: Vec<&String> = workspace
        .iter()
        .filter(|line| {
            line.split(' ')
                .next()
                .is_some_and(|package| packages.contains(package))
        })
        .filter(|line| !xtask.contains(*line))
        .collect();
    assert!(
        missing.is_empty(),
        "crates xtask shares with the workspace get fewer features in `cargo xtask`; \
         give xtask a dependency that enables them: {missing:#?}"
    );
}
