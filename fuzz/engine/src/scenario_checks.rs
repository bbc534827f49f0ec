//! What must hold for every scenario text, accepted or not.
//!
//! - Parsing never panics and is deterministic.
//! - An error names the file, and its line and column (when given) lie inside the text.
//! - A scenario with `{ min, max }` ranges draws the same instance for a seed every time, and
//!   each instance is a scenario that keeps these promises with every drawn value inside
//!   its range, or an error located in the text.
//! - An accepted scenario keeps every promise the validator makes (ranges, known column
//!   families, op-count phases, fault fields), its engine configuration validates, and it is
//!   runnable: every time it holds converts to a `Duration` and an `Instant` at the largest
//!   `--time-scale` (100) as the runner converts them, and each workload's key chooser and
//!   operation mix can be built and draw keys inside the workload's range.

use std::path::Path;
use std::time::{Duration, Instant};

use lsmedic::telemetry::{Tunable, TunableScope};
use lsmedic_bench::keygen::{KeyChooser, Rng};
use lsmedic_bench::scenario::{
    Fault, FaultKind, Phase, Sampled, Scenario, ScenarioError, Workload, MAX_KEY_SPACE,
    MAX_THREADS, MAX_VALUE_BYTES,
};
use lsmedic_bench::workload::MixChooser;

/// The file name the fuzzed text is parsed under.
pub const FILE: &str = "fuzz.toml";

/// Largest `--time-scale` `lsmedic-bench` accepts: times are multiplied by it.
pub const MAX_TIME_SCALE: f64 = 100.0;

/// Key spans up to which the zipfian table (O(span) to build) is built and sampled.
const SAMPLED_SPAN: u64 = 2_000;

/// Parses `text` and checks everything this module promises.
pub fn check_text(text: &str) {
    let file = Path::new(FILE);
    let first = Scenario::parse(text, file, "fuzz");
    let second = Scenario::parse(text, file, "fuzz");
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "parsing the same text twice gave different results"
    );
    match first {
        Ok(scenario) => {
            check_scenario(&scenario);
            check_instances(&scenario, text);
        }
        Err(err) => check_error(&err, text),
    }
}

/// Seeds the instances of a scenario with ranges are drawn for: the extremes and a middle.
const INSTANCE_SEEDS: [u64; 3] = [0, 1 << 32, u64::MAX];

/// The instances of an accepted scenario: drawn deterministically, each either a scenario
/// that keeps every promise with each drawn value inside its range, or an error located in
/// the text (a mix of draws the load-time check did not cover).
pub fn check_instances(scenario: &Scenario, text: &str) {
    let ranges = scenario.sampling.ranges();
    assert_eq!(
        scenario.sampled().len(),
        ranges.len(),
        "the parsed scenario is an instance"
    );
    for seed in INSTANCE_SEEDS {
        let first = scenario.instantiate(seed);
        let second = scenario.instantiate(seed);
        assert_eq!(
            format!("{first:?}"),
            format!("{second:?}"),
            "drawing seed {seed} twice gave different instances"
        );
        match first {
            Ok(instance) => {
                assert_eq!(instance.seed, seed);
                check_scenario(&instance);
                check_draws(&instance, &ranges);
            }
            Err(err) => check_error(&err, text),
        }
    }
}

/// Every drawn value lies in its range, an integer when both bounds are.
fn check_draws(instance: &Scenario, ranges: &[(String, Sampled, Sampled)]) {
    assert_eq!(instance.sampled().len(), ranges.len());
    for ((path, value), (range_path, min, max)) in instance.sampled().iter().zip(ranges) {
        assert_eq!(path, range_path);
        match (*value, *min, *max) {
            (Sampled::Integer(v), Sampled::Integer(lo), Sampled::Integer(hi)) => {
                assert!(lo <= v && v <= hi, "{path} = {v} outside [{lo}, {hi}]");
            }
            (Sampled::Float(v), lo, hi) => {
                let (lo, hi) = (as_f64(lo), as_f64(hi));
                assert!(lo <= v && v <= hi, "{path} = {v} outside [{lo}, {hi}]");
            }
            (v, lo, hi) => panic!("{path} = {v:?} does not match its range [{lo:?}, {hi:?}]"),
        }
    }
}

