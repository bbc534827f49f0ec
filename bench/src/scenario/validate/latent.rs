//! Fields of the fault kinds that are not an option change: neighbours on the machine
//! (`io_hog`, `cpu_hog`), changes in what the workload sends (`write_ramp`,
//! `value_size_shift`, `skew_shift`), extra operations beside it (`scan_storm`,
//! `range_delete_retention`) and a full disk (`disk_full`). Every error names the field it is
//! about.

use super::super::schema::*;
use super::super::span::FieldPath;
use super::super::{ScenarioError, MAX_KEY_SPACE, MAX_THREADS, MAX_VALUE_BYTES};
use super::{FaultSite, Validator};
use crate::keygen::{Distribution, ValueSize, KEY_BYTES, MAX_VALUE_SIZE_CLASSES};

/// Slowest `io_hog` byte rate: one 256 KiB chunk every four seconds.
const MIN_IO_BYTES_PER_SEC: f64 = 65_536.0;
/// Fastest `io_hog` byte rate (beyond any device: as good as flat out).
const MAX_IO_BYTES_PER_SEC: f64 = 1e12;
/// `io_hog` file sizes.
const MIN_IO_FILE_BYTES: u64 = 1 << 20;
const MAX_IO_FILE_BYTES: u64 = 16 << 30;
/// Disk an `io_hog` may fill at once: two files of `file_bytes` per thread.
const MAX_IO_DISK_BYTES: u64 = 64 << 30;
/// Default `io_hog` file size.
const DEFAULT_IO_FILE_BYTES: u64 = 256 << 20;
/// Longest `scan_storm` scan.
const MAX_STORM_SCAN: u32 = 1_000_000;
/// Default `scan_storm` scan lengths: analytics, not point lookups.
const DEFAULT_STORM_SCAN: (u32, u32) = (1_000, 10_000);
/// Default size (MiB) of the tmpfs a `disk_full` scenario runs on.
pub(crate) const DEFAULT_DISK_MB: u64 = 256;
/// Smallest `disk_full` tmpfs: RocksDB's files, a WAL and room to reopen must fit.
const MIN_DISK_MB: u64 = 32;
/// Largest `disk_full` tmpfs: the ballast fills it, and a tmpfs lives in memory.
const MAX_DISK_MB: u64 = 4096;

impl Validator<'_, '_> {
    /// Thread counts of fault threads: 1 by default, at most [`MAX_THREADS`].
    fn fault_threads(&self, path: &FieldPath, threads: Option<u32>) -> Result<u32, ScenarioError> {
        let threads = threads.unwrap_or(1);
        if (1..=MAX_THREADS).contains(&threads) {
            Ok(threads)
        } else {
            Err(self.r.at(path, format!("must be in 1..={MAX_THREADS}")))
        }
    }

    /// The keys a storm works on: `key_range` as given, else the key space the phase's
    /// workloads give the column family.
    fn storm_range(
        &self,
        site: &FaultSite<'_>,
        cf: &str,
        key_range: Option<[u64; 2]>,
    ) -> Result<(u64, u64), ScenarioError> {
        let path = site.path.key("key_range");
        let limit = (site.key_space)(cf);
        match key_range {
            Some(range) => self.key_range(&path, range, limit.min(MAX_KEY_SPACE)),
            None if limit == u64::MAX => Err(self.r.at(
                site.path,
                format!("no workload of this phase uses column family {cf:?}: give key_range"),
            )),
            None => Ok((0, limit)),
        }
    }

    pub(super) fn io_hog(
        &self,
        site: &FaultSite<'_>,
        f: IoHogFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        if let Some(rate) = f.bytes_per_sec {
            if !(rate.is_finite() && (MIN_IO_BYTES_PER_SEC..=MAX_IO_BYTES_PER_SEC).contains(&rate))
            {
                return Err(self.r.at(
                    &path.key("bytes_per_sec"),
                    format!(
                        "must be bytes/s from {MIN_IO_BYTES_PER_SEC} to {MAX_IO_BYTES_PER_SEC:e} \
                         (omit it to write flat out), got {rate}"
                    ),
                ));
            }
        }
        let threads = self.fault_threads(&path.key("threads"), f.threads)?;
        let file_bytes = f.file_bytes.unwrap_or(DEFAULT_IO_FILE_BYTES);
        if !(MIN_IO_FILE_BYTES..=MAX_IO_FILE_BYTES).contains(&file_bytes) {
            return Err(self.r.at(
                &path.key("file_bytes"),
                format!("must be in {MIN_IO_FILE_BYTES}..={MAX_IO_FILE_BYTES}, got {file_bytes}"),
            ));
        }
        if u64::from(threads) * 2 * file_bytes > MAX_IO_DISK_BYTES {
            return Err(self.r.at(
                &path.key("file_bytes"),
                format!(
                    "threads x 2 files x file_bytes must stay within {MAX_IO_DISK_BYTES} bytes \
                     of disk, got {threads} x 2 x {file_bytes}"
                ),
            ));
        }
        Ok(FaultKind::IoHog {
            bytes_per_sec: f.bytes_per_sec,
            threads,
            file_bytes,
            direct: f.direct.unwrap_or(false),
        })
    }

