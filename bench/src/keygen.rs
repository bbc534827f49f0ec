//! Deterministic randomness for workloads: a small PRNG, the key distributions (uniform,
//! YCSB's scrambled zipfian, YCSB's "latest"), key encoding and values derived from
//! `(column family, key, version)` so a run can be verified storing one counter per key.
//!
//! Everything here is pure and seeded: the same seed gives the same keys, whichever healer
//! mode runs, so `compare` puts every mode through the same request sequence.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// splitmix64: one multiply-xorshift step; used to seed and to hash.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256++: fast, good enough for load generation, seedable per thread.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed` (any value, including 0).
    pub fn new(seed: u64) -> Rng {
        let mut state = seed;
        let mut s = [0u64; 4];
        for slot in &mut s {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            *slot = mix64(state);
        }
        Rng { s }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)` (`n > 0`), Lemire's multiply-shift (bias < 2^-64 · n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[lo, hi]`.
    #[inline]
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// How keys are picked from a key range.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// YCSB's scrambled zipfian, θ = 0.99: a few keys are hot, spread over the key space.
    Zipfian,
    /// YCSB's "latest": zipfian over recency, the most recently inserted keys hottest.
    Latest,
}

impl Distribution {
    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Zipfian => "zipfian",
            Distribution::Latest => "latest",
        }
    }
}

/// YCSB's zipfian constant.
pub const ZIPFIAN_THETA: f64 = 0.99;

/// Zipfian over `[0, items)`, item 0 the most popular (Gray et al., "Quickly generating
/// billion-record synthetic databases", as in YCSB's `ZipfianGenerator`).
#[derive(Clone, Debug)]
pub struct Zipfian {
    items: u64,
    #[cfg_attr(not(test), allow(dead_code))]
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    half_pow_theta: f64,
}

/// ζ(n, θ) = Σ_{i=1..n} 1 / i^θ, summed in O(n) once per generator.
fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

impl Zipfian {
    /// A zipfian over `items ≥ 1` items with exponent `theta` in (0, 1).
    pub fn new(items: u64, theta: f64) -> Zipfian {
        let items = items.max(1);
        let zetan = zeta(items, theta);
        let zeta2 = zeta(2, theta);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipfian {
            items,
            theta,
            alpha,
            zetan,
            eta,
            half_pow_theta: 1.0 + 0.5f64.powf(theta),
        }
    }

    /// Next rank in `[0, items)`, 0 most likely.
    #[inline]
    pub fn next(&self, rng: &mut Rng) -> u64 {
        let u = rng.next_f64();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < self.half_pow_theta {
            return 1.min(self.items - 1);
        }
        let rank = (self.items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        rank.min(self.items - 1)
    }

    /// Probability of rank `r` (for tests).
    #[cfg(test)]
    pub fn probability(&self, rank: u64) -> f64 {
        1.0 / ((rank + 1) as f64).powf(self.theta) / self.zetan
    }
}

/// Picks keys in `[lo, hi)` with one distribution; `latest` reads the newest inserted key
/// from `cursor` (shared with the inserting threads).
#[derive(Clone, Debug)]
pub struct KeyChooser {
    distribution: Distribution,
    zipfian: Option<Zipfian>,
    /// Keys by which the hot spots are moved, rotating within the range (0: YCSB's).
    hot_offset: u64,
}

impl KeyChooser {
    /// A chooser for ranges of about `span` keys (the zipfian table is built for `span`).
    pub fn new(distribution: Distribution, span: u64) -> KeyChooser {
        let zipfian = match distribution {
            Distribution::Uniform => None,
            // YCSB scrambles a zipfian over a large fixed item count and folds it onto the
            // range, so the hot keys are scattered rather than clustered at the start.
            Distribution::Zipfian | Distribution::Latest => {
                Some(Zipfian::new(span.max(1), ZIPFIAN_THETA))
            }
        };
        KeyChooser {
            distribution,
            zipfian,
            hot_offset: 0,
        }
    }

