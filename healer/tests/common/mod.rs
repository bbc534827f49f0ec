//! A test rig: a stub engine and a healer core driven tick by tick on a manual clock.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use lsmedic_healer::stub::StubEngine;
use lsmedic_healer::{HealerConfig, HealerCore, TickReport};
use lsmedic_telemetry::{CfName, EngineEvent, EngineEventKind, OpKind};

pub const GIB: u64 = 1 << 30;
pub const MIB: u64 = 1 << 20;

pub struct Rig {
    pub engine: Arc<StubEngine>,
    pub core: HealerCore<StubEngine>,
    pub tick_interval: Duration,
}

impl Rig {
    pub fn new(cfs: &[&str], config: HealerConfig) -> Rig {
        let engine = Arc::new(StubEngine::new(cfs));
        Rig::with_engine(engine, config)
    }

    pub fn with_engine(engine: Arc<StubEngine>, config: HealerConfig) -> Rig {
        let tick_interval = config.tick_interval();
        let core = HealerCore::new(Arc::clone(&engine), config).expect("healer core");
        Rig {
            engine,
            core,
            tick_interval,
        }
    }

    /// Lets `f` script the engine for the coming tick, advances the clock one tick, ticks.
    pub fn tick(&mut self, f: impl FnOnce(&StubEngine)) -> TickReport {
        f(&self.engine);
        self.engine.advance(self.tick_interval);
        self.core.tick().expect("tick")
    }

    /// Ticks `n` times with the same script.
    pub fn ticks(&mut self, n: usize, f: impl Fn(&StubEngine)) -> Vec<TickReport> {
        (0..n).map(|_| self.tick(&f)).collect()
    }
}

/// `count` puts of `bytes` each at `latency_us` on `cf`.
pub fn writes(engine: &StubEngine, cf: &str, count: usize, bytes: u32, latency_us: u32) {
    engine.push_ops(cf, OpKind::Put, count, bytes, latency_us * 1000);
}

/// A listener event on physical CF `cf`.
pub fn event(engine: &StubEngine, cf: &str, kind: EngineEventKind) {
    engine.push_event(EngineEvent {
        at_ns: engine_now(engine),
        cf_name: CfName::new(cf),
        kind,
    });
}

pub fn engine_now(engine: &StubEngine) -> u64 {
    use lsmedic_telemetry::Observe;
    engine.now_ns()
}
