//! A cell of several members: which member answers a call (`route`), the
//! forwarding of calls to it (`forward`) with the caller the first member
//! authenticated (`caller`), mutual TLS between members (`tls`), and the
//! internal calls between history and matching on different members
//! (`internal`). Membership itself (who is alive, who owns which shard) is
//! `orrery-membership`.
pub mod caller;
pub mod forward;
pub mod internal;
pub mod route;
pub mod tls;

pub use caller::PeerCallerLayer;
pub use forward::{ForwardLayer, PeerClients, Placement};
pub use route::{RouteKey, Routes};
pub use tls::{PeerCredentials, PeerTls};
