//! The write throttle: a lock-free token bucket by bytes on the engine's write path.
//!
//! [`WriteThrottle`] is GCRA (the generic cell rate algorithm) in its "virtual scheduling"
//! form. One atomic, the *theoretical arrival time* (`tat`, ns since the throttle's epoch),
//! is the instant up to which the rate is already spoken for. A write of `bytes` claims, with
//! one CAS, the next `bytes / rate` seconds of that schedule, starting no earlier than
//! `now - burst`, and sleeps until its slot starts. Slots are handed out in CAS order, so
//! concurrent writers are served first come, first served, and the aggregate rate is exact
//! whatever the number of writers; no thread refills a bucket, and nothing is ever locked.
//!
//! **Burst.** A slot may start up to [`BURST_WINDOW`] of the rate (at least
//! [`MIN_BURST_BYTES`]) in the past, so an idle throttle admits that much at once and small
//! writes do not each pay a sleep. Idle time beyond that is not credited. 10 ms is long
//! against the OS's wake-up latency and the sleep slice, so writers that wake late do not
//! lose rate (a schedule that fell behind is credited up to the burst), and short against any
//! one-second reading of the rate (1 %). The 64 KiB floor lets a typical small batch through
//! a very low limit without a sleep.
//!
//! **Rate changes.** [`WriteThrottle::set_rate`] stores the new rate, restarts the schedule
//! at "now" (a backlog at the old rate does not carry over) and bumps a generation counter.
//! Waiters sleep in slices of at most [`MAX_SLEEP_SLICE`] and check the generation after
//! each: on a change they give up their slot and reserve again under the new rate, or return
//! at once if the throttle became unlimited.
//!
//! The module owns the limit, the schedule and the throttle's counters. It must never take a
//! lock, never cost an unlimited write more than one atomic load, and never block anyone but
//! the writer that calls [`WriteThrottle::acquire`].

use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use crate::sync::{AtomicU64, Ordering};

/// How much of the rate may be spent at once after an idle period: 10 ms worth.
pub const BURST_WINDOW: Duration = Duration::from_millis(10);

/// The smallest burst in bytes, whatever the rate; a larger single write is still allowed,
/// it just reserves a longer slot.
pub const MIN_BURST_BYTES: u64 = 64 * 1024;

/// The longest single sleep of a waiting writer: how late it may notice a rate change.
pub const MAX_SLEEP_SLICE: Duration = Duration::from_millis(2);

const NANOS_PER_SEC: u64 = 1_000_000_000;
const BURST_WINDOW_NS: u64 = BURST_WINDOW.as_nanos() as u64;
const MAX_SLEEP_SLICE_NS: u64 = MAX_SLEEP_SLICE.as_nanos() as u64;

/// The encoded rate meaning "unlimited"; `Some(0)` is stored as 1 byte/s instead.
const UNLIMITED: u64 = 0;

/// Why [`WriteThrottle::acquire`] refused a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThrottleError {
    /// The write would have to wait past its deadline; nothing was reserved for it.
    #[error(
        "a write of {bytes} bytes would wait {needed:?} under the write rate limit of \
         {rate_bytes_per_sec} bytes/s, past its deadline"
    )]
    DeadlineExceeded {
        /// Size of the refused write.
        bytes: u64,
        /// How long it would have had to wait from the moment it was refused.
        needed: Duration,
        /// The limit in force when it was refused.
        rate_bytes_per_sec: u64,
    },
}

/// Counters of a [`WriteThrottle`] since it was created.
///
/// Read with [`WriteThrottle::stats`]; each field is exact, but fields read while writers are
/// running may be from slightly different moments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleStats {
    /// Writes that slept: before being admitted, released by a rate change, or refused
    /// because a rate change pushed their wait past their deadline.
    pub waited_writes: u64,
    /// Total time those writes slept, in ns.
    pub total_wait_ns: u64,
    /// Writes refused with [`ThrottleError::DeadlineExceeded`].
    pub deadline_rejections: u64,
    /// Bytes of the writes admitted under a limit (not counting writes while unlimited).
    pub bytes_admitted_while_limited: u64,
}

/// The limit and its generation: read by every limited write, written only by `set_rate`, so
/// they share a line that writers never dirty.
struct RateConfig {
    /// Bytes per second, or [`UNLIMITED`].
    rate_bytes_per_sec: AtomicU64,
    /// Bumped by every change of the rate; waiters compare it with the one they reserved under.
    generation: AtomicU64,
}

/// Counters updated only by writes that wait or are refused, which are slow anyway.
struct WaitCounters {
    waited_writes: AtomicU64,
    total_wait_ns: AtomicU64,
    deadline_rejections: AtomicU64,
}

/// A byte-rate limit for writes, shared by all writing threads (`&self` everywhere; put it
/// in an `Arc`).
///
/// Unlimited by default, and then [`acquire`](WriteThrottle::acquire) is one atomic load. The
/// limit can be changed at any time from any thread with
/// [`set_rate`](WriteThrottle::set_rate); neither path takes a lock.
pub struct WriteThrottle {
    config: CachePadded<RateConfig>,
    /// The theoretical arrival time, ns since `epoch`: the end of the last reserved slot.
    /// Every limited write CASes it, so it has a line of its own.
    tat_ns: CachePadded<AtomicU64>,
    /// Updated by every limited write: kept off the schedule's line.
    bytes_admitted_while_limited: CachePadded<AtomicU64>,
    wait_counters: CachePadded<WaitCounters>,
    /// Time zero of `tat_ns` and of every `now_ns`.
    epoch: Instant,
}

/// The outcome of one attempt to claim a slot of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reservation {
    /// The throttle is unlimited: go.
    Unlimited,
    /// The slot starting at `start_ns` is this write's; it may go once `start_ns` has come
    /// (at once if it is not after `now_ns`), unless the rate's `generation` changes first.
    Wait { start_ns: u64, generation: u64 },
    /// The write would wait `needed_ns`, past its deadline; the schedule was not touched.
    Rejected {
        needed_ns: u64,
        rate_bytes_per_sec: u64,
    },
}

