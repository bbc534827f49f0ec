//! The engine's foreign code: RocksDB's event-listener C API, the C setters and getters the
//! `rocksdb` crate does not wrap, and the lifetime detachment of column-family handles
//! ([`detach_cf`], whose callers are the only `unsafe` blocks outside this module).
//!
//! The listener does nothing but translate RocksDB callbacks into small plain
//! [`EngineEvent`]s and push them into the event ring (TiKV's `flow_listener` habit): no
//! judgement, no blocking, no unbounded allocation. Callbacks run on RocksDB's background
//! threads; a panic inside one is caught (unwinding into C++ would abort the process) and
//! counted in [`Telemetry::listener_panics`].

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use librocksdb_sys as ffi;
use lsmedic_telemetry::{BackgroundErrorReason, EngineEventKind, Message, StallCondition};
use rocksdb::{AsRawPtr, BoundColumnFamily, Env, Options, DB};

use crate::quarantine::QuarantineSender;
use crate::recovery::RecoverySignal;
use crate::telemetry::Telemetry;

/// State handed to RocksDB as the listener's `void*`; freed by [`destroy_state`].
struct ListenerState {
    telemetry: Arc<Telemetry>,
    /// Where contained corruption is reported; `None`: background errors are never cleared.
    quarantine: Option<QuarantineSender>,
    /// Where every other background error is reported (see [`crate::recovery`]).
    recovery: RecoverySignal,
}

thread_local! {
    /// The column family of the last compaction on this thread that failed with a corruption
    /// status. RocksDB reports a failed compaction to `OnCompactionCompleted` and then, on the
    /// same thread, raises the background error, which this attributes to that family.
    static CORRUPT_COMPACTION: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Whether a RocksDB status text is a corruption (`Status::ToString` starts with the code).
fn is_corruption_status(message: &str) -> bool {
    message.starts_with("Corruption")
}

/// Registers lsmedic's event listener on `opts`; RocksDB then owns it (through a
/// `shared_ptr` in the options, copied into the DB at open) and frees it with the last copy.
/// With `quarantine`, a compaction's corruption error is contained (see
/// [`crate::quarantine`]); every other background error goes to `recovery`.
pub(crate) fn attach_listener(
    opts: &mut Options,
    telemetry: Arc<Telemetry>,
    quarantine: Option<QuarantineSender>,
    recovery: RecoverySignal,
) {
    let state = Box::into_raw(Box::new(ListenerState {
        telemetry,
        quarantine,
        recovery,
    })) as *mut c_void;
    // SAFETY: every callback has the signature RocksDB's C API declares for it; `state` is a
    // valid, uniquely owned `ListenerState` that only `destroy_state` frees, and RocksDB calls
    // the destructor exactly once, when the listener object is deleted.
    unsafe {
        let listener = ffi::rocksdb_eventlistener_create(
            state,
            Some(destroy_state),
            Some(on_flush_begin),
            Some(on_flush_completed),
            Some(on_compaction_begin),
            Some(on_compaction_completed),
            Some(on_subcompaction_ignored),
            Some(on_subcompaction_ignored),
            Some(on_external_file_ingested_ignored),
            Some(on_background_error),
            Some(on_stall_conditions_changed),
            Some(on_memtable_sealed),
        );
        // SAFETY: `opts` is alive for the call; ownership of `listener` moves to a
        // shared_ptr inside the options (c.cc: `listeners.emplace_back(shared_ptr(t))`), so we
        // must not destroy it ourselves.
        ffi::rocksdb_options_add_eventlistener(opts.as_raw_ptr(), listener);
    }
}

unsafe extern "C" fn destroy_state(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    // SAFETY: `state` came from `Box::into_raw` in `attach_listener` and RocksDB calls this
    // destructor once.
    drop(unsafe { Box::from_raw(state as *mut ListenerState) });
}

/// Runs `body` with the listener's telemetry, catching any panic.
fn with_state(state: *mut c_void, body: impl FnOnce(&Telemetry)) {
    with_listener(state, |listener| body(&listener.telemetry));
}

/// Runs `body` with the listener's whole state, catching any panic.
fn with_listener(state: *mut c_void, body: impl FnOnce(&ListenerState)) {
    if state.is_null() {
        return;
    }
    // SAFETY: `state` points to the live `ListenerState` (freed only by `destroy_state`, after
    // RocksDB stops calling callbacks); we only take shared references to it.
    let listener: &ListenerState = unsafe { &*(state as *const ListenerState) };
    if catch_unwind(AssertUnwindSafe(|| body(listener))).is_err() {
        listener.telemetry.count_listener_panic();
    }
}

/// Copies a (pointer, length) string RocksDB returned; empty when null.
///
/// # Safety
/// `ptr` must be null or point to `len` readable bytes for the duration of the call.
unsafe fn borrowed_bytes<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }
}

