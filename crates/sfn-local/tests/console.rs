//! The execution console as a browser shows it: a `Server` on loopback
//! runs real executions of `fixtures/console.asl.json` through the
//! `aws-sdk-sfn` client, and headless Chromium loads the console's pages
//! and dumps the DOM it rendered, which the tests read: the list links to
//! each execution, each state's box has the colour of what happened to it
//! (succeeded, caught, failed, running, never ran), the event table has a
//! row per history event, step inputs and outputs are there, and the
//! attacker-controlled input is text, not markup.
//!
//! The tests need Debian's `chromium` at /usr/bin/chromium (`cargo xtask
//! setup` installs it) and fail without it. Chromium runs through
//! `local_aws::chromium`, the runner every page test shares.
//!
//! `SFN_LOCAL_CONSOLE_PNG=<path>` also writes the screenshot test's
//! picture there; `docs/console.png` is made that way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use serde_json::json;
use sfn_local::{ExecutorConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "arn:aws:iam::123456789012:role/sfn-local";
/// What the risky execution's input carries: markup that would change the
/// page's title if the console let it run.
const HOSTILE_NOTE: &str = "<script>document.title='pwned'</script>";

/// A server on a free loopback port with two executions of the console
/// fixture: `risky`, which has ended, and `waiting`, which waits in Hold.
struct Scene {
    address: SocketAddr,
    client: Client,
    risky: String,
    waiting: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Scene {
    async fn new() -> Self {
        let server = Server::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ExecutorConfig::default(),
        )
        .await
        .expect("bind");
        let address = server.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        let client = client(address);
        let machine = create(&client).await;
        let risky_input = json!({"mode": "risky", "note": HOSTILE_NOTE});
        let risky = start(&client, &machine, "risky", risky_input).await;
        let waiting_input = json!({"mode": "wait", "note": "waits an hour"});
        let waiting = start(&client, &machine, "waiting", waiting_input).await;
        let status = ended(&client, &risky).await;
        assert_eq!(status, ExecutionStatus::Succeeded);
        until_waiting(&client, &waiting).await;
        Self {
            address,
            client,
            risky,
            waiting,
            stop: Some(stop),
            serving: Some(serving),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The page of an execution. Its ARN has no character that needs
    /// escaping in a path, so the path is the ARN itself.
    fn execution_url(&self, arn: &str) -> String {
        self.url(&format!("/console/executions/{arn}"))
    }

    /// Stops the server, which stops the waiting execution.
    async fn end(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.expect("the server ends");
        }
    }
}

fn client(address: SocketAddr) -> Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    Client::from_conf(config)
}

async fn create(client: &Client) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console.asl.json");
    let definition =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    client
        .create_state_machine()
        .name("console")
        .definition(definition)
        .role_arn(ROLE)
        .send()
        .await
        .expect("create")
        .state_machine_arn
}

async fn start(client: &Client, machine: &str, name: &str, input: serde_json::Value) -> String {
    client
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .expect("start")
        .execution_arn
}