fn as_f64(value: Sampled) -> f64 {
    match value {
        Sampled::Integer(v) => v as f64,
        Sampled::Float(v) => v,
    }
}

/// An error points inside the text it came from.
pub fn check_error(err: &ScenarioError, text: &str) {
    assert_eq!(err.file, Path::new(FILE));
    assert!(!err.message.is_empty(), "empty message: {err:?}");
    match (err.line, err.column) {
        (Some(line), column) => {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(
                line >= 1 && line <= lines.len(),
                "line {line} outside a text of {} lines: {err}",
                lines.len()
            );
            if let Some(column) = column {
                let len = lines[line - 1].len();
                assert!(
                    column >= 1 && column <= len + 1,
                    "column {column} outside line {line} ({len} bytes): {err}"
                );
            }
        }
        (None, column) => assert_eq!(column, None, "a column without a line: {err:?}"),
    }
    let shown = err.to_string();
    assert!(shown.starts_with(FILE), "{shown}");
}

fn assert_time(what: &str, seconds: f64) {
    assert!(seconds.is_finite() && seconds >= 0.0, "{what}: {seconds} s");
    let scaled = seconds * MAX_TIME_SCALE;
    let duration = Duration::try_from_secs_f64(scaled).unwrap_or_else(|e| {
        panic!("{what}: {seconds} s × time scale {MAX_TIME_SCALE} is no Duration: {e}")
    });
    assert!(
        Instant::now().checked_add(duration).is_some(),
        "{what}: {seconds} s × time scale {MAX_TIME_SCALE} overflows an Instant"
    );
}

/// An accepted scenario keeps the validator's promises and can be run.
pub fn check_scenario(s: &Scenario) {
    assert!(!s.name.trim().is_empty(), "empty name accepted");
    if let Err(e) = s.engine.validate() {
        panic!("accepted scenario's engine config does not validate: {e}");
    }
    assert!(!s.phases.is_empty(), "a scenario without phases accepted");
    let cfs = s.column_families();
    let planned = s.planned_seconds();
    assert!(
        planned.is_finite() && planned >= 0.0,
        "planned_seconds = {planned}"
    );
    for (p, phase) in s.phases.iter().enumerate() {
        let at = format!("phases[{p}]");
        check_phase_timing(&at, phase);
        for (i, w) in phase.workloads.iter().enumerate() {
            check_workload(&format!("{at}.workloads[{i}]"), w, &cfs, s.seed);
        }
        for (i, fault) in phase.faults.iter().enumerate() {
            check_fault(&format!("{at}.faults[{i}]"), fault, phase, &cfs);
        }
    }
}

/// A phase has a runnable duration, or workloads that all stop after their ops.
fn check_phase_timing(at: &str, phase: &Phase) {
    if let Some(d) = phase.duration_s {
        assert!(d.is_finite() && d > 0.0, "{at}.duration_s = {d}");
        assert_time(&format!("{at}.duration_s"), d);
        // The runner waits up to half a phase (at least 3 s) for workloads to stop.
        assert_time(&format!("{at} grace"), (d * 0.5).max(3.0));
    } else {
        assert!(
            !phase.workloads.is_empty(),
            "{at}: no duration and no workloads"
        );
        assert!(
            phase.workloads.iter().all(|w| w.ops.is_some()),
            "{at}: no duration and a workload without ops"
        );
    }
}