/// Reads and frees an error string RocksDB allocated into `err`; `None` when no error.
///
/// # Safety
/// `err` must be null or a NUL-terminated string allocated by RocksDB (malloc).
unsafe fn take_error(err: *mut c_char) -> Option<Message> {
    if err.is_null() {
        return None;
    }
    // SAFETY: `err` is NUL-terminated (RocksDB's SaveError uses strdup).
    let message = Message::from_bytes(unsafe { std::ffi::CStr::from_ptr(err) }.to_bytes());
    // SAFETY: allocated by RocksDB with malloc; rocksdb_free is its matching free.
    unsafe { ffi::rocksdb_free(err as *mut c_void) };
    Some(message)
}

fn stall_condition(code: i32) -> StallCondition {
    // RocksDB's `enum class WriteStallCondition { kDelayed, kStopped, kNormal }`.
    match code {
        0 => StallCondition::Delayed,
        1 => StallCondition::Stopped,
        _ => StallCondition::Normal,
    }
}

/// What both flush callbacks read from a `FlushJobInfo`.
struct FlushJob<'a> {
    cf_name: &'a [u8],
    job_id: i32,
    reason: u32,
    triggered_writes_slowdown: bool,
    triggered_writes_stop: bool,
}

/// Reads the fields every flush callback reports.
///
/// # Safety
/// `info` must be a valid `FlushJobInfo` for `'a` (the duration of the callback).
unsafe fn flush_job<'a>(info: *const ffi::rocksdb_flushjobinfo_t) -> FlushJob<'a> {
    let mut len = 0usize;
    // SAFETY: `info` is valid for `'a` (the caller's contract) and the getters only read it;
    // the name pointer and `len` describe bytes inside it.
    unsafe {
        FlushJob {
            cf_name: borrowed_bytes(ffi::rocksdb_flushjobinfo_cf_name(info, &mut len), len),
            job_id: ffi::rocksdb_flushjobinfo_job_id(info),
            reason: ffi::rocksdb_flushjobinfo_flush_reason(info) as u32,
            triggered_writes_slowdown: ffi::rocksdb_flushjobinfo_triggered_writes_slowdown(info)
                != 0,
            triggered_writes_stop: ffi::rocksdb_flushjobinfo_triggered_writes_stop(info) != 0,
        }
    }
}

/// What both compaction callbacks read from a `CompactionJobInfo`.
struct CompactionJob<'a> {
    cf_name: &'a [u8],
    job_id: i32,
    input_level: i32,
    output_level: i32,
    reason: u32,
    num_l0_files: i32,
}

/// Reads the fields every compaction callback reports.
///
/// # Safety
/// `info` must be a valid `CompactionJobInfo` for `'a` (the duration of the callback).
unsafe fn compaction_job<'a>(info: *const ffi::rocksdb_compactionjobinfo_t) -> CompactionJob<'a> {
    let mut len = 0usize;
    // SAFETY: `info` is valid for `'a` (the caller's contract) and the getters only read it;
    // the name pointer and `len` describe bytes inside it.
    unsafe {
        CompactionJob {
            cf_name: borrowed_bytes(ffi::rocksdb_compactionjobinfo_cf_name(info, &mut len), len),
            job_id: ffi::rocksdb_compactionjobinfo_job_id(info),
            input_level: ffi::rocksdb_compactionjobinfo_base_input_level(info),
            output_level: ffi::rocksdb_compactionjobinfo_output_level(info),
            reason: ffi::rocksdb_compactionjobinfo_compaction_reason(info),
            num_l0_files: ffi::rocksdb_compactionjobinfo_num_l0_files(info),
        }
    }
}

