//! Turning runs into figures: the JSON report, the stdout table, fault impact/recovery
//! analysis and the timeline the HTML report charts.
//!
//! Definitions (also in the README):
//! - `stall_seconds`: the increase of RocksDB's `rocksdb.stall.micros` ticker over the
//!   measured phases (time writers spent delayed or stopped by the write controller);
//!   `stall_wall_seconds`: wall time during which some column family's stall condition
//!   (listener events and `is-write-stopped` / `actual-delayed-write-rate`) was not normal.
//! - `resource_units_mean`: the mean over the measured ticks of the resources in force
//!   (memtable and block-cache budgets, background jobs), in the healer's resource units
//!   (`lsmedic_healer::objective::ResourceBaseline`) against the configuration at open: 1.0
//!   means as configured, 1.5 means half again as much memory/threads on the healer's
//!   weighting. Faults that change tunables (a tiny cache) move it too.
//! - A timeline bin is *unhealthy* when writes stalled in it, an op failed, or a p99
//!   (write, read or scan) exceeded max(3 × baseline, baseline + 100 µs), the baseline
//!   being the median per-bin p99 of the measured bins before the first fault.
//!   `impact_s` is the first unhealthy bin from the fault's start; `recovered_s` the start
//!   of the first run of healthy bins lasting `max(2 s × time scale, 3 bins)` after it.
//!   `detected_s` is when the healer first flagged an anomaly after the fault (null with
//!   the healer off).
//! - Faults that refuse writes (`disk_full`) also give `writes_refused`, the workload's
//!   writes that failed while the fault lasted, and `writes_resumed_s`, the seconds from the
//!   fault's end to the first write accepted after it (null: none was); other faults leave
//!   both out. A run whose engine had writes refused gives `recovery`, the engine's
//!   `RecoveryStatus` at the end of the run (reopens, the last outage, its error).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compare::{AggregatePaired, ModeSummary, PairedScore};
use crate::measure::{bucket_percentiles_us, percentiles_us, Bucket, Class, BUCKET};
use crate::runner::{FaultEvent, PhaseSpan, RunOutput, TickLite};
use crate::scenario::Family;
use crate::scenario::Sampled;
use crate::subject::HealerEntry;

/// The whole report (`--json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Tool and format version.
    pub tool: &'static str,
    /// Bumped when fields change meaning.
    pub format_version: u32,
    /// Time scale the scenarios ran at.
    pub time_scale: f64,
    /// One entry per scenario.
    pub scenarios: Vec<ScenarioReport>,
    /// Paired score differences over every scenario (see [`crate::compare::aggregate`]).
    pub paired: Vec<AggregatePaired>,
    /// The same over the scenarios of each family (`config`, `latent`) that has any.
    pub paired_by_family: BTreeMap<Family, Vec<AggregatePaired>>,
}

/// Version of the JSON format: 2 added repeats (`seed`/`repeat` per run, `seeds`,
/// `summary` and `paired` per scenario, `paired` at the top).
pub const FORMAT_VERSION: u32 = 2;

impl Report {
    /// An empty report of runs at `time_scale`.
    pub fn new(time_scale: f64) -> Report {
        Report {
            tool: "lsmedic-bench",
            format_version: FORMAT_VERSION,
            time_scale,
            scenarios: Vec::new(),
            paired: Vec::new(),
            paired_by_family: BTreeMap::new(),
        }
    }

    /// Adds a finished scenario and refreshes the aggregate over all scenarios.
    pub fn push(&mut self, mut scenario: ScenarioReport) {
        scenario.summary = crate::compare::summarise(&scenario);
        scenario.paired = crate::compare::paired(&scenario);
        self.scenarios.push(scenario);
        self.paired = crate::compare::aggregate(&self.scenarios);
        self.paired_by_family = crate::compare::aggregate_by_family(&self.scenarios);
    }
}

