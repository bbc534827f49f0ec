//! Latency and throughput accounting of the load generator.
//!
//! Every op's latency runs from its *intended* start (the open-loop schedule) to its end, so
//! time spent queued behind a stalled op counts (no coordinated omission); an op sent ahead
//! of schedule is timed from when it was actually sent. Each worker thread owns a
//! [`Recorder`]: precise histograms (3 significant figures) over the measured phases, and
//! coarse per-100-ms histograms (1 significant figure, ≈ 1.5 KiB each) for the charts.
//! Recorders are merged after the run; nothing is shared while it runs.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Width of one time bucket of the charts.
pub const BUCKET: Duration = Duration::from_millis(100);
const HIGH_NS: u64 = 60_000_000_000;

/// What kind of latency an op contributes to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// Put, insert, delete, read-modify-write.
    Write = 0,
    /// Point read.
    Read = 1,
    /// Seek + nexts.
    Scan = 2,
}

/// The classes, indexable.
pub const CLASSES: usize = 3;

fn precise() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGH_NS, 3).expect("valid histogram bounds")
}

fn coarse() -> Histogram<u32> {
    Histogram::new_with_bounds(1, HIGH_NS, 1).expect("valid histogram bounds")
}

/// One chart bucket of one thread (or, merged, of the run).
#[derive(Clone, Default)]
pub struct Bucket {
    /// Ops that ended in the bucket.
    pub ops: u64,
    /// Ops that failed.
    pub errors: u64,
    /// Failures that were corruption.
    pub corruption_errors: u64,
    /// Latency per class, ns.
    pub latency: [Option<Histogram<u32>>; CLASSES],
}

impl Bucket {
    /// Adds another bucket's counts and latencies.
    pub fn add(&mut self, other: &Bucket) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.corruption_errors += other.corruption_errors;
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            if let Some(theirs) = theirs {
                mine.get_or_insert_with(coarse)
                    .add(theirs)
                    .expect("same bounds");
            }
        }
    }
}

/// Totals over the measured (non-warm-up) phases.
#[derive(Clone)]
pub struct Totals {
    /// Ops completed (successfully or not).
    pub ops: u64,
    /// Failed writes.
    pub write_errors: u64,
    /// Failed reads and scans.
    pub read_errors: u64,
    /// Failures that were corruption.
    pub corruption_errors: u64,
    /// Latency per class, ns.
    pub latency: [Histogram<u64>; CLASSES],
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            ops: 0,
            write_errors: 0,
            read_errors: 0,
            corruption_errors: 0,
            latency: [precise(), precise(), precise()],
        }
    }
}

/// Percentiles in µs of one class, `None` when it saw no op.
pub fn percentiles_us(h: &Histogram<u64>) -> Option<[f64; 3]> {
    (!h.is_empty()).then(|| [0.5, 0.99, 0.999].map(|q| h.value_at_quantile(q) as f64 / 1000.0))
}

/// Percentiles in µs of a coarse bucket histogram.
pub fn bucket_percentiles_us(h: &Option<Histogram<u32>>) -> Option<[f64; 3]> {
    h.as_ref()
        .filter(|h| !h.is_empty())
        .map(|h| [0.5, 0.99, 0.999].map(|q| h.value_at_quantile(q) as f64 / 1000.0))
}

/// What one thread measured.
pub struct Recorder {
    t0: Instant,
    /// Measured totals.
    pub totals: Totals,
    /// Chart buckets from `t0`.
    pub buckets: Vec<Bucket>,
}

impl Recorder {
    /// An empty recorder; buckets count from `t0`, the run's start.
    pub fn new(t0: Instant) -> Recorder {
        Recorder {
            t0,
            totals: Totals::default(),
            buckets: Vec::new(),
        }
    }

    /// Records one op that was due at `start` (intended or actual start, whichever is
    /// earlier) and ended at `end`.
    #[inline]
    pub fn record(
        &mut self,
        class: Class,
        start: Instant,
        end: Instant,
        error: Option<bool>,
        measured: bool,
    ) {
        let latency_ns = (end.saturating_duration_since(start).as_nanos() as u64).clamp(1, HIGH_NS);
        let index =
            (end.saturating_duration_since(self.t0).as_nanos() / BUCKET.as_nanos()) as usize;
        if index >= self.buckets.len() {
            self.buckets.resize_with(index + 1, Bucket::default);
        }
        let bucket = &mut self.buckets[index];
        bucket.ops += 1;
        bucket.latency[class as usize]
            .get_or_insert_with(coarse)
            .saturating_record(latency_ns);
        if let Some(corruption) = error {
            bucket.errors += 1;
            bucket.corruption_errors += u64::from(corruption);
        }
        if measured {
            let totals = &mut self.totals;
            totals.ops += 1;
            totals.latency[class as usize].saturating_record(latency_ns);
            if let Some(corruption) = error {
                match class {
                    Class::Write => totals.write_errors += 1,
                    Class::Read | Class::Scan => totals.read_errors += 1,
                }
                totals.corruption_errors += u64::from(corruption);
            }
        }
    }

