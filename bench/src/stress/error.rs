//! What can stop the stress test itself (as opposed to a violation, which is a finding and is
//! reported in the [`Summary`](super::Summary)).

use std::path::PathBuf;

/// Why the stress test (parent or child) could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command-line value is not usable.
    #[error("invalid argument --{name} {value:?}: {reason}")]
    Argument {
        /// The option, without dashes.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The child process could not be started, waited for or killed.
    #[error("child process: {action}: {source}")]
    Child {
        /// What was being done.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The engine failed where the stress test cannot treat it as a finding (the child's
    /// own open, the parent's bookkeeping around a check).
    #[error("engine: {action}: {source}")]
    Engine {
        /// What was being done.
        action: String,
        /// The engine's error (boxed: it is large, and rare).
        source: Box<lsmedic::Error>,
    },
    /// Raw RocksDB (listing column families or live files of the closed database) failed.
    #[error("RocksDB: {action}: {message}")]
    RocksDb {
        /// What was being done.
        action: &'static str,
        /// RocksDB's message.
        message: String,
    },
    /// The healer could not be started in the child.
    #[error("healer: {0}")]
    Healer(#[from] lsmedic::healer::HealerError),
    /// The child sent a record the parent cannot make sense of (a bug of the stress test).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The pipe to the parent is gone (the parent died): the child stops.
    #[error("the parent closed the record pipe: {0}")]
    PipeClosed(std::io::Error),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// An engine error during `action`.
    pub fn engine(action: impl Into<String>, source: lsmedic::Error) -> Error {
        Error::Engine {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// A RocksDB error during `action`.
    pub fn rocksdb(action: &'static str, err: rocksdb::Error) -> Error {
        Error::RocksDb {
            action,
            message: err.into_string(),
        }
    }
}
