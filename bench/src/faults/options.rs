//! Faults that are an option change made through the engine's control surface
//! (`compaction_starvation`, `misconfiguration`), and putting the options back.

use lsmedic::telemetry::{Control, Tunable};

use super::{cf_label, simple, target_cfs, Applied, Undo};
use crate::runner::Shared;

pub(super) fn compaction_starvation(
    shared: &Shared,
    cf: &Option<String>,
    max_background_jobs: u64,
    background_threads_low: u64,
    disable_auto_compactions: bool,
) -> Result<Applied, String> {
    let engine = &shared.engine;
    let before = engine.tunables().map_err(|e| e.to_string())?;
    let changes = [
        (Tunable::MaxBackgroundJobs, max_background_jobs),
        (Tunable::BackgroundThreadsLow, background_threads_low),
    ];
    let global: Vec<(Tunable, u64)> = changes
        .iter()
        .filter_map(|(t, _)| before.global(*t).map(|v| (*t, v)))
        .collect();
    engine.set_global(&changes).map_err(|e| e.to_string())?;
    let mut cfs = Vec::new();
    if disable_auto_compactions {
        for i in target_cfs(shared, cf) {
            let name = &shared.cf_names[i];
            let old = before
                .cf(name, Tunable::DisableAutoCompactions)
                .unwrap_or(0);
            engine
                .set_cf(name, &[(Tunable::DisableAutoCompactions, 1)])
                .map_err(|e| e.to_string())?;
            cfs.push((name.clone(), vec![(Tunable::DisableAutoCompactions, old)]));
        }
    }
    Ok(simple(
        format!(
            "max_background_jobs={max_background_jobs}, background_threads_low={background_threads_low}{}",
            if disable_auto_compactions {
                format!(", auto compactions off on {}", cf_label(cf))
            } else {
                String::new()
            }
        ),
        Undo::Tunables { global, cfs },
    ))
}

pub(super) fn misconfiguration(
    shared: &Shared,
    cf: &Option<String>,
    cf_changes: &[(Tunable, u64)],
    global_changes: &[(Tunable, u64)],
) -> Result<Applied, String> {
    let engine = &shared.engine;
    let before = engine.tunables().map_err(|e| e.to_string())?;
    let mut undo_cfs = Vec::new();
    if !cf_changes.is_empty() {
        for i in target_cfs(shared, cf) {
            let name = &shared.cf_names[i];
            let old: Vec<(Tunable, u64)> = cf_changes
                .iter()
                .filter_map(|(t, _)| before.cf(name, *t).map(|v| (*t, v)))
                .collect();
            engine.set_cf(name, cf_changes).map_err(|e| e.to_string())?;
            undo_cfs.push((name.clone(), old));
        }
    }
    let global: Vec<(Tunable, u64)> = global_changes
        .iter()
        .filter_map(|(t, _)| before.global(*t).map(|v| (*t, v)))
        .collect();
    if !global_changes.is_empty() {
        engine
            .set_global(global_changes)
            .map_err(|e| e.to_string())?;
    }
    let describe = |changes: &[(Tunable, u64)]| {
        changes
            .iter()
            .map(|(t, v)| format!("{t}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !cf_changes.is_empty() {
        parts.push(format!("{} on {}", describe(cf_changes), cf_label(cf)));
    }
    if !global_changes.is_empty() {
        parts.push(describe(global_changes));
    }
    Ok(simple(
        parts.join("; "),
        Undo::Tunables {
            global,
            cfs: undo_cfs,
        },
    ))
}

/// Puts tunables back: column-family values first, since lowered triggers must go back up
/// before anything depends on them.
pub(super) fn restore(
    shared: &Shared,
    global: &[(Tunable, u64)],
    cfs: &[(String, Vec<(Tunable, u64)>)],
) -> Result<(), String> {
    let engine = &shared.engine;
    for (cf, values) in cfs {
        if !values.is_empty() {
            engine.set_cf(cf, values).map_err(|e| e.to_string())?;
        }
    }
    if !global.is_empty() {
        engine.set_global(global).map_err(|e| e.to_string())?;
    }
    Ok(())
}
