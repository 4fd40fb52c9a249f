//! A cell and the control plane in a program of its own, as `orrery dev`
//! runs them (docs/embedding.md): the Temporal API with namespace
//! `default`, and the control plane's REST API and console beside it, each
//! on its own SQLite file, until SIGTERM or ctrl-c.
//!
//! ```text
//! cargo run --example embedded_control_plane -- [DATA_DIR [GRPC_ADDR [HTTP_ADDR]]]
//! ```
//!
//! Defaults: `<temp dir>/orrery-embedded`, `127.0.0.1:7233`,
//! `127.0.0.1:8233`. Prints `listening on <grpc addr>` and then
//! `control plane on http://<addr>` on stdout once both accept connections;
//! exits 0 after a clean shutdown.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use orrery_cell::{Cell, CellConfig};
use orrery_control_plane::sealing::LocalKek;
use orrery_control_plane::{CellSpec, ControlPlane};

#[tokio::main]
async fn main() -> ExitCode {
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
            eprintln!("embedded_control_plane: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let data_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("orrery-embedded"));
    let addr = |arg: Option<String>, default: &str, what: &str| {
        arg.as_deref()
            .unwrap_or(default)
            .parse::<SocketAddr>()
            .map_err(|e| format!("the {what} address: {e}"))
    };
    let grpc_addr = addr(args.next(), "127.0.0.1:7233", "gRPC")?;
    let http_addr = addr(args.next(), "127.0.0.1:8233", "HTTP")?;
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    let sqlite = |file: &str| format!("sqlite://{}?mode=rwc", data_dir.join(file).display());

    let mut cell_config = CellConfig::new(sqlite("cell.db"), grpc_addr);
    cell_config.default_namespaces = vec!["default".into()];
    let cell = Cell::start(cell_config)
        .await
        .map_err(|e| format!("the cell: {e}"))?;
    println!("listening on {}", cell.local_addr);

    let mut config = orrery_control_plane::Config::new(sqlite("control-plane.db"), http_addr);
    // The key that seals the private keys kept in the control plane's
    // database, made on first start beside it: one host, development. A
    // deployment keeps it apart from the database (docs/security.md).
    let kek = LocalKek::load_or_generate_file(&data_dir.join("kek"))
        .map_err(|e| format!("the key-encryption key: {e}"))?;
    config.key_encryption = Some(Arc::new(kek));
    // Both on this host's loopback: plaintext HTTP, and a plaintext channel
    // to the cell (which has no tenant auth to present anything to).
    config.insecure_http = true;
    config.cell_channel.insecure_plaintext = true;
    config.cells = vec![CellSpec {
        name: "embedded".into(),
        grpc_url: format!("http://{}", cell.local_addr),
        http_url: None,
    }];
    let control_plane = ControlPlane::start(config)
        .await
        .map_err(|e| format!("the control plane: {e}"))?;
    println!("control plane on http://{}", control_plane.local_addr);

    // One signal stops both: a watch channel each `serve` waits on.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let (cell_served, control_plane_served) = tokio::join!(
        cell.serve(wait(stopped.clone())),
        control_plane.serve(wait(stopped)),
    );
    cell_served.map_err(|e| format!("the cell: {e}"))?;
    control_plane_served.map_err(|e| format!("the control plane: {e}"))?;
    eprintln!("embedded_control_plane: stopped");
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
            Err(err) => {
                eprintln!("embedded_control_plane: no SIGTERM handler ({err}); stop with ctrl-c");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
