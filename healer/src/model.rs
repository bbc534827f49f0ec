//! The model runtime: ONNX models run by ONNX Runtime, which is loaded at run time from a
//! shared library (`ort`'s `load-dynamic`), so lsmedic builds and runs without it and only
//! the learned parts need it.
//!
//! Where the library comes from: `models.onnxruntime_path` in the healer config, else the
//! `ORT_DYLIB_PATH` environment variable. If neither names a loadable ONNX Runtime ≥ 1.31,
//! [`ModelError::RuntimeUnavailable`] says so and how to fix it, and the healer runs the rule
//! policy (visible in `HealerStats::model`). ONNX Runtime is process-global: the first
//! library loaded stays for the life of the process.
//!
//! Every model is described in a `manifest.json` ([`ModelManifest`]): input and output
//! names, element types and shapes (−1 = dynamic), the feature schema version it was trained
//! on, and optionally golden input/output vectors. A model whose graph does not match its
//! manifest, or whose feature schema is not this healer's, is refused; so is a set whose
//! golden vectors ONNX Runtime does not reproduce ([`load_models`] checks them at load).
//!
//! The learned healer's set ([`names::LEARNED`]: `detector_adapt`, `detector`,
//! `cascade_gnn`, `policy`) has a fixed contract of input/output names and shapes plus the
//! manifest's `window_ticks`, `detector` and `policy` sections
//! ([`ModelManifest::check_learned_set`]).
//!
//! Models come from a directory (`models.dir`) or, by default, from the files of
//! `healer/models/` embedded into the library at build time ([`ModelSource`]; `build.rs`
//! embeds every `*.onnx` and `*.json` there).
//!
//! Sessions run single-threaded (`intra_threads = 1`) on the healer thread: the models are
//! small and the database's own threads need the cores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};
use serde::{Deserialize, Serialize};

use crate::features::{FEATURE_DIM, FEATURE_SCHEMA_VERSION};

/// The environment variable naming the ONNX Runtime shared library.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// The ONNX Runtime version the `ort` crate is built against (API 31).
pub const ONNXRUNTIME_VERSION: &str = "1.31";

/// Version of the manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// ONNX Runtime's shared library could not be found or loaded.
    #[error(
        "ONNX Runtime is not available{}: {reason}. Set the {ORT_DYLIB_ENV} environment variable \
         (or models.onnxruntime_path in the healer config) to the path of the ONNX Runtime \
         {ONNXRUNTIME_VERSION} shared library, e.g. .ort/libonnxruntime.so.1.31.1 as fetched by \
         `make onnxruntime`; until then the healer uses the rule policy",
        path.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default()
    )]
    RuntimeUnavailable {
        /// The path tried, if any.
        path: Option<PathBuf>,
        /// What went wrong.
        reason: String,
    },
    /// A model, manifest or golden file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest or golden file is malformed or inconsistent.
    #[error("manifest {what}: {reason}")]
    Manifest {
        /// Which manifest or model entry.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The model graph does not match its manifest.
    #[error("model {model}: {what}: manifest says {expected}, the model has {found}")]
    Mismatch {
        /// Model name.
        model: String,
        /// What differs (`input 0 name`, `output logits shape`, …).
        what: String,
        /// The manifest's value.
        expected: String,
        /// The model's value.
        found: String,
    },
    /// The model was trained on another feature schema.
    #[error(
        "models were trained on feature schema version {found}, this healer extracts \
         version {expected}: retrain them (healer/train) or use a matching lsmedic"
    )]
    SchemaVersion {
        /// [`FEATURE_SCHEMA_VERSION`].
        expected: u32,
        /// The manifest's.
        found: u32,
    },
    /// ONNX Runtime refused to build or run the model.
    #[error("model {model}: ONNX Runtime: {message}")]
    Ort {
        /// Model name.
        model: String,
        /// ONNX Runtime's message.
        message: String,
    },
}

/// Name, element type and shape of one model input or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// Name in the ONNX graph.
    pub name: String,
    /// Element type (`float32`; the only one the healer feeds).
    pub dtype: String,
    /// Dimensions; −1 = dynamic (e.g. the number of graph nodes).
    pub shape: Vec<i64>,
}

