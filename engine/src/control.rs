//! The engine's side of the [`Control`] trait: online option changes (validated, applied
//! through RocksDB's `SetOptions`/`SetDBOptions`), resizing of the block cache, write-buffer
//! manager and thread pools, the write throttles, maintenance, and tunables snapshot/restore.
//!
//! The tunables, their bounds and what each affects are listed in
//! [`lsmedic_telemetry::control`]. Every change is validated completely before anything is
//! applied; RocksDB applies one `SetOptions`/`SetDBOptions` map atomically, so a rejected
//! change leaves the engine as it was. The engine keeps the value of every tunable it set
//! (what `tunables()` returns); RocksDB's OPTIONS file records the same values.
//!
//! Thread pools belong to RocksDB's default `Env`, which is process-wide: resizing them
//! affects every engine in the process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lsmedic_telemetry::control::{
    validate_cf_changes, validate_global_changes, validate_write_rate_limit,
};
use lsmedic_telemetry::{
    Control, ControlError, RebuildReport, ThrottleScope, Tunable, TunableScope, Tunables,
};
use rocksdb::properties;

use crate::engine::Engine;
use crate::error::Error;
use crate::raw;

fn engine_error(operation: &str, err: Error) -> ControlError {
    match err {
        Error::UnknownColumnFamily { name } => ControlError::UnknownColumnFamily { name },
        Error::Control(inner) => inner,
        other => ControlError::Engine {
            operation: operation.to_owned(),
            message: other.to_string(),
        },
    }
}

/// A tunable's value as RocksDB's option setters take it.
pub(crate) fn option_value(tunable: Tunable, value: u64) -> String {
    if tunable.is_bool() {
        (value != 0).to_string()
    } else {
        value.to_string()
    }
}

impl Engine {
    /// Sets one option by its RocksDB name from text (as a C caller or a config file gives
    /// it): CF options need `cf`, DB/engine/process options must not have one.
    pub fn set_option(&self, cf: Option<&str>, name: &str, value: &str) -> Result<(), Error> {
        let tunable = Tunable::from_name(name).ok_or_else(|| ControlError::UnknownOption {
            name: name.to_owned(),
        })?;
        let value = tunable.parse_value(value).map_err(|err| err.in_cf(cf))?;
        match cf {
            Some(cf) => self.set_cf(cf, &[(tunable, value)])?,
            None => self.set_global(&[(tunable, value)])?,
        }
        Ok(())
    }

    /// Current write-rate limit of a scope in bytes/s (`None` = unlimited).
    pub fn write_rate_limit(&self, scope: &ThrottleScope) -> Result<Option<u64>, ControlError> {
        match scope {
            ThrottleScope::All => Ok(self.global_throttle().rate()),
            ThrottleScope::Cf(cf) => {
                let table = self.cf_table();
                let entry = table
                    .get(cf)
                    .map_err(|e| engine_error("write_rate_limit", e))?;
                Ok(entry.throttle.rate())
            }
        }
    }

    fn idle(&self) -> bool {
        let table = self.cf_table();
        let Ok(db) = table.db() else {
            return false;
        };
        table.entries.iter().all(|entry| {
            [
                properties::COMPACTION_PENDING,
                properties::NUM_RUNNING_COMPACTIONS,
                properties::MEM_TABLE_FLUSH_PENDING,
                properties::NUM_RUNNING_FLUSHES,
            ]
            .into_iter()
            .all(|name| {
                db.property_int_value_cf(&entry.handle, name)
                    .ok()
                    .flatten()
                    .unwrap_or(0)
                    == 0
            })
        })
    }
}

impl Control for Engine {
    fn column_families(&self) -> Vec<String> {
        self.list_cfs()
    }

