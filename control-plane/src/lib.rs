//! The control plane: accounts, users, namespaces, certificates and API keys
//! behind a REST API (`/api/v1`, OpenAPI at `/api/v1/openapi.json`). It
//! places namespaces into cells through their public API and publishes the
//! auth snapshot cells enforce (`/internal/v1/auth-snapshot`, types in
//! `orrery-tenant-auth`), and serves the web console (`web/`) at `/`. It
//! links no data-plane crate. See docs/control-plane.md.
pub mod api;
pub mod app;
pub mod auth;
pub mod cell_admin;
pub mod certs;
pub mod console;
pub mod extract;
pub mod health;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod placement;
pub mod problem;
pub mod roles;
pub mod sealing;
pub mod secret;
pub mod snapshot;
pub mod store;
pub mod tenant_metrics;
pub mod tls_listener;
pub mod usage;
pub mod validate;

pub use app::{AppState, CellSpec, Config, ControlPlane, RunError, router, run};
pub use cell_admin::{CellAdmin, CellAdminError, CellChannel, GrpcCellAdmin};
pub use tls_listener::TlsFiles;
