//! The expected state: what every key of every column family must read after a crash.
//!
//! Like RocksDB's `db_stress` expected state, the model holds the committed value of every
//! key (a version, or absent) and the writes that were announced but not acknowledged when
//! the child died. Records are applied in the order the child sent them, each taking the
//! next sequence number:
//!
//! - an announced write ([`Model::begin`]) is *uncertain*: after a crash each key it touches
//!   may read its old or its new value, but a write is atomic, so all of its keys must agree
//!   (a write batch across column families included); an acknowledged write
//!   ([`Model::ack`]) is committed; a write that returned an error stays uncertain;
//! - a rebuild's reported lost ranges ([`Model::report_lost`]) exempt the keys inside: they
//!   may read absent (counted as lost, never a violation) — but never a wrong value — until
//!   a write announced *after* the report sets them again. A write announced before the
//!   report may have reached the database before the rebuild's snapshot, so it stays exempt
//!   even if its acknowledgement comes after the report.
//!
//! [`Model::check`] compares what the parent read after the crash; [`Model::settle`] then
//! learns it as the new committed state (uncertain writes resolved to what was read).
//! The model never touches the engine: it is tested with plain reads.

use std::collections::{BTreeMap, BTreeSet};

use lsmedic::telemetry::control::LostRange;

use super::keyspace::{self, CfIndex, Found};
use super::protocol::Mutation;
use super::Error;

/// One logical column family's expected state.
#[derive(Clone, Debug)]
struct CfState {
    name: String,
    /// Committed value per key index: a version, or `None` = absent.
    committed: Vec<Option<u64>>,
    /// Sequence number of the loss report that exempts the key, if any.
    lost_since: Vec<Option<u64>>,
}

/// A write announced and not (successfully) acknowledged.
#[derive(Clone, Debug)]
struct Uncertain {
    /// Sequence number of its announcement.
    seq: u64,
    mutations: Vec<Mutation>,
    /// The error it returned, if it failed rather than went unanswered.
    error: Option<String>,
}

impl Uncertain {
    /// What the write does to `key` of `cf` (mutations applied in order), if it touches it.
    fn effect_on(&self, cf: CfIndex, key: u32) -> Option<Option<u64>> {
        self.mutations
            .iter()
            .rev()
            .find_map(|mutation| mutation.effect_on(cf, key))
    }

    /// Every `(cf, key)` the write touches.
    fn touched(&self) -> BTreeSet<(CfIndex, u32)> {
        self.mutations
            .iter()
            .flat_map(|mutation| mutation.keys().map(move |key| (mutation.cf(), key)))
            .collect()
    }
}

/// Per `(cf, key)`: the uncertain writes touching it (op id) and what each would leave.
type InFlight = BTreeMap<(CfIndex, u32), Vec<(u64, Option<u64>)>>;

/// How a check found a key wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// A value (or absence) none of the allowed outcomes explains.
    WrongValue,
    /// Bytes that are no version of the key.
    Garbage,
    /// Part of one atomic write took effect and part did not.
    TornWrite {
        /// The write's op id.
        op: u64,
        /// A key (`cf/index`) of it that shows the new value.
        applied: String,
        /// A key of it that shows the old value.
        not_applied: String,
    },
    /// Found by the checks around the model (unreadable key, refused write, column-family
    /// layout, a child that died on its own).
    Engine(String),
}

/// One key (or write) found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Logical column family.
    pub cf: String,
    /// Key index (`None` when the violation is not about one key).
    pub key: Option<u32>,
    /// What is wrong.
    pub kind: ViolationKind,
    /// What the model allowed.
    pub expected: String,
    /// What was read.
    pub found: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.key.map_or_else(String::new, |key| {
            format!(" key {}", String::from_utf8_lossy(&keyspace::key(key)))
        });
        match &self.kind {
            ViolationKind::WrongValue => write!(f, "wrong value in {:?}{key}", self.cf)?,
            ViolationKind::Garbage => write!(f, "garbage value in {:?}{key}", self.cf)?,
            ViolationKind::TornWrite {
                op,
                applied,
                not_applied,
            } => write!(
                f,
                "torn write (op {op}): {applied} took effect, {not_applied} did not"
            )?,
            ViolationKind::Engine(what) => write!(f, "{what} in {:?}{key}", self.cf)?,
        }
        write!(f, ": expected {}, found {}", self.expected, self.found)
    }
}

