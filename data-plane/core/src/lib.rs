//! Shared vocabulary of a cell. Nothing here knows about a database or a
//! socket; history, matching and frontend all depend on it and on nothing of
//! each other.
pub mod actions;
pub mod caller;
pub mod dynamic_config;
pub mod error;
pub mod limits;
pub mod matching;
pub mod metrics;
pub mod time;
pub mod token;

pub use error::{CellError, CellResult};
