//! [`WriteBatch`]: an atomic group of writes across column families.
//!
//! The batch records *logical* operations (column family, kind, key, value in one byte
//! arena) and resolves column families only when it is written. A batch built before a
//! column-family rebuild starts and written during it therefore reaches both physical column
//! families, like any other write during a rebuild: nothing is lost to the swap.

use std::ops::Range;
use std::sync::Arc;

use lsmedic_telemetry::throttle::WriteThrottle;
use lsmedic_telemetry::{CfId, OpKind, OpOutcome};
use smallvec::SmallVec;

use crate::engine::{CfEntry, Engine, Op, WriteOpts};
use crate::error::{Error, Result};

#[derive(Copy, Clone, Debug)]
enum Kind {
    Put,
    Delete,
    DeleteRange,
}

#[derive(Clone, Debug)]
struct BatchOp {
    /// Index into `WriteBatch::cfs`.
    slot: usize,
    kind: Kind,
    key: Range<usize>,
    value: Range<usize>,
}

/// A column family a batch touches.
#[derive(Clone, Debug)]
struct BatchCf {
    id: CfId,
    name: String,
    bytes: usize,
}

/// An atomic group of writes across column families, applied by [`Engine::write`].
pub struct WriteBatch<'e> {
    engine: &'e Engine,
    data: Vec<u8>,
    ops: Vec<BatchOp>,
    cfs: SmallVec<[BatchCf; 4]>,
}

impl<'e> WriteBatch<'e> {
    pub(crate) fn new(engine: &'e Engine) -> Self {
        WriteBatch {
            engine,
            data: Vec::new(),
            ops: Vec::new(),
            cfs: SmallVec::new(),
        }
    }

    fn slot(&mut self, cf: &str) -> Result<usize> {
        if let Some(slot) = self.cfs.iter().position(|known| known.name == cf) {
            return Ok(slot);
        }
        let id = self.engine.cf_id(cf)?;
        self.cfs.push(BatchCf {
            id,
            name: cf.to_owned(),
            bytes: 0,
        });
        Ok(self.cfs.len() - 1)
    }

    fn push(&mut self, cf: &str, kind: Kind, key: &[u8], value: &[u8]) -> Result<()> {
        let slot = self.slot(cf)?;
        let key_start = self.data.len();
        self.data.extend_from_slice(key);
        let value_start = self.data.len();
        self.data.extend_from_slice(value);
        self.cfs[slot].bytes += key.len() + value.len();
        self.ops.push(BatchOp {
            slot,
            kind,
            key: key_start..value_start,
            value: value_start..self.data.len(),
        });
        Ok(())
    }

    /// Adds a put.
    pub fn put(&mut self, cf: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.push(cf, Kind::Put, key, value)
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: &str, key: &[u8]) -> Result<()> {
        self.push(cf, Kind::Delete, key, &[])
    }

    /// Adds a range delete of `[from, to)`.
    ///
    /// A start key that sorts after the end key is refused ([`Error::ReversedRange`]).
    pub fn delete_range(&mut self, cf: &str, from: &[u8], to: &[u8]) -> Result<()> {
        Error::check_range(cf, from, to)?;
        self.push(cf, Kind::DeleteRange, from, to)
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values in the batch.
    pub fn size_in_bytes(&self) -> usize {
        self.data.len()
    }

    fn op(&self, op: &BatchOp) -> Op<'_> {
        let key = &self.data[op.key.clone()];
        let value = &self.data[op.value.clone()];
        match op.kind {
            Kind::Put => Op::Put(key, value),
            Kind::Delete => Op::Delete(key),
            Kind::DeleteRange => Op::DeleteRange(key, value),
        }
    }
}

impl Engine {
    /// A new, empty atomic write batch for this engine.
    pub fn batch(&self) -> WriteBatch<'_> {
        WriteBatch::new(self)
    }

    /// Applies `batch` atomically (WAL on, not synced).
    pub fn write(&self, batch: WriteBatch<'_>) -> Result<()> {
        self.write_opt(batch, WriteOpts::default())
    }

    /// Applies `batch` atomically with per-write options. A batch touching k column families
    /// is recorded as k `Write` op events (one per CF, with that CF's bytes).
    pub fn write_opt(&self, batch: WriteBatch<'_>, opts: WriteOpts) -> Result<()> {
        if !std::ptr::eq(batch.engine, self) {
            return Err(Error::ForeignBatch);
        }
        let start = self.telemetry().clock().raw();
        {
            // Throttle first, holding no table guard while waiting.
            let throttles: SmallVec<[(CfId, &str, Arc<WriteThrottle>); 4]> = {
                let table = self.cf_table();
                batch
                    .cfs
                    .iter()
                    .map(|cf| {
                        let entry = table.entry_of(cf.id, &cf.name)?;
                        Ok((cf.id, cf.name.as_str(), Arc::clone(&entry.throttle)))
                    })
                    .collect::<Result<_>>()?
            };
            for ((id, name, throttle), cf) in throttles.iter().zip(&batch.cfs) {
                self.admit(OpKind::Write, (*id, name, throttle), start, cf.bytes, opts)?;
            }
        }
        let table = self.cf_table();
        let entries: SmallVec<[&CfEntry; 4]> = batch
            .cfs
            .iter()
            .map(|cf| table.entry_of(cf.id, &cf.name))
            .collect::<Result<_>>()?;
        let mut rocks = rocksdb::WriteBatch::default();
        for op in &batch.ops {
            let entry = entries[op.slot];
            let logical = batch.op(op);
            logical.add_to(&mut rocks, &entry.handle);
            if let Some(rebuild) = &entry.rebuild {
                logical.add_to(&mut rocks, &rebuild.new_handle);
            }
        }
        // Column families being rebuilt: hold their touched-key sets (in id order, so two
        // batches never wait on each other crosswise) across the write.
        let mut rebuilding: SmallVec<[(usize, &CfEntry); 4]> = entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.rebuild.is_some())
            .map(|(slot, entry)| (slot, *entry))
            .collect();
        rebuilding.sort_by_key(|(_, entry)| entry.id);
        let mut guards: SmallVec<[_; 4]> = rebuilding
            .iter()
            .filter_map(|(slot, entry)| {
                entry
                    .rebuild
                    .as_ref()
                    .map(|rebuild| (*slot, rebuild.touched.lock()))
            })
            .collect();
        let result = table.db()?.write_opt(rocks, self.write_options(opts));
        if result.is_ok() {
            for op in &batch.ops {
                if let Some((_, touched)) = guards.iter_mut().find(|(slot, _)| *slot == op.slot) {
                    touched.record(&batch.op(op));
                }
            }
        }
        drop(guards);
        let end = self.telemetry().clock().raw();
        let outcome = if result.is_ok() {
            OpOutcome::Ok
        } else {
            OpOutcome::Error
        };
        for cf in &batch.cfs {
            self.telemetry()
                .record_op(OpKind::Write, cf.id, start, end, cf.bytes, outcome);
        }
        result.map_err(|e| self.write_error("write", None, None, e))
    }
}
