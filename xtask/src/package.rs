//! `cargo xtask package`: builds the Lambda functions named in
//! `infra/stack.json` in release mode for the `provided.al2023` runtime
//! (cargo-lambda, linking with zig), and writes what Terraform deploys:
//! `<out>/<function>/bootstrap.zip` and `<out>/manifest.json` with each zip's
//! path, architecture, size and SHA-256.
//!
//! Reproducible: the zips are written by [`zip`], from the binary's bytes
//! only, so two runs give byte-identical zips (cargo-lambda's own zips carry
//! the build time). The build remaps the workspace and `CARGO_HOME` out of
//! the binaries (`--remap-path-prefix`), so the binary does not depend on
//! where the checkout lives either.
//!
//! cargo-lambda and zig come pinned from PyPI into `.tools-venv` at the
//! workspace root, through the one installer [`setup::ensure_venv`].
//!
//! `--measure` then starts each packaged binary under sfn-local's Lambda
//! Runtime API, a few cold starts each, and reports Lambda's REPORT figures:
//! the init duration (process start to the first `next` call) and the peak
//! resident memory.

// The zip writer's only user is this command; it is a module of its own so
// that the byte layout can be read (and tested) apart from the build.
#[path = "zip.rs"]
mod zip;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use moat_stack::{Settings, StackSpec};
use serde_json::{Value, json};
use sfn_local::{Executor, ExecutorConfig, FunctionConfig, StateMachine};
use sha2::{Digest, Sha256};

use crate::setup;

const USAGE: &str = "\
usage: cargo xtask package [options]

builds the functions of infra/stack.json for Lambda (provided.al2023) and writes
<out>/<function>/bootstrap.zip (reproducible) and <out>/manifest.json

options:
  --arch arm64|x86_64   the Lambda architecture (default arm64)
  --out DIR             where the zips and the manifest go, relative to the
                        workspace root (default target/lambda)
  --function NAME       package only this function; repeatable (default all)
  --measure             then start each binary under a local Lambda Runtime API
                        and report its cold init time and peak memory (the
                        architecture must be one this machine runs)
";

/// The build tools, pinned. cargo-lambda requires ziglang without an upper
/// bound, so zig is pinned beside it: 0.13 is the release cargo-lambda
/// 1.9 documents and cargo-zigbuild is tested with.
const TOOLS: &[&str] = &["cargo-lambda==1.9.2", "ziglang==0.13.0"];
const TOOLS_VENV: &str = ".tools-venv";
const TOOLS_MARKER: &str = "moat-tools-requirements.txt";

/// 1980-01-01T00:00:00Z, the zip entries' time, for any C compiler in the
/// build that would otherwise stamp `__DATE__`/`__TIME__`.
const SOURCE_DATE_EPOCH: &str = "315532800";

/// Cold starts per function under `--measure`; the median init is reported,
/// so one slow start (a cold page cache) does not decide the figure.
const COLD_STARTS: usize = 5;

/// The goals a package is held to, reported (not enforced) after a run.
const GOAL_ZIP_BYTES: u64 = 5_000_000;
const GOAL_INIT_MS: f64 = 30.0;
const GOAL_RSS_MB: u64 = 32;

/// A Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    Arm64,
    X86_64,
}

impl Arch {
    fn parse(value: &str) -> anyhow::Result<Self> {
        match value {
            "arm64" => Ok(Self::Arm64),
            "x86_64" => Ok(Self::X86_64),
            other => bail!("--arch must be arm64 or x86_64, not `{other}`"),
        }
    }

    /// Lambda's spelling, as Terraform's `architectures` takes it.
    fn lambda_name(self) -> &'static str {
        match self {
            Self::Arm64 => "arm64",
            Self::X86_64 => "x86_64",
        }
    }

    fn triple(self) -> &'static str {
        match self {
            Self::Arm64 => "aarch64-unknown-linux-gnu",
            Self::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    fn cargo_lambda_flag(self) -> &'static str {
        match self {
            Self::Arm64 => "--arm64",
            Self::X86_64 => "--x86-64",
        }
    }

    /// The ELF header's `e_machine` of a binary for this architecture.
    fn elf_machine(self) -> u16 {
        match self {
            Self::Arm64 => 183,
            Self::X86_64 => 62,
        }
    }

    /// Whether this machine runs such binaries natively.
    fn is_host(self) -> bool {
        let host = match self {
            Self::Arm64 => "aarch64",
            Self::X86_64 => "x86_64",
        };
        std::env::consts::ARCH == host && cfg!(target_os = "linux")
    }
}

