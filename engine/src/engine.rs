//! [`Engine`]: RocksDB opened in multi-threaded column-family mode, with every foreground op
//! timed into the op rings and RocksDB's listener feeding the event ring.
//!
//! Column families are addressed by their *logical* name. Names resolve through a
//! copy-on-write table read lock-free (`arc-swap`), so a lookup costs a few ns and never
//! contends with other threads. Each logical CF is served by one *physical* RocksDB CF
//! ([`crate::cf_map`]); a rebuild ([`crate::rebuild`]) swaps the physical CF behind a logical
//! name by publishing a new table. Every change to the table waits for a grace period (the
//! old table's reference count draining to one) before the engine relies on no operation
//! still using the old entries. The table also owns the database its handles belong to, so
//! that a reopen ([`crate::recovery`]) replaces both at once: an operation takes the
//! database and its column-family handle from the same table.
//!
//! The engine never blocks a caller for telemetry: recording an op is two clock reads and a
//! ring push that drops (and counts) when full. The write throttle may delay writes (that is
//! its job), never reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use lsmedic_telemetry::throttle::WriteThrottle;
use lsmedic_telemetry::{CfId, OpKind, OpOutcome, Sample, Tunable, Tunables};
use parking_lot::Mutex;
use rocksdb::{
    checkpoint::Checkpoint, Cache, ColumnFamilyDescriptor, Env, Options, ReadOptions,
    WriteBufferManager, WriteOptions, DB,
};

use crate::cf_map::{self, CfMap, META_CF};
use crate::checkpoints::Checkpointer;
use crate::config::{validate_cf_name, CfOptions, EngineConfig};
use crate::error::{Error, Result};
use crate::quarantine::Quarantine;
use crate::raw::{self, DetachedCf};
use crate::rebuild::RebuildState;
use crate::recovery::Recovery;
use crate::sampler::Sampler;
use crate::telemetry::Telemetry;

pub use lsmedic_telemetry::DEFAULT_CF;

/// Per-write options.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOpts {
    /// fsync the WAL before acknowledging (durable across a machine crash, not only a
    /// process crash).
    pub sync: bool,
    /// Longest time the write may wait in the write throttle; past it the write fails with
    /// [`Error::Throttled`] instead of blocking. `None` = wait as long as the throttle says.
    pub throttle_deadline: Option<Duration>,
}

impl WriteOpts {
    /// A synced write.
    pub fn synced() -> Self {
        WriteOpts {
            sync: true,
            ..WriteOpts::default()
        }
    }

    /// The same options with a throttle deadline.
    pub fn with_throttle_deadline(mut self, deadline: Duration) -> Self {
        self.throttle_deadline = Some(deadline);
        self
    }
}

/// One logical column family known to the engine.
pub(crate) struct CfEntry {
    /// Telemetry id (stable for the logical CF, also across rebuilds).
    pub(crate) id: CfId,
    /// Logical name.
    pub(crate) name: String,
    /// Physical RocksDB column family serving it.
    pub(crate) physical: String,
    pub(crate) handle: DetachedCf,
    /// Write throttle of this column family (unlimited unless the healer sets it).
    pub(crate) throttle: Arc<WriteThrottle>,
    /// Set while the CF is being rebuilt: writes then go to both physical CFs.
    pub(crate) rebuild: Option<Arc<RebuildState>>,
}

impl CfEntry {
    pub(crate) fn share(&self) -> CfEntry {
        CfEntry {
            id: self.id,
            name: self.name.clone(),
            physical: self.physical.clone(),
            handle: Arc::clone(&self.handle),
            throttle: Arc::clone(&self.throttle),
            rebuild: self.rebuild.clone(),
        }
    }
}

/// The cause [`Error::Recovering`] gives while the database is closed for a reopen.
const RECOVERING: &str = "the engine is reopening the database";

/// The open database and lsmedic's meta column family in it.
pub(crate) struct OpenDb {
    // Field order is drop order: the handle goes before the database.
    pub(crate) meta: DetachedCf,
    pub(crate) db: Arc<DB>,
}

/// What the engine knows of a logical column family while its database is closed for a
/// reopen ([`crate::recovery`]).
pub(crate) struct ClosedCf {
    pub(crate) id: CfId,
    pub(crate) name: String,
    pub(crate) physical: String,
    pub(crate) throttle: Arc<WriteThrottle>,
}

/// One logical column family as the name functions see it, open or not.
pub(crate) struct CfInfo<'a> {
    pub(crate) id: CfId,
    pub(crate) name: &'a str,
    pub(crate) physical: &'a str,
    pub(crate) throttle: &'a Arc<WriteThrottle>,
}

/// The logical name → entry table and the database its handles belong to, replaced
/// wholesale on every change. While the engine reopens its database the table has no
/// database and no entries, only `closed`: every operation then fails with
/// [`Error::Recovering`].
pub(crate) struct CfTable {
    // Field order is drop order: the entries hold column-family handles of `open`'s database.
    pub(crate) entries: Vec<CfEntry>,
    pub(crate) open: Option<OpenDb>,
    pub(crate) closed: Vec<ClosedCf>,
}