    pub(super) fn cpu_hog(
        &self,
        site: &FaultSite<'_>,
        f: CpuHogFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        let threads = self.fault_threads(&path.key("threads"), f.threads)?;
        let duty = f.duty.unwrap_or(1.0);
        if !(duty.is_finite() && duty > 0.0 && duty <= 1.0) {
            return Err(self.r.at(
                &path.key("duty"),
                format!("must be the busy share of each 10 ms, in (0, 1], got {duty}"),
            ));
        }
        Ok(FaultKind::CpuHog { threads, duty })
    }

    pub(super) fn write_ramp(
        &self,
        site: &FaultSite<'_>,
        f: WriteRampFile,
        duration_s: Option<f64>,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        if !(f.factor.is_finite() && f.factor > 0.0 && f.factor <= 1000.0) {
            return Err(self.r.at(
                &path.key("factor"),
                "must be a rate multiplier in (0, 1000]",
            ));
        }
        let Some(ramp_s) = duration_s else {
            return Err(self.r.at(
                path,
                "write_ramp rises over its duration: set duration_s (hold = true keeps the \
                 last rate afterwards)",
            ));
        };
        Ok(FaultKind::WriteRamp {
            cf: self.optional_cf(&path.key("cf"), f.cf, site.column_families)?,
            factor: f.factor,
            ramp_s,
            hold: f.hold.unwrap_or(false),
        })
    }

    pub(super) fn value_size_shift(
        &self,
        site: &FaultSite<'_>,
        f: ValueSizeShiftFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        Ok(FaultKind::ValueSizeShift {
            cf: self.optional_cf(&path.key("cf"), f.cf, site.column_families)?,
            value_size: self.sizes(
                &path.key("value_size"),
                Some(f.value_size),
                (1, 1),
                MAX_VALUE_BYTES,
            )?,
        })
    }

    pub(super) fn skew_shift(
        &self,
        site: &FaultSite<'_>,
        f: SkewShiftFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        if f.distribution.is_none() && f.theta.is_none() && f.hot_offset.is_none() {
            return Err(self
                .r
                .at(path, "skew_shift needs distribution, theta or hot_offset"));
        }
        let distribution = match f.distribution.as_deref() {
            None => None,
            Some(name) => Some(
                [
                    Distribution::Uniform,
                    Distribution::Zipfian,
                    Distribution::Latest,
                ]
                .into_iter()
                .find(|d| d.name() == name)
                .ok_or_else(|| {
                    self.r.at(
                        &path.key("distribution"),
                        format!("unknown distribution {name:?}; one of: uniform, zipfian, latest"),
                    )
                })?,
            ),
        };
        if let Some(theta) = f.theta {
            if !(theta.is_finite() && theta > 0.0 && theta < 1.0) {
                return Err(self.r.at(
                    &path.key("theta"),
                    format!("must be a zipfian exponent in (0, 1), got {theta}"),
                ));
            }
            if distribution == Some(Distribution::Uniform) {
                return Err(self.r.at(
                    &path.key("theta"),
                    "theta shapes zipfian and latest, not uniform",
                ));
            }
        }
        let cf = self.optional_cf(&path.key("cf"), f.cf, site.column_families)?;
        let hot_offset = f.hot_offset.unwrap_or(0);
        let limit = match cf.as_deref() {
            Some(cf) => (site.key_space)(cf),
            None => site
                .column_families
                .iter()
                .map(|cf| (site.key_space)(cf))
                .min()
                .unwrap_or(u64::MAX),
        };
        if hot_offset >= limit.min(MAX_KEY_SPACE) {
            return Err(self.r.at(
                &path.key("hot_offset"),
                format!(
                    "must be below the key space ({}), got {hot_offset}",
                    limit.min(MAX_KEY_SPACE)
                ),
            ));
        }
        Ok(FaultKind::SkewShift {
            cf,
            distribution,
            theta: f.theta,
            hot_offset,
        })
    }