    fn tunables(&self) -> Result<Tunables, ControlError> {
        let mut snapshot = self.tunables_lock().clone();
        // RocksDB grows the pools by itself when max_background_jobs rises: report what the
        // Env has, not what was last set.
        let (low, high) = raw::env_background_threads(&self.env_lock());
        snapshot.global.insert(Tunable::BackgroundThreadsLow, low);
        snapshot.global.insert(Tunable::BackgroundThreadsHigh, high);
        snapshot.write_rate_limits.clear();
        if let Some(rate) = self.global_throttle().rate() {
            snapshot.write_rate_limits.insert(ThrottleScope::All, rate);
        }
        for cf in self.cf_table().infos() {
            if let Some(rate) = cf.throttle.rate() {
                snapshot
                    .write_rate_limits
                    .insert(ThrottleScope::Cf(cf.name.to_owned()), rate);
            }
        }
        Ok(snapshot)
    }

    fn set_global(&self, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
        validate_global_changes(changes)?;
        let resizes_wbm = changes
            .iter()
            .any(|(tunable, _)| *tunable == Tunable::WriteBufferManagerSize);
        if resizes_wbm && self.write_buffer_manager().is_none() {
            return Err(ControlError::Unavailable {
                what: Tunable::WriteBufferManagerSize.name().to_owned(),
                reason: "the engine was opened without write_buffer_manager_size".to_owned(),
            });
        }
        // DB options first: the only step RocksDB can refuse, and it applies all or nothing.
        let db_options: Vec<(&str, String)> = changes
            .iter()
            .filter(|(tunable, _)| tunable.scope() == TunableScope::Db)
            .map(|&(tunable, value)| (tunable.name(), option_value(tunable, value)))
            .collect();
        if !db_options.is_empty() {
            let table = self.cf_table();
            let db = table.db().map_err(|e| engine_error("set_global", e))?;
            raw::set_db_options(db, &db_options).map_err(|message| ControlError::Engine {
                operation: "SetDBOptions".to_owned(),
                message,
            })?;
        }
        for &(tunable, value) in changes {
            match tunable {
                Tunable::BlockCacheCapacity => {
                    self.block_cache_lock().set_capacity(value as usize);
                }
                Tunable::WriteBufferManagerSize => {
                    if let Some(manager) = self.write_buffer_manager() {
                        manager.set_buffer_size(value as usize);
                    }
                }
                Tunable::BackgroundThreadsLow => {
                    self.env_lock().set_background_threads(value as i32);
                }
                Tunable::BackgroundThreadsHigh => {
                    self.env_lock()
                        .set_high_priority_background_threads(value as i32);
                }
                _ => {}
            }
        }
        let mut mirror = self.tunables_lock();
        for &(tunable, value) in changes {
            mirror.global.insert(tunable, value);
        }
        Ok(())
    }

    fn set_cf(&self, cf: &str, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
        let table = self.cf_table();
        let entry = table.get(cf).map_err(|e| engine_error("set_cf", e))?;
        let resumes_compactions = changes
            .iter()
            .any(|&(tunable, value)| tunable == Tunable::DisableAutoCompactions && value == 0);
        if resumes_compactions && self.is_quarantined(&entry.physical) {
            return Err(ControlError::Unavailable {
                what: format!(
                    "{} on column family {cf:?}",
                    Tunable::DisableAutoCompactions
                ),
                reason: "the column family is quarantined: a compaction met corrupt data in its \
                         files; rebuild it (rebuild_cf) to compact it again"
                    .to_owned(),
            });
        }
        let mut mirror = self.tunables_lock();
        let merged = validate_cf_changes(
            cf,
            &mirror.cfs.get(cf).cloned().unwrap_or_default(),
            changes,
        )?;
        let values: Vec<(&str, String)> = changes
            .iter()
            .map(|&(tunable, value)| (tunable.name(), option_value(tunable, value)))
            .collect();
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        table
            .db()
            .map_err(|e| engine_error("set_cf", e))?
            .set_options_cf(&entry.handle, &pairs)
            .map_err(|e| ControlError::Engine {
                operation: format!("SetOptions on column family {cf:?}"),
                message: e.into_string(),
            })?;
        mirror.cfs.insert(cf.to_owned(), merged);
        Ok(())
    }