/// One scenario, every healer mode.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// `config` or `latent` (see [`Family`]).
    pub family: Family,
    /// The scenario's seed (the first repeat's), from which the others are derived.
    pub seed: u64,
    /// Seeds of the repeats, in order; every mode ran each of them.
    pub seeds: Vec<u64>,
    /// Every run: one per healer mode and seed.
    pub runs: Vec<RunReport>,
    /// Modes not run, with why.
    pub skipped: Vec<Skipped>,
    /// Per healer mode: median and 95 % interval of every headline figure over the repeats.
    pub summary: BTreeMap<String, ModeSummary>,
    /// Paired score differences (each mode vs `off`, and vs `rules`) with 95 % intervals.
    pub paired: Vec<PairedScore>,
}

impl ScenarioReport {
    /// A scenario entry with no runs yet.
    pub fn new(name: &str, description: &str, family: Family, seeds: Vec<u64>) -> ScenarioReport {
        ScenarioReport {
            name: name.to_owned(),
            description: description.to_owned(),
            family,
            seed: seeds.first().copied().unwrap_or_default(),
            seeds,
            runs: Vec::new(),
            skipped: Vec::new(),
            summary: BTreeMap::new(),
            paired: Vec::new(),
        }
    }

    /// The runs of the first repeat (what the timelines chart first).
    pub fn first_repeat(&self) -> impl Iterator<Item = &RunReport> {
        self.runs.iter().filter(|run| run.repeat == 0)
    }
}

/// A healer mode that was not run.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// The mode.
    pub healer: &'static str,
    /// Why.
    pub reason: String,
}

/// One fault of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultReport {
    /// Fault kind.
    #[serde(deserialize_with = "crate::cache::fault_kind_name")]
    pub kind: &'static str,
    /// Phase it belongs to.
    pub phase: String,
    /// Injected at (s since run start).
    pub start_s: f64,
    /// Lifted at (null: instantaneous or until the end).
    pub end_s: Option<f64>,
    /// First healer detection after the start (null: none, or no healer).
    pub detected_s: Option<f64>,
    /// First unhealthy bin from the start (null: no visible impact).
    pub impact_s: Option<f64>,
    /// Start of the first lasting healthy stretch after the impact (null: never).
    pub recovered_s: Option<f64>,
    /// What was done.
    pub detail: String,
    /// Faults that refuse writes: the workload's writes refused while the fault lasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_refused: Option<u64>,
    /// Faults that refuse writes: seconds from the fault's end to the first write accepted
    /// after it (null: none was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_resumed_s: Option<f64>,
}

/// Charted series, one value per bin.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timeline {
    /// Bin width.
    pub bin_s: f64,
    /// Bin starts.
    pub t_s: Vec<f64>,
    /// Ops/s.
    pub throughput: Vec<f64>,
    /// Write latency p50, µs per bin.
    pub write_p50_us: Vec<Option<f64>>,
    /// Write latency p99, µs per bin.
    pub write_p99_us: Vec<Option<f64>>,
    /// Write latency p99.9, µs per bin.
    pub write_p999_us: Vec<Option<f64>>,
    /// Point-read latency p50, µs per bin.
    pub read_p50_us: Vec<Option<f64>>,
    /// Point-read latency p99, µs per bin.
    pub read_p99_us: Vec<Option<f64>>,
    /// Point-read latency p99.9, µs per bin.
    pub read_p999_us: Vec<Option<f64>>,
    /// Scan latency p99, µs per bin.
    pub scan_p99_us: Vec<Option<f64>>,
    /// Failed ops.
    pub errors: Vec<u64>,
    /// Writes stalled during the bin.
    pub stalled: Vec<bool>,
}

