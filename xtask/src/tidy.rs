//! Tidy checks: facts that span files and that no compiler checks, run by
//! `cargo test`. The state machine names functions and error types as
//! strings; these tests keep those strings true.

mod runbooks;

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

fn states(definition: &Value) -> &serde_json::Map<String, Value> {
    definition["States"]
        .as_object()
        .expect("States is an object")
}

/// Reachability is the executor's validator's own check, so the tidy test
/// and `sfn-local` cannot disagree on what "reachable" means.
#[test]
fn every_state_is_reachable_and_every_next_exists() {
    for (path, definition) in definitions() {
        let unreachable = sfn_local::asl::unreachable_states(&definition)
            .unwrap_or_else(|problems| panic!("{}: {problems}", path.display()));
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
    let spec = moat_stack::StackSpec::load().unwrap();
    let placeholders: HashMap<String, &String> = spec
        .functions
        .keys()
        .map(|function| (moat_stack::function_placeholder(function), function))
        .collect();
    let mut used = BTreeSet::new();
    for (path, definition) in definitions() {
        let text = definition.to_string();
        for placeholder in text
            .split("${")
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .filter(|placeholder| placeholder.ends_with("FunctionArn"))
        {
            let function = placeholders.get(placeholder).unwrap_or_else(|| {
                panic!(
                    "{}: ${{{placeholder}}} names no function of infra/stack.json",
                    path.display()
                )
            });
            used.insert(function.as_str());
        }
    }
    let unused: Vec<_> = spec
        .functions
        .keys()
        .filter(|function| !used.contains(function.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "functions no state machine runs: {unused:?}"
    );
}

/// infra/stack.json and `functions/` name the same functions.
#[test]
fn the_stack_describes_every_function_directory() {
    let spec = moat_stack::StackSpec::load().unwrap();
    let directories: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let described: BTreeSet<String> = spec.functions.keys().cloned().collect();
    assert_eq!(
        directories, described,
        "functions/ and infra/stack.json disagree"
    );
}

/// Each function reads exactly the environment variables infra/stack.json
/// declares for it, so Terraform and the local stack set what it needs and
/// nothing else. What a function reads is found in its `main.rs`: every
/// `env::NAME` constant it names, plus the member-access variables when it
/// calls `MemberAccess::from_env`.
#[test]
fn function_environments_match_the_stack() {
    let spec = moat_stack::StackSpec::load().unwrap();
    let constants: HashMap<&str, &str> = moat_aws::config::env::ALL.iter().copied().collect();
    for (function, function_spec) in &spec.functions {
        let path = root().join("functions").join(function).join("src/main.rs");
        let main = std::fs::read_to_string(&path).unwrap();
        assert!(
            !main.contains("\"MOAT_"),
            "{}: name variables by their moat_aws::config::env constant, not a literal",
            path.display()
        );
        let mut read: BTreeSet<&str> = main
            .split("env::")
            .skip(1)
            .map(|rest| {
                let end = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .filter(|name| !name.is_empty())
            .map(|name| {
                *constants
                    .get(name)
                    .unwrap_or_else(|| panic!("{}: env::{name} is not a constant", path.display()))
            })
            .collect();
        if main.contains("MemberAccess::from_env") {
            read.extend(moat_aws::MemberAccess::ENVIRONMENT);
        }
        let declared: BTreeSet<&str> = function_spec
            .environment
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            read, declared,
            "{function}: what main.rs reads (left) differs from infra/stack.json (right)"
        );
    }
}

/// Production code reaches AWS only through moat-aws: the functions depend
/// on no SDK crate and name none, moat-aws re-exports none, and the domain,
/// the stack description and the test doubles stay free of the SDK. Local
/// tooling (local-aws, local-stack, sfn-local, tests, xtask) may use the SDK
/// directly: it never runs in a Lambda function.
#[test]
fn production_code_reaches_aws_only_through_moat_aws() {
    let dependencies = |manifest: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(manifest).unwrap();
        let normal = text
            .split("[dependencies]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_default();
        normal
            .lines()
            .filter_map(|line| line.split(['.', ' ', '=']).next())
            .filter(|name| !name.is_empty() && !name.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let sdk_free: Vec<PathBuf> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .chain(
            ["moat-domain", "moat-stack", "moat-memory"]
                .map(|name| root().join("crates").join(name)),
        )
        .collect();
    for crate_dir in &sdk_free {
        let deps = dependencies(&crate_dir.join("Cargo.toml"));
        let sdk: Vec<&String> = deps
            .iter()
            .filter(|name| name.starts_with("aws-"))
            .collect();
        assert!(sdk.is_empty(), "{} depends on {sdk:?}", crate_dir.display());
        assert!(
            !deps.iter().any(|name| name == "moat-memory"),
            "{} ships the test doubles: moat-memory is a dev-dependency only",
            crate_dir.display()
        );
        for path in rust_files(&crate_dir.join("src")) {
            let text = std::fs::read_to_string(&path).unwrap();
            for sdk_path in ["aws_sdk_", "aws_config", "aws_smithy"] {
                assert!(
                    !text.contains(sdk_path),
                    "{} names {sdk_path}: go through moat-aws",
                    path.display()
                );
            }
        }
    }
    for path in rust_files(&root().join("crates/moat-aws/src")) {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text
                .lines()
                .any(|line| line.trim_start().starts_with("pub use aws")),
            "{} re-exports an SDK crate",
            path.display()
        );
    }
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
            let function = state
                .pointer("/Parameters/FunctionName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if resource.contains("FunctionArn") || function.contains("FunctionArn") {
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

/// A review waits for a person in the state the decision commands look
/// for, as long as the policy says, and never longer than the execution
/// may run: the machine's `TimeoutSeconds` leaves room for the longest
/// review a policy may set.
#[test]
fn the_review_waits_in_its_named_state_within_the_machines_timeout() {
    let spec = moat_stack::StackSpec::load().unwrap();
    let text = spec.state_machine_definition().unwrap();
    let definition: Value = serde_json::from_str(&text).unwrap();
    let review = &states(&definition)[moat_stack::REVIEW_STATE];
    assert_eq!(
        review["Resource"],
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "{} must wait for a task token",
        moat_stack::REVIEW_STATE
    );
    assert_eq!(
        review["TimeoutSecondsPath"],
        "$.evaluation.reviewTimeoutSeconds"
    );
    assert_eq!(
        review["Parameters"]["Payload"]["taskToken.$"],
        "$$.Task.Token"
    );
    let longest_review = u64::from(moat_domain::policy::MAX_REVIEW_TIMEOUT_HOURS) * 3600;
    let machine_timeout = definition["TimeoutSeconds"].as_u64().unwrap();
    // An hour for everything around the review: it never decides the end.
    assert!(
        machine_timeout >= longest_review + 3600,
        "TimeoutSeconds {machine_timeout} leaves no room for a {longest_review} s review"
    );
}

/// The sweep's Distributed Map writes its results where the report
/// function reads them: the ASL's `States.Format` prefix is
/// `sweep::map_results_prefix`'s.
#[test]
fn the_sweep_writes_its_map_results_where_the_report_reads_them() {
    let spec = moat_stack::StackSpec::load().unwrap();
    let definition: Value =
        serde_json::from_str(&spec.sweep_state_machine_definition().unwrap()).unwrap();
    let map = &states(&definition)["Judge every group"];
    let prefix = map["ResultWriter"]["Parameters"]["Prefix.$"]
        .as_str()
        .unwrap();
    let expected = format!(
        "States.Format('{}', $.sweepId)",
        moat_domain::sweep::map_results_prefix("{}")
    );
    assert_eq!(prefix, expected);
    assert_eq!(
        map["ItemReader"]["ReaderConfig"]["InputType"], "JSONL",
        "the inventory function writes JSON Lines"
    );
}

/// The dashboard shows exactly the metrics the functions emit: the
/// Terraform list of Moat's own metric names is `moat_domain::metrics`'s.
#[test]
fn the_dashboard_names_every_metric_the_functions_emit() {
    let text = std::fs::read_to_string(root().join("infra/modules/central/monitoring.tf")).unwrap();
    let block = text
        .split("moat_metrics = {")
        .nth(1)
        .expect("monitoring.tf has a moat_metrics block");
    let field = |name: &str| -> String {
        let line = block
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{name} ")))
            .unwrap();
        line.split('=').nth(1).unwrap().trim().to_owned()
    };
    assert_eq!(
        field("namespace"),
        format!("\"{}\"", moat_domain::metrics::NAMESPACE)
    );
    assert_eq!(
        field("dimension"),
        format!("\"{}\"", moat_domain::metrics::FUNCTION_DIMENSION)
    );
    let names: BTreeSet<String> = field("names")
        .trim_matches(['[', ']'])
        .split(',')
        .map(|name| name.trim().trim_matches('"').to_owned())
        .collect();
    let emitted: BTreeSet<String> = moat_domain::metrics::METRICS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(
        names, emitted,
        "monitoring.tf (left) and moat_domain::metrics (right)"
    );
}

/// Every Rust file says what it is for in its first line.
#[test]
fn every_rust_file_opens_with_a_doc_comment() {
    let mut missing = Vec::new();
    for dir in ["crates", "functions", "xtask", "tests", "fuzz"] {
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

/// ARCHITECTURE.md and the README name every crate, so a new crate cannot
/// arrive without its place in the map.
#[test]
fn the_docs_name_every_crate() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let path = format!("crates/{name}");
        assert!(
            architecture.contains(&path),
            "ARCHITECTURE.md does not name {path}"
        );
        assert!(readme.contains(&path), "README.md does not name {path}");
    }
}

/// ARCHITECTURE.md's "Retried:" line names exactly the errors the state
/// machines retry.
#[test]
fn the_architecture_names_what_the_state_machines_retry() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = architecture
        .split("- Retried:")
        .nth(1)
        .and_then(|rest| rest.split("- Caught:").next())
        .expect("ARCHITECTURE.md has a `- Retried:` line before `- Caught:`");
    let documented: BTreeSet<&str> = section.split('`').skip(1).step_by(2).collect();
    let mut retried = BTreeSet::new();
    for (_, definition) in definitions() {
        for state in states(&definition).values() {
            for rule in state
                .get("Retry")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for error in rule["ErrorEquals"].as_array().unwrap() {
                    let error = error.as_str().unwrap().to_owned();
                    // The dead-letter send retries everything: it is the last
                    // resort, not a policy about error types.
                    if error != "States.ALL" {
                        retried.insert(error);
                    }
                }
            }
        }
    }
    let retried: BTreeSet<&str> = retried.iter().map(String::as_str).collect();
    assert_eq!(
        documented, retried,
        "ARCHITECTURE.md's Retried line (left) and the ASL (right) disagree"
    );
}

/// Every `cargo xtask <command> --flag` a GitHub workflow runs names a
/// command `main` dispatches, whose module's usage mentions the flag: a
/// renamed command or flag breaks the test here, not the deployment.
#[test]
fn every_xtask_command_a_workflow_runs_exists_with_its_flags() {
    let main = std::fs::read_to_string(root().join("xtask/src/main.rs")).unwrap();
    let module_of = |command: &str| -> Option<String> {
        let arm = main.split(&format!("\"{command}\" => ")).nth(1)?;
        Some(arm.split("::").next()?.trim().to_owned())
    };
    let usage_of = |module: &str| -> String {
        let source = std::fs::read_to_string(root().join(format!("xtask/src/{module}.rs")))
            .unwrap_or_else(|error| panic!("xtask/src/{module}.rs: {error}"));
        let usage = source
            .split("const USAGE: &str = \"")
            .nth(1)
            .and_then(|rest| rest.split("\";").next())
            .unwrap_or_else(|| panic!("xtask/src/{module}.rs has no `const USAGE`"));
        usage.to_owned()
    };
    let dir = root().join(".github/workflows");
    let mut calls = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
        {
            for call in line.split("cargo xtask ").skip(1) {
                // A command ends where the shell starts another one.
                let call = call.split(['|', ';', '&']).next().unwrap_or_default();
                let words: Vec<&str> = call.split_whitespace().collect();
                calls.push((
                    name.clone(),
                    words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>(),
                ));
            }
        }
    }
    assert!(
        !calls.is_empty(),
        "no workflow in {} runs cargo xtask",
        dir.display()
    );
    for (file, words) in calls {
        let command = words
            .first()
            .unwrap_or_else(|| panic!("{file}: `cargo xtask` alone"));
        let module = module_of(command).unwrap_or_else(|| {
            panic!("{file}: `cargo xtask {command}` is no command of xtask/src/main.rs")
        });
        let usage = usage_of(&module);
        for flag in words.iter().filter(|word| word.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            // `--regio` must not pass for `--region`: the flag ends where
            // the usage's word ends.
            let named = usage.match_indices(flag).any(|(at, _)| {
                !usage[at + flag.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            });
            assert!(
                named,
                "{file}: `cargo xtask {command} {flag}`: xtask/src/{module}.rs's usage has no {flag}"
            );
        }
    }
}
