//! Recovery from errors RocksDB does not resume from: an online reopen.
//!
//! Some background errors stop every write until the database is reopened: RocksDB resumes
//! by itself only from errors it classifies as retryable, and never from a failed WAL append
//! (a full disk during a write is one). Corruption found by a compaction is contained
//! instead ([`crate::quarantine`]). For the rest the engine reopens the database in place,
//! so the application keeps its engine, column-family names and write throttles:
//!
//! 1. The event listener reports the background error; from then on a refused write fails
//!    with [`Error::Recovering`] carrying RocksDB's message, and
//!    [`Engine::recovery_status`] says [`RecoveryState::Failed`].
//! 2. A probe (a small write to lsmedic's meta column family that never waits in a stall)
//!    tells whether writes are really refused; if RocksDB resumed by itself, that is the end.
//! 3. Once the database's file system has
//!    [`RecoveryConfig::min_free_mb`](crate::config::RecoveryConfig) free (reopening writes a
//!    WAL and a MANIFEST and flushes), the engine takes the column-family admin lock (no
//!    create, drop or rebuild runs) and waits for open iterators and a checkpoint being
//!    written to let go of the database (up to `reader_wait_ms`; else it gives up, the
//!    database still serving, and tries later). Then it publishes a table without a
//!    database (every operation, reads included, fails fast with [`Error::Recovering`]),
//!    waits for the operations in flight, and closes the database.
//! 4. It opens the database again with the same options, event listener, block cache and
//!    statistics, each column family with the options set online since, quarantined ones
//!    with their compactions off, and publishes a table with the same telemetry ids and
//!    throttles. RocksDB's WAL recovery restores every acknowledged write; a write whose
//!    WAL append failed was never acknowledged.
//!
//! An engine opened with [`Engine::open_shared`] runs steps 2–4 on its own thread
//! ([`RecoveryConfig::auto`](crate::config::RecoveryConfig)), retrying every
//! `retry_interval_ms` while it fails; automatic reopens happen only for I/O errors (a
//! corruption would likely be found again). [`Engine::recover`] reopens on request, for any
//! error. If the reopen itself fails the database stays closed and the thread keeps trying.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lsmedic_telemetry::throttle::WriteThrottle;
use lsmedic_telemetry::{TunableScope, Tunables};
use parking_lot::{Condvar, Mutex};
use rocksdb::{WriteOptions, DB};
use serde::{Deserialize, Serialize};

use crate::cf_map::META_CF;
use crate::config::EngineConfig;
use crate::engine::{self, CfEntry, CfTable, ClosedCf, Engine, OpenDb};
use crate::error::{Error, Result};
use crate::raw;

/// Key of the probe write in lsmedic's meta column family.
const PROBE_KEY: &[u8] = b"lsmedic.recovery-probe";

/// Where the database stands.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryState {
    /// Taking writes.
    #[default]
    Healthy,
    /// A background error stopped writes (or may have); reads still work. Writes fail with
    /// [`Error::Recovering`].
    Failed,
    /// Closed for a reopen (or a reopen failed and is retried): every operation fails with
    /// [`Error::Recovering`].
    Reopening,
}

/// How recovery goes ([`Engine::recovery_status`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryStatus {
    /// Where the database stands.
    pub state: RecoveryState,
    /// The background error that stopped writes last (RocksDB's message).
    pub error: Option<String>,
    /// Why the last recovery attempt did not succeed (not enough free space, an iterator
    /// held the database, the reopen failed); cleared when one does.
    pub attempt_error: Option<String>,
    /// Reopens completed since the engine was opened.
    pub reopens: u64,
    /// Times RocksDB resumed writes by itself after a reported error, with no reopen.
    pub resumed: u64,
    /// How long writes were refused the last time they came back, in milliseconds (from the
    /// error's report to the end of the reopen or the first successful probe).
    pub last_outage_ms: Option<u64>,
}

struct Inner {
    status: RecoveryStatus,
    /// When the current outage was reported.
    failed_at: Option<Instant>,
    /// A report the thread has not looked at yet.
    pending: bool,
    stop: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
    /// Mirrors `status.state != Healthy` for the write path's error mapping.
    failed: AtomicBool,
}

impl Shared {
    fn set_state(&self, inner: &mut Inner, state: RecoveryState) {
        inner.status.state = state;
        self.failed
            .store(state != RecoveryState::Healthy, Ordering::Release);
    }
}

