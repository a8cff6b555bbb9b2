//! One execution environment: a function's real binary, started with the
//! standard Lambda environment and its own Runtime API server, kept warm
//! between invocations and killed when it times out, crashes or is dropped.
//!
//! Orphans: the workspace forbids `unsafe`, so `PR_SET_PDEATHSIG` (which
//! needs a `pre_exec` hook) is out of reach. Instead every process is killed
//! when its environment is dropped (an idle one also when the pool shuts
//! down), and if the parent dies without cleaning up, the child's next call
//! to the Runtime API fails (the server died with the parent) and
//! `lambda_runtime` exits. A function that never returns from its handler
//! would outlive the parent until it does; that is the documented limit.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{oneshot, watch};

use super::runtime_api::{Pending, Reply, RuntimeApi};
use super::{FunctionConfig, LogSink};

/// How an invocation ended, seen from outside the function.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The function answered.
    Replied(Reply),
    /// The process exited before answering; the text describes the exit.
    Exited(String),
    /// The function ran past its timeout and was killed.
    TimedOut,
}

/// Timing of one invocation, for the REPORT record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub init: Option<Duration>,
    pub duration: Duration,
    pub max_memory_mb: u64,
}

pub(crate) struct Environment {
    api: RuntimeApi,
    pid: Option<u32>,
    exited: watch::Receiver<Option<String>>,
    kill: Option<oneshot::Sender<()>>,
    started: Instant,
    warm: bool,
}

/// Lambda keeps its init phase to 10 seconds, apart from the function timeout.
const INIT_LIMIT: Duration = Duration::from_secs(10);