    pub(super) fn scan_storm(
        &self,
        site: &FaultSite<'_>,
        f: ScanStormFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        let cf = self.cf(&path.key("cf"), f.cf, site.column_families)?;
        let key_range = self.storm_range(site, &cf, f.key_range)?;
        let scan = self.sizes(
            &path.key("scan_length"),
            f.scan_length,
            DEFAULT_STORM_SCAN,
            MAX_STORM_SCAN,
        )?;
        Ok(FaultKind::ScanStorm {
            key_range,
            scan_length: (scan.min, scan.max),
            rate: f
                .rate
                .map(|r| self.positive(&path.key("rate"), r))
                .transpose()?,
            threads: self.fault_threads(&path.key("threads"), f.threads)?,
            cf,
        })
    }

    pub(super) fn range_delete_retention(
        &self,
        site: &FaultSite<'_>,
        f: RangeDeleteRetentionFile,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        let cf = self.cf(&path.key("cf"), f.cf, site.column_families)?;
        let key_range = self.storm_range(site, &cf, f.key_range)?;
        let period_s = self.positive(&path.key("period_s"), f.period_s.unwrap_or(1.0))?;
        let width = key_range.1 - key_range.0;
        if !(1..=width).contains(&f.keys_per_period) {
            return Err(self.r.at(
                &path.key("keys_per_period"),
                format!(
                    "must be in 1..={width} (the width of key_range), got {}",
                    f.keys_per_period
                ),
            ));
        }
        Ok(FaultKind::RangeDeleteRetention {
            cf,
            key_range,
            period_s,
            keys_per_period: f.keys_per_period,
        })
    }

    pub(super) fn disk_full(
        &self,
        site: &FaultSite<'_>,
        f: DiskFullFile,
        duration_s: Option<f64>,
    ) -> Result<FaultKind, ScenarioError> {
        let path = site.path;
        let disk_mb = f.disk_mb.unwrap_or(DEFAULT_DISK_MB);
        if !(MIN_DISK_MB..=MAX_DISK_MB).contains(&disk_mb) {
            return Err(self.r.at(
                &path.key("disk_mb"),
                format!(
                    "must be in {MIN_DISK_MB}..={MAX_DISK_MB} MiB (the run mounts a tmpfs of \
                     this size, in memory, and fills it), got {disk_mb}"
                ),
            ));
        }
        if duration_s.is_none() {
            return Err(self.r.at(
                path,
                "disk_full needs duration_s: the disk is freed when the fault ends, and the run \
                 times how soon writes are accepted again",
            ));
        }
        Ok(FaultKind::DiskFull { disk_mb })
    }

