//! Embeds the shipped models: every `*.onnx` and `*.json` file of `healer/models/` becomes a
//! `(file name, bytes)` entry of `EMBEDDED_MODEL_FILES` (see `model::ModelSource::Embedded`).
//! Without such files the list is empty and the healer needs `models.dir`.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let models = manifest_dir.join("models");
    println!("cargo:rerun-if-changed={}", models.display());
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&models) {
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            let embedded = path.is_file() && (name.ends_with(".onnx") || name.ends_with(".json"));
            if embedded {
                println!("cargo:rerun-if-changed={}", path.display());
                files.push((name, path));
            }
        }
    }
    files.sort();
    let mut code = String::from(
        "/// Model files embedded from `healer/models/` at build time: (file name, bytes).\n\
         pub static EMBEDDED_MODEL_FILES: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        let _ = writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("embedded_models.rs"), code).expect("write embedded_models.rs");
}
