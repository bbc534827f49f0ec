//! The parent's check after a kill: reopen the engine, read every key of every column family
//! (point reads and a full scan), heal what reads as corrupt with `rebuild_cf`, compare with
//! the model, make sure the database takes writes, and check on the closed database that
//! every logical column family has exactly one physical column family.
//!
//! Findings become [`Violation`]s; only failures of the stress test's own bookkeeping are
//! errors. The model is settled (learns what was read) only when nothing was found wrong.

use std::collections::BTreeMap;
use std::path::Path;

use lsmedic::engine::cf_map::{self, META_CF};
use lsmedic::engine::{Engine, IterOptions, WriteOpts};
use lsmedic::telemetry::RebuildReport;
use lsmedic::EngineConfig;

use super::damage::Layout;
use super::keyspace::{self, CfIndex, Found, COLUMN_FAMILIES, PROBE_KEY};
use super::model::{Check, Model, Violation, ViolationKind};
use super::Error;

/// Rebuilds the parent tries on one column family before it calls it unreadable.
const MAX_REBUILDS_PER_CF: usize = 3;

/// What one check found and did.
#[derive(Debug, Default)]
pub struct Verified {
    /// Everything found wrong (model and engine checks).
    pub violations: Vec<Violation>,
    /// The model's conclusions (loss and uncertain-write counts).
    pub check: Check,
    /// Rebuilds the parent ran to heal corrupt reads.
    pub rebuilds: Vec<RebuildReport>,
    /// Keys that a point read still returned before one of those rebuilds and that read
    /// absent after it: readable data the rebuild dropped inside a lost range.
    pub keys_lost_although_readable: u64,
    /// Keys whose point read failed just before one of those rebuilds (the damage's reach).
    pub keys_unreadable_before_rebuild: u64,
    /// Keys of the key space inside the lost ranges of those rebuilds.
    pub keys_in_lost_ranges: u64,
    /// Physical column families left by an interrupted rebuild, dropped by the reopen.
    pub orphans_dropped: u64,
    /// Rebuilds that committed in the child without their report reaching the parent.
    pub unreported_rebuilds: u64,
    /// Of those, rebuilds of a damaged column family (its keys were exempted).
    pub unreported_rebuilds_of_damaged: u64,
    /// Deep checkpoints taken before closing (checkpoints on).
    pub checkpoints_taken: u64,
    /// Lines for the log (rebuild reports, unreported rebuilds).
    pub log: Vec<String>,
}

impl Verified {
    fn engine_violation(
        &mut self,
        cf: &str,
        what: impl Into<String>,
        expected: &str,
        found: String,
    ) {
        self.violations.push(Violation {
            cf: cf.to_owned(),
            key: None,
            kind: ViolationKind::Engine(what.into()),
            expected: expected.to_owned(),
            found,
        });
    }
}

/// Physical column families of the closed database at `db`; `None` when there is no
/// database yet (the first child was killed before it created one).
fn physical_on_disk(db: &Path) -> Result<Option<Vec<String>>, Error> {
    if !db.join("CURRENT").exists() {
        return Ok(None);
    }
    rocksdb::DB::list_cf(&rocksdb::Options::default(), db)
        .map(Some)
        .map_err(|e| Error::rocksdb("list column families", e))
}

/// Physical column families per logical name (lsmedic's meta column family left out).
fn by_logical(physical: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in physical.iter().filter(|name| *name != META_CF) {
        map.entry(cf_map::logical_of(name).to_owned())
            .or_default()
            .push(name.clone());
    }
    map
}