/// One model of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name (`detector`, `cascade_gnn`, `policy`, …).
    pub name: String,
    /// ONNX file, relative to the manifest.
    pub file: String,
    /// Inputs, in graph order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in graph order.
    pub outputs: Vec<TensorSpec>,
    /// Golden vectors file (JSON, [`GoldenFile`]), relative to the manifest.
    #[serde(default)]
    pub golden: Option<String>,
    /// What the model does and how it was trained.
    #[serde(default)]
    pub description: Option<String>,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// The [`FEATURE_SCHEMA_VERSION`] the models were trained on.
    pub feature_schema_version: u32,
    /// Models.
    pub models: Vec<ModelSpec>,
    /// History length `T` (ticks) of the cascade GNN's input `x: [N, T, 19]`; required by
    /// the learned set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ticks: Option<usize>,
    /// The detector's run-time parameters; required by the learned set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<DetectorManifest>,
    /// The policy's action and tunable orders; required by the learned set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyManifest>,
    /// Free-form provenance (training data digest, normalisation, metrics, generator).
    #[serde(default)]
    pub provenance: BTreeMap<String, serde_json::Value>,
}

/// The detector's entry of a manifest (`"detector": {...}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorManifest {
    /// Window length `T'` (ticks) of `detector_adapt`'s `support: [K, N, T', 19]` and
    /// `detector`'s `window: [N, T', 19]`.
    pub window_ticks: usize,
    /// Names of the adapted head's state tensors, in order: `detector_adapt`'s outputs and
    /// `detector`'s inputs after `window`.
    pub state: Vec<String>,
    /// Decision threshold on `score` (anomaly when `score >= threshold`).
    pub threshold: f32,
    /// Support windows `K` (1..=10) gathered before an adaptation.
    pub support_windows: usize,
    /// Ticks between the starts of two support windows (default: `window_ticks`, i.e.
    /// non-overlapping windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_stride_ticks: Option<usize>,
    /// JSON file (relative to the manifest) with the meta-learned, un-adapted state
    /// (`{"<state name>": {"shape": [...], "data": [...]}}`), used until the first
    /// adaptation; without it the detector is silent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_state: Option<String>,
}

/// Most ensemble members a policy model may have (`q`'s first dimension).
pub const MAX_POLICY_MEMBERS: i64 = 16;

/// The policy's entry of a manifest (`"policy": {...}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyManifest {
    /// Catalog action names in index order (`q`'s second dimension); index 0 is `noop`.
    pub actions: Vec<String>,
    /// Tunable names in the order of the policy's `tunables` input.
    pub tunables: Vec<String>,
    /// How much (in weighted-value units) an action must beat the rule policy's choice by
    /// before the learned policy departs from it (training: the RMS of the values' weighted
    /// one-step TD residual); `learned.deviation_margin` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation_margin: Option<f64>,
}

impl ModelManifest {
    /// Parses and checks a manifest.
    pub fn from_json(text: &str, what: &str) -> Result<ModelManifest, ModelError> {
        let manifest: ModelManifest =
            serde_json::from_str(text).map_err(|e| ModelError::Manifest {
                what: what.to_owned(),
                reason: e.to_string(),
            })?;
        if manifest.manifest_version != MANIFEST_VERSION {
            return Err(ModelError::Manifest {
                what: what.to_owned(),
                reason: format!(
                    "manifest_version {} is not {MANIFEST_VERSION}",
                    manifest.manifest_version
                ),
            });
        }
        if manifest.feature_schema_version != FEATURE_SCHEMA_VERSION {
            return Err(ModelError::SchemaVersion {
                expected: FEATURE_SCHEMA_VERSION,
                found: manifest.feature_schema_version,
            });
        }
        Ok(manifest)
    }

    /// Reads `path`.
    pub fn from_file(path: &Path) -> Result<ModelManifest, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
        ModelManifest::from_json(&text, &path.display().to_string())
    }

    /// The model named `name`.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// A tensor's values (float32, row-major).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorData {
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Values.
    pub data: Vec<f32>,
}

/// One golden case: inputs by name and the outputs ONNX Runtime must reproduce.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenCase {
    /// Inputs by name.
    pub inputs: BTreeMap<String, TensorData>,
    /// Expected outputs by name.
    pub outputs: BTreeMap<String, TensorData>,
}

/// A golden-vectors file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenFile {
    /// Model the cases are for.
    pub model: String,
    /// Largest absolute difference allowed per value.
    pub tolerance: f32,
    /// Cases.
    pub cases: Vec<GoldenCase>,
}

/// The process's ONNX Runtime once loaded.
static LOADED_RUNTIME: parking_lot::Mutex<Option<OrtRuntime>> = parking_lot::Mutex::new(None);

/// A loaded ONNX Runtime (process-global).
#[derive(Debug, Clone)]
pub struct OrtRuntime {
    environment: ort::environment::Environment,
    library: PathBuf,
}

