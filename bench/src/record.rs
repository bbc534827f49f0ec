//! Labelled traces for training (`record`), format version 2.
//!
//! One file per scenario and run: `<DIR>/<scenario>.<healer>.trace.jsonl.gz`, gzip-compressed
//! JSON lines, each line an object with a `"type"`:
//!
//! 1. `header` (first line): `format` = `"lsmedic-trace"`, `format_version` (2), `scenario`,
//!    `description`, `seed`, `sampled` (the values drawn for the seed from the scenario's
//!    `{ min, max }` ranges, by field path, `{}` without; the other fields describe the
//!    scenario as drawn), `healer`, `time_scale`, `tick_s`, `engine` (the `EngineConfig`
//!    as opened), `column_families`, `workload` (the task: `task` id — `--task`, else the
//!    scenario name — `family` = the first measured workload's kind, `column_families`, and
//!    every measured workload with its parameters), `explore` (ε), `decision_interval_ticks`,
//!    `weights`, `feature_schema` (`lsmedic_healer::feature_schema()`), `actions` (catalog
//!    names in index order), `tunable_names` (the `tunable_vector` order), `labels` (the
//!    `LabelConfig` in use);
//! 2. `graph`: `version`, `nodes` = `[{"kind", "cf"}]` (node order; `cf` null for global
//!    nodes), `edges` = `[[src, dst], …]`; written before the first tick and again before the
//!    first tick of a new version (the column-family list changed);
//! 3. `tick` (one per 100 ms monitor tick): `tick`, `t_s`, `phase`, `faults` (kinds active
//!    during the tick: the detector's labels), `sample` (every sampler property per column
//!    family and the statistics, exactly `lsmedic_telemetry::Sample`), `window` (the tick's
//!    engine-side window), `events` (listener events with their fields), `dropped` (ring drops
//!    so far), and what the healer saw and did in that tick ([`HealerTick`], absent on a tick
//!    whose healer tick failed):
//!    - `features`: N rows × 19 floats, exactly `HealerCore::features()` after the tick;
//!    - `raw`: N rows × 19, the same one-hot part followed by the raw (un-normalised) slot
//!      values the features were normalised from;
//!    - `graph_version`, `node_state` (N ints, `lsmedic_healer::labels`), `objective`
//!      (`ObjectiveSample`: `latency_us`, `throughput_ops_per_sec`, `resource_units`,
//!      `stall_fraction`), `tunables` (`{"global": {option: value}, "cfs": {cf: {option:
//!      value}}, "write_rate_limits": {"all" | "cf:<name>": bytes/s}}`, in force when the
//!      policy decided), `tunable_vector` (13 floats), `mask` (15 ints: catalog actions
//!      possible in this state), `weights` (`[latency, throughput, resources]`),
//!      `healer_tick_us` (the tick's wall time);
//!    - `action`: `null`, or the catalog action the healer chose: `index`, `name`, `applied`
//!      (false: the guard held it back, see `verdict`), `verdict`, `source` (`rules` or
//!      `explore`), `rule`, `target_cf`, `action` (the `Action` as applied, else as
//!      proposed); always `null` with `--healer off` or `auto` (advisory, never acts);
//! 4. `end` (last line): `faults` (the fault timeline with `start_s`, `end_s`, `phase`,
//!    `detail` and the measured impact/recovery), `phases`, and the run's summary figures
//!    (the `runs[]` object of the JSON report without its timeline).

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use lsmedic::healer::guard::Verdict;
use lsmedic::healer::labels::{LabelConfig, Labeller};
use lsmedic::healer::objective::ObjectiveSample;
use lsmedic::healer::policy::catalog::{self, CatalogAction};
use lsmedic::healer::policy::explore::{DECISION_INTERVAL_TICKS, EXPLORE_RULE};
use lsmedic::healer::{feature_schema, Action, ComponentGraph, Mode, PolicyInput, FEATURE_DIM};
use lsmedic::telemetry::{ThrottleScope, Tunables};
use serde::Serialize;
use serde_json::json;

use crate::report::RunReport;
use crate::runner::{RunOptions, RunOutput, TICK};
use crate::scenario::Scenario;
use crate::subject::DrivenCore;

/// Trace format version.
pub const TRACE_FORMAT_VERSION: u32 = 2;

/// The catalog action the healer chose in a tick.
#[derive(Clone, Debug, Serialize)]
pub struct ActionRecord {
    /// Catalog index (`None`: not a catalog action).
    pub index: Option<usize>,
    /// Catalog name.
    pub name: Option<&'static str>,
    /// Whether it was applied.
    pub applied: bool,
    /// The guard's verdict.
    pub verdict: &'static str,
    /// `rules` or `explore`.
    pub source: &'static str,
    /// Rule that proposed it.
    pub rule: String,
    /// Target column family.
    pub target_cf: Option<String>,
    /// The action (as applied, else as proposed).
    pub action: Action,
}