/// Reopens the database at `db`, checks it against `model` and heals it; updates `layout`
/// with the physical column families found and created.
pub fn verify(
    db: &Path,
    config: EngineConfig,
    model: &mut Model,
    layout: &mut Layout,
) -> Result<Verified, Error> {
    let mut verified = Verified::default();
    if let Some(before) = physical_on_disk(db)? {
        verified.orphans_dropped = by_logical(&before)
            .values()
            .map(|names| names.len() as u64 - 1)
            .sum();
    }
    let engine = match Engine::open(db, config) {
        Ok(engine) => engine,
        Err(err) => {
            verified.engine_violation(
                "*",
                "cannot reopen the database after the kill",
                "an openable database",
                err.to_string(),
            );
            return Ok(verified);
        }
    };
    note_unreported_rebuilds(&engine, model, layout, &mut verified)?;

    let mut reads = Vec::with_capacity(COLUMN_FAMILIES.len());
    for index in 0..COLUMN_FAMILIES.len() {
        match read_healing(&engine, index as CfIndex, model, layout, &mut verified) {
            Some(found) => reads.push(found),
            None => return Ok(verified),
        }
    }
    verified.check = model.check(&reads);
    verified
        .violations
        .extend(verified.check.violations.iter().cloned());
    if verified.violations.is_empty() {
        model.settle(&reads);
    }

    for cf in COLUMN_FAMILIES {
        let probe = engine
            .put_opt(cf, PROBE_KEY, b"probe", WriteOpts::synced())
            .and_then(|()| engine.get(cf, PROBE_KEY))
            .and_then(|value| {
                engine.delete_opt(cf, PROBE_KEY, WriteOpts::synced())?;
                Ok(value)
            });
        match probe {
            Ok(Some(value)) if value == b"probe" => {}
            Ok(other) => verified.engine_violation(
                cf,
                "a write after the reopen does not read back",
                "\"probe\"",
                format!("{other:?}"),
            ),
            Err(err) => verified.engine_violation(
                cf,
                "the database refuses writes after the reopen",
                "an accepted write",
                err.to_string(),
            ),
        }
        // Flushed, so that the next damage has files to choose from.
        if let Err(err) = engine.flush(cf) {
            verified.engine_violation(cf, "flush after the reopen failed", "ok", err.to_string());
        }
    }
    // Damage comes next, while the database is closed: a checkpoint taken now holds the
    // intact files, which a rebuild may refill lost ranges from.
    if engine.config().checkpoints.enabled {
        match engine.checkpoint_now() {
            Ok(_) => verified.checkpoints_taken += 1,
            Err(err) => verified
                .log
                .push(format!("checkpoint before closing failed: {err}")),
        }
    }
    if let Err(err) = engine.close() {
        verified.engine_violation("*", "close failed", "ok", err.to_string());
    }
    check_layout_on_disk(db, layout, &mut verified)?;
    Ok(verified)
}

/// A logical column family served by another physical one than the last reported: a rebuild
/// committed and the child died before reporting it. If the replaced physical column family
/// was damaged, the keys that rebuild lost are those of the report the engine stored with the
/// commit (`last_rebuild_report`); without that report, every key of the column family may
/// be lost (never wrong).
fn note_unreported_rebuilds(
    engine: &Engine,
    model: &mut Model,
    layout: &mut Layout,
    verified: &mut Verified,
) -> Result<(), Error> {
    for (index, cf) in COLUMN_FAMILIES.iter().enumerate() {
        let physical = engine
            .physical_cf(cf)
            .map_err(|e| Error::engine(format!("physical column family of {cf:?}"), e))?;
        let known = &mut layout.cfs[index].physical;
        if physical == *known {
            continue;
        }
        verified.unreported_rebuilds += 1;
        let damaged = layout.had_damage(index as CfIndex, &layout.cfs[index].physical);
        verified.log.push(format!(
            "{cf:?}: served by {physical:?} after the reopen, last reported {:?}: a rebuild \
             committed without its report{}",
            layout.cfs[index].physical,
            if damaged {
                " (the replaced column family was damaged: its keys may be lost)"
            } else {
                ""
            }
        ));
        if damaged {
            verified.unreported_rebuilds_of_damaged += 1;
            let stored = engine
                .last_rebuild_report(cf)
                .map_err(|e| Error::engine(format!("last rebuild report of {cf:?}"), e))?;
            match stored.filter(|report| report.new_physical == physical) {
                Some(report) => {
                    verified.log.push(format!(
                        "{cf:?}: the stored report of that rebuild lost {:?}",
                        report.lost_ranges
                    ));
                    verified.keys_in_lost_ranges +=
                        model.report_lost(index as CfIndex, &report.lost_ranges);
                }
                None => model.report_unknown_loss(index as CfIndex),
            }
        }
        layout.cfs[index].physical = physical;
    }
    Ok(())
}

