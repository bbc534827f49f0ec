//! Scenario parsing from arbitrary text (`Scenario::parse`, the code `lsmedic-bench` runs).
//!
//! The input is the scenario file itself (UTF-8; other bytes are skipped). Seeds: the shipped
//! `scenarios/*.toml` (passed as a corpus directory by `make fuzz-smoke`) and the dictionary
//! `fuzz/dicts/scenario.dict`. See `lsmedic_fuzz_engine::scenario_checks` for what is checked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lsmedic_fuzz_engine::scenario_checks::check_text;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
    }
});
