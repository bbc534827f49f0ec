//! [`Snapshot`]: consistent reads across keys, column families, and point reads and
//! iterators (RocksDB's `GetSnapshot`).
//!
//! A snapshot pins RocksDB's sequence number at its creation, and also the physical column
//! family serving each logical name then. A column-family rebuild ([`crate::rebuild`]) swaps
//! the physical family behind a name and drops the old one; the copy in the new family is
//! newer than any snapshot taken before, so reading it at the snapshot would find nothing.
//! The snapshot therefore keeps reading the family it pinned: RocksDB keeps a dropped family's
//! files while a handle to it lives, so a snapshot survives a rebuild (and a drop) and reads
//! exactly what it read before (damaged blocks included: they still fail with a corruption
//! error). The price: the files of a replaced family stay on disk until the snapshot goes. A
//! column family created after the snapshot is unknown to it.
//!
//! A snapshot holds the database open: a reopen ([`crate::recovery`]) waits for it as for an
//! iterator. Reads through a snapshot are recorded like the engine's own (`Get`,
//! `MultiGet`, `Scan`).

use std::sync::Arc;

use lsmedic_telemetry::CfId;
use rocksdb::{ReadOptions, SnapshotWithThreadMode, DB};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::iter::{open_iter, EngineIter, IterOptions};
use crate::raw::DetachedCf;

/// A consistent view of the database at one moment; see the [module docs](self). Reads
/// through it see exactly the writes made before it was taken, in every column family.
pub struct Snapshot<'e> {
    // Field order is drop order: the RocksDB snapshot, then the handles, then the database.
    raw: SnapshotWithThreadMode<'static, DB>,
    /// Logical name → (telemetry id, the physical family's handle) when the snapshot was
    /// taken.
    cfs: Vec<(String, CfId, DetachedCf)>,
    db: Arc<DB>,
    engine: &'e Engine,
}

impl std::fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("sequence_number", &self.sequence_number())
            .field(
                "column_families",
                &self.cfs.iter().map(|(name, ..)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Engine {
    /// A snapshot of the whole database now (see [`Snapshot`]). Fails with
    /// [`Error::Recovering`] while the database is being reopened.
    pub fn snapshot(&self) -> Result<Snapshot<'_>> {
        let table = self.cf_table();
        let db = Arc::clone(table.db()?);
        let cfs = table
            .entries
            .iter()
            .map(|entry| (entry.name.clone(), entry.id, Arc::clone(&entry.handle)))
            .collect();
        drop(table);
        let raw = db.snapshot();
        // SAFETY: the snapshot borrows the database only through its pointer (rust-rocksdb
        // keeps a reference to release it); `Snapshot` keeps the `Arc<DB>` it points into,
        // whose address never moves, in a field dropped after it.
        let raw = unsafe {
            std::mem::transmute::<SnapshotWithThreadMode<'_, DB>, SnapshotWithThreadMode<'static, DB>>(
                raw,
            )
        };
        Ok(Snapshot {
            raw,
            cfs,
            db,
            engine: self,
        })
    }
}

impl Snapshot<'_> {
    /// RocksDB's sequence number the snapshot reads at.
    pub fn sequence_number(&self) -> u64 {
        self.raw.sequence_number()
    }

    /// The column families the snapshot can read (those that existed when it was taken).
    pub fn column_families(&self) -> Vec<String> {
        self.cfs.iter().map(|(name, ..)| name.clone()).collect()
    }

    fn cf(&self, name: &str) -> Result<(CfId, &DetachedCf)> {
        self.cfs
            .iter()
            .find(|(cf, ..)| cf == name)
            .map(|(_, id, handle)| (*id, handle))
            .ok_or_else(|| Error::UnknownColumnFamily {
                name: name.to_owned(),
            })
    }

    fn read_options(&self) -> ReadOptions {
        let mut read = ReadOptions::default();
        read.set_snapshot(&self.raw);
        read
    }

    /// The value of `key` in `cf` at the snapshot, `None` when absent then.
    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (id, handle) = self.cf(cf)?;
        self.engine
            .read_one((id, cf), (&self.db, handle), key, &self.read_options())
    }

    /// Many keys of `cf` at the snapshot, in the order of `keys`.
    pub fn multi_get<K: AsRef<[u8]>>(&self, cf: &str, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let (id, handle) = self.cf(cf)?;
        self.engine
            .read_many((id, cf), (&self.db, handle), keys, &self.read_options())
    }

    /// An iterator over `cf` at the snapshot, as `options` says.
    pub fn iter(&self, cf: &str, options: IterOptions) -> Result<EngineIter<'_>> {
        let (id, handle) = self.cf(cf)?;
        Ok(open_iter(
            self.engine.telemetry(),
            (id, cf),
            (Arc::clone(&self.db), Arc::clone(handle)),
            options,
            self.read_options(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Snapshot<'static>>();
    }
}