unsafe extern "C" fn on_flush_begin(
    state: *mut c_void,
    _db: *mut ffi::rocksdb_t,
    info: *const ffi::rocksdb_flushjobinfo_t,
) {
    with_state(state, |telemetry| {
        // SAFETY: `info` is a valid FlushJobInfo for the duration of the callback.
        let job = unsafe { flush_job(info) };
        let kind = EngineEventKind::FlushBegin {
            job_id: job.job_id,
            reason: job.reason,
            triggered_writes_slowdown: job.triggered_writes_slowdown,
            triggered_writes_stop: job.triggered_writes_stop,
        };
        telemetry.push_event(job.cf_name, kind);
    });
}

unsafe extern "C" fn on_flush_completed(
    state: *mut c_void,
    _db: *mut ffi::rocksdb_t,
    info: *const ffi::rocksdb_flushjobinfo_t,
) {
    with_state(state, |telemetry| {
        // SAFETY: `info` is a valid FlushJobInfo for the duration of the callback; its table
        // properties pointer is null or valid for the same duration.
        let (job, file_bytes, entries) = unsafe {
            let props = ffi::rocksdb_flushjobinfo_table_properties(info);
            let (file_bytes, entries) = if props.is_null() {
                (0, 0)
            } else {
                (
                    ffi::rocksdb_table_properties_data_size(props)
                        + ffi::rocksdb_table_properties_index_size(props)
                        + ffi::rocksdb_table_properties_filter_size(props),
                    ffi::rocksdb_table_properties_num_entries(props),
                )
            };
            (flush_job(info), file_bytes, entries)
        };
        let kind = EngineEventKind::FlushCompleted {
            job_id: job.job_id,
            reason: job.reason,
            file_bytes,
            entries,
            triggered_writes_slowdown: job.triggered_writes_slowdown,
            triggered_writes_stop: job.triggered_writes_stop,
        };
        telemetry.push_event(job.cf_name, kind);
    });
}

unsafe extern "C" fn on_compaction_begin(
    state: *mut c_void,
    _db: *mut ffi::rocksdb_t,
    info: *const ffi::rocksdb_compactionjobinfo_t,
) {
    with_state(state, |telemetry| {
        // SAFETY: `info` is a valid CompactionJobInfo for the duration of the callback.
        let (job, input_files) = unsafe {
            (
                compaction_job(info),
                ffi::rocksdb_compactionjobinfo_input_files_count(info) as u64,
            )
        };
        let kind = EngineEventKind::CompactionBegin {
            job_id: job.job_id,
            input_level: job.input_level,
            output_level: job.output_level,
            reason: job.reason,
            num_l0_files: job.num_l0_files,
            input_files,
        };
        telemetry.push_event(job.cf_name, kind);
    });
}

unsafe extern "C" fn on_compaction_completed(
    state: *mut c_void,
    _db: *mut ffi::rocksdb_t,
    info: *const ffi::rocksdb_compactionjobinfo_t,
) {
    with_state(state, |telemetry| {
        // SAFETY: `info` is a valid CompactionJobInfo for the duration of the callback; the
        // status call writes a RocksDB-allocated string into `err` that `take_error` frees.
        let (job, kind) = unsafe {
            let mut err: *mut c_char = std::ptr::null_mut();
            ffi::rocksdb_compactionjobinfo_status(info, &mut err);
            let status = take_error(err);
            let failed = status.is_some();
            let corrupt = status.is_some_and(|m| is_corruption_status(m.as_str()));
            let aborted = ffi::rocksdb_compactionjobinfo_aborted(info) != 0;
            let job = compaction_job(info);
            let kind = EngineEventKind::CompactionCompleted {
                job_id: job.job_id,
                input_level: job.input_level,
                output_level: job.output_level,
                reason: job.reason,
                num_l0_files: job.num_l0_files,
                input_bytes: ffi::rocksdb_compactionjobinfo_total_input_bytes(info),
                output_bytes: ffi::rocksdb_compactionjobinfo_total_output_bytes(info),
                input_records: ffi::rocksdb_compactionjobinfo_input_records(info),
                output_records: ffi::rocksdb_compactionjobinfo_output_records(info),
                elapsed_micros: ffi::rocksdb_compactionjobinfo_elapsed_micros(info),
                corrupt_keys: ffi::rocksdb_compactionjobinfo_num_corrupt_keys(info),
                ok: !failed && !aborted,
            };
            CORRUPT_COMPACTION.with(|slot| {
                *slot.borrow_mut() = corrupt.then(|| job.cf_name.to_vec());
            });
            (job, kind)
        };
        telemetry.push_event(job.cf_name, kind);
    });
}