/// A workload's fields are in range, and its mix and key chooser build and draw in range.
fn check_workload(at: &str, w: &Workload, cfs: &[String], seed: u64) {
    assert!(cfs.contains(&w.cf), "{at}: unknown cf {:?}", w.cf);
    assert!((1..=MAX_KEY_SPACE).contains(&w.key_space), "{at}.key_space");
    let (lo, hi) = w.key_range;
    assert!(lo < hi && hi <= w.key_space, "{at}.key_range {lo}..{hi}");
    assert!(
        1 <= w.value_size.min
            && w.value_size.min <= w.value_size.max
            && w.value_size.max <= MAX_VALUE_BYTES,
        "{at}.value_size {:?}",
        w.value_size
    );
    assert!((1..=MAX_THREADS).contains(&w.threads), "{at}.threads");
    assert_ne!(w.ops, Some(0), "{at}.ops");
    assert!(
        1 <= w.scan_length.0 && w.scan_length.0 <= w.scan_length.1,
        "{at}.scan_length {:?}",
        w.scan_length
    );
    if let Some(rate) = w.rate {
        assert!(rate.is_finite() && rate > 0.0, "{at}.rate = {rate}");
        // The runner staggers thread t's first op by t / threads / (rate / threads).
        let threads = f64::from(w.threads);
        let last = f64::from(w.threads - 1);
        assert_time(
            &format!("{at} stagger (rate {rate})"),
            last / threads / (rate / threads),
        );
    }
    MixChooser::new(w.kind.mix());
    if hi - lo <= SAMPLED_SPAN {
        let chooser = KeyChooser::new(w.distribution, hi - lo);
        let mut rng = Rng::new(seed);
        for newest in [lo, lo + 1, hi, hi.saturating_add(7)] {
            let key = chooser.next(&mut rng, lo, hi, newest);
            assert!(
                (lo..hi).contains(&key),
                "{at}: key {key} outside {lo}..{hi}"
            );
        }
    }
}

/// A fault's times fit its phase and the runner's clocks, and its kind's fields are valid.
fn check_fault(at: &str, fault: &Fault, phase: &Phase, cfs: &[String]) {
    assert!(fault.at_s.is_finite() && fault.at_s >= 0.0, "{at}.at_s");
    assert_time(&format!("{at}.at_s"), fault.at_s);
    if let Some(d) = phase.duration_s {
        assert!(fault.at_s < d, "{at}.at_s after the phase's end");
    }
    if let Some(d) = fault.duration_s {
        assert!(d.is_finite() && d > 0.0, "{at}.duration_s = {d}");
        assert_time(&format!("{at}.duration_s"), d);
    }
    let known = |cf: &Option<String>| cf.as_ref().is_none_or(|cf| cfs.contains(cf));
    match &fault.kind {
        FaultKind::WriteBurst { cf, factor } => {
            assert!(known(cf), "{at}.cf");
            assert!(
                factor.is_finite() && *factor > 0.0 && *factor <= 1000.0,
                "{at}.factor"
            );
        }
        FaultKind::WorkingSetShift { cf, key_range } => {
            assert!(known(cf), "{at}.cf");
            assert!(key_range.0 < key_range.1, "{at}.key_range");
        }
        FaultKind::CompactionStarvation {
            cf,
            max_background_jobs,
            background_threads_low,
            ..
        } => {
            assert!(known(cf), "{at}.cf");
            assert!(Tunable::MaxBackgroundJobs
                .check(*max_background_jobs)
                .is_ok());
            assert!(Tunable::BackgroundThreadsLow
                .check(*background_threads_low)
                .is_ok());
        }
        FaultKind::DeleteStorm {
            cf,
            key_range,
            rate,
            threads,
        } => {
            assert!(cfs.contains(cf), "{at}.cf");
            assert!(key_range.0 < key_range.1, "{at}.key_range");
            assert!(rate.is_none_or(|r| r.is_finite() && r > 0.0), "{at}.rate");
            assert!((1..=MAX_THREADS).contains(threads), "{at}.threads");
        }
        FaultKind::SstCorruption { cf, bytes, .. } => {
            assert!(cfs.contains(cf), "{at}.cf");
            assert!((1..=1 << 20).contains(bytes), "{at}.bytes");
            assert_eq!(fault.duration_s, None, "{at}: instantaneous");
        }
        FaultKind::DiskFull { disk_mb } => {
            assert!((32..=4096).contains(disk_mb), "{at}.disk_mb");
            assert!(fault.duration_s.is_some(), "{at}: needs duration_s");
        }
        FaultKind::Misconfiguration {
            cf,
            cf_changes,
            global_changes,
        } => check_misconfiguration(at, known(cf), cf_changes, global_changes),
        latent => check_latent(at, latent, cfs),
    }
}

