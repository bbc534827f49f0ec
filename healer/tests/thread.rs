//! The `lsmedic-healer` thread: start, tick, steer, stop, drop, and survive a panicking
//! engine without taking the host down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsmedic_healer::audit::AuditRecord;
use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{Healer, HealerConfig, HealerError, Mode};
use lsmedic_telemetry::{
    CfId, Control, ControlError, EngineEvent, Observe, OpEvent, OpKind, RebuildReport, Sample,
    ThrottleScope, Tunable, Tunables,
};

fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn fast() -> HealerConfig {
    HealerConfig {
        tick_interval_ms: 10,
        drain_interval_ms: 2,
        ..HealerConfig::default()
    }
}

#[test]
fn healer_thread_ticks_drains_and_stops() {
    let engine = Arc::new(StubEngine::new(&["default"]));
    let mut healer = Healer::start(Arc::clone(&engine), fast()).expect("start");
    let handle = healer.handle();
    wait_for("ticks", Duration::from_secs(10), || {
        handle.stats().ticks >= 5
    });
    engine.push_ops("default", OpKind::Put, 100, 10, 1000);
    wait_for("drain", Duration::from_secs(10), || {
        handle.stats().ops_drained >= 100
    });
    let stats = handle.stats();
    assert!(stats.running);
    assert!(
        stats.drains > stats.ticks,
        "drains between ticks: {stats:?}"
    );
    assert!(stats.tick_p99_us >= stats.tick_p50_us);

    handle.adapt_now().expect("adapt");
    wait_for("adapt audited", Duration::from_secs(10), || {
        handle.audit_entries(100).iter().any(
            |e| matches!(&e.record, AuditRecord::Config { change } if change.contains("adapt_now")),
        )
    });
    assert_eq!(handle.stats().adapt_requests, 1);

    let started = Instant::now();
    healer.stop().expect("stop");
    assert!(started.elapsed() < Duration::from_secs(2), "stop is prompt");
    assert!(!handle.is_running());
    assert!(matches!(handle.adapt_now(), Err(HealerError::Stopped)));
    healer.stop().expect("stop is idempotent");
    let last = handle.audit_entries(1).pop().expect("entry");
    assert!(matches!(last.record, AuditRecord::Config { change } if change == "healer stopped"));
}

#[test]
fn dropping_the_healer_stops_its_thread() {
    let engine = Arc::new(StubEngine::new(&["default"]));
    let handle = {
        let healer = Healer::start(Arc::clone(&engine), fast()).expect("start");
        healer.handle()
    };
    assert!(!handle.is_running());
    // The engine is released by the thread.
    assert_eq!(Arc::strong_count(&engine), 1);
}

#[test]
fn invalid_config_is_refused_at_start() {
    let engine = Arc::new(StubEngine::new(&["default"]));
    let config = HealerConfig {
        tick_interval_ms: 0,
        ..HealerConfig::default()
    };
    let err = Healer::start(engine, config).unwrap_err();
    assert!(err.to_string().contains("tick_interval_ms"), "{err}");
}

/// A stub whose sampler panics on demand.
struct Panicky {
    inner: StubEngine,
    panic: AtomicBool,
}

impl Control for Panicky {
    fn column_families(&self) -> Vec<String> {
        self.inner.column_families()
    }
    fn tunables(&self) -> Result<Tunables, ControlError> {
        self.inner.tunables()
    }
    fn set_global(&self, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
        self.inner.set_global(changes)
    }
    fn set_cf(&self, cf: &str, changes: &[(Tunable, u64)]) -> Result<(), ControlError> {
        self.inner.set_cf(cf, changes)
    }
    fn set_write_rate_limit(
        &self,
        scope: &ThrottleScope,
        rate: Option<u64>,
    ) -> Result<(), ControlError> {
        self.inner.set_write_rate_limit(scope, rate)
    }
    fn restore(&self, snapshot: &Tunables) -> Result<(), ControlError> {
        self.inner.restore(snapshot)
    }
    fn flush(&self, cf: &str) -> Result<(), ControlError> {
        self.inner.flush(cf)
    }
    fn compact_range(&self, cf: &str, range: Option<(&[u8], &[u8])>) -> Result<(), ControlError> {
        self.inner.compact_range(cf, range)
    }
    fn wait_for_compactions(&self, timeout: Duration) -> Result<bool, ControlError> {
        self.inner.wait_for_compactions(timeout)
    }
    fn rebuild_cf(&self, cf: &str) -> Result<RebuildReport, ControlError> {
        self.inner.rebuild_cf(cf)
    }
}

