//! Embedding (docs/embedding.md), through the examples that do it:
//!
//! - `examples/embedded_cell.rs` runs a cell through `orrery_cell`'s entry
//!   point: it serves the official Temporal Rust SDK, stops cleanly on
//!   SIGTERM, and a second start on the same SQLite file finds the workflow
//!   the first one started.
//! - `examples/embedded_control_plane.rs` runs the control plane beside a
//!   cell: its REST API answers, and SIGTERM stops both cleanly.
//!
//! The example is run as the binary cargo builds for it: `cargo test` with
//! no target filter, and `cargo build --all-targets` (the README's and
//! `.ci/run`'s commands), build every example before any test runs.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowDescribeOptions,
    WorkflowExecutionStatus, WorkflowStartOptions,
};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;

/// How long the example gets to migrate its database and bind.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long a SIGTERM may take to end it: the cell's drain grace is two
/// seconds, so anything near this is a shutdown that does not finish.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// Bound on each client call, so a server bug fails instead of hanging.
const CALL_DEADLINE: Duration = Duration::from_secs(20);

/// The binary cargo built for `examples/<name>.rs` beside this test:
/// `target/<profile>/deps/embedding-<hash>` → `target/<profile>/examples/`.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("this test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let rebuild = format!(
        "run `cargo test` without a target filter, or `cargo build --all-targets` \
         (or `--example {name}`) first"
    );
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{} is not built ({e}): {rebuild}", path.display()));
    // `cargo test --test embedding` builds no example: one edited since its
    // last build would be tested as it was.
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let edited = std::fs::metadata(&source)
        .and_then(|m| m.modified())
        .expect("the example's source");
    assert!(
        built >= edited,
        "{} is older than {}: {rebuild}",
        path.display(),
        source.display()
    );
    path
}

/// An example running; killed if the test fails before stopping it.
struct Embedded {
    child: Child,
    /// Its stdout, line by line, from a reader thread.
    lines: mpsc::Receiver<std::io::Result<String>>,
}

impl Embedded {
    /// Starts `examples/<name>.rs` with `args`.
    fn start(name: &str, args: &[String]) -> Self {
        let mut child = Command::new(example_binary(name))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the {name} example: {e}"));
        let stdout = child.stdout.take().expect("the example's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Embedded { child, lines }
    }

    /// The next line the example prints, within the startup deadline.
    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(STARTUP_DEADLINE) {
            Ok(Ok(line)) => line,
            Ok(Err(err)) => panic!("reading the example's stdout: {err}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().expect("wait for the example");
                panic!("the example closed its stdout and exited with {status}")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the example printed nothing more within {STARTUP_DEADLINE:?}")
            }
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {}: {sent}", self.child.id());
        let deadline = Instant::now() + SHUTDOWN_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the example") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the example was still running {SHUTDOWN_DEADLINE:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `examples/embedded_cell.rs` on `database_url` at `grpc_addr`, once it
/// says it listens.
fn start_cell(database_url: &str, grpc_addr: SocketAddr) -> Embedded {
    let mut embedded = Embedded::start(
        "embedded_cell",
        &[database_url.to_owned(), grpc_addr.to_string()],
    );
    assert_eq!(embedded.next_line(), format!("listening on {grpc_addr}"));
    embedded
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback address whose port was free a moment ago.
fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("reserve a loopback port")
}

async fn connect(grpc_addr: SocketAddr) -> Client {
    let target = Url::parse(&format!("http://{grpc_addr}")).expect("server url");
    let options = ConnectionOptions::new(target)
        .identity("orrery-embedding-test".to_owned())
        .connect_timeout(Duration::from_secs(5))
        .build();
    let connection = tokio::time::timeout(CALL_DEADLINE, Connection::connect(options))
        .await
        .expect("connecting within the deadline")
        .expect("connect to the embedded cell");
    // The namespace the example creates through `CellConfig::default_namespaces`.
    Client::new(connection, ClientOptions::new("default").build()).expect("create the client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_cell_serves_the_sdk_stops_on_sigterm_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("cell.db").display());
    let workflow_id = format!("embedded-{}", uuid::Uuid::new_v4());

    // First run: a workflow started in namespace `default`.
    let grpc_addr = free_loopback_addr();
    let embedded = start_cell(&database_url, grpc_addr);
    let client = connect(grpc_addr).await;
    let started = tokio::time::timeout(
        CALL_DEADLINE,
        client.start_workflow(
            UntypedWorkflow::new("EmbeddedWorkflow"),
            RawValue::empty(),
            WorkflowStartOptions::new("embedded-queue", workflow_id.clone()).build(),
        ),
    )
    .await
    .expect("start within the deadline")
    .expect("start the workflow");
    let run_id = started.run_id().expect("the run id").to_owned();
    let described = tokio::time::timeout(
        CALL_DEADLINE,
        started.describe(WorkflowDescribeOptions::default()),
    )
    .await
    .expect("describe within the deadline")
    .expect("describe the workflow");
    assert_eq!(described.workflow_type(), "EmbeddedWorkflow");
    assert_eq!(described.status(), WorkflowExecutionStatus::Running);
    drop(client);
    let status = embedded.terminate();
    assert!(
        status.success(),
        "the example's exit after SIGTERM: {status}"
    );

    // Second run on the same file, another port: the workflow is there.
    let grpc_addr = free_loopback_addr();
    let embedded = start_cell(&database_url, grpc_addr);
    let client = connect(grpc_addr).await;
    let handle = client.get_workflow_handle::<UntypedWorkflow>(workflow_id.clone());
    let described = tokio::time::timeout(
        CALL_DEADLINE,
        handle.describe(WorkflowDescribeOptions::default()),
    )
    .await
    .expect("describe within the deadline")
    .expect("describe the workflow after the restart");
    assert_eq!(described.id(), workflow_id);
    assert_eq!(described.run_id(), run_id);
    assert_eq!(described.workflow_type(), "EmbeddedWorkflow");
    assert_eq!(described.status(), WorkflowExecutionStatus::Running);
    assert_eq!(described.task_queue(), "embedded-queue");
    drop(client);
    let status = embedded.terminate();
    assert!(status.success(), "the second exit after SIGTERM: {status}");
}

/// A plain HTTP/1.1 GET on loopback: the status line and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the control plane");
    stream
        .set_read_timeout(Some(CALL_DEADLINE))
        .expect("a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {response:?}"));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

#[test]
fn embedded_control_plane_serves_beside_its_cell_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let grpc_addr = free_loopback_addr();
    let http_addr = free_loopback_addr();
    let mut embedded = Embedded::start(
        "embedded_control_plane",
        &[
            dir.path().display().to_string(),
            grpc_addr.to_string(),
            http_addr.to_string(),
        ],
    );
    assert_eq!(embedded.next_line(), format!("listening on {grpc_addr}"));
    assert_eq!(
        embedded.next_line(),
        format!("control plane on http://{http_addr}")
    );
    // Ready: its database answers.
    let (status, body) = http_get(http_addr, "/readyz");
    assert_eq!(status, "HTTP/1.1 200 OK", "/readyz: {body}");
    // The REST API is served (its document names its version).
    let (status, body) = http_get(http_addr, "/api/v1/openapi.json");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        body.contains("\"openapi\""),
        "not an OpenAPI document: {body:.200}"
    );
    // Each store is a file in the data directory the program was given.
    for file in ["cell.db", "control-plane.db", "kek"] {
        assert!(dir.path().join(file).is_file(), "{file} in the data dir");
    }
    let status = embedded.terminate();
    assert!(
        status.success(),
        "the example's exit after SIGTERM: {status}"
    );
}