impl OrtRuntime {
    /// The library to load: `configured`, else `ORT_DYLIB_PATH`.
    pub fn library_path(configured: Option<&Path>) -> Result<PathBuf, ModelError> {
        let path = match configured {
            Some(path) => path.to_owned(),
            None => match std::env::var_os(ORT_DYLIB_ENV) {
                Some(value) if !value.is_empty() => PathBuf::from(value),
                _ => {
                    return Err(ModelError::RuntimeUnavailable {
                        path: None,
                        reason: format!("{ORT_DYLIB_ENV} is not set"),
                    })
                }
            },
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        if !path.is_file() {
            return Err(ModelError::RuntimeUnavailable {
                path: Some(path),
                reason: "no such file".to_owned(),
            });
        }
        Ok(path)
    }

    /// Loads ONNX Runtime from `configured` or `ORT_DYLIB_PATH` and creates the environment.
    ///
    /// ONNX Runtime allows one library and one environment per process: once a load
    /// succeeded, later calls (whose path must still name a file) return that runtime.
    pub fn load(configured: Option<&Path>) -> Result<OrtRuntime, ModelError> {
        let library = OrtRuntime::library_path(configured)?;
        let mut loaded = LOADED_RUNTIME.lock();
        if let Some(runtime) = loaded.as_ref() {
            return Ok(runtime.clone());
        }
        let unavailable = |reason: String| ModelError::RuntimeUnavailable {
            path: Some(library.clone()),
            reason,
        };
        // `ort` may panic on an unusable library; never let that reach the host.
        let attempt = std::panic::catch_unwind(|| -> Result<_, String> {
            let builder = ort::init_from(&library).map_err(|e| e.to_string())?;
            builder
                .with_name("lsmedic-healer")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        });
        let environment = match attempt {
            Ok(Ok(environment)) => environment,
            Ok(Err(reason)) => return Err(unavailable(reason)),
            Err(payload) => return Err(unavailable(crate::error::panic_message(&*payload))),
        };
        let runtime = OrtRuntime {
            environment,
            library,
        };
        *loaded = Some(runtime.clone());
        Ok(runtime)
    }

    /// The library loaded.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Builds a session for `spec` from ONNX bytes and checks it against the manifest.
    pub fn model_from_bytes(&self, spec: &ModelSpec, bytes: &[u8]) -> Result<Model, ModelError> {
        let ort_error = |e: &dyn std::fmt::Display| ModelError::Ort {
            model: spec.name.clone(),
            message: e.to_string(),
        };
        let builder = Session::builder(&self.environment).map_err(|e| ort_error(&e))?;
        let mut builder = builder.with_intra_threads(1).map_err(|e| ort_error(&e))?;
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|e| ort_error(&e))?;
        let model = Model {
            spec: spec.clone(),
            session,
        };
        model.check_signature()?;
        Ok(model)
    }

    /// Builds a session for `spec` from its file under `dir`.
    pub fn model_from_dir(&self, spec: &ModelSpec, dir: &Path) -> Result<Model, ModelError> {
        let path = dir.join(&spec.file);
        let bytes = std::fs::read(&path).map_err(|source| ModelError::Io { path, source })?;
        self.model_from_bytes(spec, &bytes)
    }
}

fn dtype_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "float32".to_owned(),
        TensorElementType::Float64 => "float64".to_owned(),
        TensorElementType::Int64 => "int64".to_owned(),
        TensorElementType::Int32 => "int32".to_owned(),
        other => other.to_string(),
    }
}

fn shape_text(shape: &[i64]) -> String {
    format!("{shape:?}")
}

/// A loaded model: an ONNX Runtime session checked against its manifest entry.
#[derive(Debug)]
pub struct Model {
    spec: ModelSpec,
    session: Session,
}

/// One output of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelOutput {
    /// Output name.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

