//! The fault kinds that are not an option change (`io_hog`, `cpu_hog`, `write_ramp`,
//! `value_size_shift`, `skew_shift`, `scan_storm`, `range_delete_retention`): a bad value of
//! each of their fields is refused with its file, line and field, and each shows its effect
//! on the real engine with the healer off, against the same run's own baseline.

mod common;

use common::{bench, f, median_in, one_at_a_time, record, run_json};

use std::path::Path;
use std::process::Command;

use lsmedic_bench::scenario::{FaultKind, Scenario};

// ----- parsing ----------------------------------------------------------------------------

const GOOD: &str = r#"
name = "latent"
[[engine.column_families]]
name = "events"
[[engine.column_families]]
name = "idle"

[[phases]]
duration_s = 20
[[phases.workloads]]
workload = "ycsb-a"
key_space = 10000
[[phases.workloads]]
workload = "seekrandom"
cf = "events"
key_space = 5000

[[phases.faults]]
kind = "io_hog"
at_s = 1
duration_s = 2
bytes_per_sec = 1048576
threads = 2
file_bytes = 8388608
direct = true
[[phases.faults]]
kind = "cpu_hog"
at_s = 1
threads = 2
duty = 0.5
[[phases.faults]]
kind = "write_ramp"
at_s = 2
duration_s = 5
cf = "default"
factor = 4
hold = true
[[phases.faults]]
kind = "value_size_shift"
at_s = 3
duration_s = 2
cf = "default"
value_size = [200, 400]
[[phases.faults]]
kind = "skew_shift"
at_s = 4
duration_s = 2
distribution = "zipfian"
theta = 0.8
hot_offset = 1000
[[phases.faults]]
kind = "scan_storm"
at_s = 5
duration_s = 2
cf = "events"
scan_length = [100, 1000]
rate = 10
threads = 3
[[phases.faults]]
kind = "range_delete_retention"
at_s = 6
cf = "events"
key_range = [0, 4000]
period_s = 0.5
keys_per_period = 500
"#;

fn parse(text: &str) -> Result<Scenario, lsmedic_bench::scenario::ScenarioError> {
    Scenario::parse(text, Path::new("latent.toml"), "latent")
}