impl CfTable {
    /// A table of `entries` served by `open`.
    pub(crate) fn new(entries: Vec<CfEntry>, open: OpenDb) -> CfTable {
        CfTable {
            entries,
            open: Some(open),
            closed: Vec::new(),
        }
    }

    /// The same entries (shared) and database, with `entries` replaced.
    pub(crate) fn with_entries(&self, entries: Vec<CfEntry>) -> Result<CfTable> {
        let open = self.open()?;
        Ok(CfTable::new(
            entries,
            OpenDb {
                meta: Arc::clone(&open.meta),
                db: Arc::clone(&open.db),
            },
        ))
    }

    pub(crate) fn get(&self, name: &str) -> Result<&CfEntry> {
        match self.entries.iter().find(|entry| entry.name == name) {
            Some(entry) => Ok(entry),
            None => Err(self.missing(self.closed.iter().any(|cf| cf.name == name), name)),
        }
    }

    /// Why the column family `name` has no entry: the database is closed for a reopen
    /// (`closed`: the family is among those it knew), or there is no such family.
    fn missing(&self, closed: bool, name: &str) -> Error {
        if closed {
            Error::Recovering {
                cf: Some(name.to_owned()),
                cause: RECOVERING.to_owned(),
            }
        } else {
            Error::UnknownColumnFamily {
                name: name.to_owned(),
            }
        }
    }

    /// The logical column family `name`, open or closed for a reopen.
    pub(crate) fn info(&self, name: &str) -> Option<CfInfo<'_>> {
        self.infos().find(|cf| cf.name == name)
    }

    pub(crate) fn by_id(&self, id: CfId) -> Option<&CfEntry> {
        self.entries.iter().find(|entry| entry.id == id)
    }

    /// The entry of the column family with id `id` (named `name` when it was looked up).
    pub(crate) fn entry_of(&self, id: CfId, name: &str) -> Result<&CfEntry> {
        match self.by_id(id) {
            Some(entry) => Ok(entry),
            None => Err(self.missing(self.closed.iter().any(|cf| cf.id == id), name)),
        }
    }

    /// The open database, or [`Error::Recovering`] while it is being reopened.
    pub(crate) fn open(&self) -> Result<&OpenDb> {
        self.open.as_ref().ok_or_else(|| Error::Recovering {
            cf: None,
            cause: RECOVERING.to_owned(),
        })
    }

    /// The database, or [`Error::Recovering`] while it is being reopened.
    #[inline]
    pub(crate) fn db(&self) -> Result<&Arc<DB>> {
        Ok(&self.open()?.db)
    }

    /// The database `tables` serves from now, for a background thread: looked up at each
    /// use, so that a reopen ([`crate::recovery`]) reaches the thread.
    pub(crate) fn current_db(tables: &ArcSwap<CfTable>) -> Result<Arc<DB>> {
        tables.load().db().cloned()
    }

    /// Every logical column family, open or closed for a reopen, in creation order.
    pub(crate) fn infos(&self) -> impl Iterator<Item = CfInfo<'_>> {
        self.entries
            .iter()
            .map(|entry| CfInfo {
                id: entry.id,
                name: &entry.name,
                physical: &entry.physical,
                throttle: &entry.throttle,
            })
            .chain(self.closed.iter().map(|cf| CfInfo {
                id: cf.id,
                name: &cf.name,
                physical: &cf.physical,
                throttle: &cf.throttle,
            }))
    }
}

/// One write applied to a logical column family.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Op<'a> {
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
    DeleteRange(&'a [u8], &'a [u8]),
}

impl Op<'_> {
    /// Appends this op for `cf` to a RocksDB batch.
    pub(crate) fn add_to(&self, batch: &mut rocksdb::WriteBatch, cf: &DetachedCf) {
        match *self {
            Op::Put(key, value) => batch.put_cf(cf, key, value),
            Op::Delete(key) => batch.delete_cf(cf, key),
            Op::DeleteRange(from, to) => batch.delete_range_cf(cf, from, to),
        }
    }
}