/// Where a waiting writer reads the time and how it waits; the real one sleeps, the tests'
/// ones advance a fake clock or yield to loom's scheduler.
trait WaitClock {
    /// Now, in ns since the throttle's epoch.
    fn now_ns(&self) -> u64;
    /// Lets about `duration` pass.
    fn pause(&self, duration: Duration);
}

/// `std::time::Instant` and `std::thread::sleep`.
struct SleepingClock {
    epoch: Instant,
}

impl WaitClock for SleepingClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        duration_ns(self.epoch.elapsed())
    }

    fn pause(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// `duration` in ns, saturating (u64 ns last 584 years).
#[inline]
fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The length of the slot `bytes` take at `rate_bytes_per_sec` (> 0), in ns, rounded up so
/// that rounding never admits more than the rate.
#[inline]
fn slot_ns(bytes: u64, rate_bytes_per_sec: u64) -> u64 {
    debug_assert_ne!(rate_bytes_per_sec, UNLIMITED);
    match bytes.checked_mul(NANOS_PER_SEC) {
        Some(scaled) => scaled.div_ceil(rate_bytes_per_sec),
        // Writes of more than 18 GB: widen rather than overflow.
        None => {
            let scaled = u128::from(bytes) * u128::from(NANOS_PER_SEC);
            u64::try_from(scaled.div_ceil(u128::from(rate_bytes_per_sec))).unwrap_or(u64::MAX)
        }
    }
}

/// How far in the past a slot may start at `rate_bytes_per_sec` (> 0): [`BURST_WINDOW`], or
/// the time [`MIN_BURST_BYTES`] take if that is longer.
#[inline]
fn burst_ns(rate_bytes_per_sec: u64) -> u64 {
    BURST_WINDOW_NS.max(slot_ns(MIN_BURST_BYTES, rate_bytes_per_sec))
}

/// The stored form of a limit: `None` is [`UNLIMITED`], `Some(0)` the smallest rate (1 B/s).
#[inline]
fn encode_rate(rate_bytes_per_sec: Option<u64>) -> u64 {
    rate_bytes_per_sec.map_or(UNLIMITED, |rate| rate.max(1))
}

impl WriteThrottle {
    /// A throttle limited to `rate_bytes_per_sec` bytes per second (`None`: unlimited).
    ///
    /// `Some(0)` is taken as the smallest rate, 1 byte/s. The schedule starts empty: the
    /// first write goes at once, later ones at the rate, with no burst credit until the
    /// throttle has been idle.
    pub fn new(rate_bytes_per_sec: Option<u64>) -> WriteThrottle {
        WriteThrottle {
            config: CachePadded::new(RateConfig {
                rate_bytes_per_sec: AtomicU64::new(encode_rate(rate_bytes_per_sec)),
                generation: AtomicU64::new(0),
            }),
            tat_ns: CachePadded::new(AtomicU64::new(0)),
            bytes_admitted_while_limited: CachePadded::new(AtomicU64::new(0)),
            wait_counters: CachePadded::new(WaitCounters {
                waited_writes: AtomicU64::new(0),
                total_wait_ns: AtomicU64::new(0),
                deadline_rejections: AtomicU64::new(0),
            }),
            epoch: Instant::now(),
        }
    }

    /// Waits until a write of `bytes` may go under the current limit; returns how long it
    /// waited (zero when no wait was needed).
    ///
    /// Unlimited: returns at once after one atomic load. Limited: reserves the next slot of
    /// the schedule and sleeps (in slices of at most [`MAX_SLEEP_SLICE`]) until it starts.
    /// If the limit changes meanwhile, the write reserves again under the new limit, or
    /// returns at once if the throttle became unlimited.
    ///
    /// With a `deadline`, a write whose wait would end after it is refused with
    /// [`ThrottleError::DeadlineExceeded`] before anything is reserved, so a refused write
    /// costs the others nothing; a write that need not wait goes even if its deadline has
    /// passed. A waiter whose wait a rate change pushes past its deadline is refused then.
    ///
    /// The refusal is an estimate made just before the reservation would commit, and a
    /// concurrent [`set_rate`](WriteThrottle::set_rate) can make it stale: a refusal is
    /// re-judged if the limit changed while it was being decided, but one made just before a
    /// change stands even if the new limit would have admitted the write at once. Likewise a
    /// write that is admitted at once under the old limit just as it changes goes, as if it had
    /// arrived just before the change; one still waiting re-reserves under the new limit.
    #[inline]
    pub fn acquire(
        &self,
        bytes: u64,
        deadline: Option<Instant>,
    ) -> Result<Duration, ThrottleError> {
        // Relaxed: "unlimited" lets the write go and depends on nothing else, so there is
        // nothing to order after this load; a write racing `set_rate` may see the old limit,
        // which is as if it had arrived just before the change. The limited path re-reads
        // the limit under the generation's Acquire.
        if self.config.rate_bytes_per_sec.load(Ordering::Relaxed) == UNLIMITED {
            return Ok(Duration::ZERO);
        }
        self.acquire_limited(bytes, deadline)
    }

    /// The limited half of [`acquire`](WriteThrottle::acquire), kept out of line so the
    /// unlimited check inlines into the caller.
    #[inline(never)]
    fn acquire_limited(
        &self,
        bytes: u64,
        deadline: Option<Instant>,
    ) -> Result<Duration, ThrottleError> {
        let deadline_ns = deadline.map(|at| duration_ns(at.saturating_duration_since(self.epoch)));
        self.acquire_with(bytes, deadline_ns, &SleepingClock { epoch: self.epoch })
    }

    /// [`acquire`](WriteThrottle::acquire) on `clock`: reserve, wait in slices, re-reserve
    /// when the rate changes.
    fn acquire_with(
        &self,
        bytes: u64,
        deadline_ns: Option<u64>,
        clock: &impl WaitClock,
    ) -> Result<Duration, ThrottleError> {
        let arrived_ns = clock.now_ns();
        let mut now_ns = arrived_ns;
        'reserve: loop {
            let (start_ns, generation) = match self.reserve(now_ns, bytes, deadline_ns) {
                Reservation::Unlimited => return Ok(self.record_wait(arrived_ns, now_ns)),
                Reservation::Rejected {
                    needed_ns,
                    rate_bytes_per_sec,
                } => {
                    // Relaxed: a statistic; it orders nothing.
                    self.wait_counters
                        .deadline_rejections
                        .fetch_add(1, Ordering::Relaxed);
                    self.record_wait(arrived_ns, now_ns);
                    return Err(ThrottleError::DeadlineExceeded {
                        bytes,
                        needed: Duration::from_nanos(needed_ns),
                        rate_bytes_per_sec,
                    });
                }
                Reservation::Wait {
                    start_ns,
                    generation,
                } => (start_ns, generation),
            };
            while now_ns < start_ns {
                // Acquire: pairs with the Release increment in `set_rate_at`, so that the
                // re-reservation below sees the new limit and the restarted schedule.
                if self.config.generation.load(Ordering::Acquire) != generation {
                    continue 'reserve;
                }
                clock.pause(Duration::from_nanos(
                    (start_ns - now_ns).min(MAX_SLEEP_SLICE_NS),
                ));
                now_ns = clock.now_ns();
            }
            // Relaxed: a statistic; it orders nothing.
            self.bytes_admitted_while_limited
                .fetch_add(bytes, Ordering::Relaxed);
            return Ok(self.record_wait(arrived_ns, now_ns));
        }
    }

    /// Counts the wait from `arrived_ns` to `now_ns`, if any, and returns it.
    fn record_wait(&self, arrived_ns: u64, now_ns: u64) -> Duration {
        let waited_ns = now_ns.saturating_sub(arrived_ns);
        if waited_ns > 0 {
            // Relaxed: statistics; they order nothing, and each is exact on its own.
            self.wait_counters
                .waited_writes
                .fetch_add(1, Ordering::Relaxed);
            self.wait_counters
                .total_wait_ns
                .fetch_add(waited_ns, Ordering::Relaxed);
        }
        Duration::from_nanos(waited_ns)
    }

    /// Claims the slot for `bytes` arriving at `now_ns`, or refuses it if it would start
    /// after `deadline_ns` (leaving the schedule untouched). Pure apart from the one CAS on
    /// the schedule: no clock, no sleep.
    fn reserve(&self, now_ns: u64, bytes: u64, deadline_ns: Option<u64>) -> Reservation {
        loop {
            // Acquire: pairs with the Release increment in `set_rate_at`: having read a
            // generation, this thread sees the limit and the restarted schedule stored before
            // it. Any later change bumps the generation past this one, which the caller notices.
            let generation = self.config.generation.load(Ordering::Acquire);
            // Relaxed: ordered after the generation load by its Acquire, which is all it needs.
            let rate_bytes_per_sec = self.config.rate_bytes_per_sec.load(Ordering::Relaxed);
            if rate_bytes_per_sec == UNLIMITED {
                return Reservation::Unlimited;
            }
            let slot_ns = slot_ns(bytes, rate_bytes_per_sec);
            // Idle time is credited up to the burst, never more.
            let earliest_start_ns = now_ns.saturating_sub(burst_ns(rate_bytes_per_sec));
            // Relaxed: the schedule publishes no other memory, and the CAS below always
            // compares against the latest value, so claimed slots never overlap whatever this
            // load returns.
            let mut tat_ns = self.tat_ns.load(Ordering::Relaxed);
            let refused_wait_ns = loop {
                let start_ns = tat_ns.max(earliest_start_ns);
                let wait_ns = start_ns.saturating_sub(now_ns);
                // A write that need not wait goes even if its deadline has passed.
                if wait_ns > 0
                    && deadline_ns.is_some_and(|deadline| now_ns.saturating_add(wait_ns) > deadline)
                {
                    break wait_ns;
                }
                // Relaxed on both sides: the CAS only makes the claim on the slot exclusive.
                match self.tat_ns.compare_exchange_weak(
                    tat_ns,
                    start_ns.saturating_add(slot_ns),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        return Reservation::Wait {
                            start_ns,
                            generation,
                        }
                    }
                    Err(current) => tat_ns = current,
                }
            };
            // The refusal rests on the limit and schedule read above; if the limit changed
            // meanwhile (which restarts the schedule), judge again under the new one rather
            // than refuse on the strength of a backlog that no longer exists. Acquire: as above.
            if self.config.generation.load(Ordering::Acquire) == generation {
                return Reservation::Rejected {
                    needed_ns: refused_wait_ns,
                    rate_bytes_per_sec,
                };
            }
        }
    }

    /// Changes the limit: `None` is unlimited, `Some(bytes_per_sec)` a limit (`Some(0)` is
    /// taken as the smallest rate, 1 byte/s). Bounds are the caller's to validate.
    ///
    /// Lock-free and immediate: the schedule restarts now, so a backlog built at the old
    /// limit does not carry over; writers waiting under the old limit notice within
    /// [`MAX_SLEEP_SLICE`] and return at once (unlimited) or reserve again under the new one.
    /// Setting the limit already in force changes nothing, backlog included.
    pub fn set_rate(&self, rate_bytes_per_sec: Option<u64>) {
        self.set_rate_at(duration_ns(self.epoch.elapsed()), rate_bytes_per_sec);
    }

    /// [`set_rate`](WriteThrottle::set_rate) with the schedule restarting at `now_ns`.
    fn set_rate_at(&self, now_ns: u64, rate_bytes_per_sec: Option<u64>) {
        let rate = encode_rate(rate_bytes_per_sec);
        // Relaxed: published to waiters by the Release increment below; the swap (rather than
        // a store) only tells whether anything changed, and RMWs see the latest value.
        if self.config.rate_bytes_per_sec.swap(rate, Ordering::Relaxed) == rate {
            return;
        }
        // Relaxed: published by the Release increment below like the rate. A reservation
        // racing this reset lands on either side of it; see `acquire`. A swap, not a store:
        // the same in the memory model, but loom mis-orders a plain store against concurrent
        // RMWs (tokio-rs/loom#254) and would report a waiter re-reserving on the old schedule.
        self.tat_ns.swap(now_ns, Ordering::Relaxed);
        // Release: a waiter that reads this generation (Acquire) also sees the new rate and
        // the restarted schedule stored above.
        self.config.generation.fetch_add(1, Ordering::Release);
    }

    /// The limit in force: `None` when unlimited (a limit set as `Some(0)` reads `Some(1)`).
    pub fn rate(&self) -> Option<u64> {
        // Relaxed: a reading for reports; it orders nothing.
        match self.config.rate_bytes_per_sec.load(Ordering::Relaxed) {
            UNLIMITED => None,
            rate => Some(rate),
        }
    }

    /// The throttle's counters since it was created.
    pub fn stats(&self) -> ThrottleStats {
        // Relaxed: each counter is exact on its own; a snapshot across counters taken while
        // writers run is approximate either way, and ordering the loads would not change that.
        ThrottleStats {
            waited_writes: self.wait_counters.waited_writes.load(Ordering::Relaxed),
            total_wait_ns: self.wait_counters.total_wait_ns.load(Ordering::Relaxed),
            deadline_rejections: self
                .wait_counters
                .deadline_rejections
                .load(Ordering::Relaxed),
            bytes_admitted_while_limited: self.bytes_admitted_while_limited.load(Ordering::Relaxed),
        }
    }
}