/// One run (`scenarios[].runs[]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// `off`, `auto`, `rules` or `learned`.
    #[serde(deserialize_with = "crate::cache::healer_name")]
    pub healer: &'static str,
    /// Seed of every generator in this run.
    pub seed: u64,
    /// Which repeat of the scenario this is (0-based); a repeat runs the same seed in every
    /// mode.
    pub repeat: u32,
    /// The values drawn for this seed from the scenario's `{ min, max }` ranges, by field
    /// path (`{"phases[1].faults[0].at_s": 17.3}`); empty without ranges.
    pub sampled: BTreeMap<String, Sampled>,
    /// Seconds of the measured phases.
    pub duration_s: f64,
    /// Ops completed in the measured phases.
    pub ops: u64,
    /// `ops / duration_s`.
    pub throughput_ops_per_s: f64,
    /// Write latency p50, µs, from the intended start.
    pub write_p50_us: Option<f64>,
    /// Write latency p99, µs, from the intended start.
    pub write_p99_us: Option<f64>,
    /// Write latency p99.9, µs, from the intended start.
    pub write_p999_us: Option<f64>,
    /// Point-read latency p50, µs, from the intended start.
    pub read_p50_us: Option<f64>,
    /// Point-read latency p99, µs, from the intended start.
    pub read_p99_us: Option<f64>,
    /// Point-read latency p99.9, µs, from the intended start.
    pub read_p999_us: Option<f64>,
    /// Scan latency p50, µs, from the intended start.
    pub scan_p50_us: Option<f64>,
    /// Scan latency p99, µs, from the intended start.
    pub scan_p99_us: Option<f64>,
    /// Scan latency p99.9, µs, from the intended start.
    pub scan_p999_us: Option<f64>,
    /// See the module docs.
    pub stall_seconds: f64,
    /// See the module docs.
    pub stall_wall_seconds: f64,
    /// Mean resource units over the measured phases' ticks (see the module docs).
    pub resource_units_mean: Option<f64>,
    /// Failed writes (measured phases).
    pub write_errors: u64,
    /// Failed reads and scans.
    pub read_errors: u64,
    /// Failures reporting corruption.
    pub corruption_errors: u64,
    /// Background errors raised by RocksDB (whole run).
    pub background_errors: u64,
    /// Scheduled ops abandoned because a phase could not finish.
    pub ops_dropped: u64,
    /// Faults.
    pub faults: Vec<FaultReport>,
    /// Healer detections and actions (null with the healer off).
    pub actions: Option<Vec<HealerEntry>>,
    /// With the learned policy keeping to the rules: ticks in which it replaced the rules'
    /// choice with another action, and ticks in which it vetoed it (null otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned_departures: Option<LearnedDepartures>,
    /// Keys read back with their last acknowledged value (null when verification was
    /// skipped).
    pub keys_verified: Option<u64>,
    /// Keys whose value was missing or unreadable at verification (null when skipped).
    pub keys_lost: Option<u64>,
    /// Keys read back with another value than the last acknowledged one (null when skipped).
    pub wrong_values: Option<u64>,
    /// Keys whose last write failed (either value accepted, not checked).
    pub keys_unknown: Option<u64>,
    /// Wall time including warm-up and verification.
    pub wall_s: f64,
    /// Phases as run.
    pub phases: Vec<PhaseSpan>,
    /// Non-fatal problems.
    pub warnings: Vec<String>,
    /// The engine's recovery status at the end of the run, when writes were ever refused
    /// (absent when the engine stayed healthy throughout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<lsmedic::engine::RecoveryStatus>,
    /// Chart data.
    pub timeline: Timeline,
}

fn in_measured(phases: &[PhaseSpan], t: f64) -> bool {
    phases
        .iter()
        .any(|p| !p.warmup && t >= p.start_s && t <= p.end_s + 1e-9)
}

fn stall_figures(ticks: &[TickLite], phases: &[PhaseSpan]) -> (f64, f64) {
    let tick_s = crate::runner::TICK.as_secs_f64();
    let mut micros = 0u64;
    let mut wall = 0.0;
    for pair in ticks.windows(2) {
        let tick = pair[1];
        if in_measured(phases, tick.t_s - tick_s / 2.0) {
            micros += tick.stall_micros.saturating_sub(pair[0].stall_micros);
            if tick.stalled {
                wall += tick_s;
            }
        }
    }
    (micros as f64 / 1e6, wall)
}

