//! Cloud Custodian's side of the sweep bench: `custodian run` of the
//! pull-mode policy in `bench/custodian-sweep.yml` against one region of
//! moto, timed from the process's start to its exit, as a person running
//! it would time it.
//!
//! c7n has no endpoint option of its own; its boto3 (1.43, from c7n's own
//! pins) reads `AWS_ENDPOINT_URL`, which points every client at moto. That
//! is checked before the run rather than trusted: the venv's boto3 is asked
//! where its EC2 and STS clients would go, and the run is refused unless
//! both go to moto. The process also gets fake credentials, no AWS config
//! or credentials file, and an HTTP(S) proxy on a loopback port nobody
//! listens on, with only loopback exempted, so a request for any other
//! host fails at once instead of leaving the machine.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use local_aws::Moto;
use tokio::process::Command;

/// The policy, relative to the workspace root.
pub(super) const POLICY: &str = "bench/custodian-sweep.yml";

/// The policy's name in that file: c7n writes its output under it.
const POLICY_NAME: &str = "moat-bench-world-open-ssh";

/// A proxy address nothing listens on (the discard port on loopback): any
/// request c7n sends past moto is refused there.
const NOWHERE: &str = "http://127.0.0.1:9";

/// Asks the venv's boto3 where its clients would send requests, and exits
/// non-zero unless every one goes to the endpoint given as the argument.
const ENDPOINT_CHECK: &str = r#"
import sys, boto3
want = sys.argv[1].rstrip("/")
for service in ("ec2", "sts"):
    got = (boto3.client(service).meta.endpoint_url or "").rstrip("/")
    if got != want:
        sys.exit(f"{service} would reach {got}, not moto at {want}")
"#;

/// What one `custodian run` did.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub took: Duration,
    /// The groups the policy's filter matched, as c7n's `resources.json`
    /// lists them.
    pub matched: usize,
}

/// Runs the policy against `moto` with the `custodian` command of the
/// project's c7n venv.
pub(super) async fn run(custodian: &Path, moto: &Moto) -> anyhow::Result<Run> {
    check_endpoints(custodian, moto).await?;
    let output_dir = fresh_output_dir()?;
    let mut command = Command::new(custodian);
    command
        .arg("run")
        .arg("--region")
        .arg(moto.region())
        // A listing cached by an earlier run (of another moto) must never
        // stand in for this one.
        .args(["--cache-period", "0"])
        .arg("--output-dir")
        .arg(&output_dir)
        .arg(local_aws::workspace_root().join(POLICY));
    isolate(&mut command, moto);
    let started = Instant::now();
    let output = command
        .output()
        .await
        .with_context(|| format!("starting {}", custodian.display()))?;
    let took = started.elapsed();
    require_success("custodian run", &output)?;
    let matched = matched(&output_dir)?;
    // Kept only when something failed, for a person to read.
    let _ = std::fs::remove_dir_all(&output_dir);
    Ok(Run { took, matched })
}

/// Refuses to run unless the venv's boto3 would send EC2 and STS requests
/// to moto.
async fn check_endpoints(custodian: &Path, moto: &Moto) -> anyhow::Result<()> {
    let python = custodian.with_file_name("python");
    let mut command = Command::new(&python);
    command
        .args(["-c", ENDPOINT_CHECK])
        .arg(moto.endpoint_url());
    isolate(&mut command, moto);
    let output = command
        .output()
        .await
        .with_context(|| format!("starting {}", python.display()))?;
    require_success(
        "checking that c7n's boto3 would reach moto and nothing else",
        &output,
    )
}

/// Gives `command` moto's endpoint, region and fake credentials and
/// nothing of this process's AWS settings: every `AWS_*` variable is
/// removed first, so a profile, real keys or an endpoint override of the
/// caller's cannot leak in.
fn isolate(command: &mut Command, moto: &Moto) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command.envs(moto.env());
    command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        command.env(proxy, NOWHERE);
    }
    for exempt in ["NO_PROXY", "no_proxy"] {
        command.env(exempt, "127.0.0.1,localhost");
    }
    command.stdin(std::process::Stdio::null());
}

/// An empty directory for c7n's output, of this process alone.
fn fresh_output_dir() -> anyhow::Result<PathBuf> {
    let dir = local_aws::workspace_root()
        .join("target")
        .join("bench-sweep")
        .join(format!("custodian-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// How many resources c7n's filter matched, from its `resources.json`.
fn matched(output_dir: &Path) -> anyhow::Result<usize> {
    let path = output_dir.join(POLICY_NAME).join("resources.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let resources: Vec<serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON list", path.display()))?;
    Ok(resources.len())
}

fn require_success(what: &str, output: &Output) -> anyhow::Result<()> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    bail!("{what} failed ({}):\n{tail}", output.status)
}
