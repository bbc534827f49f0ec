//! # lsmedic-telemetry
//!
//! The RocksDB-free half of lsmedic's instrumentation: the plain records the engine emits
//! ([`event`]), the sampler's readings ([`sample`]), the bounded lock-free rings they travel
//! through ([`ring`]) and the window aggregations the healer computes from them ([`window`]).
//!
//! The write path's token bucket ([`throttle`]) lives here too, as lock-free as the rings.
//! It also defines the [`Control`] trait through which the healer acts on
//! an engine, with the typed [`Tunable`]s it may change ([`control`]).
//!
//! This crate never links RocksDB, so the healer and the loom tests of the rings build in
//! seconds.
//!
//! Unsafe code is denied everywhere but in [`ring`], whose slots hand values between threads
//! through `MaybeUninit` cells that only the thread holding a slot's position may touch.

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod clock;
pub mod control;
pub mod event;
#[allow(unsafe_code)]
pub mod ring;
pub mod sample;
mod sync;
pub mod throttle;
pub mod window;

pub use clock::Clock;
pub use control::{
    default_cf_tunables, default_global_tunables, Control, ControlError, LostRange, Observe,
    RebuildReport, ThrottleScope, Tunable, TunableScope, Tunables, DEFAULT_CF,
};
pub use event::{
    BackgroundErrorReason, CfId, CfName, EngineEvent, EngineEventKind, InlineStr, Message, OpEvent,
    OpKind, OpOutcome, StallCondition,
};
pub use ring::{Ring, ShardedRing};
pub use sample::{CfProperties, DbStatistics, HistogramSummary, Sample};
pub use throttle::{ThrottleError, ThrottleStats, WriteThrottle};
pub use window::{EventCounters, OpCounters, Percentiles, Window, WindowError};
