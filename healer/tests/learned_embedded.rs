//! The models shipped in `healer/models/` as the library embeds them (`build.rs`): the bytes
//! are the files', and when they are the learned set, it loads from the embedded copy with
//! `models.dir` unset, reproduces its golden vectors, matches the Rust catalog and drives the
//! healer's tick.

mod common;
mod learned_support;

use std::path::Path;
use std::sync::Arc;

use common::{writes, Rig};
use learned_support::{onnxruntime, runtime};
use lsmedic_healer::config::ModelConfig;
use lsmedic_healer::model::{load_models, names, ModelSource};
use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{HealerConfig, Mode, ModelStatus};

fn models_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

#[test]
fn embedded_files_are_the_files_of_healer_models() {
    let mut on_disk: Vec<String> = std::fs::read_dir(models_dir())
        .expect("healer/models")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".onnx") || name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let embedded: Vec<String> = ModelSource::embedded_files()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(embedded, on_disk, "rebuild to embed the current files");
    for name in &embedded {
        let bytes = ModelSource::Embedded.read(name).expect("embedded");
        let file = std::fs::read(models_dir().join(name)).expect("file");
        assert!(
            bytes.as_ref() == file.as_slice(),
            "{name} differs from its file"
        );
    }
    let err = ModelSource::Embedded
        .read("no-such-model.onnx")
        .unwrap_err();
    assert!(err.to_string().contains("no-such-model.onnx"), "{err}");
}

#[test]
fn the_embedded_set_loads_without_a_directory() {
    runtime();
    let loaded = load_models(Some(&onnxruntime()), None).expect("embedded models load");
    assert_eq!(loaded.source, ModelSource::Embedded);
    // Every model with golden vectors reproduced them at load.
    for model in &loaded.models {
        if model.spec().golden.is_some() {
            assert!(
                loaded.golden.contains_key(&model.spec().name),
                "{}",
                model.spec().name
            );
        }
    }
    if !loaded.has_learned_set() {
        eprintln!(
            "healer/models holds {:?}, not the learned set: the learned checks below are skipped",
            loaded.names()
        );
        return;
    }
    for name in names::LEARNED {
        assert!(
            loaded.golden.contains_key(name),
            "{name} has golden vectors"
        );
    }
    let config = HealerConfig {
        mode: Mode::Advisory,
        models: ModelConfig {
            enabled: true,
            onnxruntime_path: Some(onnxruntime()),
            dir: None,
        },
        ..HealerConfig::default()
    };
    let mut rig = Rig::with_engine(Arc::new(StubEngine::new(&["default", "users"])), config);
    let stats = rig.core.handle().stats();
    assert!(
        matches!(&stats.model, ModelStatus::Loaded { policy, .. } if policy == "learned"),
        "{:?}",
        stats.model
    );
    let learned = rig.core.learned().expect("learned policy");
    let warm_up = learned.detector().params().window_ticks.max(
        loaded
            .manifest
            .window_ticks
            .expect("window_ticks of the learned set"),
    );
    let reports = rig.ticks(warm_up + 2, |e| {
        writes(e, "default", 100, 1024, 40);
        writes(e, "users", 50, 512, 40);
    });
    let record = reports
        .last()
        .and_then(|r| r.learned.clone())
        .expect("a learned record");
    assert_eq!(record.action_scores.len(), 15);
    assert!(record.action_scores.iter().all(|a| a.score.is_finite()));
    assert_eq!(rig.core.handle().stats().model_failures, 0);
}