#[test]
fn every_new_fault_kind_parses_with_its_values_and_defaults() {
    let s = parse(GOOD).expect("parses");
    let faults = &s.phases[0].faults;
    match &faults[0].kind {
        FaultKind::IoHog {
            bytes_per_sec,
            threads,
            file_bytes,
            direct,
        } => assert_eq!(
            (*bytes_per_sec, *threads, *file_bytes, *direct),
            (Some(1048576.0), 2, 8 << 20, true)
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(faults[1].kind, FaultKind::CpuHog { threads: 2, duty } if duty == 0.5));
    // A held ramp lasts to the end of the run; its ramp is the duration written.
    assert_eq!(faults[2].duration_s, None);
    assert!(matches!(
        faults[2].kind,
        FaultKind::WriteRamp { factor, ramp_s, hold: true, .. } if factor == 4.0 && ramp_s == 5.0
    ));
    assert_eq!(
        s.value_sizes("default"),
        vec![
            lsmedic_bench::keygen::ValueSize::fixed(100),
            lsmedic_bench::keygen::ValueSize { min: 200, max: 400 }
        ],
        "the verifier knows the shifted size"
    );
    match &faults[4].kind {
        FaultKind::SkewShift {
            cf,
            distribution,
            theta,
            hot_offset,
        } => {
            assert_eq!(cf, &None);
            assert_eq!(
                *distribution,
                Some(lsmedic_bench::keygen::Distribution::Zipfian)
            );
            assert_eq!((*theta, *hot_offset), (Some(0.8), 1000));
        }
        other => panic!("{other:?}"),
    }
    match &faults[5].kind {
        FaultKind::ScanStorm {
            key_range,
            scan_length,
            rate,
            threads,
            ..
        } => {
            // No key_range: the key space the phase's workloads give the column family.
            assert_eq!(*key_range, (0, 5000));
            assert_eq!(
                (*scan_length, *rate, *threads),
                ((100, 1000), Some(10.0), 3)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        faults[6].kind,
        FaultKind::RangeDeleteRetention { key_range: (0, 4000), keys_per_period: 500, period_s, .. }
            if period_s == 0.5
    ));
    // Defaults.
    let minimal = GOOD
        .replace(
            "bytes_per_sec = 1048576\nthreads = 2\nfile_bytes = 8388608\ndirect = true\n",
            "",
        )
        .replace("threads = 2\nduty = 0.5\n", "");
    let s = parse(&minimal).expect("parses");
    assert!(matches!(
        s.phases[0].faults[0].kind,
        FaultKind::IoHog { bytes_per_sec: None, threads: 1, file_bytes, direct: false }
            if file_bytes == 256 << 20
    ));
    assert!(
        matches!(s.phases[0].faults[1].kind, FaultKind::CpuHog { threads: 1, duty } if duty == 1.0)
    );
}

/// A mutation of [`GOOD`]: (replace this, by that, the error's line holds this text (its
/// n-th occurrence, from 1), field, words of the message).
struct Bad {
    from: &'static str,
    to: &'static str,
    marker: (&'static str, usize),
    field: &'static str,
    words: &'static str,
}

const fn bad(
    from: &'static str,
    to: &'static str,
    marker: &'static str,
    field: &'static str,
    words: &'static str,
) -> Bad {
    Bad {
        from,
        to,
        marker: (marker, 1),
        field,
        words,
    }
}

/// One bad value for every field of the new kinds (and their table-wide rules).
const BAD: &[Bad] = &[
    // io_hog
    bad(
        "bytes_per_sec = 1048576",
        "bytes_per_sec = 100",
        "bytes_per_sec = 100",
        "phases[0].faults[0].bytes_per_sec",
        "65536",
    ),
    bad(
        "threads = 2\nfile_bytes",
        "threads = 0\nfile_bytes",
        "threads = 0",
        "phases[0].faults[0].threads",
        "1..=64",
    ),
    bad(
        "file_bytes = 8388608",
        "file_bytes = 1000",
        "file_bytes = 1000",
        "phases[0].faults[0].file_bytes",
        "must be in",
    ),
    bad(
        "threads = 2\nfile_bytes = 8388608",
        "threads = 3\nfile_bytes = 17179869184",
        "file_bytes = 17179869184",
        "phases[0].faults[0].file_bytes",
        "of disk",
    ),
    bad(
        "direct = true",
        "direct = 3",
        "direct = 3",
        "phases[0].faults[0].direct",
        "invalid type",
    ),
    // cpu_hog
    bad(
        "threads = 2\nduty",
        "threads = 65\nduty",
        "threads = 65",
        "phases[0].faults[1].threads",
        "1..=64",
    ),
    bad(
        "duty = 0.5",
        "duty = 1.5",
        "duty = 1.5",
        "phases[0].faults[1].duty",
        "(0, 1]",
    ),
    // write_ramp
    bad(
        "factor = 4",
        "factor = 0",
        "factor = 0",
        "phases[0].faults[2].factor",
        "multiplier",
    ),
    bad(
        "hold = true",
        "hold = \"yes\"",
        "hold = \"yes\"",
        "phases[0].faults[2].hold",
        "invalid type",
    ),
    bad(
        "cf = \"default\"\nfactor",
        "cf = \"dflt\"\nfactor",
        "cf = \"dflt\"",
        "phases[0].faults[2].cf",
        "unknown column family",
    ),
    Bad {
        from: "at_s = 2\nduration_s = 5\n",
        to: "at_s = 2\n",
        marker: ("[[phases.faults]]", 3),
        field: "phases[0].faults[2]",
        words: "set duration_s",
    },
    // value_size_shift
    bad(
        "value_size = [200, 400]",
        "value_size = [0, 400]",
        "value_size = [0, 400]",
        "phases[0].faults[3].value_size",
        "1 <= min",
    ),
    bad(
        "cf = \"default\"\nvalue_size",
        "cf = \"dflt\"\nvalue_size",
        "cf = \"dflt\"",
        "phases[0].faults[3].cf",
        "unknown column family",
    ),
    // skew_shift
    bad(
        "distribution = \"zipfian\"",
        "distribution = \"zipf\"",
        "distribution = \"zipf\"",
        "phases[0].faults[4].distribution",
        "unknown distribution",
    ),
    bad(
        "theta = 0.8",
        "theta = 1.0",
        "theta = 1.0",
        "phases[0].faults[4].theta",
        "(0, 1)",
    ),
    bad(
        "distribution = \"zipfian\"",
        "distribution = \"uniform\"",
        "theta = 0.8",
        "phases[0].faults[4].theta",
        "not uniform",
    ),
    bad(
        "hot_offset = 1000",
        "hot_offset = 5000",
        "hot_offset = 5000",
        "phases[0].faults[4].hot_offset",
        "below the key space (5000)",
    ),
    bad(
        "duration_s = 2\ndistribution",
        "duration_s = 2\ncf = \"nope\"\ndistribution",
        "cf = \"nope\"",
        "phases[0].faults[4].cf",
        "unknown column family",
    ),
    Bad {
        from: "distribution = \"zipfian\"\ntheta = 0.8\nhot_offset = 1000\n",
        to: "",
        marker: ("[[phases.faults]]", 5),
        field: "phases[0].faults[4]",
        words: "needs distribution, theta or hot_offset",
    },
    // scan_storm
    bad(
        "scan_length = [100, 1000]",
        "scan_length = [1000, 100]",
        "scan_length = [1000, 100]",
        "phases[0].faults[5].scan_length",
        "min <= max",
    ),
    bad(
        "rate = 10",
        "rate = 0",
        "rate = 0",
        "phases[0].faults[5].rate",
        "positive",
    ),
    bad(
        "threads = 3",
        "threads = 100",
        "threads = 100",
        "phases[0].faults[5].threads",
        "1..=64",
    ),
    bad(
        "cf = \"events\"\nscan_length",
        "cf = \"evnts\"\nscan_length",
        "cf = \"evnts\"",
        "phases[0].faults[5].cf",
        "unknown column family",
    ),
    bad(
        "scan_length = [100, 1000]",
        "scan_length = [100, 1000]\nkey_range = [10, 5]",
        "key_range = [10, 5]",
        "phases[0].faults[5].key_range",
        "lo < hi",
    ),
    Bad {
        from: "cf = \"events\"\nscan_length",
        to: "cf = \"idle\"\nscan_length",
        marker: ("[[phases.faults]]", 6),
        field: "phases[0].faults[5]",
        words: "give key_range",
    },
    // range_delete_retention
    bad(
        "key_range = [0, 4000]",
        "key_range = [0, 6000]",
        "key_range = [0, 6000]",
        "phases[0].faults[6].key_range",
        "within 0..5000",
    ),
    bad(
        "period_s = 0.5",
        "period_s = 0",
        "period_s = 0",
        "phases[0].faults[6].period_s",
        "positive",
    ),
    bad(
        "keys_per_period = 500",
        "keys_per_period = 0",
        "keys_per_period = 0",
        "phases[0].faults[6].keys_per_period",
        "1..=4000",
    ),
    bad(
        "cf = \"events\"\nkey_range",
        "cf = \"evt\"\nkey_range",
        "cf = \"evt\"",
        "phases[0].faults[6].cf",
        "unknown column family",
    ),
];

/// Line (1-based) of the `n`-th line holding `marker`.
fn line_of(text: &str, (marker, n): (&str, usize)) -> usize {
    1 + text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .nth(n - 1)
        .unwrap_or_else(|| panic!("marker {marker:?} #{n}"))
        .0
}

#[test]
fn a_bad_value_of_every_new_field_names_its_line_and_field() {
    for case in BAD {
        assert!(GOOD.contains(case.from), "{}", case.from);
        let text = GOOD.replacen(case.from, case.to, 1);
        let line = line_of(&text, case.marker);
        let err = parse(&text).expect_err(case.field);
        let shown = err.to_string();
        assert_eq!(err.field.as_deref(), Some(case.field), "{shown}");
        assert_eq!(err.line, Some(line), "{shown}");
        assert!(
            err.message.contains(case.words),
            "{shown} should say {:?}",
            case.words
        );
        assert!(
            shown.starts_with(&format!("latent.toml:{line}:"))
                && shown.contains(&format!("field `{}`: ", case.field)),
            "{shown}"
        );
    }
}

#[test]
fn too_many_value_sizes_for_the_verifier_are_refused() {
    // The workload writes 100-byte values; 31 shifts make 32 sizes (the most the verifier
    // tells apart), a 32nd shift one too many.
    let head = "[[phases]]\nduration_s = 100\n[[phases.workloads]]\nworkload = \"fillrandom\"\n";
    let shift = |i: usize| {
        format!(
            "[[phases.faults]]\nkind = \"value_size_shift\"\nat_s = {i}\nduration_s = 1\nvalue_size = {}\n",
            200 + i
        )
    };
    let fits: String = (0..31).map(shift).collect();
    parse(&format!("{head}{fits}")).expect("32 sizes fit");
    let err = parse(&format!("{head}{fits}{}", shift(31))).unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("phases[0].faults[31].value_size"),
        "{err}"
    );
    assert!(err.message.contains("more than 32"), "{err}");
}

// ----- effects on the real engine, healer off ------------------------------------------

/// Runs scenario `text` with the healer off; returns `runs[0]` of the JSON report and what
/// is left in the directory the database was created in once the run is over.
fn run_text(name: &str, text: &str) -> (serde_json::Value, Vec<String>) {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join(format!("{name}.toml"));
    std::fs::write(&scenario, text).unwrap();
    let db_parent = dir.path().join("db");
    std::fs::create_dir(&db_parent).unwrap();
    let json = dir.path().join("report.json");
    let report = run_json(
        bench()
            .arg("run")
            .arg(&scenario)
            .args(["--healer", "off", "--quiet", "--db-dir"])
            .arg(&db_parent)
            .arg("--json")
            .arg(&json),
        &json,
    );
    let left = std::fs::read_dir(&db_parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (report["scenarios"][0]["runs"][0].clone(), left)
}

/// Records scenario `text` with the healer off; returns the trace's lines.
fn record_text(name: &str, text: &str) -> Vec<serde_json::Value> {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join(format!("{name}.toml"));
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("traces");
    record(&scenario, &out, dir.path());
    let text = Command::new("gzip")
        .arg("-dc")
        .arg(out.join(format!("{name}.off.trace.jsonl.gz")))
        .output()
        .unwrap()
        .stdout;
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The start and end (s) of the run's fault `i`.
fn fault_span(run: &serde_json::Value, i: usize) -> (f64, f64) {
    let fault = &run["faults"][i];
    (f(&fault["start_s"]), f(&fault["end_s"]))
}

/// A series' median during fault `i` (from 0.3 s in) and its baseline: of the medians over
/// the 1.5 s before the fault and the 1.5 s from 0.5 s after it, the quieter side (the lower
/// latency, the higher throughput), so a burst of noise from other processes does not pass
/// for the baseline.
fn baseline_and_during(run: &serde_json::Value, series: &str, i: usize) -> (f64, f64) {
    let (start, end) = fault_span(run, i);
    let before = median_in(run, series, start - 1.5, start);
    let after = median_in(run, series, end + 0.5, end + 2.0);
    let baseline = if series == "throughput" {
        before.max(after)
    } else {
        before.min(after)
    };
    (baseline, median_in(run, series, start + 0.3, end))
}

/// Per tick of a trace: (faults active, increase of statistic `name` since the last tick).
fn statistic_per_tick(lines: &[serde_json::Value], name: &str) -> Vec<(Vec<String>, f64)> {
    let mut previous: Option<f64> = None;
    let mut out = Vec::new();
    for tick in lines.iter().filter(|l| l["type"] == "tick") {
        let Some(value) = tick["sample"]["statistics"][name].as_f64() else {
            continue;
        };
        if let Some(previous) = previous {
            let faults = tick["faults"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            out.push((faults, value - previous));
        }
        previous = Some(value);
    }
    out
}

fn mean(values: &[f64]) -> f64 {
    assert!(!values.is_empty());
    values.iter().sum::<f64>() / values.len() as f64
}

/// Data in SST files (4 MiB memtables) past a small block cache.
const SST_ENGINE: &str = r#"
[engine.cf_options]
write_buffer_size = 4194304
target_file_size_base = 8388608
"#;

/// Loads keys 0..100000 of 1000 bytes (100 MB) into the default column family.
const LOAD_100K: &str = r#"
[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 100000
value_size = 1000
ops = 100000
"#;

#[test]
fn io_hog_slows_device_reads_and_leaves_no_file() {
    // Every read misses the 1 MiB block cache and, with direct reads, goes to the device,
    // which the hog's O_DIRECT writes and fsyncs keep busy (seen: read p50 77 -> 255 µs,
    // p99 1.5 -> 10 ms).
    let text = format!(
        r#"
[engine]
block_cache_size = 1048576
use_direct_reads = true
{SST_ENGINE}
block_size = 4096
{LOAD_100K}
[[phases]]
name = "steady"
duration_s = 5
[[phases.workloads]]
workload = "readrandom"
key_space = 100000
value_size = 1000
threads = 2
rate = 2000
[[phases.faults]]
kind = "io_hog"
at_s = 1.5
duration_s = 2
threads = 2
file_bytes = 67108864
direct = true
"#
    );
    let (run, left) = run_text("io-hog", &text);
    let (p50_base, p50_during) = baseline_and_during(&run, "read_p50_us", 0);
    let (p99_base, p99_during) = baseline_and_during(&run, "read_p99_us", 0);
    eprintln!("read p50 {p50_base} -> {p50_during} µs, p99 {p99_base} -> {p99_during} µs");
    assert!(
        p50_during > 2.0 * p50_base,
        "read p50 {p50_base} µs baseline, {p50_during} µs beside the hog"
    );
    assert!(
        p99_during > 2.0 * p99_base,
        "read p99 {p99_base} µs baseline, {p99_during} µs beside the hog"
    );
    assert!(
        run["faults"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("2 thread(s) writing 64 MiB files"),
        "{}",
        run["faults"][0]
    );
    // The database's directory is removed with the run; the hog's must be gone too.
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn cpu_hog_takes_the_cpu_from_a_closed_loop_workload() {
    // One closed-loop reader against four spinning threads: its share of the cores shrinks
    // (seen: 1.4 M -> 0.2 M reads/s).
    let text = r#"
[engine]
block_cache_size = 67108864
[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 20000
ops = 20000
[[phases]]
name = "steady"
duration_s = 5
[[phases.workloads]]
workload = "readrandom"
key_space = 20000
[[phases.faults]]
kind = "cpu_hog"
at_s = 1.5
duration_s = 2
threads = 4
"#;
    let (run, _) = run_text("cpu-hog", text);
    let (base, during) = baseline_and_during(&run, "throughput", 0);
    eprintln!("throughput {base} -> {during} ops/s");
    assert!(
        during < 0.6 * base,
        "throughput {base} ops/s baseline, {during} ops/s beside the hog"
    );
}

#[test]
fn write_ramp_raises_the_write_rate_linearly_then_drops_it() {
    let text = r#"
[[phases]]
duration_s = 5.5
[[phases.workloads]]
workload = "fillrandom"
key_space = 20000
rate = 1000
[[phases.faults]]
kind = "write_ramp"
at_s = 1.5
duration_s = 3
factor = 5
"#;
    let (run, _) = run_text("write-ramp", text);
    let (start, end) = fault_span(&run, 0);
    let t = &run["timeline"];
    let bins = t["t_s"].as_array().unwrap().iter().map(f);
    let throughput = t["throughput"].as_array().unwrap().iter().map(f);
    let bin_s = f(&t["bin_s"]);
    let mut checked = 0;
    for (bin, ops) in bins.zip(throughput) {
        // Whole bins only: inside the ramp, or from 0.2 s after it (back to `rate`).
        let mid = bin + bin_s / 2.0;
        let expected = if bin >= start && bin + bin_s <= end {
            1000.0 * (1.0 + 4.0 * (mid - start) / (end - start))
        } else if bin >= end + 0.2 && bin + bin_s <= 5.3 {
            1000.0
        } else {
            continue;
        };
        assert!(
            (ops - expected).abs() < 0.15 * expected,
            "at {bin:.1} s: {ops} ops/s, expected {expected:.0} (ramp {start:.2}..{end:.2} s)"
        );
        checked += 1;
    }
    assert!(checked >= 30, "{checked} bins checked");
}

#[test]
fn a_held_write_ramp_keeps_its_top_rate() {
    let text = r#"
[[phases]]
duration_s = 3.5
[[phases.workloads]]
workload = "fillrandom"
key_space = 20000
rate = 1000
[[phases.faults]]
kind = "write_ramp"
at_s = 0.5
duration_s = 1.5
factor = 3
hold = true
"#;
    let (run, _) = run_text("held-ramp", text);
    assert!(
        run["faults"][0]["end_s"].is_null(),
        "lasts to the end of the run"
    );
    let top = median_in(&run, "throughput", 2.3, 3.3);
    assert!(
        (2700.0..3300.0).contains(&top),
        "{top} ops/s after the ramp"
    );
}

#[test]
fn value_size_shift_writes_the_new_sizes_and_they_verify() {
    // 100-byte values, then 4000..=8000 bytes: the WAL takes ~46 x the bytes per write.
    let text = r#"
[[phases]]
duration_s = 5
[[phases.workloads]]
workload = "fillrandom"
key_space = 20000
rate = 2000
[[phases.faults]]
kind = "value_size_shift"
at_s = 1.5
duration_s = 2
value_size = [4000, 8000]
"#;
    let lines = record_text("value-size-shift", text);
    let wal = statistic_per_tick(&lines, "wal_bytes");
    let shifted: Vec<f64> = wal
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(_, b)| *b)
        .collect();
    let first = wal.iter().position(|(k, _)| !k.is_empty()).unwrap();
    let before: Vec<f64> = wal[first.saturating_sub(10)..first - 1]
        .iter()
        .map(|(_, b)| *b)
        .collect();
    // Whole ticks inside the shift (not its first or last).
    let ratio = mean(&shifted[1..shifted.len() - 1]) / mean(&before);
    eprintln!("WAL bytes per tick x{ratio:.1} during the shift");
    // Mean record 6000 + key + framing against 100 + key + framing.
    assert!((35.0..60.0).contains(&ratio), "WAL bytes x{ratio}");
    let summary = &lines.last().unwrap()["summary"];
    assert!(
        summary["keys_verified"].as_u64().unwrap() > 5_000,
        "{summary}"
    );
    assert_eq!(summary["keys_lost"], 0);
    assert_eq!(
        summary["wrong_values"], 0,
        "values of both sizes read back as written"
    );
}

#[test]
fn skew_shift_changes_the_cache_hit_ratio_and_moving_the_hot_keys_misses() {
    // YCSB-C (zipfian) keeps its hot blocks cached; uniform keys miss the 24 MiB cache of
    // 100 MB (seen: hit ratio 0.6 -> 0.2); moving the hot keys half the key space on misses
    // until the new ones are cached (seen: misses x1.6 in the first two ticks).
    let text = format!(
        r#"
[engine]
block_cache_size = 25165824
{SST_ENGINE}
{LOAD_100K}
[[phases]]
name = "steady"
duration_s = 6
[[phases.workloads]]
workload = "ycsb-c"
key_space = 100000
value_size = 1000
rate = 5000
[[phases.faults]]
kind = "skew_shift"
at_s = 1.5
duration_s = 1.5
distribution = "uniform"
[[phases.faults]]
kind = "skew_shift"
at_s = 4
duration_s = 1.5
hot_offset = 50000
"#
    );
    let lines = record_text("skew-shift", &text);
    let hits = statistic_per_tick(&lines, "block_cache_hit");
    let misses = statistic_per_tick(&lines, "block_cache_miss");
    let phase: Vec<bool> = lines
        .iter()
        .filter(|l| l["type"] == "tick" && l["sample"]["statistics"].is_object())
        .skip(1)
        .map(|l| l["phase"] == "steady")
        .collect();
    // Ticks of the measured phase, split by fault episode: 0 before, 1 uniform, 2 between,
    // 3 hot keys moved, 4 after.
    let mut episode = 0;
    let mut by_episode: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 5];
    let mut active = false;
    for i in 0..hits.len() {
        if !phase[i] {
            continue;
        }
        let now_active = !hits[i].0.is_empty();
        if now_active != active {
            episode += 1;
            active = now_active;
        }
        by_episode[episode.min(4)].push((hits[i].1, misses[i].1));
    }
    let ratio = |ticks: &[(f64, f64)]| {
        let (h, m) = ticks
            .iter()
            .fold((0.0, 0.0), |(h, m), (a, b)| (h + a, m + b));
        h / (h + m)
    };
    let steady_before = &by_episode[0][by_episode[0].len().saturating_sub(8)..];
    let (base, uniform) = (ratio(steady_before), ratio(&by_episode[1][2..]));
    eprintln!("hit ratio {base:.2} zipfian, {uniform:.2} uniform");
    assert!(uniform < 0.6 * base, "hit ratio {base:.2} -> {uniform:.2}");
    let settled = &by_episode[2][by_episode[2].len().saturating_sub(8)..];
    let baseline_misses = mean(&settled.iter().map(|t| t.1).collect::<Vec<_>>());
    let moved_misses = mean(&by_episode[3][..2].iter().map(|t| t.1).collect::<Vec<_>>());
    eprintln!("misses per tick {baseline_misses:.0} -> {moved_misses:.0} as the hot keys move");
    assert!(
        moved_misses > 1.2 * baseline_misses,
        "misses per tick {baseline_misses:.0} -> {moved_misses:.0}"
    );
}

#[test]
fn scan_storm_takes_throughput_from_the_workload() {
    // Two threads of 5k..20k-key scans beside closed-loop YCSB-C (seen: 440k -> 180k ops/s).
    let text = format!(
        r#"
[engine]
block_cache_size = 8388608
{SST_ENGINE}
{LOAD_100K}
[[phases]]
name = "steady"
duration_s = 5
[[phases.workloads]]
workload = "ycsb-c"
key_space = 100000
value_size = 1000
[[phases.faults]]
kind = "scan_storm"
at_s = 1.5
duration_s = 2
threads = 2
scan_length = [5000, 20000]
"#
    );
    let (run, _) = run_text("scan-storm", &text);
    let (base, during) = baseline_and_during(&run, "throughput", 0);
    eprintln!("throughput {base} -> {during} ops/s");
    assert!(
        during < 0.7 * base,
        "throughput {base} ops/s baseline, {during} ops/s beside the storm"
    );
    assert!(
        run["scan_p99_us"].is_null(),
        "the storm's scans are not the workload's"
    );
}

#[test]
fn range_delete_retention_deletes_the_oldest_keys_on_time_and_they_verify_absent() {
    // 10k keys every 0.5 s from key 0: six range deletes empty [0, 60000) while 50-key scans
    // cross it; the verifier expects those keys absent.
    let text = r#"
[engine.cf_options]
write_buffer_size = 4194304
[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 100000
value_size = 500
ops = 100000
[[phases]]
name = "steady"
duration_s = 5
[[phases.workloads]]
workload = "seekrandom"
key_space = 100000
value_size = 500
rate = 2000
scan_length = 50
[[phases.faults]]
kind = "range_delete_retention"
at_s = 1
key_range = [0, 60000]
period_s = 0.5
keys_per_period = 10000
"#;
    let (run, _) = run_text("retention", text);
    // The only writes of the measured phase are the range deletes: one per period.
    let t = &run["timeline"];
    let deletes: Vec<f64> = t["t_s"]
        .as_array()
        .unwrap()
        .iter()
        .zip(t["write_p99_us"].as_array().unwrap())
        .filter(|(s, w)| !w.is_null() && f(s) > 1.0)
        .map(|(s, _)| f(s))
        .collect();
    assert_eq!(deletes.len(), 6, "range deletes at {deletes:?}");
    for pair in deletes.windows(2) {
        assert!((pair[1] - pair[0] - 0.5).abs() < 0.15, "{deletes:?}");
    }
    assert!(
        run["faults"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("6 range deletes"),
        "{}",
        run["faults"][0]
    );
    // 60k keys absent, 40k present, all as the verifier expects.
    assert_eq!(run["keys_verified"], 100_000);
    assert_eq!(run["keys_lost"], 0);
    assert_eq!(run["wrong_values"], 0);
}
