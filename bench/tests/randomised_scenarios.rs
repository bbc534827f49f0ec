//! `lsmedic-bench compare` on a scenario with `{ min, max }` ranges: every repeat runs the
//! scenario as drawn for its seed, and each run's JSON says what it drew.

use std::process::Command;

/// A load, then a short measured phase whose write burst starts at a drawn time, under a
/// drawn rate.
const RANGED: &str = r#"
name = "ranged"
description = "a write burst at a random onset, for the end-to-end test"
seed = 11
[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 5000
ops = 5000
[[phases]]
name = "steady"
duration_s = 2.5
[[phases.workloads]]
workload = "ycsb-a"
key_space = 5000
threads = 2
rate = { min = 1000, max = 3000 }
[[phases.faults]]
kind = "write_burst"
at_s = { min = 0.2, max = 1.8 }
duration_s = 0.5
factor = 2
"#;

const AT_S: &str = "phases[1].faults[0].at_s";
const RATE: &str = "phases[1].workloads[0].rate";

#[test]
fn compare_repeats_draw_the_ranges_per_seed_and_report_them() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("ranged.toml");
    std::fs::write(&scenario, RANGED).unwrap();
    let json = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_lsmedic-bench"))
        .arg("compare")
        .arg(&scenario)
        .args(["--quiet", "--no-verify", "--repeat", "2", "--healer", "off"])
        .arg("--json")
        .arg(&json)
        .arg("--db-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = report["scenarios"][0]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one mode x two seeds");
    let drawn = |run: &serde_json::Value, path: &str| -> f64 {
        run["sampled"][path]
            .as_f64()
            .unwrap_or_else(|| panic!("{path} missing in {}", run["sampled"]))
    };
    let mut onsets = Vec::new();
    for run in runs {
        let at_s = drawn(run, AT_S);
        assert!((0.2..=1.8).contains(&at_s), "{at_s}");
        let rate = &run["sampled"][RATE];
        assert!(rate.is_u64(), "integer bounds draw integers: {rate}");
        assert!((1000..=3000).contains(&rate.as_u64().unwrap()), "{rate}");
        // The run injected the burst at the drawn onset, from the start of its phase.
        let steady = run["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "steady")
            .unwrap();
        let fault = &run["faults"][0];
        let onset = fault["start_s"].as_f64().unwrap() - steady["start_s"].as_f64().unwrap();
        assert!(
            (onset - at_s).abs() < 0.25,
            "burst at {onset} s into the phase, drawn {at_s} s"
        );
        onsets.push(at_s);
    }
    assert_ne!(onsets[0], onsets[1], "each seed draws its own onset");
    assert_ne!(runs[0]["seed"], runs[1]["seed"]);
}
