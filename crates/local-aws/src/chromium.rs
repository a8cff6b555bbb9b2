//! Headless Chromium for tests that check a page as a browser renders it:
//! [`dump_dom`] gives the DOM after rendering, [`screenshot`] writes a PNG.
//!
//! Chromium is Debian's `chromium` at /usr/bin/chromium, which `cargo xtask
//! setup` installs; a missing browser is an error that says so, so a test
//! that needs it fails rather than skips. Every run gets a fresh, empty
//! profile directory (removed afterwards) and the flags that keep Chromium
//! off the network and away from any first-run work, and the process is a
//! child of the caller, killed by its handle if it outlives its time limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where Debian's package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one run may take. A cold Chromium on a loaded two-core machine
/// needs seconds to start; two minutes means it hangs.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// The flags every run needs: headless, no sandbox (tests may run as root
/// in a container), and nothing that reaches out or prompts on first run.
const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// What can go wrong running Chromium.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{CHROMIUM} is missing: run `cargo xtask setup`, which installs Debian's chromium")]
    Missing,
    #[error("could not start {CHROMIUM}: {0}")]
    Spawn(std::io::Error),
    #[error("could not prepare the profile directory {path}: {source}")]
    Profile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chromium (pid {pid}) ran over {seconds} s on {url} and was killed")]
    TimedOut { pid: u32, seconds: u64, url: String },
    #[error("chromium failed on {url} ({status}): {stderr}")]
    Failed {
        url: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("chromium wrote no screenshot to {0}")]
    NoScreenshot(PathBuf),
}

/// The DOM of `url` after Chromium rendered it, serialised as HTML.
pub fn dump_dom(url: &str) -> Result<String, Error> {
    let output = run(&["--dump-dom", url], url)?;
    Ok(String::from_utf8_lossy(&output).into_owned())
}

/// Writes a PNG of `url` rendered in a window of `size` (width, height)
/// CSS pixels to `path`.
pub fn screenshot(url: &str, path: &Path, size: (u32, u32)) -> Result<(), Error> {
    // Chromium writes the file itself: a stale one must not pass for it.
    let _ = std::fs::remove_file(path);
    let target = format!("--screenshot={}", path.display());
    let window = format!("--window-size={},{}", size.0, size.1);
    run(&[&target, &window, "--hide-scrollbars", url], url)?;
    if path.is_file() {
        Ok(())
    } else {
        Err(Error::NoScreenshot(path.to_path_buf()))
    }
}

/// Runs Chromium with the common flags, `args` and a fresh profile, and
/// gives its standard output.
fn run(args: &[&str], url: &str) -> Result<Vec<u8>, Error> {
    if !Path::new(CHROMIUM).exists() {
        return Err(Error::Missing);
    }
    let profile = Profile::new()?;
    let child = Command::new(CHROMIUM)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::Spawn)?;
    let (status, stdout, stderr) = wait(child, url)?;
    if !status.success() {
        return Err(Error::Failed {
            url: url.to_owned(),
            status,
            stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
        });
    }
    Ok(stdout)
}

/// Waits for `child` within [`TIME_LIMIT`], reading its output on threads
/// so that a full pipe never stalls it, and kills it when time is up.
fn wait(mut child: Child, url: &str) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), Error> {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let pid = child.id();
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::TimedOut {
                pid,
                seconds: TIME_LIMIT.as_secs(),
                url: url.to_owned(),
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    Ok((status, joined(stdout), joined(stderr)))
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    })
}

fn joined(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default()
}

/// A fresh, empty profile directory, removed when dropped.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Result<Profile, Error> {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("moat-chromium-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|source| Error::Profile {
            path: path.clone(),
            source,
        })?;
        Ok(Profile(path))
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_browser_names_the_command_that_installs_it() {
        assert!(Error::Missing.to_string().contains("cargo xtask setup"));
    }

    #[test]
    fn renders_a_page_and_its_picture() {
        let dir = std::env::temp_dir().join(format!("moat-chromium-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let page = dir.join("page.html");
        std::fs::write(
            &page,
            "<!DOCTYPE html><title>t</title><p id=\"x\">1 &lt; 2</p>",
        )
        .unwrap();
        let url = format!("file://{}", page.display());
        let dom = dump_dom(&url).unwrap_or_else(|error| panic!("{error}"));
        assert!(dom.contains("<p id=\"x\">1 &lt; 2</p>"), "{dom}");
        let png = dir.join("page.png");
        screenshot(&url, &png, (320, 200)).unwrap_or_else(|error| panic!("{error}"));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
