//! [`Engine`]: RocksDB opened in multi-threaded column-family mode, with every foreground op
//! timed into the op rings and RocksDB's listener feeding the event ring.
//!
//! Column families are addressed by name. Names resolve through a copy-on-write table read
//! lock-free (`arc-swap`), so a lookup costs a few ns and never contends with other threads;
//! creating or dropping a column family publishes a new table. Later, the control surface
//! maps a logical name to a different physical CF through the same table (CF rebuild).
//!
//! The engine never blocks a caller for telemetry: recording an op is two clock reads and a
//! ring push that drops (and counts) when full.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use lsmedic_telemetry::{CfId, OpKind, OpOutcome, Sample};
use parking_lot::Mutex;
use rocksdb::{
    checkpoint::Checkpoint, Cache, ColumnFamilyDescriptor, DBRawIteratorWithThreadMode, Options,
    ReadOptions, WriteBufferManager, WriteOptions, DB,
};
use smallvec::SmallVec;

use crate::config::{validate_cf_name, CfOptions, EngineConfig};
use crate::error::{Error, Result};
use crate::raw::{self, DetachedCf};
use crate::sampler::Sampler;
use crate::telemetry::Telemetry;

/// Name of RocksDB's default column family.
pub const DEFAULT_CF: &str = "default";

/// Per-write options.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOpts {
    /// fsync the WAL before acknowledging (durable across a machine crash, not only a
    /// process crash).
    pub sync: bool,
}

impl WriteOpts {
    /// A synced write.
    pub fn synced() -> Self {
        WriteOpts { sync: true }
    }
}

/// One column family known to the engine.
pub(crate) struct CfEntry {
    pub(crate) id: CfId,
    pub(crate) name: String,
    pub(crate) handle: DetachedCf,
}

/// The name → handle table, replaced wholesale on every change.
#[derive(Default)]
pub(crate) struct CfTable {
    pub(crate) entries: Vec<CfEntry>,
}

impl CfTable {
    fn get(&self, name: &str) -> Result<&CfEntry> {
        self.entries
            .iter()
            .find(|entry| entry.name == name)
            .ok_or_else(|| Error::UnknownColumnFamily {
                name: name.to_owned(),
            })
    }
}

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
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// An instrumented RocksDB database.
pub struct Engine {
    // Field order is drop order: the CF table (holding detached handles) must go before `db`.
    cfs: ArcSwap<CfTable>,
    cf_admin: Mutex<()>,
    next_cf_id: AtomicU32,
    read_opts: ReadOptions,
    write_opts: WriteOptions,
    write_opts_sync: WriteOptions,
    db: DB,
    options: Options,
    block_cache: Cache,
    write_buffer_manager: Option<WriteBufferManager>,
    telemetry: Arc<Telemetry>,
    sampler: Sampler,
    path: PathBuf,
    config: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.path)
            .field("column_families", &self.list_cfs())
            .field("telemetry", &self.telemetry)
            .finish()
    }
}

fn classify_open_error(path: &Path, err: rocksdb::Error) -> Error {
    let message = err.into_string();
    if message.contains("lock hold by current process") || message.contains("/LOCK") {
        Error::AlreadyOpen {
            path: path.to_owned(),
            message,
        }
    } else {
        Error::Open {
            path: path.to_owned(),
            message,
        }
    }
}

