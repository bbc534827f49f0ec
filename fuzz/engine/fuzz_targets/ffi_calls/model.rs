//! The model: what this input has created through the C ABI and what each call must do.
//!
//! It holds every handle the input was given (alive or destroyed, so dead handles can be
//! passed back) and the expected database contents per column family, which persist across
//! close and reopen. The per-kind parts (`ConfigSlot`, `Db`, `BatchSlot`, `IterSlot`) live
//! with the calls on that kind.

use std::collections::BTreeMap;
use std::ffi::{c_char, CString};
use std::ops::Bound;
use std::path::PathBuf;
use std::ptr;

use lsmedic_ffi::lsmedic_t;

use crate::batch::BatchSlot;
use crate::config::ConfigSlot;
use crate::db::Db;
use crate::input::CfArg;
use crate::iter::IterSlot;

/// A handle this input created, alive or already destroyed.
pub(crate) struct Slot<T> {
    /// The handle as the library returned it.
    pub(crate) handle: *mut T,
    /// Not destroyed yet.
    pub(crate) alive: bool,
}

impl<T> Slot<T> {
    /// A handle just created.
    pub(crate) fn new(handle: *mut T) -> Slot<T> {
        Slot {
            handle,
            alive: true,
        }
    }
}

/// Expected contents: column family name to its keys and values.
pub(crate) type Tables = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Everything the input created and what the database must hold.
pub(crate) struct Model {
    /// The input's scratch directory (the database lives in `db` under it).
    pub(crate) dir: PathBuf,
    /// The open database, if any.
    pub(crate) db: Option<Db>,
    /// Closed database handles (dead).
    pub(crate) dead_dbs: Vec<*mut lsmedic_t>,
    /// The database exists on disk (opened once).
    pub(crate) exists: bool,
    /// Column families and their contents (persist across close/open).
    pub(crate) tables: Tables,
    /// Configs, in creation order.
    pub(crate) configs: Vec<ConfigSlot>,
    /// Write batches, in creation order.
    pub(crate) batches: Vec<BatchSlot>,
    /// Iterators, in creation order.
    pub(crate) iters: Vec<IterSlot>,
    /// Iterators alive when their database was closed: it stays open until they go.
    pub(crate) zombie: bool,
    /// Checkpoints asked for (names their directories).
    pub(crate) checkpoints: u32,
}

impl Model {
    /// Nothing created yet; the database will live under `dir`.
    pub(crate) fn new(dir: PathBuf) -> Model {
        Model {
            dir,
            db: None,
            dead_dbs: Vec::new(),
            exists: false,
            tables: BTreeMap::from([("default".to_owned(), BTreeMap::new())]),
            configs: Vec::new(),
            batches: Vec::new(),
            iters: Vec::new(),
            zombie: false,
            checkpoints: 0,
        }
    }

    /// Whether `arg` names an existing column family.
    pub(crate) fn cf_exists(&self, arg: &CfArg) -> bool {
        matches!(arg, CfArg::Name(name) if self.tables.contains_key(name))
    }

    /// The database handle to pass: the open one, else the last closed one, else NULL.
    pub(crate) fn db_ptr(&self) -> *mut lsmedic_t {
        self.db.as_ref().map_or_else(
            || self.dead_dbs.last().copied().unwrap_or(ptr::null_mut()),
            |db| db.handle,
        )
    }

    /// Whether a database is open.
    pub(crate) fn db_open(&self) -> bool {
        self.db.is_some()
    }
}

/// Removes `[start, end)` (nothing when it is empty or reversed).
pub(crate) fn remove_range(table: &mut BTreeMap<Vec<u8>, Vec<u8>>, start: &[u8], end: &[u8]) {
    if start < end {
        let doomed: Vec<Vec<u8>> = table
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            table.remove(&key);
        }
    }
}

/// The slot an input's index selects (modulo the count), if there is any.
pub(crate) fn pick<T>(items: &mut [T], index: u8) -> Option<&mut T> {
    let len = items.len();
    (len > 0).then(move || &mut items[usize::from(index) % len])
}

/// A (pointer, length) pair for a byte string.
pub(crate) fn buf(bytes: &[u8]) -> (*const c_char, usize) {
    (bytes.as_ptr().cast(), bytes.len())
}

/// A column-family name to pass: the C string, or NULL.
pub(crate) fn cf_ptr(name: &Option<CString>) -> *const c_char {
    name.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}