/// The event listener's end: records a background error and wakes the recovery thread.
/// Never blocks beyond a short lock and never allocates without bound.
#[derive(Clone)]
pub(crate) struct RecoverySignal(Arc<Shared>);

impl RecoverySignal {
    /// Reports a background error that was not contained.
    pub(crate) fn report(&self, message: &str) {
        let shared = &self.0;
        let mut inner = shared.inner.lock();
        if inner.status.state == RecoveryState::Healthy {
            inner.failed_at = Some(Instant::now());
            shared.set_state(&mut inner, RecoveryState::Failed);
        }
        inner.status.error = Some(message.to_owned());
        inner.pending = true;
        shared.wake.notify_all();
    }
}

/// The engine's end: the status, and the automatic recovery thread once started.
pub(crate) struct Recovery {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Recovery {
    pub(crate) fn new() -> Recovery {
        Recovery {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    status: RecoveryStatus::default(),
                    failed_at: None,
                    pending: false,
                    stop: false,
                }),
                wake: Condvar::new(),
                failed: AtomicBool::new(false),
            }),
            thread: Mutex::new(None),
        }
    }

    /// The listener's end.
    pub(crate) fn signal(&self) -> RecoverySignal {
        RecoverySignal(Arc::clone(&self.shared))
    }

    /// Whether writes are (or may be) refused; one atomic load.
    #[inline]
    pub(crate) fn is_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    fn status(&self) -> RecoveryStatus {
        self.shared.inner.lock().status.clone()
    }

    fn update(&self, change: impl FnOnce(&Shared, &mut Inner)) {
        let mut inner = self.shared.inner.lock();
        change(&self.shared, &mut inner);
    }

    /// Marks the database healthy again; `reopened` says whether it took a reopen.
    fn healed(&self, reopened: bool) {
        self.update(|shared, inner| {
            if inner.status.state == RecoveryState::Healthy && !reopened {
                return;
            }
            inner.status.last_outage_ms = inner
                .failed_at
                .take()
                .map(|at| at.elapsed().as_millis() as u64);
            if reopened {
                inner.status.reopens += 1;
            } else {
                inner.status.resumed += 1;
            }
            inner.status.attempt_error = None;
            shared.set_state(inner, RecoveryState::Healthy);
        });
    }

    /// Records why an attempt did not bring writes back.
    fn attempt_failed(&self, state: RecoveryState, why: String) {
        self.update(|shared, inner| {
            // A reopen asked of a healthy database that gave up is no outage.
            if state != RecoveryState::Healthy && inner.failed_at.is_none() {
                inner.failed_at = Some(Instant::now());
            }
            inner.status.attempt_error = Some(why);
            shared.set_state(inner, state);
        });
    }
}

