//! The members' internal service is defined in Rust (`src/internal.rs`
//! holds its messages); tonic-build's manual builder writes the server
//! trait and the client: no `.proto`, no protoc.
use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(input)
        .output_type(output)
        .codec_path("tonic_prost::ProstCodec")
        .build()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let service = Service::builder()
        .name("Member")
        .package("orrery.peer.v1")
        .method(method(
            "add_tasks",
            "AddTasks",
            "crate::internal::AddTasksRequest",
            "crate::internal::Empty",
        ))
        .method(method(
            "dispatch_query",
            "DispatchQuery",
            "crate::internal::DispatchQueryRequest",
            "crate::internal::Empty",
        ))
        .method(method(
            "record_workflow_task_started",
            "RecordWorkflowTaskStarted",
            "crate::internal::RecordTaskStartedRequest",
            "orrery_proto::api::workflowservice::v1::PollWorkflowTaskQueueResponse",
        ))
        .method(method(
            "record_activity_task_started",
            "RecordActivityTaskStarted",
            "crate::internal::RecordTaskStartedRequest",
            "orrery_proto::api::workflowservice::v1::PollActivityTaskQueueResponse",
        ))
        .method(method(
            "run_target",
            "RunTarget",
            "crate::internal::Encoded",
            "crate::internal::Encoded",
        ))
        .method(method(
            "run_scheduled",
            "RunScheduled",
            "crate::internal::Encoded",
            "crate::internal::Encoded",
        ))
        .build();
    Builder::new().compile(&[service]);
}
