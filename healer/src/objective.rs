//! The objective the healer optimises and verifies against: per tick, the p99 latency of
//! foreground operations, their throughput, and the resources the tunables commit.
//!
//! Comparisons are relative and scale-free: each component changes by `ln(after / before)`
//! (clipped to ±3), and the weighted score is
//! `−w_lat·Δlatency + w_tp·Δthroughput − w_res·Δresources`, so 0 means "no change" and
//! −0.1 means "about 10 % worse" whatever the engine's absolute speed.
//!
//! Resources are measured from the tunables, not from the machine: memory committed to the
//! block cache and memtables, and background jobs, relative to what they were when the
//! healer started (`1.0` = as configured). Doubling the memory adds 0.5, doubling the jobs
//! 0.25.
//!
//! Verify-after-act judges an action by its **service score**: the latency and throughput
//! terms only, renormalised over their two weights. The resources an action spends were
//! priced by the policy when it chose the action (its expected effect is weighted by
//! `w_res`); what verification must catch is the unintended harm (more compaction threads
//! starving foreground reads, a memtable change slowing writes), and the benefit of buying
//! resources against a backlog often shows only after the measuring window. The full
//! weighted score is still reported in the audit log.

use lsmedic_telemetry::{Tunable, Tunables};
use serde::{Deserialize, Serialize};

use crate::config::Weights;
use crate::observation::Observation;

/// Below this many operations per second on both sides a comparison is inconclusive.
pub const MIN_THROUGHPUT_OPS_PER_SEC: f64 = 10.0;

/// Relative changes are clipped to ±this (in natural-log units).
pub const MAX_LOG_CHANGE: f64 = 3.0;

/// The objective components of one tick (or a mean over ticks).
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveSample {
    /// The larger of the write and read p99 latencies, µs; `None` without operations.
    pub latency_us: Option<f64>,
    /// Completed operations per second.
    pub throughput_ops_per_sec: f64,
    /// Resources committed, relative to the start (1.0 = as configured).
    pub resource_units: f64,
    /// Fraction of the tick writers spent in RocksDB stalls (reported, not scored: stalls
    /// already show in latency and throughput).
    pub stall_fraction: f64,
}

/// Resource levels at the start, the reference of `resource_units`.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceBaseline {
    /// Block cache + memtable budgets, bytes.
    pub memory_bytes: f64,
    /// `max_background_jobs`.
    pub background_jobs: f64,
}

fn memory_bytes(tunables: &Tunables) -> f64 {
    let cache = tunables.global(Tunable::BlockCacheCapacity).unwrap_or(0) as f64;
    let memtables: f64 = tunables
        .cfs
        .values()
        .map(|values| {
            let size = values
                .get(&Tunable::WriteBufferSize)
                .copied()
                .unwrap_or(Tunable::WriteBufferSize.rocksdb_default())
                as f64;
            let count = values
                .get(&Tunable::MaxWriteBufferNumber)
                .copied()
                .unwrap_or(Tunable::MaxWriteBufferNumber.rocksdb_default())
                as f64;
            size * count
        })
        .sum();
    cache + memtables
}

fn background_jobs(tunables: &Tunables) -> f64 {
    tunables
        .global(Tunable::MaxBackgroundJobs)
        .unwrap_or(Tunable::MaxBackgroundJobs.rocksdb_default()) as f64
}

impl ResourceBaseline {
    /// The baseline of `tunables`.
    pub fn of(tunables: &Tunables) -> ResourceBaseline {
        ResourceBaseline {
            memory_bytes: memory_bytes(tunables).max(1.0),
            background_jobs: background_jobs(tunables).max(1.0),
        }
    }

    /// Resource units of `tunables` against this baseline.
    pub fn units(&self, tunables: &Tunables) -> f64 {
        1.0 + 0.5 * (memory_bytes(tunables) / self.memory_bytes - 1.0)
            + 0.25 * (background_jobs(tunables) / self.background_jobs - 1.0)
    }
}

impl ObjectiveSample {
    /// The objective of one tick.
    pub fn measure(
        observation: &Observation,
        tunables: &Tunables,
        baseline: &ResourceBaseline,
    ) -> ObjectiveSample {
        ObjectiveSample {
            latency_us: observation.global.p99_latency_us(),
            throughput_ops_per_sec: observation.global.ops_per_sec,
            resource_units: baseline.units(tunables),
            stall_fraction: observation.global.stall_fraction,
        }
    }

    /// Mean of samples (latency over the samples that have one); `None` for none.
    pub fn mean<'a>(
        samples: impl IntoIterator<Item = &'a ObjectiveSample>,
    ) -> Option<ObjectiveSample> {
        let mut count = 0usize;
        let mut latency_sum = 0.0;
        let mut latency_count = 0usize;
        let mut sum = ObjectiveSample::default();
        for sample in samples {
            count += 1;
            if let Some(latency) = sample.latency_us {
                latency_sum += latency;
                latency_count += 1;
            }
            sum.throughput_ops_per_sec += sample.throughput_ops_per_sec;
            sum.resource_units += sample.resource_units;
            sum.stall_fraction += sample.stall_fraction;
        }
        if count == 0 {
            return None;
        }
        let n = count as f64;
        Some(ObjectiveSample {
            latency_us: (latency_count > 0).then(|| latency_sum / latency_count as f64),
            throughput_ops_per_sec: sum.throughput_ops_per_sec / n,
            resource_units: sum.resource_units / n,
            stall_fraction: sum.stall_fraction / n,
        })
    }
}

