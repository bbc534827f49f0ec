//! The model runtime against the real ONNX Runtime library: golden outputs, manifest checks,
//! and the healer's fallback to the rule policy when the runtime is missing.
//!
//! The library is found through `ORT_DYLIB_PATH`, else `.ort/libonnxruntime.so.1.31.1` at the
//! repository root (what `make onnxruntime` fetches).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmedic_healer::config::ModelConfig;
use lsmedic_healer::model::{GoldenFile, ModelError, ModelManifest, OrtRuntime, TensorSpec};
use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{HealerConfig, HealerCore, ModelStatus};

const ORT_LIB: &str = "libonnxruntime.so.1.31.1";

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn onnxruntime() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".ort")
            .join(ORT_LIB),
    }
}

fn runtime() -> OrtRuntime {
    let path = onnxruntime();
    OrtRuntime::load(Some(&path)).unwrap_or_else(|err| {
        panic!("{err}\n(run `make onnxruntime` at the repository root to fetch {ORT_LIB})")
    })
}

fn manifest() -> ModelManifest {
    ModelManifest::from_file(&models_dir().join("manifest.json")).expect("manifest")
}

#[test]
fn onnx_runtime_reproduces_the_golden_outputs() {
    let runtime = runtime();
    let manifest = manifest();
    let spec = manifest
        .model("test_affine")
        .expect("test_affine in manifest");
    // Embedded bytes and the file on disk are the same model.
    let bytes: &[u8] = include_bytes!("../models/test_affine.onnx");
    let mut embedded = runtime
        .model_from_bytes(spec, bytes)
        .expect("load from bytes");
    let mut from_file = runtime
        .model_from_dir(spec, &models_dir())
        .expect("load from file");
    let golden_name = spec.golden.as_deref().expect("golden file named");
    let golden: GoldenFile = serde_json::from_str(
        &std::fs::read_to_string(models_dir().join(golden_name)).expect("golden file"),
    )
    .expect("golden json");
    assert_eq!(golden.cases.len(), 3);
    let worst = embedded.check_golden(&golden).expect("golden outputs");
    assert!(worst <= golden.tolerance, "{worst}");
    from_file
        .check_golden(&golden)
        .expect("golden outputs from file");

    // One hand-checked value: relu([1,2,3,4] @ W + b).
    let out = embedded
        .run(&[("features", &[1, 4], &[1.0, 2.0, 3.0, 4.0])])
        .expect("run");
    assert_eq!(out[0].name, "scores");
    assert_eq!(out[0].shape, vec![1, 3]);
    let expected = [6.85f32, 4.3, 3.05];
    for (got, want) in out[0].data.iter().zip(expected) {
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
}

#[test]
fn a_model_that_does_not_match_its_manifest_is_refused() {
    let runtime = runtime();
    let manifest = manifest();
    let bytes: &[u8] = include_bytes!("../models/test_affine.onnx");
    let mut spec = manifest.model("test_affine").expect("spec").clone();
    spec.inputs[0].name = "x".into();
    let err = runtime.model_from_bytes(&spec, bytes).unwrap_err();
    assert!(
        matches!(&err, ModelError::Mismatch { what, .. } if what.contains("input 0 name")),
        "{err}"
    );

    let mut spec = manifest.model("test_affine").expect("spec").clone();
    spec.outputs[0].shape = vec![-1, 4];
    let err = runtime.model_from_bytes(&spec, bytes).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");

    let mut spec = manifest.model("test_affine").expect("spec").clone();
    spec.inputs.push(TensorSpec {
        name: "extra".into(),
        dtype: "float32".into(),
        shape: vec![1],
    });
    assert!(runtime.model_from_bytes(&spec, bytes).is_err());

    // Inputs of the wrong shape are refused before ONNX Runtime sees them.
    let spec = manifest.model("test_affine").expect("spec").clone();
    let mut model = runtime.model_from_bytes(&spec, bytes).expect("model");
    let err = model.run(&[("features", &[1, 5], &[0.0; 5])]).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
    assert!(runtime
        .model_from_bytes(&spec, b"not an onnx model")
        .is_err());
}

#[test]
fn healer_loads_models_from_a_directory() {
    let engine = Arc::new(StubEngine::new(&["default"]));
    let config = HealerConfig {
        models: ModelConfig {
            enabled: true,
            onnxruntime_path: Some(onnxruntime()),
            dir: Some(models_dir()),
        },
        ..HealerConfig::default()
    };
    let core = HealerCore::new(engine, config).expect("core");
    let stats = core.handle().stats();
    match &stats.model {
        ModelStatus::Loaded { models, policy, .. } => {
            assert_eq!(models.first().map(String::as_str), Some("test_affine"));
            // With the learned set beside it (healer/models after `make models`), the
            // learned policy decides; with the runtime test model alone, the rules do.
            let learned = ["detector_adapt", "detector", "cascade_gnn", "policy"]
                .iter()
                .all(|name| models.iter().any(|m| m == name));
            assert_eq!(
                policy,
                if learned { "learned" } else { "rules" },
                "{models:?}"
            );
            assert_eq!(stats.policy, *policy);
        }
        other => panic!("expected loaded models, got {other:?}"),
    }
}

#[test]
fn missing_onnx_runtime_falls_back_to_rules_and_says_how_to_fix_it() {
    let engine = Arc::new(StubEngine::new(&["default"]));
    let config = HealerConfig {
        models: ModelConfig {
            enabled: true,
            onnxruntime_path: Some(PathBuf::from("/nowhere/libonnxruntime.so.1.31.1")),
            dir: Some(models_dir()),
        },
        ..HealerConfig::default()
    };
    let mut core = HealerCore::new(engine, config).expect("the healer starts anyway");
    let stats = core.handle().stats();
    assert_eq!(stats.policy, "rules");
    match &stats.model {
        ModelStatus::Fallback { reason } => {
            assert!(reason.contains("ORT_DYLIB_PATH"), "{reason}");
            assert!(reason.contains("/nowhere/"), "{reason}");
        }
        other => panic!("expected a fallback, got {other:?}"),
    }
    core.tick().expect("rules still tick");
    let entries = core.handle().audit_entries(10);
    assert!(
        serde_json::to_string(&entries[0])
            .expect("json")
            .contains("not loaded"),
        "{entries:?}"
    );
}
