//! Bounded lock-free rings carrying telemetry from the engine's threads to the healer.
//!
//! [`Ring`] is Dmitry Vyukov's bounded MPMC array queue: every slot carries a sequence number
//! that tells producers and consumers whose turn it is, so a push and a pop each claim a
//! position with one CAS and hand the value over through the slot's sequence number.
//! [`ShardedRing`] spreads producers over several rings so that threads pushing at the same
//! time rarely touch the same cache lines.
//!
//! A push never blocks, never waits for a consumer and never allocates: when the ring is full
//! the value is dropped and counted ([`Ring::dropped`]). Telemetry is allowed to lose events;
//! the foreground op that produced them is never allowed to wait for the healer.

use std::cell::Cell;
use std::fmt;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// Smallest capacity a [`Ring`] is built with (a requested capacity of 0 or 1 becomes this).
pub const MIN_CAPACITY: usize = 2;

/// Largest capacity a [`Ring`] is built with (larger requests are clamped to this); keeps
/// position arithmetic far from overflow and a mistyped capacity from exhausting memory.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Largest shard count of a [`ShardedRing`].
pub const MAX_SHARDS: usize = 64;

/// One cell of the ring.
///
/// `seq == pos` means the slot is free for the producer claiming position `pos`;
/// `seq == pos + 1` means it holds the value pushed at `pos`, ready for the consumer claiming
/// `pos`. A pop at `pos` sets it to `pos + capacity`, the next lap's producer position.
struct Slot<T> {
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded lock-free multi-producer multi-consumer queue of `Copy` values.
///
/// Every operation takes `&self`, so a `Ring` shared through an `Arc` can be pushed to from
/// any number of threads and drained from any thread. Pushes and pops are lock-free: an
/// operation retries only when another thread claimed the same position first.
///
/// Values are `Copy`, so the ring never runs a destructor: a value still in the ring when the
/// ring is dropped is simply forgotten. That is why `Ring` has no `Drop` impl and its slots
/// are `MaybeUninit` without any record of which ones are initialised.
pub struct Ring<T> {
    /// Next position to pop. Only consumers write it.
    head: CachePadded<AtomicUsize>,
    /// Next position to push. Only producers write it.
    tail: CachePadded<AtomicUsize>,
    /// Values refused because the ring was full.
    dropped: CachePadded<AtomicU64>,
    /// `capacity - 1`; the capacity is a power of two so a position maps to a slot by masking.
    mask: usize,
    slots: Box<[Slot<T>]>,
}

// SAFETY: a `Ring` owns values of type `T` and hands them to whichever thread pops them, so
// moving the ring to another thread moves `T`s: `T: Send` suffices.
unsafe impl<T: Send> Send for Ring<T> {}

// SAFETY: shared access only reads or writes a slot's value after claiming its position with a
// CAS on `head`/`tail` and observing the slot's sequence number with `Acquire`, which orders the
// access after the previous owner's `Release` store (see `push`/`pop`); so no value is ever
// accessed by two threads at once, and values only move between threads, which `T: Send` allows.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T: Copy + Send> Ring<T> {
    /// A ring holding at least `capacity` values: the capacity is rounded up to a power of
    /// two and clamped to [`MIN_CAPACITY`]`..=`[`MAX_CAPACITY`] (so 0 gives a ring of 2).
    ///
    /// All memory is allocated here; pushes and pops never allocate.
    pub fn new(capacity: usize) -> Ring<T> {
        let capacity = capacity
            .clamp(MIN_CAPACITY, MAX_CAPACITY)
            .next_power_of_two();
        let slots = (0..capacity)
            .map(|pos| Slot {
                seq: AtomicUsize::new(pos),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            dropped: CachePadded::new(AtomicU64::new(0)),
            mask: capacity - 1,
            slots,
        }
    }

    /// Appends `value`; returns `false` and counts a drop if the ring is full.
    ///
    /// Never blocks, waits for a consumer or allocates. A push may also report "full" while a
    /// consumer is still copying out the value in the slot it needs: the ring is full until
    /// that copy is done, and waiting for it would make the producer depend on the consumer.
    #[inline]
    pub fn push(&self, value: T) -> bool {
        // Relaxed: `tail` only picks a candidate position; whether the slot is free is decided
        // by its sequence number, and the CAS below makes the claim exclusive.
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            // Acquire: pairs with the Release store of the pop that freed this slot, so that
            // pop's read of the old value happens before our write below.
            let seq = slot.seq.load(Ordering::Acquire);
            let lag = seq.wrapping_sub(pos) as isize;
            if lag == 0 {
                // Relaxed on both sides: the CAS only makes the claim on `pos` exclusive; the
                // value is published through `seq`, not through `tail`.
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.value.with_mut(|cell| {
                            // SAFETY: winning the CAS made this thread the only producer of
                            // position `pos`, and `seq == pos` (read with Acquire) means the
                            // consumer of the previous lap has finished reading this slot;
                            // no consumer reads it before our Release store of `pos + 1`.
                            unsafe { (*cell).write(value) };
                        });
                        // Release: publishes the value written above to the consumer that
                        // reads `seq == pos + 1` with Acquire.
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return true;
                    }
                    Err(current) => pos = current,
                }
            } else if lag < 0 {
                // The slot still holds the value pushed one lap ago: the ring is full.
                // Relaxed: the counter is a statistic; it orders nothing.
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            } else {
                // Another producer claimed `pos` and already published into it (a consumer may
                // even have popped it); that producer's claim of `tail` happened before the
                // sequence store we acquired, so this reload returns a later position.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Removes the oldest value, or `None` if the ring is empty (or the oldest value is still
    /// being written by its producer).
    #[inline]
    pub fn pop(&self) -> Option<T> {
        // Relaxed: as in `push`, the slot's sequence number decides; the CAS claims.
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            // Acquire: pairs with the producer's Release store so its write of the value
            // happens before our read.
            let seq = slot.seq.load(Ordering::Acquire);
            let lag = seq.wrapping_sub(pos.wrapping_add(1)) as isize;
            if lag == 0 {
                // Relaxed: the claim needs exclusivity only; the value was acquired via `seq`.
                match self.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let value = slot.value.with(|cell| {
                            // SAFETY: winning the CAS made this thread the only consumer of
                            // `pos`; `seq == pos + 1` (read with Acquire) means the producer's
                            // write of an initialised value happened before this read, and no
                            // producer writes the slot again until our Release store below.
                            unsafe { (*cell).assume_init_read() }
                        });
                        // Release: our read above happens before the next lap's producer
                        // overwrites the slot (it reads this store with Acquire).
                        slot.seq
                            .store(pos.wrapping_add(self.mask + 1), Ordering::Release);
                        return Some(value);
                    }
                    Err(current) => pos = current,
                }
            } else if lag < 0 {
                // No value has been published at `pos` yet: empty.
                return None;
            } else {
                // Another consumer took `pos`; its claim of `head` happened before the slot
                // was freed, which we acquired, so this reload moves forward.
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops what is in the ring now and passes each value to `f`, oldest first; returns how
    /// many were passed.
    ///
    /// Bounded: at most [`capacity`](Ring::capacity) values per call, so a producer pushing as
    /// fast as the consumer drains cannot keep the consumer here forever.
    pub fn drain(&self, mut f: impl FnMut(T)) -> usize {
        let mut drained = 0;
        while drained < self.capacity() {
            match self.pop() {
                Some(value) => {
                    f(value);
                    drained += 1;
                }
                None => break,
            }
        }
        drained
    }

    /// [`drain`](Ring::drain) appending to `out`; returns how many values were appended.
    /// `out` grows only if its spare capacity is too small.
    pub fn drain_into(&self, out: &mut Vec<T>) -> usize {
        self.drain(|value| out.push(value))
    }

    /// How many values the ring holds when full (a power of two).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Values in the ring, approximately: exact only when no push or pop runs concurrently.
    pub fn len(&self) -> usize {
        // Relaxed: the result is a hint; reading `head` first and clamping keeps it within
        // `0..=capacity` even when the two loads see different moments.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let len = tail.wrapping_sub(head) as isize;
        len.clamp(0, self.capacity() as isize) as usize
    }

    /// Whether the ring looks empty (approximate, like [`len`](Ring::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values refused by [`push`](Ring::push) because the ring was full, since creation.
    pub fn dropped(&self) -> u64 {
        // Relaxed: a statistic, read without ordering other memory.
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &(self.mask + 1))
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

/// Hands out per-thread shard hints round-robin.
///
/// Deliberately `std`'s atomic even under loom: the shard choice needs no synchronisation
/// (any shard is correct), so it is not part of the model; loom tests use
/// [`ShardedRing::push_to_shard`].
static NEXT_SHARD_HINT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// This thread's shard hint, `usize::MAX` until its first push to any `ShardedRing`.
    static SHARD_HINT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard hint, assigned on first use.
#[inline]
fn thread_shard_hint() -> usize {
    SHARD_HINT
        .try_with(|hint| {
            let mut value = hint.get();
            if value == usize::MAX {
                // Relaxed: only uniqueness of the counter's values matters, not ordering.
                value = NEXT_SHARD_HINT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    & (usize::MAX >> 1);
                hint.set(value);
            }
            value
        })
        // Thread-local storage is gone while the thread is exiting; shard 0 is as good as any.
        .unwrap_or(0)
}

/// The default shard count: the next power of two ≥ 2 × available parallelism, at most
/// [`MAX_SHARDS`].
pub fn default_shard_count() -> usize {
    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    parallelism
        .saturating_mul(2)
        .clamp(1, MAX_SHARDS)
        .next_power_of_two()
}

/// Several independent [`Ring`]s; each producer thread pushes into one of them.
///
/// A thread's shard is fixed on its first push (round-robin over all threads that ever
/// pushed), so values pushed by one thread come out in the order it pushed them. Two threads
/// may share a shard; that is merely contention, not an error, since each shard is MPMC.
pub struct ShardedRing<T> {
    shards: Box<[Ring<T>]>,
}

impl<T: Copy + Send> ShardedRing<T> {
    /// `shards` rings (rounded up to a power of two, clamped to `1..=`[`MAX_SHARDS`]), each
    /// built by [`Ring::new`]`(capacity_per_shard)`.
    pub fn new(shards: usize, capacity_per_shard: usize) -> ShardedRing<T> {
        let shards = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        ShardedRing {
            shards: (0..shards).map(|_| Ring::new(capacity_per_shard)).collect(),
        }
    }

    /// [`default_shard_count`] rings of `capacity_per_shard` each.
    pub fn with_default_shards(capacity_per_shard: usize) -> ShardedRing<T> {
        Self::new(default_shard_count(), capacity_per_shard)
    }

    /// Pushes into this thread's shard; `false` (and a counted drop) if that shard is full.
    /// Never blocks or allocates.
    #[inline]
    pub fn push(&self, value: T) -> bool {
        self.push_to_shard(thread_shard_hint(), value)
    }

    /// Pushes into shard `shard % shard_count()`: for callers that manage their own shard
    /// choice, and for tests that need a deterministic one.
    #[inline]
    pub fn push_to_shard(&self, shard: usize, value: T) -> bool {
        // The shard count is a power of two, so masking is the modulo.
        self.shards[shard & (self.shards.len() - 1)].push(value)
    }

    /// Drains every shard in turn (each bounded as in [`Ring::drain`]); returns the total.
    /// Values of one producer stay in order; values of different shards interleave by shard.
    pub fn drain(&self, mut f: impl FnMut(T)) -> usize {
        self.shards.iter().map(|ring| ring.drain(&mut f)).sum()
    }

    /// [`drain`](ShardedRing::drain) appending to `out`.
    pub fn drain_into(&self, out: &mut Vec<T>) -> usize {
        self.drain(|value| out.push(value))
    }

    /// The shards, for per-shard inspection.
    pub fn shards(&self) -> &[Ring<T>] {
        &self.shards
    }

    /// Number of shards (a power of two).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Sum of the shards' capacities.
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(Ring::capacity).sum()
    }

    /// Values held, approximately (sum of [`Ring::len`]).
    pub fn len(&self) -> usize {
        self.shards.iter().map(Ring::len).sum()
    }

    /// Whether every shard looks empty.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(Ring::is_empty)
    }

