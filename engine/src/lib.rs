//! # lsmedic-engine
//!
//! RocksDB, instrumented. [`Engine`] opens RocksDB in multi-threaded column-family mode and
//! records, without blocking callers:
//!
//! 1. every foreground op (kind, column family, latency, bytes, outcome) into lock-free op
//!    rings, from the caller's thread;
//! 2. RocksDB's event-listener callbacks (flush, compaction, stall-condition changes,
//!    memtable sealed, background errors) into the event ring;
//! 3. per-CF properties and DB statistics on demand, through [`Engine::sample`].
//!
//! Drain the rings through [`Engine::telemetry`]; aggregate with
//! [`lsmedic_telemetry::Window`].
//!
//! The engine is also what the healer acts on: it implements
//! [`lsmedic_telemetry::Control`] ([`control`]): online option changes, tunables
//! snapshot/restore, a write throttle on every write path, resizing, maintenance and the
//! column-family rebuild ([`rebuild`], [`cf_map`], [`checkpoints`]). Corruption found by a
//! compaction is contained ([`quarantine`]); an I/O error or a full disk that stops writes
//! is recovered from by reopening the database in place ([`recovery`]).
//!
//! The private `raw` module holds the engine's foreign calls (the listener shim and the
//! RocksDB C functions the `rocksdb` crate does not wrap). The other `unsafe` blocks are the
//! calls of `raw::detach_cf`, whose contract (a handle never outlives its DB) the
//! column-family table upholds by holding each handle beside its database, the iterators'
//! lifetime extension (an iterator holds the database it reads), and the free-space query
//! of [`recovery`].
//!
//! ```no_run
//! use lsmedic_engine::{Engine, EngineConfig};
//! # fn main() -> Result<(), lsmedic_engine::Error> {
//! let engine = Engine::open("/tmp/lsmedic-doc", EngineConfig::default())?;
//! engine.create_cf("users", None)?;
//! engine.put("users", b"alice", b"1")?;
//! assert_eq!(engine.get("users", b"alice")?, Some(b"1".to_vec()));
//! let mut ops = 0;
//! engine.telemetry().drain_ops(|_event| ops += 1);
//! assert_eq!(ops, 2);
//! engine.close()?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod batch;
pub mod cf_map;
pub mod checkpoints;
pub mod config;
pub mod control;
mod engine;
pub mod error;
mod iter;
pub mod quarantine;
mod raw;
pub mod rebuild;
pub mod recovery;
mod sampler;
pub mod snapshot;
pub mod telemetry;
mod wal;

pub use batch::WriteBatch;
pub use config::{
    CfOptions, CheckpointConfig, ColumnFamilyConfig, CompactOnDeletionCollectorConfig, Compression,
    EngineConfig, RateLimiterConfig, RecoveryConfig, TelemetryConfig,
};
pub use engine::{Engine, WriteOpts, DEFAULT_CF};
pub use error::{Error, KeyPreview, Result};
pub use iter::{EngineIter, IterOptions};
pub use lsmedic_telemetry as telemetry_types;
pub use recovery::{RecoveryState, RecoveryStatus};
pub use snapshot::Snapshot;
pub use telemetry::Telemetry;
