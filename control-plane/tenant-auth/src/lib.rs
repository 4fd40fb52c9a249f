//! The contract between the control plane and its cells.
//!
//! The control plane publishes a [`Snapshot`] at `GET /internal/v1/auth-snapshot`;
//! a cell polls it (with `?since=<version>`, answered 304 while nothing
//! changed), builds an [`Authorizer`] from it and swaps it in atomically. Every
//! tenant request is then checked against the authorizer alone: the control
//! plane is never on the path of a workflow RPC.
mod authorizer;
mod certificates;
pub mod control;
mod error;
mod snapshot;

pub use authorizer::{
    API_KEY_AUDIENCE, API_KEY_ISSUER, ApiKeyClaims, Authorizer, Bearer, CLOCK_LEEWAY,
    CONSOLE_TOKEN_AUDIENCE, CONSOLE_TOKEN_MAX_TTL,
};
pub use error::{AuthError, AuthErrorKind};
pub use snapshot::{
    ActiveApiKey, CertificateFilter, Grant, KeyAlgorithm, MtlsConfig, NamespaceAuth,
    ParsePrincipalError, Permission, Principal, SigningKey, Snapshot,
};
