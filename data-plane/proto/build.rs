//! Generates tonic server traits for the services a cell serves from the
//! descriptor set that `temporalio-protos` publishes, so no `.proto` file is
//! copied and no `protoc` is needed. Message types stay the crate's own.
//!
//! Every method gets a default body answering UNIMPLEMENTED; the generated
//! text is rewritten so that message names the RPC, which is what a user of an
//! RPC we do not serve yet needs to read.
use prost::Message;

const SERVICES: &[(&str, &str)] = &[
    (
        "temporal/api/workflowservice/v1/service.proto",
        "temporal.api.workflowservice.v1.rs",
    ),
    (
        "temporal/api/operatorservice/v1/service.proto",
        "temporal.api.operatorservice.v1.rs",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")?;
    println!("cargo:rerun-if-changed={path}");
    println!("cargo:rerun-if-changed=build.rs");
    let bytes = std::fs::read(&path)?;
    let mut fds = prost_types::FileDescriptorSet::decode(bytes.as_slice())?;
    fds.file
        .retain(|f| SERVICES.iter().any(|(proto, _)| *proto == f.name()));
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .generate_default_stubs(true)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::prost_wkt_types")
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".google.rpc", "::temporalio_protos::google::rpc")
        .extern_path(".google.api", "::temporalio_protos::google::api")
        .extern_path(".nexus", "::temporalio_protos::nexus")
        .compile_fds(fds)?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    for (_, file) in SERVICES {
        name_unimplemented_methods(&out.join(file))?;
    }
    Ok(())
}

/// Replaces tonic's generic "Not yet implemented" with "<Rpc> is not
/// implemented by Orrery", using the last `async fn` seen above each stub.
fn name_unimplemented_methods(path: &std::path::Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut out = String::with_capacity(text.len() + 8192);
    let mut method = String::new();
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("async fn ") {
            method = rest.split('(').next().unwrap_or_default().to_string();
        }
        if line.contains("\"Not yet implemented\"") {
            let rpc: String = method
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect();
            out.push_str(&line.replace(
                "\"Not yet implemented\"",
                &format!("\"{rpc} is not implemented by Orrery yet\""),
            ));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    std::fs::write(path, out)
}
