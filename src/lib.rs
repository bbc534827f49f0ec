//! # lsmedic
//!
//! An embedded, self-healing key-value engine on RocksDB. This is the crate applications
//! link: [`Db`] opens the instrumented engine ([`engine`]) with the healer thread
//! ([`healer`]) watching and healing it; the RocksDB-free telemetry and control types are in
//! [`telemetry`].

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod db;

pub use db::{Config, Db, DbError};
pub use lsmedic_engine as engine;
pub use lsmedic_engine::{
    CfOptions, Engine, EngineConfig, Error, IterOptions, Result, WriteBatch, WriteOpts,
};
pub use lsmedic_healer as healer;
pub use lsmedic_telemetry as telemetry;

/// The README's Rust examples, compiled and run as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
