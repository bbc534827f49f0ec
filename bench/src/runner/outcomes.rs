//! Write outcomes over the whole run, for faults that make the database refuse writes
//! (`disk_full`): how many writes the workload threads had refused, and when the first write
//! after a given instant (the fault's end) was accepted.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What the workload threads' writes came back with.
#[derive(Default)]
pub(crate) struct WriteOutcomes {
    /// Writes that failed, since the run started.
    refused: AtomicU64,
    /// `watches.len()`, read without the lock on every accepted write.
    watching: AtomicUsize,
    /// Watches still waiting for an accepted write.
    watches: Mutex<Vec<Arc<ResumeWatch>>>,
}

/// The first write accepted from an instant on.
pub(crate) struct ResumeWatch {
    from: Instant,
    first: Mutex<Option<Instant>>,
}

impl ResumeWatch {
    /// How long after its instant the first write was accepted (`None`: none yet).
    pub(crate) fn resumed_after(&self) -> Option<Duration> {
        self.first
            .lock()
            .map(|first| first.saturating_duration_since(self.from))
    }
}

impl WriteOutcomes {
    /// Notes one write of a workload thread, which ended at `end`.
    #[inline]
    pub(crate) fn note(&self, accepted: bool, end: Instant) {
        if !accepted {
            self.refused.fetch_add(1, Ordering::Relaxed);
        } else if self.watching.load(Ordering::Acquire) > 0 {
            let mut watches = self.watches.lock();
            watches.retain(|watch| {
                if end < watch.from {
                    return true;
                }
                *watch.first.lock() = Some(end);
                false
            });
            self.watching.store(watches.len(), Ordering::Release);
        }
    }

    /// Writes refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Starts watching for the first write accepted at or after `from`.
    pub(crate) fn watch_from(&self, from: Instant) -> Arc<ResumeWatch> {
        let watch = Arc::new(ResumeWatch {
            from,
            first: Mutex::new(None),
        });
        let mut watches = self.watches.lock();
        watches.push(Arc::clone(&watch));
        self.watching.store(watches.len(), Ordering::Release);
        watch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_refusals_and_times_the_first_write_accepted_after_an_instant() {
        let outcomes = WriteOutcomes::default();
        let t = Instant::now();
        outcomes.note(false, t);
        outcomes.note(false, t);
        assert_eq!(outcomes.refused(), 2);
        let watch = outcomes.watch_from(t + Duration::from_millis(10));
        outcomes.note(true, t + Duration::from_millis(5));
        assert_eq!(watch.resumed_after(), None, "accepted before the instant");
        outcomes.note(true, t + Duration::from_millis(30));
        outcomes.note(true, t + Duration::from_millis(50));
        assert_eq!(watch.resumed_after(), Some(Duration::from_millis(20)));
        assert_eq!(outcomes.watching.load(Ordering::Relaxed), 0);
    }
}