/// Mean of the ticks' resource units over the measured phases.
fn resource_units_mean(ticks: &[TickLite], phases: &[PhaseSpan]) -> Option<f64> {
    let tick_s = crate::runner::TICK.as_secs_f64();
    let units: Vec<f64> = ticks
        .iter()
        .filter(|tick| in_measured(phases, tick.t_s - tick_s / 2.0))
        .filter_map(|tick| tick.resource_units)
        .collect();
    (!units.is_empty()).then(|| units.iter().sum::<f64>() / units.len() as f64)
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    Some(values[values.len() / 2])
}

fn timeline(out: &RunOutput) -> (Timeline, Vec<Bucket>) {
    let buckets = &out.recorder.buckets;
    let total_s = out.wall_s.max(buckets.len() as f64 * BUCKET.as_secs_f64());
    let per_bin = ((total_s / 150.0 / BUCKET.as_secs_f64()).ceil() as usize).clamp(1, 10);
    let bin_s = per_bin as f64 * BUCKET.as_secs_f64();
    let mut merged = Vec::new();
    let mut t = Timeline {
        bin_s,
        ..Timeline::default()
    };
    for (i, chunk) in buckets.chunks(per_bin).enumerate() {
        let mut bin = Bucket::default();
        for b in chunk {
            bin.add(b);
        }
        let start = i as f64 * bin_s;
        let end = start + bin_s;
        let stalled = out.monitor.ticks.windows(2).any(|w| {
            w[1].t_s > start
                && w[1].t_s - 0.1 < end
                && (w[1].stalled || w[1].stall_micros > w[0].stall_micros)
        });
        let w = bucket_percentiles_us(&bin.latency[Class::Write as usize]);
        let r = bucket_percentiles_us(&bin.latency[Class::Read as usize]);
        let s = bucket_percentiles_us(&bin.latency[Class::Scan as usize]);
        t.t_s.push(start);
        t.throughput.push(bin.ops as f64 / bin_s);
        t.write_p50_us.push(w.map(|p| p[0]));
        t.write_p99_us.push(w.map(|p| p[1]));
        t.write_p999_us.push(w.map(|p| p[2]));
        t.read_p50_us.push(r.map(|p| p[0]));
        t.read_p99_us.push(r.map(|p| p[1]));
        t.read_p999_us.push(r.map(|p| p[2]));
        t.scan_p99_us.push(s.map(|p| p[1]));
        t.errors.push(bin.errors);
        t.stalled.push(stalled);
        merged.push(bin);
    }
    (t, merged)
}

/// Impact and recovery of each fault, per the module docs.
fn analyse_faults(
    t: &Timeline,
    phases: &[PhaseSpan],
    faults: &[FaultEvent],
    log: &Option<Vec<HealerEntry>>,
    time_scale: f64,
) -> Vec<FaultReport> {
    let first_fault = faults
        .iter()
        .map(|f| f.start_s)
        .fold(f64::INFINITY, f64::min);
    let baseline = |series: &Vec<Option<f64>>| {
        let mut values: Vec<f64> = t
            .t_s
            .iter()
            .zip(series)
            .filter(|(start, _)| {
                **start + t.bin_s <= first_fault && in_measured(phases, **start + t.bin_s / 2.0)
            })
            .filter_map(|(_, v)| *v)
            .collect();
        median(&mut values)
    };
    let bases = [
        baseline(&t.write_p99_us),
        baseline(&t.read_p99_us),
        baseline(&t.scan_p99_us),
    ];
    let worse = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(v), Some(b)) => v > (3.0 * b).max(b + 100.0),
        _ => false,
    };
    let unhealthy: Vec<bool> = (0..t.t_s.len())
        .map(|i| {
            t.stalled[i]
                || t.errors[i] > 0
                || worse(t.write_p99_us[i], bases[0])
                || worse(t.read_p99_us[i], bases[1])
                || worse(t.scan_p99_us[i], bases[2])
        })
        .collect();
    let streak = ((2.0 * time_scale / t.bin_s).ceil() as usize).max(3);
    faults
        .iter()
        .map(|fault| {
            let from = t.t_s.iter().position(|s| s + t.bin_s > fault.start_s);
            let impact = from.and_then(|from| (from..unhealthy.len()).find(|&i| unhealthy[i]));
            let recovered = impact.and_then(|impact| {
                (impact + 1..unhealthy.len()).find(|&j| {
                    j + streak <= unhealthy.len() && unhealthy[j..j + streak].iter().all(|u| !u)
                })
            });
            let detected_s = log.as_ref().and_then(|log| {
                log.iter()
                    .filter(|e| e.what == "detect" && e.at_s >= fault.start_s)
                    .map(|e| e.at_s)
                    .next()
            });
            FaultReport {
                kind: fault.kind,
                phase: fault.phase.clone(),
                start_s: fault.start_s,
                end_s: fault.end_s,
                detected_s,
                impact_s: impact.map(|i| t.t_s[i].max(fault.start_s)),
                recovered_s: recovered.map(|i| t.t_s[i]),
                detail: fault.detail.clone(),
                writes_refused: fault.writes_refused,
                writes_resumed_s: fault.writes_resumed_s,
            }
        })
        .collect()
}