impl Model {
    /// Its manifest entry.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn check_signature(&self) -> Result<(), ModelError> {
        let model = &self.spec.name;
        for (side, specs, outlets) in [
            ("input", &self.spec.inputs, self.session.inputs()),
            ("output", &self.spec.outputs, self.session.outputs()),
        ] {
            if specs.len() != outlets.len() {
                return Err(ModelError::Mismatch {
                    model: model.clone(),
                    what: format!("number of {side}s"),
                    expected: specs.len().to_string(),
                    found: outlets.len().to_string(),
                });
            }
            for (index, (spec, outlet)) in specs.iter().zip(outlets).enumerate() {
                if spec.name != outlet.name() {
                    return Err(ModelError::Mismatch {
                        model: model.clone(),
                        what: format!("{side} {index} name"),
                        expected: spec.name.clone(),
                        found: outlet.name().to_owned(),
                    });
                }
                let dtype = outlet
                    .dtype()
                    .tensor_type()
                    .map_or_else(|| "not a tensor".to_owned(), dtype_name);
                if dtype != spec.dtype {
                    return Err(ModelError::Mismatch {
                        model: model.clone(),
                        what: format!("{side} {} element type", spec.name),
                        expected: spec.dtype.clone(),
                        found: dtype,
                    });
                }
                let shape: Vec<i64> = outlet
                    .dtype()
                    .tensor_shape()
                    .map(|s| s.iter().map(|&d| if d < 0 { -1 } else { d }).collect())
                    .unwrap_or_default();
                if shape != spec.shape {
                    return Err(ModelError::Mismatch {
                        model: model.clone(),
                        what: format!("{side} {} shape", spec.name),
                        expected: shape_text(&spec.shape),
                        found: shape_text(&shape),
                    });
                }
            }
        }
        Ok(())
    }

    /// Runs the model on float32 inputs `(name, shape, values)` and returns every output.
    /// Inputs are checked against the manifest (names, ranks, fixed dimensions) first.
    pub fn run(
        &mut self,
        inputs: &[(&str, &[i64], &[f32])],
    ) -> Result<Vec<ModelOutput>, ModelError> {
        let model = self.spec.name.clone();
        let mismatch = |what: String, expected: String, found: String| ModelError::Mismatch {
            model: model.clone(),
            what,
            expected,
            found,
        };
        if inputs.len() != self.spec.inputs.len() {
            return Err(mismatch(
                "number of inputs given".into(),
                self.spec.inputs.len().to_string(),
                inputs.len().to_string(),
            ));
        }
        let mut values = Vec::with_capacity(inputs.len());
        for (spec, (name, shape, data)) in self.spec.inputs.iter().zip(inputs) {
            if spec.name != *name {
                return Err(mismatch(
                    "input name given".into(),
                    spec.name.clone(),
                    (*name).to_owned(),
                ));
            }
            let fits = shape.len() == spec.shape.len()
                && shape
                    .iter()
                    .zip(&spec.shape)
                    .all(|(&given, &wanted)| given >= 0 && (wanted < 0 || given == wanted));
            if !fits {
                return Err(mismatch(
                    format!("shape of input {name} given"),
                    shape_text(&spec.shape),
                    shape_text(shape),
                ));
            }
            let tensor = TensorRef::from_array_view((shape.to_vec(), *data)).map_err(|e| {
                ModelError::Ort {
                    model: model.clone(),
                    message: e.to_string(),
                }
            })?;
            values.push((
                spec.name.clone(),
                ort::session::SessionInputValue::from(tensor),
            ));
        }
        let outputs = self.session.run(values).map_err(|e| ModelError::Ort {
            model: model.clone(),
            message: e.to_string(),
        })?;
        let mut result = Vec::with_capacity(self.spec.outputs.len());
        for spec in &self.spec.outputs {
            let value = outputs.get(&spec.name).ok_or_else(|| ModelError::Ort {
                model: model.clone(),
                message: format!("output {} missing from the run", spec.name),
            })?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| ModelError::Ort {
                    model: model.clone(),
                    message: format!("output {}: {e}", spec.name),
                })?;
            result.push(ModelOutput {
                name: spec.name.clone(),
                shape: shape.to_vec(),
                data: data.to_vec(),
            });
        }
        Ok(result)
    }

    /// Runs every golden case and returns the largest absolute difference seen; errors when
    /// it exceeds the file's tolerance.
    pub fn check_golden(&mut self, golden: &GoldenFile) -> Result<f32, ModelError> {
        let mut worst = 0.0f32;
        for (index, case) in golden.cases.iter().enumerate() {
            let specs = self.spec.inputs.clone();
            let inputs: Vec<(&str, &[i64], &[f32])> = specs
                .iter()
                .map(|spec| {
                    case.inputs
                        .get(&spec.name)
                        .map(|t| (spec.name.as_str(), t.shape.as_slice(), t.data.as_slice()))
                        .ok_or_else(|| ModelError::Manifest {
                            what: format!("golden case {index} of {}", golden.model),
                            reason: format!("input {} missing", spec.name),
                        })
                })
                .collect::<Result<_, _>>()?;
            let outputs = self.run(&inputs)?;
            for output in outputs {
                let Some(expected) = case.outputs.get(&output.name) else {
                    continue;
                };
                if expected.shape != output.shape || expected.data.len() != output.data.len() {
                    return Err(ModelError::Mismatch {
                        model: self.spec.name.clone(),
                        what: format!("golden case {index} output {} shape", output.name),
                        expected: shape_text(&expected.shape),
                        found: shape_text(&output.shape),
                    });
                }
                for (got, want) in output.data.iter().zip(&expected.data) {
                    worst = worst.max((got - want).abs());
                }
            }
        }
        if worst > golden.tolerance {
            return Err(ModelError::Mismatch {
                model: self.spec.name.clone(),
                what: "golden outputs".into(),
                expected: format!("within {}", golden.tolerance),
                found: format!("a difference of {worst}"),
            });
        }
        Ok(worst)
    }
}