/// An instrumented RocksDB database.
pub struct Engine {
    // Field order is drop order. The checkpoint thread uses the DB and is stopped first.
    checkpointer: Option<Checkpointer>,
    // Its thread uses the DB too, and is stopped with it.
    quarantine: Option<Quarantine>,
    // Stops (and joins) the automatic recovery thread, which may be using the table.
    recovery: Recovery,
    // The table owns the database: its handles, then the DB itself. Shared with the
    // checkpoint and quarantine threads, which look the database up on every use so that a
    // reopen ([`crate::recovery`]) reaches them.
    cfs: Arc<ArcSwap<CfTable>>,
    cf_admin: Mutex<()>,
    next_cf_id: AtomicU32,
    read_opts: ReadOptions,
    write_opts: WriteOptions,
    write_opts_sync: WriteOptions,
    options: Options,
    // Resizing needs `&mut`; the lock is taken only to resize or to create a CF.
    block_cache: Mutex<Cache>,
    write_buffer_manager: Option<WriteBufferManager>,
    env: Mutex<Env>,
    /// Current value of every tunable (what was set successfully); the source of
    /// `Control::tunables`. Write-rate limits live in the throttles instead.
    tunables: Mutex<Tunables>,
    /// Throttle of all writes (each CF also has its own).
    throttle: WriteThrottle,
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

pub(crate) fn detached(db: &DB, path: &Path, physical: &str) -> Result<DetachedCf> {
    let handle = db.cf_handle(physical).ok_or_else(|| Error::Open {
        path: path.to_owned(),
        message: format!("column family {physical:?} has no handle after open"),
    })?;
    // SAFETY: every detached handle is stored only in a `CfTable` beside the `Arc<DB>` it
    // belongs to (entries and meta handle drop before it), in a `RebuildState` held by such a
    // table or by a rebuild (which holds the admin lock a reopen takes, and the table's
    // database), or in an iterator, which holds that `Arc<DB>` and drops its handle first.
    Ok(unsafe { raw::detach_cf(handle) })
}

/// The RocksDB objects an engine opens its database with and keeps for its lifetime.
struct OpenOptions {
    options: Options,
    block_cache: Cache,
    write_buffer_manager: Option<WriteBufferManager>,
    env: Env,
    telemetry: Arc<Telemetry>,
    quarantine: Option<Quarantine>,
    recovery: Recovery,
}

impl OpenOptions {
    /// The DB options of `config` with the shared block cache, the write-buffer manager (when
    /// configured), a private `Env` handle and the event listener feeding fresh telemetry.
    fn new(config: &EngineConfig, path: &Path) -> Result<OpenOptions> {
        let block_cache = Cache::new_lru_cache(config.block_cache_size as usize);
        let mut options = config.db_options(&block_cache);
        let write_buffer_manager = config.write_buffer_manager_size.map(|size| {
            let manager = WriteBufferManager::new_write_buffer_manager(size as usize, false);
            options.set_write_buffer_manager(&manager);
            manager
        });
        let env = Env::new().map_err(|e| Error::Open {
            path: path.to_owned(),
            message: format!("cannot create RocksDB Env: {}", e.into_string()),
        })?;
        options.set_env(&env);
        let telemetry = Arc::new(Telemetry::new(&config.telemetry));
        let (quarantine, sender) = if config.contain_compaction_corruption {
            let (quarantine, sender) = Quarantine::new();
            (Some(quarantine), Some(sender))
        } else {
            (None, None)
        };
        let recovery = Recovery::new();
        raw::attach_listener(
            &mut options,
            Arc::clone(&telemetry),
            sender,
            recovery.signal(),
        );
        Ok(OpenOptions {
            options,
            block_cache,
            write_buffer_manager,
            env,
            telemetry,
            quarantine,
            recovery,
        })
    }
}

/// Physical CFs to open: all on disk, plus configured logical CFs not yet present under their
/// own or a rebuilt name, plus lsmedic's meta CF.
pub(crate) fn physical_cfs_to_open(
    config: &EngineConfig,
    options: &Options,
    path: &Path,
) -> Result<Vec<String>> {
    let exists = path.join("CURRENT").exists();
    let mut physical = vec![DEFAULT_CF.to_owned()];
    if exists {
        let on_disk = DB::list_cf(options, path).map_err(|e| classify_open_error(path, e))?;
        physical.extend(on_disk.into_iter().filter(|name| name != DEFAULT_CF));
    }
    for cf in &config.column_families {
        if physical
            .iter()
            .any(|existing| cf_map::logical_of(existing) == cf.name)
        {
            continue;
        }
        if !config.create_missing_column_families && exists {
            // Opening forces creation on (for lsmedic's own meta CF); honour the user's
            // `false` for theirs as RocksDB would.
            return Err(Error::Open {
                path: path.to_owned(),
                message: format!(
                    "column family {:?} does not exist and create_missing_column_families is false",
                    cf.name
                ),
            });
        }
        physical.push(cf.name.clone());
    }
    if !physical.iter().any(|name| name == META_CF) {
        physical.push(META_CF.to_owned());
    }
    Ok(physical)
}

/// Opens RocksDB with every CF in `physical`, each with the options of its logical CF (as
/// configured, overwritten by `tunables` when given: the values set online), and automatic
/// compactions off where `quarantined` says so.
pub(crate) fn open_db(
    config: &EngineConfig,
    (options, block_cache): (&Options, &Cache),
    path: &Path,
    physical: &[String],
    tunables: Option<&Tunables>,
    quarantined: impl Fn(&str) -> bool,
) -> Result<DB> {
    let descriptors = physical.iter().map(|name| {
        let logical = cf_map::logical_of(name);
        let mut cf_options = config.cf_options_for(logical).clone();
        if let Some(values) = tunables.and_then(|tunables| tunables.cfs.get(logical)) {
            cf_options.apply_tunables(values);
        }
        if quarantined(name) {
            cf_options.disable_auto_compactions = true;
        }
        ColumnFamilyDescriptor::new(name, cf_options.rocksdb_options(block_cache))
    });
    DB::open_cf_descriptors(options, path, descriptors).map_err(|e| classify_open_error(path, e))
}

/// Reads the logical → physical map from the meta CF, resolves `physical` against it and
/// drops the orphans of an interrupted rebuild; returns the live (logical, physical) pairs.
pub(crate) fn resolve_cfs(
    db: &DB,
    meta: &DetachedCf,
    path: &Path,
    physical: &[String],
) -> Result<Vec<(String, String)>> {
    let open_error = |message| Error::Open {
        path: path.to_owned(),
        message,
    };
    let map = match db
        .get_pinned_cf(meta, cf_map::MAP_KEY)
        .map_err(|e| classify_open_error(path, e))?
    {
        Some(bytes) => CfMap::from_bytes(&bytes).map_err(open_error)?,
        None => CfMap::default(),
    };
    let resolved = cf_map::resolve(physical, &map).map_err(open_error)?;
    for orphan in &resolved.orphans {
        db.drop_cf(orphan)
            .map_err(|e| classify_open_error(path, e))?;
    }
    crate::rebuild::remove_leftover_files(path);
    Ok(resolved.live)
}

/// The CF table entries of the `live` column families (ids in order) and the tunables they
/// start with.
fn cf_entries(
    config: &EngineConfig,
    db: &DB,
    path: &Path,
    live: Vec<(String, String)>,
) -> Result<(Vec<CfEntry>, Tunables)> {
    let mut entries = Vec::with_capacity(live.len());
    let mut tunables = Tunables::default();
    for (id, (logical, physical)) in live.into_iter().enumerate() {
        tunables
            .cfs
            .insert(logical.clone(), config.cf_options_for(&logical).tunables());
        entries.push(CfEntry {
            id: id as CfId,
            handle: detached(db, path, &physical)?,
            name: logical,
            physical,
            throttle: Arc::new(WriteThrottle::new(None)),
            rebuild: None,
        });
    }
    Ok((entries, tunables))
}

/// The DB-, engine- and process-scoped tunables an engine starts with: as configured, and
/// the thread pools as the `Env` has them.
fn initial_global_tunables(config: &EngineConfig, env: &Env) -> BTreeMap<Tunable, u64> {
    let (threads_low, threads_high) = raw::env_background_threads(env);
    [
        (
            Tunable::MaxBackgroundJobs,
            config.max_background_jobs as u64,
        ),
        (
            Tunable::MaxSubcompactions,
            u64::from(config.max_subcompactions),
        ),
        (Tunable::DelayedWriteRate, config.delayed_write_rate),
        (Tunable::BlockCacheCapacity, config.block_cache_size),
        (Tunable::BackgroundThreadsLow, threads_low),
        (Tunable::BackgroundThreadsHigh, threads_high),
    ]
    .into_iter()
    .chain(
        config
            .write_buffer_manager_size
            .map(|size| (Tunable::WriteBufferManagerSize, size)),
    )
    .collect()
}

impl Engine {
    /// Opens (or creates) the database at `path`: every column family already on disk, plus
    /// those in `config.column_families`. Leftovers of an interrupted column-family rebuild
    /// are cleaned up (see [`crate::cf_map`]).
    pub fn open(path: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        config.validate()?;
        let path = path.as_ref().to_path_buf();
        if path.exists() && !path.is_dir() {
            return Err(Error::NotADirectory { path });
        }
        let mut open = OpenOptions::new(&config, &path)?;
        let physical = physical_cfs_to_open(&config, &open.options, &path)?;
        // The meta CF may be new: RocksDB must be allowed to create it.
        open.options.create_missing_column_families(true);
        let db = open_db(
            &config,
            (&open.options, &open.block_cache),
            &path,
            &physical,
            None,
            |_| false,
        );
        open.options
            .create_missing_column_families(config.create_missing_column_families);
        let db = db?;
        let meta = detached(&db, &path, META_CF)?;
        let live = resolve_cfs(&db, &meta, &path, &physical)?;
        let (entries, mut tunables) = cf_entries(&config, &db, &path, live)?;
        tunables.global = initial_global_tunables(&config, &open.env);
        let next_cf_id = AtomicU32::new(entries.len() as CfId);
        let mut write_opts_sync = WriteOptions::default();
        write_opts_sync.set_sync(true);
        let cfs = Arc::new(ArcSwap::from_pointee(CfTable::new(
            entries,
            OpenDb {
                meta,
                db: Arc::new(db),
            },
        )));
        let checkpointer = if config.checkpoints.enabled {
            Some(Checkpointer::start(
                Arc::clone(&cfs),
                config.checkpoints.directory(&path),
                &config.checkpoints,
            )?)
        } else {
            None
        };
        let OpenOptions {
            options,
            block_cache,
            write_buffer_manager,
            env,
            telemetry,
            mut quarantine,
            recovery,
        } = open;
        if let Some(quarantine) = &mut quarantine {
            quarantine.start(Arc::clone(&cfs), &path)?;
        }
        Ok(Engine {
            checkpointer,
            quarantine,
            recovery,
            cfs,
            cf_admin: Mutex::new(()),
            next_cf_id,
            read_opts: ReadOptions::default(),
            write_opts: WriteOptions::default(),
            write_opts_sync,
            options,
            block_cache: Mutex::new(block_cache),
            write_buffer_manager,
            env: Mutex::new(env),
            tunables: Mutex::new(tunables),
            throttle: WriteThrottle::new(None),
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

    /// A telemetry id for a new logical column family.
    pub(crate) fn allocate_cf_id(&self) -> CfId {
        self.next_cf_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The table the engine serves from, shared with its background threads.
    pub(crate) fn tables(&self) -> &Arc<ArcSwap<CfTable>> {
        &self.cfs
    }

    /// The automatic recovery state.
    pub(crate) fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The options the DB was opened with (holds the statistics object).
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// The write-buffer manager, when the config sets `write_buffer_manager_size`.
    pub fn write_buffer_manager(&self) -> Option<&WriteBufferManager> {
        self.write_buffer_manager.as_ref()
    }

    pub(crate) fn cf_table(&self) -> arc_swap::Guard<Arc<CfTable>> {
        self.cfs.load()
    }

    pub(crate) fn cf_admin_lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.cf_admin.lock()
    }

    pub(crate) fn block_cache_lock(&self) -> parking_lot::MutexGuard<'_, Cache> {
        self.block_cache.lock()
    }

    pub(crate) fn env_lock(&self) -> parking_lot::MutexGuard<'_, Env> {
        self.env.lock()
    }

    pub(crate) fn tunables_lock(&self) -> parking_lot::MutexGuard<'_, Tunables> {
        self.tunables.lock()
    }

