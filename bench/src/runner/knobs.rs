//! The knobs faults turn in running workers, per column family ([`CfControl`]): a write-rate
//! multiplier (`write_burst`), a working-set range (`working_set_shift`), a write-rate ramp
//! (`write_ramp`), a value-size class (`value_size_shift`) and a key-distribution shape
//! (`skew_shift`).
//!
//! Workers read the knobs on every op, so reading never blocks: the ramp, size and shape
//! live in an [`Override`], whose generation counter a worker compares with the copy it
//! holds ([`Cached`]) and only on a change takes the lock. When two faults of one kind
//! overlap on a column family the later one is in force; lifting one that is no longer in
//! force changes nothing, lifting the one in force restores the workload's own behaviour.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::keygen::{Distribution, KeyChooser, Zipfian};

/// A value a fault imposes on the workers of a column family for a while.
pub(crate) struct Override<T> {
    /// Bumped on every change, after the value is in place.
    generation: AtomicU64,
    /// The fault in force (its id) and its value.
    current: Mutex<Option<(u64, T)>>,
}

impl<T: Clone> Override<T> {
    fn new() -> Override<T> {
        Override {
            generation: AtomicU64::new(0),
            current: Mutex::new(None),
        }
    }

    /// Puts fault `id`'s `value` in force (replacing any other).
    pub(crate) fn set(&self, id: u64, value: T) {
        *self.current.lock() = Some((id, value));
        // Release: a worker that sees the new generation finds the new value under the lock.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Lifts fault `id`'s value, if it is still the one in force.
    pub(crate) fn clear(&self, id: u64) {
        let mut current = self.current.lock();
        if current.as_ref().is_some_and(|(held, _)| *held == id) {
            *current = None;
            drop(current);
            self.generation.fetch_add(1, Ordering::Release);
        }
    }
}

/// A worker's copy of an [`Override`], refreshed when its generation moves.
pub(super) struct Cached<T> {
    generation: u64,
    /// The value in force, `None`: the workload's own.
    pub(super) value: Option<T>,
}

impl<T: Clone> Cached<T> {
    /// The state of a fresh [`Override`] (generation 0, nothing in force).
    pub(super) fn new() -> Cached<T> {
        Cached {
            generation: 0,
            value: None,
        }
    }

    /// Takes the override's value if it changed since the last call (one atomic load when
    /// it did not).
    #[inline]
    pub(super) fn refresh(&mut self, source: &Override<T>) {
        let generation = source.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.value = source.current.lock().as_ref().map(|(_, v)| v.clone());
            self.generation = generation;
        }
    }
}

/// A linear rise of the write rate: × 1 at `start`, × `factor` after `length`, and (while the
/// fault holds) × `factor` from then on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ramp {
    /// When the ramp starts.
    pub(crate) start: Instant,
    /// How long it takes to reach `factor`.
    pub(crate) length: Duration,
    /// Rate multiplier at the top.
    pub(crate) factor: f64,
}

impl Ramp {
    /// The multiplier at `now`.
    #[inline]
    pub(crate) fn multiplier(&self, now: Instant) -> f64 {
        let progress = if self.length.is_zero() {
            1.0
        } else {
            (now.saturating_duration_since(self.start).as_secs_f64() / self.length.as_secs_f64())
                .min(1.0)
        };
        1.0 + (self.factor - 1.0) * progress
    }
}

/// A changed key distribution: one chooser per distribution a workload may have, sharing
/// one zipfian table.
#[derive(Debug)]
pub(crate) struct Skew {
    /// Imposed on every workload, `None`: each keeps its own (reshaped).
    distribution: Option<Distribution>,
    uniform: KeyChooser,
    zipfian: KeyChooser,
    latest: KeyChooser,
}

impl Skew {
    /// A skew over a column family of `key_space` keys; the zipfian table (O(key space)) is
    /// built here, once, rather than by every worker.
    pub(crate) fn new(
        distribution: Option<Distribution>,
        theta: f64,
        hot_offset: u64,
        key_space: u64,
    ) -> Skew {
        let needs_table = distribution != Some(Distribution::Uniform);
        let table = Zipfian::new(if needs_table { key_space.max(1) } else { 1 }, theta);
        let chooser = |d| KeyChooser::with_table(d, &table, hot_offset);
        Skew {
            distribution,
            uniform: chooser(Distribution::Uniform),
            zipfian: chooser(Distribution::Zipfian),
            latest: chooser(Distribution::Latest),
        }
    }