/// What the driven healer saw and did in one tick (flattened into the tick line).
#[derive(Clone, Debug, Serialize)]
pub struct HealerTick {
    /// Normalised features, N × 19.
    pub features: Vec<Vec<f32>>,
    /// One-hot + raw slot values, N × 19.
    pub raw: Vec<Vec<f32>>,
    /// Version of the component graph the rows follow.
    pub graph_version: u32,
    /// 1 = node in a failure state.
    pub node_state: Vec<u8>,
    /// The healer's objective sample.
    pub objective: ObjectiveSample,
    /// Tunables in force when the policy decided.
    pub tunables: serde_json::Value,
    /// The policy's tunable vector.
    pub tunable_vector: Vec<f32>,
    /// Catalog actions possible in this state (1/0).
    pub mask: Vec<u8>,
    /// The action chosen.
    pub action: Option<ActionRecord>,
    /// Objective weights in force.
    pub weights: [f64; 3],
    /// Wall time of the healer's tick, µs.
    pub healer_tick_us: u64,
}

/// A component graph as written in a `graph` line.
#[derive(Clone, Debug, Serialize)]
pub struct GraphLine {
    /// Monitor tick before which the line goes.
    #[serde(skip)]
    pub first_tick: u64,
    /// Version (1, 2, …).
    pub version: u32,
    /// Nodes in order.
    pub nodes: Vec<serde_json::Value>,
    /// Directed edges.
    pub edges: Vec<[u32; 2]>,
}

/// Drives a healer core one tick at a time and turns what it did into [`HealerTick`]s.
#[derive(Debug, Default)]
pub struct TraceRecorder {
    labeller: Labeller,
    graph: Option<ComponentGraph>,
    /// Every graph version with the monitor tick it first applies to.
    pub graphs: Vec<GraphLine>,
    calls: u64,
    /// Healer ticks that failed (no `HealerTick` for them).
    pub failed_ticks: u64,
}

fn graph_line(graph: &ComponentGraph, version: u32, first_tick: u64) -> GraphLine {
    GraphLine {
        first_tick,
        version,
        nodes: graph
            .nodes()
            .iter()
            .map(|node| {
                json!({
                    "kind": node.kind.name(),
                    "cf": node.cf.map(|cf| graph.cfs()[cf].clone()),
                })
            })
            .collect(),
        edges: graph.edges().iter().map(|&(s, d)| [s, d]).collect(),
    }
}

/// Tunables as JSON objects keyed by RocksDB option names.
pub fn tunables_json(tunables: &Tunables) -> serde_json::Value {
    let limits: serde_json::Map<String, serde_json::Value> = tunables
        .write_rate_limits
        .iter()
        .map(|(scope, rate)| {
            let key = match scope {
                ThrottleScope::All => "all".to_owned(),
                ThrottleScope::Cf(cf) => format!("cf:{cf}"),
            };
            (key, json!(rate))
        })
        .collect();
    let options = |values: &std::collections::BTreeMap<lsmedic::telemetry::Tunable, u64>| {
        values
            .iter()
            .map(|(t, v)| (t.name().to_owned(), json!(v)))
            .collect::<serde_json::Map<String, serde_json::Value>>()
    };
    json!({
        "global": options(&tunables.global),
        "cfs": tunables
            .cfs
            .iter()
            .map(|(cf, values)| (cf.clone(), serde_json::Value::Object(options(values))))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "write_rate_limits": limits,
    })
}

