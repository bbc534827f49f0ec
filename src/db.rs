//! [`Db`]: the self-healing database an application opens — the instrumented engine with the
//! healer thread wired to it.
//!
//! `Db` dereferences to [`Engine`], so every data operation (`put`, `get`, `batch`, `iter`,
//! column families, …) is called on it directly; [`Db::healer`] steers the healer (mode,
//! objective weights, statistics, audit entries, `adapt_now`). Dropping or closing a `Db`
//! stops the healer first (waiting for any flush, compaction or rebuild it started), then
//! closes the engine.

use std::path::Path;
use std::sync::Arc;

use lsmedic_engine::{Engine, EngineConfig};
use lsmedic_healer::{Healer, HealerConfig, HealerError};
use serde::{Deserialize, Serialize};

/// Everything `Db::open` needs: the engine's RocksDB options and the healer's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// RocksDB options, column families, telemetry and checkpoints.
    pub engine: EngineConfig,
    /// Tick interval, mode, weights, guard, rules, audit log and models.
    pub healer: HealerConfig,
}

impl Config {
    /// Parses a TOML document (`[engine]` and `[healer]` tables).
    pub fn from_toml_str(text: &str) -> Result<Self, DbError> {
        toml::from_str(text).map_err(|e| DbError::Config {
            format: "TOML",
            message: e.to_string(),
        })
    }

    /// Parses a JSON document (`{"engine": …, "healer": …}`).
    pub fn from_json_str(text: &str) -> Result<Self, DbError> {
        serde_json::from_str(text).map_err(|e| DbError::Config {
            format: "JSON",
            message: e.to_string(),
        })
    }
}

/// Why opening or closing a [`Db`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The engine failed (bad option, path, RocksDB error, …).
    #[error(transparent)]
    Engine(#[from] lsmedic_engine::Error),
    /// The healer could not start or stop.
    #[error(transparent)]
    Healer(#[from] HealerError),
    /// A configuration document could not be parsed.
    #[error("cannot parse {format} configuration: {message}")]
    Config {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// The parser's message (with line and column where it gives them).
        message: String,
    },
}

/// An open self-healing database.
pub struct Db {
    // Drop order: the healer (which holds the engine) stops before the engine closes.
    healer: Healer,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("engine", &self.engine)
            .field("healer_mode", &self.healer.stats().mode)
            .finish()
    }
}

impl Db {
    /// Opens the database at `path` and starts its healer.
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Db, DbError> {
        let engine = Engine::open_shared(path, config.engine)?;
        let healer = Healer::start(Arc::clone(&engine), config.healer)?;
        Ok(Db { healer, engine })
    }

    /// The engine (also reachable through `Deref`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The healer: mode, weights, statistics, audit entries, `adapt_now`.
    pub fn healer(&self) -> &Healer {
        &self.healer
    }

    /// Stops the healer, then syncs the WAL and closes the engine, reporting failures.
    pub fn close(self) -> Result<(), DbError> {
        let Db { mut healer, engine } = self;
        healer.stop()?;
        drop(healer);
        match Arc::try_unwrap(engine) {
            Ok(engine) => engine.close()?,
            // Unreachable while `Db` keeps the only handle outside the healer; dropping the
            // last reference still closes the database.
            Err(shared) => drop(shared),
        }
        Ok(())
    }
}

impl std::ops::Deref for Db {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}
