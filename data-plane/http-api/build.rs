//! Compiles the Temporal service protos of `temporalio-protos` into a
//! descriptor set that keeps their method options. The crate's own
//! descriptor set (DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH) went through
//! `prost_types`, which drops extension options such as `google.api.http`,
//! and those annotations are the HTTP API's route table. Nothing is copied:
//! the `.proto` files are read where cargo unpacked the dependency.
use std::path::{Path, PathBuf};

/// The services, and what error bodies carry: `google.rpc.Status` and the
/// error details inside it (JSON renders an `Any` only for types it knows).
const FILES: &[&str] = &[
    "temporal/api/workflowservice/v1/service.proto",
    "temporal/api/operatorservice/v1/service.proto",
    "temporal/api/errordetails/v1/message.proto",
    "google/rpc/status.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    let root = temporalio_protos_dir()?;
    let api = root.join("protos/api_upstream");
    println!("cargo:rerun-if-changed={}", api.display());
    let mut compiler = protox::Compiler::new([api.clone(), root.join("protos")])?;
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(FILES)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("http_api_descriptors.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    // The OpenAPI documents of the same protos, served at /swagger.json and
    // /openapi.yaml as the real server serves them.
    for (from, to) in [
        ("openapiv2.json", "swagger.json"),
        ("openapiv3.yaml", "openapi.yaml"),
    ] {
        std::fs::copy(api.join("openapi").join(from), out.join(to))?;
    }
    Ok(())
}

/// Where cargo unpacked `temporalio-protos`: `ORRERY_TEMPORALIO_PROTOS_DIR`
/// if set (vendored builds), else the registry source under CARGO_HOME for
/// the version Cargo.lock pins. `cargo metadata` would be the general answer
/// but wants every platform's packages downloaded, offline builds included.
fn temporalio_protos_dir() -> Result<PathBuf, Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=ORRERY_TEMPORALIO_PROTOS_DIR");
    if let Ok(dir) = std::env::var("ORRERY_TEMPORALIO_PROTOS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let lock_path = manifest_dir.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path)?;
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"temporalio-protos\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .ok_or("temporalio-protos is not in Cargo.lock")?;
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let wanted = format!("temporalio-protos-{version}");
    for registry in std::fs::read_dir(cargo_home.join("registry/src"))? {
        let dir = registry?.path().join(&wanted);
        if dir.join("protos/api_upstream").is_dir() {
            return Ok(dir);
        }
    }
    Err(format!(
        "{wanted} not found under {}/registry/src; set ORRERY_TEMPORALIO_PROTOS_DIR to its unpacked source",
        cargo_home.display()
    )
    .into())
}
