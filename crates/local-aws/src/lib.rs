//! The local AWS: moto in server mode on 127.0.0.1, one process per region,
//! for tests, the demo and local rehearsals.
//!
//! moto is installed by `cargo xtask setup` into the project's own virtualenv
//! (`.moto-venv` at the workspace root); this crate only starts and stops it.
//! A missing install is an error that says which command installs it: tests
//! that need AWS never skip silently.
//!
//! Every server is started through a small Python launcher that exits when
//! its parent process dies, so a test binary or demo that is killed leaves no
//! moto behind even when no destructor runs.

pub mod chromium;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The moto release the project pins: the install step and this crate agree
/// on it, and `cargo xtask setup` reinstalls when it changes.
pub const MOTO_REQUIREMENT: &str = "moto[server,ec2,s3,dynamodb,sns,sqs,events]==5.2.5";

/// The credentials every local client and process uses: moto accepts any,
/// and fixed ones make sure the SDK never looks for real ones.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

/// An SDK configuration for one region of the local AWS: its endpoint, its
/// region and the fixed credentials. For tests and local tooling that talk
/// to several regions from one process, where one set of environment
/// variables cannot describe both.
pub async fn sdk_config(endpoint_url: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_credential_types::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "moat-local",
        ))
        .load()
        .await
}

/// The file in the venv that records which requirement was installed.
pub const MOTO_MARKER: &str = "moat-moto-requirement.txt";

/// How long a cold moto may take to start: importing moto on a slow, loaded
/// machine takes seconds, and a test must not fail for that.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The launcher runs moto's server in-process and watches its parent.
const LAUNCHER: &str = include_str!("moto_launcher.py");

/// What can go wrong with the local AWS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "moto is not installed at {path}: run `cargo xtask setup` (it creates the project's .moto-venv and installs {MOTO_REQUIREMENT})"
    )]
    NotInstalled { path: PathBuf },
    #[error("could not start moto ({program}): {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("moto for {region} exited before it listened on 127.0.0.1:{port}: {detail}")]
    Exited {
        region: String,
        port: u16,
        detail: String,
    },
    #[error("moto for {region} did not listen on 127.0.0.1:{port} within {seconds} s")]
    StartTimeout {
        region: String,
        port: u16,
        seconds: u64,
    },
    #[error("no free loopback port: {0}")]
    NoPort(std::io::Error),
}

/// The workspace's root directory, found from this crate's location.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/local-aws sits two levels below the workspace root")
        .to_path_buf()
}

/// The project's virtualenv that holds moto; `MOAT_MOTO_VENV` overrides it.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("MOAT_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".moto-venv"))
}

/// The venv's Python, if moto is installed there.
pub fn installed_python() -> Result<PathBuf, Error> {
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    let marker = venv.join(MOTO_MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(installed) if installed.trim() == MOTO_REQUIREMENT && python.exists() => Ok(python),
        _ => Err(Error::NotInstalled { path: venv }),
    }
}

/// One running moto server: one region of the local AWS.
///
/// Dropping it stops the process (by its PID) and waits for it.
#[derive(Debug)]
pub struct Moto {
    region: String,
    port: u16,
    child: Child,
}

impl Moto {
    /// Starts a fresh moto for `region` on a free loopback port and waits
    /// until it accepts connections.
    pub fn start(region: &str) -> Result<Moto, Error> {
        let python = installed_python()?;
        let port = free_port()?;
        let child = Command::new(&python)
            .arg("-c")
            .arg(LAUNCHER)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: python.clone(),
                source,
            })?;
        let mut moto = Moto {
            region: region.to_owned(),
            port,
            child,
        };
        moto.wait_until_listening()?;
        Ok(moto)
    }

    /// One moto shared by every test in this test binary, for tests that
    /// keep to their own resource names. It stops when the binary exits.
    pub fn shared(region: &str) -> Result<&'static Moto, String> {
        static SHARED: OnceLock<Result<Moto, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Moto::start(region).map_err(|error| error.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, so an operator or a test can see what was started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An SDK configuration for this region (see [`sdk_config`]).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint_url(), &self.region).await
    }

    /// The endpoint to give the AWS SDK as `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a process needs to use this region of the local AWS
    /// through the SDK's standard configuration loading.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint_url()),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_ACCESS_KEY.into()),
            // The SDK must never look for real credentials or IMDS here.
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// Forgets every resource, as a fresh server would (moto's reset API).
    pub fn reset(&self) -> std::io::Result<()> {
        http_post(self.port, "/moto-api/reset")
    }

    /// Stops the process now, as a region outage would.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    fn wait_until_listening(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut detail = String::new();
                if let Some(stderr) = self.child.stderr.as_mut() {
                    let _ = stderr.read_to_string(&mut detail);
                }
                let detail = tail(&detail, 2000);
                return Err(Error::Exited {
                    region: self.region.clone(),
                    port: self.port,
                    detail: format!("{status}; stderr: {detail}"),
                });
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                // The launcher's stderr is no longer read: send it nowhere so
                // a chatty moto can never block on a full pipe.
                drop(self.child.stderr.take());
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                self.kill();
                return Err(Error::StartTimeout {
                    region: self.region.clone(),
                    port: self.port,
                    seconds: START_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port the kernel just gave out on loopback. Another process could take
/// it before moto binds it; moto then exits and the caller sees `Exited`.
pub fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::NoPort)?;
    let port = listener.local_addr().map_err(Error::NoPort)?.port();
    Ok(port)
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..=text.len())
        .find(|index| text.is_char_boundary(*index))
        .unwrap_or(text.len());
    &text[start..]
}

/// A bodiless HTTP/1.1 POST, enough for moto's management API without an
/// HTTP client dependency.
fn http_post(port: u16, path: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "POST {path} answered: {}",
            response.lines().next().unwrap_or("nothing")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_install_names_the_command_that_installs_it() {
        let error = Error::NotInstalled {
            path: PathBuf::from("/nowhere/.moto-venv"),
        };
        let message = error.to_string();
        assert!(message.contains("cargo xtask setup"), "{message}");
        assert!(message.contains("/nowhere/.moto-venv"), "{message}");
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 10), "ab");
        assert_eq!(tail("aé", 1), "");
    }

    #[test]
    fn starts_listens_resets_and_stops() {
        let moto = Moto::start("us-east-1").unwrap_or_else(|error| panic!("{error}"));
        let pid = moto.pid();
        assert!(moto.endpoint_url().starts_with("http://127.0.0.1:"));
        moto.reset().expect("moto's reset API answers");
        moto.stop();
        // `stop` waited for the process, so it is reaped and gone.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "moto {pid} still runs after stop"
        );
    }
}