impl Engine {
    /// Opens (or creates) the database at `path`: every column family already on disk, plus
    /// those in `config.column_families`.
    pub fn open(path: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        config.validate()?;
        let path = path.as_ref().to_path_buf();
        if path.exists() && !path.is_dir() {
            return Err(Error::NotADirectory { path });
        }
        let block_cache = Cache::new_lru_cache(config.block_cache_size as usize);
        let mut options = config.db_options(&block_cache);
        let write_buffer_manager = config.write_buffer_manager_size.map(|size| {
            let manager = WriteBufferManager::new_write_buffer_manager(size as usize, false);
            options.set_write_buffer_manager(&manager);
            manager
        });
        let telemetry = Arc::new(Telemetry::new(&config.telemetry));
        raw::attach_listener(&mut options, Arc::clone(&telemetry));

        let mut names = vec![DEFAULT_CF.to_owned()];
        if path.join("CURRENT").exists() {
            let on_disk =
                DB::list_cf(&options, &path).map_err(|e| classify_open_error(&path, e))?;
            names.extend(on_disk.into_iter().filter(|name| name != DEFAULT_CF));
        }
        for cf in &config.column_families {
            if !names.contains(&cf.name) {
                names.push(cf.name.clone());
            }
        }
        let descriptors = names.iter().map(|name| {
            ColumnFamilyDescriptor::new(
                name,
                config.cf_options_for(name).rocksdb_options(&block_cache),
            )
        });
        let db = DB::open_cf_descriptors(&options, &path, descriptors)
            .map_err(|e| classify_open_error(&path, e))?;

        let mut entries = Vec::with_capacity(names.len());
        for (id, name) in names.into_iter().enumerate() {
            let handle = db.cf_handle(&name).ok_or_else(|| Error::Open {
                path: path.clone(),
                message: format!("column family {name:?} has no handle after open"),
            })?;
            entries.push(CfEntry {
                id: id as CfId,
                name,
                // SAFETY: stored only in `Engine::cfs`, dropped before `Engine::db`.
                handle: unsafe { raw::detach_cf(handle) },
            });
        }
        let next_cf_id = AtomicU32::new(entries.len() as CfId);
        let mut write_opts_sync = WriteOptions::default();
        write_opts_sync.set_sync(true);
        Ok(Engine {
            cfs: ArcSwap::from_pointee(CfTable { entries }),
            cf_admin: Mutex::new(()),
            next_cf_id,
            read_opts: ReadOptions::default(),
            write_opts: WriteOptions::default(),
            write_opts_sync,
            db,
            options,
            block_cache,
            write_buffer_manager,
            telemetry,
            sampler: Sampler::new(),
            path,
            config,
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The telemetry hub (rings to drain, drop counters, clock).
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Reads every sampled RocksDB property and statistic now.
    pub fn sample(&self) -> Sample {
        self.sampler.sample(self)
    }

    /// The underlying RocksDB handle (for the sampler and control surface).
    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    /// The options the DB was opened with (holds the statistics object).
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// The shared block cache.
    pub fn block_cache(&self) -> &Cache {
        &self.block_cache
    }

    /// The write-buffer manager, when the config sets `write_buffer_manager_size`.
    pub fn write_buffer_manager(&self) -> Option<&WriteBufferManager> {
        self.write_buffer_manager.as_ref()
    }

    pub(crate) fn cf_table(&self) -> arc_swap::Guard<Arc<CfTable>> {
        self.cfs.load()
    }

    // ----- column families -------------------------------------------------------------

    /// Names of all column families, in creation order.
    pub fn list_cfs(&self) -> Vec<String> {
        self.cfs
            .load()
            .entries
            .iter()
            .map(|entry| entry.name.clone())
            .collect()
    }

    /// The telemetry id of a column family (what `OpEvent::cf` carries).
    pub fn cf_id(&self, name: &str) -> Result<CfId> {
        Ok(self.cfs.load().get(name)?.id)
    }

    /// The name of the column family with telemetry id `id`, if it still exists.
    pub fn cf_name(&self, id: CfId) -> Option<String> {
        self.cfs
            .load()
            .entries
            .iter()
            .find(|entry| entry.id == id)
            .map(|entry| entry.name.clone())
    }

    /// Creates a column family with `options` (or the config's `cf_options`).
    pub fn create_cf(&self, name: &str, options: Option<&CfOptions>) -> Result<()> {
        validate_cf_name(name)?;
        let options = options.unwrap_or(&self.config.cf_options);
        options.validate(name)?;
        let _admin = self.cf_admin.lock();
        if self.cfs.load().get(name).is_ok() {
            return Err(Error::ColumnFamilyExists {
                name: name.to_owned(),
            });
        }
        self.db
            .create_cf(name, &options.rocksdb_options(&self.block_cache))
            .map_err(|e| Error::rocksdb("create_cf", Some(name), None, e))?;
        let handle = self
            .db
            .cf_handle(name)
            .ok_or_else(|| Error::UnknownColumnFamily {
                name: name.to_owned(),
            })?;
        let current = self.cfs.load_full();
        let mut entries: Vec<CfEntry> = current
            .entries
            .iter()
            .map(|entry| CfEntry {
                id: entry.id,
                name: entry.name.clone(),
                handle: Arc::clone(&entry.handle),
            })
            .collect();
        entries.push(CfEntry {
            id: self.next_cf_id.fetch_add(1, Ordering::Relaxed),
            name: name.to_owned(),
            // SAFETY: stored only in `Engine::cfs`, dropped before `Engine::db`.
            handle: unsafe { raw::detach_cf(handle) },
        });
        self.cfs.store(Arc::new(CfTable { entries }));
        Ok(())
    }

    /// Drops a column family and all its data. The default column family cannot be dropped.
    pub fn drop_cf(&self, name: &str) -> Result<()> {
        if name == DEFAULT_CF {
            return Err(Error::CannotDropDefault);
        }
        let _admin = self.cf_admin.lock();
        let current = self.cfs.load_full();
        current.get(name)?;
        self.db
            .drop_cf(name)
            .map_err(|e| Error::rocksdb("drop_cf", Some(name), None, e))?;
        let entries = current
            .entries
            .iter()
            .filter(|entry| entry.name != name)
            .map(|entry| CfEntry {
                id: entry.id,
                name: entry.name.clone(),
                handle: Arc::clone(&entry.handle),
            })
            .collect();
        self.cfs.store(Arc::new(CfTable { entries }));
        Ok(())
    }

    // ----- point operations -------------------------------------------------------------

    fn write_options(&self, opts: WriteOpts) -> &WriteOptions {
        if opts.sync {
            &self.write_opts_sync
        } else {
            &self.write_opts
        }
    }

    #[inline]
    fn record<T>(
        &self,
        kind: OpKind,
        cf: CfId,
        start: u64,
        bytes: usize,
        result: &std::result::Result<T, rocksdb::Error>,
        ok: OpOutcome,
    ) {
        let end = self.telemetry.clock().raw();
        let outcome = if result.is_ok() { ok } else { OpOutcome::Error };
        self.telemetry
            .record_op(kind, cf, start, end, bytes, outcome);
    }

    /// Writes `key` → `value` (WAL on, not synced).
    pub fn put(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_opt(cf, key, value, WriteOpts::default())
    }

    /// Writes `key` → `value` with per-write options.
    pub fn put_opt(&self, cf: &str, key: &[u8], value: &[u8], opts: WriteOpts) -> Result<()> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let start = self.telemetry.clock().raw();
        let result = self
            .db
            .put_cf_opt(&entry.handle, key, value, self.write_options(opts));
        self.record(
            OpKind::Put,
            entry.id,
            start,
            key.len() + value.len(),
            &result,
            OpOutcome::Ok,
        );
        result.map_err(|e| Error::rocksdb("put", Some(cf), Some(key), e))
    }

    /// Reads the value of `key`, `None` when absent.
    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let start = self.telemetry.clock().raw();
        let result = self
            .db
            .get_pinned_cf_opt(&entry.handle, key, &self.read_opts)
            .map(|value| value.map(|slice| slice.to_vec()));
        let (bytes, found) = match &result {
            Ok(Some(value)) => (value.len(), OpOutcome::Ok),
            _ => (0, OpOutcome::NotFound),
        };
        self.record(OpKind::Get, entry.id, start, bytes, &result, found);
        result.map_err(|e| Error::rocksdb("get", Some(cf), Some(key), e))
    }

    /// Reads many keys at once; the result is in the order of `keys`.
    pub fn multi_get<K: AsRef<[u8]>>(&self, cf: &str, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let start = self.telemetry.clock().raw();
        let results =
            self.db
                .batched_multi_get_cf_opt(&entry.handle, keys.iter(), false, &self.read_opts);
        let mut values = Vec::with_capacity(keys.len());
        let mut bytes = 0;
        let mut first_error = None;
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(value) => {
                    let value = value.map(|slice| slice.to_vec());
                    bytes += value.as_ref().map_or(0, Vec::len);
                    values.push(value);
                }
                Err(err) => {
                    if first_error.is_none() {
                        first_error = Some((i, err));
                    }
                    values.push(None);
                }
            }
        }
        let status: std::result::Result<(), rocksdb::Error> = match &first_error {
            Some((_, err)) => Err(err.clone()),
            None => Ok(()),
        };
        self.record(
            OpKind::MultiGet,
            entry.id,
            start,
            bytes,
            &status,
            OpOutcome::Ok,
        );
        match first_error {
            Some((i, err)) => Err(Error::rocksdb(
                "multi_get",
                Some(cf),
                Some(keys[i].as_ref()),
                err,
            )),
            None => Ok(values),
        }
    }

    /// Deletes `key` (WAL on, not synced).
    pub fn delete(&self, cf: &str, key: &[u8]) -> Result<()> {
        self.delete_opt(cf, key, WriteOpts::default())
    }

    /// Deletes `key` with per-write options.
    pub fn delete_opt(&self, cf: &str, key: &[u8], opts: WriteOpts) -> Result<()> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let start = self.telemetry.clock().raw();
        let result = self
            .db
            .delete_cf_opt(&entry.handle, key, self.write_options(opts));
        self.record(
            OpKind::Delete,
            entry.id,
            start,
            key.len(),
            &result,
            OpOutcome::Ok,
        );
        result.map_err(|e| Error::rocksdb("delete", Some(cf), Some(key), e))
    }

    /// Deletes every key in `[from, to)`.
    pub fn delete_range(&self, cf: &str, from: &[u8], to: &[u8]) -> Result<()> {
        self.delete_range_opt(cf, from, to, WriteOpts::default())
    }

    /// Deletes every key in `[from, to)` with per-write options.
    pub fn delete_range_opt(
        &self,
        cf: &str,
        from: &[u8],
        to: &[u8],
        opts: WriteOpts,
    ) -> Result<()> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let start = self.telemetry.clock().raw();
        let result = self
            .db
            .delete_range_cf_opt(&entry.handle, from, to, self.write_options(opts));
        self.record(
            OpKind::DeleteRange,
            entry.id,
            start,
            from.len() + to.len(),
            &result,
            OpOutcome::Ok,
        );
        result.map_err(|e| Error::rocksdb("delete_range", Some(cf), Some(from), e))
    }

    // ----- batches ----------------------------------------------------------------------

    /// A new, empty atomic write batch for this engine.
    pub fn batch(&self) -> WriteBatch<'_> {
        WriteBatch {
            engine: self,
            inner: rocksdb::WriteBatch::default(),
            per_cf: SmallVec::new(),
        }
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
        let WriteBatch { inner, per_cf, .. } = batch;
        let start = self.telemetry.clock().raw();
        let result = self.db.write_opt(inner, self.write_options(opts));
        let end = self.telemetry.clock().raw();
        let outcome = if result.is_ok() {
            OpOutcome::Ok
        } else {
            OpOutcome::Error
        };
        for (cf, bytes) in &per_cf {
            self.telemetry
                .record_op(OpKind::Write, *cf, start, end, *bytes, outcome);
        }
        result.map_err(|e| Error::rocksdb("write", None, None, e))
    }

    // ----- scans ------------------------------------------------------------------------

    /// An iterator over `cf` as `options` says (full, range, prefix, reverse).
    pub fn iter(&self, cf: &str, options: IterOptions) -> Result<EngineIter<'_>> {
        let table = self.cfs.load_full();
        let entry = table.get(cf)?;
        let id = entry.id;
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
        let mut read_opts = ReadOptions::default();
        if let Some(lower) = lower {
            read_opts.set_iterate_lower_bound(lower);
        }
        if let Some(upper) = upper {
            read_opts.set_iterate_upper_bound(upper);
        }
        let start = self.telemetry.clock().raw();
        let raw = self.db.raw_iterator_cf_opt(&entry.handle, read_opts);
        let busy_ns = self
            .telemetry
            .clock()
            .delta_ns(start, self.telemetry.clock().raw());
        Ok(EngineIter {
            raw,
            _table: Arc::clone(&table),
            telemetry: &self.telemetry,
            cf: id,
            cf_name: cf.to_owned(),
            prefix: options.prefix,
            reverse: options.reverse,
            state: IterState::Unpositioned,
            busy_ns,
            bytes: 0,
            failed: false,
        })
    }

    // ----- maintenance ------------------------------------------------------------------

    /// Flushes the memtables of `cf` to L0 and waits for it.
    pub fn flush(&self, cf: &str) -> Result<()> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let start = self.telemetry.clock().raw();
        let result = self.db.flush_cf(&entry.handle);
        self.record(OpKind::Flush, entry.id, start, 0, &result, OpOutcome::Ok);
        result.map_err(|e| Error::rocksdb("flush", Some(cf), None, e))
    }

    /// Compacts `[start, end]` of `cf` (`None` = open end) and waits for it.
    pub fn compact_range(&self, cf: &str, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let begin = self.telemetry.clock().raw();
        self.db.compact_range_cf(&entry.handle, start, end);
        self.record::<()>(
            OpKind::CompactRange,
            entry.id,
            begin,
            0,
            &Ok(()),
            OpOutcome::Ok,
        );
        Ok(())
    }

    /// Writes a consistent, openable copy of the database to `dir` (which must not exist).
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let checkpoint =
            Checkpoint::new(&self.db).map_err(|e| Error::rocksdb("checkpoint", None, None, e))?;
        checkpoint
            .create_checkpoint(dir)
            .map_err(|e| Error::Checkpoint {
                path: dir.to_owned(),
                message: e.into_string(),
            })
    }

    /// Syncs the WAL, stops background work and closes the database. Dropping the engine
    /// also closes it; `close` reports a failure to sync instead of ignoring it.
    pub fn close(self) -> Result<()> {
        let synced = self
            .db
            .flush_wal(true)
            .map_err(|e| Error::rocksdb("close (sync WAL)", None, None, e));
        self.db.cancel_all_background_work(true);
        drop(self);
        synced
    }
}