/// Builds the report entry of one run.
pub fn run_report(out: &RunOutput, time_scale: f64) -> RunReport {
    let totals = &out.recorder.totals;
    let write = percentiles_us(&totals.latency[Class::Write as usize]);
    let read = percentiles_us(&totals.latency[Class::Read as usize]);
    let scan = percentiles_us(&totals.latency[Class::Scan as usize]);
    let (stall_seconds, stall_wall_seconds) = stall_figures(&out.monitor.ticks, &out.phases);
    let (timeline, _) = timeline(out);
    let faults = analyse_faults(
        &timeline,
        &out.phases,
        &out.faults,
        &out.healer_log,
        time_scale,
    );
    let v = out.verification.as_ref();
    RunReport {
        healer: out.healer.name(),
        seed: out.seed,
        repeat: 0,
        sampled: BTreeMap::new(),
        duration_s: out.measured_s,
        ops: totals.ops,
        throughput_ops_per_s: if out.measured_s > 0.0 {
            totals.ops as f64 / out.measured_s
        } else {
            0.0
        },
        write_p50_us: write.map(|p| p[0]),
        write_p99_us: write.map(|p| p[1]),
        write_p999_us: write.map(|p| p[2]),
        read_p50_us: read.map(|p| p[0]),
        read_p99_us: read.map(|p| p[1]),
        read_p999_us: read.map(|p| p[2]),
        scan_p50_us: scan.map(|p| p[0]),
        scan_p99_us: scan.map(|p| p[1]),
        scan_p999_us: scan.map(|p| p[2]),
        stall_seconds,
        stall_wall_seconds,
        resource_units_mean: resource_units_mean(&out.monitor.ticks, &out.phases),
        write_errors: totals.write_errors,
        read_errors: totals.read_errors,
        corruption_errors: totals.corruption_errors,
        background_errors: out.monitor.ticks.last().map_or(0, |t| t.background_errors),
        ops_dropped: out.ops_dropped,
        faults,
        actions: out.healer_log.clone(),
        learned_departures: out.learned_departures,
        keys_verified: v.map(|v| v.keys_verified),
        keys_lost: v.map(|v| v.keys_lost),
        wrong_values: v.map(|v| v.wrong_values),
        keys_unknown: v.map(|v| v.keys_unknown),
        wall_s: out.wall_s,
        phases: out.phases.clone(),
        warnings: out.warnings.clone(),
        recovery: out.recovery.clone(),
        timeline,
    }
}

