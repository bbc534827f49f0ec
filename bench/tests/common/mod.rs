//! Helpers shared by the bench's integration tests: the binary, taking turns at measuring,
//! and reading figures out of a JSON report.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The `lsmedic-bench` binary of this build.
pub fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lsmedic-bench"))
}

/// Runs `command` (a `run` or `compare` writing its report to `json`), fails the test with
/// its stderr if it fails, and returns the report.
pub fn run_json(command: &mut Command, json: &Path) -> serde_json::Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

/// Scenario runs measure latency and throughput: two at once would measure each other (and
/// the tests of one file run in parallel), so they take turns.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    MEASURING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A JSON number as `f64` (0 when absent or null).
pub fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Median of a timeline series over bins starting in `[from, to)`.
pub fn median_in(run: &serde_json::Value, series: &str, from: f64, to: f64) -> f64 {
    let t = &run["timeline"];
    let mut values: Vec<f64> = t["t_s"]
        .as_array()
        .unwrap()
        .iter()
        .zip(t[series].as_array().unwrap())
        .filter(|(s, v)| f(s) >= from && f(s) < to && !v.is_null())
        .map(|(_, v)| f(v))
        .collect();
    values.sort_by(|a, b| a.total_cmp(b));
    assert!(!values.is_empty(), "no {series} values in [{from}, {to})");
    values[values.len() / 2]
}

/// Runs `record SCENARIO --out OUT --db-dir DB_DIR` (healer off) and asserts it succeeded.
pub fn record(scenario: &Path, out: &Path, db_dir: &Path) {
    let output = bench()
        .arg("record")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("--db-dir")
        .arg(db_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