/// Whether learned models are in use, and if not why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelStatus {
    /// Models are disabled in the config: the rule policy runs.
    #[default]
    NotConfigured,
    /// Models loaded and checked.
    Loaded {
        /// ONNX Runtime library.
        onnxruntime: String,
        /// Model names.
        models: Vec<String>,
        /// The policy that decides: `learned` when the set is the learned one, else `rules`.
        policy: String,
    },
    /// Loading failed: the rule policy runs instead.
    Fallback {
        /// Why (the typed error's message, with how to fix it).
        reason: String,
    },
}

/// Names of the four models of the learned set.
pub mod names {
    /// Few-shot adaptation of the detector head: `support` → state tensors.
    pub const DETECTOR_ADAPT: &str = "detector_adapt";
    /// Anomaly detector: `window` + state → `node_score`, `score`.
    pub const DETECTOR: &str = "detector";
    /// Cascade predictor: `x`, `node_score`, `adj` → `risk`.
    pub const CASCADE_GNN: &str = "cascade_gnn";
    /// Recovery policy: `x`, `risk`, `tunables`, `weights` → `q` (`[K, A, 3]`: K ensemble
    /// members' per-objective values of every catalog action).
    pub const POLICY: &str = "policy";
    /// All four, in data-flow order.
    pub const LEARNED: [&str; 4] = [DETECTOR_ADAPT, DETECTOR, CASCADE_GNN, POLICY];
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_models.rs"));
}

/// Where model files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// The files of `healer/models/` embedded into the library at build time.
    Embedded,
    /// A directory holding `manifest.json` and the files it names.
    Dir(PathBuf),
}

impl ModelSource {
    /// The configured directory, else the embedded set.
    pub fn new(dir: Option<&Path>) -> ModelSource {
        dir.map_or(ModelSource::Embedded, |dir| {
            ModelSource::Dir(dir.to_owned())
        })
    }

