//! `lsmedic-bench record` writes trace format v2: per tick the healer's own features (N × 19,
//! finite), the raw rows, `node_state` (N), objective, tunables, the catalog mask and action,
//! weights, and `graph` lines — with the healer off (advisory core, no actions) and with the
//! rule policy plus exploration (actions logged with their verdicts).

mod common;

use common::one_at_a_time;

use std::path::Path;
use std::process::Command;

/// Two column families so that the graph has 6 + 2 × 5 nodes; tiny memtables on both for
/// one second as the fault.
const SCENARIO: &str = r#"
name = "v2"
description = "two column families, YCSB-A, tiny memtables for one second"
[engine.cf_options]
write_buffer_size = 1048576
level0_slowdown_writes_trigger = 6
level0_stop_writes_trigger = 10
[[engine.column_families]]
name = "orders"
[engine.column_families.options]
write_buffer_size = 1048576
level0_slowdown_writes_trigger = 6
level0_stop_writes_trigger = 10
[[phases]]
name = "load"
warmup = true
[[phases.workloads]]
workload = "fillseq"
key_space = 10000
ops = 10000
value_size = 500
[[phases]]
name = "steady"
duration_s = 3
[[phases.workloads]]
workload = "ycsb-a"
key_space = 10000
value_size = 500
threads = 1
rate = 3000
[[phases.workloads]]
workload = "ycsb-a"
cf = "orders"
key_space = 10000
value_size = 500
threads = 1
rate = 2000
[[phases.faults]]
kind = "misconfiguration"
at_s = 1
duration_s = 1
options = { write_buffer_size = 65536 }
"#;

const NODES: usize = 6 + 2 * 5;
const DIM: usize = 19;
const ACTIONS: usize = 15;
const TUNABLES: usize = 13;