/// How often the learned policy departed from the rule policy's choice in a run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct LearnedDepartures {
    /// Ticks in which it proposed another action instead.
    pub replaced: u64,
    /// Ticks in which it proposed nothing instead.
    pub vetoed: u64,
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(us) if us >= 100_000.0 => format!("{:.0}", us / 1000.0),
        Some(us) if us >= 10_000.0 => format!("{:.1}", us / 1000.0),
        Some(us) => format!("{:.2}", us / 1000.0),
    }
}

fn opt_s(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |s| format!("{s:.1}"))
}

/// The stdout table: per scenario, one row per run (one repeat) or one row per mode with
/// medians and 95 % intervals (several repeats), then the paired score differences; last,
/// the differences over all scenarios.
pub fn table(report: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for scenario in &report.scenarios {
        let seeds = match scenario.seeds.len() {
            1 => format!("seed {}", scenario.seed),
            n => format!("{n} repeats from seed {}", scenario.seed),
        };
        let _ = writeln!(
            s,
            "\n== {} ({seeds}) — {}",
            scenario.name, scenario.description
        );
        if scenario.seeds.len() > 1 {
            summary_rows(&mut s, scenario);
        } else {
            run_rows(&mut s, scenario);
        }
        for skipped in &scenario.skipped {
            let _ = writeln!(s, "{:<8} skipped: {}", skipped.healer, skipped.reason);
        }
        for pair in &scenario.paired {
            let _ = writeln!(
                s,
                "  {}",
                paired_line(&pair.healer, &pair.reference, pair.difference.as_ref())
            );
        }
    }
    if report.scenarios.len() > 1 && !report.paired.is_empty() {
        let _ = writeln!(
            s,
            "\n== all {} scenarios (mean of per-scenario means)",
            report.scenarios.len()
        );
        for pair in &report.paired {
            let _ = writeln!(
                s,
                "  {}",
                paired_line(&pair.healer, &pair.reference, pair.difference.as_ref())
            );
        }
        if report.paired_by_family.len() > 1 {
            for (family, pairs) in &report.paired_by_family {
                let count = report
                    .scenarios
                    .iter()
                    .filter(|s| s.family == *family)
                    .count();
                let _ = writeln!(s, "== {} family ({count} scenarios)", family.name());
                for pair in pairs {
                    let _ = writeln!(
                        s,
                        "  {}",
                        paired_line(&pair.healer, &pair.reference, pair.difference.as_ref())
                    );
                }
            }
        }
    }
    s
}

/// `S(rules) − S(off) = +0.120 [+0.020, +0.210] (n = 5): better`.
fn paired_line(
    healer: &str,
    reference: &str,
    difference: Option<&crate::stats::Estimate>,
) -> String {
    let label = format!("S({healer}) − S({reference})");
    let Some(d) = difference else {
        return format!("{label}: no paired runs");
    };
    let Some([low, high]) = d.ci95 else {
        return format!("{label} = {:+.3} (one run each: no interval)", d.value);
    };
    let verdict = if d.above_zero() {
        "better, 95 % confidence"
    } else if d.below_zero() {
        "worse, 95 % confidence"
    } else {
        "no clear difference"
    };
    format!(
        "{label} = {:+.3} [{:+.3}, {:+.3}] (n = {}): {verdict}",
        d.value, low, high, d.n
    )
}

