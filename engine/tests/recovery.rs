//! Recovery without a restart: the engine reopens its database in place.
//!
//! - `Engine::recover` keeps names, telemetry ids, throttles and options set online, waits
//!   for open iterators (or gives up after `reader_wait_ms`), and loses no acknowledged write
//!   while other threads keep writing through it: each of their writes is applied or fails
//!   with `Error::Recovering`.
//! - A full disk: on a small tmpfs (mounted by the test; needs root, else the test says so
//!   and skips), a WAL append fails for lack of space, RocksDB stops writes and never resumes
//!   by itself. Writes then fail with `Error::Recovering`, reads go on, and once space is
//!   freed the automatic recovery thread reopens the database: writes are accepted again,
//!   with every acknowledged write there.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::key;
use lsmedic_engine::{
    CfOptions, Engine, EngineConfig, Error, IterOptions, RecoveryConfig, RecoveryState, WriteOpts,
};
use lsmedic_telemetry::{Control, ThrottleScope, Tunable};

fn config(recovery: RecoveryConfig) -> EngineConfig {
    EngineConfig {
        cf_options: CfOptions {
            write_buffer_size: 1 << 20,
            ..CfOptions::default()
        },
        recovery,
        ..EngineConfig::default()
    }
}

/// The value of `option` for column family `cf` in RocksDB's newest OPTIONS file.
fn option_in_effect(db: &Path, cf: &str, option: &str) -> String {
    let newest = std::fs::read_dir(db)
        .unwrap()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("OPTIONS-") && !n.ends_with(".dbtmp"))
        })
        .max_by_key(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n["OPTIONS-".len()..].parse::<u64>().ok())
        })
        .expect("an OPTIONS file");
    let text = std::fs::read_to_string(newest).unwrap();
    let section = format!("[CFOptions \"{cf}\"]");
    let start = text.find(&section).expect("the column family's section");
    text[start..]
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .find_map(|line| {
            let (name, value) = line.trim().split_once('=')?;
            (name.trim() == option).then(|| value.trim().to_owned())
        })
        .expect("the option")
}

#[test]
fn recover_reopens_in_place_keeping_ids_throttles_and_online_options() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_shared(
        dir.path(),
        config(RecoveryConfig {
            reader_wait_ms: 200,
            ..RecoveryConfig::default()
        }),
    )
    .unwrap();
    engine.create_cf("users", None).unwrap();
    engine.create_cf("events", None).unwrap();
    engine.drop_cf("events").unwrap();
    engine.create_cf("orders", None).unwrap();
    for i in 0..500 {
        engine.put("users", &key(i), b"u").unwrap();
        engine.put("orders", &key(i), b"o").unwrap();
    }
    engine.flush("users").unwrap();
    let ids: Vec<_> = ["default", "users", "orders"]
        .iter()
        .map(|cf| engine.cf_id(cf).unwrap())
        .collect();
    engine
        .set_cf("users", &[(Tunable::WriteBufferSize, 8 << 20)])
        .unwrap();
    engine
        .set_global(&[(Tunable::DelayedWriteRate, 4 << 20)])
        .unwrap();
    engine
        .set_write_rate_limit(&ThrottleScope::Cf("orders".into()), Some(64 << 20))
        .unwrap();

    // An open iterator holds the database: the reopen gives up and leaves it serving.
    let iter = engine.iter("users", IterOptions::full()).unwrap();
    let err = engine.recover().unwrap_err();
    assert!(matches!(err, Error::Recovering { .. }), "{err}");
    assert!(err.to_string().contains("iterator"), "{err}");
    let status = engine.recovery_status();
    assert_eq!(status.state, RecoveryState::Healthy, "{status:?}");
    assert!(status
        .attempt_error
        .is_some_and(|why| why.contains("iterator")));
    engine.put("users", b"while-held", b"x").unwrap();
    assert_eq!(engine.get("users", &key(1)).unwrap(), Some(b"u".to_vec()));
    drop(iter);

    engine.recover().unwrap();
    let status = engine.recovery_status();
    assert_eq!(status.state, RecoveryState::Healthy);
    assert_eq!(status.reopens, 1);
    assert_eq!(engine.list_cfs(), ["default", "users", "orders"]);
    let after: Vec<_> = ["default", "users", "orders"]
        .iter()
        .map(|cf| engine.cf_id(cf).unwrap())
        .collect();
    assert_eq!(ids, after, "telemetry ids survive the reopen");
    let tunables = engine.tunables().unwrap();
    assert_eq!(
        tunables
            .write_rate_limits
            .get(&ThrottleScope::Cf("orders".into())),
        Some(&(64 << 20))
    );
    // What RocksDB itself opened the column family with (its newest OPTIONS file): the value
    // set online, not the configured one.
    assert_eq!(
        option_in_effect(dir.path(), "users", "write_buffer_size"),
        (8u64 << 20).to_string()
    );
    for i in 0..500 {
        assert_eq!(engine.get("users", &key(i)).unwrap(), Some(b"u".to_vec()));
        assert_eq!(engine.get("orders", &key(i)).unwrap(), Some(b"o".to_vec()));
    }
    engine.put("users", b"after", b"reopen").unwrap();
    engine.flush("users").unwrap();
    let keys: Vec<_> = engine
        .iter("users", IterOptions::full())
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
    assert_eq!(keys.len(), 502);
}

