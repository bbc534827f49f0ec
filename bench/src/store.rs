//! The key-value surface workloads drive: the instrumented [`Engine`] for every run, and raw
//! `rocksdb` (same options) for `overhead`. One small trait so both sides execute the very
//! same workload code.

use lsmedic::engine::{Engine, IterOptions};
use rocksdb::{ReadOptions, WriteOptions, DB};

/// Why an operation failed.
#[derive(Clone, Debug)]
pub struct StoreError {
    /// RocksDB reported corruption (checksum mismatch, bad block …).
    pub corruption: bool,
    /// The error as text.
    pub message: String,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<lsmedic::Error> for StoreError {
    fn from(err: lsmedic::Error) -> Self {
        StoreError {
            corruption: err.is_corruption(),
            message: err.to_string(),
        }
    }
}

impl From<rocksdb::Error> for StoreError {
    fn from(err: rocksdb::Error) -> Self {
        StoreError {
            corruption: err.kind() == rocksdb::ErrorKind::Corruption,
            message: err.into_string(),
        }
    }
}

/// Operations a workload issues.
pub trait Store: Send + Sync {
    /// Writes `key` → `value`.
    fn put(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Reads `key`.
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes `key`.
    fn delete(&self, cf: &str, key: &[u8]) -> Result<(), StoreError>;
    /// Seeks to `start` and reads up to `limit` entries; returns how many were read.
    fn scan(&self, cf: &str, start: &[u8], limit: usize) -> Result<usize, StoreError>;
    /// Reads many keys (verification).
    fn multi_get(&self, cf: &str, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get(cf, key)).collect()
    }
}

impl Store for Engine {
    fn put(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        Ok(Engine::put(self, cf, key, value)?)
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(Engine::get(self, cf, key)?)
    }

    fn delete(&self, cf: &str, key: &[u8]) -> Result<(), StoreError> {
        Ok(Engine::delete(self, cf, key)?)
    }

    fn scan(&self, cf: &str, start: &[u8], limit: usize) -> Result<usize, StoreError> {
        let options = IterOptions {
            lower_bound: Some(start.to_vec()),
            ..IterOptions::default()
        };
        let mut read = 0;
        for item in self.iter(cf, options)?.take(limit) {
            item?;
            read += 1;
        }
        Ok(read)
    }

    fn multi_get(&self, cf: &str, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        Ok(Engine::multi_get(self, cf, keys)?)
    }
}

/// Raw RocksDB, default column family only (what `overhead` compares against).
pub struct RawRocksDb {
    db: DB,
    write: WriteOptions,
    read: ReadOptions,
    _cache: rocksdb::Cache,
}

impl RawRocksDb {
    /// Opens `path` exactly as the engine would with `config`: `EngineConfig::db_options`
    /// and an explicit default-CF descriptor from `CfOptions::rocksdb_options`.
    pub fn open(
        path: &std::path::Path,
        config: &lsmedic::engine::EngineConfig,
    ) -> Result<RawRocksDb, StoreError> {
        let cache = rocksdb::Cache::new_lru_cache(config.block_cache_size as usize);
        let options = config.db_options(&cache);
        let default_cf = rocksdb::ColumnFamilyDescriptor::new(
            lsmedic::engine::DEFAULT_CF,
            config
                .cf_options_for(lsmedic::engine::DEFAULT_CF)
                .rocksdb_options(&cache),
        );
        let db = DB::open_cf_descriptors(&options, path, [default_cf])?;
        Ok(RawRocksDb {
            db,
            write: WriteOptions::default(),
            read: ReadOptions::default(),
            _cache: cache,
        })
    }

    fn default_only(cf: &str) -> Result<(), StoreError> {
        if cf == lsmedic::engine::DEFAULT_CF {
            Ok(())
        } else {
            Err(StoreError {
                corruption: false,
                message: format!("raw rocksdb side of `overhead` serves only the default column family, not {cf:?}"),
            })
        }
    }
}

impl Store for RawRocksDb {
    fn put(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        Self::default_only(cf)?;
        Ok(self.db.put_opt(key, value, &self.write)?)
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Self::default_only(cf)?;
        Ok(self
            .db
            .get_pinned_opt(key, &self.read)?
            .map(|value| value.to_vec()))
    }

    fn delete(&self, cf: &str, key: &[u8]) -> Result<(), StoreError> {
        Self::default_only(cf)?;
        Ok(self.db.delete_opt(key, &self.write)?)
    }

    fn scan(&self, cf: &str, start: &[u8], limit: usize) -> Result<usize, StoreError> {
        Self::default_only(cf)?;
        let mut iter = self.db.raw_iterator();
        iter.seek(start);
        let mut read = 0;
        while read < limit && iter.valid() {
            std::hint::black_box((iter.key(), iter.value()));
            read += 1;
            iter.next();
        }
        iter.status()?;
        Ok(read)
    }
}