/// The fault kinds that are not an option change: column families known, counts, sizes,
/// rates and ranges within what the runner takes.
fn check_latent(at: &str, kind: &FaultKind, cfs: &[String]) {
    let known = |cf: &Option<String>| cf.as_ref().is_none_or(|cf| cfs.contains(cf));
    let rate_ok = |r: &Option<f64>| r.is_none_or(|r| r.is_finite() && r > 0.0);
    let range_ok = |(lo, hi): (u64, u64)| lo < hi && hi <= MAX_KEY_SPACE;
    match kind {
        FaultKind::IoHog {
            bytes_per_sec,
            threads,
            file_bytes,
            ..
        } => {
            assert!(rate_ok(bytes_per_sec), "{at}.bytes_per_sec");
            assert!((1..=MAX_THREADS).contains(threads), "{at}.threads");
            assert!(*file_bytes >= 1 << 20, "{at}.file_bytes");
        }
        FaultKind::CpuHog { threads, duty } => {
            assert!((1..=MAX_THREADS).contains(threads), "{at}.threads");
            assert!(*duty > 0.0 && *duty <= 1.0, "{at}.duty");
        }
        FaultKind::WriteRamp {
            cf, factor, ramp_s, ..
        } => {
            assert!(known(cf), "{at}.cf");
            assert!(factor.is_finite() && *factor > 0.0, "{at}.factor");
            assert_time(&format!("{at} ramp"), *ramp_s);
        }
        FaultKind::ValueSizeShift { cf, value_size } => {
            assert!(known(cf), "{at}.cf");
            assert!(1 <= value_size.min && value_size.min <= value_size.max);
            assert!(value_size.max <= MAX_VALUE_BYTES, "{at}.value_size");
        }
        FaultKind::SkewShift { cf, theta, .. } => {
            assert!(known(cf), "{at}.cf");
            assert!(theta.is_none_or(|t| t > 0.0 && t < 1.0), "{at}.theta");
        }
        FaultKind::ScanStorm {
            cf,
            key_range,
            scan_length,
            rate,
            threads,
        } => {
            assert!(cfs.contains(cf), "{at}.cf");
            assert!(range_ok(*key_range), "{at}.key_range");
            assert!(1 <= scan_length.0 && scan_length.0 <= scan_length.1);
            assert!(rate_ok(rate), "{at}.rate");
            assert!((1..=MAX_THREADS).contains(threads), "{at}.threads");
        }
        FaultKind::RangeDeleteRetention {
            cf,
            key_range,
            period_s,
            keys_per_period,
        } => {
            assert!(cfs.contains(cf), "{at}.cf");
            assert!(range_ok(*key_range), "{at}.key_range");
            assert_time(&format!("{at}.period_s"), *period_s);
            assert!(*keys_per_period >= 1, "{at}.keys_per_period");
        }
        other => panic!(
            "{at}: {} is checked with the option-change kinds",
            other.name()
        ),
    }
}

/// Misconfiguration changes are tunables of the right scope with values in bounds.
fn check_misconfiguration(
    at: &str,
    known_cf: bool,
    cf_changes: &[(Tunable, u64)],
    global_changes: &[(Tunable, u64)],
) {
    assert!(known_cf, "{at}.cf");
    assert!(
        !cf_changes.is_empty() || !global_changes.is_empty(),
        "{at}: empty"
    );
    for (tunable, value) in cf_changes {
        assert_eq!(
            tunable.scope(),
            TunableScope::Cf,
            "{at}: {tunable} under options"
        );
        assert!(tunable.check(*value).is_ok(), "{at}: {tunable} = {value}");
    }
    for (tunable, value) in global_changes {
        assert_ne!(
            tunable.scope(),
            TunableScope::Cf,
            "{at}: {tunable} under global"
        );
        assert!(tunable.check(*value).is_ok(), "{at}: {tunable} = {value}");
    }
}
