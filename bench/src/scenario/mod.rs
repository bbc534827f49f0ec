//! Scenario files: TOML describing the engine to open, a timeline of phases (workloads per
//! column family, rates) and the faults injected during each phase.
//!
//! Parsing is two-stage. Stage 1 deserialises the document (serde, unknown fields refused)
//! into the file structs of `schema`; stage 2 (`validate`) checks meaning (ranges, column
//! families that exist, option names) and builds a [`Scenario`]. Every error carries the
//! file, the line and column, and the field path (`phases[1].faults[0].factor`), found by
//! `span`. A number may be written as a range `{ min = .., max = .. }` at the fields
//! `sample` allows; the scenario then stands for one instance per seed ([`Scenario::instantiate`]).
//! The schema is documented in the README (`## lsmedic-bench`).

mod sample;
mod schema;
mod span;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use sample::{Sampled, Sampling};
pub use schema::{Family, Fault, FaultKind, Phase, Scenario, Workload};

use schema::ScenarioFile;
use span::Reporter;

/// Largest key space a workload may declare (the verifier keeps 4 bytes per key).
pub const MAX_KEY_SPACE: u64 = 100_000_000;
/// Largest value.
pub const MAX_VALUE_BYTES: u32 = 16 << 20;
/// Most threads one workload may use.
pub const MAX_THREADS: u32 = 64;
/// Most repeats a scenario may ask for.
pub const MAX_REPEAT: u32 = 1000;

/// A scenario that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The file (or `<inline>`).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Field path such as `phases[0].workloads[1].rate`, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_owned(),
            line: None,
            column: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".to_owned());
        Scenario::parse(&text, path, &stem)
    }

    /// Parses and validates scenario `text`; `file` is only used in errors, `default_name`
    /// names a scenario without `name`. A text with `{ min, max }` ranges is checked with
    /// every range at its minimum and at its maximum, and returned as drawn for its own seed.
    pub fn parse(text: &str, file: &Path, default_name: &str) -> Result<Scenario, ScenarioError> {
        let reporter = Reporter::new(file, text);
        let ranges = sample::find_ranges(text, &reporter)?;
        if ranges.is_empty() {
            build(&reporter, text, &|offset| offset, default_name)
        } else {
            sample::load(text, file, default_name, ranges)
        }
    }

    /// The scenario with its ranges drawn for `seed`, which becomes its seed: what a run with
    /// that seed executes. Every range has its own generator seeded from `seed` and the
    /// field's path. Without ranges, a clone with the seed set. An error when a drawn
    /// combination is invalid (the load-time check covers every range at its minimum and at
    /// its maximum, not every mix).
    pub fn instantiate(&self, seed: u64) -> Result<Scenario, ScenarioError> {
        sample::instantiate(self, seed)
    }

    /// The values drawn for this instance, as (field path, value), in file order; empty
    /// without ranges.
    pub fn sampled(&self) -> &[(String, Sampled)] {
        self.sampling.values()
    }
}