impl Observe for Panicky {
    fn drain_ops(&self, f: &mut dyn FnMut(OpEvent)) -> usize {
        self.inner.drain_ops(f)
    }
    fn drain_events(&self, f: &mut dyn FnMut(EngineEvent)) -> usize {
        self.inner.drain_events(f)
    }
    fn sample(&self) -> Sample {
        if self.panic.load(Ordering::SeqCst) {
            panic!("sampler exploded (test)");
        }
        self.inner.sample()
    }
    fn now_ns(&self) -> u64 {
        self.inner.now_ns()
    }
    fn cf_name_of(&self, id: CfId) -> Option<String> {
        self.inner.cf_name_of(id)
    }
    fn logical_cf_of(&self, physical: &str) -> Option<String> {
        self.inner.logical_cf_of(physical)
    }
    fn dropped(&self) -> (u64, u64) {
        self.inner.dropped()
    }
}

#[test]
fn a_panicking_engine_never_takes_the_host_down() {
    let engine = Arc::new(Panicky {
        inner: StubEngine::new(&["default"]),
        panic: AtomicBool::new(true),
    });
    let config = HealerConfig {
        max_consecutive_failures: 5,
        ..fast()
    };
    let mut healer = Healer::start(Arc::clone(&engine), config).expect("start");
    let handle = healer.handle();
    wait_for("switch-off", Duration::from_secs(10), || {
        handle.stats().disabled_reason.is_some()
    });
    let stats = handle.stats();
    assert!(stats.panics >= 5, "{stats:?}");
    assert_eq!(stats.mode, Mode::Off);
    assert!(stats.running, "the thread lives on, draining");
    assert!(stats
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("sampler exploded")));
    assert!(handle
        .audit_entries(100)
        .iter()
        .any(|e| matches!(&e.record, AuditRecord::Error { panicked: true, .. })));
    // Fixed and switched back on: it heals again.
    engine.panic.store(false, Ordering::SeqCst);
    handle.set_mode(Mode::Active);
    let errors = handle.stats().errors;
    let ticks = handle.stats().ticks;
    wait_for("healthy ticks", Duration::from_secs(10), || {
        handle.stats().ticks >= ticks + 5
    });
    assert_eq!(handle.stats().errors, errors);
    healer.stop().expect("stop");
}

#[test]
fn audit_observer_runs_on_the_healer_thread_and_stops_when_removed() {
    use std::sync::Mutex;
    let engine = Arc::new(StubEngine::new(&["default"]));
    let mut healer = Healer::start(engine, fast()).expect("start");
    let handle = healer.handle();
    // (seq, name of the calling thread) of every observed entry.
    type Seen = Arc<Mutex<Vec<(u64, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    handle.set_audit_observer(Some(Arc::new(move |entry| {
        let thread = std::thread::current().name().map(str::to_owned);
        sink.lock().expect("sink").push((entry.seq, thread));
    })));
    handle.set_mode(Mode::Advisory);
    wait_for("the mode change observed", Duration::from_secs(10), || {
        !seen.lock().expect("seen").is_empty()
    });
    handle.set_audit_observer(None);
    let observed = seen.lock().expect("seen").clone();
    // Sequence numbers are the log's own; every call came from the healer thread.
    let audited = handle.audit_entries(100);
    for (seq, thread) in &observed {
        assert_eq!(thread.as_deref(), Some("lsmedic-healer"));
        assert!(
            audited.iter().any(|e| e.seq == *seq),
            "seq {seq} not in the log"
        );
    }
    // Removed: later entries (the mode change back, "healer stopped") are not delivered.
    handle.set_mode(Mode::Active);
    healer.stop().expect("stop");
    assert_eq!(seen.lock().expect("seen").len(), observed.len());
    assert!(handle.audit_entries(100).len() > observed.len());
}