unsafe extern "C" fn on_subcompaction_ignored(
    _state: *mut c_void,
    _info: *const ffi::rocksdb_subcompactionjobinfo_t,
) {
}

unsafe extern "C" fn on_external_file_ingested_ignored(
    _state: *mut c_void,
    _db: *mut ffi::rocksdb_t,
    _info: *const ffi::rocksdb_externalfileingestioninfo_t,
) {
}

unsafe extern "C" fn on_background_error(
    state: *mut c_void,
    reason: u32,
    status: *mut ffi::rocksdb_status_ptr_t,
) {
    with_listener(state, |listener| {
        let message = if status.is_null() {
            Message::from_bytes(b"")
        } else {
            let mut err: *mut c_char = std::ptr::null_mut();
            // SAFETY: `status` wraps the live Status of this callback; the call only reads it
            // and writes a RocksDB-allocated copy of its text into `err`, freed by take_error.
            unsafe {
                ffi::rocksdb_status_ptr_get_error(status, &mut err);
                take_error(err)
            }
            .unwrap_or_else(|| Message::from_bytes(b"OK"))
        };
        let reason = BackgroundErrorReason::from_code(reason);
        let failed_cf = CORRUPT_COMPACTION.with(|slot| slot.borrow_mut().take());
        let contain = match (&listener.quarantine, failed_cf) {
            (Some(quarantine), Some(cf))
                if !status.is_null()
                    && reason == BackgroundErrorReason::Compaction
                    && is_corruption_status(message.as_str()) =>
            {
                Some((quarantine, cf))
            }
            _ => None,
        };
        let Some((quarantine, cf)) = contain else {
            if !status.is_null() {
                listener.recovery.report(message.as_str());
            }
            listener.telemetry.push_event(
                &[],
                EngineEventKind::BackgroundError {
                    reason,
                    message,
                    contained: false,
                },
            );
            return;
        };
        // SAFETY: `status` is the non-null status pointer of this callback, wrapping the
        // Status RocksDB is about to adopt as its background error; RocksDB's error handler
        // reads it back after the listeners return and, when it is OK, keeps the database
        // writable (ErrorHandler::HandleKnownErrors in RocksDB 11.8).
        unsafe { ffi::rocksdb_reset_status(status) };
        quarantine.report(&cf);
        listener.telemetry.push_event(
            &cf,
            EngineEventKind::BackgroundError {
                reason,
                message,
                contained: true,
            },
        );
    });
}

unsafe extern "C" fn on_stall_conditions_changed(
    state: *mut c_void,
    info: *const ffi::rocksdb_writestallinfo_t,
) {
    with_state(state, |telemetry| {
        // SAFETY: `info` is a valid WriteStallInfo; `cur`/`prev` point at its
        // `WriteStallCondition` fields, an `enum class` with the default `int` underlying type.
        let (name, kind) = unsafe {
            let mut len = 0usize;
            let name = borrowed_bytes(ffi::rocksdb_writestallinfo_cf_name(info, &mut len), len);
            let cur = *(ffi::rocksdb_writestallinfo_cur(info) as *const i32);
            let prev = *(ffi::rocksdb_writestallinfo_prev(info) as *const i32);
            let kind = EngineEventKind::StallConditionChanged {
                prev: stall_condition(prev),
                cur: stall_condition(cur),
            };
            (name, kind)
        };
        telemetry.push_event(name, kind);
    });
}