/// Polls DescribeExecution until the execution has ended, at most 200
/// times 50 ms apart, and gives its status.
async fn ended(client: &Client, execution: &str) -> ExecutionStatus {
    for _ in 0..200 {
        let description = client
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("describe");
        if description.status != ExecutionStatus::Running {
            return description.status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{execution} did not end within 200 polls");
}

async fn history(client: &Client, execution: &str) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
    client
        .get_execution_history()
        .execution_arn(execution)
        .max_results(1000)
        .send()
        .await
        .expect("history")
        .events
}

/// Polls the history until the execution has entered its Wait state.
async fn until_waiting(client: &Client, execution: &str) {
    for _ in 0..200 {
        let events = history(client, execution).await;
        if events
            .iter()
            .any(|e| e.r#type == HistoryEventType::WaitStateEntered)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{execution} never entered its Wait state");
}

/// A fresh, empty directory for one test's files.
fn scratch_dir() -> PathBuf {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sfn-local-console-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The DOM of a page after headless Chromium rendered it
/// (`local_aws::chromium`, which names how to install a missing browser).
async fn dom(url: &str) -> String {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || local_aws::chromium::dump_dom(&url))
        .await
        .expect("the chromium run")
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The box of a state in the diagram, with its outcome's class.
fn state_box(state: &str, class: &str) -> String {
    format!(r#"<g class="state {class}" data-state="{state}">"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_links_to_every_execution_with_its_status() {
    let scene = Scene::new().await;
    let page = dom(&scene.url("/")).await;
    for (arn, name, status) in [
        (&scene.risky, "risky", "SUCCEEDED"),
        (&scene.waiting, "waiting", "RUNNING"),
    ] {
        let link = format!(r#"<a href="/console/executions/{arn}">{name}</a>"#);
        assert!(page.contains(&link), "no link {link} in {page}");
        assert!(page.contains(&format!(">{status}</span>")), "{page}");
    }
    assert_eq!(page.matches(r#"<tr class="execution">"#).count(), 2);
    assert_eq!(dom(&scene.url("/console")).await, page);
    scene.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_page_colours_each_state_by_what_happened_to_it() {
    let scene = Scene::new().await;
    let page = dom(&scene.execution_url(&scene.risky)).await;
    for (state, class) in [
        ("Prepare", "succeeded"),
        ("Route", "succeeded"),
        ("Attempt", "caught"),
        ("Explode", "failed"),
        ("Recover", "succeeded"),
        ("Done", "succeeded"),
        ("Skip", "not-run"),
        ("Hold", "not-run"),
    ] {
        let expected = state_box(state, class);
        assert!(page.contains(&expected), "no {expected} in {page}");
    }
    for (class, label) in [
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("caught", "caught"),
        ("running", "running"),
        ("not-run", "never ran"),
    ] {
        let entry = format!(r#"<li><span class="swatch {class}"></span>{label}</li>"#);
        assert!(page.contains(&entry), "no legend entry {entry} in {page}");
    }
    assert!(page.contains("Attempt · branch 1 of 1"), "{page}");
    assert!(page.contains(">Catch States.ALL</text>"), "{page}");
    scene.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_every_event_and_each_steps_input_and_output_as_text() {
    let scene = Scene::new().await;
    let page = dom(&scene.execution_url(&scene.risky)).await;
    let events = history(&scene.client, &scene.risky).await;
    assert_eq!(page.matches(r#"<tr class="event">"#).count(), events.len());
    let steps = page.matches(r#"<tr class="step "#).count();
    let entered = events
        .iter()
        .filter(|e| e.r#type.as_str().ends_with("StateEntered"))
        .count();
    assert_eq!(steps, entered);
    // Recover's output carries the Pass state's Result.
    assert!(page.contains(r#""recovery": "recovered""#), "{page}");
    // The note arrives as text inside the page, never as a script.
    assert!(
        page.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("<title>risky · sfn-local</title>"), "{page}");
    assert!(
        page.contains("Boom"),
        "the branch's error is in the table: {page}"
    );
    scene.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_execution_shows_its_waiting_state_in_blue() {
    let scene = Scene::new().await;
    let page = dom(&scene.execution_url(&scene.waiting)).await;
    for (state, class) in [
        ("Prepare", "succeeded"),
        ("Route", "succeeded"),
        ("Hold", "running"),
        ("Attempt", "not-run"),
        ("Done", "not-run"),
    ] {
        let expected = state_box(state, class);
        assert!(page.contains(&expected), "no {expected} in {page}");
    }
    assert!(page.contains(r#"<span class="badge status running">RUNNING</span>"#));
    scene.end().await;
}

/// Sends a GET and gives the status line.
async fn get_status(address: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_execution_is_a_404_page_that_names_it() {
    let scene = Scene::new().await;
    let missing = scene.risky.replace(":risky", ":nobody");
    let path = format!("/console/executions/{missing}");
    assert_eq!(
        get_status(scene.address, &path).await,
        "HTTP/1.1 404 Not Found"
    );
    let page = dom(&scene.url(&path)).await;
    assert!(
        page.contains(&format!("Execution Does Not Exist: '{missing}'")),
        "{page}"
    );
    assert_eq!(
        get_status(scene.address, "/elsewhere").await,
        "HTTP/1.1 404 Not Found"
    );
    scene.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_of_an_execution_page_is_a_png() {
    let scene = Scene::new().await;
    let dir = scratch_dir();
    let png = dir.join("console.png");
    let url = scene.execution_url(&scene.risky);
    let shot = png.clone();
    tokio::task::spawn_blocking(move || local_aws::chromium::screenshot(&url, &shot, (1280, 900)))
        .await
        .expect("the chromium run")
        .unwrap_or_else(|error| panic!("{error}"));
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 10_000,
        "a nearly empty picture: {} bytes",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("SFN_LOCAL_CONSOLE_PNG") {
        std::fs::write(&keep, &bytes).expect("SFN_LOCAL_CONSOLE_PNG is writable");
    }
    let _ = std::fs::remove_dir_all(&dir);
    scene.end().await;
}
