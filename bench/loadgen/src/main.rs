//! `orrery-loadgen`: drives a Temporal-compatible server (Orrery or the real Temporal server)
//! with the official Rust SDK and prints one JSON object per scenario on stdout.
//!
//! Every figure is measured here or read from the server's own history events; a scenario whose
//! workflows fail, or that does not finish within `--timeout-secs`, exits non-zero with a message
//! on stderr instead of printing partial figures. See docs/benchmarks.md for the method.

mod flood;
mod scenarios;
mod stats;
mod workflows;

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use temporalio_sdk::{Runtime, runtime::RuntimeOptions};

/// Everything the scenarios report as failure; the message is printed as is.
pub type BenchResult<T> = Result<T, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// StartWorkflowExecution with no worker, `--concurrency` starts in flight.
    Start,
    /// Workflows of one no-op activity, closed loop, SDK worker in this process.
    NoopActivity,
    /// A durable timer of `--timer-min-ms`..`--timer-max-ms`, then wait for a signal.
    TimersSignals,
    /// Workflows of `--activities` sequential no-op activities, then full-history fetches.
    HistoryHeavy,
    /// Park `--count` workflows on a `--park-secs` timer and leave them there.
    Idle,
    /// DescribeNamespace calls that ignore RESOURCE_EXHAUSTED, for `--flood-secs`.
    Flood,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Start => "start",
            Scenario::NoopActivity => "noop-activity",
            Scenario::TimersSignals => "timers-signals",
            Scenario::HistoryHeavy => "history-heavy",
            Scenario::Idle => "idle",
            Scenario::Flood => "flood",
        }
    }

    /// Default (count, concurrency): sized so the full side-by-side run stays near 15 minutes
    /// on two cores.
    fn defaults(self) -> (usize, usize) {
        match self {
            Scenario::Start => (2000, 50),
            Scenario::NoopActivity => (1000, 50),
            Scenario::TimersSignals => (200, 200),
            Scenario::HistoryHeavy => (10, 10),
            Scenario::Idle => (10_000, 50),
            Scenario::Flood => (usize::MAX, 16),
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "orrery-loadgen",
    about = "Load generator for Temporal-compatible servers"
)]
pub struct Args {
    /// Scenarios to run, in this order; one JSON line each.
    #[arg(required = true, value_enum)]
    pub scenarios: Vec<Scenario>,
    /// Frontend gRPC address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:7233")]
    pub address: String,
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Workflows per scenario (default depends on the scenario).
    #[arg(long)]
    pub count: Option<usize>,
    /// Workflows (or starts) in flight at once (default depends on the scenario).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// A scenario that takes longer than this fails.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Shortest timer of `timers-signals`.
    #[arg(long, default_value_t = 1000)]
    pub timer_min_ms: u64,
    /// Longest timer of `timers-signals`.
    #[arg(long, default_value_t = 3000)]
    pub timer_max_ms: u64,
    /// Sequential activities per workflow in `history-heavy`.
    #[arg(long, default_value_t = 200)]
    pub activities: u32,
    /// Full-history fetches per workflow in `history-heavy`, made one at a time.
    #[arg(long, default_value_t = 10)]
    pub history_fetches: usize,
    /// Timer length of the workflows `idle` parks.
    #[arg(long, default_value_t = 3600)]
    pub park_secs: u64,
    /// Maximum concurrent polls of the worker, per task kind.
    #[arg(long, default_value_t = 10)]
    pub pollers: usize,
    /// Let the worker ask for eager activity dispatch. Off by default because servers differ
    /// in whether they honour it by default, and with it off both do the same work (every
    /// activity through matching).
    #[arg(long)]
    pub eager_activities: bool,
    /// How long `flood` goes on (it stops earlier after `--count` calls).
    #[arg(long, default_value_t = 30)]
    pub flood_secs: u64,
    /// `flood`'s calls per second, spread evenly; 0: as fast as the server answers.
    #[arg(long, default_value_t = 0)]
    pub flood_rps: u32,
}

/// What a scenario needs: the parsed flags, a connected client and the SDK runtime its workers
/// run on.
pub struct Bench {
    pub args: Args,
    pub client: Client,
    pub runtime: Runtime,
    /// Distinguishes this invocation's workflow ids and task queues from earlier ones on the
    /// same server.
    pub run_id: String,
}

impl Bench {
    pub fn count(&self, scenario: Scenario) -> usize {
        self.args.count.unwrap_or(scenario.defaults().0)
    }

    pub fn concurrency(&self, scenario: Scenario) -> usize {
        self.args
            .concurrency
            .unwrap_or(scenario.defaults().1)
            .max(1)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.args.timeout_secs)
    }
}

/// How long a server gets to accept the first connection.
const CONNECT_DEADLINE: Duration = Duration::from_secs(30);

async fn connect(address: &str, namespace: &str) -> BenchResult<Client> {
    let target = Url::parse(&format!("http://{address}"))
        .map_err(|err| format!("bad --address {address}: {err}"))?;
    let deadline = Instant::now() + CONNECT_DEADLINE;
    loop {
        let options = ConnectionOptions::new(target.clone())
            .identity("orrery-loadgen".to_owned())
            .connect_timeout(Duration::from_secs(2))
            .build();
        match Connection::connect(options).await {
            Ok(connection) => {
                return Client::new(connection, ClientOptions::new(namespace).build())
                    .map_err(|err| format!("create the client: {err}"));
            }
            // A server the runner has just started may not listen yet.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(err) => {
                return Err(format!(
                    "could not connect to {address} within {CONNECT_DEADLINE:?}: {err}"
                ));
            }
        }
    }
}

async fn run(args: Args) -> BenchResult<()> {
    if args.timer_min_ms > args.timer_max_ms {
        return Err("--timer-min-ms must not exceed --timer-max-ms".to_owned());
    }
    let client = connect(&args.address, &args.namespace).await?;
    let runtime = Runtime::from_current_tokio(RuntimeOptions::default())
        .map_err(|err| format!("SDK runtime: {err}"))?;
    let bench = Bench {
        args,
        client,
        runtime,
        run_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
    };
    for scenario in bench.args.scenarios.clone() {
        let report = scenarios::run(&bench, scenario).await?;
        println!("{report}");
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("orrery-loadgen: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
