//! Injecting and lifting faults on a running engine.
//!
//! | kind | how it is injected | how it is lifted |
//! |---|---|---|
//! | `write_burst` | write-bearing workloads of the CF run at `rate × factor` | rate back |
//! | `working_set_shift` | workloads of the CF pick keys from `key_range` instead | range back |
//! | `compaction_starvation` | `set_global(max_background_jobs, background_threads_low)`, `set_cf(disable_auto_compactions)` | previous values back |
//! | `delete_storm` | extra threads delete `key_range` in key order at `rate` | threads stop |
//! | `sst_corruption` | the CF is flushed, then `bytes` bytes in the middle of its largest live SST above the bottom level (else its largest) are inverted in place; optionally a full compaction of the CF is started | — (instantaneous) |
//! | `misconfiguration` | `set_cf` / `set_global` with the given values | previous values back |
//!
//! Live SST files of a column family are listed through a read-only RocksDB handle on the
//! same directory (`live_files`, which names each file's column family); the engine's own
//! handle is never touched.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use lsmedic::telemetry::{Control, Tunable};

use crate::measure::Recorder;
use crate::runner::{spawn_storm, Shared};
use crate::scenario::{Fault, FaultKind};

/// How to lift a fault.
pub enum Undo {
    /// Nothing to lift.
    Nothing,
    /// Divide the write multiplier of these CFs by `factor`.
    WriteBurst {
        /// Column-family indexes.
        cfs: Vec<usize>,
        /// The burst factor.
        factor: f64,
    },
    /// Put the working set of these CFs back.
    Shift {
        /// Column-family indexes.
        cfs: Vec<usize>,
    },
    /// Put these tunables back to their previous values.
    Tunables {
        /// DB-wide ones.
        global: Vec<(Tunable, u64)>,
        /// Per column family.
        cfs: Vec<(String, Vec<(Tunable, u64)>)>,
    },
    /// Stop the storm threads.
    Storm {
        /// Their stop flag.
        stop: Arc<AtomicBool>,
    },
}

/// A fault just injected.
pub struct Applied {
    /// What was done, for reports.
    pub detail: String,
    /// How to lift it.
    pub undo: Undo,
    /// Threads the fault started (joined at the end of the run).
    pub storm_threads: Vec<JoinHandle<Recorder>>,
}

fn target_cfs(shared: &Shared, cf: &Option<String>) -> Vec<usize> {
    match cf {
        Some(name) => vec![shared.cf(name)],
        None => (0..shared.cf_names.len()).collect(),
    }
}

fn cf_label(cf: &Option<String>) -> String {
    cf.as_deref().map_or_else(
        || "all column families".to_owned(),
        |c| format!("column family {c:?}"),
    )
}

/// Injects `fault` now; the caller lifts it (with [`undo`]) when its duration is up.
pub fn apply(shared: &Arc<Shared>, fault: &Fault) -> Result<Applied, String> {
    match &fault.kind {
        FaultKind::WriteBurst { cf, factor } => Ok(write_burst(shared, cf, *factor)),
        FaultKind::WorkingSetShift { cf, key_range } => {
            Ok(working_set_shift(shared, cf, *key_range))
        }
        FaultKind::CompactionStarvation {
            cf,
            max_background_jobs,
            background_threads_low,
            disable_auto_compactions,
        } => compaction_starvation(
            shared,
            cf,
            *max_background_jobs,
            *background_threads_low,
            *disable_auto_compactions,
        ),
        FaultKind::DeleteStorm {
            cf,
            key_range,
            rate,
            threads,
        } => Ok(delete_storm(shared, cf, *key_range, *rate, *threads)),
        FaultKind::SstCorruption { cf, bytes, compact } => {
            sst_corruption(shared, cf, *bytes, *compact)
        }
        FaultKind::Misconfiguration {
            cf,
            cf_changes,
            global_changes,
        } => misconfiguration(shared, cf, cf_changes, global_changes),
    }
}

/// A fault that starts no thread.
fn simple(detail: String, undo: Undo) -> Applied {
    Applied {
        detail,
        undo,
        storm_threads: Vec::new(),
    }
}