    fn set_write_rate_limit(
        &self,
        scope: &ThrottleScope,
        rate_bytes_per_sec: Option<u64>,
    ) -> Result<(), ControlError> {
        validate_write_rate_limit(scope, rate_bytes_per_sec)?;
        match scope {
            ThrottleScope::All => self.global_throttle().set_rate(rate_bytes_per_sec),
            ThrottleScope::Cf(cf) => {
                let table = self.cf_table();
                let entry = table
                    .get(cf)
                    .map_err(|e| engine_error("set_write_rate_limit", e))?;
                entry.throttle.set_rate(rate_bytes_per_sec);
            }
        }
        Ok(())
    }

    fn restore(&self, snapshot: &Tunables) -> Result<(), ControlError> {
        let current = self.tunables()?;
        let global: Vec<(Tunable, u64)> = snapshot
            .global
            .iter()
            .filter(|(tunable, value)| current.global(**tunable) != Some(**value))
            .map(|(tunable, value)| (*tunable, *value))
            .collect();
        if !global.is_empty() {
            self.set_global(&global)?;
        }
        for (cf, values) in &snapshot.cfs {
            let Some(now) = current.cfs.get(cf) else {
                // The column family was dropped since the snapshot: nothing to restore.
                continue;
            };
            // The snapshot's values satisfied the cross-option rules together, so applying
            // every changed one in one call cannot pass through an invalid state.
            let changes: Vec<(Tunable, u64)> = values
                .iter()
                .filter(|(tunable, value)| now.get(tunable) != Some(value))
                .map(|(tunable, value)| (*tunable, *value))
                .collect();
            if !changes.is_empty() {
                self.set_cf(cf, &changes)?;
            }
        }
        let mut scopes: Vec<ThrottleScope> = vec![ThrottleScope::All];
        scopes.extend(self.list_cfs().into_iter().map(ThrottleScope::Cf));
        for scope in scopes {
            let wanted = snapshot.write_rate_limits.get(&scope).copied();
            if current.write_rate_limits.get(&scope).copied() != wanted {
                self.set_write_rate_limit(&scope, wanted)?;
            }
        }
        Ok(())
    }

    fn flush(&self, cf: &str) -> Result<(), ControlError> {
        Engine::flush(self, cf).map_err(|e| engine_error("flush", e))
    }

    fn compact_range(&self, cf: &str, range: Option<(&[u8], &[u8])>) -> Result<(), ControlError> {
        let (start, end) = match range {
            Some((start, end)) => (Some(start), Some(end)),
            None => (None, None),
        };
        Engine::compact_range(self, cf, start, end).map_err(|e| engine_error("compact_range", e))
    }

    fn wait_for_compactions(&self, timeout: Duration) -> Result<bool, ControlError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.idle() {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn rebuild_cf(&self, cf: &str) -> Result<RebuildReport, ControlError> {
        Engine::rebuild_cf(self, cf).map_err(|e| engine_error("rebuild_cf", e))
    }
}

/// The CF tunables of `values` as RocksDB option-name strings (for tests and diagnostics).
pub fn option_strings(values: &BTreeMap<Tunable, u64>) -> BTreeMap<&'static str, String> {
    values
        .iter()
        .map(|(tunable, value)| (tunable.name(), option_value(*tunable, *value)))
        .collect()
}

impl lsmedic_telemetry::Observe for Engine {
    fn drain_ops(&self, f: &mut dyn FnMut(lsmedic_telemetry::OpEvent)) -> usize {
        self.telemetry().drain_ops(f)
    }

    fn drain_events(&self, f: &mut dyn FnMut(lsmedic_telemetry::EngineEvent)) -> usize {
        self.telemetry().drain_events(f)
    }

    fn sample(&self) -> lsmedic_telemetry::Sample {
        Engine::sample(self)
    }

    fn now_ns(&self) -> u64 {
        self.telemetry().clock().now_ns()
    }

    fn cf_name_of(&self, id: lsmedic_telemetry::CfId) -> Option<String> {
        self.cf_name(id)
    }

    fn logical_cf_of(&self, physical: &str) -> Option<String> {
        self.logical_cf(physical)
    }

    fn dropped(&self) -> (u64, u64) {
        (
            self.telemetry().dropped_ops(),
            self.telemetry().dropped_events(),
        )
    }
}
