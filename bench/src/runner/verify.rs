//! What every write left behind, and the final re-read of it.
//!
//! Verification stores one `u32` per key: version (24 bits), value-size class (5 bits),
//! "outcome unknown" (a write failed: it may or may not have applied) and "deleted". Values
//! are a pure function of (column family, key, version, size), see [`crate::keygen::value_for`].
//! Writes of one key are serialised by a striped lock held across the write, so the tracked
//! version is exactly the last one RocksDB acknowledged.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use lsmedic::engine::Engine;

use crate::keygen::{encode_key, value_for, InsertCursor, ValueSize, MAX_VALUE_SIZE_CLASSES};
use crate::store::{Store, StoreError};

const VERSION_MASK: u32 = (1 << 24) - 1;
const SIZE_SHIFT: u32 = 24;
const SIZE_MASK: u32 = 0x1f;
const UNKNOWN: u32 = 1 << 30;
const DELETED: u32 = 1 << 31;
const STRIPES: usize = 4096;
const _: () = assert!(SIZE_MASK as usize + 1 == MAX_VALUE_SIZE_CLASSES);

/// What the run wrote to one column family.
pub(crate) struct CfTracker {
    index: u32,
    name: String,
    versions: Vec<AtomicU32>,
    stripes: Box<[Mutex<()>]>,
    sizes: Vec<ValueSize>,
    /// YCSB insert sequence.
    pub cursor: InsertCursor,
    track: bool,
}

impl CfTracker {
    pub(super) fn new(
        index: u32,
        name: &str,
        capacity: u64,
        sizes: Vec<ValueSize>,
        track: bool,
    ) -> CfTracker {
        let slots = if track { capacity as usize } else { 0 };
        CfTracker {
            index,
            name: name.to_owned(),
            versions: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            sizes,
            cursor: InsertCursor::new(0, capacity),
            track,
        }
    }

    /// The index of `size` among the column family's value sizes.
    pub(super) fn size_class(&self, size: ValueSize) -> u32 {
        self.find_size_class(size).unwrap_or(0)
    }

    /// The index of `size` among the column family's value sizes, if it is one of them.
    pub(crate) fn find_size_class(&self, size: ValueSize) -> Option<u32> {
        self.sizes.iter().position(|s| *s == size).map(|i| i as u32)
    }

    fn size_of(&self, state: u32) -> ValueSize {
        self.sizes[((state >> SIZE_SHIFT) & SIZE_MASK) as usize]
    }

    /// Puts the next version of `key`.
    pub(super) fn put(
        &self,
        store: &dyn Store,
        key: u64,
        size_class: u32,
        buf: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let encoded = encode_key(key);
        if !self.track {
            value_for(self.index, key, 1, self.sizes[size_class as usize], buf);
            return store.put(&self.name, &encoded, buf);
        }
        let _stripe = self.stripes[key as usize % STRIPES].lock();
        self.put_next_version(store, key, &encoded, size_class, buf)
    }

    /// Writes the next version of `key` and records it (unknown when the write failed); the
    /// caller holds the key's stripe.
    fn put_next_version(
        &self,
        store: &dyn Store,
        key: u64,
        encoded: &[u8],
        size_class: u32,
        buf: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let slot = &self.versions[key as usize];
        let current = slot.load(Ordering::Relaxed);
        let version = ((current & VERSION_MASK) % VERSION_MASK) + 1;
        value_for(
            self.index,
            key,
            version,
            self.sizes[size_class as usize],
            buf,
        );
        let result = store.put(&self.name, encoded, buf);
        let state = match result {
            Ok(()) => version | (size_class << SIZE_SHIFT),
            Err(_) => current | UNKNOWN,
        };
        slot.store(state, Ordering::Relaxed);
        result
    }

    /// Deletes `key`.
    pub(super) fn delete(&self, store: &dyn Store, key: u64) -> Result<(), StoreError> {
        let encoded = encode_key(key);
        if !self.track {
            return store.delete(&self.name, &encoded);
        }
        let _stripe = self.stripes[key as usize % STRIPES].lock();
        let slot = &self.versions[key as usize];
        let current = slot.load(Ordering::Relaxed);
        let result = store.delete(&self.name, &encoded);
        let state = match result {
            Ok(()) => (((current & VERSION_MASK) % VERSION_MASK) + 1) | DELETED,
            Err(_) => current | UNKNOWN,
        };
        slot.store(state, Ordering::Relaxed);
        result
    }