fn write_burst(shared: &Shared, cf: &Option<String>, factor: f64) -> Applied {
    let cfs = target_cfs(shared, cf);
    for &i in &cfs {
        shared.controls[i].scale_writes(factor);
    }
    simple(
        format!("write rate x{factor} on {}", cf_label(cf)),
        Undo::WriteBurst { cfs, factor },
    )
}

fn working_set_shift(shared: &Shared, cf: &Option<String>, key_range: (u64, u64)) -> Applied {
    let cfs = target_cfs(shared, cf);
    for &i in &cfs {
        shared.controls[i].shift(Some(key_range));
    }
    simple(
        format!(
            "working set of {} moved to keys [{}, {})",
            cf_label(cf),
            key_range.0,
            key_range.1
        ),
        Undo::Shift { cfs },
    )
}

fn compaction_starvation(
    shared: &Shared,
    cf: &Option<String>,
    max_background_jobs: u64,
    background_threads_low: u64,
    disable_auto_compactions: bool,
) -> Result<Applied, String> {
    let engine = &shared.engine;
    let before = engine.tunables().map_err(|e| e.to_string())?;
    let changes = [
        (Tunable::MaxBackgroundJobs, max_background_jobs),
        (Tunable::BackgroundThreadsLow, background_threads_low),
    ];
    let global: Vec<(Tunable, u64)> = changes
        .iter()
        .filter_map(|(t, _)| before.global(*t).map(|v| (*t, v)))
        .collect();
    engine.set_global(&changes).map_err(|e| e.to_string())?;
    let mut cfs = Vec::new();
    if disable_auto_compactions {
        for i in target_cfs(shared, cf) {
            let name = &shared.cf_names[i];
            let old = before
                .cf(name, Tunable::DisableAutoCompactions)
                .unwrap_or(0);
            engine
                .set_cf(name, &[(Tunable::DisableAutoCompactions, 1)])
                .map_err(|e| e.to_string())?;
            cfs.push((name.clone(), vec![(Tunable::DisableAutoCompactions, old)]));
        }
    }
    Ok(simple(
        format!(
            "max_background_jobs={max_background_jobs}, background_threads_low={background_threads_low}{}",
            if disable_auto_compactions {
                format!(", auto compactions off on {}", cf_label(cf))
            } else {
                String::new()
            }
        ),
        Undo::Tunables { global, cfs },
    ))
}

fn delete_storm(
    shared: &Arc<Shared>,
    cf: &str,
    key_range: (u64, u64),
    rate: Option<f64>,
    threads: u32,
) -> Applied {
    let stop = Arc::new(AtomicBool::new(false));
    let storm_threads = spawn_storm(shared, cf, key_range, rate, threads, Arc::clone(&stop));
    Applied {
        detail: format!(
            "deleting keys [{}, {}) of {cf:?} at {}",
            key_range.0,
            key_range.1,
            rate.map_or("full speed".to_owned(), |r| format!("{r} deletes/s"))
        ),
        undo: Undo::Storm { stop },
        storm_threads,
    }
}