    /// Adds another thread's measurements.
    pub fn merge(&mut self, other: &Recorder) {
        let totals = &mut self.totals;
        totals.ops += other.totals.ops;
        totals.write_errors += other.totals.write_errors;
        totals.read_errors += other.totals.read_errors;
        totals.corruption_errors += other.totals.corruption_errors;
        for (mine, theirs) in totals.latency.iter_mut().zip(&other.totals.latency) {
            mine.add(theirs).expect("same bounds");
        }
        if other.buckets.len() > self.buckets.len() {
            self.buckets
                .resize_with(other.buckets.len(), Bucket::default);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.add(theirs);
        }
    }
}

/// Open-loop pacing of one thread: op `n` is due at `start + n / rate`; the rate may change
/// while running (bursts), which moves the following due times.
pub struct Pacer {
    next_due: Instant,
}

/// Ops due within this much of now are sent at once rather than slept for: sleeping that
/// short oversleeps by tens of µs, which would show up as latency. Sending a little early is
/// harmless: an early op is timed from when it was sent.
const SEND_EARLY: Duration = Duration::from_micros(1000);
/// Wake this much before the due time (the scheduler's typical oversleep).
const WAKE_EARLY: Duration = Duration::from_micros(300);

impl Pacer {
    /// The first op due at `first_due`.
    pub fn new(first_due: Instant) -> Pacer {
        Pacer {
            next_due: first_due,
        }
    }

    /// When the next op is due.
    pub fn next_due(&self) -> Instant {
        self.next_due
    }

    /// Waits until the next op is (nearly) due, then returns when it was due and schedules
    /// the following one `1 / rate_per_sec` later.
    pub fn wait(&mut self, rate_per_sec: f64) -> Instant {
        let due = self.next_due;
        let now = Instant::now();
        if due > now + SEND_EARLY {
            std::thread::sleep(due - now - WAKE_EARLY);
        }
        self.next_due = due + Duration::from_secs_f64(1.0 / rate_per_sec.max(1e-3));
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that takes 100 µs per request, except one request that hangs 200 ms, driven
    /// at 1000 requests/s for 2 s. Measured from the intended start, the requests queued
    /// behind the hang (≈ 200 of 2000, 10 %) are all slow, so p99 is ~100+ ms. Measured
    /// from the actual send (coordinated omission), only one request would be slow and p99
    /// would be ~100 µs. This checks the first, and that the injected delay lands at the
    /// right percentiles.
    #[test]
    fn an_injected_stall_shows_up_at_the_right_percentiles() {
        let t0 = Instant::now();
        let mut recorder = Recorder::new(t0);
        let mut pacer = Pacer::new(t0);
        let rate = 1000.0;
        let mut service_only = precise();
        for n in 0..2000u32 {
            let due = pacer.wait(rate);
            let sent = Instant::now();
            let service = if n == 500 {
                Duration::from_millis(200)
            } else {
                Duration::from_micros(100)
            };
            let busy_until = sent + service;
            while Instant::now() < busy_until {
                std::hint::spin_loop();
            }
            let end = Instant::now();
            recorder.record(Class::Write, due.min(sent), end, None, true);
            service_only.saturating_record(end.duration_since(sent).as_nanos() as u64);
        }
        let [p50, p99, p999] = percentiles_us(&recorder.totals.latency[0]).unwrap();
        assert!(p50 < 5_000.0, "p50 {p50} µs: most requests are unaffected");
        // ≈ 200 queued requests waited 0..200 ms: p99 (the 20th slowest) waited ≥ 150 ms.
        assert!(p99 > 150_000.0 && p99 < 260_000.0, "p99 {p99} µs");
        assert!(p999 > 190_000.0, "p99.9 {p999} µs: the hang itself");
        // The same run timed from the actual send hides the queueing (coordinated omission).
        let hidden_p99 = service_only.value_at_quantile(0.99) as f64 / 1000.0;
        assert!(hidden_p99 < 5_000.0, "{hidden_p99}");
        assert_eq!(recorder.totals.ops, 2000);
        // The stall appears in the charts' bucket around 0.5 s.
        let slow_bucket = recorder
            .buckets
            .iter()
            .position(|b| bucket_percentiles_us(&b.latency[0]).is_some_and(|p| p[2] > 100_000.0))
            .unwrap();
        assert!((4..=8).contains(&slow_bucket), "{slow_bucket}");
    }

    #[test]
    fn merging_adds_ops_and_buckets() {
        let t0 = Instant::now();
        let mut a = Recorder::new(t0);
        let mut b = Recorder::new(t0);
        a.record(Class::Read, t0, t0 + Duration::from_micros(10), None, true);
        b.record(
            Class::Read,
            t0,
            t0 + Duration::from_millis(250),
            Some(true),
            false,
        );
        a.merge(&b);
        assert_eq!(a.totals.ops, 1, "warm-up ops are charted, not totalled");
        assert_eq!(a.buckets.len(), 3);
        assert_eq!(a.buckets[2].errors, 1);
        assert_eq!(a.buckets[2].corruption_errors, 1);
    }
}