    /// The throttle of all writes.
    pub(crate) fn global_throttle(&self) -> &WriteThrottle {
        &self.throttle
    }

    /// Logical column families in quarantine: a compaction met corrupt data in their files
    /// and the engine contained the error (see [`crate::quarantine`]). Their automatic
    /// compactions are off until they are rebuilt ([`Engine::rebuild_cf`]).
    pub fn quarantined_cfs(&self) -> Vec<String> {
        self.cf_table()
            .infos()
            .filter(|cf| self.is_quarantined(cf.physical))
            .map(|cf| cf.name.to_owned())
            .collect()
    }

    /// The last failure to stop a quarantined column family's automatic compactions.
    pub fn quarantine_error(&self) -> Option<String> {
        self.quarantine.as_ref().and_then(Quarantine::last_error)
    }

    pub(crate) fn is_quarantined(&self, physical: &str) -> bool {
        self.quarantine
            .as_ref()
            .is_some_and(|quarantine| quarantine.contains(physical))
    }

    pub(crate) fn forget_quarantine(&self, physical: &str) {
        if let Some(quarantine) = &self.quarantine {
            quarantine.forget(physical);
        }
    }

    pub(crate) fn checkpointer(&self) -> Option<&Checkpointer> {
        self.checkpointer.as_ref()
    }

