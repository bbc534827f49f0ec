//! Shared code of the engine-side fuzz targets: the checks every scenario text must pass
//! ([`scenario_checks`]) and the shipped scenarios as seeds ([`SCENARIOS`]).
//!
//! The scenario parser is the `lsmedic-bench` library's, linked as a dependency, so the
//! fuzzer tests exactly the code the bench runs.

pub mod scenario_checks;

include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));
