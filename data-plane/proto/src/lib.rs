//! The Temporal API as a cell serves it: message types from `temporalio-protos`,
//! server traits generated in build.rs. No logic lives here.
pub use temporalio_protos::temporal::api;
pub use temporalio_protos::*;

pub mod workflowservice {
    tonic::include_proto!("temporal.api.workflowservice.v1");
}
pub mod operatorservice {
    tonic::include_proto!("temporal.api.operatorservice.v1");
}
