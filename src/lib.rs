//! # lsmedic
//!
//! An embedded, self-healing key-value engine on RocksDB. This is the crate applications
//! link. Today it exposes the instrumented engine ([`engine`]) and the RocksDB-free telemetry
//! types ([`telemetry`]); the `Db` facade (engine + healer thread wired together) and the
//! `lsmedic-bench` binary arrive with the healer and benchmark issues.

#![warn(missing_docs)]

pub use lsmedic_engine as engine;
pub use lsmedic_engine::{
    CfOptions, Engine, EngineConfig, Error, IterOptions, Result, WriteBatch, WriteOpts,
};
pub use lsmedic_telemetry as telemetry;

/// The README's Rust examples, compiled and run as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