    /// Publishes a new CF table and waits until no operation still uses the old one (the
    /// grace period), so that afterwards every write sees `table`; returns the old table.
    pub(crate) fn publish(&self, table: CfTable) -> CfTable {
        let mut old = self.cfs.swap(Arc::new(table));
        // arc-swap turns outstanding load guards of `old` into real references when it
        // swaps, so the count falls to one once every in-flight operation is done.
        loop {
            match Arc::try_unwrap(old) {
                Ok(old) => return old,
                Err(still_used) => {
                    old = still_used;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    /// Stores the map and the rebuild report of `cf` in one synced batch: the commit point
    /// of a rebuild, so that the report of every committed rebuild survives a crash.
    pub(crate) fn commit_rebuild(
        &self,
        map: &CfMap,
        cf: &str,
        report: &lsmedic_telemetry::RebuildReport,
    ) -> Result<()> {
        let text = serde_json::to_vec(report).map_err(|e| Error::Rebuild {
            cf: cf.to_owned(),
            message: format!("cannot encode the report: {e}"),
        })?;
        let table = self.cf_table();
        let open = table.open()?;
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(&open.meta, cf_map::MAP_KEY, map.to_bytes());
        batch.put_cf(&open.meta, cf_map::report_key(cf), text);
        open.db
            .write_opt(batch, &self.write_opts_sync)
            .map_err(|e| Error::rocksdb("store column-family map", Some(META_CF), None, e))
    }

    /// The report of the last completed rebuild of `cf` (stored with the rebuild's commit,
    /// so it survives a crash and a reopen); `None` if it was never rebuilt.
    pub fn last_rebuild_report(
        &self,
        cf: &str,
    ) -> Result<Option<lsmedic_telemetry::RebuildReport>> {
        let table = self.cf_table();
        table.get(cf)?;
        let open = table.open()?;
        let stored = open
            .db
            .get_cf(&open.meta, cf_map::report_key(cf))
            .map_err(|e| Error::rocksdb("read rebuild report", Some(META_CF), None, e))?;
        stored
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| Error::Rebuild {
                    cf: cf.to_owned(),
                    message: format!("stored rebuild report does not decode: {e}"),
                })
            })
            .transpose()
    }

    /// The map as it should be stored for `table` (only rebuilt CFs appear).
    pub(crate) fn cf_map_of(table: &CfTable) -> CfMap {
        CfMap {
            version: 1,
            map: table
                .entries
                .iter()
                .filter(|entry| entry.name != entry.physical)
                .map(|entry| (entry.name.clone(), entry.physical.clone()))
                .collect(),
        }
    }

    // ----- column families -------------------------------------------------------------

    /// Names of all (logical) column families, in creation order.
    pub fn list_cfs(&self) -> Vec<String> {
        self.cfs
            .load()
            .infos()
            .map(|cf| cf.name.to_owned())
            .collect()
    }

    /// The telemetry id of a column family (what `OpEvent::cf` carries).
    pub fn cf_id(&self, name: &str) -> Result<CfId> {
        let table = self.cfs.load();
        let id = table.info(name).map(|cf| cf.id);
        id.ok_or_else(|| Error::UnknownColumnFamily {
            name: name.to_owned(),
        })
    }

    /// The name of the column family with telemetry id `id`, if it still exists.
    pub fn cf_name(&self, id: CfId) -> Option<String> {
        self.cfs
            .load()
            .infos()
            .find(|cf| cf.id == id)
            .map(|cf| cf.name.to_owned())
    }

    /// The physical RocksDB column family serving logical `name` (listener events carry
    /// physical names).
    pub fn physical_cf(&self, name: &str) -> Result<String> {
        let table = self.cfs.load();
        let physical = table.info(name).map(|cf| cf.physical.to_owned());
        physical.ok_or_else(|| Error::UnknownColumnFamily {
            name: name.to_owned(),
        })
    }

    /// The logical column family a physical RocksDB column-family name belongs to.
    pub fn logical_cf(&self, physical: &str) -> Option<String> {
        let table = self.cfs.load();
        let logical = table
            .infos()
            .find(|cf| cf.physical == physical)
            .or_else(|| {
                table
                    .infos()
                    .find(|cf| cf.name == cf_map::logical_of(physical))
            })
            .map(|cf| cf.name.to_owned());
        logical
    }

    /// Creates a column family with `options` (or the config's `cf_options`).
    pub fn create_cf(&self, name: &str, options: Option<&CfOptions>) -> Result<()> {
        validate_cf_name(name)?;
        let options = options.unwrap_or(&self.config.cf_options);
        options.validate(name)?;
        let _admin = self.cf_admin.lock();
        let current = self.cfs.load_full();
        if current.info(name).is_some() {
            return Err(Error::ColumnFamilyExists {
                name: name.to_owned(),
            });
        }
        let db = current.db()?;
        let cf_options = options.rocksdb_options(&self.block_cache.lock());
        db.create_cf(name, &cf_options)
            .map_err(|e| Error::rocksdb("create_cf", Some(name), None, e))?;
        let handle = detached(db, &self.path, name)?;
        let mut entries: Vec<CfEntry> = current.entries.iter().map(CfEntry::share).collect();
        entries.push(CfEntry {
            id: self.allocate_cf_id(),
            name: name.to_owned(),
            physical: name.to_owned(),
            handle,
            throttle: Arc::new(WriteThrottle::new(None)),
            rebuild: None,
        });
        let table = current.with_entries(entries)?;
        drop(current);
        self.tunables
            .lock()
            .cfs
            .insert(name.to_owned(), options.tunables());
        self.publish(table);
        Ok(())
    }

    /// Drops a column family and all its data. The default column family cannot be dropped.
    pub fn drop_cf(&self, name: &str) -> Result<()> {
        if name == DEFAULT_CF {
            return Err(Error::CannotDropDefault);
        }
        let _admin = self.cf_admin.lock();
        let current = self.cfs.load_full();
        let physical = current.get(name)?.physical.clone();
        let entries: Vec<CfEntry> = current
            .entries
            .iter()
            .filter(|entry| entry.name != name)
            .map(CfEntry::share)
            .collect();
        let table = current.with_entries(entries)?;
        let db = Arc::clone(current.db()?);
        drop(current);
        // One synced batch: a later column family of the same name starts without a rebuild
        // history, and a rebuilt one's mapping is forgotten before its physical column family
        // goes (a crash in between leaves an orphan, dropped at open).
        let open = table.open()?;
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_cf(&open.meta, cf_map::report_key(name));
        if physical != name {
            batch.put_cf(
                &open.meta,
                cf_map::MAP_KEY,
                Self::cf_map_of(&table).to_bytes(),
            );
        }
        db.write_opt(batch, &self.write_opts_sync).map_err(|e| {
            Error::rocksdb("drop_cf (store column-family map)", Some(name), None, e)
        })?;
        self.publish(table);
        self.tunables.lock().cfs.remove(name);
        db.drop_cf(&physical)
            .map_err(|e| Error::rocksdb("drop_cf", Some(name), None, e))
    }

    // ----- point operations -------------------------------------------------------------

    pub(crate) fn write_options(&self, opts: WriteOpts) -> &WriteOptions {
        if opts.sync {
            &self.write_opts_sync
        } else {
            &self.write_opts
        }
    }

    /// Whether a write to `entry` may have to wait in a throttle.
    #[inline]
    pub(crate) fn throttled(&self, entry: &CfEntry) -> bool {
        self.throttle.rate().is_some() || entry.throttle.rate().is_some()
    }

    /// Passes `bytes` through the global and the column family's write throttle. A deadline
    /// miss is recorded as a throttled op and returned as [`Error::Throttled`]. Callers hold
    /// no CF-table guard while waiting here, so table changes never wait for throttled writes.
    pub(crate) fn admit(
        &self,
        kind: OpKind,
        cf: (CfId, &str, &WriteThrottle),
        start: u64,
        bytes: usize,
        opts: WriteOpts,
    ) -> Result<()> {
        let (id, name, cf_throttle) = cf;
        let deadline = opts.throttle_deadline.map(|wait| Instant::now() + wait);
        let admitted = self
            .throttle
            .acquire(bytes as u64, deadline)
            .and_then(|_| cf_throttle.acquire(bytes as u64, deadline));
        if let Err(err) = admitted {
            let end = self.telemetry.clock().raw();
            self.telemetry
                .record_op(kind, id, start, end, bytes, OpOutcome::Throttled);
            return Err(Error::Throttled {
                cf: name.to_owned(),
                source: err,
            });
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn record<T>(
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

    /// Applies one write to a logical CF: directly when it is not being rebuilt, to both
    /// physical CFs atomically (and marked as touched for the copier) while it is.
    #[inline]
    fn apply(
        &self,
        db: &DB,
        entry: &CfEntry,
        op: Op<'_>,
        opts: &WriteOptions,
    ) -> std::result::Result<(), rocksdb::Error> {
        match &entry.rebuild {
            None => match op {
                Op::Put(key, value) => db.put_cf_opt(&entry.handle, key, value, opts),
                Op::Delete(key) => db.delete_cf_opt(&entry.handle, key, opts),
                Op::DeleteRange(from, to) => db.delete_range_cf_opt(&entry.handle, from, to, opts),
            },
            Some(rebuild) => {
                let mut batch = rocksdb::WriteBatch::default();
                op.add_to(&mut batch, &entry.handle);
                op.add_to(&mut batch, &rebuild.new_handle);
                let mut touched = rebuild.touched.lock();
                db.write_opt(batch, opts)?;
                touched.record(&op);
                Ok(())
            }
        }
    }

    fn write_one(&self, kind: OpKind, cf: &str, op: Op<'_>, opts: WriteOpts) -> Result<()> {
        let bytes = match op {
            Op::Put(key, value) => key.len() + value.len(),
            Op::Delete(key) => key.len(),
            Op::DeleteRange(from, to) => from.len() + to.len(),
        };
        let start = self.telemetry.clock().raw();
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        if !self.throttled(entry) {
            return self.finish_write(kind, (table.db()?, entry), op, start, bytes, opts);
        }
        let (id, throttle) = (entry.id, Arc::clone(&entry.throttle));
        drop(table);
        self.admit(kind, (id, cf, &throttle), start, bytes, opts)?;
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        self.finish_write(kind, (table.db()?, entry), op, start, bytes, opts)
    }

    #[inline]
    fn finish_write(
        &self,
        kind: OpKind,
        (db, entry): (&DB, &CfEntry),
        op: Op<'_>,
        start: u64,
        bytes: usize,
        opts: WriteOpts,
    ) -> Result<()> {
        let result = self.apply(db, entry, op, self.write_options(opts));
        self.record(kind, entry.id, start, bytes, &result, OpOutcome::Ok);
        result.map_err(|e| {
            let key = match op {
                Op::Put(key, _) | Op::Delete(key) | Op::DeleteRange(key, _) => key,
            };
            self.write_error(kind.name(), Some(&entry.name), Some(key), e)
        })
    }

    /// The error of a failed write: [`Error::Recovering`] while the database is refusing
    /// writes and the engine is bringing it back, else RocksDB's error.
    pub(crate) fn write_error(
        &self,
        op: &'static str,
        cf: Option<&str>,
        key: Option<&[u8]>,
        err: rocksdb::Error,
    ) -> Error {
        if self.recovery.is_failed() {
            return Error::Recovering {
                cf: cf.map(str::to_owned),
                cause: err.into_string(),
            };
        }
        Error::rocksdb(op, cf, key, err)
    }

    /// Writes `key` → `value` (WAL on, not synced).
    pub fn put(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_opt(cf, key, value, WriteOpts::default())
    }

    /// Writes `key` → `value` with per-write options.
    pub fn put_opt(&self, cf: &str, key: &[u8], value: &[u8], opts: WriteOpts) -> Result<()> {
        self.write_one(OpKind::Put, cf, Op::Put(key, value), opts)
    }

    /// Deletes `key` (WAL on, not synced).
    pub fn delete(&self, cf: &str, key: &[u8]) -> Result<()> {
        self.delete_opt(cf, key, WriteOpts::default())
    }

    /// Deletes `key` with per-write options.
    pub fn delete_opt(&self, cf: &str, key: &[u8], opts: WriteOpts) -> Result<()> {
        self.write_one(OpKind::Delete, cf, Op::Delete(key), opts)
    }

    /// Deletes every key in `[from, to)`; a start key sorting after the end key is refused
    /// with [`Error::ReversedRange`].
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
        Error::check_range(cf, from, to)?;
        self.write_one(OpKind::DeleteRange, cf, Op::DeleteRange(from, to), opts)
    }

    /// Reads the value of `key`, `None` when absent.
    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        self.read_one(
            (entry.id, cf),
            (table.db()?, &entry.handle),
            key,
            &self.read_opts,
        )
    }

    /// A point read of `key` in column family `id`/`cf` (`handle`, in `db`), timed.
    pub(crate) fn read_one(
        &self,
        (id, cf): (CfId, &str),
        (db, handle): (&DB, &DetachedCf),
        key: &[u8],
        read_opts: &ReadOptions,
    ) -> Result<Option<Vec<u8>>> {
        let start = self.telemetry.clock().raw();
        let result = db
            .get_pinned_cf_opt(handle, key, read_opts)
            .map(|value| value.map(|slice| slice.to_vec()));
        let (bytes, found) = match &result {
            Ok(Some(value)) => (value.len(), OpOutcome::Ok),
            _ => (0, OpOutcome::NotFound),
        };
        self.record(OpKind::Get, id, start, bytes, &result, found);
        result.map_err(|e| Error::rocksdb("get", Some(cf), Some(key), e))
    }

    /// Reads many keys at once; the result is in the order of `keys`.
    pub fn multi_get<K: AsRef<[u8]>>(&self, cf: &str, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        self.read_many(
            (entry.id, cf),
            (table.db()?, &entry.handle),
            keys,
            &self.read_opts,
        )
    }

    /// A multi-get of `keys` in column family `id`/`cf` (`handle`, in `db`), timed.
    pub(crate) fn read_many<K: AsRef<[u8]>>(
        &self,
        (id, cf): (CfId, &str),
        (db, handle): (&DB, &DetachedCf),
        keys: &[K],
        read_opts: &ReadOptions,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let start = self.telemetry.clock().raw();
        let results = db.batched_multi_get_cf_opt(handle, keys.iter(), false, read_opts);
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
        self.record(OpKind::MultiGet, id, start, bytes, &status, OpOutcome::Ok);
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

    // ----- maintenance ------------------------------------------------------------------

    /// Flushes the memtables of `cf` to L0 and waits for it.
    pub fn flush(&self, cf: &str) -> Result<()> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let db = table.db()?;
        let start = self.telemetry.clock().raw();
        let result = db.flush_cf(&entry.handle);
        self.record(OpKind::Flush, entry.id, start, 0, &result, OpOutcome::Ok);
        result.map_err(|e| self.write_error("flush", Some(cf), None, e))
    }

    /// Compacts `[start, end]` of `cf` (`None` = open end) and waits for it.
    pub fn compact_range(&self, cf: &str, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        let db = table.db()?;
        let begin = self.telemetry.clock().raw();
        db.compact_range_cf(&entry.handle, start, end);
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

    /// The value of RocksDB property `name` (`rocksdb.stats`, `rocksdb.num-files-at-level0`,
    /// …) for `cf`; `None` when RocksDB does not know the property.
    pub fn property_value(&self, cf: &str, name: &str) -> Result<Option<String>> {
        let table = self.cfs.load();
        let entry = table.get(cf)?;
        table
            .db()?
            .property_value_cf(&entry.handle, name)
            .map_err(|e| Error::rocksdb("property_value", Some(cf), None, e))
    }

    /// Writes a consistent, openable copy of the database to `dir` (which must not exist).
    /// SST files are hard-linked where the filesystem allows; see
    /// [`Engine::checkpoint_now`] for the independent copies rebuilds recover from.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let table = self.cf_table();
        let checkpoint = Checkpoint::new(table.db()?.as_ref())
            .map_err(|e| Error::rocksdb("checkpoint", None, None, e))?;
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
        let table = self.cf_table();
        let synced = table.db().and_then(|db| {
            let synced = db
                .flush_wal(true)
                .map_err(|e| Error::rocksdb("close (sync WAL)", None, None, e));
            db.cancel_all_background_work(true);
            synced
        });
        drop(table);
        drop(self);
        synced
    }
}
