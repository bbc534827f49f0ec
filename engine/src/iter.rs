//! [`EngineIter`]: instrumented iterators over one column family (full, range, prefix,
//! reverse, with `seek`). An iterator records one `Scan` op when dropped, whose latency is the
//! time spent inside RocksDB and whose bytes are those returned.

use std::sync::Arc;

use lsmedic_telemetry::{CfId, OpKind, OpOutcome};
use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, DB};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::raw::DetachedCf;
use crate::telemetry::Telemetry;

/// Which keys an iterator visits, and in which direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IterOptions {
    /// First key visited (inclusive); `None` = from the start.
    pub lower_bound: Option<Vec<u8>>,
    /// End of the range (exclusive); `None` = to the end.
    pub upper_bound: Option<Vec<u8>>,
    /// Visit only keys with this prefix (combined with the bounds).
    pub prefix: Option<Vec<u8>>,
    /// Visit keys from the largest to the smallest.
    pub reverse: bool,
}

impl IterOptions {
    /// Every key, in order.
    pub fn full() -> Self {
        Self::default()
    }

    /// Keys in `[start, end)`.
    pub fn range(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        IterOptions {
            lower_bound: Some(start.into()),
            upper_bound: Some(end.into()),
            ..Self::default()
        }
    }

    /// Keys starting with `prefix`.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        IterOptions {
            prefix: Some(prefix.into()),
            ..Self::default()
        }
    }

    /// The same keys, largest first.
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }
}

/// The smallest key greater than every key starting with `prefix`, if one exists.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Engine {
    /// An iterator over `cf` as `options` says (full, range, prefix, reverse).
    pub fn iter(&self, cf: &str, options: IterOptions) -> Result<EngineIter<'_>> {
        let table = self.cf_table();
        let entry = table.get(cf)?;
        let (id, handle) = (entry.id, Arc::clone(&entry.handle));
        let db = Arc::clone(table.db()?);
        drop(table);
        Ok(open_iter(
            self.telemetry(),
            (id, cf),
            (db, handle),
            options,
            ReadOptions::default(),
        ))
    }
}

/// An iterator over column family `id`/`cf` (`handle`, in `db`) as `options` says, reading
/// with `read_opts` (a snapshot, when it has one, must outlive the iterator: the lifetime
/// `'e` is the caller's to tie).
pub(crate) fn open_iter<'e>(
    telemetry: &'e Telemetry,
    (id, cf): (CfId, &str),
    (db, handle): (Arc<DB>, DetachedCf),
    options: IterOptions,
    mut read_opts: ReadOptions,
) -> EngineIter<'e> {
    let mut lower = options.lower_bound;
    let mut upper = options.upper_bound;
    if let Some(prefix) = &options.prefix {
        // Narrow the bounds to the prefix's range so RocksDB skips everything else.
        if lower.as_deref().is_none_or(|l| l < prefix.as_slice()) {
            lower = Some(prefix.clone());
        }
        if let Some(end) = prefix_successor(prefix) {
            if upper.as_deref().is_none_or(|u| u > end.as_slice()) {
                upper = Some(end);
            }
        }
    }
    if let Some(lower) = lower {
        read_opts.set_iterate_lower_bound(lower);
    }
    if let Some(upper) = upper {
        read_opts.set_iterate_upper_bound(upper);
    }
    let start = telemetry.clock().raw();
    let raw = db.raw_iterator_cf_opt(&handle, read_opts);
    // SAFETY: the iterator borrows the database only through its pointer; `EngineIter`
    // keeps the `Arc<DB>` it points into (whose address never moves) in a field dropped
    // after the iterator, so the database outlives it.
    let raw = unsafe {
        std::mem::transmute::<
            DBRawIteratorWithThreadMode<'_, DB>,
            DBRawIteratorWithThreadMode<'static, DB>,
        >(raw)
    };
    let busy_ns = telemetry.clock().delta_ns(start, telemetry.clock().raw());
    EngineIter {
        raw,
        _handle: handle,
        _db: db,
        telemetry,
        cf: id,
        cf_name: cf.to_owned(),
        prefix: options.prefix,
        reverse: options.reverse,
        state: IterState::Unpositioned,
        busy_ns,
        bytes: 0,
        failed: false,
    }
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum IterState {
    Unpositioned,
    AtCurrent,
    Moving,
    Done,
}

