//! Builds the web console (`web/`, TypeScript + React bundled by Vite) so the
//! binary can embed it: `cargo build` on a fresh checkout needs Node.js 20+
//! and npm and nothing else. `npm ci` runs when `web/node_modules` is missing
//! or was installed from another `package-lock.json`; `npm run build` writes
//! the bundle under OUT_DIR, and `console_assets.rs` there lists its files
//! for `src/console.rs` to `include_bytes!`.
//!
//! `ORRERY_CONSOLE_DIST=<dir>` embeds a bundle built elsewhere (a machine
//! without Node.js, a packaging step that built `web/` once) instead.
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Inputs of the bundle: a change to any of them builds it again.
const INPUTS: &[&str] = &[
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

/// Node.js major version Vite 8 needs (20.19 or later).
const NODE_MAJOR: u32 = 20;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let web = manifest.join("../web");
    println!("cargo::rerun-if-env-changed=ORRERY_CONSOLE_DIST");
    let dist = match std::env::var_os("ORRERY_CONSOLE_DIST") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            println!("cargo::rerun-if-changed={}", dir.display());
            if !dir.join("index.html").is_file() {
                fail(&format!(
                    "ORRERY_CONSOLE_DIST={} has no index.html: point it at the output of \
                     `npm run build` in web/ (web/dist)",
                    dir.display()
                ));
            }
            dir
        }
        None => {
            for input in INPUTS {
                println!("cargo::rerun-if-changed={}", web.join(input).display());
            }
            let dist = out.join("console");
            if let Err(why) = build_console(&web, &dist) {
                fail(&why);
            }
            dist
        }
    };
    let listing = match list_assets(&dist) {
        Ok(listing) => listing,
        Err(why) => fail(&why),
    };
    fs::write(out.join("console_assets.rs"), listing).expect("OUT_DIR is writable");
}

fn fail(why: &str) -> ! {
    // One line per message: cargo shows each `cargo::error` as an error.
    for line in why.lines() {
        println!("cargo::error={line}");
    }
    std::process::exit(1);
}

fn program(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.cmd")
    } else {
        name.to_owned()
    }
}

/// The major version `node --version` reports, or why there is none.
fn node_major() -> Result<u32, String> {
    let missing = |detail: String| {
        format!(
            "building the web console needs Node.js {NODE_MAJOR}.19+ and npm ({detail}).\n\
             Install Node.js {NODE_MAJOR} or later (https://nodejs.org, or your package manager), \
             or set ORRERY_CONSOLE_DIST=<dir> to a console built elsewhere with \
             `cd web && npm ci && npm run build` (web/dist)."
        )
    };
    let output = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| missing(format!("`node --version`: {e}")))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .filter(|major| *major >= NODE_MAJOR)
        .ok_or_else(|| missing(format!("found node {version:?}")))
}

fn npm(web: &Path, args: &[&str], out_dir: Option<&Path>) -> Result<(), String> {
    let mut cmd = Command::new(program("npm"));
    cmd.args(args)
        .current_dir(web)
        // Cargo reads this script's stdout as directives: npm talks on stderr.
        .stdout(Stdio::from(std::io::stderr()))
        .env("NO_UPDATE_NOTIFIER", "1");
    if let Some(dir) = out_dir {
        cmd.env("ORRERY_CONSOLE_OUT_DIR", dir);
    }
    let status = cmd.status().map_err(|e| {
        format!(
            "`npm {}` in {} did not start: {e}. Install npm (it comes with Node.js {NODE_MAJOR}+), \
             or set ORRERY_CONSOLE_DIST=<prebuilt dir>.",
            args.join(" "),
            web.display()
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`npm {}` in {} failed ({status}); its output is above",
            args.join(" "),
            web.display()
        ))
    }
}

fn build_console(web: &Path, dist: &Path) -> Result<(), String> {
    node_major()?;
    // Two builds at once (a release and a debug build, clippy beside a test
    // run) share web/node_modules: one installs while the other waits.
    let lock_path = web.join(".build.lock");
    let lock = fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;

    let lockfile = fs::read(web.join("package-lock.json"))
        .map_err(|e| format!("web/package-lock.json: {e}"))?;
    // A copy of the lockfile node_modules was installed from: npm ci again
    // only when it differs (or node_modules is gone).
    let installed_from = web.join("node_modules/.orrery-package-lock.json");
    if fs::read(&installed_from).ok().as_deref() != Some(&lockfile[..]) {
        npm(
            web,
            &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
            None,
        )?;
        fs::write(&installed_from, &lockfile)
            .map_err(|e| format!("{}: {e}", installed_from.display()))?;
    }
    npm(web, &["run", "build", "--silent"], Some(dist))
}

fn content_type(name: &str) -> Option<&'static str> {
    Some(match name.rsplit_once('.')?.1 {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// `console_assets.rs`: the page and every file under `assets/` (Vite names
/// them by content hash), each with its content type.
fn list_assets(dist: &Path) -> Result<String, String> {
    let index = dist.join("index.html");
    if !index.is_file() {
        return Err(format!("{} is missing after the build", index.display()));
    }
    let mut files = Vec::new();
    let assets = dist.join("assets");
    let entries = fs::read_dir(&assets).map_err(|e| format!("{}: {e}", assets.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: not a UTF-8 name", path.display()))?
            .to_owned();
        if !path.is_file() {
            return Err(format!("{}: the console's assets are flat", path.display()));
        }
        let Some(ty) = content_type(&name) else {
            return Err(format!(
                "{}: no content type for this kind of file (control-plane/build.rs)",
                path.display()
            ));
        };
        files.push((name, ty, path));
    }
    files.sort();
    let mut rs = String::from("// Generated by control-plane/build.rs from the console's build.\n");
    let _ = writeln!(
        rs,
        "pub const INDEX_HTML: &[u8] = include_bytes!({:?});",
        index.display().to_string()
    );
    rs.push_str("pub const ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for (name, ty, path) in &files {
        let _ = writeln!(
            rs,
            "    ({name:?}, {ty:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    rs.push_str("];\n");
    Ok(rs)
}
