//! # lsmedic-healer
//!
//! The in-process healer (ARCHITECTURE §4). It will own, stage by stage:
//! `features` (per-component feature vectors from drained telemetry windows and sampler
//! readings), the component graph, the ONNX Runtime sessions of the detector, cascade GNN and
//! recovery policy, the rule policy, the safety guard and the audit log, all on one dedicated
//! thread.
//!
//! It depends only on `lsmedic-telemetry` and acts on an engine exclusively through the
//! `Control` trait, so it is tested against a stub engine and never links RocksDB.
//!
//! Status: empty until the healer-runtime issue; nothing here is usable yet.

#![warn(missing_docs)]