fn record(dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let _turn = one_at_a_time();
    let scenario = dir.join("v2.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.join("traces");
    let output = Command::new(env!("CARGO_BIN_EXE_lsmedic-bench"))
        .arg("record")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--db-dir")
        .arg(dir)
        .args(["--task", "ycsb-a-test", "--no-verify"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let healer = if extra.contains(&"rules") {
        "rules"
    } else {
        "off"
    };
    let text = Command::new("gzip")
        .arg("-dc")
        .arg(out.join(format!("v2.{healer}.trace.jsonl.gz")))
        .output()
        .unwrap()
        .stdout;
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn matrix(value: &serde_json::Value, rows: usize, cols: usize) -> Vec<Vec<f64>> {
    let rows_v = value.as_array().expect("rows");
    assert_eq!(rows_v.len(), rows);
    rows_v
        .iter()
        .map(|row| {
            let row = row.as_array().expect("row");
            assert_eq!(row.len(), cols);
            row.iter()
                .map(|x| {
                    x.as_f64()
                        .expect("a number (non-finite floats become null)")
                })
                .collect()
        })
        .collect()
}

/// Checks every v2 field of every tick; returns the tick lines.
fn check_v2(lines: &[serde_json::Value], healer: &str) -> Vec<serde_json::Value> {
    let header = &lines[0];
    assert_eq!(header["type"], "header");
    assert_eq!(header["format_version"], 2);
    assert_eq!(header["healer"], healer);
    assert_eq!(header["workload"]["task"], "ycsb-a-test");
    assert_eq!(header["workload"]["family"], "ycsb-a");
    assert_eq!(header["workload"]["column_families"], 2);
    assert_eq!(header["actions"].as_array().unwrap().len(), ACTIONS);
    assert_eq!(header["actions"][0], "noop");
    assert_eq!(header["tunable_names"].as_array().unwrap().len(), TUNABLES);
    assert_eq!(header["feature_schema"]["dim"], DIM);
    // The graph comes before the first tick.
    assert_eq!(lines[1]["type"], "graph");
    let graph = &lines[1];
    assert_eq!(graph["version"], 1);
    let nodes = graph["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), NODES);
    assert_eq!(nodes[0]["kind"], "write_path");
    assert!(nodes[0]["cf"].is_null());
    assert_eq!(nodes[NODES - 1]["kind"], "levels");
    assert_eq!(nodes[NODES - 1]["cf"], "orders");
    let edges = graph["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3 + 2 * 15);
    for edge in edges {
        let e = edge.as_array().unwrap();
        assert!(e.iter().all(|i| (i.as_u64().unwrap() as usize) < NODES));
    }

    let ticks: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| l["type"] == "tick")
        .cloned()
        .collect();
    assert!(ticks.len() >= 25, "{} ticks", ticks.len());
    let with_features: Vec<&serde_json::Value> = ticks
        .iter()
        .filter(|t| t.get("features").is_some())
        .collect();
    // A healer tick may fail now and then (it is then absent), but not most of them.
    assert!(
        with_features.len() * 10 >= ticks.len() * 9,
        "{} of {} ticks with features",
        with_features.len(),
        ticks.len()
    );
    let mut moving = false;
    for t in &with_features {
        let features = matrix(&t["features"], NODES, DIM);
        let raw = matrix(&t["raw"], NODES, DIM);
        for (node, (f, r)) in features.iter().zip(&raw).enumerate() {
            assert!(f.iter().all(|x| x.is_finite() && x.abs() <= 5.0 + 1e-6));
            assert!(r.iter().all(|x| x.is_finite()));
            // One-hot part: one 1 among the 11 kinds, the same in both.
            assert_eq!(f[..11].iter().sum::<f64>(), 1.0, "node {node}");
            assert_eq!(f[..11], r[..11]);
        }
        moving |= features
            .iter()
            .any(|row| row[11..].iter().any(|z| z.abs() > 0.5));
        assert_eq!(t["graph_version"], 1);
        let state = t["node_state"].as_array().unwrap();
        assert_eq!(state.len(), NODES);
        assert!(state.iter().all(|s| s == 0 || s == 1));
        let objective = &t["objective"];
        assert!(objective["throughput_ops_per_sec"].as_f64().unwrap() >= 0.0);
        assert!(objective["resource_units"].as_f64().unwrap() > 0.0);
        assert!(objective.get("stall_fraction").is_some());
        assert!(t["tunables"]["global"]["max_background_jobs"].is_u64());
        assert!(t["tunables"]["cfs"]["orders"]["write_buffer_size"].is_u64());
        assert_eq!(t["tunable_vector"].as_array().unwrap().len(), TUNABLES);
        let mask = t["mask"].as_array().unwrap();
        assert_eq!(mask.len(), ACTIONS);
        assert_eq!(mask[0], 1, "noop is always possible");
        let weights = t["weights"].as_array().unwrap();
        assert_eq!(weights.len(), 3);
        let sum: f64 = weights.iter().map(|w| w.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(t["healer_tick_us"].is_u64());
        assert!(t.get("action").is_some());
    }
    assert!(moving, "the normalised features never moved");
    // The fault shows in the tunable vector while it lasts: write_buffer_size 1 MiB → 64 KiB
    // = -4 (log2), on both column families (a healer may move it back part of the way).
    let during: Vec<f64> = with_features
        .iter()
        .filter(|t| {
            t["faults"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "misconfiguration")
        })
        .map(|t| t["tunable_vector"][5].as_f64().unwrap())
        .collect();
    let shown = during.iter().filter(|&&v| v == -4.0).count();
    if healer == "off" {
        assert!(shown >= 5, "{during:?}");
    } else {
        assert!(shown >= 1, "{during:?}");
    }
    assert_eq!(lines.last().unwrap()["type"], "end");
    ticks
}

#[test]
fn record_v2_healer_off_has_features_labels_and_no_actions() {
    let dir = tempfile::tempdir().unwrap();
    let lines = record(dir.path(), &[]);
    let ticks = check_v2(&lines, "off");
    assert!(ticks
        .iter()
        .filter(|t| t.get("features").is_some())
        .all(|t| t["action"].is_null()));
    assert_eq!(lines[0]["explore"], 0.0);
}

#[test]
fn record_v2_rules_with_exploration_logs_catalog_actions() {
    let dir = tempfile::tempdir().unwrap();
    let lines = record(
        dir.path(),
        &["--healer", "rules", "--explore", "1", "--weights", "2,1,1"],
    );
    let ticks = check_v2(&lines, "rules");
    assert_eq!(lines[0]["explore"], 1.0);
    let w = &ticks.iter().find(|t| t.get("weights").is_some()).unwrap()["weights"];
    assert!((w[0].as_f64().unwrap() - 0.5).abs() < 1e-9);
    let actions: Vec<&serde_json::Value> = ticks
        .iter()
        .filter(|t| t.get("action").is_some_and(|a| !a.is_null()))
        .map(|t| &t["action"])
        .collect();
    // Epsilon 1: every decision tick (at least every 10th) draws a catalog action; most are
    // real actions (noop proposes nothing), and the guard lets some through.
    assert!(
        actions.iter().any(|a| a["source"] == "explore"),
        "no explored action in {} actions",
        actions.len()
    );
    assert!(actions.iter().any(|a| a["applied"] == true));
    for a in &actions {
        let index = a["index"].as_u64().expect("a catalog action") as usize;
        assert!((1..ACTIONS).contains(&index));
        assert_eq!(a["name"], lines[0]["actions"][index]);
        assert!(a["verdict"].is_string());
        assert!(a["action"]["op"].is_string());
    }
    // The run's own summary counts the healer's applied actions too.
    let summary = &lines.last().unwrap()["summary"];
    assert!(summary["actions"].as_array().is_some_and(|a| !a.is_empty()));
}