unsafe extern "C" fn on_memtable_sealed(
    state: *mut c_void,
    info: *const ffi::rocksdb_memtableinfo_t,
) {
    with_state(state, |telemetry| {
        // SAFETY: `info` is a valid MemTableInfo for the duration of the callback.
        let (name, kind) = unsafe {
            let mut len = 0usize;
            let name = borrowed_bytes(ffi::rocksdb_memtableinfo_cf_name(info, &mut len), len);
            let kind = EngineEventKind::MemtableSealed {
                entries: ffi::rocksdb_memtableinfo_num_entries(info),
                deletes: ffi::rocksdb_memtableinfo_num_deletes(info),
            };
            (name, kind)
        };
        telemetry.push_event(name, kind);
    });
}

/// Sets `delayed_write_rate` (bytes/s), which the `rocksdb` crate's `Options` does not expose.
pub(crate) fn set_delayed_write_rate(opts: &mut Options, rate_bytes_per_sec: u64) {
    // SAFETY: `opts` is a live options object for the whole call, borrowed mutably so no other
    // thread touches it; the C setter only stores the integer.
    unsafe { ffi::rocksdb_options_set_delayed_write_rate(opts.as_raw_ptr(), rate_bytes_per_sec) }
}

/// Applies DB options through `rocksdb_set_db_options` (RocksDB's `SetDBOptions`, which the
/// `rocksdb` crate does not wrap). RocksDB applies the whole map or nothing.
pub(crate) fn set_db_options(db: &DB, options: &[(&str, String)]) -> Result<(), String> {
    let keys: Vec<CString> = options
        .iter()
        .map(|(key, _)| CString::new(*key))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("option name with NUL: {e}"))?;
    let values: Vec<CString> = options
        .iter()
        .map(|(_, value)| CString::new(value.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("option value with NUL: {e}"))?;
    let key_ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr()).collect();
    let value_ptrs: Vec<*const c_char> = values.iter().map(|v| v.as_ptr()).collect();
    let count = c_int::try_from(options.len()).map_err(|_| "too many options".to_owned())?;
    let mut err: *mut c_char = std::ptr::null_mut();
    // SAFETY: `db` is open for the call; the key and value arrays hold `count` pointers to
    // NUL-terminated strings that outlive the call (`keys`/`values` are alive); RocksDB copies
    // them into its own map and writes a malloc'd message into `err` on failure.
    unsafe {
        ffi::rocksdb_set_db_options(
            db.as_raw_ptr(),
            count,
            key_ptrs.as_ptr(),
            value_ptrs.as_ptr(),
            &mut err,
        );
        match take_error(err) {
            Some(message) => Err(message.as_str().to_owned()),
            None => Ok(()),
        }
    }
}

/// Current sizes of the `Env`'s low- (compaction) and high-priority (flush) thread pools.
pub(crate) fn env_background_threads(env: &Env) -> (u64, u64) {
    // SAFETY: `env` is a live Env for the call; the getters only read pool sizes.
    unsafe {
        let raw = env.as_raw_ptr();
        (
            ffi::rocksdb_env_get_background_threads(raw).max(0) as u64,
            ffi::rocksdb_env_get_high_priority_background_threads(raw).max(0) as u64,
        )
    }
}

/// RocksDB's id of a column family (the number its WAL records carry).
pub(crate) fn cf_id(handle: &DetachedCf) -> u32 {
    use rocksdb::AsColumnFamilyRef;
    // SAFETY: the handle is alive for the call; the getter reads a field.
    unsafe { ffi::rocksdb_column_family_handle_get_id(handle.inner()) }
}

/// The WAL's write batches from the one that holds sequence number `from` on (RocksDB's
/// `GetUpdatesSince`, live and archived WAL files), each as its serialized contents.
///
/// Unlike `rocksdb::DB::get_updates_since`, which drops every batch that *starts* at or
/// before the requested number (and so the rest of a batch that straddles it), this yields
/// the straddling batch whole; the caller skips records by their own sequence numbers.
pub(crate) struct WalBatches<'a> {
    iter: *mut ffi::rocksdb_wal_iterator_t,
    _db: std::marker::PhantomData<&'a DB>,
}