#[derive(Debug, PartialEq)]
struct Options {
    arch: Arch,
    out: PathBuf,
    functions: Vec<String>,
    measure: bool,
}

/// The options, or `None` when `--help` was asked for.
fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        arch: Arch::Arm64,
        out: PathBuf::from("target/lambda"),
        functions: Vec::new(),
        measure: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("arch") => options.arch = Arch::parse(&parser.value()?.string()?)?,
            Long("out") => options.out = PathBuf::from(parser.value()?),
            Long("function") => options.functions.push(parser.value()?.string()?),
            Long("measure") => options.measure = true,
            Long("help") | Short('h') => return Ok(None),
            other => bail!("{}", other.unexpected()),
        }
    }
    Ok(Some(options))
}

pub(crate) fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) =
        parse(args).map_err(|error| crate::usage_error(format!("{error:#}"), USAGE))?
    else {
        print!("{USAGE}");
        return Ok(());
    };
    if options.measure && !options.arch.is_host() {
        bail!(
            "--measure runs the binaries here, and this {} machine cannot run {} binaries: \
             measure an --arch {} package",
            std::env::consts::ARCH,
            options.arch.lambda_name(),
            if std::env::consts::ARCH == "aarch64" {
                "arm64"
            } else {
                "x86_64"
            }
        );
    }
    let root = moat_stack::workspace_root();
    let out = root.join(&options.out);
    let stack = StackSpec::load()?;
    let functions = select(&stack, &options.functions)?;
    let arch = options.arch;

    step(&format!("rust target {}", arch.triple()), || {
        ensure_target(&root, arch)
    })?;
    let tools = step("tools (cargo-lambda, zig)", || ensure_tools(&root))?;
    let build_time = Instant::now();
    step(
        &format!("cargo lambda build --release ({})", arch.lambda_name()),
        || build(&root, &tools, arch, &functions, &out),
    )?;
    let build_time = build_time.elapsed();
    let mut artifacts = Vec::new();
    for function in &functions {
        let artifact = step(&format!("zip {function}"), || {
            package_one(&root, &out, arch, function)
        })?;
        artifacts.push(artifact);
    }
    let manifest_path = out.join("manifest.json");
    step(&format!("write {}", manifest_path.display()), || {
        let known: Vec<&str> = stack.functions.keys().map(String::as_str).collect();
        write_manifest(&manifest_path, &artifacts, &known)
    })?;
    let measurements = if options.measure {
        measure(&stack, &functions, &out)?
    } else {
        BTreeMap::new()
    };
    println!();
    print!("{}", table(&artifacts, &measurements));
    println!(
        "\nrelease build {}; manifest {}",
        seconds(build_time),
        manifest_path.display()
    );
    for miss in goal_misses(&artifacts, &measurements) {
        println!("over goal: {miss}");
    }
    Ok(())
}

/// Runs one step, printing what it is and how long it took.
fn step<T>(what: &str, action: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    eprintln!("package: {what} ...");
    let started = Instant::now();
    let result = action();
    let outcome = if result.is_ok() { "done" } else { "failed" };
    eprintln!(
        "package: {what}: {outcome} in {}",
        seconds(started.elapsed())
    );
    result
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// The functions `--function` asked for (each once, in the stack's order),
/// or all of them.
fn select(stack: &StackSpec, wanted: &[String]) -> anyhow::Result<Vec<String>> {
    for name in wanted {
        if !stack.functions.contains_key(name) {
            let known: Vec<&str> = stack.functions.keys().map(String::as_str).collect();
            bail!(
                "--function {name}: infra/stack.json has no such function (it has {})",
                known.join(", ")
            );
        }
    }
    Ok(stack
        .functions
        .keys()
        .filter(|name| wanted.is_empty() || wanted.contains(name))
        .cloned()
        .collect())
}

/// Makes sure rustup has the target's standard library.
fn ensure_target(root: &Path, arch: Arch) -> anyhow::Result<()> {
    let triple = arch.triple();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output();
    if let Ok(output) = &installed
        && output.status.success()
        && String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|line| line.trim() == triple)
    {
        return Ok(());
    }
    let added = Command::new("rustup")
        .args(["target", "add", triple])
        .current_dir(root)
        .status();
    if added.is_ok_and(|status| status.success()) {
        return Ok(());
    }
    let hint = match arch {
        Arch::Arm64 => ": pass --arch x86_64 to build for x86_64 instead",
        Arch::X86_64 => "",
    };
    bail!(
        "the Rust target {triple} cannot be installed on this machine (`rustup target add {triple}` failed){hint}"
    )
}