    /// A scenario with `disk_full` runs on one tmpfs of `disk_mb` MiB: its faults must agree
    /// on the size, the engine must reopen with at most a quarter of it free
    /// (`engine.recovery.min_free_mb`), and what the workloads write must fit beside that.
    pub(super) fn disk_full_space(&self, phases: &[Phase]) -> Result<(), ScenarioError> {
        let mut disk: Option<u64> = None;
        for (i, phase) in phases.iter().enumerate() {
            for (j, fault) in phase.faults.iter().enumerate() {
                let FaultKind::DiskFull { disk_mb } = fault.kind else {
                    continue;
                };
                let fault_path = FieldPath::root()
                    .key("phases")
                    .index(i)
                    .key("faults")
                    .index(j);
                // Located at `disk_mb` when the file writes it, else at the fault.
                let at = |message: String| {
                    let err = self.r.at(&fault_path.key("disk_mb"), message.clone());
                    if err.line.is_some() {
                        err
                    } else {
                        self.r.at(&fault_path, message)
                    }
                };
                if let Some(first) = disk.filter(|first| *first != disk_mb) {
                    return Err(at(format!(
                        "every disk_full fault of a scenario acts on the same tmpfs: disk_mb \
                         must be {first} like the first one's, got {disk_mb}"
                    )));
                }
                disk = Some(disk_mb);
                let min_free = self.engine.recovery.min_free_mb;
                if min_free.saturating_mul(4) > disk_mb {
                    return Err(at(format!(
                        "the engine reopens only once engine.recovery.min_free_mb ({min_free} \
                         MiB) is free, more than a quarter of this {disk_mb} MiB disk: set \
                         [engine.recovery] min_free_mb = {} or less, or a larger disk_mb",
                        disk_mb / 4
                    )));
                }
                let data_mb = written_bytes(phases).div_ceil(1 << 20);
                let need = data_mb.saturating_mul(2).saturating_add(min_free);
                if need > disk_mb {
                    return Err(at(format!(
                        "too small for the data: the workloads write up to ~{data_mb} MiB (key \
                         space x ({KEY_BYTES}-byte key + largest value) per column family written), \
                         RocksDB needs about twice that on disk, and the engine needs \
                         {min_free} MiB free to reopen (engine.recovery.min_free_mb): disk_mb \
                         must be at least {need}, got {disk_mb}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The verifier keeps a value-size class of [`MAX_VALUE_SIZE_CLASSES`] values per key:
    /// the distinct value sizes written to one column family (by its workloads and
    /// `value_size_shift` faults) must fit.
    pub(super) fn value_size_classes(
        &self,
        phases: &[Phase],
        column_families: &[String],
    ) -> Result<(), ScenarioError> {
        let phase_path = |i: usize| FieldPath::root().key("phases").index(i);
        let workloads = phases.iter().enumerate().flat_map(|(i, p)| {
            p.workloads.iter().enumerate().map(move |(j, w)| {
                (
                    phase_path(i).key("workloads").index(j).key("value_size"),
                    Some(w.cf.as_str()),
                    w.value_size,
                )
            })
        });
        let shifts = phases.iter().enumerate().flat_map(|(i, p)| {
            p.faults
                .iter()
                .enumerate()
                .filter_map(move |(j, f)| match &f.kind {
                    FaultKind::ValueSizeShift { cf, value_size } => Some((
                        phase_path(i).key("faults").index(j).key("value_size"),
                        cf.as_deref(),
                        *value_size,
                    )),
                    _ => None,
                })
        });
        let mut seen: Vec<(String, Vec<ValueSize>)> = column_families
            .iter()
            .map(|cf| (cf.clone(), Vec::new()))
            .collect();
        for (path, target, size) in workloads.chain(shifts) {
            for (cf, sizes) in &mut seen {
                if target.is_some_and(|t| t != cf) || sizes.contains(&size) {
                    continue;
                }
                if sizes.len() == MAX_VALUE_SIZE_CLASSES {
                    return Err(self.r.at(
                        &path,
                        format!(
                            "column family {:?} would be written with more than \
                             {MAX_VALUE_SIZE_CLASSES} distinct value sizes",
                            cf.as_str()
                        ),
                    ));
                }
                sizes.push(size);
            }
        }
        Ok(())
    }
}

/// Bytes of live data the write-bearing workloads can leave: per column family they write
/// to, its key space times (key + the largest value any of its writers or
/// `value_size_shift` faults writes).
fn written_bytes(phases: &[Phase]) -> u64 {
    let mut per_cf: Vec<(&str, u64, u64)> = Vec::new();
    for workload in phases
        .iter()
        .flat_map(|p| &p.workloads)
        .filter(|w| w.kind.writes())
    {
        let value = u64::from(workload.value_size.max);
        match per_cf.iter_mut().find(|(cf, _, _)| *cf == workload.cf) {
            Some((_, keys, largest)) => {
                *keys = (*keys).max(workload.key_space);
                *largest = (*largest).max(value);
            }
            None => per_cf.push((&workload.cf, workload.key_space, value)),
        }
    }
    for fault in phases.iter().flat_map(|p| &p.faults) {
        if let FaultKind::ValueSizeShift { cf, value_size } = &fault.kind {
            for (name, _, largest) in &mut per_cf {
                if cf.as_deref().is_none_or(|c| c == *name) {
                    *largest = (*largest).max(u64::from(value_size.max));
                }
            }
        }
    }
    per_cf
        .iter()
        .map(|(_, keys, largest)| keys.saturating_mul(KEY_BYTES as u64 + largest))
        .fold(0, u64::saturating_add)
}