impl TraceRecorder {
    /// Runs one healer tick and records it; `None` when the tick failed.
    pub fn tick(&mut self, core: &mut DrivenCore) -> Option<HealerTick> {
        let monitor_tick = self.calls;
        self.calls += 1;
        let report = match catch_unwind(AssertUnwindSafe(|| core.tick())) {
            Ok(Ok(report)) => report,
            _ => {
                self.failed_ticks += 1;
                return None;
            }
        };
        let observation = core.observation()?;
        let objective = *core.objective()?;
        let graph = core.graph();
        if self.graph.as_ref() != Some(graph) {
            let version = self.graphs.len() as u32 + 1;
            self.graphs.push(graph_line(graph, version, monitor_tick));
            self.graph = Some(graph.clone());
        }
        let features = core.features();
        let n = features.node_count();
        let mut rows = Vec::with_capacity(n);
        let mut raw = Vec::with_capacity(n);
        for index in 0..n {
            let row = features.row(index);
            rows.push(row.to_vec());
            let kinds = FEATURE_DIM - features.raw_row(index).len();
            let mut r = row[..kinds].to_vec();
            r.extend_from_slice(features.raw_row(index));
            raw.push(r);
        }
        let node_state = self.labeller.label(graph, observation);
        let weights = core.weights();
        let input = PolicyInput {
            tick: report.tick,
            now_ns: observation.end_ns,
            observation,
            features,
            graph,
            weights,
            tunables: core.tunables(),
            baseline: core.baseline_tunables(),
        };
        let mask = catalog::mask(&input).iter().map(|&m| u8::from(m)).collect();
        // Advisory (`--healer off`) never acts: no action. Otherwise the applied candidate,
        // else the best one the guard held back.
        let chosen = (report.mode == Mode::Active)
            .then(|| {
                report
                    .reviews
                    .iter()
                    .find(|r| r.verdict == Verdict::Applied)
                    .or_else(|| report.reviews.first())
            })
            .flatten();
        let action = chosen.map(|review| {
            let action = review
                .action
                .clone()
                .unwrap_or_else(|| review.candidate.action.clone());
            let entry: Option<CatalogAction> = catalog::classify(review.candidate.kind, &action);
            ActionRecord {
                index: entry.map(CatalogAction::index),
                name: entry.map(CatalogAction::name),
                applied: review.verdict == Verdict::Applied,
                verdict: review.verdict.name(),
                source: if review.candidate.rule == EXPLORE_RULE {
                    "explore"
                } else {
                    "rules"
                },
                rule: review.candidate.rule.clone(),
                target_cf: action.cf().map(str::to_owned),
                action,
            }
        });
        Some(HealerTick {
            features: rows,
            raw,
            graph_version: self.graphs.len() as u32,
            node_state,
            objective,
            tunables: tunables_json(core.tunables()),
            tunable_vector: catalog::tunable_vector(core.tunables(), core.baseline_tunables())
                .to_vec(),
            mask,
            action,
            weights: [weights.latency, weights.throughput, weights.resources],
            healer_tick_us: report.duration.as_micros() as u64,
        })
    }
}

/// The workload task of a scenario: its id and the parameters of its measured workloads.
pub fn workload_task(scenario: &Scenario, task: Option<&str>) -> serde_json::Value {
    let measured: Vec<_> = scenario
        .phases
        .iter()
        .filter(|p| !p.warmup)
        .flat_map(|p| &p.workloads)
        .collect();
    let workloads: Vec<serde_json::Value> = measured
        .iter()
        .map(|w| {
            json!({
                "kind": w.kind.name(),
                "cf": w.cf,
                "key_space": w.key_space,
                "key_range": [w.key_range.0, w.key_range.1],
                "value_size": [w.value_size.min, w.value_size.max],
                "threads": w.threads,
                "rate": w.rate,
                "distribution": w.distribution.name(),
                "scan_length": [w.scan_length.0, w.scan_length.1],
            })
        })
        .collect();
    json!({
        "task": task.unwrap_or(&scenario.name),
        "family": measured.first().map(|w| w.kind.name()),
        "column_families": scenario.column_families().len(),
        "workloads": workloads,
    })
}

/// Writes the trace of one run; returns its path.
pub fn write_trace(
    dir: &Path,
    scenario: &Scenario,
    options: &RunOptions,
    out: &RunOutput,
    report: &RunReport,
    task: Option<&str>,
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
    let drive = options.drive.as_ref();
    line(json!({
        "type": "header",
        "format": "lsmedic-trace",
        "format_version": TRACE_FORMAT_VERSION,
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": options.seed.unwrap_or(scenario.seed),
        "sampled": crate::compare::sampled_map(scenario),
        "healer": out.healer.name(),
        "time_scale": options.time_scale,
        "tick_s": TICK.as_secs_f64(),
        "engine": out.healer.engine_config(scenario.engine.clone()),
        "column_families": scenario.column_families(),
        "workload": workload_task(scenario, task),
        "explore": drive.map_or(0.0, |d| d.explore),
        "decision_interval_ticks": DECISION_INTERVAL_TICKS,
        "weights": drive.map(|d| [d.weights.latency, d.weights.throughput, d.weights.resources]),
        "feature_schema": feature_schema(),
        "actions": CatalogAction::NAMES,
        "tunable_names": catalog::TUNABLE_NAMES,
        "labels": LabelConfig::default(),
    }))?;
    let graphs = out
        .monitor
        .trace
        .as_ref()
        .map_or(&[][..], |t| t.graphs.as_slice());
    let mut next_graph = graphs.iter().peekable();
    for record in &out.monitor.records {
        while let Some(graph) = next_graph.next_if(|g| g.first_tick <= record.tick) {
            let mut value = serde_json::to_value(graph).map_err(|e| e.to_string())?;
            value["type"] = json!("graph");
            line(value)?;
        }
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
        "healer_ticks_failed": out.monitor.trace.as_ref().map(|t| t.failed_ticks),
    }))?;
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