impl Default for WriteThrottle {
    /// An unlimited throttle.
    fn default() -> Self {
        WriteThrottle::new(None)
    }
}

impl fmt::Debug for WriteThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteThrottle")
            .field("rate_bytes_per_sec", &self.rate())
            .field(
                "generation",
                &self.config.generation.load(Ordering::Relaxed),
            )
            .field("tat_ns", &self.tat_ns.load(Ordering::Relaxed))
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::{Cell, RefCell};
    use std::sync::{Arc, Barrier};
    use std::thread;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;
    /// An arbitrary "now" far enough from the epoch that a burst fits before it.
    const T0: u64 = 1_000 * SEC;

    /// A throttle at `rate` whose schedule restarted at `T0`.
    fn limited_at_t0(rate: u64) -> WriteThrottle {
        let throttle = WriteThrottle::new(None);
        throttle.set_rate_at(T0, Some(rate));
        throttle
    }

    fn tat(throttle: &WriteThrottle) -> u64 {
        throttle.tat_ns.load(Ordering::Relaxed)
    }

    fn start_of(reservation: Reservation) -> u64 {
        match reservation {
            Reservation::Wait { start_ns, .. } => start_ns,
            other => panic!("expected a slot, got {other:?}"),
        }
    }

    /// Burst in bytes as documented: 10 ms of the rate, at least 64 KiB.
    fn documented_burst_bytes(rate: u64) -> u64 {
        (rate / 100).max(MIN_BURST_BYTES)
    }

    /// A clock that only moves when paused, recording every pause and calling `on_pause`
    /// with the pause's index and the new time after each.
    struct FakeClock<F: Fn(usize, u64)> {
        now_ns: Cell<u64>,
        pauses: RefCell<Vec<Duration>>,
        on_pause: F,
    }

    impl<F: Fn(usize, u64)> FakeClock<F> {
        fn new(now_ns: u64, on_pause: F) -> Self {
            FakeClock {
                now_ns: Cell::new(now_ns),
                pauses: RefCell::new(Vec::new()),
                on_pause,
            }
        }
    }

    impl<F: Fn(usize, u64)> WaitClock for FakeClock<F> {
        fn now_ns(&self) -> u64 {
            self.now_ns.get()
        }

        fn pause(&self, duration: Duration) {
            let index = self.pauses.borrow().len();
            self.pauses.borrow_mut().push(duration);
            let now = self.now_ns.get() + duration_ns(duration);
            self.now_ns.set(now);
            (self.on_pause)(index, now);
        }
    }

    /// Polls `condition` every 100 µs until it holds or `timeout` passes.
    fn wait_for(timeout: Duration, condition: impl Fn() -> bool) -> bool {
        let give_up = Instant::now() + timeout;
        while Instant::now() < give_up {
            if condition() {
                return true;
            }
            thread::sleep(Duration::from_micros(100));
        }
        condition()
    }

    // ---- unlimited -------------------------------------------------------------------------

    #[test]
    fn unlimited_acquire_returns_at_once() {
        let throttle = WriteThrottle::default();
        assert_eq!(throttle.rate(), None);
        // Best of a few rounds, so that a preemption of the test thread does not count.
        let fastest = (0..5)
            .map(|_| {
                let started = Instant::now();
                let mut waited = 0;
                for _ in 0..100_000 {
                    let result = throttle.acquire(std::hint::black_box(4 * KIB), None);
                    waited += u32::from(!matches!(result, Ok(Duration::ZERO)));
                }
                assert_eq!(waited, 0, "an unlimited write waited or failed");
                started.elapsed()
            })
            .min()
            .expect("5 rounds");
        // Optimised, an unlimited acquire is a load and a compare (~25 µs for 100k here); an
        // unoptimised build spends ~8 ns a call in function-call overhead, so it gets 10×
        // the room. Either bound is far below a single sleep per 1,000 calls.
        let bound = if cfg!(debug_assertions) {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(1)
        };
        assert!(fastest < bound, "100k acquires took {fastest:?}");
        assert_eq!(throttle.stats(), ThrottleStats::default());
    }

    #[test]
    fn unlimited_reservation_ignores_the_deadline() {
        let throttle = WriteThrottle::default();
        assert_eq!(
            throttle.reserve(T0, u64::MAX, Some(0)),
            Reservation::Unlimited
        );
    }

    // ---- reservation math ------------------------------------------------------------------

    #[test]
    fn consecutive_reservations_abut() {
        let rate = MIB;
        let throttle = limited_at_t0(rate);
        let mut expected_start = T0;
        for bytes in [4 * KIB, 1, 100 * KIB, 7, 64 * KIB] {
            let start = start_of(throttle.reserve(T0, bytes, None));
            assert_eq!(start, expected_start, "{bytes} bytes");
            expected_start += slot_ns(bytes, rate);
            assert_eq!(tat(&throttle), expected_start);
        }
        // 4 KiB at 1 MiB/s is 1/256 s.
        assert_eq!(slot_ns(4 * KIB, MIB), SEC / 256);
    }

    #[test]
    fn burst_admits_ten_ms_worth_at_once() {
        for rate in [64 * MIB, 16 * MIB, MIB, KIB] {
            let throttle = limited_at_t0(rate);
            // Idle long enough to earn the whole burst (64 KiB at 1 KiB/s takes 64 s).
            let now = T0 + 100 * SEC;
            let mut admitted = 0;
            while start_of(throttle.reserve(now, 4 * KIB, None)) <= now {
                admitted += 4 * KIB;
            }
            let burst = documented_burst_bytes(rate);
            // Whole 4 KiB writes: the burst rounded up to one.
            assert!(
                admitted >= burst && admitted <= burst + 4 * KIB,
                "rate {rate}: admitted {admitted}, burst {burst}"
            );
        }
        assert_eq!(documented_burst_bytes(64 * MIB), 64 * MIB / 100);
        assert_eq!(burst_ns(64 * MIB), 10 * MS);
        assert_eq!(burst_ns(MIB), 62_500_000, "64 KiB at 1 MiB/s");
    }

    #[test]
    fn idle_time_credit_is_capped_at_the_burst() {
        let rate = 8 * MIB;
        let throttle = limited_at_t0(rate);
        // A day idle earns no more than the burst.
        let now = T0 + 86_400 * SEC;
        let start = start_of(throttle.reserve(now, 64 * MIB, None));
        assert_eq!(start, now - burst_ns(rate));
        // The 64 MiB write took 8 s of the schedule, minus the burst already earned.
        let next = start_of(throttle.reserve(now, 1, None));
        assert_eq!(next, now + 8 * SEC - burst_ns(rate));
    }

    #[test]
    fn a_write_larger_than_the_burst_goes_and_delays_the_next() {
        let rate = MIB;
        let throttle = limited_at_t0(rate);
        assert_eq!(start_of(throttle.reserve(T0, 10 * MIB, None)), T0);
        assert_eq!(start_of(throttle.reserve(T0, 4 * KIB, None)), T0 + 10 * SEC);
    }

    #[test]
    fn deadline_rejection_leaves_the_schedule_unchanged() {
        let rate = MIB;
        let throttle = limited_at_t0(rate);
        throttle.reserve(T0, MIB, None); // backlog: the next slot starts at T0 + 1 s
        let before = tat(&throttle);
        let rejected = throttle.reserve(T0, 4 * KIB, Some(T0 + 500 * MS));
        assert_eq!(
            rejected,
            Reservation::Rejected {
                needed_ns: SEC,
                rate_bytes_per_sec: rate
            }
        );
        assert_eq!(tat(&throttle), before);
        // A deadline the wait fits in is honoured, and one in the past does not stop a write
        // that need not wait.
        assert_eq!(
            start_of(throttle.reserve(T0, 4 * KIB, Some(T0 + SEC))),
            T0 + SEC
        );
        let idle = T0 + 10 * SEC;
        assert_eq!(
            start_of(throttle.reserve(idle, 1, Some(0))),
            idle - burst_ns(rate)
        );
    }

    #[test]
    fn zero_rate_is_the_smallest_rate() {
        let throttle = WriteThrottle::new(Some(0));
        assert_eq!(throttle.rate(), Some(1));
        throttle.set_rate_at(T0, Some(0)); // the same limit: no change
        throttle.set_rate_at(T0, None);
        throttle.set_rate_at(T0, Some(0));
        assert_eq!(throttle.rate(), Some(1));
        assert_eq!(start_of(throttle.reserve(T0, 2, None)), T0);
        assert_eq!(start_of(throttle.reserve(T0, 1, None)), T0 + 2 * SEC);
        // The largest write saturates the schedule instead of overflowing.
        throttle.reserve(T0, u64::MAX, None);
        assert_eq!(tat(&throttle), u64::MAX);
        assert_eq!(slot_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(burst_ns(1), MIN_BURST_BYTES * SEC);
    }

    #[test]
    fn huge_writes_are_timed_without_overflow() {
        // 32 GiB at 1 GiB/s: bytes * 1e9 overflows u64, the slot does not.
        assert_eq!(slot_ns(32 * 1024 * MIB, 1024 * MIB), 32 * SEC);
        assert_eq!(slot_ns(0, 1), 0);
        assert_eq!(
            slot_ns(1, u64::MAX),
            1,
            "rounded up, never 0 for a real write"
        );
    }

    #[test]
    fn a_rate_change_restarts_the_schedule() {
        let throttle = limited_at_t0(MIB);
        throttle.reserve(T0, 10 * MIB, None); // 10 s of backlog
        let later = T0 + SEC;
        throttle.set_rate_at(later, Some(2 * MIB));
        assert_eq!(tat(&throttle), later);
        assert_eq!(start_of(throttle.reserve(later, 4 * KIB, None)), later);
        assert_eq!(tat(&throttle), later + slot_ns(4 * KIB, 2 * MIB));
    }

    #[test]
    fn setting_the_same_rate_keeps_the_backlog() {
        let throttle = limited_at_t0(MIB);
        throttle.reserve(T0, 10 * MIB, None);
        let before = tat(&throttle);
        let generation = throttle.config.generation.load(Ordering::Relaxed);
        throttle.set_rate_at(T0 + SEC, Some(MIB));
        assert_eq!(tat(&throttle), before);
        assert_eq!(
            throttle.config.generation.load(Ordering::Relaxed),
            generation
        );
    }

    // ---- the waiting loop, on a fake clock --------------------------------------------------

    #[test]
    fn waiter_sleeps_in_slices_until_its_slot() {
        let rate = MIB;
        let throttle = limited_at_t0(rate);
        throttle.reserve(T0, 9 * MIB / 1000, None); // wait 9 ms (rounded up)
        let wait_ns = slot_ns(9 * MIB / 1000, rate);
        let clock = FakeClock::new(T0, |_, _| {});
        let waited = throttle.acquire_with(4 * KIB, None, &clock);
        assert_eq!(waited, Ok(Duration::from_nanos(wait_ns)));
        let pauses = clock.pauses.into_inner();
        assert_eq!(pauses.len(), 5, "{pauses:?}");
        assert!(pauses.iter().all(|&p| p <= MAX_SLEEP_SLICE), "{pauses:?}");
        let stats = throttle.stats();
        assert_eq!(stats.waited_writes, 1);
        assert_eq!(stats.total_wait_ns, wait_ns);
        assert_eq!(stats.bytes_admitted_while_limited, 4 * KIB);
    }

    #[test]
    fn write_without_wait_does_not_sleep() {
        let throttle = limited_at_t0(MIB);
        let clock = FakeClock::new(T0, |_, _| panic!("slept"));
        assert_eq!(
            throttle.acquire_with(4 * KIB, None, &clock),
            Ok(Duration::ZERO)
        );
        assert_eq!(throttle.stats().waited_writes, 0);
        assert_eq!(throttle.stats().bytes_admitted_while_limited, 4 * KIB);
    }

    #[test]
    fn waiter_is_released_when_the_throttle_becomes_unlimited() {
        let throttle = limited_at_t0(KIB);
        throttle.reserve(T0, 64 * KIB, None); // 64 s of backlog
        let clock = FakeClock::new(T0, |index, now| {
            if index == 4 {
                throttle.set_rate_at(now, None);
            }
        });
        assert_eq!(
            throttle.acquire_with(64 * KIB, None, &clock),
            Ok(Duration::from_millis(10))
        );
        let stats = throttle.stats();
        assert_eq!(stats.waited_writes, 1);
        assert_eq!(stats.total_wait_ns, 10 * MS);
        assert_eq!(
            stats.bytes_admitted_while_limited, 0,
            "admitted while unlimited"
        );
    }

    #[test]
    fn waiter_reserves_again_under_a_new_rate() {
        let throttle = limited_at_t0(MIB);
        throttle.reserve(T0, MIB, None); // 1 s of backlog
        let changed_at = T0 + 6 * MS;
        let clock = FakeClock::new(T0, |index, now| {
            if index == 2 {
                assert_eq!(now, changed_at);
                throttle.set_rate_at(now, Some(2 * MIB));
                // Another writer takes the fresh schedule first: 0.5 s at the new rate.
                throttle.reserve(now, MIB, None);
            }
        });
        let waited = throttle.acquire_with(4 * KIB, None, &clock);
        assert_eq!(waited, Ok(Duration::from_nanos(6 * MS + SEC / 2)));
        assert_eq!(
            tat(&throttle),
            changed_at + SEC / 2 + slot_ns(4 * KIB, 2 * MIB),
            "the old slot was abandoned, the new one follows the other writer's"
        );
    }

    #[test]
    fn deadline_passing_after_a_rate_change_is_refused() {
        let throttle = limited_at_t0(MIB);
        throttle.reserve(T0, 100 * KIB, None); // ~98 ms of backlog
        let clock = FakeClock::new(T0, |index, now| {
            if index == 0 {
                throttle.set_rate_at(now, Some(KIB));
                throttle.reserve(now, 64 * KIB, None); // 64 s of backlog at the new rate
            }
        });
        let result = throttle.acquire_with(4 * KIB, Some(T0 + 200 * MS), &clock);
        let changed_at = T0 + 2 * MS;
        assert_eq!(
            result,
            Err(ThrottleError::DeadlineExceeded {
                bytes: 4 * KIB,
                needed: Duration::from_secs(64),
                rate_bytes_per_sec: KIB
            })
        );
        assert_eq!(tat(&throttle), changed_at + 64 * SEC, "nothing consumed");
        let stats = throttle.stats();
        assert_eq!(stats.deadline_rejections, 1);
        assert_eq!(stats.waited_writes, 1);
        assert_eq!(stats.total_wait_ns, 2 * MS);
        assert_eq!(stats.bytes_admitted_while_limited, 0);
    }

    // ---- real time -------------------------------------------------------------------------

    /// Runs `threads` writers of `chunk` bytes until `stop` is set; returns each one's bytes.
    fn run_writers(
        throttle: &WriteThrottle,
        threads: usize,
        chunk: u64,
        run: impl FnOnce(),
    ) -> Vec<u64> {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let barrier = Barrier::new(threads + 1);
        thread::scope(|scope| {
            let writers: Vec<_> = (0..threads)
                .map(|_| {
                    let (stop, barrier) = (&stop, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        let mut written = 0;
                        // Relaxed: a stop flag; nothing is published through it.
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            throttle.acquire(chunk, None).expect("no deadline");
                            written += chunk;
                        }
                        written
                    })
                })
                .collect();
            barrier.wait();
            run();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            writers
                .into_iter()
                .map(|w| w.join().expect("writer panicked"))
                .collect()
        })
    }

    /// Asserts `measured` is within `tolerance` (a fraction) of `expected`.
    fn assert_close(what: &str, measured: f64, expected: f64, tolerance: f64) {
        let error = (measured - expected).abs() / expected;
        assert!(
            error <= tolerance,
            "{what}: measured {measured:.0}, expected {expected:.0} (off by {:.1} %)",
            error * 100.0
        );
    }

    #[test]
    fn limit_holds_in_aggregate_and_is_shared_fairly() {
        let rate = 4 * MIB;
        let throttle = WriteThrottle::new(Some(rate));
        let started = Instant::now();
        let shares = run_writers(&throttle, 4, 4 * KIB, || {
            thread::sleep(Duration::from_millis(2500));
        });
        let elapsed = started.elapsed().as_secs_f64();
        let total: u64 = shares.iter().sum();
        assert_eq!(total, throttle.stats().bytes_admitted_while_limited);
        assert_close("aggregate bytes", total as f64, rate as f64 * elapsed, 0.10);
        let (min, max) = (
            *shares.iter().min().expect("4 writers"),
            *shares.iter().max().expect("4 writers"),
        );
        assert!(max as f64 <= min as f64 * 1.2, "unfair shares {shares:?}");
    }

    #[test]
    fn raising_the_rate_mid_run_raises_the_throughput() {
        let throttle = WriteThrottle::new(Some(2 * MIB));
        let admitted = || throttle.stats().bytes_admitted_while_limited;
        let mut phases = Vec::new();
        run_writers(&throttle, 4, 4 * KIB, || {
            let (start, bytes_at_start) = (Instant::now(), admitted());
            thread::sleep(Duration::from_millis(1200));
            let (switch, bytes_at_switch) = (Instant::now(), admitted());
            throttle.set_rate(Some(8 * MIB));
            thread::sleep(Duration::from_millis(1200));
            let (end, bytes_at_end) = (Instant::now(), admitted());
            phases.push((bytes_at_switch - bytes_at_start, switch - start));
            phases.push((bytes_at_end - bytes_at_switch, end - switch));
        });
        for ((bytes, elapsed), rate) in phases.into_iter().zip([2 * MIB, 8 * MIB]) {
            assert_close(
                &format!("bytes at {rate} B/s"),
                bytes as f64,
                rate as f64 * elapsed.as_secs_f64(),
                0.15,
            );
        }
    }

    #[test]
    fn waiters_are_released_at_once_when_the_limit_is_lifted() {
        let throttle = Arc::new(WriteThrottle::new(Some(KIB)));
        let backlog = 64 * KIB;
        assert_eq!(throttle.acquire(backlog, None), Ok(Duration::ZERO));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let throttle = Arc::clone(&throttle);
                thread::spawn(move || {
                    let result = throttle.acquire(backlog, None);
                    (result, Instant::now())
                })
            })
            .collect();
        // All three hold a slot once the schedule reaches 4 × 64 s.
        assert!(wait_for(Duration::from_secs(2), || tat(&throttle) >= 4 * 64 * SEC));
        let lifted = Instant::now();
        throttle.set_rate(None);
        for waiter in waiters {
            let (result, returned) = waiter.join().expect("waiter panicked");
            assert!(result.is_ok(), "{result:?}");
            let late = returned.saturating_duration_since(lifted);
            assert!(late < Duration::from_millis(50), "released after {late:?}");
        }
        assert_eq!(throttle.stats().waited_writes, 3);
    }

    #[test]
    fn deadline_shorter_than_the_wait_fails_fast_and_consumes_nothing() {
        let throttle = WriteThrottle::new(Some(KIB));
        assert_eq!(throttle.acquire(64 * KIB, None), Ok(Duration::ZERO));
        let before = tat(&throttle);
        let asked = Instant::now();
        let result = throttle.acquire(4 * KIB, Some(asked + Duration::from_millis(100)));
        let took = asked.elapsed();
        assert!(took < Duration::from_millis(10), "refusal took {took:?}");
        match result {
            Err(ThrottleError::DeadlineExceeded {
                bytes,
                needed,
                rate_bytes_per_sec,
            }) => {
                assert_eq!((bytes, rate_bytes_per_sec), (4 * KIB, KIB));
                assert!(needed > Duration::from_secs(60), "{needed:?}");
            }
            other => panic!("expected DeadlineExceeded, got {other:?}"),
        }
        assert_eq!(tat(&throttle), before, "nothing consumed");
        assert_eq!(throttle.stats().deadline_rejections, 1);
        assert_eq!(throttle.stats().waited_writes, 0);
    }

    // ---- properties ------------------------------------------------------------------------

    #[derive(Clone, Debug)]
    enum Step {
        /// Time passes with no write.
        Idle(u64),
        /// A write arrives; a writer that `waits` is the only one, so time moves to its
        /// admission; otherwise other writers may arrive before it is admitted.
        Write { bytes: u64, waits: bool },
        /// The limit changes.
        SetRate(Option<u64>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..50 * MS).prop_map(Step::Idle),
            6 => (1..=256 * KIB, any::<bool>()).prop_map(|(bytes, waits)| Step::Write { bytes, waits }),
            1 => prop_oneof![
                Just(None),
                Just(Some(0)),
                (KIB..=64 * MIB).prop_map(Some),
            ]
            .prop_map(Step::SetRate),
        ]
    }

    /// Writes admitted under one limit, from the moment the schedule (re)started.
    struct Segment {
        rate: u64,
        started_ns: u64,
        /// (admitted at, bytes), in reservation order.
        admitted: Vec<(u64, u64)>,
    }

    /// Checks that no prefix and no window of `segment` admits more than the rate allows.
    fn check_segment(segment: &Segment) -> Result<(), TestCaseError> {
        let rate = u128::from(segment.rate);
        let ns = u128::from(NANOS_PER_SEC);
        // The burst as documented, times 1e9, plus the rounding of its length up to a ns.
        let burst =
            (rate * u128::from(BURST_WINDOW_NS)).max(u128::from(MIN_BURST_BYTES) * ns) + rate;
        let writes = &segment.admitted;
        for k in 0..writes.len() {
            let (admitted_k, bytes_k) = writes[k];
            let before_k: u128 = writes[..k].iter().map(|&(_, b)| u128::from(b)).sum();
            // Admissions happen in reservation order.
            prop_assert!(k == 0 || writes[k - 1].0 <= admitted_k);
            // From the (re)start of the schedule, the writes before this one fit in the
            // elapsed time exactly: no credit at a (re)start.
            prop_assert!(
                before_k * ns <= rate * u128::from(admitted_k - segment.started_ns),
                "prefix of {} writes: {} bytes by {} ns at {} B/s",
                k,
                before_k,
                admitted_k - segment.started_ns,
                rate
            );
            // Any window holds at most the rate × its length + the burst + its last write
            // (a write goes at the start of its slot).
            let mut in_window: u128 = 0;
            for i in (0..k).rev() {
                let (admitted_i, bytes_i) = writes[i];
                in_window += u128::from(bytes_i);
                prop_assert!(
                    in_window * ns <= rate * u128::from(admitted_k - admitted_i) + burst,
                    "window {i}..{k}: {in_window} + {bytes_k} bytes in {} ns at {rate} B/s",
                    admitted_k - admitted_i
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn admitted_bytes_never_exceed_rate_times_elapsed_plus_burst(
            initial in prop::option::of(KIB..=64 * MIB),
            steps in prop::collection::vec(step(), 1..200),
        ) {
            let throttle = WriteThrottle::new(None);
            let mut now = T0;
            throttle.set_rate_at(now, initial);
            let mut segment = initial.map(|rate| Segment { rate, started_ns: now, admitted: Vec::new() });
            for step in steps {
                match step {
                    Step::Idle(ns) => now += ns,
                    Step::Write { bytes, waits } => match throttle.reserve(now, bytes, None) {
                        Reservation::Unlimited => prop_assert!(segment.is_none()),
                        Reservation::Wait { start_ns, .. } => {
                            let admitted = now.max(start_ns);
                            segment.as_mut().expect("limited").admitted.push((admitted, bytes));
                            if waits {
                                now = admitted;
                            }
                        }
                        Reservation::Rejected { .. } => prop_assert!(false, "no deadline"),
                    },
                    Step::SetRate(rate) => {
                        let rate = rate.map(|r| r.max(1));
                        if rate == segment.as_ref().map(|s| s.rate) {
                            // The same limit: the schedule goes on.
                            throttle.set_rate_at(now, rate);
                            continue;
                        }
                        throttle.set_rate_at(now, rate);
                        // Writers still waiting abandon their slots and reserve again.
                        let mut requeued = Vec::new();
                        if let Some(mut old) = segment.take() {
                            while old.admitted.last().is_some_and(|&(at, _)| at > now) {
                                requeued.push(old.admitted.pop().expect("checked").1);
                            }
                            check_segment(&old)?;
                        }
                        segment = rate.map(|rate| Segment { rate, started_ns: now, admitted: Vec::new() });
                        for bytes in requeued.into_iter().rev() {
                            if let Reservation::Wait { start_ns, .. } = throttle.reserve(now, bytes, None) {
                                segment.as_mut().expect("limited").admitted.push((now.max(start_ns), bytes));
                            }
                        }
                    }
                }
            }
            if let Some(segment) = &segment {
                check_segment(segment)?;
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    const NOW: u64 = 1_000_000_000_000;
    const RATE: u64 = 1 << 20;

    /// Explores interleavings with a preemption bound that keeps the run short.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        // `LOOM_MAX_PREEMPTIONS` (read by `Builder::new`) overrides the default bound.
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(f);
    }

    /// A clock stopped at `NOW`; waiting yields to loom's scheduler so other threads run.
    struct StoppedClock;

    impl WaitClock for StoppedClock {
        fn now_ns(&self) -> u64 {
            NOW
        }

        fn pause(&self, _: Duration) {
            thread::yield_now();
        }
    }

    /// A throttle at `RATE` whose schedule restarted at `NOW`, with `backlog_bytes` reserved.
    fn limited_with_backlog(backlog_bytes: u64) -> Arc<WriteThrottle> {
        let throttle = WriteThrottle::new(None);
        throttle.set_rate_at(NOW, Some(RATE));
        throttle.reserve(NOW, backlog_bytes, None);
        Arc::new(throttle)
    }

    #[test]
    fn loom_concurrent_reservations_do_not_overlap() {
        model(|| {
            let throttle = limited_with_backlog(0);
            let other = {
                let throttle = Arc::clone(&throttle);
                thread::spawn(move || throttle.reserve(NOW, 4096, None))
            };
            let mine = throttle.reserve(NOW, 8192, None);
            let other = other.join().expect("reserving thread");
            let slot = |reservation, bytes| match reservation {
                Reservation::Wait { start_ns, .. } => (start_ns, start_ns + slot_ns(bytes, RATE)),
                other => panic!("expected a slot, got {other:?}"),
            };
            let (mine, other) = (slot(mine, 8192), slot(other, 4096));
            assert!(
                mine.1 <= other.0 || other.1 <= mine.0,
                "{mine:?} overlaps {other:?}"
            );
            assert_eq!(mine.0.min(other.0), NOW, "the first slot starts at once");
            let end = NOW + slot_ns(8192, RATE) + slot_ns(4096, RATE);
            assert_eq!(throttle.tat_ns.load(Ordering::Relaxed), end);
        });
    }

    /// A writer waiting behind a backlog while another thread changes the limit to `new_rate`
    /// goes at once: released if unlimited, rescheduled on the restarted schedule otherwise.
    fn check_waiter_goes_after_set_rate(new_rate: Option<u64>) {
        model(move || {
            let throttle = limited_with_backlog(RATE);
            let waiter = {
                let throttle = Arc::clone(&throttle);
                thread::spawn(move || throttle.acquire_with(4096, None, &StoppedClock))
            };
            throttle.set_rate_at(NOW, new_rate);
            assert_eq!(waiter.join().expect("waiter"), Ok(Duration::ZERO));
            // At most the waiter's slot (at the old, slower rate if it raced the change) is
            // left on the restarted schedule; a finite limit always keeps it.
            let tat = throttle.tat_ns.load(Ordering::Relaxed);
            assert!(tat <= NOW + slot_ns(4096, RATE), "tat {tat}");
            assert!(new_rate.is_none() || tat > NOW, "tat {tat}");
        });
    }

    #[test]
    fn loom_lifting_the_limit_releases_a_waiter() {
        check_waiter_goes_after_set_rate(None);
    }

    #[test]
    fn loom_a_new_finite_rate_reschedules_a_waiter() {
        check_waiter_goes_after_set_rate(Some(2 * RATE));
    }

    #[test]
    fn loom_a_new_generation_shows_the_new_rate() {
        model(|| {
            let throttle = limited_with_backlog(RATE);
            let setter = {
                let throttle = Arc::clone(&throttle);
                thread::spawn(move || throttle.set_rate_at(NOW, None))
            };
            if let Reservation::Wait { generation, .. } = throttle.reserve(NOW, 4096, None) {
                if throttle.config.generation.load(Ordering::Acquire) != generation {
                    assert_eq!(throttle.reserve(NOW, 4096, None), Reservation::Unlimited);
                }
            }
            setter.join().expect("setter");
            assert_eq!(throttle.reserve(NOW, 4096, None), Reservation::Unlimited);
        });
    }
}