/// Installs the pinned cargo-lambda and zig into `.tools-venv` unless they
/// are there, and returns the venv's `bin` directory.
fn ensure_tools(root: &Path) -> anyhow::Result<PathBuf> {
    let bin = setup::ensure_venv(&root.join(TOOLS_VENV), TOOLS, TOOLS_MARKER)?;
    for tool in ["cargo-lambda", "python"] {
        if !bin.join(tool).exists() {
            bail!(
                "{} is missing after installing {}: delete {TOOLS_VENV} and run again",
                bin.join(tool).display(),
                TOOLS.join(" ")
            );
        }
    }
    Ok(bin)
}

/// `cargo lambda build --release` of the functions; cargo-lambda copies each
/// binary to `<out>/<function>/bootstrap`.
fn build(
    root: &Path,
    tools: &Path,
    arch: Arch,
    functions: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let mut command = Command::new(tools.join("cargo-lambda"));
    command
        .args(["lambda", "build", "--release", "--locked"])
        // cargo-lambda's "release optimizations" would add `panic = "abort"`
        // (the workspace sets no panic strategy) and a target CPU. Abort
        // would turn a handler panic, which lambda_runtime reports as a
        // function error, into a killed process; the workspace's
        // [profile.release] is the one description of a release build.
        .arg("--disable-optimizations")
        .arg(arch.cargo_lambda_flag())
        .arg("--lambda-dir")
        .arg(out)
        .current_dir(root);
    for function in functions {
        command.args(["--package", function]);
    }
    for (key, value) in build_env(root, tools, &cargo_home()?)? {
        command.env(key, value);
    }
    // CARGO_ENCODED_RUSTFLAGS would override RUSTFLAGS; a zig other than
    // the pinned one would make the build depend on the machine.
    command
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_ZIGBUILD_ZIG_PATH");
    setup::run_checked(&mut command).context("cargo lambda build failed")
}

fn cargo_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}

