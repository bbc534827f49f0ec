//! The scenario schema: the file as written (stage 1, deserialised strictly by serde) and
//! the validated [`Scenario`] the runner executes (stage 2, built by the validator).

use std::collections::BTreeMap;

use lsmedic::engine::EngineConfig;
use lsmedic::telemetry::Tunable;
use serde::Deserialize;

use crate::keygen::{Distribution, ValueSize};
use crate::workload::WorkloadKind;

// ----- the file as written (stage 1) -------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) seed: Option<u64>,
    pub(super) repeat: Option<u32>,
    pub(super) family: Option<Family>,
    #[serde(default)]
    pub(super) engine: EngineConfig,
    #[serde(default)]
    pub(super) phases: Vec<PhaseFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhaseFile {
    pub(super) name: Option<String>,
    pub(super) duration_s: Option<f64>,
    #[serde(default)]
    pub(super) warmup: bool,
    #[serde(default)]
    pub(super) workloads: Vec<WorkloadFile>,
    #[serde(default)]
    pub(super) faults: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ValueSizeFile {
    Fixed(u32),
    Range([u32; 2]),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkloadFile {
    pub(super) workload: String,
    pub(super) cf: Option<String>,
    pub(super) key_space: Option<u64>,
    pub(super) key_range: Option<[u64; 2]>,
    pub(super) value_size: Option<ValueSizeFile>,
    pub(super) threads: Option<u32>,
    pub(super) rate: Option<f64>,
    pub(super) ops: Option<u64>,
    pub(super) distribution: Option<Distribution>,
    pub(super) scan_length: Option<ValueSizeFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WriteBurstFile {
    pub(super) cf: Option<String>,
    pub(super) factor: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkingSetShiftFile {
    pub(super) cf: Option<String>,
    pub(super) key_range: [u64; 2],
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompactionStarvationFile {
    pub(super) cf: Option<String>,
    pub(super) max_background_jobs: Option<u64>,
    pub(super) background_threads_low: Option<u64>,
    pub(super) disable_auto_compactions: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteStormFile {
    pub(super) cf: Option<String>,
    pub(super) key_range: [u64; 2],
    pub(super) rate: Option<f64>,
    pub(super) threads: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SstCorruptionFile {
    pub(super) cf: Option<String>,
    pub(super) bytes: Option<usize>,
    pub(super) compact: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MisconfigurationFile {
    pub(super) cf: Option<String>,
    #[serde(default)]
    pub(super) options: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub(super) global: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IoHogFile {
    pub(super) bytes_per_sec: Option<f64>,
    pub(super) threads: Option<u32>,
    pub(super) file_bytes: Option<u64>,
    pub(super) direct: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CpuHogFile {
    pub(super) threads: Option<u32>,
    pub(super) duty: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WriteRampFile {
    pub(super) cf: Option<String>,
    pub(super) factor: f64,
    pub(super) hold: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ValueSizeShiftFile {
    pub(super) cf: Option<String>,
    pub(super) value_size: ValueSizeFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SkewShiftFile {
    pub(super) cf: Option<String>,
    /// A name, checked by the validator (so that a bad one is located at this field).
    pub(super) distribution: Option<String>,
    pub(super) theta: Option<f64>,
    pub(super) hot_offset: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScanStormFile {
    pub(super) cf: Option<String>,
    pub(super) key_range: Option<[u64; 2]>,
    pub(super) scan_length: Option<ValueSizeFile>,
    pub(super) rate: Option<f64>,
    pub(super) threads: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RangeDeleteRetentionFile {
    pub(super) cf: Option<String>,
    pub(super) key_range: Option<[u64; 2]>,
    pub(super) period_s: Option<f64>,
    pub(super) keys_per_period: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiskFullFile {
    pub(super) disk_mb: Option<u64>,
}

// ----- the validated scenario (stage 2) ----------------------------------------------------

/// A validated scenario, times unscaled (seconds as written).
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name (the file stem unless `name` is set).
    pub name: String,
    /// One line saying what it shows.
    pub description: String,
    /// Seed of every generator (overridable on the command line).
    pub seed: u64,
    /// Runs per healer mode in `compare` (each with its own derived seed) unless the command
    /// line says otherwise.
    pub repeat: u32,
    /// Whether its trouble is an option change the healer could read back (`config`) or
    /// not (`latent`); reports split their aggregates by it.
    pub family: Family,
    /// The engine as opened at the start of every run.
    pub engine: EngineConfig,
    /// Phases, run in order.
    pub phases: Vec<Phase>,
    /// The `{ min, max }` ranges of the file and the values drawn for this instance (see
    /// [`Scenario::instantiate`]); empty for a scenario without ranges.
    pub sampling: super::Sampling,
}

/// A span of time (or a number of ops) running some workloads, with faults.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Name shown in reports.
    pub name: String,
    /// Length in seconds; `None` = until every workload has done its `ops`.
    pub duration_s: Option<f64>,
    /// Left out of the summary figures (loading, warming caches); still charted.
    pub warmup: bool,
    /// Workloads running at the same time.
    pub workloads: Vec<Workload>,
    /// Faults, timed from the phase's start.
    pub faults: Vec<Fault>,
}

/// One workload on one column family.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Which mix.
    pub kind: WorkloadKind,
    /// Logical column family.
    pub cf: String,
    /// Keys `0..key_space` make up the column family's data set.
    pub key_space: u64,
    /// The keys this workload touches (default the whole key space).
    pub key_range: (u64, u64),
    /// Value sizes written.
    pub value_size: ValueSize,
    /// Worker threads.
    pub threads: u32,
    /// Target ops/s over all threads (open loop); `None` = as fast as possible.
    pub rate: Option<f64>,
    /// Stop after this many ops (all threads together).
    pub ops: Option<u64>,
    /// Key distribution.
    pub distribution: Distribution,
    /// Entries read per scan, uniform in the range.
    pub scan_length: (u32, u32),
}

/// A fault injected `at_s` seconds into its phase.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Start, seconds from the phase start.
    pub at_s: f64,
    /// How long it lasts; `None` = until the end of the run (or instantaneous).
    pub duration_s: Option<f64>,
    /// What it does.
    pub kind: FaultKind,
}

/// What a fault does.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Multiplies the rate of the write-bearing workloads (of `cf`, or all) by `factor`.
    WriteBurst {
        /// Column family, `None` = every workload that writes.
        cf: Option<String>,
        /// Rate multiplier.
        factor: f64,
    },
    /// Moves the keys that workloads (of `cf`, or all) touch to `key_range`.
    WorkingSetShift {
        /// Column family, `None` = every workload.
        cf: Option<String>,
        /// New keys `[lo, hi)`.
        key_range: (u64, u64),
    },
    /// Cuts background work: compaction threads, jobs, and (optionally) auto compactions.
    CompactionStarvation {
        /// Column family whose auto compactions stop, `None` = all.
        cf: Option<String>,
        /// `max_background_jobs` during the fault.
        max_background_jobs: u64,
        /// `background_threads_low` (compaction pool) during the fault.
        background_threads_low: u64,
        /// Also set `disable_auto_compactions`.
        disable_auto_compactions: bool,
    },
    /// Deletes every key of `key_range` in order, as fast as `rate` allows.
    DeleteStorm {
        /// Column family.
        cf: String,
        /// Keys `[lo, hi)`.
        key_range: (u64, u64),
        /// Deletes/s over all storm threads, `None` = as fast as possible.
        rate: Option<f64>,
        /// Storm threads.
        threads: u32,
    },
    /// Flips `bytes` bytes in the middle of a live SST of `cf`.
    SstCorruption {
        /// Column family.
        cf: String,
        /// Bytes flipped.
        bytes: usize,
        /// Compact the column family right after, so a background job reads the damage.
        compact: bool,
    },
    /// Bad option values (tiny memtables, low L0 triggers, tiny cache …).
    Misconfiguration {
        /// Column family of `cf_changes`, `None` = all.
        cf: Option<String>,
        /// Column-family tunables.
        cf_changes: Vec<(Tunable, u64)>,
        /// DB/engine/process tunables.
        global_changes: Vec<(Tunable, u64)>,
    },
    /// Threads writing and fsyncing large files on the database's filesystem, beside (not
    /// inside) its directory: a neighbour taking device bandwidth.
    IoHog {
        /// Bytes/s over all threads, `None` = as fast as the device takes them.
        bytes_per_sec: Option<f64>,
        /// Writer threads.
        threads: u32,
        /// Size a file grows to before the thread moves to its other file (rewriting it).
        file_bytes: u64,
        /// Write with `O_DIRECT` (past the page cache), when the filesystem allows it.
        direct: bool,
    },
    /// Busy threads competing for the CPU with the workload and RocksDB's background jobs.
    CpuHog {
        /// Busy threads.
        threads: u32,
        /// Share of every 10 ms each thread spins, in (0, 1].
        duty: f64,
    },
    /// The rate of write-bearing workloads (of `cf`, or all) rises linearly from `rate` to
    /// `rate × factor` over `ramp_s`.
    WriteRamp {
        /// Column family, `None` = every workload that writes.
        cf: Option<String>,
        /// Rate multiplier reached at the end of the ramp.
        factor: f64,
        /// Length of the ramp, seconds as written (the fault's `duration_s`).
        ramp_s: f64,
        /// Keep `rate × factor` after the ramp until the run ends.
        hold: bool,
    },
    /// Values written (to `cf`, or all) take another size or size range.
    ValueSizeShift {
        /// Column family, `None` = every workload.
        cf: Option<String>,
        /// The new value sizes.
        value_size: ValueSize,
    },
    /// The key distribution of workloads (of `cf`, or all) changes inside their key range.
    SkewShift {
        /// Column family, `None` = every workload.
        cf: Option<String>,
        /// New distribution, `None` = each workload keeps its own.
        distribution: Option<Distribution>,
        /// Zipfian exponent of `zipfian` and `latest`, `None` = YCSB's 0.99.
        theta: Option<f64>,
        /// Keys by which the hot spots move (rotating within each workload's range).
        hot_offset: u64,
    },
    /// Long range scans beside the workload, from threads of their own.
    ScanStorm {
        /// Column family.
        cf: String,
        /// Keys `[lo, hi)` a scan starts in (uniformly).
        key_range: (u64, u64),
        /// Entries read per scan, uniform in the range.
        scan_length: (u32, u32),
        /// Scans/s over all storm threads, `None` = as fast as possible.
        rate: Option<f64>,
        /// Storm threads.
        threads: u32,
    },
    /// Time-series retention: every `period_s`, `delete_range` of the oldest
    /// `keys_per_period` keys of `key_range` not yet deleted.
    RangeDeleteRetention {
        /// Column family.
        cf: String,
        /// Keys `[lo, hi)` retention walks through, oldest (lowest) first.
        key_range: (u64, u64),
        /// Seconds between two range deletes (not scaled by the time scale: it is a rate).
        period_s: f64,
        /// Keys each range delete removes.
        keys_per_period: u64,
    },
    /// The database's file system runs out of space: a ballast file beside the database
    /// directory takes every free byte until the fault ends, then is removed. Only ever on a
    /// tmpfs of `disk_mb` MiB the run mounts for itself (see [`Scenario::disk_full_mb`]).
    DiskFull {
        /// Size of the tmpfs the run's database lives on, MiB.
        disk_mb: u64,
    },
}

/// The two kinds of trouble a scenario can bring (`family = "config" | "latent"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Option changes made through the Control surface (tiny memtables, low triggers, a tiny
    /// cache, starved compactions): a healer can read them back as a configuration diff.
    Config,
    /// Everything else: neighbours, load shapes, data shapes, deletes, corruption.
    Latent,
}

impl Family {
    /// Name as written in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Config => "config",
            Family::Latent => "latent",
        }
    }
}

impl FaultKind {
    /// Whether the fault is an option change through the Control surface.
    pub fn is_option_change(&self) -> bool {
        matches!(
            self,
            FaultKind::CompactionStarvation { .. } | FaultKind::Misconfiguration { .. }
        )
    }

    /// Name as written in scenario files (`kind = "..."`).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::WriteBurst { .. } => "write_burst",
            FaultKind::WorkingSetShift { .. } => "working_set_shift",
            FaultKind::CompactionStarvation { .. } => "compaction_starvation",
            FaultKind::DeleteStorm { .. } => "delete_storm",
            FaultKind::SstCorruption { .. } => "sst_corruption",
            FaultKind::Misconfiguration { .. } => "misconfiguration",
            FaultKind::IoHog { .. } => "io_hog",
            FaultKind::CpuHog { .. } => "cpu_hog",
            FaultKind::WriteRamp { .. } => "write_ramp",
            FaultKind::ValueSizeShift { .. } => "value_size_shift",
            FaultKind::SkewShift { .. } => "skew_shift",
            FaultKind::ScanStorm { .. } => "scan_storm",
            FaultKind::RangeDeleteRetention { .. } => "range_delete_retention",
            FaultKind::DiskFull { .. } => "disk_full",
        }
    }

    /// Every fault kind's name.
    pub const NAMES: [&'static str; 14] = [
        "write_burst",
        "working_set_shift",
        "compaction_starvation",
        "delete_storm",
        "sst_corruption",
        "misconfiguration",
        "io_hog",
        "cpu_hog",
        "write_ramp",
        "value_size_shift",
        "skew_shift",
        "scan_storm",
        "range_delete_retention",
        "disk_full",
    ];

    /// Whether the fault makes the database refuse writes while it lasts (the run counts
    /// the writes refused and times the first one accepted after it ends).
    pub fn refuses_writes(&self) -> bool {
        matches!(self, FaultKind::DiskFull { .. })
    }
}

impl Scenario {
    /// Seconds the timed phases add up to (op-count phases count as 0).
    pub fn planned_seconds(&self) -> f64 {
        self.phases.iter().filter_map(|p| p.duration_s).sum()
    }

    /// The size (MiB) of the tmpfs a run of this scenario puts its database on: the
    /// `disk_mb` of its `disk_full` faults (the validator makes them agree), `None` when it
    /// has none (the database then lives in an ordinary temporary directory).
    pub fn disk_full_mb(&self) -> Option<u64> {
        self.phases
            .iter()
            .flat_map(|p| &p.faults)
            .find_map(|f| match f.kind {
                FaultKind::DiskFull { disk_mb } => Some(disk_mb),
                _ => None,
            })
    }

    /// Every column family the scenario uses.
    pub fn column_families(&self) -> Vec<String> {
        let mut names = vec![lsmedic::engine::DEFAULT_CF.to_owned()];
        names.extend(self.engine.column_families.iter().map(|cf| cf.name.clone()));
        names
    }

    /// Every value size written to a column family, in a fixed order: its workloads' sizes
    /// (in the order they appear), then the sizes `value_size_shift` faults switch it to.
    /// The verifier stores each written key's index in this list.
    pub fn value_sizes(&self, cf: &str) -> Vec<ValueSize> {
        let workloads = self
            .phases
            .iter()
            .flat_map(|p| &p.workloads)
            .filter(|w| w.cf == cf)
            .map(|w| w.value_size);
        let shifts = self
            .phases
            .iter()
            .flat_map(|p| &p.faults)
            .filter_map(|f| match &f.kind {
                FaultKind::ValueSizeShift {
                    cf: target,
                    value_size,
                } if target.as_deref().is_none_or(|t| t == cf) => Some(*value_size),
                _ => None,
            });
        let mut sizes: Vec<ValueSize> = Vec::new();
        for size in workloads.chain(shifts) {
            if !sizes.contains(&size) {
                sizes.push(size);
            }
        }
        sizes
    }

    /// The key space of a column family (largest declared by its workloads).
    pub fn key_space(&self, cf: &str) -> u64 {
        self.phases
            .iter()
            .flat_map(|p| &p.workloads)
            .filter(|w| w.cf == cf)
            .map(|w| w.key_space)
            .max()
            .unwrap_or(0)
    }
}