/// Stages 1 and 2 on `text`: the file's text, or an instance of it (ranges replaced by
/// values); `reporter` locates errors in the file, `to_original` maps byte offsets of `text`
/// to the file's.
fn build(
    reporter: &Reporter<'_>,
    text: &str,
    to_original: &dyn Fn(usize) -> usize,
    default_name: &str,
) -> Result<Scenario, ScenarioError> {
    let raw: ScenarioFile =
        toml::from_str(text).map_err(|e| reporter.toml_error(&e, to_original))?;
    validate::scenario(reporter, raw, default_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keygen::{Distribution, ValueSize};
    use crate::workload::WorkloadKind;
    use lsmedic::telemetry::Tunable;

    const GOOD: &str = r#"
name = "demo"
seed = 7

[engine]
max_background_jobs = 2
[engine.cf_options]
write_buffer_size = 4194304
[[engine.column_families]]
name = "events"

[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 1000
ops = 1000
value_size = [100, 200]

[[phases]]
duration_s = 10
[[phases.workloads]]
workload = "ycsb-a"
cf = "events"
key_space = 1000
rate = 500
threads = 2
[[phases.faults]]
kind = "write_burst"
at_s = 2
duration_s = 3
factor = 4
[[phases.faults]]
kind = "misconfiguration"
at_s = 5
cf = "events"
options = { write_buffer_size = 65536, level0_slowdown_writes_trigger = 20 }
global = { block_cache_capacity = 1048576 }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("test.toml"), "test")
    }

    #[test]
    fn a_good_file_parses_with_its_values() {
        let s = parse(GOOD).expect("parses");
        assert_eq!(s.name, "demo");
        assert_eq!(s.seed, 7);
        assert_eq!(s.engine.cf_options.write_buffer_size, 4 << 20);
        assert_eq!(s.phases.len(), 2);
        assert!(s.phases[0].warmup);
        assert_eq!(
            s.phases[0].workloads[0].value_size,
            ValueSize { min: 100, max: 200 }
        );
        let w = &s.phases[1].workloads[0];
        assert_eq!(
            (w.kind, w.cf.as_str(), w.threads),
            (WorkloadKind::YcsbA, "events", 2)
        );
        assert_eq!(w.distribution, Distribution::Zipfian);
        assert_eq!(s.phases[1].faults.len(), 2);
        match &s.phases[1].faults[1].kind {
            FaultKind::Misconfiguration {
                cf_changes,
                global_changes,
                ..
            } => {
                assert!(cf_changes.contains(&(Tunable::WriteBufferSize, 65536)));
                assert_eq!(
                    global_changes,
                    &vec![(Tunable::BlockCacheCapacity, 1 << 20)]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.planned_seconds(), 10.0);
        assert_eq!(s.key_space("events"), 1000);
    }

    /// (mutated GOOD, text on the line the error must point at, field, words in the message)
    fn bad_cases() -> Vec<(String, &'static str, &'static str, &'static str)> {
        let replace = |from: &str, to: &str| {
            assert!(GOOD.contains(from), "{from}");
            GOOD.replacen(from, to, 1)
        };
        vec![
            (
                replace("seed = 7", "seed = 7\nrepeat = 0"),
                "repeat = 0",
                "repeat",
                "1..=1000",
            ),
            (
                replace("factor = 4", "factor = -4"),
                "factor = -4",
                "phases[1].faults[0].factor",
                "multiplier",
            ),
            (
                replace("factor = 4", "factr = 4"),
                "factr = 4",
                "phases[1].faults[0].factr",
                "unknown field",
            ),
            (
                replace("rate = 500", "rate = 0"),
                "rate = 0",
                "phases[1].workloads[0].rate",
                "positive",
            ),
            (
                replace("rate = 500", "rate = \"fast\""),
                "rate = \"fast\"",
                "phases[1].workloads[0].rate",
                "invalid type",
            ),
            (
                replace("threads = 2", "thread = 2"),
                "thread = 2",
                "phases[1].workloads[0].thread",
                "unknown field",
            ),
            (
                replace("cf = \"events\"\nkey_space", "cf = \"evnts\"\nkey_space"),
                "cf = \"evnts\"",
                "phases[1].workloads[0].cf",
                "unknown column family",
            ),
            (
                replace("workload = \"ycsb-a\"", "workload = \"ycsb-z\""),
                "ycsb-z",
                "phases[1].workloads[0].workload",
                "unknown workload",
            ),
            (
                replace("write_buffer_size = 4194304", "write_buffer_size = 10"),
                "write_buffer_size = 10",
                "engine.cf_options.write_buffer_size",
                "must be in",
            ),
            (
                replace("max_background_jobs = 2", "max_backgroud_jobs = 2"),
                "max_backgroud_jobs",
                "engine.max_backgroud_jobs",
                "unknown field",
            ),
            (
                replace("kind = \"write_burst\"", "kind = \"meteor\""),
                "meteor",
                "phases[1].faults[0].kind",
                "unknown fault kind",
            ),
            (
                replace("at_s = 2\n", "at_s = 12\n"),
                "at_s = 12",
                "phases[1].faults[0].at_s",
                "before the end",
            ),
            (
                replace("write_buffer_size = 65536,", "write_bufer_size = 65536,"),
                "write_bufer_size = 65536",
                "phases[1].faults[1].options.write_bufer_size",
                "unknown option",
            ),
            (
                replace("block_cache_capacity", "write_buffer_size"),
                "global = ",
                "phases[1].faults[1].global.write_buffer_size",
                "column-family option",
            ),
            (
                replace(
                    "level0_slowdown_writes_trigger = 20",
                    "level0_slowdown_writes_trigger = 0",
                ),
                "level0_slowdown_writes_trigger = 0",
                "phases[1].faults[1].options.level0_slowdown_writes_trigger",
                "must be in",
            ),
            (
                replace("value_size = [100, 200]", "value_size = [300, 200]"),
                "value_size = [300, 200]",
                "phases[0].workloads[0].value_size",
                "min <= max",
            ),
            (
                replace("ops = 1000\n", ""),
                "[[phases.workloads]]",
                "phases[0].workloads[0]",
                "needs ops",
            ),
            (
                replace("duration_s = 10\n", "duration_s = 10\nspeed = 3\n"),
                "speed = 3",
                "phases[1].speed",
                "unknown field",
            ),
        ]
    }

    #[test]
    fn bad_files_name_the_line_and_the_field() {
        for (text, marker, field, words) in bad_cases() {
            let line = 1 + text
                .lines()
                .position(|l| l.contains(marker))
                .unwrap_or_else(|| panic!("marker {marker:?}"));
            let err = parse(&text).expect_err(field);
            assert_eq!(err.field.as_deref(), Some(field), "{err}");
            assert_eq!(err.line, Some(line), "{err}");
            assert!(err.message.contains(words), "{err} should say {words:?}");
            let shown = err.to_string();
            assert!(shown.starts_with(&format!("test.toml:{line}:")), "{shown}");
        }
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let err = parse("name = \"x\"\n[[phases]]\nduration_s = = 3\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        let err = parse("name = \"x\"\n").unwrap_err();
        assert!(err.message.contains("at least one"), "{err}");
        // The TOML parser gives no message for a control character in a comment (found by
        // the `scenario_text` fuzz target); the error must still say something.
        let err = parse("# \u{1}\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        assert!(!err.message.is_empty(), "{err:?}");
    }

    #[test]
    fn out_of_range_times_and_rates_are_refused() {
        // Both made the runner panic (Duration overflow); found by the scenario_text fuzz target.
        let long =
            "[[phases]]\nduration_s = 1e300\n[[phases.workloads]]\nworkload = \"readrandom\"\n";
        let err = parse(long).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("phases[0].duration_s"), "{err}");
        let slow = "[[phases]]\nduration_s = 10\n[[phases.workloads]]\nworkload = \"readrandom\"\n\
                    threads = 2\nrate = 1e-300\n";
        let err = parse(slow).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("phases[0].workloads[0].rate"),
            "{err}"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

            /// Whatever bytes come in, parsing returns (never panics), and an error's line
            /// lies inside the text.
            #[test]
            fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
                if let Err(err) = parse(&text) {
                    if let Some(line) = err.line {
                        prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
                    }
                }
            }

            /// Mutating one byte of a good file gives a scenario or an error with a position.
            #[test]
            fn one_byte_mutations_give_located_errors(pos in 0usize..GOOD.len(), byte in 0x20u8..0x7f) {
                let mut bytes = GOOD.as_bytes().to_vec();
                bytes[pos] = byte;
                if let Ok(text) = String::from_utf8(bytes) {
                    if let Err(err) = parse(&text) {
                        prop_assert!(err.line.is_some() || err.field.is_some(), "{}", err);
                    }
                }
            }

            /// Rates, thread counts and durations in range are accepted, out of range refused
            /// with the field named.
            #[test]
            fn numeric_fields_are_range_checked(rate in -10.0f64..1e6, threads in 0u32..100) {
                let text = GOOD
                    .replacen("rate = 500", &format!("rate = {rate:?}"), 1)
                    .replacen("threads = 2", &format!("threads = {threads}"), 1);
                match parse(&text) {
                    Ok(s) => {
                        prop_assert!(rate > 0.0 && (1..=MAX_THREADS).contains(&threads));
                        prop_assert_eq!(s.phases[1].workloads[0].threads, threads);
                    }
                    Err(err) => {
                        let field = err.field.unwrap_or_default();
                        prop_assert!(field.ends_with(".rate") || field.ends_with(".threads"), "{}", field);
                    }
                }
            }
        }
    }
}