/// The environment of the build, apart from what it inherits.
fn build_env(
    root: &Path,
    tools: &Path,
    cargo_home: &Path,
) -> anyhow::Result<Vec<(&'static str, OsString)>> {
    let mut path = OsString::from(tools);
    if let Some(inherited) = std::env::var_os("PATH") {
        path.push(":");
        path.push(inherited);
    }
    Ok(vec![
        // cargo-zigbuild runs `<python> -m ziglang`: the venv's python, so
        // the pinned zig; never a zig of the machine's.
        ("CARGO_ZIGBUILD_PYTHON_PATH", tools.join("python").into()),
        ("PATH", path),
        // cargo-lambda looks for the binaries in `cargo metadata`'s target
        // directory, which this sets as well as cargo's (`--target-dir`
        // would not reach cargo-lambda); it keeps the build inside target/.
        ("CARGO_TARGET_DIR", root.join("target").into()),
        ("RUSTFLAGS", rustflags(root, cargo_home)?.into()),
        ("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH.into()),
    ])
}

/// Remaps the checkout and the registry sources to fixed names, so panic
/// locations in the binary do not depend on where they live. rustc uses the
/// last matching prefix, so CARGO_HOME (which may sit inside the checkout)
/// comes second.
fn rustflags(root: &Path, cargo_home: &Path) -> anyhow::Result<String> {
    let mut flags = Vec::new();
    for (from, to) in [(root, "/moat"), (cargo_home, "/cargo")] {
        let from = from
            .to_str()
            .with_context(|| format!("{} is not UTF-8", from.display()))?;
        if from.contains(char::is_whitespace) {
            bail!("`{from}` contains whitespace, which RUSTFLAGS cannot carry: move it");
        }
        flags.push(format!("--remap-path-prefix={from}={to}"));
    }
    Ok(flags.join(" "))
}

/// One packaged function.
#[derive(Debug, Clone, PartialEq)]
struct Artifact {
    function: String,
    arch: Arch,
    /// The zip's path as the manifest gives it: relative to the workspace
    /// root when inside it.
    zip: String,
    size: u64,
    sha256: [u8; 32],
}

impl Artifact {
    fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn manifest_entry(&self) -> Value {
        json!({
            "zip": self.zip,
            "architecture": self.arch.lambda_name(),
            "sizeBytes": self.size,
            "sha256": self.sha256_hex(),
            // Terraform's `source_code_hash` is the base64 of the raw digest.
            "sha256Base64": base64::engine::general_purpose::STANDARD.encode(self.sha256),
        })
    }
}

/// Zips `<out>/<function>/bootstrap` into `bootstrap.zip` beside it.
fn package_one(root: &Path, out: &Path, arch: Arch, function: &str) -> anyhow::Result<Artifact> {
    let dir = out.join(function);
    let binary = dir.join("bootstrap");
    let zip_path = dir.join("bootstrap.zip");
    let archive = write_zip(&binary, &zip_path, arch)?;
    let zip = match zip_path.strip_prefix(root) {
        Ok(relative) => relative.to_string_lossy().replace('\\', "/"),
        Err(_) => zip_path.display().to_string(),
    };
    Ok(Artifact {
        function: function.to_owned(),
        arch,
        zip,
        size: archive.len() as u64,
        sha256: Sha256::digest(&archive).into(),
    })
}

/// Writes the reproducible zip of `binary` to `zip_path` and returns its
/// bytes. Only the binary's contents matter, not its mtime or mode.
fn write_zip(binary: &Path, zip_path: &Path, arch: Arch) -> anyhow::Result<Vec<u8>> {
    let contents = std::fs::read(binary).with_context(|| {
        format!(
            "reading {} (cargo lambda build should have written it)",
            binary.display()
        )
    })?;
    check_elf(&contents, arch).with_context(|| binary.display().to_string())?;
    let archive = zip::single_executable("bootstrap", &contents)?;
    std::fs::write(zip_path, &archive)
        .with_context(|| format!("writing {}", zip_path.display()))?;
    Ok(archive)
}

/// Refuses a binary for another architecture, so that a stale bootstrap
/// (cargo-lambda writes both architectures to the same place) never goes
/// into a zip the manifest labels otherwise.
fn check_elf(binary: &[u8], arch: Arch) -> anyhow::Result<()> {
    if binary.len() < 20 || !binary.starts_with(b"\x7fELF") {
        bail!("is not an ELF executable");
    }
    // e_machine, little-endian on both Lambda architectures.
    let machine = u16::from_le_bytes([binary[18], binary[19]]);
    if machine != arch.elf_machine() {
        bail!(
            "is an ELF binary for machine {machine}, not {} ({})",
            arch.lambda_name(),
            arch.elf_machine()
        );
    }
    Ok(())
}

/// Writes the manifest: the new artifacts, plus the previous manifest's
/// entries for the stack's other functions (so `--function` updates one
/// entry instead of dropping the rest).
fn write_manifest(path: &Path, artifacts: &[Artifact], known: &[&str]) -> anyhow::Result<()> {
    let previous = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            eprintln!("package: ignoring the unreadable {} ({e})", path.display());
            Value::Null
        }),
        Err(_) => Value::Null,
    };
    let manifest = manifest(&previous, artifacts, known);
    let mut text = serde_json::to_string_pretty(&manifest)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn manifest(previous: &Value, artifacts: &[Artifact], known: &[&str]) -> Value {
    let mut functions: BTreeMap<String, Value> = previous
        .get("functions")
        .and_then(Value::as_object)
        .map(|entries| {
            entries
                .iter()
                .filter(|(name, _)| known.contains(&name.as_str()))
                .map(|(name, entry)| (name.clone(), entry.clone()))
                .collect()
        })
        .unwrap_or_default();
    for artifact in artifacts {
        functions.insert(artifact.function.clone(), artifact.manifest_entry());
    }
    json!({ "functions": functions })
}

