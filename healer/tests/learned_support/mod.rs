//! Shared by the `learned_*` tests: where the fixture models and ONNX Runtime are, configs
//! that load them, and a copy of the fixtures that a test may break.
//!
//! The fixtures (`tests/fixtures/learned/`, built by `make_learned_fixtures.py`) are tiny
//! graphs with random weights and the contract's inputs and outputs: test fixtures, not
//! trained models.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lsmedic_healer::config::{LearnedConfig, ModelConfig};
use lsmedic_healer::model::{load_models, LoadedModels, OrtRuntime};
use lsmedic_healer::policy::learned::LearnedPolicy;
use lsmedic_healer::{GuardConfig, HealerConfig, Mode, Weights};

const ORT_LIB: &str = "libonnxruntime.so.1.31.1";

/// `healer/tests/fixtures/learned`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join("learned")
}

/// `ORT_DYLIB_PATH`, else `.ort/libonnxruntime.so.1.31.1` at the repository root.
pub fn onnxruntime() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".ort")
            .join(ORT_LIB),
    }
}

/// Loads ONNX Runtime or fails the test saying how to get it.
pub fn runtime() -> OrtRuntime {
    OrtRuntime::load(Some(&onnxruntime())).unwrap_or_else(|err| {
        panic!("{err}\n(run `make onnxruntime` at the repository root to fetch {ORT_LIB})")
    })
}

/// The fixtures, loaded and golden-checked.
pub fn load_fixtures() -> LoadedModels {
    runtime();
    load_models(Some(&onnxruntime()), Some(&fixtures_dir())).expect("fixture models load")
}

/// A learned policy over the fixtures.
pub fn fixture_policy(config: &LearnedConfig) -> LearnedPolicy {
    let mut loaded = load_fixtures();
    LearnedPolicy::from_models(&mut loaded, config, &GuardConfig::default())
        .expect("learned policy from the fixtures")
}

/// A healer config that loads the models of `dir` (advisory: decides, never acts).
pub fn learned_config(dir: &Path) -> HealerConfig {
    runtime();
    HealerConfig {
        mode: Mode::Advisory,
        weights: Weights::default(),
        models: ModelConfig {
            enabled: true,
            onnxruntime_path: Some(onnxruntime()),
            dir: Some(dir.to_owned()),
        },
        ..HealerConfig::default()
    }
}

/// A copy of the fixtures in a temp dir (for tests that break a file).
pub fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
    }
    dir
}

/// Edits the manifest of a fixture copy as JSON.
pub fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json");
    edit(&mut manifest);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&manifest).expect("json"),
    )
    .expect("write");
}
