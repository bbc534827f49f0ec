//! The ring protocol under real concurrency: two producer threads and one or two consumers.
//!
//! The input chooses the ring shape, how many values each producer pushes, where producers and
//! consumers yield (to vary the interleavings the two cores produce), and how consumers take
//! values out (pop, drain, drain one shard). Whatever the interleaving:
//! - every value a push accepted is taken out exactly once (consumers plus the final drain),
//!   and no refused value ever appears;
//! - each consumer sees each producer's values in push order (per-producer FIFO);
//! - `dropped()` equals the number of refused pushes;
//! - no value is torn (a check word is verified on every value taken out).
//!
//! Scheduling is not reproducible, so a crash may need several runs of its input to recur.

#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lsmedic_telemetry::{Ring, ShardedRing};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    producer: u32,
    seq: u32,
    payload: [u64; 2],
}

impl Item {
    fn new(producer: u32, seq: u32) -> Item {
        let mix = (u64::from(producer) << 32 | u64::from(seq)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Item {
            producer,
            seq,
            payload: [mix, mix.rotate_left(17)],
        }
    }
}

#[derive(Arbitrary, Debug)]
enum ConsumerStep {
    Pop,
    Drain,
    /// `Ring::drain` of one shard (a sharded ring only; a pop otherwise).
    DrainShard(u8),
    Yield,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// `Some(shards)`: a `ShardedRing` (producers use `push`, their thread's shard);
    /// `None`: one `Ring`.
    shards: Option<u8>,
    capacity: u8,
    /// Values pushed by each of the two producers (each up to 1023).
    counts: [u16; 2],
    /// Producer `i` yields after every `yield_every[i]`-th push (0: never).
    yield_every: [u8; 2],
    /// A second consumer thread besides the main one.
    second_consumer: bool,
    /// Consumer steps, repeated cyclically.
    steps: Vec<ConsumerStep>,
}

const PRODUCERS: usize = 2;

enum Rings {
    Single(Box<Ring<Item>>),
    Sharded(ShardedRing<Item>),
}

impl Rings {
    fn push(&self, item: Item) -> bool {
        match self {
            Rings::Single(ring) => ring.push(item),
            Rings::Sharded(sharded) => sharded.push(item),
        }
    }

    fn take(&self, step: &ConsumerStep, out: &mut Vec<Item>) {
        match (self, step) {
            (_, ConsumerStep::Yield) => std::thread::yield_now(),
            (Rings::Single(ring), ConsumerStep::Pop | ConsumerStep::DrainShard(_)) => {
                out.extend(ring.pop())
            }
            (Rings::Single(ring), ConsumerStep::Drain) => {
                ring.drain_into(out);
            }
            (Rings::Sharded(sharded), ConsumerStep::Pop) => {
                for ring in sharded.shards() {
                    if let Some(item) = ring.pop() {
                        out.push(item);
                        break;
                    }
                }
            }
            (Rings::Sharded(sharded), ConsumerStep::Drain) => {
                sharded.drain_into(out);
            }
            (Rings::Sharded(sharded), ConsumerStep::DrainShard(i)) => {
                let shards = sharded.shards();
                shards[usize::from(*i) % shards.len()].drain_into(out);
            }
        }
    }

    fn drain_all(&self, out: &mut Vec<Item>) {
        match self {
            Rings::Single(ring) => ring.drain_into(out),
            Rings::Sharded(sharded) => sharded.drain_into(out),
        };
    }

