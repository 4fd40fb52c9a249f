//! The cell admin service is defined in Rust (`src/lib.rs` holds its
//! messages); tonic-build's manual builder writes the server trait and the
//! client, so there is no `.proto` file and no protoc.
use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::{input}"))
        .output_type(format!("crate::{output}"))
        .codec_path("tonic_prost::ProstCodec")
        .build()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let service = Service::builder()
        .name("CellAdmin")
        .package("orrery.cell.v1")
        .method(method(
            "pull_usage",
            "PullUsage",
            "PullUsageRequest",
            "PullUsageResponse",
        ))
        .method(method(
            "pull_namespace_stats",
            "PullNamespaceStats",
            "PullNamespaceStatsRequest",
            "PullNamespaceStatsResponse",
        ))
        .build();
    Builder::new().compile(&[service]);
}