impl<'a> WalBatches<'a> {
    pub(crate) fn since(db: &'a DB, from: u64) -> Result<Self, String> {
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: `db` is open and outlives the iterator (the lifetime); null read options
        // mean RocksDB's defaults; on failure RocksDB writes a malloc'd message into `err`.
        let iter = unsafe {
            let iter =
                ffi::rocksdb_get_updates_since(db.as_raw_ptr(), from, std::ptr::null(), &mut err);
            if let Some(message) = take_error(err) {
                return Err(message.as_str().to_owned());
            }
            iter
        };
        if iter.is_null() {
            return Err("RocksDB returned no WAL iterator".to_owned());
        }
        Ok(WalBatches {
            iter,
            _db: std::marker::PhantomData,
        })
    }
}

impl Iterator for WalBatches<'_> {
    /// A batch's serialized contents (its 12-byte header holds its first sequence number).
    type Item = Result<Vec<u8>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: `self.iter` is a live iterator (destroyed only in `drop`); a batch from
        // `get_batch` is owned by us, its data is copied out before it is destroyed.
        unsafe {
            if ffi::rocksdb_wal_iter_valid(self.iter) == 0 {
                let mut err: *mut c_char = std::ptr::null_mut();
                ffi::rocksdb_wal_iter_status(self.iter, &mut err);
                return take_error(err).map(|message| Err(message.as_str().to_owned()));
            }
            let mut seq = 0u64;
            let batch = ffi::rocksdb_wal_iter_get_batch(self.iter, &mut seq);
            if batch.is_null() {
                return Some(Err("RocksDB returned no WAL batch".to_owned()));
            }
            let mut size = 0usize;
            let data = ffi::rocksdb_writebatch_data(batch, &mut size);
            let bytes = if data.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(data as *const u8, size).to_vec()
            };
            ffi::rocksdb_writebatch_destroy(batch);
            ffi::rocksdb_wal_iter_next(self.iter);
            Some(Ok(bytes))
        }
    }
}

impl Drop for WalBatches<'_> {
    fn drop(&mut self) {
        // SAFETY: created by `rocksdb_get_updates_since`, destroyed once.
        unsafe { ffi::rocksdb_wal_iter_destroy(self.iter) }
    }
}

/// SST files an iterator must not open, matched by their table properties (a table filter
/// sees only those): the number the file was created with, or its entry and deletion counts
/// (an ingested file keeps the number its writer gave it). A loose match can only skip a
/// healthy file too, which makes the iteration miss keys, never return other values.
#[derive(Clone, Debug, Default)]
pub(crate) struct SkipTables {
    /// File numbers (`000123.sst` → 123).
    pub(crate) numbers: std::collections::BTreeSet<u64>,
    /// `(num_entries, num_deletions)` of the files.
    pub(crate) shapes: std::collections::BTreeSet<(u64, u64)>,
}

unsafe extern "C" fn destroy_skip_tables(state: *mut c_void) {
    if !state.is_null() {
        // SAFETY: `state` came from `Box::into_raw` in `FilteredKeys::new`; RocksDB calls the
        // destructor once, when the read options are destroyed.
        drop(unsafe { Box::from_raw(state as *mut SkipTables) });
    }
}

unsafe extern "C" fn keep_table(
    state: *mut c_void,
    props: *const ffi::rocksdb_table_properties_t,
) -> u8 {
    if state.is_null() || props.is_null() {
        return 1;
    }
    // SAFETY: `state` is the live `SkipTables` of these read options and `props` the
    // properties RocksDB passes for the duration of the call; the getters only read fields.
    let keep = catch_unwind(AssertUnwindSafe(|| unsafe {
        let skip = &*(state as *const SkipTables);
        let number = ffi::rocksdb_table_properties_orig_file_number(props);
        let shape = (
            ffi::rocksdb_table_properties_num_entries(props),
            ffi::rocksdb_table_properties_num_deletions(props),
        );
        !skip.numbers.contains(&number) && !skip.shapes.contains(&shape)
    }));
    // A panic must not unwind into RocksDB; keeping the table is the safe answer.
    u8::from(keep.unwrap_or(true))
}