/// An instrumented iterator: yields `(key, value)` pairs; on drop it records one `Scan` op
/// whose latency is the time spent inside RocksDB and whose bytes are those returned.
pub struct EngineIter<'e> {
    // Field order is drop order: the iterator, then the handle, then the database.
    raw: DBRawIteratorWithThreadMode<'static, DB>,
    // Keeps the column-family handle alive for the iterator's life (not the whole table:
    // an open iterator must never hold up a table swap).
    _handle: DetachedCf,
    // Keeps the database open: a reopen after an I/O error ([`crate::recovery`]) waits for
    // open iterators to be dropped.
    _db: Arc<DB>,
    telemetry: &'e Telemetry,
    cf: CfId,
    cf_name: String,
    prefix: Option<Vec<u8>>,
    reverse: bool,
    state: IterState,
    busy_ns: u64,
    bytes: usize,
    failed: bool,
}

impl EngineIter<'_> {
    /// Repositions at the first key ≥ `key` (≤ `key` for a reverse iterator); the next call to
    /// `next` returns that entry.
    pub fn seek(&mut self, key: &[u8]) {
        let start = self.telemetry.clock().raw();
        if self.reverse {
            self.raw.seek_for_prev(key);
        } else {
            self.raw.seek(key);
        }
        self.busy_ns += self
            .telemetry
            .clock()
            .delta_ns(start, self.telemetry.clock().raw());
        self.state = IterState::AtCurrent;
    }

    /// Repositions at the first key (the last for a reverse iterator) within the bounds; the
    /// next call to `next` returns that entry. Reads the same snapshot as before.
    pub fn seek_to_first(&mut self) {
        self.state = IterState::Unpositioned;
    }
}

impl Iterator for EngineIter<'_> {
    type Item = Result<(Box<[u8]>, Box<[u8]>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let clock = self.telemetry.clock();
        let start = clock.raw();
        match self.state {
            IterState::Done => return None,
            IterState::Unpositioned => {
                if self.reverse {
                    self.raw.seek_to_last();
                } else {
                    self.raw.seek_to_first();
                }
            }
            IterState::AtCurrent => {}
            IterState::Moving => {
                if self.reverse {
                    self.raw.prev();
                } else {
                    self.raw.next();
                }
            }
        }
        self.state = IterState::Moving;
        let item = match self.raw.item() {
            Some((key, value)) => {
                let in_prefix = self
                    .prefix
                    .as_deref()
                    .is_none_or(|prefix| key.starts_with(prefix));
                in_prefix.then(|| (Box::<[u8]>::from(key), Box::<[u8]>::from(value)))
            }
            None => None,
        };
        let result = match item {
            Some(pair) => {
                self.bytes += pair.0.len() + pair.1.len();
                Some(Ok(pair))
            }
            None => {
                self.state = IterState::Done;
                match self.raw.status() {
                    Ok(()) => None,
                    Err(err) => {
                        self.failed = true;
                        Some(Err(Error::rocksdb(
                            "iterate",
                            Some(&self.cf_name),
                            None,
                            err,
                        )))
                    }
                }
            }
        };
        self.busy_ns += clock.delta_ns(start, clock.raw());
        result
    }
}

impl Drop for EngineIter<'_> {
    fn drop(&mut self) {
        let clock = self.telemetry.clock();
        let end = clock.raw();
        let outcome = if self.failed {
            OpOutcome::Error
        } else {
            OpOutcome::Ok
        };
        self.telemetry.record_op_latency(
            OpKind::Scan,
            self.cf,
            end,
            self.busy_ns,
            self.bytes,
            outcome,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_handles_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