/// Reads every key of column family `cf`, rebuilding it when a read meets corruption; `None`
/// (with a violation) when it cannot be read.
fn read_healing(
    engine: &Engine,
    cf: CfIndex,
    model: &mut Model,
    layout: &mut Layout,
    verified: &mut Verified,
) -> Option<Vec<Found>> {
    let name = COLUMN_FAMILIES[usize::from(cf)];
    // Before the last rebuild: which keys a point read returned (`Some(present)`) or failed.
    let mut before_rebuild: Option<Vec<Option<bool>>> = None;
    for attempt in 0..=MAX_REBUILDS_PER_CF {
        let err = match read_cf(engine, cf, model.keys_per_cf(), verified) {
            Ok(found) => {
                if let Some(before) = before_rebuild {
                    note_rebuild_reach(name, &before, &found, verified);
                }
                return Some(found);
            }
            Err(err) => err,
        };
        if !err.is_corruption() {
            verified.engine_violation(name, "read failed", "a successful read", err.to_string());
            return None;
        }
        if cf == 0 || attempt == MAX_REBUILDS_PER_CF {
            verified.engine_violation(
                name,
                "unreadable",
                if cf == 0 {
                    "no corruption (the default column family is never damaged)"
                } else {
                    "every key readable after a rebuild"
                },
                err.to_string(),
            );
            return None;
        }
        if !layout.is_damaged(cf) {
            verified.engine_violation(
                name,
                "corruption in a column family without injected damage",
                "no corruption",
                err.to_string(),
            );
        }
        // A point read stops at the newest version, so it succeeds for every key whose
        // newest version lies outside the damage.
        before_rebuild = Some(
            (0..model.keys_per_cf())
                .map(|key| {
                    engine
                        .get(name, &keyspace::key(key))
                        .ok()
                        .map(|value| value.is_some())
                })
                .collect(),
        );
        let report = match engine.rebuild_cf(name) {
            Ok(report) => report,
            Err(rebuild_err) => {
                verified.engine_violation(
                    name,
                    "rebuild of a corrupt column family failed",
                    "a rebuild",
                    format!("{rebuild_err} (after reading: {err})"),
                );
                return None;
            }
        };
        verified.keys_in_lost_ranges += model.report_lost(cf, &report.lost_ranges);
        verified.log.push(format!(
            "parent rebuilt {name:?} after `{err}`: {} keys copied, {} recovered from a \
             checkpoint, lost {}, skipped {:?}{}",
            report.keys_copied,
            report.keys_recovered_from_checkpoint,
            keyspace::describe_ranges(&report.lost_ranges),
            report.skipped_files,
            if report.refill_failures.is_empty() {
                String::new()
            } else {
                format!(", not refilled: {:?}", report.refill_failures)
            }
        ));
        layout.rebuilt(cf, &report.new_physical);
        verified.rebuilds.push(report);
    }
    None
}

/// Compares point reads before a rebuild with the reads after it: keys that read fine
/// before and absent after were readable data the rebuild dropped.
fn note_rebuild_reach(
    name: &str,
    before: &[Option<bool>],
    after: &[Found],
    verified: &mut Verified,
) {
    let key_name =
        |index: usize| String::from_utf8_lossy(&keyspace::key(index as u32)).into_owned();
    let unreadable: Vec<String> = (0..before.len())
        .filter(|index| before[*index].is_none())
        .map(key_name)
        .collect();
    let dropped: Vec<String> = (0..before.len())
        .filter(|index| before[*index] == Some(true) && after[*index] == Found::Absent)
        .map(key_name)
        .collect();
    verified.keys_unreadable_before_rebuild += unreadable.len() as u64;
    verified.keys_lost_although_readable += dropped.len() as u64;
    verified.log.push(format!(
        "  {name:?} before that rebuild: {} keys unreadable {unreadable:?}; {} keys readable \
         then and absent after {dropped:?}",
        unreadable.len(),
        dropped.len()
    ));
}