impl Drop for Recovery {
    fn drop(&mut self) {
        {
            let mut inner = self.shared.inner.lock();
            inner.stop = true;
            self.shared.wake.notify_all();
        }
        if let Some(thread) = self.thread.lock().take() {
            // The thread itself drops the engine when it held the last reference: it then
            // exits on its own right after.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Free bytes for an unprivileged user on the file system holding `path`.
fn available_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable memory
    // of the right type, which statvfs fills on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the struct.
    let stat = unsafe { stat.assume_init() };
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    let (blocks, block_size) = (u64::from(stat.f_bavail), u64::from(stat.f_frsize));
    Ok(blocks.saturating_mul(block_size))
}

/// The recovery thread: waits for reports, probes, reopens, retries while writes fail.
fn run(engine: Weak<Engine>, shared: Arc<Shared>, retry: Duration) {
    // RocksDB tells the listeners of an error before it adopts it: a probe right away could
    // still pass.
    let settle = retry.min(Duration::from_millis(100));
    loop {
        {
            let mut inner = shared.inner.lock();
            if !inner.pending && !inner.stop {
                if inner.status.state == RecoveryState::Healthy {
                    shared.wake.wait(&mut inner);
                } else {
                    shared.wake.wait_for(&mut inner, retry);
                }
            }
            if inner.pending && !inner.stop {
                let until = Instant::now() + settle;
                while !inner.stop && !shared.wake.wait_until(&mut inner, until).timed_out() {}
            }
            if inner.stop {
                return;
            }
            inner.pending = false;
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.recovery_step();
    }
}

impl Engine {
    /// Opens the database like [`Engine::open`] and, unless
    /// [`RecoveryConfig::auto`](crate::config::RecoveryConfig) is off, starts the thread that
    /// brings the database back after an I/O error or a full disk stopped writes (see
    /// [`crate::recovery`]). The thread holds only a weak reference: dropping the last `Arc`
    /// closes the engine as usual.
    pub fn open_shared(path: impl AsRef<Path>, config: EngineConfig) -> Result<Arc<Engine>> {
        let engine = Arc::new(Engine::open(path, config)?);
        if engine.config().recovery.auto {
            let weak = Arc::downgrade(&engine);
            let shared = Arc::clone(&engine.recovery().shared);
            let retry = Duration::from_millis(engine.config().recovery.retry_interval_ms);
            let thread = std::thread::Builder::new()
                .name("lsmedic-recovery".into())
                .spawn(move || run(weak, shared, retry))
                .map_err(|source| Error::Io {
                    action: "spawn recovery thread for",
                    path: engine.path().to_owned(),
                    source,
                })?;
            *engine.recovery().thread.lock() = Some(thread);
        }
        Ok(engine)
    }

    /// Where recovery from an error that stopped writes stands (see [`crate::recovery`]).
    pub fn recovery_status(&self) -> RecoveryStatus {
        self.recovery().status()
    }

    /// Reopens the database in place now, whatever its state (see [`crate::recovery`]):
    /// waits for operations in flight, open iterators and a checkpoint being written (up to
    /// [`RecoveryConfig::reader_wait_ms`](crate::config::RecoveryConfig)), closes the
    /// database and opens it again with the options set online since. Meanwhile every
    /// operation fails with [`Error::Recovering`]. Returns the error that kept the database
    /// from reopening; it then stays closed until a later call (or the automatic recovery
    /// thread) succeeds.
    pub fn recover(&self) -> Result<()> {
        let before = self.recovery().status().state;
        let outcome = self.reopen();
        match &outcome {
            Ok(()) => self.recovery().healed(true),
            Err(err) => {
                let state = match (self.cf_table().open.is_some(), before) {
                    (false, _) => RecoveryState::Reopening,
                    // A reopen asked of a healthy database gave up before closing it.
                    (true, RecoveryState::Healthy) => RecoveryState::Healthy,
                    (true, _) => RecoveryState::Failed,
                };
                self.recovery().attempt_failed(state, err.to_string());
            }
        }
        outcome
    }

    /// One step of automatic recovery: probe, and reopen when writes are refused by an I/O
    /// error and the disk has room.
    fn recovery_step(&self) {
        let table = self.cf_table();
        let Ok(open) = table.open() else {
            drop(table);
            // Closed by a reopen that failed: try again.
            let _ = self.recover();
            return;
        };
        let probe = probe(open);
        drop(table);
        let err = match probe {
            Ok(()) => {
                // Writes work: RocksDB resumed by itself, or the error never stopped them.
                self.recovery().healed(false);
                return;
            }
            Err(err) => err,
        };
        if err.kind() != rocksdb::ErrorKind::IOError {
            self.recovery().attempt_failed(
                RecoveryState::Failed,
                format!(
                    "writes are refused with a {:?} error, which is not reopened automatically \
                     (Engine::recover reopens on request): {}",
                    err.kind(),
                    err.into_string()
                ),
            );
            return;
        }
        let needed = self.config().recovery.min_free_mb.saturating_mul(1 << 20);
        match available_bytes(self.path()) {
            Ok(free) if free < needed => {
                self.recovery().attempt_failed(
                    RecoveryState::Failed,
                    format!(
                        "waiting for free space: {} MiB free, recovery.min_free_mb = {}",
                        free >> 20,
                        needed >> 20
                    ),
                );
                return;
            }
            // A file system that cannot say: try anyway.
            _ => {}
        }
        let _ = self.recover();
    }

    /// Closes the database (if open) and opens it again; see [`Engine::recover`].
    fn reopen(&self) -> Result<()> {
        let _admin = self.cf_admin_lock();
        let current = self.tables().load_full();
        if let Some(open) = &current.open {
            // Wait for iterators and checkpoints while the database still serves: a reopen
            // that gave up after closing would refuse every call for the whole wait.
            self.wait_for_holders(&open.db)?;
            let closed = CfTable {
                entries: Vec::new(),
                open: None,
                closed: current
                    .infos()
                    .map(|cf| ClosedCf {
                        id: cf.id,
                        name: cf.name.to_owned(),
                        physical: cf.physical.to_owned(),
                        throttle: Arc::clone(cf.throttle),
                    })
                    .collect(),
            };
            drop(current);
            self.recovery()
                .update(|shared, inner| shared.set_state(inner, RecoveryState::Reopening));
            let old = self.publish(closed);
            self.close_db(old)?;
        } else {
            drop(current);
        }
        let open = self.open_again()?;
        self.publish(open);
        Ok(())
    }

    /// Waits up to `reader_wait_ms` until only the table holds `db` (no iterator, no
    /// checkpoint being written).
    fn wait_for_holders(&self, db: &Arc<DB>) -> Result<()> {
        let wait = Duration::from_millis(self.config().recovery.reader_wait_ms);
        let deadline = Instant::now() + wait;
        loop {
            let holders = Arc::strong_count(db) - 1;
            if holders == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(recovery_error(format!(
                    "{holders} iterator(s) or checkpoint(s) still used the database after \
                     {} ms (recovery.reader_wait_ms); drop open iterators to let it reopen",
                    wait.as_millis()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Closes the database of `old` (just unpublished) once nothing else holds it; if
    /// something still does after `reader_wait_ms` (an iterator opened since the first
    /// wait), republishes `old` and fails.
    fn close_db(&self, old: CfTable) -> Result<()> {
        if let Some(open) = &old.open {
            if let Err(err) = self.wait_for_holders(&open.db) {
                self.publish(old);
                return Err(err);
            }
        }
        let CfTable { entries, open, .. } = old;
        drop(entries);
        if let Some(OpenDb { meta, db }) = open {
            drop(meta);
            if let Some(db) = Arc::into_inner(db) {
                db.cancel_all_background_work(true);
                drop(db);
            }
        }
        Ok(())
    }

    /// Opens the database again and builds the table that serves it: same names, ids and
    /// throttles as the closed table, the options set online since, and the quarantines.
    fn open_again(&self) -> Result<CfTable> {
        let path = self.path();
        let config = self.config();
        let physical = engine::physical_cfs_to_open(config, self.options(), path)?;
        let tunables: Tunables = self.tunables_lock().clone();
        let db = engine::open_db(
            config,
            (self.options(), &self.block_cache_lock()),
            path,
            &physical,
            Some(&tunables),
            |name| self.is_quarantined(name),
        )?;
        let meta = engine::detached(&db, path, META_CF)?;
        let live = engine::resolve_cfs(&db, &meta, path, &physical)?;
        let closed = self.tables().load_full();
        let mut entries = Vec::with_capacity(live.len());
        for (logical, physical) in live {
            let known = closed.info(&logical);
            let (id, throttle) = match known {
                Some(cf) => (cf.id, Arc::clone(cf.throttle)),
                None => (self.allocate_cf_id(), Arc::new(WriteThrottle::new(None))),
            };
            entries.push(CfEntry {
                id,
                handle: engine::detached(&db, path, &physical)?,
                name: logical,
                physical,
                throttle,
                rebuild: None,
            });
        }
        entries.sort_by_key(|entry| entry.id);
        reapply_db_tunables(&db, &tunables)?;
        Ok(CfTable::new(
            entries,
            OpenDb {
                meta,
                db: Arc::new(db),
            },
        ))
    }
}

/// Sets the DB-wide options changed online since the open (`SetDBOptions`).
fn reapply_db_tunables(db: &DB, tunables: &Tunables) -> Result<()> {
    let values: Vec<(&str, String)> = tunables
        .global
        .iter()
        .filter(|(tunable, _)| tunable.scope() == TunableScope::Db)
        .map(|(&tunable, &value)| (tunable.name(), crate::control::option_value(tunable, value)))
        .collect();
    if values.is_empty() {
        return Ok(());
    }
    raw::set_db_options(db, &values).map_err(|message| {
        recovery_error(format!(
            "reopened, but the options set online could not be restored: {message}"
        ))
    })
}

/// A probe write: what RocksDB answers a write now, without waiting in a stall.
fn probe(open: &OpenDb) -> std::result::Result<(), rocksdb::Error> {
    let mut options = WriteOptions::default();
    options.set_no_slowdown(true);
    match open.db.put_cf_opt(&open.meta, PROBE_KEY, [], &options) {
        // A stall is not a failure.
        Err(err) if err.kind() == rocksdb::ErrorKind::Incomplete => Ok(()),
        other => other,
    }
}

fn recovery_error(message: String) -> Error {
    Error::Recovering {
        cf: None,
        cause: message,
    }
}