#[test]
fn writers_during_a_reopen_see_applied_or_recovering_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_shared(dir.path(), config(RecoveryConfig::default())).unwrap();
    engine.create_cf("data", None).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|writer| {
            let (engine, stop) = (Arc::clone(&engine), Arc::clone(&stop));
            std::thread::spawn(move || {
                let (mut acked, mut refused) = (Vec::new(), 0u64);
                let mut i = writer << 32;
                while !stop.load(Ordering::Relaxed) {
                    let outcome = if i % 7 == 0 {
                        let mut batch = engine.batch();
                        batch.put("data", &key(i), b"batched").unwrap();
                        batch.put("default", &key(i), b"batched").unwrap();
                        engine.write_opt(batch, WriteOpts::synced())
                    } else {
                        engine.put_opt("data", &key(i), b"single", WriteOpts::default())
                    };
                    match outcome {
                        Ok(()) => acked.push(i),
                        Err(Error::Recovering { .. }) => refused += 1,
                        Err(other) => panic!("write {i} failed with {other}"),
                    }
                    // Reads are either answered or refused the same way.
                    match engine.get("data", &key(i)) {
                        Ok(_) | Err(Error::Recovering { .. }) => {}
                        Err(other) => panic!("read {i} failed with {other}"),
                    }
                    i += 1;
                }
                (acked, refused)
            })
        })
        .collect();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        engine.recover().unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let mut acked_total = 0;
    for writer in writers {
        let (acked, _refused) = writer.join().unwrap();
        for i in &acked {
            let cf_value = engine.get("data", &key(*i)).unwrap();
            assert!(cf_value.is_some(), "acknowledged write {i} lost");
        }
        acked_total += acked.len();
    }
    assert!(acked_total > 1000, "writers made progress: {acked_total}");
    assert_eq!(engine.recovery_status().reopens, 5);
}

/// A tmpfs of `mib` MiB mounted at a fresh directory; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_full_disk_during_a_flush_is_recovered_from_once_space_is_freed() {
    full_disk(1 << 20);
}

#[test]
fn a_full_disk_during_a_wal_append_is_recovered_from_once_space_is_freed() {
    // Memtables larger than the disk: the WAL fills it, not a flush.
    full_disk(256 << 20);
}

fn full_disk(write_buffer_size: u64) {
    let Some(disk) = SmallDisk::mount(48) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let db_path = disk.path().join("db");
    let config = |recovery| EngineConfig {
        cf_options: CfOptions {
            write_buffer_size,
            ..CfOptions::default()
        },
        ..config(recovery)
    };
    let engine = Engine::open_shared(
        &db_path,
        config(RecoveryConfig {
            min_free_mb: 8,
            retry_interval_ms: 50,
            ..RecoveryConfig::default()
        }),
    )
    .unwrap();
    engine.create_cf("data", None).unwrap();
    // Fill the disk, then leave 4 MiB: the writes below use them up.
    let ballast: PathBuf = disk.path().join("ballast");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![7u8; 1 << 20];
        while file.write_all(&chunk).is_ok() {}
        let len = file.metadata().unwrap().len();
        file.set_len(len.saturating_sub(4 << 20)).unwrap();
    }

    // Write until the recovery thread has found writes refused (its probe failed). A flush
    // that fails for lack of space is an error RocksDB resumes from by itself; the WAL append
    // that fails next is not.
    let value = vec![b'v'; 4096];
    let mut acked = Vec::new();
    let mut refusals = 0;
    let filling = Instant::now();
    while engine.recovery_status().attempt_error.is_none() {
        assert!(
            filling.elapsed() < Duration::from_secs(60),
            "writes never stopped: {:?}, {} acked, {refusals} refused",
            engine.recovery_status(),
            acked.len()
        );
        let i = acked.len() as u64 + refusals;
        match engine.put_opt("data", &key(i), &value, WriteOpts::synced()) {
            Ok(()) => acked.push(i),
            Err(err) => {
                let text = err.to_string();
                assert!(
                    matches!(err, Error::Recovering { .. }) || text.contains("No space"),
                    "{text}"
                );
                refusals += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    assert_eq!(engine.recovery_status().state, RecoveryState::Failed);
    let again = engine
        .put("data", b"while-full", b"x")
        .expect_err("a write while the disk is full");
    assert!(matches!(again, Error::Recovering { .. }), "{again}");
    assert!(again.to_string().contains("No space"), "{again}");
    // Reads go on, and recovery waits for space instead of closing the database.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(engine.get("data", &key(0)).unwrap(), Some(value.clone()));
    let status = engine.recovery_status();
    assert_eq!(status.reopens, 0);
    assert!(
        status
            .attempt_error
            .as_deref()
            .is_some_and(|why| why.contains("free space")),
        "{status:?}"
    );

    std::fs::remove_file(&ballast).unwrap();
    let freed = Instant::now();
    wait_until(
        "writes to be accepted again",
        Duration::from_secs(30),
        || engine.put("data", b"after", b"space").is_ok(),
    );
    let recovered = freed.elapsed();
    let status = engine.recovery_status();
    assert_eq!(status.state, RecoveryState::Healthy, "{status:?}");
    assert_eq!(status.reopens, 1, "{status:?}");
    eprintln!(
        "writes accepted {} ms after space was freed ({} acknowledged before; {:?})",
        recovered.as_millis(),
        acked.len(),
        status.error
    );
    for i in &acked {
        assert_eq!(
            engine.get("data", &key(*i)).unwrap().as_deref(),
            Some(&value[..]),
            "acknowledged write {i}"
        );
    }
    drop(engine);
    // And a plain reopen agrees.
    let engine = Engine::open(&db_path, config(RecoveryConfig::default())).unwrap();
    assert_eq!(
        engine.get("data", b"after").unwrap(),
        Some(b"space".to_vec())
    );
    assert_eq!(
        engine.get("data", &key(*acked.last().unwrap())).unwrap(),
        Some(value)
    );
}
