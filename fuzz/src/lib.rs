//! Helpers shared by lsmedic's fuzz targets (this crate's and those in `fuzz/engine/`).
//!
//! - [`doc`]: structure-aware edits of a TOML/JSON document tree, so that a target can start
//!   from a valid configuration or scenario and reach the semantic checks behind the parser
//!   instead of stopping at syntax errors.
//! - [`roundtrip`]: the invariants every accepted configuration must keep: only finite
//!   numbers, and it can be written out as TOML and JSON and read back unchanged.
//! - [`stats`]: depth counters a target prints with `LSMEDIC_FUZZ_STATS=1`.
//!
//! Nothing here may panic on any input except through the invariant checks themselves: a
//! panic is what the fuzzer reports as a finding.

pub mod doc;
pub mod roundtrip;
pub mod stats;