fn sst_corruption(
    shared: &Arc<Shared>,
    cf: &str,
    bytes: usize,
    compact: bool,
) -> Result<Applied, String> {
    let engine = &shared.engine;
    engine
        .flush(cf)
        .map_err(|e| format!("flush before corrupting: {e}"))?;
    let physical = engine.physical_cf(cf).map_err(|e| e.to_string())?;
    let (file, size) = largest_live_sst(engine.path(), &physical)?;
    flip_bytes(&file, size / 2, bytes)?;
    let mut storm_threads = Vec::new();
    if compact {
        let shared = Arc::clone(shared);
        let cf = cf.to_owned();
        storm_threads.push(
            std::thread::Builder::new()
                .name("corrupt-compact".into())
                .spawn(move || {
                    let _ = shared.engine.compact_range(&cf, None, None);
                    Recorder::new(shared.t0)
                })
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(Applied {
        detail: format!(
            "{bytes} bytes inverted at offset {} of {} ({size} bytes, column family {cf:?}){}",
            size / 2,
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            if compact {
                ", then a full compaction"
            } else {
                ""
            }
        ),
        undo: Undo::Nothing,
        storm_threads,
    })
}

fn misconfiguration(
    shared: &Shared,
    cf: &Option<String>,
    cf_changes: &[(Tunable, u64)],
    global_changes: &[(Tunable, u64)],
) -> Result<Applied, String> {
    let engine = &shared.engine;
    let before = engine.tunables().map_err(|e| e.to_string())?;
    let mut undo_cfs = Vec::new();
    if !cf_changes.is_empty() {
        for i in target_cfs(shared, cf) {
            let name = &shared.cf_names[i];
            let old: Vec<(Tunable, u64)> = cf_changes
                .iter()
                .filter_map(|(t, _)| before.cf(name, *t).map(|v| (*t, v)))
                .collect();
            engine.set_cf(name, cf_changes).map_err(|e| e.to_string())?;
            undo_cfs.push((name.clone(), old));
        }
    }
    let global: Vec<(Tunable, u64)> = global_changes
        .iter()
        .filter_map(|(t, _)| before.global(*t).map(|v| (*t, v)))
        .collect();
    if !global_changes.is_empty() {
        engine
            .set_global(global_changes)
            .map_err(|e| e.to_string())?;
    }
    let describe = |changes: &[(Tunable, u64)]| {
        changes
            .iter()
            .map(|(t, v)| format!("{t}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !cf_changes.is_empty() {
        parts.push(format!("{} on {}", describe(cf_changes), cf_label(cf)));
    }
    if !global_changes.is_empty() {
        parts.push(describe(global_changes));
    }
    Ok(simple(
        parts.join("; "),
        Undo::Tunables {
            global,
            cfs: undo_cfs,
        },
    ))
}

/// Lifts a fault.
pub fn undo(shared: &Shared, undo: &Undo) -> Result<(), String> {
    let engine = &shared.engine;
    match undo {
        Undo::Nothing => Ok(()),
        Undo::WriteBurst { cfs, factor } => {
            for &i in cfs {
                shared.controls[i].scale_writes(1.0 / factor);
            }
            Ok(())
        }
        Undo::Shift { cfs } => {
            for &i in cfs {
                shared.controls[i].shift(None);
            }
            Ok(())
        }
        Undo::Tunables { global, cfs } => {
            // Column-family values first: lowered triggers must go back up before
            // anything depends on them.
            for (cf, values) in cfs {
                if !values.is_empty() {
                    engine.set_cf(cf, values).map_err(|e| e.to_string())?;
                }
            }
            if !global.is_empty() {
                engine.set_global(global).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Undo::Storm { stop } => {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    }
}

/// The largest live SST of physical column family `physical` in the database at `db`.
fn largest_live_sst(db: &Path, physical: &str) -> Result<(PathBuf, u64), String> {
    let options = rocksdb::Options::default();
    let names =
        rocksdb::DB::list_cf(&options, db).map_err(|e| format!("list column families: {e}"))?;
    let reader = rocksdb::DB::open_cf_for_read_only(&options, db, &names, false)
        .map_err(|e| format!("open a read-only handle to list live files: {e}"))?;
    let files = reader
        .live_files()
        .map_err(|e| format!("live files: {e}"))?;
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| f.column_family_name == physical)
        .collect();
    // A full compaction leaves bottommost files alone (RocksDB's default
    // `bottommost_level_compaction`), so prefer a file above the bottom level: the compaction
    // the fault starts then has to read the damaged block.
    let bottom = files.iter().map(|f| f.level).max().unwrap_or(0);
    let upper = files
        .iter()
        .filter(|f| f.level < bottom)
        .max_by_key(|f| f.size);
    upper
        .or_else(|| files.iter().max_by_key(|f| f.size))
        .map(|f| (db.join(f.name.trim_start_matches('/')), f.size as u64))
        .ok_or_else(|| format!("column family {physical:?} has no live SST file to corrupt"))
}

/// Inverts `count` bytes of `file` from `offset`, in place (the file stays open in RocksDB).
fn flip_bytes(file: &Path, offset: u64, count: usize) -> Result<(), String> {
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .map_err(|e| format!("open {}: {e}", file.display()))?;
    let mut bytes = vec![0u8; count];
    let read = handle
        .read_at(&mut bytes, offset)
        .map_err(|e| format!("read {}: {e}", file.display()))?;
    bytes.truncate(read);
    for b in &mut bytes {
        *b ^= 0xff;
    }
    handle
        .write_at(&bytes, offset)
        .map_err(|e| format!("write {}: {e}", file.display()))?;
    handle
        .sync_all()
        .map_err(|e| format!("sync {}: {e}", file.display()))
}
