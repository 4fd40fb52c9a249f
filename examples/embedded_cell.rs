//! An Orrery cell inside a program of its own (docs/embedding.md): the
//! Temporal API on SQLite, namespace `default`, until SIGTERM or ctrl-c.
//!
//! ```text
//! cargo run --example embedded_cell -- [DATABASE_URL [GRPC_ADDR]]
//! ```
//!
//! The arguments fall back to `ORRERY_DATABASE_URL` and `ORRERY_GRPC_ADDR`,
//! then to `sqlite://<temp dir>/orrery-embedded-cell.db?mode=rwc` and
//! `127.0.0.1:7233`. Prints `listening on <addr>` on stdout once clients
//! can connect; exits 0 after a clean shutdown.
use std::net::SocketAddr;
use std::process::ExitCode;

use orrery_cell::{Cell, CellConfig};

#[tokio::main]
async fn main() -> ExitCode {
    // Logs on stderr, as `orrery` writes them; stdout is the program's own.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("embedded_cell: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let database_url = args
        .next()
        .or_else(|| std::env::var("ORRERY_DATABASE_URL").ok())
        .unwrap_or_else(|| {
            let path = std::env::temp_dir().join("orrery-embedded-cell.db");
            // `mode=rwc`: SQLite creates the file on first start.
            format!("sqlite://{}?mode=rwc", path.display())
        });
    let grpc_addr: SocketAddr = args
        .next()
        .or_else(|| std::env::var("ORRERY_GRPC_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:7233".into())
        .parse()
        .map_err(|e| format!("the gRPC address: {e}"))?;

    // `new` fills in the `orrery cell` defaults; assigning fields (rather
    // than a struct literal, which `#[non_exhaustive]` forbids) keeps this
    // program building when the cell gains settings.
    let mut config = CellConfig::new(database_url, grpc_addr);
    config.default_namespaces = vec!["default".into()];

    // Migrates the database, takes the history shards and binds the
    // listener: clients can connect from here on.
    let cell = Cell::start(config).await.map_err(|e| e.to_string())?;
    println!("listening on {}", cell.local_addr);

    // `serve` takes any future as its shutdown signal; in-flight calls are
    // drained when it resolves.
    cell.serve(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("embedded_cell: stopped");
    Ok(())
}

/// SIGTERM (a service manager, `kill`) or ctrl-c.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            // Without a SIGTERM handler ctrl-c still stops the cell.
            Err(err) => {
                eprintln!("embedded_cell: no SIGTERM handler ({err}); stop with ctrl-c");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