    /// A chooser of `distribution` drawing its ranks from `zipfian` (a table built once and
    /// shared, unused by `uniform`), its hot keys moved `hot_offset` keys on: the zipfian's
    /// hot keys to other keys of the range, `latest`'s from the newest keys to older ones.
    pub fn with_table(
        distribution: Distribution,
        zipfian: &Zipfian,
        hot_offset: u64,
    ) -> KeyChooser {
        KeyChooser {
            distribution,
            zipfian: (distribution != Distribution::Uniform).then(|| zipfian.clone()),
            hot_offset,
        }
    }

    /// A key in `[lo, hi)`; for `latest`, `newest` is one past the newest inserted key
    /// (keys below it exist), and the result lies in `[lo, newest)`.
    #[inline]
    pub fn next(&self, rng: &mut Rng, lo: u64, hi: u64, newest: u64) -> u64 {
        let span = hi.saturating_sub(lo).max(1);
        match (self.distribution, &self.zipfian) {
            (Distribution::Uniform, _) | (_, None) => lo + rng.below(span),
            (Distribution::Zipfian, Some(zipf)) => {
                let rank = zipf.next(rng);
                // FNV-style scramble (mix64) of the rank, folded onto the range.
                lo + (mix64(rank ^ 0x5bd1_e995) % span + self.hot_offset % span) % span
            }
            (Distribution::Latest, Some(zipf)) => {
                let top = newest.clamp(lo + 1, hi.max(lo + 1));
                let live = top - lo;
                let rank = (zipf.next(rng) % live + self.hot_offset % live) % live;
                top - 1 - rank
            }
        }
    }
}

/// One past the newest key inserted into a column family (YCSB's insert sequence).
#[derive(Debug)]
pub struct InsertCursor {
    next: AtomicU64,
    limit: u64,
}

impl InsertCursor {
    /// Inserts start at `start` and never reach `limit`.
    pub fn new(start: u64, limit: u64) -> InsertCursor {
        InsertCursor {
            next: AtomicU64::new(start),
            limit,
        }
    }

    /// One past the newest inserted key.
    pub fn newest(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.limit)
    }

    /// Claims the next key to insert, `None` once the tracked key space is full.
    pub fn claim(&self) -> Option<u64> {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        (key < self.limit).then_some(key)
    }

    /// Moves the cursor forward to at least `key + 1` (after a load wrote `key`).
    pub fn observe(&self, key: u64) {
        self.next.fetch_max(key + 1, Ordering::Relaxed);
    }
}

/// Bytes of an encoded key.
pub const KEY_BYTES: usize = 16;