    /// Names of the embedded files (empty when the build embedded none).
    pub fn embedded_files() -> Vec<&'static str> {
        embedded::EMBEDDED_MODEL_FILES
            .iter()
            .map(|(name, _)| *name)
            .collect()
    }

    /// Where a file would be read from (for messages).
    pub fn path_of(&self, file: &str) -> PathBuf {
        match self {
            ModelSource::Embedded => Path::new("<embedded healer/models>").join(file),
            ModelSource::Dir(dir) => dir.join(file),
        }
    }

    /// Reads `file` (relative to the manifest).
    pub fn read(&self, file: &str) -> Result<std::borrow::Cow<'static, [u8]>, ModelError> {
        match self {
            ModelSource::Embedded => embedded::EMBEDDED_MODEL_FILES
                .iter()
                .find(|(name, _)| *name == file)
                .map(|(_, bytes)| std::borrow::Cow::Borrowed(*bytes))
                .ok_or_else(|| ModelError::Io {
                    path: self.path_of(file),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        if embedded::EMBEDDED_MODEL_FILES.is_empty() {
                            "this build embeds no models (healer/models/ was empty); set \
                             models.dir to a directory with a manifest.json"
                        } else {
                            "not among the embedded model files"
                        },
                    ),
                }),
            ModelSource::Dir(dir) => {
                let path = dir.join(file);
                std::fs::read(&path)
                    .map(std::borrow::Cow::Owned)
                    .map_err(|source| ModelError::Io { path, source })
            }
        }
    }

    /// Reads `file` as UTF-8 text.
    pub fn read_text(&self, file: &str) -> Result<String, ModelError> {
        let bytes = self.read(file)?;
        String::from_utf8(bytes.into_owned()).map_err(|e| ModelError::Manifest {
            what: self.path_of(file).display().to_string(),
            reason: format!("not UTF-8: {e}"),
        })
    }

    /// Reads and checks `manifest.json`.
    pub fn manifest(&self) -> Result<ModelManifest, ModelError> {
        let text = self.read_text("manifest.json")?;
        ModelManifest::from_json(&text, &self.path_of("manifest.json").display().to_string())
    }

    /// Reads a golden-vectors file.
    pub fn golden(&self, file: &str) -> Result<GoldenFile, ModelError> {
        let text = self.read_text(file)?;
        serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
            what: self.path_of(file).display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Reads a tensors-by-name file (a detector's `initial_state`).
    pub fn tensors(&self, file: &str) -> Result<BTreeMap<String, TensorData>, ModelError> {
        let text = self.read_text(file)?;
        serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
            what: self.path_of(file).display().to_string(),
            reason: e.to_string(),
        })
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Embedded => f.write_str("embedded"),
            ModelSource::Dir(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// Models loaded for the healer.
#[derive(Debug)]
pub struct LoadedModels {
    /// The runtime.
    pub runtime: OrtRuntime,
    /// The manifest.
    pub manifest: ModelManifest,
    /// Sessions, in manifest order.
    pub models: Vec<Model>,
    /// Where they came from.
    pub source: ModelSource,
    /// Largest golden-vector difference per model checked at load (models without golden
    /// vectors are absent).
    pub golden: BTreeMap<String, f32>,
}

impl LoadedModels {
    /// Names of the loaded models, in manifest order.
    pub fn names(&self) -> Vec<String> {
        self.models.iter().map(|m| m.spec().name.clone()).collect()
    }

    /// Whether every model of the learned set is loaded.
    pub fn has_learned_set(&self) -> bool {
        names::LEARNED
            .iter()
            .all(|name| self.models.iter().any(|m| m.spec().name == *name))
    }

    /// Removes and returns the model named `name`.
    pub fn take(&mut self, name: &str) -> Option<Model> {
        let index = self.models.iter().position(|m| m.spec().name == name)?;
        Some(self.models.remove(index))
    }
}

/// Loads every model of the manifest in `dir` (or of the embedded set when `dir` is `None`),
/// checks each against its manifest entry and reproduces its golden vectors; any failure
/// refuses the whole set.
pub fn load_models(
    onnxruntime_path: Option<&Path>,
    dir: Option<&Path>,
) -> Result<LoadedModels, ModelError> {
    let source = ModelSource::new(dir);
    let manifest = source.manifest()?;
    manifest.check_learned_set()?;
    let runtime = OrtRuntime::load(onnxruntime_path)?;
    let mut models = Vec::with_capacity(manifest.models.len());
    let mut golden = BTreeMap::new();
    for spec in &manifest.models {
        let bytes = source.read(&spec.file)?;
        let mut model = runtime.model_from_bytes(spec, &bytes)?;
        if let Some(file) = &spec.golden {
            let cases = source.golden(file)?;
            if cases.model != spec.name {
                return Err(ModelError::Manifest {
                    what: source.path_of(file).display().to_string(),
                    reason: format!(
                        "golden file is for model {}, not {}",
                        cases.model, spec.name
                    ),
                });
            }
            golden.insert(spec.name.clone(), model.check_golden(&cases)?);
        }
        models.push(model);
    }
    Ok(LoadedModels {
        runtime,
        manifest,
        models,
        source,
        golden,
    })
}

/// One dimension a learned model's tensor must have.
#[derive(Clone, Copy, Debug)]
enum Dim {
    /// Must be dynamic (−1): the node count or the number of support windows.
    Dynamic,
    /// This size (or dynamic).
    Fixed(i64),
}

fn check_tensor(
    model: &str,
    side: &str,
    spec: Option<&TensorSpec>,
    name: &str,
    dims: &[Dim],
) -> Result<(), ModelError> {
    let mismatch = |what: String, expected: String, found: String| ModelError::Mismatch {
        model: model.to_owned(),
        what,
        expected,
        found,
    };
    let Some(spec) = spec else {
        return Err(mismatch(
            format!("{side} {name}"),
            "present".into(),
            "missing".into(),
        ));
    };
    if spec.name != name {
        return Err(mismatch(
            format!("{side} name"),
            name.to_owned(),
            spec.name.clone(),
        ));
    }
    if spec.dtype != "float32" {
        return Err(mismatch(
            format!("{side} {name} element type"),
            "float32".into(),
            spec.dtype.clone(),
        ));
    }
    let wanted = || {
        let dims: Vec<String> = dims
            .iter()
            .map(|d| match d {
                Dim::Dynamic => "-1".to_owned(),
                Dim::Fixed(v) => v.to_string(),
            })
            .collect();
        format!("[{}]", dims.join(", "))
    };
    let fits = spec.shape.len() == dims.len()
        && spec.shape.iter().zip(dims).all(|(&got, dim)| match dim {
            Dim::Dynamic => got < 0,
            Dim::Fixed(v) => got < 0 || got == *v,
        });
    if !fits {
        return Err(mismatch(
            format!("{side} {name} shape"),
            wanted(),
            shape_text(&spec.shape),
        ));
    }
    Ok(())
}

/// `ModelError::Mismatch` for a model with the wrong number of inputs or outputs.
fn count_error(model: &str, side: &str, want: usize, got: usize) -> ModelError {
    ModelError::Mismatch {
        model: model.to_owned(),
        what: format!("number of {side}s"),
        expected: want.to_string(),
        found: got.to_string(),
    }
}

/// `ModelError::Manifest` about the learned set.
fn learned_set_error(reason: impl Into<String>) -> ModelError {
    ModelError::Manifest {
        what: "learned set".into(),
        reason: reason.into(),
    }
}

/// The four models of a learned set, found in a manifest.
struct LearnedSpecs<'a> {
    adapt: &'a ModelSpec,
    detect: &'a ModelSpec,
    gnn: &'a ModelSpec,
    policy: &'a ModelSpec,
}

impl ModelManifest {
    /// Checks the learned set's contract (model names, input/output names and shapes, the
    /// detector and policy sections) when the manifest has any of its models; a manifest
    /// with none of them (e.g. a runtime test model only) passes.
    pub fn check_learned_set(&self) -> Result<(), ModelError> {
        let Some(specs) = self.learned_specs()? else {
            return Ok(());
        };
        let (window_ticks, detector, policy) = self.checked_learned_sections()?;
        check_detector_models(specs.adapt, specs.detect, detector)?;
        check_gnn_model(specs.gnn, window_ticks)?;
        check_policy_model(specs.policy, policy)
    }

    /// The learned set's models: `None` when the manifest has none of them, an error when it
    /// has only some.
    fn learned_specs(&self) -> Result<Option<LearnedSpecs<'_>>, ModelError> {
        let present: Vec<&str> = names::LEARNED
            .iter()
            .copied()
            .filter(|name| self.model(name).is_some())
            .collect();
        if present.is_empty() {
            return Ok(None);
        }
        let incomplete = || {
            learned_set_error(format!(
                "has {present:?} but the learned set needs all of {:?}",
                names::LEARNED
            ))
        };
        let spec = |name: &str| self.model(name).ok_or_else(incomplete);
        Ok(Some(LearnedSpecs {
            adapt: spec(names::DETECTOR_ADAPT)?,
            detect: spec(names::DETECTOR)?,
            gnn: spec(names::CASCADE_GNN)?,
            policy: spec(names::POLICY)?,
        }))
    }

    /// `window_ticks` and the detector and policy sections, each present and consistent.
    fn checked_learned_sections(
        &self,
    ) -> Result<(usize, &DetectorManifest, &PolicyManifest), ModelError> {
        let window_ticks = self
            .window_ticks
            .filter(|&t| t >= 1)
            .ok_or_else(|| learned_set_error("window_ticks (>= 1) is missing"))?;
        let detector = self
            .detector
            .as_ref()
            .ok_or_else(|| learned_set_error("the detector section is missing"))?;
        let policy = self
            .policy
            .as_ref()
            .ok_or_else(|| learned_set_error("the policy section is missing"))?;
        if detector.window_ticks == 0 {
            return Err(learned_set_error("detector.window_ticks must be >= 1"));
        }
        if !(1..=10).contains(&detector.support_windows) {
            return Err(learned_set_error(format!(
                "detector.support_windows must be in 1..=10, got {}",
                detector.support_windows
            )));
        }
        if detector.support_stride_ticks == Some(0) {
            return Err(learned_set_error(
                "detector.support_stride_ticks must be >= 1",
            ));
        }
        if !detector.threshold.is_finite() {
            return Err(learned_set_error("detector.threshold must be finite"));
        }
        if detector.state.is_empty() {
            return Err(learned_set_error(
                "detector.state must name at least one tensor",
            ));
        }
        if policy.actions.first().map(String::as_str) != Some("noop") {
            return Err(learned_set_error(
                "policy.actions must start with noop (index 0)",
            ));
        }
        Ok((window_ticks, detector, policy))
    }
}

