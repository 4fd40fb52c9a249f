pub mod activity;
pub mod activity_ops;
mod close;
pub mod commands;
pub mod complete;
mod describe;
pub mod history;
mod limits;
pub mod reset;
mod run_chain;
mod signal;
pub mod standalone;
pub mod start;
pub mod update;
mod update_registry;
pub mod workflow_task;

pub(crate) use update_registry::UpdateLimits;
