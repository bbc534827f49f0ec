//! Calls on `lsmedic_t` that open, close and reshape it: open, close, column families.
//!
//! One database per input, in the input's scratch directory. Its column families (and
//! their data, checked in `data`) survive close and reopen; a database closed while
//! iterators are alive stays open, and its directory locked, until they are destroyed.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::ptr;

use lsmedic_ffi::*;

use crate::healer::check_weights;
use crate::input::{CfArg, CfOptionsSel, CfSel, ErrMode, Op, PathSel};
use crate::model::{cf_ptr, Model};
use crate::outcome::{expect, succeeded, with_err};
use crate::{count, OPENS};

/// What the model knows of the open database.
pub(crate) struct Db {
    /// The handle.
    pub(crate) handle: *mut lsmedic_t,
    /// Whether the healer runs (it starts with the database).
    pub(crate) healer_running: bool,
    /// The healer mode (0 off, 1 advisory, 2 active).
    pub(crate) mode: i32,
    /// The healer's normalised objective weights (latency, throughput, resources).
    pub(crate) weights: (f64, f64, f64),
}

/// Makes a call that opens, closes or reshapes the database.
pub(crate) fn call(m: &mut Model, op: Op, mode: ErrMode) {
    match op {
        Op::Open { path, config } => open(m, path, config, mode),
        Op::Close => close(m, mode),
        Op::CreateCf { name, options } => create_cf(m, name, options, mode),
        Op::DropCf(name) => drop_cf(m, name, mode),
        Op::ListCfs => list_cfs(m, mode, true),
        other => unreachable!("not a database call: {other:?}"),
    }
}

/// The config `lsmedic_open` is given and what the model knows of it.
struct OpenConfig {
    handle: *mut lsmedic_config_t,
    alive: bool,
    /// Whether it must be accepted (None: the model cannot tell).
    valid: Option<bool>,
    create_if_missing: bool,
    healer_mode: i32,
}

/// `lsmedic_open`: refused for a bad path or config, while a database is open or locked,
/// or when it does not exist and may not be created; else the model learns the database.
fn open(m: &mut Model, path: PathSel, config: Option<u8>, mode: ErrMode) {
    let c_path = open_path(m, path);
    let Some(cfg) = open_config(m, config) else {
        return;
    };
    let (handle, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated path or NULL, valid errptr.
        unsafe {
            lsmedic_open(
                c_path.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
                cfg.handle,
                err,
            )
        }
    });
    let path_ok = matches!(path, PathSel::Db);
    // While a closed database waits for its last iterator, its directory stays locked.
    let must_fail = !path_ok
        || !cfg.alive
        || m.db_open()
        || m.zombie
        || cfg.valid == Some(false)
        || (!cfg.create_if_missing && !m.exists);
    let expected = if must_fail {
        Some(false)
    } else if cfg.valid.is_none() {
        None
    } else {
        Some(true)
    };
    expect("lsmedic_open", &outcome, expected, &(path, config));
    if handle.is_null() {
        assert!(
            !outcome.observed || outcome.error.is_some(),
            "NULL database without an error"
        );
        return;
    }
    assert!(
        !must_fail,
        "lsmedic_open succeeded where it must fail ({path:?}, valid {:?})",
        cfg.valid
    );
    opened(m, handle, cfg.healer_mode);
}

/// The path to open: the database's, or one of the bad ones.
fn open_path(m: &Model, path: PathSel) -> Option<CString> {
    let db_path = m.dir.join("db");
    match path {
        PathSel::Db => Some(CString::new(db_path.to_string_lossy().as_bytes()).expect("no NUL")),
        PathSel::Null => None,
        PathSel::Empty => Some(CString::default()),
        PathSel::InvalidUtf8 => {
            let mut bytes = m.dir.join("db").to_string_lossy().into_owned().into_bytes();
            bytes.extend_from_slice(&[0xff, 0xfe]);
            Some(CString::new(bytes).expect("no NUL"))
        }
        PathSel::File => {
            Some(CString::new(m.dir.join("file").to_string_lossy().as_bytes()).expect("no NUL"))
        }
    }
}

/// Which config to open with: NULL (defaults) or an openable slot. None when the slot
/// selected is not openable: such a config is never opened.
fn open_config(m: &Model, config: Option<u8>) -> Option<OpenConfig> {
    let defaults = OpenConfig {
        handle: ptr::null_mut(),
        alive: true,
        valid: Some(true),
        create_if_missing: true,
        healer_mode: 2,
    };
    let Some(i) = config else {
        return Some(defaults);
    };
    if m.configs.is_empty() {
        return Some(defaults);
    }
    let c = &m.configs[usize::from(i) % m.configs.len()];
    c.openable.then_some(OpenConfig {
        handle: c.slot.handle,
        alive: c.slot.alive,
        valid: c.valid,
        create_if_missing: c.create_if_missing,
        healer_mode: c.mode,
    })
}

/// Learns a database `lsmedic_open` just returned: its column families (the config may
/// create some), healer mode and weights; then checks the data that survived.
fn opened(m: &mut Model, handle: *mut lsmedic_t, healer_mode: i32) {
    assert!(m.db.is_none());
    m.exists = true;
    m.zombie = false;
    count(OPENS);
    m.db = Some(Db {
        handle,
        healer_running: true,
        mode: healer_mode,
        weights: (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
    });
    list_cfs(m, ErrMode::Fresh, false);
    let (got, _) = with_err(ErrMode::Fresh, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_healer_get_mode(handle, err) }
    });
    if let Some(db) = &mut m.db {
        db.mode = got;
    }
    let mut weights = (0.0, 0.0, 0.0);
    // SAFETY: writable out-pointers, NULL errptr.
    unsafe {
        lsmedic_healer_get_weights(
            handle,
            &mut weights.0,
            &mut weights.1,
            &mut weights.2,
            ptr::null_mut(),
        )
    };
    if let Some(db) = &mut m.db {
        db.weights = weights;
    }
    check_weights(m);
    let cfs: Vec<String> = m.tables.keys().cloned().collect();
    for cf in cfs {
        m.verify_table(&cf);
    }
}