/// What `--measure` found for one function.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measurement {
    /// The median init duration over the cold starts.
    init_ms: f64,
    /// The largest peak resident memory over the cold starts.
    max_rss_mb: u64,
}

fn measure(
    stack: &StackSpec,
    functions: &[String],
    out: &Path,
) -> anyhow::Result<BTreeMap<String, Measurement>> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut measurements = BTreeMap::new();
    for function in functions {
        let binary = out.join(function).join("bootstrap");
        let measurement = step(
            &format!("measure {function} ({COLD_STARTS} cold starts)"),
            || runtime.block_on(measure_one(stack, function, &binary)),
        )?;
        eprintln!(
            "package: {function}: init {:.1} ms (median), max RSS {} MB",
            measurement.init_ms, measurement.max_rss_mb
        );
        measurements.insert(function.clone(), measurement);
    }
    Ok(measurements)
}

/// Cold-starts the function [`COLD_STARTS`] times, each in a fresh
/// executor, with one event it cannot read (a JSON string): the figures are
/// those of reaching the first `next` call, and the event fails at once
/// without a call to AWS.
async fn measure_one(stack: &StackSpec, name: &str, binary: &Path) -> anyhow::Result<Measurement> {
    let defaults = ExecutorConfig::default();
    let spec = &stack.functions[name];
    let settings = stand_in_settings(stack, &defaults.account_id, &defaults.region);
    let memory_mb = u32::try_from(spec.memory_mb)
        .with_context(|| format!("functions.{name}.memoryMb is too large"))?;
    let mut function = FunctionConfig::new(name, binary)
        .memory_mb(memory_mb)
        .timeout(Duration::from_secs(spec.timeout_seconds))
        .env("AWS_ENDPOINT_URL", closed_endpoint()?);
    for (variable, value) in stack.function_environment(name, &settings)? {
        function = function.env(variable, value);
    }
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        defaults.region, defaults.account_id
    );
    let definition = json!({
        "Comment": "cargo xtask package --measure: one cold invocation",
        "StartAt": "Measure",
        "States": { "Measure": { "Type": "Task", "Resource": arn, "End": true } },
    });
    let machine = StateMachine::new("measure", &definition.to_string(), &HashMap::new())?;
    let mut inits = Vec::new();
    let mut max_rss_mb = 0;
    for _ in 0..COLD_STARTS {
        let executor = Executor::new(ExecutorConfig {
            functions: vec![function.clone()],
            ..ExecutorConfig::default()
        });
        let result = executor
            .run_to_completion(&machine, None, json!("cargo xtask package --measure"))
            .await;
        let reports = executor.lambda_reports();
        executor.shutdown();
        let init = reports
            .first()
            .and_then(|report| report.init_duration_ms)
            .with_context(|| {
                format!(
                    "{name} ({}) stopped before its first `next` call: {} {}",
                    binary.display(),
                    result.description.error.unwrap_or_default(),
                    result.description.cause.unwrap_or_default()
                )
            })?;
        inits.push(init);
        max_rss_mb = max_rss_mb.max(reports[0].max_memory_used_mb);
    }
    Ok(Measurement {
        init_ms: median(&mut inits),
        max_rss_mb,
    })
}

/// An endpoint on which nothing listens (a port just released), so any call
/// a function makes is refused at once and nothing can reach AWS.
fn closed_endpoint() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    let port = listener.local_addr()?.port();
    Ok(format!("http://127.0.0.1:{port}"))
}

