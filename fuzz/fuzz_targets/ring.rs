//! The ring protocol, single-threaded, against a model.
//!
//! The input decodes into a ring shape (a `Ring`, or a `ShardedRing` with some shards) and a
//! sequence of pushes (tagged with a producer and its sequence number), pops, drains and
//! length checks. A model (one bounded `VecDeque` per ring, plus drop counters) says what each
//! call must return: every accepted value comes out exactly once, in FIFO order per ring, a
//! push into a full ring returns `false` and is counted as a drop, and `len`/`is_empty`/
//! `dropped` are exact when one thread runs.

#![no_main]

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lsmedic_telemetry::ring::{MAX_CAPACITY, MAX_SHARDS, MIN_CAPACITY};
use lsmedic_telemetry::{Ring, ShardedRing};

/// A value as the engine pushes them (a few words), with a check word that exposes a torn or
/// stale copy out of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    producer: u8,
    seq: u32,
    payload: [u64; 2],
}

impl Item {
    fn new(producer: u8, seq: u32) -> Item {
        let mix = (u64::from(producer) << 32 | u64::from(seq)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Item {
            producer,
            seq,
            payload: [mix, !mix],
        }
    }

    fn is_intact(&self) -> bool {
        *self == Item::new(self.producer, self.seq)
    }
}

#[derive(Arbitrary, Debug)]
enum Shape {
    /// One `Ring::new(capacity)`.
    Single { capacity: u16 },
    /// `ShardedRing::new(shards, capacity)`.
    Sharded { shards: u8, capacity: u16 },
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Push the producer's next value into shard `shard` (ignored for a single ring).
    Push { producer: u8, shard: u8 },
    /// Push several values in a row.
    PushMany { producer: u8, shard: u8, count: u8 },
    /// `ShardedRing::push`: into this thread's (fixed, unknown) shard.
    PushThreadShard { producer: u8 },
    /// Pop one value from a ring (a shard of a sharded ring).
    Pop { shard: u8 },
    /// Drain everything.
    Drain,
    /// Drain into a vector that already holds some values.
    DrainInto { prefill: u8 },
    /// Drain one shard with `Ring::drain`.
    DrainShard { shard: u8 },
    /// Compare `len`, `is_empty`, `dropped`, `capacity` with the model.
    Check,
}

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    ops: Vec<Op>,
}

/// Capacity bound of the fuzzed rings (larger rings only cost allocation time).
const FUZZ_MAX_CAPACITY: usize = 4096;

fn expected_capacity(requested: usize) -> usize {
    requested
        .clamp(MIN_CAPACITY, MAX_CAPACITY)
        .next_power_of_two()
}

/// The rings under test behind one interface.
enum Rings {
    Single(Box<Ring<Item>>),
    Sharded(ShardedRing<Item>),
}

impl Rings {
    fn shard(&self, index: usize) -> &Ring<Item> {
        match self {
            Rings::Single(ring) => ring,
            Rings::Sharded(sharded) => &sharded.shards()[index],
        }
    }

    fn shard_count(&self) -> usize {
        match self {
            Rings::Single(_) => 1,
            Rings::Sharded(sharded) => sharded.shard_count(),
        }
    }
}

struct Model {
    queues: Vec<VecDeque<Item>>,
    dropped: Vec<u64>,
    capacity: usize,
    next_seq: [u32; 4],
    /// The shard `ShardedRing::push` uses from this thread, learned on its first use.
    thread_shard: Option<usize>,
}

impl Model {
    fn next_item(&mut self, producer: u8) -> Item {
        let producer = producer % 4;
        let seq = &mut self.next_seq[usize::from(producer)];
        *seq += 1;
        Item::new(producer, *seq)
    }

    /// The model's answer to a push into `shard`.
    fn push(&mut self, shard: usize, item: Item) -> bool {
        if self.queues[shard].len() < self.capacity {
            self.queues[shard].push_back(item);
            true
        } else {
            self.dropped[shard] += 1;
            false
        }
    }
}

fn check_item(item: Item) {
    assert!(item.is_intact(), "value corrupted in the ring: {item:?}");
}

/// The rings of `shape`, checked to have the shard count and capacity their constructor
/// promises.
fn new_rings(shape: Shape) -> Rings {
    match shape {
        Shape::Single { capacity } => {
            let capacity = usize::from(capacity) % (FUZZ_MAX_CAPACITY + 1);
            let ring = Ring::new(capacity);
            assert_eq!(ring.capacity(), expected_capacity(capacity));
            Rings::Single(Box::new(ring))
        }
        Shape::Sharded { shards, capacity } => {
            let capacity = usize::from(capacity) % (FUZZ_MAX_CAPACITY / 16 + 1);
            let sharded = ShardedRing::new(usize::from(shards), capacity);
            let expected_shards = usize::from(shards).clamp(1, MAX_SHARDS).next_power_of_two();
            assert_eq!(sharded.shard_count(), expected_shards);
            assert_eq!(
                sharded.capacity(),
                expected_shards * expected_capacity(capacity)
            );
            Rings::Sharded(sharded)
        }
    }
}

fn run(input: Input) {
    let rings = new_rings(input.shape);
    let shard_count = rings.shard_count();
    let mut model = Model {
        queues: vec![VecDeque::new(); shard_count],
        dropped: vec![0; shard_count],
        capacity: rings.shard(0).capacity(),
        next_seq: [0; 4],
        thread_shard: None,
    };
    for op in input.ops.into_iter().take(4096) {
        step(&rings, &mut model, op);
    }
    check_final_contents(&rings, &mut model);
}

