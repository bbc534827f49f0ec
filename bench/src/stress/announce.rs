//! The engine as the child's healer and maintenance thread see it: every `Control` call goes
//! to the engine unchanged, and every rebuild is announced to the parent before it starts
//! and reported (lost ranges included) when it ends, whoever started it.
//!
//! The healer's own audit says only how many ranges a rebuild lost; the model needs the
//! ranges, so the child attaches the healer to this wrapper rather than through
//! `lsmedic::Db` (which attaches it to the bare engine the same way).

use std::sync::Arc;
use std::time::Duration;

use lsmedic::engine::Engine;
use lsmedic::telemetry::{
    CfId, Control, ControlError, EngineEvent, Observe, OpEvent, RebuildReport, Sample,
    ThrottleScope, Tunable, Tunables,
};

use super::protocol::{Actor, HexRange, Record, RecordSink};

/// The engine, with rebuilds announced on the record pipe.
pub struct Announcing {
    engine: Arc<Engine>,
    sink: Arc<RecordSink>,
}

impl Announcing {
    /// Wraps `engine`; records go to `sink`.
    pub fn new(engine: Arc<Engine>, sink: Arc<RecordSink>) -> Announcing {
        Announcing { engine, sink }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Rebuilds `cf`, announcing it first and reporting its outcome after. A closed pipe
    /// is ignored here: the child's loops see it and stop.
    pub fn rebuild(&self, cf: &str, by: Actor) -> Result<RebuildReport, ControlError> {
        let _ = self.sink.send(&Record::RebuildStarted {
            cf: cf.to_owned(),
            by,
        });
        let outcome = Control::rebuild_cf(&*self.engine, cf);
        let record = match &outcome {
            Ok(report) => Record::RebuildDone {
                cf: cf.to_owned(),
                by,
                old_physical: report.old_physical.clone(),
                new_physical: report.new_physical.clone(),
                keys_copied: report.keys_copied,
                keys_recovered_from_checkpoint: report.keys_recovered_from_checkpoint,
                lost: report.lost_ranges.iter().map(HexRange::from).collect(),
                refill_failures: report.refill_failures.clone(),
            },
            Err(err) => Record::RebuildFailed {
                cf: cf.to_owned(),
                by,
                error: err.to_string(),
            },
        };
        let _ = self.sink.send(&record);
        outcome
    }
}

crate::subject::forward_control!(Announcing, |this, cf| this.rebuild(cf, Actor::Healer));

impl Observe for Announcing {
    fn drain_ops(&self, f: &mut dyn FnMut(OpEvent)) -> usize {
        Observe::drain_ops(&*self.engine, f)
    }
    fn drain_events(&self, f: &mut dyn FnMut(EngineEvent)) -> usize {
        Observe::drain_events(&*self.engine, f)
    }
    fn sample(&self) -> Sample {
        Observe::sample(&*self.engine)
    }
    fn now_ns(&self) -> u64 {
        Observe::now_ns(&*self.engine)
    }
    fn cf_name_of(&self, id: CfId) -> Option<String> {
        Observe::cf_name_of(&*self.engine, id)
    }
    fn logical_cf_of(&self, physical: &str) -> Option<String> {
        Observe::logical_cf_of(&*self.engine, physical)
    }
    fn dropped(&self) -> (u64, u64) {
        Observe::dropped(&*self.engine)
    }
}
