//! The telemetry clock: a cheap monotonic time source with a per-engine epoch.
//!
//! Foreground ops read the clock twice each, so it must cost a few ns: `quanta` reads the
//! CPU's invariant TSC (calibrated once per process against the OS monotonic clock) and
//! falls back to the OS clock where no usable TSC exists. Raw readings are converted to ns
//! only when an event is built.

/// Monotonic clock with an epoch; cheap to clone.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: quanta::Clock,
    epoch_raw: u64,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        let inner = quanta::Clock::new();
        let epoch_raw = inner.raw();
        Clock { inner, epoch_raw }
    }

    /// A raw reading: only meaningful to [`Clock::delta_ns`] and [`Clock::since_epoch_ns`].
    #[inline]
    pub fn raw(&self) -> u64 {
        self.inner.raw()
    }

    /// Nanoseconds from `start` to `end` (both raw readings), 0 if `end` is earlier.
    #[inline]
    pub fn delta_ns(&self, start: u64, end: u64) -> u64 {
        if end <= start {
            return 0;
        }
        self.inner.delta_as_nanos(start, end)
    }

    /// Nanoseconds from the epoch to the raw reading `raw`.
    #[inline]
    pub fn since_epoch_ns(&self, raw: u64) -> u64 {
        self.delta_ns(self.epoch_raw, raw)
    }

    /// Nanoseconds from the epoch to now.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.since_epoch_ns(self.raw())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn clock_tracks_wall_time() {
        let clock = Clock::new();
        let start = clock.raw();
        let wall = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let measured = clock.delta_ns(start, clock.raw());
        let real = wall.elapsed().as_nanos() as u64;
        // Within 10 % of the OS clock (the sleep is the same interval for both).
        let diff = measured.abs_diff(real);
        assert!(diff * 10 < real, "quanta {measured} ns vs std {real} ns");
    }

    #[test]
    fn delta_never_negative() {
        let clock = Clock::new();
        let later = clock.raw();
        assert_eq!(clock.delta_ns(later + 1000, later), 0);
        assert!(clock.now_ns() < 60_000_000_000);
    }
}