impl Environment {
    /// Starts the function's binary with the Lambda environment.
    pub(crate) async fn start(
        config: &FunctionConfig,
        region: &str,
        logs: LogSink,
    ) -> std::io::Result<Self> {
        let api = RuntimeApi::start().await?;
        let mut command = Command::new(&config.binary);
        command
            .env_clear()
            .envs(lambda_environment(config, region, &api.address.to_string()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child.id();
        let streams = [
            child.stdout.take().map(either_stdout),
            child.stderr.take().map(either_stderr),
        ];
        for stream in streams.into_iter().flatten() {
            tokio::spawn(forward_logs(stream, config.name.clone(), logs));
        }
        let (exited, kill) = watch_exit(child);
        Ok(Self {
            api,
            pid,
            exited,
            kill: Some(kill),
            started: Instant::now(),
            warm: false,
        })
    }

    /// The process id, for the memory figure and for operators.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the process has exited.
    pub(crate) fn is_dead(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Kills the process now.
    pub(crate) fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }

    /// Runs one invocation. The environment is reusable afterwards only if
    /// the ending is `Replied`.
    pub(crate) async fn invoke(
        &mut self,
        request_id: &str,
        payload: Bytes,
        function_arn: &str,
        timeout: Duration,
    ) -> (Ending, Timing) {
        let cold = !self.warm;
        let (picked_tx, picked_rx) = oneshot::channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let deadline_ms = chrono::Utc::now().timestamp_millis() + timeout.as_millis() as i64;
        let pending = Pending {
            request_id: request_id.to_owned(),
            payload,
            deadline_ms,
            function_arn: function_arn.to_owned(),
            trace_id: format!(
                "Root=1-{:08x}-{};Sampled=0",
                chrono::Utc::now().timestamp(),
                &uuid::Uuid::new_v4().simple().to_string()[..24]
            ),
            picked: picked_tx,
            reply: reply_tx,
        };
        let mut exited = self.exited.clone();
        let status = self.exited.clone();
        let exit_text = || status.borrow().clone().unwrap_or_default();
        let mut timing = Timing {
            init: None,
            duration: Duration::ZERO,
            max_memory_mb: 0,
        };
        if self.api.queue.send(pending).await.is_err() {
            return (
                Ending::Exited("the runtime API is closed".to_owned()),
                timing,
            );
        }
        // The function timeout runs from the moment the runtime takes the
        // event; a cold start first has Lambda's separate init allowance.
        let picked_at = tokio::select! {
            picked = picked_rx => match picked {
                Ok(at) => at,
                Err(_) => return (Ending::Exited("the runtime API is closed".to_owned()), timing),
            },
            _ = exited.wait_for(Option::is_some) => return (Ending::Exited(exit_text()), timing),
            _ = tokio::time::sleep(INIT_LIMIT) => {
                self.kill();
                return (Ending::TimedOut, timing);
            }
        };
        if cold {
            timing.init = Some(picked_at.duration_since(self.started));
        }
        let ending = tokio::select! {
            reply = reply_rx => match reply {
                Ok(reply) => Ending::Replied(reply),
                Err(_) => Ending::Exited(exit_text()),
            },
            _ = exited.wait_for(Option::is_some) => Ending::Exited(exit_text()),
            _ = tokio::time::sleep(timeout) => {
                self.kill();
                Ending::TimedOut
            }
        };
        timing.duration = picked_at.elapsed();
        timing.max_memory_mb = self.pid.and_then(peak_memory_mb).unwrap_or(0);
        if matches!(ending, Ending::Replied(_)) {
            self.warm = true;
        }
        (ending, timing)
    }

    /// The body of an `/init/error` call, if the function made one.
    pub(crate) fn init_error(&self) -> Option<Bytes> {
        self.api.init_error()
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The environment variables Lambda gives a function in the
/// `provided.al2023` runtime, then the function's own, which win.
fn lambda_environment(
    config: &FunctionConfig,
    region: &str,
    runtime_api: &str,
) -> BTreeMap<String, String> {
    let stream = format!(
        "{}/[$LATEST]{}",
        chrono::Utc::now().format("%Y/%m/%d"),
        uuid::Uuid::new_v4().simple()
    );
    let task_root = config
        .binary
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut env: BTreeMap<String, String> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_TIMEOUT",
            config.timeout.as_secs().to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_DEFAULT_REGION", region.to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("LAMBDA_TASK_ROOT", task_root),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        // Lambda gives every function its role's credentials; locally the
        // function talks to moto, which accepts any key.
        ("AWS_ACCESS_KEY_ID", local_aws::ACCESS_KEY_ID.to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            local_aws::SECRET_ACCESS_KEY.to_owned(),
        ),
        ("AWS_SESSION_TOKEN", local_aws::SECRET_ACCESS_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(config.environment.clone());
    env
}

/// Sends each line the function writes to the configured sink.
async fn forward_logs(stream: LogStream, name: String, logs: LogSink) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match logs {
            LogSink::Discard => {}
            LogSink::Tracing => {
                tracing::info!(target: "sfn_local::function", function = %name, "{line}")
            }
            LogSink::Stderr => write_whole_line(&mut std::io::stderr().lock(), &name, &line),
        }
    }
}

/// Writes `[name] line` and its newline in one write, so that a function's
/// log line is never split by what the command prints on stdout to the same
/// terminal (stderr is unbuffered: `eprintln!` may write a line in pieces).
/// A failed write to stderr is dropped: there is nowhere left to report it.
fn write_whole_line(out: &mut impl std::io::Write, name: &str, line: &str) {
    let whole = format!("[{name}] {line}\n");
    let _ = out.write_all(whole.as_bytes());
}

/// Watches the process: the receiver learns how it exited, and sending on
/// (or dropping) the sender kills it, so an environment that goes away
/// takes its process with it.
fn watch_exit(
    mut child: tokio::process::Child,
) -> (watch::Receiver<Option<String>>, oneshot::Sender<()>) {
    let (exit_tx, exited) = watch::channel(None);
    let (kill, kill_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            status = child.wait() => {
                let text = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                let _ = exit_tx.send(Some(text));
            }
            _ = kill_rx => {
                let _ = child.kill().await;
                let _ = exit_tx.send(Some("killed".to_owned()));
            }
        }
    });
    (exited, kill)
}

/// The process's peak resident set (`VmHWM`), which is what Lambda's
/// "Max Memory Used" reports for the environment.
fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.div_ceil(1024))
}

type LogStream = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

fn either_stdout(s: tokio::process::ChildStdout) -> LogStream {
    Box::new(s)
}

fn either_stderr(s: tokio::process::ChildStderr) -> LogStream {
    Box::new(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each `write` call, as the terminal would receive them.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl std::io::Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_log_line_is_written_whole() {
        let mut out = Writes::default();
        write_whole_line(&mut out, "moat-detect", "INFO detected change");
        assert_eq!(out.0, [b"[moat-detect] INFO detected change\n".to_vec()]);
    }
}
