//! Healer mode `auto`: the engine runs alone, opened with RocksDB's self-adjusting features
//! at the scenario's memory and thread budget, and is reported like any other mode.

mod common;

use common::bench;

use std::path::Path;
use std::process::Command;

/// Short: a load, three measured seconds of YCSB-A, and an option fault that a healer could
/// revert (so a healer would have something to do).
const QUICK: &str = r#"
name = "quick-auto"
description = "tiny memtables under YCSB-A, for the auto-mode test"
[engine]
max_background_jobs = 2
block_cache_size = 16777216
[engine.cf_options]
write_buffer_size = 1048576
level0_slowdown_writes_trigger = 6
level0_stop_writes_trigger = 10
[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 20000
ops = 20000
value_size = 500
[[phases]]
name = "steady"
duration_s = 3
[[phases.workloads]]
workload = "ycsb-a"
key_space = 20000
value_size = 500
threads = 2
rate = 5000
[[phases.faults]]
kind = "misconfiguration"
at_s = 1
duration_s = 1
options = { write_buffer_size = 65536 }
"#;

fn write_scenario(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("quick-auto.toml");
    std::fs::write(&path, QUICK).unwrap();
    path
}

fn succeeded(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn auto_mode_runs_the_engine_alone_and_reports_no_actions() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path());
    let json = dir.path().join("run.json");
    let output = bench()
        .arg("run")
        .arg(&scenario)
        .args(["--healer", "auto", "--quiet", "--json"])
        .arg(&json)
        .arg("--db-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    succeeded(&output);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let run = &report["scenarios"][0]["runs"][0];
    assert_eq!(run["healer"], "auto");
    assert!(run["actions"].is_null(), "no healer, no actions: {run:#}");
    assert!(run["ops"].as_u64().unwrap() > 5_000);
    assert_eq!(run["keys_verified"].as_u64().unwrap(), 20_000);
    assert_eq!(run["keys_lost"], 0);
    assert_eq!(run["wrong_values"], 0);
}

/// The header of the trace `record` wrote for `healer` into `out`.
fn trace_header(out: &Path, healer: &str) -> serde_json::Value {
    let path = out.join(format!("quick-auto.{healer}.trace.jsonl.gz"));
    let text = Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .unwrap()
        .stdout;
    let first = String::from_utf8(text)
        .unwrap()
        .lines()
        .next()
        .expect("a header line")
        .to_owned();
    serde_json::from_str(&first).unwrap()
}

#[test]
fn auto_mode_opens_the_scenario_engine_with_rocksdb_adaptation_on() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path());
    let out = dir.path().join("traces");
    let output = bench()
        .arg("record")
        .arg(&scenario)
        .args(["--healer", "off,auto", "--out"])
        .arg(&out)
        .arg("--db-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    succeeded(&output);
    let off = trace_header(&out, "off");
    let auto = trace_header(&out, "auto");
    assert_eq!(auto["healer"], "auto");
    let (off, auto) = (&off["engine"], &auto["engine"]);
    assert!(off["rate_limiter"].is_null(), "{off:#}");
    assert_eq!(auto["rate_limiter"]["auto_tuned"], true);
    assert_eq!(auto["rate_limiter"]["rate_bytes_per_sec"], 10u64 << 30);
    assert_eq!(auto["wal_bytes_per_sync"], 1u64 << 20);
    assert!(off["cf_options"]["compact_on_deletion_collector"].is_null());
    assert!(auto["cf_options"]["compact_on_deletion_collector"]["sliding_window_size"].is_u64());
    // Same memory and threads as the scenario.
    for field in [
        "max_background_jobs",
        "max_subcompactions",
        "block_cache_size",
        "write_buffer_manager_size",
    ] {
        assert_eq!(auto[field], off[field], "{field}");
    }
    for field in ["write_buffer_size", "max_write_buffer_number"] {
        assert_eq!(
            auto["cf_options"][field], off["cf_options"][field],
            "{field}"
        );
    }
}