fn run_rows(s: &mut String, scenario: &ScenarioReport) {
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "{:<8} {:>10} {:>22} {:>22} {:>22} {:>8} {:>6} {:>16} {:>22}",
        "healer",
        "ops/s",
        "write p50/p99/p99.9 ms",
        "read p50/p99/p99.9 ms",
        "scan p50/p99/p99.9 ms",
        "stall s",
        "errors",
        "faults imp/det/rec s",
        "keys ok/lost/wrong"
    );
    for run in &scenario.runs {
        let faults = if run.faults.is_empty() {
            "-".to_owned()
        } else {
            run.faults
                .iter()
                .map(|f| {
                    format!(
                        "{}/{}/{}",
                        opt_s(f.impact_s),
                        opt_s(f.detected_s),
                        opt_s(f.recovered_s)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let keys = match (run.keys_verified, run.keys_lost, run.wrong_values) {
            (Some(a), Some(b), Some(c)) => format!("{a}/{b}/{c}"),
            _ => "-".to_owned(),
        };
        let percentiles = |p50, p99, p999| format!("{}/{}/{}", ms(p50), ms(p99), ms(p999));
        let _ = writeln!(
            s,
            "{:<8} {:>10.0} {:>22} {:>22} {:>22} {:>8.2} {:>6} {:>16} {:>22}",
            run.healer,
            run.throughput_ops_per_s,
            percentiles(run.write_p50_us, run.write_p99_us, run.write_p999_us),
            percentiles(run.read_p50_us, run.read_p99_us, run.read_p999_us),
            percentiles(run.scan_p50_us, run.scan_p99_us, run.scan_p999_us),
            run.stall_seconds,
            run.write_errors + run.read_errors,
            faults,
            keys,
        );
        for warning in &run.warnings {
            let _ = writeln!(s, "         warning: {warning}");
        }
    }
}

/// One row per mode: medians with their 95 % intervals.
fn summary_rows(s: &mut String, scenario: &ScenarioReport) {
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "{:<8} {:>4} {:>26} {:>26} {:>26} {:>24} {:>12}",
        "healer",
        "runs",
        "ops/s median [95% CI]",
        "worst p99 ms [95% CI]",
        "write p99.9 ms [95% CI]",
        "stall s [95% CI]",
        "lost+wrong"
    );
    for (mode, summary) in &scenario.summary {
        let figure = |name: &str, fmt: &dyn Fn(f64) -> String| {
            summary
                .figures
                .get(name)
                .map_or("-".to_owned(), |f| f.display(fmt))
        };
        let us = |v: f64| ms(Some(v));
        let lost: u64 = scenario
            .runs
            .iter()
            .filter(|r| r.healer == mode.as_str())
            .map(|r| r.keys_lost.unwrap_or(0) + r.wrong_values.unwrap_or(0))
            .sum();
        let _ = writeln!(
            s,
            "{:<8} {:>4} {:>26} {:>26} {:>26} {:>24} {:>12}",
            mode,
            summary.runs,
            figure("throughput_ops_per_s", &|v| format!("{v:.0}")),
            figure("worst_p99_us", &us),
            figure("write_p999_us", &us),
            figure("stall_seconds", &|v| format!("{v:.2}")),
            lost,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impact_and_recovery_follow_the_unhealthy_bins() {
        let n = 40;
        let mut t = Timeline {
            bin_s: 0.5,
            ..Timeline::default()
        };
        for i in 0..n {
            t.t_s.push(i as f64 * 0.5);
            t.throughput.push(1000.0);
            let bad = (12..18).contains(&i);
            t.write_p99_us.push(Some(if bad { 5_000.0 } else { 100.0 }));
            t.write_p50_us.push(Some(10.0));
            t.write_p999_us.push(Some(200.0));
            t.read_p50_us.push(None);
            t.read_p99_us.push(None);
            t.read_p999_us.push(None);
            t.scan_p99_us.push(None);
            t.errors.push(0);
            t.stalled.push(i == 20);
        }
        let phases = vec![PhaseSpan {
            name: "p".into(),
            start_s: 0.0,
            end_s: 20.0,
            warmup: false,
        }];
        let faults = vec![FaultEvent {
            kind: "write_burst",
            phase: "p".into(),
            start_s: 5.0,
            end_s: Some(8.0),
            detail: String::new(),
            writes_refused: None,
            writes_resumed_s: None,
        }];
        let report = analyse_faults(&t, &phases, &faults, &None, 1.0);
        assert_eq!(report[0].impact_s, Some(6.0));
        // Bins 18, 19 are healthy but bin 20 stalls: the lasting recovery starts at bin 21.
        assert_eq!(report[0].recovered_s, Some(10.5));
        assert_eq!(report[0].detected_s, None);
    }
}