/// Key `i` as 16 decimal digits: byte order equals numeric order, so scans are ranges.
#[inline]
pub fn encode_key(i: u64) -> [u8; KEY_BYTES] {
    let mut out = [b'0'; KEY_BYTES];
    let mut n = i;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

/// The key number of an encoded key, `None` if it is not one.
#[cfg(test)]
pub fn decode_key(key: &[u8]) -> Option<u64> {
    if key.len() != KEY_BYTES || !key.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(key.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Distinct value sizes one column family may be written with: the verifier keeps each
/// key's size as an index into its column family's sizes, in 5 bits.
pub const MAX_VALUE_SIZE_CLASSES: usize = 32;

/// Value sizes: fixed or uniform in a range (bytes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ValueSize {
    /// Smallest value.
    pub min: u32,
    /// Largest value.
    pub max: u32,
}

impl ValueSize {
    /// Every value `bytes` long.
    pub fn fixed(bytes: u32) -> ValueSize {
        ValueSize {
            min: bytes,
            max: bytes,
        }
    }
}

/// The value of version `version` of key `key` in column family number `cf`: its length
/// and bytes are a pure function of those three, so verification recomputes it. Half of
/// each value repeats the other half, so block compression has something to do (≈ 2:1,
/// like db_bench's default `compression_ratio = 0.5`).
pub fn value_for(cf: u32, key: u64, version: u32, size: ValueSize, out: &mut Vec<u8>) {
    let seed = mix64(key ^ (u64::from(cf) << 48) ^ (u64::from(version) << 20).rotate_left(7));
    let len = if size.min == size.max {
        size.min as usize
    } else {
        (u64::from(size.min) + seed % (u64::from(size.max - size.min) + 1)) as usize
    };
    out.clear();
    out.reserve(len + 8);
    let random_len = len.div_ceil(2);
    let mut state = seed;
    while out.len() < random_len {
        state = mix64(state);
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(random_len);
    while out.len() < len {
        let take = (len - out.len()).min(random_len);
        out.extend_from_within(..take);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uniform_enough() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut counts = [0u64; 10];
        for _ in 0..100_000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            counts[x as usize] += 1;
        }
        for count in counts {
            // 5 % of the mean on 10 000 expected draws is > 5 sigma.
            assert!((9_500..=10_500).contains(&count), "{counts:?}");
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn zipfian_follows_the_power_law() {
        let zipf = Zipfian::new(1000, ZIPFIAN_THETA);
        let mut rng = Rng::new(42);
        let draws = 400_000;
        let mut counts = vec![0u64; 1000];
        for _ in 0..draws {
            counts[zipf.next(&mut rng) as usize] += 1;
        }
        // The head: rank 0 and 1 close to their exact probabilities.
        for rank in 0..2 {
            let expected = zipf.probability(rank) * draws as f64;
            let got = counts[rank as usize] as f64;
            assert!(
                (got - expected).abs() / expected < 0.05,
                "rank {rank}: {got} vs {expected}"
            );
        }
        // Monotone on average: the first decile holds far more than the last.
        let first: u64 = counts[..100].iter().sum();
        let last: u64 = counts[900..].iter().sum();
        assert!(first > 10 * last, "first decile {first}, last {last}");
        // The top 10 % of keys receive most of the traffic (≈ 70 % for θ = 0.99, n = 1000).
        assert!(first as f64 / draws as f64 > 0.6);
    }

    #[test]
    fn scrambled_zipfian_scatters_hot_keys_over_the_range() {
        let chooser = KeyChooser::new(Distribution::Zipfian, 10_000);
        let mut rng = Rng::new(3);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..100_000 {
            let key = chooser.next(&mut rng, 5_000, 15_000, 0);
            assert!((5_000..15_000).contains(&key));
            *counts.entry(key).or_insert(0u64) += 1;
        }
        let mut by_count: Vec<_> = counts.into_iter().collect();
        by_count.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        // Skewed: the hottest key is hit far more than the uniform share (10 per key).
        assert!(by_count[0].1 > 500, "{:?}", &by_count[..3]);
        // Scattered: the ten hottest keys are not the first ten of the range.
        let hottest: Vec<u64> = by_count[..10].iter().map(|(k, _)| *k).collect();
        assert!(hottest.iter().any(|&k| k > 6_000), "{hottest:?}");
    }

    #[test]
    fn latest_prefers_the_newest_keys() {
        let chooser = KeyChooser::new(Distribution::Latest, 10_000);
        let mut rng = Rng::new(9);
        let newest = 8_000;
        let mut recent = 0;
        for _ in 0..50_000 {
            let key = chooser.next(&mut rng, 0, 10_000, newest);
            assert!(key < newest, "latest never returns a key not yet inserted");
            if key >= newest - 100 {
                recent += 1;
            }
        }
        // Under uniform, the newest 100 of 8000 keys would get 1.25 %; latest gives > 50 %.
        assert!(recent > 25_000, "{recent}");
    }

    #[test]
    fn a_hot_offset_moves_the_hot_keys_and_keeps_them_in_range() {
        let table = Zipfian::new(10_000, ZIPFIAN_THETA);
        let hottest = |offset: u64| {
            let chooser = KeyChooser::with_table(Distribution::Zipfian, &table, offset);
            let mut rng = Rng::new(11);
            let mut counts = std::collections::HashMap::new();
            for _ in 0..50_000 {
                let key = chooser.next(&mut rng, 1_000, 11_000, 0);
                assert!((1_000..11_000).contains(&key));
                *counts.entry(key).or_insert(0u64) += 1;
            }
            counts.into_iter().max_by_key(|(_, c)| *c).unwrap().0
        };
        let (home, moved) = (hottest(0), hottest(2_500));
        assert_eq!(moved, 1_000 + (home - 1_000 + 2_500) % 10_000);
        // Offset 0 through the shared table is YCSB's chooser, draw for draw.
        let plain = KeyChooser::new(Distribution::Zipfian, 10_000);
        let same = KeyChooser::with_table(Distribution::Zipfian, &table, 0);
        let (mut a, mut b) = (Rng::new(4), Rng::new(4));
        for _ in 0..1_000 {
            assert_eq!(
                plain.next(&mut a, 0, 10_000, 0),
                same.next(&mut b, 0, 10_000, 0)
            );
        }
        // `latest` moved on: the hottest keys are `offset` below the newest, never above it.
        let latest = KeyChooser::with_table(Distribution::Latest, &table, 300);
        let mut rng = Rng::new(5);
        let mut near = 0;
        for _ in 0..20_000 {
            let key = latest.next(&mut rng, 0, 10_000, 8_000);
            assert!(key < 8_000);
            near += u32::from((7_600..7_700).contains(&key));
        }
        // Ranks 0..100 hold about half the draws (ζ(100) / ζ(10 000) at θ = 0.99).
        assert!(near > 8_000, "{near}");
    }

    #[test]
    fn a_lower_theta_flattens_the_zipfian() {
        let share_of_top = |theta: f64| {
            let zipf = Zipfian::new(10_000, theta);
            let mut rng = Rng::new(8);
            (0..100_000).filter(|_| zipf.next(&mut rng) < 100).count()
        };
        let (steep, flat) = (share_of_top(0.99), share_of_top(0.5));
        assert!(steep > 3 * flat, "top 1 %: {steep} at 0.99, {flat} at 0.5");
    }

    #[test]
    fn uniform_covers_the_range_evenly() {
        let chooser = KeyChooser::new(Distribution::Uniform, 100);
        let mut rng = Rng::new(1);
        let mut counts = [0u64; 100];
        for _ in 0..200_000 {
            counts[(chooser.next(&mut rng, 100, 200, 0) - 100) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (1_700..=2_300).contains(&c)));
    }

    #[test]
    fn keys_round_trip_and_sort_numerically() {
        for i in [0u64, 1, 9, 10, 12_345, 9_999_999_999_999_999] {
            assert_eq!(decode_key(&encode_key(i)), Some(i));
        }
        assert!(encode_key(99) < encode_key(100));
        assert_eq!(decode_key(b"nope"), None);
    }

    #[test]
    fn values_are_a_function_of_cf_key_and_version() {
        let size = ValueSize { min: 100, max: 200 };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        value_for(0, 5, 1, size, &mut a);
        value_for(0, 5, 1, size, &mut b);
        assert_eq!(a, b);
        assert!((100..=200).contains(&a.len()));
        value_for(0, 5, 2, size, &mut b);
        assert_ne!(a, b, "a new version has a new value");
        value_for(1, 5, 1, size, &mut b);
        assert_ne!(a, b, "another column family has another value");
        value_for(0, 5, 1, ValueSize::fixed(1000), &mut a);
        assert_eq!(a.len(), 1000);
        assert_eq!(a[..500], a[500..]);
    }

    #[test]
    fn insert_cursor_stops_at_its_limit() {
        let cursor = InsertCursor::new(10, 12);
        assert_eq!(cursor.claim(), Some(10));
        assert_eq!(cursor.claim(), Some(11));
        assert_eq!(cursor.claim(), None);
        assert_eq!(cursor.newest(), 12);
        let cursor = InsertCursor::new(0, 100);
        cursor.observe(41);
        assert_eq!(cursor.newest(), 42);
    }
}
