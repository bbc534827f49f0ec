//! # lsmedic-ffi
//!
//! The C ABI through which other databases embed lsmedic: `include/lsmedic.h`, generated
//! from this crate by cbindgen (`ffi/cbindgen.toml`) and committed; `make test` fails when
//! it is stale. The library comes out as `liblsmedic.so` / `liblsmedic.a` (`make c-lib`, see
//! `include/README.md`).
//!
//! Conventions, after RocksDB's C API (`rocksdb/c.h`):
//!
//! - **Opaque handles**: `lsmedic_t` (database), `lsmedic_config_t`, `lsmedic_writebatch_t`,
//!   `lsmedic_iterator_t`. A handle is a number looked up in a table, never a pointer the
//!   library dereferences (see the `handles` module), so NULL, destroyed, foreign and
//!   wrong-kind handles are errors, never undefined behaviour.
//! - **Errors**: the last parameter `char** errptr`. On failure `*errptr` is set to a
//!   message from the library's allocator (a message already there is freed first, as in
//!   RocksDB); on success it is left alone. Free it with [`lsmedic_free`]. A NULL `errptr`
//!   discards errors. Functions that return a handle or a buffer also return NULL on
//!   failure. Messages start with the function's name.
//! - **Buffers** the library returns (values, JSON, lists, messages) are `malloc`'d and freed
//!   with [`lsmedic_free`]; buffers the library lends (iterator keys and values) stay owned
//!   by it and are valid until the next call that moves or destroys their iterator.
//! - **Arguments**: strings (paths, column-family names, JSON/TOML, option names) are
//!   NUL-terminated UTF-8 (invalid UTF-8 is an error); keys and values are `(pointer,
//!   length)` (NULL allowed when the length is 0); a NULL column family means `"default"`.
//! - **Panics** never cross the boundary: every function runs under `catch_unwind` and
//!   reports a panic as an error (or returns its failure value).
//! - **Thread-safety** is stated on each function: the database and its healer steering are
//!   safe from any thread at once; calls on one config, batch or iterator are serialised by
//!   a lock (safe, but not useful concurrently).

#![warn(missing_docs)]
// The C API's type names follow RocksDB's (`rocksdb_t` → `lsmedic_t`).
#![allow(non_camel_case_types)]

// Declared in the order the header lists their functions (cbindgen keeps source order);
// the blank lines keep rustfmt from sorting them.
pub mod boundary;

pub mod config;

pub mod db;

pub mod batch;

pub mod iter;

pub mod admin;

pub mod healer;

pub(crate) mod handles;

pub use admin::*;
pub use batch::*;
pub use boundary::{lsmedic_free, FfiError};
pub use config::*;
pub use db::*;
pub use healer::*;
pub use iter::*;

/// An open database: the RocksDB engine with its healer thread (opaque).
pub struct lsmedic_t {
    _private: [u8; 0],
}

/// A database configuration: RocksDB options, column families and healer settings (opaque).
pub struct lsmedic_config_t {
    _private: [u8; 0],
}

/// An atomic group of writes across column families (opaque).
pub struct lsmedic_writebatch_t {
    _private: [u8; 0],
}

/// An iterator over one column family (opaque).
pub struct lsmedic_iterator_t {
    _private: [u8; 0],
}

/// The number of live handles of every kind (databases, configs, batches, iterators): 0 once
/// a program destroyed everything it created. Meant for leak checks in tests.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn lsmedic_live_handles() -> usize {
    boundary::call_quiet(0, || Ok(handles::live_handles()))
}