/// `detector_adapt.onnx` (support → state) and `detector.onnx` (window + state → scores),
/// whose state tensors must match one another and the manifest.
fn check_detector_models(
    adapt: &ModelSpec,
    detect: &ModelSpec,
    detector: &DetectorManifest,
) -> Result<(), ModelError> {
    use Dim::{Dynamic as D, Fixed as F};
    let f = FEATURE_DIM as i64;
    let t_detect = detector.window_ticks as i64;
    check_tensor(
        &adapt.name,
        "input",
        adapt.inputs.first(),
        "support",
        &[D, D, F(t_detect), F(f)],
    )?;
    check_tensor(
        &detect.name,
        "input",
        detect.inputs.first(),
        "window",
        &[D, F(t_detect), F(f)],
    )?;
    if adapt.inputs.len() != 1 {
        return Err(count_error(&adapt.name, "input", 1, adapt.inputs.len()));
    }
    if adapt.outputs.len() != detector.state.len() {
        return Err(count_error(
            &adapt.name,
            "output",
            detector.state.len(),
            adapt.outputs.len(),
        ));
    }
    if detect.inputs.len() != 1 + detector.state.len() {
        return Err(count_error(
            &detect.name,
            "input",
            1 + detector.state.len(),
            detect.inputs.len(),
        ));
    }
    for (index, state) in detector.state.iter().enumerate() {
        let out = &adapt.outputs[index];
        let input = &detect.inputs[1 + index];
        let fixed: Vec<Dim> = out.shape.iter().map(|&d| F(d)).collect();
        if out.shape.iter().any(|&d| d < 0) {
            return Err(ModelError::Mismatch {
                model: adapt.name.clone(),
                what: format!("output {state} shape"),
                expected: "fixed dimensions (the state does not depend on N or K)".into(),
                found: shape_text(&out.shape),
            });
        }
        check_tensor(&adapt.name, "output", Some(out), state, &fixed)?;
        check_tensor(&detect.name, "input", Some(input), state, &fixed)?;
    }
    if detect.outputs.len() != 2 {
        return Err(count_error(&detect.name, "output", 2, detect.outputs.len()));
    }
    check_tensor(
        &detect.name,
        "output",
        detect.outputs.first(),
        "node_score",
        &[D],
    )?;
    check_tensor(
        &detect.name,
        "output",
        detect.outputs.get(1),
        "score",
        &[F(1)],
    )
}

