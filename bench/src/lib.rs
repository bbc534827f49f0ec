//! `lsmedic-bench`: workloads, fault scenarios, healer comparisons, reports and training
//! traces for lsmedic. The `lsmedic-bench` binary is a thin command line over this library;
//! the engine-side fuzz targets link it to fuzz the very scenario parser the binary runs.
//! The scenario schema and the commands are documented in the README's `## lsmedic-bench`.
//!
//! Layout, in data-flow order: [`keygen`] (distributions, keys, values) → [`workload`]
//! (operation mixes) → [`scenario`] (TOML schema, validation, located errors) → [`subject`]
//! (the engine with or without a healer) → [`runner`] (workers, faults, monitor,
//! verification; latency accounting in `measure`) → [`report`] (JSON, table; repeats
//! summarised and paired by [`compare`], with [`stats`] and the aggregate [`score`]),
//! [`html`], [`record`] (training traces), and [`overhead`] (engine against raw RocksDB).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod cache;
pub mod compare;
pub(crate) mod faults;
pub mod html;
pub mod keygen;
pub(crate) mod measure;
pub mod overhead;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod score;
pub mod stats;
pub(crate) mod store;
pub mod stress;
pub mod subject;
pub mod workload;
