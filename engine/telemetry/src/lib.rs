//! # lsmedic-telemetry
//!
//! The RocksDB-free half of lsmedic's instrumentation: the plain records the engine emits
//! ([`event`]), the sampler's readings ([`sample`]), the bounded lock-free rings they travel
//! through ([`ring`]) and the window aggregations the healer computes from them ([`window`]).
//!
//! This crate never links RocksDB, so the healer and the loom tests of the rings build in
//! seconds. The `Control` trait through which the healer acts on an engine arrives with the
//! control-surface issue and will live here too.

#![warn(missing_docs)]

pub mod clock;
pub mod event;
pub mod ring;
pub mod sample;
pub mod window;

pub use clock::Clock;
pub use event::{
    BackgroundErrorReason, CfId, CfName, EngineEvent, EngineEventKind, InlineStr, Message, OpEvent,
    OpKind, OpOutcome, StallCondition,
};
pub use ring::{Ring, ShardedRing};
pub use sample::{CfProperties, DbStatistics, HistogramSummary, Sample};
pub use window::{EventCounters, OpCounters, Percentiles, Window, WindowError};
