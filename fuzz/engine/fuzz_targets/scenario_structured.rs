//! Scenario parsing from structured edits of the shipped scenarios.
//!
//! The input decodes into a [`DocInput`]: which shipped scenario to start from, and edits of
//! its TOML tree (set a field to a boundary value or a word of the scenario vocabulary, remove
//! or insert fields, duplicate phases, workloads and faults, copy one subtree over another).
//! The edited tree is written as TOML and parsed: most inputs stay syntactically valid, so the
//! fuzzer spends its time in the validator (ranges, column families, fault fields, options).
//! See `lsmedic_fuzz_engine::scenario_checks` for what is checked.

#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lsmedic::telemetry::Tunable;
use lsmedic_bench::scenario::FaultKind;
use lsmedic_bench::workload::WorkloadKind;
use lsmedic_fuzz::doc::{self, DocInput};
use lsmedic_fuzz_engine::scenario_checks::check_text;
use lsmedic_fuzz_engine::SCENARIOS;

struct Bases {
    docs: Vec<toml::Value>,
    vocabulary: Vec<String>,
}

/// Field names of the scenario schema that the shipped files may not all use.
const SCHEMA_WORDS: &[&str] = &[
    "name",
    "description",
    "seed",
    "engine",
    "phases",
    "duration_s",
    "warmup",
    "workloads",
    "faults",
    "workload",
    "cf",
    "key_space",
    "key_range",
    "value_size",
    "threads",
    "rate",
    "ops",
    "distribution",
    "scan_length",
    "kind",
    "at_s",
    "factor",
    "max_background_jobs",
    "background_threads_low",
    "disable_auto_compactions",
    "bytes",
    "compact",
    "options",
    "global",
    "min",
    "max",
    "column_families",
    "cf_options",
    "uniform",
    "zipfian",
    "latest",
    "default",
    "__lsmedic_meta",
    "events",
    "",
];

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| {
        let docs: Vec<toml::Value> = SCENARIOS
            .iter()
            .filter_map(|(_, text)| toml::from_str(text).ok())
            .collect();
        assert!(!docs.is_empty(), "no shipped scenario parses as TOML");
        let names: Vec<String> = Tunable::ALL
            .iter()
            .map(|t| t.name().to_owned())
            .chain(WorkloadKind::ALL.iter().map(|k| k.name().to_owned()))
            .chain(FaultKind::NAMES.iter().map(|n| (*n).to_owned()))
            .chain(SCHEMA_WORDS.iter().map(|w| (*w).to_owned()))
            .collect();
        let vocabulary = doc::vocabulary(&docs, names.iter().map(String::as_str));
        Bases { docs, vocabulary }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = DocInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let bases = bases();
    let mut tree = bases.docs[usize::from(input.base) % bases.docs.len()].clone();
    doc::apply_input(&mut tree, &input, &bases.vocabulary);
    // Scenarios are TOML only.
    if let Some(text) = doc::render(&tree, doc::Syntax::Toml) {
        check_text(&text);
    }
});