/// Settings as Terraform fills them in for a deployment (the stack's names,
/// ARNs made from them, a member role and Security Hub on), so that each
/// function reads and checks its whole configuration at init, as in Lambda.
fn stand_in_settings(stack: &StackSpec, account: &str, region: &str) -> Settings {
    let topic_arn = |topic: &str| format!("arn:aws:sns:{region}:{account}:{topic}");
    Settings {
        records_table: stack.records_table.clone(),
        policy_bucket: stack.policy_bucket_in(account, region),
        policy_key: stack.policy_key.clone(),
        reports_bucket: stack.reports_bucket_in(account, region),
        notification_topic_arn: topic_arn(&stack.notification_topic),
        escalation_topic_arn: topic_arn(&stack.escalation_topic),
        self_role_arns: stack.self_role_pattern(),
        member_role_name: Some("moat-member".to_owned()),
        external_id: Some("moat-package-measure".to_owned()),
        security_hub: Some("enabled".to_owned()),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn table(artifacts: &[Artifact], measurements: &BTreeMap<String, Measurement>) -> String {
    let mut text = format!(
        "{:<10} {:<7} {:>10} {:>12}  {:<12}",
        "function", "arch", "zip bytes", "zip MiB", "sha256"
    );
    if !measurements.is_empty() {
        text.push_str(&format!(" {:>8} {:>11}", "init ms", "max RSS MB"));
    }
    text.push('\n');
    for artifact in artifacts {
        text.push_str(&format!(
            "{:<10} {:<7} {:>10} {:>12.2}  {:<12}",
            artifact.function,
            artifact.arch.lambda_name(),
            artifact.size,
            artifact.size as f64 / (1024.0 * 1024.0),
            &artifact.sha256_hex()[..12],
        ));
        if let Some(m) = measurements.get(&artifact.function) {
            text.push_str(&format!(" {:>8.1} {:>11}", m.init_ms, m.max_rss_mb));
        }
        text.push('\n');
    }
    text
}

fn goal_misses(
    artifacts: &[Artifact],
    measurements: &BTreeMap<String, Measurement>,
) -> Vec<String> {
    let mut misses = Vec::new();
    for artifact in artifacts {
        if artifact.size > GOAL_ZIP_BYTES {
            misses.push(format!(
                "{} zip is {} bytes (goal {GOAL_ZIP_BYTES})",
                artifact.function, artifact.size
            ));
        }
    }
    for (function, m) in measurements {
        if m.init_ms > GOAL_INIT_MS {
            misses.push(format!(
                "{function} init {:.1} ms (goal {GOAL_INIT_MS} ms)",
                m.init_ms
            ));
        }
        if m.max_rss_mb > GOAL_RSS_MB {
            misses.push(format!(
                "{function} max RSS {} MB (goal {GOAL_RSS_MB} MB)",
                m.max_rss_mb
            ));
        }
    }
    misses
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;
    use std::time::SystemTime;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// A scratch directory of this test's own, emptied first.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("moat-package-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The start of a 64-bit little-endian ELF file for `machine`, padded:
    /// enough for check_elf.
    fn fake_elf(machine: u16) -> Vec<u8> {
        let mut binary = b"\x7fELF\x02\x01\x01".to_vec();
        binary.resize(18, 0);
        binary.extend_from_slice(&machine.to_le_bytes());
        binary.extend_from_slice(&b"rest of the binary".repeat(50));
        binary
    }

    #[test]
    fn defaults_and_every_flag_parse() {
        assert_eq!(
            parse(args(&[])).unwrap(),
            Some(Options {
                arch: Arch::Arm64,
                out: PathBuf::from("target/lambda"),
                functions: vec![],
                measure: false,
            })
        );
        assert_eq!(
            parse(args(&[
                "--arch",
                "x86_64",
                "--out",
                "dist",
                "--function",
                "detect",
                "--function=notify",
                "--measure",
            ]))
            .unwrap(),
            Some(Options {
                arch: Arch::X86_64,
                out: PathBuf::from("dist"),
                functions: vec!["detect".to_owned(), "notify".to_owned()],
                measure: true,
            })
        );
        assert_eq!(parse(args(&["--help"])).unwrap(), None);
    }

    #[test]
    fn bad_flags_are_refused_naming_the_flag() {
        for (list, flag) in [
            (&["--arch", "sparc"][..], "--arch"),
            (&["--arch", "aarch64"][..], "--arch"),
            (&["--arch"][..], "--arch"),
            (&["--out"][..], "--out"),
            (&["--function"][..], "--function"),
            (&["--measure=yes"][..], "--measure"),
            (&["--bogus"][..], "--bogus"),
            (&["stray"][..], "stray"),
        ] {
            let error = format!("{:#}", parse(args(list)).unwrap_err());
            assert!(error.contains(flag), "{list:?}: {error}");
        }
    }

    #[test]
    fn unknown_functions_are_refused_by_name() {
        let stack = StackSpec::load().unwrap();
        let error = select(&stack, &["detcet".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--function detcet"), "{error}");
        let picked = select(&stack, &["notify".to_owned(), "detect".to_owned()]).unwrap();
        assert_eq!(picked, ["detect", "notify"], "the stack's order, each once");
        assert_eq!(select(&stack, &[]).unwrap().len(), stack.functions.len());
    }

    #[test]
    fn the_zip_depends_on_the_contents_only() {
        let dir = scratch("zip");
        let binary = dir.join("bootstrap");
        std::fs::write(&binary, fake_elf(62)).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o644)).unwrap();
        let first = write_zip(&binary, &dir.join("first.zip"), Arch::X86_64).unwrap();
        let again = write_zip(&binary, &dir.join("again.zip"), Arch::X86_64).unwrap();
        assert_eq!(first, again, "two writes of one input");

        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&binary)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000))
            .unwrap();
        let touched = write_zip(&binary, &dir.join("touched.zip"), Arch::X86_64).unwrap();
        assert_eq!(first, touched, "another mtime and mode of the input");
        assert_eq!(std::fs::read(dir.join("touched.zip")).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_binary_for_another_architecture_is_refused() {
        assert!(check_elf(&fake_elf(62), Arch::X86_64).is_ok());
        let error = check_elf(&fake_elf(62), Arch::Arm64)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not arm64"), "{error}");
        assert!(check_elf(b"#!/bin/sh\n", Arch::X86_64).is_err());
    }

    fn artifact(function: &str, digest: &[u8]) -> Artifact {
        Artifact {
            function: function.to_owned(),
            arch: Arch::Arm64,
            zip: format!("target/lambda/{function}/bootstrap.zip"),
            size: 2_345_678,
            sha256: Sha256::digest(digest).into(),
        }
    }

    #[test]
    fn the_manifest_has_the_documented_shape() {
        let detect = artifact("detect", b"detect");
        let manifest = manifest(&Value::Null, std::slice::from_ref(&detect), &["detect"]);
        let hex = detect.sha256_hex();
        assert_eq!(
            manifest,
            json!({ "functions": { "detect": {
                "zip": "target/lambda/detect/bootstrap.zip",
                "architecture": "arm64",
                "sizeBytes": 2_345_678,
                "sha256": hex,
                "sha256Base64": manifest["functions"]["detect"]["sha256Base64"],
            }}})
        );
        assert_eq!(hex.len(), 64);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(
                manifest["functions"]["detect"]["sha256Base64"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let from_hex: Vec<u8> = (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(raw, from_hex);
    }

    #[test]
    fn the_manifest_keeps_the_other_functions_of_the_stack() {
        let previous = manifest(
            &Value::Null,
            &[artifact("detect", b"old"), artifact("gone", b"old")],
            &["detect", "gone"],
        );
        let updated = manifest(
            &previous,
            &[artifact("notify", b"new")],
            &["detect", "notify"],
        );
        let names: Vec<&String> = updated["functions"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["detect", "notify"]);
        assert_eq!(
            updated["functions"]["detect"],
            previous["functions"]["detect"]
        );
    }

    #[test]
    fn measurement_gives_every_function_its_whole_environment() {
        let stack = StackSpec::load().unwrap();
        let settings = stand_in_settings(&stack, "123456789012", "us-east-1");
        for (name, spec) in &stack.functions {
            let environment = stack.function_environment(name, &settings).unwrap();
            let variables: Vec<&String> = environment.iter().map(|(v, _)| v).collect();
            let declared: Vec<&String> = spec.environment.keys().collect();
            assert_eq!(variables, declared, "{name}");
            for (variable, value) in &environment {
                assert!(!value.contains('{'), "{name}: {variable}={value}");
            }
        }
        assert_eq!(
            settings.notification_topic_arn,
            "arn:aws:sns:us-east-1:123456789012:moat-notifications"
        );
    }

    #[test]
    fn the_build_remaps_the_checkout_and_cargo_home() {
        assert_eq!(
            rustflags(Path::new("/work/main"), Path::new("/root/.cargo")).unwrap(),
            "--remap-path-prefix=/work/main=/moat --remap-path-prefix=/root/.cargo=/cargo"
        );
        let error = rustflags(Path::new("/my work"), Path::new("/c")).unwrap_err();
        assert!(error.to_string().contains("/my work"), "{error}");
    }
}
