//! Labelled traces for training (`record`).
//!
//! One file per scenario and run: `<DIR>/<scenario>.<healer>.trace.jsonl.gz`, gzip-compressed
//! JSON lines, each line an object with a `"type"`:
//!
//! 1. `header` (first line): `format` = `"lsmedic-trace"`, `format_version`, `scenario`,
//!    `description`, `seed`, `healer`, `time_scale`, `tick_s`, `engine` (the `EngineConfig`
//!    as opened), `column_families`;
//! 2. `tick` (one per 100 ms monitor tick): `tick`, `t_s`, `phase`, `faults` (kinds active
//!    during the tick: the labels), `sample` (every sampler property per column family and
//!    the statistics, exactly `lsmedic_telemetry::Sample`), `window` (the tick's engine-side
//!    window: op counters, service-time percentiles per op kind in ns, listener-event
//!    counters), `events` (the listener events drained that tick, with their fields),
//!    `dropped` (ring drops so far);
//! 3. `end` (last line): `faults` (the fault timeline with `start_s`, `end_s`, `phase`,
//!    `detail` and the measured impact/recovery), `phases`, and the run's summary figures
//!    (the `runs[]` object of the JSON report without its timeline).
//!
//! When the healer lands, its feature extractor's per-tick output belongs in the `tick`
//! lines (the same code, not a copy), under `features`.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;

use crate::report::RunReport;
use crate::runner::{RunOptions, RunOutput, TICK};
use crate::scenario::Scenario;

/// Trace format version.
pub const TRACE_FORMAT_VERSION: u32 = 1;

/// Writes the trace of one run; returns its path.
pub fn write_trace(
    dir: &Path,
    scenario: &Scenario,
    options: &RunOptions,
    out: &RunOutput,
    report: &RunReport,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!(
        "{}.{}.trace.jsonl.gz",
        out.scenario,
        out.healer.name()
    ));
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::default());
    let mut line = |value: serde_json::Value| -> Result<(), String> {
        serde_json::to_writer(&mut gz, &value).map_err(|e| e.to_string())?;
        gz.write_all(b"\n").map_err(|e| e.to_string())
    };
    line(json!({
        "type": "header",
        "format": "lsmedic-trace",
        "format_version": TRACE_FORMAT_VERSION,
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": options.seed.unwrap_or(scenario.seed),
        "healer": out.healer.name(),
        "time_scale": options.time_scale,
        "tick_s": TICK.as_secs_f64(),
        "engine": scenario.engine,
        "column_families": scenario.column_families(),
    }))?;
    for record in &out.monitor.records {
        let mut value = serde_json::to_value(record).map_err(|e| e.to_string())?;
        value["type"] = json!("tick");
        line(value)?;
    }
    let mut summary = serde_json::to_value(report).map_err(|e| e.to_string())?;
    if let Some(object) = summary.as_object_mut() {
        object.remove("timeline");
    }
    line(json!({
        "type": "end",
        "faults": report.faults,
        "phases": report.phases,
        "summary": summary,
    }))?;
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