/// `cascade_gnn.onnx`: (x over `window_ticks`, node scores, adjacency) → risk.
fn check_gnn_model(gnn: &ModelSpec, window_ticks: usize) -> Result<(), ModelError> {
    use Dim::{Dynamic as D, Fixed as F};
    let f = FEATURE_DIM as i64;
    if gnn.inputs.len() != 3 {
        return Err(count_error(&gnn.name, "input", 3, gnn.inputs.len()));
    }
    if gnn.outputs.len() != 1 {
        return Err(count_error(&gnn.name, "output", 1, gnn.outputs.len()));
    }
    check_tensor(
        &gnn.name,
        "input",
        gnn.inputs.first(),
        "x",
        &[D, F(window_ticks as i64), F(f)],
    )?;
    check_tensor(&gnn.name, "input", gnn.inputs.get(1), "node_score", &[D])?;
    check_tensor(&gnn.name, "input", gnn.inputs.get(2), "adj", &[D, D])?;
    check_tensor(&gnn.name, "output", gnn.outputs.first(), "risk", &[D, F(2)])
}

/// `policy.onnx`: (x, risk, tunables, weights) → q `[K, A, 3]`, one row per ensemble member.
fn check_policy_model(pol: &ModelSpec, policy: &PolicyManifest) -> Result<(), ModelError> {
    use Dim::{Dynamic as D, Fixed as F};
    let f = FEATURE_DIM as i64;
    if pol.inputs.len() != 4 {
        return Err(count_error(&pol.name, "input", 4, pol.inputs.len()));
    }
    if pol.outputs.len() != 1 {
        return Err(count_error(&pol.name, "output", 1, pol.outputs.len()));
    }
    check_tensor(&pol.name, "input", pol.inputs.first(), "x", &[D, F(f)])?;
    check_tensor(&pol.name, "input", pol.inputs.get(1), "risk", &[D, F(2)])?;
    check_tensor(
        &pol.name,
        "input",
        pol.inputs.get(2),
        "tunables",
        &[F(1), F(policy.tunables.len() as i64)],
    )?;
    check_tensor(
        &pol.name,
        "input",
        pol.inputs.get(3),
        "weights",
        &[F(1), F(3)],
    )?;
    // q: [K, A, 3], one row per ensemble member (K >= 1, fixed).
    let members = pol
        .outputs
        .first()
        .and_then(|q| q.shape.first().copied())
        .unwrap_or(1);
    if !(1..=MAX_POLICY_MEMBERS).contains(&members) {
        return Err(ModelError::Mismatch {
            model: pol.name.clone(),
            what: "output q members (first dimension)".into(),
            expected: format!("a fixed count in 1..={MAX_POLICY_MEMBERS}"),
            found: members.to_string(),
        });
    }
    check_tensor(
        &pol.name,
        "output",
        pol.outputs.first(),
        "q",
        &[F(members), F(policy.actions.len() as i64), F(3)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_runtime_says_how_to_fix_it() {
        let err = OrtRuntime::library_path(Some(Path::new("/nonexistent/libonnxruntime.so")))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ModelError::RuntimeUnavailable { .. }));
        assert!(text.contains("ORT_DYLIB_PATH"), "{text}");
        assert!(text.contains("/nonexistent/libonnxruntime.so"), "{text}");
        assert!(text.contains("rule policy"), "{text}");
    }

    #[test]
    fn manifest_schema_version_is_enforced() {
        let text = format!(
            r#"{{"manifest_version": 1, "feature_schema_version": {}, "models": []}}"#,
            FEATURE_SCHEMA_VERSION + 1
        );
        let err = ModelManifest::from_json(&text, "test").unwrap_err();
        assert!(matches!(err, ModelError::SchemaVersion { .. }), "{err}");
        let bad = ModelManifest::from_json("{\"models\": 3}", "test").unwrap_err();
        assert!(bad.to_string().contains("manifest test"), "{bad}");
    }
}