    /// The chooser for a workload whose own distribution is `own`.
    pub(super) fn chooser(&self, own: Distribution) -> &KeyChooser {
        match self.distribution.unwrap_or(own) {
            Distribution::Uniform => &self.uniform,
            Distribution::Zipfian => &self.zipfian,
            Distribution::Latest => &self.latest,
        }
    }
}

/// Knobs faults turn while workers run, per column family.
pub(crate) struct CfControl {
    /// Rate multiplier of write-bearing workloads (f64 bits).
    write_multiplier: AtomicU64,
    /// Working-set override: active flag and `[lo, hi)`.
    shifted: AtomicBool,
    shift_lo: AtomicU64,
    shift_hi: AtomicU64,
    /// A rising write rate, on top of the multiplier.
    pub(crate) ramp: Override<Ramp>,
    /// Index of the value size written instead of the workload's own (in the column
    /// family's verifier sizes).
    pub(crate) size_class: Override<u32>,
    /// Another key distribution.
    pub(crate) skew: Override<Arc<Skew>>,
}

impl CfControl {
    /// Writes at the workload's own rate, keys from its own range.
    pub(super) fn new() -> CfControl {
        CfControl {
            write_multiplier: AtomicU64::new(1f64.to_bits()),
            shifted: AtomicBool::new(false),
            shift_lo: AtomicU64::new(0),
            shift_hi: AtomicU64::new(0),
            ramp: Override::new(),
            size_class: Override::new(),
            skew: Override::new(),
        }
    }

    /// The burst multiplier (without the ramp).
    pub(super) fn multiplier(&self) -> f64 {
        f64::from_bits(self.write_multiplier.load(Ordering::Relaxed))
    }

    /// Multiplies the write rate by `factor` (divide to undo).
    pub fn scale_writes(&self, factor: f64) {
        let _ = self
            .write_multiplier
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) * factor).to_bits())
            });
    }

    /// Moves the working set to `[lo, hi)`, or back (`None`).
    pub fn shift(&self, range: Option<(u64, u64)>) {
        if let Some((lo, hi)) = range {
            self.shift_lo.store(lo, Ordering::Relaxed);
            self.shift_hi.store(hi, Ordering::Relaxed);
        }
        self.shifted.store(range.is_some(), Ordering::Release);
    }

    /// The keys workloads touch: the shifted range, or `default`.
    pub(super) fn range(&self, default: (u64, u64)) -> (u64, u64) {
        if self.shifted.load(Ordering::Acquire) {
            (
                self.shift_lo.load(Ordering::Relaxed),
                self.shift_hi.load(Ordering::Relaxed),
            )
        } else {
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_rises_linearly_and_stays_at_its_top() {
        let start = Instant::now();
        let ramp = Ramp {
            start,
            length: Duration::from_secs(10),
            factor: 5.0,
        };
        assert_eq!(ramp.multiplier(start), 1.0);
        assert!((ramp.multiplier(start + Duration::from_secs(5)) - 3.0).abs() < 1e-9);
        assert_eq!(ramp.multiplier(start + Duration::from_secs(60)), 5.0);
    }

    #[test]
    fn lifting_an_overridden_value_keeps_the_one_in_force() {
        let knob: Override<u32> = Override::new();
        let mut seen = Cached::new();
        seen.refresh(&knob);
        assert_eq!(seen.value, None);
        knob.set(1, 10);
        knob.set(2, 20);
        knob.clear(1);
        seen.refresh(&knob);
        assert_eq!(
            seen.value,
            Some(20),
            "fault 2 came later and is still in force"
        );
        knob.clear(2);
        seen.refresh(&knob);
        assert_eq!(seen.value, None);
    }

    #[test]
    fn a_skew_reshapes_each_workload_or_imposes_one_distribution() {
        let keep = Skew::new(None, 0.99, 0, 1_000);
        let latest = keep.chooser(Distribution::Latest);
        let mut rng = crate::keygen::Rng::new(1);
        let newest = (0..1_000)
            .filter(|_| latest.next(&mut rng, 0, 1_000, 1_000) >= 900)
            .count();
        assert!(
            newest > 500,
            "latest stays latest: {newest} of 1000 in the newest tenth"
        );
        let uniform = Skew::new(Some(Distribution::Uniform), 0.99, 0, 1_000);
        assert!(std::ptr::eq(
            uniform.chooser(Distribution::Zipfian),
            uniform.chooser(Distribution::Latest)
        ));
    }
}