    fn dropped(&self) -> u64 {
        match self {
            Rings::Single(ring) => ring.dropped(),
            Rings::Sharded(sharded) => sharded.dropped(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Rings::Single(ring) => ring.is_empty(),
            Rings::Sharded(sharded) => sharded.is_empty(),
        }
    }
}

/// Takes values until every producer has finished and the ring is empty.
fn consume(rings: &Rings, steps: &[ConsumerStep], finished: &AtomicUsize) -> Vec<Item> {
    let mut out = Vec::new();
    let default = [ConsumerStep::Pop];
    let steps = if steps.is_empty() {
        &default[..]
    } else {
        steps
    };
    let mut idle = 0u32;
    for step in steps.iter().cycle() {
        // Acquire: pairs with each producer's Release increment, so all of its pushes are
        // complete (published) once its increment is seen.
        let done = finished.load(Ordering::Acquire) == PRODUCERS;
        let before = out.len();
        rings.take(step, &mut out);
        // On an oversubscribed machine a spinning consumer starves the producers: back off.
        idle = if out.len() == before { idle + 1 } else { 0 };
        if idle % 64 == 63 {
            std::thread::yield_now();
        }
        if done {
            // Every push has completed: the ring only loses values to consumers now.
            rings.drain_all(&mut out);
            break;
        }
    }
    out
}

/// Checks one consumer's values: intact, and each producer's in increasing push order.
fn check_consumer_order(values: &[Item]) {
    let mut last = [0u32; PRODUCERS];
    for item in values {
        assert_eq!(*item, Item::new(item.producer, item.seq), "torn value");
        let p = item.producer as usize;
        assert!(p < PRODUCERS, "unknown producer in {item:?}");
        assert!(
            item.seq > last[p],
            "producer {p}: {} after {}",
            item.seq,
            last[p]
        );
        last[p] = item.seq;
    }
}

fn run(input: Input) {
    let capacity = usize::from(input.capacity);
    let rings = match input.shards {
        None => Rings::Single(Box::new(Ring::new(capacity))),
        Some(shards) => Rings::Sharded(ShardedRing::new(usize::from(shards % 8), capacity / 4)),
    };
    let counts = input.counts.map(|c| u32::from(c % 1024));
    let finished = AtomicUsize::new(0);
    let consumers = if input.second_consumer { 2 } else { 1 };
    let start = Barrier::new(PRODUCERS + consumers);

    let (accepted, taken) = std::thread::scope(|scope| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (rings, finished, start) = (&rings, &finished, &start);
                let (count, every) = (counts[p], u32::from(input.yield_every[p]));
                scope.spawn(move || {
                    start.wait();
                    let mut accepted = Vec::with_capacity(count as usize);
                    for seq in 1..=count {
                        accepted.push(rings.push(Item::new(p as u32, seq)));
                        if every != 0 && seq % every == 0 {
                            std::thread::yield_now();
                        }
                    }
                    // Release: publishes "all my pushes are done" (see `consume`).
                    finished.fetch_add(1, Ordering::Release);
                    accepted
                })
            })
            .collect();
        let second = input.second_consumer.then(|| {
            let (rings, finished, start, steps) = (&rings, &finished, &start, &input.steps);
            scope.spawn(move || {
                start.wait();
                // The second consumer walks the steps from the other end.
                let reversed: Vec<ConsumerStep> = steps
                    .iter()
                    .rev()
                    .map(|s| match s {
                        ConsumerStep::Pop => ConsumerStep::Pop,
                        ConsumerStep::Drain => ConsumerStep::Drain,
                        ConsumerStep::DrainShard(i) => ConsumerStep::DrainShard(i.wrapping_add(1)),
                        ConsumerStep::Yield => ConsumerStep::Yield,
                    })
                    .collect();
                consume(rings, &reversed, finished)
            })
        });
        start.wait();
        let mut taken = vec![consume(&rings, &input.steps, &finished)];
        let accepted: Vec<Vec<bool>> = producers
            .into_iter()
            .map(|h| h.join().expect("producer panicked"))
            .collect();
        if let Some(second) = second {
            taken.push(second.join().expect("consumer panicked"));
        }
        (accepted, taken)
    });

    for values in &taken {
        check_consumer_order(values);
    }
    let mut rest = Vec::new();
    rings.drain_all(&mut rest);
    assert!(
        rest.is_empty(),
        "values left after every consumer finished: {}",
        rest.len()
    );
    assert!(rings.is_empty());

    // Exactly the accepted values, each once.
    let mut seen: Vec<Vec<u32>> = vec![Vec::new(); PRODUCERS];
    for item in taken.iter().flatten() {
        seen[item.producer as usize].push(item.seq);
    }
    let mut refused = 0u64;
    for (p, accepted) in accepted.iter().enumerate() {
        let mut expected: Vec<u32> = (1..=counts[p])
            .filter(|&s| accepted[s as usize - 1])
            .collect();
        expected.sort_unstable();
        seen[p].sort_unstable();
        assert_eq!(
            seen[p], expected,
            "producer {p}: values taken out vs. pushes accepted"
        );
        refused += accepted.iter().filter(|&&ok| !ok).count() as u64;
    }
    assert_eq!(rings.dropped(), refused, "dropped() vs. refused pushes");
}

fuzz_target!(|input: Input| run(input));