    /// Values dropped by all shards since creation.
    pub fn dropped(&self) -> u64 {
        self.shards.iter().map(Ring::dropped).sum()
    }
}

impl<T> fmt::Debug for ShardedRing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedRing")
            .field("shards", &self.shards)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Barrier};
    use std::thread;

    #[test]
    fn capacity_rounds_up_to_power_of_two() {
        assert_eq!(Ring::<u32>::new(0).capacity(), 2);
        assert_eq!(Ring::<u32>::new(1).capacity(), 2);
        assert_eq!(Ring::<u32>::new(2).capacity(), 2);
        assert_eq!(Ring::<u32>::new(3).capacity(), 4);
        assert_eq!(Ring::<u32>::new(1000).capacity(), 1024);
        assert_eq!(Ring::<u32>::new(1024).capacity(), 1024);
    }

    #[test]
    fn empty_ring_drains_nothing() {
        let ring = Ring::<u64>::new(8);
        assert!(ring.is_empty());
        assert_eq!(ring.pop(), None);
        assert_eq!(ring.drain(|_| panic!("nothing to drain")), 0);
        let mut out = Vec::new();
        assert_eq!(ring.drain_into(&mut out), 0);
        assert!(out.is_empty());
        assert_eq!(ring.dropped(), 0);
    }

    #[test]
    fn full_ring_drops_and_counts() {
        let ring = Ring::<u32>::new(4);
        for i in 0..4 {
            assert!(ring.push(i));
        }
        assert_eq!(ring.len(), 4);
        assert!(!ring.push(99));
        assert!(!ring.push(100));
        assert_eq!(ring.dropped(), 2);
        let mut out = Vec::new();
        assert_eq!(ring.drain_into(&mut out), 4);
        assert_eq!(out, vec![0, 1, 2, 3]);
        assert!(ring.push(4), "a drained ring accepts again");
    }

    #[test]
    fn pop_after_wrap_keeps_fifo_order() {
        let ring = Ring::<u32>::new(2);
        let mut next = 0;
        for _round in 0..10 {
            assert!(ring.push(next));
            assert!(ring.push(next + 1));
            assert!(!ring.push(u32::MAX));
            assert_eq!(ring.pop(), Some(next));
            assert!(ring.push(next + 2));
            assert_eq!(ring.pop(), Some(next + 1));
            assert_eq!(ring.pop(), Some(next + 2));
            assert_eq!(ring.pop(), None);
            next += 3;
        }
        assert_eq!(ring.dropped(), 10);
    }

    #[test]
    fn drain_is_bounded_by_capacity() {
        let ring = Ring::<u32>::new(4);
        for i in 0..4 {
            ring.push(i);
        }
        // The callback refills the ring as fast as it is drained.
        let drained = ring.drain(|v| {
            ring.push(v + 100);
        });
        assert_eq!(drained, 4);
        assert_eq!(ring.len(), 4);
    }

    #[test]
    fn sharded_ring_sizes_and_sums() {
        let sharded = ShardedRing::<u32>::new(3, 5);
        assert_eq!(sharded.shard_count(), 4);
        assert_eq!(sharded.capacity(), 4 * 8);
        let sharded = ShardedRing::<u32>::new(0, 0);
        assert_eq!(sharded.shard_count(), 1);
        assert_eq!(ShardedRing::<u32>::new(1000, 2).shard_count(), MAX_SHARDS);
        let default = ShardedRing::<u32>::with_default_shards(2);
        assert!(default.shard_count().is_power_of_two());
        assert!(default.shard_count() <= MAX_SHARDS);
        assert!(default.shard_count() >= 2);

        let sharded = ShardedRing::<u32>::new(2, 2);
        for i in 0..3 {
            sharded.push_to_shard(0, i);
        }
        sharded.push_to_shard(1, 7);
        sharded.push_to_shard(3, 8); // 3 % 2 == 1
        assert_eq!(sharded.dropped(), 1);
        assert_eq!(sharded.len(), 4);
        let mut out = Vec::new();
        assert_eq!(sharded.drain_into(&mut out), 4);
        assert_eq!(out, vec![0, 1, 7, 8]);
        assert!(sharded.is_empty());
    }

    #[test]
    fn one_thread_always_uses_one_shard() {
        let sharded = ShardedRing::<u32>::new(8, 64);
        for i in 0..10 {
            assert!(sharded.push(i));
        }
        let used: Vec<usize> = sharded.shards().iter().map(Ring::len).collect();
        assert_eq!(used.iter().filter(|&&n| n > 0).count(), 1, "{used:?}");
    }

    /// A value tagged with its producer and its position in that producer's sequence.
    type Tagged = (u32, u32);

    /// Pushes each producer's sequence from its own thread, all starting together; returns
    /// what each producer had accepted, in push order.
    fn push_concurrently(
        producers: &[Vec<u32>],
        push: impl Fn(Tagged) -> bool + Sync,
    ) -> Vec<Vec<Tagged>> {
        let barrier = Barrier::new(producers.len());
        thread::scope(|scope| {
            let handles: Vec<_> = producers
                .iter()
                .enumerate()
                .map(|(id, seq)| {
                    let (barrier, push) = (&barrier, &push);
                    scope.spawn(move || {
                        barrier.wait();
                        seq.iter()
                            .map(|&v| (id as u32, v))
                            .filter(|&tagged| push(tagged))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("producer thread panicked"))
                .collect()
        })
    }

    /// Checks that `drained` is exactly the union of `accepted`, each producer's values in
    /// its own order.
    fn assert_per_producer_order(drained: &[Tagged], accepted: &[Vec<Tagged>]) {
        assert_eq!(
            drained.len(),
            accepted.iter().map(Vec::len).sum::<usize>(),
            "drained count"
        );
        for (id, expected) in accepted.iter().enumerate() {
            let got: Vec<Tagged> = drained
                .iter()
                .copied()
                .filter(|&(p, _)| p == id as u32)
                .collect();
            assert_eq!(&got, expected, "producer {id}");
        }
    }

    fn producers_within(total: usize) -> impl Strategy<Value = Vec<Vec<u32>>> {
        (1usize..=4).prop_flat_map(move |n| {
            prop::collection::vec(prop::collection::vec(any::<u32>(), 0..=total / n), n)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn ring_drain_returns_exactly_what_was_pushed(producers in producers_within(64)) {
            let ring = Ring::<Tagged>::new(64);
            let accepted = push_concurrently(&producers, |v| ring.push(v));
            for (seq, acc) in producers.iter().zip(&accepted) {
                prop_assert_eq!(seq.len(), acc.len());
            }
            let mut drained = Vec::new();
            ring.drain_into(&mut drained);
            assert_per_producer_order(&drained, &accepted);
            prop_assert_eq!(ring.dropped(), 0);
            prop_assert!(ring.is_empty());
        }

        #[test]
        fn ring_overflow_counts_every_refusal(producers in producers_within(200)) {
            let ring = Ring::<Tagged>::new(32);
            let accepted = push_concurrently(&producers, |v| ring.push(v));
            let attempts: usize = producers.iter().map(Vec::len).sum();
            let accepted_total: usize = accepted.iter().map(Vec::len).sum();
            prop_assert_eq!(accepted_total, attempts.min(32));
            prop_assert_eq!(accepted_total as u64 + ring.dropped(), attempts as u64);
            let mut drained = Vec::new();
            ring.drain_into(&mut drained);
            assert_per_producer_order(&drained, &accepted);
        }

        #[test]
        fn ring_with_concurrent_consumer_loses_nothing_it_accepted(
            producers in producers_within(400),
        ) {
            let ring = Arc::new(Ring::<Tagged>::new(16));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let consumer = {
                let (ring, stop) = (Arc::clone(&ring), Arc::clone(&stop));
                thread::spawn(move || {
                    let mut drained = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Acquire) {
                        ring.drain_into(&mut drained);
                        thread::yield_now();
                    }
                    drained
                })
            };
            let accepted = push_concurrently(&producers, |v| ring.push(v));
            stop.store(true, std::sync::atomic::Ordering::Release);
            let mut drained = consumer.join().expect("consumer panicked");
            ring.drain_into(&mut drained);
            let attempts: usize = producers.iter().map(Vec::len).sum();
            let accepted_total: usize = accepted.iter().map(Vec::len).sum();
            prop_assert_eq!(accepted_total as u64 + ring.dropped(), attempts as u64);
            assert_per_producer_order(&drained, &accepted);
        }

        #[test]
        fn sharded_drain_returns_exactly_what_was_pushed(producers in producers_within(64)) {
            // Each shard can hold everything, whichever shards the threads land on.
            let sharded = ShardedRing::<Tagged>::new(4, 64);
            let accepted = push_concurrently(&producers, |v| sharded.push(v));
            for (seq, acc) in producers.iter().zip(&accepted) {
                prop_assert_eq!(seq.len(), acc.len());
            }
            let mut drained = Vec::new();
            sharded.drain_into(&mut drained);
            assert_per_producer_order(&drained, &accepted);
            prop_assert_eq!(sharded.dropped(), 0);
            prop_assert!(sharded.is_empty());
        }

        #[test]
        fn sharded_overflow_counts_every_refusal(producers in producers_within(200)) {
            let sharded = ShardedRing::<Tagged>::new(2, 16);
            let accepted = push_concurrently(&producers, |v| sharded.push(v));
            let attempts: usize = producers.iter().map(Vec::len).sum();
            let accepted_total: usize = accepted.iter().map(Vec::len).sum();
            prop_assert_eq!(accepted_total as u64 + sharded.dropped(), attempts as u64);
            prop_assert!(accepted_total <= sharded.capacity());
            let mut drained = Vec::new();
            sharded.drain_into(&mut drained);
            assert_per_producer_order(&drained, &accepted);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Explores interleavings with a preemption bound that keeps the run short.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        // `LOOM_MAX_PREEMPTIONS` (read by `Builder::new`) overrides the default bound.
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(f);
    }

    /// `values` split by producer (value / 10), each in pop order.
    fn by_producer(values: &[u32], producer: u32) -> Vec<u32> {
        values
            .iter()
            .copied()
            .filter(|v| v / 10 == producer)
            .collect()
    }

    #[test]
    fn loom_two_producers_one_consumer() {
        model(|| {
            let ring = Arc::new(Ring::<u32>::new(2));
            let producers: Vec<_> = (1..=2u32)
                .map(|p| {
                    let ring = Arc::clone(&ring);
                    thread::spawn(move || {
                        [p * 10, p * 10 + 1]
                            .into_iter()
                            .filter(|&v| ring.push(v))
                            .collect::<Vec<u32>>()
                    })
                })
                .collect();
            let consumer = {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    let mut out = Vec::new();
                    ring.drain_into(&mut out);
                    out
                })
            };
            let accepted: Vec<Vec<u32>> = producers
                .into_iter()
                .map(|h| h.join().expect("producer"))
                .collect();
            let mut popped = consumer.join().expect("consumer");
            ring.drain_into(&mut popped);
            assert!(ring.pop().is_none());

            let accepted_total: usize = accepted.iter().map(Vec::len).sum();
            assert_eq!(accepted_total as u64 + ring.dropped(), 4);
            assert_eq!(popped.len(), accepted_total);
            for (i, acc) in accepted.iter().enumerate() {
                assert_eq!(&by_producer(&popped, i as u32 + 1), acc);
            }
        });
    }

    #[test]
    fn loom_full_ring_drops_and_counts() {
        model(|| {
            let ring = Arc::new(Ring::<u32>::new(2));
            let other = {
                let ring = Arc::clone(&ring);
                thread::spawn(move || u32::from(ring.push(20)) + u32::from(ring.push(21)))
            };
            let mine = u32::from(ring.push(10)) + u32::from(ring.push(11));
            let accepted = mine + other.join().expect("producer");
            assert_eq!(accepted, 2, "no consumer: exactly the capacity is accepted");
            assert_eq!(ring.dropped(), 2);
            let mut out = Vec::new();
            assert_eq!(ring.drain_into(&mut out), 2);
        });
    }

    #[test]
    fn loom_wrap_around() {
        model(|| {
            let ring = Arc::new(Ring::<u32>::new(2));
            let producer = {
                let ring = Arc::clone(&ring);
                thread::spawn(move || (0..4u32).filter(|&v| ring.push(v)).collect::<Vec<_>>())
            };
            // The consumer runs on its own thread, spawned after the producer: loom's DPOR only
            // explores a load racing a later store when the loading thread is scheduled after
            // the storing one has started, so a consumer on the main thread (which runs first)
            // would be checked in a single interleaving.
            let consumer = {
                let ring = Arc::clone(&ring);
                thread::spawn(move || (0..3).filter_map(|_| ring.pop()).collect::<Vec<_>>())
            };
            let accepted = producer.join().expect("producer");
            let mut popped = consumer.join().expect("consumer");
            ring.drain_into(&mut popped);
            assert_eq!(popped, accepted, "FIFO across laps");
            assert_eq!(accepted.len() as u64 + ring.dropped(), 4);
            // The first two pushes always fit.
            assert_eq!(&accepted[..2], &[0, 1]);
        });
    }
}
