//! Depth counters for fuzz targets: how many inputs got how far (parsed, validated, opened…).
//!
//! Set `LSMEDIC_FUZZ_STATS=1` to have a target print its counters every 2000 inputs on stderr;
//! otherwise counting costs one relaxed atomic add per stage.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Named counters; the first counts inputs and triggers the report.
pub struct Stats<const N: usize> {
    target: &'static str,
    names: [&'static str; N],
    counts: [AtomicUsize; N],
}

impl<const N: usize> Stats<N> {
    /// Counters `names` of `target`; `names[0]` should count inputs.
    pub const fn new(target: &'static str, names: [&'static str; N]) -> Stats<N> {
        Stats {
            target,
            names,
            counts: [const { AtomicUsize::new(0) }; N],
        }
    }

    /// Adds one to counter `index` (0 = an input finished; may print the report).
    pub fn count(&self, index: usize) {
        // Relaxed: statistics, ordering nothing.
        let n = self.counts[index].fetch_add(1, Ordering::Relaxed) + 1;
        if index == 0 && n.is_multiple_of(2000) && std::env::var_os("LSMEDIC_FUZZ_STATS").is_some()
        {
            let parts: Vec<String> = self
                .names
                .iter()
                .zip(&self.counts)
                .map(|(name, count)| format!("{} {name}", count.load(Ordering::Relaxed)))
                .collect();
            eprintln!("{}: {}", self.target, parts.join(", "));
        }
    }
}