/// The keys of a column family from a start key on, read without the SST files a
/// [`SkipTables`] matches (RocksDB's `ReadOptions::table_filter`, which `rocksdb` does not
/// wrap), at the current state and without filling the block cache. What it returns are
/// candidates only: a key's value must come from a read that does consult every file.
pub(crate) struct FilteredKeys<'a> {
    // Destroyed before the read options it was created with.
    iter: *mut ffi::rocksdb_iterator_t,
    options: *mut ffi::rocksdb_readoptions_t,
    _db: std::marker::PhantomData<&'a DB>,
}

impl<'a> FilteredKeys<'a> {
    /// Positions at the first key ≥ `start` of `cf` in `db`, skipping the files `skip` matches.
    pub(crate) fn new(db: &'a DB, cf: &'a DetachedCf, skip: SkipTables, start: &[u8]) -> Self {
        use rocksdb::AsColumnFamilyRef;
        let state = Box::into_raw(Box::new(skip)) as *mut c_void;
        // SAFETY: the read options are ours until `drop`; `state` is a valid, uniquely owned
        // `SkipTables` that the options' destructor frees (`destroy_skip_tables`) and
        // `keep_table` only reads; `db` and `cf` outlive the iterator (the lifetime); the
        // seek key is copied by RocksDB.
        unsafe {
            let options = ffi::rocksdb_readoptions_create();
            ffi::rocksdb_readoptions_set_fill_cache(options, 0);
            ffi::rocksdb_readoptions_set_table_filter(
                options,
                state,
                Some(destroy_skip_tables),
                Some(keep_table),
            );
            let iter = ffi::rocksdb_create_iterator_cf(db.as_raw_ptr(), options, cf.inner());
            ffi::rocksdb_iter_seek(iter, start.as_ptr() as *const c_char, start.len());
            FilteredKeys {
                iter,
                options,
                _db: std::marker::PhantomData,
            }
        }
    }

    /// Up to `max` next keys below `end` (`None`: to the last key); fewer at the end, and
    /// RocksDB's message when the iteration fails (another damaged file).
    pub(crate) fn next_keys(
        &mut self,
        end: Option<&[u8]>,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, String> {
        let mut keys = Vec::new();
        // SAFETY: `self.iter` is live (destroyed only in `drop`); a key slice is valid until
        // the next move of the iterator and is copied before it.
        unsafe {
            while keys.len() < max && ffi::rocksdb_iter_valid(self.iter) != 0 {
                let mut len = 0usize;
                let key = ffi::rocksdb_iter_key(self.iter, &mut len);
                let key = borrowed_bytes(key, len);
                if end.is_some_and(|end| key >= end) {
                    return Ok(keys);
                }
                keys.push(key.to_vec());
                ffi::rocksdb_iter_next(self.iter);
            }
            let mut err: *mut c_char = std::ptr::null_mut();
            ffi::rocksdb_iter_get_error(self.iter, &mut err);
            match take_error(err) {
                Some(message) => Err(message.as_str().to_owned()),
                None => Ok(keys),
            }
        }
    }
}

impl Drop for FilteredKeys<'_> {
    fn drop(&mut self) {
        // SAFETY: both were created in `new` and are destroyed once, the iterator first.
        unsafe {
            ffi::rocksdb_iter_destroy(self.iter);
            ffi::rocksdb_readoptions_destroy(self.options);
        }
    }
}

/// A column-family handle whose borrow of the DB has been erased so that the engine can keep
/// it next to the DB it belongs to.
pub(crate) type DetachedCf = Arc<BoundColumnFamily<'static>>;

/// Erases the lifetime of a column-family handle.
///
/// # Safety
/// The caller must drop the returned handle (and every clone of it) before the DB it came
/// from. `Engine` guarantees this: handles live only in its column-family table, which is
/// declared (and so dropped) before the DB field, and they never leave the engine.
pub(crate) unsafe fn detach_cf(handle: Arc<BoundColumnFamily<'_>>) -> DetachedCf {
    // SAFETY: only the phantom lifetime changes; the layout is identical (rust-rocksdb itself
    // performs the same cast in `bound_column_family`). Validity is the caller's contract.
    unsafe { std::mem::transmute::<Arc<BoundColumnFamily<'_>>, DetachedCf>(handle) }
}
