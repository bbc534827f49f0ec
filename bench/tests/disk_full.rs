//! The `disk_full` fault: its fields are checked against the disk it runs on, and the
//! shipped `disk-full` scenario, healer off, has writes refused while the disk is full and
//! accepted again soon after space is back, with no acknowledged write lost or changed.

mod common;

use common::{bench, f, one_at_a_time, run_json};

use std::path::{Path, PathBuf};
use std::process::Command;

use lsmedic_bench::scenario::{FaultKind, Scenario, ScenarioError};

// ----- parsing ----------------------------------------------------------------------------

const GOOD: &str = r#"
[engine.recovery]
min_free_mb = 16

[[phases]]
duration_s = 20
[[phases.workloads]]
workload = "ycsb-a"
key_space = 10000
value_size = 1000

[[phases.faults]]
kind = "disk_full"
at_s = 5
duration_s = 5
disk_mb = 64
"#;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(text, Path::new("disk.toml"), "disk")
}

/// `GOOD` with `from` replaced by `to`, refused at `field` with a message holding `words`.
fn refused(from: &str, to: &str, field: &str, words: &str) {
    assert!(GOOD.contains(from), "{from}");
    let err = parse(&GOOD.replacen(from, to, 1)).expect_err(field);
    assert_eq!(err.field.as_deref(), Some(field), "{err}");
    assert!(err.line.is_some(), "{err}");
    assert!(err.message.contains(words), "{err} should say {words:?}");
}

#[test]
fn disk_full_parses_with_its_disk_and_a_default_size() {
    let s = parse(GOOD).expect("parses");
    assert!(matches!(
        s.phases[0].faults[0].kind,
        FaultKind::DiskFull { disk_mb: 64 }
    ));
    assert_eq!(s.disk_full_mb(), Some(64));
    let default = parse(&GOOD.replace("disk_mb = 64\n", "")).expect("parses");
    assert_eq!(default.disk_full_mb(), Some(256));
    assert!(FaultKind::NAMES.contains(&"disk_full"));
}

#[test]
fn bad_disk_full_fields_are_refused_with_their_line_and_field() {
    let fault = "phases[0].faults[0]";
    refused(
        "disk_mb = 64",
        "disk_mb = 16",
        &format!("{fault}.disk_mb"),
        "32..=4096",
    );
    refused(
        "disk_mb = 64",
        "disk_mb = 64\nsize = 3",
        &format!("{fault}.size"),
        "unknown field",
    );
    // The engine's recovery must fit the disk: at most a quarter of it free to reopen.
    refused(
        "min_free_mb = 16",
        "min_free_mb = 17",
        &format!("{fault}.disk_mb"),
        "min_free_mb = 16 or less",
    );
    // 100k keys of 1 KB: ~99 MiB of data, about twice that on disk.
    refused(
        "key_space = 10000",
        "key_space = 100000",
        &format!("{fault}.disk_mb"),
        "must be at least 210",
    );
    // The disk is freed when the fault ends: it needs an end.
    refused("duration_s = 5\n", "", fault, "needs duration_s");
    let two = format!(
        "{GOOD}[[phases.faults]]\nkind = \"disk_full\"\nat_s = 12\nduration_s = 1\ndisk_mb = 128\n"
    );
    let err = parse(&two).expect_err("two disks");
    assert_eq!(
        err.field.as_deref(),
        Some("phases[0].faults[1].disk_mb"),
        "{err}"
    );
    assert!(err.message.contains("must be 64"), "{err}");
}

// ----- a run on the real engine, healer off ---------------------------------------------

/// Whether this process may mount a tmpfs (root, with `mount` and tmpfs available).
fn can_mount() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir.path())
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    let _ = Command::new("umount").arg(dir.path()).status();
    Ok(())
}

/// Mount points under `dir` still listed in `/proc/self/mountinfo`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(&dir))
        .map(str::to_owned)
        .collect()
}

fn scenario_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/disk-full.toml")
}

#[test]
fn a_full_disk_refuses_writes_and_the_engine_takes_them_again_losing_nothing() {
    if let Err(why) = can_mount() {
        eprintln!("skipped: the disk_full fault needs to mount a tmpfs (root): {why}");
        return;
    }
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let db_parent = dir.path().join("db");
    std::fs::create_dir(&db_parent).unwrap();
    let json = dir.path().join("report.json");
    // Time scale 0.3: the disk is full for 3 s of a 10 s phase.
    let report = run_json(
        bench()
            .arg("run")
            .arg(scenario_file())
            .args([
                "--healer",
                "off",
                "--time-scale",
                "0.3",
                "--quiet",
                "--db-dir",
            ])
            .arg(&db_parent)
            .arg("--json")
            .arg(&json),
        &json,
    );
    let run = &report["scenarios"][0]["runs"][0];
    let fault = &run["faults"][0];
    assert_eq!(fault["kind"], "disk_full", "{run:#}");
    let refused = fault["writes_refused"].as_u64().unwrap_or(0);
    let resumed = fault["writes_resumed_s"].as_f64();
    eprintln!(
        "disk_full: {refused} writes refused over {:.1} s, first write accepted {resumed:?} s \
         after the disk was freed; keys verified {} lost {} wrong {} unknown {}; recovery {}",
        f(&fault["end_s"]) - f(&fault["start_s"]),
        run["keys_verified"],
        run["keys_lost"],
        run["wrong_values"],
        run["keys_unknown"],
        run["recovery"]
    );
    assert!(
        refused > 0,
        "writes were not refused while the disk was full: {fault:#}"
    );
    let resumed = resumed.unwrap_or_else(|| {
        panic!(
            "no write was accepted after the disk was freed: {fault:#} {:#}",
            run["recovery"]
        )
    });
    // The engine looks for free space every 200 ms (the scenario's retry_interval_ms).
    assert!(
        resumed < 2.0,
        "writes came back only {resumed} s after the disk was freed"
    );
    assert!(
        run["recovery"]["reopens"].as_u64() >= Some(1),
        "{:#}",
        run["recovery"]
    );
    assert_eq!(run["recovery"]["state"], "healthy", "{:#}", run["recovery"]);
    assert!(run["keys_verified"].as_u64() > Some(0), "{run:#}");
    assert_eq!(run["wrong_values"], 0, "{run:#}");
    assert_eq!(run["keys_lost"], 0, "{run:#}");
    // The tmpfs is unmounted and the run's directory removed.
    assert_eq!(mounts_under(&db_parent), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(&db_parent).unwrap().count(), 0);
}
