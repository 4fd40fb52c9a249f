pub mod activity;
mod close;
pub mod commands;
mod complete;
mod describe;
pub mod history;
mod signal;
pub mod start;
pub mod workflow_task;