/// `lsmedic_close`: closing with iterators alive reports it (and closes when they go).
fn close(m: &mut Model, mode: ErrMode) {
    let handle = m.db_ptr();
    let was_open = m.db.is_some();
    let live_iters = m.iters.iter().any(|it| it.slot.alive);
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: valid errptr.
        unsafe { lsmedic_close(handle, err) }
    });
    expect(
        "lsmedic_close",
        &outcome,
        Some(was_open && !live_iters),
        &"close",
    );
    if let Some(db) = m.db.take() {
        m.dead_dbs.push(db.handle);
        m.zombie = live_iters;
    }
}

/// `lsmedic_create_column_family`: a new, valid, unreserved name with acceptable options.
fn create_cf(m: &mut Model, name: CfSel, options: CfOptionsSel, mode: ErrMode) {
    let (c, arg) = name.arg();
    let (opts, opts_ok) = options.arg();
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated strings or NULL, valid errptr.
        unsafe {
            lsmedic_create_column_family(
                m.db_ptr(),
                cf_ptr(&c),
                opts.as_ref().map_or(ptr::null(), |o| o.as_ptr()),
                err,
            )
        }
    });
    let name_ok = match (&c, &arg) {
        (Some(_), CfArg::Name(n)) => {
            !n.is_empty() && n.len() <= 200 && !n.contains("__lsmedic") && !m.tables.contains_key(n)
        }
        _ => false,
    };
    let expected = if !m.db_open() || !name_ok || opts_ok == Some(false) {
        Some(false)
    } else {
        opts_ok
    };
    expect(
        "lsmedic_create_column_family",
        &outcome,
        expected,
        &(&arg, &opts),
    );
    if m.db_open() && succeeded(&outcome) && outcome.observed {
        if let CfArg::Name(n) = arg {
            m.tables.insert(n, BTreeMap::new());
        }
    } else if m.db_open() && !outcome.observed {
        sync_cfs(m);
    }
}

/// `lsmedic_drop_column_family`: any existing column family but `default`.
fn drop_cf(m: &mut Model, name: CfSel, mode: ErrMode) {
    let (c, arg) = name.arg();
    let (_, outcome) = with_err(mode, |err| {
        // SAFETY: NUL-terminated string or NULL, valid errptr.
        unsafe { lsmedic_drop_column_family(m.db_ptr(), cf_ptr(&c), err) }
    });
    let droppable = c.is_some()
        && m.db_open()
        && matches!(&arg, CfArg::Name(n) if n != "default" && m.tables.contains_key(n));
    expect(
        "lsmedic_drop_column_family",
        &outcome,
        Some(droppable),
        &arg,
    );
    if droppable {
        if let CfArg::Name(n) = arg {
            m.tables.remove(&n);
        }
    }
}

/// `lsmedic_list_column_families`: with `strict`, the list must be the model's; otherwise
/// the model learns the names it did not know (column families a config created at open).
pub(crate) fn list_cfs(m: &mut Model, mode: ErrMode, strict: bool) {
    let mut count = usize::MAX;
    let (list, outcome) = with_err(mode, |err| {
        // SAFETY: writable count, valid errptr.
        unsafe { lsmedic_list_column_families(m.db_ptr(), &mut count, err) }
    });
    expect(
        "lsmedic_list_column_families",
        &outcome,
        Some(m.db_open()),
        &"list",
    );
    if list.is_null() {
        return;
    }
    let mut names = BTreeSet::new();
    let mut i = 0;
    loop {
        // SAFETY: a NULL-terminated array of NUL-terminated strings from the library.
        let entry = unsafe { *list.add(i) };
        if entry.is_null() {
            break;
        }
        // SAFETY: as above.
        names.insert(
            unsafe { CStr::from_ptr(entry) }
                .to_string_lossy()
                .into_owned(),
        );
        i += 1;
    }
    // SAFETY: one library allocation.
    unsafe { lsmedic_free(list.cast()) };
    assert_eq!(count, i, "count vs. array length");
    if strict {
        let model: BTreeSet<String> = m.tables.keys().cloned().collect();
        assert_eq!(names, model, "column families");
    } else {
        for name in names {
            m.tables.entry(name).or_default();
        }
    }
}

/// Learns the column families from the database (after calls whose outcome was discarded).
fn sync_cfs(m: &mut Model) {
    let mut names = BTreeSet::new();
    let mut count = 0usize;
    // SAFETY: writable count, NULL errptr.
    let list = unsafe { lsmedic_list_column_families(m.db_ptr(), &mut count, ptr::null_mut()) };
    if list.is_null() {
        return;
    }
    for i in 0..count {
        // SAFETY: `count` entries from the library.
        names.insert(
            unsafe { CStr::from_ptr(*list.add(i)) }
                .to_string_lossy()
                .into_owned(),
        );
    }
    // SAFETY: one library allocation.
    unsafe { lsmedic_free(list.cast()) };
    m.tables.retain(|name, _| names.contains(name));
    for name in names {
        m.tables.entry(name).or_default();
    }
}