/// An atomic group of writes across column families, applied by [`Engine::write`].
pub struct WriteBatch<'e> {
    engine: &'e Engine,
    inner: rocksdb::WriteBatch,
    per_cf: SmallVec<[(CfId, usize); 4]>,
}

impl WriteBatch<'_> {
    fn account(&mut self, cf: CfId, bytes: usize) {
        match self.per_cf.iter_mut().find(|(id, _)| *id == cf) {
            Some((_, total)) => *total += bytes,
            None => self.per_cf.push((cf, bytes)),
        }
    }

    /// Adds a put.
    pub fn put(&mut self, cf: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let table = self.engine.cfs.load();
        let entry = table.get(cf)?;
        self.inner.put_cf(&entry.handle, key, value);
        self.account(entry.id, key.len() + value.len());
        Ok(())
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: &str, key: &[u8]) -> Result<()> {
        let table = self.engine.cfs.load();
        let entry = table.get(cf)?;
        self.inner.delete_cf(&entry.handle, key);
        self.account(entry.id, key.len());
        Ok(())
    }

    /// Adds a range delete of `[from, to)`.
    pub fn delete_range(&mut self, cf: &str, from: &[u8], to: &[u8]) -> Result<()> {
        let table = self.engine.cfs.load();
        let entry = table.get(cf)?;
        self.inner.delete_range_cf(&entry.handle, from, to);
        self.account(entry.id, from.len() + to.len());
        Ok(())
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Serialised size of the batch in bytes.
    pub fn size_in_bytes(&self) -> usize {
        self.inner.size_in_bytes()
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
    raw: DBRawIteratorWithThreadMode<'e, DB>,
    // Keeps the column-family handle alive for the iterator's life.
    _table: Arc<CfTable>,
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
