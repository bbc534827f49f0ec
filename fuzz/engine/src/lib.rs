//! Shared code of the engine-side fuzz targets.
//!
//! The scenario parser lives in the `lsmedic-bench` binary; it is compiled here from the same
//! files (`#[path]`), not copied, so the fuzzer tests exactly the code the bench runs.

// The bench modules are compiled for their parser only; most of their items stay unused here.
#[allow(dead_code, unused_imports)]
#[path = "../../../src/bin/lsmedic-bench/keygen.rs"]
pub mod keygen;
#[allow(dead_code, unused_imports)]
#[path = "../../../src/bin/lsmedic-bench/scenario.rs"]
pub mod scenario;
#[allow(dead_code, unused_imports)]
#[path = "../../../src/bin/lsmedic-bench/workload.rs"]
pub mod workload;

pub mod scenario_checks;

include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));