/// What [`Model::check`] concluded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check {
    /// Every key or write found wrong.
    pub violations: Vec<Violation>,
    /// Keys that should hold a value and read absent inside a reported lost range.
    pub keys_lost: u64,
    /// Uncertain writes that had taken effect.
    pub uncertain_applied: u64,
    /// Uncertain writes that had not.
    pub uncertain_not_applied: u64,
    /// Uncertain writes the reads cannot tell (they changed nothing, or only lost keys).
    pub uncertain_unknown: u64,
}

/// The expected state of every key of every column family.
#[derive(Clone, Debug)]
pub struct Model {
    cfs: Vec<CfState>,
    keys_per_cf: u32,
    uncertain: BTreeMap<u64, Uncertain>,
    /// Sequence number of the last record applied.
    seq: u64,
}

fn describe(state: Option<u64>) -> String {
    match state {
        Some(version) => format!("version {version:#x}"),
        None => "absent".to_owned(),
    }
}

impl Model {
    /// An empty database: `names` column families of `keys_per_cf` absent keys each.
    pub fn new(names: &[&str], keys_per_cf: u32) -> Model {
        Model {
            cfs: names
                .iter()
                .map(|name| CfState {
                    name: (*name).to_owned(),
                    committed: vec![None; keys_per_cf as usize],
                    lost_since: vec![None; keys_per_cf as usize],
                })
                .collect(),
            keys_per_cf,
            uncertain: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Keys per column family.
    pub fn keys_per_cf(&self) -> u32 {
        self.keys_per_cf
    }

    /// Number of column families.
    pub fn cf_count(&self) -> usize {
        self.cfs.len()
    }

    /// The committed value of `key` in `cf` (`None` = absent).
    pub fn committed(&self, cf: CfIndex, key: u32) -> Option<u64> {
        self.cfs[usize::from(cf)].committed[key as usize]
    }

    /// Writes announced and not acknowledged.
    pub fn uncertain_writes(&self) -> usize {
        self.uncertain.len()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Write `op` is announced with `mutations`.
    pub fn begin(&mut self, op: u64, mutations: Vec<Mutation>) -> Result<(), Error> {
        for mutation in &mutations {
            let keys = mutation.keys();
            if usize::from(mutation.cf()) >= self.cfs.len()
                || keys.end > self.keys_per_cf
                || keys.start > keys.end
            {
                return Err(Error::Protocol(format!(
                    "op {op} changes outside the key space: {mutation:?}"
                )));
            }
        }
        let seq = self.next_seq();
        let write = Uncertain {
            seq,
            mutations,
            error: None,
        };
        if self.uncertain.insert(op, write).is_some() {
            return Err(Error::Protocol(format!("op {op} announced twice")));
        }
        Ok(())
    }

    /// Write `op` was acknowledged: its changes are committed.
    pub fn ack(&mut self, op: u64) -> Result<(), Error> {
        self.next_seq();
        let in_flight = self
            .uncertain
            .get(&op)
            .is_some_and(|write| write.error.is_none());
        let not_in_flight = || Error::Protocol(format!("ack of op {op}, which is not in flight"));
        if !in_flight {
            return Err(not_in_flight());
        }
        let write = self.uncertain.remove(&op).ok_or_else(not_in_flight)?;
        for (cf, key) in write.touched() {
            let Some(effect) = write.effect_on(cf, key) else {
                continue;
            };
            let state = &mut self.cfs[usize::from(cf)];
            state.committed[key as usize] = effect;
            // A loss reported after this write was announced may have taken it (it may have
            // reached the database before the rebuild's snapshot): the exemption stays.
            let lost = &mut state.lost_since[key as usize];
            if lost.is_some_and(|since| since < write.seq) {
                *lost = None;
            }
        }
        Ok(())
    }

    /// Write `op` returned `error`: it stays uncertain (a failed write may still be in the
    /// WAL).
    pub fn fail(&mut self, op: u64, error: String) -> Result<(), Error> {
        self.next_seq();
        let write = self
            .uncertain
            .get_mut(&op)
            .filter(|write| write.error.is_none())
            .ok_or_else(|| {
                Error::Protocol(format!("failure of op {op}, which is not in flight"))
            })?;
        write.error = Some(error);
        Ok(())
    }

    /// A rebuild of `cf` reported `ranges` lost; returns how many keys of the key space lie
    /// inside.
    pub fn report_lost(&mut self, cf: CfIndex, ranges: &[LostRange]) -> u64 {
        let seq = self.next_seq();
        let state = &mut self.cfs[usize::from(cf)];
        let mut inside = 0;
        for (index, lost) in state.lost_since.iter_mut().enumerate() {
            let key = keyspace::key(index as u32);
            if ranges.iter().any(|range| range.contains(&key)) {
                *lost = Some(seq);
                inside += 1;
            }
        }
        inside
    }

    /// A rebuild of damaged `cf` committed but its report died with the child: any key of
    /// `cf` may have been lost.
    pub fn report_unknown_loss(&mut self, cf: CfIndex) {
        let range = LostRange {
            start: Vec::new(),
            end: None,
        };
        self.report_lost(cf, &[range]);
    }

    /// Checks what was read after a crash: `reads[cf][key]`.
    pub fn check(&self, reads: &[Vec<Found>]) -> Check {
        let mut check = Check::default();
        let mut touching = InFlight::new();
        for (op, write) in &self.uncertain {
            for (cf, key) in write.touched() {
                if let Some(effect) = write.effect_on(cf, key) {
                    touching.entry((cf, key)).or_default().push((*op, effect));
                }
            }
        }
        for (cf_index, state) in self.cfs.iter().enumerate() {
            let cf = cf_index as CfIndex;
            for key in 0..self.keys_per_cf {
                let found = &reads[cf_index][key as usize];
                let committed = state.committed[key as usize];
                let may_be_lost = state.lost_since[key as usize].is_some();
                let writes = touching.get(&(cf, key)).map_or(&[][..], Vec::as_slice);
                let allowed = || {
                    let mut text = format!("{} (committed)", describe(committed));
                    for (op, effect) in writes {
                        text.push_str(&format!(" or {} (op {op} in flight)", describe(*effect)));
                    }
                    if may_be_lost {
                        text.push_str(" or absent (reported lost)");
                    }
                    text
                };
                let violation = |kind| Violation {
                    cf: state.name.clone(),
                    key: Some(key),
                    kind,
                    expected: allowed(),
                    found: found.to_string(),
                };
                let Some(read) = found.state() else {
                    check.violations.push(violation(ViolationKind::Garbage));
                    continue;
                };
                let explained = read == committed || writes.iter().any(|(_, e)| *e == read);
                if explained {
                    continue;
                }
                if read.is_none() && may_be_lost {
                    check.keys_lost += 1;
                } else {
                    check.violations.push(violation(ViolationKind::WrongValue));
                }
            }
        }
        for (op, write) in &self.uncertain {
            self.check_atomic(*op, write, reads, &touching, &mut check);
        }
        check
    }

    /// All of `write`'s keys must show its new value, or all its old value.
    fn check_atomic(
        &self,
        op: u64,
        write: &Uncertain,
        reads: &[Vec<Found>],
        touching: &InFlight,
        check: &mut Check,
    ) {
        let mut applied: Option<(CfIndex, u32)> = None;
        let mut not_applied: Option<(CfIndex, u32)> = None;
        for (cf, key) in write.touched() {
            let Some(effect) = write.effect_on(cf, key) else {
                continue;
            };
            let state = &self.cfs[usize::from(cf)];
            let old = state.committed[key as usize];
            let Some(read) = reads[usize::from(cf)][key as usize].state() else {
                continue;
            };
            // Evidence only where the outcomes differ and nothing else explains the read:
            // another write in flight on the key, or a loss (which reads absent).
            let others = touching
                .get(&(cf, key))
                .is_some_and(|writes| writes.iter().any(|(o, e)| *o != op && *e == read));
            let maybe_lost = read.is_none() && state.lost_since[key as usize].is_some();
            if effect == old || others || maybe_lost {
                continue;
            }
            if read == effect {
                applied.get_or_insert((cf, key));
            } else if read == old {
                not_applied.get_or_insert((cf, key));
            }
        }
        let name = |(cf, key): (CfIndex, u32)| {
            format!(
                "{}/{}",
                self.cfs[usize::from(cf)].name,
                String::from_utf8_lossy(&keyspace::key(key))
            )
        };
        match (applied, not_applied) {
            (Some(yes), Some(no)) => check.violations.push(Violation {
                cf: self.cfs[usize::from(yes.0)].name.clone(),
                key: None,
                kind: ViolationKind::TornWrite {
                    op,
                    applied: name(yes),
                    not_applied: name(no),
                },
                expected: format!(
                    "all or none of {} changes{}",
                    write.mutations.len(),
                    write
                        .error
                        .as_deref()
                        .map_or_else(String::new, |e| format!(" (the write failed: {e})"))
                ),
                found: "some".to_owned(),
            }),
            (Some(_), None) => check.uncertain_applied += 1,
            (None, Some(_)) => check.uncertain_not_applied += 1,
            (None, None) => check.uncertain_unknown += 1,
        }
    }

    /// Learns `reads` as the committed state: uncertain writes are resolved to what was
    /// read, exemptions end. Call after a check without violations.
    pub fn settle(&mut self, reads: &[Vec<Found>]) {
        for (state, cf_reads) in self.cfs.iter_mut().zip(reads) {
            for (key, found) in cf_reads.iter().enumerate() {
                if let Some(read) = found.state() {
                    state.committed[key] = read;
                }
                state.lost_since[key] = None;
            }
        }
        self.uncertain.clear();
        self.next_seq();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFS: [&str; 2] = ["default", "users"];

    fn put(cf: CfIndex, key: u32, version: u64) -> Mutation {
        Mutation::Put { cf, key, version }
    }

    /// Reads equal to the model's committed state, with `changes` applied.
    fn reads(model: &Model, changes: &[(CfIndex, u32, Found)]) -> Vec<Vec<Found>> {
        let mut reads: Vec<Vec<Found>> = (0..model.cf_count())
            .map(|cf| {
                (0..model.keys_per_cf())
                    .map(|key| match model.committed(cf as CfIndex, key) {
                        Some(version) => Found::Version(version),
                        None => Found::Absent,
                    })
                    .collect()
            })
            .collect();
        for (cf, key, found) in changes {
            reads[usize::from(*cf)][*key as usize] = found.clone();
        }
        reads
    }

    fn model_with(writes: &[(u64, Vec<Mutation>)]) -> Model {
        let mut model = Model::new(&CFS, 10);
        for (op, mutations) in writes {
            model.begin(*op, mutations.clone()).unwrap();
            model.ack(*op).unwrap();
        }
        model
    }

    #[test]
    fn acknowledged_writes_must_be_read_back() {
        let model = model_with(&[(1, vec![put(1, 3, 100)]), (2, vec![put(1, 3, 101)])]);
        assert_eq!(model.committed(1, 3), Some(101));
        assert!(model.check(&reads(&model, &[])).violations.is_empty());
        let stale = model.check(&reads(&model, &[(1, 3, Found::Version(100))]));
        assert_eq!(stale.violations.len(), 1);
        assert_eq!(stale.violations[0].kind, ViolationKind::WrongValue);
        assert_eq!(stale.violations[0].key, Some(3));
        let gone = model.check(&reads(&model, &[(1, 3, Found::Absent)]));
        assert_eq!(gone.violations.len(), 1);
        let garbage = model.check(&reads(&model, &[(0, 0, Found::Garbage(b"x".to_vec()))]));
        assert_eq!(garbage.violations[0].kind, ViolationKind::Garbage);
    }

    #[test]
    fn an_unacknowledged_write_may_read_old_or_new_and_settles_to_what_was_read() {
        let mut model = model_with(&[(1, vec![put(1, 3, 100)])]);
        model.begin(2, vec![put(1, 3, 101)]).unwrap();
        for found in [Found::Version(100), Found::Version(101)] {
            let check = model.check(&reads(&model, &[(1, 3, found)]));
            assert!(check.violations.is_empty(), "{:?}", check.violations);
        }
        let wrong = model.check(&reads(&model, &[(1, 3, Found::Absent)]));
        assert_eq!(wrong.violations.len(), 1);
        let applied = reads(&model, &[(1, 3, Found::Version(101))]);
        assert_eq!(model.check(&applied).uncertain_applied, 1);
        model.settle(&applied);
        assert_eq!(model.committed(1, 3), Some(101));
        assert_eq!(model.uncertain_writes(), 0);
        // Settled: the old value is now stale.
        let stale = model.check(&reads(&model, &[(1, 3, Found::Version(100))]));
        assert_eq!(stale.violations.len(), 1);
    }

    #[test]
    fn a_failed_write_stays_uncertain() {
        let mut model = model_with(&[]);
        model.begin(1, vec![put(0, 1, 7)]).unwrap();
        model.fail(1, "stopped".into()).unwrap();
        assert!(model.ack(1).is_err());
        for found in [Found::Absent, Found::Version(7)] {
            assert!(model
                .check(&reads(&model, &[(0, 1, found)]))
                .violations
                .is_empty());
        }
    }

    #[test]
    fn a_batch_is_all_or_nothing_across_column_families() {
        let mut model = model_with(&[(1, vec![put(0, 1, 10), put(1, 2, 20)])]);
        let batch = vec![
            put(0, 1, 11),
            Mutation::Delete { cf: 1, key: 2 },
            Mutation::DeleteRange {
                cf: 1,
                from: 5,
                to: 7,
            },
            put(1, 6, 12),
        ];
        model.begin(2, batch).unwrap();
        let none = reads(&model, &[]);
        let all = reads(
            &model,
            &[
                (0, 1, Found::Version(11)),
                (1, 2, Found::Absent),
                (1, 6, Found::Version(12)),
            ],
        );
        for whole in [&none, &all] {
            let check = model.check(whole);
            assert!(check.violations.is_empty(), "{:?}", check.violations);
        }
        assert_eq!(model.check(&none).uncertain_not_applied, 1);
        assert_eq!(model.check(&all).uncertain_applied, 1);
        let torn = reads(&model, &[(0, 1, Found::Version(11))]);
        let check = model.check(&torn);
        assert_eq!(check.violations.len(), 1);
        assert!(matches!(
            &check.violations[0].kind,
            ViolationKind::TornWrite { op: 2, .. }
        ));
        // The key deleted and re-put inside the batch ends with the put.
        let late = reads(&model, &[(1, 6, Found::Absent)]);
        assert!(model.check(&late).violations.is_empty());
    }

    #[test]
    fn a_delete_range_is_atomic_too() {
        let mut model = model_with(&[(1, vec![put(1, 4, 1), put(1, 5, 2)])]);
        model
            .begin(
                2,
                vec![Mutation::DeleteRange {
                    cf: 1,
                    from: 0,
                    to: 10,
                }],
            )
            .unwrap();
        let half = reads(&model, &[(1, 4, Found::Absent)]);
        assert!(matches!(
            model.check(&half).violations[0].kind,
            ViolationKind::TornWrite { .. }
        ));
    }

    fn lost(from: u32, to: u32) -> LostRange {
        LostRange {
            start: keyspace::key(from),
            end: Some(keyspace::key(to)),
        }
    }

    #[test]
    fn a_reported_lost_range_exempts_absence_but_not_a_wrong_value() {
        let mut model = model_with(&[
            (1, vec![put(1, 3, 100)]),
            (2, vec![put(1, 4, 200)]),
            (3, vec![put(1, 8, 300)]),
        ]);
        assert_eq!(model.report_lost(1, &[lost(2, 5)]), 3);
        let check = model.check(&reads(
            &model,
            &[(1, 3, Found::Absent), (1, 4, Found::Absent)],
        ));
        assert!(check.violations.is_empty(), "{:?}", check.violations);
        assert_eq!(check.keys_lost, 2);
        // Outside the range, absence is a violation; inside, an old version is.
        let outside = model.check(&reads(&model, &[(1, 8, Found::Absent)]));
        assert_eq!(outside.violations.len(), 1);
        let stale = model.check(&reads(&model, &[(1, 3, Found::Version(99))]));
        assert_eq!(stale.violations.len(), 1);
        // Settling re-learns the lost keys as absent and ends the exemption.
        model.settle(&reads(&model, &[(1, 3, Found::Absent)]));
        assert_eq!(model.committed(1, 3), None);
        assert_eq!(model.committed(1, 4), Some(200));
        let gone = model.check(&reads(&model, &[(1, 4, Found::Absent)]));
        assert_eq!(gone.violations.len(), 1);
    }

    #[test]
    fn a_write_announced_after_the_loss_report_is_strict_again() {
        let mut model = model_with(&[(1, vec![put(1, 3, 100)])]);
        model.report_lost(1, &[lost(0, 10)]);
        model.begin(2, vec![put(1, 3, 101)]).unwrap();
        model.ack(2).unwrap();
        let check = model.check(&reads(&model, &[(1, 3, Found::Absent)]));
        assert_eq!(check.violations.len(), 1);
        assert_eq!(check.keys_lost, 0);
    }

    #[test]
    fn a_write_announced_before_the_loss_report_stays_exempt() {
        let mut model = model_with(&[]);
        model
            .begin(1, vec![put(1, 3, 100), put(0, 3, 100)])
            .unwrap();
        model.report_lost(1, &[lost(0, 10)]);
        model.ack(1).unwrap();
        let check = model.check(&reads(&model, &[(1, 3, Found::Absent)]));
        assert!(check.violations.is_empty(), "{:?}", check.violations);
        assert_eq!(check.keys_lost, 1);
        // The other column family had no loss: its half of the write is strict.
        let check = model.check(&reads(&model, &[(0, 3, Found::Absent)]));
        assert_eq!(check.violations.len(), 1);
    }

    #[test]
    fn an_unknown_loss_exempts_the_whole_column_family_only() {
        let mut model = model_with(&[(1, vec![put(1, 0, 1), put(1, 9, 2), put(0, 0, 3)])]);
        model.report_unknown_loss(1);
        let check = model.check(&reads(
            &model,
            &[(1, 0, Found::Absent), (1, 9, Found::Absent)],
        ));
        assert!(check.violations.is_empty());
        assert_eq!(check.keys_lost, 2);
        let other = model.check(&reads(&model, &[(0, 0, Found::Absent)]));
        assert_eq!(other.violations.len(), 1);
    }

    #[test]
    fn a_lost_key_gives_no_evidence_about_a_batch() {
        let mut model = model_with(&[(1, vec![put(1, 1, 5)])]);
        model
            .begin(2, vec![Mutation::Delete { cf: 1, key: 1 }, put(0, 2, 6)])
            .unwrap();
        model.report_lost(1, &[lost(0, 10)]);
        // Key 1 absent: deleted by the batch, or lost; the batch's other key shows "not
        // applied" — consistent with "lost", so no torn write.
        let check = model.check(&reads(&model, &[(1, 1, Found::Absent)]));
        assert!(check.violations.is_empty(), "{:?}", check.violations);
    }

    #[test]
    fn protocol_errors_are_reported() {
        let mut model = model_with(&[]);
        assert!(model.ack(9).is_err());
        assert!(model.begin(1, vec![put(5, 0, 1)]).is_err());
        assert!(model.begin(1, vec![put(0, 10, 1)]).is_err());
        model.begin(1, vec![put(0, 1, 1)]).unwrap();
        assert!(model.begin(1, vec![put(0, 1, 1)]).is_err());
    }
}