/// Point reads of every key of `cf`, then a full scan that must agree with them.
fn read_cf(
    engine: &Engine,
    cf: CfIndex,
    keys: u32,
    verified: &mut Verified,
) -> Result<Vec<Found>, lsmedic::Error> {
    let name = COLUMN_FAMILIES[usize::from(cf)];
    let mut values = Vec::with_capacity(keys as usize);
    for key in 0..keys {
        values.push(engine.get(name, &keyspace::key(key))?);
    }
    let mut scanned = vec![false; keys as usize];
    let mut disagreements = Vec::new();
    for item in engine.iter(name, IterOptions::full())? {
        let (key, value) = item?;
        if &*key == PROBE_KEY {
            continue;
        }
        match keyspace::key_index(&key).filter(|index| *index < keys) {
            None => disagreements.push((
                "a key outside the key space".to_owned(),
                "none".to_owned(),
                format!("{:?}", String::from_utf8_lossy(&key)),
            )),
            Some(index) => {
                scanned[index as usize] = true;
                let point = values[index as usize].as_deref();
                if point != Some(&*value) {
                    disagreements.push((
                        format!(
                            "the scan and a point read disagree on {:?}",
                            String::from_utf8_lossy(&key)
                        ),
                        Found::decode(cf, index, point).to_string(),
                        Found::decode(cf, index, Some(&value)).to_string(),
                    ));
                }
            }
        }
    }
    for (index, value) in values.iter().enumerate() {
        if value.is_some() && !scanned[index] {
            disagreements.push((
                format!(
                    "the scan misses {:?}, which a point read finds",
                    String::from_utf8_lossy(&keyspace::key(index as u32))
                ),
                "present".to_owned(),
                "absent".to_owned(),
            ));
        }
    }
    for (what, expected, found) in disagreements {
        verified.engine_violation(name, what, &expected, found);
    }
    Ok(values
        .iter()
        .enumerate()
        .map(|(key, value)| Found::decode(cf, key as u32, value.as_deref()))
        .collect())
}

/// On the closed database: each logical column family has exactly one physical column
/// family, the one the engine said, and nothing else is there but lsmedic's meta column
/// family.
fn check_layout_on_disk(db: &Path, layout: &Layout, verified: &mut Verified) -> Result<(), Error> {
    let on_disk = physical_on_disk(db)?.unwrap_or_default();
    let mut grouped = by_logical(&on_disk);
    for (index, cf) in COLUMN_FAMILIES.iter().enumerate() {
        let physical = grouped.remove(*cf).unwrap_or_default();
        let expected = &layout.cfs[index].physical;
        if physical.len() != 1 || physical[0] != *expected {
            verified.engine_violation(
                cf,
                "physical column families of the closed database",
                &format!("exactly [{expected:?}]"),
                format!("{physical:?}"),
            );
        }
    }
    for (logical, physical) in grouped {
        verified.engine_violation(
            &logical,
            "unknown column family in the closed database",
            "none",
            format!("{physical:?}"),
        );
    }
    if !on_disk.iter().any(|name| name == META_CF) {
        verified.engine_violation(
            META_CF,
            "lsmedic's meta column family is missing",
            "present",
            format!("{on_disk:?}"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_names_group_by_logical_name() {
        let names: Vec<String> = ["default", META_CF, "users", "users__lsmedic_gen3", "orders"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let grouped = by_logical(&names);
        assert_eq!(grouped["users"].len(), 2);
        assert_eq!(grouped["orders"], vec!["orders".to_owned()]);
        assert!(!grouped.contains_key(META_CF));
    }
}