/// `after` against `before`, component by component and weighted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveComparison {
    /// `ln(after / before)` of latency (positive = slower).
    pub latency_change: f64,
    /// `ln(after / before)` of throughput (positive = more).
    pub throughput_change: f64,
    /// `ln(after / before)` of resources (positive = more spent).
    pub resources_change: f64,
    /// Weighted score of all three components: positive = better, negative = worse.
    pub score: f64,
    /// Latency and throughput only, weights renormalised over the two (0 when both weights
    /// are 0): what verify-after-act rolls back on.
    pub service_score: f64,
}

fn log_change(before: f64, after: f64, floor: f64) -> f64 {
    (after.max(floor) / before.max(floor))
        .ln()
        .clamp(-MAX_LOG_CHANGE, MAX_LOG_CHANGE)
}

impl ObjectiveComparison {
    /// Compares two means; `None` when there was too little traffic to judge.
    pub fn between(
        before: &ObjectiveSample,
        after: &ObjectiveSample,
        weights: &Weights,
    ) -> Option<ObjectiveComparison> {
        if before.throughput_ops_per_sec < MIN_THROUGHPUT_OPS_PER_SEC
            && after.throughput_ops_per_sec < MIN_THROUGHPUT_OPS_PER_SEC
        {
            return None;
        }
        let latency_change = match (before.latency_us, after.latency_us) {
            (Some(b), Some(a)) => log_change(b, a, 1.0),
            _ => 0.0,
        };
        let throughput_change = log_change(
            before.throughput_ops_per_sec,
            after.throughput_ops_per_sec,
            1.0,
        );
        let resources_change = log_change(before.resource_units, after.resource_units, 1e-3);
        let service = -weights.latency * latency_change + weights.throughput * throughput_change;
        let score = service - weights.resources * resources_change;
        let service_weight = weights.latency + weights.throughput;
        let service_score = if service_weight > 0.0 {
            service / service_weight
        } else {
            0.0
        };
        Some(ObjectiveComparison {
            latency_change,
            throughput_change,
            resources_change,
            score,
            service_score,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(latency_us: f64, ops: f64, resources: f64) -> ObjectiveSample {
        ObjectiveSample {
            latency_us: Some(latency_us),
            throughput_ops_per_sec: ops,
            resource_units: resources,
            stall_fraction: 0.0,
        }
    }

    #[test]
    fn slower_is_worse_and_weights_decide_trade_offs() {
        let w = Weights::default();
        let before = sample(100.0, 1000.0, 1.0);
        let slower = ObjectiveComparison::between(&before, &sample(200.0, 1000.0, 1.0), &w)
            .expect("traffic");
        assert!(slower.score < -0.2, "{slower:?}");
        // 30 % more throughput for 25 % more resources: good for a throughput-heavy operator,
        // bad for a resource-heavy one.
        let after = sample(100.0, 1300.0, 1.25);
        let tp = Weights::new(0.0, 1.0, 0.2).expect("w");
        let res = Weights::new(0.0, 0.2, 1.0).expect("w");
        assert!(
            ObjectiveComparison::between(&before, &after, &tp)
                .expect("c")
                .score
                > 0.0
        );
        assert!(
            ObjectiveComparison::between(&before, &after, &res)
                .expect("c")
                .score
                < 0.0
        );
    }

    #[test]
    fn idle_engine_is_inconclusive_and_changes_are_clipped() {
        let w = Weights::default();
        assert!(
            ObjectiveComparison::between(&sample(1.0, 0.0, 1.0), &sample(9.0, 1.0, 1.0), &w)
                .is_none()
        );
        let c = ObjectiveComparison::between(&sample(1.0, 1e6, 1.0), &sample(1e9, 1e6, 1.0), &w)
            .expect("c");
        assert_eq!(c.latency_change, MAX_LOG_CHANGE);
    }

    #[test]
    fn mean_skips_ticks_without_latency() {
        let mut quiet = sample(0.0, 0.0, 1.0);
        quiet.latency_us = None;
        let mean = ObjectiveSample::mean(&[sample(100.0, 10.0, 1.0), quiet]).expect("mean");
        assert_eq!(mean.latency_us, Some(100.0));
        assert_eq!(mean.throughput_ops_per_sec, 5.0);
        assert!(ObjectiveSample::mean(&[]).is_none());
    }

    #[test]
    fn resources_follow_memory_and_jobs() {
        let mut tunables = Tunables::default();
        tunables.global.insert(Tunable::BlockCacheCapacity, 100);
        tunables.global.insert(Tunable::MaxBackgroundJobs, 2);
        let baseline = ResourceBaseline::of(&tunables);
        assert!((baseline.units(&tunables) - 1.0).abs() < 1e-12);
        tunables.global.insert(Tunable::BlockCacheCapacity, 200);
        tunables.global.insert(Tunable::MaxBackgroundJobs, 4);
        assert!((baseline.units(&tunables) - 1.75).abs() < 1e-12);
    }
}
