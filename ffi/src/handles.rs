//! The handle table: every opaque handle given to C is a number registered here, never the
//! address of a Rust object.
//!
//! Why: a C caller can pass NULL, a handle it already destroyed, a handle of another kind or
//! garbage. Dereferencing any of those would be undefined behaviour that no check on the
//! pointee could prevent. Here each call looks its handle up in a table instead (one read
//! lock and a hash lookup) and gets an `Arc` of the object or a
//! [`FfiError::BadHandle`]/[`FfiError::WrongHandle`]. Numbers are never reused, so a stale
//! handle can never reach an object created later. Destroying a handle removes it from the
//! table; a call still running on another thread keeps its `Arc`, so the object is freed only
//! after that call returns.
//!
//! Handles are pointer-sized integers dressed as pointers (never dereferenced, by Rust or C).
//!
//! Cost: a whole trivial call (`lsmedic_writebatch_count`: lookup, `Arc` clone, the batch's
//! lock, `catch_unwind`) measures under 100 ns and a lookup miss about 60 ns: small next to
//! a RocksDB read or write.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use crate::boundary::{FfiError, FfiResult};

/// Kinds of objects behind handles.
pub(crate) enum Object {
    Config(Arc<crate::config::ConfigObject>),
    Db(Arc<crate::db::Database>),
    Batch(Arc<crate::batch::BatchObject>),
    Iter(Arc<crate::iter::IterObject>),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Config(_) => crate::config::ConfigObject::KIND,
            Object::Db(_) => crate::db::Database::KIND,
            Object::Batch(_) => crate::batch::BatchObject::KIND,
            Object::Iter(_) => crate::iter::IterObject::KIND,
        }
    }
}

/// An object that can stand behind a handle.
pub(crate) trait Handled: Sized {
    /// Kind named in error messages (`database`, `iterator`, …).
    const KIND: &'static str;
    /// Wraps it for the table.
    fn wrap(object: Arc<Self>) -> Object;
    /// Unwraps it, when `object` is of this kind.
    fn unwrap(object: &Object) -> Option<&Arc<Self>>;
}

macro_rules! handled {
    ($type:ty, $variant:ident, $kind:literal) => {
        impl crate::handles::Handled for $type {
            const KIND: &'static str = $kind;
            fn wrap(object: std::sync::Arc<Self>) -> crate::handles::Object {
                crate::handles::Object::$variant(object)
            }
            fn unwrap(object: &crate::handles::Object) -> Option<&std::sync::Arc<Self>> {
                match object {
                    crate::handles::Object::$variant(inner) => Some(inner),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use handled;

/// Hashes handle numbers (sequential multiples of 8, never chosen by an attacker: a C caller
/// can only pass numbers, not insert them) with one multiplication instead of SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_usize(&mut self, id: usize) {
        self.0 = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low ones the table indexes by.
        self.0 ^ (self.0 >> 29)
    }
}

type Table = HashMap<usize, Object, BuildHasherDefault<IdHasher>>;

static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(|| RwLock::new(Table::default()));

/// Next handle number. Starts above 0 (NULL) and never wraps on 64-bit targets in practice;
/// steps of 8 keep handles pointer-aligned for C code that checks alignment.
static NEXT: AtomicUsize = AtomicUsize::new(8);

/// Registers `object` and returns its handle.
pub(crate) fn register<T: Handled, H>(object: T) -> *mut H {
    // Relaxed: only uniqueness matters, which the atomic add gives on its own.
    let id = NEXT.fetch_add(8, Ordering::Relaxed);
    TABLE.write().insert(id, T::wrap(Arc::new(object)));
    std::ptr::without_provenance_mut(id)
}

/// The object behind `handle`, when it is a live handle of kind `T`.
pub(crate) fn get<T: Handled, H>(handle: *const H, what: &'static str) -> FfiResult<Arc<T>> {
    let table = TABLE.read();
    let object = table.get(&handle.addr()).ok_or(FfiError::BadHandle {
        what,
        expected: T::KIND,
    })?;
    T::unwrap(object)
        .cloned()
        .ok_or_else(|| FfiError::WrongHandle {
            what,
            expected: T::KIND,
            actual: object.kind(),
        })
}

/// Removes `handle` from the table and returns its object; the handle is dead from then on.
/// A handle of another kind is left alone.
pub(crate) fn remove<T: Handled, H>(handle: *const H, what: &'static str) -> FfiResult<Arc<T>> {
    let mut table = TABLE.write();
    let id = handle.addr();
    let object = table.get(&id).ok_or(FfiError::BadHandle {
        what,
        expected: T::KIND,
    })?;
    if T::unwrap(object).is_none() {
        return Err(FfiError::WrongHandle {
            what,
            expected: T::KIND,
            actual: object.kind(),
        });
    }
    match table.remove(&id).as_ref().and_then(T::unwrap) {
        Some(object) => Ok(Arc::clone(object)),
        None => Err(FfiError::BadHandle {
            what,
            expected: T::KIND,
        }),
    }
}

/// Live handles of every kind (for tests and leak checks).
pub(crate) fn live_handles() -> usize {
    TABLE.read().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchObject;
    use crate::config::ConfigObject;

    struct Opaque;

    fn error<T>(result: FfiResult<T>) -> FfiError {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(err) => err,
        }
    }

    #[test]
    fn handles_resolve_to_their_kind_only_and_die_once_removed() {
        let config: *mut Opaque = register(ConfigObject::default());
        let batch: *mut Opaque = register(BatchObject::default());
        assert_ne!(config, batch);
        assert!(!config.is_null());
        assert_eq!(config.addr() % 8, 0);
        assert!(get::<ConfigObject, _>(config, "config").is_ok());
        let err = error(get::<ConfigObject, _>(batch, "config"));
        assert_eq!(
            err.to_string(),
            "config is a write batch handle, not a config handle"
        );
        // A wrong-kind destroy leaves the handle alive.
        assert!(remove::<ConfigObject, _>(batch, "config").is_err());
        assert!(get::<BatchObject, _>(batch, "batch").is_ok());

        let kept = get::<ConfigObject, _>(config, "config").expect("live");
        remove::<ConfigObject, _>(config, "config").expect("remove");
        let err = error(get::<ConfigObject, _>(config, "config"));
        assert!(matches!(err, FfiError::BadHandle { .. }), "{err}");
        assert!(remove::<ConfigObject, _>(config, "config").is_err());
        // A call holding the object keeps it alive past the destroy.
        assert_eq!(Arc::strong_count(&kept), 1);
        remove::<BatchObject, _>(batch, "batch").expect("remove");

        let null: *const Opaque = std::ptr::null();
        assert!(matches!(
            get::<ConfigObject, _>(null, "config"),
            Err(FfiError::BadHandle { .. })
        ));
        let garbage: *const Opaque = std::ptr::without_provenance(0xdead_beef);
        assert!(get::<BatchObject, _>(garbage, "batch").is_err());
    }
}
