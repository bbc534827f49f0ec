//! # lsmedic-healer
//!
//! The in-process healer: a dedicated thread inside the database that watches the engine
//! and heals it, safely, with every decision explained.
//!
//! Stages, one module each, in data-flow order:
//!
//! | module | owns |
//! |---|---|
//! | [`observation`] | draining the rings into a window, sampling, one [`Observation`] per tick |
//! | [`graph`] | the component graph (nodes per CF and global, dependency edges) |
//! | [`features`] | per-node feature vectors, versioned schema, running normalisation |
//! | [`labels`] | node failure states (`node_state` of the training traces) |
//! | [`detect`] | the learned anomaly detector, its few-shot adaptation, the feature history |
//! | [`predict`] | the cascade GNN: per-node failure risk within 1 s and 5 s |
//! | [`objective`] | the latency / throughput / resources objective and comparisons |
//! | [`policy`] | the [`Policy`] trait, the [`RulePolicy`], the learned policy and the [`FallbackPolicy`] the healer calls |
//! | [`guard`] | bounds, cooldowns, budget, verify-after-act, advisory mode |
//! | [`act`] | the actuator over `Control`: apply, maintenance thread, roll-back |
//! | [`audit`] | the JSON-lines audit log |
//! | [`model`] | ONNX models through ONNX Runtime (`ort`, loaded at run time) |
//! | [`healer`] | the thread, the tick, the handle; [`stats`] what it reports |
//! | `stub` | a stub engine for tests and benchmarks (feature `test-support`) |
//!
//! It depends only on `lsmedic-telemetry` and acts on an engine exclusively through the
//! [`Control`](lsmedic_telemetry::Control) trait, so it is tested against a stub engine and
//! never links RocksDB.
//!
//! ```
//! use std::sync::Arc;
//! use lsmedic_healer::{stub::StubEngine, Healer, HealerConfig, Mode, Weights};
//!
//! let engine = Arc::new(StubEngine::new(&["default"]));
//! let mut healer = Healer::start(engine, HealerConfig::default())?;
//! healer.set_mode(Mode::Advisory);
//! healer.set_weights(Weights::new(2.0, 1.0, 1.0)?)?;
//! let stats = healer.stats();
//! assert!(stats.running);
//! assert_eq!(stats.policy, "rules");
//! healer.stop()?;
//! # Ok::<(), lsmedic_healer::HealerError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod act;
pub mod action;
pub mod audit;
pub mod config;
pub mod detect;
pub mod error;
pub mod features;
pub mod graph;
pub mod guard;
pub mod healer;
pub mod labels;
pub mod model;
pub mod objective;
pub mod observation;
pub mod policy;
pub mod predict;
pub mod stats;
#[cfg(any(test, feature = "test-support"))]
pub mod stub;

pub use action::{Action, ActionFamily, ActionKind, Candidate, Effect};
pub use audit::{read_audit_file, AuditEntry, AuditRecord};
pub use config::{
    AuditConfig, Bounds, GuardConfig, HealerConfig, LearnedConfig, Mode, ModelConfig, VerifyConfig,
    Weights,
};
pub use error::HealerError;
pub use features::{
    feature_schema, FeatureSchema, NodeFeatures, FEATURE_DIM, FEATURE_SCHEMA_VERSION,
};
pub use graph::{ComponentGraph, NodeKind};
pub use guard::{OutcomeVerdict, Verdict};
pub use healer::{AuditObserver, Healer, HealerCore, HealerHandle, TickReport};
pub use labels::{LabelConfig, Labeller};
pub use model::{ModelError, ModelStatus};
pub use observation::Observation;
pub use policy::{
    CatalogAction, ExplorePolicy, FallbackPolicy, Policy, PolicyInput, RuleConfig, RulePolicy,
};
pub use stats::HealerStats;
