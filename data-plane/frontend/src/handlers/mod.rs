//! The frontend's handlers, by concern; `workflow_service.rs` wires them to
//! the generated trait.
mod activities;
pub mod archival;
mod namespaces;
mod poll;
mod schedules;
mod standalone_activities;
mod system;
mod updates;
pub(crate) mod visibility;
mod workflow_tasks;
mod workflows;