    /// Deletes keys `[lo, hi)` with one `delete_range`. Every stripe of the range is held
    /// across the call, so a write of a key in it is ordered before the delete (and deleted)
    /// or after it (and kept), as RocksDB ordered it; keys the run wrote are then marked
    /// deleted (absent at verification) or, when the call failed, unknown.
    pub(crate) fn delete_range(&self, engine: &Engine, lo: u64, hi: u64) -> Result<(), StoreError> {
        let (from, to) = (encode_key(lo), encode_key(hi));
        if !self.track {
            return Ok(engine.delete_range(&self.name, &from, &to)?);
        }
        let stripes = if hi - lo >= STRIPES as u64 {
            (0..STRIPES).collect::<Vec<_>>()
        } else {
            let mut stripes: Vec<usize> = (lo..hi).map(|k| k as usize % STRIPES).collect();
            stripes.sort_unstable();
            stripes.dedup();
            stripes
        };
        // In ascending order, the only order any thread takes more than one stripe in.
        let _held: Vec<_> = stripes.iter().map(|&i| self.stripes[i].lock()).collect();
        let result = engine
            .delete_range(&self.name, &from, &to)
            .map_err(StoreError::from);
        let tracked = hi.min(self.versions.len() as u64);
        for slot in &self.versions[lo.min(tracked) as usize..tracked as usize] {
            let current = slot.load(Ordering::Relaxed);
            if current == 0 {
                continue;
            }
            let state = match result {
                Ok(()) => (((current & VERSION_MASK) % VERSION_MASK) + 1) | DELETED,
                Err(_) => current | UNKNOWN,
            };
            slot.store(state, Ordering::Relaxed);
        }
        result
    }

    /// Reads `key`, then puts its next version, as one op.
    pub(super) fn read_modify_write(
        &self,
        store: &dyn Store,
        key: u64,
        size_class: u32,
        buf: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let encoded = encode_key(key);
        if !self.track {
            store.get(&self.name, &encoded)?;
            return self.put(store, key, size_class, buf);
        }
        let _stripe = self.stripes[key as usize % STRIPES].lock();
        store.get(&self.name, &encoded)?;
        self.put_next_version(store, key, &encoded, size_class, buf)
    }
}

/// Outcome of re-reading every written key.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    /// Keys read back with their last acknowledged value (or absent, when deleted).
    pub keys_verified: u64,
    /// Keys whose value is missing or unreadable.
    pub keys_lost: u64,
    /// Keys with a value other than the last acknowledged one (or resurrected deletes).
    pub wrong_values: u64,
    /// Keys whose last write failed, so either value is acceptable (not checked).
    pub keys_unknown: u64,
}

/// Re-reads every key the run wrote and compares it with its last acknowledged write.
pub(super) fn verify(store: &dyn Store, trackers: &[Arc<CfTracker>]) -> Verification {
    let mut outcome = Verification::default();
    let mut expected = Vec::new();
    for tracker in trackers.iter().filter(|t| t.track) {
        let mut keys = Vec::with_capacity(256);
        let mut states = Vec::with_capacity(256);
        let mut check =
            |keys: &mut Vec<Vec<u8>>, states: &mut Vec<(u64, u32)>, outcome: &mut Verification| {
                let values = match store.multi_get(&tracker.name, keys) {
                    Ok(values) => values.into_iter().map(Ok).collect::<Vec<_>>(),
                    // One unreadable key fails the batch: read one by one to tell which.
                    Err(_) => keys.iter().map(|k| store.get(&tracker.name, k)).collect(),
                };
                for (value, &(key, state)) in values.into_iter().zip(states.iter()) {
                    match value {
                        Err(_) => outcome.keys_lost += 1,
                        Ok(found) if state & DELETED != 0 => {
                            if found.is_none() {
                                outcome.keys_verified += 1;
                            } else {
                                outcome.wrong_values += 1;
                            }
                        }
                        Ok(None) => outcome.keys_lost += 1,
                        Ok(Some(found)) => {
                            value_for(
                                tracker.index,
                                key,
                                state & VERSION_MASK,
                                tracker.size_of(state),
                                &mut expected,
                            );
                            if found == expected {
                                outcome.keys_verified += 1;
                            } else {
                                outcome.wrong_values += 1;
                            }
                        }
                    }
                }
                keys.clear();
                states.clear();
            };
        for (key, slot) in tracker.versions.iter().enumerate() {
            let state = slot.load(Ordering::Relaxed);
            if state == 0 {
                continue;
            }
            if state & UNKNOWN != 0 {
                outcome.keys_unknown += 1;
                continue;
            }
            keys.push(encode_key(key as u64).to_vec());
            states.push((key as u64, state));
            if keys.len() == 256 {
                check(&mut keys, &mut states, &mut outcome);
            }
        }
        if !keys.is_empty() {
            check(&mut keys, &mut states, &mut outcome);
        }
    }
    outcome
}