/// One op on the rings and on the model; their answers must agree.
fn step(rings: &Rings, model: &mut Model, op: Op) {
    match op {
        Op::Push { producer, shard } => push(rings, model, producer, usize::from(shard)),
        Op::PushMany {
            producer,
            shard,
            count,
        } => {
            for _ in 0..count {
                push(rings, model, producer, usize::from(shard));
            }
        }
        Op::PushThreadShard { producer } => push_to_thread_shard(rings, model, producer),
        Op::Pop { shard } => {
            let shard = usize::from(shard) % rings.shard_count();
            let got = rings.shard(shard).pop();
            if let Some(item) = got {
                check_item(item);
            }
            assert_eq!(
                got,
                model.queues[shard].pop_front(),
                "pop from shard {shard}"
            );
        }
        Op::Drain => drain(rings, model),
        Op::DrainInto { prefill } => drain_into(rings, model, prefill),
        Op::DrainShard { shard } => {
            let shard = usize::from(shard) % rings.shard_count();
            let mut got = Vec::new();
            let count = rings.shard(shard).drain(|item| got.push(item));
            assert_eq!(count, got.len());
            let expected: Vec<Item> = model.queues[shard].drain(..).collect();
            assert_eq!(got, expected, "drain of shard {shard}");
        }
        Op::Check => check_counters(rings, model),
    }
}

/// Pushes the producer's next value into `shard` (modulo the shard count).
fn push(rings: &Rings, model: &mut Model, producer: u8, shard: usize) {
    let item = model.next_item(producer);
    let accepted = match rings {
        Rings::Single(ring) => ring.push(item),
        Rings::Sharded(sharded) => sharded.push_to_shard(shard, item),
    };
    // `push_to_shard` takes the shard modulo the (power-of-two) count.
    assert_eq!(
        accepted,
        model.push(shard % rings.shard_count(), item),
        "push {item:?}"
    );
}

/// `ShardedRing::push`: exactly one shard changes, and always the same one for this thread.
fn push_to_thread_shard(rings: &Rings, model: &mut Model, producer: u8) {
    let Rings::Sharded(sharded) = rings else {
        return;
    };
    let item = model.next_item(producer);
    let before: Vec<(usize, u64)> = sharded
        .shards()
        .iter()
        .map(|ring| (ring.len(), ring.dropped()))
        .collect();
    let accepted = sharded.push(item);
    let changed: Vec<usize> = sharded
        .shards()
        .iter()
        .zip(&before)
        .enumerate()
        .filter(|(_, (ring, &(len, dropped)))| ring.len() != len || ring.dropped() != dropped)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(changed.len(), 1, "one push changed shards {changed:?}");
    let shard = changed[0];
    let fixed = *model.thread_shard.get_or_insert(shard);
    assert_eq!(shard, fixed, "a thread's pushes must stay in one shard");
    assert_eq!(accepted, model.push(shard, item));
}

fn drain(rings: &Rings, model: &mut Model) {
    let mut got = Vec::new();
    let count = match rings {
        Rings::Single(ring) => ring.drain(|item| got.push(item)),
        Rings::Sharded(sharded) => sharded.drain(|item| got.push(item)),
    };
    assert_eq!(count, got.len());
    got.iter().copied().for_each(check_item);
    // Shards are drained in index order, each oldest first.
    let expected: Vec<Item> = model.queues.iter_mut().flat_map(|q| q.drain(..)).collect();
    assert_eq!(got, expected, "drain");
}

/// Drains into a vector that already holds `prefill % 8` values, which must stay in front.
fn drain_into(rings: &Rings, model: &mut Model, prefill: u8) {
    let prefix: Vec<Item> = (0..u32::from(prefill % 8))
        .map(|i| Item::new(9, i))
        .collect();
    let mut out = prefix.clone();
    let count = match rings {
        Rings::Single(ring) => ring.drain_into(&mut out),
        Rings::Sharded(sharded) => sharded.drain_into(&mut out),
    };
    assert_eq!(
        &out[..prefix.len()],
        &prefix[..],
        "drain_into keeps what was there"
    );
    assert_eq!(count, out.len() - prefix.len());
    let expected: Vec<Item> = model.queues.iter_mut().flat_map(|q| q.drain(..)).collect();
    assert_eq!(&out[prefix.len()..], &expected[..], "drain_into");
}

/// `len`, `is_empty`, `dropped` and `capacity` of every shard (and of the sharded ring).
fn check_counters(rings: &Rings, model: &Model) {
    for (i, queue) in model.queues.iter().enumerate() {
        let ring = rings.shard(i);
        assert_eq!(ring.len(), queue.len(), "len of shard {i}");
        assert_eq!(ring.is_empty(), queue.is_empty(), "is_empty of shard {i}");
        assert_eq!(ring.dropped(), model.dropped[i], "dropped of shard {i}");
        assert_eq!(ring.capacity(), model.capacity);
    }
    if let Rings::Sharded(sharded) = rings {
        let total: usize = model.queues.iter().map(VecDeque::len).sum();
        assert_eq!(sharded.len(), total);
        assert_eq!(sharded.is_empty(), total == 0);
        assert_eq!(sharded.dropped(), model.dropped.iter().sum::<u64>());
    }
}

/// Whatever is left comes out exactly as the model says, and the counters agree.
fn check_final_contents(rings: &Rings, model: &mut Model) {
    for (i, queue) in model.queues.iter_mut().enumerate() {
        let ring = rings.shard(i);
        assert_eq!(
            ring.dropped(),
            model.dropped[i],
            "final dropped of shard {i}"
        );
        let mut got = Vec::new();
        ring.drain_into(&mut got);
        let expected: Vec<Item> = queue.drain(..).collect();
        assert_eq!(got, expected, "final contents of shard {i}");
        assert!(ring.is_empty() && ring.pop().is_none());
    }
}

fuzz_target!(|input: Input| run(input));
